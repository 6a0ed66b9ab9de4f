//! Requesting a code: the challenge, its limits, and the SMS.
//!
//! Two sequential round trips (DESIGN §9), and a refused request changes
//! nothing anyone relies on (§5.12):
//! 1. one transaction claims the client's slot for the phone and counts the
//!    phone's counters; beside it, one shard of each other counter, and the
//!    directory entry;
//! 2. if nothing refused: the SMS and, beside it, the write that makes the
//!    new challenge the live one, so the old code dies only when a new one
//!    is sent (or its send fails: that challenge is then marked
//!    undeliverable, DESIGN §5.10). A refused request instead lets go of its
//!    claim and gives back what it counted: the user's live challenge, its
//!    cooldown and the counters are as they were.

use super::{
    App, Caller, LOGIN_BY_MOBILE, LOGIN_BY_MOBILE_AND_ID_CARD, OtpRequest, OtpSent, UnknownUsers,
    seconds_until,
};
use crate::Error;
use crate::clock::{Entropy, Millis};
use crate::delivery::callback::Ticket;
use crate::domain::address::EndUserAddress;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, ChallengeToken, Claim};
use crate::domain::client::OverrideError;
use crate::domain::code::{generate_code, generate_ref_code, random_bytes};
use crate::domain::keys::sha256;
use crate::domain::limits::{
    Beside, InTransaction, RateLimit, SendSubject, SendsOnly, send_limits,
};
use crate::domain::phone::PhoneError;
use crate::domain::provider::SmsProvider;
use crate::domain::user::{ThaiIdCard, User, UserRequirement};
use crate::metrics::{self, Metric};
use crate::sms::{DeliveryTickets, SmsMessage};
use crate::store::{ClaimOutcome, Release};
use futures_util::future::join_all;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shard sequences kept before old windows' are dropped.
const SHARD_SEQUENCES_MAX: usize = 1024;

/// The longest a request found a shared counter full waits before it looks
/// again (`App::count_beside`).
const FULL_COUNTER_RECHECK_MAX: Duration = Duration::from_millis(200);

pub const END_USER_IP_INVALID: &str = "end_user_ip must be an IPv4 or IPv6 address";

/// What the directory says of the phone, for a request that needs it.
enum Directory {
    /// The client serves any phone, and no ID card was given.
    NotAsked,
    Registered,
    NotRegistered,
    /// Registered, with another ID card than the one given.
    OtherIdCard,
}

impl Directory {
    fn of(required: &UserRequirement, user: Option<&User>) -> Self {
        match user {
            None => Directory::NotRegistered,
            Some(_) if required.met_by(user) => Directory::Registered,
            Some(_) => Directory::OtherIdCard,
        }
    }
}

/// Why the counters beside the transaction refused a request.
enum Refused {
    /// A failure (5xx).
    Failed(Error),
    /// A spent limit (429), and which kind of refusal it counts as.
    Limited(Error, metrics::Refusal),
    /// The SMS ceiling: answered as if sent.
    SmsCeiling,
}

/// What a request holds after its first round trip: what it must give back
/// when it is refused, or when it sends nothing.
struct Held<'a> {
    key: &'a ChallengeKey,
    claim: &'a Claim,
    /// The phone's counters, counted with the claim when it was taken.
    in_transaction: &'a [(InTransaction, RateLimit)],
    claimed: bool,
    /// Each counter beside the transaction, with the shard it was last
    /// asked on and how that answered.
    beside: Vec<(Beside, RateLimit, Result<bool, Error>)>,
}

/// Which counters a request gives back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GiveBack {
    /// Refused: everything it counted.
    Everything,
    /// It sent nothing, though it was answered: the counters only sends
    /// count (the deployment's cap, the SMS ceiling).
    SendsOnly,
}

