//! Reaching AWS from an operator's machine. Region and credentials come from
//! the environment and the AWS profile files, as the AWS CLI reads them (web
//! identity and container credentials too); the EC2 instance metadata only
//! on EC2, since asking it anywhere else costs seconds of timeouts and a
//! page of warnings before saying what is missing.

use crate::failure::Failure;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::ProvideCredentials;
use otp_shared::aws::{TlsRoots, https_client};

/// The SDK's settings, once a region and credentials are known.
pub async fn connect() -> Result<SdkConfig, Failure> {
    let mut region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new());
    let mut credentials = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", ProfileFileCredentialsProvider::builder().build())
    .or_else(
        "WebIdentityToken",
        aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder().build(),
    )
    .or_else(
        "EcsContainer",
        aws_config::ecs::EcsCredentialsProvider::builder().build(),
    );
    if on_ec2() {
        region = region.or_else(aws_config::imds::region::ImdsRegionProvider::builder().build());
        credentials = credentials.or_else(
            "Ec2InstanceMetadata",
            aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
        );
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        // The operator's machine: its own trust store, as the AWS CLI's.
        .http_client(https_client(TlsRoots::System))
        .region(region)
        .credentials_provider(credentials)
        .load()
        .await;
    if sdk.region().is_none() {
        return Err(Failure::Setup(
            "no region: set AWS_REGION, or a region in your AWS profile (aws configure)".into(),
        ));
    }
    // Asked now, so that missing credentials are said as such, not as the
    // failure of the first call.
    let hint =
        "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws configure";
    match sdk.credentials_provider() {
        Some(provider) => {
            if let Err(e) = provider.provide_credentials().await {
                return Err(Failure::Setup(format!("no AWS credentials ({e}): {hint}")));
            }
        }
        None => return Err(Failure::Setup(format!("no AWS credentials: {hint}"))),
    }
    Ok(sdk)
}

/// Whether this machine is an EC2 instance (or `AWS_EC2_METADATA_DISABLED`
/// says not to ask): its firmware names Amazon EC2.
fn on_ec2() -> bool {
    let disabled =
        std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    !disabled
        && (read("/sys/devices/virtual/dmi/id/sys_vendor").trim() == "Amazon EC2"
            || read("/sys/hypervisor/uuid").starts_with("ec2"))
}

/// The table's existence and the right to read it, asked once before a
/// command touches it, so that a wrong name, a wrong region or missing
/// rights are said plainly.
pub async fn check_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), Failure> {
    let region = client
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failure::of_call(&format!("the table {table} (in {region})"), &e))
}
