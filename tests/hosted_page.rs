//! DESIGN §14 through the real handlers, on both stores: a public client's
//! user logs in on the hosted page (authorization request, proof of work,
//! number, code) and the app exchanges the authorization code with its PKCE
//! verifier; then the refusals RFC 9700 asks of an authorization server,
//! each a test named after the attack it stops.

use base64::Engine;
use otp_integration_tests::page::{encode, field, form, pow_challenge, solved};
use otp_integration_tests::{TestApp, TextAnswer, api_at, call, call_text, form_at, test_settings};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::pow::RANGE_SENDS_PER_MINUTE_AT_BASE_COST;
use otp_shared::http::Function;
use serde_json::{Value, json};

const SPA: &str = "spa";
const CALLBACK: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PHONE: &str = "0812345678";

async fn both_stores() -> [TestApp; 2] {
    [TestApp::memory().await, TestApp::dynamodb().await]
}

/// A public client's settings: a single-page app's, through the hosted
/// page, sent back to `redirect_uris`.
fn spa_settings(redirect_uris: &[&str]) -> ClientSettings {
    ClientSettings {
        public: true,
        hosted_page: true,
        redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
        ..test_settings()
    }
}

/// The public client `id` of a single-page app, through the hosted page.
async fn public_client(t: &TestApp, id: &str) {
    let settings = spa_settings(&[CALLBACK, "http://127.0.0.1/cb"]);
    assert_eq!(settings.validate(), Ok(()));
    let client = ClientRecord::new(id, "nobody-knows-this", settings);
    t.store.put_client(&client).await.unwrap();
}

/// The authorization request's query: the app's, with `changes` (a value
/// of `None` leaves the parameter out).
fn query(changes: &[(&str, Option<&str>)]) -> String {
    let mut params = vec![
        ("response_type", Some("code")),
        ("client_id", Some(SPA)),
        ("redirect_uri", Some(CALLBACK)),
        ("state", Some("af0ifjsldkj")),
        ("code_challenge", Some(CHALLENGE)),
        ("code_challenge_method", Some("S256")),
    ];
    for (name, value) in changes {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = *value,
            None => params.push((name, *value)),
        }
    }
    params
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

async fn authorize(t: &TestApp, query: &str) -> TextAnswer {
    let request = api_at("oauth2-authorize", "/oauth2/authorize", Some(query), None);
    call_text(&t.app, Function::RequestOtp, request).await
}

async fn post(t: &TestApp, function: Function, path: &str, body: &str) -> TextAnswer {
    let name = if function == Function::ConfirmOtp {
        "oauth2-authorize-confirm"
    } else {
        "oauth2-authorize-code"
    };
    call_text(&t.app, function, form_at(name, path, body)).await
}

/// The code page for `phone`, after the authorization page `page_html`.
async fn send_code(t: &TestApp, page_html: &str, phone: &str) -> TextAnswer {
    let body = form(&[
        ("page", &field(page_html, "page")),
        ("altcha", &solved(page_html)),
        ("mobile_no", phone),
    ]);
    post(t, Function::RequestOtp, "/oauth2/authorize/code", &body).await
}

async fn confirm(t: &TestApp, code_html: &str, otp: &str) -> TextAnswer {
    let body = form(&[
        ("page", &field(code_html, "page")),
        ("token", &field(code_html, "token")),
        ("mobile_no", &field(code_html, "mobile_no")),
        ("otp", otp),
    ]);
    post(t, Function::ConfirmOtp, "/oauth2/authorize/confirm", &body).await
}

fn last_code(t: &TestApp) -> String {
    t.outbox
        .entries()
        .last()
        .expect("a code was sent")
        .code
        .clone()
}

/// The query of a redirect's `Location`, and the URI before it.
fn redirected(answer: &TextAnswer) -> (String, Vec<(String, String)>) {
    assert_eq!(answer.status, 303, "{answer:?}");
    let location = answer.header("location").expect("a Location");
    let (uri, query) = location.split_once('?').unwrap();
    let pairs = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let v = percent_decode(v);
            (k.to_string(), v)
        })
        .collect();
    (uri.to_string(), pairs)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A login on the page up to the redirect with its authorization code.
