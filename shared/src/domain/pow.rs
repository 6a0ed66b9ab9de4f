//! The proof of work the hosted page makes before a code is texted
//! (DESIGN §14), in ALTCHA's open protocol, so that ALTCHA's own widget and
//! libraries can solve it: the challenge is the SHA-256 (hex) of `salt`
//! followed by a secret number of at most `maxnumber`; the page finds the
//! number and sends back, base64-encoded, the JSON `{algorithm, challenge,
//! number, salt, signature}`. The salt carries its expiry, the client it
//! was made for and its cost (`?expires=…&client=…&max=…&`, in the form of
//! ALTCHA's parameters); the signature, under the server secret, proves the
//! service made it. A solution is taken once (the caller keeps the spent
//! challenges).

use super::keys::{ServerSecret, constant_time_eq, sha256_hex};
use crate::clock::{Entropy, Millis};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// ALTCHA's name of the one algorithm served.
pub const ALGORITHM: &str = "SHA-256";
/// A challenge is solved within this long of being made.
pub const CHALLENGE_LIFETIME_MS: Millis = 10 * 60_000;

/// The codes a client's page may be asked to text in a minute (on one
/// instance, each with a solved proof) before the cost doubles.
pub const SENDS_PER_MINUTE_AT_BASE_COST: u32 = 30;
/// The codes a client's page may text to one number range (numbers sharing
/// all but their last four digits) in a minute (on one instance) before
/// the cost of the range's next doubles: people whose numbers
/// differ only in their last four digits seldom log in the same minute;
/// SMS pumping walks exactly such numbers.
pub const RANGE_SENDS_PER_MINUTE_AT_BASE_COST: u32 = 3;
/// The cost doubles at most this many times (32 times the base: half a
/// minute of a phone's browser at the default).
const MAX_DOUBLINGS: u32 = 5;

/// The cost of the next challenge for a client whose page was asked to
/// text `recent` codes this minute: `base`, doubled for every
/// [`SENDS_PER_MINUTE_AT_BASE_COST`] (DESIGN §14: cost rising with
/// velocity), so that a flood pays more per code the longer it lasts.
pub fn max_number(base: u64, recent: u32) -> u64 {
    doubled(base, recent / SENDS_PER_MINUTE_AT_BASE_COST)
}

/// The cost a code to a number range asked for `recent` times this minute
/// needs: `base`, doubled for every [`RANGE_SENDS_PER_MINUTE_AT_BASE_COST`].
pub fn range_max_number(base: u64, recent: u32) -> u64 {
    doubled(base, recent / RANGE_SENDS_PER_MINUTE_AT_BASE_COST)
}

fn doubled(base: u64, doublings: u32) -> u64 {
    base.saturating_mul(1 << doublings.min(MAX_DOUBLINGS))
}

/// A challenge, as ALTCHA's widget reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PowChallenge {
    pub algorithm: &'static str,
    pub challenge: String,
    pub maxnumber: u64,
    pub salt: String,
    pub signature: String,
}

/// A solution, as ALTCHA's widget sends it.
#[derive(Deserialize)]
struct Solution {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// A solution that holds: its challenge, which names it for single use,
/// until when it could have been used, and what it cost (its challenge's
/// `maxnumber`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    pub challenge: String,
    pub expires_at_ms: Millis,
    pub max_number: u64,
}

/// Makes a challenge for `client_id` at `now`, costing up to `maxnumber`
/// hashes to solve (half that on average).
pub fn create(
    secret: &ServerSecret,
    entropy: &dyn Entropy,
    client_id: &str,
    now: Millis,
    maxnumber: u64,
) -> PowChallenge {
    let mut random = [0u8; 12];
    entropy.fill(&mut random);
    let nonce: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let expires = (now + CHALLENGE_LIFETIME_MS) / 1000;
    let salt = format!("{nonce}?expires={expires}&client={client_id}&max={maxnumber}&");
    let mut draw = [0u8; 8];
    entropy.fill(&mut draw);
    let number = u64::from_le_bytes(draw) % (maxnumber + 1);
    let challenge = sha256_hex(format!("{salt}{number}").as_bytes());
    PowChallenge {
        algorithm: ALGORITHM,
        signature: secret.pow_signature(&challenge),
        challenge,
        maxnumber,
        salt,
    }
}

