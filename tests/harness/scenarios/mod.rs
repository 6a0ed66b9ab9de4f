//! Whole-route scenarios through the real handlers, fed API Gateway events;
//! tests/handlers.rs runs each against the in-memory store and DynamoDB Local.

mod end_users;

pub use end_users::*;

use crate::test_settings;
use crate::{
    Answer, CLIENT_ID, CLIENT_SECRET, ISSUER, PLAIN_CLIENT_ID, REGISTERED_CLIENT_ID, SENDER_ID,
    START_MS, TestApp, api_request, call, verify_jwt,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use serde_json::{Value, json};

const PHONE: &str = "0812345678";
const PHONE_E164: &str = "+66812345678";

async fn jwks(t: &TestApp) -> Value {
    let answer = call(
        &t.app,
        Function::IssueToken,
        api_request("jwks", None, None),
    )
    .await;
    assert_eq!(answer.status, 200);
    answer.body
}

async fn refresh(t: &TestApp, refresh_token: &str, client_id: &str) -> Answer {
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh_token}&client_id={client_id}&client_secret={CLIENT_SECRET}"
    );
    let request = api_request(
        "token-refresh",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    );
    call(&t.app, Function::IssueToken, request).await
}

fn assert_no_store(answer: &Answer) {
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
}

/// request → SMS → confirm → tokens verified against JWKS → refresh → the
/// spent refresh token is refused and ends the family.
pub async fn full_flow_issues_tokens_that_verify_against_jwks(t: &TestApp) {
    let (token, ref_code, code) = t.code_for(PHONE).await;
    let sms = t.last_sms();
    assert_eq!(sms.to, PHONE_E164);
    assert_eq!(sms.sender_id.as_deref(), Some(SENDER_ID));
    assert!(sms.message.contains(&code) && sms.message.contains(&ref_code));
    assert_eq!(code.len(), 6);

    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_no_store(&confirmed);
    let data = &confirmed.body["data"];
    assert_eq!(confirmed.body["result"], "Success");
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 3600);
    let keys = jwks(t).await;
    let (header, claims) = verify_jwt(data["access_token"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], data["account_id"]);
    assert_eq!(claims["login_by"], "mobile");
    assert_eq!(claims["iat"], START_MS / 1000);
    assert_eq!(claims["exp"], START_MS / 1000 + 3600);

    let first_refresh = data["refresh_token"].as_str().unwrap();
    let refreshed = refresh(t, first_refresh, CLIENT_ID).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_no_store(&refreshed);
    let (_, claims) = verify_jwt(refreshed.body["access_token"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(claims["sub"], data["account_id"]);
    let second_refresh = refreshed.body["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first_refresh);

    let reused = refresh(t, first_refresh, CLIENT_ID).await;
    assert_eq!(
        (reused.status, reused.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Reuse revoked the family: the newest token is dead too.
    let after_reuse = refresh(t, second_refresh, CLIENT_ID).await;
    assert_eq!(after_reuse.body["error"], "invalid_grant");
}

pub async fn confirm_by_mobile_and_ref_code(t: &TestApp) {
    let (_, ref_code, code) = t.code_for(PHONE).await;
    let body = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": "+66 81 234 5678", "ref_code": ref_code.to_lowercase(), "otp": code,
    });
    let answer = t.call(Function::ConfirmOtp, "confirm-otp", &body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body["data"]["access_token"].is_string());
}

pub async fn clients_without_tokens_hear_code_is_correct(t: &TestApp) {
    let body =
        json!({"client_id": PLAIN_CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": PHONE});
    let sent = t.call(Function::RequestOtp, "request-otp", &body).await;
    assert_eq!(sent.status, 200);
    let token = sent.body["data"]["token"].as_str().unwrap();
    let answer = t
        .confirm_by_token(PLAIN_CLIENT_ID, token, &t.last_sms().code)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["data"], json!({"message": "Code is correct."}));
}

pub async fn rule_5_2_no_answer_carries_the_code(t: &TestApp) {
    let sent = t.request_otp(PHONE).await;
    let code = t.last_sms().code;
    let token = sent.body["data"]["token"].as_str().unwrap();
    assert!(!sent.body.to_string().contains(&code));
    let wrong = t.confirm_by_token(CLIENT_ID, token, "000000").await;
    let right = t.confirm_by_token(CLIENT_ID, token, &code).await;
    for answer in [&wrong, &right] {
        assert!(!answer.body.to_string().contains(&code), "{answer:?}");
        assert!(!answer.body.to_string().contains("812345678"), "{answer:?}");
    }
}

pub async fn rule_5_3_phone_numbers_are_normalised_or_refused(t: &TestApp) {
    let answer = t.request_otp("+66 (81) 234-5678").await;
    assert_eq!(answer.status, 200);
    assert_eq!(t.last_sms().to, PHONE_E164);
    for (bad, error) in [
        ("12345", "invalid_mobile_no"),
        ("+66 81 234 567x", "invalid_mobile_no"),
        ("+33 6 12 34 56 78", "mobile_no_not_allowed"),
    ] {
        let answer = t.request_otp(bad).await;
        assert_eq!((answer.status, answer.error()), (400, error), "{bad}");
    }
    assert_eq!(t.outbox.entries().len(), 1, "refused numbers get no SMS");
}

pub async fn rule_5_5_code_valid_at_4m59s_and_expired_at_5m(t: &TestApp) {
    let (token_a, _, code_a) = t.code_for("0811111111").await;
    let (token_b, _, code_b) = t.code_for("0822222222").await;
    t.clock.set(START_MS + 299_999);
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token_a, &code_a)
            .await
            .status,
        200
    );
    t.clock.set(START_MS + 300_000);
    let late = t.confirm_by_token(CLIENT_ID, &token_b, &code_b).await;
    assert_eq!((late.status, late.error()), (400, "otp_expired"));
}

pub async fn rule_5_6_a_code_is_usable_once(t: &TestApp) {
    let (token, _, code) = t.code_for(PHONE).await;
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &token, &code).await.status,
        200
    );
    let again = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!((again.status, again.error()), (400, "otp_expired"));
}

