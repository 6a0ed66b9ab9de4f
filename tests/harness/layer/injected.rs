//! Faults a test injects, answered as DynamoDB answers them (status and
//! `__type` as its JSON protocol sends them), for calls on one table: the
//! throttling errors, a transaction cancelled for throttling, DynamoDB
//! failing inside, and a call accepted and never answered.

use super::{Touches, cancelled, dynamodb_error};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How a call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// `ThrottlingException`.
    Throttling,
    /// `RequestLimitExceeded`: the account's throughput.
    RequestLimitExceeded,
    /// `TransactionInProgressException`: a transaction with the same token
    /// is still running.
    TransactionInProgress,
    /// `TransactionCanceledException` whose reasons are `ThrottlingError`;
    /// on a single-item call, `ThrottlingException`.
    TransactionThrottled,
    /// `InternalServerError`, status 500: its fate is unknown (it was not
    /// applied).
    InternalServerError,
    /// Applied, and then answered `InternalServerError`: the answer was
    /// lost.
    LostAnswer,
    /// Accepted, and never answered (for a minute: longer than any test
    /// waits); not applied.
    Stall,
    /// `AccessDeniedException`: IAM refuses the caller the action, as AWS
    /// does and DynamoDB Local never does. Not a fault a retry mends, so
    /// not among [`Injected::ALL`].
    AccessDenied,
}

impl Injected {
    /// Every fault, for tests that try each.
    pub const ALL: [Injected; 8] = [
        Injected::ProvisionedThroughputExceeded,
        Injected::Throttling,
        Injected::RequestLimitExceeded,
        Injected::TransactionInProgress,
        Injected::TransactionThrottled,
        Injected::InternalServerError,
        Injected::LostAnswer,
        Injected::Stall,
    ];

    /// Whether DynamoDB says it applied nothing: a retry is always safe.
    pub fn unapplied(self) -> bool {
        !matches!(
            self,
            Injected::InternalServerError | Injected::LostAnswer | Injected::Stall
        )
    }
}

/// Which calls fail, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub fault: Injected,
    /// The operation (`GetItem`, `TransactWriteItems`, …); every one if
    /// `None`.
    pub operation: Option<&'static str>,
    /// Only calls whose request has this text (a condition, an attribute
    /// name: which write it is); every one if `None`.
    pub matching: Option<&'static str>,
    /// How many calls fail before the fault is spent; every one if `None`.
    pub times: Option<u32>,
}

impl Injection {
    /// Every call on the table fails so.
    pub fn always(fault: Injected) -> Self {
        Self {
            fault,
            operation: None,
            matching: None,
            times: None,
        }
    }

    /// The next call of each operation fails so, once.
    pub fn once(fault: Injected, operation: &'static str) -> Self {
        Self {
            fault,
            operation: Some(operation),
            matching: None,
            times: Some(1),
        }
    }

    /// Only the calls whose request has `text`.
    pub fn matching(self, text: &'static str) -> Self {
        Self {
            matching: Some(text),
            ..self
        }
    }
}

/// What an injected fault does to a call.
pub(super) enum Struck {
    /// Answered so, without reaching DynamoDB Local.
    Refused(hyper::Response<Full<Bytes>>),
    /// Passed on, and its answer replaced by this.
    AnswerLost(hyper::Response<Full<Bytes>>),
}

#[derive(Default)]
pub(super) struct Injections(Mutex<HashMap<String, Vec<Injection>>>);

impl Injections {
    pub(super) fn add(&self, table: &str, injection: Injection) {
        let mut tables = self.0.lock().unwrap();
        tables.entry(table.to_string()).or_default().push(injection);
    }

    /// Calls on `table` that injected faults are still to strike.
    pub(super) fn unstruck(&self, table: &str) -> u32 {
        let tables = self.0.lock().unwrap();
        tables
            .get(table)
            .into_iter()
            .flatten()
            .filter_map(|i| i.times)
            .sum()
    }

    pub(super) fn clear(&self, table: &str) {
        self.0.lock().unwrap().remove(table);
    }

    /// What an injected fault does to a call, if one strikes it.
    pub(super) async fn strike(
        &self,
        operation: &str,
        touches: &Touches,
        body: &[u8],
    ) -> Option<Struck> {
        let table = touches.table()?;
        let text = String::from_utf8_lossy(body);
        let fault = {
            let mut tables = self.0.lock().unwrap();
            let injections = tables.get_mut(table)?;
            let injection = injections.iter_mut().find(|i| {
                i.operation.is_none_or(|o| o == operation)
                    && i.matching.is_none_or(|m| text.contains(m))
                    && i.times != Some(0)
            })?;
            if let Some(times) = &mut injection.times {
                *times -= 1;
            }
            injection.fault
        };
        let error = |status, kind: &str, message: &str| {
            let namespace = match kind {
                "ThrottlingException" => "com.amazon.coral.availability",
                "InternalServerError" => "com.amazon.coral.service",
                _ => "com.amazonaws.dynamodb.v20120810",
            };
            dynamodb_error(
                status,
                json!({"__type": format!("{namespace}#{kind}"), "message": message}),
            )
        };
        Some(Struck::Refused(match fault {
            Injected::LostAnswer => {
                return Some(Struck::AnswerLost(error(
                    500,
                    "InternalServerError",
                    "Internal server error",
                )));
            }
            Injected::ProvisionedThroughputExceeded => error(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Injected::Throttling => error(400, "ThrottlingException", "Rate exceeded"),
            Injected::RequestLimitExceeded => error(
                400,
                "RequestLimitExceeded",
                "Throughput exceeds the current throughput limit for your account.",
            ),
            Injected::TransactionInProgress => error(
                400,
                "TransactionInProgressException",
                "The transaction with the given request token is already in progress.",
            ),
            Injected::TransactionThrottled => match touches {
                Touches::Transaction(items) => cancelled(
                    items
                        .iter()
                        .map(|_| json!({"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index."}))
                        .collect(),
                ),
                _ => error(400, "ThrottlingException", "Rate exceeded"),
            },
            Injected::InternalServerError => {
                error(500, "InternalServerError", "Internal server error")
            }
            Injected::Stall => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                error(500, "InternalServerError", "stalled")
            }
            Injected::AccessDenied => error(
                400,
                "AccessDeniedException",
                &format!(
                    "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: \
                     dynamodb:{operation} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{table} \
                     because no identity-based policy allows the dynamodb:{operation} action"
                ),
            ),
        }))
    }
}
