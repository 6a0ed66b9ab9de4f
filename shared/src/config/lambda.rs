//! The settings of a Lambda function, read from its environment once per
//! cold start: the deployment's `Config` and where its table, signing key,
//! server secret, trust store and edge secret are.

use super::*;
use crate::domain::client::{MAX_LIFETIME_SECS, MIN_LIFETIME_SECS, is_sender_id};
use crate::domain::code::{MAX_CODE_LENGTH, MIN_CODE_LENGTH};
use crate::domain::keys::{ServerSecret, b64_decode};
use std::env;

/// The settings a Lambda function needs, all from environment variables.
#[derive(Clone)]
pub struct LambdaSettings {
    pub table_name: String,
    /// `alias/…` of the signing key; `-next` and `-previous` are derived.
    pub signing_key_alias: String,
    pub server_secret: SecretSource,
    /// `OTP_TLS_ROOTS`: whom the HTTPS client trusts.
    pub tls_roots: crate::aws::TlsRoots,
    /// `OTP_EDGE_SECRET_ARN`: the secret of the stack's edge, read at cold
    /// start into `Config::edge`; none without an edge.
    pub edge_secret_id: Option<String>,
    pub config: Config,
}

/// Where the deployment's server secret (DESIGN §5.2) comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// `OTP_SERVER_SECRET`: the value itself, for local runs and tests.
    Inline(Box<ServerSecret>),
    /// `OTP_SERVER_SECRET_ARN`: read from Secrets Manager at cold start, so
    /// the value is in no environment and no template.
    SecretsManager { secret_id: String },
}

impl SecretSource {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        match (lookup("OTP_SERVER_SECRET_ARN"), lookup("OTP_SERVER_SECRET")) {
            (Some(secret_id), _) if !secret_id.is_empty() => Ok(Self::SecretsManager { secret_id }),
            (_, Some(text)) => Ok(Self::Inline(Box::new(server_secret_from_text(&text)?))),
            _ => Err(
                "environment variable OTP_SERVER_SECRET_ARN (or OTP_SERVER_SECRET) is required"
                    .into(),
            ),
        }
    }
}

