//! The providers' own clients against the real local server, changing
//! nothing but their base URL: ThaiBulkSMS's npm package `thaibulksms-api`
//! (pinned in tools/package.json, installed by `make test`), in both of its
//! API versions: request → wrong pin → right pin → the spent token again.

mod common;

use common::LocalServer;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Runs tools/clients/<script> with `args`; its stdout is one JSON report.
fn run_client(script: &str, args: &[&str]) -> Value {
    let package = format!("{ROOT}/tools/node_modules/thaibulksms-api/package.json");
    assert!(
        std::path::Path::new(&package).exists(),
        "the vendor's client is not installed in tools/node_modules: run the tests with \
         `make test`, which installs it"
    );
    let output = Command::new("node")
        .arg(format!("{ROOT}/tools/clients/{script}"))
        .args(args)
        .output()
        .expect("Node.js runs (the tests need it, as DynamoDB Local's installer does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the vendor's client failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// What the vendor's client rejects with: `{code, statusText, message}`,
/// `message` being the first of the answer's `errors`.
fn rejected(status: u16, status_text: &str, message: &str) -> Value {
    json!({"rejected": {
        "code": status,
        "statusText": status_text,
        "message": {"message": message, "detail": []},
    }})
}

#[test]
fn thaibulksms_vendor_client_works_in_v1_and_v2_by_its_base_url_alone() {
    let mut server = LocalServer::start(&[]);
    assert!(server.banner.contains(&server.base), "{}", server.banner);
    let report = run_client(
        "thaibulksms.js",
        &[
            &server.base,
            "demo",
            "demo-secret",
            "0812345601",
            "66812345602",
        ],
    );
    for version in ["v1", "v2"] {
        let flow = &report[version];
        let request = &flow["request"]["resolved"];
        let fields = match version {
            "v1" => &request["data"],
            _ => request,
        };
        let token = fields["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{version}: {flow}"));
        let refno = fields["refno"].as_str().expect("a refno");
        assert!(token.len() >= 40 && refno.len() == 6, "{version}: {flow}");
        let expected_request = match version {
            "v1" => json!({"data": {"status": "success", "token": token, "refno": refno}}),
            _ => json!({
                "status": "success", "token": token, "refno": refno,
                "data": {"status": "success", "token": token, "refno": refno},
            }),
        };
        assert_eq!(request, &expected_request, "{version}");
        assert_eq!(
            flow["wrongPin"],
            rejected(400, "Bad Request", "Code is invalid."),
            "{version}"
        );
        let correct = json!({"status": "success", "message": "Code is correct."});
        let expected_verify = match version {
            "v1" => json!({"resolved": {"data": correct}}),
            _ => {
                let mut body = correct.clone();
                body["data"] = correct;
                json!({ "resolved": body })
            }
        };
        assert_eq!(flow["rightPin"], expected_verify, "{version}");
        assert_eq!(
            flow["spentToken"],
            rejected(400, "Bad Request", "Token is expire."),
            "{version}"
        );
    }
    // One code each was texted (printed, in local mode), and each request's
    // reference is the one in the SMS it sent.
    for to in ["+66812345601", "+66812345602"] {
        let mut printed = String::new();
        server.stdout.read_line(&mut printed).unwrap();
        assert!(printed.starts_with(&format!("SMS to {to} ")), "{printed}");
    }
    let outbox: Value = serde_json::from_str(&otp_integration_tests::http_get(&format!(
        "{}/_local/outbox",
        server.base
    )))
    .unwrap();
    // What the functions would count, kept off stdout (the SMS's) locally.
    let metrics: Value = serde_json::from_str(&otp_integration_tests::http_get(&format!(
        "{}/_local/metrics",
        server.base
    )))
    .unwrap();
    let sent = metrics.as_array().expect("an array of EMF lines");
    let sent = sent.iter().filter(|line| line["CodesSent"] == 1).count();
    assert_eq!(sent, 2, "{metrics}");
    for (version, to) in [("v1", "+66812345601"), ("v2", "+66812345602")] {
        let sms = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|sms| sms["to"] == to)
            .unwrap_or_else(|| panic!("no SMS to {to}"));
        let refno = report[version]["request"]["resolved"]
            .pointer(if version == "v1" {
                "/data/refno"
            } else {
                "/refno"
            })
            .and_then(Value::as_str)
            .unwrap();
        assert!(
            sms["message"]
                .as_str()
                .unwrap()
                .contains(&format!("(ref {refno})")),
            "{version}: {sms}"
        );
    }
}
