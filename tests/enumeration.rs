//! DESIGN §5.9: for a client that serves only registered users, an unknown
//! number gets the answer a known one gets — same status, same body shape,
//! similar latency — and nothing is sent. Sends are given an SNS-like delay;
//! on DynamoDB, the AWS calls are counted and timed through proxies that
//! hold each one for a fixed delay.

use async_trait::async_trait;
use otp_integration_tests::delay::DelayingProxy;
use otp_integration_tests::{
    Answer, CLIENT_SECRET, TestApp, aws_config, dynamodb_local_url, fresh_table, memory_store,
    moto_url, test_settings,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use otp_shared::sms::SnsSender;
use otp_shared::sms::{SmsMessage, SmsRefused, SmsSender};
use otp_shared::store::DynamoStore;
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

async fn members_only_client(t: &TestApp) {
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
}

#[tokio::test]
async fn rule_5_9_unknown_numbers_answer_like_known_ones_and_send_nothing() {
    let sms = Arc::new(SlowSms {
        delay: Duration::from_millis(15),
        sent: AtomicUsize::new(0),
    });
    let t = TestApp::over(Arc::new(memory_store()), Some(sms.clone())).await;
    members_only_client(&t).await;
    for i in 0..ROUNDS + 5 {
        t.register(
            CLIENT,
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

/// What one request cost: sequential round trips (its duration in whole
/// proxy delays), DynamoDB calls, SNS calls.
#[derive(Debug, PartialEq, Eq)]
struct Cost {
    round_trips: u128,
    dynamodb_calls: usize,
    sns_calls: usize,
}

const HELD: Duration = Duration::from_millis(250);

/// The counters only sends count, given back by a request that sends nothing.
const SENDS_ONLY_COUNTERS: usize = 2;

async fn cost(
    t: &TestApp,
    proxies: &[DelayingProxy; 2],
    mobile_no: &str,
    id_card_num: Option<&str>,
) -> Cost {
    let mut body =
        json!({"client_id": CLIENT, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
    if let Some(card) = id_card_num {
        body["id_card_num"] = json!(card);
    }
    let before = [proxies[0].requests(), proxies[1].requests()];
    let started = Instant::now();
    let answer = t.call(Function::RequestOtp, "request-otp", &body).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{answer:?}");
    Cost {
        round_trips: (took.as_millis() + HELD.as_millis() / 2) / HELD.as_millis(),
        dynamodb_calls: proxies[0].requests() - before[0],
        sns_calls: proxies[1].requests() - before[1],
    }
}

/// On DynamoDB, a known number, an unknown one and a known one with another
/// ID card cost the same sequential round trips: the SNS publish of a known
/// number matched by a wait as long as sends take, beside the same write
/// that starts the challenge. The calls differ only by what a request that
/// sends nothing gives back at once, beside that write: its count on the
/// counters only sends count (the deployment's per-phone cap and the SMS
/// ceiling, DESIGN §5.8). Counted through proxies that hold every call
/// 250 ms, so one round trip more or less shows as a whole step, not in a
/// median.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_9_unknown_numbers_cost_the_same_round_trips_on_dynamodb() {
    let proxies = [
        DelayingProxy::start(&dynamodb_local_url(), HELD),
        DelayingProxy::start(&moto_url(), HELD),
    ];
    let sdk = aws_config().await;
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(&proxies[0].url)
        .build();
    let sns = aws_sdk_sns::config::Builder::from(&sdk)
        .endpoint_url(&proxies[1].url)
        .build();
    let (_, table) = fresh_table().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), table);
    let sender = SnsSender::new(aws_sdk_sns::Client::from_conf(sns));
    let t = TestApp::over(Arc::new(store), Some(Arc::new(sender))).await;
    members_only_client(&t).await;
    for i in 0..3 {
        let account = format!("acc-{i}");
        t.register(CLIENT, &known(i), "1234567890121", &account, &account)
            .await;
    }
    // Warm: the client record is cached, the connections are open and the
    // send time is learned.
    for i in 3..6 {
        let account = format!("acc-{i}");
        t.register(CLIENT, &known(i), "1234567890121", &account, &account)
            .await;
        cost(&t, &proxies, &known(i), None).await;
    }

    let known_number = cost(&t, &proxies, &known(1), None).await;
    let unknown_number = cost(&t, &proxies, &unknown(1), None).await;
    let other_id_card = cost(&t, &proxies, &known(2), Some("1101700230708")).await;
    assert_eq!(
        known_number,
        Cost {
            round_trips: 2,
            dynamodb_calls: known_number.dynamodb_calls,
            sns_calls: 1
        }
    );
    let nothing_sent = |cost: &Cost| Cost {
        sns_calls: 1,
        dynamodb_calls: cost.dynamodb_calls - SENDS_ONLY_COUNTERS,
        ..*cost
    };
    assert_eq!(
        nothing_sent(&unknown_number),
        known_number,
        "unknown number"
    );
    assert_eq!(
        nothing_sent(&other_id_card),
        known_number,
        "another ID card"
    );
    assert_eq!((unknown_number.sns_calls, other_id_card.sns_calls), (0, 0));
}
