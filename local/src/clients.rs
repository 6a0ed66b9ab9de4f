//! Client definitions for local mode from a JSON file (`OTP_LOCAL_CLIENTS`):
//! an array of objects, each a client's `client_id`, `client_secret`, its
//! settings under the names docs/configuration.md's per-client settings use, and
//! optionally the directory `users` it serves. A provider of its
//! `sms_providers` gives its credentials as `secret` (the JSON object the
//! provider's secret in Secrets Manager holds in AWS): local mode has no
//! Secrets Manager. A file that does not hold exactly that is refused,
//! naming the client, the field and the reason.

use otp_shared::clock::OsEntropy;
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::code::random_bytes;
use otp_shared::domain::keys::ServerSecret;
use otp_shared::domain::keys::b64;
use otp_shared::domain::provider::take_inline_secrets;
use otp_shared::domain::user::{DirectoryEntry, User};
use serde::Deserialize;
use serde_json::Value;

/// A client and its directory users, ready for the store, and its
/// providers' secrets by the ARN its record names them with.
pub struct LocalClient {
    pub record: ClientRecord,
    pub users: Vec<User>,
    pub secrets: Vec<(String, String)>,
}

/// Reads the definitions in `text`; `secret` keys the users' numbers and ID
/// cards as the service does.
pub fn parse(text: &str, secret: &ServerSecret) -> Result<Vec<LocalClient>, String> {
    let entries: Vec<Value> = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON array of client objects: {e}"))?;
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let id = entry["client_id"].as_str().unwrap_or("?").to_string();
            client(entry, secret).map_err(|reason| format!("client {index} ({id}): {reason}"))
        })
        .collect()
}

fn text_field(object: &mut serde_json::Map<String, Value>, name: &str) -> Result<String, String> {
    match object.remove(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(_) => Err(format!("{name} must be a non-empty string")),
        None => Err(format!("{name} is missing")),
    }
}

