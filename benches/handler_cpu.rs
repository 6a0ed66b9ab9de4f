//! Handler CPU per route (DESIGN §9: well under 1 ms per request, AWS I/O
//! excluded). The real handlers are fed the API Gateway events of `events/`,
//! over the in-memory store and outbox, which stand in for DynamoDB and SNS at
//! the cost of a map lookup. Signing is measured on its own: in AWS it is a
//! KMS call (I/O), here it is RSA-2048 in process.
//!
//! `cargo bench --bench handler_cpu` (release profile, as deployed); the
//! method and the numbers are in BENCHMARKS.md.

use otp_integration_tests::{
    TestApp, api_request, code_request_body, json_request, local_signer, quantile, refresh_request,
    timed_ok, token_confirm_body,
};
use otp_shared::http::Function;
use otp_shared::signer::Signer;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 2_000;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let t = TestApp::memory().await;
    let signer = local_signer();
    let kid = signer.public_key().await.unwrap().kid;
    let (mut request, mut confirm, mut refresh, mut jwks, mut sign) =
        (vec![], vec![], vec![], vec![], vec![]);

    for round in 0..ROUNDS {
        // A new hour and a new number each round: no cooldown or rate limit
        // refuses the next request.
        t.clock.advance_secs(3_600);
        let mobile_no = format!("08{:08}", 10_000_000 + round);
        let request_otp = json_request("request-otp", &code_request_body(&mobile_no));
        let (sent, took) = timed_ok(&t.app, Function::RequestOtp, request_otp).await;
        request.push(took);

        let body = token_confirm_body(&sent["data"]["token"], &t.last_sms().code);
        let confirm_otp = json_request("confirm-otp", &body);
        let (tokens, took) = timed_ok(&t.app, Function::ConfirmOtp, confirm_otp).await;
        confirm.push(took);

        let token_refresh = refresh_request(tokens["data"]["refresh_token"].as_str().unwrap());
        let (_, took) = timed_ok(&t.app, Function::IssueToken, token_refresh).await;
        refresh.push(took);

        let (_, took) = timed_ok(
            &t.app,
            Function::IssueToken,
            api_request("jwks", None, None),
        )
        .await;
        jwks.push(took);

        let started = Instant::now();
        signer.sign(&kid, b"header.claims").await.unwrap();
        sign.push(started.elapsed());
    }

    let sign_median = micros(quantile(&mut sign, 0.5));
    println!("{ROUNDS} rounds; microseconds per request, median and p99");
    println!("{:<40} {:>8} {:>8}", "route", "median", "p99");
    for (name, samples, signs) in [
        ("POST /v1/otp/request", &mut request, false),
        ("POST /v1/otp/confirm", &mut confirm, true),
        ("POST /v1/oauth/token (refresh)", &mut refresh, true),
        ("GET /.well-known/jwks.json", &mut jwks, false),
    ] {
        let (median, p99) = (
            micros(quantile(samples, 0.5)),
            micros(quantile(samples, 0.99)),
        );
        println!("{name:<40} {median:>8.1} {p99:>8.1}");
        if signs {
            let without = median - sign_median;
            println!(
                "{:<40} {without:>8.1}",
                "  without the RSA signature (KMS in AWS)"
            );
        }
    }
    println!("{:<40} {sign_median:>8.1}", "RSA-2048 signature in process");
}
