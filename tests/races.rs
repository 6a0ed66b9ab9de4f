//! Concurrency on the DynamoDB Local–backed handlers (DESIGN §5.6, §5.7):
//! conditions, not luck, decide who wins. Each race runs on DynamoDB Local
//! and again through the layer that applies DynamoDB's transaction conflict
//! rule, where losers of a conflict are retried and never answered 5xx.

use aws_sdk_dynamodb::types::AttributeValue;
use otp_integration_tests::{
    CLIENT_ID, TestApp, aws_config, conflicting_dynamo_store, fresh_table,
};
use otp_shared::store::DynamoStore;
use std::sync::Arc;

/// The app, a client that reads its table directly, and the table.
async fn dynamodb_app(through_conflicts: bool) -> (TestApp, aws_sdk_dynamodb::Client, String) {
    let direct = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let (store, table) = if through_conflicts {
        conflicting_dynamo_store().await
    } else {
        let (client, table) = fresh_table().await;
        (DynamoStore::new(client, table.clone()), table)
    };
    (TestApp::over(Arc::new(store), None).await, direct, table)
}

macro_rules! on_both_engines {
    ($($race:ident),* $(,)?) => {
        mod dynamodb_local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $race() {
                super::$race(false).await
            })*
        }
        mod with_conflicts {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $race() {
                super::$race(true).await
            })*
        }
    };
}

on_both_engines!(
    rule_5_6_fifty_concurrent_right_confirms_yield_exactly_one_success,
    rule_5_7_twenty_concurrent_wrong_guesses_evaluate_at_most_five,
    rule_6_two_concurrent_refreshes_yield_exactly_one_success,
);

async fn rule_5_6_fifty_concurrent_right_confirms_yield_exactly_one_success(conflicts: bool) {
    let (t, _, _) = dynamodb_app(conflicts).await;
    let t = Arc::new(t);
    let (token, _, code) = t.code_for("0812345678").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (t, token, code) = (t.clone(), token.clone(), code.clone());
        tasks.spawn(async move { t.confirm_by_token(CLIENT_ID, &token, &code).await });
    }
    let mut successes = 0;
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        match answer.status {
            200 => successes += 1,
            400 => assert!(
                ["otp_expired", "otp_attempts_exceeded"].contains(&answer.error()),
                "{answer:?}"
            ),
            _ => panic!("unexpected answer {answer:?}"),
        }
    }
    assert_eq!(successes, 1);
}

async fn rule_5_7_twenty_concurrent_wrong_guesses_evaluate_at_most_five(conflicts: bool) {
    let (t, client, table) = dynamodb_app(conflicts).await;
    let t = Arc::new(t);
    let (token, _, code) = t.code_for("0812345678").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (t, token) = (t.clone(), token.clone());
        tasks.spawn(async move { t.confirm_by_token(CLIENT_ID, &token, wrong).await });
    }
    let mut wrong_code_answers = 0;
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.status, 400, "{answer:?}");
        match answer.error() {
            "otp_invalid" => wrong_code_answers += 1,
            "otp_attempts_exceeded" => {}
            other => panic!("unexpected error {other}"),
        }
    }
    // Four guesses told "wrong, try again"; the fifth spent the last attempt.
    assert_eq!(wrong_code_answers, 4);
    // The item itself shows exactly five evaluated attempts.
    let items = client.scan().table_name(&table).send().await.unwrap();
    let challenge = items
        .items()
        .iter()
        .find(|item| item["pk"].as_s().unwrap().starts_with("otp#"))
        .expect("challenge item");
    assert_eq!(challenge["attempts"], AttributeValue::N("5".into()));
    let right = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(
        (right.status, right.error()),
        (400, "otp_attempts_exceeded")
    );
}

async fn rule_6_two_concurrent_refreshes_yield_exactly_one_success(conflicts: bool) {
    use otp_integration_tests::{call, refresh_request};
    use otp_shared::http::Function;
    let (t, _, _) = dynamodb_app(conflicts).await;
    let t = Arc::new(t);
    let (token, _, code) = t.code_for("0812345678").await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let refresh_token = confirmed.body["data"]["refresh_token"].as_str().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (t, request) = (t.clone(), refresh_request(refresh_token));
        tasks.spawn(async move { call(&t.app, Function::IssueToken, request).await });
    }
    let mut statuses = vec![];
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        statuses.push((
            answer.status,
            answer.body["error"].as_str().map(str::to_string),
        ));
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [(200, None), (400, Some("invalid_grant".to_string()))]
    );
}
