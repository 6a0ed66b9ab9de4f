//! The storage contract, run against both adapters (tests/storage.rs): the
//! in-memory store must decide exactly as DynamoDB's conditions do.

use crate::{CLIENT_SECRET, START_MS, server_secret, test_settings};
use otp_shared::Error;
use otp_shared::domain::authorization::{AuthorizationCode, CODE_LIFETIME_MS};
use otp_shared::domain::challenge::{
    CLAIM_MS, Challenge, ChallengeKey, ChallengeState, Claim, Refusal, Selector,
};
use otp_shared::domain::client::ClientRecord;
use otp_shared::domain::delivery::{
    DELIVERY_KEPT_MS, DeliveryEvent, DeliveryRecord, DeliveryState,
    FEEDBACK_AFTER_THE_CONFIRM_MOST, fold,
};
use otp_shared::domain::limits::{FailureCap, RateLimit};
use otp_shared::domain::refresh::{
    ABSOLUTE_LIFETIME_MS, IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal,
};
use otp_shared::domain::user::User;
use otp_shared::store::{ClaimOutcome, Folded, Issued, Release, SentChallenge, SentIndex, Store};
use std::sync::Arc;

const NOW: i64 = START_MS;

/// A cap on wrong codes that never refuses, for the tests of other rules.
const NO_CAP: FailureCap = FailureCap {
    window: NOW / 86_400_000,
    limit: 1000,
    window_end_ms: (NOW / 86_400_000 + 1) * 86_400_000,
};

fn key(phone: &str) -> ChallengeKey {
    ChallengeKey {
        client_id: "app".into(),
        phone_key: phone.into(),
    }
}

fn challenge(phone: &str, token_hash: &str) -> Challenge {
    Challenge {
        key: key(phone),
        token_hash: token_hash.into(),
        ref_code: "ABC234".into(),
        code_hash: server_secret().code_hash(token_hash, "123456"),
        attempts: 0,
        max_attempts: 5,
        created_at_ms: NOW,
        expires_at_ms: NOW + 300_000,
        resend_after_ms: NOW + 60_000,
        state: ChallengeState::Active,
        login_by: "mobile".into(),
        calling_code: "66".into(),
        directory: None,
        provider: None,
    }
}

/// Claims the slot of `c` at `at` counting `limits` and, when claimed,
/// starts `c` in it: what a request that sends its code does.
async fn start(store: &dyn Store, c: &Challenge, at: i64, limits: &[RateLimit]) -> ClaimOutcome {
    let outcome = store
        .claim_slot(&c.key, &Claim::of(c, at), at, limits)
        .await
        .unwrap();
    if outcome == ClaimOutcome::Claimed {
        assert!(store.start_challenge(c).await.unwrap(), "the claim holds");
    }
    outcome
}

/// How much of `limit` is spent, through the port alone: counted up to the
/// limit, then given back.
async fn counted(store: &dyn Store, limit: &RateLimit) -> u32 {
    let mut room = 0;
    while store.count(limit).await.unwrap() {
        room += 1;
    }
    for _ in 0..room {
        store.uncount(limit).await.unwrap();
    }
    limit.limit - room
}

fn attemptable(answer: Result<Result<Challenge, Refusal>, Error>) -> bool {
    answer.unwrap().is_ok()
}

fn family(id: &str) -> RefreshFamily {
    RefreshFamily {
        family_id: id.into(),
        client_id: "app".into(),
        account_id: "acc_1".into(),
        username: "acc_1".into(),
        login_by: "mobile".into(),
        current_hash: "h0".into(),
        revoked: false,
        created_at_ms: NOW,
        idle_expires_at_ms: NOW + IDLE_LIFETIME_MS,
    }
}

/// A consumed challenge whose login started refresh family `f` (token `h0`).
async fn logged_in(store: &dyn Store) {
    start(store, &challenge("p", "t1"), NOW, &[]).await;
    assert!(
        store
            .consume(
                &key("p"),
                "t1",
                NOW,
                NO_CAP.window,
                Issued::Family(&family("f")),
                &converted()
            )
            .await
            .unwrap()
    );
}

fn by_token(hash: &str) -> Selector {
    Selector::TokenHash(hash.into())
}

pub async fn clients_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.client("app").await.unwrap(), None);
    let record = ClientRecord::new("app", CLIENT_SECRET, test_settings());
    store.put_client(&record).await.unwrap();
    assert_eq!(store.client("app").await.unwrap(), Some(record));
}

pub async fn rule_5_8_new_challenge_refused_while_cooldown_holds(store: Arc<dyn Store>) {
    let first = challenge("p", "t1");
    assert_eq!(
        start(store.as_ref(), &first, NOW, &[]).await,
        ClaimOutcome::Claimed
    );
    let second = challenge("p", "t2");
    assert_eq!(
        start(store.as_ref(), &second, NOW + 59_999, &[]).await,
        ClaimOutcome::CoolingDown {
            resend_after_ms: NOW + 60_000
        }
    );
    // Nothing was written: the first challenge still answers.
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW + 1)
            .await
            .unwrap()
            .is_ok()
    );
    // Another phone has its own slot.
    assert_eq!(
        start(store.as_ref(), &challenge("q", "t3"), NOW, &[]).await,
        ClaimOutcome::Claimed
    );
}

