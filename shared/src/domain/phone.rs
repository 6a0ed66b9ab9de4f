//! Phone numbers: normalised to E.164 or rejected (DESIGN §5.3).

use std::fmt;

/// A phone number in E.164 form, `+` then 8 to 15 digits.
///
/// `Debug` and `Display` show only the masked form, so a full number cannot
/// slip into a log line or an error by formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Not a phone number in any form we accept.
    Invalid,
    /// A valid number whose calling code the client does not send to.
    CallingCodeNotAllowed,
}

/// National significant number lengths of the regions we know in detail;
/// other calling codes get the generic E.164 bound.
const NATIONAL_LENGTHS: &[(&str, usize, usize)] = &[
    ("1", 10, 10),
    ("44", 9, 10),
    ("60", 8, 10),
    ("61", 9, 9),
    ("62", 8, 12),
    ("63", 10, 10),
    ("65", 8, 8),
    ("66", 8, 9),
    ("81", 9, 10),
    ("82", 8, 10),
    ("84", 9, 10),
    ("855", 8, 9),
    ("856", 8, 10),
    ("86", 11, 11),
    ("91", 10, 10),
    ("95", 7, 10),
];

impl PhoneNumber {
    /// Normalises `raw` to E.164. Accepted forms: `+66 81-234-5678`,
    /// `0066812345678`, and the national form `0812345678`, which takes the
    /// `default_calling_code` (e.g. "66" for Thailand, "84" for Vietnam).
    /// Spaces, dashes, dots and parentheses are ignored.
    pub fn parse(raw: &str, default_calling_code: &str) -> Result<Self, PhoneError> {
        // Full-width digits and plus (as East Asian keyboards type them)
        // count as their ASCII twins.
        let raw: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
                '\u{FF0B}' => '+',
                other => other,
            })
            .collect();
        let (international, rest) = match raw.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, raw.as_str()),
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::Invalid),
            }
            if digits.len() > 17 {
                return Err(PhoneError::Invalid);
            }
        }
        let full = if international {
            digits
        } else if let Some(intl) = digits.strip_prefix("00") {
            intl.to_string()
        } else if let Some(national) = digits.strip_prefix('0') {
            format!("{default_calling_code}{national}")
        } else {
            return Err(PhoneError::Invalid);
        };
        if !(8..=15).contains(&full.len()) || full.starts_with('0') {
            return Err(PhoneError::Invalid);
        }
        if let Some((code, min, max)) = NATIONAL_LENGTHS
            .iter()
            .find(|(code, _, _)| full.starts_with(code))
        {
            let national = &full[code.len()..];
            if !(*min..=*max).contains(&national.len()) || national.starts_with('0') {
                return Err(PhoneError::Invalid);
            }
        }
        Ok(Self(format!("+{full}")))
    }

    /// Parses and then checks the calling code against the client's
    /// allow-list: the number, and the code of the list it starts with.
    /// Calling codes are prefix-free, so a prefix match is exact.
    pub fn parse_allowed<'a>(
        raw: &str,
        default_calling_code: &str,
        allowed_calling_codes: &'a [String],
    ) -> Result<(Self, &'a str), PhoneError> {
        let phone = Self::parse(raw, default_calling_code)?;
        match allowed_calling_codes
            .iter()
            .find(|code| phone.0[1..].starts_with(code.as_str()))
        {
            Some(code) => Ok((phone, code)),
            None => Err(PhoneError::CallingCodeNotAllowed),
        }
    }

    /// The number without its last four digits, e.g. `+6681234`.
    pub fn prefix(&self) -> &str {
        &self.0[..self.0.len() - 4]
    }

    /// The full E.164 string: only for SNS and for hashing.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// `+66******5678`: what logs and operator output may show.
    pub fn masked(&self) -> String {
        let keep_head = 3.min(self.0.len());
        let keep_tail = 4.min(self.0.len() - keep_head);
        let hidden = self.0.len() - keep_head - keep_tail;
        format!(
            "{}{}{}",
            &self.0[..keep_head],
            "*".repeat(hidden),
            &self.0[self.0.len() - keep_tail..]
        )
    }
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
        assert_eq!(
            PhoneNumber::parse("0912345678", "84").unwrap().e164(),
            "+84912345678"
        );
    }

    #[test]
    fn rule_5_3_international_forms_normalise_to_e164() {
        assert_eq!(th("+66812345678").unwrap(), "+66812345678");
        assert_eq!(th("+66 (81) 234.5678").unwrap(), "+66812345678");
        assert_eq!(th("0066812345678").unwrap(), "+66812345678");
        assert_eq!(th("+84912345678").unwrap(), "+84912345678");
        assert_eq!(th("０８１２３４５６７８").unwrap(), "+66812345678");
        assert_eq!(th("＋６６ ８１２３４５６７８").unwrap(), "+66812345678");
        assert_eq!(th("+33612345678").unwrap(), "+33612345678");
    }

    #[test]
    fn rule_5_3_malformed_numbers_are_rejected() {
        for bad in [
            "",
            "+",
            "812345678",
            "+66 81234567x",
            "+660812345678",
            "+668123",
            "+6681234567890",
            "++66812345678",
            "+1234567890123456",
            "๐๘๑๒๓๔๕๖๗๘",
            "08123456789999999999999",
        ] {
            assert_eq!(th(bad), Err(PhoneError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn rule_5_3_only_allowed_calling_codes_receive_sms() {
        let allowed = vec!["66".to_string(), "84".to_string()];
        let calling_code = |raw| PhoneNumber::parse_allowed(raw, "66", &allowed).map(|(_, c)| c);
        assert_eq!(calling_code("0812345678"), Ok("66"));
        assert_eq!(calling_code("+84912345678"), Ok("84"));
        assert_eq!(
            PhoneNumber::parse_allowed("+33612345678", "66", &allowed),
            Err(PhoneError::CallingCodeNotAllowed)
        );
    }

    proptest::proptest! {
        /// Fuzz target: any text parses to valid E.164 or is refused.
        #[test]
        fn fuzz_phone_parser(raw in ".{0,40}", region in "[0-9]{1,3}") {
            if let Ok(phone) = PhoneNumber::parse(&raw, &region) {
                let digits = &phone.e164()[1..];
                proptest::prop_assert!(phone.e164().starts_with('+'));
                proptest::prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert!((8..=15).contains(&digits.len()));
                proptest::prop_assert!(!phone.masked().contains(&digits[2..digits.len() - 4]));
            }
        }
    }

    #[test]
    fn rule_5_2_phone_numbers_format_only_masked() {
        let phone = PhoneNumber::parse("+66812345678", "66").unwrap();
        assert_eq!(phone.masked(), "+66*****5678");
        assert_eq!(format!("{phone}"), "+66*****5678");
        assert!(!format!("{phone:?}").contains("812345678"));
    }
}
