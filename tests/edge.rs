//! The edge (docs/deploying.md, "Throttling and the edge"): with the stack's CloudFront
//! distribution and its web ACL in front of the API, the functions answer
//! only requests that came through it, and count each by the address its
//! viewer connected from; API Gateway's route throttles, which count every
//! client's requests together, are a cost backstop far above every client's
//! own ceilings.

use otp_integration_tests::dialects::{DIALECTS, Dialect, Encoding, ID_CARD};
use otp_integration_tests::{
    Answer, CLIENT_SECRET, EDGE_TOKEN, TestApp, api_get, call, edge_deployment, lambda_app,
    memory_store, refresh_request, request_of, revoke_request, scenarios, test_config,
    test_settings, with_header,
};
use otp_shared::config::{Config, EdgeToken};
use otp_shared::domain::client::ClientSettings;
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::sync::Arc;

async fn behind_an_edge() -> TestApp {
    let config = Config {
        edge: Some(EdgeToken::new(EDGE_TOKEN.into()).unwrap()),
        ..test_config()
    };
    TestApp::with_config(Arc::new(memory_store()), config).await
}

/// `event` as the edge passes it on: its origin secret, and the address the
/// viewer connected from.
fn through_the_edge(event: Value, viewer: &str) -> Value {
    let event = with_header(event, "x-origin-verify", EDGE_TOKEN);
    with_header(event, "x-edge-viewer-address", viewer)
}

fn phone(n: usize) -> String {
    format!("0812345{n:03}")
}

fn assert_no_route(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.error()),
        (404, "not_found"),
        "{answer:?}"
    );
}

/// A flood sent to API Gateway's own URL, around the edge's per-address
/// limit: every request and confirm route of every dialect, the token and
/// revocation routes, without the origin secret or with a guessed one, is
/// answered as a route that does not exist; nothing is sent or counted. The
/// public keys and the discovery document stay anyone's.
#[tokio::test]
async fn a_flood_that_walks_around_the_edge_is_answered_as_no_route_and_counts_nothing() {
    let t = behind_an_edge().await;
    for dialect in DIALECTS {
        t.register(
            otp_integration_tests::CLIENT_ID,
            &phone(dialect as usize),
            ID_CARD,
            "acc",
            "user",
        )
        .await;
        let request = dialect.event(
            dialect.request_event(),
            &dialect.code_request(&phone(dialect as usize)),
            Encoding::Json,
        );
        let sent = json!({"token": "a.b", "data": {"token": "a.b", "ref_code": "ABC123"}});
        let confirm = dialect.event(
            dialect.confirm_event(),
            &dialect.confirm(&sent, &phone(dialect as usize), "123456"),
            Encoding::Json,
        );
        for (function, event) in [
            (Function::RequestOtp, &request),
            (Function::ConfirmOtp, &confirm),
        ] {
            assert_no_route(&t.call_event(function, event.clone()).await);
            let guessed = with_header(
                event.clone(),
                "x-origin-verify",
                "a-guessed-origin-secret-of-some-length",
            );
            assert_no_route(&t.call_event(function, guessed).await);
        }
        // Through the edge, the same request is served.
        let served = t
            .call_event(
                Function::RequestOtp,
                through_the_edge(request, "198.51.100.7"),
            )
            .await;
        assert!(dialect.succeeded(&served), "{dialect:?}: {served:?}");
    }
    assert_no_route(&call(&t.app, Function::IssueToken, refresh_request("a.b")).await);
    assert_no_route(&call(&t.app, Function::IssueToken, revoke_request("a.b")).await);
    assert_eq!(
        t.outbox.entries().len(),
        DIALECTS.len(),
        "only the edge's requests sent"
    );
    let counted = t.metrics.lines();
    assert_eq!(
        counted
            .iter()
            .filter(|l| l.contains("CodesRequested"))
            .count(),
        DIALECTS.len(),
        "only the edge's requests counted: {counted:?}"
    );
    for route in ["jwks", "openid-configuration"] {
        let answer = call(&t.app, Function::IssueToken, api_get(route, "")).await;
        assert_eq!(answer.status, 200, "{route}: {answer:?}");
    }
}

/// Behind the edge API Gateway sees one address, the edge's: a client whose
/// callers are its users' devices is limited per viewer address (10 a
/// minute), which the edge's function writes over any the viewer claims.
#[tokio::test]
async fn through_the_edge_devices_are_limited_per_viewer_address_not_the_edges() {
    let t = behind_an_edge().await;
    let devices = ClientSettings {
        callers_are_end_users: true,
        ..test_settings()
    };
    scenarios::client_with(&t, "app-devices", devices).await;
    let request = |n: usize, viewer: &str| {
        let body = json!({"client_id": "app-devices", "client_secret": CLIENT_SECRET, "mobile_no": phone(n)});
        let event = otp_integration_tests::json_event("request-otp", &body);
        t.call_event(Function::RequestOtp, through_the_edge(event, viewer))
    };
    for n in 0..10 {
        assert_eq!(request(n, "198.51.100.7").await.status, 200, "request {n}");
    }
    assert_eq!(request(10, "198.51.100.7").await.status, 429);
    assert_eq!(
        request(11, "198.51.100.8").await.status,
        200,
        "another viewer"
    );
}

/// Without an edge the viewer header is anyone's to send: it is ignored,
/// and a device is counted by the address API Gateway saw.
#[tokio::test]
async fn without_an_edge_a_claimed_viewer_address_is_ignored() {
    let t = TestApp::memory().await;
    let devices = ClientSettings {
        callers_are_end_users: true,
        ..test_settings()
    };
    scenarios::client_with(&t, "app-devices", devices).await;
    for n in 0..11 {
        let body = json!({"client_id": "app-devices", "client_secret": CLIENT_SECRET, "mobile_no": phone(n)});
        let event = otp_integration_tests::json_event("request-otp", &body);
        let claimed = with_header(event, "x-edge-viewer-address", &format!("198.51.100.{n}"));
        let answer = t.call_event(Function::RequestOtp, claimed).await;
        assert_eq!(
            answer.status,
            if n < 10 { 200 } else { 429 },
            "request {n}: {answer:?}"
        );
    }
}

/// As the stack deploys it with an edge: the functions read the origin
/// secret from Secrets Manager at cold start, and refuse what did not come
/// through the edge.
#[tokio::test]
async fn deployed_with_an_edge_the_functions_read_its_secret_and_refuse_direct_calls() {
    let variables = edge_deployment().await;
    let app = lambda_app(&variables).await;
    let body = json!({"client_id": otp_integration_tests::CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": phone(1)});
    let direct = otp_integration_tests::json_event("request-otp", &body);
    assert_no_route(&call(&app, Function::RequestOtp, request_of(direct.clone())).await);
    let answer = call(
        &app,
        Function::RequestOtp,
        request_of(through_the_edge(direct, "198.51.100.7")),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(Dialect::Native.succeeded(&answer));
}
