//! The DynamoDB store: one table, key `pk`, TTL attribute `expires_at`.
//! Every state change is a single conditional write or one transaction;
//! failed conditions return the old item, which the domain classifies.

use super::{StartOutcome, Store};
use crate::Error;
use crate::clock::{Entropy, Millis, OsEntropy};
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Refusal, Selector};
use crate::domain::client::{ClientRecord, ClientSettings};
use crate::domain::limits::RateLimit;
use crate::domain::refresh::{
    ABSOLUTE_LIFETIME_MS, IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal,
};
use crate::domain::user::{User, UserRequirement};
use crate::sdk::sdk_failure;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every client record, for operators: a full table scan, never on a
    /// request path.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, Error> {
        let mut clients = vec![];
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", s("client#"))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| sdk_failure("dynamodb.Scan", &e))?;
            clients.push(client_from(&item)?);
        }
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }
}

fn challenge_pk(key: &ChallengeKey) -> String {
    format!("otp#{}#{}", key.client_id, key.phone_key)
}
fn client_pk(client_id: &str) -> String {
    format!("client#{client_id}")
}
fn rate_pk(limit: &RateLimit) -> String {
    format!("rate#{}", limit.key)
}
fn user_pk(phone_key: &str) -> String {
    format!("user#{phone_key}")
}
fn family_pk(family_id: &str) -> String {
    format!("refresh#{family_id}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}
fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(what: &str) -> Error {
    Error::internal("dynamodb.decode", what)
}
fn get_s(item: &Item, name: &'static str) -> Result<String, Error> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(name)),
    }
}
fn get_n(item: &Item, name: &'static str) -> Result<i64, Error> {
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
fn get_list(item: &Item, name: &'static str) -> Result<Vec<String>, Error> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| v.as_s().cloned().map_err(|_| corrupt(name)))
            .collect(),
        _ => Err(corrupt(name)),
    }
}

fn client_from(item: &Item) -> Result<ClientRecord, Error> {
    let pk = get_s(item, "pk")?;
    let settings: ClientSettings =
        serde_json::from_str(&get_s(item, "settings")?).map_err(|_| corrupt("settings"))?;
    Ok(ClientRecord {
        client_id: pk
            .strip_prefix("client#")
            .ok_or_else(|| corrupt("pk"))?
            .to_string(),
        secret_hash: get_s(item, "secret_hash")?,
        disabled: get_bool(item, "disabled")?,
        settings,
    })
}

fn challenge_item(c: &Challenge) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), s(challenge_pk(&c.key))),
        ("client_id".into(), s(&c.key.client_id)),
        ("phone_key".into(), s(&c.key.phone_key)),
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
    if let Some(required) = &c.directory {
        item.insert("directory_required".into(), AttributeValue::Bool(true));
        if let Some(hash) = &required.id_card_hash {
            item.insert("directory_id_card_hash".into(), s(hash));
        }
    }
    item
}

fn challenge_from(item: &Item) -> Result<Challenge, Error> {
    let count = |name| get_n(item, name).and_then(|v| u32::try_from(v).map_err(|_| corrupt(name)));
    Ok(Challenge {
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
    })
}

fn user_item(u: &User) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), s(user_pk(&u.phone_key))),
        ("account_id".into(), s(&u.account_id)),
        ("username".into(), s(&u.username)),
        ("phone_key".into(), s(&u.phone_key)),
    ]);
    if let Some(hash) = &u.id_card_hash {
        item.insert("id_card_hash".into(), s(hash));
    }
    item
}

fn user_from(item: &Item) -> Result<User, Error> {
    Ok(User {
        account_id: get_s(item, "account_id")?,
        username: get_s(item, "username")?,
        phone_key: get_s(item, "phone_key")?,
        id_card_hash: item
            .get("id_card_hash")
            .and_then(|v| v.as_s().ok())
            .cloned(),
    })
}

