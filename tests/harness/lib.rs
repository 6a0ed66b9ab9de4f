//! What the tests share: apps wired to in-memory or real ports, API Gateway
//! HTTP API (payload v2) events from `events/`, the engines `make test`
//! starts, and JWT verification the way a relying party does it.

pub mod answers;
pub mod black_hole;
pub mod calls;
pub mod delay;
pub mod delivery;
pub mod dialects;
pub mod faults;
pub mod hook;
pub mod layer;
pub mod load;
pub mod logs;
pub mod page;
pub mod runtime_api;
pub mod scenarios;
pub mod storage_suite;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use otp_shared::App;
use otp_shared::aws::Deployment;
use otp_shared::clock::{Clock, ManualClock, OsEntropy, SystemClock};
use otp_shared::config::{Config, LambdaSettings, Timeouts};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::keys::{ServerSecret, b64_decode};
use otp_shared::domain::phone::PhoneNumber;
use otp_shared::domain::user::{ThaiIdCard, User};
use otp_shared::http::{Function, handle};
use otp_shared::signer::{KmsSigner, LocalSigner, Signer};
use otp_shared::sms::secrets::ProviderSecrets;
use otp_shared::sms::{Outbox, OutboxEntry, Providers, SmsMessage, SmsRefused, SmsSender};
use otp_shared::store::{DynamoStore, MemoryStore, SentIndex, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const CLIENT_ID: &str = "test-app";
pub const CLIENT_SECRET: &str = "test-secret-0123456789abcdefghijkl";
/// The server secret of every `TestApp`.
const SERVER_SECRET: &[u8] = b"a test server secret, 32 bytes or more";
/// A client whose confirm answers "Code is correct." without tokens.
pub const PLAIN_CLIENT_ID: &str = "plain-app";
/// A client that serves only users in the directory.
pub const REGISTERED_CLIENT_ID: &str = "registered-app";
pub const SENDER_ID: &str = "TestSender";
/// 2100-11-22T04:30:00Z, the manual clocks' start. Far in the future on
/// purpose: DynamoDB Local deletes items whose `expires_at` has passed on the
/// real clock, as DynamoDB does, so a start in the past would let its TTL
/// sweeper remove challenges in the middle of a test.
pub const START_MS: i64 = 4_130_541_000_000;
pub const ISSUER: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com";

/// The region the tests' functions run in, as Lambda's `AWS_REGION` says.
pub const REGION: &str = "us-east-1";

pub fn test_settings() -> ClientSettings {
    ClientSettings {
        brand: "Test".into(),
        sender_ids: vec![SENDER_ID.into(), "TestBank".into()],
        default_calling_code: Some("66".into()),
        // The test clients answer as One ID does on its routes.
        reveal_unknown_users: true,
        ..ClientSettings::default()
    }
}

/// The deployment's settings as the functions run them in [`REGION`], with
/// the suites' timeouts (`relaxed_timeouts`).
pub fn test_config() -> Config {
    Config {
        region: Some(REGION.into()),
        timeouts: relaxed_timeouts(),
        ..Config::default()
    }
}

/// What the suites run with: DynamoDB Local in debug builds, many tests at
/// once on two cores, answers a call in up to several seconds under the
/// load tests' bursts where DynamoDB takes 10 ms, so the timeouts derived
/// from a function's timeout (at most 29 s) would end calls that are merely
/// slow here. These are those of a 120 s function. The tests of timeouts
/// themselves (tests/stalls_and_throttling.rs) run with the stack's default
/// and shorter ones.
pub fn relaxed_timeouts() -> Timeouts {
    Timeouts::for_function(Duration::from_secs(120))
}

pub fn server_secret() -> ServerSecret {
    ServerSecret::new(SERVER_SECRET).expect("valid secret")
}

/// RSA key generation is slow; one in-process key serves a whole test binary.
pub fn local_signer() -> Arc<LocalSigner> {
    static SIGNER: OnceLock<Arc<LocalSigner>> = OnceLock::new();
    SIGNER
        .get_or_init(|| Arc::new(LocalSigner::generate()))
        .clone()
}

/// Where a test app's EMF lines go: kept (as the local server keeps them)
/// for the test to read, logged, so that the log checker searches them for
/// secrets as it does every line, and recorded for the template's metric
/// check.
#[derive(Default)]
pub struct MetricsLog(otp_shared::metrics::Recorded);

impl MetricsLog {
    pub fn lines(&self) -> Vec<String> {
        self.0.lines()
    }

    /// How many of `metric` were counted for `client` and `calling_code`.
    pub fn count(&self, metric: &str, client: &str, calling_code: Option<&str>) -> u64 {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).expect("EMF lines are JSON"))
            .filter(|line| line["Client"] == client && line["CallingCode"].as_str() == calling_code)
            .filter_map(|line| line[metric].as_u64())
            .sum()
    }

    /// How many of `metric` were counted with the dimension `Provider`.
    pub fn by_provider(&self, metric: &str, provider: &str) -> u64 {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).expect("EMF lines are JSON"))
            .filter(|line| line["Provider"] == provider)
            .filter_map(|line| line[metric].as_u64())
            .sum()
    }
}

