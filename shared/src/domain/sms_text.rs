//! How much of one SMS a text takes (3GPP TS 23.038): GSM-7 when every
//! character is in its default alphabet (160 septets a segment, the
//! extension characters counting twice), UCS-2 otherwise (70 UTF-16 units).
//! One segment is 140 bytes either way, the most the Android SMS Retriever
//! API reads.

/// GSM 03.38's default alphabet, without the escape.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: each takes an escape and itself.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    /// What one segment holds, in this encoding's units.
    pub fn segment(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }
}

/// The encoding `text` is sent in and how many of its units it takes.
pub fn measure(text: &str) -> (Encoding, usize) {
    let mut septets = 0;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            return (Encoding::Ucs2, text.encode_utf16().count());
        }
    }
    (Encoding::Gsm7, septets)
}

/// Whether `text` goes out as one SMS.
pub fn fits_one_segment(text: &str) -> bool {
    let (encoding, units) = measure(text);
    units <= encoding.segment()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_counts_septets_and_extension_characters_twice() {
        assert_eq!(measure("Your code is 123456"), (Encoding::Gsm7, 19));
        assert_eq!(measure("€[x]"), (Encoding::Gsm7, 7));
        assert!(fits_one_segment(&"a".repeat(160)));
        assert!(!fits_one_segment(&"a".repeat(161)));
        assert!(!fits_one_segment(&format!("{}€", "a".repeat(159))));
    }

    #[test]
    fn anything_outside_gsm7_makes_the_whole_text_ucs2() {
        assert_eq!(measure("รหัส OTP 123456"), (Encoding::Ucs2, 15));
        assert_eq!(measure("mã OTP"), (Encoding::Ucs2, 6), "ã is not in GSM-7");
        assert!(fits_one_segment(&"ก".repeat(70)));
        assert!(!fits_one_segment(&"ก".repeat(71)));
        assert_eq!(
            measure("🙂"),
            (Encoding::Ucs2, 2),
            "outside the BMP: two units"
        );
    }
}
