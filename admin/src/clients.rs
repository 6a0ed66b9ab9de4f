//! The client records: create, list, disable and configure them, and the
//! test numbers they hold. Every change is validated as the service
//! validates stored settings before it is written.

use crate::cli::{ClientCommand, CreateArgs, TestNumberCommand};
use crate::failure::Failure;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::code::{Charset, random_bytes};
use otp_shared::domain::keys::b64;
use otp_shared::domain::phone::LineType;
use otp_shared::store::{DynamoStore, Store};

type Outcome = Result<(), Failure>;

/// The client `id`, which must exist.
pub async fn load_client(store: &DynamoStore, id: &str) -> Result<ClientRecord, Failure> {
    store
        .client(id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no client {id}")))
}

/// Validates and stores a client's changed settings.
pub async fn save(
    store: &DynamoStore,
    mut client: ClientRecord,
    change: impl FnOnce(&mut ClientSettings),
) -> Outcome {
    change(&mut client.settings);
    client.settings.validate()?;
    Ok(store.put_client(&client).await?)
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

pub async fn client_command(store: &DynamoStore, command: ClientCommand) -> Outcome {
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
                    other => {
                        return Err(Failure::Input(format!(
                            "--charset {other:?}: digits or alphanumeric"
                        )));
                    }
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
                return Err(Failure::Input(
                    "--id must be 1 to 64 letters, digits, - or _".into(),
                ));
            }
            if store.client(&id).await?.is_some() {
                return Err(Failure::Input(format!("client {id} exists already")));
            }
            let secret = new_secret();
            store
                .put_client(&ClientRecord::new(&id, &secret, settings))
                .await?;
            print_secret(&id, &secret);
            Ok(())
        }
        ClientCommand::List => {
            for client in store.clients().await? {
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
        ClientCommand::Show { id } => {
            let client = load_client(store, &id).await?;
            println!("client_id: {id}");
            println!(
                "state:     {}",
                if client.disabled {
                    "disabled"
                } else {
                    "enabled"
                }
            );
            if client.previous_secret_hash.is_some() {
                println!(
                    "secrets:   two: the one rotate-secret replaced works until retire-secret"
                );
            }
            let settings = serde_json::to_string_pretty(&client.settings)
                .map_err(|e| Failure::Failed(e.to_string()))?;
            println!("settings:\n{settings}");
            Ok(())
        }
        ClientCommand::Set { id, assignments } => {
            let mut client = load_client(store, &id).await?;
            client.settings = assigned(&client.settings, &assignments)?;
            servable_in_this_stage(&client.settings)?;
            save(store, client, |_| {}).await?;
            println!("client {id}: {} set", assignments.len());
            Ok(())
        }
        ClientCommand::Disable { id } => {
            let mut client = load_client(store, &id).await?;
            client.disabled = true;
            store.put_client(&client).await?;
            println!("client {id} disabled");
            Ok(())
        }
        ClientCommand::Enable { id } => {
            let mut client = load_client(store, &id).await?;
            // Written only as the service would read it.
            client.settings.validate()?;
            servable_in_this_stage(&client.settings)?;
            client.disabled = false;
            store.put_client(&client).await?;
            println!("client {id} enabled");
            Ok(())
        }
        ClientCommand::Delete { id } => {
            let client = load_client(store, &id).await?;
            if !client.disabled {
                return Err(Failure::Input(format!(
                    "client {id} is enabled: disable it first (client disable --id {id}), and delete it once no app uses it"
                )));
            }
            let (users, families) = store.delete_client(&id).await?;
            println!(
                "client {id} deleted, with its {users} directory users and {families} refresh-token families"
            );
            Ok(())
        }
        ClientCommand::RotateSecret { id, force } => {
            let mut client = load_client(store, &id).await?;
            if client.previous_secret_hash.is_some() && !force {
                return Err(Failure::Input(format!(
                    "client {id} still accepts the secret its last rotation replaced: retire it first (client retire-secret --id {id}) once no app uses it, or pass --force to end it now"
                )));
            }
            let secret = new_secret();
            client.rotate_secret(&secret);
            store.put_client(&client).await?;
            print_secret(&id, &secret);
            println!(
                "the new secret works everywhere within 60 s; the old one too, until `otp-admin client retire-secret --id {id}`"
            );
            Ok(())
        }
        ClientCommand::RetireSecret { id } => {
            let mut client = load_client(store, &id).await?;
            if !client.retire_previous_secret() {
                return Err(Failure::Input(format!(
                    "client {id} has no replaced secret to retire"
                )));
            }
            store.put_client(&client).await?;
            println!("client {id}: the replaced secret stops working within 60 s");
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

pub async fn test_number_command(store: &DynamoStore, command: TestNumberCommand) -> Outcome {
    match command {
        TestNumberCommand::Add { id, number, code } => {
            let client = load_client(store, &id).await?;
            save(store, client, |s| {
                s.test_numbers.insert(number, code);
            })
            .await
        }
        TestNumberCommand::Remove { id, number } => {
            let client = load_client(store, &id).await?;
            save(store, client, |s| {
                s.test_numbers.remove(&number);
            })
            .await
        }
    }
}

/// Whether the operator works on the prod stage (`OTP_STAGE`), whose
/// functions refuse every client with test numbers.
pub fn prod_stage() -> bool {
    std::env::var("OTP_STAGE").is_ok_and(|stage| stage == "prod")
}

/// Refuses, in the prod stage, settings with test numbers, which the
/// service refuses there on every route.
fn servable_in_this_stage(settings: &ClientSettings) -> Result<(), Failure> {
    if prod_stage() && !settings.test_numbers.is_empty() {
        return Err(Failure::Input(
            "the client has test numbers, which the prod stage refuses: remove them first (test-number remove)".into(),
        ));
    }
    Ok(())
}

/// Each `NAME=VALUE` is one, before anything is asked of AWS.
pub fn check_assignments(assignments: &[String]) -> Result<(), Failure> {
    for assignment in assignments {
        match assignment.split_once('=') {
            None => {
                return Err(Failure::Input(format!(
                    "--set {assignment:?} is not NAME=VALUE"
                )));
            }
            Some(("test_numbers", _)) => {
                return Err(Failure::Input(
                    "--set test_numbers: use test-number add and remove".into(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A client secret: 256 random bits, base64url.
fn new_secret() -> String {
    b64(&random_bytes::<32>(&otp_shared::clock::OsEntropy))
}

fn print_secret(id: &str, secret: &str) {
    println!("client_id:     {id}");
    println!("client_secret: {secret}");
    println!("(the secret is stored hashed and cannot be shown again)");
}

/// `settings` with each `NAME=VALUE` of `assignments` applied, read as
/// the stored settings are read (so an unknown name or an ill-typed value
/// is refused by name); validated when saved. Test numbers have their own
/// command, which refuses them in production.
fn assigned(settings: &ClientSettings, assignments: &[String]) -> Result<ClientSettings, Failure> {
    let mut document =
        serde_json::to_value(settings).map_err(|e| Failure::Failed(e.to_string()))?;
    check_assignments(assignments)?;
    for (name, raw) in assignments.iter().filter_map(|a| a.split_once('=')) {
        if document.get(name).is_none() {
            return Err(Failure::Input(format!(
                "--set {name}: no such setting (client show lists them)"
            )));
        }
        // JSON, or else the text itself; null leaves the setting to its
        // default.
        match serde_json::from_str(raw).unwrap_or_else(|_| raw.into()) {
            serde_json::Value::Null => {
                document.as_object_mut().map(|fields| fields.remove(name));
            }
            value => document[name] = value,
        }
    }
    serde_json::from_value(document).map_err(|e| Failure::Input(format!("--set: {e}")))
}
