//! DESIGN §5.12 and SECURITY.md "Tenancy and abuse": the attacks an
//! adversarial review ran against the API, each as the attacker would run
//! it, through the real handlers over the in-memory store and over DynamoDB
//! Local behind the layer that applies DynamoDB's conflict rule. Each test
//! is named after the attack it stops; the number is the review's.

use otp_integration_tests::{
    Answer, CLIENT_ID, CLIENT_SECRET, ISSUER, PLAIN_CLIENT_ID, REGISTERED_CLIENT_ID, START_MS,
    TestApp, api_event, api_get, call, dynamo_store_and_table, json_event, refresh_event,
    test_settings, with_header,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::code::Charset;
use otp_shared::http::Function;
use otp_shared::sms::{SmsMessage, SmsRefused, SmsSender};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The store an attack runs over.
#[derive(Clone, Copy)]
enum Engine {
    Memory,
    /// DynamoDB Local, through the layer that applies DynamoDB's conflict
    /// rule.
    DynamoDb,
}

/// What a test attacks: an app, and for DynamoDB the raw table under it.
struct Target {
    t: TestApp,
    table: Option<(aws_sdk_dynamodb::Client, String)>,
}

impl Engine {
    /// An app over this engine, sending through `sms` when given.
    async fn target(self, sms: Option<Arc<dyn SmsSender>>) -> Target {
        match self {
            Engine::Memory => Target {
                t: TestApp::over(Arc::new(otp_integration_tests::memory_store()), sms).await,
                table: None,
            },
            Engine::DynamoDb => {
                let (store, table) = dynamo_store_and_table().await;
                let sdk = otp_integration_tests::aws_config().await;
                Target {
                    t: TestApp::over(Arc::new(store), sms).await,
                    table: Some((aws_sdk_dynamodb::Client::new(&sdk), table)),
                }
            }
        }
    }

    /// An app over this engine, sending to the outbox.
    async fn app(self) -> TestApp {
        self.target(None).await.t
    }
}

macro_rules! against_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(Engine::Memory).await
            })*
        }
        mod dynamodb {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(Engine::DynamoDb).await
            })*
        }
    };
}

against_both_stores!(
    a_login_at_an_open_client_registers_the_phone_at_a_members_only_client,
    a_user_imported_for_one_client_is_registered_at_every_client,
    wrong_codes_at_one_client_lock_the_user_out_of_another,
    sends_at_other_clients_spend_a_clients_own_per_phone_limit,
    decoys_at_a_members_only_client_close_a_number_range_for_every_client,
    a_refused_request_kills_the_users_live_code,
    a_flood_of_refused_requests_holds_the_users_slot,
    a_device_app_forges_end_user_addresses_to_escape_the_per_ip_limit,
    one_ids_directory_answers_id_card_guesses_without_limit,
    one_ids_routes_tell_who_is_registered_at_a_members_only_client,
    decoys_fill_the_sms_ceiling_and_silence_real_users,
    a_cold_instance_tells_unknown_numbers_apart_by_timing,
    a_warm_instance_waits_the_same_for_every_decoy,
    concurrent_wrong_codes_overrun_the_daily_cap,
    esms_asks_for_a_weaker_code_than_the_client_set,
    a_client_without_a_default_region_reads_national_numbers_as_thai,
    a_long_lived_refresh_family_grows_until_dynamodb_refuses_it,
    a_forged_host_header_names_the_issuer,
    another_clients_revocation_ends_a_users_session,
);

const PHONE: &str = "0812345678";

async fn client(t: &TestApp, id: &str, settings: ClientSettings) {
    t.store
        .put_client(&ClientRecord::new(id, CLIENT_SECRET, settings))
        .await
        .unwrap();
}

fn members_only() -> ClientSettings {
    ClientSettings {
        require_registered_users: true,
        ..test_settings()
    }
}

/// Registers `mobile_no` in the directory for `client_id`.
async fn register_for(t: &TestApp, client_id: &str, mobile_no: &str, id_card: &str) {
    t.register(client_id, mobile_no, id_card, "acc-member", "member")
        .await;
}

