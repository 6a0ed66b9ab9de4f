//! Bursts and sustained load of code requests through the real handlers, on
//! DynamoDB Local behind the layer that applies DynamoDB's transaction
//! conflict rule (`conflicts`). `tests/load.rs` runs them bounded in
//! `make test`; `benches/load.rs` runs them larger in `make bench` and
//! prints the table BENCHMARKS.md reports.

use crate::layer::DynamoLayer;
use crate::{Answer, CLIENT_SECRET, TestApp, call, dynamo_store_and_table, json_event, request_of};
use crate::{test_settings, with_header};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run of requests got back.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: usize,
    /// 429s: a limit refused the request.
    pub limited: usize,
    /// Anything else (a 5xx above all), which must never happen.
    pub other: Vec<Answer>,
    /// Conflicts the layer reported during the run.
    pub conflicts: u64,
    pub elapsed: Duration,
    /// Each request's duration, sorted.
    pub latencies: Vec<Duration>,
}

impl LoadReport {
    pub fn requests(&self) -> usize {
        self.ok + self.limited + self.other.len()
    }

    /// Requests per second over the run.
    pub fn throughput(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of the latencies (0.5: the median).
    pub fn latency(&self, q: f64) -> Duration {
        self.latencies
            .get(((self.latencies.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or_default()
    }

    /// `name | requests | 200 | 429 | other | conflicts | req/s | p50 | p99 | max`
    pub fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms |",
            self.requests(),
            self.ok,
            self.limited,
            self.other.len(),
            self.conflicts,
            self.throughput(),
            self.latency(0.5).as_secs_f64() * 1e3,
            self.latency(0.99).as_secs_f64() * 1e3,
            self.latency(1.0).as_secs_f64() * 1e3,
        )
    }
}

/// Limits high enough that only the engine's capacity is measured.
pub fn raised_limits() -> ClientSettings {
    ClientSettings {
        sends_per_client_per_minute: 100_000,
        sends_per_prefix_per_hour: 100_000,
        sms_ceiling_per_hour: 10_000_000,
        ..test_settings()
    }
}

/// An app on a fresh table behind the conflict layer, with `clients`
/// registered; returns it and the table.
pub async fn app_with_clients(clients: &[(&str, ClientSettings)]) -> (Arc<TestApp>, String) {
    let (store, table) = dynamo_store_and_table().await;
    let t = TestApp::over(Arc::new(store), None).await;
    for (id, settings) in clients {
        t.store
            .put_client(&ClientRecord::new(id, CLIENT_SECRET, settings.clone()))
            .await
            .expect("client stored");
    }
    (Arc::new(t), table)
}

/// One native code request.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub client_id: String,
    pub mobile_no: String,
    pub end_user_ip: Option<String>,
}

impl CodeRequest {
    pub fn new(client_id: &str, mobile_no: String) -> Self {
        Self {
            client_id: client_id.to_string(),
            mobile_no,
            end_user_ip: None,
        }
    }

