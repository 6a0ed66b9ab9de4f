//! The Lambda entry: API Gateway HTTP API (payload v2) events in, v2
//! responses out. `lambda_http::run` would do the same, but it appends
//! `rawQueryString` to the request URI as given and panics on characters a
//! URI may not hold, such as the raw `{OTP}` eSMS clients send. This adapter
//! percent-encodes those first and then converts with `lambda_http`'s own code.

use crate::App;
use crate::sms::https::HttpsClient;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Request, Response, service_fn};
use std::sync::{Mutex, OnceLock};
use tokio::sync::OnceCell;

/// The app of this process, once built.
static APP: OnceCell<App> = OnceCell::const_new();

/// Serves `entry` (a function's own, such as [`super::request_otp`]) until
/// the Lambda runtime stops: API Gateway's events, over the app `build`
/// makes ([`run_events`]).
pub async fn run<Build, Built, Entry, Answer>(
    build: Build,
    entry: Entry,
) -> Result<(), lambda_http::Error>
where
    Build: Fn() -> Built,
    Built: Future<Output = Result<App, String>> + Send + 'static,
    Entry: Fn(&'static App, Request) -> Answer,
    Answer: Future<Output = Response<Body>>,
{
    let entry = &entry;
    run_events(build, |app, event: ApiGatewayV2httpRequest| async move {
        let response = entry(app, request_from_event(event)).await;
        Ok::<_, lambda_http::Error>(v2_response(response))
    })
    .await
}

/// Serves `entry` with the events of whichever source invokes the function
/// until the Lambda runtime stops, over the app `build` makes. The first
/// build starts now, during init, and runs beside the runtime's first poll
/// for an event (on this one thread, while the poll waits on the network):
/// loading the SDK configuration and reading the server secret hold up
/// neither init nor the poll, and the first event waits only for what is
/// left of them. A build that fails fails that event, and the next event
/// builds again.
pub async fn run_events<Build, Built, Event, Entry, Answer, Output>(
    build: Build,
    entry: Entry,
) -> Result<(), lambda_http::Error>
where
    Build: Fn() -> Built,
    Built: Future<Output = Result<App, String>> + Send + 'static,
    Event: serde::de::DeserializeOwned,
    Entry: Fn(&'static App, Event) -> Answer,
    Answer: Future<Output = Result<Output, lambda_http::Error>>,
    Output: serde::Serialize,
{
    let first = Mutex::new(Some(tokio::spawn(build())));
    let (build, entry, first) = (&build, &entry, &first);
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| async move {
        let app = APP
            .get_or_try_init(|| async {
                let started = first.lock().unwrap_or_else(|p| p.into_inner()).take();
                match started {
                    Some(handle) => handle.await.map_err(|e| e.to_string())?,
                    None => build().await,
                }
            })
            .await?;
        entry(app, event.payload).await
    }))
    .await
}

/// delivery-events' one entry: API Gateway's requests (the providers'
/// callbacks) and the events of its other sources (a log subscription's,
/// SNS's), told apart by API Gateway's `requestContext`.
pub async fn delivery_events(
    app: &'static App,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    if event.get("requestContext").is_some() {
        let event: ApiGatewayV2httpRequest = serde_json::from_value(event)?;
        let response = super::delivery_events(app, request_from_event(event)).await;
        return Ok(serde_json::to_value(v2_response(response))?);
    }
    if super::custom_resource::is_request(&event) {
        static ANSWERS: OnceLock<HttpsClient> = OnceLock::new();
        let client = ANSWERS.get_or_init(HttpsClient::https_only);
        return Ok(super::custom_resource::serve(app, &event, client).await?);
    }
    Ok(serde_json::to_value(
        app.record_delivery_event(&event).await?,
    )?)
}

/// The request an API Gateway v2 event stands for.
pub fn request_from_event(mut event: ApiGatewayV2httpRequest) -> Request {
    if let Some(query) = &mut event.raw_query_string {
        *query = uri_safe_query(query);
    }
    LambdaRequest::ApiGatewayV2(event).into()
}

/// `query` with every byte a URI query may not hold percent-encoded; valid
/// escapes are kept, so decoding gives back what the client sent.
fn uri_safe_query(query: &str) -> String {
    let bytes = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    for (i, &b) in bytes.iter().enumerate() {
        let valid_escape = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b);
        if allowed || valid_escape {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn v2_response(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let (body, is_base64_encoded) = match body {
        Body::Empty => (None, false),
        Body::Text(text) => (Some(Body::Text(text)), false),
        other => (Some(other), true),
    };
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(parts.status.as_u16());
    response.headers = parts.headers;
    response.multi_value_headers = HeaderMap::new();
    response.body = body;
    response.is_base64_encoded = is_base64_encoded;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_query_characters_are_escaped_and_escapes_kept() {
        assert_eq!(uri_safe_query("a=1&b=%7BOTP%7D"), "a=1&b=%7BOTP%7D");
        assert_eq!(uri_safe_query("message={OTP} la"), "message=%7BOTP%7D%20la");
        assert_eq!(uri_safe_query("x=%zz|\"<>"), "x=%25zz%7C%22%3C%3E");
        assert_eq!(uri_safe_query("t=ไทย"), "t=%E0%B9%84%E0%B8%97%E0%B8%A2");
    }

    #[test]
    fn events_with_raw_query_characters_become_requests() {
        let mut event = ApiGatewayV2httpRequest::default();
        event.raw_path = Some("/MainService.svc/json/CheckCodeGen_V4_get".into());
        event.raw_query_string = Some("Phone=0901888484&message={OTP} la ma".into());
        let request = request_from_event(event);
        assert_eq!(
            request.uri().query(),
            Some("Phone=0901888484&message=%7BOTP%7D%20la%20ma")
        );
    }
}
