//! Requesting a code: the challenge, its limits, and the SMS.

use super::{
    App, LOGIN_BY_MOBILE, LOGIN_BY_MOBILE_AND_ID_CARD, OtpRequest, OtpSent, UnknownUsers,
    seconds_until,
};
use crate::Error;
use crate::clock::Millis;
use crate::domain::address::EndUserAddress;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, ChallengeToken};
use crate::domain::client::OverrideError;
use crate::domain::code::{generate_code, generate_ref_code, random_bytes};
use crate::domain::keys::sha256;
use crate::domain::limits::{Beside, RateLimit, SendSubject, send_limits};
use crate::domain::user::ThaiIdCard;
use crate::domain::user::UserRequirement;
use crate::metrics::{self, Metric};
use crate::sms::SmsMessage;
use crate::store::StartOutcome;
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// Shard sequences kept before old windows' are dropped.
const SHARD_SEQUENCES_MAX: usize = 1024;

pub const END_USER_IP_INVALID: &str = "end_user_ip must be an IPv4 or IPv6 address";

/// The error for a start the store refused (the directory, for clients that
/// reveal unknown users; the cooldown; a rate limit), and the refusal it is
/// counted as in the metrics, if it is one.
fn start_refusal(
    outcome: StartOutcome,
    limits: &[RateLimit],
    now: Millis,
) -> (Error, Option<metrics::Refusal>) {
    match outcome {
        StartOutcome::UserNotFound => (Error::UserNotFound, None),
        StartOutcome::IdCardMismatch => (Error::IdCardMismatch, None),
        StartOutcome::CoolingDown { resend_after_ms } => (
            Error::Cooldown {
                retry_after_secs: seconds_until(resend_after_ms, now),
            },
            Some(metrics::Refusal::Cooldown),
        ),
        StartOutcome::RateLimited { index } => (
            Error::RateLimited {
                retry_after_secs: seconds_until(limits[index].window_end_ms, now),
            },
            Some(metrics::Refusal::RateLimit),
        ),
        other => (
            Error::internal("service.start", &format!("unexpected outcome {other:?}")),
            None,
        ),
    }
}

