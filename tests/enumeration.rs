//! DESIGN §5.9: for a client that serves only registered users, an unknown
//! number gets the answer a known one gets — same status, same body shape,
//! similar latency — and nothing is sent. Sends are given an SNS-like delay.

use async_trait::async_trait;
use otp_integration_tests::{Answer, CLIENT_SECRET, TestApp, memory_store, test_settings};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use otp_shared::sms::{SmsMessage, SmsRefused, SmsSender};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Takes as long as an SNS publish typically does, and counts what it sends.
struct SlowSms {
    delay: Duration,
    sent: AtomicUsize,
}

#[async_trait]
impl SmsSender for SlowSms {
    async fn send(&self, _message: &SmsMessage) -> Result<(), SmsRefused> {
        tokio::time::sleep(self.delay).await;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

const CLIENT: &str = "members-only";
const ROUNDS: usize = 200;

fn known(i: usize) -> String {
    format!("08{i:04}1111")
}
fn unknown(i: usize) -> String {
    format!("08{i:04}2222")
}

async fn request(t: &TestApp, mobile_no: &str) -> (Answer, Duration) {
    let body = json!({"client_id": CLIENT, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
    let started = Instant::now();
    let answer = t.call(Function::RequestOtp, "request-otp", &body).await;
    (answer, started.elapsed())
}

fn shape(answer: &Answer) -> (u16, Vec<String>, usize) {
    let data = answer.body["data"].as_object().expect("a data object");
    let token = data["token"].as_str().unwrap().len();
    (answer.status, data.keys().cloned().collect(), token)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn rule_5_9_unknown_numbers_answer_like_known_ones_and_send_nothing() {
    let sms = Arc::new(SlowSms {
        delay: Duration::from_millis(15),
        sent: AtomicUsize::new(0),
    });
    let t = TestApp::over(Arc::new(memory_store()), Some(sms.clone())).await;
    let settings = ClientSettings {
        require_registered_users: true,
        sends_per_ip_per_minute: 10_000,
        sends_per_client_per_minute: 100_000,
        sms_ceiling_per_hour: 100_000,
        ..test_settings()
    };
    t.store
        .put_client(&ClientRecord::new(CLIENT, CLIENT_SECRET, settings))
        .await
        .unwrap();
    for i in 0..ROUNDS + 5 {
        t.register(
            &known(i),
            "1234567890121",
            &format!("acc-{i}"),
            &format!("user{i}"),
        )
        .await;
    }
    // Warm-up: the first sends teach the service how long sending takes.
    for i in ROUNDS..ROUNDS + 5 {
        assert_eq!(request(&t, &known(i)).await.0.status, 200);
    }

    let (mut known_times, mut unknown_times) = (vec![], vec![]);
    for i in 0..ROUNDS {
        let (k, k_time) = request(&t, &known(i)).await;
        let (u, u_time) = request(&t, &unknown(i)).await;
        assert_eq!(shape(&k), shape(&u));
        assert_eq!(k.body["result"], u.body["result"]);
        known_times.push(k_time);
        unknown_times.push(u_time);
    }
    assert_eq!(
        sms.sent.load(Ordering::SeqCst),
        ROUNDS + 5,
        "nothing sent to unknown numbers"
    );

    let (k, u) = (median(known_times), median(unknown_times));
    let gap = k.abs_diff(u);
    assert!(
        gap <= Duration::from_millis(5).max(k / 4),
        "median latency known {k:?} vs unknown {u:?}"
    );
}
