//! DESIGN §13.3 on the Lambda wiring: the stack turns on SNS's SMS
//! delivery-status logs, which CloudFormation has no resource for, through
//! `delivery-events` as the custom resource `Custom::SmsDeliveryStatus`
//! (CloudFormation's documented request, `events/cloudformation/`): it sets
//! the account's SMS attributes in SNS (moto) and answers CloudFormation
//! with a PUT to the request's URL (a local receiver); a request it cannot
//! carry out is answered FAILED, never left waiting. The calls are
//! recorded: tests/iam_from_calls.py holds delivery-events' policy to them
//! (SetSMSAttributes, and the role it hands SNS), and
//! tests/botocore_requests.py the request to botocore's model of SNS.

use otp_integration_tests::calls::as_delivery_events;
use otp_integration_tests::hook::Hook;
use otp_integration_tests::{aws_config, aws_config_with, deployment, lambda_app_with};
use otp_shared::App;
use otp_shared::http::custom_resource;
use otp_shared::sms::https::HttpsClient;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::123456789012:role/otp-SnsDeliveryStatusRole-EXAMPLE";

/// The SMS attributes are moto's account's, one for every test: the tests
/// that set or read them take turns.
static ACCOUNT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The documented request of `request_type`, answered at `hook`.
fn request(request_type: &str, hook: &Hook) -> Value {
    let path = format!(
        "{}/events/cloudformation/sms-delivery-status-create.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["RequestType"] = json!(request_type);
    event["ResponseURL"] = json!(hook.url_of("/answer?X-Amz-Signature=EXAMPLE"));
    if request_type != "Create" {
        event["PhysicalResourceId"] = json!("sns-sms-delivery-status");
    }
    event
}

async fn app_with_sns_at(url: Option<&str>) -> App {
    let variables = deployment(&[]).await;
    let sdk = match url {
        Some(url) => aws_config_with(&[("SNS", url)]).await,
        None => aws_config().await,
    };
    lambda_app_with(&variables, sdk).await
}

/// What CloudFormation was answered: the one PUT to the request's URL.
fn answer_received(hook: &Hook) -> Value {
    let received = hook.received();
    assert_eq!(received.len(), 1, "one answer");
    let answer = &received[0];
    assert_eq!(answer.method, "PUT");
    assert_eq!(answer.path, "/answer?X-Amz-Signature=EXAMPLE");
    assert!(
        !answer.headers.contains_key("content-type"),
        "the URL is pre-signed without a content type: {:?}",
        answer.headers
    );
    answer.event()
}

/// The account's SMS attributes as SNS (moto) holds them.
async fn sms_attributes() -> (Option<String>, Option<String>) {
    let sns = aws_sdk_sns::Client::new(&aws_config().await);
    let attributes = sns.get_sms_attributes().send().await.unwrap();
    let of = |name: &str| attributes.attributes().and_then(|a| a.get(name)).cloned();
    (
        of("DeliveryStatusIAMRole"),
        of("DeliveryStatusSuccessSamplingRate"),
    )
}

async fn serve(app: &App, event: &Value) -> Result<Value, otp_shared::Error> {
    as_delivery_events(custom_resource::serve(app, event, &HttpsClient::default())).await
}

#[tokio::test]
async fn the_stack_turns_on_snss_sms_delivery_status_logs_through_delivery_events() {
    let _turn = ACCOUNT.lock().await;
    let app = app_with_sns_at(None).await;
    let hook = Hook::start().await;
    let created = serve(&app, &request("Create", &hook)).await.unwrap();
    let answer = answer_received(&hook);
    assert_eq!(answer, created);
    assert_eq!(
        answer,
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": "sns-sms-delivery-status",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/otp/5b3c9f40-EXAMPLE",
            "RequestId": "d2b2e8e6-EXAMPLE",
            "LogicalResourceId": "SmsDeliveryStatus",
        })
    );
    assert_eq!(
        sms_attributes().await,
        (Some(ROLE.into()), Some("100".into()))
    );

    // An update keeps the resource's id (another would make CloudFormation
    // delete the old one) and sets what it is given; a delete leaves the
    // account's attributes as they are, whatever it names (a refused delete
    // would hold the stack's deletion or rollback).
    for (request_type, rate, kept) in [("Update", "50", "50"), ("Delete", "100", "50")] {
        let hook = Hook::start().await;
        let mut event = request(request_type, &hook);
        event["ResourceProperties"]["DeliveryStatusSuccessSamplingRate"] = json!(rate);
        if request_type == "Delete" {
            event["ResourceType"] = json!("Custom::Other");
            event["ResourceProperties"] = json!({});
        }
        serve(&app, &event).await.unwrap();
        let answer = answer_received(&hook);
        assert_eq!(answer["Status"], "SUCCESS", "{request_type}");
        assert_eq!(answer["PhysicalResourceId"], "sns-sms-delivery-status");
        assert_eq!(
            sms_attributes().await,
            (Some(ROLE.into()), Some(kept.into())),
            "{request_type}"
        );
    }
}

