//! ThaiBulkSMS conformance, v1 and v2, through the real handlers against
//! DynamoDB Local, in every encoding its clients send (JSON, form-urlencoded,
//! multipart/form-data, a query string with an empty body). Expected bodies
//! are written out in full from the vendor's documented shapes; the only
//! values taken from elsewhere are the code and the reference, read from the
//! SMS the test's outbox received.

use otp_integration_tests::{
    Answer, CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, api_event, call, dynamo_store,
};
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Json,
    Form,
    Multipart,
    Query,
}

const ENCODINGS: [Encoding; 4] = [
    Encoding::Json,
    Encoding::Form,
    Encoding::Multipart,
    Encoding::Query,
];

async fn app() -> TestApp {
    TestApp::over(Arc::new(dynamo_store().await), None).await
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoded(v)))
        .collect::<Vec<_>>()
        .join("&")
}

const BOUNDARY: &str = "----formdata-undici-0123456789";

fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body + &format!("--{BOUNDARY}--\r\n")
}

/// The route's event with `fields` in `encoding`.
fn event(version: Version, verify: bool, encoding: Encoding, fields: &[(&str, &str)]) -> Value {
    let name = match (version, verify) {
        (Version::V1, false) => "thaibulksms-v1-request",
        (Version::V1, true) => "thaibulksms-v1-verify",
        (Version::V2, false) => "thaibulksms-request",
        (Version::V2, true) => "thaibulksms-verify",
    };
    let json = Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
    .to_string();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let (body, content_type) = match encoding {
        Encoding::Json => (json, Some("application/json")),
        Encoding::Form => (form(fields), Some("application/x-www-form-urlencoded")),
        Encoding::Multipart => (multipart(fields), Some(content_type.as_str())),
        Encoding::Query => (String::new(), None),
    };
    let mut event = api_event(name, Some(&body), content_type);
    if let Encoding::Query = encoding {
        event["rawQueryString"] = json!(form(fields));
        event.as_object_mut().unwrap().remove("body");
    }
    event
}

async fn send(t: &TestApp, event: Value) -> Answer {
    let verify = event["rawPath"].as_str().unwrap().ends_with("verify");
    let function = if verify {
        Function::ConfirmOtp
    } else {
        Function::RequestOtp
    };
    let request = otp_shared::http::lambda::request_from_event(
        serde_json::from_value(event).expect("a valid API Gateway event"),
    );
    let answer = call(&t.app, function, request).await;
    t.assert_tells_nothing(&answer, None);
    answer
}

async fn request(t: &TestApp, version: Version, encoding: Encoding, msisdn: &str) -> Answer {
    let fields = [
        ("key", CLIENT_ID),
        ("secret", CLIENT_SECRET),
        ("msisdn", msisdn),
    ];
    send(t, event(version, false, encoding, &fields)).await
}

async fn verify(
    t: &TestApp,
    version: Version,
    encoding: Encoding,
    token: &str,
    pin: &str,
) -> Answer {
    let fields = [
        ("key", CLIENT_ID),
        ("secret", CLIENT_SECRET),
        ("token", token),
        ("pin", pin),
    ];
    send(t, event(version, true, encoding, &fields)).await
}

/// A success as `version` wraps it.
fn success(version: Version, data: Value) -> Value {
    match version {
        Version::V1 => json!({ "data": data }),
        Version::V2 => {
            let mut body = data.clone();
            body["data"] = data;
            body
        }
    }
}

/// A failure as `version` wraps it.
fn failure(version: Version, status: u16, message: &str) -> Value {
    let fault = json!({
        "code": status,
        "message": message,
        "errors": [{"message": message, "detail": []}],
    });
    match version {
        Version::V1 => json!({ "error": fault }),
        Version::V2 => fault,
    }
}

fn assert_fails(answer: &Answer, version: Version, status: u16, message: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body, failure(version, status, message), "{answer:?}");
}

/// The reference in an SMS of the test client's template, `(ref XXXXXX)`.
fn ref_in(message: &str) -> String {
    let start = message.find("(ref ").expect("the template names the ref") + "(ref ".len();
    message[start..].split(')').next().unwrap().to_string()
}

