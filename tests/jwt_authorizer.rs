//! DESIGN §6: an API Gateway HTTP API JWT authorizer pointed at this issuer
//! accepts the access tokens. Its checks are replayed with a standard JWT
//! library on KMS-signed tokens (moto): discovery → `jwks_uri` → key by `kid`
//! → RS256 only → `iss`, `aud`, `exp`, `nbf`.

use aws_lc_rs::hmac;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use otp_integration_tests::{
    CLIENT_ID, ISSUER, TestApp, api_request, call, kms_client, kms_signer, kms_signing_alias,
    memory_store, now_ms,
};
use otp_shared::domain::keys::{b64, b64_decode};
use otp_shared::http::Function;
use otp_shared::signer::rotation::{Rotation, rotate};
use otp_shared::signer::{ALIAS_REFRESH, KmsSigner, Signer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// An app signing with the KMS key behind `alias`, its clock at `start_ms`.
async fn issuer(alias: &str, start_ms: i64) -> TestApp {
    with_signer(kms_signer(alias).await, start_ms).await
}

async fn with_signer(signer: Arc<dyn Signer>, start_ms: i64) -> TestApp {
    TestApp::build(Arc::new(memory_store()), None, signer, start_ms).await
}

async fn access_token(t: &TestApp) -> String {
    let (token, _, code) = t.code_for("0812345678").await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    // Past the resend cooldown, so the next call can request a code.
    t.clock.advance_secs(61);
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
    let t = issuer(&kms_signing_alias().await, now_ms()).await;
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
    let t = issuer(&kms_signing_alias().await, now_ms()).await;
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
    let past = issuer(&kms_signing_alias().await, now_ms() - 2 * 3_600_000).await;
    let expired = access_token(&past).await;
    let (discovery, jwks) = published_keys(&past).await;
    let refusal = authorize(&expired, &discovery, &jwks, CLIENT_ID).unwrap_err();
    assert!(refusal.contains("Expired"), "{refusal}");
}

fn kid(token: &str) -> Value {
    parts(token).0["kid"].clone()
}

fn kids(jwks: &Value) -> Vec<Value> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect()
}

const PUBLISH_FOR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn rule_6_a_staged_rotation_keeps_every_unexpired_token_verifiable() {
    let alias = kms_signing_alias().await;
    let kms = kms_client().await;
    let t = issuer(&alias, now_ms()).await;
    let first = access_token(&t).await;

    // Stage one publishes the new key; tokens are still signed with the old.
    let published = rotate(&kms, &alias, PUBLISH_FOR, false).await.unwrap();
    assert!(
        matches!(published, Rotation::Published { .. }),
        "{published:?}"
    );
    let (_, jwks) = published_keys(&t).await;
    assert_eq!(kids(&jwks).len(), 2);
    assert_eq!(
        kids(&jwks)[0],
        kid(&first),
        "the current key is listed first"
    );
    let second = access_token(&t).await;
    assert_eq!(kid(&second), kid(&first), "the next key does not sign yet");

    // Promotion waits until verifiers have had time to fetch the new key.
    let early = rotate(&kms, &alias, PUBLISH_FOR, false).await.unwrap_err();
    assert!(early.contains("--force"), "{early}");
    let promoted = rotate(&kms, &alias, PUBLISH_FOR, true).await.unwrap();
    assert!(
        matches!(
            promoted,
            Rotation::Promoted {
                retired_key_id: None,
                ..
            }
        ),
        "{promoted:?}"
    );
    let third = access_token(&t).await;
    let (discovery, jwks) = published_keys(&t).await;
    assert_eq!(kids(&jwks), vec![kid(&third), kid(&first)]);
    assert_ne!(kid(&third), kid(&first), "new tokens use the new key");
    for token in [&first, &second, &third] {
        authorize(token, &discovery, &jwks, CLIENT_ID).expect("accepted across the rotation");
    }

    // The next rotation retires the first key: its tokens expired long ago.
    rotate(&kms, &alias, PUBLISH_FOR, false).await.unwrap();
    let promoted = rotate(&kms, &alias, PUBLISH_FOR, true).await.unwrap();
    assert!(
        matches!(
            promoted,
            Rotation::Promoted {
                retired_key_id: Some(_),
                ..
            }
        ),
        "{promoted:?}"
    );
    let (_, jwks) = published_keys(&t).await;
    assert_eq!(kids(&jwks).len(), 2);
    assert!(
        !kids(&jwks).contains(&kid(&first)),
        "the retired key is gone"
    );
    assert!(kids(&jwks).contains(&kid(&third)), "the previous key stays");
}

