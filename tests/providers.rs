//! DESIGN §13: a client's ordered SMS providers, through the real request
//! handler in every dialect. A send hook takes the code, signed; one that
//! fails, refuses, stalls or whose secret cannot be had moves the SAME code
//! to the next provider within the function's time; when none takes it the
//! code is undeliverable, as for SNS alone. (A receiver built on Standard
//! Webhooks' own library verifies the signatures: tests/webhook_receiver.py.)

use otp_integration_tests::black_hole::BlackHole;
use otp_integration_tests::dialects::{DIALECTS, Dialect};
use otp_integration_tests::hook::Hook;
use otp_integration_tests::{RefusingSms, TestApp, memory_store, test_config, test_settings};
use otp_shared::clock::Clock;
use otp_shared::config::{Config, Timeouts};
use otp_shared::domain::client::ClientSettings;
use otp_shared::domain::provider::{SmsProvider, WebhookSettings};
use otp_shared::sms::SmsSender;
use otp_shared::sms::secrets::MemorySecrets;
use otp_shared::sms::webhook::signature;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PHONE: &str = "0812345678";
const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp/sms-provider/test-app/hook-AbCdEf";
const MISSING_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp/sms-provider/test-app/none-AbCdEf";
/// `whsec_` and the base64 of a 32-byte key.
const SIGNING_SECRET: &str = "whsec_YSBzZW5kIGhvb2sncyBrZXksIDMyIGJ5dGVzIGxvbmc=";

fn hook_then_sns(url: &str, secret_arn: &str) -> ClientSettings {
    ClientSettings {
        sms_providers: vec![
            SmsProvider::Webhook(WebhookSettings {
                url: url.to_string(),
                secret_arn: secret_arn.to_string(),
            }),
            SmsProvider::Sns {},
        ],
        ..test_settings()
    }
}

async fn app_with(
    settings: ClientSettings,
    sms: Option<Arc<dyn SmsSender>>,
    config: Config,
) -> TestApp {
    let secrets = HashMap::from([(
        SECRET_ARN.to_string(),
        format!(r#"{{"signing_secret": "{SIGNING_SECRET}"}}"#),
    )]);
    let t = TestApp::with_providers(
        Arc::new(memory_store()),
        sms,
        config,
        Arc::new(MemorySecrets::new(secrets)),
    )
    .await;
    t.serve_test_client(settings, PHONE).await;
    t
}

#[tokio::test]
async fn a_send_hook_takes_the_code_signed_in_every_dialect() {
    let hook = Hook::start().await;
    for dialect in DIALECTS {
        let t = app_with(hook_then_sns(&hook.url, SECRET_ARN), None, test_config()).await;
        hook.clear();
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
        let received = hook.received();
        assert_eq!(received.len(), 1, "{dialect:?}");
        let request = &received[0];
        let event = request.event();
        let id = &request.headers["webhook-id"];
        let timestamp: i64 = request.headers["webhook-timestamp"].parse().unwrap();
        let key = base64_key(SIGNING_SECRET);
        assert_eq!(
            request.headers["webhook-signature"],
            signature(&key, id, timestamp, &request.body),
            "{dialect:?}"
        );
        assert_eq!(timestamp, t.clock.now_ms() / 1000, "the app's clock");
        assert_eq!(event["type"], "otp.send");
        assert_eq!(&event["challenge_id"], id);
        assert_eq!(event["phone_e164"], "+66812345678");
        assert!(t.outbox.entries().is_empty(), "{dialect:?}: sent twice");
        let code = event["code"].as_str().unwrap();
        let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, code).await;
        assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
        assert_eq!(
            t.metrics.by_provider("CodesSent", "webhook"),
            1,
            "{dialect:?}"
        );
    }
}

fn base64_key(secret: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

/// Every way the hook can fail to take a send: the next provider sends the
/// code the hook was given, and that code logs in.
#[tokio::test]
async fn a_hook_that_fails_refuses_or_stalls_moves_the_same_code_to_the_next_provider() {
    let hook = Hook::start().await;
    let stalled = BlackHole::start().await;
    // A function of 6 s: about 2.9 s for the providers, half each.
    let short = Config {
        timeouts: Timeouts::for_function(Duration::from_secs(6)),
        ..test_config()
    };
    let cases: [(&str, &str, &[u16], &str); 4] = [
        ("keeps failing", &hook.url, &[500, 503], SECRET_ARN),
        ("refuses", &hook.url, &[400], SECRET_ARN),
        ("stalls", &stalled.url, &[], SECRET_ARN),
        ("has no secret", &hook.url, &[], MISSING_ARN),
    ];
    for dialect in [Dialect::Native, Dialect::Esms] {
        for (what, url, answers, arn) in cases {
            let t = app_with(hook_then_sns(url, arn), None, short.clone()).await;
            hook.clear();
            hook.answer(answers);
            let began = Instant::now();
            let sent = dialect.request(&t, PHONE).await;
            assert!(dialect.succeeded(&sent), "{what}: {sent:?}");
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "{what}: within the function's time"
            );
            let hooked: Vec<Value> = hook.received().iter().map(|r| r.event()).collect();
            assert_eq!(hooked.len(), answers.len(), "{what}");
            let sms = t.last_sms();
            for event in &hooked {
                assert_eq!(event["code"], sms.code.as_str(), "{what}: the same code");
            }
            let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &sms.code).await;
            assert!(dialect.succeeded(&confirmed), "{what}: {confirmed:?}");
            assert_eq!(
                t.metrics.by_provider("SmsProviderFailures", "webhook"),
                1,
                "{what}"
            );
            assert_eq!(t.metrics.by_provider("CodesSent", "sns"), 1, "{what}");
        }
    }
}

/// When no provider takes the code, the user's answer is the dialect's
/// "could not be sent", and the code can never be confirmed.
#[tokio::test]
async fn when_no_provider_takes_the_code_it_is_undeliverable_in_every_dialect() {
    let hook = Hook::start().await;
    for dialect in DIALECTS {
        let refusing = Arc::new(RefusingSms::default());
        let t = app_with(
            hook_then_sns(&hook.url, SECRET_ARN),
            Some(refusing.clone()),
            test_config(),
        )
        .await;
        hook.clear();
        hook.answer(&[422]);
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.sms_failed(&sent), "{dialect:?}: {sent:?}");
        let code = hook.received()[0].event()["code"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(refusing.attempted()[0].code, code, "the same code to both");
        let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
        assert!(!dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
        assert_eq!(t.metrics.by_provider("SmsProviderFailures", "webhook"), 1);
        assert_eq!(t.metrics.by_provider("SmsProviderFailures", "sns"), 1);
    }
}
