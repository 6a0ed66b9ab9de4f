//! What AWS does that no local engine shows (DESIGN §7, §5.10): calls that
//! stall, DynamoDB that throttles or fails inside, a dependency that cannot
//! be reached. Every route in every dialect answers its own 503 with
//! `Retry-After` (SNS's failure: the dialect's "could not be sent") before
//! the function's timeout, never a 500 or API Gateway's bare 5xx; jittered
//! retries absorb what passes; and what is left stored lets the user go on,
//! as docs/operations.md, "Failures and what the user sees", says.
//!
//! Stalls go to an endpoint that accepts and never answers (`black_hole`);
//! DynamoDB's errors come from the layer in front of DynamoDB Local
//! (`layer::Injected`), which answers them as DynamoDB does.

use futures_util::future::join_all;
use otp_integration_tests::black_hole::BlackHole;
use otp_integration_tests::dialects::{DIALECTS, Dialect, Encoding};
use otp_integration_tests::layer::{DynamoLayer, Injected, Injection};
use otp_integration_tests::{
    Answer, TestApp, api_get, aws_config, aws_config_with, call, code_in, code_request_body,
    deployment, dialects::ID_CARD, json_request, lambda_app_with, refresh_request,
    register_deployed, request_of, revoke_request, sms_to, token_confirm_body,
};
use otp_shared::App;
use otp_shared::config::Timeouts;
use otp_shared::http::Function;
use serde_json::json;
use std::time::{Duration, Instant};

/// One phone per dialect, so that the dialects' calls run side by side.
fn phone(dialect: Dialect) -> String {
    format!("08123456{:02}", dialect as usize)
}

/// The OAuth routes' own 503: RFC 6749's error body, with `Retry-After`.
fn oauth_busy(answer: &Answer) -> bool {
    answer.status == 503
        && answer.body["error"] == "temporarily_unavailable"
        && answer.header("retry-after").is_some()
}

/// Every DynamoDB-backed route of every dialect, for a challenge that does
/// not exist: each reads the client record first.
fn every_route_once() -> Vec<(Option<Dialect>, Function, lambda_http::Request)> {
    let mut routes = vec![];
    for dialect in DIALECTS {
        let phone = phone(dialect);
        let request = dialect.event(
            dialect.request_event(),
            &dialect.code_request(&phone),
            Encoding::Json,
        );
        routes.push((Some(dialect), Function::RequestOtp, request_of(request)));
        let sent = json!({"token": "a.b", "data": {"token": "a.b", "ref_code": "ABC123"}});
        let confirm = dialect.event(
            dialect.confirm_event(),
            &dialect.confirm(&sent, &phone, "123456"),
            Encoding::Json,
        );
        routes.push((Some(dialect), Function::ConfirmOtp, request_of(confirm)));
    }
    routes.push((None, Function::IssueToken, refresh_request("family.secret")));
    routes.push((None, Function::IssueToken, revoke_request("family.secret")));
    routes
}

/// Calls every route at once on `app`; each answer with how long it took.
async fn call_every_route(app: &App) -> Vec<(Option<Dialect>, Answer, Duration)> {
    join_all(
        every_route_once()
            .into_iter()
            .map(|(dialect, function, request)| async move {
                let started = Instant::now();
                let answer = call(app, function, request).await;
                (dialect, answer, started.elapsed())
            }),
    )
    .await
}

fn assert_busy(dialect: Option<Dialect>, answer: &Answer) {
    let busy = match dialect {
        Some(dialect) => dialect.busy(answer),
        None => oauth_busy(answer),
    };
    assert!(busy, "{dialect:?}: {answer:?}");
}

/// The functions as the stack deploys them (the default 10 s timeout),
/// over `sdk`.
async fn deployed_app(sdk: aws_config::SdkConfig) -> App {
    let variables = deployment(&[("OTP_FUNCTION_TIMEOUT_SECS", "10")]).await;
    lambda_app_with(&variables, sdk).await
}

