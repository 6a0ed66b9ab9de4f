//! Every API Gateway event in `events/` (the ones `sam local invoke -e` takes)
//! goes through the real handler of the function that owns its route.

use otp_integration_tests::{TestApp, call, call_text, test_settings};
use otp_shared::config::{LambdaSettings, SecretSource};
use otp_shared::domain::client::ClientRecord;
use otp_shared::http::Function;
use serde_json::Value;

fn function_for(path: &str) -> Function {
    match path {
        p if p.starts_with("/v1/oauth") || p.starts_with("/.well-known") => Function::IssueToken,
        p if p.starts_with("/v1/delivery/") => Function::DeliveryEvents,
        p if p.contains("confirm")
            || p.contains("verify")
            || p.contains("CheckCode")
            || p.ends_with("/status") =>
        {
            Function::ConfirmOtp
        }
        _ => Function::RequestOtp,
    }
}

/// The client the events name (`demo` / `demo-secret`), with the eSMS events'
/// template and the One ID event's user registered, as the README's
/// `sam local` walkthrough sets them up.
async fn app_for_the_events() -> TestApp {
    let t = TestApp::memory().await;
    let mut settings = test_settings();
    settings.sender_ids = vec!["OTPDemo".into()];
    settings
        .templates
        .insert("vi".into(), "{OTP} la ma xac minh cua ban".into());
    let demo = ClientRecord::new("demo", "demo-secret", settings);
    t.store.put_client(&demo).await.expect("client stored");
    // The hosted page's events name a public client of a single-page app.
    let spa = ClientRecord::new(
        "demo-spa",
        "unused",
        otp_shared::domain::client::ClientSettings {
            public: true,
            hosted_page: true,
            redirect_uris: vec!["https://app.example.com/callback".into()],
            ..test_settings()
        },
    );
    t.store.put_client(&spa).await.expect("client stored");
    t.register(
        "demo",
        "0812345678",
        "1234567890121",
        "demo-account",
        "demo.user",
    )
    .await;
    t
}

/// What each of the hosted page's events gets: its status, and words its
/// HTML (or script, or style sheet) holds. The page's posts carry a
/// placeholder page request, which the service did not seal.
fn expected_text(name: &str) -> Option<(u16, &'static str)> {
    Some(match name {
        "oauth2-authorize" => (200, "name=\"page\""),
        "oauth2-authorize-code" | "oauth2-authorize-confirm" => (403, "has expired"),
        "oauth2-page-js" => (200, "crypto.subtle"),
        "oauth2-page-css" => (200, "font-family"),
        _ => return None,
    })
}

/// What each event gets from a fresh deployment: the requests send a code;
/// the confirms, refresh and revocation carry placeholders (a code, ref or
/// token you replace with real ones) and get their route's own refusal.
fn expected(name: &str) -> (u16, &'static str, &'static str) {
    match name {
        "request-otp" | "oneid-request" => (200, "/result", "Success"),
        "thaibulksms-request" => (200, "/status", "success"),
        "thaibulksms-v1-request" => (200, "/data/status", "success"),
        "esms-gencode-get" => (200, "/CodeResult", "100"),
        "confirm-otp" | "otp-status" => (400, "/error", "otp_expired"),
        "oneid-confirm" => (404, "/errorMessage", "otp invalid"),
        "thaibulksms-verify" => (400, "/errors/0/message", "Token is expire."),
        "thaibulksms-v1-verify" => (400, "/error/errors/0/message", "Token is expire."),
        "esms-check-get" => (200, "/CodeResult", "117"),
        "token-refresh" => (400, "/error", "invalid_grant"),
        "revoke" => (200, "", ""),
        "jwks" => (200, "/keys/0/alg", "RS256"),
        "openid-configuration" => (200, "/id_token_signing_alg_values_supported/0", "RS256"),
        // A provider's callback with the placeholder ticket, which this
        // deployment did not seal (tests/delivery_events.rs seals real ones).
        "delivery-esms-callback"
        | "delivery-thaibulksms-callback"
        | "delivery-thaibulksms-callback-post"
        | "delivery-webhook-callback" => (404, "/error", "not_found"),
        other => panic!("events/{other}.json: no expected answer"),
    }
}

#[tokio::test]
async fn every_event_file_is_answered_by_its_function() {
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "env" || path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let request = otp_shared::http::lambda::request_from_event(
            serde_json::from_value(event.clone()).unwrap_or_else(|e| panic!("{name}: {e}")),
        );
        let function = function_for(event["rawPath"].as_str().unwrap());
        let t = app_for_the_events().await;
        if let Some((status, words)) = expected_text(&name) {
            let answer = call_text(&t.app, function, request).await;
            assert!(
                answer.status == status && answer.body.contains(words),
                "{name}: expected {status} with {words:?}, got {answer:?}"
            );
            seen += 1;
            continue;
        }
        let answer = call(&t.app, function, request).await;
        let (status, pointer, value) = expected(&name);
        let got = answer.body.pointer(pointer).and_then(Value::as_str);
        assert!(
            answer.status == status && (pointer.is_empty() || got == Some(value)),
            "{name}: expected {status} with {pointer} = {value}, got {answer:?}"
        );
        seen += 1;
    }
    assert_eq!(seen, 24, "one event per route");
}

/// `sam local invoke --env-vars events/env.json` (docs/testing.md, "Trying the Lambda
/// build locally"): complete, valid settings for every function, the server
/// secret read from Secrets Manager as in AWS, and every AWS endpoint on the
/// host's engines, DynamoDB Local on 8000 and moto on 5000. That sam local
/// applies them at all (it ignores variables the template does not declare)
/// is checked by tests/template_checks.py.
#[test]
fn env_json_points_the_functions_at_dynamodb_local_and_moto() {
    let path = format!("{}/events/env.json", env!("CARGO_MANIFEST_DIR"));
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let variables = env["Parameters"]
        .as_object()
        .expect("one set for every function");
    let lookup = |name: &str| {
        variables
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let settings = LambdaSettings::from_lookup(lookup).expect("complete, valid settings");
    assert!(matches!(
        settings.server_secret,
        SecretSource::SecretsManager { .. }
    ));
    for (variable, port) in [
        ("AWS_ENDPOINT_URL_DYNAMODB", 8000),
        ("AWS_ENDPOINT_URL_SNS", 5000),
        ("AWS_ENDPOINT_URL_KMS", 5000),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", 5000),
    ] {
        let expected = format!("http://host.docker.internal:{port}");
        assert_eq!(lookup(variable), Some(expected), "{variable}");
    }
}
