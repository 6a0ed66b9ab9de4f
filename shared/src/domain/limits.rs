//! Rate limits (DESIGN §5.8) and the SMS-pumping defences: fixed-window
//! counters, built for DynamoDB's rules (DESIGN §7).
//!
//! Every limit a client sets counts that client's own traffic only, so no
//! client can spend another's (DESIGN §5.12); beside them, one
//! deployment-wide cap per phone protects the phone's owner from being
//! bombed through many clients.
//!
//! A transaction touching an item another transaction holds is cancelled,
//! and one item takes about 1,000 writes a second. So:
//! - the counters of one client's phone and one client's end user (this
//!   client's codes to the phone per hour and per day, and to the end
//!   user's address per minute) are counted exactly inside the transaction
//!   that claims the phone's challenge slot: either all have room and all
//!   count, or nothing is written, so a request these refuse touches
//!   nothing at all (a caller whose own minute is spent cannot hold anyone's
//!   slot); and every item of that transaction is the client's own, so no
//!   other client's requests ever conflict with it;
//! - every other counter is counted **beside** the transaction, by a single
//!   conditional write that no transaction ever holds, so requests that
//!   share it never conflict: the deployment's cap per phone (written by
//!   every client's requests for the phone), and the ones every request of
//!   a client (its per-minute cap, its hourly SMS ceiling) or of one of its
//!   number ranges would write. Those last three are split over up to
//!   [`SHARDS`] items whose limits add up to the whole, and a request counts
//!   on one of them: such a limit never admits more than its value, and can
//!   refuse a little early when its shards fill unevenly (see
//!   [`RateLimit::shard`]).

use super::client::ClientSettings;
use crate::clock::Millis;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 86_400_000;

/// How many items a shared counter is spread over (fewer when its limit is
/// smaller than this, so that no shard has a limit of 0).
pub const SHARDS: u32 = 8;

/// The deployment-wide cap's default: codes to one phone per hour from all
/// clients together, above any client's own (at most 5).
pub const PHONE_SENDS_PER_HOUR_ALL_CLIENTS: u32 = 10;

/// One counter a request must pass: at most `limit` counts in the window
/// that ends at `window_end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Scope, subject and window, e.g. `phone-hour#<client>#<phone key>#<window>`;
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

/// A counter counted in the transaction that claims the challenge's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InTransaction {
    /// This client's codes to the phone per hour.
    PhonePerHour,
    /// This client's codes to the phone per day.
    PhonePerDay,
    /// This client's codes for the end user's address, per minute.
    EndUserPerMinute,
}

/// A counter counted beside the challenge's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// Every client's codes to the phone per hour: the deployment's cap.
    /// One item.
    PhoneAllClients,
    ClientPerMinute,
    /// Numbers sharing all but their last four digits, per hour.
    RangePerHour,
    /// The client's hourly SMS ceiling: once spent, its circuit is open
    /// until the hour is over; requests are answered without sending.
    SmsCeiling,
}

impl Beside {
    /// How many items the counter is spread over: the deployment's cap is
    /// written by one phone's requests only, and must count exactly; the
    /// others by a whole client's or a whole number range's.
    pub fn shards(self) -> u32 {
        match self {
            Beside::PhoneAllClients => 1,
            _ => SHARDS,
        }
    }
}

/// Whether a counter counts only messages handed to a provider, so that a
/// request that sends nothing (a decoy for an unknown number, a One ID
/// directory answer, a test number) counts nothing on it: the deployment's
/// cap, which every client shares, and the SMS ceiling (DESIGN §5.8).
pub trait SendsOnly {
    fn sends_only(&self) -> bool;
}

impl SendsOnly for InTransaction {
    fn sends_only(&self) -> bool {
        false
    }
}

impl SendsOnly for Beside {
    fn sends_only(&self) -> bool {
        matches!(self, Beside::PhoneAllClients | Beside::SmsCeiling)
    }
}

/// The counters a new code must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLimits {
    /// The phone's counters: in the claim's transaction.
    pub in_transaction: Vec<(InTransaction, RateLimit)>,
    /// The whole of each counter counted beside it; a request counts on one
    /// shard of each (`RateLimit::shard`).
    pub beside: Vec<(Beside, RateLimit)>,
}

