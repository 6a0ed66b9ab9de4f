use super::{SmsAccount, SmsMessage, SmsRefused, SmsSender};
use crate::sdk::sdk_failure;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

/// Publishes straight to the phone number as a transactional SMS.
pub struct SnsSender {
    client: Client,
}

impl SnsSender {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SmsRefused> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|_| SmsRefused)
}

#[async_trait]
impl SmsSender for SnsSender {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        let mut publish = self
            .client
            .publish()
            .phone_number(&message.to)
            .message(&message.text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &message.sender_id {
            publish =
                publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        publish.send().await.map_err(|e| {
            // Logged under an error id; the caller answers "SMS failed".
            sdk_failure("sns.Publish", &e);
            SmsRefused
        })?;
        Ok(())
    }
}

/// The account's SNS SMS attributes.
pub struct SnsAccount(pub Client);

#[async_trait]
impl SmsAccount for SnsAccount {
    async fn log_delivery_status(
        &self,
        role_arn: &str,
        success_sampling_percent: u8,
    ) -> Result<(), crate::Error> {
        self.0
            .set_sms_attributes()
            .attributes("DeliveryStatusIAMRole", role_arn)
            .attributes(
                "DeliveryStatusSuccessSamplingRate",
                success_sampling_percent.to_string(),
            )
            .send()
            .await
            .map_err(|e| sdk_failure("sns.SetSMSAttributes", &e))?;
        Ok(())
    }
}
