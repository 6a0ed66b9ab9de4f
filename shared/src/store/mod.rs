//! The storage port. Each operation is one atomic step of the protocol: the
//! DynamoDB adapter does it as one conditional write or transaction, the
//! in-memory adapter under one lock, and both decide with the same domain
//! functions ([`Challenge::refusal`], [`Slot::busy_until`],
//! [`RefreshFamily::rotation_refusal`]).
//!
//! [`Slot::busy_until`]: crate::domain::challenge::Slot::busy_until

#[cfg(feature = "aws")]
mod dynamo;
mod memory;

#[cfg(feature = "aws")]
pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

use crate::Error;
use crate::clock::Millis;
use crate::domain::authorization::AuthorizationCode;
use crate::domain::challenge::{Challenge, ChallengeKey, Claim, Refusal, Selector};
use crate::domain::client::ClientRecord;
use crate::domain::delivery::{DeliveryEvent, DeliveryRecord, DeliveryState};
use crate::domain::limits::{FailureCap, RateLimit};
use crate::domain::refresh::{RefreshFamily, RotationRefusal};
use crate::domain::user::User;
use async_trait::async_trait;

/// A challenge found by the number it was sent to: enough to name it and
/// to tell it from the others sent to that number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentChallenge {
    pub client_id: String,
    pub challenge_id: String,
    pub created_at_ms: Millis,
    /// The provider that sent it; none for a test number or a decoy.
    pub provider: Option<String>,
    /// The metrics' calling code of its number.
    pub calling_code: String,
}

/// The challenges by the number they were sent to (DESIGN §13.3: SNS's
/// delivery logs name only the number). A port apart from [`Store`], so that
/// only delivery-events, which wires it, links the index's query.
#[async_trait]
pub trait SentIndex: Send + Sync {
    /// The live challenges of every client for the number `phone_key` whose
    /// requests began within `from_ms..=to_ms`.
    async fn challenges_sent_to(
        &self,
        phone_key: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<SentChallenge>, Error>;
}

/// What a consumed challenge issues, stored in the same atomic step.
#[derive(Debug, Clone, Copy)]
pub enum Issued<'a> {
    /// Nothing: the code was only checked.
    Nothing,
    /// Tokens: their refresh family.
    Family(&'a RefreshFamily),
    /// The hosted page's login: its authorization code (DESIGN §14).
    Code(&'a AuthorizationCode),
}

/// What folding a report did to its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folded {
    /// The record holds an event that supersedes it, or another client's.
    Unchanged,
    /// The record is the client's and its code was confirmed (`converted`,
    /// which no report supersedes): the message id the confirm could tell
    /// End User Messaging of, and the messages told of since.
    Confirmed {
        message_id: Option<String>,
        told: Vec<String>,
    },
    /// Written; the state the record held before (none for a new record
    /// or one no longer kept).
    Changed { was: Option<DeliveryState> },
}

/// Whether a slot was claimed; nothing is written unless `Claimed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// Another request's claim, or the cooldown, holds the slot until then.
    CoolingDown {
        resend_after_ms: Millis,
    },
    /// The rate limit at this index of the given limits is spent.
    RateLimited {
        index: usize,
    },
}

