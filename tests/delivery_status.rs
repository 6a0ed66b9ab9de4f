//! DESIGN §13.3 through the real handler: `POST /v1/otp/status` tells the
//! client that asked for a code what became of its SMS: the fold of what the
//! challenge says (sent, confirmed) and of the providers' reports, in the
//! native envelope; another client learns nothing; a device app of a
//! registered-only client hears no report that would tell its decoys from
//! real sends (DESIGN §5.9).

use otp_integration_tests::{CLIENT_ID, CLIENT_SECRET, TestApp, test_settings};
use otp_shared::clock::Clock;
use otp_shared::domain::challenge::Challenge;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::delivery::{DeliveryEvent, DeliveryRecord, DeliveryState};
use otp_shared::http::Function;
use serde_json::{Value, json};

const PHONE: &str = "0812345678";

async fn status(t: &TestApp, fields: Value) -> (u16, Value) {
    let answer = t.call(Function::ConfirmOtp, "otp-status", &fields).await;
    (answer.status, answer.body)
}

fn by_token(token: &str) -> Value {
    json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": token})
}

/// The challenge id the token of a request's answer names.
fn challenge_id(token: &str) -> String {
    let (_, hash) = otp_shared::domain::challenge::ChallengeToken::parse(token).unwrap();
    Challenge::id_of(&hash)
}

fn report(t: &TestApp, token: &str, state: DeliveryState, reason: Option<&str>) -> DeliveryRecord {
    let event = DeliveryEvent {
        state,
        reason: reason.map(str::to_string),
        provider: "sns".into(),
        at_ms: t.clock.now_ms() + 1_000,
    };
    DeliveryRecord::new(challenge_id(token), CLIENT_ID.into(), event, None)
}

#[tokio::test]
async fn the_status_follows_a_code_from_sent_through_reports_to_converted() {
    let t = TestApp::memory().await;
    let (token, ref_code, code) = t.code_for(PHONE).await;
    let (status_code, body) = status(&t, by_token(&token)).await;
    assert_eq!(status_code, 200, "{body}");
    assert_eq!(body["result"], "Success");
    assert_eq!(body["data"]["delivery"], "sent");
    assert_eq!(body["data"]["provider"], "sns");
    assert_eq!(body["data"]["reason"], Value::Null);
    assert!(body["data"]["updated_at"].as_str().unwrap().ends_with('Z'));
    let by_reference = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": PHONE, "ref_code": ref_code.to_lowercase()});
    assert_eq!(
        status(&t, by_reference.clone()).await.1["data"]["delivery"],
        "sent"
    );

    // The provider's reports, in any order: the final one wins.
    let now = t.clock.now_ms();
    for (state, reason) in [
        (DeliveryState::Delivered, None),
        (DeliveryState::Sent, None),
        (DeliveryState::Failed, Some("carrier_unreachable")),
    ] {
        t.store
            .record_delivery(&report(&t, &token, state, reason), now)
            .await
            .unwrap();
    }
    let data = status(&t, by_token(&token)).await.1["data"].clone();
    assert_eq!(
        (data["delivery"].as_str(), data["delivered"].as_str()),
        (Some("delivered"), Some("reported"))
    );

    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let data = status(&t, by_token(&token)).await.1["data"].clone();
    assert_eq!(
        (data["delivery"].as_str(), data["delivered"].as_str()),
        (Some("converted"), Some("reported")),
        "the provider's report of delivery stays known through the confirm"
    );
    assert_eq!(
        status(&t, by_reference).await.1["data"]["delivery"],
        "converted"
    );
}

/// Where carriers send no handset receipts (Vietnam's), no provider ever
/// reports a delivery: the confirm is the only sign the SMS arrived, and the
/// status says it is inferred from it. Before the confirm: not known; a
/// receipt after it: reported.
#[tokio::test]
async fn a_code_confirmed_without_a_delivery_report_reads_delivered_inferred_from_the_confirm() {
    for t in [TestApp::memory().await, TestApp::dynamodb().await] {
        let (token, _, code) = t.code_for(PHONE).await;
        let now = t.clock.now_ms();
        t.store
            .record_delivery(&report(&t, &token, DeliveryState::Sent, None), now)
            .await
            .unwrap();
        let data = status(&t, by_token(&token)).await.1["data"].clone();
        assert_eq!(
            (data["delivery"].as_str(), &data["delivered"]),
            (Some("sent"), &Value::Null)
        );
        let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
        assert_eq!(confirmed.status, 200, "{confirmed:?}");
        let data = status(&t, by_token(&token)).await.1["data"].clone();
        assert_eq!(
            (data["delivery"].as_str(), data["delivered"].as_str()),
            (Some("converted"), Some("inferred"))
        );
        // The receipt, after the confirm: reported after all.
        let now = t.clock.now_ms();
        t.store
            .record_delivery(&report(&t, &token, DeliveryState::Delivered, None), now)
            .await
            .unwrap();
        let data = status(&t, by_token(&token)).await.1["data"].clone();
        assert_eq!(
            (data["delivery"].as_str(), data["delivered"].as_str()),
            (Some("converted"), Some("reported"))
        );
    }
}