/// Issue 25, item 1: with no timeouts, a stalled call held the function
/// until Lambda ended it, and API Gateway answered its own 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_dynamodb_ends_every_route_in_its_own_503_before_the_function_times_out() {
    let hole = BlackHole::start().await;
    let app = deployed_app(aws_config_with(&[("DynamoDB", &hole.url)]).await).await;
    let function_timeout = Duration::from_secs(10);
    for (dialect, answer, took) in call_every_route(&app).await {
        assert_busy(dialect, &answer);
        assert!(
            took < function_timeout,
            "{dialect:?} answered after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_dynamodb_ends_every_route_in_its_own_503() {
    // Nothing listens on port 9 (discard), so every connection is refused.
    let app = deployed_app(aws_config_with(&[("DynamoDB", "http://127.0.0.1:9")]).await).await;
    for (dialect, answer, _) in call_every_route(&app).await {
        assert_busy(dialect, &answer);
    }
}

/// SNS stalls: the request answers the dialect's "could not be sent" with
/// `Retry-After` (the cooldown's end) before the function's timeout; the
/// code is dead and the cooldown holds (DESIGN §5.10), whether or not the
/// message went out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_sns_ends_the_request_in_sms_failed_and_the_cooldown_holds_in_every_dialect() {
    let hole = BlackHole::start().await;
    let variables = deployment(&[("OTP_FUNCTION_TIMEOUT_SECS", "10")]).await;
    register_deployed(&variables, &phone(Dialect::OneId), ID_CARD).await;
    let app = lambda_app_with(&variables, aws_config_with(&[("SNS", &hole.url)]).await).await;
    let request = |dialect: Dialect| {
        let event = dialect.event(
            dialect.request_event(),
            &dialect.code_request(&phone(dialect)),
            Encoding::Json,
        );
        call(&app, Function::RequestOtp, request_of(event))
    };
    let answers = join_all(DIALECTS.map(|dialect| async move {
        let started = Instant::now();
        (dialect, request(dialect).await, started.elapsed())
    }))
    .await;
    for (dialect, answer, took) in answers {
        assert!(dialect.sms_failed(&answer), "{dialect:?}: {answer:?}");
        assert!(took < Duration::from_secs(10), "{dialect:?}: {took:?}");
        if answer.status == 503 {
            let after: u64 = answer.header("retry-after").unwrap().parse().unwrap();
            assert!((55..=60).contains(&after), "the cooldown's end: {after}");
        }
        let again = request(dialect).await;
        assert!(
            !dialect.succeeded(&again),
            "{dialect:?}: the cooldown holds"
        );
    }
}

/// KMS stalls: a confirm that issues tokens, a refresh and the JWKS answer
/// their own 503 before the function's timeout; the refresh token still
/// works once KMS is back (its rotation was given back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_kms_ends_signing_routes_in_their_own_503() {
    let hole = BlackHole::start().await;
    let variables = deployment(&[("OTP_FUNCTION_TIMEOUT_SECS", "10")]).await;
    let working = lambda_app_with(&variables, aws_config().await).await;
    let stalled = lambda_app_with(&variables, aws_config_with(&[("KMS", &hole.url)]).await).await;
    let moto = otp_integration_tests::moto_url();
    let log_in_body = |phone: &str| code_request_body(phone);
    let code = |phone: &'static str| {
        let moto = moto.clone();
        async move { code_in(&sms_to(&moto, &format!("+66{}", &phone[1..])).await) }
    };

    let sent = call(
        &working,
        Function::RequestOtp,
        json_request("request-otp", &log_in_body("0812345601")),
    )
    .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let confirm = token_confirm_body(&sent.body["data"]["token"], &code("0812345601").await);
    let started = Instant::now();
    let answer = call(
        &stalled,
        Function::ConfirmOtp,
        json_request("confirm-otp", &confirm),
    )
    .await;
    assert!(Dialect::Native.busy(&answer), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let sent = call(
        &working,
        Function::RequestOtp,
        json_request("request-otp", &log_in_body("0812345602")),
    )
    .await;
    let confirm = token_confirm_body(&sent.body["data"]["token"], &code("0812345602").await);
    let login = call(
        &working,
        Function::ConfirmOtp,
        json_request("confirm-otp", &confirm),
    )
    .await;
    assert_eq!(login.status, 200, "{login:?}");
    let refresh = login.body["data"]["refresh_token"].as_str().unwrap();
    let refreshed = call(&stalled, Function::IssueToken, refresh_request(refresh)).await;
    assert!(oauth_busy(&refreshed), "{refreshed:?}");
    let refreshed = call(&working, Function::IssueToken, refresh_request(refresh)).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");

    let jwks = call(&stalled, Function::IssueToken, api_get("jwks", "")).await;
    assert_eq!(jwks.status, 503, "{jwks:?}");
    assert!(jwks.header("retry-after").is_some(), "{jwks:?}");
}

/// The suites' timeouts are the stack's longest; these tests' own are short,
/// so that a persisting fault ends quickly: answers due within 3 s, each
/// call 750 ms, each attempt about 340 ms.
fn short() -> Timeouts {
    Timeouts::for_function(Duration::from_secs(4))
}

