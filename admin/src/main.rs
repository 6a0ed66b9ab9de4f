//! `otp-admin`: operate a deployment. Clients (secret printed once, stored
//! hashed), their sender ids and templates, the user directory (CSV import),
//! test numbers, and the signing key's staged rotation. Endpoints and
//! credentials come from the AWS SDK's usual settings; the table from
//! `--table` or `OTP_TABLE_NAME`, the key's alias from `--alias` or
//! `OTP_SIGNING_KEY_ALIAS`.

use clap::{Parser, Subcommand};
use otp_shared::config::SecretSource;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::code::{Charset, random_bytes};
use otp_shared::domain::keys::b64;
use otp_shared::domain::phone::{LineType, PhoneNumber};
use otp_shared::domain::user::{ThaiIdCard, User};
use otp_shared::signer::rotation::{self, Rotation};
use otp_shared::store::{DynamoStore, Store};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "otp-admin",
    version,
    about = "Operate the OTP login service: clients, users, test numbers, signing key"
)]
struct Cli {
    /// The DynamoDB table (the stack's `TableName` output).
    #[arg(long, env = "OTP_TABLE_NAME", global = true, default_value = "")]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, list, disable and configure clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The user directory, for clients that serve registered users only.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Numbers with a fixed code that are never texted (refused in prod).
    #[command(subcommand)]
    TestNumber(TestNumberCommand),
    /// The KMS key that signs access tokens: status and staged rotation.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Creates a client; prints its id and secret (the secret only this once).
    Create(Box<CreateArgs>),
    /// Lists clients: id, state, brand and sender ids (never secrets).
    List,
    /// Disables a client: its secret stops working at once (cached up to 60 s).
    Disable {
        #[arg(long)]
        id: String,
    },
    /// Registers one more sender id for a client.
    AddSender {
        #[arg(long)]
        id: String,
        #[arg(long = "sender-id")]
        sender_id: String,
    },
    /// Sets the lines that let phones fill the code in by themselves (set a
    /// value to "" to remove it). Every template must still fit one SMS.
    SetAutofill {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        autofill: Autofill,
    },
    /// Sets a client's message template for a locale.
    SetTemplate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        locale: String,
        /// Must contain {OTP}.
        #[arg(long)]
        text: String,
    },
}

/// What a new client is.
#[derive(clap::Args)]
struct CreateArgs {
    /// Letters, digits, `-` and `_`; at most 64.
    #[arg(long)]
    id: String,
    /// Shown in messages as {BRAND}.
    #[arg(long, default_value = "OTP")]
    brand: String,
    /// A registered SNS sender id; repeat for more, the first is the
    /// default. None: the stack's SenderId.
    #[arg(long = "sender-id")]
    sender_ids: Vec<String>,
    /// `LOCALE=TEXT` with {OTP} (and {REF}, {MINUTES}, {BRAND}); repeatable.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// The locale used when a request names none.
    #[arg(long, default_value = "en")]
    default_locale: String,
    /// 4 to 10; default: the stack's CodeLength.
    #[arg(long)]
    code_length: Option<u8>,
    /// `digits` or `alphanumeric`.
    #[arg(long, default_value = "digits")]
    charset: String,
    /// 120 to 600; default: the stack's CodeLifetimeSeconds.
    #[arg(long)]
    lifetime_secs: Option<u32>,
    /// For national forms like 08x…; required unless exactly one
    /// --allowed-calling-code is given.
    #[arg(long)]
    default_calling_code: Option<String>,
    /// Repeatable; none means the deployment's list.
    #[arg(long = "allowed-calling-code")]
    allowed_calling_codes: Vec<String>,
    /// A line type that receives the client's SMS, as libphonenumber
    /// names it (MOBILE, FIXED_LINE_OR_MOBILE, FIXED_LINE, VOIP, …);
    /// repeatable. None: MOBILE and FIXED_LINE_OR_MOBILE.
    #[arg(long = "allowed-line-type")]
    allowed_line_types: Vec<String>,
    /// Confirm answers "Code is correct." instead of issuing tokens.
    #[arg(long)]
    no_tokens: bool,
    /// Only users in the directory may log in.
    #[arg(long)]
    registered_users_only: bool,
    /// The One ID routes answer an unregistered number (or another ID
    /// card) with One ID's own 404s; otherwise as a known number.
    #[arg(long)]
    reveal_unknown_users: bool,
    #[command(flatten)]
    autofill: Autofill,
}