pub async fn rule_5_8_new_challenge_after_cooldown_kills_the_old_code(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let mut second = challenge("p", "t2");
    second.resend_after_ms = NOW + 120_000;
    assert_eq!(
        start(store.as_ref(), &second, NOW + 60_000, &[]).await,
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW + 60_001)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t2"), &NO_CAP, NOW + 60_001)
            .await
            .unwrap()
            .is_ok()
    );
}

pub async fn attempts_need_the_right_challenge(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("other"), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &Selector::RefCode("XXXXXX".into()), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    let counted = store
        .count_attempt(&key("p"), &Selector::RefCode("ABC234".into()), &NO_CAP, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.attempts, 1);
    assert_eq!(counted.code_hash, challenge("p", "t1").code_hash);
}

pub async fn rule_5_5_attempts_end_at_expiry(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW + 299_999)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW + 300_000)
            .await
            .unwrap(),
        Err(Refusal::Expired)
    );
    assert!(
        !store
            .consume(
                &key("p"),
                "t1",
                NOW + 300_000,
                NO_CAP.window,
                Issued::Nothing,
                &converted()
            )
            .await
            .unwrap()
    );
}

pub async fn rule_5_7_attempts_stop_at_the_limit(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    for n in 1..=5 {
        let counted = store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap();
        assert_eq!(counted.unwrap().attempts, n);
    }
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::AttemptsExhausted)
    );
}

pub async fn rule_5_7_concurrent_attempts_never_exceed_the_limit(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
                .await
        });
    }
    let mut counted = vec![];
    while let Some(result) = tasks.join_next().await {
        if let Ok(c) = result.unwrap().unwrap() {
            counted.push(c.attempts);
        }
    }
    counted.sort();
    assert_eq!(counted, vec![1, 2, 3, 4, 5]);
}

pub async fn rule_5_6_a_challenge_is_consumed_once(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    assert!(!consume_now(&*store, "p", "wrong").await);
    assert!(consume_now(&*store, "p", "t1").await);
    assert!(!consume_now(&*store, "p", "t1").await);
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::Used)
    );
    // DESIGN §13.3: the consume wrote the challenge's delivery record, as
    // converted; the refused one wrote none.
    let record = store
        .delivery(&Challenge::id_of("t1"), NOW)
        .await
        .unwrap()
        .expect("a delivery record");
    assert_eq!(record.client_id, "app");
    assert_eq!(record.event, converted());
    assert_eq!(
        store
            .delivery(&Challenge::id_of("wrong"), NOW)
            .await
            .unwrap(),
        None
    );
}

pub async fn rule_5_6_concurrent_consumes_yield_one_success(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            let f = family(&format!("family-{i}"));
            store
                .consume(
                    &key("p"),
                    "t1",
                    NOW,
                    NO_CAP.window,
                    Issued::Family(&f),
                    &converted(),
                )
                .await
        });
    }
    let mut successes = 0;
    while let Some(result) = tasks.join_next().await {
        // Under DynamoDB's conflict rule a loser may also be told to try
        // again (`Busy`): never granted, never an internal error.
        match result.unwrap() {
            Ok(consumed) => successes += usize::from(consumed),
            Err(e) => assert!(matches!(e, Error::Busy { .. }), "{e:?}"),
        }
    }
    assert_eq!(successes, 1);
}

pub async fn rule_5_10_undeliverable_challenge_is_dead_and_keeps_cooldown(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    store.mark_undeliverable(&key("p"), "t1").await.unwrap();
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert!(!consume_now(&*store, "p", "t1").await);
    assert!(matches!(
        start(store.as_ref(), &challenge("p", "t2"), NOW + 1, &[]).await,
        ClaimOutcome::CoolingDown { .. }
    ));
}

pub async fn marking_undeliverable_spares_a_newer_challenge(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t2"), NOW, &[]).await;
    store.mark_undeliverable(&key("p"), "t1").await.unwrap();
    store
        .mark_undeliverable(&key("nobody"), "t1")
        .await
        .unwrap();
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t2"), &NO_CAP, NOW)
            .await
            .unwrap()
            .is_ok()
    );
}

pub async fn a_challenge_names_the_provider_that_sent_it_after_a_failover(store: Arc<dyn Store>) {
    let first = Challenge {
        provider: Some("webhook".into()),
        ..challenge("p", "t1")
    };
    start(store.as_ref(), &first, NOW, &[]).await;
    let provider = |store: Arc<dyn Store>| async move {
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
            .await
            .unwrap()
            .unwrap()
            .provider
    };
    assert_eq!(provider(store.clone()).await.as_deref(), Some("webhook"));
    store.record_provider(&key("p"), "t1", "sns").await.unwrap();
    // A newer challenge's slot, or none, is not touched.
    store.record_provider(&key("p"), "t0", "eum").await.unwrap();
    store
        .record_provider(&key("nobody"), "t1", "eum")
        .await
        .unwrap();
    assert_eq!(provider(store.clone()).await.as_deref(), Some("sns"));
}

/// What a right code tells of its SMS.
/// Consumes the challenge `token_hash` of `phone`'s slot now, issuing
/// nothing, as a right code's confirm does.
async fn consume_now(store: &dyn Store, phone: &str, token_hash: &str) -> bool {
    store
        .consume(
            &key(phone),
            token_hash,
            NOW,
            NO_CAP.window,
            Issued::Nothing,
            &converted(),
        )
        .await
        .unwrap()
}