impl otp_shared::metrics::MetricsSink for MetricsLog {
    fn write(&self, line: String) {
        tracing::info!(emf = %line, "metric");
        if let Some(file) = emf_sink() {
            writeln!(file.lock().unwrap(), "{line}").expect("the EMF record");
        }
        self.0.write(line);
    }
}

/// Where this process appends the EMF lines it writes, for the check that
/// every metric template.yaml reads is emitted (`tests/metrics_referenced.py`),
/// when `OTP_EMF_LINES` names a directory (`make test` sets it).
fn emf_sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| process_jsonl("OTP_EMF_LINES")).as_ref()
}

/// An SMS adapter that refuses every message, as SNS does when it rejects
/// one, but remembers what it was asked to send so a test can try the code.
#[derive(Default)]
pub struct RefusingSms(Mutex<Vec<SmsMessage>>);

impl RefusingSms {
    pub fn attempted(&self) -> Vec<SmsMessage> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl SmsSender for RefusingSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        logs::secrets().code(&message.code);
        self.0.lock().unwrap().push(message.clone());
        Err(SmsRefused)
    }
}

/// An app over the given store, with an outbox, a manual clock at
/// [`START_MS`] and the two test clients registered.
pub struct TestApp {
    pub app: Arc<App>,
    /// The app's store: `faults`, over the store it was made with.
    pub store: Arc<dyn Store>,
    /// The same store, to inject faults with.
    pub faults: Arc<faults::HarnessStore>,
    pub outbox: Arc<Outbox>,
    pub clock: Arc<ManualClock>,
    /// The EMF lines the app wrote (`otp_shared::metrics`).
    pub metrics: Arc<MetricsLog>,
    /// Where the process's logs stood when this app was made.
    log_mark: usize,
    /// Where the log checker's secrets stood then.
    pub secrets_mark: u64,
}

/// DESIGN §5.2: no test using an app may end with a secret in the logs.
impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.remember_sent_secrets();
            logs::assert_no_secrets_since(
                self.log_mark,
                self.secrets_mark,
                &self.faults.hashed_codes(),
            );
        }
    }
}

