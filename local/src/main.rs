//! `make run`: the whole API as one local process on 127.0.0.1, with an
//! in-memory store, an in-process signing key, and an outbox that prints each
//! SMS. Requests go to the same handlers the Lambda functions run; it also
//! serves the API's description at `GET /openapi.json`. Besides
//! the demo client, `OTP_LOCAL_CLIENTS` names a file of client definitions
//! to load (see `clients`).

mod clients;
mod delivery;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use otp_shared::App;
use otp_shared::clock::{OsEntropy, SystemClock};
use otp_shared::config::Config;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::code::random_bytes;
use otp_shared::domain::keys::{ServerSecret, b64};
use otp_shared::domain::phone::PhoneNumber;
use otp_shared::domain::user::{ThaiIdCard, User};
use otp_shared::http::{Refused, handle_any, route_served};
use otp_shared::metrics;
use otp_shared::signer::LocalSigner;
use otp_shared::sms::secrets::MemorySecrets;
use otp_shared::sms::{EumStandIn, Outbox, Providers, SmsSender};
use otp_shared::store::{MemoryStore, Store};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tracing::Instrument;

/// Bodies are read up to this; the handlers refuse anything over 16 KiB in
/// the route's own format, so a body cut here is refused just the same.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The API's description (OpenAPI 3.1), served at `GET /openapi.json`.
const OPENAPI: &str = include_str!("../../openapi.json");

/// A directory entry of the demo client, to try the One ID routes with.
const DEMO_USER_MOBILE: &str = "+66812345678";
const DEMO_USER_ID_CARD: &str = "1234567890121";

struct Local {
    app: App,
    outbox: Arc<Outbox>,
    /// What becomes of the next SMS to a number (`POST /_local/delivery`).
    fates: Arc<delivery::Fates>,
    /// The EMF lines the functions would write (stdout here is the SMS's).
    metrics: Arc<metrics::Recorded>,
}

fn demo_settings() -> ClientSettings {
    ClientSettings {
        brand: "Demo".into(),
        sender_ids: vec!["OTPDemo".into()],
        templates: BTreeMap::from([
            ("en".into(), "{BRAND}: your code is {OTP} (ref {REF}). It expires in {MINUTES} minutes. Do not share it.".into()),
            // One SMS: 70 characters of UCS-2, with the longest code.
            ("th".into(), "{BRAND}: รหัส OTP {OTP} (Ref {REF}) ใช้ได้ {MINUTES} นาที ห้ามบอกผู้อื่น".into()),
            ("vi".into(), "{BRAND}: ma OTP cua ban la {OTP} (ma tham chieu {REF}), hieu luc {MINUTES} phut.".into()),
        ]),
        default_calling_code: Some("66".into()),
        // Its One ID routes answer as One ID does.
        reveal_unknown_users: true,
        ..ClientSettings::default()
    }
}

/// The demo's public app (DESIGN §14): a single-page app signing users in
/// through the hosted page, as `examples/spa` does from any loopback port.
const DEMO_SPA_CLIENT_ID: &str = "demo-spa";

fn demo_spa_settings() -> ClientSettings {
    ClientSettings {
        public: true,
        hosted_page: true,
        redirect_uris: vec!["http://127.0.0.1/".into(), "http://localhost/".into()],
        ..demo_settings()
    }
}

fn json(bytes: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(bytes));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: u16, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    response
}

/// Whether a request names this server as its host: 127.0.0.1 or localhost,
/// with or without the port. A web page whose host name an attacker rebinds
/// to 127.0.0.1 (DNS rebinding) names its own host, and is refused, so it
/// can read neither the outbox's codes nor any answer.
fn addressed_here(headers: &hyper::HeaderMap) -> bool {
    let Some(host) = headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost")
}

