//! The SMS port and its providers (DESIGN §13): SNS and End User Messaging
//! in AWS (an outbox that prints in local mode); ThaiBulkSMS, eSMS and send
//! hooks, over HTTPS anywhere.

pub mod esms;
#[cfg(feature = "aws")]
mod eum;
pub mod https;
mod outbox;
pub mod secrets;
#[cfg(feature = "aws")]
pub mod secrets_manager;
#[cfg(feature = "aws")]
mod sns;
pub mod thaibulksms;
pub mod webhook;

#[cfg(feature = "aws")]
pub use eum::{EumClient, EumFeedback};
pub use outbox::{Outbox, OutboxEntry};
#[cfg(feature = "aws")]
pub use sns::{SnsAccount, SnsSender};

use crate::clock::Millis;
use crate::domain::provider::{
    ESMS_URL, EumSettings, PROVIDER_SECRET_PATH, SmsProvider, THAIBULKSMS_URL,
    provider_secret_client,
};
use async_trait::async_trait;
use https::HttpsClient;
use secrets::{MemorySecrets, ProviderSecrets, secret_of};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One text to one phone, and what a send hook is told of it. `Debug`
/// hides the number, the text and the code.
#[derive(Clone)]
pub struct SmsMessage {
    /// E.164 number.
    pub to: String,
    pub text: String,
    pub sender_id: Option<String>,
    /// The code inside `text`, kept apart for the local outbox and hooks.
    pub code: String,
    /// Names the send to providers: the same on every retry and provider.
    pub challenge_id: String,
    pub client_id: String,
    pub calling_code: String,
    pub locale: String,
    pub ref_code: String,
    pub expires_at_ms: Millis,
    /// What names this SMS's code in the providers' reports.
    pub delivery: DeliveryTickets,
}

/// One SMS's tickets (`delivery::callback`), and where the providers that
/// call a URL report.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeliveryTickets {
    /// The service's base URL (its issuer): `https://…`, no trailing `/`;
    /// none where it is not known.
    pub base_url: Option<String>,
    /// The sealed ticket of each provider that reports with one.
    pub sealed: Vec<(&'static str, String)>,
}

impl SmsMessage {
    /// The ticket the provider `kind`'s reports of this SMS carry.
    pub fn ticket(&self, kind: &str) -> Option<&str> {
        self.delivery
            .sealed
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, ticket)| ticket.as_str())
    }

    /// The URL the provider `kind` reports this SMS to.
    pub fn callback_url(&self, kind: &str) -> Option<String> {
        let base = self.delivery.base_url.as_ref()?;
        let ticket = self.ticket(kind)?;
        Some(format!(
            "{base}{}/{kind}/{ticket}",
            crate::delivery::callback::CALLBACK_PATH
        ))
    }
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("challenge_id", &self.challenge_id)
            .field("sender_id", &self.sender_id)
            .finish_non_exhaustive()
    }
}

/// The SMS was not accepted; the adapter has logged why (without the number
/// or the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsRefused;

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused>;
}

/// Tells a provider that an SMS arrived: End User Messaging's message
/// feedback, which its own conversion metrics count (a message it sent with
/// feedback and is not told of within an hour counts as failed).
#[async_trait]
pub trait MessageFeedback: Send + Sync {
    /// The SMS `message_id` was received: its code was confirmed.
    async fn received(&self, message_id: &str) -> Result<(), crate::Error>;
}

/// The account's SMS settings the stack keeps: SNS's delivery-status
/// logging, which `delivery-events` reads (CloudFormation cannot set them).
#[async_trait]
pub trait SmsAccount: Send + Sync {
    /// SNS logs each SMS's delivery status through `role_arn`, every
    /// failure and `success_sampling_percent` of the successes.
    async fn log_delivery_status(
        &self,
        role_arn: &str,
        success_sampling_percent: u8,
    ) -> Result<(), crate::Error>;
}

/// Builds the sender of an `eum` provider, with the client's names.
pub trait EumSenders: Send + Sync {
    fn sender(&self, settings: &EumSettings) -> Arc<dyn SmsSender>;
}

/// Stands in for End User Messaging where there is none (local mode): every
/// client's `eum` sends through one sender (the outbox).
pub struct EumStandIn(pub Arc<dyn SmsSender>);

impl EumSenders for EumStandIn {
    fn sender(&self, _: &EumSettings) -> Arc<dyn SmsSender> {
        self.0.clone()
    }
}

