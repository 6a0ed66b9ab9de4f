//! `make package`: the arm64 bootstraps `sam build` just made, run before
//! they ship. Each runs under qemu-aarch64 (with the arm64 C library as its
//! sysroot) as Lambda runs it, under a stand-in for the runtime API, with
//! the deployment's variables on DynamoDB Local and moto, fed the API
//! Gateway events of `events/`: a code requested and texted, SNS's delivery
//! log of it folded by delivery-events and told by the status, the code
//! confirmed, the refresh token exchanged, the keys published and the
//! refreshed token verified against them. It fails loudly if any step
//! answers otherwise.
//!
//! Needs `AWS_ENDPOINT_URL_*` (scripts/engines.sh), `ARM64_SYSROOT`
//! (scripts/arm64.sh) and the build directory as its argument.

use otp_integration_tests::delivery::sns_logs;
use otp_integration_tests::runtime_api::Execution;
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, api_event, code_in, code_request_body, deployment, json_event,
    moto_url, refresh_event, sms_to, token_confirm_body, verify_jwt,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The answer's status, and its body's field names (values are tokens and
/// codes, which a build log should not show).
fn shown(status: u16, body: &Value) -> String {
    let fields = body
        .as_object()
        .map(|fields| fields.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let data = body["data"]
        .as_object()
        .map(|fields| {
            let names = fields.keys().cloned().collect::<Vec<_>>().join(", ");
            format!(" data {{{names}}}")
        })
        .unwrap_or_default();
    format!("{status} {{{fields}}}{data}")
}

#[tokio::main]
async fn main() {
    let build = std::env::args()
        .nth(1)
        .expect("the sam build directory, e.g. .aws-sam/build");
    let sysroot = std::env::var("ARM64_SYSROOT").expect("ARM64_SYSROOT (scripts/arm64.sh)");
    let variables = deployment(&[]).await;
    let start = |resource: &str| {
        let bootstrap = Path::new(&build).join(resource).join("bootstrap");
        assert!(bootstrap.is_file(), "{} is missing", bootstrap.display());
        let mut command = Command::new("qemu-aarch64-static");
        command.arg("-L").arg(&sysroot).arg(bootstrap);
        Execution::start(command, &variables)
    };
    let request = start("RequestOtpFunction").await;
    let confirm = start("ConfirmOtpFunction").await;
    let token = start("IssueTokenFunction").await;
    let delivery = start("DeliveryEventsFunction").await;

    let mobile_no = "+66812345699";
    let (status, sent) = request
        .invoke(&json_event("request-otp", &code_request_body(mobile_no)))
        .await;
    println!(
        "arm64 request-otp  POST /v1/otp/request   → {}",
        shown(status, &sent)
    );
    assert_eq!(status, 200, "request-otp answered {sent}");

    // SNS's delivery log of the SMS, as the log subscription hands it over.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let log = sns_logs("sns-delivery-log", mobile_no, now_ms, None);
    let folded = delivery.invoke_event(&log).await;
    println!("arm64 delivery-events  SNS delivery log  → {folded}");
    assert_eq!(folded["recorded"], 1, "delivery-events answered {folded}");
    let asked = serde_json::json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": sent["data"]["token"]});
    let (status, told) = confirm.invoke(&json_event("otp-status", &asked)).await;
    println!(
        "arm64 confirm-otp  POST /v1/otp/status    → {status} delivery {}",
        told["data"]["delivery"]
    );
    assert_eq!(
        told["data"]["delivery"], "delivered",
        "the status answered {told}"
    );
    let (status, refused) = delivery
        .invoke(&api_event("delivery-esms-callback", None, None))
        .await;
    println!(
        "arm64 delivery-events  GET /v1/delivery/esms/{{ticket}} → {}",
        shown(status, &refused)
    );
    assert_eq!(status, 404, "a ticket it did not seal: {refused}");

    let code = code_in(&sms_to(&moto_url(), mobile_no).await);
    let body = token_confirm_body(&sent["data"]["token"], &code);
    let (status, tokens) = confirm.invoke(&json_event("confirm-otp", &body)).await;
    println!(
        "arm64 confirm-otp  POST /v1/otp/confirm   → {}",
        shown(status, &tokens)
    );
    assert_eq!(status, 200, "confirm-otp answered {tokens}");

    let refresh_token = tokens["data"]["refresh_token"]
        .as_str()
        .expect("a refresh token");
    let (status, refreshed) = token.invoke(&refresh_event(refresh_token)).await;
    println!(
        "arm64 issue-token  POST /v1/oauth/token   → {}",
        shown(status, &refreshed)
    );
    assert_eq!(status, 200, "issue-token answered {refreshed}");

    let (status, jwks) = token.invoke(&api_event("jwks", None, None)).await;
    println!(
        "arm64 issue-token  GET /.well-known/jwks.json → {}",
        shown(status, &jwks)
    );
    assert_eq!(status, 200, "issue-token answered {jwks}");
    // The refreshed access token is signed by a key the JWKS publishes.
    let access = refreshed["access_token"].as_str().expect("an access token");
    if let Err(why) = verify_jwt(access, &jwks) {
        panic!("the refreshed access token does not verify against the JWKS: {why}");
    }
    println!(
        "arm64 flow: a code texted, its delivery folded and told, confirmed, the refresh token exchanged, the signing key published"
    );
}
