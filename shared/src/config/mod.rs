//! Deployment settings. A Lambda function reads them from its environment
//! once per cold start (`lambda`, with the `aws` feature); the local server
//! sets its own.

#[cfg(feature = "aws")]
mod lambda;
#[cfg(feature = "aws")]
pub use lambda::{LambdaSettings, SecretSource, server_secret_from_text};

use crate::domain::client::ClientDefaults;
use crate::domain::limits::PHONE_SENDS_PER_HOUR_ALL_CLIENTS;
use crate::domain::phone::is_calling_code;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Settings that apply to the whole deployment (per-client ones live in the
/// client records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `iss` of the tokens (`OTP_ISSUER`, the stack's `Issuer` parameter, for
    /// a custom domain); when unset, the URL of the API that API Gateway
    /// says the request came through, in `region`. Never a request header.
    pub issuer: Option<String>,
    /// The function's region (`AWS_REGION`), for the API's URL.
    pub region: Option<String>,
    pub access_token_ttl_secs: u32,
    /// Zone of the One ID style `expiration_date` field, seconds east of UTC.
    pub token_time_zone_offset_secs: i32,
    /// The `prod` stage: test numbers are refused.
    pub production: bool,
    /// Calling codes that receive SMS for clients without their own list.
    pub default_allowed_calling_codes: Vec<String>,
    /// Code length, lifetime and sender id of clients that set none.
    pub client_defaults: ClientDefaults,
    /// Codes one phone may get per hour from all clients together
    /// (DESIGN §5.8): protects its owner from being bombed through many
    /// clients; above any client's own limit.
    pub phone_sends_per_hour_all_clients: u32,
    /// How long a request may wait for the services it calls.
    pub timeouts: Timeouts,
    /// The conversion target of the pumping alarm (`PumpingConversionPercent`,
    /// 1 to 99), which the `PumpingScore` metric counts with.
    pub pumping_conversion_percent: u32,
    /// The share of reported SMS that may go missed in a calling code
    /// before the delivery alarm fires (`DeliveryMissedPercent`, 1 to 99),
    /// which the `SmsDeliveryMissScore` metric counts with.
    pub delivery_missed_percent: u32,
    /// With an edge (the stack's CloudFront distribution and its web ACL),
    /// what proves a request came through it; the routes answer no other.
    pub edge: Option<EdgeToken>,
    /// The hosted page's proof of work: the largest number its challenges
    /// hide (the work is half that many SHA-256 hashes on average).
    pub pow_max_number: u32,
}

/// The secret the stack's CloudFront distribution sends to the API in
/// `X-Origin-Verify` (docs/deploying.md, "Throttling and the edge"): a request without
/// it did not come through the edge and its web ACL.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeToken(String);

impl EdgeToken {
    /// At least 32 characters: the stack generates 48.
    pub fn new(token: String) -> Result<Self, String> {
        match token.trim().len() >= 32 {
            true => Ok(Self(token.trim().to_string())),
            false => Err("the edge's origin secret must be at least 32 characters".into()),
        }
    }

    /// Whether `presented` is the token, compared in constant time.
    pub fn verifies(&self, presented: &str) -> bool {
        crate::domain::keys::constant_time_eq(&self.0, presented)
    }
}

/// Never the token itself.
impl std::fmt::Debug for EdgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeToken(..)")
    }
}

/// How long a request waits, derived from the function's timeout
/// (`OTP_FUNCTION_TIMEOUT_SECS`, the stack's `FunctionTimeoutSeconds`): a
/// stalled call ends in the route's own 503 + `Retry-After` while the
/// function still runs, never in API Gateway's bare 5xx after Lambda ended
/// it. A request makes at most [`Self::SEQUENTIAL_CALLS`] calls one after
/// another (DESIGN §9's two round trips, the client record before them and
/// a give-back or a mark after them); each gets an equal share of the time
/// before the answer is due, and each attempt under half of that, so one
/// retry always fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    function: Duration,
}

impl Timeouts {
    /// What the stack allows: from 10 s every attempt gets at least 1 s, as
    /// DynamoDB advises for transactions (`TransactionInProgressException`);
    /// API Gateway gives up after 30 s.
    pub const FUNCTION_SECS: RangeInclusive<u32> = 10..=29;
    pub const DEFAULT_FUNCTION_SECS: u32 = 10;
    /// The calls a request makes one after another, at most.
    pub const SEQUENTIAL_CALLS: u32 = 4;
    /// Kept after the last call to answer before the function's timeout.
    const ANSWER_MARGIN: Duration = Duration::from_secs(1);

    /// For a function that Lambda ends after `function`. Tests pass shorter
    /// ones than the stack allows, to see stalls end quickly.
    pub fn for_function(function: Duration) -> Self {
        Self { function }
    }

    /// When a request is answered at the latest: 503 + `Retry-After` if its
    /// work is not done by then.
    pub fn answer_within(&self) -> Duration {
        self.function.saturating_sub(Self::ANSWER_MARGIN)
    }

    /// One call, with its retries.
    pub fn operation(&self) -> Duration {
        self.answer_within() / Self::SEQUENTIAL_CALLS
    }

    /// One attempt of a call, connecting included: under half the call's
    /// time, leaving a tenth of it for the jittered wait before the retry.
    pub fn attempt(&self) -> Duration {
        self.operation() * 9 / 20
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::for_function(Duration::from_secs(Self::DEFAULT_FUNCTION_SECS.into()))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            region: None,
            access_token_ttl_secs: 3600,
            // Thailand and Vietnam, where the replaced providers' users live.
            token_time_zone_offset_secs: 7 * 3600,
            production: false,
            default_allowed_calling_codes: vec!["66".into(), "84".into()],
            client_defaults: ClientDefaults::default(),
            phone_sends_per_hour_all_clients: PHONE_SENDS_PER_HOUR_ALL_CLIENTS,
            timeouts: Timeouts::default(),
            pumping_conversion_percent: 20,
            delivery_missed_percent: 25,
            edge: None,
            // About a second of a phone's browser.
            pow_max_number: 100_000,
        }
    }
}

/// `66,84` → the calling codes; each a country's, at least one.
pub fn parse_calling_codes(list: &str) -> Option<Vec<String>> {
    let codes: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
    codes.iter().all(|c| is_calling_code(c)).then_some(codes)
}

/// `+07:00`, `-03:30`, `Z` → seconds east of UTC.
pub fn parse_utc_offset(zone: &str) -> Option<i32> {
    if zone == "Z" {
        return Some(0);
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 14 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}
