//! Every API Gateway event in `events/` (the ones `sam local invoke -e` takes)
//! goes through the real handler of the function that owns its route.

use otp_integration_tests::{TestApp, call};
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