/// The autofill lines every SMS of a client ends with.
#[derive(clap::Args)]
struct Autofill {
    /// WebOTP and iOS: the host whose pages may read the code, e.g.
    /// login.example.com; adds the last line `@<host> #<code>`.
    #[arg(long)]
    webotp_domain: Option<String>,
    /// Android SMS Retriever: the app's 11-character hash, on a line of its
    /// own.
    #[arg(long)]
    android_app_hash: Option<String>,
}

impl Autofill {
    /// Sets what was given; an empty value removes the line.
    fn apply(self, settings: &mut ClientSettings) {
        let given = |value: Option<String>, current: &mut Option<String>| {
            if let Some(value) = value {
                *current = (!value.is_empty()).then_some(value);
            }
        };
        given(self.webotp_domain, &mut settings.webotp_domain);
        given(self.android_app_hash, &mut settings.android_app_hash);
    }
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Registers the users of a file for the clients named: lines of
    /// `mobile,id_card,username,account_id` (a header line is skipped; the ID
    /// card may be empty). National numbers take each client's default
    /// calling code. Needs the deployment's server secret:
    /// OTP_SERVER_SECRET_ARN (the stack's secret) or OTP_SERVER_SECRET.
    Import {
        #[arg(long)]
        file: std::path::PathBuf,
        /// The client the users are registered for; repeat for more. A user
        /// is registered for no other client (DESIGN §5.9).
        #[arg(long = "client", required = true)]
        clients: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TestNumberCommand {
    /// Gives a client a test number with a fixed code.
    Add {
        #[arg(long)]
        id: String,
        /// E.164, e.g. +66899990000.
        #[arg(long)]
        number: String,
        #[arg(long)]
        code: String,
    },
    /// Takes a test number away from a client.
    Remove {
        #[arg(long)]
        id: String,
        #[arg(long)]
        number: String,
    },
}

#[derive(Subcommand)]
enum SigningKeyCommand {
    /// Shows the keys behind the aliases (current, next, previous), the
    /// `kid` each is published under, and their age.
    Status {
        /// The stack's `SigningKeyAlias` output.
        #[arg(long, env = "OTP_SIGNING_KEY_ALIAS")]
        alias: String,
    },
    /// Runs one stage of a rotation. The first run creates a key and only
    /// publishes it (alias `-next`); the second, once it has been published
    /// for --min-published-minutes, makes it sign and keeps the key it
    /// replaces published as `-previous`.
    Rotate {
        /// The stack's `SigningKeyAlias` output.
        #[arg(long, env = "OTP_SIGNING_KEY_ALIAS")]
        alias: String,
        /// How long the new key must be published before it signs: longer
        /// than the functions' 5-minute alias refresh and than any
        /// verifier's JWKS cache.
        #[arg(long, default_value_t = 60)]
        min_published_minutes: u64,
        /// Promote now, whatever the next key's age.
        #[arg(long)]
        force: bool,
    },
}

type Outcome = Result<(), String>;

async fn load_client(store: &DynamoStore, id: &str) -> Result<ClientRecord, String> {
    store
        .client(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {id}"))
}

/// Validates and stores a client's changed settings.
async fn save(
    store: &DynamoStore,
    mut client: ClientRecord,
    change: impl FnOnce(&mut ClientSettings),
) -> Outcome {
    change(&mut client.settings);
    client.settings.validate()?;
    store.put_client(&client).await.map_err(|e| e.to_string())
}

/// Line types as libphonenumber names them.
fn line_types(names: &[String]) -> Result<Vec<LineType>, String> {
    names
        .iter()
        .map(|name| {
            LineType::parse(name).ok_or_else(|| {
                format!("--allowed-line-type {name:?} is not a line type (MOBILE, FIXED_LINE, …)")
            })
        })
        .collect()
}

fn templates(pairs: &[String]) -> Result<std::collections::BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(l, t)| (l.to_string(), t.to_string()))
                .ok_or_else(|| format!("--template {pair:?} is not LOCALE=TEXT"))
        })
        .collect()
}

