//! A layer in front of DynamoDB Local that behaves as DynamoDB does where
//! DynamoDB Local does not. Every DynamoDB call the tests make goes through
//! it (`aws_config` points the SDK's DynamoDB endpoint here), the handler
//! and dialect suites' included. It applies, in this order:
//! - the faults a test injects ([`injected`]): DynamoDB's throttling errors,
//!   a transaction cancelled for throttling, an internal error before or
//!   after the call was applied, or a call accepted and never answered;
//! - DynamoDB's transaction conflict rule ([`conflicts`]), which DynamoDB
//!   Local never applies: it runs a table's transactions one at a time;
//! - DynamoDB's throughput rule ([`throughput`]), per item and per
//!   partition, which DynamoDB Local does not apply at all.
//!
//! It is an HTTP proxy: it reads each request's operation and item keys
//! (the table's key attribute is `pk`), refuses what DynamoDB would refuse,
//! in DynamoDB's own error format, and passes the rest to DynamoDB Local.
//!
//! For the tables named to [`DynamoLayer::measure_capacity`], it also asks
//! DynamoDB Local for the capacity each call consumes
//! (`ReturnConsumedCapacity`) and adds it up, as reads and writes.
//! A transaction is billed as DynamoDB bills it ("Capacity management for
//! transactions", DynamoDB Developer Guide): 2 write units per item per KB.
//! DynamoDB Local reports a flat 2 units for a transaction however many
//! items it writes, so the layer counts them from the request: a Put by its
//! item's size, every other part (Update, Delete, ConditionCheck) as one KB,
//! which each item of this service fits in.

mod conflicts;
mod injected;
mod throughput;

pub use conflicts::TRANSACTION_COMMIT;
use injected::Struck;
pub use injected::{Injected, Injection};
pub use throughput::Throughput;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::TcpListener;

/// The layer, one per test binary, on a runtime of its own so that every
/// test's runtime can use it.
pub struct DynamoLayer {
    /// `http://127.0.0.1:<port>`: point an SDK client's endpoint here.
    pub url: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    conflicts: conflicts::Conflicts,
    throughput: throughput::Meters,
    injected: injected::Injections,
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

impl DynamoLayer {
    /// The layer in front of the DynamoDB Local that `make test` started.
    pub fn get() -> &'static DynamoLayer {
        static LAYER: OnceLock<DynamoLayer> = OnceLock::new();
        LAYER.get_or_init(|| {
            let upstream = crate::dynamodb_local_url();
            let (ready, url) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the layer's runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
                    let state = Arc::new(State {
                        upstream,
                        client: Client::builder(TokioExecutor::new()).build_http(),
                        conflicts: Default::default(),
                        throughput: Default::default(),
                        injected: Default::default(),
                        capacity: Mutex::default(),
                    });
                    let address = listener.local_addr().expect("an address");
                    ready
                        .send((format!("http://{address}"), state.clone()))
                        .expect("the layer's URL is awaited");
                    serve(listener, state).await;
                });
            });
            let (url, state) = url.recv().expect("the layer starts");
            DynamoLayer { url, state }
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
        self.state.conflicts.reported_on(table)
    }

    /// Calls the layer throttled on `table` so far, for its throughput.
    pub fn throttles_on(&self, table: &str) -> u64 {
        self.state.throughput.throttled_on(table)
    }

    /// From now on, `table` takes `throughput` instead of DynamoDB's: tests
    /// scale it down to reach it.
    pub fn limit_throughput(&self, table: &str, throughput: Throughput) {
        self.state.throughput.limit(table, throughput);
    }

    /// Stops (or restarts) the refill of `table`'s units: a test that
    /// counts what a burst gets then does not depend on how fast the
    /// machine sends it.
    pub fn pause_refill(&self, table: &str, paused: bool) {
        self.state.throughput.pause_refill(table, paused);
    }

    /// From now on, calls on `table` fail as `injection` says.
    pub fn inject(&self, table: &str, injection: Injection) {
        self.state.injected.add(table, injection);
    }

    /// How many more calls on `table` the faults injected a number of
    /// times are still to strike.
    pub fn unstruck(&self, table: &str) -> u32 {
        self.state.injected.unstruck(table)
    }

    /// Calls on `table` fail only as DynamoDB's rules say again.
    pub fn heal(&self, table: &str) {
        self.state.injected.clear(table);
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

/// A call the layer answers itself, as DynamoDB would have.
pub(crate) type Refused = Box<hyper::Response<Full<Bytes>>>;

/// An item as the rules see it: its table and `pk`.
pub type ItemKey = (String, String);

/// What a request touches, as far as the rules are concerned.
pub enum Touches {
    /// The items of a transaction, in its order.
    Transaction(Vec<ItemKey>),
    /// One item, written.
    Write(ItemKey),
    /// One item, read.
    Read(ItemKey),
    /// No single item (a scan, a table's management), on this table if any.
    Table(Option<String>),
}

impl Touches {
    fn of(operation: &str, body: &Value) -> Self {
        match operation {
            "TransactWriteItems" => Touches::Transaction(
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
                Some(item) => Touches::Write(item),
                None => Touches::Table(table_of(body)),
            },
            "GetItem" => match item_of(&body["TableName"], body) {
                Some(item) => Touches::Read(item),
                None => Touches::Table(table_of(body)),
            },
            _ => Touches::Table(table_of(body)),
        }
    }

    /// The table the request names (a transaction's first item's).
    fn table(&self) -> Option<&str> {
        match self {
            Touches::Transaction(items) => items.first().map(|(table, _)| table.as_str()),
            Touches::Write((table, _)) | Touches::Read((table, _)) => Some(table),
            Touches::Table(table) => table.as_deref(),
        }
    }
}

fn table_of(body: &Value) -> Option<String> {
    body["TableName"].as_str().map(str::to_string)
}

/// The table and `pk` of an item as a request names it (`Key`, or `Item`
/// for puts).
fn item_of(table: &Value, action: &Value) -> Option<ItemKey> {
    let key = action.get("Key").or_else(|| action.get("Item"))?;
    Some((table.as_str()?.to_string(), key.get("pk")?.to_string()))
}

/// An error answer in DynamoDB's format: `status`, and `body` naming the
/// error's `__type`.
pub(crate) fn dynamodb_error(status: u16, body: Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

/// A `TransactionCanceledException` with one reason per item.
pub(crate) fn cancelled(reasons: Vec<Value>) -> hyper::Response<Full<Bytes>> {
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
    dynamodb_error(
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        }),
    )
}

