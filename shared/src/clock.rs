//! Time and randomness, passed into the domain so tests control both.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> Millis;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to: for boundary tests.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: Millis) -> Self {
        Self(AtomicI64::new(start_ms))
    }
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // Without OS randomness no code or token can be made safely: stop.
        getrandom::fill(buf).expect("the OS random number generator failed");
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `ms` (UTC).
pub fn rfc3339_utc(ms: Millis) -> String {
    let (date, time) = civil(ms.div_euclid(1000));
    format!("{date}T{time}Z")
}

/// `YYYY-MM-DD HH:MM:SS` for `ms` in the zone `offset_secs` east of UTC.
pub fn local_date_time(ms: Millis, offset_secs: i32) -> String {
    let (date, time) = civil(ms.div_euclid(1000) + i64::from(offset_secs));
    format!("{date} {time}")
}

/// The Unix time in ms of `YYYY-MM-DD HH:MM:SS[.fff]` (or with a `T`) in
/// UTC, as AWS writes times in its logs; none for anything else.
pub fn parse_utc_date_time(text: &str) -> Option<Millis> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b' ' | b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let millis = match text.get(19..)? {
        "" | "Z" => 0,
        fraction => {
            let digits = fraction.strip_prefix('.')?.trim_end_matches('Z');
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            format!("{digits:0<3}")[..3].parse::<i64>().ok()?
        }
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days-from-civil algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis)
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) of a Unix time in seconds, proleptic Gregorian.
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_calendar_dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_798_761_599_000), "2026-12-31T23:59:59Z");
        for ms in [0, 951_782_400_000, 1_798_761_599_000, 4_102_444_800_123] {
            let text = rfc3339_utc(ms - ms % 1000)
                .replace('T', " ")
                .replace('Z', "");
            let fraction = format!("{text}.{:03}", ms % 1000);
            assert_eq!(parse_utc_date_time(&fraction), Some(ms), "{fraction}");
        }
        assert_eq!(
            parse_utc_date_time("2016-06-28 00:40:34.5"),
            Some(1_467_074_434_500)
        );
        for bad in [
            "",
            "2016-06-28",
            "2016-13-28 00:40:34",
            "2016-06-28 00:40:34.",
            "2016-06-28 0a:40:34",
            "2016-06-28 00:40:3é",
        ] {
            assert_eq!(parse_utc_date_time(bad), None, "{bad}");
        }
        assert_eq!(
            local_date_time(1_798_761_599_000, 7 * 3600),
            "2027-01-01 06:59:59"
        );
        assert_eq!(local_date_time(0, -3600), "1969-12-31 23:00:00");
    }
}
