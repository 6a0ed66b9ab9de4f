//! `otp-admin`: operate a deployment. Clients (secret printed once, stored
//! hashed), their sender ids, templates and SMS providers (their secrets in
//! Secrets Manager), the user directory (CSV import),
//! test numbers, and the signing key's staged rotation. Region and
//! credentials come from the environment and the AWS profile files; the
//! table from `--table` or `OTP_TABLE_NAME`, the key's alias from `--alias`
//! or `OTP_SIGNING_KEY_ALIAS`. Arguments and input files are checked before
//! anything is asked of AWS; each kind of failure has its exit code.

mod aws;
mod cli;
mod clients;
mod failure;
mod providers;
mod signing_key;
mod users;

use aws_config::SdkConfig;
use clap::Parser;
use cli::{Cli, ClientCommand, Command, ProvidersCommand, UsersCommand};
use failure::Failure;
use otp_shared::config::SecretSource;
use otp_shared::store::DynamoStore;
use std::process::ExitCode;

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Providers(ProvidersCommand::Set { id, stack, file }) => {
            let planned = providers::plan(&file, &stack, &id)?;
            let (sdk, store) = table(&cli.table).await?;
            let secrets_manager = aws_sdk_secretsmanager::Client::new(&sdk);
            providers::set_providers(&secrets_manager, &store, &id, planned).await
        }
        Command::Client(command) => {
            if let ClientCommand::Set { assignments, .. } = &command {
                clients::check_assignments(assignments)?;
            }
            let (_, store) = table(&cli.table).await?;
            clients::client_command(&store, command).await
        }
        Command::TestNumber(command) => {
            if clients::prod_stage() {
                return Err(Failure::Input(
                    "test numbers are refused in the prod stage".into(),
                ));
            }
            let (_, store) = table(&cli.table).await?;
            clients::test_number_command(&store, command).await
        }
        Command::Users(UsersCommand::Import {
            file,
            clients,
            dry_run,
        }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Input(format!("{}: {e}", file.display())))?;
            let entries = users::entries(&text)?;
            // The same secret the functions hash with, from the same place.
            let source = SecretSource::from_lookup(|name| std::env::var(name).ok())?;
            let (sdk, store) = table(&cli.table).await?;
            let secret = otp_shared::aws::server_secret(source, &sdk)
                .await
                .map_err(|e| Failure::Failed(format!("the server secret: {e}")))?;
            users::import(&store, &entries, &secret, &clients, dry_run).await
        }
        Command::SigningKey(command) => {
            let sdk = aws::connect().await?;
            signing_key::signing_key_command(&aws_sdk_kms::Client::new(&sdk), command).await
        }
    }
}

/// The table named `name`, once it is known to exist and be readable.
async fn table(name: &str) -> Result<(SdkConfig, DynamoStore), Failure> {
    if name.is_empty() {
        return Err(Failure::Input(
            "the table is required: --table or OTP_TABLE_NAME (the stack's TableName output)"
                .into(),
        ));
    }
    let sdk = aws::connect().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    aws::check_table(&dynamodb, name).await?;
    Ok((sdk, DynamoStore::new(dynamodb, name.to_string())))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Failures inside the shared code are logged with the AWS error code that
    // explains them (e.g. AccessDeniedException); the operator sees those.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_target(false)
        .without_time()
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("otp-admin: {}", failure.message());
            failure.exit_code()
        }
    }
}
