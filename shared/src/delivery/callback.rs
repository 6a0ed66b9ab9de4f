//! What names a code to a provider's report: each SMS is sent with a ticket
//! per provider that reports on it (End User Messaging echoes it in its
//! events' `Context`; eSMS and send hooks call a URL of the service's own
//! whose last segment it is), naming the code, the provider and how long
//! reports are taken, sealed with a MAC under the server secret. A report
//! needs no credential of its own, and no one can make one for a code
//! whose ticket they were not given, or for another provider.
//!
//! ThaiBulkSMS publishes no format for the request it makes to an SMS's
//! `callback_url` (its API reference names the parameter only); the public
//! receivers of its callbacks read a `status` word (`status` or `Status`),
//! which is all the service reads: the ticket names the code.

use super::reason;
use crate::clock::Millis;
use crate::domain::delivery::{DELIVERY_KEPT_MS, DeliveryState};
use crate::domain::keys::ServerSecret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Where the callback routes live; each provider's is `/<kind>/{ticket}`
/// beneath it.
pub const CALLBACK_PATH: &str = "/v1/delivery";

/// The providers whose reports name their code by a ticket.
pub const TICKETED: [&str; 4] = ["eum", "esms", "thaibulksms", "webhook"];

/// What a report's ticket names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub client_id: String,
    pub challenge_id: String,
    /// The metrics' calling code of the number.
    pub calling_code: String,
    /// The provider whose reports it carries (a `sms_providers` kind).
    pub provider: String,
    /// Reports are taken until then: the code's expiry and the time its
    /// delivery record is kept.
    pub until_ms: Millis,
}

impl Ticket {
    /// The tickets of one SMS, one per provider that reports with one.
    pub fn seal_each(
        secret: &ServerSecret,
        client_id: &str,
        challenge_id: &str,
        calling_code: &str,
        code_expires_at_ms: Millis,
    ) -> Vec<(&'static str, String)> {
        TICKETED
            .into_iter()
            .map(|provider| {
                let ticket = Ticket {
                    client_id: client_id.to_string(),
                    challenge_id: challenge_id.to_string(),
                    calling_code: calling_code.to_string(),
                    provider: provider.to_string(),
                    until_ms: code_expires_at_ms + DELIVERY_KEPT_MS,
                };
                (provider, ticket.seal(secret))
            })
            .collect()
    }

    /// The ticket as a URL path segment: the names, then their tag.
    pub fn seal(&self, secret: &ServerSecret) -> String {
        let until = self.until_ms.to_string();
        let names = B64.encode(
            [
                self.client_id.as_str(),
                &self.challenge_id,
                &self.calling_code,
                &self.provider,
                &until,
            ]
            .join("\n"),
        );
        let tag = secret.callback_tag(&names);
        format!("{names}.{tag}")
    }

    /// The ticket `text` is, if `secret` sealed it for `provider` and it is
    /// still taken at `now`.
    pub fn open(text: &str, secret: &ServerSecret, provider: &str, now: Millis) -> Option<Ticket> {
        Self::unseal(text, secret).filter(|t| t.provider == provider && now < t.until_ms)
    }

    /// The ticket `text` is, if `secret` sealed it.
    fn unseal(text: &str, secret: &ServerSecret) -> Option<Ticket> {
        let (names, tag) = text.split_once('.')?;
        let expected = secret.callback_tag(names);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), tag.as_bytes())
            .is_err()
        {
            return None;
        }
        let names = String::from_utf8(B64.decode(names).ok()?).ok()?;
        let mut parts = names.split('\n');
        let ticket = Ticket {
            client_id: parts.next()?.to_string(),
            challenge_id: parts.next()?.to_string(),
            calling_code: parts.next()?.to_string(),
            provider: parts.next()?.to_string(),
            until_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(ticket)
    }
}

/// The state (and reason) of eSMS's callback query (`SendStatus`: 1 and 2
/// waiting, 7 with the carrier, 5 done with `SendSuccess` and `SendFailed`
/// counts, 4 refused); none for anything else.
pub fn esms_state(
    send_status: &str,
    send_success: &str,
    send_failed: &str,
) -> Option<(DeliveryState, Option<&'static str>)> {
    let count = |n: &str| n.trim().parse::<u32>().unwrap_or(0);
    Some(match send_status.trim() {
        "1" | "2" => (DeliveryState::Submitted, None),
        "7" => (DeliveryState::Sent, None),
        "5" if count(send_success) > 0 => (DeliveryState::Delivered, None),
        "5" if count(send_failed) > 0 => (DeliveryState::Failed, Some(reason::PROVIDER_ERROR)),
        "4" => (DeliveryState::Blocked, Some(reason::BLOCKED)),
        _ => return None,
    })
}