/// The token of a successful request, after checking the whole body against
/// the SMS that went out.
fn token_of(t: &TestApp, version: Version, answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{answer:?}");
    let token = match version {
        Version::V1 => &answer.body["data"]["token"],
        Version::V2 => &answer.body["token"],
    };
    let token = token.as_str().expect("a token").to_string();
    assert!(token.len() >= 40, "an opaque token: {token}");
    let refno = ref_in(&t.last_sms().message);
    let expected = success(
        version,
        json!({"status": "success", "token": token, "refno": refno}),
    );
    assert_eq!(answer.body, expected, "{answer:?}");
    token
}

#[tokio::test]
async fn every_encoding_and_number_form_requests_and_verifies_in_both_versions() {
    let t = app().await;
    let mut n = 0;
    for version in [Version::V1, Version::V2] {
        for encoding in ENCODINGS {
            // Each in a range of its own: 24 codes to one range in 24
            // minutes would pass its cap.
            for msisdn in ["081%02d23456", "6681%02d23456", "+6681%02d23456"] {
                n += 1;
                let msisdn = msisdn.replace("%02d", &format!("{n:02}"));
                let answer = request(&t, version, encoding, &msisdn).await;
                let token = token_of(&t, version, &answer);
                let sms = t.last_sms();
                assert_eq!(
                    sms.to,
                    format!("+6681{n:02}23456"),
                    "{version:?} {encoding:?}"
                );
                let verified = verify(&t, version, encoding, &token, &sms.code).await;
                assert_eq!(
                    verified.status, 200,
                    "{version:?} {encoding:?}: {verified:?}"
                );
                assert_eq!(
                    verified.body,
                    success(
                        version,
                        json!({"status": "success", "message": "Code is correct."})
                    )
                );
                // 24 requests from one address: past the minute of its limit.
                t.clock.advance_secs(61);
            }
        }
    }
}

#[tokio::test]
async fn the_vendor_readme_pin_as_a_json_number_is_read_as_its_digits() {
    let t = app().await;
    let answer = request(&t, Version::V2, Encoding::Json, "0812345678").await;
    let token = token_of(&t, Version::V2, &answer);
    let pin: u64 = t
        .last_sms()
        .code
        .trim_start_matches('0')
        .parse()
        .unwrap_or(0);
    let body = json!({"key": CLIENT_ID, "secret": CLIENT_SECRET, "token": token, "pin": pin});
    let mut event = event(Version::V2, true, Encoding::Json, &[]);
    event["body"] = json!(body.to_string());
    let verified = send(&t, event).await;
    // A code with a leading zero loses it as a number, as it would at the
    // vendor: then it is a wrong pin, never an error of another kind.
    if t.last_sms().code.starts_with('0') {
        assert_fails(&verified, Version::V2, 400, "Code is invalid.");
    } else {
        assert_eq!(verified.status, 200, "{verified:?}");
    }
}

#[tokio::test]
async fn v1_request_shares_the_native_path_and_is_told_apart_by_its_fields() {
    let t = app().await;
    // ThaiBulkSMS's fields: ThaiBulkSMS v1, also when one is missing.
    let tbs = request(&t, Version::V1, Encoding::Json, "0812345678").await;
    token_of(&t, Version::V1, &tbs);
    let missing = send(
        &t,
        event(Version::V1, false, Encoding::Json, &[("key", CLIENT_ID)]),
    )
    .await;
    assert_fails(&missing, Version::V1, 400, "Invalid Paramete.");
    // The native fields: the native API, unchanged.
    let native =
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": "0812345699"});
    let answer = t.call(Function::RequestOtp, "request-otp", &native).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["result"], "Success");
    // Both: the native API, which refuses fields it does not know.
    let mut both = native.clone();
    both["key"] = json!(CLIENT_ID);
    let answer = t.call(Function::RequestOtp, "request-otp", &both).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(
        answer.body["errorMessage"],
        "request has an unknown field: key"
    );
}

