//! The storage contract, run against both adapters (tests/storage.rs): the
//! in-memory store must decide exactly as DynamoDB's conditions do.

use crate::{CLIENT_SECRET, START_MS, server_secret, test_settings};
use otp_shared::Error;
use otp_shared::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Refusal, Selector};
use otp_shared::domain::client::ClientRecord;
use otp_shared::domain::limits::RateLimit;
use otp_shared::domain::refresh::{
    ABSOLUTE_LIFETIME_MS, IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal,
};
use otp_shared::domain::user::User;
use otp_shared::domain::user::UserRequirement;
use otp_shared::store::{StartOutcome, Store};
use std::sync::Arc;

const NOW: i64 = START_MS;

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
    }
}

fn account(phone: &str) -> User {
    User {
        account_id: "acc_1".into(),
        username: "acc_1".into(),
        phone_key: phone.into(),
        id_card_hash: None,
    }
}

fn family(id: &str) -> RefreshFamily {
    RefreshFamily {
        family_id: id.into(),
        client_id: "app".into(),
        account_id: "acc_1".into(),
        username: "acc_1".into(),
        login_by: "mobile".into(),
        current_hash: "h0".into(),
        spent_hashes: vec![],
        revoked: false,
        created_at_ms: NOW,
        idle_expires_at_ms: NOW + IDLE_LIFETIME_MS,
    }
}

/// A consumed challenge whose login started refresh family `f` (token `h0`).
async fn logged_in(store: &dyn Store) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    assert!(
        store
            .consume(&key("p"), "t1", NOW, &account("p"), Some(&family("f")))
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
        store.start_challenge(&first, NOW, None, &[]).await.unwrap(),
        StartOutcome::Started
    );
    let second = challenge("p", "t2");
    assert_eq!(
        store
            .start_challenge(&second, NOW + 59_999, None, &[])
            .await
            .unwrap(),
        StartOutcome::CoolingDown {
            resend_after_ms: NOW + 60_000
        }
    );
    // Nothing was written: the first challenge still answers.
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW + 1)
            .await
            .unwrap()
            .is_ok()
    );
    // Another phone has its own slot.
    assert_eq!(
        store
            .start_challenge(&challenge("q", "t3"), NOW, None, &[])
            .await
            .unwrap(),
        StartOutcome::Started
    );
}

pub async fn rule_5_8_new_challenge_after_cooldown_kills_the_old_code(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    let mut second = challenge("p", "t2");
    second.resend_after_ms = NOW + 120_000;
    assert_eq!(
        store
            .start_challenge(&second, NOW + 60_000, None, &[])
            .await
            .unwrap(),
        StartOutcome::Started
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW + 60_001)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t2"), NOW + 60_001)
            .await
            .unwrap()
            .is_ok()
    );
}

pub async fn attempts_need_the_right_challenge(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("other"), NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &Selector::RefCode("XXXXXX".into()), NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    let counted = store
        .count_attempt(&key("p"), &Selector::RefCode("ABC234".into()), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.attempts, 1);
    assert_eq!(counted.code_hash, challenge("p", "t1").code_hash);
}

pub async fn rule_5_5_attempts_end_at_expiry(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW + 299_999)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW + 300_000)
            .await
            .unwrap(),
        Err(Refusal::Expired)
    );
    assert!(
        !store
            .consume(&key("p"), "t1", NOW + 300_000, &account("p"), None)
            .await
            .unwrap()
    );
}

pub async fn rule_5_7_attempts_stop_at_the_limit(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    for n in 1..=5 {
        let counted = store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap();
        assert_eq!(counted.unwrap().attempts, n);
    }
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap(),
        Err(Refusal::AttemptsExhausted)
    );
}

pub async fn rule_5_7_concurrent_attempts_never_exceed_the_limit(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move { store.count_attempt(&key("p"), &by_token("t1"), NOW).await });
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
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    assert!(
        !store
            .consume(&key("p"), "wrong", NOW, &account("p"), None)
            .await
            .unwrap()
    );
    assert!(
        store
            .consume(&key("p"), "t1", NOW, &account("p"), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume(&key("p"), "t1", NOW, &account("p"), None)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap(),
        Err(Refusal::Used)
    );
}

pub async fn rule_5_6_concurrent_consumes_yield_one_success(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            let f = family(&format!("family-{i}"));
            store
                .consume(&key("p"), "t1", NOW, &account("p"), Some(&f))
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
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    store.mark_undeliverable(&key("p"), "t1").await.unwrap();
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert!(
        !store
            .consume(&key("p"), "t1", NOW, &account("p"), None)
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .start_challenge(&challenge("p", "t2"), NOW + 1, None, &[])
            .await
            .unwrap(),
        StartOutcome::CoolingDown { .. }
    ));
}