/// A request delivery-events cannot carry out is answered FAILED with a
/// reason for the stack's events (the stack would otherwise wait an hour),
/// and changes nothing.
#[tokio::test]
async fn a_request_it_cannot_carry_out_is_answered_failed_not_left_waiting() {
    let _turn = ACCOUNT.lock().await;
    let app = app_with_sns_at(None).await;
    let hook = Hook::start().await;
    serve(&app, &request("Create", &hook)).await.unwrap();
    let before = sms_attributes().await;
    /// How each request is spoiled.
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 6] = [
        ("another resource type", |e| {
            e["ResourceType"] = json!("Custom::Other")
        }),
        ("a role that is not an IAM role", |e| {
            e["ResourceProperties"]["DeliveryStatusIAMRole"] = json!("arn:aws:s3:::bucket")
        }),
        ("a sampling rate over 100", |e| {
            e["ResourceProperties"]["DeliveryStatusSuccessSamplingRate"] = json!("101")
        }),
        ("an unknown request type", |e| {
            e["RequestType"] = json!("Replace")
        }),
        ("no role", |e| e["ResourceProperties"] = json!({})),
        ("a role that is not a string", |e| {
            e["ResourceProperties"]["DeliveryStatusIAMRole"] = json!(7)
        }),
    ];
    for (case, change) in cases {
        let hook = Hook::start().await;
        let mut event = request("Create", &hook);
        change(&mut event);
        serve(&app, &event).await.unwrap();
        let answer = answer_received(&hook);
        assert_eq!(answer["Status"], "FAILED", "{case}");
        assert!(
            answer["Reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{case}"
        );
        assert_eq!(sms_attributes().await, before, "{case}: nothing changed");
    }

    // SNS refuses the attributes (here: an error answer of SNS's own form).
    let sns = Hook::start().await;
    sns.answer_with(&[(
        400,
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code>\
         <Message>Invalid parameter</Message></Error><RequestId>x</RequestId></ErrorResponse>",
    )]);
    let refused_by_sns = app_with_sns_at(Some(&sns.url_of("/"))).await;
    let hook = Hook::start().await;
    serve(&refused_by_sns, &request("Create", &hook))
        .await
        .unwrap();
    let answer = answer_received(&hook);
    assert_eq!(answer["Status"], "FAILED");
    assert_eq!(
        answer["Reason"],
        "SNS did not take the SMS attributes (see delivery-events' log)"
    );
}

/// In Lambda the answer goes only to an https URL (CloudFormation's are
/// S3's): delivery-events' entry serves the request, and a plain-http URL,
/// which only a forged request could name, is never called.
#[tokio::test]
async fn in_lambda_a_custom_resource_answer_goes_only_to_an_https_url() {
    let app: &'static App = Box::leak(Box::new(app_with_sns_at(None).await));
    let hook = Hook::start().await;
    let answered = as_delivery_events(otp_shared::http::lambda::delivery_events(
        app,
        request("Delete", &hook),
    ))
    .await;
    assert!(answered.is_err(), "{answered:?}");
    assert!(
        hook.received().is_empty(),
        "plain http was called from Lambda"
    );
}