/// A native code request of `client_id` for `mobile_no`, on behalf of the
/// end user at `end_user_ip` when given.
async fn ask(t: &TestApp, client_id: &str, mobile_no: &str, end_user_ip: Option<&str>) -> Answer {
    let mut body =
        json!({"client_id": client_id, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
    if let Some(ip) = end_user_ip {
        body["end_user_ip"] = json!(ip);
    }
    t.call(Function::RequestOtp, "request-otp", &body).await
}

fn token_of(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["data"]["token"].as_str().unwrap().to_string()
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// A valid Thai ID card number: `n` in its first twelve digits, the check
/// digit last.
fn id_card(n: u64) -> String {
    let body = format!("1{n:011}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * (13 - i as u32))
        .sum();
    format!("{body}{}", (11 - sum % 11) % 10)
}

/// Attack 1: A first login at an open client must register no one anywhere: a
/// members-only client answers the number as unknown and texts nothing.
async fn a_login_at_an_open_client_registers_the_phone_at_a_members_only_client(engine: Engine) {
    let t = engine.app().await;
    let (token, _, code) = t.code_for(PHONE).await;
    let login = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(login.status, 200, "{login:?}");
    let texted = t.outbox.entries().len();
    let answer = ask(&t, REGISTERED_CLIENT_ID, PHONE, None).await;
    assert_eq!(answer.status, 200, "answered as a known number: {answer:?}");
    assert_eq!(
        t.outbox.entries().len(),
        texted,
        "the members-only client texted a number it never registered"
    );
}

/// Attack 1: A user imported for one members-only client is registered for that
/// client only.
async fn a_user_imported_for_one_client_is_registered_at_every_client(engine: Engine) {
    let t = engine.app().await;
    client(&t, "staff", members_only()).await;
    client(&t, "partners", members_only()).await;
    register_for(&t, "staff", PHONE, &id_card(1)).await;
    assert_eq!(ask(&t, "staff", PHONE, None).await.status, 200);
    assert_eq!(t.outbox.entries().len(), 1, "staff texts its own user");
    let answer = ask(&t, "partners", PHONE, None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        t.outbox.entries().len(),
        1,
        "partners texted a user imported for staff only"
    );
}

/// Attack 2: Wrong codes typed at one client count on that client's daily cap
/// only: the user's right code at another client still logs them in.
async fn wrong_codes_at_one_client_lock_the_user_out_of_another(engine: Engine) {
    let t = engine.app().await;
    let strict = ClientSettings {
        failed_confirms_per_phone_per_day: 5,
        ..test_settings()
    };
    client(&t, "strict", strict).await;
    let (token, _, code) = t.code_for(PHONE).await;
    for _ in 0..5 {
        let answer = t.confirm_by_token(CLIENT_ID, &token, wrong(&code)).await;
        assert_eq!(answer.status, 400, "{answer:?}");
    }
    let sent = ask(&t, "strict", PHONE, None).await;
    let token = token_of(&sent);
    let right = t
        .confirm_by_token("strict", &token, &t.last_sms().code)
        .await;
    assert_eq!(right.status, 200, "the right code at strict: {right:?}");
}

/// Attack 2: Codes sent by other clients count on their own per-phone limits, not
/// on this client's.
async fn sends_at_other_clients_spend_a_clients_own_per_phone_limit(engine: Engine) {
    let t = engine.app().await;
    let strict = ClientSettings {
        sends_per_phone_per_hour: 2,
        ..test_settings()
    };
    client(&t, "strict", strict).await;
    client(&t, "shop-a", test_settings()).await;
    client(&t, "shop-b", test_settings()).await;
    assert_eq!(ask(&t, "shop-a", PHONE, None).await.status, 200);
    assert_eq!(ask(&t, "shop-b", PHONE, None).await.status, 200);
    let first = ask(&t, "strict", PHONE, None).await;
    assert_eq!(first.status, 200, "strict's first code: {first:?}");
}

/// Attack 2: Requests for unknown numbers at a members-only client (decoys, nothing
/// sent) count on that client's own range cap only: another client still
/// texts a number of the range.
async fn decoys_at_a_members_only_client_close_a_number_range_for_every_client(engine: Engine) {
    let t = engine.app().await;
    for n in 0..ClientSettings::default().sends_per_prefix_per_hour {
        let answer = ask(&t, REGISTERED_CLIENT_ID, &format!("08123400{n:02}"), None).await;
        assert_eq!(answer.status, 200, "decoy {n}: {answer:?}");
    }
    assert!(t.outbox.entries().is_empty(), "decoys send nothing");
    let open = ask(&t, CLIENT_ID, PHONE, None).await;
    assert_eq!(
        open.status, 200,
        "an open client's user in that range: {open:?}"
    );
    assert_eq!(t.outbox.entries().len(), 1);
}

/// Attack 3: A request refused by a limit (here: the attacker's own per-address
/// minute, spent) leaves the user's live code, its cooldown and every
/// counter as they were.
async fn a_refused_request_kills_the_users_live_code(engine: Engine) {
    let t = engine.app().await;
    let shop = ClientSettings {
        sends_per_ip_per_minute: 1,
        ..test_settings()
    };
    client(&t, "shop", shop).await;
    let user_ip = "198.51.100.7";
    let attacker_ip = "203.0.113.66";
    let token = token_of(&ask(&t, "shop", PHONE, Some(user_ip)).await);
    let code = t.last_sms().code;
    t.clock.set(START_MS + 61_000);
    assert_eq!(
        ask(&t, "shop", "0899990001", Some(attacker_ip))
            .await
            .status,
        200
    );
    let refused = ask(&t, "shop", PHONE, Some(attacker_ip)).await;
    assert_eq!(
        (refused.status, refused.error()),
        (429, "rate_limited"),
        "{refused:?}"
    );
    let right = t.confirm_by_token("shop", &token, &code).await;
    assert_eq!(right.status, 200, "the user's live code: {right:?}");
    // Nor did it count on the phone: the four codes left of its five an
    // hour are all the user's, one a minute (the user's address's limit).
    for minute in 2..6 {
        t.clock.set(START_MS + minute * 60_000 + 1_000);
        let again = ask(&t, "shop", PHONE, Some(user_ip)).await;
        assert_eq!(again.status, 200, "minute {minute}: {again:?}");
    }
    t.clock.set(START_MS + 6 * 60_000 + 1_000);
    let sixth = ask(&t, "shop", PHONE, Some(user_ip)).await;
    assert_eq!(sixth.status, 429, "the sixth of the hour: {sixth:?}");
}

/// Attack 3: a caller whose own minute is spent floods requests for the
/// user's number; each is refused before it touches anything, so the
/// user's own request, at the same moment, is never told to wait.
async fn a_flood_of_refused_requests_holds_the_users_slot(engine: Engine) {
    let t = engine.app().await;
    let shop = ClientSettings {
        sends_per_ip_per_minute: 1,
        ..test_settings()
    };
    client(&t, "shop", shop).await;
    let attacker_ip = "203.0.113.66";
    assert_eq!(
        ask(&t, "shop", "0899990001", Some(attacker_ip))
            .await
            .status,
        200
    );
    // Every store call takes a while, as on the network, so that the
    // flood's requests are in flight when the user's arrives.
    t.faults.delay_every_call(Duration::from_millis(10));
    let flood = (0..20).map(|_| ask(&t, "shop", PHONE, Some(attacker_ip)));
    let user = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        ask(&t, "shop", PHONE, Some("198.51.100.7")).await
    };
    let (flood, user) = tokio::join!(futures_util::future::join_all(flood), user);
    assert_eq!(user.status, 200, "the user's own request: {user:?}");
    assert!(flood.iter().all(|a| a.status == 429), "{flood:?}");
}

/// Attack 4: For a client whose callers are the users' own devices, the per-IP
/// limit counts the address API Gateway saw; a forwarded one is not taken.
async fn a_device_app_forges_end_user_addresses_to_escape_the_per_ip_limit(engine: Engine) {
    let t = engine.app().await;
    let device_app = ClientSettings {
        callers_are_end_users: true,
        sends_per_ip_per_minute: 3,
        ..test_settings()
    };
    client(&t, "device-app", device_app).await;
    let mut admitted = 0;
    for n in 0..6 {
        // Each number in a range of its own; every request from one device.
        let body = json!({
            "client_id": "device-app", "client_secret": CLIENT_SECRET,
            "mobile_no": format!("0812{n:02}5678"),
        });
        let event = with_header(
            json_event("request-otp", &body),
            "x-end-user-ip",
            &format!("198.51.100.{n}"),
        );
        if t.call_event(Function::RequestOtp, event).await.status == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3, "one device, 3 codes a minute");
}

/// Attack 5: One ID's explicit directory answers (`user mobile not found`,
/// `id_card_num mismatch`) count on the request's limits and its cooldown:
/// guessing a user's ID card is not free.
async fn one_ids_directory_answers_id_card_guesses_without_limit(engine: Engine) {
    let t = engine.app().await;
    register_for(&t, CLIENT_ID, PHONE, &id_card(1)).await;
    let mut answers = vec![];
    for guess in 2..17 {
        let body = json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "mobile_no": PHONE, "id_card_num": id_card(guess),
        });
        let event = with_header(
            json_event("oneid-request", &body),
            "x-end-user-ip",
            "203.0.113.66",
        );
        let answer = t.call_event(Function::RequestOtp, event).await;
        answers.push(
            answer.body["errorMessage"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(answers[0], "id_card_num mismatch");
    assert_eq!(
        answers[1], "please wait about 1 minute before request OTP again",
        "the next guess waits out the cooldown: {answers:?}"
    );
    let mismatches = answers
        .iter()
        .filter(|a| *a == "id_card_num mismatch")
        .count();
    assert!(
        mismatches < 15,
        "15 guesses, every one answered: {answers:?}"
    );
    assert!(t.outbox.entries().is_empty());
}

/// Attack 5, through another route: a members-only client that did not ask
/// for One ID's own 404s (`reveal_unknown_users`) answers on the One ID
/// routes as on every other: an unknown number, or a known one with
/// another ID card, as a known one, and nothing is sent.
async fn one_ids_routes_tell_who_is_registered_at_a_members_only_client(engine: Engine) {
    let t = engine.app().await;
    let members = ClientSettings {
        reveal_unknown_users: false,
        ..members_only()
    };
    client(&t, "members", members).await;
    register_for(&t, "members", PHONE, &id_card(1)).await;
    let t = &t;
    let one_id = |mobile_no: &str, card: u64| {
        let body = json!({
            "client_id": "members", "client_secret": CLIENT_SECRET,
            "mobile_no": mobile_no, "id_card_num": id_card(card),
        });
        async move { t.call(Function::RequestOtp, "oneid-request", &body).await }
    };
    let known = one_id(PHONE, 1).await;
    assert_eq!(t.outbox.entries().len(), 1, "the registered user's code");
    let unknown = one_id("0822222222", 1).await;
    let other_card = one_id("0833333333", 2).await;
    register_for(t, "members", "0833333333", &id_card(3)).await;
    let wrong_card = one_id("0833333333", 4).await;
    assert_eq!(t.outbox.entries().len(), 1, "nothing sent to the others");
    let shape = |a: &Answer| {
        (
            a.status,
            a.body["result"].clone(),
            a.body["data"]["ref_code"].is_string(),
        )
    };
    for answer in [&unknown, &other_card] {
        assert_eq!(shape(answer), shape(&known), "{answer:?}");
    }
    // Asked again within the minute, as for a known number: the cooldown.
    assert_eq!(
        wrong_card.body["errorMessage"],
        "please wait about 1 minute before request OTP again"
    );
}

/// Attack 6: Decoys send nothing, so they count nothing on the hourly SMS ceiling:
/// after them a registered user still gets a code.
async fn decoys_fill_the_sms_ceiling_and_silence_real_users(engine: Engine) {
    let t = engine.app().await;
    let members = ClientSettings {
        sms_ceiling_per_hour: 3,
        ..members_only()
    };
    client(&t, "members", members).await;
    register_for(&t, "members", PHONE, &id_card(1)).await;
    for n in 0..3 {
        let answer = ask(&t, "members", &format!("0812{n:02}9999"), None).await;
        assert_eq!(answer.status, 200, "decoy {n}");
    }
    assert_eq!(ask(&t, "members", PHONE, None).await.status, 200);
    assert_eq!(
        t.outbox.entries().len(),
        1,
        "the registered user's code was sent"
    );
}

/// Takes as long as its sends are told to, in turn, and counts them.
struct TimedSms {
    delays: Vec<Duration>,
    sent: AtomicUsize,
}

#[async_trait::async_trait]
impl SmsSender for TimedSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        otp_integration_tests::logs::secrets().code(&message.code);
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delays[n % self.delays.len()]).await;
        Ok(())
    }
}

async fn timed(t: &TestApp, mobile_no: &str) -> Duration {
    let started = Instant::now();
    let answer = ask(t, REGISTERED_CLIENT_ID, mobile_no, None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    started.elapsed()
}

/// Attack 7: On an instance that has sent nothing yet, a request for an unknown
/// number still waits as a first send would (a new TLS connection to the
/// provider, then the send): 100 ms at least.
async fn a_cold_instance_tells_unknown_numbers_apart_by_timing(engine: Engine) {
    let sms = Arc::new(TimedSms {
        delays: vec![Duration::from_millis(150)],
        sent: AtomicUsize::new(0),
    });
    let t = engine.target(Some(sms.clone())).await.t;
    // The client record is read once; the first request would pay for it.
    let _ = ask(&t, REGISTERED_CLIENT_ID, "12", None).await;
    let unknown = timed(&t, "0822222222").await;
    assert_eq!(sms.sent.load(Ordering::SeqCst), 0);
    assert!(
        unknown >= Duration::from_millis(100),
        "a cold instance answered an unknown number in {unknown:?}"
    );
}

/// Attack 7: A warm instance's waits for unknown numbers are drawn from how long
/// its sends took, not one constant that stands apart from their spread.
async fn a_warm_instance_waits_the_same_for_every_decoy(engine: Engine) {
    let sms = Arc::new(TimedSms {
        delays: [20, 90, 160, 230, 300].map(Duration::from_millis).to_vec(),
        sent: AtomicUsize::new(0),
    });
    let t = engine.target(Some(sms.clone())).await.t;
    for n in 0..10 {
        let mobile_no = format!("0813{n:02}1111");
        register_for(&t, REGISTERED_CLIENT_ID, &mobile_no, &id_card(1)).await;
        timed(&t, &mobile_no).await;
    }
    let mut waits = vec![];
    for n in 0..20 {
        waits.push(timed(&t, &format!("0814{n:02}2222")).await);
    }
    assert_eq!(sms.sent.load(Ordering::SeqCst), 10);
    waits.sort();
    let spread = waits[waits.len() - 1] - waits[0];
    assert!(
        spread >= Duration::from_millis(150),
        "sends took 20 to 300 ms; every decoy waited within {spread:?} of the others: {waits:?}"
    );
}

/// Attack 8: The daily cap on wrong codes holds against wrong codes sent all at
/// once: no more are compared than the cap allows.
async fn concurrent_wrong_codes_overrun_the_daily_cap(engine: Engine) {
    let t = engine.app().await;
    let capped = ClientSettings {
        failed_confirms_per_phone_per_day: 2,
        ..test_settings()
    };
    client(&t, "capped", capped).await;
    let token = token_of(&ask(&t, "capped", PHONE, None).await);
    let code = t.last_sms().code;
    // Every store call takes a while, as on the network.
    t.faults.delay_every_call(Duration::from_millis(20));
    let guess = || t.confirm_by_token("capped", &token, wrong(&code));
    let (a, b, c, d, e) = tokio::join!(guess(), guess(), guess(), guess(), guess());
    let answers = [a, b, c, d, e];
    let compared = answers.iter().filter(|a| a.status == 400).count();
    assert!(
        compared <= 2,
        "{compared} wrong codes compared under a cap of 2: {:?}",
        answers
            .iter()
            .map(|a| (a.status, a.error()))
            .collect::<Vec<_>>()
    );
}

/// Attack 9: A request may not ask for a weaker code than the client configured:
/// eSMS's `NumCharOfCode` and `IsNumber` may strengthen it only.
async fn esms_asks_for_a_weaker_code_than_the_client_set(engine: Engine) {
    let t = engine.app().await;
    let strong = ClientSettings {
        code_length: Some(8),
        code_charset: Charset::Alphanumeric,
        ..test_settings()
    };
    client(&t, "strong", strong).await;
    let template =
        otp_integration_tests::dialects::percent_encoded(&test_settings().templates["en"]);
    let gencode = |extra: &str| {
        api_get(
            "esms-gencode-get",
            &format!(
                "Phone=0812345678&ApiKey=strong&SecretKey={CLIENT_SECRET}&Brandname=TestSender&Type=2&message={template}&{extra}"
            ),
        )
    };
    for weaker in ["NumCharOfCode=4", "IsNumber=1"] {
        let answer = call(&t.app, Function::RequestOtp, gencode(weaker)).await;
        assert_ne!(answer.body["CodeResult"], "100", "{weaker}: {answer:?}");
    }
    assert!(t.outbox.entries().is_empty(), "no weaker code was sent");
    let stronger = call(&t.app, Function::RequestOtp, gencode("NumCharOfCode=10")).await;
    assert_eq!(stronger.body["CodeResult"], "100", "{stronger:?}");
    assert_eq!(t.last_sms().code.len(), 10);
}

/// Attack 10: A client names its default region (or has only one calling code):
/// national numbers are never read as Thai by default.
async fn a_client_without_a_default_region_reads_national_numbers_as_thai(engine: Engine) {
    let t = engine.app().await;
    let vietnamese: ClientSettings = serde_json::from_value(json!({
        "brand": "Shop", "sender_ids": ["TestSender"], "allowed_calling_codes": ["84"],
    }))
    .unwrap();
    client(&t, "vn-shop", vietnamese).await;
    let answer = ask(&t, "vn-shop", "0912345678", None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(t.last_sms().to, "+84912345678");
    let ambiguous: ClientSettings = serde_json::from_value(json!({
        "brand": "Shop", "sender_ids": ["TestSender"], "allowed_calling_codes": ["66", "84"],
    }))
    .unwrap();
    assert!(
        ambiguous.validate().is_err(),
        "two calling codes and no default region"
    );
}

/// Attack 11: A refresh family's stored size stays bounded however often it is
/// rotated (DynamoDB refuses items over 400 KB), and a long-spent token
/// still ends the family.
async fn a_long_lived_refresh_family_grows_until_dynamodb_refuses_it(engine: Engine) {
    let Target { t, table } = engine.target(None).await;
    let (token, _, code) = t.code_for(PHONE).await;
    let login = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let first = login.body["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut current = first.clone();
    for n in 0..300 {
        let answer = t
            .call_event(Function::IssueToken, refresh_event(&current))
            .await;
        assert_eq!(answer.status, 200, "rotation {n}: {answer:?}");
        current = answer.body["refresh_token"].as_str().unwrap().to_string();
    }
    if let Some((dynamodb, table)) = table {
        let items = dynamodb.scan().table_name(&table).send().await.unwrap();
        let family = items
            .items()
            .iter()
            .find(|item| item["pk"].as_s().is_ok_and(|pk| pk.starts_with("refresh#")))
            .expect("the family's item");
        let size = format!("{family:?}").len();
        assert!(
            size < 2_000,
            "after 300 rotations the family takes {size} bytes"
        );
    }
    let reused = t
        .call_event(Function::IssueToken, refresh_event(&first))
        .await;
    assert_eq!(reused.body["error"], "invalid_grant");
    let after = t
        .call_event(Function::IssueToken, refresh_event(&current))
        .await;
    assert_eq!(
        after.body["error"], "invalid_grant",
        "the first token, 300 rotations old, ended the family"
    );
}

/// Attack 12: The issuer is the deployment's, whatever `Host` a caller sends:
/// discovery and tokens never name another.
async fn a_forged_host_header_names_the_issuer(engine: Engine) {
    let t = engine.app().await;
    let forged = |event: Value| with_header(event, "host", "evil.example");
    let discovery = t
        .call_event(
            Function::IssueToken,
            forged(api_event("openid-configuration", None, None)),
        )
        .await;
    assert_eq!(discovery.body["issuer"], ISSUER, "{discovery:?}");
    assert!(
        !discovery.body.to_string().contains("evil.example"),
        "{discovery:?}"
    );
    let (token, _, code) = t.code_for(PHONE).await;
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": token, "otp": code});
    let login = t
        .call_event(
            Function::ConfirmOtp,
            forged(json_event("confirm-otp", &body)),
        )
        .await;
    let jwt = login.body["data"]["access_token"].as_str().unwrap();
    let claims = jwt.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&otp_shared::domain::keys::b64_decode(claims).unwrap()).unwrap();
    assert_eq!(claims["iss"], ISSUER);
}

/// Attack 13: Revoking another client's refresh token is answered as RFC 7009
/// says (200) and changes nothing: the owner's session goes on.
async fn another_clients_revocation_ends_a_users_session(engine: Engine) {
    let t = engine.app().await;
    let (token, _, code) = t.code_for(PHONE).await;
    let login = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let refresh = login.body["data"]["refresh_token"].as_str().unwrap();
    let form = format!(
        "token={refresh}&token_type_hint=refresh_token&client_id={PLAIN_CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let revoke = api_event(
        "revoke",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    );
    let revoked = t.call_event(Function::IssueToken, revoke).await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let after = t
        .call_event(Function::IssueToken, refresh_event(refresh))
        .await;
    assert_eq!(after.status, 200, "the owner's refresh: {after:?}");
}
