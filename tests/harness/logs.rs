//! Log hygiene (DESIGN §5.2): capture what the service logs, as the Lambdas
//! log it (JSON), and look for every secret the tests created.
//!
//! One checker, [`Secrets`], knows them all, process-wide: the codes of
//! every challenge, sent or not (texted ones, refused ones and test numbers'
//! by value; challenges never texted, such as a decoy's, by their keyed hash,
//! which every code-shaped word of the logs is tried against); every spelling
//! of every phone number a test typed; ID card numbers; the server secrets
//! and every client secret a test presented; access tokens, refresh and
//! challenge tokens, and the secret half of each. The harness feeds it as
//! requests and answers go by (`crate::call`) and as apps are made.
//!
//! Every [`crate::TestApp`] checks the process's log lines of its lifetime
//! when dropped, and so does a [`LogCheck`] in tests that make no app (the
//! AWS wiring's); the handler scenarios are checked once more with a capture
//! of their own. A capture that cannot be installed fails the test.

use otp_shared::domain::keys::ServerSecret;
use otp_shared::domain::phone::PhoneNumber;
use std::collections::HashSet;
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

/// How this process's logs are captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// JSON at every level, the SDK's TRACE output included: the default.
    Everything,
    /// JSON at this level and above.
    AtLevel(tracing::Level),
    /// Exactly as the deployed functions log: the Lambda runtime's own
    /// subscriber (the one the functions' `main` installs), in the format
    /// and at the level `template.yaml` gives them.
    AsDeployed,
}

static PROCESS_LOGS: OnceLock<(Arc<Mutex<Vec<u8>>>, Capture)> = OnceLock::new();

fn install(capture: Capture) -> &'static (Arc<Mutex<Vec<u8>>>, Capture) {
    PROCESS_LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let installed = match &capture {
            Capture::Everything => {
                tracing::subscriber::set_global_default(subscriber(&buffer, tracing::Level::TRACE))
            }
            Capture::AtLevel(level) => {
                tracing::subscriber::set_global_default(subscriber(&buffer, *level))
            }
            Capture::AsDeployed => {
                let (format, level) = deployed_logging();
                // SAFETY: set before the subscriber that reads them exists,
                // while every other caller waits on this `OnceLock`; the
                // binaries that capture this way use no AWS SDK.
                unsafe {
                    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", format);
                    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", level);
                }
                let writer = Buffer(buffer.clone());
                otp_shared::logging::init_with_writer(move || writer.clone());
                Ok(())
            }
        };
        installed.expect("no other global subscriber: the process's logs are captured here");
        (buffer, capture)
    })
}

/// The functions' log format (`LoggingConfig.LogFormat`, `Text` when unset)
/// and application log level (the `LogLevel` parameter's default), read from
/// `template.yaml`.
fn deployed_logging() -> (String, String) {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let format = lines
        .iter()
        .find_map(|l| l.strip_prefix("LogFormat: "))
        .unwrap_or("Text");
    let level = lines
        .iter()
        .skip_while(|l| **l != "LogLevel:")
        .find_map(|l| l.strip_prefix("Default: "))
        .expect("the LogLevel parameter has a default");
    (format.to_string(), level.to_string())
}

/// Captures this process's logs as `capture` says, instead of the default.
/// Called before anything logs (the first `TestApp`); panics if the capture
/// was installed another way already.
pub fn capture_process(capture: Capture) {
    let (_, installed) = install(capture.clone());
    assert_eq!(
        *installed, capture,
        "the process's logs are captured already"
    );
}

/// As [`capture_process`] at `level`: for binaries that measure throughput,
/// at the level the functions run at in AWS (INFO), where formatting the
/// SDK's TRACE output would be what is measured.
pub fn capture_process_at(level: tracing::Level) {
    capture_process(Capture::AtLevel(level));
}

fn process_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    &install(Capture::Everything).0
}

/// Where the process's logs stand now.
pub fn process_log_mark() -> usize {
    process_logs().lock().unwrap().len()
}

