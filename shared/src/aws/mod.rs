//! The composition root of the Lambda functions: one `SdkConfig` per cold
//! start, with endpoints from the SDK's own settings (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, …), and the adapters built from it. Each
//! function asks for the ports its routes use and no others, so its binary
//! links only those SDK clients.

mod tls;

pub use tls::{AMAZON_TRUST_SERVICES_PEM, TlsRoots, https_client};

use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::config::{LambdaSettings, SecretSource, Timeouts};
use crate::sdk::{retry_config, timeout_config};
use crate::signer::Signer;
use crate::sms::{MessageFeedback, Providers, SmsAccount};
use crate::store::SentIndex;
use std::sync::Arc;

/// Loads the SDK configuration once, as Lambda hands it over: region and
/// credentials from its variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), endpoints from the SDK's
/// own settings (`AWS_ENDPOINT_URL_DYNAMODB`, …), over `http`. The default
/// chains would build an STS and an IMDS client at every cold start that no
/// function calls (BENCHMARKS.md, cold start).
pub async fn load_sdk_config(http: SharedHttpClient) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
        .http_client(http)
        .load()
        .await
}

/// `sdk` with every call's timeouts and retries set from `timeouts`
/// (`sdk::timeout_config`, `sdk::retry_config`), whichever configuration it
/// was loaded with.
pub fn with_call_limits(sdk: &aws_config::SdkConfig, timeouts: &Timeouts) -> aws_config::SdkConfig {
    sdk.to_builder()
        .timeout_config(timeout_config(timeouts))
        .retry_config(retry_config())
        .build()
}

/// The server secret, fetched from Secrets Manager if that is its source.
pub async fn server_secret(
    source: SecretSource,
    sdk: &aws_config::SdkConfig,
) -> Result<crate::domain::keys::ServerSecret, String> {
    match source {
        SecretSource::Inline(secret) => Ok(*secret),
        SecretSource::SecretsManager { secret_id } => {
            crate::config::server_secret_from_text(&secret_text(sdk, &secret_id).await?)
        }
    }
}

