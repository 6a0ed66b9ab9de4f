//! How the domain's records are laid out as DynamoDB items: one table, key
//! `pk` (a kind prefix, then keyed hashes, never a plain number), TTL
//! attribute `expires_at`.

use crate::Error;
use crate::domain::authorization::AuthorizationCode;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Claim, Slot};
use crate::domain::client::{ClientRecord, ClientSettings};
use crate::domain::delivery::{DELIVERY_KEPT_MS, DeliveryEvent, DeliveryRecord, DeliveryState};
use crate::domain::limits::RateLimit;
use crate::domain::refresh::RefreshFamily;
use crate::domain::user::{User, UserRequirement};
use crate::store::SentChallenge;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn challenge_pk(key: &ChallengeKey) -> String {
    format!("otp#{}#{}", key.client_id, key.phone_key)
}
pub(super) fn client_pk(client_id: &str) -> String {
    format!("client#{client_id}")
}
pub(super) fn rate_pk(limit: &RateLimit) -> String {
    format!("rate#{}", limit.key)
}
/// A directory entry registers a phone for one client (DESIGN §5.9).
pub(super) fn user_pk(client_id: &str, phone_key: &str) -> String {
    format!("user#{client_id}#{phone_key}")
}
pub(super) fn family_pk(family_id: &str) -> String {
    format!("refresh#{family_id}")
}

pub(super) fn delivery_pk(challenge_id: &str) -> String {
    format!("delivery#{challenge_id}")
}

pub(super) fn code_pk(code_hash: &str) -> String {
    format!("authcode#{code_hash}")
}

pub(super) fn spent_pk(key: &str) -> String {
    format!("once#{key}")
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}
pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::internal("dynamodb.decode", what)
}
pub(super) fn get_s(item: &Item, name: &'static str) -> Result<String, Error> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(name)),
    }
}
pub(super) fn get_n(item: &Item, name: &'static str) -> Result<i64, Error> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}
fn get_bool(item: &Item, name: &'static str) -> Result<bool, Error> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(corrupt(name)),
    }
}

pub(super) fn client_from(item: &Item) -> Result<ClientRecord, Error> {
    let pk = get_s(item, "pk")?;
    let settings: ClientSettings =
        serde_json::from_str(&get_s(item, "settings")?).map_err(|_| corrupt("settings"))?;
    Ok(ClientRecord {
        client_id: pk
            .strip_prefix("client#")
            .ok_or_else(|| corrupt("pk"))?
            .to_string(),
        secret_hash: get_s(item, "secret_hash")?,
        previous_secret_hash: match item.get("previous_secret_hash") {
            None => None,
            Some(_) => Some(get_s(item, "previous_secret_hash")?),
        },
        disabled: get_bool(item, "disabled")?,
        settings,
    })
}

/// The optional attributes of a live challenge: a new challenge without
/// them removes the old one's.
pub(super) const CHALLENGE_OPTIONAL: [&str; 3] =
    ["directory_required", "directory_id_card_hash", "provider"];

/// The index of challenges by the number they were sent to (its key
/// `sent_to`, its range `created_at_ms`), projecting what
/// [`sent_challenge_from`] reads: `template.yaml` declares it so.
pub(super) const SENT_TO_INDEX: &str = "sent_to";

/// A challenge as the index `SENT_TO_INDEX` holds it.
pub(super) fn sent_challenge_from(item: &Item) -> Result<SentChallenge, Error> {
    Ok(SentChallenge {
        client_id: get_s(item, "client_id")?,
        challenge_id: Challenge::id_of(&get_s(item, "token_hash")?),
        created_at_ms: get_n(item, "created_at_ms")?,
        provider: item
            .get("provider")
            .map(|_| get_s(item, "provider"))
            .transpose()?,
        calling_code: get_s(item, "calling_code")?,
    })
}

