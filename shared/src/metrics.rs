//! What the service counts (DESIGN §11), as CloudWatch Embedded Metric
//! Format lines on the functions' output: CloudWatch Logs turns them into
//! metrics, so counting costs no AWS call. Dimensions stay bounded: the
//! client, and the calling code as the client's allow-list names it (or
//! `other`), never a number. A confirm refused before its challenge is read
//! (by token, for a used, expired or exhausted challenge) knows no calling
//! code and is counted per client only.

use crate::clock::Millis;
use crate::domain::delivery::DeliveryState;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The CloudWatch namespace of every metric; `template.yaml`'s dashboard and
/// alarms read it.
pub const NAMESPACE: &str = "OtpLogin";

/// The level every metric line is written at: the quietest the stack's
/// `LogLevel` offers, so that Lambda's log-level filter, which drops a line
/// below the function's level (and files one without a level as INFO),
/// keeps the metrics at every level (DESIGN §11).
pub const LEVEL: &str = "WARN";

/// The pumping alarm's metric (docs/operations.md, "Monitoring"): +1 with each code sent,
/// -100 / the conversion target (percent) with each code confirmed, so that
/// an hour's sum for a client and calling code is how many more codes went
/// out than the target conversion accounts for.
pub const PUMPING_SCORE: &str = "PumpingScore";

/// The delivery alarm's metric (DESIGN §13.3), scored as [`PUMPING_SCORE`]
/// is, once per code at its first final report: +1 when it says the SMS did
/// not arrive (failed, blocked, expired, unknown), -p/(100-p) when it says
/// it did, for a tolerated missed share of p percent. An hour's sum per
/// calling code is how many more SMS were missed than p % accounts for: a
/// low-volume country's one failure does not fire it.
pub const DELIVERY_MISSED: &str = "SmsDeliveryMissScore";

/// The calling-code dimension of a number outside every allow-list.
pub const OTHER_CALLING_CODE: &str = "other";

/// Why a code request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A per-phone, per-end-user or per-client rate limit.
    RateLimit,
    Cooldown,
    /// The calling code is not on the client's allow-list.
    AllowList,
    /// The client's hourly SMS ceiling (answered as sent, nothing sent).
    Ceiling,
    /// The per-number-range cap against SMS pumping.
    PumpingCap,
    /// A valid number of a line type the client does not text (counted
    /// with the line type as a dimension).
    NotTextable,
}

/// How a code check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Success,
    WrongCode,
    Expired,
    /// No attempt left.
    Exhausted,
}

