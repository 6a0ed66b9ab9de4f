//! The signing port: RS256 with the private key in KMS, or in process for the
//! local mode and unit tests. Plus the JWT and JWK shapes built on it.

mod jwt;
#[cfg(feature = "aws")]
mod kms;
mod local;
#[cfg(feature = "aws")]
pub mod rotation;

pub use jwt::{AccessClaims, sign_access_token};
#[cfg(feature = "aws")]
pub use kms::{ALIAS_REFRESH, KeyRole, KmsSigner, PublishedKey};
pub use local::LocalSigner;

use crate::Error;
use crate::domain::keys::{b64, sha256};
use async_trait::async_trait;
use serde::Serialize;

/// A public RSA key as JWKS serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl Jwk {
    /// From the big-endian modulus and exponent; `kid` is the key's RFC 7638
    /// thumbprint, so it changes exactly when the key does.
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Self {
        let n = b64(modulus);
        let e = b64(exponent);
        let thumbprint_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        Self {
            kty: "RSA",
            use_: "sig",
            alg: "RS256",
            kid: sha256(thumbprint_input.as_bytes()),
            n,
            e,
        }
    }
}

#[async_trait]
pub trait Signer: Send + Sync {
    /// The public half of the current signing key.
    async fn public_key(&self) -> Result<Jwk, Error>;

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`, by the key `kid`
    /// names: the caller put that `kid` in the header it signs.
    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, Error>;

    /// Every key a token still in flight may be signed with, current first.
    async fn verification_keys(&self) -> Result<Vec<Jwk>, Error> {
        Ok(vec![self.public_key().await?])
    }
}