    async fn send(&self, t: &TestApp) -> (Answer, Duration) {
        let body = json!({
            "client_id": self.client_id, "client_secret": CLIENT_SECRET, "mobile_no": self.mobile_no,
        });
        let mut event = json_event("request-otp", &body);
        if let Some(ip) = &self.end_user_ip {
            event = with_header(event, "x-end-user-ip", ip);
        }
        let started = Instant::now();
        let answer = call(&t.app, Function::RequestOtp, request_of(event)).await;
        (answer, started.elapsed())
    }
}

/// Sends `requests`, each `interval` after the previous (all at once when
/// zero), to the `instances` in turn (as Lambda spreads requests over its
/// instances), and waits for every answer.
pub async fn run(
    instances: &[Arc<TestApp>],
    table: &str,
    requests: Vec<CodeRequest>,
    interval: Duration,
) -> LoadReport {
    let layer = DynamoLayer::get();
    let conflicts_before = layer.conflicts_on(table);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticks = tokio::time::interval(interval.max(Duration::from_nanos(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for (i, request) in requests.into_iter().enumerate() {
        if !interval.is_zero() {
            ticks.tick().await;
        }
        let t = instances[i % instances.len()].clone();
        tasks.spawn(async move { request.send(&t).await });
    }
    let mut report = LoadReport::default();
    while let Some(done) = tasks.join_next().await {
        let (answer, took) = done.expect("a request task");
        report.latencies.push(took);
        match answer.status {
            200 => report.ok += 1,
            429 => report.limited += 1,
            _ => report.other.push(answer),
        }
    }
    report.elapsed = started.elapsed();
    report.latencies.sort();
    report.conflicts = layer.conflicts_on(table) - conflicts_before;
    report
}

/// The `n`-th number of one number range (+66 81234 nnnn).
pub fn number_in_range(n: usize) -> String {
    format!("+6681234{n:04}")
}

/// The `n`-th number, each in a range of its own (+66 8 nnnn 5678).
pub fn number_in_own_range(n: usize) -> String {
    format!("+668{n:04}5678")
}

/// DESIGN §9: `n` concurrent code requests of one client, for `n` phones of
/// one number range, limits raised.
pub async fn burst_of_one_client(n: usize) -> LoadReport {
    let (t, table) = app_with_clients(&[("burst-app", raised_limits())]).await;
    let requests = (0..n)
        .map(|i| CodeRequest::new("burst-app", number_in_range(i)))
        .collect();
    run(&[t], &table, requests, Duration::ZERO).await
}

/// DESIGN §9: `n` concurrent code requests for `n` numbers of one range,
/// each from a client of its own, the range cap raised.
pub async fn burst_of_one_range_across_clients(n: usize) -> LoadReport {
    let ids: Vec<String> = (0..n).map(|i| format!("range-app-{i}")).collect();
    let clients: Vec<(&str, ClientSettings)> = ids
        .iter()
        .map(|id| (id.as_str(), raised_limits()))
        .collect();
    let (t, table) = app_with_clients(&clients).await;
    let requests = ids
        .iter()
        .enumerate()
        .map(|(i, id)| CodeRequest::new(id, number_in_range(i)))
        .collect();
    run(&[t], &table, requests, Duration::ZERO).await
}

/// `per_second` code requests of one client a second for `seconds`, limits
/// raised.
pub async fn sustained_one_client(per_second: u32, seconds: u32) -> LoadReport {
    let (t, table) = app_with_clients(&[("steady-app", raised_limits())]).await;
    let requests = (0..(per_second * seconds) as usize)
        .map(|i| CodeRequest::new("steady-app", number_in_range(i)))
        .collect();
    run(&[t], &table, requests, Duration::from_secs(1) / per_second).await
}

/// The default limits under bursts, each on a client and table of its own:
/// `n` concurrent requests of one client (100 a minute, shared), of one end
/// user's address (10 a minute, own) or of one number range (30 an hour,
/// shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultLimit {
    ClientPerMinute,
    EndUserPerMinute,
    RangePerHour,
}

impl DefaultLimit {
    pub fn value(self) -> usize {
        let defaults = test_settings();
        (match self {
            DefaultLimit::ClientPerMinute => defaults.sends_per_client_per_minute,
            DefaultLimit::EndUserPerMinute => defaults.sends_per_ip_per_minute,
            DefaultLimit::RangePerHour => defaults.sends_per_prefix_per_hour,
        }) as usize
    }
}

/// `n` concurrent requests against `limit`, spread over `instances` apps
/// (Lambda instances) that share one table.
pub async fn burst_against_a_default_limit(
    limit: DefaultLimit,
    n: usize,
    instances: usize,
) -> LoadReport {
    let (t, table) = app_with_clients(&[("default-app", test_settings())]).await;
    let mut apps = vec![t.clone()];
    for _ in 1..instances {
        apps.push(Arc::new(TestApp::over(t.store.clone(), None).await));
    }
    let requests = (0..n)
        .map(|i| match limit {
            DefaultLimit::ClientPerMinute => {
                CodeRequest::new("default-app", number_in_own_range(i))
            }
            DefaultLimit::EndUserPerMinute => CodeRequest {
                end_user_ip: Some("198.51.100.77".into()),
                ..CodeRequest::new("default-app", number_in_own_range(i))
            },
            DefaultLimit::RangePerHour => CodeRequest::new("default-app", number_in_range(i)),
        })
        .collect();
    run(&apps, &table, requests, Duration::ZERO).await
}
