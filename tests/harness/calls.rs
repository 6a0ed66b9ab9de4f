//! Every AWS call the code under test makes, recorded with the function whose
//! handler made it, so that `tests/iam_from_calls.py` can hold each
//! function's policy in `template.yaml` to what the functions really do
//! (DESIGN §7). Neither DynamoDB Local nor moto enforces IAM: nothing else
//! would notice a missing permission before AWS does.
//!
//! The recorder sits in the SDK's HTTP client of [`crate::aws_config`], so
//! it sees the calls of every client built from it, the Lambda wiring's
//! included, as they go on the wire: after signing, one per attempt. DynamoDB
//! authorises each part of a transaction by its own action, so a
//! `TransactWriteItems` is recorded as the `PutItem`, `UpdateItem`,
//! `DeleteItem` and `ConditionCheckItem` actions of its parts. The bodies
//! sent to SNS and End User Messaging are recorded too, for
//! `tests/botocore_requests.py` to hold each to botocore's service model.
//!
//! Calls are recorded only while a handler runs ([`as_function`], which
//! `crate::call` uses) or a function starts ([`at_cold_start`]), and only
//! when `OTP_AWS_CALLS` names a directory (`make test` sets it); each test
//! process appends JSON lines to a file of its own there.

use crate::EDGE_SECRET_NAME;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use otp_shared::domain::provider::PROVIDER_SECRET_PATH;
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Who makes the calls: a function's template resource name, or every
/// function (a cold start).
#[derive(Debug, Clone, Copy)]
enum Caller {
    Function(&'static str),
    EveryFunction,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The function's resource name in `template.yaml`.
pub fn resource_name(function: Function) -> &'static str {
    match function {
        Function::RequestOtp => "RequestOtpFunction",
        Function::ConfirmOtp => "ConfirmOtpFunction",
        Function::IssueToken => "IssueTokenFunction",
        Function::DeliveryEvents => DELIVERY_EVENTS,
    }
}

/// Runs `work` as `function`'s handler: its AWS calls are that function's.
pub async fn as_function<F: Future>(function: Function, work: F) -> F::Output {
    CALLER
        .scope(Caller::Function(resource_name(function)), work)
        .await
}

/// Runs `work` as delivery-events' handler of the events that are not
/// HTTP requests.
pub async fn as_delivery_events<F: Future>(work: F) -> F::Output {
    as_function(Function::DeliveryEvents, work).await
}

/// delivery-events' resource name in `template.yaml`.
const DELIVERY_EVENTS: &str = "DeliveryEventsFunction";

/// Runs `work` as a cold start: every function makes its AWS calls.
pub async fn at_cold_start<F: Future>(work: F) -> F::Output {
    CALLER.scope(Caller::EveryFunction, work).await
}

/// `inner`, recording each request it sends.
pub fn recording(inner: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(Recording(inner))
}

#[derive(Debug)]
struct Recording(SharedHttpClient);

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector(
            self.0.http_connector(settings, components),
        ))
    }
}

#[derive(Debug)]
struct RecordingConnector(SharedHttpConnector);

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Ok(caller) = CALLER.try_with(|caller| *caller) {
            record(caller, &request);
        }
        self.0.call(request)
    }
}

/// Where this process appends its calls, if recording is on.
fn sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| crate::process_jsonl("OTP_AWS_CALLS"))
        .as_ref()
}

/// The service a request is signed for (`dynamodb`, `kms`, `sns`,
/// `secretsmanager`), from its SigV4 credential scope.
fn service(request: &HttpRequest) -> Option<String> {
    let authorization = request.headers().get("authorization")?;
    let scope = authorization
        .split("Credential=")
        .nth(1)?
        .split(',')
        .next()?;
    scope.split('/').nth(3).map(str::to_string)
}