/// One answer of a handler.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The native envelope's `error` code.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Over the in-memory store, which is also its index of challenges by
    /// number (delivery-events').
    pub async fn memory() -> Self {
        let store = Arc::new(MemoryStore::new());
        Self::indexed(store.clone(), store).await
    }

    /// Over a fresh table of DynamoDB Local, through the layer, which is
    /// also its index of challenges by number (delivery-events').
    pub async fn dynamodb() -> Self {
        let store = Arc::new(dynamo_store().await);
        Self::indexed(store.clone(), store).await
    }

    async fn indexed(store: Arc<dyn Store>, index: Arc<dyn SentIndex>) -> Self {
        let config = test_config();
        Self::build_with(
            store,
            None,
            local_signer(),
            START_MS,
            config,
            None,
            Some(index),
        )
        .await
    }

    /// Over a fresh table through the layer (`layer`), the app and its
    /// store waiting as `timeouts` says; and the table's name, to inject
    /// faults into its calls.
    pub async fn on_table_with(timeouts: Timeouts) -> (Self, String) {
        let (client, table) = fresh_table().await;
        let store = DynamoStore::with_timeouts(client, table.clone(), timeouts);
        let config = Config {
            timeouts,
            ..test_config()
        };
        let app = Self::build_with(
            Arc::new(store),
            None,
            local_signer(),
            START_MS,
            config,
            None,
            None,
        )
        .await;
        (app, table)
    }

    /// Over `store`, with the deployment's settings `config`.
    pub async fn with_config(store: Arc<dyn Store>, config: Config) -> Self {
        Self::build_with(store, None, local_signer(), START_MS, config, None, None).await
    }

    /// Over `store`, sending through `sms` when given, else the outbox.
    pub async fn over(store: Arc<dyn Store>, sms: Option<Arc<dyn SmsSender>>) -> Self {
        Self::build(store, sms, local_signer(), START_MS).await
    }

    /// Over `store` and `signer`, with the clock at `start_ms`.
    pub async fn build(
        store: Arc<dyn Store>,
        sms: Option<Arc<dyn SmsSender>>,
        signer: Arc<dyn Signer>,
        start_ms: i64,
    ) -> Self {
        Self::build_with(store, sms, signer, start_ms, test_config(), None, None).await
    }

    /// As the `prod` stage runs.
    pub async fn production(store: Arc<dyn Store>) -> Self {
        let config = Config {
            production: true,
            ..test_config()
        };
        Self::build_with(store, None, local_signer(), START_MS, config, None, None).await
    }

    /// Over `store`, sending through `sms` when given, else the outbox, as
    /// its clients' `sms_providers` say, with their credentials in `secrets`.
    pub async fn with_providers(
        store: Arc<dyn Store>,
        sms: Option<Arc<dyn SmsSender>>,
        config: Config,
        secrets: Arc<dyn ProviderSecrets>,
    ) -> Self {
        Self::build_with(
            store,
            sms,
            local_signer(),
            START_MS,
            config,
            Some(secrets),
            None,
        )
        .await
    }

    async fn build_with(
        store: Arc<dyn Store>,
        sms: Option<Arc<dyn SmsSender>>,
        signer: Arc<dyn Signer>,
        start_ms: i64,
        config: Config,
        secrets: Option<Arc<dyn ProviderSecrets>>,
        index: Option<Arc<dyn SentIndex>>,
    ) -> Self {
        let log_mark = logs::process_log_mark();
        let secrets_mark = logs::secrets().mark();
        {
            let mut secrets = logs::secrets();
            secrets.server_secret(std::str::from_utf8(SERVER_SECRET).unwrap());
            secrets.client_secret(CLIENT_SECRET);
        }
        let faults = Arc::new(faults::HarnessStore::new(store, Arc::new(server_secret())));
        let store: Arc<dyn Store> = faults.clone();
        let clock = Arc::new(ManualClock::new(start_ms));
        let outbox = Arc::new(Outbox::new(clock.clone(), false));
        for (id, issue_tokens, require_registered_users) in [
            (CLIENT_ID, true, false),
            (PLAIN_CLIENT_ID, false, false),
            (REGISTERED_CLIENT_ID, true, true),
        ] {
            let settings = ClientSettings {
                issue_tokens,
                require_registered_users,
                ..test_settings()
            };
            store
                .put_client(&ClientRecord::new(id, CLIENT_SECRET, settings))
                .await
                .expect("client stored");
        }
        let metrics = Arc::new(MetricsLog::default());
        let sms = Providers::new(sms.unwrap_or_else(|| outbox.clone()));
        let sms = match secrets {
            Some(secrets) => sms.with_secrets(secrets),
            None => sms,
        };
        let app = App::new(
            store.clone(),
            Some(sms),
            Some(signer),
            clock.clone() as Arc<dyn Clock>,
            Arc::new(OsEntropy),
            server_secret(),
            config,
        )
        .with_metrics(metrics.clone());
        let app = match index {
            Some(index) => app.with_sent_index(index),
            None => app,
        };
        Self {
            app: Arc::new(app),
            store,
            outbox,
            clock,
            metrics,
            faults,
            log_mark,
            secrets_mark,
        }
    }

    /// Another Lambda instance of the same deployment: the same store,
    /// clock, outbox and metrics, its own memory (client cache, shard
    /// sequences, the hosted page's proof-of-work rates). For apps made
    /// without SMS providers of their own (the outbox sends).
    pub fn another_instance(&self) -> App {
        App::new(
            self.store.clone(),
            Some(Providers::new(self.outbox.clone())),
            Some(local_signer()),
            self.clock.clone() as Arc<dyn Clock>,
            Arc::new(OsEntropy),
            server_secret(),
            self.app.config.clone(),
        )
        .with_metrics(self.metrics.clone())
    }

    /// Feeds the API Gateway event `events/<event>.json`, with `body` as its
    /// JSON body, to `function`'s handler.
    pub async fn call(&self, function: Function, event: &str, body: &Value) -> Answer {
        let answer = call(&self.app, function, json_request(event, body)).await;
        self.assert_tells_nothing(&answer, None);
        answer
    }

    /// Tells the log checker the codes and numbers of every SMS sent.
    pub fn remember_sent_secrets(&self) {
        let mut secrets = logs::secrets();
        for sms in self.outbox.entries() {
            secrets.code(&sms.code);
            secrets.phone(&sms.to);
        }
    }

    /// DESIGN §3: an answer carries no code this app sent and no spelling of
    /// a number it texted, whatever the dialect; `echo` is the caller's own
    /// input where the provider's answer repeats it (eSMS's CHECKCODE names
    /// the `Phone` it was given), and is left out of the check.
    pub fn assert_tells_nothing(&self, answer: &Answer, echo: Option<&str>) {
        let mut expected = logs::Secrets::default();
        for sms in self.outbox.entries() {
            expected.code(&sms.code);
            expected.phone(&sms.to);
        }
        let mut text = answer.body.to_string();
        if let Some(echo) = echo {
            text = text.replace(&format!("\"{echo}, Content: "), "\"");
        }
        let found = expected.kinds_in(&text);
        assert!(found.is_empty(), "{found:?} in the answer {answer:?}");
    }

    /// Feeds `event` (an API Gateway event) to `function`'s handler.
    pub async fn call_event(&self, function: Function, event: Value) -> Answer {
        let answer = call(&self.app, function, request_of(event)).await;
        self.assert_tells_nothing(&answer, None);
        answer
    }

    pub async fn request_otp(&self, mobile_no: &str) -> Answer {
        let body = code_request_body(mobile_no);
        self.call(Function::RequestOtp, "request-otp", &body).await
    }

    /// The test client's `POST /v1/otp/status` of `token`'s code.
    pub async fn status_of(&self, token: &str) -> Answer {
        let body = serde_json::json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": token,
        });
        self.call(Function::ConfirmOtp, "otp-status", &body).await
    }

    pub async fn confirm_by_token(&self, client_id: &str, token: &str, otp: &str) -> Answer {
        let body = serde_json::json!({
            "client_id": client_id, "client_secret": CLIENT_SECRET, "token": token, "otp": otp,
        });
        self.call(Function::ConfirmOtp, "confirm-otp", &body).await
    }

    /// Registers a user in the directory for `client_id`.
    pub async fn register(
        &self,
        client_id: &str,
        mobile_no: &str,
        id_card: &str,
        account_id: &str,
        username: &str,
    ) {
        let user = User {
            username: username.into(),
            ..directory_entry(&server_secret(), client_id, mobile_no, id_card, account_id)
        };
        self.store.put_user(&user).await.expect("user stored");
    }

    /// Serves the test client with `settings` (which the service must
    /// accept) to `mobile_no`, registered in its directory with the
    /// dialects' ID card, so that every dialect's request reaches it.
    pub async fn serve_test_client(&self, settings: ClientSettings, mobile_no: &str) {
        assert_eq!(settings.validate(), Ok(()));
        self.store
            .put_client(&ClientRecord::new(CLIENT_ID, CLIENT_SECRET, settings))
            .await
            .expect("client stored");
        self.register(CLIENT_ID, mobile_no, dialects::ID_CARD, "acc-1", "user.1")
            .await;
    }

    pub fn last_sms(&self) -> OutboxEntry {
        self.outbox.entries().pop().expect("an SMS was sent")
    }

    /// Requests a code for `mobile_no`; returns (token, ref_code, code).
    pub async fn code_for(&self, mobile_no: &str) -> (String, String, String) {
        let answer = self.request_otp(mobile_no).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let data = &answer.body["data"];
        (
            data["token"].as_str().unwrap().to_string(),
            data["ref_code"].as_str().unwrap().to_string(),
            self.last_sms().code,
        )
    }
}

