//! Every API Gateway event in `events/` (the ones `sam local invoke -e` takes)
//! goes through the real handler of the function that owns its route.

use otp_integration_tests::{TestApp, call};
use otp_shared::config::{LambdaSettings, SecretSource};
use otp_shared::http::Function;

fn function_for(path: &str) -> Function {
    match path {
        p if p.starts_with("/v1/oauth") || p.starts_with("/.well-known") => Function::IssueToken,
        p if p.contains("confirm") || p.contains("verify") || p.contains("CheckCode") => {
            Function::ConfirmOtp
        }
        _ => Function::RequestOtp,
    }
}

#[tokio::test]
async fn every_event_file_is_answered_by_its_function() {
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "env.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let request = otp_shared::http::lambda::request_from_event(
            serde_json::from_value(event.clone()).unwrap_or_else(|e| panic!("{name}: {e}")),
        );
        let function = function_for(event["rawPath"].as_str().unwrap());
        let t = TestApp::memory().await;
        let answer = call(&t.app, function, request).await;
        // Reaching the route is the point: its answer may well be a refusal
        // (the events carry placeholder credentials), but never "no such route".
        let routed = !["not_found", "method_not_allowed"].contains(&answer.error());
        assert!(routed && answer.status < 500, "{name}: {answer:?}");
        seen += 1;
    }
    assert_eq!(seen, 14, "one event per route");
}

/// `sam local invoke --env-vars events/env.json` (README, "Trying the Lambda
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
