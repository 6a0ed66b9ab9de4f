//! Rate limits (DESIGN §5.8) and the SMS-pumping defences: fixed-window
//! counters, built for DynamoDB's rules (DESIGN §7).
//!
//! A transaction touching an item another transaction holds is cancelled,
//! and one item takes about 1,000 writes a second. So:
//! - the **phone's** counters (per hour, per day) are counted exactly inside
//!   the challenge's own transaction, which holds the phone's challenge slot
//!   anyway: either both have room and both count, or nothing is written;
//! - every other counter is counted **beside** the transaction, by a single
//!   conditional write that no transaction ever holds, so requests that
//!   share it never conflict: the end user's (per address per minute), and
//!   the ones every request of a client (its per-minute cap, its hourly SMS
//!   ceiling) or of a number range would write. Those last three are split
//!   over up to [`SHARDS`] items whose limits add up to the whole, and a
//!   request counts on one of them: such a limit never admits more than its
//!   value, and can refuse a little early when its shards fill unevenly (see
//!   [`RateLimit::shard`]).

use super::client::ClientSettings;
use crate::clock::Millis;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 86_400_000;

/// How many items a shared counter is spread over (fewer when its limit is
/// smaller than this, so that no shard has a limit of 0).
pub const SHARDS: u32 = 8;

/// One counter a request must pass: at most `limit` counts in the window
/// that ends at `window_end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Scope, subject and window, e.g. `phone-hour#<phone key>#<window>`;
    /// a shard of a shared counter ends in `#s<shard>`.
    pub key: String,
    pub limit: u32,
    pub window_end_ms: Millis,
}

impl RateLimit {
    fn window(scope: &str, subject: &str, window_ms: Millis, limit: u32, now: Millis) -> Self {
        let window = now.div_euclid(window_ms);
        Self {
            key: format!("{scope}#{subject}#{window}"),
            limit,
            window_end_ms: (window + 1) * window_ms,
        }
    }

    /// When DynamoDB may delete the counter: a day after its window.
    pub fn ttl_epoch_secs(&self) -> i64 {
        self.window_end_ms / 1000 + 86_400
    }

    /// The shard the `sequence`-th request of this window counts on, when
    /// the counter is spread over `shards` items (at most its limit). Shard
    /// `i` of `k` has `limit / k` units, plus one for the first
    /// `limit % k` shards: the shards' limits add up to exactly `limit`.
    /// Requests taken in sequence (`sequence` 0, 1, 2, … in one window) fill
    /// them evenly. Several callers each spreading their own requests fill
    /// some shards before others; the service then tries the remaining
    /// shards before refusing, so no request is refused before the whole
    /// limit is spent, and none is ever admitted beyond it.
    pub fn shard(&self, sequence: u64, shards: u32) -> RateLimit {
        let shards = shards.clamp(1, self.limit.max(1));
        let index = (sequence % u64::from(shards)) as u32;
        let extra = u32::from(index < self.limit % shards);
        RateLimit {
            key: format!("{}#s{index}", self.key),
            limit: self.limit / shards + extra,
            window_end_ms: self.window_end_ms,
        }
    }
}

/// Whom a new code's counters count.
#[derive(Debug, Clone, Copy)]
pub struct SendSubject<'a> {
    pub client_id: &'a str,
    pub phone_key: &'a str,
    /// Keyed hash of the number without its last four digits: SMS pumping
    /// walks through ranges of numbers.
    pub prefix_key: &'a str,
    /// What the per-IP limit counts: the end user's address (see
    /// `EndUserAddress::limit_subject`), or none.
    pub ip_subject: Option<&'a str>,
}

/// A counter counted beside the challenge's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// The end user's address, per minute: one item.
    EndUserPerMinute,
    ClientPerMinute,
    /// Numbers sharing all but their last four digits, per hour.
    RangePerHour,
    /// The client's hourly SMS ceiling: once spent, its circuit is open
    /// until the hour is over; requests are answered without sending.
    SmsCeiling,
}

impl Beside {
    /// How many items the counter is spread over: the end user's is written
    /// by one person's requests only; the others by a whole client's or a
    /// whole number range's.
    pub fn shards(self) -> u32 {
        match self {
            Beside::EndUserPerMinute => 1,
            _ => SHARDS,
        }
    }
}

/// The counters a new code must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLimits {
    /// Per phone per hour and per day (across clients: they protect the
    /// phone's owner): in the challenge's transaction.
    pub in_transaction: Vec<RateLimit>,
    /// The whole of each counter counted beside it; a request counts on one
    /// shard of each (`RateLimit::shard`).
    pub beside: Vec<(Beside, RateLimit)>,
}

