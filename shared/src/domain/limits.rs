//! Rate limits (DESIGN §5.8): fixed-window counters, each checked and
//! incremented atomically with the write it guards.

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

/// The counters a new code must pass: per phone per hour and per day (across
/// clients: they protect the phone's owner), per source IP and per client per
/// minute.
pub fn send_limits(
    settings: &ClientSettings,
    client_id: &str,
    phone_key: &str,
    source_ip: Option<&str>,
    now: Millis,
) -> Vec<RateLimit> {
    let mut limits = vec![
        RateLimit::window(
            "phone-hour",
            phone_key,
            HOUR_MS,
            settings.sends_per_phone_per_hour,
            now,
        ),
        RateLimit::window(
            "phone-day",
            phone_key,
            DAY_MS,
            settings.sends_per_phone_per_day,
            now,
        ),
        RateLimit::window(
            "client-minute",
            client_id,
            MINUTE_MS,
            settings.sends_per_client_per_minute,
            now,
        ),
    ];
    if let Some(ip) = source_ip {
        let subject = format!("{client_id}#{ip}");
        limits.push(RateLimit::window(
            "ip-minute",
            &subject,
            MINUTE_MS,
            settings.sends_per_ip_per_minute,
            now,
        ));
    }
    limits
}

/// Wrong codes per phone per day, whatever challenge they were for: a resend
/// starts a new challenge but never a new count.
pub fn failed_confirm_limit(settings: &ClientSettings, phone_key: &str, now: Millis) -> RateLimit {
    RateLimit::window(
        "confirm-fail-day",
        phone_key,
        DAY_MS,
        settings.failed_confirms_per_phone_per_day,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_5_8_windows_are_fixed_and_end_where_the_next_begins() {
        let settings = ClientSettings::default();
        let at = |now| send_limits(&settings, "app", "p", Some("203.0.113.1"), now);
        let first = at(3 * HOUR_MS + 5);
        assert_eq!(first[0].key, "phone-hour#p#3");
        assert_eq!(first[0].window_end_ms, 4 * HOUR_MS);
        assert_eq!(first[0].limit, 5);
        assert_eq!(first[1].limit, 10);
        assert_eq!(
            first[3].key,
            format!(
                "ip-minute#app#203.0.113.1#{}",
                (3 * HOUR_MS + 5) / MINUTE_MS
            )
        );
        assert_eq!(at(4 * HOUR_MS - 1)[0].key, "phone-hour#p#3");
        assert_eq!(at(4 * HOUR_MS)[0].key, "phone-hour#p#4");
        assert_eq!(send_limits(&settings, "app", "p", None, 0).len(), 3);
        let fails = failed_confirm_limit(&settings, "p", DAY_MS + 1);
        assert_eq!(
            (fails.key.as_str(), fails.limit, fails.window_end_ms),
            ("confirm-fail-day#p#1", 20, 2 * DAY_MS)
        );
    }
}
