//! The storage port. Each operation is one atomic step of the protocol: the
//! DynamoDB adapter does it as one conditional write or transaction, the
//! in-memory adapter under one lock, and both decide with the same domain
//! functions ([`Challenge::refusal`], [`RefreshFamily::rotation_refusal`]).

mod dynamo;
mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

use crate::Error;
use crate::clock::Millis;
use crate::domain::challenge::{Challenge, ChallengeKey, Refusal, Selector};
use crate::domain::client::ClientRecord;
use crate::domain::limits::RateLimit;
use crate::domain::refresh::{RefreshFamily, RotationRefusal};
use crate::domain::user::{User, UserRequirement};
use async_trait::async_trait;

/// Whether a challenge was started; nothing is written unless `Started`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// The slot's cooldown holds until then.
    CoolingDown {
        resend_after_ms: Millis,
    },
    /// A user was required and the directory has none for this phone.
    UserNotFound,
    /// The user exists but the ID card number is not theirs.
    IdCardMismatch,
    /// The rate limit at this index of the given limits is spent.
    RateLimited {
        index: usize,
    },
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error>;

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error>;

    /// The directory entry for a phone.
    async fn user(&self, phone_key: &str) -> Result<Option<User>, Error>;

    /// Adds or replaces a directory entry.
    async fn put_user(&self, user: &User) -> Result<(), Error>;

    /// Puts `challenge` into its slot, replacing the old one, and counts it
    /// against every limit in `limits`, all in one atomic step that writes
    /// nothing unless all pass. Checked in order: the directory `requirement`
    /// if any, the old challenge's cooldown, then the limits.
    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
        requirement: Option<&UserRequirement>,
        limits: &[RateLimit],
    ) -> Result<StartOutcome, Error>;

    /// How much of `limit` is spent.
    async fn counted(&self, limit: &RateLimit) -> Result<u32, Error>;

    /// Counts one against `limit`, atomically; `false` (and nothing counted)
    /// when it is already spent. A single conditional write, never part of a
    /// transaction: shared counters are counted this way.
    async fn count(&self, limit: &RateLimit) -> Result<bool, Error>;

    /// Gives back one count of `limit` (a request it counted was refused
    /// later); never below zero.
    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error>;

    /// After a failed send, or a request refused after its challenge was
    /// started: the challenge can no longer be confirmed (its cooldown
    /// stays). A no-op if the slot holds another challenge by now.
    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error>;

    /// Counts one attempt before the code is compared, so concurrent guesses
    /// can never exceed the limit. Returns the challenge as counted, or why no
    /// attempt may be made (nothing is written then).
    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error>;

    /// Consumes the challenge, once: only one caller ever gets `true`. In the
    /// same atomic step it records the user (kept as it is if it exists) and,
    /// when tokens are issued, the new refresh family.
    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        user: &User,
        family: Option<&RefreshFamily>,
    ) -> Result<bool, Error>;

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
    /// to `client_id` and `token_hash` is one of its tokens, current or spent.
    /// Returns whether it did.
    async fn revoke_family(
        &self,
        family_id: &str,
        client_id: &str,
        token_hash: &str,
    ) -> Result<bool, Error>;
}