/// One thing counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    CodeRequested,
    CodeSent,
    Refused(Refusal),
    SmsFailed,
    /// One provider of a client's list did not take a send (the next may).
    ProviderFailed,
    Confirmed(Confirm),
    TokenRefreshed,
    /// A provider's report changed an SMS's delivery state to this one
    /// (`sent`: the carrier took it; the final states).
    Delivery(DeliveryState),
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::CodeRequested => "CodesRequested",
            Metric::CodeSent => "CodesSent",
            Metric::Refused(Refusal::RateLimit) => "RefusedRateLimit",
            Metric::Refused(Refusal::Cooldown) => "RefusedCooldown",
            Metric::Refused(Refusal::AllowList) => "RefusedAllowList",
            Metric::Refused(Refusal::Ceiling) => "RefusedCeiling",
            Metric::Refused(Refusal::PumpingCap) => "RefusedPumpingCap",
            Metric::Refused(Refusal::NotTextable) => "RefusedNotTextable",
            Metric::SmsFailed => "SmsFailures",
            Metric::ProviderFailed => "SmsProviderFailures",
            Metric::Confirmed(Confirm::Success) => "ConfirmsSucceeded",
            Metric::Confirmed(Confirm::WrongCode) => "ConfirmsWrongCode",
            Metric::Confirmed(Confirm::Expired) => "ConfirmsExpired",
            Metric::Confirmed(Confirm::Exhausted) => "ConfirmsExhausted",
            Metric::TokenRefreshed => "TokensRefreshed",
            Metric::Delivery(DeliveryState::Submitted | DeliveryState::Sent) => "SmsReportedSent",
            Metric::Delivery(DeliveryState::Delivered | DeliveryState::Converted) => {
                "SmsReportedDelivered"
            }
            Metric::Delivery(DeliveryState::Failed) => "SmsReportedFailed",
            Metric::Delivery(DeliveryState::Blocked) => "SmsReportedBlocked",
            Metric::Delivery(DeliveryState::Expired) => "SmsReportedExpired",
            Metric::Delivery(DeliveryState::Unknown) => "SmsReportedUnknown",
        }
    }

    /// The score metric this adds to, if any: [`PUMPING_SCORE`] or
    /// [`DELIVERY_MISSED`].
    pub fn score_name(self) -> &'static str {
        match self {
            Metric::Delivery(_) => DELIVERY_MISSED,
            _ => PUMPING_SCORE,
        }
    }

    /// What counting this adds to its score metric ([`Self::score_name`]),
    /// at a pumping conversion target of `conversion_percent` and a
    /// tolerated missed share of `missed_percent` (each 1 to 99).
    pub fn score(self, conversion_percent: u32, missed_percent: u32) -> Option<f64> {
        match self {
            Metric::CodeSent => Some(1.0),
            Metric::Confirmed(Confirm::Success) => {
                Some(-100.0 / f64::from(conversion_percent.max(1)))
            }
            Metric::Delivery(state) => match state {
                DeliveryState::Submitted | DeliveryState::Sent => None,
                DeliveryState::Delivered | DeliveryState::Converted => {
                    let p = f64::from(missed_percent.clamp(1, 99));
                    Some(-p / (100.0 - p))
                }
                DeliveryState::Failed
                | DeliveryState::Blocked
                | DeliveryState::Expired
                | DeliveryState::Unknown => Some(1.0),
            },
            _ => None,
        }
    }
}

/// Whose count it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions<'a> {
    pub client_id: &'a str,
    /// None where the number is not known (a token refresh).
    pub calling_code: Option<&'a str>,
    /// libphonenumber's name of a refused number's line type.
    pub line_type: Option<&'a str>,
    /// The SMS provider a send went to (`sms_providers`' kind).
    pub provider: Option<&'a str>,
    /// Why a provider says an SMS did not arrive (`delivery::reason`).
    pub reason: Option<&'a str>,
}

/// The EMF line counting one `metric` at `timestamp_ms`, and adding
/// `score` to its score metric ([`Metric::score_name`]) when given. With a calling code it
/// is counted per client and calling code, and per calling code alone;
/// without, per client. A line type joins each set that has the calling
/// code; a provider adds the set of client, calling code and provider, and
/// a reason the set of calling code, provider and reason.
pub fn emf_line(
    metric: Metric,
    dimensions: &Dimensions,
    timestamp_ms: Millis,
    score: Option<f64>,
) -> String {
    let sets = match (dimensions.calling_code, dimensions.line_type) {
        (Some(_), Some(_)) => json!([
            ["Client", "CallingCode", "LineType"],
            ["CallingCode", "LineType"]
        ]),
        (Some(_), None) if dimensions.provider.is_some() && dimensions.reason.is_some() => json!([
            ["Client", "CallingCode"],
            ["CallingCode"],
            ["Client", "CallingCode", "Provider"],
            ["CallingCode", "Provider", "Reason"]
        ]),
        (Some(_), None) if dimensions.provider.is_some() => json!([
            ["Client", "CallingCode"],
            ["CallingCode"],
            ["Client", "CallingCode", "Provider"]
        ]),
        (Some(_), None) => json!([["Client", "CallingCode"], ["CallingCode"]]),
        (None, _) => json!([["Client"]]),
    };
    let mut metrics = vec![json!({"Name": metric.name(), "Unit": "Count"})];
    if score.is_some() {
        metrics.push(json!({"Name": metric.score_name(), "Unit": "None"}));
    }
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": metrics,
            }],
        }),
    );
    line.insert("level".into(), Value::from(LEVEL));
    line.insert(
        "timestamp".into(),
        Value::from(crate::clock::rfc3339_utc(timestamp_ms)),
    );
    line.insert("Client".into(), Value::from(dimensions.client_id));
    if let Some(code) = dimensions.calling_code {
        line.insert("CallingCode".into(), Value::from(code));
        if let Some(line_type) = dimensions.line_type {
            line.insert("LineType".into(), Value::from(line_type));
        }
        if let Some(provider) = dimensions.provider {
            line.insert("Provider".into(), Value::from(provider));
            if let Some(reason) = dimensions.reason {
                line.insert("Reason".into(), Value::from(reason));
            }
        }
    }
    line.insert(metric.name().into(), Value::from(1));
    if let Some(score) = score {
        line.insert(metric.score_name().into(), Value::from(score));
    }
    Value::Object(line).to_string()
}