impl App {
    /// Creates a challenge and texts its code (DESIGN §5.1–5.3, 5.8, 5.10).
    pub async fn request_otp(&self, request: &OtpRequest) -> Result<OtpSent, Error> {
        let sms = self.sms()?;
        let client = self.authenticate(&request.client).await?;
        let settings = &client
            .settings
            .with_defaults(&self.config.client_defaults)
            .with_overrides(&request.overrides)
            .map_err(|e| match e {
                OverrideError::OutOfBounds(what) => Error::InvalidRequest(what),
                OverrideError::TemplateNotRegistered => Error::TemplateNotRegistered,
            })?;
        let client_id = client.client_id.as_str();
        let (phone, dimension) = match self.parse_phone(&client, &request.mobile_no) {
            Err(Error::MobileNotAllowed) => {
                let other = Some(metrics::OTHER_CALLING_CODE);
                self.count(Metric::CodeRequested, client_id, other);
                self.count(
                    Metric::Refused(metrics::Refusal::AllowList),
                    client_id,
                    other,
                );
                return Err(Error::MobileNotAllowed);
            }
            parsed => parsed?,
        };
        let id_card = match &request.id_card_num {
            Some(raw) => Some(ThaiIdCard::parse(raw).ok_or(Error::InvalidIdCard)?),
            None => None,
        };
        let sender_id = settings
            .sender_id(request.sms_sender.as_deref())
            .map_err(|_| Error::SenderNotRegistered)?
            .map(str::to_string);
        let calling_code = Some(dimension.as_str());
        self.count(Metric::CodeRequested, client_id, calling_code);

        let now = self.clock.now_ms();
        let entropy = self.entropy.as_ref();
        // Test numbers (never in production: see `authenticate`) have a fixed
        // code and are never texted.
        let test_code = settings.test_numbers.get(phone.e164()).cloned();
        let code = test_code.clone().unwrap_or_else(|| {
            generate_code(entropy, settings.code_length(), settings.code_charset)
        });
        let ref_code = generate_ref_code(entropy);
        let phone_key = self.secret.phone_key(&phone);
        let token = ChallengeToken::make(&phone_key, &random_bytes(entropy));
        let token_hash = sha256(token.as_bytes());
        let directory =
            (settings.require_registered_users || id_card.is_some()).then(|| UserRequirement {
                id_card_hash: id_card.as_ref().map(|card| self.secret.id_card_hash(card)),
            });
        let challenge = Challenge {
            key: ChallengeKey {
                client_id: client.client_id.clone(),
                phone_key: phone_key.clone(),
            },
            code_hash: self.secret.code_hash(&token_hash, &code),
            token_hash,
            ref_code: ref_code.clone(),
            attempts: 0,
            max_attempts: settings.max_attempts,
            created_at_ms: now,
            expires_at_ms: now + i64::from(settings.lifetime_secs()) * 1000,
            resend_after_ms: now + i64::from(settings.resend_cooldown_secs) * 1000,
            state: ChallengeState::Active,
            login_by: if id_card.is_some() {
                LOGIN_BY_MOBILE_AND_ID_CARD
            } else {
                LOGIN_BY_MOBILE
            }
            .to_string(),
            calling_code: dimension.clone(),
            directory: directory.clone(),
        };
        let sent = OtpSent {
            ref_code: ref_code.clone(),
            token,
            expires_in: settings.lifetime_secs().into(),
            resend_after: settings.resend_cooldown_secs.into(),
            test_code: test_code.clone(),
        };

        let ip_subject = self.ip_subject(settings.callers_are_end_users, request)?;
        let subject = SendSubject {
            client_id: &client.client_id,
            phone_key: &phone_key,
            prefix_key: &self.secret.prefix_key(&phone),
            ip_subject: ip_subject.as_deref(),
        };
        let limits = send_limits(settings, &subject, now);
        // Clients that reveal unknown users (One ID) refuse them with the
        // start, in its transaction; the others start the challenge either
        // way and read the directory beside it, so that a known and an
        // unknown number cost the same calls, and the confirm checks it.
        let (refused_at_start, read_beside) = match request.unknown_users {
            UnknownUsers::Reveal => (directory.as_ref(), None),
            UnknownUsers::AnswerAsKnown => (None, directory.as_ref()),
        };
        // One round trip: the challenge and the phone's counters in one
        // transaction; beside it, one shard of each other counter and the
        // directory entry.
        let (started, shared, known) = tokio::join!(
            self.store
                .start_challenge(&challenge, now, refused_at_start, &limits.in_transaction),
            join_all(
                limits
                    .beside
                    .iter()
                    .map(|(kind, whole)| self.count_beside(*kind, whole, now))
            ),
            async {
                match read_beside {
                    Some(required) => self
                        .store
                        .user(&phone_key)
                        .await
                        .map(|user| required.met_by(user.as_ref())),
                    None => Ok(true),
                }
            }
        );
        let shared = BesideOutcome { answers: shared };
        let started = match started {
            Ok(started) => started,
            Err(e) => {
                self.give_back(&shared, None, &challenge).await;
                return Err(e);
            }
        };
        let refusal = match &known {
            Ok(_) => shared.refusal(now),
            Err(e) => Some(Refused::Denied(e.clone())),
        };
        match (started, refusal) {
            (StartOutcome::Started, None) => {}
            (StartOutcome::Started, Some(Refused::SmsCeiling)) => {
                self.count(
                    Metric::Refused(metrics::Refusal::Ceiling),
                    client_id,
                    calling_code,
                );
                tracing::error!(
                    alert = "sms_ceiling_reached",
                    client_id = %client.client_id,
                    ceiling_per_hour = settings.sms_ceiling_per_hour,
                    "SMS ceiling reached: circuit open, answering without sending until the hour is over"
                );
                // Answered as sent and counted as one; its code is never
                // texted, so no one can know it.
                return self.as_if_sent(sent).await;
            }
            (StartOutcome::Started, Some(Refused::Denied(e))) => {
                self.give_back(&shared, Some(&limits.in_transaction), &challenge)
                    .await;
                return Err(e);
            }
            (StartOutcome::Started, Some(Refused::Limited(e, why))) => {
                self.count(Metric::Refused(why), client_id, calling_code);
                self.give_back(&shared, Some(&limits.in_transaction), &challenge)
                    .await;
                return Err(e);
            }
            (outcome, _) => {
                let (error, counted_as) = start_refusal(outcome, &limits.in_transaction, now);
                if let Some(why) = counted_as {
                    self.count(Metric::Refused(why), client_id, calling_code);
                }
                self.give_back(&shared, None, &challenge).await;
                return Err(error);
            }
        }
        if known == Ok(false) {
            // A number the directory does not know (or whose ID card is not
            // the one given): the same challenge, counters and answer as for
            // a known one, and nothing sent; the confirm refuses every code.
            return self.as_if_sent(sent).await;
        }

        if test_code.is_some() {
            tracing::info!(client_id = %client.client_id, phone = %phone, "test number: not sent");
            return Ok(sent);
        }
        let message = SmsMessage {
            to: phone.e164().to_string(),
            text: settings.render_message(request.locale.as_deref(), &code, &ref_code),
            sender_id,
            code,
        };
        let started = Instant::now();
        let delivered = sms.send(&message).await;
        self.send_times.record(started.elapsed());
        if delivered.is_err() {
            self.count(Metric::SmsFailed, client_id, calling_code);
            tracing::warn!(client_id = %client.client_id, phone = %phone, "sms refused");
            self.store
                .mark_undeliverable(&challenge.key, &challenge.token_hash)
                .await?;
            return Err(Error::SmsFailed);
        }
        self.count(Metric::CodeSent, client_id, calling_code);
        tracing::info!(client_id = %client.client_id, phone = %phone, ref_code = %ref_code, "otp sent");
        Ok(sent)
    }

