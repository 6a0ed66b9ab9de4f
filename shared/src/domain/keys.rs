//! Keyed hashes: what the store keeps instead of codes, phone numbers and
//! secrets (DESIGN §5.2, §7).

use super::phone::PhoneNumber;
use super::user::ThaiIdCard;
use aws_lc_rs::{constant_time, digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// The deployment's HMAC key. Never logged; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct ServerSecret(hmac::Key);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

/// Fewer bytes than this is too guessable to protect 6-digit codes at rest.
pub const MIN_SERVER_SECRET_BYTES: usize = 32;

impl ServerSecret {
    pub fn new(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() < MIN_SERVER_SECRET_BYTES {
            return Err("the server secret must be at least 32 bytes");
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// HMAC over length-prefixed parts, so ("ab","c") and ("a","bc") differ,
    /// under a purpose label so one hash can never stand in for another.
    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        B64.encode(ctx.sign().as_ref())
    }

    /// The key under which a phone number's records are stored.
    pub fn phone_key(&self, phone: &PhoneNumber) -> String {
        self.phone_key_of_e164(phone.e164())
    }

    /// [`Self::phone_key`] of a number as a provider writes it, in E.164.
    pub fn phone_key_of_e164(&self, e164: &str) -> String {
        self.mac("phone", &[e164.as_bytes()])
    }

    /// The tag that seals a delivery callback's ticket (`delivery::callback`).
    pub fn callback_tag(&self, sealed: &str) -> String {
        self.mac("delivery-callback", &[sealed.as_bytes()])
    }

    /// The tag that seals the hosted page's request between its steps
    /// (`domain::authorization::PageRequest`).
    pub fn page_tag(&self, sealed: &str) -> String {
        self.mac("hosted-page", &[sealed.as_bytes()])
    }

    /// The signature of a proof-of-work challenge (`domain::pow`).
    pub fn pow_signature(&self, challenge: &str) -> String {
        self.mac("proof-of-work", &[challenge.as_bytes()])
    }

    /// The key of a phone number's prefix (its number range).
    pub fn prefix_key(&self, phone: &PhoneNumber) -> String {
        self.mac("prefix", &[phone.prefix().as_bytes()])
    }

    /// The stored form of a code, bound to its challenge so a hash copied to
    /// another challenge is worthless.
    pub fn code_hash(&self, challenge_token_hash: &str, code: &str) -> String {
        self.mac(
            "otp-code",
            &[challenge_token_hash.as_bytes(), code.as_bytes()],
        )
    }

    /// The stored form of a Thai ID card number.
    pub fn id_card_hash(&self, card: &ThaiIdCard) -> String {
        self.mac("id-card", &[card.digits().as_bytes()])
    }

    /// A stable, opaque account id for a phone number.
    pub fn account_id(&self, phone_key: &str) -> String {
        let mac = self.mac("account", &[phone_key.as_bytes()]);
        format!("acc_{}", &mac[..22])
    }
}

/// SHA-256, base64url: for high-entropy values (tokens, client secrets) that
/// need no key to be safe at rest.
pub fn sha256(value: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA256, value).as_ref())
}

/// Equality that takes the same time wherever the inputs first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// An opaque token `<locator>.<secret>`: the locator finds the record
/// without a lookup, the whole token's hash proves possession.
pub fn opaque_token(locator: &str, secret: &[u8]) -> String {
    format!("{locator}.{}", b64(secret))
}

/// The locator of a well-formed opaque token (both parts base64url of the
/// given byte lengths) with the token's SHA-256.
pub fn parse_opaque_token(
    token: &str,
    locator_bytes: usize,
    secret_bytes: usize,
) -> Option<(String, String)> {
    let (locator, secret) = token.split_once('.')?;
    let locator_ok = b64_decode(locator).is_some_and(|l| l.len() == locator_bytes);
    let secret_ok = b64_decode(secret).is_some_and(|s| s.len() == secret_bytes);
    (locator_ok && secret_ok).then(|| (locator.to_string(), sha256(token.as_bytes())))
}

/// SHA-256 in lower-case hex, as ALTCHA's challenges are written.
pub fn sha256_hex(value: &[u8]) -> String {
    digest::digest(&digest::SHA256, value)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> ServerSecret {
        ServerSecret::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn rule_5_2_code_hash_is_keyed_and_bound_to_the_challenge() {
        let s = secret(1);
        let h = s.code_hash("challenge-a", "123456");
        assert_eq!(h, s.code_hash("challenge-a", "123456"));
        assert_ne!(h, s.code_hash("challenge-b", "123456"));
        assert_ne!(h, secret(2).code_hash("challenge-a", "123456"));
        assert!(!h.contains("123456"));
        // Length prefixes keep part boundaries: no splice gives the same hash.
        assert_ne!(s.code_hash("challenge-a1", "23456"), h);
    }

    #[test]
    fn rule_5_2_phone_keys_hide_the_number() {
        let s = secret(1);
        let phone = PhoneNumber::parse("+66812345678", "66").unwrap();
        let key = s.phone_key(&phone);
        assert!(!key.contains("812345678"));
        assert_ne!(key, secret(2).phone_key(&phone));
        assert_ne!(s.account_id(&key), key);
    }

    #[test]
    fn rule_5_2_short_server_secrets_are_refused() {
        assert!(ServerSecret::new(&[0u8; 31]).is_err());
    }

    #[test]
    fn rule_5_2_comparison_is_exact() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
