//! A layer in front of DynamoDB Local that applies DynamoDB's transaction
//! conflict rule, which DynamoDB Local does not: it runs a table's
//! transactions one at a time, behind one lock, and never reports a conflict.
//!
//! DynamoDB's rule ("Transaction conflict handling", DynamoDB Developer
//! Guide, Amazon DynamoDB Transactions: How it works), for the writes this
//! service makes:
//! - a `TransactWriteItems` whose items include one that another transaction
//!   still in flight holds is cancelled: `TransactionCanceledException`, with
//!   the reason `TransactionConflict` for that item and `None` for the others;
//! - a `PutItem`, `UpdateItem` or `DeleteItem` on an item that a transaction
//!   in flight holds fails with `TransactionConflictException`.
//!
//! The layer is an HTTP proxy: it reads each request's operation and item
//! keys (the table's key attribute is `pk`), refuses the ones the rule
//! refuses, in DynamoDB's own error format, and passes the rest to DynamoDB
//! Local. A transaction holds its items from the moment the layer accepts it
//! until DynamoDB Local has answered, and one that commits for
//! [`TRANSACTION_COMMIT`] more: DynamoDB's transactions take longer than its
//! single writes (two phases over several partitions), and a conflict needs
//! that window to happen.
//!
//! For the tables named to [`ConflictLayer::measure_capacity`], it also asks
//! DynamoDB Local for the capacity each call consumes
//! (`ReturnConsumedCapacity`) and adds it up, as reads and writes.
//! DynamoDB Local counts a transaction's items at the single rate; DynamoDB
//! charges them twice ("Capacity management for transactions", DynamoDB
//! Developer Guide), which the layer applies.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// How much longer than DynamoDB Local's answer a transaction holds its
/// items.
pub const TRANSACTION_COMMIT: Duration = Duration::from_millis(10);

/// The layer, one per test binary, on a runtime of its own so that every
/// test's runtime can use it.
pub struct ConflictLayer {
    /// `http://127.0.0.1:<port>`: point an SDK client's endpoint here.
    pub url: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Items held by transactions in flight: table and `pk`.
    held: Mutex<HashSet<(String, String)>>,
    /// Conflicts reported, per table.
    conflicts: Mutex<HashMap<String, u64>>,
    /// Capacity consumed on the measured tables, per table.
    capacity: Mutex<HashMap<String, Capacity>>,
}

/// Capacity units consumed, as DynamoDB bills them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    pub reads: f64,
    pub writes: f64,
}

impl std::ops::Sub for Capacity {
    type Output = Capacity;
    fn sub(self, earlier: Capacity) -> Capacity {
        Capacity {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
        }
    }
}

/// The operations that take `ReturnConsumedCapacity`, and whether each reads.
fn capacity_kind(operation: &str) -> Option<bool> {
    match operation {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Some(true),
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => {
            Some(false)
        }
        _ => None,
    }
}

impl ConflictLayer {
    /// The layer in front of the DynamoDB Local that `make test` started.
    pub fn get() -> &'static ConflictLayer {
        static LAYER: OnceLock<ConflictLayer> = OnceLock::new();
        LAYER.get_or_init(|| {
            let upstream = crate::dynamodb_local_url();
            let (ready, url) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the conflict layer's runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
                    let state = Arc::new(State {
                        upstream,
                        client: Client::builder(TokioExecutor::new()).build_http(),
                        held: Mutex::default(),
                        conflicts: Mutex::default(),
                        capacity: Mutex::default(),
                    });
                    let address = listener.local_addr().expect("an address");
                    ready
                        .send((format!("http://{address}"), state.clone()))
                        .expect("the layer's URL is awaited");
                    serve(listener, state).await;
                });
            });
            let (url, state) = url.recv().expect("the conflict layer starts");
            ConflictLayer { url, state }
        })
    }

    /// From now on, counts the capacity the calls on `table` consume.
    pub fn measure_capacity(&self, table: &str) {
        let mut capacity = self.state.capacity.lock().unwrap();
        capacity.entry(table.to_string()).or_default();
    }

    /// The capacity consumed on `table` since `measure_capacity`.
    pub fn capacity_of(&self, table: &str) -> Capacity {
        let capacity = self.state.capacity.lock().unwrap();
        capacity.get(table).copied().unwrap_or_default()
    }

    /// Conflicts the layer reported on `table` so far.
    pub fn conflicts_on(&self, table: &str) -> u64 {
        let conflicts = self.state.conflicts.lock().unwrap();
        conflicts.get(table).copied().unwrap_or(0)
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What a request writes, as far as the rule is concerned.
enum Writes {
    Transaction(Vec<(String, String)>),
    Single((String, String)),
    Nothing,
}

/// The table and `pk` of an item as a request names it (`Key`, or `Item`
/// for puts).
fn item_of(table: &Value, action: &Value) -> Option<(String, String)> {
    let key = action.get("Key").or_else(|| action.get("Item"))?;
    Some((table.as_str()?.to_string(), key.get("pk")?.to_string()))
}

fn writes(operation: &str, body: &Value) -> Writes {
    match operation {
        "TransactWriteItems" => Writes::Transaction(
            body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| {
                    let action = ["Put", "Update", "Delete", "ConditionCheck"]
                        .iter()
                        .find_map(|kind| item.get(*kind))?;
                    item_of(&action["TableName"], action)
                })
                .collect(),
        ),
        "PutItem" | "UpdateItem" | "DeleteItem" => match item_of(&body["TableName"], body) {
            Some(item) => Writes::Single(item),
            None => Writes::Nothing,
        },
        _ => Writes::Nothing,
    }
}

