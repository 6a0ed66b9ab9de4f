//! Requesting a code: the challenge, its limits, and the SMS.

use super::{
    App, LOGIN_BY_MOBILE, LOGIN_BY_MOBILE_AND_ID_CARD, OtpRequest, OtpSent, UnknownUsers,
    seconds_until,
};
use crate::Error;
use crate::clock::Millis;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, ChallengeToken};
use crate::domain::client::OverrideError;
use crate::domain::code::{generate_code, generate_ref_code, random_bytes};
use crate::domain::keys::{b64, sha256};
use crate::domain::limits::{RateLimit, SendSubject, is_sms_ceiling, send_limits};
use crate::domain::user::ThaiIdCard;
use crate::sms::SmsMessage;
use crate::store::{StartOutcome, UserRequirement};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
}