pub async fn rule_5_7_five_wrong_codes_kill_the_challenge(t: &TestApp) {
    let (token, _, code) = t.code_for(PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let answer = t.confirm_by_token(CLIENT_ID, &token, wrong).await;
        assert_eq!((answer.status, answer.error()), (400, "otp_invalid"));
    }
    let fifth = t.confirm_by_token(CLIENT_ID, &token, wrong).await;
    assert_eq!(fifth.error(), "otp_attempts_exceeded");
    let right = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(
        (right.status, right.error()),
        (400, "otp_attempts_exceeded")
    );
}

pub async fn rule_5_8_resend_within_60s_is_refused_then_replaces(t: &TestApp) {
    let (old_token, _, old_code) = t.code_for(PHONE).await;
    t.clock.set(START_MS + 59_001);
    let early = t.request_otp(PHONE).await;
    assert_eq!((early.status, early.error()), (429, "rate_limited"));
    assert_eq!(early.header("retry-after"), Some("1"));
    assert_eq!(t.outbox.entries().len(), 1);
    t.clock.set(START_MS + 60_000);
    let (new_token, _, new_code) = t.code_for(PHONE).await;
    let old = t.confirm_by_token(CLIENT_ID, &old_token, &old_code).await;
    assert_eq!(
        old.error(),
        "otp_expired",
        "the old code died with its challenge"
    );
    assert_eq!(
        t.confirm_by_token(CLIENT_ID, &new_token, &new_code)
            .await
            .status,
        200
    );
}

