//! DynamoDB's throughput rule, which DynamoDB Local does not apply: a
//! partition takes at most 1,000 write units and 3,000 read units a second
//! ("Partitions and data distribution", "Best practices for designing and
//! using partition keys effectively", DynamoDB Developer Guide), on-demand
//! tables included. A new on-demand table spreads its keys over 4
//! partitions (it is ready for 4,000 write units a second); adaptive
//! capacity splits a partition around its hot keys, but never one item:
//! each item keeps the partition's limits. So every item and every
//! partition here has a bucket of one second's units, refilled as time
//! passes; a call that finds one empty is throttled as DynamoDB throttles:
//! `ProvisionedThroughputExceededException` (reason
//! `Table{Read,Write}KeyRangeThroughputExceeded`), and for a transaction
//! `TransactionCanceledException` with `ThrottlingError` for the items
//! that lacked units. A throttled call consumes nothing.
//!
//! Units: an item write is 1 write unit (this service's items are under
//! 1 KB), twice that in a transaction; a read is half a read unit, one when
//! strongly consistent (up to 4 KB).

use super::{ItemKey, Refused, Touches, cancelled, dynamodb_error};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// What a table takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Write units a second one partition, and so one item, takes.
    pub writes_per_sec: f64,
    /// Read units a second.
    pub reads_per_sec: f64,
    /// The partitions the table's keys spread over.
    pub partitions: u64,
}

impl Default for Throughput {
    /// DynamoDB's, for a new on-demand table.
    fn default() -> Self {
        Self {
            writes_per_sec: 1000.0,
            reads_per_sec: 3000.0,
            partitions: 4,
        }
    }
}

const THROTTLED: &str = "Throughput exceeds the current capacity of your table or index. \
DynamoDB is automatically scaling your table or index so please try again shortly. \
If exceptions persist, check if you have a hot key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Read,
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    Item(ItemKey, Kind),
    Partition(String, u64, Kind),
}

/// One second's units, refilled continuously.
struct Units {
    left: f64,
    at: Instant,
}

#[derive(Default)]
pub(super) struct Meters {
    limits: Mutex<HashMap<String, Throughput>>,
    /// Tables whose units do not refill for now: a test's burst then
    /// meets the same units however slowly a loaded machine runs it.
    paused: Mutex<std::collections::HashSet<String>>,
    buckets: Mutex<HashMap<Bucket, Units>>,
    throttled: Mutex<HashMap<String, u64>>,
}

/// FNV-1a: which partition a key falls in, the same in every run.
fn partition_of(pk: &str, partitions: u64) -> u64 {
    let hash = pk.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % partitions.max(1)
}

impl Meters {
    pub(super) fn limit(&self, table: &str, throughput: Throughput) {
        self.limits
            .lock()
            .unwrap()
            .insert(table.to_string(), throughput);
        // Buckets filled under the old limits would carry them over.
        self.buckets
            .lock()
            .unwrap()
            .retain(|bucket, _| match bucket {
                Bucket::Item((t, _), _) | Bucket::Partition(t, _, _) => t != table,
            });
    }

    pub(super) fn pause_refill(&self, table: &str, paused: bool) {
        let mut tables = self.paused.lock().unwrap();
        if paused {
            tables.insert(table.to_string());
        } else {
            tables.remove(table);
        }
    }

    pub(super) fn throttled_on(&self, table: &str) -> u64 {
        self.throttled
            .lock()
            .unwrap()
            .get(table)
            .copied()
            .unwrap_or(0)
    }

    fn throughput(&self, table: &str) -> Throughput {
        self.limits
            .lock()
            .unwrap()
            .get(table)
            .copied()
            .unwrap_or_default()
    }

    /// What one item's access needs: from its own bucket and its
    /// partition's.
    fn needs(&self, item: &ItemKey, kind: Kind, units: f64) -> [(Bucket, f64); 2] {
        let partition = partition_of(&item.1, self.throughput(&item.0).partitions);
        [
            (Bucket::Item(item.clone(), kind), units),
            (Bucket::Partition(item.0.clone(), partition, kind), units),
        ]
    }

    /// Takes the units `touches` needs, or refuses it as DynamoDB does.
    pub(super) fn take(&self, touches: &Touches, consistent: bool) -> Result<(), Refused> {
        let (items, kind, units): (Vec<&ItemKey>, Kind, f64) = match touches {
            Touches::Transaction(items) => (items.iter().collect(), Kind::Write, 2.0),
            Touches::Write(item) => (vec![item], Kind::Write, 1.0),
            Touches::Read(item) => (vec![item], Kind::Read, if consistent { 1.0 } else { 0.5 }),
            Touches::Table(_) => return Ok(()),
        };
        let Some(table) = touches.table().map(str::to_string) else {
            return Ok(());
        };
        let now = Instant::now();
        let paused = self.paused.lock().unwrap().contains(&table);
        let mut buckets = self.buckets.lock().unwrap();
        let mut wanted: HashMap<Bucket, f64> = HashMap::new();
        for item in &items {
            for (bucket, need) in self.needs(item, kind, units) {
                *wanted.entry(bucket).or_default() += need;
            }
        }
        let limit = |bucket: &Bucket| {
            let throughput = self.throughput(&table);
            match bucket {
                Bucket::Item(_, Kind::Write) | Bucket::Partition(_, _, Kind::Write) => {
                    throughput.writes_per_sec
                }
                _ => throughput.reads_per_sec,
            }
        };
        let mut short = vec![];
        for (bucket, need) in &wanted {
            let per_sec = limit(bucket);
            let units = buckets.entry(bucket.clone()).or_insert(Units {
                left: per_sec,
                at: now,
            });
            let refilled = match paused {
                true => 0.0,
                false => now.duration_since(units.at).as_secs_f64() * per_sec,
            };
            units.left = (units.left + refilled).min(per_sec);
            units.at = now;
            if units.left < *need {
                short.push(bucket.clone());
            }
        }
        if short.is_empty() {
            for (bucket, need) in wanted {
                buckets.get_mut(&bucket).expect("filled above").left -= need;
            }
            return Ok(());
        }
        drop(buckets);
        *self
            .throttled
            .lock()
            .unwrap()
            .entry(table.clone())
            .or_default() += 1;
        let lacks = |item: &ItemKey| {
            self.needs(item, kind, units)
                .iter()
                .any(|(bucket, _)| short.contains(bucket))
        };
        Err(Box::new(match touches {
            Touches::Transaction(items) => cancelled(
                items
                    .iter()
                    .map(|item| match lacks(item) {
                        true => json!({"Code": "ThrottlingError", "Message": THROTTLED}),
                        false => json!({"Code": "None"}),
                    })
                    .collect(),
            ),
            _ => dynamodb_error(
                400,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": THROTTLED,
                    "ThrottlingReasons": [{
                        "reason": match kind {
                            Kind::Read => "TableReadKeyRangeThroughputExceeded",
                            Kind::Write => "TableWriteKeyRangeThroughputExceeded",
                        },
                        "resource": format!("arn:aws:dynamodb:ap-southeast-1:000000000000:table/{table}"),
                    }],
                }),
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_every_partition() {
        let hit: std::collections::HashSet<u64> = (0..100)
            .map(|i| partition_of(&format!("\"k{i}\""), 4))
            .collect();
        assert_eq!(hit.len(), 4);
    }
}