fn converted() -> DeliveryEvent {
    DeliveryEvent {
        state: DeliveryState::Converted,
        reason: None,
        provider: "sns".into(),
        at_ms: NOW,
    }
}

fn report(state: DeliveryState, reason: Option<&str>, at_ms: i64) -> DeliveryRecord {
    let event = DeliveryEvent {
        state,
        reason: reason.map(str::to_string),
        provider: "sns".into(),
        at_ms,
    };
    DeliveryRecord::new("ch_delivery".into(), "app".into(), event, None)
}

/// DESIGN §13.3: the message id a provider's report named (End User
/// Messaging's, which the confirm's feedback names) stays through later
/// reports that name none, and through the consume's write of converted;
/// so does a report that the SMS was delivered (which tells a delivery
/// reported from one only the confirm shows).
pub async fn rule_13_3_a_reported_message_id_and_delivery_stay_through_later_reports_and_the_confirm(
    store: Arc<dyn Store>,
) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let challenge_id = Challenge::id_of("t1");
    let of = |state, at_ms, message_id: Option<&str>| DeliveryRecord {
        challenge_id: challenge_id.clone(),
        message_id: message_id.map(str::to_string),
        ..report(state, None, at_ms)
    };
    let message_id = |store: Arc<dyn Store>| {
        let challenge_id = challenge_id.clone();
        async move {
            let record = store.delivery(&challenge_id, NOW).await.unwrap().unwrap();
            (
                record.event.state,
                record.message_id,
                record.delivery_reported,
            )
        }
    };
    let named = of(DeliveryState::Submitted, NOW, Some("eum-1"));
    store.record_delivery(&named, NOW).await.unwrap();
    assert_eq!(
        message_id(store.clone()).await,
        (DeliveryState::Submitted, Some("eum-1".into()), false)
    );
    let delivered = of(DeliveryState::Delivered, NOW + 1, None);
    store.record_delivery(&delivered, NOW).await.unwrap();
    assert_eq!(
        message_id(store.clone()).await,
        (DeliveryState::Delivered, Some("eum-1".into()), true)
    );
    assert!(consume_now(&*store, "p", "t1").await);
    assert_eq!(
        message_id(store.clone()).await,
        (DeliveryState::Converted, Some("eum-1".into()), true)
    );
}

/// DESIGN §13.3: a report that the SMS was delivered, arriving after the
/// confirm (people type a code before its receipt comes), changes no state
/// (`converted` wins) but is kept: the delivery was reported, not only
/// inferred from the confirm. Another client's report marks nothing.
pub async fn rule_13_3_a_delivery_reported_after_the_confirm_is_kept(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t2"), NOW, &[]).await;
    let challenge_id = Challenge::id_of("t2");
    let reported = |store: Arc<dyn Store>| {
        let challenge_id = challenge_id.clone();
        async move {
            let record = store.delivery(&challenge_id, NOW).await.unwrap().unwrap();
            (record.event.state, record.delivery_reported)
        }
    };
    let of = |client_id: &str| DeliveryRecord {
        challenge_id: challenge_id.clone(),
        client_id: client_id.into(),
        ..report(DeliveryState::Delivered, None, NOW + 1)
    };
    let sent = DeliveryRecord {
        challenge_id: challenge_id.clone(),
        ..report(DeliveryState::Sent, None, NOW)
    };
    store.record_delivery(&sent, NOW).await.unwrap();
    assert!(consume_now(&*store, "p", "t2").await);
    assert_eq!(
        reported(store.clone()).await,
        (DeliveryState::Converted, false)
    );
    assert_eq!(
        store
            .record_delivery(&of("another-app"), NOW)
            .await
            .unwrap(),
        Folded::Unchanged
    );
    assert_eq!(
        reported(store.clone()).await,
        (DeliveryState::Converted, false)
    );
    assert_eq!(
        store.record_delivery(&of("app"), NOW).await.unwrap(),
        Folded::Confirmed {
            message_id: None,
            told: vec![]
        }
    );
    assert_eq!(
        reported(store.clone()).await,
        (DeliveryState::Converted, true)
    );
}

