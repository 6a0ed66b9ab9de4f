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
use crate::domain::refresh::{RefreshFamily, RotationRefusal};
use async_trait::async_trait;

/// An account, created on the first successful confirm of a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub account_id: String,
    pub phone_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// The slot's cooldown holds until then; nothing was written.
    CoolingDown {
        resend_after_ms: Millis,
    },
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error>;

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error>;

    /// Puts `challenge` into its slot, replacing the old one, unless the old
    /// one's cooldown still holds at `now`.
    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
    ) -> Result<StartOutcome, Error>;

    /// After a failed send: the challenge can no longer be confirmed (its
    /// cooldown stays). A no-op if the slot holds another challenge by now.
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
    /// same atomic step it records the account and, when tokens are issued,
    /// the new refresh family.
    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        account: &Account,
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