pub async fn bad_input_gets_stable_errors_and_no_sms(t: &TestApp) {
    let cases: Vec<(Option<&str>, Option<&str>, u16, &str)> = vec![
        (
            Some("not json"),
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            Some("[1,2]"),
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            Some(r#"{"client_id":"test-app"}"#),
            Some("text/plain"),
            400,
            "invalid_request",
        ),
        (
            Some(
                r#"{"client_id":"test-app","client_secret":"test-secret-0123456789abcdefghijkl"}"#,
            ),
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            Some(r#"{"client_id":"test-app","client_secret":"x","mobile_no":"0812345678"}"#),
            Some("application/json"),
            401,
            "invalid_client",
        ),
        (
            Some(r#"{"client_id":"nobody","client_secret":"x","mobile_no":"0812345678"}"#),
            Some("application/json"),
            401,
            "invalid_client",
        ),
        (
            Some(
                r#"{"client_id":"test-app","client_secret":"test-secret-0123456789abcdefghijkl","mobile_no":812345678}"#,
            ),
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            Some(
                r#"{"client_id":"test-app","client_secret":"test-secret-0123456789abcdefghijkl","mobile_no":"0812345678","mobile":"x"}"#,
            ),
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            Some(
                r#"{"client_id":"test-app","client_secret":"test-secret-0123456789abcdefghijkl","mobile_no":"0812345678","sms_sender":"Evil"}"#,
            ),
            Some("application/json"),
            400,
            "sms_sender_not_registered",
        ),
    ];
    for (body, content_type, status, error) in cases {
        let request = api_request("request-otp", body, content_type);
        let answer = call(&t.app, Function::RequestOtp, request).await;
        assert_eq!((answer.status, answer.error()), (status, error), "{body:?}");
        assert_eq!(answer.body["result"], "Fail");
        assert_eq!(answer.body["code"], status);
        assert!(
            answer.body["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(20_000));
    let answer = call(
        &t.app,
        Function::RequestOtp,
        api_request("request-otp", Some(&huge), Some("application/json")),
    )
    .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
    assert!(t.outbox.entries().is_empty());
    // The failed requests left no challenge behind: a first request passes.
    assert_eq!(t.request_otp(PHONE).await.status, 200);
}

pub async fn confirm_input_errors_are_stable(t: &TestApp) {
    let (token, ref_code, _) = t.code_for(PHONE).await;
    let base = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (with(json!({"otp": "123456"})), 400, "invalid_request"),
        (
            with(json!({"token": token, "mobile_no": PHONE, "ref_code": ref_code, "otp": "1"})),
            400,
            "invalid_request",
        ),
        (with(json!({"token": token})), 400, "invalid_request"),
        (
            with(json!({"token": token, "otp": "12 34"})),
            400,
            "invalid_request",
        ),
        (
            with(json!({"token": "garbage", "otp": "123456"})),
            400,
            "otp_expired",
        ),
        (
            with(json!({"mobile_no": "bad", "ref_code": ref_code, "otp": "123456"})),
            400,
            "invalid_mobile_no",
        ),
        (
            json!({"client_id": CLIENT_ID, "client_secret": "wrong", "token": token, "otp": "123456"}),
            401,
            "invalid_client",
        ),
    ];
    for (body, status, error) in cases {
        let answer = t.call(Function::ConfirmOtp, "confirm-otp", &body).await;
        assert_eq!((answer.status, answer.error()), (status, error), "{body}");
    }
    // A token works only with the client that requested it.
    let other = t.confirm_by_token(PLAIN_CLIENT_ID, &token, "123456").await;
    assert_eq!(other.error(), "otp_expired");
}

pub async fn routes_belong_to_their_function(t: &TestApp) {
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": PHONE});
    let answer = t.call(Function::ConfirmOtp, "request-otp", &body).await;
    assert_eq!((answer.status, answer.error()), (404, "not_found"));
    assert!(t.outbox.entries().is_empty());
    let request = api_request("jwks", None, None);
    let answer = call(&t.app, Function::RequestOtp, request).await;
    assert_eq!(answer.status, 404);
}

pub async fn token_endpoint_speaks_rfc_6749(t: &TestApp) {
    let form = |body: &str| {
        api_request(
            "token-refresh",
            Some(body),
            Some("application/x-www-form-urlencoded"),
        )
    };
    let cases = [
        (
            form("grant_type=password&username=a&password=b"),
            400,
            "unsupported_grant_type",
        ),
        (form("grant_type=refresh_token"), 400, "invalid_request"),
        (
            form(
                "grant_type=refresh_token&refresh_token=x.y&client_id=test-app&client_secret=wrong",
            ),
            401,
            "invalid_client",
        ),
        (
            form(&format!(
                "grant_type=refresh_token&refresh_token=x.y&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
            )),
            400,
            "invalid_grant",
        ),
        (
            form("grant_type=refresh_token&grant_type=refresh_token"),
            400,
            "invalid_request",
        ),
        (
            api_request("token-refresh", Some("{}"), Some("text/plain")),
            400,
            "invalid_request",
        ),
    ];
    for (request, status, error) in cases {
        let answer = call(&t.app, Function::IssueToken, request).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (status, Some(error)),
            "{answer:?}"
        );
        assert!(answer.body["error_description"].is_string());
        assert_no_store(&answer);
    }

    // JSON bodies and HTTP Basic client authentication work too.
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let refresh_token = confirmed.body["data"]["refresh_token"].as_str().unwrap();
    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh_token}).to_string();
    let mut request = api_request("token-refresh", Some(&body), Some("application/json"));
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{CLIENT_ID}:{CLIENT_SECRET}"),
    );
    request
        .headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let answer = call(&t.app, Function::IssueToken, request).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["token_type"], "Bearer");
}