fn client(entry: Value, secret: &ServerSecret) -> Result<LocalClient, String> {
    let Value::Object(mut object) = entry else {
        return Err("must be a JSON object".into());
    };
    let client_id = text_field(&mut object, "client_id")?;
    let well_formed = client_id.len() <= 64
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("client_id must be 1 to 64 letters, digits, - or _".into());
    }
    // A public client (a single-page or mobile app, DESIGN §14) has no
    // secret to give: its record's is random, and nobody is told it.
    let client_secret = if object.get("public") == Some(&Value::Bool(true)) {
        if object.contains_key("client_secret") {
            return Err("a public client has no client_secret".into());
        }
        unknowable_secret()
    } else {
        let client_secret = text_field(&mut object, "client_secret")?;
        if client_secret.len() < 16 {
            return Err("client_secret must be at least 16 characters".into());
        }
        client_secret
    };
    let users = match object.remove("users") {
        None => vec![],
        Some(users) => {
            Vec::<DirectoryEntry>::deserialize(users).map_err(|e| format!("users: {e}"))?
        }
    };
    let secrets = match object.get_mut("sms_providers") {
        Some(Value::Array(providers)) => provider_secrets(&client_id, providers)?,
        _ => vec![],
    };
    // What is left is the settings; an unknown name is refused by name.
    let settings = ClientSettings::deserialize(Value::Object(object)).map_err(|e| e.to_string())?;
    settings.validate()?;
    // Validated settings name their default calling code.
    let default_calling_code = settings.default_calling_code().unwrap_or_default();
    let users = users
        .iter()
        .enumerate()
        .map(|(n, entry)| {
            entry
                .user(&client_id, default_calling_code, secret)
                .map_err(|e| format!("users[{n}].{e}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(LocalClient {
        record: ClientRecord::new(&client_id, &client_secret, settings),
        users,
        secrets,
    })
}

/// The secret of a public client's record: random, and told to nobody, so
/// that no secret authenticates as it (the service refuses it on the secret
/// routes besides).
pub fn unknowable_secret() -> String {
    b64(&random_bytes::<32>(&OsEntropy))
}

/// Takes each provider's `secret` out of `providers`, naming it instead by
/// an ARN of this machine's own, as a record in AWS names its secret.
fn provider_secrets(
    client_id: &str,
    providers: &mut [Value],
) -> Result<Vec<(String, String)>, String> {
    for (n, provider) in providers.iter().enumerate() {
        if provider.get("secret_arn").is_some() {
            return Err(format!(
                "sms_providers[{n}].secret_arn: local mode has no Secrets Manager; give the provider's secret as secret"
            ));
        }
    }
    take_inline_secrets(providers, |n, _| {
        format!(
            "arn:aws:secretsmanager:local:000000000000:secret:local/sms-provider/{client_id}/{n}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ServerSecret {
        ServerSecret::new(b"the local server's secret, 32 bytes long").unwrap()
    }

    fn refused(text: &str) -> String {
        match parse(text, &secret()) {
            Ok(_) => panic!("accepted: {text}"),
            Err(reason) => reason,
        }
    }

    #[test]
    fn the_example_file_defines_its_clients() {
        let text = include_str!("../clients.example.json");
        let clients = parse(text, &secret()).expect("the example file is valid");
        assert!(!clients.is_empty());
        let shop = &clients[0];
        assert!(shop.record.settings.webotp_domain.is_some());
        assert!(shop.record.settings.android_app_hash.is_some());
        assert!(!shop.users.is_empty());
    }

    #[test]
    fn a_bad_file_names_the_client_the_field_and_the_reason() {
        assert!(refused("{}").starts_with("not a JSON array"));
        let base = r#""client_id": "shop", "client_secret": "a-local-secret-0123", "default_calling_code": "66""#;
        let cases = [
            (
                r#"[{"client_secret": "a-local-secret-0123"}]"#,
                "client 0 (?): client_id is missing",
            ),
            (
                r#"[{"client_id": "shop", "client_secret": "short"}]"#,
                "client 0 (shop): client_secret must be at least 16",
            ),
            (
                r#"[{"client_id": "shop", "client_secret": "a-local-secret-0123"}]"#,
                "client 0 (shop): default_calling_code is required",
            ),
            (
                &format!(r#"[{{{base}, "brnad": "Shop"}}]"#),
                "client 0 (shop): unknown field `brnad`",
            ),
            (
                &format!(r#"[{{{base}, "public": true}}]"#),
                "client 0 (shop): a public client has no client_secret",
            ),
            (
                &format!(r#"[{{{base}, "max_attempts": 9}}]"#),
                "client 0 (shop): max_attempts must be 1 to 5",
            ),
            (
                &format!(r#"[{{{base}, "webotp_domain": "https://x"}}]"#),
                "client 0 (shop): webotp_domain",
            ),
            (
                &format!(r#"[{{{base}, "users": [{{"mobile_no": "12"}}]}}]"#),
                "client 0 (shop): users[0].mobile_no: not a phone number",
            ),
            (
                &format!(
                    r#"[{{{base}, "users": [{{"mobile_no": "0812345678", "id_card_num": "1"}}]}}]"#
                ),
                "client 0 (shop): users[0].id_card_num",
            ),
            (
                &format!(r#"[{{{base}, "users": [{{"mobile": "0812345678"}}]}}]"#),
                "client 0 (shop): users: unknown field `mobile`",
            ),
        ];
        for (text, expected) in cases {
            let reason = refused(text);
            assert!(reason.starts_with(expected), "{reason:?} for {text}");
        }
    }

    #[test]
    fn a_public_client_is_defined_without_a_secret() {
        let text = r#"[{"client_id": "spa", "public": true, "hosted_page": true,
            "redirect_uris": ["http://127.0.0.1/"], "default_calling_code": "66"}]"#;
        let clients = parse(text, &secret()).expect("valid");
        assert!(clients[0].record.settings.public);
    }

    #[test]
    fn a_providers_secret_is_kept_apart_from_its_record() {
        let text = r#"[{"client_id": "hooked", "client_secret": "a-local-secret-0123",
            "default_calling_code": "66",
            "sms_providers": [
                {"kind": "webhook", "url": "http://127.0.0.1:9000/hook",
                 "secret": {"signing_secret": "whsec_c2VjcmV0"}},
                {"kind": "sns"}]}]"#;
        let clients = parse(text, &secret()).expect("valid");
        let arn = "arn:aws:secretsmanager:local:000000000000:secret:local/sms-provider/hooked/0";
        assert_eq!(
            clients[0].secrets,
            [(
                arn.to_string(),
                r#"{"signing_secret":"whsec_c2VjcmV0"}"#.to_string()
            )]
        );
        let record = serde_json::to_string(&clients[0].record.settings).unwrap();
        assert!(
            !record.contains("whsec_") && record.contains(arn),
            "{record}"
        );

        let named = text.replace(
            r#""secret": {"signing_secret": "whsec_c2VjcmV0"}"#,
            &format!(r#""secret_arn": "{arn}""#),
        );
        assert!(refused(&named).contains("local mode has no Secrets Manager"));
    }
}