    /// Answers a request that sends nothing as a sent one, after as long as
    /// sends take lately, so timing does not tell the two apart.
    async fn as_if_sent(&self, sent: OtpSent) -> Result<OtpSent, Error> {
        tokio::time::sleep(self.send_times.typical()).await;
        Ok(sent)
    }

    /// Counts this request on a shard of the counter `whole`: this instance
    /// takes them in turn, from the first, in each window (see
    /// `RateLimit::shard`). A spent shard is not a spent limit: shards fill
    /// unevenly when many instances count on them (each new instance starts
    /// at the first), so the others are tried in turn before the request is
    /// refused; the extra round trips are paid only near the limit.
    async fn count_beside(
        &self,
        kind: Beside,
        whole: &RateLimit,
        now: Millis,
    ) -> (Beside, RateLimit, Result<bool, Error>) {
        let shards = kind.shards().clamp(1, whole.limit.max(1));
        let first = self.next_sequence(whole, now);
        let mut tried = 0;
        loop {
            let shard = whole.shard(first + u64::from(tried), shards);
            let answer = self.store.count(&shard).await;
            tried += 1;
            if !matches!(answer, Ok(false)) || tried == shards {
                return (kind, shard, answer);
            }
        }
    }

    fn next_sequence(&self, whole: &RateLimit, now: Millis) -> u64 {
        let mut sequences = self
            .shard_sequences
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sequences.len() >= SHARD_SEQUENCES_MAX {
            sequences.retain(|_, (_, window_end)| *window_end > now);
        }
        let (next, _) = sequences
            .entry(whole.key.clone())
            .or_insert((0, whole.window_end_ms));
        let sequence = *next;
        *next += 1;
        sequence
    }

