//! DynamoDB's transaction conflict rule ("Transaction conflict handling",
//! DynamoDB Developer Guide, Amazon DynamoDB Transactions: How it works),
//! for the writes this service makes:
//! - a `TransactWriteItems` whose items include one that another transaction
//!   still in flight holds is cancelled: `TransactionCanceledException`, with
//!   the reason `TransactionConflict` for that item and `None` for the others;
//! - a `PutItem`, `UpdateItem` or `DeleteItem` on an item that a transaction
//!   in flight holds fails with `TransactionConflictException`.
//!
//! - a `TransactWriteItems` sent again with the `ClientRequestToken` of one
//!   still in flight fails with `TransactionInProgressException`.
//!
//! A transaction holds its items from the moment the layer accepts it until
//! DynamoDB Local has answered, and one that commits for
//! [`TRANSACTION_COMMIT`] more: DynamoDB's transactions take longer than its
//! single writes (two phases over several partitions), and a conflict needs
//! that window to happen.

use super::{ItemKey, Refused, Touches, cancelled, dynamodb_error};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// How much longer than DynamoDB Local's answer a transaction holds its
/// items.
pub const TRANSACTION_COMMIT: Duration = Duration::from_millis(10);

const ONGOING: &str = "Transaction is ongoing for the item";

/// What a transaction in flight holds.
#[derive(Default)]
pub(super) struct Held {
    items: Vec<ItemKey>,
    token: Option<String>,
}

#[derive(Default)]
pub(super) struct Conflicts {
    /// Items held by transactions in flight.
    held: Mutex<HashSet<ItemKey>>,
    /// The tokens of transactions in flight.
    tokens: Mutex<HashSet<String>>,
    /// Conflicts reported, per table.
    reported: Mutex<HashMap<String, u64>>,
}

impl Conflicts {
    pub(super) fn reported_on(&self, table: &str) -> u64 {
        self.reported
            .lock()
            .unwrap()
            .get(table)
            .copied()
            .unwrap_or(0)
    }

    fn report(&self, table: &str) {
        *self
            .reported
            .lock()
            .unwrap()
            .entry(table.to_string())
            .or_default() += 1;
    }

    /// Refuses a request that touches an item a transaction in flight
    /// holds, or a transaction whose token one in flight carries; a
    /// transaction holds its own items and token from now on (returned).
    pub(super) fn hold(&self, touches: &Touches, token: Option<&str>) -> Result<Held, Refused> {
        match touches {
            Touches::Transaction(items) => {
                if let Some(token) = token
                    && !self.tokens.lock().unwrap().insert(token.to_string())
                {
                    return Err(Box::new(dynamodb_error(
                        400,
                        json!({
                            "__type": "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
                            "message": "The transaction with the given request token is already in progress.",
                        }),
                    )));
                }
                let held_token = token.map(str::to_string);
                let mut held = self.held.lock().unwrap();
                if items.iter().any(|item| held.contains(item)) {
                    let reasons = items
                        .iter()
                        .map(|item| match held.contains(item) {
                            true => json!({"Code": "TransactionConflict", "Message": ONGOING}),
                            false => json!({"Code": "None"}),
                        })
                        .collect();
                    drop(held);
                    self.report(&items[0].0);
                    self.release(&Held {
                        items: vec![],
                        token: held_token,
                    });
                    return Err(Box::new(cancelled(reasons)));
                }
                held.extend(items.iter().cloned());
                Ok(Held {
                    items: items.clone(),
                    token: held_token,
                })
            }
            Touches::Write(item) => {
                if self.held.lock().unwrap().contains(item) {
                    self.report(&item.0);
                    return Err(Box::new(dynamodb_error(
                        400,
                        json!({
                            "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                            "message": ONGOING,
                        }),
                    )));
                }
                Ok(Held::default())
            }
            Touches::Read(_) | Touches::Table(_) => Ok(Held::default()),
        }
    }

    /// Lets go of `held` at once: the transaction never ran.
    pub(super) fn release(&self, held: &Held) {
        let mut holding = self.held.lock().unwrap();
        for item in &held.items {
            holding.remove(item);
        }
        if let Some(token) = &held.token {
            self.tokens.lock().unwrap().remove(token);
        }
    }

    /// Lets go of `held` once the transaction is over: a committed one
    /// holds its items while it commits, a cancelled one lets go at once.
    pub(super) async fn commit(&self, held: &Held, committed: bool) {
        if committed && !held.items.is_empty() {
            tokio::time::sleep(TRANSACTION_COMMIT).await;
        }
        self.release(held);
    }
}
