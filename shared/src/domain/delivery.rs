//! What became of a code's SMS (DESIGN §13.3): one state per challenge,
//! folded from what the providers report, in whatever order and however
//! often their events arrive. The fold takes the greatest event in one
//! total order, so it is the same for every permutation of the same events
//! and a duplicate changes nothing; a store applies it as one conditional
//! write (`Store::record_delivery`).

use crate::clock::Millis;
use serde::{Deserialize, Serialize};

/// In rising order: a final state beats every state that is not; among the
/// final ones the better informed wins (a carrier that reports a failed
/// attempt may deliver on its retry; a code typed back was delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Handed to the provider, not yet taken.
    Submitted,
    /// The provider took it.
    Sent,
    /// The provider cannot tell what became of it.
    Unknown,
    /// It was not delivered before it expired in the network.
    Expired,
    Failed,
    /// A carrier or the provider refused it (an opted-out number, a filter).
    Blocked,
    /// The handset received it.
    Delivered,
    /// The code was confirmed: it arrived, whatever was reported.
    Converted,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 8] = [
        DeliveryState::Submitted,
        DeliveryState::Sent,
        DeliveryState::Unknown,
        DeliveryState::Expired,
        DeliveryState::Failed,
        DeliveryState::Blocked,
        DeliveryState::Delivered,
        DeliveryState::Converted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Submitted => "submitted",
            DeliveryState::Sent => "sent",
            DeliveryState::Unknown => "unknown",
            DeliveryState::Expired => "expired",
            DeliveryState::Failed => "failed",
            DeliveryState::Blocked => "blocked",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Converted => "converted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Its place in the fold's order, as stored.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// No later report of the provider changes it (only a confirm does).
    pub fn is_final(self) -> bool {
        self > DeliveryState::Sent
    }
}

/// What one source said of one challenge's SMS, or the challenge's own
/// news (sent, converted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEvent {
    pub state: DeliveryState,
    /// The provider's reason, in a word of a bounded set (e.g.
    /// `carrier_unreachable`); none when it gave none.
    pub reason: Option<String>,
    /// Who said it: the provider's kind.
    pub provider: String,
    /// When it happened, as the source says.
    pub at_ms: Millis,
}

impl DeliveryEvent {
    /// Breaks ties of state and time: the reason, then the provider, in one
    /// string that orders as the pair does (as bytes, which is how DynamoDB
    /// compares strings): a reason's absence first, `\u{1}` between.
    pub fn tie(&self) -> String {
        let reason = match &self.reason {
            None => "0".to_string(),
            Some(reason) => format!("1{reason}"),
        };
        format!("{reason}\u{1}{}", self.provider)
    }

    /// The fold's order: by state, then time, then [`Self::tie`], so that
    /// two different events are never equal in it.
    fn order_key(&self) -> (DeliveryState, Millis, String) {
        (self.state, self.at_ms, self.tie())
    }

    /// Whether this event changes a record holding `current`.
    pub fn supersedes(&self, current: Option<&DeliveryEvent>) -> bool {
        current.is_none_or(|c| self.order_key() > c.order_key())
    }
}

/// How long a delivery record is kept after its last change: past the code,
/// for the questions of the days after (DESIGN §13.3).
pub const DELIVERY_KEPT_MS: Millis = 72 * 3_600_000;

/// How many messages of one code `delivery-events` tells End User Messaging
/// of after its confirm (a code's SMS is one message, rarely two): a bound
/// on the record's size, whatever events arrive.
pub const FEEDBACK_AFTER_THE_CONFIRM_MOST: usize = 4;

/// One challenge's delivery record: the fold of its events so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub challenge_id: String,
    /// Only this client is told of it.
    pub client_id: String,
    pub event: DeliveryEvent,
    /// The provider's id of the SMS, once a report named it (End User
    /// Messaging's, which the confirm's feedback names): kept by every
    /// later fold that names none.
    pub message_id: Option<String>,
    /// Whether a provider reported the SMS `delivered`, in this fold or an
    /// earlier one: kept by every later fold, the confirm's `converted`
    /// among them, so a confirm tells a reported delivery from one only the
    /// confirm shows (where carriers send no handset receipts).
    pub delivery_reported: bool,
}

