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

impl LambdaSettings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// From any source of variables; `from_env` passes the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| {
            lookup(name).ok_or_else(|| format!("environment variable {name} is required"))
        };
        let secret_text = required("OTP_SERVER_SECRET")?;
        let secret_bytes = b64_decode(secret_text.trim())
            .ok_or("OTP_SERVER_SECRET must be base64url without padding")?;
        let access_token_ttl_secs = match lookup("OTP_ACCESS_TOKEN_TTL_SECS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| (60..=86_400).contains(s))
                .ok_or("OTP_ACCESS_TOKEN_TTL_SECS must be 60 to 86400")?,
            None => Config::default().access_token_ttl_secs,
        };
        Ok(Self {
            table_name: required("OTP_TABLE_NAME")?,
            signing_key_id: required("OTP_SIGNING_KEY_ID")?,
            server_secret: ServerSecret::new(&secret_bytes)?,
            config: Config {
                issuer: lookup("OTP_ISSUER").filter(|s| !s.is_empty()),
                access_token_ttl_secs,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0";

    #[test]
    fn lambda_settings_need_table_key_and_secret() {
        let full = [
            ("OTP_TABLE_NAME", "t"),
            ("OTP_SIGNING_KEY_ID", "alias/k"),
            ("OTP_SERVER_SECRET", SECRET),
        ];
        let settings = LambdaSettings::from_lookup(lookup(&full)).unwrap();
        assert_eq!(settings.table_name, "t");
        assert_eq!(settings.config, Config::default());
        for missing in 0..full.len() {
            let mut vars = full.to_vec();
            let (name, _) = vars.remove(missing);
            let err = LambdaSettings::from_lookup(lookup(&vars)).err().unwrap();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn lambda_settings_refuse_weak_secrets_and_odd_lifetimes() {
        let base = [("OTP_TABLE_NAME", "t"), ("OTP_SIGNING_KEY_ID", "k")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            LambdaSettings::from_lookup(lookup(&vars))
        };
        assert!(with(&[("OTP_SERVER_SECRET", "c2hvcnQ")]).is_err());
        assert!(with(&[("OTP_SERVER_SECRET", "not base64!")]).is_err());
        assert!(
            with(&[
                ("OTP_SERVER_SECRET", SECRET),
                ("OTP_ACCESS_TOKEN_TTL_SECS", "59")
            ])
            .is_err()
        );
        let ok = with(&[
            ("OTP_SERVER_SECRET", SECRET),
            ("OTP_ACCESS_TOKEN_TTL_SECS", "600"),
            ("OTP_ISSUER", "https://id.example"),
        ])
        .unwrap();
        assert_eq!(ok.config.access_token_ttl_secs, 600);
        assert_eq!(ok.config.issuer.as_deref(), Some("https://id.example"));
    }
}