/// The solution `payload` (base64 JSON, as ALTCHA's widget sends it), if it
/// solves a challenge the service made for `client_id` that has not expired
/// at `now`. Spending it once is the caller's.
pub fn verify(
    secret: &ServerSecret,
    payload: &str,
    client_id: &str,
    now: Millis,
) -> Result<Solved, &'static str> {
    let json = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|_| "the proof of work is not base64")?;
    let solution: Solution =
        serde_json::from_slice(&json).map_err(|_| "the proof of work is not ALTCHA's JSON")?;
    if solution.algorithm != ALGORITHM {
        return Err("the proof of work's algorithm is not SHA-256");
    }
    if !constant_time_eq(
        &secret.pow_signature(&solution.challenge),
        &solution.signature,
    ) {
        return Err("the proof of work's challenge was not made here");
    }
    let solved = sha256_hex(format!("{}{}", solution.salt, solution.number).as_bytes());
    if !constant_time_eq(&solved, &solution.challenge) {
        return Err("the proof of work does not solve its challenge");
    }
    let params = solution.salt.split_once('?').map(|(_, p)| p).unwrap_or("");
    let param = |name: &str| {
        params
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    // The challenge is its salt's hash: a salt changed after signing makes
    // another challenge, whose signature does not hold.
    if param("client") != Some(client_id) {
        return Err("the proof of work was made for another client");
    }
    let expires_at_ms = param("expires")
        .and_then(|secs| secs.parse::<i64>().ok())
        .map(|secs| secs * 1000)
        .ok_or("the proof of work has no expiry")?;
    if expires_at_ms <= now {
        return Err("the proof of work has expired");
    }
    // A challenge made before its cost travelled in its salt counts as the
    // cheapest: the page is asked for a dearer one, and solves it.
    let max_number = param("max").and_then(|max| max.parse().ok()).unwrap_or(0);
    Ok(Solved {
        challenge: solution.challenge,
        expires_at_ms,
        max_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;
    use serde_json::json;

    fn secret() -> ServerSecret {
        ServerSecret::new(&[7u8; 32]).unwrap()
    }

    /// What ALTCHA's solver does: tries every number up to `maxnumber`.
    fn solve(c: &PowChallenge) -> u64 {
        (0..=c.maxnumber)
            .find(|n| sha256_hex(format!("{}{n}", c.salt).as_bytes()) == c.challenge)
            .expect("a solution")
    }

    fn payload(c: &PowChallenge, number: u64) -> String {
        let solution = json!({"algorithm": c.algorithm, "challenge": c.challenge,
            "number": number, "salt": c.salt, "signature": c.signature});
        base64::engine::general_purpose::STANDARD.encode(solution.to_string())
    }

    #[test]
    fn rule_14_the_cost_rises_with_a_clients_velocity_and_stops_rising() {
        assert_eq!(max_number(1_000, 0), 1_000);
        assert_eq!(max_number(1_000, 29), 1_000);
        assert_eq!(max_number(1_000, 30), 2_000);
        assert_eq!(max_number(1_000, 95), 8_000);
        assert_eq!(max_number(1_000, 10_000), 32_000);
        assert_eq!(range_max_number(1_000, 2), 1_000);
        assert_eq!(range_max_number(1_000, 3), 2_000);
        assert_eq!(range_max_number(1_000, 9), 8_000);
        assert_eq!(range_max_number(1_000, 10_000), 32_000);
    }

    #[test]
    fn rule_14_a_solved_challenge_holds_once_made_here_for_its_client_in_time() {
        let now = 4_102_444_800_000;
        let c = create(&secret(), &OsEntropy, "spa", now, 2_000);
        let n = solve(&c);
        let solved = verify(&secret(), &payload(&c, n), "spa", now + 1).unwrap();
        assert_eq!(solved.challenge, c.challenge);
        assert_eq!(solved.expires_at_ms, now + CHALLENGE_LIFETIME_MS);
        assert_eq!(solved.max_number, 2_000, "its cost travels in its salt");
        let wrong = if n == 0 { 1 } else { n - 1 };
        assert!(verify(&secret(), &payload(&c, wrong), "spa", now).is_err());
        assert!(verify(&secret(), &payload(&c, n), "other", now).is_err());
        assert!(
            verify(
                &secret(),
                &payload(&c, n),
                "spa",
                now + CHALLENGE_LIFETIME_MS
            )
            .is_err()
        );
        let other_secret = ServerSecret::new(&[8u8; 32]).unwrap();
        assert!(verify(&other_secret, &payload(&c, n), "spa", now).is_err());
        // A salt rewritten to last longer makes another challenge.
        let stretched = PowChallenge {
            salt: c.salt.replace("expires=", "expires=9"),
            ..c.clone()
        };
        assert!(verify(&secret(), &payload(&stretched, n), "spa", now).is_err());
        // A salt rewritten to claim a dearer proof makes another challenge.
        let inflated = PowChallenge {
            salt: c.salt.replace("max=", "max=9"),
            ..c.clone()
        };
        assert!(verify(&secret(), &payload(&inflated, n), "spa", now).is_err());
        assert!(verify(&secret(), "not base64!", "spa", now).is_err());
    }
}