/// DESIGN §13.3: a report folded into a confirmed record says which
/// message the confirm could tell End User Messaging of, and which were told
/// after it: a message told is recorded once, only on the client's kept
/// record, at most `FEEDBACK_AFTER_THE_CONFIRM_MOST` of them, and telling of
/// a challenge with no record makes none.
pub async fn rule_13_3_a_confirmed_record_says_which_messages_were_told_after_the_confirm(
    store: Arc<dyn Store>,
) {
    start(store.as_ref(), &challenge("p", "t3"), NOW, &[]).await;
    let challenge_id = Challenge::id_of("t3");
    let of = |client_id: &str, message_id: &str| DeliveryRecord {
        challenge_id: challenge_id.clone(),
        client_id: client_id.into(),
        message_id: Some(message_id.into()),
        ..report(DeliveryState::Delivered, None, NOW + 1)
    };
    let fold = |store: Arc<dyn Store>, record: DeliveryRecord| async move {
        match store.record_delivery(&record, NOW).await.unwrap() {
            Folded::Confirmed {
                message_id,
                mut told,
            } => {
                told.sort();
                Some((message_id, told))
            }
            _ => None,
        }
    };
    let tell = |store: Arc<dyn Store>, client_id: &'static str, message_id: String, at| {
        let challenge_id = challenge_id.clone();
        async move {
            store
                .record_message_told(&challenge_id, client_id, &message_id, at)
                .await
                .unwrap()
        }
    };
    let named = DeliveryRecord {
        challenge_id: challenge_id.clone(),
        message_id: Some("named".into()),
        ..report(DeliveryState::Sent, None, NOW)
    };
    store.record_delivery(&named, NOW).await.unwrap();
    assert_eq!(
        store
            .record_delivery(&of("app", "named"), NOW)
            .await
            .unwrap(),
        Folded::Changed {
            was: Some(DeliveryState::Sent)
        },
        "not confirmed yet: the confirm will tell"
    );
    assert!(consume_now(&*store, "p", "t3").await);
    assert_eq!(
        fold(store.clone(), of("app", "other")).await,
        Some((Some("named".into()), vec![]))
    );
    assert_eq!(fold(store.clone(), of("another-app", "other")).await, None);
    tell(store.clone(), "app", "other".into(), NOW).await;
    tell(store.clone(), "app", "other".into(), NOW).await;
    tell(store.clone(), "another-app", "theirs".into(), NOW).await;
    tell(
        store.clone(),
        "app",
        "lapsed".into(),
        NOW + DELIVERY_KEPT_MS,
    )
    .await;
    assert_eq!(
        fold(store.clone(), of("app", "other")).await,
        Some((Some("named".into()), vec!["other".to_string()]))
    );
    for i in 1..=FEEDBACK_AFTER_THE_CONFIRM_MOST {
        tell(store.clone(), "app", format!("more-{i}"), NOW).await;
    }
    let (_, told) = fold(store.clone(), of("app", "other")).await.unwrap();
    assert_eq!(
        told.len(),
        FEEDBACK_AFTER_THE_CONFIRM_MOST,
        "bounded: {told:?}"
    );
    let nowhere = "ch_no_such_challenge";
    store
        .record_message_told(nowhere, "app", "m", NOW)
        .await
        .unwrap();
    assert_eq!(store.delivery(nowhere, NOW).await.unwrap(), None);
}

/// DESIGN §13.3: the store folds each report in one conditional write:
/// final states win, the better informed among them, duplicates and late
/// reports change nothing, another client's report is not taken, and the
/// record is kept 72 h from its last change.
pub async fn rule_13_3_delivery_reports_fold_into_one_state_in_any_order(store: Arc<dyn Store>) {
    let state = |store: Arc<dyn Store>, now| async move {
        store
            .delivery("ch_delivery", now)
            .await
            .unwrap()
            .map(|r| (r.event.state, r.event.reason))
    };
    assert_eq!(state(store.clone(), NOW).await, None);
    let failed = report(DeliveryState::Failed, Some("carrier_unreachable"), NOW + 5);
    assert_eq!(
        store.record_delivery(&failed, NOW).await.unwrap(),
        Folded::Changed { was: None },
        "the first report"
    );
    // Arriving after the final report: earlier news, and a duplicate.
    assert_eq!(
        store
            .record_delivery(&report(DeliveryState::Sent, None, NOW + 9), NOW)
            .await
            .unwrap(),
        Folded::Unchanged
    );
    assert_eq!(
        store.record_delivery(&failed, NOW).await.unwrap(),
        Folded::Unchanged,
        "a duplicate"
    );
    assert_eq!(
        state(store.clone(), NOW).await,
        Some((DeliveryState::Failed, Some("carrier_unreachable".into())))
    );
    let stolen = DeliveryRecord {
        client_id: "another-app".into(),
        ..report(DeliveryState::Converted, None, NOW)
    };
    assert_eq!(
        store.record_delivery(&stolen, NOW).await.unwrap(),
        Folded::Unchanged
    );
    assert_eq!(
        state(store.clone(), NOW).await.unwrap().0,
        DeliveryState::Failed
    );
    assert_eq!(
        store
            .record_delivery(&report(DeliveryState::Delivered, None, NOW + 1), NOW + 10)
            .await
            .unwrap(),
        Folded::Changed {
            was: Some(DeliveryState::Failed)
        },
        "the state it replaced"
    );
    let kept = store
        .delivery("ch_delivery", NOW + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.client_id, "app");
    assert_eq!(kept.event.state, DeliveryState::Delivered);
    assert_eq!(
        kept.event.reason, None,
        "no reason left of the failed report"
    );
    assert_eq!(kept.event.at_ms, NOW + 1);
    let last_change = NOW + 10;
    assert!(
        state(store.clone(), last_change + DELIVERY_KEPT_MS - 1)
            .await
            .is_some()
    );
    assert_eq!(
        state(store.clone(), last_change + DELIVERY_KEPT_MS).await,
        None
    );
}