/// The (action, resource) pairs IAM authorises for one request.
fn actions(service: &str, request: &HttpRequest) -> Vec<(String, Value)> {
    let body = request.body().bytes().unwrap_or_default();
    if service == "sns" {
        // The query protocol: a form body.
        let form: Vec<(String, String)> = form_pairs(body);
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let action = field("Action").unwrap_or_default();
        if action == "SetSMSAttributes" {
            // The account's attributes; one naming a role hands it to SNS,
            // which IAM authorises as iam:PassRole on that role.
            let mut actions = vec![(
                "sns:SetSMSAttributes".to_string(),
                json!({"kind": "sms attributes of the account"}),
            )];
            if form.iter().any(|(_, v)| v == "DeliveryStatusIAMRole") {
                actions.push((
                    "iam:PassRole".to_string(),
                    json!({"kind": "role handed to SNS"}),
                ));
            }
            return actions;
        }
        let resource = match (field("PhoneNumber"), field("TopicArn")) {
            (Some(_), _) => json!({"kind": "phone number"}),
            (_, Some(arn)) => json!({"kind": "topic", "name": arn}),
            _ => json!({"kind": "none"}),
        };
        return vec![(format!("sns:{action}"), resource)];
    }
    if service == "sms-voice" {
        // End User Messaging sends from an origination identity of the
        // account, under its configuration set: resources of the account.
        // Feedback names a message, which IAM has no resource type for.
        let operation = operation(request);
        let kind = match operation.as_str() {
            "PutMessageFeedback" => "sms-voice message",
            _ => "sms-voice resource of the account",
        };
        return vec![(format!("sms-voice:{operation}"), json!({"kind": kind}))];
    }
    let operation = operation(request);
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (service, operation.as_str()) {
        ("dynamodb", "TransactWriteItems") => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (part, action) = [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ]
                .into_iter()
                .find(|(part, _)| item.get(*part).is_some())?;
                let table = &item[part]["TableName"];
                Some((
                    format!("dynamodb:{action}"),
                    json!({"kind": "table", "name": table}),
                ))
            })
            .collect(),
        // A query of an index is authorised on the index's ARN.
        ("dynamodb", _) if body["IndexName"].is_string() => vec![(
            format!("dynamodb:{operation}"),
            json!({"kind": "index", "name": body["TableName"], "role": body["IndexName"]}),
        )],
        ("dynamodb", _) => vec![(
            format!("dynamodb:{operation}"),
            json!({"kind": "table", "name": body["TableName"]}),
        )],
        ("kms", _) => {
            let key = body["KeyId"].as_str().unwrap_or_default();
            let resource = match key.strip_prefix("alias/") {
                Some(alias) if alias.ends_with("-next") => json!({"kind": "alias", "role": "next"}),
                Some(alias) if alias.ends_with("-previous") => {
                    json!({"kind": "alias", "role": "previous"})
                }
                Some(_) => json!({"kind": "alias", "role": "current"}),
                None => json!({"kind": "key behind an alias"}),
            };
            vec![(format!("kms:{operation}"), resource)]
        }
        // The edge's origin secret is named so by `crate::edge_deployment`;
        // the providers' as otp-admin names them.
        ("secretsmanager", _) => {
            let id = body["SecretId"].as_str().unwrap_or_default();
            let kind = if id.contains(EDGE_SECRET_NAME) {
                "edge secret"
            } else if id.contains(PROVIDER_SECRET_PATH) {
                "provider secret"
            } else {
                "secret"
            };
            vec![(
                format!("secretsmanager:{operation}"),
                json!({"kind": kind, "name": id}),
            )]
        }
        (other, _) => vec![(format!("{other}:{operation}"), json!({"kind": "unknown"}))],
    }
}

/// A JSON protocol request's operation, from its `X-Amz-Target`.
fn operation(request: &HttpRequest) -> String {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or_default()
        .to_string()
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn record(caller: Caller, request: &HttpRequest) {
    let Some(sink) = sink() else { return };
    let Some(service) = service(request) else {
        return;
    };
    let callers = match caller {
        Caller::Function(name) => vec![name],
        Caller::EveryFunction => vec![
            "RequestOtpFunction",
            "ConfirmOtpFunction",
            "IssueTokenFunction",
            DELIVERY_EVENTS,
        ],
    };
    // What SNS and End User Messaging are sent, for the check of each body
    // against botocore's model of the API (tests/botocore_requests.py).
    let body = matches!(service.as_str(), "sns" | "sms-voice")
        .then(|| String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned());
    let mut file = sink.lock().unwrap();
    for (action, resource) in actions(&service, request) {
        for function in &callers {
            let mut line = json!({"function": function, "action": action, "resource": resource});
            // The request's body, with its own action (not with the
            // permission it implies, such as iam:PassRole).
            if let Some(body) = &body
                && action.starts_with(&format!("{service}:"))
            {
                line["body"] = json!(body);
            }
            writeln!(file, "{line}").expect("the calls file is writable");
        }
    }
}
