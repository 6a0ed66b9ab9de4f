//! The DynamoDB store. Every state change is a single conditional write or
//! one transaction; failed conditions return the old item, which the domain
//! classifies. [`items`] lays the records out, [`writes`] sends them under
//! DynamoDB's rules.

mod items;
mod writes;

use super::{ClaimOutcome, Folded, Issued, Release, SentChallenge, SentIndex, Store};
use crate::Error;
use crate::clock::{Entropy, Millis, OsEntropy};
use crate::config::Timeouts;
use crate::domain::authorization::AuthorizationCode;
use crate::domain::challenge::{Challenge, ChallengeKey, ChallengeState, Claim, Refusal, Selector};
use crate::domain::client::ClientRecord;
use crate::domain::delivery::{
    DeliveryEvent, DeliveryRecord, DeliveryState, FEEDBACK_AFTER_THE_CONFIRM_MOST,
};
use crate::domain::keys::b64;
use crate::domain::limits::{FailureCap, RateLimit};
use crate::domain::refresh::{
    ABSOLUTE_LIFETIME_MS, IDLE_LIFETIME_MS, RefreshFamily, RotationRefusal,
};
use crate::domain::user::User;
use crate::sdk::{failure, sdk_failure};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use items::{
    CHALLENGE_OPTIONAL, CLAIM_ATTRIBUTES, SENT_TO_INDEX, challenge_from, challenge_item,
    challenge_pk, client_from, client_pk, code_from, code_item, code_pk, corrupt, delivery_from,
    delivery_pk, delivery_update, failures_attribute, family_from, family_item, family_pk, get_n,
    get_s, n, rate_pk, s, sent_challenge_from, slot_from, spent_pk, user_from, user_item, user_pk,
};
use std::collections::HashMap;
use writes::{
    COUNT_CONDITION, COUNT_UPDATE, Repeat, applied, condition_failed, count_names, count_values,
    settle_update, update_condition_failure,
};

pub struct DynamoStore {
    client: Client,
    table: String,
    timeouts: Timeouts,
}