/// Many reports of one challenge at once, as a provider's retries and the
/// confirm race: the one the fold picks is the one kept.
/// DESIGN §13.3: SNS's logs name only the number, so the challenges are
/// found by it: every client's, within the publish's window, no other
/// number's, with the provider that sent each.
pub async fn rule_13_3_challenges_are_found_by_the_number_they_were_sent_to(
    store: Arc<dyn Store>,
    index: Arc<dyn SentIndex>,
) {
    let mut ours = challenge("sent-to-phone", "sent-to-a");
    ours.provider = Some("sns".into());
    let theirs = Challenge {
        key: ChallengeKey {
            client_id: "other-app".into(),
            ..ours.key.clone()
        },
        token_hash: "sent-to-b".into(),
        created_at_ms: NOW + 2_000,
        provider: Some("eum".into()),
        ..ours.clone()
    };
    let elsewhere = challenge("another-phone", "sent-to-c");
    for c in [&ours, &theirs, &elsewhere] {
        assert_eq!(
            start(&*store, c, c.created_at_ms, &[]).await,
            ClaimOutcome::Claimed
        );
    }
    let mut found = index
        .challenges_sent_to("sent-to-phone", NOW - 10, NOW + 10_000)
        .await
        .unwrap();
    found.sort_by_key(|c| c.created_at_ms);
    assert_eq!(
        found,
        vec![
            SentChallenge {
                client_id: "app".into(),
                challenge_id: ours.id(),
                created_at_ms: NOW,
                provider: Some("sns".into()),
                calling_code: "66".into(),
            },
            SentChallenge {
                client_id: "other-app".into(),
                challenge_id: theirs.id(),
                created_at_ms: NOW + 2_000,
                provider: Some("eum".into()),
                calling_code: "66".into(),
            },
        ]
    );
    let window = index
        .challenges_sent_to("sent-to-phone", NOW + 1, NOW + 10_000)
        .await
        .unwrap();
    assert_eq!(window.len(), 1, "only what began in the window");
    assert!(
        index
            .challenges_sent_to("no-such-phone", 0, NOW + 10_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn rule_13_3_concurrent_delivery_reports_keep_the_fold(store: Arc<dyn Store>) {
    let reports: Vec<DeliveryRecord> = (0..24)
        .map(|i| {
            let state = [
                DeliveryState::Sent,
                DeliveryState::Failed,
                DeliveryState::Delivered,
                DeliveryState::Unknown,
            ][i % 4];
            report(state, Some(["a", "b", "c"][i % 3]), NOW + (i as i64 % 5))
        })
        .collect();
    let expected = fold(reports.iter().map(|r| &r.event)).unwrap();
    let writes = reports.iter().map(|r| {
        let store = store.clone();
        let r = r.clone();
        tokio::spawn(async move { store.record_delivery(&r, NOW).await })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap().unwrap();
    }
    let kept = store.delivery("ch_delivery", NOW).await.unwrap().unwrap();
    assert_eq!(kept.event, expected);
}

/// The status route reads a slot's challenge whatever its state.
pub async fn a_slots_challenge_is_read_whatever_its_state(store: Arc<dyn Store>) {
    assert_eq!(store.challenge(&key("r")).await.unwrap(), None);
    let first = challenge("r", "t1");
    start(store.as_ref(), &first, NOW, &[]).await;
    let read = store.challenge(&key("r")).await.unwrap().unwrap();
    assert_eq!(read.token_hash, "t1");
    store.mark_undeliverable(&key("r"), "t1").await.unwrap();
    let read = store.challenge(&key("r")).await.unwrap().unwrap();
    assert_eq!(read.state, ChallengeState::Undeliverable);
}

pub async fn rule_6_refresh_rotates_once_and_detects_reuse(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    let rotated = store
        .rotate_refresh("f", "h0", "app", "h1", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.current_hash, "h1");
    assert_eq!(rotated.idle_expires_at_ms, NOW + 1 + IDLE_LIFETIME_MS);
    assert_eq!(
        store
            .rotate_refresh("f", "h0", "app", "h2", NOW + 2)
            .await
            .unwrap(),
        Err(RotationRefusal::Reused)
    );
    assert_eq!(
        store
            .rotate_refresh("f", "h1", "other-app", "h2", NOW + 2)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
    assert_eq!(
        store
            .rotate_refresh("nope", "h1", "app", "h2", NOW + 2)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
    assert!(store.revoke_family("f", "app").await.unwrap());
    assert_eq!(
        store
            .rotate_refresh("f", "h1", "app", "h2", NOW + 3)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
}

pub async fn rule_6_refresh_families_expire(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    assert_eq!(
        store
            .rotate_refresh("f", "h0", "app", "h1", NOW + IDLE_LIFETIME_MS)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
    // Used every few days, a family still ends 30 days after the login.
    let mut current = "h0".to_string();
    let mut at = NOW;
    while at + 6 * 86_400_000 < NOW + ABSOLUTE_LIFETIME_MS {
        at += 6 * 86_400_000;
        let next = format!("h{at}");
        store
            .rotate_refresh("f", &current, "app", &next, at)
            .await
            .unwrap()
            .unwrap();
        current = next;
    }
    assert_eq!(
        store
            .rotate_refresh("f", &current, "app", "late", NOW + ABSOLUTE_LIFETIME_MS)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
}

pub async fn rule_6_concurrent_rotations_yield_one_success(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .rotate_refresh("f", "h0", "app", &format!("n{i}"), NOW)
                .await
        });
    }
    let mut successes = 0;
    while let Some(result) = tasks.join_next().await {
        successes += usize::from(result.unwrap().unwrap().is_ok());
    }
    assert_eq!(successes, 1);
}

pub async fn rule_6_revocation_needs_the_owner(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    assert!(!store.revoke_family("nope", "app").await.unwrap());
    assert!(!store.revoke_family("f", "other-app").await.unwrap());
    store
        .rotate_refresh("f", "h0", "app", "h1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(store.revoke_family("f", "app").await.unwrap());
    assert_eq!(
        store
            .rotate_refresh("f", "h1", "app", "h2", NOW)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
}

pub async fn rule_5_9_directory_entries_register_a_phone_for_one_client(store: Arc<dyn Store>) {
    let user = User {
        client_id: "app".into(),
        account_id: "imported-42".into(),
        username: "somchai".into(),
        phone_key: "p".into(),
        id_card_hash: Some("card-1".into()),
    };
    store.put_user(&user).await.unwrap();
    assert_eq!(store.user("app", "p").await.unwrap(), Some(user.clone()));
    assert_eq!(store.user("app", "q").await.unwrap(), None);
    assert_eq!(
        store.user("other-app", "p").await.unwrap(),
        None,
        "registered for app only"
    );
}

pub async fn rule_5_9_a_login_registers_no_one(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    assert_eq!(store.user("app", "p").await.unwrap(), None);
}

pub async fn rule_5_12_a_claim_leaves_the_live_code_until_its_challenge_starts(
    store: Arc<dyn Store>,
) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let at = NOW + 60_000;
    let second = challenge("p", "t2");
    let claim = Claim::of(&second, at);
    let claimed = store.claim_slot(&key("p"), &claim, at, &[]).await.unwrap();
    assert_eq!(claimed, ClaimOutcome::Claimed);
    assert!(
        attemptable(
            store
                .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, at)
                .await
        ),
        "claimed, not started: the live code stands"
    );
    // Refused: let go. Nothing changed; the next request may claim at once.
    store
        .release_claim(&key("p"), &claim, Release::Withdraw)
        .await
        .unwrap();
    assert!(attemptable(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, at)
            .await
    ));
    // Sent: the new challenge starts, and only now the old code dies.
    assert_eq!(
        start(store.as_ref(), &second, at + 1, &[]).await,
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, at + 2)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert!(attemptable(
        store
            .count_attempt(&key("p"), &by_token("t2"), &NO_CAP, at + 2)
            .await
    ));
}

pub async fn rule_5_12_a_claim_keeps_a_second_request_out_until_it_ends_or_lapses(
    store: Arc<dyn Store>,
) {
    let first = challenge("p", "t1");
    let claim = Claim::of(&first, NOW);
    let claimed = store.claim_slot(&key("p"), &claim, NOW, &[]).await.unwrap();
    assert_eq!(claimed, ClaimOutcome::Claimed);
    let second = challenge("p", "t2");
    assert_eq!(
        store
            .claim_slot(&key("p"), &Claim::of(&second, NOW + 1), NOW + 1, &[])
            .await
            .unwrap(),
        ClaimOutcome::CoolingDown {
            resend_after_ms: NOW + 1_001
        },
        "in flight: try again in a second"
    );
    // Only the claim's own challenge may start.
    assert!(!store.start_challenge(&second).await.unwrap());
    // A claim whose request died frees the slot by itself.
    let late = NOW + CLAIM_MS;
    assert_eq!(
        store
            .claim_slot(&key("p"), &Claim::of(&second, late), late, &[])
            .await
            .unwrap(),
        ClaimOutcome::Claimed
    );
    assert!(!store.start_challenge(&first).await.unwrap(), "lapsed");
}

pub async fn rule_5_12_a_kept_claim_is_the_cooldown_and_spares_the_live_code(
    store: Arc<dyn Store>,
) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let at = NOW + 60_000;
    let mut second = challenge("p", "t2");
    second.resend_after_ms = at + 60_000;
    let claim = Claim::of(&second, at);
    store.claim_slot(&key("p"), &claim, at, &[]).await.unwrap();
    store
        .release_claim(&key("p"), &claim, Release::KeepCooldown)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_slot(
                &key("p"),
                &Claim::of(&challenge("p", "t3"), at + 1),
                at + 1,
                &[]
            )
            .await
            .unwrap(),
        ClaimOutcome::CoolingDown {
            resend_after_ms: at + 60_000
        }
    );
    assert!(attemptable(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, at + 1)
            .await
    ));
    // Without a live challenge, a kept claim is the cooldown all the same.
    let fresh = challenge("q", "u1");
    let claim = Claim::of(&fresh, NOW);
    store.claim_slot(&key("q"), &claim, NOW, &[]).await.unwrap();
    store
        .release_claim(&key("q"), &claim, Release::KeepCooldown)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_slot(
                &key("q"),
                &Claim::of(&challenge("q", "u2"), NOW + 1),
                NOW + 1,
                &[]
            )
            .await
            .unwrap(),
        ClaimOutcome::CoolingDown {
            resend_after_ms: fresh.resend_after_ms
        }
    );
    assert_eq!(
        store
            .count_attempt(&key("q"), &Selector::Current, &NO_CAP, NOW + 1)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
}

pub async fn rule_5_12_concurrent_claims_of_one_slot_yield_one(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            let c = challenge("p", &format!("t{i}"));
            store
                .claim_slot(&key("p"), &Claim::of(&c, NOW), NOW, &[])
                .await
        });
    }
    let mut claimed = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(outcome) => claimed += usize::from(outcome == ClaimOutcome::Claimed),
            Err(e) => assert!(matches!(e, Error::Busy { .. }), "{e:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

pub async fn rule_5_8_the_days_wrong_codes_count_with_each_attempt_and_survive_resends(
    store: Arc<dyn Store>,
) {
    let cap = FailureCap { limit: 3, ..NO_CAP };
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    for _ in 0..3 {
        assert!(attemptable(
            store
                .count_attempt(&key("p"), &by_token("t1"), &cap, NOW)
                .await
        ));
    }
    // The third was right: consuming gives its count back.
    assert!(
        store
            .consume(
                &key("p"),
                "t1",
                NOW,
                cap.window,
                Issued::Nothing,
                &converted()
            )
            .await
            .unwrap()
    );
    // A resend starts a new challenge, never a new count.
    start(store.as_ref(), &challenge("p", "t2"), NOW + 60_000, &[]).await;
    let at = NOW + 60_001;
    assert!(attemptable(
        store
            .count_attempt(&key("p"), &by_token("t2"), &cap, at)
            .await
    ));
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t2"), &cap, at)
            .await
            .unwrap(),
        Err(Refusal::FailureCapSpent)
    );
    // Refused, nothing counted: the challenge has four attempts left.
    let tomorrow = FailureCap {
        window: cap.window + 1,
        ..cap
    };
    let counted = store
        .count_attempt(&key("p"), &by_token("t2"), &tomorrow, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.attempts, 2, "a new day, a new count");
}

