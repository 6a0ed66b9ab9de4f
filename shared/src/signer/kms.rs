use super::{Jwk, Signer};
use crate::Error;
use crate::sdk::sdk_failure;
use async_trait::async_trait;
use aws_lc_rs::rsa::{PublicKey, PublicKeyComponents};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a warm function trusts what the aliases pointed at. A rotation
/// reaches every instance within this time, which is why `otp-admin
/// signing-key rotate` publishes a new key well before it signs with it.
pub const ALIAS_REFRESH: Duration = Duration::from_secs(300);

/// The roles a signing key plays, each an alias derived from the stack's:
/// `<alias>` signs, `<alias>-next` is published ahead of use and
/// `<alias>-previous` stays published until the tokens it signed expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Current,
    Next,
    Previous,
}

impl KeyRole {
    pub fn alias(self, base: &str) -> String {
        match self {
            KeyRole::Current => base.to_string(),
            KeyRole::Next => format!("{base}-next"),
            KeyRole::Previous => format!("{base}-previous"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Current => "current",
            KeyRole::Next => "next",
            KeyRole::Previous => "previous",
        }
    }
}

/// A key an alias points at: the KMS key id (an ARN in AWS) and its public
/// half.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub role: KeyRole,
    pub key_id: String,
    pub jwk: Jwk,
}

/// The keys the three aliases point at now; `None` where an alias does not
/// exist (`-next` and `-previous` exist only during and after rotations).
pub async fn published_keys(
    client: &Client,
    alias: &str,
) -> Result<[Option<PublishedKey>; 3], Error> {
    let fetch = |role: KeyRole| async move {
        let out = match client
            .get_public_key()
            .key_id(role.alias(alias))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(sdk_failure("kms.GetPublicKey", &e)),
        };
        let der = out
            .public_key()
            .ok_or_else(|| Error::internal("kms.GetPublicKey", "no public key"))?;
        let key = PublicKey::from_der(der.as_ref())
            .map_err(|_| Error::internal("kms.GetPublicKey", "not an RSA key"))?;
        let parts: PublicKeyComponents<Vec<u8>> = (&key).into();
        let key_id = out
            .key_id()
            .ok_or_else(|| Error::internal("kms.GetPublicKey", "no key id"))?;
        Ok(Some(PublishedKey {
            role,
            key_id: key_id.to_string(),
            jwk: Jwk::rsa(&parts.n, &parts.e),
        }))
    };
    let (current, next, previous) = tokio::join!(
        fetch(KeyRole::Current),
        fetch(KeyRole::Next),
        fetch(KeyRole::Previous)
    );
    Ok([current?, next?, previous?])
}

/// What the aliases pointed at when last asked.
struct KeySet {
    fetched_at: Instant,
    current: PublishedKey,
    /// Current first, then next and previous; each key once.
    published: Vec<PublishedKey>,
}

/// Signs with the RSA_2048 SIGN_VERIFY key behind an alias; the private key
/// never leaves KMS. Each token is signed by the key its `kid` names (the
/// alias is resolved to a key id first), so a rotation can never produce a
/// token whose header and signature disagree.
pub struct KmsSigner {
    client: Client,
    alias: String,
    refresh_every: Duration,
    keys: Mutex<Option<Arc<KeySet>>>,
}

impl KmsSigner {
    /// `alias` is `alias/…`; the aliases are looked up again after
    /// `refresh_every` (`ALIAS_REFRESH` in the functions).
    pub fn new(client: Client, alias: impl Into<String>, refresh_every: Duration) -> Self {
        Self {
            client,
            alias: alias.into(),
            refresh_every,
            keys: Mutex::new(None),
        }
    }

    async fn keys(&self) -> Result<Arc<KeySet>, Error> {
        let mut cached = self.keys.lock().await;
        if let Some(keys) = cached.as_ref()
            && keys.fetched_at.elapsed() < self.refresh_every
        {
            return Ok(keys.clone());
        }
        let fetched = match published_keys(&self.client, &self.alias).await {
            Ok(fetched) => fetched,
            // A KMS hiccup must not stop logins while the keys are known.
            Err(error) => match cached.as_ref() {
                Some(known) => {
                    tracing::warn!(%error, "signing key aliases not refreshed; using the known keys");
                    return Ok(known.clone());
                }
                None => return Err(error),
            },
        };
        let [current, next, previous] = fetched;
        let current = current.ok_or_else(|| {
            Error::internal("kms.GetPublicKey", "the signing key alias does not exist")
        })?;
        let mut published = vec![current.clone()];
        for key in [next, previous].into_iter().flatten() {
            if published.iter().all(|p| p.jwk.kid != key.jwk.kid) {
                published.push(key);
            }
        }
        let keys = Arc::new(KeySet {
            fetched_at: Instant::now(),
            current,
            published,
        });
        *cached = Some(keys.clone());
        Ok(keys)
    }
}

#[async_trait]
impl Signer for KmsSigner {
    async fn public_key(&self) -> Result<Jwk, Error> {
        Ok(self.keys().await?.current.jwk.clone())
    }

    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, Error> {
        let keys = self.keys().await?;
        let key = keys
            .published
            .iter()
            .find(|k| k.jwk.kid == kid)
            .ok_or_else(|| Error::internal("kms.Sign", "no published key has this kid"))?;
        let out = self
            .client
            .sign()
            .key_id(&key.key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .map_err(|e| sdk_failure("kms.Sign", &e))?;
        out.signature()
            .map(|s| s.as_ref().to_vec())
            .ok_or_else(|| Error::internal("kms.Sign", "no signature"))
    }

    async fn verification_keys(&self) -> Result<Vec<Jwk>, Error> {
        Ok(self
            .keys()
            .await?
            .published
            .iter()
            .map(|k| k.jwk.clone())
            .collect())
    }
}