/// The event `events/<name>.json` as the Lambda runtime would decode it, with
/// the body (and its content type) replaced when given.
pub fn api_request(name: &str, body: Option<&str>, content_type: Option<&str>) -> Request {
    request_of(api_event(name, body, content_type))
}

/// `event` with the header `name: value` added.
pub fn with_header(mut event: Value, name: &str, value: &str) -> Value {
    event["headers"][name] = Value::String(value.to_string());
    event
}

/// The request `event` stands for, as the Lambda runtime decodes it.
pub fn request_of(event: Value) -> Request {
    otp_shared::http::lambda::request_from_event(
        serde_json::from_value(event).expect("a valid API Gateway v2 event"),
    )
}

/// The event `events/<name>.json` with `body` as its JSON body.
pub fn json_event(name: &str, body: &Value) -> Value {
    api_event(name, Some(&body.to_string()), Some("application/json"))
}

/// The request `events/<name>.json` with `body` as its JSON body.
pub fn json_request(name: &str, body: &Value) -> Request {
    request_of(json_event(name, body))
}

/// The test client's revocation of `token` (RFC 7009, form-encoded).
pub fn revoke_request(token: &str) -> Request {
    let form = format!("token={token}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    api_request(
        "revoke",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    )
}

/// The test client's refresh (RFC 6749 §6, form-encoded) as an event.
pub fn refresh_event(refresh_token: &str) -> Value {
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh_token}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    api_event(
        "token-refresh",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    )
}

/// The test client's refresh as a request.
pub fn refresh_request(refresh_token: &str) -> Request {
    request_of(refresh_event(refresh_token))
}

/// The event `events/<name>.json` as API Gateway sends it, with the body (and
/// its content type) replaced when given.
pub fn api_event(name: &str, body: Option<&str>, content_type: Option<&str>) -> Value {
    let path = format!("{}/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut event: Value = serde_json::from_str(&text).expect("event is JSON");
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
        event["headers"]["content-length"] = Value::String(body.len().to_string());
    }
    match content_type {
        Some(ct) => event["headers"]["content-type"] = Value::String(ct.to_string()),
        None => {
            event["headers"]
                .as_object_mut()
                .unwrap()
                .remove("content-type");
        }
    }
    event
}

