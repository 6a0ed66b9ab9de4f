//! A stand-in for the Lambda runtime API, and a function process under it:
//! what the Lambda service does for one execution environment. The cold-start
//! benchmark runs the release binaries under it; `make package` runs the
//! arm64 bootstraps under it, through qemu (`examples/arm64_flow.rs`).

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

/// What the Lambda service does for one execution environment: hands out
/// events on `GET …/invocation/next` and takes the answers.
#[derive(Default)]
pub struct RuntimeApi {
    queued: Mutex<VecDeque<(String, String)>>,
    queued_one: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<String, String>>>>,
    /// When the function first asked for an event: its init was over.
    pub first_poll: Mutex<Option<Instant>>,
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
pub struct Execution {
    pub child: Child,
    pub api: Arc<RuntimeApi>,
}

impl Execution {
    /// Runs `command` (a `bootstrap`, or an emulator running one) as Lambda
    /// starts a function: `variables` and the SDK's `AWS_*` settings in an
    /// otherwise empty environment, pointed at a runtime API of its own.
    pub async fn start(mut command: Command, variables: &HashMap<String, String>) -> Self {
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
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
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
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        Self { child, api }
    }

    /// The function's answer to `event`, whatever its source.
    pub async fn invoke_event(&self, event: &Value) -> Value {
        let answer = self
            .api
            .invoke(event.to_string())
            .await
            .unwrap_or_else(|e| panic!("invocation failed: {e}"));
        serde_json::from_str(&answer).expect("a JSON answer")
    }

    /// The API Gateway answer's status and JSON body.
    pub async fn invoke(&self, event: &Value) -> (u16, Value) {
        let answer = self.invoke_event(event).await;
        let body = answer["body"].as_str().unwrap_or("null");
        (
            answer["statusCode"].as_u64().unwrap_or(0) as u16,
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    /// CPU time all its threads have used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(self.child.id())
    }

    /// Peak resident set size so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
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

/// CPU time all threads of process `pid` have used so far (schedstat:
/// nanoseconds); zero once it is gone.
pub fn cpu_time_of(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .filter_map(Result::ok)
        .map(|task| {
            let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            text.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    Duration::from_nanos(nanos)
}
