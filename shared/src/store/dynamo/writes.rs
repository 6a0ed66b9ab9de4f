//! Calling DynamoDB under its rules (DESIGN §7): every call sent again, with
//! jitter and within its time, while it loses a conflict with a transaction
//! in flight or is throttled, and while its fate is unknown if sending it
//! twice is safe; failed conditions read as answers; and the conditional
//! increment every rate-limit counter uses.

use super::DynamoStore;
use super::items::{Item, corrupt, n};
use crate::Error;
use crate::clock::{Entropy, OsEntropy};
use crate::domain::keys::b64;
use crate::domain::limits::RateLimit;
use crate::sdk::{Failure, detail, failure, sdk_failure, unavailable};
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// A call refused before it was applied (a conflict with a transaction in
/// flight, DESIGN §7, or throttling), or one whose fate is unknown and that
/// may be sent twice, is sent again at most this many times, within the
/// call's time ((`Timeouts::operation`)); then it is answered `Busy`.
const RETRIES: u32 = 8;
/// The first wait's ceiling; each retry doubles it, up to the cap.
const BACKOFF_BASE_MS: u64 = 10;
const BACKOFF_CAP_MS: u64 = 400;

/// A wait before retry `attempt` (from 0): "full jitter", uniform from zero
/// to a ceiling that doubles each time, so requests that collided once do
/// not all come back at the same moment and collide again.
fn backoff(attempt: u32) -> Duration {
    let ceiling = (BACKOFF_BASE_MS << attempt).min(BACKOFF_CAP_MS);
    let mut bytes = [0; 8];
    OsEntropy.fill(&mut bytes);
    Duration::from_millis(u64::from_le_bytes(bytes) % (ceiling + 1))
}

/// Whether a request does the same when applied twice: then one whose fate
/// is unknown (it timed out, DynamoDB failed inside) is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    Safe,
    /// A count, which a second application would count twice: a call whose
    /// fate is unknown is answered `Busy` instead.
    Unsafe,
}

/// How a cancelled transaction failed: cancelled for a condition of its
/// own, it is an answer; cancelled only because an item was held by another
/// transaction or throttled, nothing was applied.
fn transaction_failure(err: &SdkError<TransactWriteItemsError>) -> Failure {
    let reasons = cancellation_reasons(err);
    if reasons.is_empty() {
        return failure(err);
    }
    let retryable = |code: Option<&str>| {
        matches!(
            code,
            None | Some("None" | "TransactionConflict" | "ThrottlingError")
        )
    };
    if reasons.iter().all(|r| retryable(r.code())) {
        Failure::NotApplied
    } else {
        Failure::Final
    }
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

impl DynamoStore {
    /// Sends a request until it is answered, waiting a jittered while
    /// between tries, within the call's time ((`Timeouts::operation`)):
    /// again while it is refused unapplied, and while its fate is unknown
    /// when `repeat` allows. Each try gets its attempt's time, or what is
    /// left of the call's if less (`send` takes it as a configuration
    /// override). What then still fails so is `Busy`, never an internal
    /// error.
    pub(super) async fn sending<T, E, R, Fut>(
        &self,
        operation: &'static str,
        repeat: Repeat,
        failure_of: impl Fn(&SdkError<E, R>) -> Failure,
        mut send: impl FnMut(aws_sdk_dynamodb::config::Builder) -> Fut,
    ) -> Result<Result<T, SdkError<E, R>>, Error>
    where
        E: ProvideErrorMetadata,
        Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
    {
        let deadline = Instant::now() + self.timeouts.operation();
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let within = self.timeouts.attempt().min(left);
            let timeouts = TimeoutConfig::builder()
                .connect_timeout(within)
                .operation_attempt_timeout(within)
                .build();
            let result =
                send(aws_sdk_dynamodb::config::Builder::default().timeout_config(timeouts)).await;
            let Err(e) = &result else { return Ok(result) };
            let again = match failure_of(e) {
                Failure::NotApplied => true,
                Failure::Unknown => repeat == Repeat::Safe,
                Failure::Final => false,
            };
            if !again {
                return Ok(result);
            }
            let wait = backoff(attempt);
            // A try needs some time of its own: a tenth of an attempt's.
            if attempt == RETRIES || Instant::now() + wait + self.timeouts.attempt() / 10 > deadline
            {
                tracing::warn!(operation, retries = attempt, "retries outlasted");
                return Err(unavailable(operation, detail(e)));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Runs a transaction. `Ok(Err(reasons))` when conditions cancelled it:
    /// one reason per item, with the old item where a condition failed.
    /// Its token makes sending it again safe: DynamoDB applies a
    /// transaction once per token (for ten minutes).
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<CancellationReason>>, Error> {
        let mut token = [0; 18];
        OsEntropy.fill(&mut token);
        let request = self
            .client
            .transact_write_items()
            .client_request_token(b64(&token))
            .set_transact_items(Some(items));
        let operation = "dynamodb.TransactWriteItems";
        let result = self
            .sending(operation, Repeat::Safe, transaction_failure, |within| {
                request.clone().customize().config_override(within).send()
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
        Err(sdk_failure(operation, &e))
    }

    /// Sends a single-item update (see [`Self::sending`]).
    pub(super) async fn update(
        &self,
        request: UpdateItemFluentBuilder,
        repeat: Repeat,
    ) -> Result<Result<UpdateItemOutput, SdkError<UpdateItemError>>, Error> {
        self.sending("dynamodb.UpdateItem", repeat, failure, |within| {
            request.clone().customize().config_override(within).send()
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
