//! The in-memory store: for local mode and fast tests. Each operation runs
//! under one lock, which gives it the atomicity DynamoDB's conditions give.

use super::{StartOutcome, Store};
use crate::Error;
use crate::clock::Millis;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Refusal, Selector};
use crate::domain::client::ClientRecord;
use crate::domain::limits::RateLimit;
use crate::domain::refresh::{IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal};
use crate::domain::user::{User, UserRequirement};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Tables {
    clients: HashMap<String, ClientRecord>,
    challenges: HashMap<ChallengeKey, Challenge>,
    users: HashMap<String, User>,
    /// Rate-limit counters by key, with the end of their window.
    counters: HashMap<String, (u32, Millis)>,
    families: HashMap<String, RefreshFamily>,
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

    async fn user(&self, phone_key: &str) -> Result<Option<User>, Error> {
        Ok(self.tables().users.get(phone_key).cloned())
    }

    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.tables()
            .users
            .insert(user.phone_key.clone(), user.clone());
        Ok(())
    }

    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
        requirement: Option<&UserRequirement>,
        limits: &[RateLimit],
    ) -> Result<StartOutcome, Error> {
        let mut tables = self.tables();
        tables
            .counters
            .retain(|_, (_, window_end)| *window_end > now);
        if let Some(required) = requirement {
            match tables.users.get(&challenge.key.phone_key) {
                None => return Ok(StartOutcome::UserNotFound),
                Some(user)
                    if required.id_card_hash.is_some()
                        && user.id_card_hash != required.id_card_hash =>
                {
                    return Ok(StartOutcome::IdCardMismatch);
                }
                Some(_) => {}
            }
        }
        if let Some(old) = tables.challenges.get(&challenge.key)
            && old.cooldown_holds(now)
        {
            return Ok(StartOutcome::CoolingDown {
                resend_after_ms: old.resend_after_ms,
            });
        }
        if let Some(index) = limits.iter().position(|l| tables.spent(l)) {
            return Ok(StartOutcome::RateLimited { index });
        }
        for limit in limits {
            tables.add(limit);
        }
        tables
            .challenges
            .insert(challenge.key.clone(), challenge.clone());
        Ok(StartOutcome::Started)
    }

    async fn counted(&self, limit: &RateLimit) -> Result<u32, Error> {
        Ok(self
            .tables()
            .counters
            .get(&limit.key)
            .map_or(0, |(n, _)| *n))
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
        if let Some(c) = self.tables().challenges.get_mut(key)
            && c.token_hash == token_hash
        {
            c.state = ChallengeState::Undeliverable;
        }
        Ok(())
    }

    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        let mut tables = self.tables();
        let Some(c) = tables.challenges.get_mut(key) else {
            return Ok(Err(Refusal::NotFound));
        };
        if let Some(refusal) = c.refusal(selector, now) {
            return Ok(Err(refusal));
        }
        c.attempts += 1;
        Ok(Ok(c.clone()))
    }

    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        user: &User,
        family: Option<&RefreshFamily>,
    ) -> Result<bool, Error> {
        let mut tables = self.tables();
        let Some(c) = tables.challenges.get_mut(key) else {
            return Ok(false);
        };
        if c.token_hash != token_hash || c.state != ChallengeState::Active || now >= c.expires_at_ms
        {
            return Ok(false);
        }
        c.state = ChallengeState::Consumed;
        tables
            .users
            .entry(user.phone_key.clone())
            .or_insert_with(|| user.clone());
        if let Some(f) = family {
            tables.families.insert(f.family_id.clone(), f.clone());
        }
        Ok(true)
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
        if let Some(refusal) = f.rotation_refusal(presented_hash, client_id, now) {
            return Ok(Err(refusal));
        }
        f.spent_hashes
            .push(std::mem::replace(&mut f.current_hash, new_hash.to_string()));
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
            && f.spent_hashes.last().is_some_and(|h| h == presented_hash)
        {
            f.spent_hashes.pop();
            f.current_hash = presented_hash.to_string();
        }
        Ok(())
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        client_id: &str,
        token_hash: &str,
    ) -> Result<bool, Error> {
        match self.tables().families.get_mut(family_id) {
            Some(f) if f.client_id == client_id && f.issued(token_hash) => {
                f.revoked = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
