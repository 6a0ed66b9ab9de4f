//! Where the providers' credentials come from: Secrets Manager in AWS, a
//! map in local mode and tests. A secret's text is never logged or echoed.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

#[async_trait]
pub trait ProviderSecrets: Send + Sync {
    /// The text of the secret `arn`; `Err` says why, without it.
    async fn secret_text(&self, arn: &str) -> Result<String, String>;
}

/// The secret `arn` as the JSON object `T`; `Err` never quotes it.
pub async fn secret_of<T: DeserializeOwned>(
    secrets: &dyn ProviderSecrets,
    arn: &str,
) -> Result<T, String> {
    let text = secrets.secret_text(arn).await?;
    // serde_json's messages may quote what it read: only its kind is told.
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "the secret is not the provider's JSON object ({:?} error)",
            e.classify()
        )
    })
}

/// Secrets held in memory: local mode's (from the clients file) and tests'.
#[derive(Default)]
pub struct MemorySecrets(HashMap<String, String>);

impl MemorySecrets {
    pub fn new(secrets: HashMap<String, String>) -> Self {
        Self(secrets)
    }
}

#[async_trait]
impl ProviderSecrets for MemorySecrets {
    async fn secret_text(&self, arn: &str) -> Result<String, String> {
        self.0
            .get(arn)
            .cloned()
            .ok_or_else(|| "no such secret".to_string())
    }
}