async fn handle(state: &State, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return dynamodb_error(400, json!({"__type": "SerializationException"}));
    };
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    let mut parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let touches = Touches::of(&operation, &parsed);
    let lost = match state.injected.strike(&operation, &touches, &body).await {
        Some(Struck::Refused(answer)) => return answer,
        Some(Struck::AnswerLost(answer)) => Some(answer),
        None => None,
    };
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
    let token = parsed["ClientRequestToken"].as_str().map(str::to_string);
    let held = match state.conflicts.hold(&touches, token.as_deref()) {
        Ok(held) => held,
        Err(refused) => return *refused,
    };
    let consistent = parsed["ConsistentRead"] == json!(true);
    if let Err(refused) = state.throughput.take(&touches, consistent) {
        state.conflicts.release(&held);
        return *refused;
    }
    let answer = state.forward(parts, body).await;
    match measured {
        Some(_) if operation == "TransactWriteItems" && answer.status().is_success() => {
            state.add_transaction_capacity(&parsed);
        }
        Some(_) if operation == "TransactWriteItems" => {}
        Some(reads) => state.add_capacity(answer.body(), reads),
        None => {}
    }
    state
        .conflicts
        .commit(&held, answer.status().is_success())
        .await;
    lost.unwrap_or_else(|| answer.map(Full::new))
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

    /// Adds what a transaction `request` that succeeded consumed, as
    /// DynamoDB bills it: 2 write units per item per KB.
    fn add_transaction_capacity(&self, request: &Value) {
        let mut capacity = self.capacity.lock().unwrap();
        for item in request["TransactItems"].as_array().into_iter().flatten() {
            let Some((part, body)) = item.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let Some(total) = body["TableName"].as_str().and_then(|t| capacity.get_mut(t)) else {
                continue;
            };
            let bytes = match part.as_str() {
                "Put" => body["Item"].as_object().map_or(0, |item| {
                    item.iter()
                        .map(|(k, v)| k.len() + v.to_string().len())
                        .sum()
                }),
                _ => 0,
            };
            total.writes += 2.0 * bytes.div_ceil(1024).max(1) as f64;
        }
    }

    /// Adds what DynamoDB Local said a single call consumed, in `answer`.
    fn add_capacity(&self, answer: &Bytes, reads: bool) {
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
                if reads {
                    total.reads += units;
                } else {
                    total.writes += units;
                }
            }
        }
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