async fn code_for(t: &TestApp, phone: &str) -> String {
    let page = authorize(t, &query(&[])).await;
    assert_eq!(page.status, 200, "{page:?}");
    let code_page = send_code(t, &page.body, phone).await;
    assert_eq!(code_page.status, 200, "{code_page:?}");
    let (_, pairs) = redirected(&confirm(t, &code_page.body, &last_code(t)).await);
    param(&pairs, "code").expect("a code").to_string()
}

async fn token(t: &TestApp, fields: &[(&str, &str)]) -> otp_integration_tests::Answer {
    let body = form(fields);
    let mut request = form_at("oauth2-authorize-code", "/v1/oauth/token", &body);
    *request.uri_mut() = "/v1/oauth/token".parse().unwrap();
    call(&t.app, Function::IssueToken, request).await
}

/// A public client's refresh: by its id alone.
async fn refresh_by_id(t: &TestApp, refresh_token: &str) -> otp_integration_tests::Answer {
    token(
        t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", SPA),
        ],
    )
    .await
}

async fn exchange(t: &TestApp, code: &str, verifier: &str) -> otp_integration_tests::Answer {
    token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", SPA),
        ],
    )
    .await
}

#[tokio::test]
async fn rule_14_a_public_app_logs_its_user_in_through_the_hosted_page_with_pkce() {
    for t in both_stores().await {
        public_client(&t, SPA).await;
        let page = authorize(&t, &query(&[])).await;
        assert_eq!(page.status, 200, "{page:?}");
        assert!(
            page.body.contains("lang=\"th\""),
            "the browser asked for Thai"
        );
        assert!(page.body.len() < 30_000);
        let code_page = send_code(&t, &page.body, PHONE).await;
        assert_eq!(code_page.status, 200, "{code_page:?}");
        assert!(code_page.body.contains("autocomplete=\"one-time-code\""));
        assert!(code_page.body.contains("inputmode=\"numeric\""));
        let (uri, pairs) = redirected(&confirm(&t, &code_page.body, &last_code(&t)).await);
        assert_eq!(uri, CALLBACK);
        assert_eq!(
            param(&pairs, "state"),
            Some("af0ifjsldkj"),
            "state unchanged"
        );
        let iss = param(&pairs, "iss").expect("iss (RFC 9207)");
        let code = param(&pairs, "code").unwrap();
        let tokens = exchange(&t, code, VERIFIER).await;
        assert_eq!(tokens.status, 200, "{tokens:?}");
        let refresh = tokens.body["refresh_token"].as_str().unwrap();
        let access = tokens.body["access_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(access.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims["iss"], iss,
            "the token's issuer is the one the redirect named"
        );
        assert_eq!(claims["aud"], SPA);
        // A public client refreshes and revokes by its id alone.
        let refreshed = refresh_by_id(&t, refresh).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");
    }
}

#[tokio::test]
async fn rule_14_a_code_replayed_fails_and_revokes_what_its_first_use_issued() {
    for t in both_stores().await {
        public_client(&t, SPA).await;
        let code = code_for(&t, PHONE).await;
        let first = exchange(&t, &code, VERIFIER).await;
        assert_eq!(first.status, 200, "{first:?}");
        let again = exchange(&t, &code, VERIFIER).await;
        assert_eq!(
            (again.status, again.body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let refresh = first.body["refresh_token"].as_str().unwrap();
        let refreshed = refresh_by_id(&t, refresh).await;
        assert_eq!(
            (refreshed.status, refreshed.body["error"].as_str()),
            (400, Some("invalid_grant")),
            "the first use's tokens are revoked"
        );
    }
}

#[tokio::test]
async fn rule_14_a_stolen_code_without_its_verifier_gets_no_tokens() {
    for t in both_stores().await {
        public_client(&t, SPA).await;
        let code = code_for(&t, PHONE).await;
        let other = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let refused = exchange(&t, &code, other).await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let missing = token(
            &t,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("client_id", SPA),
            ],
        )
        .await;
        assert_eq!(missing.status, 400, "no verifier: {missing:?}");
        assert_eq!(
            exchange(&t, &code, VERIFIER).await.status,
            200,
            "the app's own still works"
        );
    }
}

// RFC 9700's refusals, one test per case.

/// A code exchanged with `changes` to the app's own exchange (an empty
/// value leaves the field out) is refused with `error`.
async fn exchange_refused(t: &TestApp, code: &str, changes: &[(&str, &str)], error: &str) {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
        ("client_id", SPA),
    ];
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields.retain(|(_, value)| !value.is_empty());
    let answer = token(t, &fields).await;
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (400, Some(error)),
        "{changes:?}: {answer:?}"
    );
}

