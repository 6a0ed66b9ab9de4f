//! DESIGN §13.3, `delivery-events`: the sources' own event shapes (SNS's
//! SMS delivery-status logs as a CloudWatch Logs subscription delivers them,
//! End User Messaging's events as its configuration set's SNS topic does;
//! the documented examples in `events/delivery/`; eSMS's documented
//! callback, ThaiBulkSMS's as its public receivers read it, and a webhook
//! receiver's report to the URL each SMS was sent
//! with) replayed through the function's handler, on both stores, then read
//! back through `POST /v1/otp/status`.

use otp_integration_tests::calls::as_delivery_events;
use otp_integration_tests::delivery::{
    self, fixture, sns_logs, subscription_event, subscription_payload,
};
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, TestApp, api_at, call, test_settings, thaibulksms_callback,
};
use otp_shared::clock::{Clock, Millis};
use otp_shared::delivery::callback::Ticket;
use otp_shared::domain::challenge::{Challenge, ChallengeToken};
use otp_shared::domain::client::ClientRecord;
use otp_shared::http::Function;
use otp_shared::service::ReportsRecorded;
use serde_json::{Value, json};

/// [`delivery::eum_event`] of the fixture's message, with the context
/// `sms::eum` sends: the names, and the SMS's ticket.
fn eum_event(event_type: &str, ticket: &str, at_ms: Millis) -> Value {
    let context = json!({"challenge": "ch_named", "client": CLIENT_ID, "ticket": ticket});
    delivery::eum_event(event_type, &context, at_ms, None)
}

async fn deliver(t: &TestApp, event: &Value) -> Result<ReportsRecorded, otp_shared::Error> {
    as_delivery_events(t.app.record_delivery_event(event)).await
}

async fn status(t: &TestApp, token: &str) -> Value {
    let answer = t.status_of(token).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["data"].clone()
}

fn challenge_id(token: &str) -> String {
    Challenge::id_of(&ChallengeToken::parse(token).unwrap().1)
}

/// How many metric lines scored the delivery alarm.
fn scores(t: &TestApp) -> usize {
    t.metrics
        .lines()
        .iter()
        .filter(|l| l.contains("SmsDeliveryMissScore"))
        .count()
}

async fn both_stores() -> [TestApp; 2] {
    [TestApp::memory().await, TestApp::dynamodb().await]
}

#[tokio::test]
async fn sns_delivery_logs_fold_into_the_challenge_sent_to_their_number() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345678").await;
        let published = t.clock.now_ms() + 200;
        let delivered = sns_logs("sns-delivery-log", "+66812345678", published, None);
        let recorded = deliver(&t, &delivered).await.unwrap();
        assert_eq!(recorded.recorded, 1, "{recorded:?}");
        let data = status(&t, &token).await;
        assert_eq!(
            (data["delivery"].as_str(), data["provider"].as_str()),
            (Some("delivered"), Some("sns"))
        );

        // A late "unknown" of the same SMS, and the same log again: no change.
        let unknown = sns_logs("sns-delivery-failure-log", "+66812345678", published, None);
        deliver(&t, &unknown).await.unwrap();
        deliver(&t, &delivered).await.unwrap();
        assert_eq!(status(&t, &token).await["delivery"], "delivered");
        // Counted once, per client, calling code and provider; what changed
        // nothing counts nothing.
        assert_eq!(t.metrics.by_provider("SmsReportedDelivered", "sns"), 1);
        assert_eq!(
            t.metrics
                .count("SmsReportedDelivered", CLIENT_ID, Some("66")),
            1
        );
        assert_eq!(t.metrics.by_provider("SmsReportedUnknown", "sns"), 0);
    }
}

