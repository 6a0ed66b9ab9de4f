//! Clients: the apps allowed to use the service, and their settings (DESIGN §7).

use super::authorization;
use super::code::{Charset, MAX_CODE_LENGTH, MIN_CODE_LENGTH, REF_CODE_LENGTH};
use super::keys::{constant_time_eq, sha256};
use super::phone::{LineType, PhoneNumber, is_calling_code};
use super::provider::{SmsProvider, default_providers, validate_providers};
use super::sms_text::measure;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MIN_LIFETIME_SECS: u32 = 120;
/// A client registers at most this many redirect URIs.
const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_LIFETIME_SECS: u32 = 600;

/// A sender id was asked for that the client has not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderNotRegistered;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    /// SHA-256 of the secret; client secrets are random and long, so an
    /// unkeyed hash is enough at rest.
    pub secret_hash: String,
    /// The hash of the secret a rotation replaced, which authenticates too
    /// until the operator retires it: apps move to the new secret without
    /// an outage (`otp-admin client rotate-secret`, `retire-secret`).
    pub previous_secret_hash: Option<String>,
    pub disabled: bool,
    pub settings: ClientSettings,
}

impl ClientRecord {
    pub fn new(client_id: &str, secret: &str, settings: ClientSettings) -> Self {
        Self {
            client_id: client_id.to_string(),
            secret_hash: sha256(secret.as_bytes()),
            previous_secret_hash: None,
            disabled: false,
            settings,
        }
    }

    /// True when `secret` is this client's (the current one, or the one a
    /// rotation replaced until it is retired) and the client may be used.
    pub fn authenticates(&self, secret: &str) -> bool {
        let presented = sha256(secret.as_bytes());
        let current = constant_time_eq(&presented, &self.secret_hash);
        let previous = self
            .previous_secret_hash
            .as_ref()
            .is_some_and(|hash| constant_time_eq(&presented, hash));
        (current | previous) && !self.disabled
    }

    /// Makes `secret` the client's; the one it replaces keeps working until
    /// [`Self::retire_previous_secret`]. A secret replaced before that is
    /// retired at once: two live secrets at most.
    pub fn rotate_secret(&mut self, secret: &str) {
        let replaced = std::mem::replace(&mut self.secret_hash, sha256(secret.as_bytes()));
        self.previous_secret_hash = Some(replaced);
    }

    /// The replaced secret stops working; whether there was one.
    pub fn retire_previous_secret(&mut self) -> bool {
        self.previous_secret_hash.take().is_some()
    }
}

