//! Phone numbers (DESIGN §5.3): parsed, validated and classified by line
//! type with Google's libphonenumber (its Rust port, `rlibphonenumber`, over
//! the metadata of [`plans`]), and normalised to E.164. A number is texted
//! only when libphonenumber calls it valid for its region and its type can
//! receive SMS.

pub mod plans;

use rlibphonenumber::{ParseError, PhoneNumberFormat, PhoneNumberType, PhoneNumberUtil};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A phone number in E.164 form, `+` then its digits, and its line type.
///
/// `Debug` and `Display` show only the masked form, so a full number cannot
/// slip into a log line or an error by formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: String,
    calling_code: u16,
    line_type: LineType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Not a valid phone number in any form we accept.
    Invalid,
    /// A valid number whose calling code the client does not send to.
    CallingCodeNotAllowed,
    /// A valid number of a type that cannot receive the client's SMS (a
    /// landline, a toll-free or premium-rate number, …), of an allowed
    /// calling code.
    NotTextable {
        line_type: LineType,
        calling_code: u16,
    },
}

/// What kind of line a number is, as libphonenumber classifies it; named as
/// libphonenumber names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineType {
    Mobile,
    /// Where fixed-line and mobile numbers share their ranges (the USA).
    FixedLineOrMobile,
    FixedLine,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl LineType {
    /// The types texted unless a client allows more: they receive SMS.
    pub const TEXTABLE: [LineType; 2] = [LineType::Mobile, LineType::FixedLineOrMobile];

    /// Every line type.
    pub const ALL: [LineType; 12] = [
        LineType::Mobile,
        LineType::FixedLineOrMobile,
        LineType::FixedLine,
        LineType::TollFree,
        LineType::PremiumRate,
        LineType::SharedCost,
        LineType::Voip,
        LineType::PersonalNumber,
        LineType::Pager,
        LineType::Uan,
        LineType::Voicemail,
        LineType::Unknown,
    ];

    /// The line type libphonenumber names `name` (in any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|line| line.as_str().eq_ignore_ascii_case(name))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Mobile => "MOBILE",
            LineType::FixedLineOrMobile => "FIXED_LINE_OR_MOBILE",
            LineType::FixedLine => "FIXED_LINE",
            LineType::TollFree => "TOLL_FREE",
            LineType::PremiumRate => "PREMIUM_RATE",
            LineType::SharedCost => "SHARED_COST",
            LineType::Voip => "VOIP",
            LineType::PersonalNumber => "PERSONAL_NUMBER",
            LineType::Pager => "PAGER",
            LineType::Uan => "UAN",
            LineType::Voicemail => "VOICEMAIL",
            LineType::Unknown => "UNKNOWN",
        }
    }

    fn of(number_type: PhoneNumberType) -> Self {
        match number_type {
            PhoneNumberType::Mobile => LineType::Mobile,
            PhoneNumberType::FixedLineOrMobile => LineType::FixedLineOrMobile,
            PhoneNumberType::FixedLine => LineType::FixedLine,
            PhoneNumberType::TollFree => LineType::TollFree,
            PhoneNumberType::PremiumRate => LineType::PremiumRate,
            PhoneNumberType::SharedCost => LineType::SharedCost,
            PhoneNumberType::VoIP => LineType::Voip,
            PhoneNumberType::PersonalNumber => LineType::PersonalNumber,
            PhoneNumberType::Pager => LineType::Pager,
            PhoneNumberType::UAN => LineType::Uan,
            PhoneNumberType::VoiceMail => LineType::Voicemail,
            PhoneNumberType::Unknown => LineType::Unknown,
        }
    }
}

/// Calling codes as clients and the deployment name them: "66", "84"
/// (digits, no leading zero, so that each code has one spelling).
fn calling_code(text: &str) -> Option<u16> {
    let digits = (1..=3).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0');
    digits.then(|| text.parse().ok()).flatten()
}

/// Whether `text` names a calling code of a region libphonenumber knows.
pub fn is_calling_code(text: &str) -> bool {
    calling_code(text).is_some_and(plans::is_calling_code)
}

/// Refuses what a person typing a number never means: letters (vanity
/// numbers, `ext`, `tel:`) and the marks of extensions and dialling codes,
/// which libphonenumber would otherwise read into another number.
fn plain(raw: &str) -> bool {
    let raw = raw.trim();
    !raw.is_empty()
        && raw.chars().count() <= 40
        && !raw
            .chars()
            .any(|c| c.is_alphabetic() || matches!(c, '#' | ';' | ',' | '*' | '=' | '@'))
}

impl PhoneNumber {
    /// Parses a valid number of any country, as libphonenumber parses it:
    /// `+66 81-234-5678`, the national form `0812345678` (which takes the
    /// `default_calling_code`, e.g. "66" for Thailand, "84" for Vietnam),
    /// the default region's international dialling prefix, and the
    /// formatting characters people type (spaces, dashes, dots,
    /// parentheses, slashes, full-width and other scripts' digits).
    pub fn parse(raw: &str, default_calling_code: &str) -> Result<Self, PhoneError> {
        let default = calling_code(default_calling_code).ok_or(PhoneError::Invalid)?;
        match Self::parse_with(&plans::util_for(&BTreeSet::from([default])), raw, default) {
            Err(ParsedAs::OtherCallingCode) => {
                Self::parse_with(&plans::util_for_all(), raw, default)
                    .map_err(|_| PhoneError::Invalid)
            }
            parsed => parsed.map_err(|_| PhoneError::Invalid),
        }
    }

