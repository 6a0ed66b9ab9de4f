//! The functions' log lines, as Lambda's advanced logging controls ask for
//! them: JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text otherwise; at
//! `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`, as a plain level), `INFO` when
//! neither names one. Every JSON line carries `level` and an RFC 3339
//! `timestamp`: Lambda files a line without them as INFO, and drops it when
//! the function logs at WARN (DESIGN §11). The Lambda
//! runtime's own `init_default_subscriber` writes the same lines, but
//! filters through an `EnvFilter`, whose regular-expression engine alone is
//! 150 KB of each binary.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber, writing to stdout.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// Installs the subscriber, writing to `writer`.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let variable = |name| std::env::var(name).ok();
    let json = variable("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let level = variable("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| variable("RUST_LOG"))
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let subscriber = tracing_subscriber::fmt()
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::SystemTime)
        .with_max_level(level)
        .with_writer(writer);
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}
