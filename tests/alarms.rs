//! The template's log metric filters, behind `SmsRefusedAlarm`,
//! `SmsCeilingAlarm`, `ClientSettingsInvalidAlarm` and
//! `TestNumbersInProductionAlarm`, match the lines the functions write, as the deployed
//! function writes them: through the functions' own subscriber
//! (`otp_shared::logging`, the one each `main` installs), in the format and at the level `template.yaml`
//! gives the functions. So renaming a log message, logging it below the
//! deployed level, or dropping the template's JSON log format, silences no
//! alarm unnoticed.

use otp_integration_tests::logs::{Capture, capture_process, process_log_mark, process_logs_since};
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, memory_store, scenarios, test_settings,
};
use otp_shared::domain::client::ClientSettings;
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::sync::Arc;

/// A `{ $.a.b = "value" }` filter pattern and the metric it feeds.
struct MetricFilter {
    metric: String,
    path: Vec<String>,
    value: String,
}

impl MetricFilter {
    fn matches(&self, line: &Value) -> bool {
        self.path
            .iter()
            .try_fold(line, |node, key| node.get(key))
            .is_some_and(|v| v.as_str() == Some(self.value.as_str()))
    }

    fn count(&self, logs: &str) -> usize {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| self.matches(l))
            .count()
    }
}

/// Every `AWS::Logs::MetricFilter` of template.yaml, read from its text.
fn metric_filters() -> Vec<MetricFilter> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let mut filters = vec![];
    let mut pattern: Option<(Vec<String>, String)> = None;
    for line in template.lines().map(str::trim) {
        // A log subscription's pattern (`""`: every line) is no metric's.
        if let Some(quoted) = line
            .strip_prefix("FilterPattern: ")
            .filter(|quoted| *quoted != "\"\"")
        {
            let inner = quoted
                .trim_matches('\'')
                .trim_start_matches("{ $.")
                .trim_end_matches(" }");
            let (path, value) = inner
                .split_once(" = ")
                .expect("a `{ $.path = \"value\" }` pattern");
            pattern = Some((
                path.split('.').map(str::to_string).collect(),
                value.trim_matches('"').to_string(),
            ));
        } else if let (Some(metric), Some(_)) = (line.strip_prefix("MetricName: "), &pattern) {
            let (path, value) = pattern.take().unwrap();
            filters.push(MetricFilter {
                metric: metric.to_string(),
                path,
                value,
            });
        }
    }
    filters
}

fn filter(metric: &str) -> MetricFilter {
    metric_filters()
        .into_iter()
        .find(|f| f.metric == metric)
        .unwrap_or_else(|| panic!("template.yaml has no metric filter for {metric}"))
}

/// Lambda's log-level filter, as its documentation states it: a JSON line
/// is filed at its `level` (TRACE to FATAL, in any case); one without a
/// valid `level`, or without an RFC 3339 `timestamp`, and any line that is
/// not JSON, at INFO. A line below the function's level is dropped.
fn lambda_keeps(line: &str, function_level: &str) -> bool {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |level: &str| LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level));
    let json = serde_json::from_str::<Value>(line).ok();
    let stated = json
        .as_ref()
        .and_then(|l| l["level"].as_str())
        .and_then(rank);
    let dated = json
        .as_ref()
        .and_then(|l| l["timestamp"].as_str())
        .is_some_and(rfc3339);
    let filed = stated.filter(|_| dated).unwrap_or(2);
    filed >= rank(function_level).expect("a level Lambda knows")
}

/// `2026-12-07T04:25:00Z`, `…00.123456Z`, `…00+07:00`.
fn rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        let fraction = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    let zone = &text.get(at..).unwrap_or_default();
    head && (matches!(*zone, "Z" | "z")
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && digits(at + 1..at + 3)
            && zone.as_bytes()[3] == b':'
            && digits(at + 4..at + 6)))
}

