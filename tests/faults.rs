//! Fail closed (DESIGN §5.10): a fault at each external call of each
//! operation answers 5xx with an opaque error id and leaves no half state.
//! Each test checks what is stored once the fault is gone.

use otp_integration_tests::faults::{Fault, FaultySigner, HarnessStore};
use otp_integration_tests::{
    Answer, CLIENT_ID, CLIENT_SECRET, RefusingSms, START_MS, TestApp, api_request, call,
    dynamo_store, local_signer, refresh_request, revoke_request,
};
use otp_shared::http::Function;
use otp_shared::sms::SmsSender;
use otp_shared::store::Store;
use std::sync::Arc;

const PHONE: &str = "0812345678";

async fn faulty(
    sms: Option<Arc<dyn SmsSender>>,
) -> (TestApp, Arc<HarnessStore>, Arc<FaultySigner>) {
    let signer = Arc::new(FaultySigner::new(local_signer()));
    let t = TestApp::build(
        Arc::new(dynamo_store().await),
        sms,
        signer.clone(),
        START_MS,
    )
    .await;
    let store = t.faults.clone();
    (t, store, signer)
}

fn assert_opaque_500(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.error()),
        (500, "internal_error"),
        "{answer:?}"
    );
    let id = answer.body["errorId"].as_str().expect("an error id");
    assert!(answer.body["errorMessage"].as_str().unwrap().contains(id));
    assert!(
        !answer.body.to_string().contains("injected"),
        "no internal detail leaks"
    );
}

async fn refresh(t: &TestApp, token: &str) -> Answer {
    call(&t.app, Function::IssueToken, refresh_request(token)).await
}

#[tokio::test]
async fn request_fault_at_the_claim_writes_nothing() {
    let (t, store, _) = faulty(None).await;
    store.fail("claim_slot");
    assert_opaque_500(&t.request_otp(PHONE).await);
    assert!(t.outbox.entries().is_empty());
    store.heal();
    // No claim, no cooldown, no counted send was left behind.
    for _ in 0..5 {
        assert_eq!(t.request_otp(PHONE).await.status, 200);
        t.clock.advance_secs(60);
    }
}

/// The write that makes the challenge live runs beside the SMS: when it
/// fails, the code that went out can never be confirmed (fail closed), and
/// the request's claim keeps the phone's slot until it lapses.
#[tokio::test]
async fn a_fault_starting_the_challenge_fails_closed() {
    let (t, store, _) = faulty(None).await;
    store.fail("start_challenge");
    let failed = t.request_otp(PHONE).await;
    assert_opaque_500(&failed);
    store.heal();
    let sent = t.last_sms();
    let ref_at = sent
        .message
        .find("(ref ")
        .expect("the template names the ref")
        + 5;
    let body = serde_json::json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": PHONE, "ref_code": &sent.message[ref_at..ref_at + 6],
        "otp": sent.code,
    });
    let refused = t.call(Function::ConfirmOtp, "confirm-otp", &body).await;
    assert_eq!(refused.error(), "otp_expired", "{refused:?}");
    assert_eq!(t.request_otp(PHONE).await.status, 429, "the claim holds");
    t.clock.advance_secs(30);
    let (token, _, code) = t.code_for(PHONE).await;
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token, &code).await.status,
        200
    );
}

#[tokio::test]
async fn sms_refused_and_marking_fails_still_fails_closed() {
    let (t, store, _) = faulty(Some(Arc::new(RefusingSms::default()))).await;
    store.fail("mark_undeliverable");
    assert_opaque_500(&t.request_otp(PHONE).await);
    store.heal();
    // The cooldown holds, so a failed send cannot be retried into a flood.
    assert_eq!(t.request_otp(PHONE).await.status, 429);
}

#[tokio::test]
async fn confirm_faults_before_the_consume_leave_the_code_usable() {
    for operation in ["count_attempt", "user", "consume"] {
        let (t, store, _) = faulty(None).await;
        let (token, _, code) = t.code_for(PHONE).await;
        store.fail(operation);
        assert_opaque_500(&t.confirm_by_token(CLIENT_ID, &token, &code).await);
        store.heal();
        let after = t.confirm_by_token(CLIENT_ID, &token, &code).await;
        assert_eq!(after.status, 200, "after a {operation} fault: {after:?}");
    }
}

#[tokio::test]
async fn a_fault_after_counting_an_attempt_fails_closed() {
    let (t, store, _) = faulty(None).await;
    let (token, _, code) = t.code_for(PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    store.fail_at("count_attempt", Fault::After);
    assert_opaque_500(&t.confirm_by_token(CLIENT_ID, &token, wrong).await);
    store.heal();
    // The attempt was counted, its answer lost: four wrong codes remain.
    for _ in 0..3 {
        assert_eq!(
            t.confirm_by_token(CLIENT_ID, &token, wrong).await.error(),
            "otp_invalid"
        );
    }
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token, wrong).await.error(),
        "otp_attempts_exceeded"
    );
}

#[tokio::test]
async fn a_signing_fault_at_confirm_answers_500_and_the_code_is_spent() {
    let (t, _, signer) = faulty(None).await;
    let (token, _, code) = t.code_for(PHONE).await;
    signer.set_failing(true);
    assert_opaque_500(&t.confirm_by_token(CLIENT_ID, &token, &code).await);
    signer.set_failing(false);
    // Consuming and signing run side by side: the caller learnt it failed,
    // the code is spent, and a new one can be requested after the cooldown.
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token, &code).await.error(),
        "otp_expired"
    );
    t.clock.advance_secs(60);
    let (token, _, code) = t.code_for(PHONE).await;
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token, &code).await.status,
        200
    );
}

