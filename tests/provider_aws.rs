//! DESIGN §13 on the Lambda wiring: End User Messaging sends the code with
//! the client's names in every dialect, and is told by the confirm that the
//! SMS arrived (message feedback, by the id its first event named), against
//! a stub of its API (neither moto nor any local engine has it); and a provider's credentials come
//! from Secrets Manager, read once per Lambda environment for many sends.
//! The calls are recorded: tests/iam_from_calls.py holds request-otp's
//! policy to them, and tests/botocore_requests.py holds every body sent to
//! SNS and End User Messaging to botocore's model of the API.

use otp_integration_tests::black_hole::BlackHole;
use otp_integration_tests::calls::as_delivery_events;
use otp_integration_tests::delivery::eum_event;
use otp_integration_tests::dialects::{DIALECTS, Dialect, ID_CARD};
use otp_integration_tests::hook::Hook;
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, SENDER_ID, aws_config_with, code_in, deployment, lambda_app,
    lambda_app_with, moto_url, now_ms, register_deployed, sms_to, test_settings,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::provider::{EumSettings, SmsProvider, WebhookSettings};
use otp_shared::store::{DynamoStore, Store};
use serde_json::{Value, json};
use std::collections::HashMap;

const PHONE: &str = "0812345678";

/// Stores the test client of the deployment `variables` with `providers`.
async fn deployed_client(variables: &HashMap<String, String>, providers: Vec<SmsProvider>) {
    let settings = ClientSettings {
        sms_providers: providers,
        ..test_settings()
    };
    assert_eq!(settings.validate(), Ok(()));
    let sdk = otp_integration_tests::aws_config().await;
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        variables["OTP_TABLE_NAME"].clone(),
    )
    .put_client(&ClientRecord::new(CLIENT_ID, CLIENT_SECRET, settings))
    .await
    .expect("client stored");
    register_deployed(variables, PHONE, ID_CARD).await;
}

#[tokio::test]
async fn end_user_messaging_sends_the_code_with_the_clients_names_in_every_dialect() {
    let eum = Hook::start().await;
    let names = EumSettings {
        origination_identity: None,
        configuration_set: Some("otp-events".into()),
        protect_configuration_id: Some("protect-0123456789abcdef".into()),
    };
    for dialect in DIALECTS {
        let variables = deployment(&[]).await;
        let providers = vec![SmsProvider::Eum(names.clone()), SmsProvider::Sns {}];
        deployed_client(&variables, providers).await;
        let sdk = aws_config_with(&[("Pinpoint SMS Voice V2", &eum.url_of("/"))]).await;
        let app = lambda_app_with(&variables, sdk).await;
        eum.clear();
        eum.answer_with(&[(200, SENT), (200, FEEDBACK_TAKEN)]);
        let sent = dialect.request_on(&app, PHONE).await;
        assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
        let received = eum.received();
        assert_eq!(
            received.len(),
            1,
            "{dialect:?}: sent once, by End User Messaging"
        );
        let request = &received[0];
        assert_eq!(
            request.headers["x-amz-target"],
            "PinpointSMSVoiceV2.SendTextMessage"
        );
        let body = request.event();
        assert_eq!(body["DestinationPhoneNumber"], "+66812345678");
        assert_eq!(body["MessageType"], "TRANSACTIONAL");
        assert_eq!(
            body["OriginationIdentity"], SENDER_ID,
            "the request's sender id"
        );
        assert_eq!(body["ConfigurationSetName"], "otp-events");
        assert_eq!(body["ProtectConfigurationId"], "protect-0123456789abcdef");
        assert_eq!(body["Context"]["client"], CLIENT_ID);
        assert_eq!(body["MessageFeedbackEnabled"], true);
        assert!(
            body["Context"]["challenge"]
                .as_str()
                .is_some_and(|id| id.starts_with("ch_")),
            "{body}"
        );
        // The SMS's first event names the message, then the code is typed.
        let event = eum_event("TEXT_PENDING", &body["Context"], now_ms(), Some(MESSAGE_ID));
        let folded = as_delivery_events(app.record_delivery_event(&event)).await;
        assert_eq!(folded.map(|r| r.recorded), Ok(1), "{dialect:?}");
        let code = code_in(body["MessageBody"].as_str().unwrap());
        let confirmed = dialect.confirm_on(&app, &sent.body, PHONE, &code).await;
        assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
        let received = eum.received();
        assert_eq!(
            received.len(),
            2,
            "{dialect:?}: the send, then the feedback"
        );
        assert_eq!(
            received[1].headers["x-amz-target"],
            "PinpointSMSVoiceV2.PutMessageFeedback"
        );
        assert_eq!(
            received[1].event(),
            json!({"MessageId": MESSAGE_ID, "MessageFeedbackStatus": "RECEIVED"}),
            "{dialect:?}"
        );
    }
}

