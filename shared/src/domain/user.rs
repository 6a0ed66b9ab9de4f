//! The user directory (DESIGN §7) and Thai ID card numbers (§5.4).

use crate::domain::keys::ServerSecret;
use crate::domain::phone::PhoneNumber;

/// A user of the directory (DESIGN §5.9): registered for one client, by
/// `otp-admin users import --client` or the local clients file. A login never
/// registers anyone: an open client's first login makes an account whose id
/// is derived from the number, and writes nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The client this entry registers the phone for.
    pub client_id: String,
    pub account_id: String,
    pub username: String,
    /// Keyed hash of the E.164 mobile number.
    pub phone_key: String,
    /// Keyed hash of the Thai ID card number, when known.
    pub id_card_hash: Option<String>,
}

/// A user as an operator lists one (`otp-admin users import`, the local
/// clients file): the number, and optionally the ID card, the username and
/// the account id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    pub mobile_no: String,
    pub id_card_num: Option<String>,
    pub username: Option<String>,
    pub account_id: Option<String>,
}

impl DirectoryEntry {
    /// The entry's field that is malformed whatever the client: the ID
    /// card's check digit, an empty name; `Err` names the field and why.
    pub fn check(&self) -> Result<(), String> {
        self.card().map(drop)
    }

    /// The entry's ID card, once its every client-independent field is
    /// known to be well formed (see [`Self::check`]).
    fn card(&self) -> Result<Option<ThaiIdCard>, String> {
        let blank = |field: &Option<String>| field.as_ref().is_some_and(|v| v.trim().is_empty());
        if blank(&self.username) || blank(&self.account_id) {
            return Err("username and account_id may be left out, but not empty".into());
        }
        self.id_card_num
            .as_deref()
            .map(|card| ThaiIdCard::parse(card).ok_or_else(|| ID_CARD_INVALID.to_string()))
            .transpose()
    }

    /// The user this entry registers for `client_id`, whose national
    /// numbers take `default_calling_code`; keyed by `secret` as the
    /// service keys them. Without an account id, the one a login would
    /// derive from the number; without a username, the account id.
    pub fn user(
        &self,
        client_id: &str,
        default_calling_code: &str,
        secret: &ServerSecret,
    ) -> Result<User, String> {
        let card = self.card()?;
        let phone = PhoneNumber::parse(&self.mobile_no, default_calling_code)
            .map_err(|_| "mobile_no: not a phone number".to_string())?;
        let id_card_hash = card.map(|card| secret.id_card_hash(&card));
        let phone_key = secret.phone_key(&phone);
        let account_id = self
            .account_id
            .clone()
            .unwrap_or_else(|| secret.account_id(&phone_key));
        Ok(User {
            client_id: client_id.to_string(),
            username: self.username.clone().unwrap_or_else(|| account_id.clone()),
            account_id,
            phone_key,
            id_card_hash,
        })
    }
}

const ID_CARD_INVALID: &str = "id_card_num: not 13 digits with a valid check digit";

/// What a client that serves only registered users requires of the
/// directory for a phone (DESIGN §5.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequirement {
    /// The user's ID card hash must be this one, when given.
    pub id_card_hash: Option<String>,
}

impl UserRequirement {
    /// Whether the directory entry `user` (none: no entry) meets it.
    pub fn met_by(&self, user: Option<&User>) -> bool {
        user.is_some_and(|u| self.id_card_hash.is_none() || u.id_card_hash == self.id_card_hash)
    }
}

/// A 13-digit Thai ID card number with a valid check digit.
#[derive(Clone, PartialEq, Eq)]
pub struct ThaiIdCard(String);

impl ThaiIdCard {
    /// Accepts the 13 digits, optionally grouped with spaces or dashes as
    /// printed on the card (`1-2345-67890-12-1`).
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = (0..12).map(|i| d[i] * (13 - i as u32)).sum();
        ((11 - sum % 11) % 10 == d[12]).then_some(Self(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ThaiIdCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThaiIdCard(*********{})", &self.0[9..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_5_4_thai_id_cards_need_13_digits_and_a_valid_check_digit() {
        assert_eq!(
            ThaiIdCard::parse("1234567890121").unwrap().digits(),
            "1234567890121"
        );
        assert!(ThaiIdCard::parse("1-2345-67890-12-1").is_some());
        for bad in [
            "1234567890122",
            "123456789012",
            "12345678901210",
            "123456789012a",
            "",
            "๑๒๓๔๕๖๗๘๙๐๑๒๑",
        ] {
            assert!(ThaiIdCard::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rule_5_4_every_check_digit_position_is_checked() {
        // Changing one digit of a valid number breaks the check digit, except
        // the third: its weight is 11, invisible to the scheme's mod 11.
        let valid = "1101700230708";
        assert!(ThaiIdCard::parse(valid).is_some());
        for i in (0..13).filter(|&i| i != 2) {
            let mut changed: Vec<u8> = valid.bytes().collect();
            changed[i] = if changed[i] == b'9' {
                b'0'
            } else {
                changed[i] + 1
            };
            assert!(ThaiIdCard::parse(std::str::from_utf8(&changed).unwrap()).is_none());
        }
    }

    proptest::proptest! {
        /// Fuzz target: any text is a valid card number or refused.
        #[test]
        fn fuzz_id_card_parser(raw in "[0-9 -]{0,20}|.{0,20}") {
            if let Some(card) = ThaiIdCard::parse(&raw) {
                proptest::prop_assert_eq!(card.digits().len(), 13);
            }
        }
    }

    #[test]
    fn rule_5_4_id_cards_format_masked() {
        let card = ThaiIdCard::parse("1234567890121").unwrap();
        assert!(!format!("{card:?}").contains("123456789"));
    }
}
