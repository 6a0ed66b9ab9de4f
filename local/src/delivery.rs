//! Local mode's stand-in for the providers' delivery reports (DESIGN §13.3):
//! each SMS the outbox takes is reported `delivered`, unless its number was
//! given another fate first (`POST /_local/delivery`), so an app can try its
//! "didn't get a code?" path.

use async_trait::async_trait;
use otp_shared::clock::Clock;
use otp_shared::domain::delivery::{DeliveryEvent, DeliveryRecord, DeliveryState};
use otp_shared::sms::{Outbox, SmsMessage, SmsRefused, SmsSender};
use otp_shared::store::Store;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The fate of the next SMS to a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fate {
    /// E.164, as the outbox lists it.
    pub to: String,
    pub delivery: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The fates set and not yet met, by number.
#[derive(Default)]
pub struct Fates(Mutex<HashMap<String, (DeliveryState, Option<String>)>>);

impl Fates {
    /// Sets `fate` for the next SMS to its number; `Err` says what is wrong.
    pub fn set(&self, fate: Fate) -> Result<(), String> {
        let state = DeliveryState::parse(&fate.delivery)
            .filter(|s| s.is_final() && *s != DeliveryState::Converted)
            .ok_or("delivery must be delivered, failed, blocked, expired or unknown")?;
        if !fate.to.starts_with('+') || !fate.to[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err("to must be the number in E.164, as the outbox lists it".into());
        }
        let mut fates = self.0.lock().unwrap_or_else(|p| p.into_inner());
        fates.insert(fate.to, (state, fate.reason));
        Ok(())
    }

    fn take(&self, to: &str) -> (DeliveryState, Option<String>) {
        let mut fates = self.0.lock().unwrap_or_else(|p| p.into_inner());
        fates.remove(to).unwrap_or((DeliveryState::Delivered, None))
    }
}

/// The outbox, standing in for the provider `provider`, which reports each
/// message's fate as that provider would.
pub struct ReportingOutbox {
    pub outbox: Arc<Outbox>,
    pub provider: &'static str,
    pub fates: Arc<Fates>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl SmsSender for ReportingOutbox {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        self.outbox.send(message).await?;
        let (state, reason) = self.fates.take(&message.to);
        let now = self.clock.now_ms();
        let report = DeliveryRecord::new(
            message.challenge_id.clone(),
            message.client_id.clone(),
            DeliveryEvent {
                state,
                reason,
                provider: self.provider.to_string(),
                at_ms: now,
            },
            None,
        );
        // A report that cannot be kept is lost, as a provider's can be.
        if let Err(e) = self.store.record_delivery(&report, now).await {
            tracing::warn!(error = %e, "the local delivery report was not kept");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fate(to: &str, delivery: &str) -> Fate {
        Fate {
            to: to.into(),
            delivery: delivery.into(),
            reason: Some("carrier_unreachable".into()),
        }
    }

    #[test]
    fn a_fate_is_met_once_by_the_next_sms_to_its_number() {
        let fates = Fates::default();
        fates.set(fate("+66822222222", "failed")).unwrap();
        assert_eq!(
            fates.take("+66822222222"),
            (DeliveryState::Failed, Some("carrier_unreachable".into()))
        );
        assert_eq!(fates.take("+66822222222"), (DeliveryState::Delivered, None));
    }

    #[test]
    fn only_a_providers_final_state_for_a_number_in_e164_is_a_fate() {
        let fates = Fates::default();
        for (to, delivery) in [
            ("+66822222222", "sent"),
            ("+66822222222", "converted"),
            ("+66822222222", "lost"),
            ("0822222222", "failed"),
            ("+66 82", "failed"),
        ] {
            assert!(fates.set(fate(to, delivery)).is_err(), "{to} {delivery}");
        }
    }
}