const MESSAGE_ID: &str = "eum-message-1";
const SENT: &str = r#"{"MessageId": "eum-message-1"}"#;
const FEEDBACK_TAKEN: &str =
    r#"{"MessageId": "eum-message-1", "MessageFeedbackStatus": "RECEIVED"}"#;

/// DESIGN §13.3: only a confirmed code tells End User Messaging its SMS
/// arrived, in one attempt; a wrong code tells it nothing, a refused
/// feedback does not stop the login, and a code confirmed before any event
/// named its message logs in without feedback, which delivery-events gives
/// when the message's first event arrives (else AWS would count the message
/// failed after an hour).
#[tokio::test]
async fn end_user_messaging_is_told_received_only_for_a_right_code_whose_message_it_named() {
    let eum = Hook::start().await;
    let names = EumSettings {
        origination_identity: None,
        configuration_set: None,
        protect_configuration_id: None,
    };
    let variables = deployment(&[]).await;
    deployed_client(&variables, vec![SmsProvider::Eum(names)]).await;
    let sdk = aws_config_with(&[("Pinpoint SMS Voice V2", &eum.url_of("/"))]).await;
    let app = lambda_app_with(&variables, sdk).await;
    let dialect = Dialect::Native;

    eum.answer_with(&[(200, SENT), (200, FEEDBACK_TAKEN)]);
    let sent = dialect.request_on(&app, PHONE).await;
    let body = eum.received()[0].event();
    let event = eum_event(
        "TEXT_DELIVERED",
        &body["Context"],
        now_ms(),
        Some(MESSAGE_ID),
    );
    as_delivery_events(app.record_delivery_event(&event))
        .await
        .expect("folded");
    let code = code_in(body["MessageBody"].as_str().unwrap());
    let wrong = if code.starts_with('1') { "2" } else { "1" }.repeat(code.len());
    let refused = dialect.confirm_on(&app, &sent.body, PHONE, &wrong).await;
    assert!(!dialect.succeeded(&refused), "{refused:?}");
    assert_eq!(eum.received().len(), 1, "a wrong code tells nothing");

    // End User Messaging fails the feedback (an error the SDK would retry):
    // one attempt, and the login goes on.
    eum.clear();
    eum.answer_with(&[(
        500,
        r#"{"__type": "InternalServerException", "Message": "no"}"#,
    )]);
    let confirmed = dialect.confirm_on(&app, &sent.body, PHONE, &code).await;
    assert!(dialect.succeeded(&confirmed), "{confirmed:?}");
    let told = eum.received();
    assert_eq!(told.len(), 1, "one attempt at the feedback");
    assert_eq!(
        told[0].headers["x-amz-target"],
        "PinpointSMSVoiceV2.PutMessageFeedback"
    );
    // A later event of the message the confirm named: delivery-events
    // leaves it to the confirm.
    eum.clear();
    let later = eum_event(
        "TEXT_SUCCESSFUL",
        &body["Context"],
        now_ms(),
        Some(MESSAGE_ID),
    );
    as_delivery_events(app.record_delivery_event(&later))
        .await
        .expect("folded");
    assert!(eum.received().is_empty(), "told twice");

    eum.clear();
    eum.answer_with(&[(200, SENT)]);
    let second = dialect.request_on(&app, "0812345679").await;
    let body = eum.received()[0].event();
    let code = code_in(body["MessageBody"].as_str().unwrap());
    let confirmed = dialect
        .confirm_on(&app, &second.body, "0812345679", &code)
        .await;
    assert!(dialect.succeeded(&confirmed), "{confirmed:?}");
    assert_eq!(
        eum.received().len(),
        1,
        "no event named the message: nothing to tell, and the login goes on"
    );
    // Its first event, after the confirm: delivery-events tells End User
    // Messaging, or AWS would count the message failed in an hour.
    // A message is told until End User Messaging takes it (a refused
    // feedback is given again by its next event), then never again,
    // however many of its events arrive; a message whose event says it
    // failed tells nothing.
    eum.clear();
    eum.answer_with(&[
        (
            500,
            r#"{"__type": "InternalServerException", "Message": "no"}"#,
        ),
        (200, FEEDBACK_TAKEN),
    ]);
    for (event_type, message_id) in [
        ("TEXT_SUCCESSFUL", "eum-message-2"),
        ("TEXT_DELIVERED", "eum-message-2"),
        ("TEXT_DELIVERED", "eum-message-2"),
        ("TEXT_BLOCKED", "eum-message-3"),
    ] {
        let event = eum_event(event_type, &body["Context"], now_ms(), Some(message_id));
        as_delivery_events(app.record_delivery_event(&event))
            .await
            .expect("folded");
    }
    let told = eum.received();
    assert_eq!(told.len(), 2, "{told:?}");
    for feedback in &told {
        assert_eq!(
            feedback.headers["x-amz-target"],
            "PinpointSMSVoiceV2.PutMessageFeedback"
        );
        assert_eq!(
            feedback.event(),
            json!({"MessageId": "eum-message-2", "MessageFeedbackStatus": "RECEIVED"})
        );
    }
}

