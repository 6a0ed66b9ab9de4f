//! One-time codes and the other random strings the service hands out
//! (DESIGN §5.1).

use crate::clock::Entropy;
use serde::{Deserialize, Serialize};

pub const DIGITS: &[u8] = b"0123456789";
/// Upper-case letters and digits without the look-alikes 0/O, 1/I/L.
pub const UNAMBIGUOUS: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

pub const MIN_CODE_LENGTH: u8 = 4;
pub const MAX_CODE_LENGTH: u8 = 10;
pub const REF_CODE_LENGTH: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Charset {
    #[default]
    Digits,
    /// Upper-case letters and digits, look-alikes removed.
    Alphanumeric,
}

impl Charset {
    pub fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Digits => DIGITS,
            Charset::Alphanumeric => UNAMBIGUOUS,
        }
    }
}

/// A string of `len` symbols drawn uniformly from `alphabet`.
///
/// Rejection sampling: bytes at or above the largest multiple of the alphabet
/// size are thrown away, so no symbol is favoured (no modulo bias).
pub fn random_string(entropy: &dyn Entropy, alphabet: &[u8], len: usize) -> String {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet must hold 1 to 256 symbols"
    );
    let n = alphabet.len();
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 32];
    while out.len() < len {
        entropy.fill(&mut pool);
        for &byte in &pool {
            if (byte as usize) < limit && out.len() < len {
                out.push(alphabet[byte as usize % n] as char);
            }
        }
    }
    out
}

/// A fresh one-time code of the given length and charset.
pub fn generate_code(entropy: &dyn Entropy, length: u8, charset: Charset) -> String {
    random_string(entropy, charset.alphabet(), length as usize)
}

/// The short reference shown in the SMS so the user can match it on screen.
pub fn generate_ref_code(entropy: &dyn Entropy) -> String {
    random_string(entropy, UNAMBIGUOUS, REF_CODE_LENGTH)
}

/// `n` random bytes.
pub fn random_bytes<const N: usize>(entropy: &dyn Entropy) -> [u8; N] {
    let mut buf = [0u8; N];
    entropy.fill(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;
    use std::sync::Mutex;

    /// Replays a fixed byte sequence, cycling.
    struct Script(Mutex<(Vec<u8>, usize)>);
    impl Entropy for Script {
        fn fill(&self, buf: &mut [u8]) {
            let mut s = self.0.lock().unwrap();
            for b in buf {
                let (bytes, i) = &mut *s;
                *b = bytes[*i % bytes.len()];
                *i += 1;
            }
        }
    }

    #[test]
    fn rule_5_1_bytes_above_the_last_full_alphabet_cycle_are_rejected_not_folded() {
        // 256 % 10 == 6: bytes 250..=255 would favour 0..=5 if folded.
        let script = Script(Mutex::new((vec![250, 251, 252, 253, 254, 255, 7], 0)));
        assert_eq!(random_string(&script, DIGITS, 3), "777");
        // 256 % 31 == 8: bytes 248..=255 are rejected for the letter set.
        let script = Script(Mutex::new((vec![248, 255, 31], 0)));
        assert_eq!(random_string(&script, UNAMBIGUOUS, 2), "22");
    }

    #[test]
    fn rule_5_1_codes_have_the_requested_length_and_charset() {
        for length in MIN_CODE_LENGTH..=MAX_CODE_LENGTH {
            let code = generate_code(&OsEntropy, length, Charset::Digits);
            assert_eq!(code.len(), length as usize);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            let code = generate_code(&OsEntropy, length, Charset::Alphanumeric);
            assert_eq!(code.len(), length as usize);
            assert!(code.bytes().all(|b| UNAMBIGUOUS.contains(&b)));
        }
    }

    #[test]
    fn rule_5_1_letter_codes_avoid_look_alikes() {
        for look_alike in [b'0', b'O', b'1', b'I', b'L'] {
            assert!(!UNAMBIGUOUS.contains(&look_alike));
        }
        assert_eq!(UNAMBIGUOUS.len(), 31);
    }

    #[test]
    fn rule_5_1_codes_from_the_os_csprng_are_uniform() {
        // Chi-square over 200 000 digits, 9 degrees of freedom: the 99.99 %
        // critical value is 33.7; a biased generator lands far above it.
        let mut counts = [0u64; 10];
        let draws = 200_000;
        let mut seen = 0;
        while seen < draws {
            for b in random_string(&OsEntropy, DIGITS, 1000).bytes() {
                counts[(b - b'0') as usize] += 1;
                seen += 1;
            }
        }
        let expected = draws as f64 / 10.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 33.7, "chi-square {chi2} for {counts:?}");
    }
}