/// The event `events/<name>.json` at `path` instead of its own (a route
/// with a `{ticket}`), with `query` and `body` if given.
pub fn api_at(name: &str, path: &str, query: Option<&str>, body: Option<&str>) -> Request {
    let content_type = body.map(|_| "application/json");
    let mut event = api_event(name, body, content_type);
    event["rawPath"] = Value::String(path.to_string());
    event["requestContext"]["http"]["path"] = Value::String(path.to_string());
    let object = event.as_object_mut().unwrap();
    object.remove("pathParameters");
    if let Some(query) = query {
        object.insert("rawQueryString".into(), Value::String(query.to_string()));
        object.remove("queryStringParameters");
    }
    request_of(event)
}

/// ThaiBulkSMS's callback to `path` as API Gateway sends it: `GET` with
/// `fields` as its query, or `POST` with them as a body of `content_type`
/// (its dashboard offers both methods).
pub fn thaibulksms_callback(path: &str, method: &str, fields: &str, content_type: &str) -> Request {
    if method == "GET" {
        return api_at("delivery-thaibulksms-callback", path, Some(fields), None);
    }
    let mut event = api_event(
        "delivery-thaibulksms-callback-post",
        Some(fields),
        Some(content_type),
    );
    event["rawPath"] = Value::String(path.to_string());
    event["requestContext"]["http"]["path"] = Value::String(path.to_string());
    event.as_object_mut().unwrap().remove("pathParameters");
    request_of(event)
}

/// The event `events/<name>.json` at `path` with `body` as a form
/// (`application/x-www-form-urlencoded`), as a browser posts one.
pub fn form_at(name: &str, path: &str, body: &str) -> Request {
    request_of(form_event(name, path, body))
}

/// [`form_at`]'s request as API Gateway saw it come from `source_ip`.
pub fn form_from(name: &str, path: &str, body: &str, source_ip: &str) -> Request {
    let mut event = form_event(name, path, body);
    event["requestContext"]["http"]["sourceIp"] = Value::String(source_ip.to_string());
    request_of(event)
}

fn form_event(name: &str, path: &str, body: &str) -> Value {
    let mut event = api_event(name, Some(body), Some("application/x-www-form-urlencoded"));
    event["rawPath"] = Value::String(path.to_string());
    event["requestContext"]["http"]["path"] = Value::String(path.to_string());
    event["requestContext"]["http"]["method"] = Value::String("POST".into());
    event
}

/// The GET event `events/<name>.json` with `query` as its query string.
pub fn api_get(name: &str, query: &str) -> Request {
    // The GET events carry no body and no content type to replace.
    let mut event = api_event(name, None, None);
    event["rawQueryString"] = Value::String(query.to_string());
    event
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    request_of(event)
}

/// `function`'s answer to `request`, recorded for the API document's check.
async fn respond(app: &App, function: Function, request: Request) -> Response<Body> {
    remember_secrets_of(&request);
    let asked = answers::Asked::of(&request);
    let response = calls::as_function(function, handle(app, function, request))
        .await
        .unwrap_or_else(|never| match never {});
    asked.record(&response);
    response
}

/// An answer whose body is text: the hosted page's HTML, its script.
#[derive(Debug)]
pub struct TextAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl TextAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// [`call`] for a route that answers text.
pub async fn call_text(app: &App, function: Function, request: Request) -> TextAnswer {
    let (parts, body) = respond(app, function, request).await.into_parts();
    TextAnswer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(body_bytes(&body)).into_owned(),
    }
}

pub async fn call(app: &App, function: Function, request: Request) -> Answer {
    let response = respond(app, function, request).await;
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Empty => Value::Null,
        body => serde_json::from_slice(body_bytes(&body)).expect("every answer is JSON"),
    };
    remember_tokens_in(&body);
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// A request's or an answer's body as bytes; none for an empty one.
fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// This process's own file of JSON lines in the directory the environment
/// variable `var` names, for the checks `make test` runs after the tests; none
/// when the variable is not set.
fn process_jsonl(var: &str) -> Option<Mutex<std::fs::File>> {
    let dir = std::env::var_os(var)?;
    std::fs::create_dir_all(&dir).expect("the recording directory");
    let path = std::path::Path::new(&dir).join(format!("{}.jsonl", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("the recording file");
    Some(Mutex::new(file))
}

/// Tells the log checker the phone numbers, ID cards and client secrets a
/// request carries, in any dialect's names and encodings.
fn remember_secrets_of(request: &Request) {
    let mut fields: Vec<(String, String)> = form_pairs(request.uri().query().unwrap_or(""));
    let body = body_bytes(request.body());
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => fields.extend(object.into_iter().map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k, text)
        })),
        _ => fields.extend(form_pairs(&String::from_utf8_lossy(body))),
    }
    let mut secrets = logs::secrets();
    for (name, value) in fields {
        match name.to_ascii_lowercase().as_str() {
            "mobile_no" | "msisdn" | "phone"
                if PhoneNumber::parse(&value, "66").is_ok()
                    || PhoneNumber::parse(&value, "84").is_ok() =>
            {
                secrets.phone(&value)
            }
            "id_card_num" if ThaiIdCard::parse(&value).is_some() => secrets.id_card(&value),
            // Made-up wrong secrets ("wrong", "x") are no one's.
            "client_secret" | "secret" | "secretkey" if value.len() >= 16 => {
                secrets.client_secret(&value)
            }
            _ => {}
        }
    }
}

