//! Handler CPU per route (DESIGN §9: well under 1 ms per request, AWS I/O
//! excluded). The real handlers are fed the API Gateway events of `events/`,
//! over the in-memory store and outbox, which stand in for DynamoDB and SNS at
//! the cost of a map lookup. Signing is measured on its own: in AWS it is a
//! KMS call (I/O), here it is RSA-2048 in process.
//!
//! `cargo bench --bench handler_cpu` (release profile, as deployed); the
//! method and the numbers are in BENCHMARKS.md.

use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, TestApp, api_request, call, local_signer, refresh_form,
};
use otp_shared::http::Function;
use otp_shared::signer::Signer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ROUNDS: u32 = 2_000;

/// Median and 99th percentile of `samples`, in microseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

async fn timed(
    t: &TestApp,
    function: Function,
    event: &str,
    body: &str,
    ct: &str,
) -> (Value, Duration) {
    let request = api_request(event, Some(body), Some(ct));
    let started = Instant::now();
    let answer = call(&t.app, function, request).await;
    let took = started.elapsed();
    assert!(answer.status == 200, "{event}: {answer:?}");
    (answer.body, took)
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
        let body =
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
        let (sent, took) = timed(
            &t,
            Function::RequestOtp,
            "request-otp",
            &body.to_string(),
            "application/json",
        )
        .await;
        request.push(took);

        let body = json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "token": sent["data"]["token"], "otp": t.last_sms().code,
        });
        let (tokens, took) = timed(
            &t,
            Function::ConfirmOtp,
            "confirm-otp",
            &body.to_string(),
            "application/json",
        )
        .await;
        confirm.push(took);

        let form = refresh_form(tokens["data"]["refresh_token"].as_str().unwrap());
        let (_, took) = timed(
            &t,
            Function::IssueToken,
            "token-refresh",
            &form,
            "application/x-www-form-urlencoded",
        )
        .await;
        refresh.push(took);

        let started = Instant::now();
        let answer = call(
            &t.app,
            Function::IssueToken,
            api_request("jwks", None, None),
        )
        .await;
        jwks.push(started.elapsed());
        assert_eq!(answer.status, 200);

        let started = Instant::now();
        signer.sign(&kid, b"header.claims").await.unwrap();
        sign.push(started.elapsed());
    }

    let (sign_median, _) = summary(&mut sign);
    println!("{ROUNDS} rounds; microseconds per request, median and p99");
    println!("{:<40} {:>8} {:>8}", "route", "median", "p99");
    for (name, samples, signs) in [
        ("POST /v1/otp/request", &mut request, false),
        ("POST /v1/otp/confirm", &mut confirm, true),
        ("POST /v1/oauth/token (refresh)", &mut refresh, true),
        ("GET /.well-known/jwks.json", &mut jwks, false),
    ] {
        let (median, p99) = summary(samples);
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
