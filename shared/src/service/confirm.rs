//! Confirming a code, and the tokens of a first login.

use super::{App, Caller, ChallengeRef, Confirmed, OtpConfirm, TokenSet, seconds_until};
use crate::Error;
use crate::clock::Millis;
use crate::domain::authorization::PageRequest;
use crate::domain::authorization::{AuthorizationCode, CODE_LIFETIME_MS};
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeToken, Refusal, Selector};
use crate::domain::code::{MAX_CODE_LENGTH, random_bytes};
use crate::domain::delivery::{DeliveryEvent, DeliveryState};
use crate::domain::keys::{b64, constant_time_eq, sha256};
use crate::domain::limits::failure_cap;
use crate::domain::refresh::{IDLE_LIFETIME_MS, RefreshFamily, RefreshToken};
use crate::metrics::{Confirm, Metric};
use crate::store::Issued;

/// What a right code is to give.
pub(super) enum Want<'a> {
    /// Only the check (the dialects that verify codes).
    Verification,
    /// Tokens, for clients that issue them.
    Tokens,
    /// The authorization code the hosted page's request ends in.
    AuthorizationCode(&'a PageRequest),
}

/// What a right code gave.
pub(super) enum Outcome {
    CodeCorrect,
    Tokens(TokenSet),
    AuthorizationCode(String),
}

impl App {
    /// Checks a code; on success consumes the challenge and issues tokens
    /// (DESIGN §5.5–5.7). The attempt is counted before the code is compared,
    /// so concurrent guesses cannot exceed the limit.
    pub async fn confirm_otp(
        &self,
        confirm: &OtpConfirm,
        issuer: &str,
    ) -> Result<Confirmed, Error> {
        let want = if confirm.wants_tokens {
            Want::Tokens
        } else {
            Want::Verification
        };
        let checked = self.check_code(
            &confirm.client,
            &confirm.challenge,
            &confirm.otp,
            want,
            issuer,
        );
        match self.in_time(checked).await? {
            Outcome::CodeCorrect => Ok(Confirmed::CodeCorrect),
            Outcome::Tokens(tokens) => Ok(Confirmed::Tokens(tokens)),
            Outcome::AuthorizationCode(_) => Err(Error::internal(
                "service.confirm",
                "a confirm that wants no authorization code made one",
            )),
        }
    }

