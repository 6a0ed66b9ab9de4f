//! AWS plumbing shared by the adapters: one `SdkConfig` per cold start, with
//! endpoints from the SDK's own settings (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, …), and error reduction to safe log text.

use crate::Error;
use crate::config::SecretSource;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Loads the SDK configuration once: region, credentials and endpoints from
/// the environment, as every AWS tool reads them.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An SDK failure as an opaque internal error. Only the operation and the
/// service's error code are logged: service messages can quote request data
/// such as phone numbers.
pub fn sdk_failure<E: ProvideErrorMetadata, R>(operation: &str, err: &SdkError<E, R>) -> Error {
    let detail = match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown service error"),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unparseable response",
        SdkError::ConstructionFailure(_) => "request construction failure",
        _ => "unknown sdk failure",
    };
    Error::internal(operation, detail)
}

/// The app as a Lambda function runs it: settings from the environment,
/// DynamoDB, SNS and KMS clients from one `SdkConfig`.
pub async fn app_from_env() -> Result<crate::App, String> {
    let settings = crate::config::LambdaSettings::from_env()?;
    app(settings, &load_sdk_config().await).await
}

/// The server secret, fetched from Secrets Manager if that is its source.
pub async fn server_secret(
    source: SecretSource,
    sdk: &aws_config::SdkConfig,
) -> Result<crate::domain::keys::ServerSecret, String> {
    match source {
        SecretSource::Inline(secret) => Ok(*secret),
        SecretSource::SecretsManager { secret_id } => {
            let out = aws_sdk_secretsmanager::Client::new(sdk)
                .get_secret_value()
                .secret_id(&secret_id)
                .send()
                .await
                .map_err(|e| sdk_failure("secretsmanager.GetSecretValue", &e).to_string())?;
            let text = out
                .secret_string()
                .ok_or("the server secret has no text value")?;
            crate::config::server_secret_from_text(text)
        }
    }
}

pub async fn app(
    settings: crate::config::LambdaSettings,
    sdk: &aws_config::SdkConfig,
) -> Result<crate::App, String> {
    use crate::clock::{OsEntropy, SystemClock};
    use std::sync::Arc;

    let secret = server_secret(settings.server_secret, sdk).await?;
    Ok(crate::App::new(
        Arc::new(crate::store::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            settings.table_name,
        )),
        Arc::new(crate::sms::SnsSender::new(aws_sdk_sns::Client::new(sdk))),
        Arc::new(crate::signer::KmsSigner::new(
            aws_sdk_kms::Client::new(sdk),
            settings.signing_key_alias,
            crate::signer::ALIAS_REFRESH,
        )),
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
        secret,
        settings.config,
    ))
}