/// The levels the stack offers for the functions' logs (`LogLevel`).
fn offered_levels() -> Vec<String> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let after = &template[template
        .find("\n  LogLevel:")
        .expect("a LogLevel parameter")..];
    let line = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("AllowedValues: ["))
        .expect("LogLevel's AllowedValues");
    line.trim_end_matches(']')
        .split(',')
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn lambdas_filter_rule_as_this_test_applies_it() {
    let dated = r#"{"level":"WARN","timestamp":"2026-12-07T04:25:00.123456Z","fields":{}}"#;
    assert!(lambda_keeps(dated, "WARN"));
    assert!(!lambda_keeps(dated, "ERROR"));
    let undated = r#"{"level":"ERROR","fields":{}}"#;
    assert!(!lambda_keeps(undated, "WARN"), "no timestamp: INFO");
    assert!(
        !lambda_keeps(r#"{"_aws":{},"CodesSent":1}"#, "WARN"),
        "no level: INFO"
    );
    assert!(lambda_keeps("plain text", "INFO"));
    for good in ["2026-12-07T04:25:00Z", "2026-12-07t04:25:00.1+07:00"] {
        assert!(rfc3339(good), "{good}");
    }
    for bad in [
        "2026-12-07 04:25:00Z",
        "2026-12-07T04:25:00",
        "2026-12-07T04:25:00.Z",
        "1765081500",
    ] {
        assert!(!rfc3339(bad), "{bad}");
    }
}

/// One test, so that no other test's lines land in what it counts.
#[tokio::test]
async fn the_alarms_count_what_the_deployed_functions_log() {
    capture_process(Capture::AsDeployed);

    let mark = process_log_mark();
    let t = TestApp::over(
        Arc::new(memory_store()),
        Some(Arc::new(RefusingSms::default())),
    )
    .await;
    let answer = t
        .call(
            Function::RequestOtp,
            "request-otp",
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": "0812345678"}),
        )
        .await;
    assert_eq!(answer.status, 503, "{answer:?}");
    drop(t);
    let refused = process_logs_since(mark);
    assert_eq!(filter("SmsRefused").count(&refused), 1, "{refused}");
    assert_eq!(filter("SmsCeilingReached").count(&refused), 0);

    let mark = process_log_mark();
    let t = TestApp::memory().await;
    scenarios::sms_pumping_hourly_ceiling_opens_the_circuit_and_sends_nothing(&t).await;
    // The metric lines as the functions write them, beside their logs.
    let metrics = t.metrics.lines();
    drop(t);
    let logged = process_logs_since(mark);
    assert_eq!(filter("SmsCeilingReached").count(&logged), 1, "{logged}");
    assert_eq!(filter("SmsRefused").count(&logged), 0);

    // The alerts of a client refused for its own record, which every
    // function can log (each authenticates its caller).
    let mark = process_log_mark();
    let t = TestApp::memory().await;
    let lax = ClientSettings {
        max_attempts: 50,
        ..test_settings()
    };
    scenarios::client_with(&t, "lax-app", lax).await;
    let answer = scenarios::request_as(&t, "lax-app", "0812345678").await;
    assert_eq!(answer.status, 500, "{answer:?}");
    drop(t);
    let t = TestApp::production(Arc::new(memory_store())).await;
    scenarios::client_with(&t, "qa-app", scenarios::with_test_number()).await;
    let answer = scenarios::request_as(&t, "qa-app", "0899990000").await;
    assert_eq!(answer.status, 500, "{answer:?}");
    drop(t);
    let clients_refused = process_logs_since(mark);
    for metric in ["ClientSettingsInvalid", "TestNumbersInProduction"] {
        assert_eq!(
            filter(metric).count(&clients_refused),
            1,
            "{clients_refused}"
        );
    }

    // DESIGN §11: at every level the stack offers, Lambda's filter keeps
    // every metric line and every alert line, and a WARN function drops
    // INFO lines (the filter bites).
    assert!(!metrics.is_empty());
    let everything = format!(
        "{refused}\n{logged}\n{clients_refused}\n{}",
        metrics.join("\n")
    );
    let levels = offered_levels();
    assert!(levels.contains(&"WARN".to_string()), "{levels:?}");
    for level in &levels {
        let kept: String = everything
            .lines()
            .filter(|line| lambda_keeps(line, level))
            .map(|line| format!("{line}\n"))
            .collect();
        for line in &metrics {
            assert!(
                kept.contains(line.as_str()),
                "{level} drops the metric line {line}"
            );
        }
        assert_eq!(filter("SmsCeilingReached").count(&kept), 1, "{level}");
        assert_eq!(filter("SmsRefused").count(&kept), 1, "{level}");
        assert_eq!(filter("ClientSettingsInvalid").count(&kept), 1, "{level}");
        assert_eq!(filter("TestNumbersInProduction").count(&kept), 1, "{level}");
    }
    let at_warn = logged.lines().filter(|l| lambda_keeps(l, "WARN")).count();
    assert!(
        at_warn < logged.lines().count(),
        "WARN keeps every line: the filter never bites"
    );
}

#[test]
fn the_template_has_exactly_the_filters_these_tests_check() {
    let mut metrics: Vec<String> = metric_filters().into_iter().map(|f| f.metric).collect();
    metrics.sort();
    // The two alerts about a client's own record, from each function's
    // log group.
    let each_function = |metric: &str| vec![metric.to_string(); 3];
    let expected = [
        each_function("ClientSettingsInvalid"),
        vec!["SmsCeilingReached".into(), "SmsRefused".into()],
        each_function("TestNumbersInProduction"),
    ]
    .concat();
    assert_eq!(metrics, expected);
}