#[tokio::test]
async fn an_sns_failure_log_says_why_in_the_status() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345679").await;
        let event = sns_logs(
            "sns-delivery-failure-log",
            "+66812345679",
            t.clock.now_ms() + 100,
            Some("Phone carrier has blocked this message"),
        );
        assert_eq!(deliver(&t, &event).await.unwrap().recorded, 1);
        let data = status(&t, &token).await;
        assert_eq!(data["delivery"], "blocked");
        assert_eq!(data["reason"], "carrier_blocked");
        let line: Value = t
            .metrics
            .lines()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l.get("SmsReportedBlocked").is_some())
            .expect("the report is counted");
        assert_eq!(
            (&line["Reason"], &line["Provider"], &line["CallingCode"]),
            (&json!("carrier_blocked"), &json!("sns"), &json!("66"))
        );
        assert_eq!(line["SmsDeliveryMissScore"], 1.0);
    }
}

/// SNS's logs hold every SMS of the account: one of another sender, or of
/// a number this service sent nothing to, matches no challenge. While it is
/// young its challenge may yet be written (the publish and the write run
/// side by side), so the invocation fails and CloudWatch Logs delivers it
/// again; an old one is dropped.
#[tokio::test]
async fn an_sns_log_of_no_challenge_is_asked_for_again_while_young_then_dropped() {
    for t in both_stores().await {
        let young = sns_logs("sns-delivery-log", "+66811111111", t.clock.now_ms(), None);
        assert!(
            deliver(&t, &young).await.is_err(),
            "a young unmatched report is retried"
        );
        t.clock.advance_secs(180);
        let recorded = deliver(&t, &young).await.unwrap();
        assert_eq!((recorded.recorded, recorded.unmatched), (0, 1));
    }
}

/// Another sender's SMS to the same number, long before the request: it is
/// not this challenge's, whatever it says.
#[tokio::test]
async fn an_sns_log_of_a_publish_before_the_request_is_not_the_challenges() {
    for t in both_stores().await {
        let earlier = t.clock.now_ms() - 600_000;
        let (token, _, _) = t.code_for("0812345670").await;
        let failed = sns_logs("sns-delivery-failure-log", "+66812345670", earlier, None);
        let recorded = deliver(&t, &failed).await.unwrap();
        assert_eq!((recorded.recorded, recorded.unmatched), (0, 1));
        assert_eq!(status(&t, &token).await["delivery"], "sent");
    }
}

/// End User Messaging's events name the challenge by the ticket the send's
/// context carried: in any order, each arriving twice, the final state is
/// the same.
#[tokio::test]
async fn eum_events_fold_by_the_context_they_echo_in_any_order() {
    let orders: [[&str; 3]; 3] = [
        ["TEXT_PENDING", "TEXT_SUCCESSFUL", "TEXT_DELIVERED"],
        ["TEXT_DELIVERED", "TEXT_PENDING", "TEXT_SUCCESSFUL"],
        ["TEXT_SUCCESSFUL", "TEXT_DELIVERED", "TEXT_PENDING"],
    ];
    for t in both_stores().await {
        for (i, order) in orders.iter().enumerate() {
            let (token, _, _) = t.code_for(&format!("081234560{i}")).await;
            let start = t.clock.now_ms();
            for (n, event_type) in order.iter().chain(order.iter()).enumerate() {
                let event = eum_event(event_type, &ticket(&t, "eum", &token), start + n as i64);
                assert_eq!(deliver(&t, &event).await.unwrap().recorded, 1);
            }
            let data = status(&t, &token).await;
            assert_eq!(data["delivery"], "delivered", "{order:?}");
            assert_eq!(data["provider"], "eum");
        }
        // Each code's first final report scores the delivery alarm, once,
        // however often and in whatever order its reports come.
        let scored = scores(&t);
        assert_eq!(scored, orders.len(), "one score per code");
    }
}