/// A report alone, when the slot holds a newer challenge by now: still told.
#[tokio::test]
async fn a_replaced_challenges_reports_are_still_told_for_its_token() {
    let t = TestApp::memory().await;
    let (token, _, _) = t.code_for(PHONE).await;
    let now = t.clock.now_ms();
    let failed = report(
        &t,
        &token,
        DeliveryState::Failed,
        Some("carrier_unreachable"),
    );
    t.store.record_delivery(&failed, now).await.unwrap();
    t.clock.advance_secs(61);
    let (newer, _, _) = t.code_for(PHONE).await;
    let (_, body) = status(&t, by_token(&token)).await;
    assert_eq!(body["data"]["delivery"], "failed");
    assert_eq!(body["data"]["reason"], "carrier_unreachable");
    assert_eq!(
        status(&t, by_token(&newer)).await.1["data"]["delivery"],
        "sent"
    );
}

#[tokio::test]
async fn another_clients_credentials_learn_nothing_of_a_code() {
    let t = TestApp::memory().await;
    let (token, _, _) = t.code_for(PHONE).await;
    t.store
        .put_client(&ClientRecord::new(
            "other-app",
            CLIENT_SECRET,
            test_settings(),
        ))
        .await
        .unwrap();
    let theirs = json!({"client_id": "other-app", "client_secret": CLIENT_SECRET, "token": token});
    let (code, body) = status(&t, theirs).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("otp_expired")),
        "{body}"
    );
    let wrong_secret = json!({"client_id": CLIENT_ID, "client_secret": "not-the-secret-0123456789", "token": token});
    assert_eq!(status(&t, wrong_secret).await.0, 401);
}

#[tokio::test]
async fn bad_status_questions_get_stable_errors() {
    let t = TestApp::memory().await;
    for (fields, error) in [
        (
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
            "invalid_request",
        ),
        (
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": "x", "ref_code": "ABC234"}),
            "invalid_request",
        ),
        (
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": "not-a-token"}),
            "otp_expired",
        ),
        (
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": "t", "otp": "123456"}),
            "invalid_request",
        ),
    ] {
        let (code, body) = status(&t, fields.clone()).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some(error)),
            "{fields}: {body}"
        );
    }
}

/// DESIGN §5.9: a device app of a registered-only client may be an end user
/// probing numbers. Its unknown numbers get decoys that no provider reports
/// on; so its known numbers' reports are not told either: both read `sent`.
#[tokio::test]
async fn a_device_app_cannot_tell_a_decoy_from_a_real_send_by_its_status() {
    let t = TestApp::memory().await;
    let settings = ClientSettings {
        require_registered_users: true,
        callers_are_end_users: true,
        ..test_settings()
    };
    t.serve_test_client(settings, PHONE).await;
    let known = t.request_otp(PHONE).await;
    let unknown = t.request_otp("0899999998").await;
    let token = |answer: &otp_integration_tests::Answer| {
        answer.body["data"]["token"].as_str().unwrap().to_string()
    };
    let (known, unknown) = (token(&known), token(&unknown));
    let now = t.clock.now_ms();
    let delivered = report(&t, &known, DeliveryState::Delivered, None);
    t.store.record_delivery(&delivered, now).await.unwrap();
    let (_, a) = status(&t, by_token(&known)).await;
    let (_, b) = status(&t, by_token(&unknown)).await;
    assert_eq!(a["data"]["delivery"], "sent");
    assert_eq!(a["data"]["delivery"], b["data"]["delivery"]);
    assert_eq!(a["data"]["provider"], b["data"]["provider"]);
}

/// The confirm writes `converted` into the delivery record in the consume's
/// own write: a newer code replacing the challenge does not take it away.
#[tokio::test]
async fn a_confirmed_code_stays_converted_after_a_newer_code_replaces_it() {
    let t = TestApp::memory().await;
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    t.clock.advance_secs(61);
    let (newer, _, _) = t.code_for(PHONE).await;
    let (_, body) = status(&t, by_token(&token)).await;
    assert_eq!(body["data"]["delivery"], "converted");
    assert_eq!(body["data"]["provider"], "sns");
    assert_eq!(
        status(&t, by_token(&newer)).await.1["data"]["delivery"],
        "sent"
    );
}
