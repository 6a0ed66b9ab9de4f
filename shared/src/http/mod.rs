//! HTTP: the routes of each function ([`routes`]), request parsing, and the
//! dialects. Each dialect maps its wire format to the same
//! service calls and the outcomes back: the native API and OAuth take their
//! status codes from [`Error::status`], the compatibility dialects from the
//! specs they replace.

pub mod custom_resource;
mod delivery;
mod esms;
pub mod lambda;
mod native;
mod oauth;
mod oneid;
mod page;
mod routes;
mod thaibulksms;

pub use routes::{
    Function, confirm_otp, delivery_events, handle, handle_any, issue_token, request_otp,
    route_served,
};

use crate::clock::local_date_time;
use crate::error::FieldProblem;
use crate::service::END_USER_IP_INVALID;
use crate::service::{OtpRequest, TokenSet};
use crate::{App, Error};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value};
use std::convert::Infallible;

/// Bodies larger than this are refused before parsing.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// No field of any route is longer than this (an access token is ~800).
const MAX_FIELD_CHARS: usize = 4096;

fn body_bytes(request: &Request) -> Result<&[u8], Error> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::InvalidRequest("request body too large"));
    }
    Ok(bytes)
}

/// The media type of a `Content-Type` value, lower case, without parameters.
fn content_type_of(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn content_type(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(content_type_of)
        .unwrap_or_default()
}

/// The request's fields: a JSON object, or form-urlencoded where `allow_form`.
fn fields(request: &Request, allow_form: bool) -> Result<Fields, Error> {
    let bytes = body_bytes(request)?;
    let content_type = content_type(request);
    if allow_form && content_type == "application/x-www-form-urlencoded" {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::InvalidRequest("request body must be UTF-8"))?;
        return form_fields(text);
    }
    // A body without a content type is refused like any other: browsers
    // send one across origins without asking first (CORS), JSON they do not.
    let unnamed_body = content_type.is_empty() && !bytes.is_empty();
    if unnamed_body || !(content_type.is_empty() || content_type == "application/json") {
        return Err(Error::InvalidRequest(if allow_form {
            "content-type must be application/json or application/x-www-form-urlencoded"
        } else {
            "content-type must be application/json"
        }));
    }
    json_object(bytes)
}

/// The fields of a multipart/form-data body, or `None` for another content
/// type. Every part is read as text.
async fn multipart_fields(request: &Request) -> Option<Result<Fields, Error>> {
    let content_type = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = match multer::parse_boundary(content_type) {
        Ok(boundary) => boundary,
        Err(_) if content_type_of(content_type) == "multipart/form-data" => {
            return Some(Err(Error::InvalidRequest(
                "multipart/form-data needs a boundary",
            )));
        }
        Err(_) => return None,
    };
    Some(
        async {
            let malformed =
                || Error::InvalidRequest("request body is not valid multipart/form-data");
            let bytes = bytes::Bytes::copy_from_slice(body_bytes(request)?);
            let body = futures_util::stream::once(async move { Ok::<_, Infallible>(bytes) });
            let mut parts = multer::Multipart::new(body, boundary);
            let mut fields = Fields::default();
            while let Some(part) = parts.next_field().await.map_err(|_| malformed())? {
                let name = part.name().ok_or_else(malformed)?.to_string();
                // Read as UTF-8 whatever charset a part names, as every
                // other body is.
                let bytes = part.bytes().await.map_err(|_| malformed())?;
                let value = String::from_utf8(bytes.to_vec()).map_err(|_| malformed())?;
                fields.insert(name, Value::String(value));
            }
            Ok(fields)
        }
        .await,
    )
}