pub async fn refresh_tokens_are_bound_to_their_client(t: &TestApp) {
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    let refresh_token = confirmed.body["data"]["refresh_token"].as_str().unwrap();
    let stolen = refresh(t, refresh_token, PLAIN_CLIENT_ID).await;
    assert_eq!(stolen.body["error"], "invalid_grant");
    assert_eq!(refresh(t, refresh_token, CLIENT_ID).await.status, 200);
}

async fn tokens(t: &TestApp) -> Value {
    let (token, _, code) = t.code_for(PHONE).await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    confirmed.body["data"].clone()
}

async fn revoke(t: &TestApp, form: &str) -> Answer {
    let request = api_request(
        "revoke",
        Some(form),
        Some("application/x-www-form-urlencoded"),
    );
    call(&t.app, Function::IssueToken, request).await
}

pub async fn rule_6_confirm_answers_with_the_one_id_token_fields(t: &TestApp) {
    let data = tokens(t).await;
    let fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "access_token",
            "account_id",
            "expiration_date",
            "expires_in",
            "login_by",
            "refresh_token",
            "token_type",
            "username"
        ]
    );
    // 04:30 UTC plus one hour, shown in UTC+7.
    assert_eq!(data["expiration_date"], "2100-11-22 12:30:00");
    assert_eq!(data["username"], data["account_id"]);
    assert_eq!(data["login_by"], "mobile");
    let keys = jwks(t).await;
    let (header, claims) = verify_jwt(data["access_token"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(header["kid"], keys["keys"][0]["kid"]);
    let claim_names: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        claim_names,
        ["aud", "exp", "iat", "iss", "jti", "login_by", "sub"]
    );
}