impl DynamoStore {
    /// Over `client`'s endpoint and credentials, with the default function's
    /// [`Timeouts`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self::with_timeouts(client, table, Timeouts::default())
    }

    /// Each call with its retries within `timeouts.operation()`, each
    /// attempt within `timeouts.attempt()`. The SDK retries nothing itself:
    /// the store decides what may be sent again (`writes`).
    pub fn with_timeouts(client: Client, table: impl Into<String>, timeouts: Timeouts) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
            timeouts,
        }
    }

    /// Every client record, for operators: a full table scan, never on a
    /// request path.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, Error> {
        let items = self.scan_prefix(client_pk(""), None).await?;
        let mut clients = items
            .iter()
            .map(client_from)
            .collect::<Result<Vec<_>, _>>()?;
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }

    /// Deletes a client's directory users and refresh-token families, then
    /// its record, for operators: full table scans, never on a request
    /// path. The record goes last, so that an interrupted delete leaves the
    /// client to delete again, and a later client of the same id finds no
    /// one registered and accepts none of the old client's refresh tokens.
    /// Returns how many users and families it deleted.
    pub async fn delete_client(&self, client_id: &str) -> Result<(usize, usize), Error> {
        let users = self.scan_prefix(user_pk(client_id, ""), None).await?;
        let families = self
            .scan_prefix(family_pk(""), Some(("client_id", client_id)))
            .await?;
        for item in users.iter().chain(&families) {
            self.delete(items::get_s(item, "pk")?).await?;
        }
        self.delete(client_pk(client_id)).await?;
        Ok((users.len(), families.len()))
    }

    /// Every item whose key starts with `prefix` (and whose attribute is
    /// the value given): a full table scan, strongly consistent, so that
    /// what was written just before is found.
    async fn scan_prefix(
        &self,
        prefix: String,
        attribute: Option<(&str, &str)>,
    ) -> Result<Vec<items::Item>, Error> {
        let mut found = vec![];
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":prefix", s(prefix));
        let mut filter = "begins_with(pk, :prefix)".to_string();
        if let Some((name, value)) = attribute {
            filter.push_str(" AND #attribute = :value");
            scan = scan
                .expression_attribute_names("#attribute", name)
                .expression_attribute_values(":value", s(value));
        }
        let mut pages = scan
            .filter_expression(filter)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            found.push(item.map_err(|e| sdk_failure("dynamodb.Scan", &e))?);
        }
        Ok(found)
    }

    /// A call that does the same when applied twice, sent within the
    /// operation's deadline and retried as [`Self::sending`] does.
    async fn send_safely<T, E, R, Fut>(
        &self,
        operation: &'static str,
        send: impl FnMut(aws_sdk_dynamodb::config::Builder) -> Fut,
    ) -> Result<T, Error>
    where
        E: ProvideErrorMetadata,
        Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
    {
        self.sending(operation, Repeat::Safe, failure, send)
            .await?
            .map_err(|e| sdk_failure(operation, &e))
    }

    /// A transaction's part that writes `item`, new: it cancels the
    /// transaction if its key exists.
    fn put_new(&self, item: items::Item) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| Error::internal("dynamodb.build", "put"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn delete(&self, pk: String) -> Result<(), Error> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk));
        self.send_safely("dynamodb.DeleteItem", |within| {
            request.clone().customize().config_override(within).send()
        })
        .await?;
        Ok(())
    }

    async fn get(&self, pk: String) -> Result<Option<items::Item>, Error> {
        self.read(pk, false).await
    }

    /// The item `pk`; `consistent`, what was written just before is found.
    async fn read(&self, pk: String, consistent: bool) -> Result<Option<items::Item>, Error> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(consistent)
            .key("pk", s(pk));
        let out = self
            .send_safely("dynamodb.GetItem", |within| {
                request.clone().customize().config_override(within).send()
            })
            .await?;
        Ok(out.item().cloned())
    }

    async fn put(&self, item: items::Item) -> Result<(), Error> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        self.send_safely("dynamodb.PutItem", |within| {
            request.clone().customize().config_override(within).send()
        })
        .await?;
        Ok(())
    }

    /// Sets `attribute` to `value` on the challenge `token_hash` names, if
    /// it is still the slot's: a no-op when the slot holds a newer one.
    async fn set_on_challenge(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        attribute: &str,
        value: &str,
    ) -> Result<(), Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET #attribute = :value")
            .condition_expression("token_hash = :token_hash")
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":value", s(value))
            .expression_attribute_values(":token_hash", s(token_hash));
        applied(self.update(request, Repeat::Safe).await?).map(drop)
    }

    /// Marks the client's kept delivery record of `record`'s challenge
    /// `delivery_reported`: a no-op for another client's, one no longer
    /// kept, or none.
    async fn mark_delivery_reported(
        &self,
        record: &DeliveryRecord,
        now: Millis,
    ) -> Result<(), Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(&record.challenge_id)))
            .update_expression("SET delivery_reported = :reported")
            .condition_expression("client_id = :client AND kept_until_ms > :now")
            .expression_attribute_values(":reported", AttributeValue::Bool(true))
            .expression_attribute_values(":client", s(&record.client_id))
            .expression_attribute_values(":now", n(now));
        applied(self.update(request, Repeat::Safe).await?).map(drop)
    }
}

/// The longest a code lives (DESIGN §5.5): a claimed slot is kept at least
/// as long as any live challenge in it.
const LONGEST_LIFETIME_MS: Millis = 600_000;

