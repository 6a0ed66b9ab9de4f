//! Sequential AWS round trips on the warm critical path (DESIGN §9: request
//! ≤ 2, confirm ≤ 2, refresh ≤ 2, JWKS 0). The app is wired exactly as a
//! Lambda function wires it, against DynamoDB Local and moto, each behind a
//! proxy (`otp_integration_tests::delay`) that holds every request for 100 ms
//! before passing it on. A route
//! then takes about 100 ms per sequential round trip, however many calls run
//! side by side, and the proxies count the calls.
//!
//! `make bench` starts the engines and runs it; BENCHMARKS.md has the numbers.

use lambda_http::Request;
use otp_integration_tests::delay::DelayingProxy;
use otp_integration_tests::{
    api_request, code_in, code_request_body, deployment, json_request, lambda_app, quantile,
    refresh_request, sms_to, timed_ok, token_confirm_body,
};
use otp_shared::App;
use otp_shared::http::Function;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

const DELAY: Duration = Duration::from_millis(100);
const ROUNDS: usize = 5;

/// The two proxies: DynamoDB Local's and moto's.
static PROXIES: OnceLock<[DelayingProxy; 2]> = OnceLock::new();

fn requests() -> usize {
    PROXIES
        .get()
        .map_or(0, |p| p.iter().map(DelayingProxy::requests).sum())
}

/// The route's answer (a 200), how long it took and how many AWS calls it made.
async fn measure(app: &App, function: Function, request: Request) -> (Value, Duration, usize) {
    let calls = requests();
    let (body, took) = timed_ok(app, function, request).await;
    (body, took, requests() - calls)
}

/// One request → confirm → refresh → JWKS; each route's (duration, calls).
async fn flow(app: &App, moto: &str, round: usize) -> [(Duration, usize); 4] {
    let mobile_no = format!("+668{:08}", 10_000_000 + round);
    let request_otp = json_request("request-otp", &code_request_body(&mobile_no));
    let (sent, request_took, request_calls) = measure(app, Function::RequestOtp, request_otp).await;

    let code = code_in(&sms_to(moto, &mobile_no).await);
    let confirm_otp = json_request(
        "confirm-otp",
        &token_confirm_body(&sent["data"]["token"], &code),
    );
    let (tokens, confirm_took, confirm_calls) =
        measure(app, Function::ConfirmOtp, confirm_otp).await;

    let token_refresh = refresh_request(tokens["data"]["refresh_token"].as_str().unwrap());
    let (_, refresh_took, refresh_calls) = measure(app, Function::IssueToken, token_refresh).await;

    let jwks = api_request("jwks", None, None);
    let (_, jwks_took, jwks_calls) = measure(app, Function::IssueToken, jwks).await;
    [
        (request_took, request_calls),
        (confirm_took, confirm_calls),
        (refresh_took, refresh_calls),
        (jwks_took, jwks_calls),
    ]
}

fn main() {
    let endpoint = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run `make bench`, which starts the engines")
        })
    };
    let (dynamodb, moto) = (
        endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
        endpoint("AWS_ENDPOINT_URL_SNS"),
    );
    let proxies = PROXIES.get_or_init(|| {
        [
            DelayingProxy::bind(&dynamodb, DELAY),
            DelayingProxy::bind(&moto, DELAY),
        ]
    });
    // SAFETY: no other thread exists yet; the runtime starts below.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &proxies[0].url);
        for service in ["SNS", "KMS", "SECRETS_MANAGER"] {
            std::env::set_var(format!("AWS_ENDPOINT_URL_{service}"), &proxies[1].url);
        }
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        proxies.iter().for_each(DelayingProxy::serve);
        let app = lambda_app(&deployment(&[]).await).await;
        // Warm: the client record and the signing key are cached from here on.
        flow(&app, &moto, 0).await;
        let mut rounds = vec![];
        for round in 1..=ROUNDS {
            rounds.push(flow(&app, &moto, round).await);
        }

        println!(
            "{ROUNDS} warm rounds, every AWS call held {} ms",
            DELAY.as_millis()
        );
        println!(
            "{:<32} {:>10} {:>22} {:>12}",
            "route", "median ms", "sequential round trips", "AWS calls"
        );
        let routes = [
            "POST /v1/otp/request",
            "POST /v1/otp/confirm",
            "POST /v1/oauth/token",
            "GET /.well-known/jwks.json",
        ];
        for (index, route) in routes.iter().enumerate() {
            let mut took: Vec<Duration> = rounds.iter().map(|r| r[index].0).collect();
            let median = quantile(&mut took, 0.5);
            let calls: Vec<usize> = rounds.iter().map(|r| r[index].1).collect();
            let sequential = median.as_millis() / DELAY.as_millis();
            println!(
                "{route:<32} {:>10.1} {sequential:>22} {:>12}",
                median.as_secs_f64() * 1e3,
                format!("{calls:?}")
            );
        }
    });
}
