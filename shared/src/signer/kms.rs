use super::{Jwk, Signer};
use crate::Error;
use crate::aws::sdk_failure;
use async_trait::async_trait;
use aws_lc_rs::rsa::{PublicKey, PublicKeyComponents};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use tokio::sync::OnceCell;

/// Signs with an RSA_2048 SIGN_VERIFY key in KMS; the private key never
/// leaves KMS. Public keys are fetched once per cold start. After a key
/// rotation the previous key is still published, so tokens it signed keep
/// verifying until they expire.
pub struct KmsSigner {
    client: Client,
    key_id: String,
    previous_key_id: Option<String>,
    public: OnceCell<Jwk>,
    previous_public: OnceCell<Jwk>,
}

impl KmsSigner {
    pub fn new(client: Client, key_id: impl Into<String>, previous_key_id: Option<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            previous_key_id,
            public: OnceCell::new(),
            previous_public: OnceCell::new(),
        }
    }

    async fn fetch_public_key(&self, key_id: &str) -> Result<Jwk, Error> {
        let out = self
            .client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk_failure("kms.GetPublicKey", &e))?;
        let der = out
            .public_key()
            .ok_or_else(|| Error::internal("kms.GetPublicKey", "no public key"))?;
        let key = PublicKey::from_der(der.as_ref())
            .map_err(|_| Error::internal("kms.GetPublicKey", "not an RSA key"))?;
        let parts: PublicKeyComponents<Vec<u8>> = (&key).into();
        Ok(Jwk::rsa(&parts.n, &parts.e))
    }
}

#[async_trait]
impl Signer for KmsSigner {
    async fn public_key(&self) -> Result<Jwk, Error> {
        self.public
            .get_or_try_init(|| self.fetch_public_key(&self.key_id))
            .await
            .cloned()
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
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
        let mut keys = vec![self.public_key().await?];
        if let Some(previous) = &self.previous_key_id {
            let jwk = self
                .previous_public
                .get_or_try_init(|| self.fetch_public_key(previous))
                .await?;
            if jwk.kid != keys[0].kid {
                keys.push(jwk.clone());
            }
        }
        Ok(keys)
    }
}
