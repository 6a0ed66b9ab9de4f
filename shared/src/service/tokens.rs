//! Refresh, revocation and the public keys.

use super::{App, ClientCredentials, TokenSet};
use crate::Error;
use crate::clock::Millis;
use crate::domain::authorization::verifier_matches;
use crate::domain::code::random_bytes;
use crate::domain::keys::{b64, sha256};
use crate::domain::refresh::{IDLE_LIFETIME_MS, RefreshFamily, RefreshToken, RotationRefusal};
use crate::metrics::Metric;
use crate::signer::{AccessClaims, Jwk, sign_access_token};

impl App {
    /// Exchanges a refresh token for a new pair (DESIGN §6): one conditional
    /// write rotates it; a spent token revokes its whole family.
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &str,
        issuer: &str,
    ) -> Result<TokenSet, Error> {
        self.in_time(self.rotate_tokens(credentials, refresh_token, issuer))
            .await
    }

    async fn rotate_tokens(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &str,
        issuer: &str,
    ) -> Result<TokenSet, Error> {
        let client = self.token_client(credentials).await?;
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
            .await;
        let rotated = match rotated {
            Ok(rotated) => rotated,
            Err(e) => {
                // The rotation may have been written with its answer lost.
                self.give_back_rotation(&family_id, &presented_hash, &next_hash)
                    .await;
                return Err(e);
            }
        };
        let family = match rotated {
            Ok(family) => family,
            Err(RotationRefusal::Reused) => {
                tracing::warn!(client_id = %client.client_id, "spent refresh token presented; family revoked");
                self.store
                    .revoke_family(&family_id, &client.client_id)
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
                self.give_back_rotation(&family_id, &presented_hash, &next_hash)
                    .await;
                return Err(e.into_signing_failure());
            }
        };
        self.count(Metric::TokenRefreshed, &client.client_id, None);
        Ok(self.token_set(access, next, &family, now))
    }

    /// The caller never gets the new token: makes the one it holds current
    /// again, if the rotation to `next_hash` stands, or its next use would
    /// look like theft and end the family. Best effort: if it cannot be
    /// undone either, the caller's next use ends the family, and it logs in
    /// again.
    async fn give_back_rotation(&self, family_id: &str, presented_hash: &str, next_hash: &str) {
        if let Err(undo) = self
            .store
            .unrotate_refresh(family_id, presented_hash, next_hash)
            .await
        {
            tracing::error!(error = %undo, "refresh rotation could not be undone");
        }
    }

    /// Exchanges an authorization code of the hosted page (DESIGN §14, RFC
    /// 9700): once, within its lifetime, by the client it was issued to,
    /// with the redirect URI of its request and the PKCE verifier of its
    /// challenge. A code used before is refused and the tokens its first
    /// use issued are revoked (it was stolen, or replayed).
    pub async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        issuer: &str,
    ) -> Result<TokenSet, Error> {
        self.in_time(self.redeem_code(credentials, code, redirect_uri, code_verifier, issuer))
            .await
    }

    async fn redeem_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        issuer: &str,
    ) -> Result<TokenSet, Error> {
        let client = self.token_client(credentials).await?;
        let now = self.clock.now_ms();
        let code_hash = sha256(code.as_bytes());
        let Some((minted, redeemed)) = self.store.authorization_code(&code_hash).await? else {
            return Err(Error::InvalidGrant);
        };
        // Bound to the client, the redirect URI and the PKCE challenge:
        // whoever lacks any of them learns nothing and changes nothing.
        if minted.client_id != client.client_id
            || minted.redirect_uri != redirect_uri
            || !verifier_matches(code_verifier, &minted.code_challenge)
        {
            return Err(Error::InvalidGrant);
        }
        if let Some(family_id) = redeemed {
            tracing::warn!(client_id = %client.client_id, "authorization code used twice; its tokens revoked");
            self.store
                .revoke_family(&family_id, &client.client_id)
                .await?;
            return Err(Error::InvalidGrant);
        }
        if now >= minted.expires_at_ms {
            return Err(Error::InvalidGrant);
        }
        let family_id = RefreshToken::new_family_id(&random_bytes(self.entropy.as_ref()));
        let refresh_token = RefreshToken::make(&family_id, &random_bytes(self.entropy.as_ref()));
        let family = RefreshFamily {
            family_id,
            client_id: client.client_id.clone(),
            account_id: minted.account_id,
            username: minted.username,
            login_by: minted.login_by,
            current_hash: sha256(refresh_token.as_bytes()),
            revoked: false,
            created_at_ms: now,
            idle_expires_at_ms: now + IDLE_LIFETIME_MS,
        };
        // Redeeming and signing run side by side: a signature made for a
        // lost race is dropped.
        let (redeemed, access) = tokio::join!(
            self.store
                .redeem_authorization_code(&code_hash, &family, now),
            self.access_token(&client.client_id, &family, issuer, now)
        );
        if !redeemed.map_err(Error::into_refresh_failure)? {
            // Another exchange of the same code won the race: a replay.
            if let Some((_, Some(family_id))) = self.store.authorization_code(&code_hash).await? {
                self.store
                    .revoke_family(&family_id, &client.client_id)
                    .await?;
            }
            return Err(Error::InvalidGrant);
        }
        let access = access.map_err(Error::into_signing_failure)?;
        Ok(self.token_set(access, refresh_token, &family, now))
    }

    /// RFC 7009 revocation. A refresh token of this client ends its whole
    /// family (any token naming the family: see `domain::refresh`); anything
    /// else that is not an access token, another client's included, is
    /// answered as revoked too and changes nothing, so callers learn nothing
    /// about tokens that are not theirs.
    pub async fn revoke(&self, credentials: &ClientCredentials, token: &str) -> Result<(), Error> {
        self.in_time(self.revoke_token(credentials, token)).await
    }

    async fn revoke_token(
        &self,
        credentials: &ClientCredentials,
        token: &str,
    ) -> Result<(), Error> {
        let client = self.token_client(credentials).await?;
        if token.split('.').count() == 3 {
            return Err(Error::UnsupportedTokenType);
        }
        if let Some((family_id, _)) = RefreshToken::parse(token)
            && self
                .store
                .revoke_family(&family_id, &client.client_id)
                .await?
        {
            tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        }
        Ok(())
    }

    /// The public keys tokens may be signed with: the current key first, then
    /// the previous one while tokens it signed can still be in flight.
    pub async fn jwks(&self) -> Result<Vec<Jwk>, Error> {
        self.in_time(self.signer()?.verification_keys()).await
    }

    pub(super) async fn access_token(
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
        sign_access_token(self.signer()?, &claims).await
    }

    pub(super) fn token_set(
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