    /// Parses `raw` for a client that texts the calling codes
    /// `allowed_calling_codes` (a number of another is refused before its
    /// own country's rules are even loaded) and the line types `textable`:
    /// the number, and the calling code of the list it has.
    pub fn parse_allowed<'a>(
        raw: &str,
        default_calling_code: &str,
        allowed_calling_codes: &'a [String],
        textable: &[LineType],
    ) -> Result<(Self, &'a str), PhoneError> {
        let default = calling_code(default_calling_code).ok_or(PhoneError::Invalid)?;
        let mut codes: BTreeSet<u16> = allowed_calling_codes
            .iter()
            .filter_map(|c| calling_code(c))
            .collect();
        codes.insert(default);
        let phone = match Self::parse_with(&plans::util_for(&codes), raw, default) {
            Ok(phone) => phone,
            // Another country's number, or none: which, only all regions
            // tell. A rare path (a number the client does not serve).
            Err(ParsedAs::OtherCallingCode) => {
                Self::parse_with(&plans::util_for_all(), raw, default)
                    .map_err(|_| PhoneError::Invalid)?
            }
            Err(ParsedAs::Invalid) => return Err(PhoneError::Invalid),
        };
        let Some(code) = allowed_calling_codes
            .iter()
            .find(|c| calling_code(c) == Some(phone.calling_code))
        else {
            return Err(PhoneError::CallingCodeNotAllowed);
        };
        if !textable.contains(&phone.line_type) {
            return Err(PhoneError::NotTextable {
                line_type: phone.line_type,
                calling_code: phone.calling_code,
            });
        }
        Ok((phone, code))
    }

    /// `raw` parsed with `util` and the region of `default`.
    fn parse_with(util: &PhoneNumberUtil, raw: &str, default: u16) -> Result<Self, ParsedAs> {
        if !plain(raw) {
            return Err(ParsedAs::Invalid);
        }
        let region = util.get_region_for_country_code(i32::from(default));
        let number = match util.parse(raw.trim(), region) {
            Ok(number) => number,
            Err(ParseError::InvalidCountryCode) => return Err(ParsedAs::OtherCallingCode),
            Err(_) => return Err(ParsedAs::Invalid),
        };
        if number.extension.as_deref().is_some_and(|e| !e.is_empty()) {
            return Err(ParsedAs::Invalid);
        }
        if !util.is_valid_number(&number) {
            return Err(ParsedAs::Invalid);
        }
        let calling_code = u16::try_from(number.country_code).map_err(|_| ParsedAs::Invalid)?;
        Ok(Self {
            e164: util.format(&number, PhoneNumberFormat::E164).into_owned(),
            calling_code,
            line_type: LineType::of(util.get_number_type(&number)),
        })
    }

    /// How libphonenumber classifies the line.
    pub fn line_type(&self) -> LineType {
        self.line_type
    }

    /// The number's country calling code.
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// The number without its last four digits, e.g. `+6681234`.
    pub fn prefix(&self) -> &str {
        &self.e164[..self.e164.len().saturating_sub(4)]
    }

    /// The full E.164 string: only for SNS and for hashing.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `+66*****5678`: what logs and operator output may show. Short
    /// numbers (some countries' have 7 digits) keep fewer last digits, so
    /// that what shows is never the national number.
    pub fn masked(&self) -> String {
        let number = &self.e164;
        let digits = number.len() - 1;
        let keep_tail = match digits {
            10.. => 4,
            8..=9 => 3,
            _ => 2,
        };
        let keep_head = 3.min(number.len() - keep_tail);
        let hidden = number.len() - keep_head - keep_tail;
        format!(
            "{}{}{}",
            &number[..keep_head],
            "*".repeat(hidden),
            &number[number.len() - keep_tail..]
        )
    }
}

/// Why a parse with the regions loaded failed.
enum ParsedAs {
    Invalid,
    /// The number names a calling code whose regions are not loaded (or
    /// none).
    OtherCallingCode,
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(raw: &str) -> Result<String, PhoneError> {
        PhoneNumber::parse(raw, "66").map(|p| p.e164().to_string())
    }

    #[test]
    fn rule_5_3_local_forms_take_the_client_default_region() {
        assert_eq!(th("0812345678").unwrap(), "+66812345678");
        assert_eq!(th("081-234-5678").unwrap(), "+66812345678");
        assert_eq!(th(" 081 234 5678 ").unwrap(), "+66812345678");
        assert_eq!(th("081/234/5678").unwrap(), "+66812345678");
        // The national significant number alone, as libphonenumber reads it.
        assert_eq!(th("812345678").unwrap(), "+66812345678");
        assert_eq!(
            PhoneNumber::parse("0912345678", "84").unwrap().e164(),
            "+84912345678"
        );
        // Vietnam's mobile prefixes renumbered in 2018 (016x → 03x).
        assert_eq!(
            PhoneNumber::parse("0321234567", "84").unwrap().e164(),
            "+84321234567"
        );
    }