#[tokio::test]
async fn rfc_9700_a_code_sent_with_another_redirect_uri_is_refused() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let code = code_for(&t, PHONE).await;
    exchange_refused(
        &t,
        &code,
        &[("redirect_uri", "http://127.0.0.1/cb")],
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn rfc_9700_a_code_of_another_client_is_refused() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    public_client(&t, "other-spa").await;
    let code = code_for(&t, PHONE).await;
    exchange_refused(&t, &code, &[("client_id", "other-spa")], "invalid_grant").await;
}

#[tokio::test]
async fn rfc_9700_a_code_older_than_a_minute_is_refused() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let code = code_for(&t, PHONE).await;
    t.clock.advance_secs(61);
    exchange_refused(&t, &code, &[], "invalid_grant").await;
}

#[tokio::test]
async fn rfc_9700_a_code_exchanged_without_its_verifier_is_refused() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let code = code_for(&t, PHONE).await;
    exchange_refused(&t, &code, &[("code_verifier", "")], "invalid_request").await;
}

/// RFC 9700 §4.1: a redirect URI is matched exactly; anything else is told
/// on the page, never redirected to (an open redirector), even when every
/// other parameter is wrong too.
async fn redirect_uri_refused_on_the_page(uri: &str) {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let answer = authorize(
        &t,
        &query(&[
            ("redirect_uri", Some(uri)),
            ("response_type", Some("token")),
        ]),
    )
    .await;
    assert_eq!(answer.status, 403, "{uri}: {answer:?}");
    assert_eq!(answer.header("location"), None, "{uri}: an open redirect");
    assert!(
        !answer.body.contains("evil"),
        "{uri}: the page links nowhere"
    );
}

#[tokio::test]
async fn rfc_9700_a_redirect_uri_with_a_trailing_slash_is_refused() {
    redirect_uri_refused_on_the_page("https://app.example.com/callback/").await;
}

#[tokio::test]
async fn rfc_9700_a_redirect_uri_in_another_case_is_refused() {
    redirect_uri_refused_on_the_page("https://APP.example.com/callback").await;
}

#[tokio::test]
async fn rfc_9700_a_redirect_uri_with_a_query_is_refused() {
    redirect_uri_refused_on_the_page("https://app.example.com/callback?x=1").await;
}

#[tokio::test]
async fn rfc_9700_a_redirect_uri_with_another_path_is_refused() {
    redirect_uri_refused_on_the_page("https://app.example.com/callbacks").await;
}

#[tokio::test]
async fn rfc_9700_a_redirect_uri_with_userinfo_is_refused() {
    redirect_uri_refused_on_the_page("https://evil@app.example.com/callback").await;
}

#[tokio::test]
async fn rfc_9700_an_open_redirect_through_the_error_path_is_refused() {
    redirect_uri_refused_on_the_page("https://evil.example/callback").await;
}

#[tokio::test]
async fn rfc_8252_a_native_apps_loopback_redirect_may_use_any_port() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let loopback = authorize(
        &t,
        &query(&[("redirect_uri", Some("http://127.0.0.1:51234/cb"))]),
    )
    .await;
    assert_eq!(loopback.status, 200, "{loopback:?}");
}