async fn serve(
    local: &Local,
    peer: IpAddr,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    if !addressed_here(&parts.headers) {
        return plain(
            421,
            "misdirected request: address this server as 127.0.0.1 or localhost\n",
        );
    }
    if parts.method == hyper::Method::GET {
        match parts.uri.path() {
            "/_local/outbox" => {
                let entries = serde_json::to_vec(&local.outbox.entries()).unwrap_or_default();
                return json(Bytes::from(entries));
            }
            "/_local/metrics" if parts.uri.query() == Some("summary=1") => {
                let summary = metrics::summary(&local.metrics.lines());
                return json(Bytes::from(summary.to_string()));
            }
            "/_local/metrics" => {
                // Each line is a JSON object: together, an array of them.
                let lines = format!("[{}]", local.metrics.lines().join(","));
                return json(Bytes::from(lines));
            }
            "/openapi.json" => return json(Bytes::from_static(OPENAPI.as_bytes())),
            _ => {}
        }
    }
    let Ok(bytes) = read_capped(body).await else {
        return plain(400, "the request body could not be read");
    };
    if parts.method == hyper::Method::POST && parts.uri.path() == "/_local/delivery" {
        let set = serde_json::from_slice::<delivery::Fate>(&bytes)
            .map_err(|_| "a JSON object: to, delivery, and optionally reason".to_string())
            .and_then(|fate| local.fates.set(fate));
        return match set {
            Ok(()) => json(Bytes::from_static(b"{\"result\":\"Success\"}")),
            Err(why) => {
                let mut answer = json(Bytes::from(serde_json::json!({"error": why}).to_string()));
                *answer.status_mut() = hyper::StatusCode::BAD_REQUEST;
                answer
            }
        };
    }
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes)
    };
    // What API Gateway would add: the caller's address, for the per-IP limit.
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(peer.to_string());
    let request = lambda_http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(context));
    into_hyper(answer_logged(&local.app, request).await)
}

