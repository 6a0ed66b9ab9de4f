//! DESIGN §6: an API Gateway HTTP API JWT authorizer pointed at this issuer
//! accepts the access tokens. Its checks are replayed with a standard JWT
//! library on KMS-signed tokens (moto): discovery → `jwks_uri` → key by `kid`
//! → RS256 only → `iss`, `aud`, `exp`, `nbf`.

use aws_lc_rs::hmac;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use otp_integration_tests::{
    CLIENT_ID, ISSUER, TestApp, api_request, call, kms_key, kms_signer, memory_store, now_ms,
};
use otp_shared::domain::keys::{b64, b64_decode};
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::sync::Arc;

/// An app signing with the KMS key `key_id` (and publishing `previous`),
/// its clock at `start_ms`.
async fn issuer(key_id: &str, previous: Option<&str>, start_ms: i64) -> TestApp {
    let signer = kms_signer(key_id, previous).await;
    TestApp::build(Arc::new(memory_store()), None, signer, start_ms).await
}

async fn access_token(t: &TestApp) -> String {
    let (token, _, code) = t.code_for("0812345678").await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    confirmed.body["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What the authorizer fetches: the discovery document, then the key set its
/// `jwks_uri` names.
async fn published_keys(t: &TestApp) -> (Value, Value) {
    let discovery = call(
        &t.app,
        Function::IssueToken,
        api_request("openid-configuration", None, None),
    )
    .await
    .body;
    assert_eq!(
        discovery["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    let jwks = call(
        &t.app,
        Function::IssueToken,
        api_request("jwks", None, None),
    )
    .await
    .body;
    (discovery, jwks)
}

/// The authorizer's decision: the claims, or why the token is refused.
fn authorize(
    token: &str,
    discovery: &Value,
    jwks: &Value,
    audience: &str,
) -> Result<Value, String> {
    let header = decode_header(token).map_err(|e| format!("header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("alg {:?} is not accepted", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let keys: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let jwk = keys.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

fn parts(token: &str) -> (Value, Value) {
    let json = |part: &str| serde_json::from_slice(&b64_decode(part).unwrap()).unwrap();
    let mut split = token.split('.');
    (json(split.next().unwrap()), json(split.next().unwrap()))
}

fn encode(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

#[tokio::test]
async fn rule_6_jwt_authorizer_accepts_kms_signed_access_tokens() {
    let t = issuer(&kms_key().await, None, now_ms()).await;
    let token = access_token(&t).await;
    let (discovery, jwks) = published_keys(&t).await;
    let claims =
        authorize(&token, &discovery, &jwks, CLIENT_ID).expect("the authorizer accepts it");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert!(claims["sub"].as_str().unwrap().starts_with("acc_"));
}

#[tokio::test]
async fn rule_6_jwt_authorizer_rejects_forged_foreign_and_stale_tokens() {
    let t = issuer(&kms_key().await, None, now_ms()).await;
    let token = access_token(&t).await;
    let (discovery, jwks) = published_keys(&t).await;
    let (header, claims) = parts(&token);
    let signature = token.rsplit('.').next().unwrap();

    let alg_none = format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "at+jwt"})),
        encode(&claims)
    );
    // The classic confusion attack: HS256 keyed with the public key.
    let hs256_header = json!({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]});
    let hs256_input = format!("{}.{}", encode(&hs256_header), encode(&claims));
    let public_key = b64_decode(jwks["keys"][0]["n"].as_str().unwrap()).unwrap();
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &public_key),
        hs256_input.as_bytes(),
    );
    let hs256 = format!("{hs256_input}.{}", b64(mac.as_ref()));
    let mut unknown_kid_header = header.clone();
    unknown_kid_header["kid"] = json!("not-our-key");
    let unknown_kid = format!(
        "{}.{}.{signature}",
        encode(&unknown_kid_header),
        encode(&claims)
    );
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("acc_someone_else");
    let tampered = format!(
        "{}.{}.{signature}",
        encode(&header),
        encode(&tampered_claims)
    );

    for (name, forged) in [
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("unknown kid", unknown_kid),
        ("tampered payload", tampered),
    ] {
        assert!(
            authorize(&forged, &discovery, &jwks, CLIENT_ID).is_err(),
            "{name} accepted"
        );
    }
    assert!(
        authorize(&token, &discovery, &jwks, "another-app").is_err(),
        "wrong aud accepted"
    );

    // Minted two hours ago with a one-hour lifetime.
    let past = issuer(&kms_key().await, None, now_ms() - 2 * 3_600_000).await;
    let expired = access_token(&past).await;
    let (discovery, jwks) = published_keys(&past).await;
    let refusal = authorize(&expired, &discovery, &jwks, CLIENT_ID).unwrap_err();
    assert!(refusal.contains("Expired"), "{refusal}");
}

#[tokio::test]
async fn rule_6_jwks_keeps_the_previous_key_after_a_rotation() {
    let (old_key, new_key) = (kms_key().await, kms_key().await);
    let before = issuer(&old_key, None, now_ms()).await;
    let in_flight = access_token(&before).await;

    let after = issuer(&new_key, Some(&old_key), now_ms()).await;
    let (discovery, jwks) = published_keys(&after).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let fresh = access_token(&after).await;
    assert_eq!(
        parts(&fresh).0["kid"],
        jwks["keys"][0]["kid"],
        "new tokens use the new key"
    );
    assert_eq!(parts(&in_flight).0["kid"], jwks["keys"][1]["kid"]);
    for token in [&in_flight, &fresh] {
        authorize(token, &discovery, &jwks, CLIENT_ID).expect("accepted across the rotation");
    }
}
