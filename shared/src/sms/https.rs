//! The HTTPS client of the providers called over HTTP (ThaiBulkSMS, eSMS,
//! send hooks). It trusts the system's roots, read at the first call: only a
//! client that sends through such a provider pays for them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::OnceLock;
use std::time::Duration;

/// Answers are read up to this; the providers' are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
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
}

impl HttpsClient {
    fn client(&self) -> Result<&HyperClient, CallFailure> {
        self.client
            .get_or_init(|| {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|e| e.to_string())?
                    // Plain http only ever reaches this machine: provider
                    // URLs are checked (`domain::provider::is_provider_url`).
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
            .map_err(|e| CallFailure::NoTrustStore(e.clone()))
    }

    /// POSTs `body` to `url` with `headers`, and reads the answer, all
    /// within `timeout`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, CallFailure> {
        let client = self.client()?;
        let mut request = hyper::Request::post(url);
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