/// The handlers' answer to `request`, and one line saying what it was: the
/// method, the route (never the query, where eSMS callers put the number and
/// the code), the status, the error's code, the number as the handlers
/// masked it, and how long it took. The handlers' own lines during it carry
/// the same method, route and number.
async fn answer_logged(app: &App, request: lambda_http::Request) -> lambda_http::Response<Body> {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_served(request.uri().path()).unwrap_or("(no such route)"),
        phone = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = handle_any(app, request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    // eSMS answers its refusals with 200: the error decides, not the status.
    match response.extensions().get::<Refused>() {
        Some(Refused(error)) if status >= 500 => {
            tracing::error!(parent: &span, status, %error, ms, "answered")
        }
        Some(Refused(error)) => tracing::warn!(parent: &span, status, %error, ms, "answered"),
        None => tracing::info!(parent: &span, status, ms, "answered"),
    }
    response
}

/// The body's first `MAX_BODY_BYTES + 1` bytes (enough to be too large).
async fn read_capped(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut bytes = Vec::new();
    while bytes.len() <= MAX_BODY_BYTES {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    bytes.truncate(MAX_BODY_BYTES + 1);
    Ok(bytes)
}

fn into_hyper(response: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Serves until stopped; a failure to start is one plain line and exit 1.
#[tokio::main]
async fn main() -> ExitCode {
    // The banner and the SMS on stdout; every log line on stderr, at
    // RUST_LOG's level (INFO when unset).
    otp_shared::logging::init_with_writer(std::io::stderr);
    match serve_forever().await {
        Ok(never) => match never {},
        Err(reason) => {
            eprintln!("otp-local: {reason}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_forever() -> Result<Infallible, Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {p:?}"))?,
        Err(_) => 3000,
    };
    let entropy = Arc::new(OsEntropy);
    let client_id = std::env::var("OTP_DEMO_CLIENT_ID")
        .unwrap_or_else(|_| format!("demo-{}", b64(&random_bytes::<6>(entropy.as_ref()))));
    let client_secret = std::env::var("OTP_DEMO_CLIENT_SECRET")
        .unwrap_or_else(|_| b64(&random_bytes::<32>(entropy.as_ref())));

    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone(), true));
    let store = Arc::new(MemoryStore::new());
    store
        .put_client(&ClientRecord::new(
            &client_id,
            &client_secret,
            demo_settings(),
        ))
        .await?;
    store
        .put_client(&ClientRecord::new(
            DEMO_SPA_CLIENT_ID,
            &clients::unknowable_secret(),
            demo_spa_settings(),
        ))
        .await?;
    let secret = ServerSecret::new(&random_bytes::<32>(entropy.as_ref()))?;
    let phone = PhoneNumber::parse(DEMO_USER_MOBILE, "66").map_err(|_| "demo mobile")?;
    let card = ThaiIdCard::parse(DEMO_USER_ID_CARD).ok_or("demo ID card")?;
    store
        .put_user(&User {
            client_id: client_id.clone(),
            account_id: "demo-account".into(),
            username: "demo.user".into(),
            phone_key: secret.phone_key(&phone),
            id_card_hash: Some(secret.id_card_hash(&card)),
        })
        .await?;
    let local_clients = match std::env::var_os("OTP_LOCAL_CLIENTS") {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("OTP_LOCAL_CLIENTS {}: {e}", path.to_string_lossy()))?;
            clients::parse(&text, &secret).map_err(|reason| {
                format!("OTP_LOCAL_CLIENTS {}: {reason}", path.to_string_lossy())
            })?
        }
        None => vec![],
    };
    for client in &local_clients {
        store.put_client(&client.record).await?;
        for user in &client.users {
            store.put_user(user).await?;
        }
    }
    let issuer = format!("http://127.0.0.1:{port}");
    let provider_secrets = local_clients
        .iter()
        .flat_map(|client| client.secrets.iter().cloned())
        .collect();
    // The outbox stands in for both of AWS's providers, and reports what
    // became of each message as they would.
    let fates = Arc::new(delivery::Fates::default());
    let reporting = |provider| -> Arc<dyn SmsSender> {
        Arc::new(delivery::ReportingOutbox {
            outbox: outbox.clone(),
            provider,
            fates: fates.clone(),
            store: store.clone(),
            clock: clock.clone(),
        })
    };
    let sms = Providers::new(reporting("sns"))
        .with_eum(Arc::new(EumStandIn(reporting("eum"))))
        .with_secrets(Arc::new(MemorySecrets::new(provider_secrets)));
    let app = App::new(
        store,
        Some(sms),
        Some(Arc::new(LocalSigner::generate())),
        clock,
        entropy.clone(),
        secret,
        Config {
            issuer: Some(issuer.clone()),
            ..Config::default()
        },
    );
    let metrics = metrics::Recorded::new();
    let app = app.with_metrics(metrics.clone());
    let local = Arc::new(Local {
        app,
        outbox,
        fates,
        metrics,
    });

    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::AddrInUse => format!(
                "port {port} is in use (another `make run`?): stop what holds it, or choose a free port with PORT, as in `PORT={} make run`",
                port.checked_add(1).unwrap_or(3000)
            ),
            _ => format!("cannot listen on 127.0.0.1:{port} (PORT): {e}"),
        })?;
    println!("OTP service (local mode) listening on {issuer}");
    println!("demo client_id:     {client_id}");
    println!("demo client_secret: {client_secret}");
    println!("demo public app:    client_id {DEMO_SPA_CLIENT_ID} (no secret; examples/spa)");
    println!("demo user (One ID):  mobile_no {DEMO_USER_MOBILE}, id_card_num {DEMO_USER_ID_CARD}");
    for client in &local_clients {
        println!(
            "client from OTP_LOCAL_CLIENTS: {} ({} directory users)",
            client.record.client_id,
            client.users.len()
        );
    }
    println!(
        "sent SMS are printed here and listed at {issuer}/_local/outbox; metrics at {issuer}/_local/metrics"
    );
    loop {
        let (stream, peer) = listener.accept().await?;
        let local = local.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let local = local.clone();
                async move { Ok::<_, Infallible>(serve(&local, peer.ip(), request).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service refuses a client whose settings are out of bounds when it
    /// reads it; the demo's must be in them (every template one SMS).
    #[test]
    fn the_demo_clients_settings_are_valid() {
        assert_eq!(demo_settings().validate(), Ok(()));
        assert_eq!(demo_spa_settings().validate(), Ok(()));
    }

    #[test]
    fn only_requests_addressed_to_this_machine_are_answered() {
        let headers = |host: &str| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert(hyper::header::HOST, host.parse().unwrap());
            headers
        };
        for host in ["127.0.0.1:3000", "localhost", "LOCALHOST:8080", "127.0.0.1"] {
            assert!(addressed_here(&headers(host)), "{host}");
        }
        for host in [
            "rebound.example:3000",
            "127.0.0.1.nip.io",
            "localhost.evil",
            "[::1]:3000",
        ] {
            assert!(!addressed_here(&headers(host)), "{host}");
        }
        assert!(!addressed_here(&hyper::HeaderMap::new()), "no Host");
    }
}
