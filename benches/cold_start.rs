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

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, api_event, code_in, code_request_body, deployment, json_event,
    moto_url, quantile, refresh_event, sms_to, token_confirm_body,
};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

const STARTS: usize = 15;
const FLOWS: usize = 30;

/// What the Lambda service does for one execution environment: hands out
/// events on `GET …/invocation/next` and takes the answers.
#[derive(Default)]
struct RuntimeApi {
    queued: Mutex<VecDeque<(String, String)>>,
    queued_one: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<String, String>>>>,
    /// When the function first asked for an event: its init was over.
    first_poll: Mutex<Option<Instant>>,
}

impl RuntimeApi {
    /// Queues `event` and waits for the function's answer.
    async fn invoke(&self, event: String) -> Result<String, String> {
        let id = format!("{:032x}", rand_id());
        let (answer, answered) = oneshot::channel();
        self.waiting.lock().unwrap().insert(id.clone(), answer);
        self.queued.lock().unwrap().push_back((id, event));
        self.queued_one.notify_one();
        tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .map_err(|_| "no answer within 30 s".to_string())?
            .map_err(|_| "the function went away".to_string())?
    }

    async fn serve(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        if path.ends_with("/invocation/next") {
            self.first_poll
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
            let (id, event) = loop {
                if let Some(next) = self.queued.lock().unwrap().pop_front() {
                    break next;
                }
                self.queued_one.notified().await;
            };
            let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
            let deadline_ms = deadline
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            return hyper::Response::builder()
                .header("lambda-runtime-aws-request-id", &id)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000",
                )
                .body(Full::new(Bytes::from(event)))
                .unwrap();
        }
        // …/invocation/<id>/response, …/invocation/<id>/error, /init/error
        let mut segments = path.rsplit('/');
        let (outcome, id) = (segments.next().unwrap_or(""), segments.next().unwrap_or(""));
        let answer = if outcome == "response" {
            Ok(text)
        } else {
            Err(format!("{path}: {text}"))
        };
        let mut waiting = self.waiting.lock().unwrap();
        let ids: Vec<String> = if waiting.contains_key(id) {
            vec![id.to_string()]
        } else {
            waiting.keys().cloned().collect()
        };
        for id in ids {
            if let Some(sender) = waiting.remove(&id) {
                let _ = sender.send(answer.clone());
            }
        }
        hyper::Response::builder()
            .status(202)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }
}

fn rand_id() -> u128 {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    u128::from_le_bytes(bytes)
}

/// A function binary running under its own runtime API.
struct Execution {
    child: Child,
    api: Arc<RuntimeApi>,
}

impl Execution {
    async fn start(binary: &PathBuf, variables: &HashMap<String, String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let api = Arc::new(RuntimeApi::default());
        let served = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let api = api.clone();
                        async move { Ok::<_, hyper::Error>(api.serve(request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let child = Command::new(binary)
            .env_clear()
            .envs(variables)
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run `make bench`, which builds it)",
                    binary.display()
                )
            });
        Self { child, api }
    }

    /// The API Gateway answer's status and JSON body.
    async fn invoke(&self, event: &Value) -> (u16, Value) {
        let answer = self
            .api
            .invoke(event.to_string())
            .await
            .unwrap_or_else(|e| panic!("invocation failed: {e}"));
        let answer: Value = serde_json::from_str(&answer).expect("a v2 response");
        let body = answer["body"].as_str().unwrap_or("null");
        (
            answer["statusCode"].as_u64().unwrap_or(0) as u16,
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    /// CPU time all its threads have used so far (schedstat: nanoseconds).
    fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).unwrap();
        let nanos = tasks
            .map(|task| {
                let path = task.unwrap().path().join("schedstat");
                let text = std::fs::read_to_string(path).unwrap_or_default();
                text.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        Duration::from_nanos(nanos)
    }

    /// Peak resident set size so far, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc status");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        let execution = Execution::start(&binary(name), variables).await;
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

    let request = Execution::start(&binary("request-otp"), &variables).await;
    let confirm = Execution::start(&binary("confirm-otp"), &variables).await;
    let token = Execution::start(&binary("issue-token"), &variables).await;
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