/// An authorization request with `changes` is told to the app (RFC 6749
/// §4.1.2.1) with `error`, its `state` unchanged and `iss`, and texts
/// nothing.
async fn told_to_the_app(changes: &[(&str, Option<&str>)], error: &str) {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let answer = authorize(&t, &query(changes)).await;
    let (uri, pairs) = redirected(&answer);
    assert_eq!(uri, CALLBACK, "{changes:?}");
    assert_eq!(param(&pairs, "error"), Some(error), "{changes:?}");
    assert_eq!(
        param(&pairs, "state"),
        Some("af0ifjsldkj"),
        "state unchanged"
    );
    assert!(param(&pairs, "iss").is_some(), "iss (RFC 9207)");
    assert!(t.outbox.entries().is_empty());
}

#[tokio::test]
async fn rfc_9700_a_request_without_pkce_is_refused() {
    told_to_the_app(&[("code_challenge", None)], "invalid_request").await;
}

#[tokio::test]
async fn rfc_9700_the_plain_challenge_method_is_refused() {
    told_to_the_app(
        &[("code_challenge_method", Some("plain"))],
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn rfc_9700_a_challenge_without_its_method_is_refused() {
    told_to_the_app(&[("code_challenge_method", None)], "invalid_request").await;
}

#[tokio::test]
async fn rfc_9700_a_challenge_not_of_s256s_shape_is_refused() {
    told_to_the_app(&[("code_challenge", Some("abc"))], "invalid_request").await;
}

#[tokio::test]
async fn rfc_9700_the_implicit_grant_response_type_token_is_refused() {
    told_to_the_app(
        &[("response_type", Some("token"))],
        "unsupported_response_type",
    )
    .await;
}

#[tokio::test]
async fn rfc_9700_the_password_grant_is_refused() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let password = token(
        &t,
        &[
            ("grant_type", "password"),
            ("username", "u"),
            ("password", "p"),
            ("client_id", SPA),
        ],
    )
    .await;
    assert_eq!(password.body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn rule_14_the_page_cannot_be_framed_leaks_no_referrer_and_runs_only_its_own_script() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let page = authorize(&t, &query(&[])).await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");
}

/// WebOTP fills a code in only on the origin its SMS line names: the page's,
/// whatever domain the client set for its own pages.
#[tokio::test]
async fn rule_14_the_pages_sms_names_the_pages_host_for_webotp() {
    let t = TestApp::memory().await;
    let settings = ClientSettings {
        webotp_domain: Some("app.example.com".into()),
        ..spa_settings(&[CALLBACK])
    };
    t.store
        .put_client(&ClientRecord::new(SPA, "nobody-knows-this", settings))
        .await
        .unwrap();
    let discovery = call(
        &t.app,
        Function::IssueToken,
        api_at(
            "openid-configuration",
            "/.well-known/openid-configuration",
            None,
            None,
        ),
    )
    .await;
    let issuer = discovery.body["issuer"].as_str().unwrap();
    let host = issuer.strip_prefix("https://").unwrap();
    let page = authorize(&t, &query(&[("ui_locales", Some("en"))])).await;
    assert_eq!(send_code(&t, &page.body, PHONE).await.status, 200);
    let sent = t.outbox.entries().last().unwrap().clone();
    assert_eq!(
        sent.message.lines().last(),
        Some(format!("@{host} #{}", sent.code).as_str()),
        "{}",
        sent.message
    );
}

/// RFC 9700 §2.6: a single-page app reads the token endpoint's answers
/// (and discovery's, the keys', the revocation's) from its own origin; the
/// authorization endpoint and the page's forms answer no origin, so no
/// other site's script reads a page meant for the user's eyes.
#[tokio::test]
async fn rule_14_cors_a_browser_app_reads_the_token_endpoint_but_no_site_reads_the_page() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let code = code_for(&t, PHONE).await;
    let tokens = exchange(&t, &code, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.header("access-control-allow-origin"), Some("*"));
    assert_eq!(tokens.header("access-control-allow-credentials"), None);
    let refused = exchange(&t, &code, VERIFIER).await;
    assert_eq!(
        (
            refused.status,
            refused.header("access-control-allow-origin")
        ),
        (400, Some("*")),
        "the app reads why it was refused"
    );
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    let body = form(&[("token", refresh), ("client_id", SPA)]);
    let revoked = call(
        &t.app,
        Function::IssueToken,
        form_at("revoke", "/v1/oauth/revoke", &body),
    )
    .await;
    assert_eq!(
        (
            revoked.status,
            revoked.header("access-control-allow-origin")
        ),
        (200, Some("*"))
    );
    for (name, path) in [
        ("jwks", "/.well-known/jwks.json"),
        ("openid-configuration", "/.well-known/openid-configuration"),
    ] {
        let answer = call(&t.app, Function::IssueToken, api_at(name, path, None, None)).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
    let page = authorize(&t, &query(&[])).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("access-control-allow-origin"), None);
    let code_page = send_code(&t, &page.body, "0812345679").await;
    assert_eq!(code_page.status, 200);
    assert_eq!(code_page.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn rule_14_a_public_client_has_no_secret_to_use_on_the_backend_routes() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    for (secret, status) in [("", 400), ("nobody-knows-this", 401)] {
        let answer = t
            .call(
                Function::RequestOtp,
                "request-otp",
                &json!({"client_id": SPA, "client_secret": secret, "mobile_no": PHONE}),
            )
            .await;
        assert_eq!(answer.status, status, "{answer:?}");
    }
    assert!(t.outbox.entries().is_empty());
}

#[tokio::test]
async fn rule_14_no_code_is_texted_without_a_fresh_proof_of_work() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let page = authorize(&t, &query(&[])).await;
    let sealed = field(&page.body, "page");
    let without = form(&[("page", &sealed), ("altcha", ""), ("mobile_no", PHONE)]);
    let refused = post(&t, Function::RequestOtp, "/oauth2/authorize/code", &without).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let proof = solved(&page.body);
    let with = form(&[("page", &sealed), ("altcha", &proof), ("mobile_no", PHONE)]);
    let sent = post(&t, Function::RequestOtp, "/oauth2/authorize/code", &with).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let again = form(&[
        ("page", &sealed),
        ("altcha", &proof),
        ("mobile_no", "0812345679"),
    ]);
    let replayed = post(&t, Function::RequestOtp, "/oauth2/authorize/code", &again).await;
    assert_eq!(replayed.status, 400, "a spent proof: {replayed:?}");
    assert_eq!(t.outbox.entries().len(), 1);
}

#[tokio::test]
async fn rule_14_a_forged_page_request_texts_nothing_and_mints_nothing() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let page = authorize(&t, &query(&[])).await;
    let sealed = field(&page.body, "page");
    let (body, tag) = sealed.split_once('.').unwrap();
    let mut request: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap();
    request["redirect_uri"] = json!("https://evil.example/cb");
    let forged = format!(
        "{}.{tag}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(request.to_string())
    );
    let fields = form(&[
        ("page", &forged),
        ("altcha", &solved(&page.body)),
        ("mobile_no", PHONE),
    ]);
    let refused = post(&t, Function::RequestOtp, "/oauth2/authorize/code", &fields).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(t.outbox.entries().is_empty());
}

