//! CloudFormation's custom resource protocol, as `delivery-events` serves
//! the stack's `Custom::SmsDeliveryStatus`: the account's SNS SMS attributes
//! that make SNS log each SMS's delivery status, which CloudFormation has no
//! resource for. CloudFormation invokes the function with the request and
//! waits for the answer PUT to the request's pre-signed `ResponseURL`; a
//! request never answered holds the stack for an hour, so every request
//! that names a URL is answered, a refused one as `FAILED`.

use crate::sms::https::HttpsClient;
use crate::{App, Error};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

/// The only resource type served.
pub const RESOURCE_TYPE: &str = "Custom::SmsDeliveryStatus";
/// The resource's physical id: one per account and Region, as the
/// attributes it sets.
const PHYSICAL_ID: &str = "sns-sms-delivery-status";

/// What a request must hold to be answered at all; the rest is read
/// leniently, so that anything else wrong is answered `FAILED`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomResourceRequest {
    request_type: String,
    #[serde(rename = "ResponseURL")]
    response_url: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
    #[serde(default)]
    resource_type: Value,
    #[serde(default)]
    resource_properties: Value,
}

/// What the template gives the resource.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    #[serde(rename = "DeliveryStatusIAMRole")]
    delivery_status_iam_role: String,
    delivery_status_success_sampling_rate: Option<String>,
}

/// Whether `event` is a custom resource request (no other source of
/// `delivery-events` has these at its top level).
pub fn is_request(event: &Value) -> bool {
    event.get("RequestType").is_some() && event.get("ResponseURL").is_some()
}

/// Serves the custom resource request `event`, answering CloudFormation
/// through `client`; the answer sent. An error only when the request cannot
/// be read or its answer not sent: Lambda then invokes the function again.
pub async fn serve(app: &App, event: &Value, client: &HttpsClient) -> Result<Value, Error> {
    let request: CustomResourceRequest = serde_json::from_value(event.clone())
        .map_err(|_| Error::internal("cloudformation", "unreadable custom resource request"))?;
    let outcome = apply(app, &request).await;
    let physical_id = request
        .physical_resource_id
        .clone()
        .unwrap_or_else(|| PHYSICAL_ID.to_string());
    let mut answer = json!({
        "Status": "SUCCESS",
        "PhysicalResourceId": physical_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
    });
    if let Err(reason) = outcome {
        tracing::warn!(
            request_type = %request.request_type,
            reason,
            "custom resource request refused"
        );
        answer["Status"] = json!("FAILED");
        answer["Reason"] = json!(reason);
    }
    // The URL is pre-signed for a PUT without a content type; the PUT gets
    // one call's share of the function's time, as SNS's call did.
    let sent = client
        .call(
            hyper::Method::PUT,
            &request.response_url,
            &[],
            Bytes::from(answer.to_string()),
            app.config.timeouts.operation(),
        )
        .await;
    match sent {
        Ok(answered) if (200..300).contains(&answered.status) => Ok(answer),
        Ok(answered) => Err(Error::internal(
            "cloudformation",
            &format!("the answer's PUT got {}", answered.status),
        )),
        Err(e) => Err(Error::internal("cloudformation", &e.to_string())),
    }
}

/// Carries out `request`; why not, in words for the stack's events (no
/// value of the request's is quoted).
async fn apply(app: &App, request: &CustomResourceRequest) -> Result<(), &'static str> {
    match request.request_type.as_str() {
        // The attributes are the account's, and may outlive the stack:
        // another stack of the account may have set them since, and a role
        // that is gone only stops SNS's logs. Nothing to undo, whatever the
        // request names: a refused delete would hold the stack's deletion
        // or rollback.
        "Delete" => Ok(()),
        "Create" | "Update" => {
            if request.resource_type != RESOURCE_TYPE {
                return Err("delivery-events serves Custom::SmsDeliveryStatus only");
            }
            let properties: Properties =
                serde_json::from_value(request.resource_properties.clone())
                    .map_err(|_| "DeliveryStatusIAMRole is required")?;
            let role = Some(properties.delivery_status_iam_role.as_str())
                .filter(|arn| arn.starts_with("arn:") && arn.contains(":role/"))
                .ok_or("DeliveryStatusIAMRole must be an IAM role's ARN")?;
            let percent = properties
                .delivery_status_success_sampling_rate
                .as_deref()
                .unwrap_or("100")
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or("DeliveryStatusSuccessSamplingRate must be 0 to 100")?;
            let account = app
                .sms_account
                .as_ref()
                .ok_or("this function cannot set SMS attributes")?;
            account
                .log_delivery_status(role, percent)
                .await
                .map_err(|_| "SNS did not take the SMS attributes (see delivery-events' log)")
        }
        _ => Err("RequestType must be Create, Update or Delete"),
    }
}
