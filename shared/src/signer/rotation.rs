//! Staged rotation of the signing key, run by `otp-admin signing-key rotate`.
//! A new key is first only published (alias `-next`), so every function and
//! every verifier's JWKS cache knows it before any token carries its `kid`;
//! a second run promotes it, and the key it replaces stays published as
//! `-previous` until the tokens it signed have expired.

use super::kms::{KeyRole, PublishedKey, published_keys};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one run of the rotation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// A new key is published as next; tokens are still signed with the
    /// current one.
    Published { next_key_id: String },
    /// The next key now signs, the former current key is published as
    /// previous, and `retired` (the former previous key, if any) is no longer
    /// published.
    Promoted {
        current_key_id: String,
        previous_key_id: String,
        retired_key_id: Option<String>,
    },
}

/// The operator's view of a KMS failure: here the caller owns the request,
/// so the service's message is shown.
fn failure<E: ProvideErrorMetadata, R>(operation: &str, err: &SdkError<E, R>) -> String {
    match err.as_service_error() {
        Some(e) => format!(
            "{operation}: {} {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or("")
        ),
        None => format!("{operation}: KMS unreachable ({err})"),
    }
}

/// The keys the aliases point at, for `signing-key status`.
pub async fn keys(client: &Client, alias: &str) -> Result<Vec<PublishedKey>, String> {
    let keys = published_keys(client, alias)
        .await
        .map_err(|_| format!("kms.GetPublicKey on {alias}* failed"))?;
    if keys[0].is_none() {
        return Err(format!("the alias {alias} does not exist"));
    }
    Ok(keys.into_iter().flatten().collect())
}

/// How long ago a key was created.
pub async fn key_age(client: &Client, key_id: &str) -> Result<Duration, String> {
    let out = client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| failure("kms.DescribeKey", &e))?;
    let created = out
        .key_metadata()
        .and_then(|m| m.creation_date())
        .ok_or("kms.DescribeKey: no creation date")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    Ok(Duration::from_secs(
        now.saturating_sub(created.secs()).max(0) as u64,
    ))
}

async fn point(client: &Client, alias: &str, key_id: &str, exists: bool) -> Result<(), String> {
    if exists {
        client
            .update_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| failure("kms.UpdateAlias", &e))?;
    } else {
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| failure("kms.CreateAlias", &e))?;
    }
    Ok(())
}

/// One stage of the rotation. Promotion is refused while the next key has
/// been published for less than `publish_for`, unless `force`.
pub async fn rotate(
    client: &Client,
    alias: &str,
    publish_for: Duration,
    force: bool,
) -> Result<Rotation, String> {
    let [current, next, previous] = published_keys(client, alias)
        .await
        .map_err(|_| format!("kms.GetPublicKey on {alias}* failed"))?;
    let current = current.ok_or(format!("the alias {alias} does not exist"))?;
    let Some(next) = next else {
        let created = client
            .create_key()
            .key_spec(KeySpec::Rsa2048)
            .key_usage(KeyUsageType::SignVerify)
            .description(format!("Signs the access tokens; {alias}"))
            .send()
            .await
            .map_err(|e| failure("kms.CreateKey", &e))?;
        let next_key_id = created
            .key_metadata()
            .map(|m| m.arn().unwrap_or(m.key_id()).to_string())
            .ok_or("kms.CreateKey: no key metadata")?;
        point(client, &KeyRole::Next.alias(alias), &next_key_id, false).await?;
        return Ok(Rotation::Published { next_key_id });
    };
    let age = key_age(client, &next.key_id).await?;
    if age < publish_for && !force {
        let wait = (publish_for - age).as_secs().div_ceil(60);
        return Err(format!(
            "the next key was published {} minutes ago; promote it in {wait} more minutes, \
             once every function and verifier has fetched it (or pass --force)",
            age.as_secs() / 60
        ));
    }
    // In this order every moment publishes the key that signs.
    let previous_alias = KeyRole::Previous.alias(alias);
    point(client, &previous_alias, &current.key_id, previous.is_some()).await?;
    point(client, alias, &next.key_id, true).await?;
    client
        .delete_alias()
        .alias_name(KeyRole::Next.alias(alias))
        .send()
        .await
        .map_err(|e| failure("kms.DeleteAlias", &e))?;
    Ok(Rotation::Promoted {
        current_key_id: next.key_id,
        previous_key_id: current.key_id,
        retired_key_id: previous.map(|p| p.key_id),
    })
}