#[tokio::test]
async fn events_of_no_source_fold_nothing_and_are_not_retried() {
    let t = TestApp::memory().await;
    let garbage = deliver(&t, &json!({"hello": "world"})).await.unwrap();
    assert!(garbage.unreadable);
    let not_gzip = deliver(&t, &json!({"awslogs": {"data": "aGVsbG8="}}))
        .await
        .unwrap();
    assert!(not_gzip.unreadable);
    let control = json!({"messageType": "CONTROL_MESSAGE", "logGroup": "", "logEvents": [
        {"id": "1", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda."}]});
    let checked = deliver(&t, &subscription_event(&control)).await.unwrap();
    assert_eq!(checked, ReportsRecorded::default());
    let voice = eum_event("VOICE_COMPLETED", "not.sealed", 1);
    assert_eq!(
        deliver(&t, &voice).await.unwrap(),
        ReportsRecorded::default()
    );
}

/// `sam local invoke DeliveryEventsFunction -e` takes the subscription
/// fixture: it is the log fixture, gzipped as CloudWatch Logs sends it.
#[test]
fn the_subscription_fixture_is_the_log_fixture_as_cloudwatch_logs_sends_it() {
    assert_eq!(
        subscription_payload(&fixture("sns-delivery-log-subscription")),
        fixture("sns-delivery-log")
    );
}

/// Each state a provider reports is counted under its own metric, and a
/// code's first final state scores the delivery alarm: +1 for a missed SMS,
/// less for one that arrived.
#[tokio::test]
async fn each_reported_state_is_counted_under_its_own_metric() {
    let t = TestApp::memory().await;
    for (i, (event_type, metric, score)) in [
        ("TEXT_CARRIER_UNREACHABLE", "SmsReportedFailed", 1.0),
        ("TEXT_TTL_EXPIRED", "SmsReportedExpired", 1.0),
        ("TEXT_UNKNOWN", "SmsReportedUnknown", 1.0),
        ("TEXT_SPAM", "SmsReportedBlocked", 1.0),
        ("TEXT_SUCCESSFUL", "SmsReportedSent", f64::NAN),
        ("TEXT_DELIVERED", "SmsReportedDelivered", -25.0 / 75.0),
    ]
    .into_iter()
    .enumerate()
    {
        let (token, _, _) = t.code_for(&format!("08123456{i:02}")).await;
        let event = eum_event(event_type, &ticket(&t, "eum", &token), t.clock.now_ms());
        deliver(&t, &event).await.unwrap();
        let line: Value = t
            .metrics
            .lines()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .rfind(|l| l.get(metric).is_some())
            .unwrap_or_else(|| panic!("{event_type} is counted as {metric}"));
        assert_eq!(line["Provider"], "eum", "{event_type}");
        match line["SmsDeliveryMissScore"].as_f64() {
            // Taken by the carrier: not a final state, no score.
            None => assert!(score.is_nan(), "{event_type} is not scored"),
            Some(counted) => assert!((counted - score).abs() < 1e-9, "{event_type}: {counted}"),
        }
    }
}

/// The path of a provider's callback for `token`'s code, as the request
/// gave it to the provider (`delivery::callback`).
fn callback_path(t: &TestApp, kind: &str, token: &str) -> String {
    format!("/v1/delivery/{kind}/{}", ticket(t, kind, token))
}

/// The ticket the provider `kind`'s reports of `token`'s code carry, as the
/// request sealed it.
fn ticket(t: &TestApp, kind: &str, token: &str) -> String {
    let (_, sealed) = Ticket::seal_each(
        &t.app.secret,
        CLIENT_ID,
        &challenge_id(token),
        "66",
        t.clock.now_ms() + 300_000,
    )
    .into_iter()
    .find(|(k, _)| *k == kind)
    .unwrap();
    sealed
}

/// eSMS's documented callback for a customer-care message (its sample),
/// one recipient.
const ESMS_DELIVERED: &str = "SMSID=dc712784-9c5f-4c69-b9a8-ea69d56adc9a87&SendFailed=0&SendStatus=5&SendSuccess=1&TotalPrice=0.0000&TotalReceiver=1&TotalSent=1&RequestId=&TypeId=2&telcoid=1&phonenumber=0901888484&switchsmsid=";
const ESMS_FAILED: &str = "SMSID=dc712784-9c5f-4c69-b9a8-ea69d56adc9a87&SendFailed=1&SendStatus=5&SendSuccess=0&TotalPrice=0.0000&TotalReceiver=1&TotalSent=1&RequestId=&TypeId=2&telcoid=1&phonenumber=0901888484&switchsmsid=";

async fn esms_callback(t: &TestApp, path: &str, query: &str) -> otp_integration_tests::Answer {
    let request = api_at("delivery-esms-callback", path, Some(query), None);
    call(&t.app, Function::DeliveryEvents, request).await
}

#[tokio::test]
async fn an_esms_callback_to_its_ticket_folds_into_the_codes_state() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345671").await;
        let path = callback_path(&t, "esms", &token);
        let answer = esms_callback(&t, &path, ESMS_DELIVERED).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let data = status(&t, &token).await;
        assert_eq!(
            (data["delivery"].as_str(), data["provider"].as_str()),
            (Some("delivered"), Some("esms"))
        );
        // eSMS retries a callback up to 5 times, and a callback carries no
        // time of its own: the same one later is news of the same state, and
        // counts nothing.
        t.clock.advance_secs(30);
        assert_eq!(esms_callback(&t, &path, ESMS_DELIVERED).await.status, 200);
        assert_eq!(t.metrics.by_provider("SmsReportedDelivered", "esms"), 1);
        // The client's own eSMS account reports it: no score of the
        // delivery alarm (`a_clients_own_receiver_cannot_fire_the_delivery_alarm`).
        let scored = scores(&t);
        assert_eq!(scored, 0);
    }
}

/// Provider callbacks are authenticated by their ticket: one this
/// deployment did not seal, or sealed for another code, is a route that
/// does not exist, and the code's state does not move.
#[tokio::test]
async fn a_callback_with_a_forged_or_borrowed_ticket_is_not_found_and_changes_nothing() {
    let t = TestApp::memory().await;
    let (token, _, _) = t.code_for("0812345672").await;
    let (other, _, _) = t.code_for("0812345673").await;
    let theirs = callback_path(&t, "esms", &other);
    let (names, _) = theirs.rsplit('/').next().unwrap().split_once('.').unwrap();
    let ours = callback_path(&t, "esms", &token);
    let (_, tag) = ours.rsplit('/').next().unwrap().split_once('.').unwrap();
    for path in [
        format!("/v1/delivery/esms/{names}.{tag}"),
        format!("/v1/delivery/esms/{names}"),
        "/v1/delivery/esms/ZGVtbwpjaF9FWEFNUExFCjY2.placeholder-ticket-tag".to_string(),
    ] {
        let answer = esms_callback(&t, &path, ESMS_FAILED).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let webhook = callback_path(&t, "webhook", &other).replace("/webhook/", "/esms/");
    assert_eq!(
        esms_callback(&t, &webhook, ESMS_FAILED).await.status,
        404,
        "another provider's ticket"
    );
    assert_eq!(esms_callback(&t, &theirs, ESMS_FAILED).await.status, 200);
    assert_eq!(
        status(&t, &token).await["delivery"],
        "sent",
        "the forged reports moved nothing"
    );
    assert_eq!(status(&t, &other).await["delivery"], "failed");
}

/// ThaiBulkSMS publishes no format for its callback; the public receivers
/// of it read `message_id`, `status` and `phone` from a `GET`'s query, and
/// its dashboard offers `POST` too. The ticket names the code; only the
/// status word is read, in any case, from either method.
#[tokio::test]
async fn a_thaibulksms_callback_to_its_ticket_folds_into_the_codes_state() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345675").await;
        let path = callback_path(&t, "thaibulksms", &token);
        let send = |method: &'static str, fields: &'static str, content_type: &'static str| {
            call(
                &t.app,
                Function::DeliveryEvents,
                thaibulksms_callback(&path, method, fields, content_type),
            )
        };
        let pending = send(
            "GET",
            "message_id=tbs-7&status=pending&phone=66812345675",
            "",
        )
        .await;
        assert_eq!(pending.status, 200, "{pending:?}");
        assert_eq!(status(&t, &token).await["delivery"], "sent");
        let form = "message_id=tbs-7&status=DELIVERED&phone=66812345675";
        let delivered = send("POST", form, "application/x-www-form-urlencoded").await;
        assert_eq!(delivered.status, 200, "{delivered:?}");
        let data = status(&t, &token).await;
        assert_eq!(
            (data["delivery"].as_str(), data["provider"].as_str()),
            (Some("delivered"), Some("thaibulksms"))
        );
        // A repeat is news of the same state: counted once.
        let json = r#"{"message_id":"tbs-7","Status":"delivered"}"#;
        assert_eq!(send("POST", json, "application/json").await.status, 200);
        assert_eq!(
            t.metrics.by_provider("SmsReportedDelivered", "thaibulksms"),
            1
        );
        // The client's own ThaiBulkSMS account reports it: no score.
        assert_eq!(scores(&t), 0);
    }
}

