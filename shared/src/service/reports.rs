//! The providers' delivery reports folded into the challenges' delivery
//! records (DESIGN §13.3): `delivery-events`' one use case.

use super::App;
use crate::Error;
use crate::clock::Millis;
use crate::delivery::callback::Ticket;
use crate::delivery::{Report, Subject, reports_of};
use crate::domain::delivery::{DeliveryRecord, DeliveryState, FEEDBACK_AFTER_THE_CONFIRM_MOST};
use crate::domain::provider::reports_independently;
use crate::metrics::{Dimensions, Metric, OTHER_CALLING_CODE};
use crate::store::Folded;

/// How far SNS's clock and ours may disagree.
const CLOCK_SKEW_MS: Millis = 5_000;

/// How long after a publish its log may still arrive before the challenge
/// it is of is written (the publish and the write run side by side): a
/// report that finds no challenge sooner is asked for again.
const EARLY_MS: Millis = 120_000;

/// The challenge a report is of.
struct Matched {
    challenge_id: String,
    client_id: String,
    calling_code: Option<String>,
}

/// Why a report names no challenge.
enum NoMatch {
    /// None (yet: its challenge may still be written).
    NoneYet,
    /// Two or more.
    Two,
    /// A ticket this deployment did not seal for the report's provider, or
    /// one no longer taken.
    NotSealed,
}

/// What became of one invocation's reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReportsRecorded {
    /// The event was of no source's shape: nothing in it was read, and
    /// delivering it again would not help.
    pub unreadable: bool,
    /// Folded into a delivery record (a no-op when it said nothing new).
    pub recorded: usize,
    /// Of no challenge of this service, or of two at once: dropped.
    pub unmatched: usize,
    /// Of no challenge yet, so young that its challenge may still be
    /// written: the invocation fails so that its source delivers it again.
    pub early: usize,
}

impl App {
    /// Folds the reports in `event`, one invocation of `delivery-events`
    /// by whichever source sent it ([`reports_of`]).
    pub async fn record_delivery_event(
        &self,
        event: &serde_json::Value,
    ) -> Result<ReportsRecorded, Error> {
        match reports_of(event) {
            Ok(reports) => self.record_reports(&reports).await,
            Err(unreadable) => {
                tracing::warn!(what = unreadable.0, "unreadable delivery event");
                Ok(ReportsRecorded {
                    unreadable: true,
                    ..ReportsRecorded::default()
                })
            }
        }
    }

    /// Folds each of `reports` into its challenge's delivery record. An
    /// error when a store call failed or a report came early
    /// ([`ReportsRecorded::early`]): the source then delivers the whole
    /// event again, and the reports already folded fold to the same state.
    pub async fn record_reports(&self, reports: &[Report]) -> Result<ReportsRecorded, Error> {
        let now = self.clock.now_ms();
        let mut recorded = ReportsRecorded::default();
        for report in reports {
            let Matched {
                challenge_id,
                client_id,
                calling_code,
            } = match self.challenge_of(report, now).await? {
                Ok(matched) => matched,
                Err(NoMatch::NoneYet) => {
                    match report.subject {
                        Subject::SnsPublish {
                            published_at_ms, ..
                        } if now - published_at_ms < EARLY_MS => recorded.early += 1,
                        _ => recorded.unmatched += 1,
                    }
                    continue;
                }
                // Two clients' codes to one number at once: SNS's log cannot
                // tell whose it is, and waiting will not tell either; or a
                // ticket not sealed here, for another provider, or lapsed.
                Err(NoMatch::Two | NoMatch::NotSealed) => {
                    recorded.unmatched += 1;
                    continue;
                }
            };
            let record = DeliveryRecord::new(
                challenge_id,
                client_id,
                report.event.clone(),
                report.message_id.clone(),
            );
            // A state is counted when a code enters it (a repeat, or news of
            // the same state, counts nothing), and the delivery alarm's score
            // once per code, at its first final state, from a source other
            // than the client itself.
            let state = record.event.state;
            let folded = self.store.record_delivery(&record, now).await?;
            if let Folded::Confirmed { message_id, told } = &folded {
                self.tell_received_after_the_confirm(&record, message_id.as_ref(), told, now)
                    .await;
            }
            if let Folded::Changed { was } = folded
                && was != Some(state)
                && state != DeliveryState::Submitted
            {
                let event = &record.event;
                let first_final = state.is_final()
                    && !was.is_some_and(DeliveryState::is_final)
                    && reports_independently(&event.provider);
                self.count_by(
                    Metric::Delivery(state),
                    &Dimensions {
                        client_id: &record.client_id,
                        calling_code: Some(calling_code.as_deref().unwrap_or(OTHER_CALLING_CODE)),
                        line_type: None,
                        provider: Some(&event.provider),
                        reason: event.reason.as_deref(),
                    },
                    first_final,
                );
            }
            recorded.recorded += 1;
        }
        tracing::info!(
            recorded = recorded.recorded,
            unmatched = recorded.unmatched,
            early = recorded.early,
            "delivery reports"
        );
        if recorded.early > 0 {
            return Err(Error::Busy {
                retry_after_secs: 60,
            });
        }
        Ok(recorded)
    }