fn dynamodb_error(body: Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

const ONGOING: &str = "Transaction is ongoing for the item";

async fn handle(state: &State, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return dynamodb_error(json!({"__type": "SerializationException"}));
    };
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    let mut parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let measured = capacity_kind(&operation).filter(|_| state.measures(&parsed));
    let body = match measured {
        Some(_) => {
            parsed["ReturnConsumedCapacity"] = json!("TOTAL");
            let body = Bytes::from(parsed.to_string());
            parts
                .headers
                .insert(hyper::header::CONTENT_LENGTH, body.len().into());
            body
        }
        None => body,
    };
    let held_now = match writes(&operation, &parsed) {
        Writes::Transaction(items) => {
            let mut held = state.held.lock().unwrap();
            if items.iter().any(|item| held.contains(item)) {
                let reasons: Vec<Value> = items
                    .iter()
                    .map(|item| match held.contains(item) {
                        true => json!({"Code": "TransactionConflict", "Message": ONGOING}),
                        false => json!({"Code": "None"}),
                    })
                    .collect();
                let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
                drop(held);
                state.count_conflict(&items[0].0);
                return dynamodb_error(json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": format!(
                        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                        codes.join(", ")
                    ),
                    "CancellationReasons": reasons,
                }));
            }
            held.extend(items.iter().cloned());
            items
        }
        Writes::Single(item) => {
            if state.held.lock().unwrap().contains(&item) {
                state.count_conflict(&item.0);
                return dynamodb_error(json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                    "message": ONGOING,
                }));
            }
            vec![]
        }
        Writes::Nothing => vec![],
    };
    let answer = state.forward(parts, body).await;
    if let Some(reads) = measured {
        state.add_capacity(answer.body(), reads, operation == "TransactWriteItems");
    }
    if !held_now.is_empty() {
        // A committed transaction holds its items while it commits; a
        // cancelled one lets go at once.
        if answer.status().is_success() {
            tokio::time::sleep(TRANSACTION_COMMIT).await;
        }
        let mut held = state.held.lock().unwrap();
        for item in &held_now {
            held.remove(item);
        }
    }
    answer.map(Full::new)
}

impl State {
    /// Whether the request names a measured table (itself or in a transaction).
    fn measures(&self, request: &Value) -> bool {
        let capacity = self.capacity.lock().unwrap();
        if capacity.is_empty() {
            return false;
        }
        let text = request.to_string();
        capacity
            .keys()
            .any(|table| text.contains(&format!("\"TableName\":\"{table}\"")))
    }

    /// Adds what DynamoDB Local said it consumed, in `answer`.
    fn add_capacity(&self, answer: &Bytes, reads: bool, transactional: bool) {
        let answer: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let consumed = match &answer["ConsumedCapacity"] {
            Value::Array(each) => each.clone(),
            Value::Null => vec![],
            one => vec![one.clone()],
        };
        let mut capacity = self.capacity.lock().unwrap();
        for entry in consumed {
            let (Some(table), Some(units)) =
                (entry["TableName"].as_str(), entry["CapacityUnits"].as_f64())
            else {
                continue;
            };
            if let Some(total) = capacity.get_mut(table) {
                let units = if transactional { 2.0 * units } else { units };
                if reads {
                    total.reads += units;
                } else {
                    total.writes += units;
                }
            }
        }
    }

    fn count_conflict(&self, table: &str) {
        *self
            .conflicts
            .lock()
            .unwrap()
            .entry(table.to_string())
            .or_default() += 1;
    }

    async fn forward(
        &self,
        mut parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> hyper::Response<Bytes> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{path}", self.upstream)
            .parse()
            .expect("DynamoDB Local's URL");
        let request = hyper::Request::from_parts(parts, Full::new(body));
        match self.client.request(request).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                hyper::Response::from_parts(parts, bytes)
            }
            Err(_) => {
                let mut response = hyper::Response::new(Bytes::new());
                *response.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                response
            }
        }
    }
}