/// The state (and reason) of a ThaiBulkSMS callback's `status` word, read
/// without regard to case, in the words SMS gateways use for a message's
/// fate (their SMPP receipt words among them); none for any other, which
/// changes nothing.
pub fn thaibulksms_state(status: &str) -> Option<(DeliveryState, Option<&'static str>)> {
    let word = status.trim().to_ascii_lowercase();
    Some(match word.as_str() {
        "pending" | "queued" | "submitted" | "accepted" | "sent" | "enroute" => {
            (DeliveryState::Sent, None)
        }
        "delivered" | "delivrd" | "success" => (DeliveryState::Delivered, None),
        "failed" | "fail" | "undelivered" | "undeliv" | "rejected" | "rejectd" | "error" => {
            (DeliveryState::Failed, Some(reason::PROVIDER_ERROR))
        }
        "expired" | "expird" => (DeliveryState::Expired, Some(reason::TTL_EXPIRED)),
        "blocked" => (DeliveryState::Blocked, Some(reason::BLOCKED)),
        _ => return None,
    })
}

/// A webhook receiver's report: one of the states a provider may report
/// (`sent` and the final ones but `converted`), and a reason of the bounded
/// set (any other is read as `provider_error`, so it cannot grow a metric's
/// dimensions); none for anything else.
pub fn webhook_state(
    delivery: &str,
    why: Option<&str>,
) -> Option<(DeliveryState, Option<&'static str>)> {
    let state = DeliveryState::parse(delivery)
        .filter(|s| !matches!(s, DeliveryState::Submitted | DeliveryState::Converted))?;
    let why = match (state, why) {
        (DeliveryState::Sent | DeliveryState::Delivered, _) => None,
        (_, Some(word)) => Some(
            reason::ALL
                .into_iter()
                .find(|known| *known == word)
                .unwrap_or(reason::PROVIDER_ERROR),
        ),
        (_, None) => None,
    };
    Some((state, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ServerSecret {
        ServerSecret::new(&[7; 32]).unwrap()
    }

    #[test]
    fn a_ticket_opens_only_as_sealed_for_its_provider_while_it_lasts() {
        let ticket = Ticket {
            client_id: "shop".into(),
            challenge_id: "ch_abc-_1".into(),
            calling_code: "84".into(),
            provider: "esms".into(),
            until_ms: 1_000,
        };
        let sealed = ticket.seal(&secret());
        assert!(!sealed.contains('/') && !sealed.contains('?'), "{sealed}");
        assert_eq!(
            Ticket::open(&sealed, &secret(), "esms", 999),
            Some(ticket.clone())
        );
        assert_eq!(
            Ticket::open(&sealed, &secret(), "esms", 1_000),
            None,
            "lapsed"
        );
        assert_eq!(
            Ticket::open(&sealed, &secret(), "webhook", 999),
            None,
            "another provider's"
        );
        let other = ServerSecret::new(&[8; 32]).unwrap();
        assert_eq!(
            Ticket::open(&sealed, &other, "esms", 999),
            None,
            "another deployment's"
        );
        // Another challenge's names under this ticket's tag.
        let (_, tag) = sealed.split_once('.').unwrap();
        let forged = Ticket {
            challenge_id: "ch_other".into(),
            ..ticket
        }
        .seal(&secret());
        let (names, _) = forged.split_once('.').unwrap();
        assert_eq!(
            Ticket::open(&format!("{names}.{tag}"), &secret(), "esms", 999),
            None
        );
        for junk in ["", ".", "abc", "a.b.c", "\u{e9}.x"] {
            assert_eq!(Ticket::open(junk, &secret(), "esms", 0), None, "{junk}");
        }
    }

    #[test]
    fn esms_callbacks_read_as_their_documented_statuses() {
        assert_eq!(
            esms_state("5", "1", "0"),
            Some((DeliveryState::Delivered, None))
        );
        assert_eq!(
            esms_state("5", "0", "1"),
            Some((DeliveryState::Failed, Some("provider_error")))
        );
        assert_eq!(esms_state("7", "0", "0"), Some((DeliveryState::Sent, None)));
        assert_eq!(
            esms_state("4", "0", "1"),
            Some((DeliveryState::Blocked, Some("blocked")))
        );
        assert_eq!(esms_state("9", "1", "0"), None);
    }

    #[test]
    fn thaibulksms_status_words_read_in_any_case_and_others_read_as_nothing() {
        assert_eq!(
            thaibulksms_state("delivered"),
            Some((DeliveryState::Delivered, None))
        );
        assert_eq!(
            thaibulksms_state(" DELIVRD "),
            Some((DeliveryState::Delivered, None))
        );
        assert_eq!(
            thaibulksms_state("Failed"),
            Some((DeliveryState::Failed, Some("provider_error")))
        );
        assert_eq!(
            thaibulksms_state("EXPIRED"),
            Some((DeliveryState::Expired, Some("ttl_expired")))
        );
        assert_eq!(
            thaibulksms_state("pending"),
            Some((DeliveryState::Sent, None))
        );
        for other in ["", "converted", "submitted!", "0", "<script>"] {
            assert_eq!(thaibulksms_state(other), None, "{other}");
        }
    }

    #[test]
    fn a_webhook_reason_outside_the_bounded_set_is_a_provider_error() {
        assert_eq!(
            webhook_state("failed", Some("carrier_unreachable")),
            Some((DeliveryState::Failed, Some("carrier_unreachable")))
        );
        assert_eq!(
            webhook_state("failed", Some("<script>")),
            Some((DeliveryState::Failed, Some("provider_error")))
        );
        assert_eq!(
            webhook_state("converted", None),
            None,
            "only a confirm converts"
        );
        assert_eq!(webhook_state("nonsense", None), None);
    }
}