pub async fn marking_undeliverable_spares_a_newer_challenge(store: Arc<dyn Store>) {
    store
        .start_challenge(&challenge("p", "t2"), NOW, None, &[])
        .await
        .unwrap();
    store.mark_undeliverable(&key("p"), "t1").await.unwrap();
    store
        .mark_undeliverable(&key("nobody"), "t1")
        .await
        .unwrap();
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t2"), NOW)
            .await
            .unwrap()
            .is_ok()
    );
}

pub async fn rule_6_refresh_rotates_once_and_detects_reuse(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    let rotated = store
        .rotate_refresh("f", "h0", "app", "h1", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.current_hash, "h1");
    assert_eq!(rotated.spent_hashes, vec!["h0".to_string()]);
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
    assert!(store.revoke_family("f", "app", "h1").await.unwrap());
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

pub async fn rule_6_revocation_needs_the_owner_and_a_token_of_the_family(store: Arc<dyn Store>) {
    logged_in(store.as_ref()).await;
    assert!(!store.revoke_family("nope", "app", "h0").await.unwrap());
    assert!(!store.revoke_family("f", "other-app", "h0").await.unwrap());
    assert!(!store.revoke_family("f", "app", "guessed").await.unwrap());
    store
        .rotate_refresh("f", "h0", "app", "h1", NOW)
        .await
        .unwrap()
        .unwrap();
    // A spent token still names its family: revoking with it ends the family.
    assert!(store.revoke_family("f", "app", "h0").await.unwrap());
    assert_eq!(
        store
            .rotate_refresh("f", "h1", "app", "h2", NOW)
            .await
            .unwrap(),
        Err(RotationRefusal::Invalid)
    );
}

pub async fn rule_5_9_directory_requirements_are_checked_with_the_challenge(store: Arc<dyn Store>) {
    let needs_user = UserRequirement { id_card_hash: None };
    let needs_card = |hash: &str| UserRequirement {
        id_card_hash: Some(hash.into()),
    };
    let c = challenge("p", "t1");
    assert_eq!(
        store
            .start_challenge(&c, NOW, Some(&needs_user), &[])
            .await
            .unwrap(),
        StartOutcome::UserNotFound
    );
    let user = User {
        id_card_hash: Some("card-1".into()),
        ..account("p")
    };
    store.put_user(&user).await.unwrap();
    assert_eq!(store.user("p").await.unwrap(), Some(user.clone()));
    assert_eq!(store.user("q").await.unwrap(), None);
    assert_eq!(
        store
            .start_challenge(&c, NOW, Some(&needs_card("card-2")), &[])
            .await
            .unwrap(),
        StartOutcome::IdCardMismatch
    );
    // Refused starts wrote nothing: no challenge, no cooldown.
    assert_eq!(
        store
            .count_attempt(&key("p"), &by_token("t1"), NOW)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        store
            .start_challenge(&c, NOW, Some(&needs_card("card-1")), &[])
            .await
            .unwrap(),
        StartOutcome::Started
    );
    // The directory is checked before the cooldown.
    assert_eq!(
        store
            .start_challenge(
                &challenge("p", "t2"),
                NOW + 1,
                Some(&needs_card("card-2")),
                &[]
            )
            .await
            .unwrap(),
        StartOutcome::IdCardMismatch
    );
    assert!(matches!(
        store
            .start_challenge(&challenge("p", "t2"), NOW + 1, Some(&needs_user), &[])
            .await
            .unwrap(),
        StartOutcome::CoolingDown { .. }
    ));
}

pub async fn consume_keeps_an_existing_directory_entry(store: Arc<dyn Store>) {
    let imported = User {
        account_id: "imported-42".into(),
        username: "somchai".into(),
        phone_key: "p".into(),
        id_card_hash: Some("card-1".into()),
    };
    store.put_user(&imported).await.unwrap();
    store
        .start_challenge(&challenge("p", "t1"), NOW, None, &[])
        .await
        .unwrap();
    assert!(
        store
            .consume(&key("p"), "t1", NOW, &account("p"), None)
            .await
            .unwrap()
    );
    assert_eq!(store.user("p").await.unwrap(), Some(imported));
    // A first login creates the entry.
    store
        .start_challenge(&challenge("q", "t2"), NOW, None, &[])
        .await
        .unwrap();
    assert!(
        store
            .consume(&key("q"), "t2", NOW, &account("q"), None)
            .await
            .unwrap()
    );
    assert_eq!(store.user("q").await.unwrap(), Some(account("q")));
}

fn limit(key: &str, max: u32) -> RateLimit {
    RateLimit {
        key: key.into(),
        limit: max,
        window_end_ms: NOW + 3_600_000,
    }
}

pub async fn rule_5_8_limits_count_with_the_challenge_and_refuse_when_spent(store: Arc<dyn Store>) {
    let limits = [
        limit("phone-hour#p#0", 2),
        limit("ip-minute#app#1.2.3.4#0", 3),
    ];
    let mut at = NOW;
    for n in 0..2 {
        let c = challenge("p", &format!("t{n}"));
        let outcome = store.start_challenge(&c, at, None, &limits).await.unwrap();
        assert_eq!(outcome, StartOutcome::Started);
        at += 60_000;
        assert_eq!(store.counted(&limits[0]).await.unwrap(), n + 1);
    }
    assert_eq!(
        store
            .start_challenge(&challenge("p", "t9"), at, None, &limits)
            .await
            .unwrap(),
        StartOutcome::RateLimited { index: 0 }
    );
    // Nothing of the refused start was written or counted.
    assert_eq!(store.counted(&limits[1]).await.unwrap(), 2);
    assert!(
        store
            .count_attempt(&key("p"), &by_token("t1"), at)
            .await
            .unwrap()
            .is_ok()
    );
    // Another phone spends the shared IP limit's last unit, then hits it.
    let other = [limit("phone-hour#q#0", 2), limits[1].clone()];
    assert_eq!(
        store
            .start_challenge(&challenge("q", "u1"), at, None, &other)
            .await
            .unwrap(),
        StartOutcome::Started
    );
    assert!(matches!(
        store
            .start_challenge(&challenge("r", "u2"), at, None, &[limits[1].clone()])
            .await
            .unwrap(),
        StartOutcome::RateLimited { .. }
    ));
}

pub async fn rule_5_8_concurrent_starts_never_exceed_a_limit(store: Arc<dyn Store>) {
    let shared = limit("client-minute#app#0", 4);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (store, shared) = (store.clone(), shared.clone());
        tasks.spawn(async move {
            let c = challenge(&format!("phone-{i}"), "t");
            store.start_challenge(&c, NOW, None, &[shared]).await
        });
    }
    let mut started = 0;
    while let Some(outcome) = tasks.join_next().await {
        started += usize::from(outcome.unwrap().unwrap() == StartOutcome::Started);
    }
    assert_eq!(started, 4);
    assert_eq!(store.counted(&shared).await.unwrap(), 4);
}

