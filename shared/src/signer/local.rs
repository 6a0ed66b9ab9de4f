use super::{Jwk, Signer};
use crate::Error;
use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};

/// An RSA-2048 key generated in process at start-up: local mode and tests.
pub struct LocalSigner {
    key: KeyPair,
    jwk: Jwk,
}

impl LocalSigner {
    pub fn generate() -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation failed");
        let public: PublicKeyComponents<Vec<u8>> = key.public_key().into();
        let jwk = Jwk::rsa(&public.n, &public.e);
        Self { key, jwk }
    }
}

#[async_trait]
impl Signer for LocalSigner {
    async fn public_key(&self) -> Result<Jwk, Error> {
        Ok(self.jwk.clone())
    }

    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, Error> {
        if kid != self.jwk.kid {
            return Err(Error::internal("local.sign", "no key has this kid"));
        }
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| Error::internal("local.sign", "signing failed"))?;
        Ok(signature)
    }
}