    /// Checks `otp` for the challenge `challenge` names, for `caller`; on
    /// success consumes the challenge and gives what is `want`ed.
    pub(super) async fn check_code(
        &self,
        caller: &Caller,
        challenge: &ChallengeRef,
        otp: &str,
        want: Want<'_>,
        issuer: &str,
    ) -> Result<Outcome, Error> {
        let client = self.authenticate_caller(caller).await?;
        let otp = otp.trim().to_ascii_uppercase();
        if otp.is_empty()
            || otp.len() > MAX_CODE_LENGTH as usize
            || !otp.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidRequest(
                "otp must be 4 to 10 letters or digits",
            ));
        }
        let client_id = client.client_id.as_str();
        // The calling code, where the number is given; a token names it only
        // through its challenge.
        let mut calling_code = None;
        let (phone_key, selector) = match challenge {
            ChallengeRef::Token(token) => match ChallengeToken::parse(token) {
                Some((phone_key, hash)) => (phone_key, Selector::TokenHash(hash)),
                None => {
                    self.count(Metric::Confirmed(Confirm::Expired), client_id, None);
                    return Err(Error::OtpExpired);
                }
            },
            ChallengeRef::MobileAndRef {
                mobile_no,
                ref_code,
            } => {
                let (phone, code) = self.parse_phone(&client, mobile_no)?;
                calling_code = Some(code);
                let ref_code = ref_code.trim().to_ascii_uppercase();
                (self.secret.phone_key(&phone), Selector::RefCode(ref_code))
            }
            ChallengeRef::Mobile { mobile_no } => {
                let (phone, code) = self.parse_phone(&client, mobile_no)?;
                calling_code = Some(code);
                (self.secret.phone_key(&phone), Selector::Current)
            }
        };
        let key = ChallengeKey {
            client_id: client.client_id.clone(),
            phone_key: phone_key.clone(),
        };
        let now = self.clock.now_ms();
        // One round trip: the attempt, counted with the day's wrong codes
        // before the code is compared (given back when it is right), beside
        // the directory entry.
        let cap = failure_cap(&client.settings, now);
        let (counted, user) = tokio::join!(
            self.store.count_attempt(&key, &selector, &cap, now),
            self.store.user(client_id, &phone_key)
        );
        let counted = counted?.map_err(|refusal| {
            let (outcome, error) = match refusal {
                Refusal::FailureCapSpent => {
                    return Error::RateLimited {
                        retry_after_secs: seconds_until(cap.window_end_ms, now),
                    };
                }
                Refusal::AttemptsExhausted => (Confirm::Exhausted, Error::OtpAttemptsExceeded),
                Refusal::NotFound | Refusal::Expired | Refusal::Used => {
                    (Confirm::Expired, Error::OtpExpired)
                }
            };
            self.count(
                Metric::Confirmed(outcome),
                client_id,
                calling_code.as_deref(),
            );
            error
        })?;
        let calling_code = Some(counted.calling_code.as_str());
        let counted_as = |outcome| self.count(Metric::Confirmed(outcome), client_id, calling_code);
        let user = match user {
            Ok(user) => user,
            Err(e) => {
                // No code was compared: what the attempt counted is given
                // back. Best effort: kept, it only ever refuses sooner.
                if let Err(undo) = self
                    .store
                    .uncount_attempt(&key, &counted.token_hash, cap.window)
                    .await
                {
                    tracing::warn!(error = %undo, "a confirm could not give back its attempt");
                }
                return Err(e);
            }
        };
        let expected = self.secret.code_hash(&counted.token_hash, &otp);
        let code_right = constant_time_eq(&expected, &counted.code_hash);
        // A challenge for a number the directory does not hold (any more)
        // refuses every code as wrong, as its request answered as if sent.
        let directory_holds = counted
            .directory
            .as_ref()
            .is_none_or(|required| required.met_by(user.as_ref()));
        if !(code_right && directory_holds) {
            tracing::info!(client_id = %client.client_id, attempts = counted.attempts, "otp wrong");
            counted_as(Confirm::WrongCode);
            return Err(if counted.attempts >= counted.max_attempts {
                Error::OtpAttemptsExceeded
            } else {
                Error::OtpInvalid
            });
        }

        // The directory's account for a registered user; a first login at
        // an open client makes one whose only name is its id, and registers
        // no one anywhere (DESIGN §5.9).
        let (account_id, username) = match user {
            Some(user) => (user.account_id, user.username),
            None => {
                let account_id = self.secret.account_id(&phone_key);
                (account_id.clone(), account_id)
            }
        };
        // What the confirm tells of the SMS: it arrived (DESIGN §13.3).
        let converted = DeliveryEvent {
            state: DeliveryState::Converted,
            reason: None,
            provider: client.settings.provider_of(counted.provider.as_deref()),
            at_ms: now,
        };
        // A success is counted by the provider that sent the code too: the
        // conversion per provider (the dashboard's delivery table).
        let succeeded = || {
            self.count_in(
                Metric::Confirmed(Confirm::Success),
                client_id,
                calling_code,
                None,
                Some(&converted.provider),
            )
        };
        // The right code: its SMS arrived, whether or not this confirm wins
        // the consume. Told beside the round trip that consumes it.
        let told = self.tell_received(
            client_id,
            counted.provider.as_deref(),
            &counted.token_hash,
            now,
        );
        // Without tokens the consume is the last round trip: it stores the
        // page's authorization code (bound to its request, minted in the
        // consume's own step), or nothing.
        let untokened = match want {
            Want::Tokens if client.settings.issue_tokens => None,
            Want::Tokens | Want::Verification => Some((None, Outcome::CodeCorrect)),
            Want::AuthorizationCode(page) => {
                let code = b64(&random_bytes::<32>(self.entropy.as_ref()));
                let minted = AuthorizationCode {
                    code_hash: sha256(code.as_bytes()),
                    client_id: client.client_id.clone(),
                    redirect_uri: page.redirect_uri.clone(),
                    code_challenge: page.code_challenge.clone(),
                    account_id: account_id.clone(),
                    username: username.clone(),
                    login_by: counted.login_by.clone(),
                    expires_at_ms: now + CODE_LIFETIME_MS,
                };
                Some((Some(minted), Outcome::AuthorizationCode(code)))
            }
        };
        if let Some((minted, outcome)) = untokened {
            let issued = minted.as_ref().map_or(Issued::Nothing, Issued::Code);
            let (consumed, ()) = tokio::join!(
                self.store.consume(
                    &key,
                    &counted.token_hash,
                    now,
                    cap.window,
                    issued,
                    &converted
                ),
                told
            );
            return if consumed? {
                succeeded();
                Ok(outcome)
            } else {
                counted_as(Confirm::Expired);
                Err(Error::OtpExpired)
            };
        }
        let family_id = RefreshToken::new_family_id(&random_bytes(self.entropy.as_ref()));
        let refresh_token = RefreshToken::make(&family_id, &random_bytes(self.entropy.as_ref()));
        let family = RefreshFamily {
            family_id,
            client_id: client.client_id.clone(),
            account_id,
            username,
            login_by: counted.login_by.clone(),
            current_hash: sha256(refresh_token.as_bytes()),
            revoked: false,
            created_at_ms: now,
            idle_expires_at_ms: now + IDLE_LIFETIME_MS,
        };
        // Consuming and signing run side by side (one round trip): a
        // signature made for a lost race is simply dropped.
        let (consumed, access, ()) = tokio::join!(
            self.store.consume(
                &key,
                &counted.token_hash,
                now,
                cap.window,
                Issued::Family(&family),
                &converted
            ),
            self.access_token(&client.client_id, &family, issuer, now),
            told
        );
        // The dialects name these two failures apart (One ID has a text for each).
        if !consumed.map_err(Error::into_refresh_failure)? {
            counted_as(Confirm::Expired);
            return Err(Error::OtpExpired);
        }
        let access = access.map_err(Error::into_signing_failure)?;
        succeeded();
        tracing::info!(client_id = %client.client_id, account_id = %family.account_id, "otp confirmed");
        Ok(Outcome::Tokens(self.token_set(
            access,
            refresh_token,
            &family,
            now,
        )))
    }

    /// Tells End User Messaging that the SMS of a confirmed code arrived
    /// (its message feedback), by the message id its events named
    /// (`delivery-events` keeps it on the delivery record). Best effort
    /// and bounded by one attempt's time, so that a slow End User Messaging
    /// slows no login by more: the code is confirmed either way, and a
    /// message never told counts as failed in AWS's metrics only.
    async fn tell_received(
        &self,
        client_id: &str,
        provider: Option<&str>,
        token_hash: &str,
        now: Millis,
    ) {
        let Some(feedback) = self.feedback.as_ref().filter(|_| provider == Some("eum")) else {
            return;
        };
        let told = async {
            let record = self
                .store
                .delivery(&Challenge::id_of(token_hash), now)
                .await?;
            match record
                .filter(|r| r.client_id == client_id)
                .and_then(|r| r.message_id)
            {
                Some(id) => feedback.received(&id).await.map(|()| true),
                None => Ok(false),
            }
        };
        if self.feedback_within_an_attempt(told).await == Some(false) {
            tracing::info!("no End User Messaging event named the message yet: no feedback");
        }
    }

    /// Runs `told` (true when End User Messaging was told, false when there
    /// was nothing to tell) within one attempt's time; none when it failed.
    /// A failure is logged, never raised: the feedback is AWS's metric, not
    /// the login.
    pub(super) async fn feedback_within_an_attempt(
        &self,
        told: impl Future<Output = Result<bool, Error>>,
    ) -> Option<bool> {
        match tokio::time::timeout(self.config.timeouts.attempt(), told).await {
            Ok(Ok(told)) => Some(told),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "message feedback not given");
                None
            }
            Err(_) => {
                tracing::warn!("message feedback timed out");
                None
            }
        }
    }
}