/// How a request lets go of the claim it holds without starting its
/// challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Refused: the slot is as it was before the claim.
    Withdraw,
    /// Answered without a code (a One ID directory answer, which counts as
    /// a request): the claim's time to resend becomes the slot's cooldown;
    /// the live challenge, if any, stays as it is.
    KeepCooldown,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error>;

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error>;

    /// The directory entry registering a phone for a client.
    async fn user(&self, client_id: &str, phone_key: &str) -> Result<Option<User>, Error>;

    /// Adds or replaces a directory entry.
    async fn put_user(&self, user: &User) -> Result<(), Error>;

    /// Claims the slot `key` for `claim` and counts it against every limit
    /// in `limits`, all in one atomic step that writes nothing unless all
    /// pass: the slot must hold no live claim and no cooldown (checked
    /// first), then each limit must have room. The live challenge is left
    /// as it is.
    async fn claim_slot(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        now: Millis,
        limits: &[RateLimit],
    ) -> Result<ClaimOutcome, Error>;

    /// The challenge the slot `key` holds, whatever its state; none for an
    /// empty slot or one that holds only a claim.
    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>, Error>;

    /// Folds `record`'s event into the delivery record of its challenge
    /// (DESIGN §13.3), the first event creating it: one conditional write,
    /// a no-op when the record holds an event that supersedes it
    /// (`DeliveryEvent::supersedes`) or names another client. Kept
    /// `DELIVERY_KEPT_MS` from `now`. Whether it changed the record, and
    /// from which state. A report of delivery that a confirmed record
    /// supersedes still marks it `delivery_reported` (with a second write,
    /// once).
    async fn record_delivery(&self, record: &DeliveryRecord, now: Millis) -> Result<Folded, Error>;

    /// Records that End User Messaging was told `message_id` arrived after
    /// the confirm, on the client's kept record (`Folded::Confirmed`'s
    /// `told`): a no-op for none, another client's, or one that holds
    /// `FEEDBACK_AFTER_THE_CONFIRM_MOST` already.
    async fn record_message_told(
        &self,
        challenge_id: &str,
        client_id: &str,
        message_id: &str,
        now: Millis,
    ) -> Result<(), Error>;

    /// The delivery record of `challenge_id`, while it is kept.
    async fn delivery(
        &self,
        challenge_id: &str,
        now: Millis,
    ) -> Result<Option<DeliveryRecord>, Error>;

    /// Makes `challenge` the slot's live challenge and ends the claim its
    /// token hash holds; the old challenge, and its code, die. `false` (and
    /// nothing written) when the slot no longer holds that claim.
    async fn start_challenge(&self, challenge: &Challenge) -> Result<bool, Error>;

    /// Ends `claim` on the slot `key` without starting its challenge, as
    /// `release` says; a no-op if the slot no longer holds it.
    async fn release_claim(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        release: Release,
    ) -> Result<(), Error>;

    /// Counts one against `limit`, atomically; `false` (and nothing counted)
    /// when it is already spent. A single conditional write, never part of a
    /// transaction: shared counters are counted this way.
    async fn count(&self, limit: &RateLimit) -> Result<bool, Error>;

    /// Gives back one count of `limit` (a request it counted was refused
    /// later); never below zero.
    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error>;

    /// After a failed send: the challenge can no longer be confirmed (its
    /// cooldown stays). A no-op if the slot holds another challenge by now.
    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error>;

    /// After a send that another provider than the challenge names took
    /// (failover): the challenge names `provider`. A no-op if the slot holds
    /// another challenge by now.
    async fn record_provider(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        provider: &str,
    ) -> Result<(), Error>;

    /// Counts one attempt on the live challenge and one wrong code on the
    /// day's `cap`, in one atomic step, before the code is compared: so
    /// concurrent guesses can exceed neither the challenge's attempts nor
    /// the day's cap. Returns the challenge as counted, or why no attempt may
    /// be made (nothing is written then).
    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        cap: &FailureCap,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error>;

    /// Gives back what `count_attempt` counted for the challenge `token_hash`
    /// on the day `failure_window`, for a confirm that compared no code;
    /// a no-op if the slot holds another challenge by now.
    async fn uncount_attempt(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        failure_window: i64,
    ) -> Result<(), Error>;

    /// Consumes the challenge, once: only one caller ever gets `true`. In the
    /// same atomic step it gives back the wrong code its attempt counted on
    /// the day `failure_window` (the code was right), stores what the login
    /// `issued` (a refresh family, or an authorization code), and folds
    /// `converted` (the greatest of all delivery events) into the
    /// challenge's delivery record, which outlives the slot's next
    /// challenge.
    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        failure_window: i64,
        issued: Issued<'_>,
        converted: &DeliveryEvent,
    ) -> Result<bool, Error>;

    /// The authorization code whose hash is `code_hash`, past its lifetime
    /// too while it is kept (a minute more), and the refresh family its
    /// redemption issued, if it was redeemed; none for a code never issued.
    async fn authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<(AuthorizationCode, Option<String>)>, Error>;

    /// Redeems the code `code_hash` once, storing `family` (the tokens it
    /// issues) in the same atomic step: `false`, and nothing written, when
    /// it was redeemed before or has expired at `now`.
    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        now: Millis,
    ) -> Result<bool, Error>;

    /// Spends `key` once (a proof of work's challenge): `false` when it was
    /// spent before. Kept until `until_ms`, after which the key is no
    /// longer accepted by its caller anyway.
    async fn spend_once(&self, key: &str, until_ms: Millis) -> Result<bool, Error>;

    /// Replaces the family's current token hash with `new_hash` if
    /// `presented_hash` is current, the family live and `client_id` its owner.
    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error>;

    /// Undoes a rotation whose new token never reached the caller (signing
    /// failed): `presented_hash` is current again, if `new_hash` still is.
    async fn unrotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> Result<(), Error>;

    /// Ends a family, none of whose tokens can be used again, if it belongs
    /// to `client_id`. Returns whether it did.
    async fn revoke_family(&self, family_id: &str, client_id: &str) -> Result<bool, Error>;
}