/// `a=1&b=2`, percent-decoded leniently.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        let bytes = part.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Tells the log checker the tokens an answer carries.
fn remember_tokens_in(body: &Value) {
    let mut secrets = logs::secrets();
    let mut pending = vec![body];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(object) => {
                for (name, value) in object {
                    match (name.as_str(), value.as_str()) {
                        ("access_token", Some(jwt)) => secrets.access_token(jwt),
                        ("refresh_token" | "token", Some(token)) => secrets.opaque_token(token),
                        _ => pending.push(value),
                    }
                }
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
}

/// `call`, timed; the answer must be a 200. Returns its body.
pub async fn timed_ok(app: &App, function: Function, request: Request) -> (Value, Duration) {
    let started = std::time::Instant::now();
    let answer = call(app, function, request).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{answer:?}");
    (answer.body, took)
}

/// The `q` quantile of `samples` (0.5: the median), which it sorts.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q) as usize]
}

/// Verifies an RS256 JWT against a JWKS document the way a relying party
/// does: the header names the key, only RS256 is accepted. Returns
/// (header, claims).
pub fn verify_jwt(token: &str, jwks: &Value) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("not three parts".into());
    };
    let decode_json = |part: &str| -> Result<Value, String> {
        let bytes = b64_decode(part).ok_or("bad base64")?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    let header_json = decode_json(header)?;
    if header_json["alg"] != "RS256" {
        return Err("alg is not RS256".into());
    }
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header_json["kid"]))
        .ok_or("no key with that kid")?;
    let component = |name: &str| b64_decode(key[name].as_str().unwrap_or("")).ok_or("bad key");
    let public = RsaPublicKeyComponents {
        n: component("n")?,
        e: component("e")?,
    };
    let signature = b64_decode(signature).ok_or("bad signature encoding")?;
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{header}.{claims}").as_bytes(),
            &signature,
        )
        .map_err(|_| "signature does not verify".to_string())?;
    Ok((header_json, decode_json(claims)?))
}

fn endpoint(variable: &str, engine: &str) -> String {
    match std::env::var(variable) {
        Ok(url) if url.starts_with("http://127.0.0.1:") => url,
        _ => panic!(
            "{engine} is not running: {variable} must point at it on 127.0.0.1. \
             Run the tests with `make test`, which installs and starts it."
        ),
    }
}

/// The SDK configuration the Lambdas load, after checking it points at the
/// local engines and never at AWS: DynamoDB through the layer that applies
/// DynamoDB's rules (`layer`), SNS, KMS and Secrets Manager at moto.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config_with(&[]).await
}

/// [`aws_config`], with the services `endpoints` names (by SDK service id:
/// `SNS`, `KMS`, `DynamoDB`, …) at other endpoints.
pub async fn aws_config_with(endpoints: &[(&str, &str)]) -> aws_config::SdkConfig {
    endpoint("AWS_ENDPOINT_URL_DYNAMODB", "DynamoDB Local");
    endpoint("AWS_ENDPOINT_URL_SNS", "moto (SNS)");
    endpoint("AWS_ENDPOINT_URL_KMS", "moto (KMS)");
    endpoint("AWS_ENDPOINT_URL_SECRETS_MANAGER", "moto (Secrets Manager)");
    let mut overrides = HashMap::from([(
        "DynamoDB".to_string(),
        layer::DynamoLayer::get().url.clone(),
    )]);
    overrides.extend(
        endpoints
            .iter()
            .map(|(id, url)| (id.to_string(), url.to_string())),
    );
    // Every call on the wire is recorded for the IAM check (`calls`), around
    // the functions' own HTTPS client and its default trust store.
    let roots = otp_shared::aws::TlsRoots::default();
    otp_shared::aws::load_sdk_config(calls::recording(otp_shared::aws::https_client(roots)))
        .await
        .to_builder()
        .service_config(Endpoints(overrides))
        .build()
}

/// The SDK's per-service settings from the environment, as the SDK reads
/// them (`AWS_ENDPOINT_URL_<SERVICE ID>`), but with some services'
/// endpoints overridden.
#[derive(Debug)]
struct Endpoints(HashMap<String, String>);

impl aws_types::service_config::LoadServiceConfig for Endpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        if key.env() == "AWS_ENDPOINT_URL"
            && let Some(url) = self.0.get(key.service_id())
        {
            return Some(url.clone());
        }
        let specific = format!(
            "{}_{}",
            key.env(),
            key.service_id().to_uppercase().replace(' ', "_")
        );
        std::env::var(specific)
            .or_else(|_| std::env::var(key.env()))
            .ok()
    }
}

/// Where `make test`'s DynamoDB Local listens.
pub fn dynamodb_local_url() -> String {
    endpoint("AWS_ENDPOINT_URL_DYNAMODB", "DynamoDB Local")
}

