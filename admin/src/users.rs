//! `users import`: a file of users, registered for the clients named. The
//! whole file is read and checked first, against every client, and only
//! then written; `--dry-run` stops after the check.

use crate::clients::load_client;
use crate::failure::Failure;
use otp_shared::domain::client::ClientRecord;
use otp_shared::domain::keys::ServerSecret;
use otp_shared::domain::user::{DirectoryEntry, User};
use otp_shared::store::{DynamoStore, Store};

/// Registers `entries` for each of `clients`, once every entry is known to
/// be valid for every client; with `dry_run`, only says what it would
/// write. Prints what it wrote, also when a write fails midway.
pub async fn import(
    store: &DynamoStore,
    entries: &[(usize, DirectoryEntry)],
    secret: &ServerSecret,
    clients: &[String],
    dry_run: bool,
) -> Result<(), Failure> {
    let mut registered = vec![];
    for client_id in clients {
        let client = load_client(store, client_id).await?;
        registered.push((client_id, users_for(entries, &client, secret)?));
    }
    for (client_id, users) in &registered {
        if dry_run {
            println!(
                "would register {} users for {client_id} (--dry-run: nothing written)",
                users.len()
            );
            continue;
        }
        for (written, user) in users.iter().enumerate() {
            if let Err(e) = store.put_user(user).await {
                println!(
                    "registered {written} of {} users for {client_id} before a write failed",
                    users.len()
                );
                return Err(e.into());
            }
        }
        println!("registered {} users for {client_id}", users.len());
    }
    Ok(())
}

/// The entries of an import file: lines of
/// `mobile[,id_card[,username[,account_id]]]`, a header line starting with
/// `mobile` skipped, empty fields left out. Refused, naming the line, when
/// any line is malformed whatever the client.
pub fn entries(text: &str) -> Result<Vec<(usize, DirectoryEntry)>, Failure> {
    let mut entries = vec![];
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || (number == 1 && line.starts_with("mobile")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() > 4 || fields[0].is_empty() {
            return Err(Failure::Input(format!(
                "line {number}: expected mobile[,id_card[,username[,account_id]]]"
            )));
        }
        let given = |i: usize| {
            fields
                .get(i)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string())
        };
        let entry = DirectoryEntry {
            mobile_no: fields[0].to_string(),
            id_card_num: given(1),
            username: given(2),
            account_id: given(3),
        };
        entry
            .check()
            .map_err(|reason| Failure::Input(format!("line {number}: {reason}")))?;
        entries.push((number, entry));
    }
    if entries.is_empty() {
        return Err(Failure::Input("the file lists no user".into()));
    }
    Ok(entries)
}

/// The users `entries` register for `client`: every line, or the first
/// that cannot be registered for it.
fn users_for(
    entries: &[(usize, DirectoryEntry)],
    client: &ClientRecord,
    secret: &ServerSecret,
) -> Result<Vec<User>, Failure> {
    let default_calling_code = client.settings.default_calling_code().ok_or_else(|| {
        Failure::Input(format!(
            "client {} names no default calling code",
            client.client_id
        ))
    })?;
    entries
        .iter()
        .map(|(number, entry)| {
            entry
                .user(&client.client_id, default_calling_code, secret)
                .map_err(|reason| {
                    Failure::Input(format!(
                        "line {number}: {reason} (for client {})",
                        client.client_id
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_number_is_required_and_every_line_is_checked_first() {
        let text = "mobile,id_card,username,account_id\n0812345678\n0899999999,1234567890121\n\
                    0811111111,,malee\n";
        let read = entries(text).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[1].1.id_card_num.as_deref(), Some("1234567890121"));
        assert_eq!(read[2].1.username.as_deref(), Some("malee"));
        assert_eq!(read[2].1.account_id, None);

        let bad = entries("0812345678\n0899999999,1234567890122\n").unwrap_err();
        assert_eq!(
            bad.message(),
            "line 2: id_card_num: not 13 digits with a valid check digit"
        );
        assert!(entries("a,b,c,d,e\n").is_err());
        assert!(entries("mobile\n\n").is_err());
    }
}
