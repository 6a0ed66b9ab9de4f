//! Every route through the real `lambda_http` handlers, fed API Gateway HTTP
//! API (payload v2) events, against the in-memory store and DynamoDB Local.

use otp_integration_tests::{TestApp, scenarios};

macro_rules! against_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[tokio::test]
            async fn $case() {
                scenarios::$case(&TestApp::memory().await).await
            })*
        }
        mod dynamodb {
            use super::*;
            $(#[tokio::test]
            async fn $case() {
                scenarios::$case(&TestApp::dynamodb().await).await
            })*
        }
        /// DESIGN §5.2: the same scenarios with every log line captured;
        /// no code, full phone number, client secret or token may appear.
        mod logs_hold_no_secrets {
            use super::*;
            $(#[tokio::test]
            async fn $case() {
                let logs = otp_integration_tests::logs::capture();
                let t = TestApp::memory().await;
                scenarios::$case(&t).await;
                logs.assert_no_secrets(&t);
            })*
        }
    };
}

against_both_stores!(
    full_flow_issues_tokens_that_verify_against_jwks,
    confirm_by_mobile_and_ref_code,
    clients_without_tokens_hear_code_is_correct,
    rule_5_2_no_answer_carries_the_code,
    rule_5_3_phone_numbers_are_normalised_or_refused,
    rule_5_5_code_valid_at_4m59s_and_expired_at_5m,
    rule_5_6_a_code_is_usable_once,
    rule_5_7_five_wrong_codes_kill_the_challenge,
    rule_5_8_resend_within_60s_is_refused_then_replaces,
    bad_input_gets_stable_errors_and_no_sms,
    confirm_input_errors_are_stable,
    routes_belong_to_their_function,
    token_endpoint_speaks_rfc_6749,
    refresh_tokens_are_bound_to_their_client,
    rule_6_confirm_answers_with_the_one_id_token_fields,
    rule_6_revoking_a_refresh_token_ends_its_family,
    rule_6_revocation_answers_per_rfc_7009,
    rule_6_refresh_tokens_die_after_seven_idle_days,
    discovery_names_the_keys_and_endpoints,
    rule_5_9_native_answers_unknown_numbers_as_known_and_sends_nothing,
    rule_5_4_native_refuses_malformed_id_cards,
    rule_5_8_five_codes_per_phone_per_hour_then_429,
    rule_5_8_ten_codes_per_phone_per_day_then_429,
    rule_5_8_per_ip_limit_counts_the_forwarded_end_user_address,
    rule_5_8_a_backend_forwarding_no_address_is_not_limited_by_its_own,
    rule_5_8_clients_whose_callers_are_end_users_count_the_calling_address,
    rule_5_8_a_forged_end_user_address_from_a_failing_client_changes_nothing,
    rule_5_8_end_user_addresses_are_checked_in_every_dialect,
    rule_5_8_per_client_limit_per_minute,
    rule_5_8_twenty_wrong_codes_a_day_per_phone_survive_resends,
    sms_pumping_velocity_cap_per_number_range,
    sms_pumping_hourly_ceiling_opens_the_circuit_and_sends_nothing,
    metrics_count_a_scripted_flow_by_client_and_calling_code,
    rule_5_11_test_numbers_have_a_fixed_code_and_never_reach_sms,
    clients_without_an_allow_list_use_the_deployment_default,
    stored_client_settings_out_of_bounds_fail_closed_with_an_alert,
);

mod production {
    use super::*;
    use otp_integration_tests::{dynamo_store, memory_store};
    use std::sync::Arc;

    #[tokio::test]
    async fn rule_5_11_test_numbers_are_refused_in_production_memory() {
        scenarios::rule_5_11_test_numbers_are_refused_in_production(
            &TestApp::production(Arc::new(memory_store())).await,
        )
        .await
    }

    #[tokio::test]
    async fn rule_5_11_test_numbers_are_refused_in_production_dynamodb() {
        scenarios::rule_5_11_test_numbers_are_refused_in_production(
            &TestApp::production(Arc::new(dynamo_store().await)).await,
        )
        .await
    }
}
