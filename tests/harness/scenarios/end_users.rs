//! DESIGN §3 and §5.8: the end user behind a client's call. The per-IP limit
//! counts the address a client forwards (`end_user_ip`, `X-End-User-IP`),
//! IPv6 by /64; never a backend's own address unless the client says its
//! callers are the users' devices; and only an authenticated client's.

use crate::{CLIENT_ID, CLIENT_SECRET, START_MS, TestApp, json_event, test_settings, with_header};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use serde_json::{Value, json};

/// The `n`-th test number, each in a number range of its own, so that the
/// per-range cap (numbers sharing all but their last four digits) never
/// interferes.
fn phone(n: usize) -> String {
    format!("0812{n:02}5678")
}

fn ask(client_id: &str, n: usize) -> Value {
    json!({"client_id": client_id, "client_secret": CLIENT_SECRET, "mobile_no": phone(n)})
}

/// A native request for phone `n`, with the end user's address in the body
/// (`field`) and/or the header.
async fn request(t: &TestApp, n: usize, field: Option<&str>, header: Option<&str>) -> u16 {
    let mut body = ask(CLIENT_ID, n);
    if let Some(ip) = field {
        body["end_user_ip"] = json!(ip);
    }
    let mut event = json_event("request-otp", &body);
    if let Some(ip) = header {
        event = with_header(event, "x-end-user-ip", ip);
    }
    let answer = t.call_event(Function::RequestOtp, event).await;
    if answer.status != 200 {
        assert_eq!(answer.error(), "rate_limited", "{answer:?}");
        assert!(answer.header("retry-after").is_some());
    }
    answer.status
}

async fn client_with(t: &TestApp, id: &str, settings: ClientSettings) {
    t.store
        .put_client(&ClientRecord::new(id, CLIENT_SECRET, settings))
        .await
        .unwrap();
}

pub async fn rule_5_8_per_ip_limit_counts_the_forwarded_end_user_address(t: &TestApp) {
    let user = "198.51.100.7";
    for n in 0..10 {
        let (field, header) = if n % 2 == 0 {
            (Some(user), None)
        } else {
            (None, Some(user))
        };
        assert_eq!(request(t, n, field, header).await, 200, "request {n}");
    }
    assert_eq!(request(t, 10, Some(user), None).await, 429);
    assert_eq!(request(t, 11, None, Some(user)).await, 429);
    assert_eq!(request(t, 12, Some(user), Some(user)).await, 429);
    // Both given: the field counts, the header is only checked (API document).
    assert_eq!(request(t, 13, Some(user), Some("198.51.100.9")).await, 429);
    assert_eq!(request(t, 14, Some("198.51.100.8"), Some(user)).await, 200);

    // IPv6: one subscriber's /64 is one subject, whatever host it picks.
    for n in 0..10 {
        let host = format!("2001:db8:aa:bb::{:x}", n + 1);
        assert_eq!(request(t, 20 + n, Some(&host), None).await, 200);
    }
    assert_eq!(
        request(t, 30, Some("2001:db8:aa:bb:ffff::1"), None).await,
        429
    );
    assert_eq!(request(t, 31, Some("2001:db8:aa:bc::1"), None).await, 200);

    t.clock.set(START_MS + 60_000);
    assert_eq!(request(t, 32, Some(user), None).await, 200, "a new minute");
}

pub async fn rule_5_8_a_backend_forwarding_no_address_is_not_limited_by_its_own(t: &TestApp) {
    // Every event comes from the backend's 203.0.113.10: 25 different users
    // in one minute are not one person.
    for n in 0..25 {
        assert_eq!(request(t, n, None, None).await, 200, "request {n}");
    }
}

pub async fn rule_5_8_clients_whose_callers_are_end_users_count_the_calling_address(t: &TestApp) {
    let device_app = ClientSettings {
        callers_are_end_users: true,
        ..test_settings()
    };
    client_with(t, "device-app", device_app).await;
    let call = |n: usize, forwarded: Option<&'static str>| {
        let mut body = ask("device-app", n);
        if let Some(ip) = forwarded {
            body["end_user_ip"] = json!(ip);
        }
        async move {
            t.call(Function::RequestOtp, "request-otp", &body)
                .await
                .status
        }
    };
    for n in 0..10 {
        assert_eq!(call(n, None).await, 200, "request {n}");
    }
    assert_eq!(call(10, None).await, 429, "the 11th from 203.0.113.10");
    // A device may forward any address it likes: none is taken.
    assert_eq!(
        call(11, Some("198.51.100.20")).await,
        429,
        "a forwarded address changes nothing"
    );
    // Not counted, but still what the API document says it is.
    let answer = t
        .call(Function::RequestOtp, "request-otp", &{
            let mut body = ask("device-app", 12);
            body["end_user_ip"] = json!("not an address");
            body
        })
        .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
}