pub async fn rule_5_8_concurrent_attempts_never_exceed_the_days_cap(store: Arc<dyn Store>) {
    let cap = FailureCap { limit: 2, ..NO_CAP };
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .count_attempt(&key("p"), &by_token("t1"), &cap, NOW)
                .await
        });
    }
    let mut counted = 0;
    while let Some(answer) = tasks.join_next().await {
        match answer.unwrap() {
            Ok(Ok(_)) => counted += 1,
            Ok(Err(refusal)) => assert_eq!(refusal, Refusal::FailureCapSpent),
            Err(e) => assert!(matches!(e, Error::Busy { .. }), "{e:?}"),
        }
    }
    assert_eq!(counted, 2);
}

pub async fn a_refused_confirm_gives_its_attempt_back(store: Arc<dyn Store>) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    store
        .uncount_attempt(&key("p"), "t1", NO_CAP.window)
        .await
        .unwrap();
    let counted = store
        .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.attempts, 1, "never below zero");
    store
        .uncount_attempt(&key("p"), "other", NO_CAP.window)
        .await
        .unwrap();
    store
        .uncount_attempt(&key("p"), "t1", NO_CAP.window)
        .await
        .unwrap();
    let counted = store
        .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        counted.attempts, 1,
        "given back once, by its own token only"
    );
}