/// What the process logged since `mark`.
pub fn process_logs_since(mark: usize) -> String {
    String::from_utf8_lossy(&process_logs().lock().unwrap()[mark..]).into_owned()
}

/// What the whole process logged since `mark` holds none of the secrets
/// given since `secrets_mark`, nor a code of `hashed`. Tests running
/// alongside are in there too, which is fine: no log line may hold any
/// secret.
pub fn assert_no_secrets_since(mark: usize, secrets_mark: u64, hashed: &[HashedCode]) {
    assert_clean(&process_logs_since(mark), hashed, secrets_mark);
}

/// Checks the process's logs of its lifetime when dropped: for tests that
/// make no `TestApp`.
pub struct LogCheck(usize, u64);

impl LogCheck {
    pub fn new() -> Self {
        Self(process_log_mark(), secrets().mark())
    }
}

impl Default for LogCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for LogCheck {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_secrets_since(self.0, self.1, &[]);
        }
    }
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

    /// No secret in what this thread logged while `t` worked, and the
    /// capture must have seen `t` log its sends: a capture that missed them
    /// proves nothing.
    pub fn assert_no_secrets(&self, t: &crate::TestApp) {
        let logs = self.text();
        t.remember_sent_secrets();
        assert_clean(&logs, &t.faults.hashed_codes(), t.secrets_mark);
        assert!(
            logs.contains("otp sent") || t.outbox.entries().is_empty(),
            "nothing was captured"
        );
    }
}

/// A challenge's code, known only by its keyed hash: the store saw it
/// started, whether or not its code was ever texted.
#[derive(Clone)]
pub struct HashedCode {
    pub secret: Arc<ServerSecret>,
    pub token_hash: String,
    pub code_hash: String,
}

impl HashedCode {
    fn is(&self, word: &str) -> bool {
        self.secret.code_hash(&self.token_hash, word) == self.code_hash
    }
}

/// Every secret the tests created, and where each kind may not show.
#[derive(Default)]
pub struct Secrets {
    /// (kind, value, when it was last given): found as a word of its own
    /// (not inside a longer run of letters and digits), or anywhere for
    /// values with separators.
    values: Vec<(&'static str, String, u64)>,
    /// Where each value is in `values`.
    known: std::collections::HashMap<String, usize>,
    /// How many values were given so far: a check looks for those given
    /// since its test began (a test's logs can hold only what it touched),
    /// which keeps long fuzz runs linear.
    given: u64,
    /// Not secret: test numbers and their fixed codes, which clients
    /// configure in plain and the API answers outside production.
    public: HashSet<String>,
}

impl Secrets {
    fn add(&mut self, kind: &'static str, value: &str) {
        let value = value.trim();
        if value.len() < 4 || self.public.contains(value) {
            return;
        }
        self.given += 1;
        match self.known.get(value) {
            Some(&index) => self.values[index].2 = self.given,
            None => {
                self.known.insert(value.to_string(), self.values.len());
                self.values.push((kind, value.to_string(), self.given));
            }
        }
    }

    /// Where a test begins: its checks look at what was given from here on.
    pub fn mark(&self) -> u64 {
        self.given + 1
    }

    /// A test number and its fixed code (DESIGN §5.11): not secrets.
    pub fn test_number(&mut self, e164: &str, code: &str) {
        let spellings = phone_spellings(e164);
        self.public.extend(spellings.iter().cloned());
        self.public.insert(code.to_string());
        self.values
            .retain(|(_, value, _)| !spellings.contains(value) && value != code);
        self.known = self
            .values
            .iter()
            .enumerate()
            .map(|(index, (_, value, _))| (value.clone(), index))
            .collect();
    }

    pub fn code(&mut self, code: &str) {
        self.add("a code", code);
    }

    /// A phone number as a test typed it, and every spelling of it a log
    /// could hold (see [`phone_spellings`]).
    pub fn phone(&mut self, typed: &str) {
        let spellings = phone_spellings(typed);
        if spellings.iter().any(|s| self.public.contains(s)) {
            return;
        }
        for spelling in spellings {
            self.add("a phone number", &spelling);
        }
    }

