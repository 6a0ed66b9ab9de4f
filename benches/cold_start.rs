//! Cold start and peak memory of the real function binaries (DESIGN §9: first
//! response within 2× a hello-world `lambda_http` binary measured the same
//! way in the same run; peak RSS ≤ 40 MB). Each release binary is started as
//! Lambda starts it, under a stand-in for the Lambda runtime API, with the
//! deployment's variables on DynamoDB Local and moto, and timed from exec to
//! its first response; each binary's size (this machine's release build;
//! `make package` gives the arm64 ones) is printed beside. Then the three
//! serve full request → confirm → refresh flows and their peak RSS (VmHWM)
//! is read.
//!
//! `make bench` builds the binaries, starts the engines and runs it; the
//! numbers are in BENCHMARKS.md.

use otp_integration_tests::runtime_api::Execution;
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, api_event, code_in, code_request_body, deployment, json_event,
    moto_url, quantile, refresh_event, sms_to, token_confirm_body,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const STARTS: usize = 15;
const FLOWS: usize = 30;

fn binary(name: &str) -> PathBuf {
    // The bench runs from target/release/deps; the binaries are beside it.
    let deps = std::env::current_exe().unwrap();
    deps.parent().and_then(|d| d.parent()).unwrap().join(name)
}

/// A code request for the `n`th number from the `n`th address, so that no
/// cooldown or rate limit refuses it.
fn code_request(n: u32) -> (String, Value) {
    let mobile_no = format!("+669{n:04}{n:04}");
    let mut event = json_event("request-otp", &code_request_body(&mobile_no));
    event["requestContext"]["http"]["sourceIp"] =
        json!(format!("198.51.{}.{}", n / 250, n % 250 + 1));
    (mobile_no, event)
}

/// Medians of `STARTS` cold starts: exec to the first poll for an event (the
/// init phase), exec to the first answer, and the CPU time used by then.
struct ColdStart {
    init: Duration,
    first_answer: Duration,
    cpu: Duration,
}

async fn cold_start(
    name: &str,
    variables: &HashMap<String, String>,
    event: impl Fn() -> Value,
    expected: u16,
) -> ColdStart {
    let (mut init, mut first_answer, mut cpu) = (vec![], vec![], vec![]);
    for _ in 0..STARTS {
        let event = event();
        let started = Instant::now();
        let execution = Execution::start(Command::new(binary(name)), variables).await;
        let (status, body) = execution.invoke(&event).await;
        first_answer.push(started.elapsed());
        cpu.push(execution.cpu_time());
        let polled = execution.api.first_poll.lock().unwrap().expect("it polled");
        init.push(polled - started);
        assert_eq!(status, expected, "{name}: {body}");
    }
    ColdStart {
        init: quantile(&mut init, 0.5),
        first_answer: quantile(&mut first_answer, 0.5),
        cpu: quantile(&mut cpu, 0.5),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let variables = deployment(&[]).await;
    let requests = std::sync::atomic::AtomicU32::new(0);
    let next_code_request =
        || code_request(requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst)).1;
    let jwks = || api_event("jwks", None, None);
    let wrong_code = || {
        let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": "+66810000000", "ref_code": "ABC234", "otp": "000000"});
        json_event("confirm-otp", &body)
    };

    println!(
        "cold start, medians of {STARTS}: exec → init done (first poll), exec → first answer, CPU used by then"
    );
    println!(
        "{:<14} {:>9} {:>13} {:>9} {:>11}",
        "binary", "init ms", "1st answer ms", "CPU ms", "size bytes"
    );
    let hello = cold_start("hello-lambda", &HashMap::new(), jwks, 200).await;
    let row = |name: &str, c: &ColdStart| {
        let size = std::fs::metadata(binary(name)).map_or(0, |m| m.len());
        format!(
            "{name:<14} {:>9.1} {:>13.1} {:>9.1} {size:>11}",
            ms(c.init),
            ms(c.first_answer),
            ms(c.cpu)
        )
    };
    println!("{}", row("hello-lambda", &hello));
    let starts: [(&str, &dyn Fn() -> Value, u16, &str); 3] = [
        (
            "request-otp",
            &next_code_request,
            200,
            "a code texted: client read, one transaction, SNS publish",
        ),
        (
            "confirm-otp",
            &wrong_code,
            400,
            "an unknown challenge: client read, attempt refused",
        ),
        (
            "issue-token",
            &jwks,
            200,
            "JWKS: KMS alias lookups and public key",
        ),
    ];
    for (name, event, expected, what) in starts {
        let took = cold_start(name, &variables, event, expected).await;
        let times = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{}  ×{:.1} / ×{:.1} / ×{:.1} hello  ({what})",
            row(name, &took),
            times(took.init, hello.init),
            times(took.first_answer, hello.first_answer),
            times(took.cpu, hello.cpu)
        );
    }

    let request = Execution::start(Command::new(binary("request-otp")), &variables).await;
    let confirm = Execution::start(Command::new(binary("confirm-otp")), &variables).await;
    let token = Execution::start(Command::new(binary("issue-token")), &variables).await;
    let moto = moto_url();
    for _ in 0..FLOWS {
        let (mobile_no, event) =
            code_request(requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let (status, sent) = request.invoke(&event).await;
        assert_eq!(status, 200, "{sent}");
        let code = code_in(&sms_to(&moto, &mobile_no).await);
        let body = token_confirm_body(&sent["data"]["token"], &code);
        let (status, tokens) = confirm.invoke(&json_event("confirm-otp", &body)).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = refresh_event(tokens["data"]["refresh_token"].as_str().unwrap());
        let (status, refreshed) = token.invoke(&refresh).await;
        assert_eq!(status, 200, "{refreshed}");
        assert_eq!(token.invoke(&jwks()).await.0, 200);
    }
    println!("peak RSS after {FLOWS} request → confirm → refresh → JWKS flows");
    for (name, execution) in [
        ("request-otp", &request),
        ("confirm-otp", &confirm),
        ("issue-token", &token),
    ] {
        println!(
            "{name:<14} {:>7.1} MB",
            execution.peak_rss_kib() as f64 / 1024.0
        );
    }
}