impl SendLimits {
    /// The limits of the claim's transaction, in order.
    pub fn transaction_limits(&self) -> Vec<RateLimit> {
        self.in_transaction.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Without the counters of sends: for a request that never sends.
    pub fn without_sends_only(mut self) -> Self {
        self.in_transaction.retain(|(kind, _)| !kind.sends_only());
        self.beside.retain(|(kind, _)| !kind.sends_only());
        self
    }
}

/// The counters of a code for `who`: the client's own from `settings`, and
/// the deployment's cap of `all_clients_per_hour` codes a phone may get.
pub fn send_limits(
    settings: &ClientSettings,
    who: &SendSubject,
    all_clients_per_hour: u32,
    now: Millis,
) -> SendLimits {
    let s = settings;
    let client_phone = format!("{}#{}", who.client_id, who.phone_key);
    let mut in_transaction = vec![
        (
            InTransaction::PhonePerHour,
            RateLimit::window(
                "phone-hour",
                &client_phone,
                HOUR_MS,
                s.sends_per_phone_per_hour,
                now,
            ),
        ),
        (
            InTransaction::PhonePerDay,
            RateLimit::window(
                "phone-day",
                &client_phone,
                DAY_MS,
                s.sends_per_phone_per_day,
                now,
            ),
        ),
    ];
    if let Some(ip) = who.ip_subject {
        let subject = format!("{}#{ip}", who.client_id);
        let per_minute = s.sends_per_ip_per_minute;
        let counter = RateLimit::window("ip-minute", &subject, MINUTE_MS, per_minute, now);
        in_transaction.push((InTransaction::EndUserPerMinute, counter));
    }
    let beside = vec![
        (
            Beside::PhoneAllClients,
            RateLimit::window(
                "phone-all-hour",
                who.phone_key,
                HOUR_MS,
                all_clients_per_hour,
                now,
            ),
        ),
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
                &format!("{}#{}", who.client_id, who.prefix_key),
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
    SendLimits {
        in_transaction,
        beside,
    }
}

/// The client's cap on wrong codes for one phone per day, whatever
/// challenge they were for: a resend starts a new challenge but never a new
/// count. Counted on the client's slot for the phone, in the same write that
/// counts the attempt, before the code is compared (and given back when it
/// is right): wrong codes sent all at once cannot overrun it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCap {
    /// The day the count is for.
    pub window: i64,
    pub limit: u32,
    pub window_end_ms: Millis,
}

pub fn failure_cap(settings: &ClientSettings, now: Millis) -> FailureCap {
    let window = now.div_euclid(DAY_MS);
    FailureCap {
        window,
        limit: settings.failed_confirms_per_phone_per_day,
        window_end_ms: (window + 1) * DAY_MS,
    }
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
        let at = |now| send_limits(&settings, &who(Some("203.0.113.1")), 10, now);
        let first = at(3 * HOUR_MS + 5);
        let (_, phone_hour) = &first.in_transaction[0];
        assert_eq!(phone_hour.key, "phone-hour#app#p#3");
        assert_eq!(phone_hour.window_end_ms, 4 * HOUR_MS);
        assert_eq!((phone_hour.limit, first.in_transaction[1].1.limit), (5, 10));
        let minute = (3 * HOUR_MS + 5) / MINUTE_MS;
        let (kind, per_ip) = &first.in_transaction[2];
        assert_eq!(*kind, InTransaction::EndUserPerMinute);
        assert_eq!(per_ip.key, format!("ip-minute#app#203.0.113.1#{minute}"));
        assert_eq!(first.beside[3].0, Beside::SmsCeiling);
        let key = |now, i: usize| at(now).in_transaction[i].1.key.clone();
        assert_eq!(key(4 * HOUR_MS - 1, 0), "phone-hour#app#p#3");
        assert_eq!(key(4 * HOUR_MS, 0), "phone-hour#app#p#4");
        let cap = failure_cap(&settings, DAY_MS + 1);
        assert_eq!(
            (cap.window, cap.limit, cap.window_end_ms),
            (1, 20, 2 * DAY_MS)
        );
    }

    #[test]
    fn rule_5_12_a_clients_counters_count_its_own_traffic_and_one_cap_counts_all() {
        let settings = ClientSettings::default();
        let limits = send_limits(&settings, &who(Some("203.0.113.1")), 10, 0);
        let keys: Vec<&str> = limits
            .in_transaction
            .iter()
            .map(|(_, l)| l.key.as_str())
            .chain(limits.beside.iter().map(|(_, l)| l.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                "phone-hour#app#p#0",
                "phone-day#app#p#0",
                "ip-minute#app#203.0.113.1#0",
                "phone-all-hour#p#0",
                "client-minute#app#0",
                "prefix-hour#app#pre#0",
                "client-sms-hour#app#0",
            ]
        );
        let (kind, all_clients) = &limits.beside[0];
        assert_eq!((*kind, all_clients.limit), (Beside::PhoneAllClients, 10));
        assert_eq!(kind.shards(), 1, "counted exactly");
        // A request that sends nothing counts nothing that only sends count.
        let quiet = limits.without_sends_only();
        assert!(quiet.in_transaction.iter().all(|(k, _)| !k.sends_only()));
        assert!(quiet.beside.iter().all(|(k, _)| !k.sends_only()));
        assert_eq!((quiet.in_transaction.len(), quiet.beside.len()), (3, 2));
    }

    #[test]
    fn rule_5_8_without_an_end_user_address_there_is_no_per_ip_counter() {
        let limits = send_limits(&ClientSettings::default(), &who(None), 10, 0);
        assert!(
            limits
                .in_transaction
                .iter()
                .all(|(kind, _)| *kind != InTransaction::EndUserPerMinute)
        );
        assert_eq!(limits.in_transaction.len(), 2);
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