/// Per-client settings, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Shown in messages as `{BRAND}`.
    pub brand: String,
    /// Registered SNS sender ids; the first is the default.
    pub sender_ids: Vec<String>,
    /// Message templates by locale; each must contain `{OTP}`.
    pub templates: BTreeMap<String, String>,
    pub default_locale: String,
    /// `None`: the deployment's (`ClientDefaults`).
    pub code_length: Option<u8>,
    pub code_charset: Charset,
    /// `None`: the deployment's (`ClientDefaults`).
    pub lifetime_secs: Option<u32>,
    pub max_attempts: u32,
    pub resend_cooldown_secs: u32,
    /// Calling code of national forms like 08x…; none: the one allowed
    /// calling code, where the client allows exactly one.
    pub default_calling_code: Option<String>,
    /// Only numbers with these calling codes receive SMS; empty means the
    /// deployment's default list.
    pub allowed_calling_codes: Vec<String>,
    /// Only numbers of these line types (libphonenumber's names) receive
    /// SMS: by default the mobile ones, where SMS arrives; a landline,
    /// toll-free or premium-rate number costs an SMS for nothing, and
    /// premium-rate and shared-cost ranges are what SMS pumping feeds on.
    pub allowed_line_types: Vec<LineType>,
    /// False for clients that only want "Code is correct.".
    pub issue_tokens: bool,
    /// Only users in the directory may log in (DESIGN §5.9).
    pub require_registered_users: bool,
    /// The One ID routes answer a number the directory does not hold (or
    /// another ID card) with One ID's own 404s, as One ID's clients expect.
    /// Off, they answer it as a known one and send nothing, as every other
    /// route does: whoever holds the client's credentials (public in a
    /// device app) cannot tell who is registered through any route.
    pub reveal_unknown_users: bool,
    /// Codes per phone per hour (at most 5) and per day (at most 10).
    pub sends_per_phone_per_hour: u32,
    pub sends_per_phone_per_day: u32,
    /// Codes per end-user address (IPv6: per /64) per minute.
    pub sends_per_ip_per_minute: u32,
    /// The client calls from its users' own devices (an app without a
    /// backend): without a forwarded end-user address, the per-IP limit
    /// counts the calling address. Off, a backend that forwards none is not
    /// limited by its own servers' address.
    pub callers_are_end_users: bool,
    /// Codes this client may have sent per minute.
    pub sends_per_client_per_minute: u32,
    /// Codes per number prefix (all but the last four digits) per hour.
    pub sends_per_prefix_per_hour: u32,
    /// SMS this client may send per hour before its circuit opens.
    pub sms_ceiling_per_hour: u32,
    /// E.164 number → fixed code. Never texted; refused in production.
    pub test_numbers: BTreeMap<String, String>,
    /// Wrong codes per phone per day (at most 20).
    pub failed_confirms_per_phone_per_day: u32,
    /// The origin whose pages may read the code by themselves (WebOTP, and
    /// iOS's security-code autofill): every SMS then ends with the line
    /// `@<webotp_domain> #<code>`.
    pub webotp_domain: Option<String>,
    /// The Android app that reads the code by itself (SMS Retriever API):
    /// its 11-character hash, on a line of its own in every SMS.
    pub android_app_hash: Option<String>,
    /// Through whom codes are sent, in order: the next takes the same code
    /// when one fails (DESIGN §13).
    pub sms_providers: Vec<SmsProvider>,
    /// Its users may log in through the hosted page (`GET
    /// /oauth2/authorize`, DESIGN §14), which ends in a redirect to one of
    /// `redirect_uris`.
    pub hosted_page: bool,
    /// Where the hosted page may send its users back, matched exactly
    /// (`domain::authorization`).
    pub redirect_uris: Vec<String>,
    /// An app without a backend (a single-page or mobile app): it holds no
    /// secret, logs its users in only through the hosted page, and proves
    /// its code exchanges with PKCE alone. The routes that take a client
    /// secret refuse it.
    pub public: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            brand: "OTP".into(),
            sender_ids: vec![],
            templates: BTreeMap::from([(
                "en".to_string(),
                "{BRAND}: your code is {OTP} (ref {REF}). It expires in {MINUTES} minutes. Do not share it."
                    .to_string(),
            )]),
            default_locale: "en".into(),
            code_length: None,
            code_charset: Charset::Digits,
            lifetime_secs: None,
            max_attempts: 5,
            resend_cooldown_secs: 60,
            default_calling_code: None,
            allowed_calling_codes: vec![],
            allowed_line_types: LineType::TEXTABLE.to_vec(),
            issue_tokens: true,
            require_registered_users: false,
            reveal_unknown_users: false,
            sends_per_phone_per_hour: 5,
            sends_per_phone_per_day: 10,
            sends_per_ip_per_minute: 10,
            callers_are_end_users: false,
            sends_per_client_per_minute: 100,
            sends_per_prefix_per_hour: 20,
            sms_ceiling_per_hour: 1000,
            test_numbers: BTreeMap::new(),
            failed_confirms_per_phone_per_day: 20,
            webotp_domain: None,
            android_app_hash: None,
            sms_providers: default_providers(),
            hosted_page: false,
            redirect_uris: vec![],
            public: false,
        }
    }
}

/// A DNS host name of two labels or more, in lower case.
fn is_host_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// An Android SMS Retriever app hash: 11 characters of base64's alphabet.
fn is_app_hash(hash: &str) -> bool {
    hash.len() == 11
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// An SNS sender id: 1 to 11 letters, digits or hyphens, at least one
/// letter (what carriers accept as an alphanumeric sender).
pub fn is_sender_id(id: &str) -> bool {
    (1..=11).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && id.bytes().any(|b| b.is_ascii_alphabetic())
}

/// What a deployment gives the clients that set none of their own (the
/// stack's parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDefaults {
    pub code_length: u8,
    pub lifetime_secs: u32,
    /// The SNS sender id of clients that registered none.
    pub sender_id: Option<String>,
}

impl Default for ClientDefaults {
    fn default() -> Self {
        Self {
            code_length: 6,
            lifetime_secs: 300,
            sender_id: None,
        }
    }
}

