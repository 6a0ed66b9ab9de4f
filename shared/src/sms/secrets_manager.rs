//! Secrets Manager: where the providers' credentials are kept in AWS. Each
//! secret read is kept for a few minutes, so a burst of sends reads it once
//! per Lambda environment, and a rotated secret is used within that time.

use super::secrets::ProviderSecrets;
use crate::sdk::sdk_failure;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a secret read is used before it is read again.
pub const SECRET_KEPT_FOR: Duration = Duration::from_secs(300);

/// The text of the secret `secret_id`; `Err` says why, without it.
pub async fn secret_text(client: &Client, secret_id: &str) -> Result<String, String> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sdk_failure("secretsmanager.GetSecretValue", &e).to_string())?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| format!("the secret {secret_id} has no text value"))
}

pub struct SecretsManagerSecrets {
    client: Client,
    kept: Mutex<HashMap<String, (Instant, String)>>,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kept: Mutex::default(),
        }
    }
}

#[async_trait]
impl ProviderSecrets for SecretsManagerSecrets {
    async fn secret_text(&self, arn: &str) -> Result<String, String> {
        let kept = |kept: &HashMap<String, (Instant, String)>| {
            kept.get(arn)
                .filter(|(read_at, _)| read_at.elapsed() < SECRET_KEPT_FOR)
                .map(|(_, text)| text.clone())
        };
        if let Some(text) = kept(&self.kept.lock().unwrap()) {
            return Ok(text);
        }
        let text = secret_text(&self.client, arn).await?;
        self.kept
            .lock()
            .unwrap()
            .insert(arn.to_string(), (Instant::now(), text.clone()));
        Ok(text)
    }
}