pub fn send_limits(settings: &ClientSettings, who: &SendSubject, now: Millis) -> SendLimits {
    let s = settings;
    let in_transaction = vec![
        RateLimit::window(
            "phone-hour",
            who.phone_key,
            HOUR_MS,
            s.sends_per_phone_per_hour,
            now,
        ),
        RateLimit::window(
            "phone-day",
            who.phone_key,
            DAY_MS,
            s.sends_per_phone_per_day,
            now,
        ),
    ];
    let mut beside = vec![
        (
            Beside::ClientPerMinute,
            RateLimit::window(
                "client-minute",
                who.client_id,
                MINUTE_MS,
                s.sends_per_client_per_minute,
                now,
            ),
        ),
        (
            Beside::RangePerHour,
            RateLimit::window(
                "prefix-hour",
                who.prefix_key,
                HOUR_MS,
                s.sends_per_prefix_per_hour,
                now,
            ),
        ),
        (
            Beside::SmsCeiling,
            RateLimit::window(
                "client-sms-hour",
                who.client_id,
                HOUR_MS,
                s.sms_ceiling_per_hour,
                now,
            ),
        ),
    ];
    if let Some(ip) = who.ip_subject {
        let subject = format!("{}#{ip}", who.client_id);
        let per_minute = s.sends_per_ip_per_minute;
        let counter = RateLimit::window("ip-minute", &subject, MINUTE_MS, per_minute, now);
        beside.insert(0, (Beside::EndUserPerMinute, counter));
    }
    SendLimits {
        in_transaction,
        beside,
    }
}

/// Wrong codes per phone per day, whatever challenge they were for: a resend
/// starts a new challenge but never a new count.
pub fn failed_confirm_limit(settings: &ClientSettings, phone_key: &str, now: Millis) -> RateLimit {
    let limit = settings.failed_confirms_per_phone_per_day;
    RateLimit::window("confirm-fail-day", phone_key, DAY_MS, limit, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(ip: Option<&str>) -> SendSubject<'_> {
        SendSubject {
            client_id: "app",
            phone_key: "p",
            prefix_key: "pre",
            ip_subject: ip,
        }
    }

    #[test]
    fn rule_5_8_windows_are_fixed_and_end_where_the_next_begins() {
        let settings = ClientSettings::default();
        let at = |now| send_limits(&settings, &who(Some("203.0.113.1")), now);
        let first = at(3 * HOUR_MS + 5);
        let phone_hour = &first.in_transaction[0];
        assert_eq!(phone_hour.key, "phone-hour#p#3");
        assert_eq!(phone_hour.window_end_ms, 4 * HOUR_MS);
        assert_eq!((phone_hour.limit, first.in_transaction[1].limit), (5, 10));
        let minute = (3 * HOUR_MS + 5) / MINUTE_MS;
        let (kind, per_ip) = &first.beside[0];
        assert_eq!(*kind, Beside::EndUserPerMinute);
        assert_eq!(per_ip.key, format!("ip-minute#app#203.0.113.1#{minute}"));
        assert_eq!(first.beside[2].1.key, "prefix-hour#pre#3");
        assert_eq!(first.beside[3].0, Beside::SmsCeiling);
        assert_eq!(at(4 * HOUR_MS - 1).in_transaction[0].key, "phone-hour#p#3");
        assert_eq!(at(4 * HOUR_MS).in_transaction[0].key, "phone-hour#p#4");
        let fails = failed_confirm_limit(&settings, "p", DAY_MS + 1);
        assert_eq!(fails.key, "confirm-fail-day#p#1");
        assert_eq!((fails.limit, fails.window_end_ms), (20, 2 * DAY_MS));
    }

    #[test]
    fn rule_5_8_without_an_end_user_address_there_is_no_per_ip_counter() {
        let limits = send_limits(&ClientSettings::default(), &who(None), 0);
        assert!(
            limits
                .beside
                .iter()
                .all(|(kind, _)| *kind != Beside::EndUserPerMinute)
        );
        assert_eq!(limits.beside.len(), 3);
    }

    #[test]
    fn rule_7_shards_of_a_shared_counter_add_up_to_its_limit() {
        for limit in [1, 2, 7, 8, 9, 30, 100, 1000, 1001] {
            let whole = RateLimit {
                key: "client-minute#app#0".into(),
                limit,
                window_end_ms: MINUTE_MS,
            };
            let shards = SHARDS.min(limit);
            let parts: Vec<_> = (0..u64::from(shards))
                .map(|i| whole.shard(i, SHARDS))
                .collect();
            assert_eq!(parts.iter().map(|s| s.limit).sum::<u32>(), limit, "{limit}");
            assert!(parts.iter().all(|s| s.limit >= 1));
            let keys: std::collections::BTreeSet<_> = parts.iter().map(|s| &s.key).collect();
            assert_eq!(keys.len(), shards as usize, "distinct items");
            assert_eq!(
                whole.shard(u64::from(shards), SHARDS),
                parts[0],
                "round robin"
            );
            assert_eq!(whole.shard(7, 1).limit, limit, "one shard: the whole");
        }
    }

    #[test]
    fn rule_7_requests_in_sequence_fill_the_shards_to_exactly_the_limit() {
        for limit in [1, 5, 8, 30, 100, 101] {
            let whole = RateLimit {
                key: "prefix-hour#pre#0".into(),
                limit,
                window_end_ms: HOUR_MS,
            };
            let mut counts = std::collections::HashMap::<String, u32>::new();
            let mut admitted = 0;
            for sequence in 0..u64::from(limit) * 3 {
                let shard = whole.shard(sequence, SHARDS);
                let count = counts.entry(shard.key.clone()).or_default();
                if *count < shard.limit {
                    *count += 1;
                    admitted += 1;
                }
            }
            assert_eq!(admitted, limit, "{limit}");
        }
    }
}