    /// An ID card number, bare and grouped as printed on the card.
    pub fn id_card(&mut self, digits: &str) {
        let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
        self.add("an ID card number", &digits);
        if digits.len() == 13 {
            let grouped = format!(
                "{}-{}-{}-{}-{}",
                &digits[..1],
                &digits[1..5],
                &digits[5..10],
                &digits[10..12],
                &digits[12..]
            );
            self.add("an ID card number", &grouped);
        }
    }

    pub fn client_secret(&mut self, secret: &str) {
        self.add("a client secret", secret);
    }

    pub fn server_secret(&mut self, text: &str) {
        self.add("the server secret", text);
    }

    /// A JWT, and its signature alone.
    pub fn access_token(&mut self, jwt: &str) {
        self.add("an access token", jwt);
        if let Some(signature) = jwt.rsplit('.').next() {
            self.add("an access token's signature", signature);
        }
    }

    /// A refresh or challenge token (`<locator>.<secret>`), and its secret
    /// half alone.
    pub fn opaque_token(&mut self, token: &str) {
        self.add("a token", token);
        if let Some((_, secret)) = token.split_once('.') {
            self.add("a token's secret half", secret);
        }
    }

    /// What of these secrets `text` holds, and of the codes of `hashed`, as
    /// "<kind> in: <line>", once per kind and line; and any word shaped like
    /// a token, whoever made it. One pass over the text for all the values,
    /// one hash per distinct code-shaped word and challenge.
    pub fn leaks(&self, text: &str, hashed: &[HashedCode], since: u64) -> Vec<String> {
        let mut leaks: Vec<String> = self
            .found(text, hashed, since)
            .into_iter()
            .map(|(at, kind)| format!("{kind} in: {}", line_at(text, at)))
            .collect();
        for line in text.lines() {
            if let Some(token) = token_shaped(line) {
                leaks.push(format!(
                    "something shaped like a token ({token}) in: {line}"
                ));
            }
        }
        leaks
    }

    /// The kinds of secret `text` holds.
    pub fn kinds_in(&self, text: &str) -> Vec<&'static str> {
        let kinds: std::collections::BTreeSet<_> = self
            .found(text, &[], 0)
            .into_iter()
            .map(|(_, kind)| kind)
            .collect();
        kinds.into_iter().collect()
    }

    /// (start of the line, kind) of each secret `text` holds.
    fn found(
        &self,
        text: &str,
        hashed: &[HashedCode],
        since: u64,
    ) -> std::collections::BTreeSet<(usize, &'static str)> {
        let mut found = std::collections::BTreeSet::new();
        let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let values: Vec<_> = self.values.iter().filter(|v| v.2 >= since).collect();
        if !values.is_empty() {
            let patterns = values.iter().map(|(_, value, _)| value);
            let matcher =
                aho_corasick::AhoCorasick::new(patterns).expect("the secrets as patterns");
            for m in matcher.find_overlapping_iter(text) {
                let (kind, value, _) = values[m.pattern().as_usize()];
                let bytes = text.as_bytes();
                let inside_a_word = value.bytes().all(|b| b.is_ascii_alphanumeric())
                    && (alnum(m.start().checked_sub(1).and_then(|i| bytes.get(i)))
                        || alnum(bytes.get(m.end())));
                if !inside_a_word {
                    found.insert((line_start(text, m.start()), *kind));
                }
            }
        }
        if !hashed.is_empty() {
            let mut candidates = std::collections::HashMap::new();
            for (at, word) in words_at(text) {
                let code_shaped = (4..=10).contains(&word.len())
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                    && !self.public.contains(word);
                if code_shaped {
                    candidates.entry(word).or_insert(at);
                }
            }
            for (word, at) in candidates {
                if hashed.iter().any(|h| h.is(word)) {
                    found.insert((line_start(text, at), "the code of a challenge never texted"));
                }
            }
        }
        found
    }
}

/// Each run of ASCII letters and digits of `text`, with where it starts.
fn words_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        (start < i).then(|| (start, &text[start..i]))
    })
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn line_at(text: &str, start: usize) -> &str {
    text[start..].lines().next().unwrap_or_default()
}