pub async fn rule_5_8_counters_stop_at_their_limit(store: Arc<dyn Store>) {
    let fails = limit("confirm-fail-day#p#0", 3);
    assert_eq!(store.counted(&fails).await.unwrap(), 0);
    for _ in 0..3 {
        assert!(store.count(&fails).await.unwrap());
    }
    assert!(!store.count(&fails).await.unwrap());
    assert_eq!(store.counted(&fails).await.unwrap(), 3);
}

pub async fn rule_5_8_concurrent_counts_never_exceed_a_limit(store: Arc<dyn Store>) {
    let shard = limit("client-minute#app#0#s3", 5);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, shard) = (store.clone(), shard.clone());
        tasks.spawn(async move { store.count(&shard).await });
    }
    let mut counted = 0;
    while let Some(answer) = tasks.join_next().await {
        counted += usize::from(answer.unwrap().unwrap());
    }
    assert_eq!(counted, 5);
    assert_eq!(store.counted(&shard).await.unwrap(), 5);
}

pub async fn uncount_gives_back_one_and_never_goes_below_zero(store: Arc<dyn Store>) {
    let shard = limit("prefix-hour#pre#0#s0", 2);
    store.uncount(&shard).await.unwrap();
    assert_eq!(
        store.counted(&shard).await.unwrap(),
        0,
        "nothing to give back"
    );
    assert!(store.count(&shard).await.unwrap());
    assert!(store.count(&shard).await.unwrap());
    assert!(!store.count(&shard).await.unwrap());
    store.uncount(&shard).await.unwrap();
    assert_eq!(store.counted(&shard).await.unwrap(), 1);
    assert!(
        store.count(&shard).await.unwrap(),
        "the unit given back is usable"
    );
    for _ in 0..4 {
        store.uncount(&shard).await.unwrap();
    }
    assert_eq!(store.counted(&shard).await.unwrap(), 0);
}