    /// What the per-IP limit counts for this request: the end user's address
    /// the client forwarded; without one, the calling address only for
    /// clients whose callers are the end users' own devices.
    fn ip_subject(
        &self,
        callers_are_end_users: bool,
        request: &OtpRequest,
    ) -> Result<Option<String>, Error> {
        let forwarded = match &request.end_user_ip {
            Some(text) => Some(
                EndUserAddress::parse(text).ok_or(Error::InvalidRequest(END_USER_IP_INVALID))?,
            ),
            None => None,
        };
        let caller = || {
            request
                .source_ip
                .as_deref()
                .filter(|_| callers_are_end_users)
                .and_then(EndUserAddress::parse)
        };
        Ok(forwarded.or_else(caller).map(|a| a.limit_subject()))
    }

    /// Gives back what a refused request counted: the shards it counted on
    /// beside the transaction, the phone's counters (when `own` is given,
    /// because its challenge was started) and that challenge. Best effort:
    /// what cannot be given back stays counted until its window ends, which
    /// only ever refuses more.
    async fn give_back(
        &self,
        shared: &BesideOutcome,
        own: Option<&[RateLimit]>,
        challenge: &Challenge,
    ) {
        let counted = shared.counted().chain(own.into_iter().flatten());
        let (uncounted, retired) = tokio::join!(
            join_all(counted.map(|limit| self.store.uncount(limit))),
            async {
                match own {
                    Some(_) => {
                        self.store
                            .mark_undeliverable(&challenge.key, &challenge.token_hash)
                            .await
                    }
                    None => Ok(()),
                }
            }
        );
        if let Some(e) = uncounted.into_iter().chain([retired]).find_map(Result::err) {
            tracing::warn!(error = %e, "a refused request could not give back all it counted");
        }
    }
}

/// How the counters beside a request's transaction answered, each with the
/// shard it was last asked on.
struct BesideOutcome {
    answers: Vec<(Beside, RateLimit, Result<bool, Error>)>,
}

/// Why the counters beside the transaction refused a request.
enum Refused {
    /// A failure, or a spent limit (429).
    Denied(Error),
    /// A spent limit (429), and which kind of refusal it counts as.
    Limited(Error, metrics::Refusal),
    /// The SMS ceiling: answered as if sent.
    SmsCeiling,
}

impl BesideOutcome {
    /// The shards this request was counted on.
    fn counted(&self) -> impl Iterator<Item = &RateLimit> {
        self.answers
            .iter()
            .filter(|(_, _, answer)| matches!(answer, Ok(true)))
            .map(|(_, shard, _)| shard)
    }

    /// A failure first, then a spent limit (429), then the SMS ceiling.
    fn refusal(&self, now: Millis) -> Option<Refused> {
        if let Some(e) = self.answers.iter().find_map(|(_, _, a)| a.as_ref().err()) {
            return Some(Refused::Denied(e.clone()));
        }
        let spent = |ceiling: bool| {
            self.answers.iter().find(|(kind, _, answer)| {
                (*kind == Beside::SmsCeiling) == ceiling && matches!(answer, Ok(false))
            })
        };
        if let Some((kind, shard, _)) = spent(false) {
            let error = Error::RateLimited {
                retry_after_secs: seconds_until(shard.window_end_ms, now),
            };
            return Some(Refused::Limited(
                error,
                match kind {
                    Beside::RangePerHour => metrics::Refusal::PumpingCap,
                    _ => metrics::Refusal::RateLimit,
                },
            ));
        }
        spent(true).map(|_| Refused::SmsCeiling)
    }
}

/// How long the last sends took: a request that sends nothing waits as long
/// as a send typically takes. The median of the recent ones, so that one
/// slow send (a cold connection, a retry) does not make those requests
/// stand out for a while.
#[derive(Default)]
pub(super) struct SendTimes(std::sync::Mutex<std::collections::VecDeque<Duration>>);

impl SendTimes {
    const KEPT: usize = 16;

    fn record(&self, took: Duration) {
        let mut recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    fn typical(&self) -> Duration {
        let mut recent: Vec<Duration> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        recent.sort();
        recent
            .get(recent.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default()
    }
}
