//! A challenge: one code sent to one phone for one client, and the rules that
//! decide whether an attempt at it may be counted (DESIGN §5.5–5.8, 5.10).
//!
//! Both store adapters decide with these functions, so the in-memory store and
//! DynamoDB's condition expressions cannot drift apart.

use super::keys::{opaque_token, parse_opaque_token};
use super::limits::FailureCap;
use super::user::UserRequirement;
use crate::clock::Millis;
use std::collections::BTreeMap;

/// A challenge lives in one slot per client and phone: a new request that is
/// sent replaces the old challenge, and the old code dies with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChallengeKey {
    pub client_id: String,
    pub phone_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeState {
    /// Sent (or being sent); attempts may be made.
    Active,
    /// The SMS could not be sent: no attempt can succeed, the cooldown holds.
    Undeliverable,
    /// Confirmed once; never again.
    Consumed,
}

impl ChallengeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeState::Active => "active",
            ChallengeState::Undeliverable => "undeliverable",
            ChallengeState::Consumed => "consumed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ChallengeState::Active),
            "undeliverable" => Some(ChallengeState::Undeliverable),
            "consumed" => Some(ChallengeState::Consumed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub key: ChallengeKey,
    /// SHA-256 of the opaque token handed to the caller.
    pub token_hash: String,
    pub ref_code: String,
    /// Keyed hash of the code, bound to `token_hash`.
    pub code_hash: String,
    /// Attempts counted so far, right or wrong.
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at_ms: Millis,
    pub expires_at_ms: Millis,
    /// Until then, no new challenge for this client and phone.
    pub resend_after_ms: Millis,
    pub state: ChallengeState,
    /// How the login is proven: the `login_by` claim.
    pub login_by: String,
    /// The number's calling code as the client's allow-list names it: the
    /// confirm's metrics count by it (`crate::metrics`).
    pub calling_code: String,
    /// For clients that serve only registered users: what the directory
    /// must hold for the confirm to succeed. Checked at the confirm, so that
    /// a request for an unknown number costs what a known one costs.
    pub directory: Option<UserRequirement>,
    /// The SMS provider that took the code (DESIGN §13); none while nothing
    /// was sent (a test number, an unknown user's decoy).
    pub provider: Option<String>,
}

/// How a confirm names its challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    TokenHash(String),
    RefCode(String),
    /// Whatever challenge the slot holds now.
    Current,
}

/// Why an attempt is refused before the code is even looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such challenge: unknown, replaced, or never delivered.
    NotFound,
    Expired,
    Used,
    AttemptsExhausted,
    /// The client's cap on the phone's wrong codes today is spent.
    FailureCapSpent,
}

impl Challenge {
    /// Names the challenge to SMS providers (a send hook's `webhook-id`, a
    /// provider's request id): derived from the token's hash, so it says
    /// nothing of the token, the number or the code.
    pub fn id(&self) -> String {
        Self::id_of(&self.token_hash)
    }

    /// The id of the challenge whose token hashes to `token_hash`.
    pub fn id_of(token_hash: &str) -> String {
        let digest = super::keys::sha256(format!("challenge-id:{token_hash}").as_bytes());
        format!("ch_{}", &digest[..22])
    }

    /// `None` when an attempt may be counted now; the reason otherwise.
    pub fn refusal(&self, selector: &Selector, now: Millis) -> Option<Refusal> {
        let selected = match selector {
            Selector::TokenHash(h) => *h == self.token_hash,
            Selector::RefCode(r) => *r == self.ref_code,
            Selector::Current => true,
        };
        if !selected || self.state == ChallengeState::Undeliverable {
            Some(Refusal::NotFound)
        } else if self.state == ChallengeState::Consumed {
            Some(Refusal::Used)
        } else if now >= self.expires_at_ms {
            Some(Refusal::Expired)
        } else if self.attempts >= self.max_attempts {
            Some(Refusal::AttemptsExhausted)
        } else {
            None
        }
    }

    /// When DynamoDB may delete the item: after both the code and the cooldown
    /// are over, plus a day. Only garbage collection: every read and condition
    /// checks `expires_at_ms` itself.
    pub fn ttl_epoch_secs(&self) -> i64 {
        self.expires_at_ms.max(self.resend_after_ms) / 1000 + 86_400
    }
}

/// How long a claim holds a slot at most: longer than any request can run
/// (a function's timeout is at most 29 s), so a claim whose request died
/// with its instance frees the slot by itself.
pub const CLAIM_MS: Millis = 30_000;

