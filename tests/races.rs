//! Concurrency on the DynamoDB Local–backed handlers (DESIGN §5.6, §5.7):
//! conditions, not luck, decide who wins. Each race runs through the layer
//! that applies DynamoDB's transaction conflict rule, where losers of a
//! conflict are retried and never answered 5xx.

use aws_sdk_dynamodb::types::AttributeValue;
use otp_integration_tests::{CLIENT_ID, TestApp, aws_config, dynamo_store_and_table};
use std::sync::Arc;

/// The app, a client that reads its table, and the table.
async fn dynamodb_app() -> (TestApp, aws_sdk_dynamodb::Client, String) {
    let reader = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let (store, table) = dynamo_store_and_table().await;
    (TestApp::over(Arc::new(store), None).await, reader, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rule_5_6_fifty_concurrent_right_confirms_yield_exactly_one_success() {
    let (t, _, _) = dynamodb_app().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rule_5_7_twenty_concurrent_wrong_guesses_evaluate_at_most_five() {
    let (t, client, table) = dynamodb_app().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rule_6_two_concurrent_refreshes_yield_exactly_one_success() {
    use otp_integration_tests::{call, refresh_request};
    use otp_shared::http::Function;
    let (t, _, _) = dynamodb_app().await;
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