fn family_item(f: &RefreshFamily) -> Item {
    HashMap::from([
        ("pk".into(), s(family_pk(&f.family_id))),
        ("family_id".into(), s(&f.family_id)),
        ("client_id".into(), s(&f.client_id)),
        ("account_id".into(), s(&f.account_id)),
        ("username".into(), s(&f.username)),
        ("login_by".into(), s(&f.login_by)),
        ("current_hash".into(), s(&f.current_hash)),
        (
            "spent_hashes".into(),
            AttributeValue::L(f.spent_hashes.iter().map(s).collect()),
        ),
        ("revoked".into(), AttributeValue::Bool(f.revoked)),
        ("created_at_ms".into(), n(f.created_at_ms)),
        ("idle_expires_at_ms".into(), n(f.idle_expires_at_ms)),
        ("expires_at".into(), n(f.ttl_epoch_secs())),
    ])
}

fn family_from(item: &Item) -> Result<RefreshFamily, Error> {
    Ok(RefreshFamily {
        family_id: get_s(item, "family_id")?,
        client_id: get_s(item, "client_id")?,
        account_id: get_s(item, "account_id")?,
        username: get_s(item, "username")?,
        login_by: get_s(item, "login_by")?,
        current_hash: get_s(item, "current_hash")?,
        spent_hashes: get_list(item, "spent_hashes")?,
        revoked: get_bool(item, "revoked")?,
        created_at_ms: get_n(item, "created_at_ms")?,
        idle_expires_at_ms: get_n(item, "idle_expires_at_ms")?,
    })
}

/// The old item DynamoDB returned with a failed condition, if any.
fn update_condition_failure(err: &SdkError<UpdateItemError>) -> Option<Option<&Item>> {
    match err {
        SdkError::ServiceError(service) => match service.err() {
            UpdateItemError::ConditionalCheckFailedException(e) => Some(e.item()),
            _ => None,
        },
        _ => None,
    }
}

/// Conflicts with concurrent transactions (DESIGN §7) are retried this many
/// times before the request is answered `Busy`.
const CONFLICT_RETRIES: u32 = 8;
/// The first wait's ceiling; each retry doubles it, up to the cap: at most
/// about 2 s of waiting in all, well within a function's timeout.
const CONFLICT_BACKOFF_BASE_MS: u64 = 10;
const CONFLICT_BACKOFF_CAP_MS: u64 = 400;

/// A wait before retry `attempt` (from 0): "full jitter", uniform from zero
/// to a ceiling that doubles each time, so requests that collided once do
/// not all come back at the same moment and collide again.
async fn conflict_backoff(attempt: u32) {
    let ceiling = (CONFLICT_BACKOFF_BASE_MS << attempt).min(CONFLICT_BACKOFF_CAP_MS);
    let mut bytes = [0; 8];
    OsEntropy.fill(&mut bytes);
    let wait = u64::from_le_bytes(bytes) % (ceiling + 1);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

/// Whether a single-item write failed because the item is held by a
/// transaction in flight.
fn held_by_a_transaction<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("TransactionConflictException")
}

/// The cancellation reasons of a cancelled transaction.
fn cancellation_reasons(err: &SdkError<TransactWriteItemsError>) -> Vec<CancellationReason> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().to_vec()
        }
        _ => vec![],
    }
}

/// Whether a transaction was cancelled only because another one held one of
/// its items (no condition of its own failed).
fn lost_a_conflict(err: &SdkError<TransactWriteItemsError>) -> bool {
    let reasons = cancellation_reasons(err);
    let failed = |code: &str| reasons.iter().any(|r| r.code() == Some(code));
    failed("TransactionConflict") && !failed("ConditionalCheckFailed")
}

/// Sends a request until it no longer loses a conflict with a transaction in
/// flight, waiting a jittered while between tries; after the last retry the
/// answer is `Busy`, never an internal error: nothing was written.
async fn retrying_conflicts<T, E, R, Fut>(
    operation: &'static str,
    lost_conflict: impl Fn(&SdkError<E, R>) -> bool,
    mut send: impl FnMut() -> Fut,
) -> Result<Result<T, SdkError<E, R>>, Error>
where
    Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(e) if lost_conflict(&e) => {
                if attempt == CONFLICT_RETRIES {
                    tracing::warn!(
                        operation,
                        retries = attempt,
                        "conflicts outlasted the retries"
                    );
                    return Err(Error::Busy {
                        retry_after_secs: 1,
                    });
                }
                conflict_backoff(attempt).await;
                attempt += 1;
            }
            result => return Ok(result),
        }
    }
}

