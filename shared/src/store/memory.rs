//! The in-memory store: for local mode and fast tests. Each operation runs
//! under one lock, which gives it the atomicity DynamoDB's conditions give.

use super::{ClaimOutcome, Folded, Issued, Release, SentChallenge, SentIndex, Store};
use crate::Error;
use crate::clock::Millis;
use crate::domain::authorization::AuthorizationCode;
use crate::domain::challenge::{
    Challenge, ChallengeKey, ChallengeState, Claim, Refusal, Selector, Slot,
};
use crate::domain::client::ClientRecord;
use crate::domain::delivery::{
    DELIVERY_KEPT_MS, DeliveryEvent, DeliveryRecord, FEEDBACK_AFTER_THE_CONFIRM_MOST,
};
use crate::domain::limits::{FailureCap, RateLimit};
use crate::domain::refresh::{IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal};
use crate::domain::user::User;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Tables {
    clients: HashMap<String, ClientRecord>,
    slots: HashMap<ChallengeKey, Slot>,
    /// Directory entries by client and phone key.
    users: HashMap<(String, String), User>,
    /// Rate-limit counters by key, with the end of their window.
    counters: HashMap<String, (u32, Millis)>,
    families: HashMap<String, RefreshFamily>,
    /// Delivery records by challenge id, with when they stop being kept.
    deliveries: HashMap<String, (DeliveryRecord, Millis)>,
    /// The messages End User Messaging was told of after the confirm, by
    /// challenge id.
    feedback_told: HashMap<String, Vec<String>>,
    /// Authorization codes by hash, with the family their redemption
    /// issued.
    codes: HashMap<String, (AuthorizationCode, Option<String>)>,
    /// Keys spent once, with when they are dropped.
    spent: HashMap<String, Millis>,
}

impl Tables {
    fn spent(&self, limit: &RateLimit) -> bool {
        self.counters
            .get(&limit.key)
            .is_some_and(|(n, _)| *n >= limit.limit)
    }

    fn add(&mut self, limit: &RateLimit) {
        self.counters
            .entry(limit.key.clone())
            .or_insert((0, limit.window_end_ms))
            .0 += 1;
    }

    /// The live challenge of `key`, if it is `token_hash`'s.
    fn challenge(&mut self, key: &ChallengeKey, token_hash: &str) -> Option<&mut Challenge> {
        self.slots
            .get_mut(key)?
            .challenge
            .as_mut()
            .filter(|c| c.token_hash == token_hash)
    }

    /// Folds `record`'s event into its challenge's delivery record, as
    /// `Store::record_delivery` says.
    fn fold_delivery(&mut self, record: &DeliveryRecord, now: Millis) -> Folded {
        let kept = self
            .deliveries
            .get(&record.challenge_id)
            .filter(|(_, until)| *until > now);
        let was = kept.map(|(current, _)| current.event.state);
        let changes = match kept {
            None => true,
            Some((current, _)) => {
                current.client_id == record.client_id
                    && record.event.supersedes(Some(&current.event))
            }
        };
        if !changes {
            return match self.deliveries.get_mut(&record.challenge_id) {
                Some((current, until))
                    if *until > now && current.confirmed_for(&record.client_id) =>
                {
                    current.delivery_reported |= record.delivery_reported;
                    Folded::Confirmed {
                        message_id: current.message_id.clone(),
                        told: self
                            .feedback_told
                            .get(&record.challenge_id)
                            .cloned()
                            .unwrap_or_default(),
                    }
                }
                _ => Folded::Unchanged,
            };
        }
        let message_id = record
            .message_id
            .clone()
            .or_else(|| kept.and_then(|(current, _)| current.message_id.clone()));
        let delivery_reported =
            record.delivery_reported || kept.is_some_and(|(current, _)| current.delivery_reported);
        self.deliveries.insert(
            record.challenge_id.clone(),
            (
                DeliveryRecord {
                    message_id,
                    delivery_reported,
                    ..record.clone()
                },
                now + DELIVERY_KEPT_MS,
            ),
        );
        Folded::Changed { was }
    }

    /// The slot `key`, if `claim` holds it.
    fn claimed(&mut self, key: &ChallengeKey, claim: &str) -> Option<&mut Slot> {
        self.slots
            .get_mut(key)
            .filter(|slot| slot.claim.as_ref().is_some_and(|c| c.token_hash == claim))
    }
}