/// The page's users are browsers: the per-IP limit counts the address API
/// Gateway saw, whatever an `X-End-User-IP` header claims.
#[tokio::test]
async fn rule_14_the_pages_callers_cannot_choose_the_address_they_are_counted_by() {
    let t = TestApp::memory().await;
    let settings = ClientSettings {
        sends_per_ip_per_minute: 2,
        ..spa_settings(&[CALLBACK])
    };
    t.store
        .put_client(&ClientRecord::new(SPA, "x", settings))
        .await
        .unwrap();
    let mut statuses = vec![];
    for i in 0..3 {
        let page = authorize(&t, &query(&[])).await;
        let body = form(&[
            ("page", &field(&page.body, "page")),
            ("altcha", &solved(&page.body)),
            ("mobile_no", &format!("08123456{i:02}")),
        ]);
        let mut request = form_at("oauth2-authorize-code", "/oauth2/authorize/code", &body);
        request
            .headers_mut()
            .insert("x-end-user-ip", format!("198.51.100.{i}").parse().unwrap());
        statuses.push(
            call_text(&t.app, Function::RequestOtp, request)
                .await
                .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}

/// A used code leaked (a log, a history) is worth nothing without its
/// verifier: not even to end the session its first use began.
#[tokio::test]
async fn rule_14_a_leaked_used_code_without_its_verifier_cannot_log_the_user_out() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let code = code_for(&t, PHONE).await;
    let first = exchange(&t, &code, VERIFIER).await;
    assert_eq!(first.status, 200, "{first:?}");
    let other = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        exchange(&t, &code, other).await.body["error"],
        "invalid_grant"
    );
    let refresh = first.body["refresh_token"].as_str().unwrap();
    let refreshed = refresh_by_id(&t, refresh).await;
    assert_eq!(refreshed.status, 200, "the session goes on: {refreshed:?}");
}

