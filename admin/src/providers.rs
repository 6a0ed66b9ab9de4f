//! A client's SMS providers, and their credentials in Secrets Manager: each
//! stored as `<stack>/sms-provider/<client>/<kind>`, which request-otp may
//! read (template.yaml), and named in the client record by ARN.

use crate::clients::{load_client, save};
use crate::failure::Failure;
use aws_sdk_secretsmanager::Client;
use otp_shared::domain::provider::{
    PROVIDER_SECRET_PATH, SmsProvider, take_inline_secrets, validate_providers,
};
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// A providers file, checked: the providers with each inline secret named
/// by a placeholder ARN, and those secrets' names and texts.
pub struct Planned {
    providers: Vec<Value>,
    /// (placeholder ARN, secret name, secret text)
    secrets: Vec<(String, String, String)>,
}

/// The secret's name in Secrets Manager.
fn secret_name(stack: &str, client_id: &str, kind: &str) -> String {
    format!("{stack}{PROVIDER_SECRET_PATH}{client_id}/{kind}")
}

/// Reads and checks `file` (`-`: standard input) before AWS is asked anything.
pub fn plan(file: &Path, stack: &str, client_id: &str) -> Result<Planned, Failure> {
    if stack.is_empty()
        || !stack
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Failure::Input(
            "--stack (or OTP_STACK_NAME) must be the stack's name".into(),
        ));
    }
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    read.map_err(|e| Failure::Input(format!("{}: {e}", file.display())))?;
    // serde_json's messages may quote the input, which holds secrets.
    let Ok(Value::Array(mut providers)) = serde_json::from_str::<Value>(&text) else {
        return Err(Failure::Input(format!(
            "{}: not a JSON array of providers",
            file.display()
        )));
    };
    let mut names = vec![];
    let secrets = take_inline_secrets(&mut providers, |_, kind| {
        let name = secret_name(stack, client_id, kind);
        names.push(name.clone());
        format!("arn:aws:secretsmanager:region:000000000000:secret:{name}")
    })?;
    checked(&providers)?;
    let secrets = secrets
        .into_iter()
        .zip(names)
        .map(|((arn, text), name)| (arn, name, text))
        .collect();
    Ok(Planned { providers, secrets })
}

fn checked(providers: &[Value]) -> Result<Vec<SmsProvider>, Failure> {
    let parsed: Vec<SmsProvider> = serde_json::from_value(Value::Array(providers.to_vec()))
        .map_err(|e| Failure::Input(format!("sms_providers: {}", without_quotes(&e))))?;
    validate_providers(&parsed)?;
    Ok(parsed)
}

/// serde_json's message without what it quotes of the input (a secret may
/// be among it): what kind of error, and where.
fn without_quotes(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.split_once('`') {
        Some((before, _)) => format!("{}(line {}, column {})", before, e.line(), e.column()),
        None => message,
    }
}

/// Stores the secrets, then the client's providers naming them.
pub async fn set_providers(
    secrets_manager: &Client,
    store: &otp_shared::store::DynamoStore,
    client_id: &str,
    planned: Planned,
) -> Result<(), Failure> {
    let client = load_client(store, client_id).await?;
    let Planned {
        mut providers,
        secrets,
    } = planned;
    let mut stored = vec![];
    for (placeholder, name, text) in secrets {
        let arn = put_secret(secrets_manager, &name, &text).await?;
        for provider in &mut providers {
            if provider["secret_arn"] == placeholder.as_str() {
                provider["secret_arn"] = Value::String(arn.clone());
            }
        }
        stored.push(arn);
    }
    let providers = checked(&providers)?;
    let kinds: Vec<&str> = providers.iter().map(SmsProvider::kind).collect();
    let kinds = kinds.join(", ");
    save(store, client, |s| s.sms_providers = providers).await?;
    println!("{client_id}: sms_providers {kinds}");
    for arn in stored {
        println!("secret stored: {arn}");
    }
    Ok(())
}

/// A new version of the secret `name`, or the secret created; its ARN.
async fn put_secret(client: &Client, name: &str, text: &str) -> Result<String, Failure> {
    let what = format!("the secret {name}");
    match client
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
    {
        Ok(out) => Ok(out.arn().unwrap_or(name).to_string()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            let out = client
                .create_secret()
                .name(name)
                .description("An SMS provider's credentials for the OTP login service")
                .secret_string(text)
                .send()
                .await
                .map_err(|e| Failure::of_call(&what, &e))?;
            Ok(out.arn().unwrap_or(name).to_string())
        }
        Err(e) => Err(Failure::of_call(&what, &e)),
    }
}
