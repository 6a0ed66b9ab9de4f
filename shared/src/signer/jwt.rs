use super::Signer;
use crate::Error;
use crate::domain::keys::b64;
use serde::Serialize;

/// The claims of an access token (DESIGN §6).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    /// The client id the token was issued to.
    pub aud: String,
    /// The account id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub login_by: String,
}

fn encode_part<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_vec(value)
        .map(|bytes| b64(&bytes))
        .map_err(|_| Error::internal("jwt.encode", "serialisation failed"))
}

/// A compact RS256 JWT of type `at+jwt`, signed by `signer` and naming its
/// key by `kid`.
pub async fn sign_access_token(
    signer: &dyn Signer,
    claims: &AccessClaims,
) -> Result<String, Error> {
    let kid = signer.public_key().await?.kid;
    let header = serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    let signing_input = format!("{}.{}", encode_part(&header)?, encode_part(claims)?);
    let signature = signer.sign(&kid, signing_input.as_bytes()).await?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}
