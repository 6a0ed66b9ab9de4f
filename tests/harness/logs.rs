//! Log hygiene: capture what the service logs, as the Lambdas log it (JSON,
//! every level), and look for what must never be there. Every [`TestApp`]
//! checks the process's log lines of its lifetime when dropped; the handler
//! scenarios are checked once more with a capture of their own.

use crate::{CLIENT_SECRET, TestApp};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn subscriber(
    buffer: &Arc<Mutex<Vec<u8>>>,
    level: tracing::Level,
) -> impl tracing::Subscriber + Send + Sync {
    let writer = Buffer(buffer.clone());
    tracing_subscriber::fmt()
        .json()
        // Timestamps carry digit runs that could pass for codes.
        .without_time()
        .with_max_level(level)
        .with_writer(move || writer.clone())
        .finish()
}

static PROCESS_LOGS: OnceLock<(Arc<Mutex<Vec<u8>>>, tracing::Level)> = OnceLock::new();

fn install_process_capture(
    level: tracing::Level,
) -> &'static (Arc<Mutex<Vec<u8>>>, tracing::Level) {
    PROCESS_LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::set_global_default(subscriber(&buffer, level))
            .expect("no other global subscriber: the process's logs are captured here");
        (buffer, level)
    })
}

/// Every log line of this test process, at every level (the SDK's TRACE
/// output included) unless [`capture_process_at`] chose another: installed
/// the first time it is asked for (when the first `TestApp` is made).
fn process_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    &install_process_capture(tracing::Level::TRACE).0
}

/// Captures this process's logs at `level` instead of TRACE; for test
/// binaries that measure throughput, at the level the functions run at in
/// AWS (INFO), where formatting the SDK's TRACE output would be what is
/// measured. Called before the first `TestApp`; panics if the capture was
/// installed at another level.
pub fn capture_process_at(level: tracing::Level) {
    let (_, installed) = install_process_capture(level);
    assert_eq!(*installed, level, "the process's logs are captured already");
}

/// Where the process's logs stand now.
pub fn process_log_mark() -> usize {
    process_logs().lock().unwrap().len()
}

/// What the whole process logged since `mark` holds no secret of `t`. Tests
/// running alongside are in there too, which is fine: no log line may hold
/// any secret.
pub fn assert_no_secrets_since(mark: usize, t: &TestApp) {
    let logs = String::from_utf8_lossy(&process_logs().lock().unwrap()[mark..]).into_owned();
    assert_clean(&logs, t);
}

/// Everything logged on this thread while it lives.
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Starts capturing on this thread. The handler tests run on one thread, so
/// this sees all of a test's handlers.
pub fn capture() -> CapturedLogs {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let guard = tracing::subscriber::set_default(subscriber(&buffer, tracing::Level::TRACE));
    CapturedLogs {
        buffer,
        _guard: guard,
    }
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// As [`assert_no_secrets_since`], and the capture must have seen the
    /// service log its sends.
    pub fn assert_no_secrets(&self, t: &TestApp) {
        let logs = self.text();
        assert_clean(&logs, t);
        assert!(
            logs.contains("otp sent") || t.outbox.entries().is_empty(),
            "nothing was captured"
        );
    }
}

/// `needle` in `text` not as part of a longer run of letters and digits: a
/// random 7-digit SDK invocation id may well contain a 6-digit code.
fn contains_word(text: &str, needle: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(needle).any(|(at, _)| {
        !alnum(text[..at].chars().next_back()) && !alnum(text[at + needle.len()..].chars().next())
    })
}

/// Panics if `logs` hold a code or a number that was texted, the client
/// secret, or anything shaped like a refresh or challenge token.
fn assert_clean(logs: &str, t: &TestApp) {
    for sms in t.outbox.entries() {
        assert!(
            !contains_word(logs, &sms.code),
            "a code is in the logs: {logs}"
        );
        // The number in each form it could be logged in: E.164, without its
        // plus, national (the test numbers have two-digit calling codes).
        let national = format!("0{}", &sms.to[3..]);
        for form in [sms.to.as_str(), &sms.to[1..], national.as_str()] {
            assert!(
                !contains_word(logs, form),
                "a phone number is in the logs: {logs}"
            );
        }
    }
    assert!(
        !logs.contains(CLIENT_SECRET),
        "the client secret is in the logs"
    );
    let b64 = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    let token_shaped = logs
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .find(|word| {
            word.split_once('.')
                .is_some_and(|(a, b)| (b64(a, 22) && b64(b, 43)) || (b64(a, 43) && b64(b, 22)))
        });
    assert_eq!(token_shaped, None, "a token is in the logs");
}

#[cfg(test)]
mod tests {
    use super::contains_word;

    #[test]
    fn codes_are_found_as_words_only() {
        assert!(contains_word(r#"{"code":"123456"}"#, "123456"));
        assert!(contains_word("code 123456.", "123456"));
        assert!(!contains_word(r#""sdk_invocation_id":3123456"#, "123456"));
        assert!(!contains_word("A123456", "123456"));
        assert!(contains_word(r#"{"phone":"+66812345678"}"#, "+66812345678"));
        assert!(contains_word("to 66812345678", "66812345678"));
        assert!(!contains_word("+66*****5678", "+66812345678"));
    }
}