impl DeliveryRecord {
    /// The record `event` makes for `client_id`'s challenge: a report of
    /// delivery says so (`delivery_reported`).
    pub fn new(
        challenge_id: String,
        client_id: String,
        event: DeliveryEvent,
        message_id: Option<String>,
    ) -> Self {
        Self {
            delivery_reported: event.state == DeliveryState::Delivered,
            challenge_id,
            client_id,
            event,
            message_id,
        }
    }

    /// Whether it is `client_id`'s and its code was confirmed (`converted`,
    /// which no report supersedes).
    pub fn confirmed_for(&self, client_id: &str) -> bool {
        self.client_id == client_id && self.event.state == DeliveryState::Converted
    }
}

/// The fold of `events`: the greatest of them; none for no event.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DeliveryEvent>) -> Option<DeliveryEvent> {
    events
        .into_iter()
        .fold(None::<&DeliveryEvent>, |best, event| {
            if event.supersedes(best) {
                Some(event)
            } else {
                best
            }
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(state: DeliveryState, reason: Option<&str>, at_ms: Millis) -> DeliveryEvent {
        DeliveryEvent {
            state,
            reason: reason.map(str::to_string),
            provider: "sns".into(),
            at_ms,
        }
    }

    #[test]
    fn final_states_win_and_a_confirm_wins_over_every_report() {
        let sent = event(DeliveryState::Sent, None, 5);
        let failed = event(DeliveryState::Failed, Some("carrier_unreachable"), 3);
        let delivered = event(DeliveryState::Delivered, None, 2);
        let converted = event(DeliveryState::Converted, None, 1);
        assert_eq!(
            fold([&sent, &failed]),
            Some(failed.clone()),
            "final beats later sent"
        );
        assert_eq!(fold([&failed, &delivered]), Some(delivered.clone()));
        assert_eq!(fold([&delivered, &converted, &failed]), Some(converted));
        assert_eq!(fold([&sent, &sent, &sent]), Some(sent));
        assert_eq!(fold([]), None);
    }

    #[test]
    fn states_are_named_as_the_design_names_them() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
        }
        assert!(!DeliveryState::Sent.is_final() && DeliveryState::Unknown.is_final());
    }

    fn any_event() -> impl Strategy<Value = DeliveryEvent> {
        (
            0..DeliveryState::ALL.len(),
            proptest::option::of("[a-z_]{1,12}"),
            prop_oneof![Just("sns".to_string()), Just("eum".to_string())],
            0i64..1_000,
        )
            .prop_map(|(state, reason, provider, at_ms)| DeliveryEvent {
                state: DeliveryState::ALL[state],
                reason,
                provider,
                at_ms,
            })
    }

    proptest! {
        /// DESIGN §13.3: any permutation of a challenge's events, each
        /// duplicated up to 5 times, folded one at a time as a store applies
        /// them (each a conditional write), ends in the same state.
        #[test]
        fn any_order_of_any_events_each_duplicated_folds_to_the_same_state(
            events in proptest::collection::vec(any_event(), 1..8),
            copies in proptest::collection::vec(1usize..=5, 8),
            order in any::<proptest::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let expected = fold(&events);
            let mut arrivals: Vec<&DeliveryEvent> = events
                .iter()
                .zip(&copies)
                .flat_map(|(event, n)| std::iter::repeat_n(event, *n))
                .collect();
            // A permutation drawn from the seed (Fisher–Yates).
            let mut state = seed | 1;
            for i in (1..arrivals.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                arrivals.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let first = order.index(arrivals.len());
            arrivals.rotate_left(first);
            let mut record: Option<DeliveryEvent> = None;
            for event in arrivals {
                if event.supersedes(record.as_ref()) {
                    record = Some(event.clone());
                }
            }
            prop_assert_eq!(record, expected);
        }
    }
}
