//! The template's log metric filters, behind `SmsRefusedAlarm` and
//! `SmsCeilingAlarm`, match the lines request-otp writes, as the deployed
//! function writes them: through the functions' own subscriber
//! (`otp_shared::logging`, the one each `main` installs), in the format and at the level `template.yaml`
//! gives the functions. So renaming a log message, logging it below the
//! deployed level, or dropping the template's JSON log format, silences no
//! alarm unnoticed.

use otp_integration_tests::logs::{Capture, capture_process, process_log_mark, process_logs_since};
use otp_integration_tests::{CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, memory_store};
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
        if let Some(quoted) = line.strip_prefix("FilterPattern: ") {
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
    let logged = process_logs_since(mark);
    assert_eq!(filter("SmsRefused").count(&logged), 1, "{logged}");
    assert_eq!(filter("SmsCeilingReached").count(&logged), 0);

    let mark = process_log_mark();
    let t = TestApp::memory().await;
    otp_integration_tests::scenarios::sms_pumping_hourly_ceiling_opens_the_circuit_and_sends_nothing(&t)
        .await;
    drop(t);
    let logged = process_logs_since(mark);
    assert_eq!(filter("SmsCeilingReached").count(&logged), 1, "{logged}");
    assert_eq!(filter("SmsRefused").count(&logged), 0);
}

#[test]
fn the_template_has_exactly_the_filters_these_tests_check() {
    let mut metrics: Vec<String> = metric_filters().into_iter().map(|f| f.metric).collect();
    metrics.sort();
    assert_eq!(metrics, ["SmsCeilingReached", "SmsRefused"]);
}
