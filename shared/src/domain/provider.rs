//! The ways a code leaves (DESIGN §13): each client's ordered SMS providers.
//! A send that one provider does not take moves, with the same code, to the
//! next. What the providers' credentials are is never here: a provider names
//! its secret in Secrets Manager by ARN.

use serde::{Deserialize, Serialize};

/// At most this many providers per client: each gets its share of the
/// function's time (`Timeouts`), so a longer list would leave each too little.
pub const MAX_PROVIDERS: usize = 3;

/// One provider of a client's `sms_providers`, as the client record and the
/// local clients file spell it: `{"kind": "sns"}`, `{"kind": "webhook",
/// "url": …, "secret_arn": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SmsProvider {
    /// SNS `Publish` to the number, as a transactional SMS.
    Sns {},
    /// Any HTTPS endpoint, signed per Standard Webhooks.
    Webhook(WebhookSettings),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// `{"signing_secret": "whsec_…"}`.
    pub secret_arn: String,
}

impl SmsProvider {
    /// The provider's name in metrics, on the challenge and in the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SmsProvider::Sns {} => "sns",
            SmsProvider::Webhook(_) => "webhook",
        }
    }

    /// The Secrets Manager secret holding the provider's credentials.
    pub fn secret_arn(&self) -> Option<&str> {
        match self {
            SmsProvider::Sns {} => None,
            SmsProvider::Webhook(s) => Some(&s.secret_arn),
        }
    }

    /// Where the provider is called over HTTP.
    fn url(&self) -> Option<&str> {
        match self {
            SmsProvider::Sns {} => None,
            SmsProvider::Webhook(s) => Some(&s.url),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        if let Some(arn) = self.secret_arn()
            && !is_secret_arn(arn)
        {
            return Err(format!(
                "sms_providers {kind}: secret_arn must be a Secrets Manager secret's ARN"
            ));
        }
        if self.url().is_some_and(|url| !is_provider_url(url)) {
            return Err(format!(
                "sms_providers {kind}: url must be an https URL (http only to this machine)"
            ));
        }
        Ok(())
    }
}

/// The default: SNS alone.
pub fn default_providers() -> Vec<SmsProvider> {
    vec![SmsProvider::Sns {}]
}

/// A client's list: 1 to [`MAX_PROVIDERS`], each kind once (so the provider
/// that sent a code is named by its kind), each well-formed.
pub fn validate_providers(providers: &[SmsProvider]) -> Result<(), String> {
    if !(1..=MAX_PROVIDERS).contains(&providers.len()) {
        return Err(format!(
            "sms_providers must name 1 to {MAX_PROVIDERS} providers"
        ));
    }
    for (n, provider) in providers.iter().enumerate() {
        if providers[..n].iter().any(|p| p.kind() == provider.kind()) {
            return Err(format!("sms_providers names {} twice", provider.kind()));
        }
        provider.validate()?;
    }
    Ok(())
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`.
pub fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    matches!(
        parts[..],
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && arn.len() <= 2048
    )
}

/// An https URL, or an http one to this machine (a developer's own
/// receiver, a test's stub): a code never crosses a network in clear text.
/// Read by the parser the HTTPS client sends with (`hyper::Uri`), so the
/// host checked is the host called; a URL with user information is refused
/// (`https://127.0.0.1@hooks.example.com/` reads as one host to a person
/// and as another to a parser).
pub fn is_provider_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    if authority.as_str().contains('@') {
        return false;
    }
    let host = authority.host();
    // The parser takes `host:` and `host:99a`, naming no port: refused.
    let port = &authority.as_str()[host.len()..];
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok());
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    host_ok && port_ok && url.len() <= 2048 && (scheme == "https" || (scheme == "http" && loopback))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str =
        "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms/shop-AbCdEf";

    fn parsed(value: serde_json::Value) -> Result<Vec<SmsProvider>, String> {
        let providers: Vec<SmsProvider> =
            serde_json::from_value(value).map_err(|e| e.to_string())?;
        validate_providers(&providers)?;
        Ok(providers)
    }

    #[test]
    fn providers_are_spelled_as_the_design_says() {
        let providers = parsed(json!([
            {"kind": "webhook", "url": "https://hooks.example.com/sms", "secret_arn": ARN},
            {"kind": "sns"},
        ]))
        .unwrap();
        let kinds: Vec<_> = providers.iter().map(SmsProvider::kind).collect();
        assert_eq!(kinds, ["webhook", "sns"]);
        // And written back the same way.
        let written = serde_json::to_value(&providers).unwrap();
        assert_eq!(written[1], json!({"kind": "sns"}));
        assert_eq!(written[0]["kind"], "webhook");
    }

    #[test]
    fn a_provider_list_that_is_not_well_formed_is_refused_with_its_reason() {
        let cases = [
            (json!([]), "sms_providers must name 1 to 3 providers"),
            (
                json!([{"kind": "sns"}, {"kind": "sns"}]),
                "sms_providers names sns twice",
            ),
            (
                json!([{"kind": "webhook", "url": "http://hooks.example.com/", "secret_arn": ARN}]),
                "sms_providers webhook: url must be an https URL (http only to this machine)",
            ),
            (
                json!([{"kind": "webhook", "url": "https://user@hooks.example.com/", "secret_arn": ARN}]),
                "sms_providers webhook: url must be an https URL (http only to this machine)",
            ),
            (
                json!([{"kind": "webhook", "url": "https://x.example/", "secret_arn": "whsec_abc"}]),
                "sms_providers webhook: secret_arn must be a Secrets Manager secret's ARN",
            ),
            (
                json!([{"kind": "sns"}, {"kind": "webhook", "url": "https://x.example/", "secret_arn": ARN}, {"kind": "sns"}, {"kind": "sns"}]),
                "sms_providers must name 1 to 3 providers",
            ),
        ];
        for (value, reason) in cases {
            assert_eq!(parsed(value.clone()).unwrap_err(), reason, "{value}");
        }
        for value in [
            json!([{"kind": "smtp"}]),
            json!([{"kind": "sns", "url": "https://x.example/"}]),
            json!([{"kind": "webhook", "url": "https://x.example/", "secret_arn": ARN, "secret": "whsec_x"}]),
        ] {
            assert!(parsed(value.clone()).is_err(), "{value}");
        }
    }

    #[test]
    fn provider_urls_are_https_or_this_machine() {
        for url in [
            "https://api-v2.thaibulksms.com/sms",
            "https://hooks.example.com:8443/otp?x=1",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            assert!(is_provider_url(url), "{url}");
        }
        for url in [
            "http://hooks.example.com/",
            "ftp://127.0.0.1/",
            "https://",
            "https://a b/",
            "http://127.0.0.1.example.com/",
            "https://x.example:/",
            "https://x.example:99a/",
            "http://127.0.0.1@hooks.example.com/",
            "http://127.0.0.1\\@hooks.example.com/",
            "/hook",
            "https://hooks_example.com/",
        ] {
            assert!(!is_provider_url(url), "{url}");
        }
    }

    #[test]
    fn secret_arns_name_secrets_manager_secrets() {
        assert!(is_secret_arn(ARN));
        assert!(is_secret_arn(
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a:b"
        ));
        for arn in [
            "arn:aws:ssm:ap-southeast-1:123456789012:parameter/x",
            "arn:aws:secretsmanager:ap-southeast-1:1234:secret:x",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:",
            "otp/sms/shop",
        ] {
            assert!(!is_secret_arn(arn), "{arn}");
        }
    }
}