pub async fn rule_5_8_a_forged_end_user_address_from_a_failing_client_changes_nothing(t: &TestApp) {
    let victim = "198.51.100.9";
    for n in 0..15 {
        let mut body = ask(CLIENT_ID, n);
        body["client_secret"] = json!("not-the-secret");
        let event = with_header(json_event("request-otp", &body), "x-end-user-ip", victim);
        let answer = t.call_event(Function::RequestOtp, event).await;
        assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    }
    // Even a malformed address is the client's to give: authentication first.
    let mut body = ask(CLIENT_ID, 0);
    body["client_secret"] = json!("not-the-secret");
    body["end_user_ip"] = json!("not an address");
    let answer = t.call(Function::RequestOtp, "request-otp", &body).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    assert!(t.outbox.entries().is_empty());
    // The victim's address has all of its minute left.
    for n in 0..10 {
        assert_eq!(request(t, n, None, Some(victim)).await, 200, "request {n}");
    }
    assert_eq!(request(t, 10, None, Some(victim)).await, 429);
}

pub async fn rule_5_8_end_user_addresses_are_checked_in_every_dialect(t: &TestApp) {
    let native = |field: Option<&str>, header: Option<&str>| {
        let mut body = ask(CLIENT_ID, 0);
        if let Some(ip) = field {
            body["end_user_ip"] = json!(ip);
        }
        let mut event = json_event("request-otp", &body);
        if let Some(ip) = header {
            event = with_header(event, "x-end-user-ip", ip);
        }
        t.call_event(Function::RequestOtp, event)
    };
    for (field, header, message) in [
        (
            Some("not an address"),
            None,
            "end_user_ip must be an IPv4 or IPv6 address",
        ),
        (
            None,
            Some("198.51.100.1, 203.0.113.10"),
            "end_user_ip must be an IPv4 or IPv6 address",
        ),
        (
            None,
            Some("198.51.100.1:443"),
            "end_user_ip must be an IPv4 or IPv6 address",
        ),
        // A header beside the field is not counted, but must be an address.
        (
            Some("198.51.100.1"),
            Some(""),
            "end_user_ip must be an IPv4 or IPv6 address",
        ),
        (
            Some("198.51.100.1"),
            Some("not an address"),
            "end_user_ip must be an IPv4 or IPv6 address",
        ),
    ] {
        let answer = native(field, header).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(
            (answer.error(), answer.body["errorMessage"].as_str()),
            ("invalid_request", Some(message))
        );
    }
    let bad = "300.1.2.3";
    let one_id = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": phone(1), "id_card_num": "1234567890121",
    });
    let one_id = with_header(json_event("oneid-request", &one_id), "x-end-user-ip", bad);
    let answer = t.call_event(Function::RequestOtp, one_id).await;
    assert_eq!(
        (answer.status, &answer.body["errorMessage"]),
        (400, &json!("invalid request"))
    );
    let thaibulksms = json!({"key": CLIENT_ID, "secret": CLIENT_SECRET, "msisdn": phone(2)});
    let thaibulksms = with_header(
        json_event("thaibulksms-request", &thaibulksms),
        "x-end-user-ip",
        bad,
    );
    let answer = t.call_event(Function::RequestOtp, thaibulksms).await;
    assert_eq!(
        (answer.status, &answer.body["message"]),
        (400, &json!("Invalid Paramete."))
    );
    let template: String = test_settings().templates["en"]
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut esms = crate::api_event("esms-gencode-get", None, None);
    esms["rawQueryString"] = json!(format!(
        "Phone={}&ApiKey={CLIENT_ID}&SecretKey={CLIENT_SECRET}&Brandname=TestSender&Type=2&message={template}",
        phone(3)
    ));
    esms.as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    let answer = t
        .call_event(
            Function::RequestOtp,
            with_header(esms, "x-end-user-ip", bad),
        )
        .await;
    assert_eq!(
        (answer.status, &answer.body["CodeResult"]),
        (200, &json!("147"))
    );
    assert!(t.outbox.entries().is_empty());
}

pub async fn rule_5_8_per_client_limit_per_minute(t: &TestApp) {
    let tight = ClientSettings {
        sends_per_client_per_minute: 2,
        ..test_settings()
    };
    client_with(t, "tight-app", tight).await;
    for n in 0..2 {
        let answer = t
            .call(Function::RequestOtp, "request-otp", &ask("tight-app", n))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let third = t
        .call(Function::RequestOtp, "request-otp", &ask("tight-app", 2))
        .await;
    assert_eq!((third.status, third.error()), (429, "rate_limited"));
    t.clock.set(START_MS + 60_000);
    let next_minute = t
        .call(Function::RequestOtp, "request-otp", &ask("tight-app", 3))
        .await;
    assert_eq!(next_minute.status, 200, "a new minute");
}
