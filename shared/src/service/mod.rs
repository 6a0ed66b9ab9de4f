//! The use cases: one method per user action, written against the ports;
//! a file each for requesting a code, confirming it, and the tokens.

mod authorize;
mod confirm;
mod deliver;
mod reports;
mod request;
mod status;
mod tokens;

pub use authorize::{
    AuthorizeParams, AuthorizeRefusal, Authorized, PAGE_LOCALES, PageSent, with_query,
};
pub use reports::ReportsRecorded;
pub use request::END_USER_IP_INVALID;
pub use status::{DeliveredBy, DeliveryStatus, NOT_SENT, OtpStatus};

use crate::Error;
use crate::clock::{Clock, Entropy, Millis};
use crate::config::Config;
use crate::domain::client::{ClientRecord, Overrides};
use crate::domain::keys::ServerSecret;
use crate::domain::phone::{PhoneError, PhoneNumber};
use crate::metrics::{self, Dimensions, Metric, MetricsSink, emf_line};
use crate::signer::Signer;
use crate::sms::{MessageFeedback, Providers, SmsAccount};
use crate::store::{SentIndex, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Client records are cached this long (DESIGN §9) to keep one store read
/// off the critical path.
const CLIENT_CACHE_MS: Millis = 60_000;
const CLIENT_CACHE_MAX: usize = 1024;

/// How this login was proven; the `login_by` claim.
pub const LOGIN_BY_MOBILE: &str = "mobile";
pub const LOGIN_BY_MOBILE_AND_ID_CARD: &str = "mobile_and_idcard";

/// The ports and settings one deployment runs with. A Lambda function holds
/// only the ports its routes use: request-otp no signer, confirm-otp and
/// issue-token no SMS sender.
pub struct App {
    pub store: Arc<dyn Store>,
    /// The challenges by number: delivery-events' only (SNS's logs).
    sent_index: Option<Arc<dyn SentIndex>>,
    sms: Option<Providers>,
    signer: Option<Arc<dyn Signer>>,
    /// Where a confirmed code's SMS is told received: confirm-otp's only.
    feedback: Option<Arc<dyn MessageFeedback>>,
    /// The account's SMS settings the stack keeps: delivery-events' only.
    pub sms_account: Option<Arc<dyn SmsAccount>>,
    /// Per client, the minute and how many codes its hosted page was asked
    /// to text in it on this instance (solved proofs of work): the next
    /// proof's cost rises with it.
    pow_rates: Mutex<HashMap<String, (Millis, u32)>>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub secret: ServerSecret,
    pub config: Config,
    clients: Mutex<HashMap<String, (ClientRecord, Millis)>>,
    /// How long sends take lately: a request that sends nothing waits as
    /// long, so timing does not tell registered numbers apart.
    send_times: request::SendTimes,
    /// Per shared counter and window, how many requests this instance has
    /// counted on it (and the window's end): which shard is next.
    shard_sequences: Mutex<HashMap<String, (u64, Millis)>>,
    /// Where the counts go: the function's output unless told otherwise.
    metrics: Arc<dyn MetricsSink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// Who asks for a code or confirms one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A backend, by its client's credentials.
    Backend(ClientCredentials),
    /// The hosted page (DESIGN §14), for the client of the authorization
    /// request it carries sealed: its users' own browsers.
    HostedPage { client_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRequest {
    pub client: Caller,
    pub mobile_no: String,
    /// A Thai ID card number the directory must hold for this phone.
    pub id_card_num: Option<String>,
    pub sms_sender: Option<String>,
    pub locale: Option<String>,
    /// Per-request code, lifetime and template choices (eSMS).
    pub overrides: Overrides,
    /// Every address of the person the calling backend serves that the
    /// client forwards (`end_user_ip`, then `X-End-User-IP`): the first is
    /// what the per-IP limit counts. Each must be an address, validated
    /// here, after the client has authenticated.
    pub end_user_ip: Vec<String>,
    /// The caller's address as API Gateway saw it: counted by the per-IP
    /// limit only for clients whose callers are the end users' devices.
    pub source_ip: Option<String>,
    /// How the dialect answers a phone the directory does not know (or
    /// whose ID card does not match), for clients that let it
    /// (`reveal_unknown_users`).
    pub unknown_users: UnknownUsers,
    /// The service's own URL as the request reached it (its issuer), to
    /// which providers that call a URL report the SMS; none when unknown.
    pub public_url: Option<String>,
}

/// DESIGN §5.9: an unknown number is answered exactly as a known one, and
/// nothing is sent; the One ID routes keep One ID's explicit 404s for the
/// clients that ask for them (`reveal_unknown_users`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownUsers {
    /// A decoy challenge, indistinguishable from a real one, and no SMS.
    AnswerAsKnown,
    /// `UserNotFound` / `IdCardMismatch`.
    Reveal,
}

/// What the caller learns about a sent code (never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSent {
    pub ref_code: String,
    pub token: String,
    pub expires_in: u64,
    pub resend_after: u64,
    /// The fixed code of a test number (DESIGN §3 lets it be answered).
    pub test_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeRef {
    Token(String),
    MobileAndRef {
        mobile_no: String,
        ref_code: String,
    },
    /// The phone's current challenge, whichever it is (eSMS checks codes by
    /// phone alone).
    Mobile {
        mobile_no: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpConfirm {
    pub client: Caller,
    pub challenge: ChallengeRef,
    pub otp: String,
    /// False for dialects that only verify codes: no tokens are made even
    /// for clients that issue them.
    pub wants_tokens: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub issued_at_ms: Millis,
    pub account_id: String,
    pub username: String,
    pub login_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// For clients that do not issue tokens.
    CodeCorrect,
    Tokens(TokenSet),
}

/// Seconds until `until_ms`, rounded up: what `Retry-After` says.
fn seconds_until(until_ms: Millis, now: Millis) -> u64 {
    ((until_ms - now).max(1) as u64).div_ceil(1000)
}
impl App {
    pub fn new(
        store: Arc<dyn Store>,
        sms: Option<Providers>,
        signer: Option<Arc<dyn Signer>>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        secret: ServerSecret,
        config: Config,
    ) -> Self {
        Self {
            store,
            sent_index: None,
            feedback: None,
            sms_account: None,
            pow_rates: Mutex::default(),
            sms,
            signer,
            clock,
            entropy,
            secret,
            config,
            clients: Mutex::default(),
            send_times: request::SendTimes::default(),
            shard_sequences: Mutex::default(),
            metrics: Arc::new(metrics::Stdout),
        }
    }

    /// With the index of challenges by the number they were sent to, which
    /// SNS's delivery logs are matched by.
    pub fn with_sent_index(self, index: Arc<dyn SentIndex>) -> Self {
        Self {
            sent_index: Some(index),
            ..self
        }
    }

    /// With the providers' message feedback, which a confirm gives.
    pub fn with_message_feedback(self, feedback: Arc<dyn MessageFeedback>) -> Self {
        Self {
            feedback: Some(feedback),
            ..self
        }
    }

    /// With the account's SMS settings, which the stack sets through it.
    pub fn with_sms_account(self, account: Arc<dyn SmsAccount>) -> Self {
        Self {
            sms_account: Some(account),
            ..self
        }
    }

    /// `work`, or `Busy` when it is not done by the time the answer is due
    /// (`Timeouts::answer_within`): a dependency that stalls past every
    /// call's own timeouts still gets the route's own 503 + `Retry-After`
    /// before Lambda ends the function. What the work did stays as any
    /// failure leaves it (DESIGN §5.10): a claim lapses, a count only ever
    /// refuses sooner.
    async fn in_time<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let due = self.config.timeouts.answer_within();
        tokio::time::timeout(due, work).await.unwrap_or_else(|_| {
            tracing::warn!(
                due_ms = due.as_millis() as u64,
                "answered before the work was done"
            );
            Err(Error::Busy {
                retry_after_secs: 1,
            })
        })
    }

    /// Writes the metrics' lines to `sink` instead of the output.
    pub fn with_metrics(mut self, sink: Arc<dyn MetricsSink>) -> Self {
        self.metrics = sink;
        self
    }

    /// The SMS providers; only a function that serves no code request lacks
    /// them.
    fn sms(&self) -> Result<&Providers, Error> {
        self.sms
            .as_ref()
            .ok_or_else(|| Error::internal("app.sms", "this function sends no SMS"))
    }

    /// The token signer; only a function that makes no tokens lacks it.
    fn signer(&self) -> Result<&dyn Signer, Error> {
        self.signer
            .as_deref()
            .ok_or_else(|| Error::internal("app.signer", "this function signs no tokens"))
    }

    /// The client, if `credentials` are its own and it is enabled: a
    /// backend's routes, which a public client (it holds no secret) never
    /// uses.
    async fn authenticate(&self, credentials: &ClientCredentials) -> Result<ClientRecord, Error> {
        let record = self.client_record(&credentials.client_id).await?;
        if !record.settings.public && record.authenticates(&credentials.client_secret) {
            Ok(record)
        } else {
            Err(Error::InvalidClient)
        }
    }

    /// The client `caller` acts for: a backend by its credentials, or the
    /// hosted page for an enabled client that uses it (the page proves its
    /// request by the seal the service put on it).
    async fn authenticate_caller(&self, caller: &Caller) -> Result<ClientRecord, Error> {
        match caller {
            Caller::Backend(credentials) => self.authenticate(credentials).await,
            Caller::HostedPage { client_id } => {
                let record = self.client_record(client_id).await?;
                if record.settings.hosted_page && !record.disabled {
                    Ok(record)
                } else {
                    Err(Error::InvalidClient)
                }
            }
        }
    }

    /// The client at the token endpoint (RFC 6749 §2.3): a confidential
    /// client by its secret; a public client by its id alone, and never
    /// with a secret, its grants being bound by PKCE and refresh rotation.
    async fn token_client(&self, credentials: &ClientCredentials) -> Result<ClientRecord, Error> {
        let record = self.client_record(&credentials.client_id).await?;
        let holds = if record.settings.public {
            credentials.client_secret.is_empty() && !record.disabled
        } else {
            record.authenticates(&credentials.client_secret)
        };
        if holds {
            Ok(record)
        } else {
            Err(Error::InvalidClient)
        }
    }

    /// The client `id`, its stored settings in bounds (kept a while per
    /// instance); whether it may be used is the caller's to decide.
    async fn client_record(&self, id: &str) -> Result<ClientRecord, Error> {
        let well_formed = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(Error::InvalidClient);
        }
        let now = self.clock.now_ms();
        let cached = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|(_, at)| now - at < CLIENT_CACHE_MS)
            .map(|(record, _)| record.clone());
        let record = match cached {
            Some(record) => record,
            None => {
                let record = self.store.client(id).await?.ok_or(Error::InvalidClient)?;
                // Records are written by otp-admin, which validates them, but
                // anyone with write access to the table can write one: an
                // out-of-bounds record is refused, never half-honoured.
                if let Err(reason) = record.settings.validate() {
                    tracing::error!(
                        alert = "client_settings_invalid",
                        client_id = %record.client_id,
                        reason,
                        "stored client settings are out of bounds: the client is refused until they are fixed"
                    );
                    return Err(Error::internal(
                        "service.authenticate",
                        "client settings out of bounds",
                    ));
                }
                let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CLIENT_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(id.to_string(), (record.clone(), now));
                record
            }
        };
        if self.config.production && !record.settings.test_numbers.is_empty() {
            // Fixed codes in production would be a standing backdoor.
            tracing::error!(
                alert = "test_numbers_in_production",
                client_id = %record.client_id,
                "client has test numbers in the prod stage: refused until they are removed"
            );
            return Err(Error::internal(
                "service.authenticate",
                "test numbers in prod",
            ));
        }
        Ok(record)
    }

    /// The calling codes `client` may text: its own list, or the deployment's.
    fn allowed_calling_codes<'a>(&'a self, client: &'a ClientRecord) -> &'a [String] {
        let s = &client.settings;
        if s.allowed_calling_codes.is_empty() {
            &self.config.default_allowed_calling_codes
        } else {
            &s.allowed_calling_codes
        }
    }

    /// Counts `metric` for `client_id` (and `calling_code`, where known).
    fn count(&self, metric: Metric, client_id: &str, calling_code: Option<&str>) {
        self.count_in(metric, client_id, calling_code, None, None);
    }

    /// Counts `metric` for `client_id`, `calling_code`, and the number's
    /// `line_type` or the SMS `provider`.
    fn count_in(
        &self,
        metric: Metric,
        client_id: &str,
        calling_code: Option<&str>,
        line_type: Option<&str>,
        provider: Option<&str>,
    ) {
        self.count_by(
            metric,
            &Dimensions {
                client_id,
                calling_code,
                line_type,
                provider,
                reason: None,
            },
            true,
        );
    }

    /// Counts `metric` with `dimensions`, and adds to its score metric
    /// when `scored`.
    fn count_by(&self, metric: Metric, dimensions: &Dimensions, scored: bool) {
        let score = metric
            .score(
                self.config.pumping_conversion_percent,
                self.config.delivery_missed_percent,
            )
            .filter(|_| scored);
        self.metrics
            .write(emf_line(metric, dimensions, self.clock.now_ms(), score));
    }

    /// The number `raw` names, and the calling code of `client`'s allow-list
    /// it has (what its metrics count under, `crate::metrics`).
    fn parse_phone(
        &self,
        client: &ClientRecord,
        raw: &str,
    ) -> Result<(PhoneNumber, String), PhoneError> {
        let s = &client.settings;
        let allowed = self.allowed_calling_codes(client);
        // Stored settings are validated when read (`authenticate`): they
        // name a default calling code.
        let default_calling_code = s.default_calling_code().unwrap_or_default();
        let (phone, calling_code) =
            PhoneNumber::parse_allowed(raw, default_calling_code, allowed, &s.allowed_line_types)?;
        // The local server's request line names the number, masked; a span
        // without the field (Lambda's) ignores it.
        tracing::Span::current().record("phone", tracing::field::display(&phone));
        Ok((phone, calling_code.to_string()))
    }
}