/// A ThaiBulkSMS callback whose status names no fate of a message is
/// refused and moves nothing; one to another provider's ticket, or to no
/// ticket of this deployment, is a route that does not exist.
#[tokio::test]
async fn a_thaibulksms_callback_of_no_known_status_or_ticket_changes_nothing() {
    let t = TestApp::memory().await;
    let (token, _, _) = t.code_for("0812345676").await;
    let path = callback_path(&t, "thaibulksms", &token);
    for fields in [
        "status=converted",
        "status=",
        "message_id=tbs-8",
        "status=0",
    ] {
        let answer = call(
            &t.app,
            Function::DeliveryEvents,
            thaibulksms_callback(&path, "GET", fields, ""),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (400, Some("invalid_request")),
            "{fields}"
        );
    }
    let esms_ticket = callback_path(&t, "esms", &token).replace("/esms/", "/thaibulksms/");
    let placeholder = "/v1/delivery/thaibulksms/ZGVtbwpjaF9FWEFNUExFCjY2.placeholder-ticket-tag";
    for other in [esms_ticket.as_str(), placeholder] {
        let answer = call(
            &t.app,
            Function::DeliveryEvents,
            thaibulksms_callback(other, "GET", "status=failed", ""),
        )
        .await;
        assert_eq!(answer.status, 404, "{other}: {answer:?}");
    }
    assert_eq!(status(&t, &token).await["delivery"], "sent");
}