#[tokio::test]
async fn rule_6_a_warm_function_keeps_kid_and_signature_in_step_across_a_rotation() {
    let alias = kms_signing_alias().await;
    let kms = kms_client().await;
    // As deployed: the aliases are looked up again only after ALIAS_REFRESH.
    let warm = with_signer(
        Arc::new(KmsSigner::new(kms.clone(), &alias, ALIAS_REFRESH)),
        now_ms(),
    )
    .await;
    let before = access_token(&warm).await;
    rotate(&kms, &alias, PUBLISH_FOR, false).await.unwrap();
    rotate(&kms, &alias, PUBLISH_FOR, true).await.unwrap();

    let after = access_token(&warm).await;
    assert_eq!(kid(&after), kid(&before), "still the key it resolved");
    // A freshly started function publishes the new key and the previous one.
    let cold = issuer(&alias, now_ms()).await;
    let (discovery, jwks) = published_keys(&cold).await;
    for token in [&before, &after] {
        authorize(token, &discovery, &jwks, CLIENT_ID).expect("verifiable after the rotation");
    }
}

/// Rotates the signing key the moment the app has read the public key whose
/// `kid` it is about to put in a token's header: the signer's key cache
/// refreshes (it looks the aliases up on every use) between that read and
/// the signature. A signer that signed with whatever key is current then,
/// instead of the one the `kid` names, would make a token whose header and
/// signature disagree.
struct RotatesAfterReadingTheKey {
    signer: Arc<KmsSigner>,
    kms: aws_sdk_kms::Client,
    alias: String,
    rotated: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Signer for RotatesAfterReadingTheKey {
    async fn public_key(&self) -> Result<otp_shared::signer::Jwk, otp_shared::Error> {
        let key = self.signer.public_key().await?;
        if !self.rotated.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // An operator's rotation, not the function's calls: on a task of
            // its own, outside the recording of the function's AWS calls.
            let (kms, alias) = (self.kms.clone(), self.alias.clone());
            tokio::spawn(async move {
                rotate(&kms, &alias, PUBLISH_FOR, true).await.unwrap();
                rotate(&kms, &alias, PUBLISH_FOR, true).await.unwrap();
            })
            .await
            .unwrap();
        }
        Ok(key)
    }
    async fn sign(&self, kid: &str, message: &[u8]) -> Result<Vec<u8>, otp_shared::Error> {
        self.signer.sign(kid, message).await
    }
    async fn verification_keys(&self) -> Result<Vec<otp_shared::signer::Jwk>, otp_shared::Error> {
        self.signer.verification_keys().await
    }
}

#[tokio::test]
async fn rule_6_a_key_cache_refresh_between_reading_the_key_and_signing_keeps_kid_and_signature_in_step()
 {
    let alias = kms_signing_alias().await;
    let kms = kms_client().await;
    let signer = Arc::new(RotatesAfterReadingTheKey {
        signer: kms_signer(&alias).await,
        kms: kms.clone(),
        alias: alias.clone(),
        rotated: Default::default(),
    });
    let before = kms_signer(&alias).await.public_key().await.unwrap();
    let t = with_signer(signer, now_ms()).await;
    let crossed = access_token(&t).await;
    let after = access_token(&t).await;
    assert_eq!(
        kid(&crossed),
        json!(before.kid),
        "named the key read before the rotation"
    );
    assert_ne!(kid(&after), json!(before.kid), "the rotation happened");
    let (discovery, jwks) = published_keys(&t).await;
    for token in [&crossed, &after] {
        authorize(token, &discovery, &jwks, CLIENT_ID)
            .expect("each token's signature is by the key its kid names");
    }
}
