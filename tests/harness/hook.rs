//! A send hook's (or an SMS provider's) receiver for the handler tests: it
//! records every request and answers as it is told to, then 204. (The yardstick of the
//! signature is Standard Webhooks' own library, tests/webhook_receiver.py.)

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One request the hook received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// With the query.
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    plan: VecDeque<(u16, String)>,
    received: Vec<Received>,
}

pub struct Hook {
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Hook {
    /// Listens on the current runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
        let state = Arc::new(Mutex::new(State::default()));
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let state = state.clone();
                        async move {
                            let method = request.method().to_string();
                            let path = request
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let headers = request
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.to_string(), v.to_str().unwrap_or_default().to_string())
                                })
                                .collect();
                            let body = request.into_body().collect().await.map(|b| b.to_bytes());
                            let mut state = state.lock().unwrap();
                            state.received.push(Received {
                                method,
                                path,
                                headers,
                                body: body.unwrap_or_default(),
                            });
                            let (status, body) =
                                state.plan.pop_front().unwrap_or((204, String::new()));
                            let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    /// The next answers' statuses, in order; 204 after them.
    pub fn answer(&self, statuses: &[u16]) {
        let plan = statuses.iter().map(|s| (*s, String::new())).collect();
        self.state.lock().unwrap().plan = plan;
    }

    /// The next answers, status and body, in order; 204 after them.
    pub fn answer_with(&self, answers: &[(u16, &str)]) {
        let plan = answers.iter().map(|(s, b)| (*s, b.to_string())).collect();
        self.state.lock().unwrap().plan = plan;
    }

    /// `/path` on this receiver.
    pub fn url_of(&self, path: &str) -> String {
        let base = self.url.trim_end_matches("/hook");
        format!("{base}{path}")
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().received.clear();
    }
}