#[tokio::test]
async fn a_webhook_receivers_report_to_its_ticket_folds_with_a_bounded_reason() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345674").await;
        let path = callback_path(&t, "webhook", &token);
        let post = |body: &str| {
            call(
                &t.app,
                Function::DeliveryEvents,
                api_at("delivery-webhook-callback", &path, None, Some(body)),
            )
        };
        let answer =
            post(r#"{"delivery":"failed","reason":"the carrier said no, see ticket #4412"}"#).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let data = status(&t, &token).await;
        assert_eq!(
            (
                data["delivery"].as_str(),
                data["reason"].as_str(),
                data["provider"].as_str()
            ),
            (Some("failed"), Some("provider_error"), Some("webhook")),
            "a reason outside the bounded set is a provider_error"
        );
        let bad = post(r#"{"delivery":"converted"}"#).await;
        assert_eq!(
            (bad.status, bad.body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let unknown_field = post(r#"{"delivery":"delivered","phone":"0812345674"}"#).await;
        assert_eq!(unknown_field.status, 400);
        assert_eq!(post(r#"{"delivery":"delivered"}"#).await.status, 200);
        assert_eq!(status(&t, &token).await["delivery"], "delivered");
    }
}

/// A send hook's reports come from the client's own receiver, eSMS's from
/// the client's own account, whose callback URLs it can read: "failed"
/// reports to its own tickets are the client's to count, and do not score
/// the delivery alarm, which tells the operator that a calling code's
/// carriers or providers stopped delivering for everyone.
#[tokio::test]
async fn a_clients_own_receiver_cannot_fire_the_delivery_alarm() {
    let t = TestApp::memory().await;
    for i in 0..3 {
        let (token, _, _) = t.code_for(&format!("08123457{i:02}")).await;
        let path = callback_path(&t, "webhook", &token);
        let answer = call(
            &t.app,
            Function::DeliveryEvents,
            api_at(
                "delivery-webhook-callback",
                &path,
                None,
                Some(r#"{"delivery":"failed","reason":"carrier_unreachable"}"#),
            ),
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    for i in 3..6 {
        let (token, _, _) = t.code_for(&format!("08123457{i:02}")).await;
        let answer = esms_callback(&t, &callback_path(&t, "esms", &token), ESMS_FAILED).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let lines: Vec<Value> = t
        .metrics
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = lines
        .iter()
        .filter(|l| l.get("SmsReportedFailed").is_some())
        .count();
    assert_eq!(failed, 6, "the client's reports are counted as its own");
    let scored: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("SmsDeliveryMissScore").is_some())
        .collect();
    assert!(scored.is_empty(), "scored the delivery alarm: {scored:?}");
}

/// Two clients text one number at once through SNS: its log names only the
/// number, so neither is told it, and it is not asked for again.
#[tokio::test]
async fn an_sns_log_of_a_number_two_clients_texted_at_once_is_told_to_neither() {
    for t in both_stores().await {
        let other = ClientRecord::new("other-app", CLIENT_SECRET, test_settings());
        t.store.put_client(&other).await.unwrap();
        let (token, _, _) = t.code_for("0812345675").await;
        let theirs = t
            .call(
                Function::RequestOtp,
                "request-otp",
                &json!({"client_id": "other-app", "client_secret": CLIENT_SECRET, "mobile_no": "0812345675"}),
            )
            .await;
        assert_eq!(theirs.status, 200, "{theirs:?}");
        let failed = sns_logs(
            "sns-delivery-failure-log",
            "+66812345675",
            t.clock.now_ms(),
            None,
        );
        let recorded = deliver(&t, &failed).await.expect("not asked for again");
        assert_eq!((recorded.recorded, recorded.unmatched), (0, 1));
        assert_eq!(status(&t, &token).await["delivery"], "sent");
    }
}

/// Anyone who may publish to the events' topic (another sender on the
/// configuration set, a principal of the account) can write a challenge's
/// and a client's names in an event: without the SMS's own ticket for End
/// User Messaging, it names no code, and claims no record.
#[tokio::test]
async fn an_eum_event_without_its_smss_ticket_changes_nothing() {
    for t in both_stores().await {
        let (token, _, _) = t.code_for("0812345676").await;
        let now = t.clock.now_ms();
        let forged = [
            "no.ticket".to_string(),
            ticket(&t, "esms", &token),
            ticket(&t, "eum", &token).replace('.', ".x"),
        ];
        for ticket in &forged {
            let event = eum_event("TEXT_BLOCKED", ticket, now);
            let recorded = deliver(&t, &event).await.unwrap();
            assert_eq!((recorded.recorded, recorded.unmatched), (0, 1), "{ticket}");
        }
        let event = eum_event("TEXT_DELIVERED", &ticket(&t, "eum", &token), now);
        assert_eq!(deliver(&t, &event).await.unwrap().recorded, 1);
        assert_eq!(status(&t, &token).await["delivery"], "delivered");
    }
}

/// A line of a subscription's batch that is not SNS's log is skipped; the
/// batch's other lines still fold.
#[tokio::test]
async fn an_unreadable_log_line_skips_itself_not_its_batch() {
    let t = TestApp::memory().await;
    let (token, _, _) = t.code_for("0812345677").await;
    let good = sns_logs("sns-delivery-log", "+66812345677", t.clock.now_ms(), None);
    let mut payload = subscription_payload(&good);
    let line = payload["logEvents"][0].clone();
    payload["logEvents"] =
        json!([{"id": "1", "timestamp": 1, "message": "not a delivery log"}, line]);
    let recorded = deliver(&t, &subscription_event(&payload)).await.unwrap();
    assert_eq!(recorded.recorded, 1, "{recorded:?}");
    assert_eq!(status(&t, &token).await["delivery"], "delivered");
}