pub fn moto_url() -> String {
    endpoint("AWS_ENDPOINT_URL_SNS", "moto (SNS)")
}

/// A client of DynamoDB Local itself, without the layer: for tests that
/// show what DynamoDB Local alone does.
pub async fn dynamodb_local_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&aws_config().await)
        .endpoint_url(dynamodb_local_url())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new, empty table shaped as `template.yaml` declares it.
pub async fn fresh_table() -> (aws_sdk_dynamodb::Client, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let name = format!(
        "otp-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sent_to")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("created_at_ms")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("sent_to")
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("sent_to")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("created_at_ms")
                        .key_type(KeyType::Range)
                        .build()
                        .unwrap(),
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            ["client_id", "token_hash", "provider", "calling_code"]
                                .map(String::from)
                                .to_vec(),
                        ))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("DynamoDB Local did not create a table ({e:?}); is it running? Use `make test`.")
        });
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TTL enabled");
    (client, name)
}

/// Every SMS moto's SNS at `moto` has accepted, as (phone, message).
pub fn moto_sms(moto: &str) -> Vec<(String, String)> {
    let data: Value = serde_json::from_str(&http_get(&format!("{moto}/moto-api/data.json")))
        .expect("moto data is JSON");
    data["sns"]["SMS"]
        .as_array()
        .expect("moto lists sent SMS")
        .iter()
        .map(|sms| {
            let field = |name: &str| sms[name].as_str().unwrap_or_default().to_string();
            (field("phone_number"), field("message"))
        })
        .collect()
}

/// The newest SMS moto's SNS at `moto` accepted for `e164`.
pub async fn sms_to(moto: &str, e164: &str) -> String {
    let moto = moto.to_string();
    let sent = tokio::task::spawn_blocking(move || moto_sms(&moto))
        .await
        .expect("moto read");
    logs::secrets().phone(e164);
    sent.into_iter()
        .rev()
        .find(|(to, _)| to == e164)
        .map(|(_, message)| message)
        .unwrap_or_else(|| panic!("no SMS to {e164} reached SNS"))
}

/// The test client's native request for a code to `mobile_no`.
pub fn code_request_body(mobile_no: &str) -> Value {
    serde_json::json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no})
}

/// The test client's native confirm of the challenge `token` with `otp`.
pub fn token_confirm_body(token: &Value, otp: &str) -> Value {
    serde_json::json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": token, "otp": otp})
}

/// The code in a message of the test client's English template.
pub fn code_in(message: &str) -> String {
    let start = message.find("code is ").expect("template names the code") + "code is ".len();
    let code = message[start..]
        .split(' ')
        .next()
        .expect("a code")
        .to_string();
    logs::secrets().code(&code);
    code
}

pub async fn kms_client() -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&aws_config().await)
}

/// A new RSA_2048 SIGN_VERIFY key in moto's KMS behind a fresh alias, as the
/// stack creates it; returns the alias.
pub async fn kms_signing_alias() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let kms = kms_client().await;
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .expect("moto creates the KMS key");
    let alias = format!(
        "alias/otp-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(key.key_metadata().expect("key metadata").key_id())
        .send()
        .await
        .expect("moto creates the alias");
    alias
}

/// A signer over moto's KMS, as the Lambdas build it, except that it looks
/// the aliases up on every use, so a test sees a rotation at once.
pub async fn kms_signer(alias: &str) -> Arc<KmsSigner> {
    Arc::new(KmsSigner::new(kms_client().await, alias, Duration::ZERO))
}

/// A deployment as the stack makes it, on DynamoDB Local and moto: a fresh
/// table holding the test client, an RSA signing key behind an alias, and the
/// server secret in Secrets Manager (64 generated characters). Returns the
/// functions' environment variables, with `extra` added.
/// The server secret `deployment` keeps in Secrets Manager (64 generated
/// characters, as the stack makes it).
const DEPLOYED_SERVER_SECRET: &str =
    "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tAbCd";

/// What the edge's origin secret is named in a test deployment, so that the
/// AWS call recorder tells it from the server secret.
pub const EDGE_SECRET_NAME: &str = "otp-edge-secret";

/// The edge's origin secret of [`edge_deployment`].
pub const EDGE_TOKEN: &str = "an-edge-origin-secret-generated-by-the-stack-0123";

/// [`deployment`] with an edge: the origin secret the stack generates for
/// its CloudFront distribution, in Secrets Manager, named to the functions.
pub async fn edge_deployment() -> HashMap<String, String> {
    let mut variables = deployment(&[]).await;
    let secret = aws_sdk_secretsmanager::Client::new(&aws_config().await)
        .create_secret()
        .name(format!(
            "{EDGE_SECRET_NAME}-{}",
            variables["OTP_TABLE_NAME"]
        ))
        .secret_string(EDGE_TOKEN)
        .send()
        .await
        .expect("moto keeps the secret");
    logs::secrets().client_secret(EDGE_TOKEN);
    variables.insert(
        "OTP_EDGE_SECRET_ARN".into(),
        secret.arn().expect("an ARN").into(),
    );
    variables
}