impl Held<'_> {
    /// What this request counted that `what` gives back.
    fn counted(&self, what: GiveBack) -> Vec<&RateLimit> {
        let given_back = |kind: &dyn SendsOnly| what == GiveBack::Everything || kind.sends_only();
        let in_transaction = self
            .in_transaction
            .iter()
            .filter(|_| self.claimed)
            .filter(|(kind, _)| given_back(kind))
            .map(|(_, limit)| limit);
        let beside = self
            .beside
            .iter()
            .filter(|(kind, _, answer)| matches!(answer, Ok(true)) && given_back(kind))
            .map(|(_, shard, _)| shard);
        in_transaction.chain(beside).collect()
    }

    /// A failure first, then a spent limit (429), then the SMS ceiling.
    fn refusal(&self, now: Millis) -> Option<Refused> {
        if let Some(e) = self.beside.iter().find_map(|(_, _, a)| a.as_ref().err()) {
            return Some(Refused::Failed(e.clone()));
        }
        let spent = |ceiling: bool| {
            self.beside.iter().find(|(kind, _, answer)| {
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

impl App {
    /// Creates a challenge and texts its code (DESIGN §5.1–5.3, 5.8–5.12).
    pub async fn request_otp(&self, request: &OtpRequest) -> Result<OtpSent, Error> {
        self.in_time(self.send_code(request, Instant::now())).await
    }

    /// Sends a code for `request`, whose answer's deadline counts from
    /// `request_began` (the providers get what is left of it).
    pub(super) async fn send_code(
        &self,
        request: &OtpRequest,
        request_began: Instant,
    ) -> Result<OtpSent, Error> {
        let sms = self.sms()?;
        let client = self.authenticate_caller(&request.client).await?;
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
            Ok(parsed) => parsed,
            Err(PhoneError::CallingCodeNotAllowed) => {
                let other = Some(metrics::OTHER_CALLING_CODE);
                self.count(Metric::CodeRequested, client_id, other);
                self.count(
                    Metric::Refused(metrics::Refusal::AllowList),
                    client_id,
                    other,
                );
                return Err(Error::MobileNotAllowed);
            }
            Err(PhoneError::NotTextable {
                line_type,
                calling_code,
            }) => {
                // Refused before anything is stored or counted; counted in
                // the metrics by calling code and line type, never number.
                let code = calling_code.to_string();
                self.count(Metric::CodeRequested, client_id, Some(&code));
                self.count_in(
                    Metric::Refused(metrics::Refusal::NotTextable),
                    client_id,
                    Some(&code),
                    Some(line_type.as_str()),
                    None,
                );
                return Err(Error::MobileNotTextable);
            }
            Err(invalid) => return Err(invalid.into()),
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
            provider: None,
        };
        let sent = OtpSent {
            ref_code: ref_code.clone(),
            token,
            expires_in: settings.lifetime_secs().into(),
            resend_after: settings.resend_cooldown_secs.into(),
            test_code: test_code.clone(),
        };

        // The hosted page's callers are its users' browsers, as a device
        // app's are: counted by the address API Gateway saw.
        let callers_are_end_users =
            settings.callers_are_end_users || matches!(request.client, Caller::HostedPage { .. });
        let ip_subject = self.ip_subject(callers_are_end_users, request)?;
        let subject = SendSubject {
            client_id,
            phone_key: &phone_key,
            prefix_key: &self.secret.prefix_key(&phone),
            ip_subject: ip_subject.as_deref(),
        };
        let all_clients = self.config.phone_sends_per_hour_all_clients;
        let mut limits = send_limits(settings, &subject, all_clients, now);
        if test_code.is_some() {
            limits = limits.without_sends_only();
        }
        let claim = Claim::of(&challenge, now);
        let transaction_limits = limits.transaction_limits();

        // Round trip 1: the claim and the phone's counters in one
        // transaction; beside it, one shard of each other counter and the
        // directory entry (read for every number alike, so that a known and
        // an unknown one cost the same calls).
        let (claimed, beside, registered) = tokio::join!(
            self.store
                .claim_slot(&challenge.key, &claim, now, &transaction_limits),
            join_all(
                limits
                    .beside
                    .iter()
                    .map(|(kind, whole)| self.count_beside(*kind, whole, now))
            ),
            async {
                match &directory {
                    Some(required) => self
                        .store
                        .user(client_id, &phone_key)
                        .await
                        .map(|user| Directory::of(required, user.as_ref())),
                    None => Ok(Directory::NotAsked),
                }
            }
        );
        let mut held = Held {
            key: &challenge.key,
            claim: &claim,
            in_transaction: &limits.in_transaction,
            claimed: false,
            beside,
        };
        let refused_by_claim = |error: Error, why: metrics::Refusal| {
            self.count(Metric::Refused(why), client_id, calling_code);
            error
        };
        let claim_error = match claimed {
            Ok(ClaimOutcome::Claimed) => None,
            Ok(ClaimOutcome::CoolingDown { resend_after_ms }) => Some(refused_by_claim(
                Error::Cooldown {
                    retry_after_secs: seconds_until(resend_after_ms, now),
                },
                metrics::Refusal::Cooldown,
            )),
            Ok(ClaimOutcome::RateLimited { index }) => Some(refused_by_claim(
                Error::RateLimited {
                    retry_after_secs: seconds_until(
                        limits.in_transaction[index].1.window_end_ms,
                        now,
                    ),
                },
                metrics::Refusal::RateLimit,
            )),
            Err(e) => Some(e),
        };
        if let Some(error) = claim_error {
            self.give_back(&held, GiveBack::Everything, None).await;
            return Err(error);
        }
        held.claimed = true;

        let refusal = match (held.refusal(now), &registered) {
            (None, Err(e)) => Some(Refused::Failed(e.clone())),
            (refusal, _) => refusal,
        };
        match refusal {
            None => {}
            Some(Refused::Failed(e)) => {
                self.withdraw(&held).await;
                return Err(e);
            }
            Some(Refused::Limited(e, why)) => {
                self.count(Metric::Refused(why), client_id, calling_code);
                if why == metrics::Refusal::PumpingCap {
                    // Someone is walking the numbers of one range: SMS
                    // pumping, stopped here, for the operator to see.
                    tracing::error!(
                        alert = "number_range_capped",
                        client_id = %client.client_id,
                        calling_code = dimension.as_str(),
                        range_cap_per_hour = settings.sends_per_prefix_per_hour,
                        "number range capped: codes to numbers sharing all but their last four digits refused until the hour is over"
                    );
                }
                self.withdraw(&held).await;
                return Err(e);
            }
            Some(Refused::SmsCeiling) => {
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
                // Answered as sent; nothing is, and nothing changes.
                let (_, ()) =
                    tokio::join!(self.withdraw(&held), self.wait_as_if_sending(client_id));
                return Ok(sent);
            }
        }
        // Nothing refused: `registered` is an answer.
        let unknown_users = match request.unknown_users {
            UnknownUsers::Reveal if settings.reveal_unknown_users => UnknownUsers::Reveal,
            _ => UnknownUsers::AnswerAsKnown,
        };
        match (registered, unknown_users) {
            (Ok(Directory::NotRegistered), UnknownUsers::Reveal) => {
                self.give_back(&held, GiveBack::SendsOnly, Some(Release::KeepCooldown))
                    .await;
                return Err(Error::UserNotFound);
            }
            (Ok(Directory::OtherIdCard), UnknownUsers::Reveal) => {
                self.give_back(&held, GiveBack::SendsOnly, Some(Release::KeepCooldown))
                    .await;
                return Err(Error::IdCardMismatch);
            }
            (
                Ok(Directory::NotRegistered | Directory::OtherIdCard),
                UnknownUsers::AnswerAsKnown,
            ) => {
                // The same challenge, counters and answer as for a known
                // number, after as long as a send takes, and nothing sent;
                // the confirm refuses every code.
                let (started, (), ()) = tokio::join!(
                    self.store.start_challenge(&challenge),
                    self.give_back(&held, GiveBack::SendsOnly, None),
                    self.wait_as_if_sending(client_id)
                );
                return started_or_failure(started).map(|()| sent);
            }
            _ => {}
        }

        if test_code.is_some() {
            started_or_failure(self.store.start_challenge(&challenge).await)?;
            tracing::info!(client_id = %client.client_id, phone = %phone, "test number: not sent");
            return Ok(sent);
        }
        let message = SmsMessage {
            to: phone.e164().to_string(),
            text: match (&request.client, page_host(request)) {
                (Caller::HostedPage { .. }, Some(host)) => {
                    settings.render_page_message(request.locale.as_deref(), &code, &ref_code, host)
                }
                _ => settings.render_message(request.locale.as_deref(), &code, &ref_code),
            },
            sender_id,
            code,
            challenge_id: challenge.id(),
            client_id: client_id.to_string(),
            calling_code: dimension.clone(),
            locale: settings
                .message_locale(request.locale.as_deref())
                .to_string(),
            ref_code: ref_code.clone(),
            expires_at_ms: challenge.expires_at_ms,
            delivery: DeliveryTickets {
                base_url: request.public_url.clone(),
                sealed: Ticket::seal_each(
                    &self.secret,
                    client_id,
                    &challenge.id(),
                    &dimension,
                    challenge.expires_at_ms,
                ),
            },
        };
        let providers = &settings.sms_providers;
        let first = providers.first().map(SmsProvider::kind);
        let challenge = Challenge {
            provider: first.map(str::to_string),
            ..challenge
        };
        // What is left for the providers: the answer's time, less the write
        // that may follow them.
        let timeouts = &self.config.timeouts;
        let budget = timeouts
            .answer_within()
            .saturating_sub(request_began.elapsed())
            .saturating_sub(timeouts.operation());
        // Round trip 2: the SMS, and beside it the write that makes its
        // challenge the live one.
        let (started, delivered) = tokio::join!(self.store.start_challenge(&challenge), async {
            let began = Instant::now();
            let delivered = self.deliver(sms, providers, &message, budget).await;
            if delivered.is_some() {
                self.send_times.record(client_id, began.elapsed());
            }
            delivered
        });
        if let Some(provider) = delivered {
            self.count_in(
                Metric::CodeSent,
                client_id,
                calling_code,
                None,
                Some(provider),
            );
        }
        // A code that went out without its challenge can never be confirmed:
        // fail closed, as for any store failure.
        started_or_failure(started)?;
        let Some(provider) = delivered else {
            self.count(Metric::SmsFailed, client_id, calling_code);
            tracing::warn!(client_id = %client.client_id, phone = %phone, "sms refused");
            self.store
                .mark_undeliverable(&challenge.key, &challenge.token_hash)
                .await?;
            return Err(Error::SmsFailed {
                retry_after_secs: seconds_until(challenge.resend_after_ms, now),
            });
        };
        // Only after a failover: the challenge names who sent it. The code
        // is out either way, so a failed write is logged, not answered.
        if first != Some(provider)
            && let Err(e) = self
                .store
                .record_provider(&challenge.key, &challenge.token_hash, provider)
                .await
        {
            tracing::warn!(client_id = %client.client_id, provider, error = %e, "provider not recorded on the challenge");
        }
        tracing::info!(client_id = %client.client_id, phone = %phone, ref_code = %ref_code, provider, "otp sent");
        Ok(sent)
    }

    /// Waits as long as one of `client_id`'s sends would take on this
    /// instance, so that timing does not tell a request that sends nothing
    /// apart.
    async fn wait_as_if_sending(&self, client_id: &str) {
        let wait = self.send_times.decoy_wait(client_id, self.entropy.as_ref());
        tokio::time::sleep(wait).await;
    }

    /// Counts this request on a shard of the counter `whole`: this instance
    /// takes them in turn, from the first, in each window (see
    /// `RateLimit::shard`). A spent shard is not a spent limit: shards fill
    /// unevenly when many instances count on them (each new instance starts
    /// at the first), so the others are tried in turn before the request is
    /// refused; the extra round trips are paid only near the limit.
    ///
    /// A counter found full may be full of requests that are being refused
    /// at this moment by their own limits (a flood from one address, say):
    /// each gives its count back once its refusal is known. So a full
    /// counter is tried once more, after as long again as the first pass
    /// took (at most [`FULL_COUNTER_RECHECK_MAX`]), before the request is
    /// refused: a flood of refused requests does not refuse the user beside
    /// it. Only refusals wait, and a limit really spent costs one more pass.
    async fn count_beside(
        &self,
        kind: Beside,
        whole: &RateLimit,
        now: Millis,
    ) -> (Beside, RateLimit, Result<bool, Error>) {
        let started = Instant::now();
        let first_pass = self.count_on_shards(kind, whole, now).await;
        if !matches!(first_pass.2, Ok(false)) {
            return first_pass;
        }
        tokio::time::sleep(started.elapsed().min(FULL_COUNTER_RECHECK_MAX)).await;
        self.count_on_shards(kind, whole, now).await
    }

    async fn count_on_shards(
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

    /// What the per-IP limit counts for this request. For a client whose
    /// callers are its users' own devices, the address API Gateway saw:
    /// a device may forward any address it likes, so none it forwards is
    /// counted. For the others, the first end user's address the client
    /// forwards; never the calling backend's own. Whoever calls, each
    /// forwarded address must be one.
    fn ip_subject(
        &self,
        callers_are_end_users: bool,
        request: &OtpRequest,
    ) -> Result<Option<String>, Error> {
        let forwarded = request
            .end_user_ip
            .iter()
            .map(|text| {
                EndUserAddress::parse(text).ok_or(Error::InvalidRequest(END_USER_IP_INVALID))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let address = if callers_are_end_users {
            request.source_ip.as_deref().and_then(EndUserAddress::parse)
        } else {
            forwarded.into_iter().next()
        };
        Ok(address.map(|a| a.limit_subject()))
    }

    /// A refused request lets go of everything it holds: its claim and every
    /// count, so the slot and the counters are as they were.
    async fn withdraw(&self, held: &Held<'_>) {
        self.give_back(held, GiveBack::Everything, Some(Release::Withdraw))
            .await;
    }

    /// Gives back what `what` names of what `held` counted, and ends its
    /// claim as `release` says (when it holds one), all at once. Best
    /// effort: what cannot be given back stays counted until its window
    /// ends, which only ever refuses more, and a claim not let go lapses by
    /// itself (`CLAIM_MS`).
    async fn give_back(&self, held: &Held<'_>, what: GiveBack, release: Option<Release>) {
        let counted = held.counted(what);
        let (uncounted, released) = tokio::join!(
            join_all(counted.into_iter().map(|limit| self.store.uncount(limit))),
            async {
                match release.filter(|_| held.claimed) {
                    Some(release) => {
                        self.store
                            .release_claim(held.key, held.claim, release)
                            .await
                    }
                    None => Ok(()),
                }
            }
        );
        if let Some(e) = uncounted
            .into_iter()
            .chain([released])
            .find_map(Result::err)
        {
            tracing::warn!(error = %e, "a request could not give back all it counted");
        }
    }
}

/// The answer of the write that makes a challenge the live one: `false`
/// means the request's claim lapsed before it (it ran longer than any
/// function may), so its challenge was never started.
fn started_or_failure(started: Result<bool, Error>) -> Result<(), Error> {
    match started? {
        true => Ok(()),
        false => Err(Error::internal(
            "service.request",
            "the claim lapsed before the challenge started",
        )),
    }
}

/// How long each client's sends take on this instance: a request that
/// sends nothing waits a time drawn from the same client's recent sends
/// (DESIGN §5.9), so timing tells no unknown number apart, on a warm
/// instance or a cold one. Per client, because clients send through
/// different providers and sender ids; successful sends only, because a
/// refused one answers otherwise.
#[derive(Default)]
pub(super) struct SendTimes(Mutex<HashMap<String, VecDeque<Duration>>>);

impl SendTimes {
    /// The sends drawn from: each client's most recent, so that a slow spell
    /// passes.
    const KEPT: usize = 32;
    /// Clients kept before the times of all are dropped.
    const CLIENTS_MAX: usize = 1024;
    /// Before a client's first send an instance waits a time drawn from this
    /// range (ms): a first send, which opens the TLS connection to the
    /// provider before it sends, takes about as long.
    const FIRST_SEND_MS: (u64, u64) = (100, 300);

    fn record(&self, client_id: &str, took: Duration) {
        let mut clients = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= Self::CLIENTS_MAX && !clients.contains_key(client_id) {
            clients.clear();
        }
        let recent = clients.entry(client_id.to_string()).or_default();
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// A wait drawn at random: one of the client's recent sends' times, or
    /// before any, a first send's.
    fn decoy_wait(&self, client_id: &str, entropy: &dyn Entropy) -> Duration {
        let draw = u64::from_le_bytes(random_bytes(entropy));
        let clients = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(client_id).filter(|recent| !recent.is_empty()) {
            Some(recent) => recent[(draw % recent.len() as u64) as usize],
            None => {
                let (low, high) = Self::FIRST_SEND_MS;
                Duration::from_millis(low + draw % (high - low + 1))
            }
        }
    }
}

/// The host of the page a code was asked for on: the service's own URL's.
fn page_host(request: &OtpRequest) -> Option<&str> {
    host_of(request.public_url.as_deref()?)
}

/// `url`'s host, without scheme, port or path.
fn host_of(url: &str) -> Option<&str> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split('/').next()?;
    // An IPv6 literal keeps its brackets; a port follows them.
    let host = match authority.strip_prefix('[') {
        Some(rest) => &authority[..rest.find(']')? + 2],
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;

    #[test]
    fn the_pages_host_is_its_urls_without_scheme_port_or_path() {
        assert_eq!(
            host_of("https://abc123.execute-api.ap-southeast-1.amazonaws.com"),
            Some("abc123.execute-api.ap-southeast-1.amazonaws.com")
        );
        assert_eq!(host_of("http://127.0.0.1:3000/x"), Some("127.0.0.1"));
        assert_eq!(host_of("http://[::1]:3000"), Some("[::1]"));
        assert_eq!(host_of("http://[::1"), None);
        assert_eq!(host_of("https://"), None);
    }

    #[test]
    fn rule_5_9_a_decoy_waits_a_first_sends_time_before_any_send() {
        let times = SendTimes::default();
        times.record("another-client", Duration::from_millis(5));
        let waits: Vec<Duration> = (0..50)
            .map(|_| times.decoy_wait("app", &OsEntropy))
            .collect();
        assert!(waits.iter().all(|w| (100..=300).contains(&w.as_millis())));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 10, "drawn, not one constant: {waits:?}");
    }

    #[test]
    fn rule_5_9_a_decoy_waits_one_of_the_recent_sends_times() {
        let times = SendTimes::default();
        for ms in 0..40 {
            times.record("app", Duration::from_millis(ms));
            times.record("another-client", Duration::from_millis(1000));
        }
        let waits: std::collections::BTreeSet<u128> = (0..500)
            .map(|_| times.decoy_wait("app", &OsEntropy).as_millis())
            .collect();
        // The client's own 32 most recent: 8 to 39 ms, every one drawn.
        assert_eq!(waits, (8..40).collect());
    }
}
