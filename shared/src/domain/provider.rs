//! The ways a code leaves (DESIGN §13): each client's ordered SMS providers.
//! A send that one provider does not take moves, with the same code, to the
//! next. What the providers' credentials are is never here: a provider names
//! its secret in Secrets Manager by ARN.

use serde::{Deserialize, Serialize};

/// At most this many providers per client: each gets its share of the
/// function's time (`Timeouts`), so a longer list would leave each too little.
pub const MAX_PROVIDERS: usize = 3;

/// A provider's secret is named `<stack>/sms-provider/…`: the functions may
/// read only those (template.yaml), and otp-admin names them so.
pub const PROVIDER_SECRET_PATH: &str = "/sms-provider/";

/// ThaiBulkSMS's SMS API v2.
pub const THAIBULKSMS_URL: &str = "https://api-v2.thaibulksms.com/sms";
/// eSMS's send call for customer-care (brandname) SMS.
pub const ESMS_URL: &str =
    "https://rest.esms.vn/MainService.svc/json/SendMultipleMessage_V4_post_json/";

/// One provider of a client's `sms_providers`, as the client record and the
/// local clients file spell it: `{"kind": "sns"}`, `{"kind": "webhook",
/// "url": …, "secret_arn": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SmsProvider {
    /// SNS `Publish` to the number, as a transactional SMS.
    Sns {},
    /// AWS End User Messaging SMS (`SendTextMessage`).
    Eum(EumSettings),
    /// ThaiBulkSMS's SMS API v2.
    Thaibulksms(ThaiBulkSmsSettings),
    /// eSMS.vn's `SendMultipleMessage_V4_post_json`.
    Esms(EsmsSettings),
    /// Any HTTPS endpoint, signed per Standard Webhooks.
    Webhook(WebhookSettings),
}

/// End User Messaging's names; none set: the account's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EumSettings {
    /// The phone number, sender id or pool to send from (its id or ARN);
    /// none: the request's sender id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protect_configuration_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThaiBulkSmsSettings {
    /// `{"api_key": …, "api_secret": …}`.
    pub secret_arn: String,
    /// Where ThaiBulkSMS reports delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The API's URL; none: ThaiBulkSMS's own ([`THAIBULKSMS_URL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsmsSettings {
    /// `{"api_key": …, "secret_key": …}`.
    pub secret_arn: String,
    /// Where eSMS reports delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// eSMS checks each request and sends (and charges) nothing: to try an
    /// account and its templates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// The API's URL; none: eSMS's own ([`ESMS_URL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// `{"signing_secret": "whsec_…"}`.
    pub secret_arn: String,
}

/// Whether the reports of provider `kind` come from someone other than the
/// client: AWS's own (SNS's logs, End User Messaging's events). A send
/// hook's come from the client's own receiver, and eSMS's and ThaiBulkSMS's
/// from the client's own account, whose callback URL it can read: each may
/// report what it likes of its own codes, so they count in that client's
/// metrics and never score the alarm the operator is woken by for everyone.
pub fn reports_independently(kind: &str) -> bool {
    matches!(kind, "sns" | "eum")
}

