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

use otp_integration_tests::runtime_api::{Execution, cpu_time_of};
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, api_event, code_in, code_request_body, deployment, json_event,
    moto_url, quantile, refresh_event, sms_to, token_confirm_body,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const STARTS: usize = 25;
/// How long the engines must have been idle before a start.
const QUIET: Duration = Duration::from_millis(5);
const FLOWS: usize = 30;

fn path(name: &str) -> PathBuf {
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

/// Waits until DynamoDB Local and moto (`OTP_ENGINE_PIDS`, set by
/// `scripts/engines.sh`) have used no CPU for `QUIET`, so that no start
/// shares the two cores with the engines' work for the one before; in Lambda
/// nothing else runs on the instance. Polled every millisecond, so that the
/// CPU does not fall idle for long. False if they were not quiet within a
/// second.
async fn engines_quiet(engines: &[u32]) -> bool {
    let used = || {
        engines
            .iter()
            .map(|&pid| cpu_time_of(pid))
            .sum::<Duration>()
    };
    let (began, mut last, mut unchanged_since) = (Instant::now(), used(), Instant::now());
    while unchanged_since.elapsed() < QUIET {
        if began.elapsed() > Duration::from_secs(1) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = used();
        if now != last {
            (last, unchanged_since) = (now, Instant::now());
        }
    }
    true
}

/// A binary measured, with the event of its first invocation.
struct Binary<'a> {
    name: &'a str,
    variables: &'a HashMap<String, String>,
    event: &'a dyn Fn() -> Value,
    expected: u16,
    first_event: &'a str,
}

/// One cold start: exec to the first poll for an event (the init phase),
/// exec to the first answer, and the CPU time used by then.
struct ColdStart {
    init: Duration,
    first_answer: Duration,
    cpu: Duration,
}

async fn cold_start(binary: &Binary<'_>) -> ColdStart {
    let event = (binary.event)();
    let started = Instant::now();
    let execution = Execution::start(Command::new(path(binary.name)), binary.variables).await;
    let (status, body) = execution.invoke(&event).await;
    let first_answer = started.elapsed();
    let cpu = execution.cpu_time();
    let polled = execution.api.first_poll.lock().unwrap().expect("it polled");
    assert_eq!(status, binary.expected, "{}: {body}", binary.name);
    ColdStart {
        init: polled - started,
        first_answer,
        cpu,
    }
}

/// The medians of a binary's cold starts.
fn medians(starts: &[ColdStart]) -> ColdStart {
    let median = |of: fn(&ColdStart) -> Duration| {
        quantile(&mut starts.iter().map(of).collect::<Vec<_>>(), 0.5)
    };
    ColdStart {
        init: median(|s| s.init),
        first_answer: median(|s| s.first_answer),
        cpu: median(|s| s.cpu),
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
    let callback = || api_event("delivery-esms-callback", None, None);
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
    let hello_variables = HashMap::new();
    let binaries = [
        Binary {
            name: "hello-lambda",
            variables: &hello_variables,
            event: &jwks,
            expected: 200,
            first_event: "",
        },
        Binary {
            name: "request-otp",
            variables: &variables,
            event: &next_code_request,
            expected: 200,
            first_event: "a code texted: client read, one transaction, SNS publish",
        },
        Binary {
            name: "confirm-otp",
            variables: &variables,
            event: &wrong_code,
            expected: 400,
            first_event: "an unknown challenge: client read, attempt refused",
        },
        Binary {
            name: "issue-token",
            variables: &variables,
            event: &jwks,
            expected: 200,
            first_event: "JWKS: KMS alias lookups and public key",
        },
        Binary {
            name: "delivery-events",
            variables: &variables,
            event: &callback,
            expected: 404,
            first_event: "a provider callback whose ticket it did not seal",
        },
    ];
    // Round by round, each binary once a round, so that a busy moment of
    // this shared machine falls on all of them alike; the first round warms
    // DynamoDB Local's and moto's code paths and is not counted.
    let engines: Vec<u32> = std::env::var("OTP_ENGINE_PIDS")
        .expect("OTP_ENGINE_PIDS: run by make bench, which starts the engines")
        .split_whitespace()
        .map(|pid| pid.parse().expect("a process id"))
        .collect();
    let mut not_quiet = 0;
    let mut starts: Vec<Vec<ColdStart>> = binaries.iter().map(|_| vec![]).collect();
    for round in 0..=STARTS {
        for (binary, taken) in binaries.iter().zip(&mut starts) {
            if !engines_quiet(&engines).await {
                not_quiet += 1;
            }
            let start = cold_start(binary).await;
            if round > 0 {
                taken.push(start);
            }
        }
    }
    let row = |name: &str, c: &ColdStart| {
        let size = std::fs::metadata(path(name)).map_or(0, |m| m.len());
        format!(
            "{name:<14} {:>9.1} {:>13.1} {:>9.1} {size:>11}",
            ms(c.init),
            ms(c.first_answer),
            ms(c.cpu)
        )
    };
    if not_quiet > 0 {
        println!("({not_quiet} starts began with the engines still busy after a second)");
    }
    let hello = medians(&starts[0]);
    println!("{}", row("hello-lambda", &hello));
    for (binary, taken) in binaries.iter().zip(&starts).skip(1) {
        let (name, what) = (binary.name, binary.first_event);
        let took = medians(taken);
        let times = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{}  ×{:.1} / ×{:.1} / ×{:.1} hello  ({what})",
            row(name, &took),
            times(took.init, hello.init),
            times(took.first_answer, hello.first_answer),
            times(took.cpu, hello.cpu)
        );
    }

    let request = Execution::start(Command::new(path("request-otp")), &variables).await;
    let confirm = Execution::start(Command::new(path("confirm-otp")), &variables).await;
    let token = Execution::start(Command::new(path("issue-token")), &variables).await;
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