fn limit(key: &str, max: u32) -> RateLimit {
    RateLimit {
        key: key.into(),
        limit: max,
        window_end_ms: NOW + 3_600_000,
    }
}

pub async fn rule_5_8_limits_count_with_the_claim_and_refuse_when_spent(store: Arc<dyn Store>) {
    let limits = [
        limit("phone-hour#app#p#0", 2),
        limit("phone-all-hour#p#0", 3),
    ];
    let mut at = NOW;
    for n in 0..2 {
        let c = challenge("p", &format!("t{n}"));
        let outcome = start(store.as_ref(), &c, at, &limits).await;
        assert_eq!(outcome, ClaimOutcome::Claimed);
        at += 60_000;
        assert_eq!(counted(store.as_ref(), &limits[0]).await, n + 1);
    }
    assert_eq!(
        start(store.as_ref(), &challenge("p", "t9"), at, &limits).await,
        ClaimOutcome::RateLimited { index: 0 }
    );
    // Nothing of the refused start was written or counted.
    assert_eq!(counted(store.as_ref(), &limits[1]).await, 2);
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), &NO_CAP, at)
            .await
            .unwrap()
            .is_ok()
    );
    // Another client spends the phone's last unit of the deployment's cap,
    // then another still hits it.
    let other = [limit("phone-hour#shop#p#0", 2), limits[1].clone()];
    let c = Challenge {
        key: ChallengeKey {
            client_id: "shop".into(),
            phone_key: "p".into(),
        },
        ..challenge("p", "u1")
    };
    assert_eq!(
        start(store.as_ref(), &c, at, &other).await,
        ClaimOutcome::Claimed
    );
    let c = Challenge {
        key: ChallengeKey {
            client_id: "bank".into(),
            phone_key: "p".into(),
        },
        ..challenge("p", "u2")
    };
    assert_eq!(
        start(store.as_ref(), &c, at, &[limits[1].clone()]).await,
        ClaimOutcome::RateLimited { index: 0 }
    );
}

pub async fn rule_5_8_concurrent_starts_never_exceed_a_limit(store: Arc<dyn Store>) {
    let shared = limit("client-minute#app#0", 4);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (store, shared) = (store.clone(), shared.clone());
        tasks.spawn(async move {
            let c = challenge(&format!("phone-{i}"), "t");
            store
                .claim_slot(&c.key, &Claim::of(&c, NOW), NOW, &[shared])
                .await
        });
    }
    let mut started = 0;
    while let Some(outcome) = tasks.join_next().await {
        started += usize::from(outcome.unwrap().unwrap() == ClaimOutcome::Claimed);
    }
    assert_eq!(started, 4);
    assert_eq!(counted(store.as_ref(), &shared).await, 4);
}