/// One ID's requests name an ID card: the phones they use are in the
/// directory.
async fn register_one_id_phones(t: &TestApp) {
    for phone in [phone(Dialect::OneId), one_id_sent_phone()] {
        t.register(
            otp_integration_tests::CLIENT_ID,
            &phone,
            ID_CARD,
            "acc-1",
            "user.1",
        )
        .await;
    }
}

/// The phone of the code each dialect has before a fault strikes.
fn sent_phone(dialect: Dialect) -> String {
    format!("08987654{:02}", dialect as usize)
}

fn one_id_sent_phone() -> String {
    sent_phone(Dialect::OneId)
}

/// A code requested and confirmed in `dialect`, and for the native dialect
/// the refresh token of the login: what a test checks the state with.
async fn log_in(t: &TestApp, dialect: Dialect, phone: &str) -> Option<String> {
    let sent = until_not_busy(|| dialect.request(t, phone)).await;
    assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
    let code = t.last_sms().code;
    let confirmed = until_not_busy(|| dialect.confirm_code(t, &sent.body, phone, &code)).await;
    assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
    confirmed.body["data"]["refresh_token"]
        .as_str()
        .map(str::to_string)
}

/// What a client does with a 503 + `Retry-After`: it tries again. The
/// suites run on a loaded machine with short timeouts, where a healthy call
/// can take longer than an attempt's time.
async fn until_not_busy<F: Future<Output = Answer>>(mut call: impl FnMut() -> F) -> Answer {
    for _ in 0..3 {
        let answer = call().await;
        if answer.status != 503 || answer.header("retry-after").is_none() {
            return answer;
        }
    }
    call().await
}

/// Issue 25, item 2: each of DynamoDB's errors, persisting, ends every
/// route of every dialect in its own 503 + `Retry-After` (before: a 500),
/// and once DynamoDB is well the user goes on: at once where nothing was
/// applied, after the claim lapsed and the cooldown passed otherwise.
async fn a_persisting_dynamodb_error_ends_every_route_in_its_own_503(fault: Injected) {
    let (t, table) = TestApp::on_table_with(short()).await;
    register_one_id_phones(&t).await;
    let layer = DynamoLayer::get();
    // Before the fault: a live code to confirm in each dialect, and a
    // refresh token.
    let mut sent = vec![];
    for dialect in DIALECTS {
        let phone = sent_phone(dialect);
        let answer = until_not_busy(|| dialect.request(&t, &phone)).await;
        assert!(dialect.succeeded(&answer), "{answer:?}");
        sent.push((dialect, phone, answer.body, t.last_sms().code));
    }
    let refresh = log_in(&t, Dialect::Native, "0811111111").await.unwrap();

    layer.inject(&table, Injection::always(fault));
    for dialect in DIALECTS {
        let case = format!("{fault:?}, {dialect:?}");
        let requested = dialect.request(&t, &phone(dialect)).await;
        assert!(dialect.busy(&requested), "{case}: {requested:?}");
        let (_, phone, body, code) = sent.iter().find(|(d, ..)| *d == dialect).unwrap();
        let confirmed = dialect.confirm_code(&t, body, phone, code).await;
        assert!(dialect.busy(&confirmed), "{case}: {confirmed:?}");
    }
    let refreshed = call(&t.app, Function::IssueToken, refresh_request(&refresh)).await;
    assert!(oauth_busy(&refreshed), "{fault:?}: {refreshed:?}");
    let revoked = call(&t.app, Function::IssueToken, revoke_request(&refresh)).await;
    assert!(oauth_busy(&revoked), "{fault:?}: {revoked:?}");
    assert!(
        t.outbox.entries().len() == DIALECTS.len() + 1,
        "{fault:?}: nothing was texted while DynamoDB failed"
    );
    layer.heal(&table);

    // Each code still works: a failed confirm spends at most one attempt.
    for (dialect, phone, body, code) in &sent {
        let confirmed = until_not_busy(|| dialect.confirm_code(&t, body, phone, code)).await;
        assert!(dialect.succeeded(&confirmed), "{fault:?}: {confirmed:?}");
    }
    // The refresh token still works (a rotation whose answer was lost was
    // given back), unless the revocation was applied with its answer lost:
    // then the family is revoked, as asked.
    let refreshed =
        until_not_busy(|| call(&t.app, Function::IssueToken, refresh_request(&refresh))).await;
    let revoked = fault == Injected::LostAnswer;
    let expected = if revoked { 400 } else { 200 };
    assert_eq!(refreshed.status, expected, "{fault:?}: {refreshed:?}");
    // Where DynamoDB applied nothing, the phones get codes at once; where
    // it may have, after the claim lapsed and the cooldown passed.
    if !fault.unapplied() {
        t.clock.advance_secs(61);
    }
    for dialect in DIALECTS {
        log_in(&t, dialect, &phone(dialect)).await;
    }
}

