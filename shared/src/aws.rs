//! The composition root of the Lambda functions: one `SdkConfig` per cold
//! start, with endpoints from the SDK's own settings (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, …), and the adapters built from it.

use crate::config::SecretSource;
use crate::sdk::sdk_failure;

/// Loads the SDK configuration once: region, credentials and endpoints from
/// the environment, as every AWS tool reads them.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
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
