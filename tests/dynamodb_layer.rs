//! The layer in front of DynamoDB Local (tests/harness/layer) does what
//! DynamoDB does and DynamoDB Local alone does not: it cancels transactions
//! in conflict, throttles an item past its throughput, and bills a
//! transaction per item.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use otp_integration_tests::layer::{DynamoLayer, Throughput};
use otp_integration_tests::{
    START_MS, TestApp, aws_config, dynamodb_local_client, fresh_table, relaxed_timeouts,
};
use otp_shared::Error;
use otp_shared::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Claim};
use otp_shared::domain::limits::RateLimit;
use otp_shared::store::{ClaimOutcome, DynamoStore, Store};
use std::sync::Arc;
use std::time::Duration;

/// A client through the layer, as every client `aws_config` configures.
async fn through_the_layer() -> Client {
    Client::new(&aws_config().await)
}

fn add_one(table: &str, pk: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .update_expression("ADD hits :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

/// `n` concurrent transactions, each adding one to the item `hot` and to an
/// item of its own; the cancellation reasons of those that were cancelled.
async fn concurrent_transactions(client: &Client, table: &str, n: usize) -> Vec<Vec<String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, table) = (client.clone(), table.to_string());
        tasks.spawn(async move {
            client
                .transact_write_items()
                .transact_items(add_one(&table, "hot"))
                .transact_items(add_one(&table, &format!("own-{i}")))
                .send()
                .await
        });
    }
    let mut cancelled = vec![];
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => {}
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c) => cancelled.push(
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or_default().to_string())
                        .collect(),
                ),
                other => panic!("unexpected error {other:?}"),
            },
        }
    }
    cancelled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_layer_cancels_transactions_that_touch_an_item_another_one_holds() {
    let (_, table) = fresh_table().await;
    let direct = dynamodb_local_client().await;
    // DynamoDB Local alone: every transaction goes through, one at a time.
    assert!(
        concurrent_transactions(&direct, &table, 30)
            .await
            .is_empty()
    );

    let layer = DynamoLayer::get();
    let cancelled = concurrent_transactions(&through_the_layer().await, &table, 30).await;
    assert!(
        !cancelled.is_empty(),
        "30 transactions on one item, no conflict"
    );
    for reasons in &cancelled {
        // One reason per item, in the request's order, as DynamoDB gives them.
        assert_eq!(reasons, &["TransactionConflict", "None"]);
    }
    assert_eq!(layer.conflicts_on(&table), cancelled.len() as u64);
    // Nothing of a cancelled transaction was written.
    let hot = direct
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("hot".into()))
        .send()
        .await
        .unwrap();
    let hits: usize = hot.item().unwrap()["hits"].as_n().unwrap().parse().unwrap();
    assert_eq!(hits, 30 + 30 - cancelled.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_write_to_an_item_a_transaction_holds_fails_with_a_transaction_conflict() {
    let (_, table) = fresh_table().await;
    let client = through_the_layer().await;
    let mut conflicts = 0;
    for _ in 0..20 {
        let transaction = {
            let (client, table) = (client.clone(), table.clone());
            tokio::spawn(async move {
                client
                    .transact_write_items()
                    .transact_items(add_one(&table, "held"))
                    .send()
                    .await
            })
        };
        // Single writes to the same item while the transaction is in flight.
        while !transaction.is_finished() {
            let written = client
                .update_item()
                .table_name(&table)
                .key("pk", AttributeValue::S("held".into()))
                .update_expression("ADD hits :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await;
            if let Err(e) = written {
                assert_eq!(e.code(), Some("TransactionConflictException"), "{e:?}");
                conflicts += 1;
            }
        }
        transaction
            .await
            .unwrap()
            .expect("the transaction itself commits");
    }
    assert!(conflicts > 0, "no single write ever met the transaction");
}

fn challenge(phone: usize) -> Challenge {
    Challenge {
        key: ChallengeKey {
            client_id: "app".into(),
            phone_key: format!("phone-{phone}"),
        },
        token_hash: "t".into(),
        ref_code: "REF123".into(),
        code_hash: "h".into(),
        attempts: 0,
        max_attempts: 5,
        created_at_ms: START_MS,
        expires_at_ms: START_MS + 300_000,
        resend_after_ms: START_MS + 60_000,
        state: ChallengeState::Active,
        login_by: "mobile".into(),
        calling_code: "66".into(),
        directory: None,
        provider: None,
    }
}

/// Why counters are not in the challenge's transaction any more: with one
/// counter of the client in every request's transaction, a burst of one
/// client's requests conflicts on it under DynamoDB's rule, and only the
/// retries save it. Each request here is retried as the service retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_counter_in_every_transaction_makes_one_clients_burst_conflict() {
    let (_, table) = fresh_table().await;
    let store = Arc::new(DynamoStore::new(through_the_layer().await, table.clone()));
    let per_client = RateLimit {
        key: "client-minute#app#0".into(),
        limit: 1000,
        window_end_ms: START_MS + 60_000,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for phone in 0..50 {
        let (store, per_client) = (store.clone(), per_client.clone());
        tasks.spawn(async move {
            let c = challenge(phone);
            let claim = Claim::of(&c, START_MS);
            store
                .claim_slot(&c.key, &claim, START_MS, &[per_client])
                .await
        });
    }
    let (mut started, mut busy) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(ClaimOutcome::Claimed) => started += 1,
            Err(Error::Busy { .. }) => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let conflicts = DynamoLayer::get().conflicts_on(&table);
    println!("50 at once: {started} started, {busy} busy, {conflicts} conflicts retried");
    assert!(
        conflicts > 0,
        "a counter in every transaction never conflicted"
    );
    assert_eq!(started + busy, 50);
}

/// A client through the layer that retries nothing, to see each answer.
async fn without_retries() -> Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&aws_config().await)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn add_one_to(client: &Client, table: &str, pk: &str) -> impl Future<Output = Option<String>> {
    let request = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .update_expression("ADD hits :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    async move {
        match request.send().await {
            Ok(_) => None,
            Err(e) => Some(e.code().unwrap_or("no code").to_string()),
        }
    }
}

/// DynamoDB's throughput rule, scaled down: writes to one item past its
/// write units in a second are throttled with DynamoDB's own error, others'
/// items are not, and a second later the item takes writes again; a
/// transaction that touches the hot item is cancelled with
/// `ThrottlingError` for that item only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_layer_throttles_an_item_past_its_throughput_as_dynamodb_does() {
    let (_, table) = fresh_table().await;
    let layer = DynamoLayer::get();
    layer.limit_throughput(
        &table,
        Throughput {
            writes_per_sec: 10.0,
            reads_per_sec: 30.0,
            partitions: 1000,
        },
    );
    let client = without_retries().await;
    // One second's units, not refilled while the burst runs.
    layer.pause_refill(&table, true);
    let answers =
        futures_util::future::join_all((0..30).map(|_| add_one_to(&client, &table, "hot"))).await;
    let throttled: Vec<_> = answers.iter().flatten().collect();
    assert_eq!(
        throttled.len(),
        20,
        "10 units, 30 writes at once: {answers:?}"
    );
    assert!(
        throttled
            .iter()
            .all(|code| *code == "ProvisionedThroughputExceededException")
    );
    assert_eq!(layer.throttles_on(&table), throttled.len() as u64);
    assert_eq!(add_one_to(&client, &table, "cold").await, None);

    // The transaction's items in order: the hot one lacks units.
    let cancelled = client
        .transact_write_items()
        .transact_items(add_one(&table, "other"))
        .transact_items(add_one(&table, "hot"))
        .send()
        .await
        .expect_err("the hot item has no units left");
    let reasons: Vec<_> = match cancelled.into_service_error() {
        TransactWriteItemsError::TransactionCanceledException(c) => c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or_default().to_string())
            .collect(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reasons, ["None", "ThrottlingError"]);

    layer.pause_refill(&table, false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(add_one_to(&client, &table, "hot").await, None);
}

/// The service under DynamoDB's throughput rule, scaled down so that one
/// client's burst makes its shared counters hot: throttled writes are
/// retried with jitter, and what is still throttled when a call's time is
/// up is answered 503 + `Retry-After`, never 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_on_hot_items_is_retried_and_never_answered_500() {
    let (t, table) = TestApp::on_table_with(relaxed_timeouts()).await;
    let layer = DynamoLayer::get();
    layer.limit_throughput(
        &table,
        Throughput {
            writes_per_sec: 2.0,
            reads_per_sec: 100.0,
            partitions: 1000,
        },
    );
    let t = Arc::new(t);
    let answers = futures_util::future::join_all((0..40).map(|i| {
        let t = t.clone();
        async move { t.request_otp(&format!("08123450{i:02}")).await }
    }))
    .await;
    let (mut ok, mut busy) = (0, 0);
    for answer in &answers {
        match answer.status {
            200 => ok += 1,
            // The number range's own limit (30 an hour): a refusal, not a
            // failure.
            429 if answer.header("retry-after").is_some() => {}
            503 if answer.header("retry-after").is_some()
                && answer.error() == "temporarily_unavailable" =>
            {
                busy += 1
            }
            _ => panic!("{answer:?}"),
        }
    }
    let throttles = layer.throttles_on(&table);
    println!(
        "40 at once, 2 write units a second an item: {ok} sent, {busy} busy, {throttles} throttles"
    );
    assert!(throttles > 0, "nothing was hot");
    assert!(ok > 0, "retries saved none");
}