    /// An End User Messaging event naming a message the confirm could not
    /// tell End User Messaging of: the code was confirmed before any event
    /// named it (the record says `converted` under no message id), or it is
    /// a second message of the code (a retry that had sent; another id).
    /// This tells End User Messaging now, or AWS counts the message failed;
    /// not for an event that says the message failed, nor for a message
    /// told already. Told first, recorded after, so a feedback that fails
    /// is given by the message's next event (two events at once may both
    /// tell: the feedback is a state, given twice alike).
    async fn tell_received_after_the_confirm(
        &self,
        report: &DeliveryRecord,
        named: Option<&String>,
        told: &[String],
        now: Millis,
    ) {
        let (Some(feedback), Some(message_id)) = (&self.feedback, &report.message_id) else {
            return;
        };
        let failed =
            report.event.state.is_final() && report.event.state != DeliveryState::Delivered;
        if report.event.provider != "eum"
            || failed
            || named == Some(message_id)
            || told.contains(message_id)
            || told.len() >= FEEDBACK_AFTER_THE_CONFIRM_MOST
        {
            return;
        }
        let given = async {
            feedback.received(message_id).await?;
            self.store
                .record_message_told(&report.challenge_id, &report.client_id, message_id, now)
                .await?;
            Ok(true)
        };
        if self.feedback_within_an_attempt(given).await == Some(true) {
            tracing::info!("message feedback given after the confirm");
        }
    }

    /// The challenge (and its client) `report` names, if exactly one.
    async fn challenge_of(
        &self,
        report: &Report,
        now: Millis,
    ) -> Result<Result<Matched, NoMatch>, Error> {
        match &report.subject {
            Subject::Sealed { ticket } => Ok(
                match Ticket::open(ticket, &self.secret, &report.event.provider, now) {
                    Some(ticket) => Ok(Matched {
                        challenge_id: ticket.challenge_id,
                        client_id: ticket.client_id,
                        calling_code: Some(ticket.calling_code),
                    }),
                    None => Err(NoMatch::NotSealed),
                },
            ),
            Subject::SnsPublish {
                phone_e164,
                published_at_ms,
            } => {
                // The request began before its publish, by at most the time
                // it had to answer.
                let answer_ms = self.config.timeouts.answer_within().as_millis() as Millis;
                // Wired in delivery-events only (`Deployment::with_sent_index`).
                let Some(index) = &self.sent_index else {
                    return Err(Error::internal(
                        "delivery.sent_index",
                        "SNS's logs need the index of challenges by number",
                    ));
                };
                let sent = index
                    .challenges_sent_to(
                        &self.secret.phone_key_of_e164(phone_e164),
                        published_at_ms - answer_ms - CLOCK_SKEW_MS,
                        published_at_ms + CLOCK_SKEW_MS,
                    )
                    .await?;
                let mut by_sns = sent
                    .into_iter()
                    .filter(|c| c.provider.as_deref() == Some("sns"));
                Ok(match (by_sns.next(), by_sns.next()) {
                    (Some(only), None) => Ok(Matched {
                        challenge_id: only.challenge_id,
                        client_id: only.client_id,
                        calling_code: Some(only.calling_code),
                    }),
                    (None, _) => Err(NoMatch::NoneYet),
                    (Some(_), Some(_)) => Err(NoMatch::Two),
                })
            }
        }
    }
}