/// Another site cannot make its visitors' browsers post the page's forms
/// (each visitor's address would bring its own per-IP allowance).
#[tokio::test]
async fn rule_14_another_sites_page_cannot_post_the_pages_forms() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let page = authorize(&t, &query(&[])).await;
    let body = form(&[
        ("page", &field(&page.body, "page")),
        ("altcha", &solved(&page.body)),
        ("mobile_no", PHONE),
    ]);
    for site in ["cross-site", "same-site"] {
        let mut request = form_at("oauth2-authorize-code", "/oauth2/authorize/code", &body);
        request
            .headers_mut()
            .insert("sec-fetch-site", site.parse().unwrap());
        let answer = call_text(&t.app, Function::RequestOtp, request).await;
        assert_eq!(answer.status, 403, "{site}: {answer:?}");
    }
    assert!(t.outbox.entries().is_empty());
    let mut own = form_at("oauth2-authorize-code", "/oauth2/authorize/code", &body);
    own.headers_mut()
        .insert("sec-fetch-site", "same-origin".parse().unwrap());
    assert_eq!(
        call_text(&t.app, Function::RequestOtp, own).await.status,
        200
    );
}

/// A client disabled, or whose redirect URI is dropped, while its user is
/// on the page: the page refuses (403), texts nothing and mints nothing.
#[tokio::test]
async fn rule_14_a_client_disabled_or_narrowed_mid_login_gets_nothing_more() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let page = authorize(&t, &query(&[])).await;
    let code_page = send_code(&t, &page.body, PHONE).await;
    assert_eq!(code_page.status, 200);
    let narrowed = spa_settings(&["http://127.0.0.1/cb"]);
    t.store
        .put_client(&ClientRecord::new(SPA, "x", narrowed))
        .await
        .unwrap();
    t.clock.advance_secs(61); // past the client cache
    let refused = confirm(&t, &code_page.body, &last_code(&t)).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.header("location"), None);
    let second_page = authorize(&t, &query(&[("redirect_uri", Some("http://127.0.0.1/cb"))])).await;
    let mut disabled = ClientRecord::new(SPA, "x", spa_settings(&[CALLBACK]));
    disabled.disabled = true;
    t.store.put_client(&disabled).await.unwrap();
    t.clock.advance_secs(61);
    let again = send_code(&t, &second_page.body, "0812345679").await;
    assert_eq!(again.status, 403, "{again:?}");
    assert_eq!(t.outbox.entries().len(), 1, "only the first code was sent");
}