/// DynamoDB bills a transaction 2 write units per item per KB; DynamoDB
/// Local reports a flat 2 per transaction, whatever it writes. The cost
/// table (docs/operations.md) is measured through the layer, which bills as
/// DynamoDB does.
#[tokio::test]
async fn a_transaction_is_billed_two_units_per_item_per_kb_not_as_dynamodb_local_reports() {
    let (_, table) = fresh_table().await;
    let layer = DynamoLayer::get();
    layer.measure_capacity(&table);
    let client = through_the_layer().await;
    let billed = |items: Vec<TransactWriteItem>| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let before = layer.capacity_of(&table).writes;
            client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .expect("the transaction is written");
            layer.capacity_of(&table).writes - before
        }
    };
    assert_eq!(billed(vec![add_one(&table, "a")]).await, 2.0);
    let three = vec![
        add_one(&table, "a"),
        add_one(&table, "b"),
        add_one(&table, "c"),
    ];
    assert_eq!(billed(three).await, 6.0);
    let big = aws_sdk_dynamodb::types::Put::builder()
        .table_name(&table)
        .item("pk", AttributeValue::S("big".into()))
        .item("text", AttributeValue::S("x".repeat(1500)))
        .build()
        .unwrap();
    let big = TransactWriteItem::builder().put(big).build();
    assert_eq!(
        billed(vec![big, add_one(&table, "a")]).await,
        6.0,
        "2 KB and 1 KB"
    );
    let reported = dynamodb_local_client()
        .await
        .transact_write_items()
        .set_transact_items(Some(vec![
            add_one(&table, "a"),
            add_one(&table, "b"),
            add_one(&table, "c"),
        ]))
        .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let reported = reported.consumed_capacity()[0].capacity_units();
    assert_eq!(
        reported,
        Some(2.0),
        "what DynamoDB Local reports for 3 items"
    );
}
