//! Writing to DynamoDB under its rules (DESIGN §7): transactions and
//! single-item updates retried while they lose conflicts with transactions
//! in flight, failed conditions read as answers, and the conditional
//! increment every rate-limit counter uses.

use super::DynamoStore;
use super::items::{Item, corrupt, n};
use crate::Error;
use crate::clock::{Entropy, OsEntropy};
use crate::domain::limits::RateLimit;
use crate::sdk::sdk_failure;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem};
use std::collections::HashMap;

/// The old item DynamoDB returned with a failed condition, if any.
pub(super) fn update_condition_failure(err: &SdkError<UpdateItemError>) -> Option<Option<&Item>> {
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
    pub(super) async fn transact(
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
    pub(super) async fn update(
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
pub(super) const COUNT_UPDATE: &str = "ADD #count :one SET expires_at = :ttl";
pub(super) const COUNT_CONDITION: &str = "attribute_not_exists(#count) OR #count < :limit";

pub(super) fn count_values(limit: &RateLimit) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":one".to_string(), n(1)),
        (":ttl".to_string(), n(limit.ttl_epoch_secs())),
        (":limit".to_string(), n(limit.limit.into())),
    ])
}

pub(super) fn count_names() -> HashMap<String, String> {
    HashMap::from([("#count".to_string(), "count".to_string())])
}

pub(super) fn condition_failed(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// Whether a conditional update was applied: a failed condition is an
/// answer (`false`), not an error.
pub(super) fn applied(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError>>,
) -> Result<bool, Error> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if update_condition_failure(&e).is_some() => Ok(false),
        Err(e) => Err(sdk_failure("dynamodb.UpdateItem", &e)),
    }
}

/// The outcome of a conditional update that returns the item: the new item
/// decoded on success; on a failed condition, the domain's reason read from
/// the old item (`None` when there was no item).
pub(super) fn settle_update<T, R>(
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
