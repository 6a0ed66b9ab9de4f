//! SMS pumping through the hosted page (DESIGN §14), scripted: a botnet
//! asks the page of a public client to text every number of one number
//! range, from many addresses, each request carrying a proof of work solved
//! at the default cost. The requests are spread over enough Lambda
//! instances that none of them raises the proof's cost (the cost rises
//! with each instance's own velocity of the client and of the range), which
//! is the attacker's best case.
//! The per-range cap must hold the texts to a handful, raise the pumping
//! alert, and leave the client's other users their codes.
//!
//! Its size is `OTP_PAGE_ATTACK_SENDS` (1,000 in `make test`; `make bench`
//! runs 10,000 from 1,000 addresses, the whole range), over ten minutes of
//! the test clock.

use otp_integration_tests::logs::{Capture, capture_process, process_log_mark, process_logs_since};
use otp_integration_tests::page::{field, form, pow_challenge, solved};
use otp_integration_tests::{TestApp, api_at, call_text, form_from, test_settings};
use otp_shared::App;
use otp_shared::clock::Clock;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::pow::RANGE_SENDS_PER_MINUTE_AT_BASE_COST;
use otp_shared::http::Function;
use otp_shared::service::with_query;

const SPA: &str = "pumped-spa";
const CALLBACK: &str = "https://app.example.com/callback";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The attacked range: +66 81234 xxxx, all but the last four digits shared.
const RANGE: &str = "+6681234";
/// A user of another range, asking for a code while the attack runs.
const BYSTANDER: &str = "0898765432";
const ATTACK_MINUTES: i64 = 10;

/// The page's answer to `mobile_no` from `source_ip`, on `instance`, after
/// it showed the page and its proof of work was solved; and the proof's
/// cost, or `u64::MAX` when the answer asked for a dearer one.
async fn page_send(instance: &App, mobile_no: &str, source_ip: &str) -> (u16, u64) {
    let query = with_query(
        "",
        &[
            ("response_type", "code"),
            ("client_id", SPA),
            ("redirect_uri", CALLBACK),
            ("state", "s"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let request = api_at(
        "oauth2-authorize",
        "/oauth2/authorize",
        Some(&query[1..]),
        None,
    );
    let page = call_text(instance, Function::RequestOtp, request).await;
    assert_eq!(page.status, 200, "{page:?}");
    let cost = pow_challenge(&page.body)["maxnumber"].as_u64().unwrap();
    let body = form(&[
        ("page", &field(&page.body, "page")),
        ("altcha", &solved(&page.body)),
        ("mobile_no", mobile_no),
    ]);
    let request = form_from(
        "oauth2-authorize-code",
        "/oauth2/authorize/code",
        &body,
        source_ip,
    );
    let sent = call_text(instance, Function::RequestOtp, request).await;
    let dearer = sent.body.contains("data-again");
    (sent.status, if dearer { u64::MAX } else { cost })
}

#[tokio::test]
async fn rule_14_a_botnet_pumping_one_number_range_through_the_page_texts_a_handful_and_raises_the_alert()
 {
    // Error-level alerts are what this counts; the handlers' debug lines of
    // thousands of requests would only be scanned for secrets.
    capture_process(Capture::AtLevel(tracing::Level::INFO));
    let sends: u32 = std::env::var("OTP_PAGE_ATTACK_SENDS")
        .map(|n| n.parse().expect("OTP_PAGE_ATTACK_SENDS is a number"))
        .unwrap_or(1_000);
    assert!(
        (100..=10_000).contains(&sends),
        "one range holds 10,000 numbers"
    );
    let addresses = sends / 10;
    let per_minute = i64::from(sends) / ATTACK_MINUTES;
    // Each instance below the range's velocity that would raise its
    // proof's cost (the client's is ten times higher).
    let instance_count =
        (per_minute / (i64::from(RANGE_SENDS_PER_MINUTE_AT_BASE_COST) - 1)) as usize + 1;

    let t = TestApp::memory().await;
    let settings = ClientSettings {
        public: true,
        hosted_page: true,
        redirect_uris: vec![CALLBACK.into()],
        ..test_settings()
    };
    let range_cap = settings.sends_per_prefix_per_hour;
    t.store
        .put_client(&ClientRecord::new(SPA, "nobody-knows-this", settings))
        .await
        .unwrap();
    // The attack starts with an hour, so that one window holds all of it.
    let hour_ms = 3_600_000;
    t.clock
        .set((t.clock.now_ms().div_euclid(hour_ms) + 1) * hour_ms);
    let instances: Vec<App> = (0..instance_count).map(|_| t.another_instance()).collect();
    let base_cost = u64::from(t.app.config.pow_max_number);
    let step_ms = ATTACK_MINUTES * 60_000 / i64::from(sends);
    let mark = process_log_mark();

    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    let mut bystander = None;
    for i in 0..sends {
        let instance = &instances[i as usize % instance_count];
        let address = i % addresses;
        let source_ip = format!("198.51.{}.{}", address / 250, address % 250 + 1);
        let (status, cost) = page_send(instance, &format!("081234{i:04}"), &source_ip).await;
        assert_eq!(cost, base_cost, "send {i}: every proof at the default cost");
        *statuses.entry(status).or_default() += 1;
        if i == sends / 2 {
            let before = t.outbox.entries().len();
            let (status, _) = page_send(instance, BYSTANDER, "192.0.2.77").await;
            let texted = t.outbox.entries()[before..]
                .iter()
                .any(|sms| sms.to == "+66898765432");
            bystander = Some((status, texted));
        }
        t.clock.set(t.clock.now_ms() + step_ms);
    }

    let texted_to_range = t
        .outbox
        .entries()
        .iter()
        .filter(|sms| sms.to.starts_with(RANGE))
        .count();
    let capped = t.metrics.count("RefusedPumpingCap", SPA, Some("66"));
    let alerts = process_logs_since(mark)
        .lines()
        .filter(|line| line.contains("number_range_capped"))
        .count();
    println!(
        "{sends} page sends from {addresses} addresses to {sends} numbers of {RANGE}xxxx over \
         {ATTACK_MINUTES} minutes on {instance_count} instances, every proof at the default cost \
         ({base_cost}): answers {statuses:?}; {texted_to_range} SMS texted to the range (its cap \
         {range_cap} an hour), {capped} refused by the range cap, {alerts} alert lines; \
         the bystander of another range: {bystander:?}"
    );
    assert!(
        (1..=25).contains(&texted_to_range),
        "{texted_to_range} SMS to the range"
    );
    assert_eq!(texted_to_range as u32, range_cap.min(sends));
    assert_eq!(capped, u64::from(sends) - texted_to_range as u64);
    assert_eq!(alerts as u64, capped, "an alert line with every refusal");
    assert_eq!(
        bystander,
        Some((200, true)),
        "a user of another range gets a code on the first try"
    );
}
