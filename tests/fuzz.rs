//! Fuzz target over every route: arbitrary bodies and content types, built
//! from the routes' own field names (with valid credentials now and then, so
//! parsing goes deep), fed to the real handlers. Never a panic, never a 5xx,
//! always an answer in the route's own format. `make test` runs the default
//! number of cases; `make fuzz` many more.

use otp_integration_tests::{CLIENT_ID, CLIENT_SECRET, TestApp, api_get, api_request, call};
use otp_shared::http::Function;
use proptest::prelude::*;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy)]
enum Dialect {
    Native,
    /// `/v1/otp/request`: native, or ThaiBulkSMS v1 for ThaiBulkSMS's fields.
    NativeOrThaiBulkSmsV1,
    ThaiBulkSmsV1,
    OAuth,
    OneId,
    ThaiBulkSms,
    Esms,
}

/// (event, function, dialect, GET?)
const ROUTES: &[(&str, Function, Dialect, bool)] = &[
    (
        "request-otp",
        Function::RequestOtp,
        Dialect::NativeOrThaiBulkSmsV1,
        false,
    ),
    ("confirm-otp", Function::ConfirmOtp, Dialect::Native, false),
    ("token-refresh", Function::IssueToken, Dialect::OAuth, false),
    ("revoke", Function::IssueToken, Dialect::OAuth, false),
    ("oneid-request", Function::RequestOtp, Dialect::OneId, false),
    ("oneid-confirm", Function::ConfirmOtp, Dialect::OneId, false),
    (
        "thaibulksms-request",
        Function::RequestOtp,
        Dialect::ThaiBulkSms,
        false,
    ),
    (
        "thaibulksms-verify",
        Function::ConfirmOtp,
        Dialect::ThaiBulkSms,
        false,
    ),
    (
        "esms-gencode-get",
        Function::RequestOtp,
        Dialect::Esms,
        true,
    ),
    ("esms-check-get", Function::ConfirmOtp, Dialect::Esms, true),
    (
        "thaibulksms-v1-verify",
        Function::ConfirmOtp,
        Dialect::ThaiBulkSmsV1,
        false,
    ),
];

const FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "mobile_no",
    "id_card_num",
    "sms_sender",
    "locale",
    "ref_code",
    "token",
    "otp",
    "grant_type",
    "refresh_token",
    "token_type_hint",
    "key",
    "secret",
    "msisdn",
    "pin",
    "Phone",
    "ApiKey",
    "SecretKey",
    "TimeAlive",
    "NumCharOfCode",
    "Brandname",
    "Type",
    "message",
    "IsNumber",
    "Code",
];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::String(CLIENT_ID.into())),
        Just(Value::String(CLIENT_SECRET.into())),
        Just(Value::String("0812345678".into())),
        Just(Value::String("1234567890121".into())),
        Just(Value::String("refresh_token".into())),
        "[0-9]{0,14}".prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(Value::Array(vec![])),
        Just(Value::Bool(true)),
    ]
}

fn fields() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((prop::sample::select(FIELDS), value()), 0..10)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn form(map: &Map<String, Value>) -> String {
    map.iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or(v.to_string(), str::to_string);
            let encoded: String = text
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={encoded}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Debug, Clone)]
enum Body {
    Json(Map<String, Value>),
    Form(Map<String, Value>),
    Raw(Vec<u8>),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        fields().prop_map(Body::Json),
        fields().prop_map(Body::Form),
        proptest::collection::vec(any::<u8>(), 0..512).prop_map(Body::Raw),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("application/json; charset=utf-8"),
        None,
    ])
}

fn assert_in_format(dialect: Dialect, body: &Value) -> Result<(), TestCaseError> {
    let has = |key: &str| body.get(key).is_some();
    let native = has("result") && has("code");
    let thaibulksms_v1 = body["data"]["status"].is_string() || body["error"]["errors"].is_array();
    let ok = match dialect {
        Dialect::Native => native,
        Dialect::NativeOrThaiBulkSmsV1 => native || thaibulksms_v1,
        Dialect::ThaiBulkSmsV1 => thaibulksms_v1,
        Dialect::OAuth => has("error") || has("access_token") || body == &Value::Object(Map::new()),
        Dialect::OneId => has("result") && has("data") && has("errorMessage") && has("code"),
        Dialect::ThaiBulkSms => {
            (body["status"].is_string() && body["data"]["status"] == body["status"])
                || (body["errors"].is_array() && body["code"].is_u64())
        }
        Dialect::Esms => body["CodeResult"].is_string(),
    };
    prop_assert!(ok, "{dialect:?} answered out of format: {body}");
    Ok(())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

proptest! {
    #[test]
    fn fuzz_every_route_answers_in_its_own_format(
        route in 0..ROUTES.len(),
        body in body(),
        content_type in content_type(),
    ) {
        let (event, function, dialect, get) = ROUTES[route];
        let answer = runtime().block_on(async {
            let t = TestApp::memory().await;
            let request = match (&body, get) {
                (Body::Json(map) | Body::Form(map), true) => api_get(event, &form(map)),
                (Body::Raw(bytes), true) => api_get(event, &String::from_utf8_lossy(bytes).replace(['#', ' '], "")),
                (Body::Json(map), false) => api_request(event, Some(&Value::Object(map.clone()).to_string()), content_type),
                (Body::Form(map), false) => api_request(event, Some(&form(map)), content_type),
                (Body::Raw(bytes), false) => {
                    let mut request = api_request(event, None, content_type);
                    *request.body_mut() = lambda_http::Body::Binary(bytes.clone());
                    request
                }
            };
            call(&t.app, function, request).await
        });
        prop_assert!(answer.status < 500, "{answer:?}");
        assert_in_format(dialect, &answer.body)?;
    }
}
