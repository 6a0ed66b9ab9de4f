//! The HTTPS client of the providers called over HTTP (ThaiBulkSMS, eSMS,
//! send hooks), and of the answers to CloudFormation's custom resource
//! requests (`http::custom_resource`). It trusts the system's roots, read at the first call: only a
//! client that sends through such a provider pays for them.

use super::SmsRefused;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Answers are read up to this; the providers' are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// What a provider's answer says of the send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Taken,
    /// It will not send this: trying again would not help.
    Refused(String),
    /// It may take it if asked again (a 5xx, a throttle).
    Failed(String),
}

/// Why a call has no answer: never the URL's secrets or the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    TimedOut,
    /// Connecting, TLS, or the answer cut short.
    Transport(String),
    /// The system's roots could not be read.
    NoTrustStore(String),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::TimedOut => f.write_str("timed out"),
            CallFailure::Transport(why) => write!(f, "transport: {why}"),
            CallFailure::NoTrustStore(why) => write!(f, "no trust store: {why}"),
        }
    }
}

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Default)]
pub struct HttpsClient {
    client: OnceLock<Result<HyperClient, String>>,
    /// Refuses plain http even to this machine: in Lambda, whose runtime
    /// API listens there.
    https_only: bool,
}

impl HttpsClient {
    pub fn https_only() -> Self {
        Self {
            client: OnceLock::new(),
            https_only: true,
        }
    }

    fn client(&self) -> Result<&HyperClient, CallFailure> {
        self.client
            .get_or_init(|| {
                let builder = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|e| e.to_string())?;
                // Otherwise plain http only ever reaches this machine:
                // provider URLs are checked (`domain::provider::is_provider_url`).
                let builder = if self.https_only {
                    builder.https_only()
                } else {
                    builder.https_or_http()
                };
                let connector = builder.enable_http1().build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
            .map_err(|e| CallFailure::NoTrustStore(e.clone()))
    }

    /// Sends `body` to `url` by `method` with `headers`, and reads the
    /// answer, all within `timeout`.
    pub async fn call(
        &self,
        method: hyper::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, CallFailure> {
        let client = self.client()?;
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| CallFailure::Transport(e.to_string()))?;
        let call = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| CallFailure::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| CallFailure::Transport(e.to_string()))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(CallFailure::TimedOut))
    }
}

impl HttpsClient {
    /// POSTs a send to `provider` until it takes or refuses it: at most
    /// `attempts` times, all within `budget`, each attempt leaving an equal
    /// share for those after it. Only a provider that knows a retry for the
    /// same send (by its id) may be given more than one attempt. `judge`
    /// reads each answer; a call without one has failed.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        provider: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        budget: Duration,
        attempts: u32,
        judge: impl Fn(&Answer) -> Verdict,
    ) -> Result<(), SmsRefused> {
        let began = Instant::now();
        for attempt in 1..=attempts {
            let left = budget.saturating_sub(began.elapsed());
            let timeout = left / (attempts - attempt + 1);
            let verdict = match self
                .call(hyper::Method::POST, url, headers, body.clone(), timeout)
                .await
            {
                Ok(answer) => judge(&answer),
                Err(failure) => Verdict::Failed(failure.to_string()),
            };
            match verdict {
                Verdict::Taken => return Ok(()),
                Verdict::Refused(why) => {
                    tracing::warn!(provider, %why, "sms provider refused the send");
                    return Err(SmsRefused);
                }
                Verdict::Failed(why) => {
                    tracing::warn!(provider, %why, attempt, "sms provider failed");
                }
            }
        }
        Err(SmsRefused)
    }
}