/// A live challenge's attributes, `pk` and the TTL included.
pub(super) fn challenge_item(c: &Challenge) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), s(challenge_pk(&c.key))),
        ("client_id".into(), s(&c.key.client_id)),
        ("phone_key".into(), s(&c.key.phone_key)),
        // The key of the index `SENT_TO_INDEX`: only challenges carry it.
        ("sent_to".into(), s(&c.key.phone_key)),
        ("token_hash".into(), s(&c.token_hash)),
        ("ref_code".into(), s(&c.ref_code)),
        ("code_hash".into(), s(&c.code_hash)),
        ("attempts".into(), n(c.attempts.into())),
        ("max_attempts".into(), n(c.max_attempts.into())),
        ("created_at_ms".into(), n(c.created_at_ms)),
        ("expires_at_ms".into(), n(c.expires_at_ms)),
        ("resend_after_ms".into(), n(c.resend_after_ms)),
        ("state".into(), s(c.state.as_str())),
        ("login_by".into(), s(&c.login_by)),
        ("calling_code".into(), s(&c.calling_code)),
        ("expires_at".into(), n(c.ttl_epoch_secs())),
    ]);
    if let Some(provider) = &c.provider {
        item.insert("provider".into(), s(provider));
    }
    if let Some(required) = &c.directory {
        item.insert("directory_required".into(), AttributeValue::Bool(true));
        if let Some(hash) = &required.id_card_hash {
            item.insert("directory_id_card_hash".into(), s(hash));
        }
    }
    item
}

/// The live challenge in a slot's item; none in an item that holds only a
/// claim or a kept cooldown.
pub(super) fn challenge_from(item: &Item) -> Result<Option<Challenge>, Error> {
    if !item.contains_key("token_hash") {
        return Ok(None);
    }
    let count = |name| get_n(item, name).and_then(|v| u32::try_from(v).map_err(|_| corrupt(name)));
    Ok(Some(Challenge {
        key: ChallengeKey {
            client_id: get_s(item, "client_id")?,
            phone_key: get_s(item, "phone_key")?,
        },
        token_hash: get_s(item, "token_hash")?,
        ref_code: get_s(item, "ref_code")?,
        code_hash: get_s(item, "code_hash")?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        created_at_ms: get_n(item, "created_at_ms")?,
        expires_at_ms: get_n(item, "expires_at_ms")?,
        resend_after_ms: get_n(item, "resend_after_ms")?,
        state: ChallengeState::parse(&get_s(item, "state")?).ok_or_else(|| corrupt("state"))?,
        login_by: get_s(item, "login_by")?,
        // Challenges written before it was kept: counted as `other`.
        calling_code: get_s(item, "calling_code")
            .unwrap_or_else(|_| crate::metrics::OTHER_CALLING_CODE.into()),
        directory: match item.get("directory_required") {
            Some(AttributeValue::Bool(true)) => Some(UserRequirement {
                id_card_hash: item
                    .get("directory_id_card_hash")
                    .and_then(|v| v.as_s().ok())
                    .cloned(),
            }),
            None | Some(AttributeValue::Bool(false)) => None,
            Some(_) => return Err(corrupt("directory_required")),
        },
        provider: item.get("provider").and_then(|v| v.as_s().ok()).cloned(),
    }))
}

/// The attributes of a claim on a slot (`claim_token` is its token hash).
pub(super) const CLAIM_ATTRIBUTES: [&str; 3] = ["claim_token", "claim_until", "claim_resend_after"];

/// The attribute that counts a slot's wrong codes on day `window` (see
/// `FailureCap`): one a day, so a day's count starts at none.
pub(super) fn failures_attribute(window: i64) -> String {
    format!("fails_{window}")
}