const HOOK_SECRET: &str = "whsec_YSBzZW5kIGhvb2sncyBrZXksIDMyIGJ5dGVzIGxvbmc=";

/// A send hook at `url` with its secret `arn`, then SNS.
fn hook_then_sns(url: &str, arn: &str) -> Vec<SmsProvider> {
    vec![
        SmsProvider::Webhook(WebhookSettings {
            url: url.into(),
            secret_arn: arn.into(),
        }),
        SmsProvider::Sns {},
    ]
}

/// The provider's secret in Secrets Manager (a stub that answers as it
/// does, counting reads): read at the first send, kept for the next.
#[tokio::test]
async fn a_providers_secret_is_read_from_secrets_manager_once_for_many_sends() {
    let hook = Hook::start().await;
    let secrets = Hook::start().await;
    let variables = deployment(&[]).await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp-test/sms-provider/test-app/webhook-AbCdEf";
    deployed_client(&variables, hook_then_sns(&hook.url, arn)).await;
    let server_secret = moto_secret_answer(&variables["OTP_SERVER_SECRET_ARN"]).await;
    let provider_secret = json!({
        "ARN": arn,
        "Name": "otp-test/sms-provider/test-app/webhook",
        "SecretString": json!({"signing_secret": HOOK_SECRET}).to_string(),
    })
    .to_string();
    secrets.answer_with(&[(200, &server_secret), (200, &provider_secret)]);
    let sdk = aws_config_with(&[("Secrets Manager", &secrets.url_of("/"))]).await;
    let app = lambda_app_with(&variables, sdk).await;
    for phone in ["0812345671", "0812345672", "0812345673"] {
        let sent = Dialect::Native.request_on(&app, phone).await;
        assert!(Dialect::Native.succeeded(&sent), "{sent:?}");
    }
    let read: Vec<Value> = secrets
        .received()
        .iter()
        .map(|r| r.event()["SecretId"].clone())
        .collect();
    assert_eq!(
        read,
        [json!(variables["OTP_SERVER_SECRET_ARN"]), json!(arn)],
        "the server secret at the cold start, the provider's once"
    );
}

