//! Deployment settings, read from the environment once per cold start.

use crate::domain::keys::{ServerSecret, b64_decode};
use std::env;

/// Settings that apply to the whole deployment (per-client ones live in the
/// client records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `iss` of the tokens; when unset, `https://<Host>` of the request, which
    /// behind API Gateway is the API's own domain.
    pub issuer: Option<String>,
    pub access_token_ttl_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            access_token_ttl_secs: 3600,
        }
    }
}

/// The settings a Lambda function needs, all from environment variables.
pub struct LambdaSettings {
    pub table_name: String,
    pub signing_key_id: String,
    pub server_secret: ServerSecret,
    pub config: Config,
}

fn required(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("environment variable {name} is required"))
}

impl LambdaSettings {
    pub fn from_env() -> Result<Self, String> {
        let secret_text = required("OTP_SERVER_SECRET")?;
        let secret_bytes = b64_decode(secret_text.trim())
            .ok_or("OTP_SERVER_SECRET must be base64url without padding")?;
        let access_token_ttl_secs = match env::var("OTP_ACCESS_TOKEN_TTL_SECS") {
            Ok(v) => v
                .parse()
                .ok()
                .filter(|s| (60..=86_400).contains(s))
                .ok_or("OTP_ACCESS_TOKEN_TTL_SECS must be 60 to 86400")?,
            Err(_) => Config::default().access_token_ttl_secs,
        };
        Ok(Self {
            table_name: required("OTP_TABLE_NAME")?,
            signing_key_id: required("OTP_SIGNING_KEY_ID")?,
            server_secret: ServerSecret::new(&secret_bytes)?,
            config: Config {
                issuer: env::var("OTP_ISSUER").ok().filter(|s| !s.is_empty()),
                access_token_ttl_secs,
            },
        })
    }
}