impl DynamoStore {
    /// Runs a transaction. `Ok(Err(reasons))` when conditions cancelled it:
    /// one reason per item, with the old item where a condition failed.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<CancellationReason>>, Error> {
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items));
        let result = retrying_conflicts("dynamodb.TransactWriteItems", lost_a_conflict, || {
            request.clone().send()
        })
        .await?;
        let Err(e) = result else { return Ok(Ok(())) };
        let reasons = cancellation_reasons(&e);
        if reasons
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed"))
        {
            return Ok(Err(reasons));
        }
        Err(sdk_failure("dynamodb.TransactWriteItems", &e))
    }

    /// Sends a single-item update, retrying while a transaction holds the
    /// item.
    async fn update(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> Result<Result<UpdateItemOutput, SdkError<UpdateItemError>>, Error> {
        retrying_conflicts("dynamodb.UpdateItem", held_by_a_transaction, || {
            request.clone().send()
        })
        .await
    }
}

/// The conditional increment of a rate-limit counter: unless it is spent,
/// add one and keep the counter a day past its window. The start
/// transaction counts the phone's limits with it, `count` the others.
const COUNT_UPDATE: &str = "ADD #count :one SET expires_at = :ttl";
const COUNT_CONDITION: &str = "attribute_not_exists(#count) OR #count < :limit";

fn count_values(limit: &RateLimit) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":one".to_string(), n(1)),
        (":ttl".to_string(), n(limit.ttl_epoch_secs())),
        (":limit".to_string(), n(limit.limit.into())),
    ])
}

fn count_names() -> HashMap<String, String> {
    HashMap::from([("#count".to_string(), "count".to_string())])
}

fn condition_failed(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// Whether a conditional update was applied: a failed condition is an
/// answer (`false`), not an error.
fn applied(result: Result<UpdateItemOutput, SdkError<UpdateItemError>>) -> Result<bool, Error> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if update_condition_failure(&e).is_some() => Ok(false),
        Err(e) => Err(sdk_failure("dynamodb.UpdateItem", &e)),
    }
}