/// The secret's text is base64url (the stack generates 64 such characters).
pub fn server_secret_from_text(text: &str) -> Result<ServerSecret, String> {
    let bytes =
        b64_decode(text.trim()).ok_or("the server secret must be base64url without padding")?;
    Ok(ServerSecret::new(&bytes)?)
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
        let number = |name: &str, range: RangeInclusive<u32>, default: u32| match lookup(name)
            .filter(|v| !v.is_empty())
        {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| format!("{name} must be {} to {}", range.start(), range.end())),
            None => Ok(default),
        };
        let server_secret = SecretSource::from_lookup(&lookup)?;
        let defaults = Config::default();
        let access_token_ttl_secs = number(
            "OTP_ACCESS_TOKEN_TTL_SECS",
            60..=86_400,
            defaults.access_token_ttl_secs,
        )?;
        let client_defaults = ClientDefaults {
            code_length: number(
                "OTP_CODE_LENGTH",
                u32::from(MIN_CODE_LENGTH)..=u32::from(MAX_CODE_LENGTH),
                defaults.client_defaults.code_length.into(),
            )? as u8,
            lifetime_secs: number(
                "OTP_CODE_LIFETIME_SECS",
                MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS,
                defaults.client_defaults.lifetime_secs,
            )?,
            sender_id: match lookup("OTP_SENDER_ID").filter(|v| !v.is_empty()) {
                Some(id) if is_sender_id(&id) => Some(id),
                Some(_) => {
                    return Err(
                        "OTP_SENDER_ID must be 1 to 11 letters, digits or -, with a letter".into(),
                    );
                }
                None => None,
            },
        };
        Ok(Self {
            table_name: required("OTP_TABLE_NAME")?,
            signing_key_alias: Some(required("OTP_SIGNING_KEY_ALIAS")?)
                .filter(|alias| alias.starts_with("alias/"))
                .ok_or("OTP_SIGNING_KEY_ALIAS must be a KMS alias name, alias/…")?,
            server_secret,
            tls_roots: crate::aws::TlsRoots::from_lookup(&lookup)?,
            edge_secret_id: lookup("OTP_EDGE_SECRET_ARN").filter(|id| !id.is_empty()),
            config: Config {
                issuer: match lookup("OTP_ISSUER").filter(|s| !s.is_empty()) {
                    Some(url) if url.starts_with("https://") && !url.ends_with('/') => Some(url),
                    Some(_) => {
                        return Err(
                            "OTP_ISSUER must be an https:// URL without a trailing /".into()
                        );
                    }
                    None => None,
                },
                region: lookup("AWS_REGION").filter(|s| !s.is_empty()),
                access_token_ttl_secs,
                token_time_zone_offset_secs: match lookup("OTP_TOKEN_TIME_ZONE") {
                    Some(zone) => parse_utc_offset(&zone)
                        .ok_or("OTP_TOKEN_TIME_ZONE must be an offset like +07:00")?,
                    None => defaults.token_time_zone_offset_secs,
                },
                production: lookup("OTP_STAGE").is_some_and(|stage| stage == "prod"),
                default_allowed_calling_codes: match lookup("OTP_ALLOWED_CALLING_CODES") {
                    Some(list) => parse_calling_codes(&list)
                        .ok_or("OTP_ALLOWED_CALLING_CODES must be calling codes like 66,84")?,
                    None => defaults.default_allowed_calling_codes,
                },
                client_defaults,
                phone_sends_per_hour_all_clients: number(
                    "OTP_PHONE_SENDS_PER_HOUR",
                    6..=1000,
                    defaults.phone_sends_per_hour_all_clients,
                )?,
                pumping_conversion_percent: number(
                    "OTP_PUMPING_CONVERSION_PERCENT",
                    1..=99,
                    defaults.pumping_conversion_percent,
                )?,
                delivery_missed_percent: number(
                    "OTP_DELIVERY_MISSED_PERCENT",
                    1..=99,
                    defaults.delivery_missed_percent,
                )?,
                edge: None,
                pow_max_number: number(
                    "OTP_POW_MAX_NUMBER",
                    1_000..=10_000_000,
                    defaults.pow_max_number,
                )?,
                timeouts: Timeouts::for_function(Duration::from_secs(
                    number(
                        "OTP_FUNCTION_TIMEOUT_SECS",
                        Timeouts::FUNCTION_SECS,
                        Timeouts::DEFAULT_FUNCTION_SECS,
                    )?
                    .into(),
                )),
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
            ("OTP_SIGNING_KEY_ALIAS", "alias/k"),
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
    fn the_server_secret_comes_from_secrets_manager_when_named() {
        let both = [
            ("OTP_SERVER_SECRET_ARN", "arn:aws:secretsmanager:x"),
            ("OTP_SERVER_SECRET", SECRET),
        ];
        assert!(matches!(
            SecretSource::from_lookup(lookup(&both)),
            Ok(SecretSource::SecretsManager { secret_id }) if secret_id == "arn:aws:secretsmanager:x"
        ));
        assert!(matches!(
            SecretSource::from_lookup(lookup(&both[1..])),
            Ok(SecretSource::Inline(_))
        ));
        assert!(SecretSource::from_lookup(lookup(&[])).is_err());
    }

    #[test]
    fn lambda_settings_read_the_client_defaults_within_bounds() {
        let base = [
            ("OTP_TABLE_NAME", "t"),
            ("OTP_SIGNING_KEY_ALIAS", "alias/k"),
            ("OTP_SERVER_SECRET", SECRET),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            LambdaSettings::from_lookup(lookup(&vars))
        };
        let set = with(&[
            ("OTP_CODE_LENGTH", "8"),
            ("OTP_CODE_LIFETIME_SECS", "120"),
            ("OTP_SENDER_ID", "Acme"),
        ])
        .unwrap();
        assert_eq!(
            set.config.client_defaults,
            ClientDefaults {
                code_length: 8,
                lifetime_secs: 120,
                sender_id: Some("Acme".into())
            }
        );
        // Empty values are what the stack passes for "not set".
        let empty = with(&[("OTP_CODE_LENGTH", ""), ("OTP_SENDER_ID", "")]).unwrap();
        assert_eq!(empty.config.client_defaults, ClientDefaults::default());
        for (name, bad) in [
            ("OTP_CODE_LENGTH", "3"),
            ("OTP_CODE_LENGTH", "11"),
            ("OTP_CODE_LIFETIME_SECS", "119"),
            ("OTP_CODE_LIFETIME_SECS", "601"),
            ("OTP_SENDER_ID", "Has Space"),
            ("OTP_SIGNING_KEY_ALIAS", "arn:aws:kms:key/1"),
            // The deployment's cap stays above every client's own (5).
            ("OTP_PHONE_SENDS_PER_HOUR", "5"),
            ("OTP_ISSUER", "http://id.example"),
            ("OTP_ISSUER", "https://id.example/"),
            ("OTP_FUNCTION_TIMEOUT_SECS", "9"),
            ("OTP_PUMPING_CONVERSION_PERCENT", "0"),
            ("OTP_PUMPING_CONVERSION_PERCENT", "100"),
            ("OTP_DELIVERY_MISSED_PERCENT", "0"),
            ("OTP_DELIVERY_MISSED_PERCENT", "100"),
            ("OTP_FUNCTION_TIMEOUT_SECS", "30"),
        ] {
            let err = with(&[(name, bad)]).err().unwrap();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
    }

    #[test]
    fn every_call_fits_the_functions_timeout_with_room_for_one_retry() {
        let seconds = |d: Duration| d.as_secs_f64();
        for function in Timeouts::FUNCTION_SECS {
            let t = Timeouts::for_function(Duration::from_secs(function.into()));
            // The sequential calls, each with its retry, end before the
            // answer is due, and that before Lambda ends the function.
            let calls = t.operation() * Timeouts::SEQUENTIAL_CALLS;
            assert!(calls <= t.answer_within(), "{function} s");
            assert!(t.answer_within() < Duration::from_secs(function.into()));
            // A stalled attempt, the wait, and the retry.
            assert!(
                t.attempt() * 2 + t.operation() / 10 <= t.operation(),
                "{function} s"
            );
            assert!(
                seconds(t.attempt()) >= 1.0,
                "{function} s: {:?}",
                t.attempt()
            );
        }
        let default = LambdaSettings::from_lookup(lookup(&[
            ("OTP_TABLE_NAME", "t"),
            ("OTP_SIGNING_KEY_ALIAS", "alias/k"),
            ("OTP_SERVER_SECRET", SECRET),
        ]))
        .unwrap();
        assert_eq!(
            default.config.timeouts.attempt(),
            Duration::from_micros(1_012_500)
        );
    }

    #[test]
    fn calling_code_lists_parse_strictly() {
        assert_eq!(
            parse_calling_codes("66, 84,1"),
            Some(vec!["66".into(), "84".into(), "1".into()])
        );
        for bad in ["", "66,", "+66", "6666", "66;84", "999", "066"] {
            assert_eq!(parse_calling_codes(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_offsets_parse_strictly() {
        assert_eq!(parse_utc_offset("+07:00"), Some(25_200));
        assert_eq!(parse_utc_offset("-03:30"), Some(-12_600));
        assert_eq!(parse_utc_offset("Z"), Some(0));
        for bad in [
            "", "07:00", "+7:00", "+15:00", "+07:60", "+07", "UTC+7", "+0٧:00", "++7:00",
        ] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn lambda_settings_refuse_weak_secrets_and_odd_lifetimes() {
        let base = [
            ("OTP_TABLE_NAME", "t"),
            ("OTP_SIGNING_KEY_ALIAS", "alias/k"),
        ];
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