pub async fn rule_5_8_counters_stop_at_their_limit(store: Arc<dyn Store>) {
    let fails = limit("confirm-fail-day#p#0", 3);
    assert_eq!(counted(store.as_ref(), &fails).await, 0);
    for _ in 0..3 {
        assert!(store.count(&fails).await.unwrap());
    }
    assert!(!store.count(&fails).await.unwrap());
    assert_eq!(counted(store.as_ref(), &fails).await, 3);
}

pub async fn rule_5_8_concurrent_counts_never_exceed_a_limit(store: Arc<dyn Store>) {
    let shard = limit("client-minute#app#0#s3", 5);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, shard) = (store.clone(), shard.clone());
        tasks.spawn(async move { store.count(&shard).await });
    }
    let mut admitted = 0;
    while let Some(answer) = tasks.join_next().await {
        admitted += usize::from(answer.unwrap().unwrap());
    }
    assert_eq!(admitted, 5);
    assert_eq!(counted(store.as_ref(), &shard).await, 5);
}

pub async fn uncount_gives_back_one_and_never_goes_below_zero(store: Arc<dyn Store>) {
    let shard = limit("prefix-hour#pre#0#s0", 2);
    store.uncount(&shard).await.unwrap();
    assert_eq!(
        counted(store.as_ref(), &shard).await,
        0,
        "nothing to give back"
    );
    assert!(store.count(&shard).await.unwrap());
    assert!(store.count(&shard).await.unwrap());
    assert!(!store.count(&shard).await.unwrap());
    store.uncount(&shard).await.unwrap();
    assert_eq!(counted(store.as_ref(), &shard).await, 1);
    assert!(
        store.count(&shard).await.unwrap(),
        "the unit given back is usable"
    );
    for _ in 0..4 {
        store.uncount(&shard).await.unwrap();
    }
    assert_eq!(counted(store.as_ref(), &shard).await, 0);
}

/// A hosted page's authorization code, minted for challenge `t1`.
fn authorization_code(hash: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.into(),
        client_id: "app".into(),
        redirect_uri: "https://app.example.com/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        account_id: "acc_1".into(),
        username: "acc_1".into(),
        login_by: "mobile".into(),
        expires_at_ms: NOW + CODE_LIFETIME_MS,
    }
}

/// DESIGN §14: an authorization code is minted only with the consume of
/// its challenge, redeemed once (with its tokens' family, in one step),
/// never after its lifetime, and tells which family its redemption issued.
pub async fn rule_14_an_authorization_code_is_minted_with_its_login_and_redeemed_once(
    store: Arc<dyn Store>,
) {
    start(store.as_ref(), &challenge("p", "t1"), NOW, &[]).await;
    let code = authorization_code("code-1");
    assert!(
        !store
            .consume(
                &key("p"),
                "wrong",
                NOW,
                NO_CAP.window,
                Issued::Code(&code),
                &converted()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.authorization_code("code-1").await.unwrap(),
        None,
        "a refused consume mints nothing"
    );
    assert!(
        store
            .consume(
                &key("p"),
                "t1",
                NOW,
                NO_CAP.window,
                Issued::Code(&code),
                &converted()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.authorization_code("code-1").await.unwrap(),
        Some((code.clone(), None))
    );
    let late = NOW + CODE_LIFETIME_MS;
    assert!(
        !store
            .redeem_authorization_code("code-1", &family("late"), late)
            .await
            .unwrap(),
        "past its lifetime"
    );
    assert!(
        store
            .redeem_authorization_code("code-1", &family("f1"), NOW + 1)
            .await
            .unwrap()
    );
    assert_eq!(
        store.authorization_code("code-1").await.unwrap(),
        Some((code, Some("f1".into())))
    );
    let family_kept = |store: Arc<dyn Store>, id: &'static str| async move {
        store
            .rotate_refresh(id, "h0", "app", "h1", NOW + 3)
            .await
            .unwrap()
            .is_ok()
    };
    assert!(
        family_kept(store.clone(), "f1").await,
        "the family is stored with it"
    );
    assert!(
        !store
            .redeem_authorization_code("code-1", &family("f2"), NOW + 2)
            .await
            .unwrap(),
        "a second redemption"
    );
    assert!(
        !family_kept(store.clone(), "f2").await,
        "and writes nothing"
    );
    assert!(
        !store
            .redeem_authorization_code("never-issued", &family("f3"), NOW)
            .await
            .unwrap()
    );
}

/// DESIGN §14: a proof of work's challenge is spent once, concurrent
/// spends included.
pub async fn rule_14_a_proof_of_work_is_spent_once(store: Arc<dyn Store>) {
    let spends = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.spend_once("pow#abc", NOW + 60_000).await.unwrap() })
    });
    let mut spent = 0;
    for spend in spends {
        spent += usize::from(spend.await.unwrap());
    }
    assert_eq!(spent, 1);
    assert!(store.spend_once("pow#other", NOW + 60_000).await.unwrap());
}