/// Per-request choices some dialects let the caller make, within the
/// client's own bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub code_length: Option<u8>,
    pub code_charset: Option<Charset>,
    pub lifetime_secs: Option<u32>,
    /// The exact text of one of the client's registered templates.
    pub template: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideError {
    /// A value outside DESIGN §5's bounds; names the setting.
    OutOfBounds(&'static str),
    /// The text is not one of the client's registered templates: no free
    /// text reaches SMS.
    TemplateNotRegistered,
}

impl ClientSettings {
    /// These settings with the deployment's `defaults` where the client set
    /// none.
    pub fn with_defaults(&self, defaults: &ClientDefaults) -> Self {
        let mut settings = self.clone();
        settings.code_length.get_or_insert(defaults.code_length);
        settings.lifetime_secs.get_or_insert(defaults.lifetime_secs);
        if settings.sender_ids.is_empty() {
            settings.sender_ids.extend(defaults.sender_id.clone());
        }
        settings
    }

    /// The code length, once `with_defaults` has filled it in.
    pub fn code_length(&self) -> u8 {
        self.code_length
            .unwrap_or(ClientDefaults::default().code_length)
    }

    /// The code lifetime, once `with_defaults` has filled it in.
    pub fn lifetime_secs(&self) -> u32 {
        self.lifetime_secs
            .unwrap_or(ClientDefaults::default().lifetime_secs)
    }

    /// These settings (with the deployment's defaults filled in) with the
    /// caller's `overrides` applied. A request may make the code stronger,
    /// never weaker (DESIGN §5.12): longer, of letters and digits, or
    /// shorter-lived; a longer lifetime than the client's is cut to it.
    pub fn with_overrides(&self, overrides: &Overrides) -> Result<Self, OverrideError> {
        let mut settings = self.clone();
        if let Some(length) = overrides.code_length {
            if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&length) {
                return Err(OverrideError::OutOfBounds("code length must be 4 to 10"));
            }
            if length < self.code_length() {
                return Err(OverrideError::OutOfBounds(
                    "code length: shorter than the client's codes",
                ));
            }
            if self.segment_overflow(length).is_some() {
                return Err(OverrideError::OutOfBounds(
                    "code length: the SMS must fit one message",
                ));
            }
            settings.code_length = Some(length);
        }
        if let Some(charset) = overrides.code_charset {
            if charset == Charset::Digits && self.code_charset == Charset::Alphanumeric {
                return Err(OverrideError::OutOfBounds(
                    "code charset: digits only, where the client's codes have letters",
                ));
            }
            settings.code_charset = charset;
        }
        if let Some(lifetime) = overrides.lifetime_secs {
            if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&lifetime) {
                return Err(OverrideError::OutOfBounds(
                    "lifetime must be 2 to 10 minutes",
                ));
            }
            settings.lifetime_secs = Some(lifetime.min(self.lifetime_secs()));
        }
        if let Some(text) = &overrides.template {
            if !text.contains("{OTP}") || !self.templates.values().any(|t| t == text) {
                return Err(OverrideError::TemplateNotRegistered);
            }
            settings.templates = BTreeMap::from([(settings.default_locale.clone(), text.clone())]);
        }
        Ok(settings)
    }

    /// DESIGN §14: a hosted page sends its users back only to registered
    /// redirect URIs, and a public client logs in only through it.
    fn validate_hosted_page(&self) -> Result<(), String> {
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(format!("at most {MAX_REDIRECT_URIS} redirect_uris"));
        }
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            if let Some(problem) = authorization::redirect_uri_problem(uri) {
                return Err(format!("redirect_uris[{i}]: {problem}"));
            }
            if self.redirect_uris[..i].contains(uri) {
                return Err(format!("redirect_uris[{i}] is listed twice"));
            }
        }
        if self.hosted_page && self.redirect_uris.is_empty() {
            return Err("hosted_page needs at least one of redirect_uris".into());
        }
        if self.hosted_page && !self.issue_tokens {
            return Err("hosted_page ends in tokens: it needs issue_tokens".into());
        }
        if self.public && !self.hosted_page {
            return Err(
                "a public client logs in only through the hosted page: set hosted_page".into(),
            );
        }
        Ok(())
    }

    /// Checks the bounds of DESIGN §5; the message names the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        validate_providers(&self.sms_providers)?;
        self.validate_hosted_page()?;
        if self
            .code_length
            .is_some_and(|length| !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&length))
        {
            return Err(format!(
                "code_length must be {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH}"
            ));
        }
        if self
            .lifetime_secs
            .is_some_and(|secs| !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&secs))
        {
            return Err(format!(
                "lifetime_secs must be {MIN_LIFETIME_SECS} to {MAX_LIFETIME_SECS}"
            ));
        }
        if !(1..=5).contains(&self.max_attempts) {
            return Err("max_attempts must be 1 to 5".into());
        }
        let within = |value: u32, max: u32| (1..=max).contains(&value);
        if !within(self.sends_per_phone_per_hour, 5)
            || !within(self.sends_per_phone_per_day, 10)
            || !within(self.failed_confirms_per_phone_per_day, 20)
            || !within(self.sends_per_ip_per_minute, 10_000)
            || !within(self.sends_per_client_per_minute, 100_000)
            || !within(self.sends_per_prefix_per_hour, 100_000)
            || !within(self.sms_ceiling_per_hour, 10_000_000)
        {
            return Err("rate limits must be at least 1 and at most DESIGN §5.8's".into());
        }
        let known = |c: &String| is_calling_code(c);
        if !self.allowed_calling_codes.iter().all(known)
            || !self.default_calling_code.iter().all(known)
        {
            return Err("calling codes must be a country's, 1 to 3 digits without +".into());
        }
        if self.allowed_line_types.is_empty() {
            return Err("allowed_line_types must name at least one line type".into());
        }
        let Some(default_calling_code) = self.default_calling_code() else {
            return Err(
                "default_calling_code is required unless allowed_calling_codes \
                 names exactly one calling code"
                    .into(),
            );
        };
        if !self.allowed_calling_codes.is_empty()
            && !self
                .allowed_calling_codes
                .iter()
                .any(|c| c == default_calling_code)
        {
            return Err("default_calling_code must be one of allowed_calling_codes".into());
        }
        let test_number_ok = |(number, code): (&String, &String)| {
            PhoneNumber::parse(number, default_calling_code).is_ok_and(|p| p.e164() == number)
                && (MIN_CODE_LENGTH as usize..=MAX_CODE_LENGTH as usize).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        };
        if !self.test_numbers.iter().all(test_number_ok) {
            return Err(
                "test_numbers must map E.164 numbers to 4 to 10 digit or upper-case codes".into(),
            );
        }
        if self.resend_cooldown_secs < 60 {
            return Err("resend_cooldown_secs must be at least 60".into());
        }
        if !self.templates.contains_key(&self.default_locale) {
            return Err("templates must include the default_locale".into());
        }
        if let Some((locale, _)) = self.templates.iter().find(|(_, t)| !t.contains("{OTP}")) {
            return Err(format!("template {locale} must contain {{OTP}}"));
        }
        if let Some(id) = self.sender_ids.iter().find(|id| !is_sender_id(id)) {
            return Err(format!(
                "sender id {id:?} must be 1 to 11 letters, digits or -, with a letter"
            ));
        }
        if let Some(domain) = self.webotp_domain.as_deref().filter(|d| !is_host_name(d)) {
            return Err(format!(
                "webotp_domain {domain:?} must be a host name such as login.example.com"
            ));
        }
        if let Some(hash) = self.android_app_hash.as_deref().filter(|h| !is_app_hash(h)) {
            return Err(format!(
                "android_app_hash {hash:?} must be the app's 11-character hash (A-Z, a-z, 0-9, + or /)"
            ));
        }
        // Checked with the longest code the client can be asked for when it
        // sets no length of its own.
        if let Some(overflow) = self.segment_overflow(self.code_length.unwrap_or(MAX_CODE_LENGTH)) {
            return Err(overflow);
        }
        Ok(())
    }

    /// The calling code of national forms: the client's, or its only
    /// allowed one. None only for settings `validate` refuses.
    pub fn default_calling_code(&self) -> Option<&str> {
        match (&self.default_calling_code, &self.allowed_calling_codes[..]) {
            (Some(code), _) => Some(code),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
    }

    /// The sender id to use: the requested one if registered, else the
    /// default. `Err` when a sender was asked for that is not registered.
    pub fn sender_id(&self, requested: Option<&str>) -> Result<Option<&str>, SenderNotRegistered> {
        match requested {
            None => Ok(self.sender_ids.first().map(String::as_str)),
            Some(wanted) => self
                .sender_ids
                .iter()
                .find(|s| s.as_str() == wanted)
                .map(|s| Some(s.as_str()))
                .ok_or(SenderNotRegistered),
        }
    }

    /// The provider a delivery report names for a challenge `sent_by` names:
    /// that one, or for a code no provider sent (a test number, a decoy),
    /// the one a send would have tried first.
    pub fn provider_of(&self, sent_by: Option<&str>) -> String {
        sent_by
            .or_else(|| self.sms_providers.first().map(SmsProvider::kind))
            .unwrap_or_default()
            .to_string()
    }

    /// The locale a message asked for in `locale` is written in: that one
    /// if the client has a template for it, else the default.
    pub fn message_locale<'a>(&'a self, locale: Option<&'a str>) -> &'a str {
        locale
            .filter(|l| self.templates.contains_key(*l))
            .unwrap_or(&self.default_locale)
    }

    /// The SMS text for `locale` (falling back to the default locale), with
    /// the autofill lines last.
    pub fn render_message(&self, locale: Option<&str>, code: &str, ref_code: &str) -> String {
        self.render_in(locale, code, ref_code, self.webotp_domain.as_deref())
    }

    /// The SMS text for a code asked for on the hosted page, served at
    /// `page_host`: its WebOTP line names the page's host, the only origin
    /// whose page the browser fills the code in, when the message still fits
    /// one SMS with it (a long template, in Thai say, goes without: a second
    /// segment is paid for, and the field still takes the code typed or
    /// pasted).
    pub fn render_page_message(
        &self,
        locale: Option<&str>,
        code: &str,
        ref_code: &str,
        page_host: &str,
    ) -> String {
        let text = self.render_in(locale, code, ref_code, Some(page_host));
        let (encoding, units) = measure(&text);
        if units <= encoding.segment() {
            text
        } else {
            self.render_in(locale, code, ref_code, None)
        }
    }

    fn render_in(
        &self,
        locale: Option<&str>,
        code: &str,
        ref_code: &str,
        webotp_domain: Option<&str>,
    ) -> String {
        let template = self
            .templates
            .get(self.message_locale(locale))
            .map(String::as_str)
            .unwrap_or("{OTP}");
        let minutes = (self.lifetime_secs() / 60).to_string();
        self.render(template, code, ref_code, &minutes, webotp_domain)
    }

    fn render(
        &self,
        template: &str,
        code: &str,
        ref_code: &str,
        minutes: &str,
        webotp_domain: Option<&str>,
    ) -> String {
        let mut text = template
            .replace("{BRAND}", &self.brand)
            .replace("{REF}", ref_code)
            .replace("{MINUTES}", minutes)
            .replace("{OTP}", code);
        // The Android app's hash on a line of its own; the WebOTP line last,
        // as the WebOTP specification requires.
        if let Some(hash) = &self.android_app_hash {
            text.push_str(&format!("\n{hash}"));
        }
        if let Some(domain) = webotp_domain {
            text.push_str(&format!("\n@{domain} #{code}"));
        }
        text
    }

    /// Every message must be one SMS: a second segment is paid for and
    /// may arrive late or out of order; with autofill lines, the Android SMS
    /// Retriever reads 140 bytes and a split message loses the WebOTP line's
    /// place at the end. Why a template, rendered with the longest values
    /// its placeholders take and a code of `code_length`, would not fit.
    fn segment_overflow(&self, code_length: u8) -> Option<String> {
        let autofill = self.webotp_domain.is_some() || self.android_app_hash.is_some();
        let with_autofill = if autofill {
            " with its autofill lines"
        } else {
            ""
        };
        let code = "8".repeat(code_length.into());
        let ref_code = "W".repeat(REF_CODE_LENGTH);
        let minutes = (self.lifetime_secs.unwrap_or(MAX_LIFETIME_SECS) / 60).to_string();
        self.templates.iter().find_map(|(locale, template)| {
            let text = self.render(
                template,
                &code,
                &ref_code,
                &minutes,
                self.webotp_domain.as_deref(),
            );
            let (encoding, units) = measure(&text);
            (units > encoding.segment()).then(|| {
                format!(
                    "template {locale}{with_autofill} takes {units} of the {} characters \
                     of one {encoding:?} SMS (with a {code_length}-character code): shorten it",
                    encoding.segment()
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Default settings with Thailand as the default region.
    fn thai() -> ClientSettings {
        ClientSettings {
            default_calling_code: Some("66".into()),
            ..ClientSettings::default()
        }
    }

    #[test]
    fn client_secret_is_checked_against_its_hash() {
        let client = ClientRecord::new("app", "s3cret-value", thai());
        assert!(client.authenticates("s3cret-value"));
        assert!(!client.authenticates("s3cret-valuE"));
        assert!(!client.secret_hash.contains("s3cret"));
        let disabled = ClientRecord {
            disabled: true,
            ..client
        };
        assert!(!disabled.authenticates("s3cret-value"));
    }

    #[test]
    fn a_rotated_secret_works_beside_the_new_one_until_retired() {
        let mut client = ClientRecord::new("app", "first-secret", thai());
        client.rotate_secret("second-secret");
        assert!(client.authenticates("first-secret"));
        assert!(client.authenticates("second-secret"));
        client.rotate_secret("third-secret");
        assert!(
            !client.authenticates("first-secret"),
            "two live secrets at most"
        );
        assert!(client.retire_previous_secret());
        assert!(!client.authenticates("second-secret"));
        assert!(client.authenticates("third-secret"));
        assert!(!client.retire_previous_secret());
    }

    #[test]
    fn settings_outside_the_design_bounds_are_refused() {
        let ok = thai();
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            ClientSettings {
                code_length: Some(3),
                ..ok.clone()
            },
            ClientSettings {
                code_length: Some(11),
                ..ok.clone()
            },
            ClientSettings {
                lifetime_secs: Some(119),
                ..ok.clone()
            },
            ClientSettings {
                lifetime_secs: Some(601),
                ..ok.clone()
            },
            ClientSettings {
                max_attempts: 6,
                ..ok.clone()
            },
            ClientSettings {
                resend_cooldown_secs: 59,
                ..ok.clone()
            },
            ClientSettings {
                default_locale: "th".into(),
                ..ok.clone()
            },
            ClientSettings {
                templates: BTreeMap::from([("en".into(), "no code here".into())]),
                ..ok.clone()
            },
            ClientSettings {
                allowed_calling_codes: vec!["+66".into()],
                ..ok.clone()
            },
            ClientSettings {
                test_numbers: [("0899990000".into(), "123456".into())].into(),
                ..ok.clone()
            },
            ClientSettings {
                test_numbers: [("+66899990000".into(), "12".into())].into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_fills_every_placeholder() {
        let settings = ClientSettings {
            brand: "Acme".into(),
            templates: BTreeMap::from([
                ("en".into(), "{BRAND} {OTP} {REF} {MINUTES}".into()),
                ("th".into(), "รหัส {OTP} อ้างอิง {REF}".into()),
            ]),
            ..thai()
        };
        assert_eq!(
            settings.render_message(None, "123456", "ABCDEF"),
            "Acme 123456 ABCDEF 5"
        );
        assert_eq!(
            settings.render_message(Some("th"), "1234", "XY"),
            "รหัส 1234 อ้างอิง XY"
        );
        assert_eq!(settings.render_message(Some("vi"), "1", "R"), "Acme 1 R 5");
    }

    #[test]
    fn overrides_stay_within_bounds_and_registered_templates() {
        let settings = thai();
        let template = settings.templates["en"].clone();
        let chosen = settings
            .with_overrides(&Overrides {
                code_length: Some(8),
                code_charset: Some(Charset::Alphanumeric),
                lifetime_secs: Some(120),
                template: Some(template.clone()),
            })
            .unwrap();
        assert_eq!((chosen.code_length(), chosen.lifetime_secs()), (8, 120));
        assert_eq!(chosen.code_charset, Charset::Alphanumeric);
        assert_eq!(
            chosen.render_message(None, "1", "R"),
            "OTP: your code is 1 (ref R). It expires in 2 minutes. Do not share it."
        );
        let out = |o: Overrides| settings.with_overrides(&o).unwrap_err();
        assert!(matches!(
            out(Overrides {
                code_length: Some(3),
                ..Overrides::default()
            }),
            OverrideError::OutOfBounds(_)
        ));
        assert!(matches!(
            out(Overrides {
                lifetime_secs: Some(660),
                ..Overrides::default()
            }),
            OverrideError::OutOfBounds(_)
        ));
        assert_eq!(
            out(Overrides {
                template: Some("{OTP} is your code, send money to".into()),
                ..Overrides::default()
            }),
            OverrideError::TemplateNotRegistered
        );
    }

    #[test]
    fn rule_5_12_a_request_may_strengthen_the_code_never_weaken_it() {
        let strong = ClientSettings {
            code_length: Some(8),
            code_charset: Charset::Alphanumeric,
            lifetime_secs: Some(180),
            ..thai()
        };
        let with = |o: Overrides| strong.with_overrides(&o);
        for weaker in [
            Overrides {
                code_length: Some(7),
                ..Overrides::default()
            },
            Overrides {
                code_charset: Some(Charset::Digits),
                ..Overrides::default()
            },
        ] {
            assert!(
                matches!(with(weaker.clone()), Err(OverrideError::OutOfBounds(_))),
                "{weaker:?}"
            );
        }
        let stronger = with(Overrides {
            code_length: Some(10),
            code_charset: Some(Charset::Alphanumeric),
            lifetime_secs: Some(120),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(
            (stronger.code_length(), stronger.lifetime_secs()),
            (10, 120)
        );
        let longer_lived = with(Overrides {
            lifetime_secs: Some(600),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(longer_lived.lifetime_secs(), 180, "cut to the client's");
    }

    #[test]
    fn rule_5_3_a_client_names_its_default_region_or_allows_one_calling_code() {
        let unnamed = ClientSettings::default();
        assert!(unnamed.validate().is_err(), "no default and no single code");
        let vietnamese = ClientSettings {
            allowed_calling_codes: vec!["84".into()],
            ..unnamed.clone()
        };
        assert_eq!(vietnamese.validate(), Ok(()));
        assert_eq!(vietnamese.default_calling_code(), Some("84"));
        let two = ClientSettings {
            allowed_calling_codes: vec!["66".into(), "84".into()],
            ..unnamed.clone()
        };
        assert!(two.validate().is_err());
        let named = ClientSettings {
            default_calling_code: Some("84".into()),
            ..two.clone()
        };
        assert_eq!(named.validate(), Ok(()));
        let outside = ClientSettings {
            default_calling_code: Some("65".into()),
            ..two
        };
        assert!(outside.validate().is_err(), "a default it may not text");
    }

    #[test]
    fn deployment_defaults_fill_only_what_a_client_left_unset() {
        let defaults = ClientDefaults {
            code_length: 8,
            lifetime_secs: 180,
            sender_id: Some("Deploy".into()),
        };
        let unset = thai().with_defaults(&defaults);
        assert_eq!((unset.code_length(), unset.lifetime_secs()), (8, 180));
        assert_eq!(unset.sender_id(None), Ok(Some("Deploy")));
        let own = ClientSettings {
            code_length: Some(6),
            lifetime_secs: Some(300),
            sender_ids: vec!["Shop".into()],
            ..thai()
        }
        .with_defaults(&defaults);
        assert_eq!((own.code_length(), own.lifetime_secs()), (6, 300));
        assert_eq!(own.sender_id(None), Ok(Some("Shop")));
        assert_eq!(own.sender_id(Some("Deploy")), Err(SenderNotRegistered));
    }

    #[test]
    fn sender_ids_follow_the_carriers_rules() {
        for good in ["A", "Acme", "OTP-1", "ABCDEFGHIJK"] {
            assert!(is_sender_id(good), "{good}");
        }
        for bad in ["", "12345", "ABCDEFGHIJKL", "Has Space", "Ünï", "a_b"] {
            assert!(!is_sender_id(bad), "{bad}");
        }
    }

    #[test]
    fn only_registered_sender_ids_are_used() {
        let settings = ClientSettings {
            sender_ids: vec!["Acme".into(), "AcmeBank".into()],
            ..thai()
        };
        assert_eq!(settings.sender_id(None), Ok(Some("Acme")));
        assert_eq!(settings.sender_id(Some("AcmeBank")), Ok(Some("AcmeBank")));
        assert_eq!(settings.sender_id(Some("Evil")), Err(SenderNotRegistered));
    }

    fn autofill(webotp: Option<&str>, hash: Option<&str>) -> ClientSettings {
        ClientSettings {
            brand: "Shop".into(),
            templates: BTreeMap::from([("en".into(), "{BRAND}: code {OTP} (ref {REF})".into())]),
            code_length: Some(6),
            webotp_domain: webotp.map(str::to_string),
            android_app_hash: hash.map(str::to_string),
            ..thai()
        }
    }

    #[test]
    fn autofill_lines_end_every_message_in_their_exact_formats() {
        let both = autofill(Some("login.example.com"), Some("FA+9qCX9VSu"));
        assert_eq!(both.validate(), Ok(()));
        let text = both.render_message(None, "482913", "GJENTF");
        assert_eq!(
            text,
            "Shop: code 482913 (ref GJENTF)\nFA+9qCX9VSu\n@login.example.com #482913"
        );
        // WebOTP: the very last line, `@`, the domain, one space, `#`, the
        // code, nothing after it.
        assert_eq!(text.lines().last(), Some("@login.example.com #482913"));
        assert!(!text.ends_with('\n'));
        let webotp_only = autofill(Some("login.example.com"), None);
        assert_eq!(
            webotp_only.render_message(None, "482913", "GJENTF"),
            "Shop: code 482913 (ref GJENTF)\n@login.example.com #482913"
        );
        let hash_only = autofill(None, Some("FA+9qCX9VSu"));
        let text = hash_only.render_message(None, "482913", "GJENTF");
        assert_eq!(
            text.lines().last(),
            Some("FA+9qCX9VSu"),
            "a line of its own"
        );
        let neither = autofill(None, None);
        assert_eq!(
            neither.render_message(None, "482913", "GJENTF"),
            "Shop: code 482913 (ref GJENTF)"
        );
    }

    #[test]
    fn a_code_asked_for_on_the_hosted_page_names_the_pages_host_for_webotp() {
        let app_domain = autofill(Some("app.example.com"), None);
        assert_eq!(
            app_domain.render_page_message(None, "482913", "GJENTF", "login.example.org"),
            "Shop: code 482913 (ref GJENTF)\n@login.example.org #482913",
            "the page's host, not the app's: the browser fills in the code on the page"
        );
        // A Thai template of one SMS that the line would split goes without.
        let long = ClientSettings {
            templates: BTreeMap::from([("th".into(), "ก".repeat(50) + " {OTP}")]),
            default_locale: "th".into(),
            ..thai()
        };
        let text = long.render_page_message(None, "482913", "GJENTF", "login.example.org");
        assert_eq!(text, "ก".repeat(50) + " 482913");
        let short = ClientSettings {
            templates: BTreeMap::from([("th".into(), "รหัส {OTP}".into())]),
            default_locale: "th".into(),
            ..thai()
        };
        assert_eq!(
            short.render_page_message(None, "482913", "GJENTF", "login.example.org"),
            "รหัส 482913\n@login.example.org #482913"
        );
    }

    #[test]
    fn autofill_settings_are_checked() {
        for domain in [
            "localhost",
            "Login.example.com",
            "-a.example.com",
            "a..com",
            "https://a.com",
            "a.com/path",
            "10.0.0.1",
            "a_b.com",
        ] {
            assert!(autofill(Some(domain), None).validate().is_err(), "{domain}");
        }
        for hash in ["FA+9qCX9VS", "FA+9qCX9VSuu", "FA-9qCX9VSu", "FA+9qCX9VS="] {
            assert!(autofill(None, Some(hash)).validate().is_err(), "{hash}");
        }
    }

    /// Thai needs UCS-2: 70 characters a segment. `a.co`'s WebOTP line
    /// takes 14 of them with a 6-digit code, the text `<k Thai> <code>` k + 7.
    #[test]
    fn a_thai_template_must_fit_one_ucs2_segment_with_its_autofill_line() {
        let thai_template = |k: usize| ClientSettings {
            templates: BTreeMap::from([("th".into(), format!("{} {{OTP}}", "ก".repeat(k)))]),
            default_locale: "th".into(),
            code_length: Some(6),
            webotp_domain: Some("a.co".into()),
            ..thai()
        };
        assert_eq!(
            thai_template(49).validate(),
            Ok(()),
            "70 characters: one segment"
        );
        let refused = thai_template(50).validate().unwrap_err();
        assert!(refused.contains("71 of the 70"), "{refused}");
        let text = thai_template(49).render_message(None, "123456", "GJENTF");
        assert_eq!(
            measure(&text),
            (crate::domain::sms_text::Encoding::Ucs2, 70)
        );
        // Without a length of its own, the longest code (10) is assumed.
        let unset = ClientSettings {
            code_length: None,
            ..thai_template(49)
        };
        assert!(unset.validate().unwrap_err().contains("10-character code"));
        // A request may not ask for a longer code than fits.
        assert_eq!(
            thai_template(49).with_overrides(&Overrides {
                code_length: Some(7),
                ..Overrides::default()
            }),
            Err(OverrideError::OutOfBounds(
                "code length: the SMS must fit one message"
            ))
        );
    }

    /// Without autofill lines too: a second segment costs a second SMS.
    #[test]
    fn every_template_must_fit_one_sms() {
        let thai_template = |k: usize| ClientSettings {
            templates: BTreeMap::from([("th".into(), format!("{} {{OTP}}", "ก".repeat(k)))]),
            default_locale: "th".into(),
            code_length: Some(6),
            ..thai()
        };
        assert_eq!(thai_template(63).validate(), Ok(()), "63 + 1 + 6 = 70");
        let refused = thai_template(64).validate().unwrap_err();
        assert!(
            refused.contains("template th takes 71 of the 70"),
            "{refused}"
        );
        let gsm = ClientSettings {
            templates: BTreeMap::from([("en".into(), format!("{} {{OTP}}", "a".repeat(154)))]),
            default_locale: "en".into(),
            ..thai_template(1)
        };
        assert!(
            gsm.validate()
                .unwrap_err()
                .contains("161 of the 160 characters of one Gsm7")
        );
        assert_eq!(
            ClientSettings::default().segment_overflow(10),
            None,
            "the default template"
        );
    }
}