async fn client_command(store: &DynamoStore, command: ClientCommand) -> Outcome {
    match command {
        ClientCommand::Create(args) => {
            let CreateArgs {
                id,
                brand,
                sender_ids,
                templates: pairs,
                default_locale,
                code_length,
                charset,
                lifetime_secs,
                default_calling_code,
                allowed_calling_codes,
                allowed_line_types,
                no_tokens,
                registered_users_only,
                reveal_unknown_users,
                autofill,
            } = *args;
            let defaults = ClientSettings::default();
            let mut settings = ClientSettings {
                brand,
                sender_ids,
                templates: if pairs.is_empty() {
                    defaults.templates.clone()
                } else {
                    templates(&pairs)?
                },
                default_locale,
                code_length,
                code_charset: match charset.as_str() {
                    "digits" => Charset::Digits,
                    "alphanumeric" => Charset::Alphanumeric,
                    other => return Err(format!("--charset {other:?}: digits or alphanumeric")),
                },
                lifetime_secs,
                default_calling_code,
                allowed_calling_codes,
                allowed_line_types: if allowed_line_types.is_empty() {
                    defaults.allowed_line_types.clone()
                } else {
                    line_types(&allowed_line_types)?
                },
                issue_tokens: !no_tokens,
                require_registered_users: registered_users_only,
                reveal_unknown_users,
                ..defaults
            };
            autofill.apply(&mut settings);
            settings.validate()?;
            let well_formed = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err("--id must be 1 to 64 letters, digits, - or _".into());
            }
            if store
                .client(&id)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
            {
                return Err(format!("client {id} exists already"));
            }
            let secret = b64(&random_bytes::<32>(&otp_shared::clock::OsEntropy));
            store
                .put_client(&ClientRecord::new(&id, &secret, settings))
                .await
                .map_err(|e| e.to_string())?;
            println!("client_id:     {id}");
            println!("client_secret: {secret}");
            println!("(the secret is stored hashed and cannot be shown again)");
            Ok(())
        }
        ClientCommand::List => {
            for client in store.clients().await.map_err(|e| e.to_string())? {
                let state = if client.disabled {
                    "disabled"
                } else {
                    "enabled"
                };
                let senders = client.settings.sender_ids.join(",");
                println!(
                    "{}\t{state}\t{}\t{senders}",
                    client.client_id, client.settings.brand
                );
            }
            Ok(())
        }
        ClientCommand::Disable { id } => {
            let mut client = load_client(store, &id).await?;
            client.disabled = true;
            store.put_client(&client).await.map_err(|e| e.to_string())?;
            println!("client {id} disabled");
            Ok(())
        }
        ClientCommand::AddSender { id, sender_id } => {
            let client = load_client(store, &id).await?;
            save(store, client, |s| {
                if !s.sender_ids.contains(&sender_id) {
                    s.sender_ids.push(sender_id);
                }
            })
            .await
        }
        ClientCommand::SetAutofill { id, autofill } => {
            let client = load_client(store, &id).await?;
            save(store, client, |s| autofill.apply(s)).await
        }
        ClientCommand::SetTemplate { id, locale, text } => {
            let client = load_client(store, &id).await?;
            save(store, client, |s| {
                s.templates.insert(locale, text);
            })
            .await
        }
    }
}

