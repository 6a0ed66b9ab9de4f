//! Refresh-token families: every rotation hands out a new token of the same
//! family; presenting a spent one ends the family (DESIGN §6).
//!
//! A family keeps only the hash of its current token, so its stored size
//! never grows with its rotations. Any other token naming the family is
//! taken as a spent one: the family id is in the family's tokens only, so
//! whoever presents it held one of them, and a token that is not the
//! current one is one rotated away (or forged by a holder, who could as
//! well present the spent one).

use super::keys::{b64, opaque_token, parse_opaque_token};
use crate::clock::Millis;

pub const ABSOLUTE_LIFETIME_MS: Millis = 30 * 86_400_000;
pub const IDLE_LIFETIME_MS: Millis = 7 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub family_id: String,
    pub client_id: String,
    pub account_id: String,
    pub username: String,
    pub login_by: String,
    /// SHA-256 of the one token of this family that is valid now.
    pub current_hash: String,
    pub revoked: bool,
    pub created_at_ms: Millis,
    pub idle_expires_at_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationRefusal {
    /// Unknown, expired, revoked, or another client's token.
    Invalid,
    /// A token of the family other than the current one came back: a
    /// rotated one (theft, or a replay): the family must be revoked.
    Reused,
}

impl RefreshFamily {
    pub fn absolute_expires_at_ms(&self) -> Millis {
        self.created_at_ms + ABSOLUTE_LIFETIME_MS
    }

    /// `None` when `presented_hash` may be rotated now.
    pub fn rotation_refusal(
        &self,
        presented_hash: &str,
        client_id: &str,
        now: Millis,
    ) -> Option<RotationRefusal> {
        if self.client_id != client_id
            || self.revoked
            || now >= self.idle_expires_at_ms
            || now >= self.absolute_expires_at_ms()
        {
            Some(RotationRefusal::Invalid)
        } else if self.current_hash != presented_hash {
            Some(RotationRefusal::Reused)
        } else {
            None
        }
    }

    pub fn ttl_epoch_secs(&self) -> i64 {
        self.absolute_expires_at_ms() / 1000 + 86_400
    }
}

/// The opaque refresh token: `<family id>.<256 random bits>`.
pub struct RefreshToken;

impl RefreshToken {
    pub fn make(family_id: &str, secret: &[u8; 32]) -> String {
        opaque_token(family_id, secret)
    }

    pub fn new_family_id(bytes: &[u8; 16]) -> String {
        b64(bytes)
    }

    /// The family id inside a well-formed token, with the token's hash.
    pub fn parse(token: &str) -> Option<(String, String)> {
        parse_opaque_token(token, 16, 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::b64_decode;

    fn family() -> RefreshFamily {
        RefreshFamily {
            family_id: "f".into(),
            client_id: "app".into(),
            account_id: "acc".into(),
            username: "acc".into(),
            login_by: "mobile".into(),
            current_hash: "now".into(),
            revoked: false,
            created_at_ms: 0,
            idle_expires_at_ms: IDLE_LIFETIME_MS,
        }
    }

    #[test]
    fn rule_6_refresh_rotation_refuses_spent_foreign_and_idle_tokens() {
        let f = family();
        assert_eq!(f.rotation_refusal("now", "app", 1), None);
        assert_eq!(
            f.rotation_refusal("old", "app", 1),
            Some(RotationRefusal::Reused)
        );
        assert_eq!(
            f.rotation_refusal("now", "other", 1),
            Some(RotationRefusal::Invalid)
        );
        assert_eq!(
            f.rotation_refusal("guess", "app", 1),
            Some(RotationRefusal::Reused),
            "any other token of the family is a spent one"
        );
        assert_eq!(
            f.rotation_refusal("old", "app", IDLE_LIFETIME_MS),
            Some(RotationRefusal::Invalid),
            "an expired family is only invalid"
        );
        assert_eq!(
            f.rotation_refusal("now", "app", IDLE_LIFETIME_MS),
            Some(RotationRefusal::Invalid)
        );
        let revoked = RefreshFamily { revoked: true, ..f };
        assert_eq!(
            revoked.rotation_refusal("now", "app", 1),
            Some(RotationRefusal::Invalid)
        );
    }

    #[test]
    fn rule_6_refresh_families_end_after_thirty_days_even_when_used() {
        let f = RefreshFamily {
            idle_expires_at_ms: ABSOLUTE_LIFETIME_MS + IDLE_LIFETIME_MS,
            ..family()
        };
        assert_eq!(
            f.rotation_refusal("now", "app", ABSOLUTE_LIFETIME_MS - 1),
            None
        );
        assert_eq!(
            f.rotation_refusal("now", "app", ABSOLUTE_LIFETIME_MS),
            Some(RotationRefusal::Invalid)
        );
    }

    #[test]
    fn rule_6_refresh_tokens_carry_256_random_bits() {
        let token = RefreshToken::make(&RefreshToken::new_family_id(&[1; 16]), &[2; 32]);
        let (_, secret) = token.split_once('.').unwrap();
        assert_eq!(b64_decode(secret).unwrap().len() * 8, 256);
        assert!(RefreshToken::parse(&token).is_some());
        assert!(RefreshToken::parse("x.y").is_none());
    }
}