/// What a request that finds a claim in flight is told to wait.
const IN_FLIGHT_RETRY_MS: Millis = 1_000;

/// A request's hold on its slot while it runs (DESIGN §5.12). Taken in the
/// same transaction as the phone's counters, it keeps a second request for
/// the same client and phone from starting (and texting) at the same time,
/// and it leaves the live challenge alone: until the request is sent, the
/// user's code stays valid. The request then makes its challenge the live
/// one, lets go (it was refused), or keeps the claim as the cooldown (a
/// directory answer, which counts as a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The token hash of the challenge the claiming request would start.
    pub token_hash: String,
    /// Until then no other request may claim the slot.
    pub until_ms: Millis,
    /// When the challenge it would start lets another be asked for: the
    /// cooldown the claim leaves when it is kept as one.
    pub resend_after_ms: Millis,
}

impl Claim {
    /// The claim of a request that would start `challenge` at `now`.
    pub fn of(challenge: &Challenge, now: Millis) -> Self {
        Self {
            token_hash: challenge.token_hash.clone(),
            until_ms: now + CLAIM_MS,
            resend_after_ms: challenge.resend_after_ms,
        }
    }
}

/// A client's slot for one phone as the store holds it: the live challenge
/// (none before the first is sent), when another may be started, the claim
/// of a request in flight, and the phone's wrong codes per day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slot {
    pub challenge: Option<Challenge>,
    /// The live challenge's, or a claim's kept as the cooldown; 0 for none.
    pub resend_after_ms: Millis,
    pub claim: Option<Claim>,
    /// Wrong codes (and attempts in flight) by day (`FailureCap::window`).
    pub failures: BTreeMap<i64, u32>,
}

impl Slot {
    /// When a new request may claim the slot, if not now: after the
    /// cooldown, or, while a request in flight holds a claim, a second from
    /// now (it ends within one round trip; if it starts its challenge, the
    /// next try hears that challenge's cooldown). Never the claim's own
    /// time to resend: refused requests claim too, for an instant, and the
    /// user who asks then must not be told to wait a minute.
    pub fn busy_until(&self, now: Millis) -> Option<Millis> {
        if let Some(claim) = self.claim.as_ref().filter(|c| now < c.until_ms) {
            return Some((now + IN_FLIGHT_RETRY_MS).min(claim.until_ms));
        }
        (now < self.resend_after_ms).then_some(self.resend_after_ms)
    }

    /// Why no attempt may be counted now, if not: first the day's cap on
    /// wrong codes, then the live challenge's own rules.
    pub fn attempt_refusal(
        &self,
        selector: &Selector,
        cap: &FailureCap,
        now: Millis,
    ) -> Option<Refusal> {
        if self.failures.get(&cap.window).copied().unwrap_or(0) >= cap.limit {
            return Some(Refusal::FailureCapSpent);
        }
        match &self.challenge {
            None => Some(Refusal::NotFound),
            Some(challenge) => challenge.refusal(selector, now),
        }
    }
}

/// The opaque challenge token: `<phone key>.<random nonce>`. It locates the
/// challenge's slot without a lookup and proves possession by its hash.
pub struct ChallengeToken;

impl ChallengeToken {
    pub fn make(phone_key: &str, nonce: &[u8; 16]) -> String {
        opaque_token(phone_key, nonce)
    }