#[test]
fn rule_14_a_hosted_page_ends_in_tokens_and_loopback_is_ipv4_or_localhost() {
    let page = |f: fn(&mut ClientSettings)| {
        let mut s = ClientSettings {
            hosted_page: true,
            redirect_uris: vec![CALLBACK.into()],
            ..test_settings()
        };
        f(&mut s);
        s.validate()
    };
    assert_eq!(page(|_| {}), Ok(()));
    assert!(page(|s| s.issue_tokens = false).is_err());
    assert!(page(|s| s.redirect_uris = vec!["http://[::1]:8080/cb".into()]).is_err());
    assert!(page(|s| s.redirect_uris.clear()).is_err());
    assert!(
        page(|s| {
            s.hosted_page = false;
            s.public = true
        })
        .is_err()
    );
}

/// The maximum number hidden in a page's proof of work.
fn pow_cost(html: &str) -> u64 {
    pow_challenge(html)["maxnumber"].as_u64().unwrap()
}

/// Looking at the page costs nothing, so it must not make the page dearer
/// for the client's other users: the proof of work's cost rises with the
/// codes the page was asked to text (each paid for with a solved proof),
/// not with page views.
#[tokio::test]
async fn rule_14_page_views_alone_do_not_raise_the_proof_of_work_for_everyone() {
    let t = TestApp::memory().await;
    let settings = ClientSettings {
        sends_per_ip_per_minute: 1_000,
        sends_per_client_per_minute: 1_000,
        sends_per_prefix_per_hour: 1_000,
        ..spa_settings(&[CALLBACK])
    };
    t.store
        .put_client(&ClientRecord::new(SPA, "x", settings))
        .await
        .unwrap();
    let base = pow_cost(&authorize(&t, &query(&[])).await.body);
    for _ in 0..100 {
        authorize(&t, &query(&[])).await;
    }
    assert_eq!(pow_cost(&authorize(&t, &query(&[])).await.body), base);
    for i in 0..30 {
        let page = authorize(&t, &query(&[])).await;
        // Each number in a range of its own: a busy range costs more itself.
        let sent = send_code(&t, &page.body, &format!("081{i:02}45000")).await;
        assert_eq!(sent.status, 200, "{sent:?}");
    }
    let after = authorize(&t, &query(&[])).await;
    assert_eq!(
        pow_cost(&after.body),
        2 * base,
        "30 codes this minute: twice the work"
    );
}

/// SMS pumping walks the numbers of one range: the numbers of a range asked
/// for often this minute need a dearer proof, which the page solves and
/// sends again by itself; nothing is texted on the cheaper one, and other
/// ranges' users pay the base cost still.
#[tokio::test]
async fn rule_14_a_busy_number_range_makes_its_next_proof_dearer() {
    let t = TestApp::memory().await;
    public_client(&t, SPA).await;
    let base = pow_cost(&authorize(&t, &query(&[])).await.body);
    for i in 0..RANGE_SENDS_PER_MINUTE_AT_BASE_COST {
        let page = authorize(&t, &query(&[])).await;
        let sent = send_code(&t, &page.body, &format!("08123456{i:02}")).await;
        assert!(sent.body.contains("id=\"otp\""), "{sent:?}");
    }
    let texted = t.outbox.entries().len();
    let page = authorize(&t, &query(&[])).await;
    assert_eq!(
        pow_cost(&page.body),
        base,
        "the page cannot know the number yet"
    );
    let again = send_code(&t, &page.body, "0812345699").await;
    assert_eq!(again.status, 200, "{again:?}");
    assert!(again.body.contains("data-again"), "{again:?}");
    assert!(
        again.body.contains("value=\"0812345699\""),
        "the number kept"
    );
    assert_eq!(pow_cost(&again.body), 2 * base);
    assert_eq!(
        t.outbox.entries().len(),
        texted,
        "nothing texted on the cheaper proof"
    );
    let sent = send_code(&t, &again.body, "0812345699").await;
    assert!(sent.body.contains("id=\"otp\""), "{sent:?}");
    assert_eq!(t.outbox.entries().len(), texted + 1);
    let elsewhere = authorize(&t, &query(&[])).await;
    let other_range = send_code(&t, &elsewhere.body, "0899990000").await;
    assert!(other_range.body.contains("id=\"otp\""), "{other_range:?}");
}
