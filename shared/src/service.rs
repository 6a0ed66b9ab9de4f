//! The use cases: one method per user action, written against the ports.

use crate::Error;
use crate::clock::{Clock, Entropy, Millis};
use crate::config::Config;
use crate::domain::challenge::{
    Challenge, ChallengeKey, ChallengeState, ChallengeToken, Refusal, Selector,
};
use crate::domain::client::{ClientRecord, OverrideError, Overrides};
use crate::domain::code::{MAX_CODE_LENGTH, generate_code, generate_ref_code, random_bytes};
use crate::domain::keys::{ServerSecret, b64, constant_time_eq, sha256};
use crate::domain::limits::{
    RateLimit, SendSubject, failed_confirm_limit, is_sms_ceiling, send_limits,
};
use crate::domain::phone::{PhoneError, PhoneNumber};
use crate::domain::refresh::{IDLE_LIFETIME_MS, RefreshFamily, RefreshToken, RotationRefusal};
use crate::domain::user::{ThaiIdCard, User};
use crate::signer::{AccessClaims, Jwk, Signer, sign_access_token};
use crate::sms::{SmsMessage, SmsSender};
use crate::store::{StartOutcome, Store, UserRequirement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Client records are cached this long (DESIGN §9) to keep one store read
/// off the critical path.
const CLIENT_CACHE_MS: Millis = 60_000;
const CLIENT_CACHE_MAX: usize = 1024;

/// How this login was proven; the `login_by` claim.
pub const LOGIN_BY_MOBILE: &str = "mobile";
pub const LOGIN_BY_MOBILE_AND_ID_CARD: &str = "mobile_and_idcard";

/// The ports and settings one deployment runs with.
pub struct App {
    pub store: Arc<dyn Store>,
    pub sms: Arc<dyn SmsSender>,
    pub signer: Arc<dyn Signer>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub secret: ServerSecret,
    pub config: Config,
    clients: Mutex<HashMap<String, (ClientRecord, Millis)>>,
    /// How long sends take lately (moving average, µs): a decoy waits as
    /// long, so timing does not tell registered numbers apart.
    send_micros: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRequest {
    pub client: ClientCredentials,
    pub mobile_no: String,
    /// A Thai ID card number the directory must hold for this phone.
    pub id_card_num: Option<String>,
    pub sms_sender: Option<String>,
    pub locale: Option<String>,
    /// Per-request code, lifetime and template choices (eSMS).
    pub overrides: Overrides,
    /// The caller's IP as API Gateway saw it, for the per-IP limit.
    pub source_ip: Option<String>,
    /// How to answer a phone the directory does not know (or whose ID card
    /// does not match) when the client requires registered users.
    pub unknown_users: UnknownUsers,
}

/// DESIGN §5.9: the native routes answer an unknown number exactly as a
/// known one and send nothing; the One ID routes keep One ID's explicit 404s.
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
    pub client: ClientCredentials,
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

/// The error for a start refused by its cooldown or a rate limit.
fn limited_error(outcome: StartOutcome, limits: &[RateLimit], now: Millis) -> Error {
    match outcome {
        StartOutcome::CoolingDown { resend_after_ms } => Error::Cooldown {
            retry_after_secs: seconds_until(resend_after_ms, now),
        },
        StartOutcome::RateLimited { index } => Error::RateLimited {
            retry_after_secs: seconds_until(limits[index].window_end_ms, now),
        },
        other => Error::internal("service.start", &format!("unexpected outcome {other:?}")),
    }
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        sms: Arc<dyn SmsSender>,
        signer: Arc<dyn Signer>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        secret: ServerSecret,
        config: Config,
    ) -> Self {
        Self {
            store,
            sms,
            signer,
            clock,
            entropy,
            secret,
            config,
            clients: Mutex::default(),
            send_micros: AtomicU64::new(0),
        }
    }

    /// The client, if `credentials` are its own and it is enabled.
    async fn authenticate(&self, credentials: &ClientCredentials) -> Result<ClientRecord, Error> {
        let id = &credentials.client_id;
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
                let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CLIENT_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(id.clone(), (record.clone(), now));
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
        if record.authenticates(&credentials.client_secret) {
            Ok(record)
        } else {
            Err(Error::InvalidClient)
        }
    }

    fn parse_phone(&self, client: &ClientRecord, raw: &str) -> Result<PhoneNumber, Error> {
        let s = &client.settings;
        let allowed = if s.allowed_calling_codes.is_empty() {
            &self.config.default_allowed_calling_codes
        } else {
            &s.allowed_calling_codes
        };
        PhoneNumber::parse_allowed(raw, &s.default_calling_code, allowed).map_err(|e| match e {
            PhoneError::Invalid => Error::InvalidMobile,
            PhoneError::CallingCodeNotAllowed => Error::MobileNotAllowed,
        })
    }

    /// Creates a challenge and texts its code (DESIGN §5.1–5.3, 5.8, 5.10).
    pub async fn request_otp(&self, request: &OtpRequest) -> Result<OtpSent, Error> {
        let client = self.authenticate(&request.client).await?;
        let settings = &client
            .settings
            .with_defaults(&self.config.client_defaults)
            .with_overrides(&request.overrides)
            .map_err(|e| match e {
                OverrideError::OutOfBounds(what) => Error::InvalidRequest(what),
                OverrideError::TemplateNotRegistered => Error::TemplateNotRegistered,
            })?;
        let phone = self.parse_phone(&client, &request.mobile_no)?;
        let id_card = match &request.id_card_num {
            Some(raw) => Some(ThaiIdCard::parse(raw).ok_or(Error::InvalidIdCard)?),
            None => None,
        };
        let sender_id = settings
            .sender_id(request.sms_sender.as_deref())
            .map_err(|_| Error::SenderNotRegistered)?
            .map(str::to_string);

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
        };
        let requirement =
            (settings.require_registered_users || id_card.is_some()).then(|| UserRequirement {
                id_card_hash: id_card.as_ref().map(|card| self.secret.id_card_hash(card)),
            });
        let sent = OtpSent {
            ref_code: ref_code.clone(),
            token,
            expires_in: settings.lifetime_secs().into(),
            resend_after: settings.resend_cooldown_secs.into(),
            test_code: test_code.clone(),
        };

        let subject = SendSubject {
            client_id: &client.client_id,
            phone_key: &phone_key,
            prefix_key: &self.secret.prefix_key(&phone),
            source_ip: request.source_ip.as_deref(),
        };
        let limits = send_limits(settings, &subject, now);
        match self
            .store
            .start_challenge(&challenge, now, requirement.as_ref(), &limits)
            .await?
        {
            StartOutcome::Started => {}
            refused @ (StartOutcome::UserNotFound | StartOutcome::IdCardMismatch) => {
                if request.unknown_users == UnknownUsers::Reveal {
                    return Err(if refused == StartOutcome::UserNotFound {
                        Error::UserNotFound
                    } else {
                        Error::IdCardMismatch
                    });
                }
                return self.decoy(challenge, now, &limits, sent).await;
            }
            StartOutcome::RateLimited { index } if is_sms_ceiling(&limits[index]) => {
                tracing::error!(
                    alert = "sms_ceiling_reached",
                    client_id = %client.client_id,
                    ceiling_per_hour = limits[index].limit,
                    "SMS ceiling reached: circuit open, answering without sending until the hour is over"
                );
                return self.decoy(challenge, now, &limits[..index], sent).await;
            }
            limited => return Err(limited_error(limited, &limits, now)),
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
        let delivered = self.sms.send(&message).await;
        self.record_send_time(started.elapsed());
        if delivered.is_err() {
            tracing::warn!(client_id = %client.client_id, phone = %phone, "sms refused");
            self.store
                .mark_undeliverable(&challenge.key, &challenge.token_hash)
                .await?;
            return Err(Error::SmsFailed);
        }
        tracing::info!(client_id = %client.client_id, phone = %phone, ref_code = %ref_code, "otp sent");
        Ok(sent)
    }

    fn record_send_time(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // A lost update under concurrency only nudges the average.
        let old = self.send_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.send_micros.store(new, Ordering::Relaxed);
    }

    /// For a phone the directory refused: the same challenge, cooldown and
    /// answer as for a known user, but its code is unguessable random bytes
    /// and nothing is sent, so neither answers nor later confirms tell the
    /// caller whether the number is registered.
    async fn decoy(
        &self,
        challenge: Challenge,
        now: Millis,
        limits: &[RateLimit],
        sent: OtpSent,
    ) -> Result<OtpSent, Error> {
        let unguessable = b64(&random_bytes::<32>(self.entropy.as_ref()));
        let decoy = Challenge {
            code_hash: self.secret.code_hash(&challenge.token_hash, &unguessable),
            ..challenge
        };
        match self
            .store
            .start_challenge(&decoy, now, None, limits)
            .await?
        {
            StartOutcome::Started => {
                let typical_send = self.send_micros.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_micros(typical_send)).await;
                Ok(sent)
            }
            limited => Err(limited_error(limited, limits, now)),
        }
    }

    /// Checks a code; on success consumes the challenge and issues tokens
    /// (DESIGN §5.5–5.7). The attempt is counted before the code is compared,
    /// so concurrent guesses cannot exceed the limit.
    pub async fn confirm_otp(
        &self,
        confirm: &OtpConfirm,
        issuer: &str,
    ) -> Result<Confirmed, Error> {
        let client = self.authenticate(&confirm.client).await?;
        let otp = confirm.otp.trim().to_ascii_uppercase();
        if otp.is_empty()
            || otp.len() > MAX_CODE_LENGTH as usize
            || !otp.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidRequest(
                "otp must be 4 to 10 letters or digits",
            ));
        }
        let (phone_key, selector) = match &confirm.challenge {
            ChallengeRef::Token(token) => {
                let (phone_key, hash) = ChallengeToken::parse(token).ok_or(Error::OtpExpired)?;
                (phone_key, Selector::TokenHash(hash))
            }
            ChallengeRef::MobileAndRef {
                mobile_no,
                ref_code,
            } => {
                let phone = self.parse_phone(&client, mobile_no)?;
                let ref_code = ref_code.trim().to_ascii_uppercase();
                (self.secret.phone_key(&phone), Selector::RefCode(ref_code))
            }
            ChallengeRef::Mobile { mobile_no } => {
                let phone = self.parse_phone(&client, mobile_no)?;
                (self.secret.phone_key(&phone), Selector::Current)
            }
        };
        let key = ChallengeKey {
            client_id: client.client_id.clone(),
            phone_key: phone_key.clone(),
        };
        let now = self.clock.now_ms();
        // The directory entry and the day's wrong codes for this phone are read
        // alongside the attempt: one round trip.
        let failures = failed_confirm_limit(&client.settings, &phone_key, now);
        let (counted, user, failed_today) = tokio::join!(
            self.store.count_attempt(&key, &selector, now),
            self.store.user(&phone_key),
            self.store.counted(&failures)
        );
        if failed_today? >= failures.limit {
            return Err(Error::RateLimited {
                retry_after_secs: seconds_until(failures.window_end_ms, now),
            });
        }
        let counted = counted?.map_err(|refusal| match refusal {
            Refusal::AttemptsExhausted => Error::OtpAttemptsExceeded,
            Refusal::NotFound | Refusal::Expired | Refusal::Used => Error::OtpExpired,
        })?;
        let expected = self.secret.code_hash(&counted.token_hash, &otp);
        if !constant_time_eq(&expected, &counted.code_hash) {
            tracing::info!(client_id = %client.client_id, attempts = counted.attempts, "otp wrong");
            self.store.count(&failures).await?;
            return Err(if counted.attempts >= counted.max_attempts {
                Error::OtpAttemptsExceeded
            } else {
                Error::OtpInvalid
            });
        }

        // A first login makes an account whose only name is its id.
        let user = user?.unwrap_or_else(|| {
            let account_id = self.secret.account_id(&phone_key);
            User {
                username: account_id.clone(),
                account_id,
                phone_key,
                id_card_hash: None,
            }
        });
        if !(client.settings.issue_tokens && confirm.wants_tokens) {
            let consumed = self
                .store
                .consume(&key, &counted.token_hash, now, &user, None)
                .await?;
            return if consumed {
                Ok(Confirmed::CodeCorrect)
            } else {
                Err(Error::OtpExpired)
            };
        }
        let family_id = RefreshToken::new_family_id(&random_bytes(self.entropy.as_ref()));
        let refresh_token = RefreshToken::make(&family_id, &random_bytes(self.entropy.as_ref()));
        let family = RefreshFamily {
            family_id,
            client_id: client.client_id.clone(),
            account_id: user.account_id.clone(),
            username: user.username.clone(),
            login_by: counted.login_by.clone(),
            current_hash: sha256(refresh_token.as_bytes()),
            spent_hashes: vec![],
            revoked: false,
            created_at_ms: now,
            idle_expires_at_ms: now + IDLE_LIFETIME_MS,
        };
        // Consuming and signing run side by side (one round trip): a signature
        // made for a lost race is simply dropped.
        let (consumed, access) = tokio::join!(
            self.store
                .consume(&key, &counted.token_hash, now, &user, Some(&family)),
            self.access_token(&client.client_id, &family, issuer, now)
        );
        // The dialects name these two failures apart (One ID has a text for each).
        if !consumed.map_err(Error::into_refresh_failure)? {
            return Err(Error::OtpExpired);
        }
        let access = access.map_err(Error::into_signing_failure);
        tracing::info!(client_id = %client.client_id, account_id = %family.account_id, "otp confirmed");
        Ok(Confirmed::Tokens(self.token_set(
            access?,
            refresh_token,
            &family,
            now,
        )))
    }

    /// Exchanges a refresh token for a new pair (DESIGN §6): one conditional
    /// write rotates it; a spent token revokes its whole family.
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &str,
        issuer: &str,
    ) -> Result<TokenSet, Error> {
        let client = self.authenticate(credentials).await?;
        let (family_id, presented_hash) =
            RefreshToken::parse(refresh_token).ok_or(Error::InvalidGrant)?;
        let next = RefreshToken::make(&family_id, &random_bytes(self.entropy.as_ref()));
        let next_hash = sha256(next.as_bytes());
        let now = self.clock.now_ms();
        let rotated = self
            .store
            .rotate_refresh(
                &family_id,
                &presented_hash,
                &client.client_id,
                &next_hash,
                now,
            )
            .await?;
        let family = match rotated {
            Ok(family) => family,
            Err(RotationRefusal::Reused) => {
                tracing::warn!(client_id = %client.client_id, "spent refresh token presented; family revoked");
                self.store
                    .revoke_family(&family_id, &client.client_id, &presented_hash)
                    .await?;
                return Err(Error::InvalidGrant);
            }
            Err(RotationRefusal::Invalid) => return Err(Error::InvalidGrant),
        };
        let access = match self
            .access_token(&client.client_id, &family, issuer, now)
            .await
        {
            Ok(access) => access,
            Err(e) => {
                // The caller never gets the new token: make the one it holds
                // current again, or its next use would look like theft.
                if let Err(undo) = self
                    .store
                    .unrotate_refresh(&family_id, &presented_hash, &next_hash)
                    .await
                {
                    tracing::error!(error = %undo, "refresh rotation could not be undone");
                }
                return Err(e.into_signing_failure());
            }
        };
        Ok(self.token_set(access, next, &family, now))
    }

    /// RFC 7009 revocation. A refresh token of this client ends its whole
    /// family; anything else that is not an access token is answered as
    /// revoked too, so callers learn nothing about unknown tokens.
    pub async fn revoke(&self, credentials: &ClientCredentials, token: &str) -> Result<(), Error> {
        let client = self.authenticate(credentials).await?;
        if token.split('.').count() == 3 {
            return Err(Error::UnsupportedTokenType);
        }
        if let Some((family_id, hash)) = RefreshToken::parse(token)
            && self
                .store
                .revoke_family(&family_id, &client.client_id, &hash)
                .await?
        {
            tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        }
        Ok(())
    }

    /// The public keys tokens may be signed with: the current key first, then
    /// the previous one while tokens it signed can still be in flight.
    pub async fn jwks(&self) -> Result<Vec<Jwk>, Error> {
        self.signer.verification_keys().await
    }

    async fn access_token(
        &self,
        client_id: &str,
        family: &RefreshFamily,
        issuer: &str,
        now: Millis,
    ) -> Result<String, Error> {
        let iat = now / 1000;
        let claims = AccessClaims {
            iss: issuer.to_string(),
            aud: client_id.to_string(),
            sub: family.account_id.clone(),
            exp: iat + i64::from(self.config.access_token_ttl_secs),
            iat,
            jti: b64(&random_bytes::<16>(self.entropy.as_ref())),
            login_by: family.login_by.clone(),
        };
        sign_access_token(self.signer.as_ref(), &claims).await
    }

    fn token_set(
        &self,
        access_token: String,
        refresh_token: String,
        family: &RefreshFamily,
        now: Millis,
    ) -> TokenSet {
        TokenSet {
            access_token,
            refresh_token,
            expires_in: self.config.access_token_ttl_secs.into(),
            issued_at_ms: now,
            account_id: family.account_id.clone(),
            username: family.username.clone(),
            login_by: family.login_by.clone(),
        }
    }
}
