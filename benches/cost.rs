//! What one login costs in AWS's billed units (DESIGN §11), measured: the
//! app wired exactly as the Lambda functions wire it, its DynamoDB calls
//! through the harness layer in front of DynamoDB Local that asks for each
//! call's consumed capacity (`ReturnConsumedCapacity`) and bills
//! transactions as DynamoDB does; KMS, SNS and Secrets Manager calls counted
//! on the wire by the proxy in front of moto; each route's handler time on
//! this machine. The cost table of docs/operations.md multiplies these by AWS's list
//! prices.
//!
//! `make bench` starts the engines and runs it; BENCHMARKS.md has the numbers.

use otp_integration_tests::delay::DelayingProxy;
use otp_integration_tests::layer::{Capacity, DynamoLayer};
use otp_integration_tests::{
    api_request, code_in, code_request_body, deployment, json_request, lambda_app, quantile,
    refresh_request, sms_to, timed_ok, token_confirm_body,
};
use otp_shared::App;
use otp_shared::http::Function;
use std::sync::OnceLock;
use std::time::Duration;

const LOGINS: usize = 20;

/// The proxy in front of moto (SNS, KMS, Secrets Manager), without delay:
/// it counts the calls.
static MOTO: OnceLock<DelayingProxy> = OnceLock::new();

/// What one route consumed.
#[derive(Default, Clone, Copy)]
struct Used {
    capacity: Capacity,
    other_calls: usize,
    took: Duration,
}

async fn measure(
    app: &App,
    table: &str,
    function: Function,
    request: lambda_http::Request,
) -> (serde_json::Value, Used) {
    let layer = DynamoLayer::get();
    let moto = MOTO.get().expect("the moto proxy");
    let (capacity, calls) = (layer.capacity_of(table), moto.requests());
    let (body, took) = timed_ok(app, function, request).await;
    let used = Used {
        capacity: layer.capacity_of(table) - capacity,
        other_calls: moto.requests() - calls,
        took,
    };
    (body, used)
}

fn main() {
    let endpoint = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run `make bench`, which starts the engines")
        })
    };
    let moto_url = endpoint("AWS_ENDPOINT_URL_SNS");
    // The layer reads DynamoDB Local's address before the functions are
    // pointed at the layer.
    let layer = DynamoLayer::get();
    let moto = MOTO.get_or_init(|| DelayingProxy::bind(&moto_url, Duration::ZERO));
    // SAFETY: no thread of this process reads the environment yet; the
    // layer's runtime has read what it needs.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &layer.url);
        for service in ["SNS", "KMS", "SECRETS_MANAGER"] {
            std::env::set_var(format!("AWS_ENDPOINT_URL_{service}"), &moto.url);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        moto.serve();
        let variables = deployment(&[]).await;
        let table = variables["OTP_TABLE_NAME"].clone();
        layer.measure_capacity(&table);
        let cold = (layer.capacity_of(&table), moto.requests());
        let app = lambda_app(&variables).await;
        let (cold_start_capacity, cold_start_calls) =
            (layer.capacity_of(&table) - cold.0, moto.requests() - cold.1);

        let mut rounds: Vec<[Used; 4]> = vec![];
        for login in 0..=LOGINS {
            let mobile_no = format!("+668{:08}", 20_000_000 + login);
            let request = json_request("request-otp", &code_request_body(&mobile_no));
            let (sent, requested) = measure(&app, &table, Function::RequestOtp, request).await;
            let code = code_in(&sms_to(&moto_url, &mobile_no).await);
            let confirm = json_request(
                "confirm-otp",
                &token_confirm_body(&sent["data"]["token"], &code),
            );
            let (tokens, confirmed) = measure(&app, &table, Function::ConfirmOtp, confirm).await;
            let refresh = refresh_request(tokens["data"]["refresh_token"].as_str().unwrap());
            let (_, refreshed) = measure(&app, &table, Function::IssueToken, refresh).await;
            let jwks = api_request("jwks", None, None);
            let (_, keys) = measure(&app, &table, Function::IssueToken, jwks).await;
            // The first login warms the client cache and the signing key.
            if login > 0 {
                rounds.push([requested, confirmed, refreshed, keys]);
            }
        }

        println!(
            "cold start (the app built): {cold_start_calls} call(s) to moto (the server secret), {cold_start_capacity:?} on DynamoDB"
        );
        println!("{LOGINS} warm logins; per route, medians:");
        println!(
            "{:<32} {:>10} {:>10} {:>22} {:>12}",
            "route", "read units", "write units", "KMS/SNS/Secrets calls", "handler ms"
        );
        let routes = [
            "POST /v1/otp/request",
            "POST /v1/otp/confirm",
            "POST /v1/oauth/token (refresh)",
            "GET /.well-known/jwks.json",
        ];
        for (index, route) in routes.iter().enumerate() {
            let median = |value: &dyn Fn(&Used) -> f64| {
                let mut values: Vec<f64> = rounds.iter().map(|r| value(&r[index])).collect();
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            let mut took: Vec<Duration> = rounds.iter().map(|r| r[index].took).collect();
            println!(
                "{route:<32} {:>10.1} {:>10.1} {:>22} {:>12.2}",
                median(&|u| u.capacity.reads),
                median(&|u| u.capacity.writes),
                median(&|u| u.other_calls as f64),
                quantile(&mut took, 0.5).as_secs_f64() * 1e3
            );
        }
    });
}
