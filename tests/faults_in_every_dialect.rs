//! Fail closed (DESIGN §5.10) in every dialect, for faults before a call
//! (DynamoDB unreachable) and after it (the write happened, its answer was
//! lost), and for an SMS that went out while SNS's answer was lost. Each
//! case checks the answer (a 5xx in the route's own format, or the dialect's
//! own refusal, with nothing internal in it) and then what was left stored,
//! through what the user can do next. docs/operations.md, "Failures and what the user
//! sees" lists the outcomes.

use otp_integration_tests::dialects::{DIALECTS, Dialect, ID_CARD};
use otp_integration_tests::faults::{Fault, LosingSms};
use otp_integration_tests::{Answer, CLIENT_ID, START_MS, TestApp, memory_store};
use otp_shared::clock::ManualClock;
use otp_shared::sms::Outbox;
use serde_json::Value;
use std::sync::Arc;

const PHONE: &str = "0812345678";

/// The route's own answer to an internal fault: a 5xx with an opaque id
/// (One ID's format has none), nothing internal.
fn assert_internal_fault(dialect: Dialect, answer: &Answer) {
    assert!(
        !answer.body.to_string().contains("injected"),
        "{dialect:?}: internal detail leaked: {answer:?}"
    );
    let id = match dialect {
        Dialect::Native => {
            assert_eq!(answer.error(), "internal_error", "{answer:?}");
            answer.body["errorId"].as_str()
        }
        Dialect::OneId => {
            assert_eq!(answer.body["errorMessage"], "Internal Server Error");
            Some("")
        }
        Dialect::ThaiBulkSmsV1 => answer.body["error"]["error_id"].as_str(),
        Dialect::ThaiBulkSmsV2 => answer.body["error_id"].as_str(),
        Dialect::Esms => {
            assert_eq!(answer.body["CodeResult"], "500", "{answer:?}");
            answer.body["ErrorId"].as_str()
        }
    };
    assert_eq!(answer.status, 500, "{dialect:?}: {answer:?}");
    assert!(id.is_some(), "{dialect:?}: no error id in {answer:?}");
}

/// Faults strike above the store, whichever it is: the in-memory store, with
/// DynamoDB's semantics (tests/storage.rs), keeps the 70 cases fast;
/// tests/faults.rs injects them over DynamoDB Local.
async fn app() -> TestApp {
    let t = TestApp::memory().await;
    t.register(CLIENT_ID, PHONE, ID_CARD, "acc-1", "user.1")
        .await;
    t
}

/// A fault at each store call a code request makes, before the call or
/// after it: a 5xx; once the store is back, the same phone gets a code (at
/// once if nothing was written or all was let go, after its claim lapsed or
/// the cooldown if a claim or the challenge was written) and logs in with
/// it. Nothing is sent, but when the write that starts the challenge beside
/// the SMS fails: then its code is dead.
#[tokio::test]
async fn request_faults_before_and_after_each_store_call_fail_closed_in_every_dialect() {
    for dialect in DIALECTS {
        for operation in ["client", "claim_slot", "count", "user", "start_challenge"] {
            // Only One ID's requests (with an ID card) read the directory.
            if operation == "user" && dialect != Dialect::OneId {
                continue;
            }
            for fault in [Fault::Before, Fault::After] {
                let case = format!("{dialect:?}, {operation} {fault:?}");
                let t = app().await;
                t.faults.fail_at(operation, fault);
                assert_internal_fault(dialect, &dialect.request(&t, PHONE).await);
                t.faults.heal();
                let texted = operation == "start_challenge";
                assert_eq!(t.outbox.entries().is_empty(), !texted, "{case}: sent");

                let held = matches!(operation, "claim_slot" | "start_challenge")
                    && (operation, fault) != ("claim_slot", Fault::Before);
                let at_once = dialect.request(&t, PHONE).await;
                assert_eq!(dialect.succeeded(&at_once), !held, "{case}: {at_once:?}");
                t.clock.advance_secs(61);
                let sent = dialect.request(&t, PHONE).await;
                assert!(dialect.succeeded(&sent), "{case}: {sent:?}");
                let confirmed = dialect
                    .confirm_code(&t, &sent.body, PHONE, &t.last_sms().code)
                    .await;
                assert!(dialect.succeeded(&confirmed), "{case}: {confirmed:?}");
            }
        }
    }
}

/// A fault at each store call a confirm makes, before or after: a 5xx (One
/// ID names a failed consume "generate refresh token unsuccessful"); once
/// the store is back, the code still works, unless the fault struck after
/// the consume was written: then it is spent, as it would be had the answer
/// arrived, and the user asks for a new one.
#[tokio::test]
async fn confirm_faults_before_and_after_each_store_call_fail_closed_in_every_dialect() {
    for dialect in DIALECTS {
        // The client record was read (and cached) by the request.
        for operation in ["count_attempt", "user", "consume"] {
            for fault in [Fault::Before, Fault::After] {
                let case = format!("{dialect:?}, {operation} {fault:?}");
                let t = app().await;
                let sent = dialect.request(&t, PHONE).await;
                assert!(dialect.succeeded(&sent), "{case}: {sent:?}");
                let code = t.last_sms().code;
                t.faults.fail_at(operation, fault);
                let failed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
                match (dialect, operation) {
                    (Dialect::OneId, "consume") => assert_eq!(
                        (failed.status, failed.body["errorMessage"].as_str()),
                        (400, Some("generate refresh token unsuccessful")),
                        "{case}"
                    ),
                    _ => assert_internal_fault(dialect, &failed),
                }
                t.faults.heal();
                let spent = (operation, fault) == ("consume", Fault::After);
                let again = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
                assert_eq!(dialect.succeeded(&again), !spent, "{case}: {again:?}");
            }
        }
    }
}

/// The SMS went out, SNS's answer was lost: the service cannot know it
/// arrived, so it answers as for a refused SMS in the dialect's own words,
/// the code it carries is dead, and the cooldown holds.
#[tokio::test]
async fn an_sms_whose_answer_was_lost_fails_closed_in_every_dialect() {
    for dialect in DIALECTS {
        let outbox = Arc::new(Outbox::new(Arc::new(ManualClock::new(START_MS)), false));
        let sms = Arc::new(LosingSms {
            outbox: outbox.clone(),
        });
        let t = TestApp::over(Arc::new(memory_store()), Some(sms)).await;
        t.register(CLIENT_ID, PHONE, ID_CARD, "acc-1", "user.1")
            .await;
        let answer = dialect.request(&t, PHONE).await;
        assert!(dialect.sms_failed(&answer), "{dialect:?}: {answer:?}");
        let delivered = outbox.entries().pop().expect("the SMS went out");
        {
            let mut secrets = otp_integration_tests::logs::secrets();
            secrets.code(&delivered.code);
            secrets.phone(&delivered.to);
        }
        // The token or ref the failure answer would have carried: none, so
        // eSMS (by phone) is the one dialect that can even try the code.
        if dialect == Dialect::Esms {
            let tried = dialect
                .confirm_code(&t, &Value::Null, PHONE, &delivered.code)
                .await;
            assert!(!dialect.succeeded(&tried), "the code is dead: {tried:?}");
        }
        let at_once = dialect.request(&t, PHONE).await;
        assert!(
            !dialect.succeeded(&at_once),
            "{dialect:?}: the cooldown holds"
        );
    }
}