    /// The phone key inside a well-formed token, with the token's hash.
    pub fn parse(token: &str) -> Option<(String, String)> {
        parse_opaque_token(token, 32, 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::{b64, sha256};

    fn challenge() -> Challenge {
        Challenge {
            key: ChallengeKey {
                client_id: "c".into(),
                phone_key: "p".into(),
            },
            token_hash: "th".into(),
            ref_code: "REF123".into(),
            code_hash: "ch".into(),
            attempts: 0,
            max_attempts: 5,
            created_at_ms: 0,
            expires_at_ms: 300_000,
            resend_after_ms: 60_000,
            state: ChallengeState::Active,
            login_by: "mobile".into(),
            calling_code: "66".into(),
            directory: None,
            provider: None,
        }
    }

    #[test]
    fn rule_5_5_a_challenge_is_live_until_its_last_millisecond() {
        let c = challenge();
        let by_token = Selector::TokenHash("th".into());
        assert_eq!(c.refusal(&by_token, 299_999), None);
        assert_eq!(c.refusal(&by_token, 300_000), Some(Refusal::Expired));
    }

    #[test]
    fn rule_5_6_a_consumed_challenge_is_refused() {
        let c = Challenge {
            state: ChallengeState::Consumed,
            ..challenge()
        };
        assert_eq!(
            c.refusal(&Selector::RefCode("REF123".into()), 1),
            Some(Refusal::Used)
        );
    }

    #[test]
    fn rule_5_7_the_fifth_counted_attempt_is_the_last() {
        let c = Challenge {
            attempts: 4,
            ..challenge()
        };
        assert_eq!(c.refusal(&Selector::TokenHash("th".into()), 1), None);
        let c = Challenge {
            attempts: 5,
            ..challenge()
        };
        assert_eq!(
            c.refusal(&Selector::TokenHash("th".into()), 1),
            Some(Refusal::AttemptsExhausted)
        );
    }

    #[test]
    fn rule_5_8_cooldown_ends_at_sixty_seconds() {
        let slot = Slot {
            resend_after_ms: 60_000,
            challenge: Some(challenge()),
            ..Slot::default()
        };
        assert_eq!(slot.busy_until(59_999), Some(60_000));
        assert_eq!(slot.busy_until(60_000), None);
    }

    #[test]
    fn rule_5_8_the_days_wrong_codes_refuse_an_attempt_before_the_challenge_does() {
        let cap = FailureCap {
            window: 3,
            limit: 2,
            window_end_ms: 4 * 86_400_000,
        };
        let mut slot = Slot {
            challenge: Some(challenge()),
            ..Slot::default()
        };
        let by_token = Selector::TokenHash("th".into());
        assert_eq!(slot.attempt_refusal(&by_token, &cap, 1), None);
        slot.failures.insert(2, 5);
        slot.failures.insert(3, 1);
        assert_eq!(
            slot.attempt_refusal(&by_token, &cap, 1),
            None,
            "yesterday's"
        );
        slot.failures.insert(3, 2);
        assert_eq!(
            slot.attempt_refusal(&Selector::TokenHash("x".into()), &cap, 1),
            Some(Refusal::FailureCapSpent)
        );
        slot.failures.clear();
        slot.challenge = None;
        assert_eq!(
            slot.attempt_refusal(&by_token, &cap, 1),
            Some(Refusal::NotFound)
        );
    }

    #[test]
    fn rule_5_12_a_claim_holds_the_slot_until_its_request_ends_or_it_lapses() {
        let claim = Claim::of(&challenge(), 0);
        assert_eq!((claim.until_ms, claim.resend_after_ms), (CLAIM_MS, 60_000));
        let slot = Slot {
            claim: Some(claim),
            ..Slot::default()
        };
        // A request that finds a claim in flight is told to try again in a
        // second.
        assert_eq!(slot.busy_until(1), Some(1_001));
        assert_eq!(slot.busy_until(CLAIM_MS - 1), Some(CLAIM_MS));
        assert_eq!(
            slot.busy_until(CLAIM_MS),
            None,
            "a lapsed claim frees the slot"
        );
    }

    #[test]
    fn rule_5_10_an_undeliverable_challenge_cannot_be_confirmed() {
        let c = Challenge {
            state: ChallengeState::Undeliverable,
            ..challenge()
        };
        assert_eq!(
            c.refusal(&Selector::TokenHash("th".into()), 1),
            Some(Refusal::NotFound)
        );
    }

    #[test]
    fn wrong_selector_finds_nothing() {
        let c = challenge();
        assert_eq!(
            c.refusal(&Selector::RefCode("OTHER1".into()), 1),
            Some(Refusal::NotFound)
        );
        assert_eq!(
            c.refusal(&Selector::TokenHash("x".into()), 1),
            Some(Refusal::NotFound)
        );
    }

    #[test]
    fn challenge_tokens_round_trip_and_reject_garbage() {
        let key = b64(&[7u8; 32]);
        let token = ChallengeToken::make(&key, &[9u8; 16]);
        let (parsed_key, hash) = ChallengeToken::parse(&token).unwrap();
        assert_eq!(parsed_key, key);
        assert_eq!(hash, sha256(token.as_bytes()));
        for bad in [
            "",
            ".",
            "abc.def",
            &format!("{key}."),
            &format!("{key}.{key}"),
        ] {
            assert!(ChallengeToken::parse(bad).is_none(), "{bad}");
        }
    }
}
