//! Fault injection: a store that passes every call to a real one, except the
//! operations told to fail, which fail as an unreachable DynamoDB would.

use async_trait::async_trait;
use otp_shared::Error;
use otp_shared::clock::Millis;
use otp_shared::domain::challenge::{Challenge, ChallengeKey, Refusal, Selector};
use otp_shared::domain::client::ClientRecord;
use otp_shared::domain::limits::RateLimit;
use otp_shared::domain::refresh::{RefreshFamily, RotationRefusal};
use otp_shared::domain::user::User;
use otp_shared::domain::user::UserRequirement;
use otp_shared::signer::{Jwk, Signer};
use otp_shared::store::{StartOutcome, Store};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct FaultyStore {
    inner: Arc<dyn Store>,
    failing: Mutex<HashSet<&'static str>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            failing: Mutex::default(),
        }
    }

    /// From now on, `operation` (a `Store` method name) fails.
    pub fn fail(&self, operation: &'static str) {
        self.failing.lock().unwrap().insert(operation);
    }

    /// Every operation works again.
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    fn check(&self, operation: &'static str) -> Result<(), Error> {
        if self.failing.lock().unwrap().contains(operation) {
            return Err(Error::internal(operation, "injected: DynamoDB unreachable"));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        self.check("client")?;
        self.inner.client(client_id).await
    }
    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        self.check("put_client")?;
        self.inner.put_client(client).await
    }
    async fn user(&self, phone_key: &str) -> Result<Option<User>, Error> {
        self.check("user")?;
        self.inner.user(phone_key).await
    }
    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.check("put_user")?;
        self.inner.put_user(user).await
    }
    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
        requirement: Option<&UserRequirement>,
        limits: &[RateLimit],
    ) -> Result<StartOutcome, Error> {
        self.check("start_challenge")?;
        self.inner
            .start_challenge(challenge, now, requirement, limits)
            .await
    }
    async fn counted(&self, limit: &RateLimit) -> Result<u32, Error> {
        self.check("counted")?;
        self.inner.counted(limit).await
    }
    async fn count(&self, limit: &RateLimit) -> Result<bool, Error> {
        self.check("count")?;
        self.inner.count(limit).await
    }
    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error> {
        self.check("uncount")?;
        self.inner.uncount(limit).await
    }
    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        self.check("mark_undeliverable")?;
        self.inner.mark_undeliverable(key, token_hash).await
    }
    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        self.check("count_attempt")?;
        self.inner.count_attempt(key, selector, now).await
    }
    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        user: &User,
        family: Option<&RefreshFamily>,
    ) -> Result<bool, Error> {
        self.check("consume")?;
        self.inner.consume(key, token_hash, now, user, family).await
    }
    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error> {
        self.check("rotate_refresh")?;
        self.inner
            .rotate_refresh(family_id, presented_hash, client_id, new_hash, now)
            .await
    }
    async fn unrotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> Result<(), Error> {
        self.check("unrotate_refresh")?;
        self.inner
            .unrotate_refresh(family_id, presented_hash, new_hash)
            .await
    }
    async fn revoke_family(
        &self,
        family_id: &str,
        client_id: &str,
        token_hash: &str,
    ) -> Result<bool, Error> {
        self.check("revoke_family")?;
        self.inner
            .revoke_family(family_id, client_id, token_hash)
            .await
    }
}

/// A signer that fails, as KMS would when unreachable, while told to.
pub struct FaultySigner {
    inner: Arc<dyn Signer>,
    failing: AtomicBool,
}

impl FaultySigner {
    pub fn new(inner: Arc<dyn Signer>) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
        }
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Signer for FaultySigner {
    async fn public_key(&self) -> Result<Jwk, Error> {
        self.inner.public_key().await
    }
    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::internal("kms.Sign", "injected: KMS unreachable"));
        }
        self.inner.sign(kid, message).await
    }
}
