//! The store every `TestApp` works through, and fault injection: it passes
//! every call to a real store, tells the log checker the keyed hash of every
//! challenge started (its code may never have been texted), and fails the
//! operations it is told to, as an unreachable DynamoDB would: before the
//! call, or after it (the write happened, its answer was lost).

use crate::logs::HashedCode;
use async_trait::async_trait;
use otp_shared::Error;
use otp_shared::clock::Millis;
use otp_shared::domain::authorization::AuthorizationCode;
use otp_shared::domain::challenge::{Challenge, ChallengeKey, Claim, Refusal, Selector};
use otp_shared::domain::client::ClientRecord;
use otp_shared::domain::delivery::{DeliveryEvent, DeliveryRecord};
use otp_shared::domain::keys::ServerSecret;
use otp_shared::domain::limits::{FailureCap, RateLimit};
use otp_shared::domain::refresh::{RefreshFamily, RotationRefusal};
use otp_shared::domain::user::User;
use otp_shared::signer::{Jwk, Signer};
use otp_shared::sms::{Outbox, SmsMessage, SmsRefused, SmsSender};
use otp_shared::store::{ClaimOutcome, Folded, Issued, Release, Store};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The call never reaches the store.
    Before,
    /// The call is made; its answer is lost.
    After,
}

pub struct HarnessStore {
    inner: Arc<dyn Store>,
    secret: Arc<ServerSecret>,
    failing: Mutex<HashSet<(&'static str, Fault)>>,
    started: Mutex<Vec<HashedCode>>,
    /// How long every call waits before it reaches the store: lets calls
    /// that a request makes at the same time overlap, as they do on the
    /// network, even over the in-memory store.
    latency: Mutex<std::time::Duration>,
}

impl HarnessStore {
    /// Over `inner`, for an app whose server secret is `secret`.
    pub fn new(inner: Arc<dyn Store>, secret: Arc<ServerSecret>) -> Self {
        Self {
            inner,
            secret,
            failing: Mutex::default(),
            started: Mutex::default(),
            latency: Mutex::default(),
        }
    }