/// Where EMF lines go.
pub trait MetricsSink: Send + Sync {
    fn write(&self, line: String);
}

/// The functions' own output, one line each, as CloudWatch Logs reads it.
pub struct Stdout;

impl MetricsSink for Stdout {
    fn write(&self, line: String) {
        use std::io::Write;
        // A line that cannot be written is a metric lost, never a failure.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The lines written, in order: for tests and the local server.
#[derive(Default)]
pub struct Recorded(Mutex<Vec<String>>);

impl Recorded {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl MetricsSink for Recorded {
    fn write(&self, line: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// What `lines` (EMF lines, as [`emf_line`] writes them) add up to, as
/// CloudWatch would total them: per metric, its sum, and its sum under each
/// dimension set a line names (`"Client=shop,CallingCode=66"`). The local
/// server answers it at `/_local/metrics?summary=1`.
pub fn summary(lines: &[String]) -> Value {
    let mut totals = Map::new();
    for line in lines {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        let names = directive["Metrics"].as_array().into_iter().flatten();
        for name in names.filter_map(|m| m["Name"].as_str()) {
            let Some(value) = line[name].as_f64() else {
                continue;
            };
            let total = totals
                .entry(name)
                .or_insert_with(|| json!({"total": 0.0, "by": {}}));
            add(&mut total["total"], value);
            let sets = directive["Dimensions"].as_array().into_iter().flatten();
            for set in sets.filter_map(Value::as_array) {
                let key: Vec<String> = set
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|d| format!("{d}={}", line[d].as_str().unwrap_or_default()))
                    .collect();
                let by = &mut total["by"][key.join(",")];
                add(by, value);
            }
        }
    }
    Value::Object(totals)
}

/// `to` plus `value`, where `to` is a number or null.
fn add(to: &mut Value, value: f64) {
    *to = json!(to.as_f64().unwrap_or_default() + value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_is_counted_by_its_provider_too() {
        let dimensions = Dimensions {
            client_id: "shop",
            calling_code: Some("66"),
            line_type: None,
            provider: Some("webhook"),
            reason: None,
        };
        let line: Value =
            serde_json::from_str(&emf_line(Metric::CodeSent, &dimensions, 0, Some(1.0))).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([
                ["Client", "CallingCode"],
                ["CallingCode"],
                ["Client", "CallingCode", "Provider"]
            ])
        );
        assert_eq!(line["Provider"], "webhook");
        let summary = summary(&[line.to_string()]);
        assert_eq!(
            summary["CodesSent"]["by"]["Client=shop,CallingCode=66,Provider=webhook"],
            1.0
        );
    }

    #[test]
    fn an_emf_line_names_its_namespace_dimensions_unit_and_value() {
        let dimensions = Dimensions {
            client_id: "shop",
            calling_code: Some("66"),
            line_type: None,
            provider: None,
            reason: None,
        };
        let line: Value = serde_json::from_str(&emf_line(
            Metric::TokenRefreshed,
            &dimensions,
            4_102_444_800_000,
            None,
        ))
        .unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 4_102_444_800_000_i64);
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["timestamp"], "2100-01-01T00:00:00Z");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Client", "CallingCode"], ["CallingCode"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "TokensRefreshed", "Unit": "Count"}])
        );
        assert_eq!(line["Client"], "shop");
        assert_eq!(line["CallingCode"], "66");
        assert_eq!(line["TokensRefreshed"], 1);

        let refresh = Dimensions {
            client_id: "shop",
            calling_code: None,
            line_type: None,
            provider: None,
            reason: None,
        };
        let line: Value =
            serde_json::from_str(&emf_line(Metric::TokenRefreshed, &refresh, 0, None)).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Client"]])
        );
        assert!(line.get("CallingCode").is_none());

        let landline = Dimensions {
            line_type: Some("FIXED_LINE"),
            provider: None,
            ..dimensions
        };
        let refused = Metric::Refused(Refusal::NotTextable);
        let line: Value = serde_json::from_str(&emf_line(refused, &landline, 0, None)).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([
                ["Client", "CallingCode", "LineType"],
                ["CallingCode", "LineType"]
            ])
        );
        assert_eq!(line["LineType"], "FIXED_LINE");
        assert_eq!(line["RefusedNotTextable"], 1);
    }

    #[test]
    fn the_summary_totals_each_metric_and_each_dimension_set() {
        let at = |client_id, calling_code| Dimensions {
            client_id,
            calling_code: Some(calling_code),
            line_type: None,
            provider: None,
            reason: None,
        };
        let lines = vec![
            emf_line(Metric::CodeSent, &at("shop", "66"), 0, None),
            emf_line(Metric::CodeSent, &at("shop", "84"), 0, None),
            emf_line(Metric::CodeSent, &at("bank", "66"), 0, None),
            emf_line(Metric::TokenRefreshed, &at("bank", "66"), 0, None),
            "not a metric line".to_string(),
        ];
        let summary = summary(&lines);
        let sent = &summary["CodesSent"];
        assert_eq!(sent["total"], 3.0);
        assert_eq!(sent["by"]["Client=shop,CallingCode=66"], 1.0);
        assert_eq!(sent["by"]["CallingCode=66"], 2.0);
        assert_eq!(sent["by"]["CallingCode=84"], 1.0);
        assert_eq!(summary["TokensRefreshed"]["total"], 1.0);
        assert_eq!(summary.as_object().unwrap().len(), 2, "{summary}");
    }

    #[test]
    fn sends_and_confirms_score_the_pumping_alarms_sum() {
        let dimensions = Dimensions {
            client_id: "shop",
            calling_code: Some("66"),
            line_type: None,
            provider: None,
            reason: None,
        };
        let score = |metric: Metric| {
            let line = emf_line(metric, &dimensions, 0, metric.score(20, 25));
            let line: Value = serde_json::from_str(&line).unwrap();
            let named = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == PUMPING_SCORE);
            assert_eq!(named, line.get(PUMPING_SCORE).is_some(), "{line}");
            line[PUMPING_SCORE].as_f64()
        };
        assert_eq!(score(Metric::CodeSent), Some(1.0));
        assert_eq!(score(Metric::Confirmed(Confirm::Success)), Some(-5.0));
        assert_eq!(score(Metric::Confirmed(Confirm::WrongCode)), None);
        assert_eq!(score(Metric::CodeRequested), None);
        // At exactly the target conversion an hour sums to zero; with no
        // code entered, to the number of codes sent.
        let sent = 50.0;
        let at_target = sent * 1.0 + sent * 0.2 * -5.0;
        assert_eq!(at_target, 0.0);
    }
}
