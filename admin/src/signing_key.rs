//! The KMS key that signs access tokens: which keys the aliases point at,
//! and the staged rotation (`otp_shared::signer::rotation`).

use crate::cli::SigningKeyCommand;
use crate::failure::Failure;
use otp_shared::signer::rotation::{self, Rotation};
use std::time::Duration;

pub async fn signing_key_command(
    kms: &aws_sdk_kms::Client,
    command: SigningKeyCommand,
) -> Result<(), Failure> {
    match command {
        SigningKeyCommand::Status { alias } => {
            for key in rotation::keys(kms, &alias).await.map_err(Failure::Failed)? {
                let age = rotation::key_age(kms, &key.key_id)
                    .await
                    .map_err(Failure::Failed)?;
                println!(
                    "{}\t{}\tkid={}\tcreated {} minutes ago",
                    key.role.name(),
                    key.key_id,
                    key.jwk.kid,
                    age.as_secs() / 60
                );
            }
            Ok(())
        }
        SigningKeyCommand::Rotate {
            alias,
            min_published_minutes,
            force,
        } => {
            let publish_for = Duration::from_secs(min_published_minutes * 60);
            match rotation::rotate(kms, &alias, publish_for, force)
                .await
                .map_err(Failure::Failed)?
            {
                Rotation::Published { next_key_id } => {
                    println!("published a new key as next: {next_key_id}");
                    println!("JWKS lists it now; tokens are still signed with the current key.");
                    println!(
                        "Run `otp-admin signing-key rotate` again in {min_published_minutes} minutes or later to sign with it."
                    );
                }
                Rotation::Promoted {
                    current_key_id,
                    previous_key_id,
                    retired_key_id,
                } => {
                    println!("signing with {current_key_id}");
                    println!("{previous_key_id} stays published as previous");
                    if let Some(retired) = retired_key_id {
                        println!(
                            "{retired} is no longer published; when nothing else uses it: \
                             aws kms schedule-key-deletion --key-id {retired} --pending-window-in-days 30"
                        );
                    }
                }
            }
            Ok(())
        }
    }
}