    /// From now on, every call waits `latency` before it reaches the store.
    pub fn delay_every_call(&self, latency: std::time::Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// The code of every challenge started through this store, by its keyed
    /// hash: texted or not.
    pub fn hashed_codes(&self) -> Vec<HashedCode> {
        self.started.lock().unwrap().clone()
    }

    /// From now on, `operation` (a `Store` method name) fails before the
    /// call reaches the store.
    pub fn fail(&self, operation: &'static str) {
        self.fail_at(operation, Fault::Before);
    }

    /// From now on, `operation` fails as `fault` says.
    pub fn fail_at(&self, operation: &'static str, fault: Fault) {
        self.failing.lock().unwrap().insert((operation, fault));
    }

    /// Every operation works again.
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    fn fails(&self, operation: &'static str, fault: Fault) -> Result<(), Error> {
        if self.failing.lock().unwrap().contains(&(operation, fault)) {
            return Err(Error::internal(operation, "injected: DynamoDB unreachable"));
        }
        Ok(())
    }

    /// Runs `call` as `operation`, unless a fault strikes before or after.
    async fn run<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.fails(operation, Fault::Before)?;
        let answer = call.await;
        self.fails(operation, Fault::After)?;
        answer
    }
}

#[async_trait]
impl Store for HarnessStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        self.run("client", self.inner.client(client_id)).await
    }
    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        for (number, code) in &client.settings.test_numbers {
            crate::logs::secrets().test_number(number, code);
        }
        self.run("put_client", self.inner.put_client(client)).await
    }
    async fn user(&self, client_id: &str, phone_key: &str) -> Result<Option<User>, Error> {
        self.run("user", self.inner.user(client_id, phone_key))
            .await
    }
    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.run("put_user", self.inner.put_user(user)).await
    }
    async fn claim_slot(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        now: Millis,
        limits: &[RateLimit],
    ) -> Result<ClaimOutcome, Error> {
        let claimed = self.inner.claim_slot(key, claim, now, limits);
        self.run("claim_slot", claimed).await
    }
    async fn start_challenge(&self, challenge: &Challenge) -> Result<bool, Error> {
        self.started.lock().unwrap().push(HashedCode {
            secret: self.secret.clone(),
            token_hash: challenge.token_hash.clone(),
            code_hash: challenge.code_hash.clone(),
        });
        self.run("start_challenge", self.inner.start_challenge(challenge))
            .await
    }
    async fn release_claim(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        release: Release,
    ) -> Result<(), Error> {
        let released = self.inner.release_claim(key, claim, release);
        self.run("release_claim", released).await
    }
    async fn count(&self, limit: &RateLimit) -> Result<bool, Error> {
        self.run("count", self.inner.count(limit)).await
    }
    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error> {
        self.run("uncount", self.inner.uncount(limit)).await
    }
    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        self.run(
            "mark_undeliverable",
            self.inner.mark_undeliverable(key, token_hash),
        )
        .await
    }
    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>, Error> {
        self.run("challenge", self.inner.challenge(key)).await
    }
    async fn record_delivery(&self, record: &DeliveryRecord, now: Millis) -> Result<Folded, Error> {
        self.run("record_delivery", self.inner.record_delivery(record, now))
            .await
    }
    async fn record_message_told(
        &self,
        challenge_id: &str,
        client_id: &str,
        message_id: &str,
        now: Millis,
    ) -> Result<(), Error> {
        self.run(
            "record_message_told",
            self.inner
                .record_message_told(challenge_id, client_id, message_id, now),
        )
        .await
    }
    async fn delivery(
        &self,
        challenge_id: &str,
        now: Millis,
    ) -> Result<Option<DeliveryRecord>, Error> {
        self.run("delivery", self.inner.delivery(challenge_id, now))
            .await
    }
    async fn record_provider(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        provider: &str,
    ) -> Result<(), Error> {
        self.run(
            "record_provider",
            self.inner.record_provider(key, token_hash, provider),
        )
        .await
    }
    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        cap: &FailureCap,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        self.run(
            "count_attempt",
            self.inner.count_attempt(key, selector, cap, now),
        )
        .await
    }
    async fn uncount_attempt(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        failure_window: i64,
    ) -> Result<(), Error> {
        let given_back = self.inner.uncount_attempt(key, token_hash, failure_window);
        self.run("uncount_attempt", given_back).await
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
        let consumed = self
            .inner
            .consume(key, token_hash, now, failure_window, issued, converted);
        self.run("consume", consumed).await
    }
    async fn authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<(AuthorizationCode, Option<String>)>, Error> {
        self.run(
            "authorization_code",
            self.inner.authorization_code(code_hash),
        )
        .await
    }
    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        now: Millis,
    ) -> Result<bool, Error> {
        let redeemed = self.inner.redeem_authorization_code(code_hash, family, now);
        self.run("redeem_authorization_code", redeemed).await
    }
    async fn spend_once(&self, key: &str, until_ms: Millis) -> Result<bool, Error> {
        self.run("spend_once", self.inner.spend_once(key, until_ms))
            .await
    }
    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error> {
        self.run(
            "rotate_refresh",
            self.inner
                .rotate_refresh(family_id, presented_hash, client_id, new_hash, now),
        )
        .await
    }
    async fn unrotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> Result<(), Error> {
        self.run(
            "unrotate_refresh",
            self.inner
                .unrotate_refresh(family_id, presented_hash, new_hash),
        )
        .await
    }
    async fn revoke_family(&self, family_id: &str, client_id: &str) -> Result<bool, Error> {
        self.run(
            "revoke_family",
            self.inner.revoke_family(family_id, client_id),
        )
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
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::internal(
                "kms.GetPublicKey",
                "injected: KMS unreachable",
            ));
        }
        self.inner.public_key().await
    }
    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::internal("kms.Sign", "injected: KMS unreachable"));
        }
        self.inner.sign(kid, message).await
    }
}

/// An SMS sender whose messages go out (to `outbox`) while SNS's answer is
/// lost, as a timeout after the publish would lose it: the service hears a
/// failure for a message the phone got.
pub struct LosingSms {
    pub outbox: Arc<Outbox>,
}

#[async_trait]
impl SmsSender for LosingSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        self.outbox
            .send(message)
            .await
            .expect("the outbox takes every message");
        Err(SmsRefused)
    }
}