pub async fn rule_6_revoking_a_refresh_token_ends_its_family(t: &TestApp) {
    let data = tokens(t).await;
    let first = data["refresh_token"].as_str().unwrap();
    let refreshed = refresh(t, first, CLIENT_ID).await;
    let current = refreshed.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Another client cannot revoke it; the answer does not say so.
    let other = revoke(
        t,
        &format!("token={current}&client_id={PLAIN_CLIENT_ID}&client_secret={CLIENT_SECRET}"),
    )
    .await;
    assert_eq!((other.status, &other.body), (200, &json!({})));
    let own = format!(
        "token={current}&token_type_hint=refresh_token&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let revoked = revoke(t, &own).await;
    assert_eq!((revoked.status, &revoked.body), (200, &json!({})));
    assert_no_store(&revoked);
    assert_eq!(
        refresh(t, &current, CLIENT_ID).await.body["error"],
        "invalid_grant"
    );
}

pub async fn rule_6_revocation_answers_per_rfc_7009(t: &TestApp) {
    let data = tokens(t).await;
    let creds = format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    let unknown = revoke(t, &format!("token=not-a-token-we-issued&{creds}")).await;
    assert_eq!(unknown.status, 200, "unknown tokens are answered 200");
    let access = revoke(
        t,
        &format!("token={}&{creds}", data["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (access.status, access.body["error"].as_str()),
        (400, Some("unsupported_token_type"))
    );
    let anonymous = revoke(
        t,
        &format!("token={}", data["refresh_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (anonymous.status, anonymous.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let missing = revoke(t, &creds).await;
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // None of that touched the family.
    assert_eq!(
        refresh(t, data["refresh_token"].as_str().unwrap(), CLIENT_ID)
            .await
            .status,
        200
    );
}

pub async fn rule_6_refresh_tokens_die_after_seven_idle_days(t: &TestApp) {
    let data = tokens(t).await;
    t.clock.set(START_MS + 7 * 86_400_000 - 1);
    let refreshed = refresh(t, data["refresh_token"].as_str().unwrap(), CLIENT_ID).await;
    assert_eq!(refreshed.status, 200);
    t.clock.set(START_MS + 14 * 86_400_000 - 1);
    let late = refresh(
        t,
        refreshed.body["refresh_token"].as_str().unwrap(),
        CLIENT_ID,
    )
    .await;
    assert_eq!(late.body["error"], "invalid_grant");
}

pub async fn discovery_names_the_keys_and_endpoints(t: &TestApp) {
    let answer = call(
        &t.app,
        Function::IssueToken,
        api_request("openid-configuration", None, None),
    )
    .await;
    assert_eq!(answer.status, 200);
    let doc = &answer.body;
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/v1/oauth/token"));
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{ISSUER}/v1/oauth/revoke")
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    // DESIGN §14: the hosted page's code flow.
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{ISSUER}/oauth2/authorize")
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

pub async fn rule_5_9_native_answers_unknown_numbers_as_known_and_sends_nothing(t: &TestApp) {
    t.register(
        REGISTERED_CLIENT_ID,
        "0811111111",
        "1234567890121",
        "acc-known",
        "somchai",
    )
    .await;
    let ask = |mobile_no: &str, id_card: Option<&str>| {
        let mut body = json!({"client_id": REGISTERED_CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
        if let Some(card) = id_card {
            body["id_card_num"] = json!(card);
        }
        body
    };
    let known = t
        .call(
            Function::RequestOtp,
            "request-otp",
            &ask("0811111111", None),
        )
        .await;
    assert_eq!(t.outbox.entries().len(), 1);
    let unknown = t
        .call(
            Function::RequestOtp,
            "request-otp",
            &ask("0822222222", None),
        )
        .await;
    let wrong_card = t
        .call(
            Function::RequestOtp,
            "request-otp",
            &ask("0833333333", Some("1101700230708")),
        )
        .await;
    assert_eq!(
        t.outbox.entries().len(),
        1,
        "nothing is sent to unregistered numbers"
    );
    let shape = |a: &Answer| {
        let mut keys: Vec<String> = a.body["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        (
            a.status,
            keys,
            a.body["data"]["token"].as_str().unwrap().len(),
        )
    };
    assert_eq!(shape(&known), shape(&unknown));
    assert_eq!(shape(&known), shape(&wrong_card));

    // Confirms cannot tell them apart either: a wrong code is just wrong.
    for answer in [&known, &unknown] {
        let token = answer.body["data"]["token"].as_str().unwrap();
        let wrong = t
            .confirm_by_token(REGISTERED_CLIENT_ID, token, "000000")
            .await;
        assert_eq!((wrong.status, wrong.error()), (400, "otp_invalid"));
    }
    // And the cooldown holds for both.
    let again = t
        .call(
            Function::RequestOtp,
            "request-otp",
            &ask("0822222222", None),
        )
        .await;
    assert_eq!(again.status, 429);

    // The registered user logs in under the directory's account and name.
    let token = known.body["data"]["token"].as_str().unwrap();
    let confirmed = t
        .confirm_by_token(REGISTERED_CLIENT_ID, token, &t.last_sms().code)
        .await;
    assert_eq!(confirmed.body["data"]["account_id"], "acc-known");
    assert_eq!(confirmed.body["data"]["username"], "somchai");
}

pub async fn rule_5_4_native_refuses_malformed_id_cards(t: &TestApp) {
    let body = json!({
        "client_id": REGISTERED_CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": PHONE, "id_card_num": "1234567890122",
    });
    let answer = t.call(Function::RequestOtp, "request-otp", &body).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_id_card_num")
    );
    assert!(t.outbox.entries().is_empty());
}

pub async fn rule_5_8_five_codes_per_phone_per_hour_then_429(t: &TestApp) {
    for n in 0..5 {
        t.clock.set(START_MS + n * 60_000);
        assert_eq!(t.request_otp(PHONE).await.status, 200, "send {n}");
    }
    t.clock.set(START_MS + 300_000);
    let sixth = t.request_otp(PHONE).await;
    assert_eq!((sixth.status, sixth.error()), (429, "rate_limited"));
    // 04:35 now; the hour's window ends at 05:00.
    assert_eq!(sixth.header("retry-after"), Some("1500"));
    assert_eq!(t.outbox.entries().len(), 5);
    t.clock.set(START_MS + 1_800_000);
    assert_eq!(t.request_otp(PHONE).await.status, 200, "a new hour");
}

pub async fn rule_5_8_ten_codes_per_phone_per_day_then_429(t: &TestApp) {
    for n in 0..10 {
        // Five in the 04:00 hour, five in the 05:00 hour.
        let hour = if n < 5 { 0 } else { 1_800_000 };
        t.clock.set(START_MS + hour + (n % 5) * 60_000);
        assert_eq!(t.request_otp(PHONE).await.status, 200, "send {n}");
    }
    t.clock.set(START_MS + 3_600_000 + 1_800_000);
    let eleventh = t.request_otp(PHONE).await;
    assert_eq!((eleventh.status, eleventh.error()), (429, "rate_limited"));
    // 06:00 now; the day ends at midnight UTC.
    assert_eq!(eleventh.header("retry-after"), Some("64800"));
}

pub async fn rule_5_8_twenty_wrong_codes_a_day_per_phone_survive_resends(t: &TestApp) {
    for round in 0..4 {
        t.clock.set(START_MS + round * 60_000);
        let (token, _, code) = t.code_for(PHONE).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            assert_eq!(
                t.confirm_by_token(CLIENT_ID, &token, wrong).await.status,
                400
            );
        }
    }
    // The fifth code of the hour, after twenty wrong ones: even the right
    // code is refused until the day is over.
    t.clock.set(START_MS + 4 * 60_000);
    let (token, _, code) = t.code_for(PHONE).await;
    let refused = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!((refused.status, refused.error()), (429, "rate_limited"));
    assert!(refused.header("retry-after").is_some());
}

/// A client with the given limits, registered on the fly.
pub async fn client_with(t: &TestApp, id: &str, settings: ClientSettings) {
    t.store
        .put_client(&ClientRecord::new(id, CLIENT_SECRET, settings))
        .await
        .unwrap();
}

pub async fn request_as(t: &TestApp, client_id: &str, mobile_no: &str) -> Answer {
    let body =
        json!({"client_id": client_id, "client_secret": CLIENT_SECRET, "mobile_no": mobile_no});
    t.call(Function::RequestOtp, "request-otp", &body).await
}

pub async fn sms_pumping_velocity_cap_per_number_range(t: &TestApp) {
    let settings = ClientSettings {
        sends_per_prefix_per_hour: 3,
        ..test_settings()
    };
    client_with(t, "range-app", settings).await;
    // +66812340000 … +66812349999 share a range.
    for mobile_no in ["0812340001", "0812340002", "0812349999"] {
        assert_eq!(request_as(t, "range-app", mobile_no).await.status, 200);
    }
    let fourth = request_as(t, "range-app", "0812345555").await;
    assert_eq!((fourth.status, fourth.error()), (429, "rate_limited"));
    assert_eq!(
        request_as(t, "range-app", "0812350001").await.status,
        200,
        "another range"
    );
    assert_eq!(t.outbox.entries().len(), 4);
    assert_eq!(
        t.metrics
            .count("RefusedPumpingCap", "range-app", Some("66")),
        1
    );
    assert_eq!(
        t.metrics.count("RefusedRateLimit", "range-app", Some("66")),
        0
    );
}

pub async fn sms_pumping_hourly_ceiling_opens_the_circuit_and_sends_nothing(t: &TestApp) {
    let settings = ClientSettings {
        sms_ceiling_per_hour: 2,
        ..test_settings()
    };
    client_with(t, "ceiling-app", settings).await;
    let first = request_as(t, "ceiling-app", "0811110001").await;
    assert_eq!(request_as(t, "ceiling-app", "0822220002").await.status, 200);
    let over = request_as(t, "ceiling-app", "0833330003").await;
    // Answered as usual, but the circuit is open: nothing reaches SMS.
    assert_eq!(over.status, 200);
    let keys = |a: &Answer| {
        a.body["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&over), keys(&first));
    assert_eq!(t.outbox.entries().len(), 2);
    // No challenge stands behind it: its token names none.
    let token = over.body["data"]["token"].as_str().unwrap();
    let confirm = json!({"client_id": "ceiling-app", "client_secret": CLIENT_SECRET, "token": token, "otp": "000000"});
    assert_eq!(
        t.call(Function::ConfirmOtp, "confirm-otp", &confirm)
            .await
            .error(),
        "otp_expired"
    );
    // The next hour closes the circuit.
    t.clock.set(START_MS + 1_800_000);
    assert_eq!(request_as(t, "ceiling-app", "0844440004").await.status, 200);
    assert_eq!(t.outbox.entries().len(), 3);
    let counted = |metric| t.metrics.count(metric, "ceiling-app", Some("66"));
    assert_eq!(
        (
            counted("CodesRequested"),
            counted("CodesSent"),
            counted("RefusedCeiling")
        ),
        (4, 3, 1)
    );
}

pub fn with_test_number() -> ClientSettings {
    ClientSettings {
        test_numbers: [("+66899990000".to_string(), "123456".to_string())].into(),
        ..test_settings()
    }
}

pub async fn rule_5_11_test_numbers_have_a_fixed_code_and_never_reach_sms(t: &TestApp) {
    client_with(t, "qa-app", with_test_number()).await;
    let sent = request_as(t, "qa-app", "089-999-0000").await;
    assert_eq!(sent.status, 200);
    assert_eq!(
        sent.body["data"]["code"], "123456",
        "non-production stages may answer it"
    );
    assert!(t.outbox.entries().is_empty(), "never texted");
    let token = sent.body["data"]["token"].as_str().unwrap();
    let confirm = json!({"client_id": "qa-app", "client_secret": CLIENT_SECRET, "token": token, "otp": "123456"});
    assert_eq!(
        t.call(Function::ConfirmOtp, "confirm-otp", &confirm)
            .await
            .status,
        200
    );
    // Other numbers of the same client are real ones.
    let real = request_as(t, "qa-app", PHONE).await;
    assert!(real.body["data"].get("code").is_none());
    assert_eq!(t.outbox.entries().len(), 1);
}

/// In the `prod` stage a client carrying test numbers is refused outright.
pub async fn rule_5_11_test_numbers_are_refused_in_production(t: &TestApp) {
    client_with(t, "qa-app", with_test_number()).await;
    let refused = request_as(t, "qa-app", "0899990000").await;
    assert_eq!((refused.status, refused.error()), (500, "internal_error"));
    assert!(!refused.body.to_string().contains("123456"));
    assert!(t.outbox.entries().is_empty());
    // Clients without test numbers work as usual.
    assert_eq!(t.request_otp(PHONE).await.status, 200);
}

/// DESIGN §5, §7: a client record is validated when read, not only when
/// otp-admin writes it; one out of the design's bounds (written to the table
/// by other means) fails closed, with an alert for the operators.
pub async fn stored_client_settings_out_of_bounds_fail_closed_with_an_alert(t: &TestApp) {
    let logs = crate::logs::capture();
    let lax = ClientSettings {
        max_attempts: 50,
        sends_per_phone_per_hour: 500,
        ..test_settings()
    };
    assert!(lax.validate().is_err());
    client_with(t, "lax-app", lax).await;
    let refused = request_as(t, "lax-app", PHONE).await;
    assert_eq!((refused.status, refused.error()), (500, "internal_error"));
    assert!(t.outbox.entries().is_empty());
    let confirm = json!({"client_id": "lax-app", "client_secret": CLIENT_SECRET, "token": "t", "otp": "123456"});
    let refused = t.call(Function::ConfirmOtp, "confirm-otp", &confirm).await;
    assert_eq!(refused.status, 500, "{refused:?}");
    let alerts: Vec<Value> = logs
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["alert"] == "client_settings_invalid")
        .collect();
    assert_eq!(alerts.len(), 2, "one alert per refused request");
    assert_eq!(alerts[0]["fields"]["client_id"], "lax-app");
    assert_eq!(alerts[0]["fields"]["reason"], "max_attempts must be 1 to 5");
}

pub async fn clients_without_an_allow_list_use_the_deployment_default(t: &TestApp) {
    // The test clients have no list of their own: the default is 66 and 84.
    assert_eq!(t.request_otp("+84912345678").await.status, 200);
    assert_eq!(
        t.request_otp("+33612345678").await.error(),
        "mobile_no_not_allowed"
    );
    let own = ClientSettings {
        allowed_calling_codes: vec!["33".into()],
        default_calling_code: None,
        ..test_settings()
    };
    client_with(t, "france-app", own).await;
    assert_eq!(
        request_as(t, "france-app", "+33612345678").await.status,
        200
    );
    assert_eq!(
        request_as(t, "france-app", "+66812345678").await.error(),
        "mobile_no_not_allowed"
    );
}

/// DESIGN §11: what a scripted flow counts, by client and calling code, in
/// CloudWatch Embedded Metric Format; no line carries a number or a code
/// (the log checker, which sees every line, proves the rest).
pub async fn metrics_count_a_scripted_flow_by_client_and_calling_code(t: &TestApp) {
    let settings = ClientSettings {
        allowed_calling_codes: vec!["66".into(), "84".into()],
        sends_per_phone_per_hour: 2,
        ..test_settings()
    };
    client_with(t, "metered-app", settings).await;
    let confirm = |token: &str, otp: &str| {
        let body = json!({"client_id": "metered-app", "client_secret": CLIENT_SECRET, "token": token, "otp": otp});
        async move { t.call(Function::ConfirmOtp, "confirm-otp", &body).await }
    };
    // A Thai number: sent, one wrong code, then the right one.
    let sent = request_as(t, "metered-app", "0812345678").await;
    assert_eq!(sent.status, 200);
    let token = sent.body["data"]["token"].as_str().unwrap().to_string();
    let code = t.last_sms().code;
    assert_eq!(confirm(&token, "000000").await.error(), "otp_invalid");
    let tokens = confirm(&token, &code).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    // A used challenge counts as expired.
    assert_eq!(confirm(&token, &code).await.error(), "otp_expired");
    // Again within the cooldown; then, an hour later, past the phone's cap.
    assert_eq!(request_as(t, "metered-app", "0812345678").await.status, 429);
    t.clock.set(START_MS + 61_000);
    assert_eq!(request_as(t, "metered-app", "0812345678").await.status, 200);
    t.clock.set(START_MS + 122_000);
    assert_eq!(request_as(t, "metered-app", "0812345678").await.status, 429);
    // A Vietnamese number, whose challenge runs out of attempts.
    let vn = request_as(t, "metered-app", "+84901888484").await;
    let vn_token = vn.body["data"]["token"].as_str().unwrap().to_string();
    for _ in 0..5 {
        confirm(&vn_token, "000000").await;
    }
    assert_eq!(
        confirm(&vn_token, "000000").await.error(),
        "otp_attempts_exceeded"
    );
    // A number outside the allow-list: counted under `other`.
    assert_eq!(
        request_as(t, "metered-app", "+14155550100").await.status,
        400
    );
    // A refresh: counted per client only.
    let refresh = tokens.body["data"]["refresh_token"].as_str().unwrap();
    let body = format!(
        "grant_type=refresh_token&refresh_token={refresh}&client_id=metered-app&client_secret={CLIENT_SECRET}"
    );
    let refreshed = call(
        &t.app,
        Function::IssueToken,
        api_request(
            "token-refresh",
            Some(&body),
            Some("application/x-www-form-urlencoded"),
        ),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");

    let m = &t.metrics;
    let (th, vn, other) = (Some("66"), Some("84"), Some("other"));
    let app = "metered-app";
    for (metric, calling_code, expected) in [
        ("CodesRequested", th, 4),
        ("CodesSent", th, 2),
        ("RefusedCooldown", th, 1),
        ("RefusedRateLimit", th, 1),
        ("ConfirmsWrongCode", th, 1),
        ("ConfirmsSucceeded", th, 1),
        // A refused token names no number: counted per client.
        ("ConfirmsExpired", None, 1),
        ("CodesRequested", vn, 1),
        ("CodesSent", vn, 1),
        ("ConfirmsWrongCode", vn, 5),
        ("ConfirmsExhausted", None, 1),
        ("CodesRequested", other, 1),
        ("RefusedAllowList", other, 1),
        ("CodesSent", other, 0),
        ("TokensRefreshed", None, 1),
    ] {
        assert_eq!(
            m.count(metric, app, calling_code),
            expected,
            "{metric} {calling_code:?}"
        );
    }
    for line in m.lines() {
        let line: Value = serde_json::from_str(&line).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], otp_shared::metrics::NAMESPACE);
        assert!(line["_aws"]["Timestamp"].as_i64().unwrap() >= START_MS);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            if name == otp_shared::metrics::PUMPING_SCORE {
                // +1 a send, -5 a confirm at the default 20 % target.
                assert_eq!(metric["Unit"], "None");
                let score = line[name].as_f64().unwrap();
                assert!(score == 1.0 || score == -5.0, "{line}");
            } else {
                assert_eq!(metric["Unit"], "Count");
                assert_eq!(line[name], 1);
            }
        }
        // Every dimension named is a field of the line.
        for set in directive["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                assert!(line[name.as_str().unwrap()].is_string(), "{line}");
            }
        }
        let text = line.to_string();
        for spelled in ["812345678", "901888484", "4155550100", &code] {
            assert!(!text.contains(spelled), "{text}");
        }
    }
}