impl SmsProvider {
    /// The provider's name in metrics, on the challenge and in the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SmsProvider::Sns {} => "sns",
            SmsProvider::Eum(_) => "eum",
            SmsProvider::Thaibulksms(_) => "thaibulksms",
            SmsProvider::Esms(_) => "esms",
            SmsProvider::Webhook(_) => "webhook",
        }
    }

    /// The Secrets Manager secret holding the provider's credentials.
    pub fn secret_arn(&self) -> Option<&str> {
        match self {
            SmsProvider::Sns {} | SmsProvider::Eum(_) => None,
            SmsProvider::Thaibulksms(s) => Some(&s.secret_arn),
            SmsProvider::Esms(s) => Some(&s.secret_arn),
            SmsProvider::Webhook(s) => Some(&s.secret_arn),
        }
    }

    /// Where the provider is called over HTTP, and where it calls back.
    fn urls(&self) -> Vec<(&'static str, &str)> {
        let (url, callback_url) = match self {
            SmsProvider::Sns {} | SmsProvider::Eum(_) => (None, None),
            SmsProvider::Thaibulksms(s) => (s.url.as_deref(), s.callback_url.as_deref()),
            SmsProvider::Esms(s) => (s.url.as_deref(), s.callback_url.as_deref()),
            SmsProvider::Webhook(s) => (Some(s.url.as_str()), None),
        };
        let named = [("url", url), ("callback_url", callback_url)];
        named
            .into_iter()
            .filter_map(|(name, url)| Some((name, url?)))
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        if let Some(arn) = self.secret_arn()
            && !is_provider_secret_arn(arn)
        {
            return Err(format!(
                "sms_providers {kind}: secret_arn must be the ARN of a Secrets Manager secret named <stack>{PROVIDER_SECRET_PATH}…"
            ));
        }
        for (name, url) in self.urls() {
            if !is_provider_url(url) {
                return Err(format!(
                    "sms_providers {kind}: {name} must be an https URL (http only to this machine)"
                ));
            }
        }
        if let SmsProvider::Eum(s) = self {
            let names = [
                &s.origination_identity,
                &s.configuration_set,
                &s.protect_configuration_id,
            ];
            // End User Messaging's limits for these names and ARNs.
            let fits = |v: &String| {
                (1..=256).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
            };
            if !names.into_iter().flatten().all(fits) {
                return Err(
                    "sms_providers eum: names must be 1 to 256 printable characters".into(),
                );
            }
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

/// Providers written with their secrets inline, as local mode's clients file
/// and `otp-admin providers set` take them: each provider's `secret`
/// (the JSON object its kind reads) is taken out, and the provider names
/// instead the ARN `arn_of(n, kind)` gives. Returns each (ARN, secret text).
pub fn take_inline_secrets(
    providers: &mut [serde_json::Value],
    mut arn_of: impl FnMut(usize, &str) -> String,
) -> Result<Vec<(String, String)>, String> {
    use serde_json::Value;
    let mut secrets = vec![];
    for (n, provider) in providers.iter_mut().enumerate() {
        let Value::Object(provider) = provider else {
            continue;
        };
        match provider.remove("secret") {
            None => {}
            Some(Value::Object(secret)) => {
                if provider.contains_key("secret_arn") {
                    return Err(format!(
                        "sms_providers[{n}]: secret and secret_arn name two secrets"
                    ));
                }
                let kind = provider.get("kind").and_then(Value::as_str).unwrap_or("");
                let arn = arn_of(n, kind);
                provider.insert("secret_arn".into(), Value::String(arn.clone()));
                secrets.push((arn, Value::Object(secret).to_string()));
            }
            Some(_) => {
                return Err(format!(
                    "sms_providers[{n}].secret must be the provider's JSON object"
                ));
            }
        }
    }
    Ok(secrets)
}

/// The client a provider secret's ARN names: `<client>` of
/// `…:secret:<stack>/sms-provider/<client>/…`, as otp-admin names them.
pub fn provider_secret_client(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(PROVIDER_SECRET_PATH)?;
    rest.split_once('/').map(|(client, _)| client)
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`, the
/// name `<stack>/sms-provider/…`.
pub fn is_provider_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    matches!(
        parts[..],
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && name
                    .split_once(PROVIDER_SECRET_PATH)
                    .is_some_and(|(stack, rest)| !stack.is_empty() && !rest.is_empty())
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
        "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/shop-AbCdEf";

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
        let every_kind = parsed(json!([
            {"kind": "eum", "origination_identity": "OtpShop", "configuration_set": "otp"},
            {"kind": "thaibulksms", "secret_arn": ARN, "callback_url": "https://example.com/tbs"},
            {"kind": "esms", "secret_arn": ARN, "sandbox": true},
        ]))
        .unwrap();
        let kinds: Vec<_> = every_kind.iter().map(SmsProvider::kind).collect();
        assert_eq!(kinds, ["eum", "thaibulksms", "esms"]);
        assert_eq!(every_kind[1].secret_arn(), Some(ARN));
        assert_eq!(every_kind[0].secret_arn(), None);
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
                "sms_providers webhook: secret_arn must be the ARN of a Secrets Manager secret named <stack>/sms-provider/…",
            ),
            (
                json!([{"kind": "esms", "secret_arn": ARN, "callback_url": "http://shop.example/dlr"}]),
                "sms_providers esms: callback_url must be an https URL (http only to this machine)",
            ),
            (
                json!([{"kind": "thaibulksms", "secret_arn": ARN, "url": "ftp://api.example/"}]),
                "sms_providers thaibulksms: url must be an https URL (http only to this machine)",
            ),
            (
                json!([{"kind": "eum", "configuration_set": "has space"}]),
                "sms_providers eum: names must be 1 to 256 printable characters",
            ),
            (
                json!([{"kind": "eum", "origination_identity": ""}]),
                "sms_providers eum: names must be 1 to 256 printable characters",
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
            json!([{"kind": "thaibulksms"}]),
            json!([{"kind": "esms", "secret_arn": ARN, "api_key": "k"}]),
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
    fn secret_arns_name_provider_secrets_in_secrets_manager() {
        assert!(is_provider_secret_arn(ARN));
        assert!(is_provider_secret_arn(
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/sms-provider/b:c"
        ));
        for arn in [
            "arn:aws:ssm:ap-southeast-1:123456789012:parameter/x",
            "arn:aws:secretsmanager:ap-southeast-1:1234:secret:x",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms/shop",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:/sms-provider/shop",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/",
            "otp/sms-provider/shop",
        ] {
            assert!(!is_provider_secret_arn(arn), "{arn}");
        }
    }

    #[test]
    fn a_provider_secret_names_the_client_it_is_for() {
        let arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/shop/esms-AbCdEf";
        assert_eq!(provider_secret_client(arn), Some("shop"));
        for other in [
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/shop-esms",
            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/hooks/shop/esms",
        ] {
            assert_eq!(provider_secret_client(other), None, "{other}");
        }
    }
}