#[derive(Default)]
pub struct MemoryStore(Mutex<Tables>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A panic elsewhere while holding the lock leaves consistent data:
        // every operation below writes only after all its checks passed.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        Ok(self.tables().clients.get(client_id).cloned())
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        self.tables()
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn user(&self, client_id: &str, phone_key: &str) -> Result<Option<User>, Error> {
        let key = (client_id.to_string(), phone_key.to_string());
        Ok(self.tables().users.get(&key).cloned())
    }

    async fn put_user(&self, user: &User) -> Result<(), Error> {
        let key = (user.client_id.clone(), user.phone_key.clone());
        self.tables().users.insert(key, user.clone());
        Ok(())
    }

    async fn claim_slot(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        now: Millis,
        limits: &[RateLimit],
    ) -> Result<ClaimOutcome, Error> {
        let mut tables = self.tables();
        tables
            .counters
            .retain(|_, (_, window_end)| *window_end > now);
        if let Some(resend_after_ms) = tables.slots.get(key).and_then(|s| s.busy_until(now)) {
            return Ok(ClaimOutcome::CoolingDown { resend_after_ms });
        }
        if let Some(index) = limits.iter().position(|l| tables.spent(l)) {
            return Ok(ClaimOutcome::RateLimited { index });
        }
        for limit in limits {
            tables.add(limit);
        }
        tables.slots.entry(key.clone()).or_default().claim = Some(claim.clone());
        Ok(ClaimOutcome::Claimed)
    }

    async fn start_challenge(&self, challenge: &Challenge) -> Result<bool, Error> {
        let mut tables = self.tables();
        // Or already started by this very write and untouched since, as
        // DynamoDB's condition allows (sent again after a lost answer).
        let started = |slot: &&mut Slot| {
            slot.challenge.as_ref().is_some_and(|live| {
                live.token_hash == challenge.token_hash
                    && live.state == ChallengeState::Active
                    && live.attempts == 0
            })
        };
        let token = &challenge.token_hash;
        let slot = match tables.slots.get_mut(&challenge.key) {
            Some(slot) if slot.claim.as_ref().is_some_and(|c| &c.token_hash == token) => slot,
            Some(slot) if started(&slot) => slot,
            _ => return Ok(false),
        };
        slot.resend_after_ms = challenge.resend_after_ms;
        slot.challenge = Some(challenge.clone());
        slot.claim = None;
        Ok(true)
    }

    async fn release_claim(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        release: Release,
    ) -> Result<(), Error> {
        let mut tables = self.tables();
        if let Some(slot) = tables.claimed(key, &claim.token_hash) {
            slot.claim = None;
            if release == Release::KeepCooldown {
                slot.resend_after_ms = claim.resend_after_ms;
                if let Some(live) = &mut slot.challenge {
                    live.resend_after_ms = claim.resend_after_ms;
                }
            }
        }
        Ok(())
    }

    async fn count(&self, limit: &RateLimit) -> Result<bool, Error> {
        let mut tables = self.tables();
        if tables.spent(limit) {
            return Ok(false);
        }
        tables.add(limit);
        Ok(true)
    }

    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error> {
        if let Some((n, _)) = self.tables().counters.get_mut(&limit.key) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        if let Some(c) = self.tables().challenge(key, token_hash) {
            c.state = ChallengeState::Undeliverable;
        }
        Ok(())
    }

    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>, Error> {
        Ok(self
            .tables()
            .slots
            .get(key)
            .and_then(|slot| slot.challenge.clone()))
    }

    async fn record_delivery(&self, record: &DeliveryRecord, now: Millis) -> Result<Folded, Error> {
        Ok(self.tables().fold_delivery(record, now))
    }

    async fn record_message_told(
        &self,
        challenge_id: &str,
        client_id: &str,
        message_id: &str,
        now: Millis,
    ) -> Result<(), Error> {
        let mut tables = self.tables();
        let kept = tables
            .deliveries
            .get(challenge_id)
            .is_some_and(|(record, until)| *until > now && record.client_id == client_id);
        if !kept {
            return Ok(());
        }
        let told = tables
            .feedback_told
            .entry(challenge_id.to_string())
            .or_default();
        if told.len() < FEEDBACK_AFTER_THE_CONFIRM_MOST && !told.iter().any(|id| id == message_id) {
            told.push(message_id.to_string());
        }
        Ok(())
    }

    async fn delivery(
        &self,
        challenge_id: &str,
        now: Millis,
    ) -> Result<Option<DeliveryRecord>, Error> {
        Ok(self
            .tables()
            .deliveries
            .get(challenge_id)
            .filter(|(_, until)| *until > now)
            .map(|(record, _)| record.clone()))
    }

    async fn record_provider(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        provider: &str,
    ) -> Result<(), Error> {
        if let Some(c) = self.tables().challenge(key, token_hash) {
            c.provider = Some(provider.to_string());
        }
        Ok(())
    }

    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        cap: &FailureCap,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        let mut tables = self.tables();
        let Some(slot) = tables.slots.get_mut(key) else {
            return Ok(Err(Refusal::NotFound));
        };
        if let Some(refusal) = slot.attempt_refusal(selector, cap, now) {
            return Ok(Err(refusal));
        }
        // As DynamoDB's: the two days before yesterday's go, of no use any
        // more.
        slot.failures.remove(&(cap.window - 2));
        slot.failures.remove(&(cap.window - 3));
        *slot.failures.entry(cap.window).or_default() += 1;
        let Some(c) = slot.challenge.as_mut() else {
            return Ok(Err(Refusal::NotFound));
        };
        c.attempts += 1;
        Ok(Ok(c.clone()))
    }

    async fn uncount_attempt(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        failure_window: i64,
    ) -> Result<(), Error> {
        let mut tables = self.tables();
        let Some(slot) = tables.slots.get_mut(key) else {
            return Ok(());
        };
        let failures = slot.failures.get_mut(&failure_window);
        if let Some(c) = slot
            .challenge
            .as_mut()
            .filter(|c| c.token_hash == token_hash)
            && c.attempts > 0
            && let Some(failures) = failures.filter(|f| **f > 0)
        {
            c.attempts -= 1;
            *failures -= 1;
        }
        Ok(())
    }

    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        failure_window: i64,
        issued: Issued<'_>,
        converted: &DeliveryEvent,
    ) -> Result<bool, Error> {
        let mut tables = self.tables();
        let Some(c) = tables.challenge(key, token_hash) else {
            return Ok(false);
        };
        if c.state != ChallengeState::Active || now >= c.expires_at_ms {
            return Ok(false);
        }
        c.state = ChallengeState::Consumed;
        if let Some(failures) = tables
            .slots
            .get_mut(key)
            .and_then(|slot| slot.failures.get_mut(&failure_window))
        {
            *failures = failures.saturating_sub(1);
        }
        match issued {
            Issued::Nothing => {}
            Issued::Family(f) => {
                tables.families.insert(f.family_id.clone(), f.clone());
            }
            Issued::Code(code) => {
                tables
                    .codes
                    .insert(code.code_hash.clone(), (code.clone(), None));
            }
        }
        let record = DeliveryRecord::new(
            Challenge::id_of(token_hash),
            key.client_id.clone(),
            converted.clone(),
            None,
        );
        tables.fold_delivery(&record, now);
        Ok(true)
    }

    async fn authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<(AuthorizationCode, Option<String>)>, Error> {
        Ok(self.tables().codes.get(code_hash).cloned())
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        now: Millis,
    ) -> Result<bool, Error> {
        let mut tables = self.tables();
        let Some((code, redeemed)) = tables.codes.get_mut(code_hash) else {
            return Ok(false);
        };
        if redeemed.is_some() || now >= code.expires_at_ms {
            return Ok(false);
        }
        *redeemed = Some(family.family_id.clone());
        tables
            .families
            .insert(family.family_id.clone(), family.clone());
        Ok(true)
    }

    async fn spend_once(&self, key: &str, until_ms: Millis) -> Result<bool, Error> {
        Ok(self
            .tables()
            .spent
            .insert(key.to_string(), until_ms)
            .is_none())
    }

    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error> {
        let mut tables = self.tables();
        let Some(f) = tables.families.get_mut(family_id) else {
            return Ok(Err(RotationRefusal::Invalid));
        };
        // Already rotated by this very call (sent again after a lost
        // answer, as DynamoDB's condition allows): the same again.
        let presented_hash = match f.current_hash == new_hash {
            true => new_hash,
            false => presented_hash,
        };
        if let Some(refusal) = f.rotation_refusal(presented_hash, client_id, now) {
            return Ok(Err(refusal));
        }
        f.current_hash = new_hash.to_string();
        f.idle_expires_at_ms = now + IDLE_LIFETIME_MS;
        Ok(Ok(f.clone()))
    }

    async fn unrotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> Result<(), Error> {
        if let Some(f) = self.tables().families.get_mut(family_id)
            && f.current_hash == new_hash
        {
            f.current_hash = presented_hash.to_string();
        }
        Ok(())
    }

    async fn revoke_family(&self, family_id: &str, client_id: &str) -> Result<bool, Error> {
        match self.tables().families.get_mut(family_id) {
            Some(f) if f.client_id == client_id => {
                f.revoked = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl SentIndex for MemoryStore {
    async fn challenges_sent_to(
        &self,
        phone_key: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<SentChallenge>, Error> {
        Ok(self
            .tables()
            .slots
            .iter()
            .filter(|(key, _)| key.phone_key == phone_key)
            .filter_map(|(_, slot)| slot.challenge.as_ref())
            .filter(|c| (from_ms..=to_ms).contains(&c.created_at_ms))
            .map(|c| SentChallenge {
                client_id: c.key.client_id.clone(),
                challenge_id: c.id(),
                created_at_ms: c.created_at_ms,
                provider: c.provider.clone(),
                calling_code: c.calling_code.clone(),
            })
            .collect())
    }
}