#[tokio::test]
async fn request_failures_in_each_version() {
    for version in [Version::V1, Version::V2] {
        let t = app().await;
        let missing = send(
            &t,
            event(
                version,
                false,
                Encoding::Form,
                &[("key", CLIENT_ID), ("secret", CLIENT_SECRET)],
            ),
        )
        .await;
        assert_fails(&missing, version, 400, "Invalid Paramete.");
        let not_a_number = request(&t, version, Encoding::Form, "12345").await;
        assert_fails(&not_a_number, version, 400, "Invalid msisdn.");
        let elsewhere = request(&t, version, Encoding::Form, "33612345678").await;
        assert_fails(&elsewhere, version, 400, "This msisdn cannot receive OTP.");
        let fields = [("key", "nobody"), ("secret", "x"), ("msisdn", "0812345678")];
        let bad_key = send(&t, event(version, false, Encoding::Form, &fields)).await;
        assert_fails(&bad_key, version, 401, "Invalid key or secret.");
        assert!(t.outbox.entries().is_empty());

        let first = request(&t, version, Encoding::Form, "0812345678").await;
        token_of(&t, version, &first);
        let again = request(&t, version, Encoding::Form, "0812345678").await;
        assert_fails(
            &again,
            version,
            429,
            "Please wait before requesting a new OTP.",
        );
        assert_eq!(again.header("retry-after"), Some("60"));
    }
}

#[tokio::test]
async fn a_refused_sms_answers_503_in_each_version() {
    for version in [Version::V1, Version::V2] {
        let t = TestApp::over(
            Arc::new(dynamo_store().await),
            Some(Arc::new(RefusingSms::default())),
        )
        .await;
        let answer = request(&t, version, Encoding::Json, "0812345678").await;
        assert_fails(&answer, version, 503, "The OTP could not be sent.");
    }
}

#[tokio::test]
async fn verify_failures_are_400s_in_each_version() {
    for version in [Version::V1, Version::V2] {
        let t = app().await;
        let answer = request(&t, version, Encoding::Json, "0812345678").await;
        let token = token_of(&t, version, &answer);
        let pin = t.last_sms().code;
        let wrong = if pin == "000000" { "111111" } else { "000000" };
        let wrong_pin = verify(&t, version, Encoding::Json, &token, wrong).await;
        assert_fails(&wrong_pin, version, 400, "Code is invalid.");
        let unknown = verify(&t, version, Encoding::Json, "not-a-token", &pin).await;
        assert_fails(&unknown, version, 400, "Token is expire.");
        let fields = [
            ("key", CLIENT_ID),
            ("secret", CLIENT_SECRET),
            ("token", &token),
        ];
        let missing = send(&t, event(version, true, Encoding::Json, &fields)).await;
        assert_fails(&missing, version, 400, "Invalid Paramete.");
        let right = verify(&t, version, Encoding::Json, &token, &pin).await;
        assert_eq!(right.status, 200, "{right:?}");
        let spent = verify(&t, version, Encoding::Json, &token, &pin).await;
        assert_fails(&spent, version, 400, "Token is expire.");

        t.clock.advance_secs(60);
        let answer = request(&t, version, Encoding::Json, "0812345678").await;
        let token = token_of(&t, version, &answer);
        let pin = t.last_sms().code;
        for _ in 0..4 {
            let answer = verify(&t, version, Encoding::Json, &token, wrong).await;
            assert_fails(&answer, version, 400, "Code is invalid.");
        }
        let exhausted = "Too many wrong codes. Please request a new OTP.";
        let fifth = verify(&t, version, Encoding::Json, &token, wrong).await;
        assert_fails(&fifth, version, 400, exhausted);
        let right_too_late = verify(&t, version, Encoding::Json, &token, &pin).await;
        assert_fails(&right_too_late, version, 400, exhausted);

        t.clock.advance_secs(60);
        let answer = request(&t, version, Encoding::Json, "0812345678").await;
        let token = token_of(&t, version, &answer);
        let pin = t.last_sms().code;
        t.clock.advance_secs(300);
        let expired = verify(&t, version, Encoding::Json, &token, &pin).await;
        assert_fails(&expired, version, 400, "Token is expire.");
    }
}

#[tokio::test]
async fn malformed_multipart_is_a_parameter_error_and_sends_nothing() {
    let t = app().await;
    let mut event = event(Version::V2, false, Encoding::Multipart, &[]);
    event["body"] = json!("--nope\r\nthis is not multipart");
    assert_fails(
        &send(&t, event).await,
        Version::V2,
        400,
        "Invalid Paramete.",
    );
    let mut event = self::event(Version::V2, false, Encoding::Json, &[]);
    event["headers"]["content-type"] = json!("multipart/form-data");
    assert_fails(
        &send(&t, event).await,
        Version::V2,
        400,
        "Invalid Paramete.",
    );
    assert!(t.outbox.entries().is_empty());
}