/// The text of the secret `secret_id` in Secrets Manager. An attempt that
/// hangs (a connection cut while Lambda froze the environment between init
/// and the first event) is retried, within the configuration's timeouts
/// (`with_call_limits`).
async fn secret_text(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<String, String> {
    crate::sms::secrets_manager::secret_text(&aws_sdk_secretsmanager::Client::new(sdk), secret_id)
        .await
}

/// The edge's origin token (`OTP_EDGE_SECRET_ARN`), if the stack has an edge.
async fn edge_token(
    sdk: &aws_config::SdkConfig,
    secret_id: Option<&str>,
) -> Result<Option<crate::config::EdgeToken>, String> {
    match secret_id {
        Some(id) => Ok(Some(crate::config::EdgeToken::new(
            secret_text(sdk, id).await?,
        )?)),
        None => Ok(None),
    }
}

/// Builds a port from the SDK configuration.
type PortBuilder<P> = fn(&aws_config::SdkConfig, &LambdaSettings) -> P;

/// One function's wiring: its settings, and the ports beyond DynamoDB that
/// its routes use. Only a function that asks for a port links the code that
/// builds it: each port is a builder set by `with_*`.
#[derive(Clone)]
pub struct Deployment {
    settings: LambdaSettings,
    /// The SDK configuration to use instead of the environment's.
    sdk: Option<aws_config::SdkConfig>,
    sms: Option<PortBuilder<Providers>>,
    signer: Option<PortBuilder<Arc<dyn Signer>>>,
    feedback: Option<PortBuilder<Arc<dyn MessageFeedback>>>,
    sms_account: Option<PortBuilder<Arc<dyn SmsAccount>>>,
    sent_index: Option<IndexBuilder>,
}

/// Builds the index of challenges by number over the table's client.
type IndexBuilder = fn(aws_sdk_dynamodb::Client, String, Timeouts) -> Arc<dyn SentIndex>;

impl Deployment {
    /// As a function starts: settings from the environment (a bad one fails
    /// the function's init); the SDK configuration is loaded by [`Self::app`].
    pub fn from_env() -> Result<Self, String> {
        Ok(Self::new(LambdaSettings::from_env()?))
    }

    pub fn new(settings: LambdaSettings) -> Self {
        Self {
            settings,
            sdk: None,
            sms: None,
            signer: None,
            feedback: None,
            sms_account: None,
            sent_index: None,
        }
    }

    /// Over `sdk` instead of the configuration the environment describes.
    pub fn with_sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.sdk = Some(sdk);
        self
    }

    /// SMS through SNS, End User Messaging, and the providers called over
    /// HTTPS with their credentials from Secrets Manager: request-otp's.
    pub fn with_sms_providers(mut self) -> Self {
        self.sms = Some(|sdk, _| {
            use crate::sms::{EumClient, SnsSender, secrets_manager::SecretsManagerSecrets};
            Providers::new(Arc::new(SnsSender::new(aws_sdk_sns::Client::new(sdk))))
                .with_eum(Arc::new(EumClient(
                    aws_sdk_pinpointsmsvoicev2::Client::new(sdk),
                )))
                .with_secrets(Arc::new(SecretsManagerSecrets::new(
                    aws_sdk_secretsmanager::Client::new(sdk),
                )))
                .in_lambda()
        });
        self
    }

    /// Tokens signed by KMS: confirm-otp's and issue-token's.
    pub fn with_kms(mut self) -> Self {
        self.signer = Some(|sdk, settings| {
            Arc::new(crate::signer::KmsSigner::new(
                aws_sdk_kms::Client::new(sdk),
                settings.signing_key_alias.clone(),
                crate::signer::ALIAS_REFRESH,
            ))
        });
        self
    }

    /// End User Messaging's message feedback, given on confirm:
    /// confirm-otp's.
    pub fn with_message_feedback(mut self) -> Self {
        self.feedback = Some(|sdk, _| {
            Arc::new(crate::sms::EumFeedback(
                aws_sdk_pinpointsmsvoicev2::Client::new(sdk),
            ))
        });
        self
    }

    /// The account's SNS SMS attributes, which the stack sets through
    /// CloudFormation's custom resource: delivery-events'.
    pub fn with_sms_account(mut self) -> Self {
        self.sms_account =
            Some(|sdk, _| Arc::new(crate::sms::SnsAccount(aws_sdk_sns::Client::new(sdk))));
        self
    }

    /// The challenges by the number they were sent to, which SNS's delivery
    /// logs are matched by: delivery-events'. The other functions never
    /// link the index's query.
    pub fn with_sent_index(mut self) -> Self {
        self.sent_index = Some(|client, table, timeouts| {
            Arc::new(crate::store::DynamoStore::with_timeouts(
                client, table, timeouts,
            ))
        });
        self
    }

    /// The app: the SDK configuration loaded, the clients built and the
    /// server secret read. The future owns what it needs, so that it can run
    /// beside the Lambda runtime's first poll (`http::lambda::run`).
    pub fn app(&self) -> impl Future<Output = Result<crate::App, String>> + Send + 'static {
        use crate::clock::{OsEntropy, SystemClock};

        let this = self.clone();
        async move {
            let sdk = match this.sdk {
                Some(sdk) => sdk,
                None => load_sdk_config(https_client(this.settings.tls_roots)).await,
            };
            let settings = this.settings;
            let timeouts = settings.config.timeouts;
            let sdk = with_call_limits(&sdk, &timeouts);
            let sms = this.sms.map(|build| build(&sdk, &settings));
            let signer = this.signer.map(|build| build(&sdk, &settings));
            let feedback = this.feedback.map(|build| build(&sdk, &settings));
            let sms_account = this.sms_account.map(|build| build(&sdk, &settings));
            let (secret, edge) = tokio::join!(
                server_secret(settings.server_secret, &sdk),
                edge_token(&sdk, settings.edge_secret_id.as_deref())
            );
            let (secret, config) = (
                secret?,
                crate::config::Config {
                    edge: edge?,
                    ..settings.config
                },
            );
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            let index = this
                .sent_index
                .map(|build| build(dynamodb.clone(), settings.table_name.clone(), timeouts));
            let app = crate::App::new(
                Arc::new(crate::store::DynamoStore::with_timeouts(
                    dynamodb,
                    settings.table_name,
                    timeouts,
                )),
                sms,
                signer,
                Arc::new(SystemClock),
                Arc::new(OsEntropy),
                secret,
                config,
            );
            let app = match feedback {
                Some(feedback) => app.with_message_feedback(feedback),
                None => app,
            };
            let app = match sms_account {
                Some(account) => app.with_sms_account(account),
                None => app,
            };
            Ok(match index {
                Some(index) => app.with_sent_index(index),
                None => app,
            })
        }
    }
}
