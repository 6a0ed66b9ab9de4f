//! What became of a code's SMS (DESIGN §13.3), told to the client that
//! asked for the code: the fold of what its challenge says (sent, not sent,
//! confirmed) and of the providers' reports in its delivery record.

use super::{App, ChallengeRef, ClientCredentials};
use crate::Error;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, ChallengeToken};
use crate::domain::delivery::{DeliveryEvent, DeliveryState, fold};

/// A status question: the client, and its challenge by token or by number
/// and reference code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpStatus {
    pub client: ClientCredentials,
    pub challenge: ChallengeRef,
}

/// Why no provider took a code, as the status says it.
pub const NOT_SENT: &str = "no_provider_took_it";

/// How the service knows an SMS arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveredBy {
    /// A provider reported it delivered.
    Reported,
    /// Its code was confirmed, and no provider reported it delivered: where
    /// carriers send no handset receipts (Vietnam's), the only sign.
    Inferred,
}

impl DeliveredBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveredBy::Reported => "reported",
            DeliveredBy::Inferred => "inferred",
        }
    }
}

/// What the status tells of a code's SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub event: DeliveryEvent,
    /// Whether, and how, it is known to have arrived.
    pub delivered: Option<DeliveredBy>,
}

impl App {
    pub async fn otp_status(&self, status: &OtpStatus) -> Result<DeliveryStatus, Error> {
        self.in_time(self.delivery_of(status)).await
    }

    async fn delivery_of(&self, status: &OtpStatus) -> Result<DeliveryStatus, Error> {
        let client = self.authenticate(&status.client).await?;
        let now = self.clock.now_ms();
        let key = |phone_key: String| ChallengeKey {
            client_id: client.client_id.clone(),
            phone_key,
        };
        let (challenge, record) = match &status.challenge {
            // The challenge's id is the token's: both read at once.
            ChallengeRef::Token(token) => {
                let (phone_key, hash) = ChallengeToken::parse(token).ok_or(Error::OtpExpired)?;
                let (key, id) = (key(phone_key), Challenge::id_of(&hash));
                let (slot, record) =
                    tokio::join!(self.store.challenge(&key), self.store.delivery(&id, now));
                (slot?.filter(|c| c.token_hash == hash), record?)
            }
            ChallengeRef::MobileAndRef {
                mobile_no,
                ref_code,
            } => {
                let (phone, _) = self.parse_phone(&client, mobile_no)?;
                let ref_code = ref_code.trim().to_ascii_uppercase();
                let slot = self
                    .store
                    .challenge(&key(self.secret.phone_key(&phone)))
                    .await?
                    .filter(|c| c.ref_code == ref_code);
                let record = match &slot {
                    Some(c) => self.store.delivery(&c.id(), now).await?,
                    None => None,
                };
                (slot, record)
            }
            ChallengeRef::Mobile { .. } => {
                return Err(Error::InvalidRequest(
                    "give either token, or mobile_no and ref_code",
                ));
            }
        };
        let said = challenge.map(|c| DeliveryEvent {
            state: match c.state {
                ChallengeState::Active => DeliveryState::Sent,
                ChallengeState::Undeliverable => DeliveryState::Failed,
                ChallengeState::Consumed => DeliveryState::Converted,
            },
            reason: (c.state == ChallengeState::Undeliverable).then(|| NOT_SENT.to_string()),
            provider: client.settings.provider_of(c.provider.as_deref()),
            at_ms: c.created_at_ms,
        });
        // A device app of a registered-only client may be an end user
        // asking: its unknown numbers' decoys are never reported on, so
        // neither are its known numbers' SMS (DESIGN §5.9).
        let reports_told =
            !(client.settings.require_registered_users && client.settings.callers_are_end_users);
        let record = record.filter(|r| r.client_id == client.client_id && reports_told);
        let delivery_reported = record.as_ref().is_some_and(|r| r.delivery_reported);
        let reported = record.map(|r| r.event);
        let event = fold(said.iter().chain(reported.iter())).ok_or(Error::OtpExpired)?;
        let delivered = match event.state {
            DeliveryState::Delivered => Some(DeliveredBy::Reported),
            DeliveryState::Converted if delivery_reported => Some(DeliveredBy::Reported),
            DeliveryState::Converted => Some(DeliveredBy::Inferred),
            _ => None,
        };
        Ok(DeliveryStatus { event, delivered })
    }
}