/// A phone number as typed, and every spelling of it a log could hold:
/// E.164, without its plus, with 00, national with its trunk 0, the bare
/// national digits, and grouped as it is written.
fn phone_spellings(typed: &str) -> Vec<String> {
    let mut spellings = vec![typed.trim().to_string()];
    for region in ["66", "84"] {
        let Ok(phone) = PhoneNumber::parse(typed, region) else {
            continue;
        };
        let e164 = phone.e164();
        let national = &e164[1 + phone.calling_code().to_string().len()..];
        spellings.extend([
            e164.to_string(),
            e164[1..].to_string(),
            format!("00{}", &e164[1..]),
            format!("0{national}"),
            national.to_string(),
        ]);
        if national.len() > 5 {
            let grouped = format!("0{}-{}-{}", &national[..2], &national[2..5], &national[5..]);
            spellings.push(grouped);
        }
        break;
    }
    spellings
}

/// A word shaped like a refresh or challenge token (`<22>.<43>` or
/// `<43>.<22>` base64url characters), whoever made it.
fn token_shaped(line: &str) -> Option<&str> {
    let b64 = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .find(|word| {
            word.split_once('.')
                .is_some_and(|(a, b)| (b64(a, 22) && b64(b, 43)) || (b64(a, 43) && b64(b, 22)))
        })
}

/// The process's secrets.
pub fn secrets() -> std::sync::MutexGuard<'static, Secrets> {
    static SECRETS: OnceLock<Mutex<Secrets>> = OnceLock::new();
    SECRETS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Panics if `logs` hold any secret the tests created, or a code of
/// `hashed`.
fn assert_clean(logs: &str, hashed: &[HashedCode], since: u64) {
    let leaks = secrets().leaks(logs, hashed, since);
    assert!(leaks.is_empty(), "DESIGN §5.2: {leaks:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Arc<ServerSecret> {
        Arc::new(ServerSecret::new(b"a unit test's server secret, 32 bytes").unwrap())
    }

    /// The checker bites: a log line with one secret of each kind is
    /// reported, the same line without it is not.
    #[test]
    fn rule_5_2_every_kind_of_secret_in_a_log_line_is_found() {
        let mut s = Secrets::default();
        s.code("482913");
        s.phone("081-234-5678");
        s.id_card("1234567890121");
        s.client_secret("another-clients-secret-0123456789");
        s.server_secret("a unit test's server secret, 32 bytes");
        s.access_token("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg");
        s.opaque_token("cmVmcmVzaC1mYW1pbHktaWQx.c2VjcmV0LWhhbGYtb2YtdGhlLXJlZnJlc2gtdG9rZW4");
        let hashed = [HashedCode {
            secret: secret(),
            token_hash: "token-hash".into(),
            code_hash: secret().code_hash("token-hash", "735102"),
        }];
        let leaking = [
            "code 482913 sent",
            "to +66812345678",
            "to 66812345678",
            "to 0066812345678",
            "to 0812345678",
            "to 812345678",
            "to 081-234-5678",
            "card 1234567890121",
            "card 1-2345-67890-12-1",
            "secret another-clients-secret-0123456789",
            "key a unit test's server secret, 32 bytes",
            "bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
            "sig c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
            "refresh c2VjcmV0LWhhbGYtb2YtdGhlLXJlZnJlc2gtdG9rZW4",
            r#"{"fields":{"decoy":"735102"}}"#,
            "token AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        ];
        for line in leaking {
            assert!(!s.leaks(line, &hashed, 0).is_empty(), "{line}");
        }
        for clean in [
            "code sent to +66*****5678 (ref GJENTF)",
            "sdk_invocation_id 3482913",
            "card ending 0121",
            "status 200 in 735 ms",
        ] {
            assert_eq!(s.leaks(clean, &hashed, 0), Vec::<String>::new(), "{clean}");
        }
    }

    #[test]
    fn the_deployed_log_format_and_level_come_from_the_template() {
        assert_eq!(deployed_logging(), ("JSON".to_string(), "INFO".to_string()));
    }
}
