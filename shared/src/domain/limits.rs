//! Rate limits (DESIGN §5.8) and the SMS-pumping defences: fixed-window
//! counters, each checked and incremented atomically with the write it guards.

use super::client::ClientSettings;
use crate::clock::Millis;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 86_400_000;

/// One counter a request must pass: at most `limit` counts in the window
/// that ends at `window_end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Scope, subject and window, e.g. `phone-hour#<phone key>#<window>`.
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
}

/// Whom a new code's counters count.
#[derive(Debug, Clone, Copy)]
pub struct SendSubject<'a> {
    pub client_id: &'a str,
    pub phone_key: &'a str,
    /// Keyed hash of the number without its last four digits: SMS pumping
    /// walks through ranges of numbers.
    pub prefix_key: &'a str,
    pub source_ip: Option<&'a str>,
}

const SMS_CEILING: &str = "client-sms-hour";

/// The counters a new code must pass: per phone per hour and per day (across
/// clients: they protect the phone's owner), per number prefix per hour, per
/// client per minute, per source IP per minute, and last the client's hourly
/// SMS ceiling (see [`is_sms_ceiling`]).
pub fn send_limits(settings: &ClientSettings, who: &SendSubject, now: Millis) -> Vec<RateLimit> {
    let s = settings;
    let mut limits = vec![
        RateLimit::window(
            "prefix-hour",
            who.prefix_key,
            HOUR_MS,
            s.sends_per_prefix_per_hour,
            now,
        ),
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
        RateLimit::window(
            "client-minute",
            who.client_id,
            MINUTE_MS,
            s.sends_per_client_per_minute,
            now,
        ),
    ];
    if let Some(ip) = who.source_ip {
        let subject = format!("{}#{ip}", who.client_id);
        limits.push(RateLimit::window(
            "ip-minute",
            &subject,
            MINUTE_MS,
            s.sends_per_ip_per_minute,
            now,
        ));
    }
    limits.push(RateLimit::window(
        SMS_CEILING,
        who.client_id,
        HOUR_MS,
        s.sms_ceiling_per_hour,
        now,
    ));
    limits
}

/// The client's hourly SMS ceiling: once spent, its circuit is open until
/// the hour is over; requests are answered without sending and an alert is
/// logged.
pub fn is_sms_ceiling(limit: &RateLimit) -> bool {
    limit.key.starts_with(SMS_CEILING)
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

    #[test]
    fn rule_5_8_windows_are_fixed_and_end_where_the_next_begins() {
        let settings = ClientSettings::default();
        let who = |ip| SendSubject {
            client_id: "app",
            phone_key: "p",
            prefix_key: "pre",
            source_ip: ip,
        };
        let at = |now| send_limits(&settings, &who(Some("203.0.113.1")), now);
        let first = at(3 * HOUR_MS + 5);
        assert_eq!(first[0].key, "prefix-hour#pre#3");
        assert_eq!(first[1].key, "phone-hour#p#3");
        assert_eq!(first[1].window_end_ms, 4 * HOUR_MS);
        assert_eq!((first[1].limit, first[2].limit), (5, 10));
        let minute = (3 * HOUR_MS + 5) / MINUTE_MS;
        assert_eq!(first[4].key, format!("ip-minute#app#203.0.113.1#{minute}"));
        assert!(is_sms_ceiling(&first[5]) && !first[..5].iter().any(is_sms_ceiling));
        assert_eq!(at(4 * HOUR_MS - 1)[1].key, "phone-hour#p#3");
        assert_eq!(at(4 * HOUR_MS)[1].key, "phone-hour#p#4");
        assert_eq!(send_limits(&settings, &who(None), 0).len(), 5);
        let fails = failed_confirm_limit(&settings, "p", DAY_MS + 1);
        assert_eq!(fails.key, "confirm-fail-day#p#1");
        assert_eq!((fails.limit, fails.window_end_ms), (20, 2 * DAY_MS));
    }
}
