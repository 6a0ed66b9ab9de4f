//! Sending a code through the client's SMS providers in turn (DESIGN §13).

use super::App;
use crate::domain::provider::SmsProvider;
use crate::metrics::Metric;
use crate::sms::{Providers, SmsMessage};
use std::time::{Duration, Instant};

impl App {
    /// Sends `message` through `providers` (built by `sms`) in order until one takes it,
    /// the same code each time, all within `budget`: each provider gets an
    /// equal share of what is left when its turn comes. The kind of the
    /// provider that took it; none when none did.
    ///
    /// A provider that answers nothing in its share may still send: the
    /// next then sends the same code, so the user gets one code, maybe
    /// twice. One that refused or failed has sent nothing.
    pub(super) async fn deliver(
        &self,
        sms: &Providers,
        providers: &[SmsProvider],
        message: &SmsMessage,
        budget: Duration,
    ) -> Option<&'static str> {
        let deadline = Instant::now() + budget;
        for (turn, provider) in providers.iter().enumerate() {
            let share = deadline.saturating_duration_since(Instant::now())
                / u32::try_from(providers.len() - turn).unwrap_or(1);
            let send = async {
                let sender = sms
                    .sender(provider, &message.client_id, self.clock.now_ms(), share)
                    .await?;
                sender.send(message).await
            };
            let kind = provider.kind();
            match tokio::time::timeout(share, send).await {
                Ok(Ok(())) => return Some(kind),
                Ok(Err(_)) => {
                    tracing::warn!(client_id = %message.client_id, provider = kind, "sms provider did not take the send");
                }
                Err(_) => {
                    tracing::warn!(client_id = %message.client_id, provider = kind, share_ms = share.as_millis() as u64, "sms provider timed out");
                }
            }
            self.count_in(
                Metric::ProviderFailed,
                &message.client_id,
                Some(&message.calling_code),
                None,
                Some(kind),
            );
        }
        None
    }
}