/// Builds a sender for each provider of a client's list: the ports this
/// deployment has, and the providers' credentials.
pub struct Providers {
    /// `sns`: SNS in AWS; the outbox in local mode.
    sns: Arc<dyn SmsSender>,
    /// `eum`: End User Messaging in AWS; none elsewhere.
    eum: Option<Arc<dyn EumSenders>>,
    http: Arc<HttpsClient>,
    secrets: Arc<dyn ProviderSecrets>,
    /// ThaiBulkSMS and eSMS only at their vendors' URLs (in Lambda).
    vendor_urls_only: bool,
}

impl Providers {
    /// With no provider secrets: only `sns` can send.
    pub fn new(sns: Arc<dyn SmsSender>) -> Self {
        Self {
            sns,
            eum: None,
            vendor_urls_only: false,
            http: Arc::default(),
            secrets: Arc::new(MemorySecrets::default()),
        }
    }

    pub fn with_secrets(mut self, secrets: Arc<dyn ProviderSecrets>) -> Self {
        self.secrets = secrets;
        self
    }

    /// As in Lambda: providers called over HTTP are called over HTTPS, even
    /// on this machine (where the runtime API listens), and ThaiBulkSMS and
    /// eSMS only at their vendors' URLs.
    pub fn in_lambda(mut self) -> Self {
        self.http = Arc::new(HttpsClient::https_only());
        self.vendor_urls_only = true;
        self
    }

    pub fn with_eum(mut self, eum: Arc<dyn EumSenders>) -> Self {
        self.eum = Some(eum);
        self
    }

    /// The sender of `provider`, one of `client_id`'s, for a send that may
    /// take `budget`, at `now_ms`. `Err` when its credentials cannot be had
    /// (logged, without them): also when its secret is not one of
    /// `client_id`'s (`<stack>/sms-provider/<client_id>/…`, as otp-admin
    /// names them), so that a record naming another client's secret never
    /// sends it anywhere; and, in Lambda, when ThaiBulkSMS or eSMS is given
    /// another URL than its vendor's, where its credentials would go.
    pub async fn sender(
        &self,
        provider: &SmsProvider,
        client_id: &str,
        now_ms: Millis,
        budget: Duration,
    ) -> Result<Arc<dyn SmsSender>, SmsRefused> {
        let unusable = |why: String| {
            tracing::warn!(provider = provider.kind(), %why, "sms provider unusable");
            SmsRefused
        };
        if let Some(arn) = provider.secret_arn()
            && provider_secret_client(arn) != Some(client_id)
        {
            return Err(unusable(format!(
                "its secret is not named {PROVIDER_SECRET_PATH}{client_id}/…"
            )));
        }
        let vendor_url = |url: &Option<String>, vendor: &str| match url {
            Some(url) if self.vendor_urls_only && url != vendor => Err(unusable(
                "another URL than the vendor's, in Lambda".to_string(),
            )),
            _ => Ok(url.as_deref().unwrap_or(vendor).to_string()),
        };
        let http = self.http.clone();
        match provider {
            SmsProvider::Sns {} => Ok(self.sns.clone()),
            SmsProvider::Eum(settings) => match &self.eum {
                Some(eum) => Ok(eum.sender(settings)),
                None => Err(unusable("End User Messaging is not wired here".into())),
            },
            SmsProvider::Thaibulksms(settings) => {
                let secret: thaibulksms::ThaiBulkSmsSecret =
                    secret_of(self.secrets.as_ref(), &settings.secret_arn)
                        .await
                        .map_err(unusable)?;
                Ok(Arc::new(thaibulksms::ThaiBulkSms {
                    http,
                    url: vendor_url(&settings.url, THAIBULKSMS_URL)?,
                    authorization: secret.basic_authorization(),
                    callback_url: settings.callback_url.clone(),
                    budget,
                }))
            }
            SmsProvider::Esms(settings) => {
                let secret: esms::EsmsSecret =
                    secret_of(self.secrets.as_ref(), &settings.secret_arn)
                        .await
                        .map_err(unusable)?;
                Ok(Arc::new(esms::Esms {
                    http,
                    url: vendor_url(&settings.url, ESMS_URL)?,
                    secret,
                    callback_url: settings.callback_url.clone(),
                    sandbox: settings.sandbox,
                    budget,
                }))
            }
            SmsProvider::Webhook(settings) => {
                let secret: webhook::WebhookSecret =
                    secret_of(self.secrets.as_ref(), &settings.secret_arn)
                        .await
                        .map_err(unusable)?;
                Ok(Arc::new(webhook::Webhook {
                    http,
                    url: settings.url.clone(),
                    key: secret.key().map_err(unusable)?,
                    now_secs: now_ms.div_euclid(1000),
                    budget,
                }))
            }
        }
    }
}