    #[test]
    fn rule_5_3_international_forms_normalise_to_e164() {
        assert_eq!(th("+66812345678").unwrap(), "+66812345678");
        assert_eq!(th("+66 (81) 234.5678").unwrap(), "+66812345678");
        assert_eq!(th("+66 (0) 81 234 5678").unwrap(), "+66812345678");
        // Thailand's international dialling prefixes are 001 to 009.
        assert_eq!(th("001 66 81 234 5678").unwrap(), "+66812345678");
        assert_eq!(th("+84912345678").unwrap(), "+84912345678");
        assert_eq!(th("０８１２３４５６７８").unwrap(), "+66812345678");
        assert_eq!(th("＋６６ ８１２３４５６７８").unwrap(), "+66812345678");
        assert_eq!(th("๐๘๑๒๓๔๕๖๗๘").unwrap(), "+66812345678", "Thai digits");
        assert_eq!(th("+33612345678").unwrap(), "+33612345678");
    }

    #[test]
    fn rule_5_3_malformed_numbers_are_rejected() {
        for bad in [
            "",
            "+",
            "+66 81234567x",
            "0812345678 ext 5",
            "tel:+66812345678",
            "+1 800 FLOWERS",
            "0812345678#",
            "+668123",
            "+6681234567890",
            "+1234567890123456",
            "+999 1234 5678",
            "08123456789999999999999",
            "0066812345678",
        ] {
            assert_eq!(th(bad), Err(PhoneError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn rule_5_3_numbers_are_classified_by_line_type() {
        let line = |raw, code| PhoneNumber::parse(raw, code).unwrap().line_type();
        assert_eq!(line("0812345678", "66"), LineType::Mobile);
        assert_eq!(line("021234567", "66"), LineType::FixedLine, "Bangkok");
        assert_eq!(line("+1 650 253 0000", "66"), LineType::FixedLineOrMobile);
        assert_eq!(line("+1 800 253 0000", "66"), LineType::TollFree);
        assert_eq!(line("+1 900 253 0000", "66"), LineType::PremiumRate);
        for (name, line) in [
            ("\"MOBILE\"", LineType::Mobile),
            ("\"VOIP\"", LineType::Voip),
        ] {
            assert_eq!(serde_json::to_string(&line).unwrap(), name);
            assert_eq!(line.as_str(), &name[1..name.len() - 1]);
        }
    }

    #[test]
    fn rule_5_3_only_allowed_calling_codes_and_line_types_receive_sms() {
        let allowed = vec!["66".to_string(), "84".to_string()];
        let textable = LineType::TEXTABLE;
        let calling_code =
            |raw| PhoneNumber::parse_allowed(raw, "66", &allowed, &textable).map(|(_, c)| c);
        assert_eq!(calling_code("0812345678"), Ok("66"));
        assert_eq!(calling_code("+84912345678"), Ok("84"));
        assert_eq!(
            calling_code("+33612345678"),
            Err(PhoneError::CallingCodeNotAllowed)
        );
        assert_eq!(
            calling_code("021234567"),
            Err(PhoneError::NotTextable {
                line_type: LineType::FixedLine,
                calling_code: 66
            })
        );
        assert_eq!(calling_code("+33 6 12"), Err(PhoneError::Invalid));
        let landlines = [LineType::Mobile, LineType::FixedLine];
        assert!(PhoneNumber::parse_allowed("021234567", "66", &allowed, &landlines).is_ok());
    }

    #[test]
    fn calling_codes_are_those_of_regions() {
        for code in ["1", "44", "66", "84", "855"] {
            assert!(is_calling_code(code), "{code}");
        }
        for code in ["", "0", "066", "999", "+66", "6666", "x"] {
            assert!(!is_calling_code(code), "{code}");
        }
    }

    proptest::proptest! {
        /// Fuzz target: any text parses to a valid E.164 number or is refused.
        #[test]
        fn fuzz_phone_parser(raw in ".{0,40}|[0-9 ()+.-]{0,20}", region in "66|84|1|44") {
            if let Ok(phone) = PhoneNumber::parse(&raw, &region) {
                let digits = &phone.e164()[1..];
                proptest::prop_assert!(phone.e164().starts_with('+'));
                proptest::prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert!((4..=15).contains(&digits.len()));
            }
        }
    }

    #[test]
    fn rule_5_2_phone_numbers_format_only_masked() {
        let phone = PhoneNumber::parse("+66812345678", "66").unwrap();
        assert_eq!(phone.masked(), "+66*****5678");
        assert_eq!(format!("{phone}"), "+66*****5678");
        assert!(!format!("{phone:?}").contains("812345678"));
        // Niue's numbers have 4 digits after +683: none of them show whole.
        let short = PhoneNumber::parse("+683 5012", "66").unwrap();
        assert_eq!(short.masked(), "+68***12");
    }
}