#[async_trait]
impl Store for DynamoStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        self.get(client_pk(client_id))
            .await?
            .as_ref()
            .map(client_from)
            .transpose()
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), Error> {
        let settings = serde_json::to_string(&client.settings).map_err(|_| corrupt("settings"))?;
        let mut item = HashMap::from([
            ("pk".to_string(), s(client_pk(&client.client_id))),
            ("secret_hash".to_string(), s(&client.secret_hash)),
            (
                "disabled".to_string(),
                AttributeValue::Bool(client.disabled),
            ),
            ("settings".to_string(), s(settings)),
        ]);
        if let Some(previous) = &client.previous_secret_hash {
            item.insert("previous_secret_hash".to_string(), s(previous));
        }
        self.put(item).await
    }

    async fn user(&self, client_id: &str, phone_key: &str) -> Result<Option<User>, Error> {
        self.get(user_pk(client_id, phone_key))
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn put_user(&self, user: &User) -> Result<(), Error> {
        self.put(user_item(user)).await
    }

    async fn claim_slot(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        now: Millis,
        limits: &[RateLimit],
    ) -> Result<ClaimOutcome, Error> {
        let build = |_| Error::internal("dynamodb.build", "claim_slot");
        // The TTL only ever moves later: no live challenge outlives it.
        let ttl = (now + LONGEST_LIFETIME_MS) / 1000 + 86_400;
        let slot = Update::builder()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression(
                "SET claim_token = :claim, claim_until = :until, \
                 claim_resend_after = :resend, expires_at = :ttl",
            )
            .condition_expression(
                "(attribute_not_exists(resend_after_ms) OR resend_after_ms <= :now) \
                 AND (attribute_not_exists(claim_until) OR claim_until <= :now)",
            )
            .expression_attribute_values(":claim", s(&claim.token_hash))
            .expression_attribute_values(":until", n(claim.until_ms))
            .expression_attribute_values(":resend", n(claim.resend_after_ms))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        let mut items = vec![TransactWriteItem::builder().update(slot).build()];
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
            return Ok(ClaimOutcome::Claimed);
        };
        if let Some(slot) = reasons.first().filter(|r| condition_failed(Some(r))) {
            let old = slot
                .item()
                .ok_or_else(|| corrupt("condition failure without old item"))?;
            let resend_after_ms = slot_from(old)?
                .busy_until(now)
                .ok_or_else(|| corrupt("slot refused although free"))?;
            return Ok(ClaimOutcome::CoolingDown { resend_after_ms });
        }
        if let Some(index) = reasons
            .iter()
            .skip(1)
            .take(limits.len())
            .position(|r| condition_failed(Some(r)))
        {
            return Ok(ClaimOutcome::RateLimited { index });
        }
        Err(corrupt("transaction cancelled without a failed condition"))
    }

    async fn start_challenge(&self, challenge: &Challenge) -> Result<bool, Error> {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut set = vec![];
        for (i, (name, value)) in challenge_item(challenge)
            .into_iter()
            .filter(|(name, _)| name != "pk")
            .enumerate()
        {
            set.push(format!("#a{i} = :a{i}"));
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
        }
        let removed: Vec<&str> = CLAIM_ATTRIBUTES
            .into_iter()
            .chain(
                CHALLENGE_OPTIONAL
                    .into_iter()
                    .filter(|name| !names.values().any(|n| n == name)),
            )
            .collect();
        values.insert(":claim".to_string(), s(&challenge.token_hash));
        values.insert(":zero".to_string(), n(0));
        values.insert(":active".to_string(), s(ChallengeState::Active.as_str()));
        names.insert("#state".to_string(), "state".to_string());
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(&challenge.key)))
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                removed.join(", ")
            ))
            // Or already started by this very write, untouched since, whose
            // answer was lost: sending it again changes nothing.
            .condition_expression(
                "claim_token = :claim \
                 OR (token_hash = :claim AND #state = :active AND attempts = :zero)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        applied(self.update(request, Repeat::Safe).await?)
    }

    async fn release_claim(
        &self,
        key: &ChallengeKey,
        claim: &Claim,
        release: Release,
    ) -> Result<(), Error> {
        let remove = format!("REMOVE {}", CLAIM_ATTRIBUTES.join(", "));
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .condition_expression("claim_token = :claim")
            .expression_attribute_values(":claim", s(&claim.token_hash));
        let request = match release {
            Release::Withdraw => request.update_expression(remove),
            Release::KeepCooldown => request
                .update_expression(format!("SET resend_after_ms = :resend {remove}"))
                .expression_attribute_values(":resend", n(claim.resend_after_ms)),
        };
        // Not applied: the claim lapsed and another request holds the slot.
        applied(self.update(request, Repeat::Safe).await?).map(drop)
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
        applied(self.update(request, Repeat::Unsafe).await?)
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
        applied(self.update(request, Repeat::Unsafe).await?).map(drop)
    }

    async fn mark_undeliverable(&self, key: &ChallengeKey, token_hash: &str) -> Result<(), Error> {
        let undeliverable = ChallengeState::Undeliverable.as_str();
        self.set_on_challenge(key, token_hash, "state", undeliverable)
            .await
    }

    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>, Error> {
        match self.get(challenge_pk(key)).await? {
            Some(item) => challenge_from(&item),
            None => Ok(None),
        }
    }

    async fn record_delivery(&self, record: &DeliveryRecord, now: Millis) -> Result<Folded, Error> {
        let (update, names, mut values) = delivery_update(record, now);
        let event = &record.event;
        values.extend([
            (":now".to_string(), n(now)),
            (":client".to_string(), s(&record.client_id)),
            (":rank".to_string(), n(event.state.rank().into())),
            (":at".to_string(), n(event.at_ms)),
            (":tie".to_string(), s(event.tie())),
        ]);
        // Written unless a kept record holds an event that supersedes this
        // one, or is another client's: the fold as one condition.
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(&record.challenge_id)))
            .update_expression(update)
            .condition_expression(
                "attribute_not_exists(pk) OR kept_until_ms <= :now \
                 OR (client_id = :client AND (delivery_rank < :rank \
                     OR (delivery_rank = :rank AND (at_ms < :at \
                         OR (at_ms = :at AND tie < :tie)))))",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::UpdatedOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match self.update(request, Repeat::Safe).await? {
            Ok(out) => {
                // The old values of what was set: none for a new record.
                let old = out.attributes().cloned().unwrap_or_default();
                let kept = get_n(&old, "kept_until_ms").is_ok_and(|until| until > now);
                let was = get_s(&old, "delivery_state")
                    .ok()
                    .filter(|_| kept)
                    .and_then(|state| DeliveryState::parse(&state));
                Ok(Folded::Changed { was })
            }
            Err(e) => match update_condition_failure(&e) {
                // The record that kept this report out, as it was.
                Some(Some(held)) => {
                    // A record it cannot read is no confirmed one.
                    let Some(confirmed) = delivery_from(&record.challenge_id, held, now)
                        .ok()
                        .flatten()
                        .filter(|kept| kept.confirmed_for(&record.client_id))
                    else {
                        return Ok(Folded::Unchanged);
                    };
                    if record.delivery_reported && !confirmed.delivery_reported {
                        self.mark_delivery_reported(record, now).await?;
                    }
                    Ok(Folded::Confirmed {
                        message_id: confirmed.message_id,
                        told: match held.get("feedback_told") {
                            Some(AttributeValue::Ss(told)) => told.clone(),
                            _ => vec![],
                        },
                    })
                }
                Some(None) => Ok(Folded::Unchanged),
                None => Err(sdk_failure("dynamodb.UpdateItem", &e)),
            },
        }
    }

    async fn record_message_told(
        &self,
        challenge_id: &str,
        client_id: &str,
        message_id: &str,
        now: Millis,
    ) -> Result<(), Error> {
        let most = FEEDBACK_AFTER_THE_CONFIRM_MOST as i64;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(challenge_id)))
            .update_expression("ADD feedback_told :ids")
            .condition_expression(
                "client_id = :client AND kept_until_ms > :now \
                 AND (attribute_not_exists(feedback_told) OR size(feedback_told) < :most)",
            )
            .expression_attribute_values(":ids", AttributeValue::Ss(vec![message_id.to_string()]))
            .expression_attribute_values(":client", s(client_id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":most", n(most));
        applied(self.update(request, Repeat::Safe).await?).map(drop)
    }

    async fn delivery(
        &self,
        challenge_id: &str,
        now: Millis,
    ) -> Result<Option<DeliveryRecord>, Error> {
        match self.get(delivery_pk(challenge_id)).await? {
            Some(item) => delivery_from(challenge_id, &item, now),
            None => Ok(None),
        }
    }

    async fn record_provider(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        provider: &str,
    ) -> Result<(), Error> {
        self.set_on_challenge(key, token_hash, "provider", provider)
            .await
    }

    async fn count_attempt(
        &self,
        key: &ChallengeKey,
        selector: &Selector,
        cap: &FailureCap,
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
            (":cap".to_string(), n(cap.limit.into())),
        ]);
        if let Some(value) = selector_value {
            values.insert(":selector".to_string(), s(value));
        }
        // The day's count, and the two days before it removed: of no use
        // any more, they would only grow the item.
        let names = HashMap::from([
            ("#state".to_string(), "state".to_string()),
            ("#fails".to_string(), failures_attribute(cap.window)),
            ("#old1".to_string(), failures_attribute(cap.window - 2)),
            ("#old2".to_string(), failures_attribute(cap.window - 3)),
        ]);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET attempts = attempts + :one ADD #fails :one REMOVE #old1, #old2")
            .condition_expression(format!(
                "attribute_exists(token_hash){selector_condition} AND #state = :active \
                 AND expires_at_ms > :now AND attempts < max_attempts \
                 AND (attribute_not_exists(#fails) OR #fails < :cap)"
            ))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = self.update(request, Repeat::Unsafe).await?;
        let live = |item: &items::Item| challenge_from(item)?.ok_or_else(|| corrupt("token_hash"));
        settle_update(result, live, |old| {
            // The condition failed, so the domain must find a reason; if it
            // does not, refuse rather than guess.
            Ok(match old {
                None => Refusal::NotFound,
                Some(old) => slot_from(old)?
                    .attempt_refusal(selector, cap, now)
                    .unwrap_or(Refusal::NotFound),
            })
        })
    }

    async fn uncount_attempt(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        failure_window: i64,
    ) -> Result<(), Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET attempts = attempts - :one ADD #fails :minus_one")
            .condition_expression(
                "token_hash = :token_hash AND attempts > :zero AND #fails > :zero",
            )
            .expression_attribute_names("#fails", failures_attribute(failure_window))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":token_hash", s(token_hash));
        // Not applied: another challenge by now, or nothing to give back.
        applied(self.update(request, Repeat::Unsafe).await?).map(drop)
    }

    async fn consume(
        &self,
        key: &ChallengeKey,
        token_hash: &str,
        now: Millis,
        failure_window: i64,
        issued: Issued<'_>,
        converted: &DeliveryEvent,
    ) -> Result<bool, Error> {
        let build = |what: &'static str| move |_| Error::internal("dynamodb.build", what);
        // The attempt counted a wrong code, to be given back when the code
        // was right: this one was. The attribute exists: the attempt, on the
        // same day's attribute, made it at least 1 (a right code that loses
        // the race to a newer challenge stays counted as a wrong one).
        let consume = Update::builder()
            .table_name(&self.table)
            .key("pk", s(challenge_pk(key)))
            .update_expression("SET #state = :consumed ADD #fails :minus_one")
            .condition_expression(
                "token_hash = :token_hash AND #state = :active AND expires_at_ms > :now",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#fails", failures_attribute(failure_window))
            .expression_attribute_values(":consumed", s(ChallengeState::Consumed.as_str()))
            .expression_attribute_values(":active", s(ChallengeState::Active.as_str()))
            .expression_attribute_values(":token_hash", s(token_hash))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":minus_one", n(-1))
            .build()
            .map_err(build("consume"))?;
        let mut items = vec![TransactWriteItem::builder().update(consume).build()];
        let issued = match issued {
            Issued::Nothing => None,
            Issued::Family(f) => Some(family_item(f)),
            Issued::Code(code) => Some(code_item(code)),
        };
        if let Some(item) = issued {
            items.push(self.put_new(item)?);
        }
        // Converted is the greatest delivery event and a challenge is
        // consumed once: written without a condition, it is the fold, and
        // no condition of it can cancel the consume. An update, so that the
        // message id a report named stays for the confirm's feedback.
        let record = DeliveryRecord::new(
            Challenge::id_of(token_hash),
            key.client_id.clone(),
            converted.clone(),
            None,
        );
        let (update, names, values) = delivery_update(&record, now);
        let delivered = Update::builder()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(&record.challenge_id)))
            .update_expression(update)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build("delivery"))?;
        items.push(TransactWriteItem::builder().update(delivered).build());
        Ok(self.transact(items).await?.is_ok())
    }

    async fn authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<(AuthorizationCode, Option<String>)>, Error> {
        // Strongly consistent: a client exchanges its code moments after
        // the page's redirect.
        self.read(code_pk(code_hash), true)
            .await?
            .map(|item| code_from(code_hash, &item))
            .transpose()
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        now: Millis,
    ) -> Result<bool, Error> {
        let build = |what: &'static str| move |_| Error::internal("dynamodb.build", what);
        let redeem = Update::builder()
            .table_name(&self.table)
            .key("pk", s(code_pk(code_hash)))
            .update_expression("SET redeemed_family = :family")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(redeemed_family) \
                 AND expires_at_ms > :now",
            )
            .expression_attribute_values(":family", s(&family.family_id))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build("redeem"))?;
        let items = vec![
            TransactWriteItem::builder().update(redeem).build(),
            self.put_new(family_item(family))?,
        ];
        Ok(self.transact(items).await?.is_ok())
    }

    async fn spend_once(&self, key: &str, until_ms: Millis) -> Result<bool, Error> {
        // This call's own mark: the condition holds again for this call
        // alone, so that sending it again after a lost answer is safe.
        let mut mark = [0; 12];
        OsEntropy.fill(&mut mark);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(spent_pk(key)))
            .update_expression("SET spent_by = :mark, expires_at = :ttl")
            .condition_expression("attribute_not_exists(pk) OR spent_by = :mark")
            .expression_attribute_values(":mark", s(b64(&mark)))
            .expression_attribute_values(":ttl", n(until_ms.div_euclid(1000) + 1));
        applied(self.update(request, Repeat::Safe).await?)
    }

    async fn rotate_refresh(
        &self,
        family_id: &str,
        presented_hash: &str,
        client_id: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Result<RefreshFamily, RotationRefusal>, Error> {
        // Families written before spent tokens stopped being listed lose
        // their list at their next rotation. Current already as this very
        // write leaves it (its answer was lost): sending it again changes
        // nothing, as `:new` is this rotation's own.
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression(
                "SET current_hash = :new, idle_expires_at_ms = :idle REMOVE spent_hashes",
            )
            .condition_expression(
                "attribute_exists(pk) AND (current_hash = :presented OR current_hash = :new) \
                 AND client_id = :client AND revoked = :false AND idle_expires_at_ms > :now \
                 AND created_at_ms > :born_after",
            )
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":idle", n(now + IDLE_LIFETIME_MS))
            .expression_attribute_values(":presented", s(presented_hash))
            .expression_attribute_values(":client", s(client_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":born_after", n(now - ABSOLUTE_LIFETIME_MS))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = self.update(request, Repeat::Safe).await?;
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
        // Each rotation's new hash is its own, so the family is exactly as
        // that rotation left it while the new hash is current.
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression("SET current_hash = :presented")
            .condition_expression("current_hash = :new")
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":presented", s(presented_hash));
        applied(self.update(request, Repeat::Safe).await?).map(drop)
    }

    async fn revoke_family(&self, family_id: &str, client_id: &str) -> Result<bool, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(family_id)))
            .update_expression("SET revoked = :true")
            .condition_expression("client_id = :client")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":client", s(client_id));
        applied(self.update(request, Repeat::Safe).await?)
    }
}

