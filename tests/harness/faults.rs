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
use otp_shared::store::{StartOutcome, Store, UserRequirement};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct FaultyStore {
    inner: Arc<dyn Store>,
    /// While set, `consume` fails without touching the inner store.
    pub fail_consume: AtomicBool,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            fail_consume: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        self.inner.client(client_id).await
    }
    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        self.inner.put_client(client).await
    }
    async fn user(&self, phone_key: &str) -> Result<Option<User>, Error> {
        self.inner.user(phone_key).await
    }
    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.inner.put_user(user).await
    }
    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
        requirement: Option<&UserRequirement>,
        limits: &[RateLimit],
    ) -> Result<StartOutcome, Error> {
        self.inner
            .start_challenge(challenge, now, requirement, limits)
            .await
    }
    async fn counted(&self, limit: &RateLimit) -> Result<u32, Error> {
        self.inner.counted(limit).await
    }
    async fn count(&self, limit: &RateLimit) -> Result<bool, Error> {
        self.inner.count(limit).await
    }
    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        self.inner.mark_undeliverable(key, token_hash).await
    }
    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
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
        if self.fail_consume.load(Ordering::SeqCst) {
            return Err(Error::internal(
                "dynamodb.TransactWriteItems",
                "injected: unreachable",
            ));
        }
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
        self.inner
            .rotate_refresh(family_id, presented_hash, client_id, new_hash, now)
            .await
    }
    async fn revoke_family(
        &self,
        family_id: &str,
        client_id: &str,
        token_hash: &str,
    ) -> Result<bool, Error> {
        self.inner
            .revoke_family(family_id, client_id, token_hash)
            .await
    }
}