async fn signing_key_command(kms: &aws_sdk_kms::Client, command: SigningKeyCommand) -> Outcome {
    match command {
        SigningKeyCommand::Status { alias } => {
            for key in rotation::keys(kms, &alias).await? {
                let age = rotation::key_age(kms, &key.key_id).await?;
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
            match rotation::rotate(kms, &alias, publish_for, force).await? {
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

/// The users of an import file, registered for `client`; every line is
/// checked before any is written.
fn directory_users(
    text: &str,
    client: &ClientRecord,
    secret: &otp_shared::domain::keys::ServerSecret,
) -> Result<Vec<User>, String> {
    let default_calling_code = client
        .settings
        .default_calling_code()
        .ok_or("the client names no default calling code")?;
    let mut users = vec![];
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || (number == 1 && line.starts_with("mobile")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [mobile, card, username, account_id] = fields[..] else {
            return Err(format!(
                "line {number}: expected mobile,id_card,username,account_id"
            ));
        };
        let phone = PhoneNumber::parse(mobile, default_calling_code)
            .map_err(|_| format!("line {number}: not a phone number"))?;
        let id_card_hash = match card {
            "" => None,
            card => Some(secret.id_card_hash(
                &ThaiIdCard::parse(card).ok_or(format!("line {number}: invalid ID card number"))?,
            )),
        };
        if username.is_empty() || account_id.is_empty() {
            return Err(format!(
                "line {number}: username and account_id are required"
            ));
        }
        users.push(User {
            client_id: client.client_id.clone(),
            account_id: account_id.into(),
            username: username.into(),
            phone_key: secret.phone_key(&phone),
            id_card_hash,
        });
    }
    Ok(users)
}

async fn run(cli: Cli) -> Outcome {
    // The operator's machine: its own trust store, profiles and credentials,
    // as the AWS CLI uses them.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(otp_shared::aws::https_client(
            otp_shared::aws::TlsRoots::System,
        ))
        .load()
        .await;
    let table = || {
        if cli.table.is_empty() {
            return Err("the table is required: --table or OTP_TABLE_NAME".to_string());
        }
        Ok(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            cli.table.clone(),
        ))
    };
    match cli.command {
        Command::SigningKey(command) => {
            signing_key_command(&aws_sdk_kms::Client::new(&sdk), command).await
        }
        Command::Client(command) => client_command(&table()?, command).await,
        Command::Users(UsersCommand::Import { file, clients }) => {
            let store = table()?;
            // The same secret the functions hash with, from the same place.
            let source = SecretSource::from_lookup(|name| std::env::var(name).ok())?;
            let secret = otp_shared::aws::server_secret(source, &sdk).await?;
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let mut users = vec![];
            for client_id in &clients {
                let client = load_client(&store, client_id).await?;
                users.extend(directory_users(&text, &client, &secret)?);
            }
            for user in &users {
                store.put_user(user).await.map_err(|e| e.to_string())?;
            }
            println!(
                "registered {} users for {}",
                users.len() / clients.len(),
                clients.join(", ")
            );
            Ok(())
        }
        Command::TestNumber(command) => {
            if std::env::var("OTP_STAGE").is_ok_and(|stage| stage == "prod") {
                return Err("test numbers are refused in the prod stage".into());
            }
            let store = table()?;
            match command {
                TestNumberCommand::Add { id, number, code } => {
                    let client = load_client(&store, &id).await?;
                    save(&store, client, |s| {
                        s.test_numbers.insert(number, code);
                    })
                    .await
                }
                TestNumberCommand::Remove { id, number } => {
                    let client = load_client(&store, &id).await?;
                    save(&store, client, |s| {
                        s.test_numbers.remove(&number);
                    })
                    .await
                }
            }
        }
    }
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
        Err(message) => {
            eprintln!("otp-admin: {message}");
            ExitCode::FAILURE
        }
    }
}
