//! The README walkthrough against the real `make run` binary: request → SMS
//! in the outbox → confirm → refresh, and the tokens verify against JWKS.

mod common;

use common::LocalServer;
use otp_integration_tests::{http_get, http_request, verify_jwt};
use serde_json::{Value, json};
use std::io::BufRead;

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http_request("POST", url, "application/json", &body.to_string());
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

#[test]
fn readme_walkthrough_yields_tokens_that_verify_against_jwks() {
    let mut server = LocalServer::start(&[]);
    let base = server.base.clone();
    let banner = &server.banner;
    assert!(banner.contains(&base), "{banner}");
    assert!(banner.contains("demo client_id:     demo"), "{banner}");

    let credentials = json!({"client_id": "demo", "client_secret": "demo-secret"});
    let mut request = credentials.clone();
    request["mobile_no"] = json!("081-234-5678");
    let (status, sent) = post_json(&format!("{base}/v1/otp/request"), &request);
    assert_eq!(status, 200, "{sent}");

    let mut printed = String::new();
    server.stdout.read_line(&mut printed).unwrap();
    assert!(
        printed.starts_with("SMS to +66812345678 from OTPDemo: "),
        "{printed}"
    );

    let outbox: Value = serde_json::from_str(&http_get(&format!("{base}/_local/outbox"))).unwrap();
    let sms = &outbox.as_array().unwrap()[0];
    assert_eq!(sms["to"], "+66812345678");
    assert_eq!(sms["sender_id"], "OTPDemo");
    assert!(sms["sent_at"].as_str().unwrap().ends_with('Z'));
    let code = sms["code"].as_str().unwrap();
    assert!(sms["message"].as_str().unwrap().contains(code));
    assert!(printed.contains(code));

    let mut confirm = credentials.clone();
    confirm["mobile_no"] = json!("0812345678");
    confirm["ref_code"] = sent["data"]["ref_code"].clone();
    confirm["otp"] = json!(code);
    let (status, confirmed) = post_json(&format!("{base}/v1/otp/confirm"), &confirm);
    assert_eq!(status, 200, "{confirmed}");

    let jwks: Value =
        serde_json::from_str(&http_get(&format!("{base}/.well-known/jwks.json"))).unwrap();
    let (_, claims) =
        verify_jwt(confirmed["data"]["access_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(claims["iss"], base);
    assert_eq!(claims["aud"], "demo");

    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id=demo&client_secret=demo-secret",
        confirmed["data"]["refresh_token"].as_str().unwrap()
    );
    let (status, text) = http_request(
        "POST",
        &format!("{base}/v1/oauth/token"),
        "application/x-www-form-urlencoded",
        &form,
    );
    assert_eq!(status, 200, "{text}");
    let refreshed: Value = serde_json::from_str(&text).unwrap();
    verify_jwt(refreshed["access_token"].as_str().unwrap(), &jwks).unwrap();

    // The demo user logs in through the One ID routes.
    let mut one_id = credentials.clone();
    one_id["mobile_no"] = json!("0812345678");
    one_id["id_card_num"] = json!("1234567890121");
    let (status, sent) = post_json(
        &format!("{base}/api/v1/citizen/oauth/mobile-and-idcard"),
        &one_id,
    );
    // The native request above started this phone's cooldown; One ID says so
    // in its own words.
    assert_eq!(
        (status, &sent["errorMessage"]),
        (
            400,
            &json!("please wait about 1 minute before request OTP again")
        )
    );
    // A number the demo client's directory does not hold: One ID's 404.
    one_id["mobile_no"] = json!("0899999999");
    let (status, refused) = post_json(
        &format!("{base}/api/v1/citizen/oauth/mobile-and-idcard"),
        &one_id,
    );
    assert_eq!(
        (status, &refused["errorMessage"]),
        (404, &json!("user mobile not found"))
    );
    drop(server);
}