macro_rules! each_dynamodb_error {
    ($($test:ident: $fault:expr),* $(,)?) => {
        $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $test() {
            a_persisting_dynamodb_error_ends_every_route_in_its_own_503($fault).await
        })*

        #[test]
        fn every_injected_error_has_its_test() {
            let tested = [$($fault),*];
            assert!(Injected::ALL.iter().all(|f| tested.contains(f)));
        }
    };
}

each_dynamodb_error!(
    provisioned_throughput_exceeded_ends_every_route_in_its_own_503: Injected::ProvisionedThroughputExceeded,
    throttling_exception_ends_every_route_in_its_own_503: Injected::Throttling,
    request_limit_exceeded_ends_every_route_in_its_own_503: Injected::RequestLimitExceeded,
    transaction_in_progress_ends_every_route_in_its_own_503: Injected::TransactionInProgress,
    a_transaction_cancelled_for_throttling_ends_every_route_in_its_own_503: Injected::TransactionThrottled,
    an_internal_server_error_ends_every_route_in_its_own_503: Injected::InternalServerError,
    lost_answers_end_every_route_in_its_own_503: Injected::LostAnswer,
    a_stalled_call_ends_every_route_in_its_own_503: Injected::Stall,
);

/// Each throttling error, once on every operation, is retried with jitter:
/// every route of every dialect succeeds, and the log-in works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_that_passes_is_retried_and_every_route_succeeds_in_every_dialect() {
    for fault in Injected::ALL.into_iter().filter(|f| f.unapplied()) {
        let (t, table) = TestApp::on_table_with(short()).await;
        register_one_id_phones(&t).await;
        let layer = DynamoLayer::get();
        for operation in ["GetItem", "UpdateItem", "TransactWriteItems"] {
            layer.inject(&table, Injection::once(fault, operation));
        }
        for dialect in DIALECTS {
            let refresh = log_in(&t, dialect, &phone(dialect)).await;
            if let Some(refresh) = refresh {
                let refreshed = call(&t.app, Function::IssueToken, refresh_request(&refresh)).await;
                assert_eq!(refreshed.status, 200, "{fault:?}: {refreshed:?}");
            }
        }
        assert_eq!(
            layer.unstruck(&table),
            0,
            "{fault:?}: every injected fault struck"
        );
    }
}

/// A write applied whose answer was lost is sent again, and applied once:
/// the claim and the consume (transactions, by their token), the write that
/// starts the challenge and the rotation (by conditions that hold for the
/// same write again).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_whose_answer_was_lost_is_sent_again_and_applied_once() {
    let (t, table) = TestApp::on_table_with(short()).await;
    let layer = DynamoLayer::get();
    for (operation, matching) in [
        ("TransactWriteItems", "claim_token"),
        ("UpdateItem", "REMOVE"),
        ("TransactWriteItems", "current_hash"),
        ("UpdateItem", "current_hash = :presented OR"),
    ] {
        layer.inject(
            &table,
            Injection::once(Injected::LostAnswer, operation).matching(matching),
        );
    }
    let refresh = log_in(&t, Dialect::Native, "0812345678").await.unwrap();
    let refreshed = call(&t.app, Function::IssueToken, refresh_request(&refresh)).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(layer.unstruck(&table), 0, "every answer was lost once");
    // Applied once: the next token rotates, and the spent one is refused.
    let next = refreshed.body["refresh_token"].as_str().unwrap();
    let again = call(&t.app, Function::IssueToken, refresh_request(next)).await;
    assert_eq!(again.status, 200, "{again:?}");
    let spent = call(&t.app, Function::IssueToken, refresh_request(&refresh)).await;
    assert_eq!(spent.status, 400, "{spent:?}");
}

/// The helpers above tell a 503 that says "try again shortly" from one
/// that does not.
#[test]
fn busy_answers_are_told_apart_from_other_503s() {
    let busy = Answer {
        status: 503,
        headers: [("retry-after", "1")]
            .into_iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect(),
        body: json!({"error": "temporarily_unavailable"}),
    };
    assert!(Dialect::Native.busy(&busy));
    assert!(oauth_busy(&busy));
    let without_retry_after = Answer {
        status: 503,
        headers: Default::default(),
        body: busy.body.clone(),
    };
    assert!(!Dialect::Native.busy(&without_retry_after));
    assert!(!oauth_busy(&without_retry_after));
}