#[async_trait]
impl SentIndex for DynamoStore {
    async fn challenges_sent_to(
        &self,
        phone_key: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<SentChallenge>, Error> {
        // A number has a challenge per client at most in the window: one
        // page holds them.
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SENT_TO_INDEX)
            .key_condition_expression("sent_to = :phone AND created_at_ms BETWEEN :from AND :to")
            .expression_attribute_values(":phone", s(phone_key))
            .expression_attribute_values(":from", n(from_ms))
            .expression_attribute_values(":to", n(to_ms));
        let out = self
            .send_safely("dynamodb.Query", |within| {
                request.clone().customize().config_override(within).send()
            })
            .await?;
        out.items().iter().map(sent_challenge_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_item_holding_only_a_claim_has_no_live_challenge() {
        let item = HashMap::from([
            ("pk".to_string(), s("otp#c#p")),
            ("claim_token".to_string(), s("t")),
            ("claim_until".to_string(), n(30_000)),
            ("claim_resend_after".to_string(), n(60_000)),
        ]);
        let slot = items::slot_from(&item).unwrap();
        assert_eq!(slot.challenge, None);
        assert_eq!(slot.claim.as_ref().map(|c| c.resend_after_ms), Some(60_000));
        assert_eq!(slot.busy_until(1), Some(1_001));
    }
}
