//! Log hygiene: capture everything a test logs, as the Lambdas log it (JSON),
//! and look for what must never be there.

use crate::{CLIENT_SECRET, TestApp};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything logged on this thread while the guard lives.
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

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

/// Starts capturing, at every level. The tests run on one thread, so a
/// thread-local subscriber sees all of a test's handlers.
pub fn capture() -> CapturedLogs {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .json()
        // Timestamps carry digit runs that could pass for codes.
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    CapturedLogs {
        buffer,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// Panics if the logs hold a code or a number that was texted, the
    /// client secret, or anything shaped like a refresh or challenge token.
    pub fn assert_no_secrets(&self, t: &TestApp) {
        let logs = self.text();
        for sms in t.outbox.entries() {
            assert!(!logs.contains(&sms.code), "a code is in the logs: {logs}");
            // The national number, which is in every full form of it.
            assert!(
                !logs.contains(&sms.to[3..]),
                "a phone number is in the logs: {logs}"
            );
        }
        assert!(
            !logs.contains(CLIENT_SECRET),
            "the client secret is in the logs"
        );
        let token_shaped = logs
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .find(|word| {
                word.split_once('.').is_some_and(|(a, b)| {
                    let b64 = |s: &str, n: usize| {
                        s.len() == n
                            && s.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                    };
                    (b64(a, 22) && b64(b, 43)) || (b64(a, 43) && b64(b, 22))
                })
            });
        assert_eq!(token_shaped, None, "a token is in the logs");
        assert!(
            logs.contains("otp sent") || t.outbox.entries().is_empty(),
            "nothing was captured"
        );
    }
}
