//! What the local server says while it runs: a line per request (method,
//! route, status, error code, masked number, duration) and the handlers' own
//! lines, alerts among them, on stderr; a summary of the metrics; and a
//! plain reason when it cannot start.

mod common;

use common::LocalServer;
use otp_integration_tests::{http_get, http_request};
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http_request("POST", url, "application/json", &body.to_string());
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

/// The server's log lines until one contains `wanted`, which it returns;
/// panics, with what it did read, after 10 s without it.
fn log_line_with(server: &LocalServer, wanted: &str) -> (String, Vec<String>) {
    let logs = server.logs.as_ref().expect("started with start_logging");
    let mut read = vec![];
    loop {
        match logs.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains(wanted) => return (line, read),
            Ok(line) => read.push(line),
            Err(_) => panic!("no log line with {wanted:?}; read:\n{}", read.join("\n")),
        }
    }
}

#[test]
fn each_request_is_one_line_with_route_status_error_and_masked_number() {
    let mut server = LocalServer::start_logging(&[]);
    assert!(
        server.banner.contains("demo client_id"),
        "{}",
        server.banner
    );
    let url = format!("{}/v1/otp/request", server.base);
    let request =
        json!({"client_id": "demo", "client_secret": "demo-secret", "mobile_no": "0812345678"});
    let (status, sent) = post_json(&url, &request);
    assert_eq!(status, 200, "{sent}");
    // The SMS stays on stdout, alone: logs go to stderr.
    let mut printed = String::new();
    server.stdout.read_line(&mut printed).unwrap();
    assert!(printed.starts_with("SMS to +66812345678"), "{printed}");
    let (line, before) = log_line_with(&server, "answered");
    for part in [
        "method=POST",
        "route=/v1/otp/request",
        "phone=+66*****5678",
        "status=200",
        "ms=",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    // The handler's own line, under the same request.
    assert!(
        before
            .iter()
            .any(|l| l.contains("otp sent") && l.contains("route=/v1/otp/request")),
        "{before:?}"
    );

    let (status, refused) = post_json(&url, &request);
    assert_eq!(status, 429, "{refused}");
    let (line, _) = log_line_with(&server, "answered");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("status=429 error=rate_limited"), "{line}");

    // eSMS callers put the number and the code in the query: never logged.
    let esms = format!(
        "{}/MainService.svc/json/CheckCodeGen_V4_get?ApiKey=demo&SecretKey=wrong&Phone=0812345678&Code=123456",
        server.base
    );
    http_get(&esms);
    let (line, before) = log_line_with(&server, "answered");
    assert!(line.contains("error=invalid_client"), "{line}");
    for seen in before.iter().chain([&line]) {
        assert!(
            !seen.contains("0812345678") && !seen.contains("123456"),
            "{seen}"
        );
    }

    // A path no route serves is not repeated: a caller that forgot the `?`
    // puts the number and the code in it.
    http_get(&format!(
        "{}/MainService.svc/json/CheckCodeGen_V4_get&Phone=0812345678&Code=123456",
        server.base
    ));
    let (line, _) = log_line_with(&server, "answered");
    assert!(line.contains("route=(no such route)"), "{line}");
    assert!(!line.contains("0812345678"), "{line}");
}

#[test]
fn an_alert_is_a_line_of_the_local_log() {
    let clients = std::env::temp_dir().join(format!("ceiling-{}.json", std::process::id()));
    std::fs::write(
        &clients,
        json!([{
            "client_id": "ceiling",
            "client_secret": "ceiling-local-secret",
            "brand": "Ceiling",
            "templates": {"en": "{BRAND}: your code is {OTP} (ref {REF})."},
            "default_calling_code": "66",
            "sms_ceiling_per_hour": 1
        }])
        .to_string(),
    )
    .unwrap();
    let server = LocalServer::start_logging(&[("OTP_LOCAL_CLIENTS", clients.to_str().unwrap())]);
    let url = format!("{}/v1/otp/request", server.base);
    for mobile_no in ["0811111111", "0822222222"] {
        let request = json!({"client_id": "ceiling", "client_secret": "ceiling-local-secret", "mobile_no": mobile_no});
        let (status, sent) = post_json(&url, &request);
        assert_eq!(status, 200, "{sent}");
    }
    let (alert, _) = log_line_with(&server, "sms_ceiling_reached");
    assert!(alert.contains("ERROR"), "{alert}");
    let _ = std::fs::remove_file(clients);
}

#[test]
fn the_metrics_summary_totals_each_metric_by_dimension() {
    let server = LocalServer::start(&[]);
    let url = format!("{}/v1/otp/request", server.base);
    for mobile_no in ["0811111111", "0822222222"] {
        let request =
            json!({"client_id": "demo", "client_secret": "demo-secret", "mobile_no": mobile_no});
        assert_eq!(post_json(&url, &request).0, 200);
    }
    let summary: Value = serde_json::from_str(&http_get(&format!(
        "{}/_local/metrics?summary=1",
        server.base
    )))
    .unwrap();
    let sent = &summary["CodesSent"];
    assert_eq!(sent["total"], 2.0, "{summary}");
    assert_eq!(sent["by"]["Client=demo,CallingCode=66"], 2.0, "{summary}");
    assert_eq!(sent["by"]["CallingCode=66"], 2.0, "{summary}");
    assert_eq!(summary["CodesRequested"]["total"], 2.0, "{summary}");
}

#[test]
fn a_busy_port_names_the_port_and_the_variable_that_moves_it() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_otp-local"))
        .env("PORT", &port)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("port {port} is in use")), "{said}");
    assert!(said.contains("PORT="), "{said}");
    assert!(!said.contains("Os {"), "{said}");

    let output = Command::new(env!("CARGO_BIN_EXE_otp-local"))
        .env("PORT", "three thousand")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("PORT must be a port number"), "{said}");
}
