//! DESIGN §5.12 and SECURITY.md "Tenancy and abuse", for the local server:
//! attack 14 of the review, against the real `make run` binary.

mod common;

use common::LocalServer;
use otp_integration_tests::http_request;
use std::io::{BufRead, Read, Write};

/// A GET of `path` from the server at `base`, naming `host` in `Host`, as a
/// browser does for a page whose name was rebound to 127.0.0.1; returns the
/// status.
fn get_as(base: &str, host: &str, path: &str) -> (u16, String) {
    let address = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    (status, response)
}

/// Attack 14: A web page whose host name an attacker rebinds to 127.0.0.1 reaches
/// the local server from the developer's browser: the server answers only
/// requests addressed to 127.0.0.1 or localhost, so the page can read
/// neither the outbox (the codes) nor anything else.
#[test]
fn a_web_page_reads_the_local_outbox_through_dns_rebinding() {
    let mut server = LocalServer::start(&[]);
    assert!(server.banner.contains(&server.base), "{}", server.banner);
    let request = r#"{"client_id":"demo","client_secret":"demo-secret","mobile_no":"0811111111"}"#;
    let url = format!("{}/v1/otp/request", server.base);
    let (status, sent) = http_request("POST", &url, "application/json", request);
    assert_eq!(status, 200, "{sent}");
    let mut printed = String::new();
    server.stdout.read_line(&mut printed).unwrap();
    assert!(printed.starts_with("SMS to +66811111111"), "{printed}");

    let port = server.base.rsplit(':').next().unwrap().to_string();
    for path in [
        "/_local/outbox",
        "/_local/metrics",
        "/.well-known/jwks.json",
    ] {
        let (status, response) = get_as(&server.base, &format!("rebound.example:{port}"), path);
        assert_eq!(status, 421, "{path}: {response}");
        assert!(!response.contains("+66811111111"), "{response}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
    ] {
        let (status, response) = get_as(&server.base, &host, "/_local/outbox");
        assert_eq!(status, 200, "{host}: {response}");
    }
}