/// The outcome of a conditional update that returns the item: the new item
/// decoded on success; on a failed condition, the domain's reason read from
/// the old item (`None` when there was no item).
fn settle_update<T, R>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError>>,
    decode: fn(&Item) -> Result<T, Error>,
    refusal: impl FnOnce(Option<&Item>) -> Result<R, Error>,
) -> Result<Result<T, R>, Error> {
    match result {
        Ok(out) => decode(out.attributes().ok_or_else(|| corrupt("no attributes"))?).map(Ok),
        Err(e) => match update_condition_failure(&e) {
            Some(old) => refusal(old).map(Err),
            None => Err(sdk_failure("dynamodb.UpdateItem", &e)),
        },
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(client_pk(client_id)))
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.GetItem", &e))?;
        out.item().map(client_from).transpose()
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        let settings = serde_json::to_string(&client.settings).map_err(|_| corrupt("settings"))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(client_pk(&client.client_id)))
            .item("secret_hash", s(&client.secret_hash))
            .item("disabled", AttributeValue::Bool(client.disabled))
            .item("settings", s(settings))
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.PutItem", &e))?;
        Ok(())
    }

    async fn user(&self, phone_key: &str) -> Result<Option<User>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(phone_key)))
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.GetItem", &e))?;
        out.item().map(user_from).transpose()
    }

    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(user)))
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.PutItem", &e))?;
        Ok(())
    }

    async fn start_challenge(
        &self,
        challenge: &Challenge,
        now: Millis,
        requirement: Option<&UserRequirement>,
        limits: &[RateLimit],
    ) -> Result<StartOutcome, Error> {
        let build = |_| Error::internal("dynamodb.build", "start_challenge");
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(challenge_item(challenge)))
            .condition_expression("attribute_not_exists(pk) OR resend_after_ms <= :now")
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        let mut items = vec![];
        if let Some(required) = requirement {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(user_pk(&challenge.key.phone_key)))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let check = match &required.id_card_hash {
                Some(hash) => check
                    .condition_expression("attribute_exists(pk) AND id_card_hash = :card")
                    .expression_attribute_values(":card", s(hash)),
                None => check.condition_expression("attribute_exists(pk)"),
            };
            let check = check.build().map_err(build)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        items.push(TransactWriteItem::builder().put(put).build());
        for limit in limits {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(rate_pk(limit)))
                .update_expression(COUNT_UPDATE)
                .condition_expression(COUNT_CONDITION)
                .set_expression_attribute_names(Some(count_names()))
                .set_expression_attribute_values(Some(count_values(limit)))
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let Err(reasons) = self.transact(items).await? else {
            return Ok(StartOutcome::Started);
        };
        let slot_index = usize::from(requirement.is_some());
        let user_reason = requirement.and_then(|_| reasons.first());
        let slot_reason = reasons.get(slot_index);
        if condition_failed(user_reason) {
            let user_exists = user_reason.and_then(CancellationReason::item).is_some();
            return Ok(if user_exists {
                StartOutcome::IdCardMismatch
            } else {
                StartOutcome::UserNotFound
            });
        }
        if condition_failed(slot_reason) {
            let old = slot_reason
                .and_then(CancellationReason::item)
                .ok_or_else(|| corrupt("condition failure without old item"))?;
            return Ok(StartOutcome::CoolingDown {
                resend_after_ms: get_n(old, "resend_after_ms")?,
            });
        }
        let limit_reasons = reasons.iter().skip(slot_index + 1);
        if let Some(index) = limit_reasons
            .take(limits.len())
            .position(|r| condition_failed(Some(r)))
        {
            return Ok(StartOutcome::RateLimited { index });
        }
        Err(corrupt("transaction cancelled without a failed condition"))
    }

    async fn counted(&self, limit: &RateLimit) -> Result<u32, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(limit)))
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.GetItem", &e))?;
        match out.item() {
            None => Ok(0),
            Some(item) => u32::try_from(get_n(item, "count")?).map_err(|_| corrupt("count")),
        }
    }

    async fn count(&self, limit: &RateLimit) -> Result<bool, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(limit)))
            .update_expression(COUNT_UPDATE)
            .condition_expression(COUNT_CONDITION)
            .set_expression_attribute_names(Some(count_names()))
            .set_expression_attribute_values(Some(count_values(limit)));
        applied(self.update(request).await?)
    }

    async fn uncount(&self, limit: &RateLimit) -> Result<(), Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(limit)))
            .update_expression("ADD #count :minus_one")
            .condition_expression("#count > :zero")
            .set_expression_attribute_names(Some(count_names()))
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0));
        // Not applied: nothing left to give back.
        applied(self.update(request).await?).map(drop)
    }

    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET #state = :undeliverable")
            .condition_expression("token_hash = :token_hash")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(
                ":undeliverable",
                s(ChallengeState::Undeliverable.as_str()),
            )
            .expression_attribute_values(":token_hash", s(token_hash));
        // Not applied: the slot holds a newer challenge, nothing to mark.
        applied(self.update(request).await?).map(drop)
    }

    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        now: Millis,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        let (selector_condition, selector_value) = match selector {
            Selector::TokenHash(h) => (" AND token_hash = :selector", Some(h)),
            Selector::RefCode(r) => (" AND ref_code = :selector", Some(r)),
            Selector::Current => ("", None),
        };
        let mut values = HashMap::from([
            (":one".to_string(), n(1)),
            (":active".to_string(), s(ChallengeState::Active.as_str())),
            (":now".to_string(), n(now)),
        ]);
        if let Some(value) = selector_value {
            values.insert(":selector".to_string(), s(value));
        }
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET attempts = attempts + :one")
            .condition_expression(format!(
                "attribute_exists(pk){selector_condition} AND #state = :active \
                 AND expires_at_ms > :now AND attempts < max_attempts"
            ))
            .expression_attribute_names("#state", "state")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = self.update(request).await?;
        settle_update(result, challenge_from, |old| match old {
            None => Ok(Refusal::NotFound),
            // The condition failed, so the domain must find a reason; if it
            // does not, refuse rather than guess.
            Some(old) => Ok(challenge_from(old)?
                .refusal(selector, now)
                .unwrap_or(Refusal::NotFound)),
        })
    }

    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        user: &User,
        family: Option<&RefreshFamily>,
    ) -> Result<bool, Error> {
        let build = |what: &'static str| move |_| Error::internal("dynamodb.build", what);
        let consume = Update::builder()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET #state = :consumed")
            .condition_expression(
                "token_hash = :token_hash AND #state = :active AND expires_at_ms > :now",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":consumed", s(ChallengeState::Consumed.as_str()))
            .expression_attribute_values(":active", s(ChallengeState::Active.as_str()))
            .expression_attribute_values(":token_hash", s(token_hash))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build("consume"))?;
        let upsert_user = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&user.phone_key)))
            .update_expression(
                "SET account_id = if_not_exists(account_id, :account_id), \
                 username = if_not_exists(username, :username), phone_key = :phone_key, \
                 created_at_ms = if_not_exists(created_at_ms, :now), last_login_at_ms = :now",
            )
            .expression_attribute_values(":account_id", s(&user.account_id))
            .expression_attribute_values(":username", s(&user.username))
            .expression_attribute_values(":phone_key", s(&user.phone_key))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build("user"))?;
        let mut items = vec![
            TransactWriteItem::builder().update(consume).build(),
            TransactWriteItem::builder().update(upsert_user).build(),
        ];
        if let Some(f) = family {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(family_item(f)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build("family"))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(self.transact(items).await?.is_ok())
    }

    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression(
                "SET current_hash = :new, idle_expires_at_ms = :idle, \
                 spent_hashes = list_append(spent_hashes, :spent)",
            )
            .condition_expression(
                "attribute_exists(pk) AND current_hash = :presented AND client_id = :client \
                 AND revoked = :false AND idle_expires_at_ms > :now AND created_at_ms > :born_after",
            )
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":idle", n(now + IDLE_LIFETIME_MS))
            .expression_attribute_values(":spent", AttributeValue::L(vec![s(presented_hash)]))
            .expression_attribute_values(":presented", s(presented_hash))
            .expression_attribute_values(":client", s(client_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":born_after", n(now - ABSOLUTE_LIFETIME_MS))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = self.update(request).await?;
        settle_update(result, family_from, |old| match old {
            None => Ok(RotationRefusal::Invalid),
            Some(old) => Ok(family_from(old)?
                .rotation_refusal(presented_hash, client_id, now)
                .unwrap_or(RotationRefusal::Invalid)),
        })
    }

    async fn unrotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> Result<(), Error> {
        // The spent list ends with the presented hash; removing the last
        // element needs its index, so the family is read first. The write is
        // conditional on the family being exactly as the rotation left it.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("dynamodb.GetItem", &e))?;
        let Some(family) = out.item().map(family_from).transpose()? else {
            return Ok(());
        };
        let last = family.spent_hashes.len().checked_sub(1);
        let Some(last) = last.filter(|&i| family.spent_hashes[i] == presented_hash) else {
            return Ok(());
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression(format!(
                "SET current_hash = :presented REMOVE spent_hashes[{last}]"
            ))
            .condition_expression(format!(
                "current_hash = :new AND spent_hashes[{last}] = :presented"
            ))
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":presented", s(presented_hash));
        let result = self.update(request).await?;
        applied(result).map(drop)
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        client_id: &str,
        token_hash: &str,
    ) -> Result<bool, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression("SET revoked = :true")
            .condition_expression(
                "client_id = :client AND (current_hash = :hash OR contains(spent_hashes, :hash))",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":client", s(client_id))
            .expression_attribute_values(":hash", s(token_hash));
        let result = self.update(request).await?;
        applied(result)
    }
}
