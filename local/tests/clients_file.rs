//! `OTP_LOCAL_CLIENTS`: the real local server loads client definitions from
//! a file (the README's example, `local/clients.example.json`), and refuses
//! to start on a bad one, naming the client, the field and the reason.

mod common;

use common::LocalServer;
use otp_integration_tests::http_request;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::Command;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients.example.json");

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http_request("POST", url, "application/json", &body.to_string());
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

#[test]
fn a_client_from_the_file_sends_its_autofill_lines() {
    let mut server = LocalServer::start(&[("OTP_LOCAL_CLIENTS", EXAMPLE)]);
    assert!(
        server
            .banner
            .contains("client from OTP_LOCAL_CLIENTS: shop (2 directory users)"),
        "{}",
        server.banner
    );
    let request = |mobile_no: &str| json!({"client_id": "shop", "client_secret": "shop-local-secret-change-me", "mobile_no": mobile_no});
    let (status, sent) = post_json(
        &format!("{}/v1/otp/request", server.base),
        &request("081-234-5678"),
    );
    assert_eq!(status, 200, "{sent}");
    let mut printed = String::new();
    server.stdout.read_line(&mut printed).unwrap();
    let outbox: Value = serde_json::from_str(&otp_integration_tests::http_get(&format!(
        "{}/_local/outbox",
        server.base
    )))
    .unwrap();
    let sms = &outbox[0];
    let code = sms["code"].as_str().unwrap();
    let message = sms["message"].as_str().unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        ["FA+9qCX9VSu", format!("@shop.example.com #{code}").as_str()],
        "{message}"
    );
    assert_eq!(sms["sender_id"], "ShopOTP");

    // The file's directory users: a number it does not hold is answered
    // alike and texted nothing.
    let (status, decoy) = post_json(
        &format!("{}/v1/otp/request", server.base),
        &request("0811111111"),
    );
    assert_eq!(status, 200, "{decoy}");
    let outbox: Value = serde_json::from_str(&otp_integration_tests::http_get(&format!(
        "{}/_local/outbox",
        server.base
    )))
    .unwrap();
    assert_eq!(
        outbox.as_array().unwrap().len(),
        1,
        "nothing sent: {outbox}"
    );

    let confirm = json!({
        "client_id": "shop", "client_secret": "shop-local-secret-change-me",
        "token": sent["data"]["token"], "otp": code,
    });
    let (status, confirmed) = post_json(&format!("{}/v1/otp/confirm", server.base), &confirm);
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["data"]["account_id"], "shop-0001");
    assert_eq!(confirmed["data"]["username"], "somchai");
}

#[test]
fn a_bad_file_stops_the_server_naming_the_field_and_the_reason() {
    let bad = std::env::temp_dir().join(format!("otp-bad-clients-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"[{"client_id": "shop", "client_secret": "shop-local-secret-change-me", "max_attempts": 9}]"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_otp-local"))
        .env("PORT", "0")
        .env("OTP_LOCAL_CLIENTS", &bad)
        .output()
        .expect("the local server runs");
    std::fs::remove_file(&bad).unwrap();
    assert!(!output.status.success(), "it started on a bad file");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("client 0 (shop): max_attempts must be 1 to 5"),
        "{stderr}"
    );
}