/// A slot's item: its live challenge, cooldown, claim and wrong codes.
pub(super) fn slot_from(item: &Item) -> Result<Slot, Error> {
    let mut failures = std::collections::BTreeMap::new();
    for (name, value) in item {
        if let Some(window) = name.strip_prefix("fails_") {
            let window = window.parse().map_err(|_| corrupt("fails_"))?;
            let count = value
                .as_n()
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| corrupt("fails_"))?;
            failures.insert(window, u32::try_from(count.max(0)).unwrap_or(u32::MAX));
        }
    }
    let claim = match item.get("claim_token") {
        None => None,
        Some(_) => Some(Claim {
            token_hash: get_s(item, "claim_token")?,
            until_ms: get_n(item, "claim_until")?,
            resend_after_ms: get_n(item, "claim_resend_after")?,
        }),
    };
    let resend_after_ms = match item.get("resend_after_ms") {
        None => 0,
        Some(_) => get_n(item, "resend_after_ms")?,
    };
    Ok(Slot {
        challenge: challenge_from(item)?,
        resend_after_ms,
        claim,
        failures,
    })
}

pub(super) fn user_item(u: &User) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), s(user_pk(&u.client_id, &u.phone_key))),
        ("client_id".into(), s(&u.client_id)),
        ("account_id".into(), s(&u.account_id)),
        ("username".into(), s(&u.username)),
        ("phone_key".into(), s(&u.phone_key)),
    ]);
    if let Some(hash) = &u.id_card_hash {
        item.insert("id_card_hash".into(), s(hash));
    }
    item
}

pub(super) fn user_from(item: &Item) -> Result<User, Error> {
    Ok(User {
        client_id: get_s(item, "client_id")?,
        account_id: get_s(item, "account_id")?,
        username: get_s(item, "username")?,
        phone_key: get_s(item, "phone_key")?,
        id_card_hash: item
            .get("id_card_hash")
            .and_then(|v| v.as_s().ok())
            .cloned(),
    })
}

pub(super) fn family_item(f: &RefreshFamily) -> Item {
    HashMap::from([
        ("pk".into(), s(family_pk(&f.family_id))),
        ("family_id".into(), s(&f.family_id)),
        ("client_id".into(), s(&f.client_id)),
        ("account_id".into(), s(&f.account_id)),
        ("username".into(), s(&f.username)),
        ("login_by".into(), s(&f.login_by)),
        ("current_hash".into(), s(&f.current_hash)),
        ("revoked".into(), AttributeValue::Bool(f.revoked)),
        ("created_at_ms".into(), n(f.created_at_ms)),
        ("idle_expires_at_ms".into(), n(f.idle_expires_at_ms)),
        ("expires_at".into(), n(f.ttl_epoch_secs())),
    ])
}

/// An authorization code's item, kept by TTL a minute past its lifetime.
pub(super) fn code_item(c: &AuthorizationCode) -> Item {
    HashMap::from([
        ("pk".into(), s(code_pk(&c.code_hash))),
        ("client_id".into(), s(&c.client_id)),
        ("redirect_uri".into(), s(&c.redirect_uri)),
        ("code_challenge".into(), s(&c.code_challenge)),
        ("account_id".into(), s(&c.account_id)),
        ("username".into(), s(&c.username)),
        ("login_by".into(), s(&c.login_by)),
        ("expires_at_ms".into(), n(c.expires_at_ms)),
        (
            "expires_at".into(),
            n(c.expires_at_ms.div_euclid(1000) + 60),
        ),
    ])
}

/// The code of `code_hash` in `item`, and the family its redemption issued.
pub(super) fn code_from(
    code_hash: &str,
    item: &Item,
) -> Result<(AuthorizationCode, Option<String>), Error> {
    let code = AuthorizationCode {
        code_hash: code_hash.to_string(),
        client_id: get_s(item, "client_id")?,
        redirect_uri: get_s(item, "redirect_uri")?,
        code_challenge: get_s(item, "code_challenge")?,
        account_id: get_s(item, "account_id")?,
        username: get_s(item, "username")?,
        login_by: get_s(item, "login_by")?,
        expires_at_ms: get_n(item, "expires_at_ms")?,
    };
    let redeemed = item
        .get("redeemed_family")
        .map(|_| get_s(item, "redeemed_family"))
        .transpose()?;
    Ok((code, redeemed))
}

