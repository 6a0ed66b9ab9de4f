//! AWS End User Messaging SMS (`pinpoint-sms-voice-v2` `SendTextMessage`):
//! the client's origination identity, configuration set and protect
//! configuration; `Context` names the challenge and the client, with the
//! SMS's sealed ticket, and comes back in every event of the message. Each
//! SMS asks for message feedback, which the confirm gives
//! (`PutMessageFeedback`).

use super::{EumSenders, MessageFeedback, SmsMessage, SmsRefused, SmsSender};
use crate::domain::provider::EumSettings;
use crate::sdk::sdk_failure;
use async_trait::async_trait;
use aws_sdk_pinpointsmsvoicev2::Client;
use aws_sdk_pinpointsmsvoicev2::config::retry::RetryConfig;
use aws_sdk_pinpointsmsvoicev2::types::{MessageFeedbackStatus, MessageType};
use std::collections::HashMap;
use std::sync::Arc;

/// A call's configuration with the SDK's retries off.
fn one_attempt() -> aws_sdk_pinpointsmsvoicev2::config::Builder {
    aws_sdk_pinpointsmsvoicev2::config::Builder::default()
        .retry_config(RetryConfig::standard().with_max_attempts(1))
}

/// Builds a client's End User Messaging sender over one SDK client.
pub struct EumClient(pub Client);

impl EumSenders for EumClient {
    fn sender(&self, settings: &EumSettings) -> Arc<dyn SmsSender> {
        Arc::new(EumSender {
            client: self.0.clone(),
            settings: settings.clone(),
        })
    }
}

struct EumSender {
    client: Client,
    settings: EumSettings,
}

#[async_trait]
impl SmsSender for EumSender {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        let origination = self
            .settings
            .origination_identity
            .clone()
            .or_else(|| message.sender_id.clone());
        // What delivery-events opens to know whose code an event is of (the
        // names beside it are for people reading the events).
        let mut context = HashMap::from([
            ("challenge".to_string(), message.challenge_id.clone()),
            ("client".to_string(), message.client_id.clone()),
        ]);
        if let Some(ticket) = message.ticket("eum") {
            context.insert("ticket".to_string(), ticket.to_string());
        }
        self.client
            .send_text_message()
            .destination_phone_number(&message.to)
            .message_body(&message.text)
            .message_type(MessageType::Transactional)
            .set_origination_identity(origination)
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .set_protect_configuration_id(self.settings.protect_configuration_id.clone())
            .set_context(Some(context))
            // AWS's own conversion metrics then count what the confirm
            // tells (`EumFeedback`).
            .message_feedback_enabled(true)
            // One attempt: the call has no idempotency key, so a retry after
            // an answer lost on the way could text the code twice; a failure
            // passes the code to the next provider instead.
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .map_err(|e| {
                sdk_failure("sms-voice.SendTextMessage", &e);
                SmsRefused
            })?;
        Ok(())
    }
}

/// End User Messaging's message feedback, over one SDK client.
pub struct EumFeedback(pub Client);

#[async_trait]
impl MessageFeedback for EumFeedback {
    async fn received(&self, message_id: &str) -> Result<(), crate::Error> {
        self.0
            .put_message_feedback()
            .message_id(message_id)
            .message_feedback_status(MessageFeedbackStatus::Received)
            // One attempt, within the confirm's bound (`tell_received`).
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .map_err(|e| sdk_failure("sms-voice.PutMessageFeedback", &e))?;
        Ok(())
    }
}