/// A JSON object's fields, keys given twice remembered (see [`Fields`]).
fn json_object(bytes: &[u8]) -> Result<Fields, Error> {
    struct Object;
    impl<'de> serde::de::Visitor<'de> for Object {
        type Value = Fields;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut access: A,
        ) -> Result<Self::Value, A::Error> {
            let mut fields = Fields::default();
            while let Some((key, value)) = access.next_entry::<String, Value>()? {
                fields.insert(key, value);
            }
            Ok(fields)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde::Deserializer::deserialize_any(&mut deserializer, Object)
        .and_then(|object| deserializer.end().map(|()| object));
    match parsed {
        Ok(object) => Ok(object),
        Err(e) if e.is_data() => Err(Error::InvalidRequest("request body must be a JSON object")),
        Err(_) => Err(Error::InvalidRequest("request body is not valid JSON")),
    }
}

/// The fields of a query string (for the GET routes of eSMS).
fn query_fields(request: &Request) -> Result<Fields, Error> {
    form_fields(request.uri().query().unwrap_or(""))
}

/// Form-urlencoded text as fields, names given twice remembered.
fn form_fields(text: &str) -> Result<Fields, Error> {
    let mut fields = Fields::default();
    for (k, v) in form_urlencoded(text)? {
        fields.insert(k, Value::String(v));
    }
    Ok(fields)
}

/// Phone numbers as SMS gateways take them: national (`0812345678`), or
/// international with or without its `+` (`66812345678`).
fn bare_international(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('0') || trimmed.starts_with('+') {
        trimmed.to_string()
    } else {
        format!("+{trimmed}")
    }
}

/// `a=1&b=2` into pairs, percent- and plus-decoded.
fn form_urlencoded(text: &str) -> Result<Vec<(String, String)>, Error> {
    fn decode(part: &str) -> Result<String, Error> {
        let bad = || Error::InvalidRequest("request body is not valid form-urlencoded");
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                    let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| bad())
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `n`'s digits if it is a whole number that floats hold exactly, else its
/// JSON text.
fn number_text(n: &serde_json::Number) -> String {
    /// 2^53: every whole number up to it is exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() <= EXACT => {
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

/// A request's named fields, checked one by one with stable messages. A
/// field the route reads may be given only once: parsers disagree on which
/// copy wins, and that gap is where request smuggling lives. Fields a
/// dialect ignores may repeat, as they may be anything.
#[derive(Default)]
struct Fields {
    map: Map<String, Value>,
    repeated: Vec<String>,
}

impl Fields {
    fn insert(&mut self, name: String, value: Value) {
        if self.map.contains_key(&name) {
            self.repeated.push(name);
        } else {
            self.map.insert(name, value);
        }
    }

    /// Refuses fields outside `known`: a typo should fail loudly, not be
    /// silently ignored.
    fn only(self, known: &[&str]) -> Result<Self, Error> {
        if let Some(unknown) = self.map.keys().find(|k| !known.contains(&k.as_str())) {
            // Only what can be a field's name is said back: lower-case
            // words, never digits (a number, a code) nor anything as long
            // as a secret or a token.
            let identifier = (1..=32).contains(&unknown.len())
                && unknown.starts_with(|c: char| c.is_ascii_lowercase())
                && unknown.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let name = identifier.then(|| unknown.clone());
            return Err(Error::InvalidField(FieldProblem::Unknown(name)));
        }
        Ok(self)
    }

    fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Names in lower case, for dialects whose clients spell them either way
    /// (`Message`, `message`). Two spellings of one name count as the name
    /// given twice.
    fn with_names_in_lower_case(self) -> Self {
        let mut fields = Fields {
            map: Map::new(),
            repeated: self.repeated.iter().map(|n| n.to_lowercase()).collect(),
        };
        for (name, value) in self.map {
            fields.insert(name.to_lowercase(), value);
        }
        fields
    }

    /// JSON numbers read as their text: gateways' clients send `5` and `"5"`
    /// alike for numeric parameters. A whole number is its digits however it
    /// is written (`2714262.0` is `2714262`, as JSON Schema counts it).
    fn with_numbers_as_text(mut self) -> Self {
        for value in self.map.values_mut() {
            if let Value::Number(n) = value {
                *value = Value::String(number_text(n));
            }
        }
        self
    }

    fn optional(
        &self,
        name: &'static str,
        type_error: &'static str,
    ) -> Result<Option<String>, Error> {
        if self.repeated.iter().any(|r| r == name) {
            return Err(Error::InvalidField(FieldProblem::Repeated(name)));
        }
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= MAX_FIELD_CHARS => Ok(Some(s.clone())),
            Some(_) => Err(Error::InvalidRequest(type_error)),
        }
    }

    fn required(
        &self,
        name: &'static str,
        missing: &'static str,
        type_error: &'static str,
    ) -> Result<String, Error> {
        self.optional(name, type_error)?
            .filter(|s| !s.trim().is_empty())
            .ok_or(Error::InvalidRequest(missing))
    }
}

/// A JSON response with the headers every answer carries.
fn json_response(status: u16, body: &Value, cacheable: bool) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if cacheable {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
    } else {
        // Answers carry codes' tokens or bearer tokens: never cache them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// The stable code of the error a response refuses with, whatever the
/// dialect's body says: the local server's request line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// `response`, a dialect's wording of `error`, with `Retry-After` when
/// `error` says when to try again, and the error's code attached.
fn refusal(mut response: Response<Body>, error: &Error) -> Response<Body> {
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(Refused(error.code()));
    response
}

/// One ID's token object, which the native confirm answers with too.
fn token_fields(app: &App, t: &TokenSet) -> Value {
    let expires_at_ms = t.issued_at_ms + t.expires_in * 1000;
    serde_json::json!({
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "access_token": t.access_token,
        "refresh_token": t.refresh_token,
        "expiration_date": local_date_time(expires_at_ms, app.config.token_time_zone_offset_secs),
        "account_id": t.account_id,
        "username": t.username,
        "login_by": t.login_by,
    })
}

/// The header through which a client forwards the address of the person it
/// serves, on every request route.
const END_USER_IP_HEADER: &str = "x-end-user-ip";

/// The end user's addresses a client forwards: the native `field`
/// (`end_user_ip`), then `X-End-User-IP`. A request giving both counts the
/// field, but each must be as well-formed as the API document says (both
/// come from the same caller, the client's backend). The service validates
/// them, after authenticating the client.
fn end_user_ip(request: &Request, field: Option<String>) -> Result<Vec<String>, Error> {
    let mut values = request.headers().get_all(END_USER_IP_HEADER).iter();
    let header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(
            value
                .to_str()
                .map_err(|_| Error::InvalidRequest(END_USER_IP_INVALID))?
                .trim()
                .to_string(),
        ),
        (Some(_), Some(_)) => {
            return Err(Error::InvalidRequest("X-End-User-IP must be given once"));
        }
    };
    Ok(field.into_iter().chain(header).collect())
}

/// The caller's address as API Gateway saw it.
fn source_ip(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}

/// `otp` with the service's own URL as `request` reached it (its issuer),
/// where providers that call a URL report the SMS (DESIGN §13.3).
fn reached_at(app: &App, request: &Request, otp: OtpRequest) -> OtpRequest {
    OtpRequest {
        public_url: issuer(app, request).ok(),
        ..otp
    }
}

/// `iss` for tokens minted by this request: the deployment's (`OTP_ISSUER`),
/// else the URL of the API that API Gateway says the request came through,
/// as the stack's `Issuer` output names it. Never from a header a caller
/// sets (DESIGN §5.12).
fn issuer(app: &App, request: &Request) -> Result<String, Error> {
    if let Some(issuer) = &app.config.issuer {
        return Ok(issuer.clone());
    }
    let api_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.apiid.as_deref(),
        _ => None,
    };
    match (api_id, &app.config.region) {
        (Some(api_id), Some(region)) => Ok(api_url(api_id, region)),
        // The functions always know both; the local server sets its issuer.
        _ => Err(Error::internal(
            "http.issuer",
            "no issuer configured or derivable",
        )),
    }
}

/// The default URL of the HTTP API `api_id` in `region`.
fn api_url(api_id: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{api_id}.execute-api.{region}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn document() -> Value {
        serde_json::from_str(include_str!("../../../openapi.json")).expect("openapi.json is JSON")
    }

    /// The values `openapi.json` lists at `pointer` (an `enum`).
    fn documented(pointer: &str) -> BTreeSet<String> {
        let values = document().pointer(pointer).cloned();
        let values = values.unwrap_or_else(|| panic!("openapi.json has no {pointer}"));
        let values = values.as_array().expect("an enum").iter();
        values
            .map(|v| v.as_str().expect("text").to_string())
            .collect()
    }

    fn body_of(response: Response<Body>) -> Value {
        match response.into_body() {
            Body::Text(text) => serde_json::from_str(&text).expect("JSON"),
            _ => panic!("a text body"),
        }
    }

    #[test]
    fn the_api_document_describes_exactly_the_routes_served() {
        let paths = document()["paths"].as_object().cloned().expect("paths");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, methods)| {
                let methods = methods.as_object().expect("methods").keys();
                methods.map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = routes::served()
            .into_iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, served);
    }

    /// Every error, in every dialect's words, is one the document lists; the
    /// recorded answers of the whole suite check the rest of each answer
    /// (tests/openapi_from_answers.py).
    #[test]
    fn every_dialect_words_every_error_as_the_document_lists() {
        let schemas = "/components/schemas";
        let native = documented(&format!("{schemas}/NativeFailure/properties/error/enum"));
        let oauth = documented(&format!("{schemas}/OAuthError/properties/error/enum"));
        let one_id = documented(&format!(
            "{schemas}/OneIdFailure/properties/errorMessage/enum"
        ));
        let tbs = documented(&format!(
            "{schemas}/ThaiBulkSmsFault/properties/message/enum"
        ));
        let esms = documented(&format!("{schemas}/EsmsAnswer/properties/CodeResult/enum"));
        let esms_content = documented(&format!("{schemas}/EsmsAnswer/properties/Content/enum"));
        let text = |body: &Value, pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        for error in crate::error::every_kind() {
            let said = [
                (text(&body_of(native::failure(&error)), "/error"), &native),
                (text(&body_of(oauth::failure(&error)), "/error"), &oauth),
                (
                    text(&body_of(oneid::failure(&error)), "/errorMessage"),
                    &one_id,
                ),
                (
                    text(
                        &body_of(thaibulksms::failure(thaibulksms::Version::V2, &error)),
                        "/message",
                    ),
                    &tbs,
                ),
                (
                    text(
                        &body_of(thaibulksms::failure(thaibulksms::Version::V1, &error)),
                        "/error/message",
                    ),
                    &tbs,
                ),
                (
                    text(
                        &body_of(esms::failure(&error, Some("0812345678"))),
                        "/CodeResult",
                    ),
                    &esms,
                ),
            ];
            for (words, listed) in said {
                let words = words.unwrap_or_else(|| panic!("{error:?} answered without its words"));
                assert!(
                    listed.contains(&words),
                    "{error:?} is {words:?}, which openapi.json does not list"
                );
            }
            if let Some(content) = text(
                &body_of(esms::failure(&error, Some("0812345678"))),
                "/Content",
            ) {
                assert!(
                    esms_content.contains(&content),
                    "{error:?}: Content {content:?}"
                );
            }
        }
    }

    /// The local server's request line names the error of every refusal,
    /// whichever dialect words it.
    #[test]
    fn every_dialects_refusal_carries_the_errors_code() {
        for error in crate::error::every_kind() {
            for response in [
                native::failure(&error),
                oauth::failure(&error),
                oneid::failure(&error),
                thaibulksms::failure(thaibulksms::Version::V1, &error),
                thaibulksms::failure(thaibulksms::Version::V2, &error),
                esms::failure(&error, None),
            ] {
                assert_eq!(
                    response.extensions().get::<Refused>(),
                    Some(&Refused(error.code())),
                    "{error:?}"
                );
            }
        }
    }

    #[test]
    fn the_issuer_is_the_apis_url_in_every_partition() {
        assert_eq!(
            api_url("abc123defg", "ap-southeast-1"),
            "https://abc123defg.execute-api.ap-southeast-1.amazonaws.com"
        );
        assert_eq!(
            api_url("abc123defg", "cn-north-1"),
            "https://abc123defg.execute-api.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn gateway_numbers_keep_national_forms_and_gain_a_plus_otherwise() {
        assert_eq!(bare_international("0812345678"), "0812345678");
        assert_eq!(bare_international("66812345678"), "+66812345678");
        assert_eq!(bare_international(" +84901888484 "), "+84901888484");
    }

    proptest::proptest! {
        /// Fuzz target: the form decoder takes any text without panicking.
        #[test]
        fn fuzz_form_decoder(text in "[a-z=&%+0-9A-F]{0,64}|.{0,64}") {
            let _ = form_fields(&text);
        }

        /// Fuzz target: the JSON reader takes any bytes without panicking.
        #[test]
        fn fuzz_json_reader(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = json_object(&bytes);
        }
    }

    #[test]
    fn json_bodies_must_be_objects_and_fields_read_given_once() {
        assert_eq!(json_object(br#"{"a":"1","b":2}"#).unwrap().map.len(), 2);
        let refused = |body: &[u8]| json_object(body).err().unwrap();
        let twice = json_object(br#"{"a":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(
            twice.optional("a", "a must be a string"),
            Err(Error::InvalidField(FieldProblem::Repeated("a")))
        );
        assert_eq!(
            twice.optional("b", "b must be a string"),
            Ok(Some("3".into()))
        );
        let form = form_fields("a=1&b=3&a=2").unwrap();
        assert!(form.optional("a", "a must be a string").is_err());
        assert_eq!(
            form.optional("b", "b must be a string"),
            Ok(Some("3".into()))
        );
        assert_eq!(
            refused(b"[1]"),
            Error::InvalidRequest("request body must be a JSON object")
        );
        assert_eq!(
            refused(b"\"x\""),
            Error::InvalidRequest("request body must be a JSON object")
        );
        assert_eq!(
            refused(b"{} {}"),
            Error::InvalidRequest("request body is not valid JSON")
        );
        assert_eq!(
            refused(b"{\"a\":\"\xff\"}"),
            Error::InvalidRequest("request body is not valid JSON")
        );
        assert_eq!(
            refused(b""),
            Error::InvalidRequest("request body is not valid JSON")
        );
    }

    #[test]
    fn unknown_and_repeated_fields_are_named_but_never_odd_names() {
        let fields = json_object(br#"{"mobile_no":"1","mobile":"2"}"#).unwrap();
        assert_eq!(
            fields.only(&["mobile_no"]).err(),
            Some(Error::InvalidField(FieldProblem::Unknown(Some(
                "mobile".into()
            ))))
        );
        for odd in [
            r#"{"+66812345678":"1"}"#,
            r#"{"0812345678":"1"}"#,
            r#"{"a1b2c3":"1"}"#,
            r#"{"qngplekaxj53qngplekaxj53qngplekaxj53":"1"}"#,
        ] {
            let fields = json_object(odd.as_bytes()).unwrap();
            let refused = fields.only(&["mobile_no"]).err().unwrap();
            assert_eq!(refused.message(), "request has an unknown field", "{odd}");
        }
        let twice = form_fields("mobile_no=1&mobile_no=2").unwrap();
        assert_eq!(
            twice
                .optional("mobile_no", "mobile_no must be a string")
                .err()
                .unwrap()
                .message(),
            "mobile_no appears more than once"
        );
    }

    /// A page in a browser can POST a body without a content type to any
    /// origin without asking first; a JSON body it cannot.
    #[test]
    fn a_body_without_a_content_type_is_refused() {
        let post = |content_type: Option<&str>, body: &str| {
            let mut request = Request::new(Body::Text(body.into()));
            if let Some(value) = content_type {
                request
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            }
            fields(&request, false).err()
        };
        let body = r#"{"client_id":"a"}"#;
        assert_eq!(
            post(None, body),
            Some(Error::InvalidRequest(
                "content-type must be application/json"
            ))
        );
        assert_eq!(
            post(Some("text/plain"), body),
            Some(Error::InvalidRequest(
                "content-type must be application/json"
            ))
        );
        assert_eq!(post(Some("application/json; charset=utf-8"), body), None);
        assert_eq!(
            post(None, ""),
            Some(Error::InvalidRequest("request body is not valid JSON"))
        );
    }

    #[test]
    fn whole_numbers_read_as_their_digits() {
        let text = |json: &str| number_text(&serde_json::from_str(json).unwrap());
        assert_eq!(text("2714262"), "2714262");
        assert_eq!(text("2714262.0"), "2714262");
        assert_eq!(text("2.714262e6"), "2714262");
        assert_eq!(text("-0.0"), "0");
        assert_eq!(text("1.5"), "1.5");
        assert_eq!(text("1e300"), "1e+300");
        assert_eq!(text("18446744073709551615"), "18446744073709551615");
    }

    #[test]
    fn form_bodies_decode_percent_and_plus() {
        assert_eq!(
            form_urlencoded("a=1+2&b=%2Fx%3D&c").unwrap(),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "/x=".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(form_urlencoded("a=%zz").is_err());
        assert!(form_urlencoded("a=%e0%80").is_err());
        assert!(form_urlencoded("a=%4").is_err());
    }
}
