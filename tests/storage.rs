//! The storage suite against both adapters: the in-memory store and DynamoDB
//! Local (started by `make test`), through the layer that applies DynamoDB's
//! rules that DynamoDB Local does not (tests/harness/layer).

use otp_integration_tests::{dynamo_store, memory_store, storage_suite};
use std::sync::Arc;

macro_rules! against_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                storage_suite::$case(Arc::new(memory_store())).await
            })*
        }
        mod dynamodb {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                storage_suite::$case(Arc::new(dynamo_store().await)).await
            })*
        }
    };
}

against_both_stores!(
    clients_round_trip,
    rule_5_8_new_challenge_refused_while_cooldown_holds,
    rule_5_8_new_challenge_after_cooldown_kills_the_old_code,
    attempts_need_the_right_challenge,
    rule_5_5_attempts_end_at_expiry,
    rule_5_7_attempts_stop_at_the_limit,
    rule_5_7_concurrent_attempts_never_exceed_the_limit,
    rule_5_6_a_challenge_is_consumed_once,
    rule_5_6_concurrent_consumes_yield_one_success,
    rule_5_10_undeliverable_challenge_is_dead_and_keeps_cooldown,
    marking_undeliverable_spares_a_newer_challenge,
    a_challenge_names_the_provider_that_sent_it_after_a_failover,
    rule_13_3_delivery_reports_fold_into_one_state_in_any_order,
    rule_13_3_a_reported_message_id_and_delivery_stay_through_later_reports_and_the_confirm,
    rule_13_3_concurrent_delivery_reports_keep_the_fold,
    rule_13_3_a_delivery_reported_after_the_confirm_is_kept,
    rule_13_3_a_confirmed_record_says_which_messages_were_told_after_the_confirm,
    a_slots_challenge_is_read_whatever_its_state,
    rule_6_refresh_rotates_once_and_detects_reuse,
    rule_14_an_authorization_code_is_minted_with_its_login_and_redeemed_once,
    rule_14_a_proof_of_work_is_spent_once,
    rule_6_refresh_families_expire,
    rule_6_concurrent_rotations_yield_one_success,
    rule_6_revocation_needs_the_owner,
    rule_5_9_directory_entries_register_a_phone_for_one_client,
    rule_5_9_a_login_registers_no_one,
    rule_5_12_a_claim_leaves_the_live_code_until_its_challenge_starts,
    rule_5_12_a_claim_keeps_a_second_request_out_until_it_ends_or_lapses,
    rule_5_12_a_kept_claim_is_the_cooldown_and_spares_the_live_code,
    rule_5_12_concurrent_claims_of_one_slot_yield_one,
    rule_5_8_the_days_wrong_codes_count_with_each_attempt_and_survive_resends,
    rule_5_8_concurrent_attempts_never_exceed_the_days_cap,
    a_refused_confirm_gives_its_attempt_back,
    rule_5_8_limits_count_with_the_claim_and_refuse_when_spent,
    rule_5_8_concurrent_starts_never_exceed_a_limit,
    rule_5_8_counters_stop_at_their_limit,
    rule_5_8_concurrent_counts_never_exceed_a_limit,
    uncount_gives_back_one_and_never_goes_below_zero,
);

/// The index of challenges by number is a port of its own (only
/// delivery-events wires it): each store serves as its own index.
mod sent_index {
    use super::*;

    #[tokio::test]
    async fn memory_rule_13_3_challenges_are_found_by_the_number_they_were_sent_to() {
        let store = Arc::new(memory_store());
        storage_suite::rule_13_3_challenges_are_found_by_the_number_they_were_sent_to(
            store.clone(),
            store,
        )
        .await
    }

    #[tokio::test]
    async fn dynamodb_rule_13_3_challenges_are_found_by_the_number_they_were_sent_to() {
        let store = Arc::new(dynamo_store().await);
        storage_suite::rule_13_3_challenges_are_found_by_the_number_they_were_sent_to(
            store.clone(),
            store,
        )
        .await
    }
}