#[tokio::test]
async fn refresh_faults_leave_the_presented_token_valid() {
    let (t, store, signer) = faulty(None).await;
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let refresh_token = confirmed.body["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    store.fail("rotate_refresh");
    assert_eq!(refresh(&t, &refresh_token).await.status, 500);
    store.heal();

    // Signing fails after the rotation was written: it is undone.
    signer.set_failing(true);
    let failed = refresh(&t, &refresh_token).await;
    assert_eq!(
        (failed.status, failed.body["error"].as_str()),
        (500, Some("server_error"))
    );
    assert!(failed.body["error_id"].is_string());
    signer.set_failing(false);

    let after = refresh(&t, &refresh_token).await;
    assert_eq!(
        after.status, 200,
        "the held token still works and was not taken for theft"
    );
    assert_eq!(
        refresh(&t, after.body["refresh_token"].as_str().unwrap())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn unrotate_only_undoes_the_rotation_it_names() {
    let store: Arc<dyn Store> = Arc::new(dynamo_store().await);
    let t = TestApp::over(store.clone(), None).await;
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let first = confirmed.body["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let second = refresh(&t, &first).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let third = refresh(&t, &second).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (family, first_hash) = otp_shared::domain::refresh::RefreshToken::parse(&first).unwrap();
    let (_, second_hash) = otp_shared::domain::refresh::RefreshToken::parse(&second).unwrap();
    // Not the latest rotation: nothing changes, the newest token stays current.
    store
        .unrotate_refresh(&family, &first_hash, &second_hash)
        .await
        .unwrap();
    assert_eq!(refresh(&t, &third).await.status, 200);
}

/// The rotation was written, its answer lost: the service gives it back (the
/// undo is conditional, a no-op if nothing was written), so the token the
/// caller holds still works instead of being taken for a stolen one.
#[tokio::test]
async fn a_refresh_rotation_whose_answer_was_lost_is_given_back() {
    let (t, store, _) = faulty(None).await;
    let refresh_token = logged_in(&t).await;
    store.fail_at("rotate_refresh", Fault::After);
    let failed = refresh(&t, &refresh_token).await;
    assert_eq!(
        (failed.status, failed.body["error"].as_str()),
        (500, Some("server_error"))
    );
    store.heal();
    let after = refresh(&t, &refresh_token).await;
    assert_eq!(after.status, 200, "the held token still works: {after:?}");
}

/// Signing fails and undoing the rotation fails too: the rotation stands,
/// the caller never got its new token, and the one it holds is spent. Its
/// next use is taken for theft and ends the family: the user logs in again.
/// Fail closed, never a second valid token.
#[tokio::test]
async fn signing_and_its_undo_both_failing_end_the_family_and_the_user_logs_in_again() {
    let (t, store, signer) = faulty(None).await;
    let refresh_token = logged_in(&t).await;
    signer.set_failing(true);
    store.fail("unrotate_refresh");
    let failed = refresh(&t, &refresh_token).await;
    assert_eq!(
        (failed.status, failed.body["error"].as_str()),
        (500, Some("server_error"))
    );
    signer.set_failing(false);
    store.heal();
    let again = refresh(&t, &refresh_token).await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    t.clock.advance_secs(61);
    logged_in(&t).await;
}

/// The revocation was written, its answer lost: a 500, and the family is
/// revoked all the same; revoking again answers 200.
#[tokio::test]
async fn a_revocation_whose_answer_was_lost_still_revoked() {
    let (t, store, _) = faulty(None).await;
    let refresh_token = logged_in(&t).await;
    store.fail_at("revoke_family", Fault::After);
    assert_eq!(revoke(&t, &refresh_token).await.status, 500);
    store.heal();
    assert_eq!(revoke(&t, &refresh_token).await.status, 200);
    let refused = refresh(&t, &refresh_token).await;
    assert_eq!(refused.body["error"], "invalid_grant");
}

#[tokio::test]
async fn jwks_answers_500_while_kms_is_unreachable() {
    let (t, _, signer) = faulty(None).await;
    signer.set_failing(true);
    let answer = call(
        &t.app,
        Function::IssueToken,
        api_request("jwks", None, None),
    )
    .await;
    assert_opaque_500(&answer);
    signer.set_failing(false);
    let answer = call(
        &t.app,
        Function::IssueToken,
        api_request("jwks", None, None),
    )
    .await;
    assert_eq!(answer.status, 200);
}

/// A mark that was written while its answer was lost: the caller hears a
/// 500, the challenge is dead all the same and the cooldown holds.
#[tokio::test]
async fn a_refused_sms_whose_mark_answer_was_lost_fails_closed() {
    let sms = Arc::new(RefusingSms::default());
    let (t, store, _) = faulty(Some(sms.clone())).await;
    store.fail_at("mark_undeliverable", Fault::After);
    let sent = t.request_otp(PHONE).await;
    assert_opaque_500(&sent);
    store.heal();
    assert_eq!(t.request_otp(PHONE).await.status, 429);
}

/// Logs the test client in: its refresh token.
async fn logged_in(t: &TestApp) -> String {
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    confirmed.body["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn revoke(t: &TestApp, token: &str) -> Answer {
    call(&t.app, Function::IssueToken, revoke_request(token)).await
}