/// Lambda's runtime API listens on the function's own machine: a provider
/// URL there over plain http (which local mode allows) is never called;
/// the code goes to the next provider.
#[tokio::test]
async fn in_lambda_a_plain_http_provider_on_its_own_machine_is_never_called() {
    let hook = Hook::start().await;
    let variables = deployment(&[]).await;
    let secret = json!({"signing_secret": HOOK_SECRET});
    let arn = provider_secret(&variables, "webhook", &secret).await;
    deployed_client(&variables, hook_then_sns(&hook.url, &arn)).await;
    let app = lambda_app(&variables).await;
    let sent = Dialect::Native.request_on(&app, PHONE).await;
    assert!(Dialect::Native.succeeded(&sent), "{sent:?}");
    assert!(
        hook.received().is_empty(),
        "plain http was called from Lambda"
    );
    let message = sms_to(&moto_url(), "+66812345678").await;
    let confirmed = Dialect::Native
        .confirm_on(&app, &sent.body, PHONE, &code_in(&message))
        .await;
    assert!(Dialect::Native.succeeded(&confirmed), "{confirmed:?}");
}

/// In Lambda, ThaiBulkSMS and eSMS are called only at their vendors' URLs:
/// a record that points one elsewhere would hand its credentials there. The
/// code goes to the next provider.
#[tokio::test]
async fn in_lambda_a_vendor_provider_at_another_url_is_never_called() {
    // Anything that connects is counted, TLS or not.
    let elsewhere = BlackHole::start().await;
    let variables = deployment(&[]).await;
    let secret = json!({"api_key": "K", "secret_key": "S"});
    let esms = SmsProvider::Esms(otp_shared::domain::provider::EsmsSettings {
        secret_arn: provider_secret(&variables, "esms", &secret).await,
        callback_url: None,
        sandbox: false,
        url: Some(format!(
            "https://{}/esms",
            elsewhere.url.trim_start_matches("http://")
        )),
    });
    deployed_client(&variables, vec![esms, SmsProvider::Sns {}]).await;
    let app = lambda_app(&variables).await;
    let sent = Dialect::Native.request_on(&app, PHONE).await;
    assert!(Dialect::Native.succeeded(&sent), "{sent:?}");
    assert_eq!(elsewhere.connections(), 0, "called at another URL");
    sms_to(&moto_url(), "+66812345678").await;
}

/// The test client's `kind` provider secret holding `secret`, in moto,
/// named as otp-admin names it in the deployment `variables` (its table's
/// name for the stack's); its ARN.
async fn provider_secret(
    variables: &HashMap<String, String>,
    kind: &str,
    secret: &Value,
) -> String {
    let created = aws_sdk_secretsmanager::Client::new(&otp_integration_tests::aws_config().await)
        .create_secret()
        .name(format!(
            "{}/sms-provider/{CLIENT_ID}/{kind}",
            variables["OTP_TABLE_NAME"]
        ))
        .secret_string(secret.to_string())
        .send()
        .await
        .expect("moto keeps the secret");
    created.arn().expect("an ARN").to_string()
}

/// Secrets Manager's answer for the server secret, as moto gives it.
async fn moto_secret_answer(arn: &str) -> String {
    let sdk = otp_integration_tests::aws_config().await;
    let out = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("moto has the server secret");
    json!({
        "ARN": arn,
        "Name": out.name(),
        "SecretString": out.secret_string(),
    })
    .to_string()
}