pub(super) fn family_from(item: &Item) -> Result<RefreshFamily, Error> {
    Ok(RefreshFamily {
        family_id: get_s(item, "family_id")?,
        client_id: get_s(item, "client_id")?,
        account_id: get_s(item, "account_id")?,
        username: get_s(item, "username")?,
        login_by: get_s(item, "login_by")?,
        current_hash: get_s(item, "current_hash")?,
        revoked: get_bool(item, "revoked")?,
        created_at_ms: get_n(item, "created_at_ms")?,
        idle_expires_at_ms: get_n(item, "idle_expires_at_ms")?,
    })
}

/// A delivery record's attributes but `pk`, as written at `now`: the fold's
/// order as `delivery_rank`, `at_ms` and `tie`, which the write's condition
/// compares (`DeliveryEvent::supersedes`).
pub(super) fn delivery_attributes(r: &DeliveryRecord, now: i64) -> Item {
    let kept_until_ms = now + DELIVERY_KEPT_MS;
    let e = &r.event;
    let mut item = HashMap::from([
        ("client_id".into(), s(&r.client_id)),
        ("delivery_state".into(), s(e.state.as_str())),
        ("delivery_rank".into(), n(e.state.rank().into())),
        ("at_ms".into(), n(e.at_ms)),
        ("tie".into(), s(e.tie())),
        ("provider".into(), s(&e.provider)),
        ("kept_until_ms".into(), n(kept_until_ms)),
        ("expires_at".into(), n(kept_until_ms.div_euclid(1000) + 1)),
    ]);
    if let Some(reason) = &e.reason {
        item.insert("reason".into(), s(reason));
    }
    if let Some(id) = &r.message_id {
        item.insert("message_id".into(), s(id));
    }
    if r.delivery_reported {
        item.insert("delivery_reported".into(), AttributeValue::Bool(true));
    }
    item
}

/// A delivery record written at `now` as an update of its item: the update
/// expression, its attribute names and values. It sets every attribute of
/// [`delivery_attributes`] and removes a reason the record has none of; a
/// message id an earlier report named stays, and so does its word that the
/// SMS was delivered.
pub(super) fn delivery_update(
    r: &DeliveryRecord,
    now: i64,
) -> (String, HashMap<String, String>, Item) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut set = vec![];
    for (i, (name, value)) in delivery_attributes(r, now).into_iter().enumerate() {
        set.push(format!("#a{i} = :a{i}"));
        names.insert(format!("#a{i}"), name);
        values.insert(format!(":a{i}"), value);
    }
    let expression = match r.event.reason {
        Some(_) => format!("SET {}", set.join(", ")),
        None => format!("SET {} REMOVE reason", set.join(", ")),
    };
    (expression, names, values)
}

/// The delivery record in `item`, if it is still kept at `now` (TTL deletes
/// items late: reads check).
pub(super) fn delivery_from(
    challenge_id: &str,
    item: &Item,
    now: i64,
) -> Result<Option<DeliveryRecord>, Error> {
    if get_n(item, "kept_until_ms")? <= now {
        return Ok(None);
    }
    let state = DeliveryState::parse(&get_s(item, "delivery_state")?)
        .ok_or_else(|| corrupt("delivery_state"))?;
    Ok(Some(DeliveryRecord {
        challenge_id: challenge_id.to_string(),
        client_id: get_s(item, "client_id")?,
        event: DeliveryEvent {
            state,
            reason: item
                .get("reason")
                .map(|_| get_s(item, "reason"))
                .transpose()?,
            provider: get_s(item, "provider")?,
            at_ms: get_n(item, "at_ms")?,
        },
        message_id: item
            .get("message_id")
            .map(|_| get_s(item, "message_id"))
            .transpose()?,
        delivery_reported: item.get("delivery_reported") == Some(&AttributeValue::Bool(true)),
    }))
}