pub async fn deployment(extra: &[(&str, &str)]) -> HashMap<String, String> {
    {
        let mut secrets = logs::secrets();
        secrets.server_secret(DEPLOYED_SERVER_SECRET);
        secrets.client_secret(CLIENT_SECRET);
    }
    let (dynamodb, table) = fresh_table().await;
    DynamoStore::new(dynamodb, table.clone())
        .put_client(&ClientRecord::new(
            CLIENT_ID,
            CLIENT_SECRET,
            test_settings(),
        ))
        .await
        .expect("client stored");
    let secret = aws_sdk_secretsmanager::Client::new(&aws_config().await)
        .create_secret()
        .name(format!("otp-server-secret-{table}"))
        .secret_string(DEPLOYED_SERVER_SECRET)
        .send()
        .await
        .expect("moto keeps the secret");
    let mut variables = HashMap::from([
        // Lambda sets it for every function.
        ("AWS_REGION".to_string(), REGION.to_string()),
        // See `relaxed_timeouts`.
        ("OTP_FUNCTION_TIMEOUT_SECS".to_string(), "29".to_string()),
        ("OTP_TABLE_NAME".to_string(), table),
        (
            "OTP_SIGNING_KEY_ALIAS".to_string(),
            kms_signing_alias().await,
        ),
        (
            "OTP_SERVER_SECRET_ARN".to_string(),
            secret.arn().expect("an ARN").to_string(),
        ),
    ]);
    variables.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    variables
}

/// The directory entry of `mobile_no` with `id_card` at `client_id`, keyed
/// with `secret`; its username is its account id.
pub fn directory_entry(
    secret: &ServerSecret,
    client_id: &str,
    mobile_no: &str,
    id_card: &str,
    account_id: &str,
) -> User {
    let phone = PhoneNumber::parse(mobile_no, "66").expect("a valid test number");
    let card = ThaiIdCard::parse(id_card).expect("a valid test ID card");
    {
        let mut secrets = logs::secrets();
        secrets.phone(mobile_no);
        secrets.id_card(id_card);
    }
    User {
        client_id: client_id.into(),
        account_id: account_id.into(),
        username: account_id.into(),
        phone_key: secret.phone_key(&phone),
        id_card_hash: Some(secret.id_card_hash(&card)),
    }
}

/// Registers `mobile_no` with `id_card` for the test client in the
/// `deployment` whose functions' variables are `variables`.
pub async fn register_deployed(
    variables: &HashMap<String, String>,
    mobile_no: &str,
    id_card: &str,
) {
    let secret = otp_shared::config::server_secret_from_text(DEPLOYED_SERVER_SECRET)
        .expect("a valid secret");
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        variables["OTP_TABLE_NAME"].clone(),
    );
    let user = directory_entry(&secret, CLIENT_ID, mobile_no, id_card, "acc-deployed");
    store.put_user(&user).await.expect("user stored");
}

/// The app exactly as a Lambda function wires it, from `variables`.
pub async fn lambda_app(variables: &HashMap<String, String>) -> App {
    lambda_app_with(variables, aws_config().await).await
}

/// [`lambda_app`], over the SDK configuration `sdk`.
pub async fn lambda_app_with(
    variables: &HashMap<String, String>,
    sdk: aws_config::SdkConfig,
) -> App {
    let settings = LambdaSettings::from_lookup(|name| variables.get(name).cloned())
        .expect("valid Lambda settings");
    let deployment = Deployment::new(settings).with_sdk_config(sdk);
    calls::at_cold_start(
        deployment
            .with_sms_providers()
            .with_kms()
            .with_message_feedback()
            .with_sms_account()
            .app(),
    )
    .await
    .expect("the Lambda wiring")
    .with_metrics(Arc::new(MetricsLog::default()))
}

pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// A store on a fresh table, through the layer that applies DynamoDB's
/// rules (`layer`), as every DynamoDB call of the tests.
pub async fn dynamo_store() -> DynamoStore {
    dynamo_store_and_table().await.0
}

/// [`dynamo_store`], and its table's name (to measure it, or to inject
/// faults into its calls).
pub async fn dynamo_store_and_table() -> (DynamoStore, String) {
    let (client, table) = fresh_table().await;
    let store = DynamoStore::with_timeouts(client, table.clone(), relaxed_timeouts());
    (store, table)
}

pub fn memory_store() -> MemoryStore {
    MemoryStore::new()
}

/// A plain HTTP/1.0 request to a server on this machine; returns the status
/// and the body.
pub fn http_request(method: &str, url: &str, content_type: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("server reachable");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    (status, body.to_string())
}

pub fn http_get(url: &str) -> String {
    http_request("GET", url, "text/plain", "").1
}
