//! The OAuth routes: the RFC 6749 token endpoint (the hosted page's
//! authorization codes with PKCE, and refresh), revocation, discovery and
//! JWKS.

use super::{Fields, fields, issuer, json_response, refusal};
use crate::domain::keys::b64_decode;
use crate::service::ClientCredentials;
use crate::{App, Error};
use base64::Engine;
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// RFC 6749 §5.2 error body; status from [`Error::status`].
pub(super) fn failure(error: &Error) -> Response<Body> {
    let code = match error {
        Error::InvalidClient
        | Error::InvalidGrant
        | Error::UnsupportedGrantType
        | Error::UnsupportedTokenType
        | Error::Busy { .. } => error.code(),
        _ if error.incident().is_some() => "server_error",
        _ => "invalid_request",
    };
    let mut body = json!({"error": code, "error_description": error.message()});
    if let Some(incident) = error.incident() {
        body["error_id"] = json!(incident.id);
    }
    let mut response = refusal(json_response(error.status(), &body, false), error);
    if matches!(error, Error::InvalidClient) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"otp\""),
        );
    }
    response
}

/// Client credentials from HTTP Basic (client_secret_basic) or the body
/// (client_secret_post); never both. A public client names itself by
/// `client_id` alone (`none`): its secret is empty.
fn client_credentials(request: &Request, f: &Fields) -> Result<ClientCredentials, Error> {
    let in_body = f
        .optional("client_id", "client_id must be a string")?
        .is_some()
        || f.optional("client_secret", "client_secret must be a string")?
            .is_some();
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match (basic, in_body) {
        (Some(_), true) => Err(Error::InvalidRequest(
            "use one client authentication method",
        )),
        (Some(encoded), false) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .or_else(|| b64_decode(encoded.trim()))
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(Error::InvalidClient)?;
            let (id, secret) = decoded.split_once(':').ok_or(Error::InvalidClient)?;
            Ok(ClientCredentials {
                client_id: id.to_string(),
                client_secret: secret.to_string(),
            })
        }
        (None, _) => Ok(ClientCredentials {
            client_id: f
                .optional("client_id", "client_id must be a string")?
                .ok_or(Error::InvalidClient)?,
            client_secret: f
                .optional("client_secret", "client_secret must be a string")?
                .unwrap_or_default(),
        }),
    }
}

pub(super) async fn token(app: &App, request: &Request) -> Response<Body> {
    let issued = async {
        let f = fields(request, true)?;
        // The grant type decides which fields are known, so it is checked first.
        let grant_type = f.required(
            "grant_type",
            "grant_type is required",
            "grant_type must be a string",
        )?;
        match grant_type.as_str() {
            "refresh_token" => {
                let f = f.only(&[
                    "grant_type",
                    "refresh_token",
                    "client_id",
                    "client_secret",
                    "scope",
                ])?;
                let refresh_token = f.required(
                    "refresh_token",
                    "refresh_token is required",
                    "refresh_token must be a string",
                )?;
                let credentials = client_credentials(request, &f)?;
                app.refresh(&credentials, &refresh_token, &issuer(app, request)?)
                    .await
            }
            "authorization_code" => {
                let f = f.only(&[
                    "grant_type",
                    "code",
                    "redirect_uri",
                    "code_verifier",
                    "client_id",
                    "client_secret",
                ])?;
                let code = f.required("code", "code is required", "code must be a string")?;
                let redirect_uri = f.required(
                    "redirect_uri",
                    "redirect_uri is required",
                    "redirect_uri must be a string",
                )?;
                let verifier = f.required(
                    "code_verifier",
                    "code_verifier is required (PKCE)",
                    "code_verifier must be a string",
                )?;
                let credentials = client_credentials(request, &f)?;
                let issuer = issuer(app, request)?;
                app.exchange_code(&credentials, &code, &redirect_uri, &verifier, &issuer)
                    .await
            }
            _ => Err(Error::UnsupportedGrantType),
        }
    }
    .await;
    match issued {
        Ok(t) => json_response(
            200,
            &json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "refresh_token": t.refresh_token,
            }),
            false,
        ),
        Err(e) => failure(&e),
    }
}

/// RFC 7009: `token`, optional `token_type_hint`; 200 with an empty body
/// whether or not the token was known.
pub(super) async fn revoke(app: &App, request: &Request) -> Response<Body> {
    let revoked = async {
        let f = fields(request, true)?.only(&[
            "token",
            "token_type_hint",
            "client_id",
            "client_secret",
        ])?;
        let token = f.required("token", "token is required", "token must be a string")?;
        let credentials = client_credentials(request, &f)?;
        app.revoke(&credentials, &token).await
    }
    .await;
    match revoked {
        Ok(()) => json_response(200, &json!({}), false),
        Err(e) => failure(&e),
    }
}

/// Discovery, so that a JWT authorizer or an OAuth library can find the keys
/// and endpoints of this issuer.
pub(super) fn discovery(app: &App, request: &Request) -> Response<Body> {
    let issuer = match issuer(app, request) {
        Ok(issuer) => issuer,
        Err(e) => return super::native::failure(&e),
    };
    // `none`: a public client (DESIGN §14) names itself by client_id alone.
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    json_response(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "token_endpoint": format!("{issuer}/v1/oauth/token"),
            "revocation_endpoint": format!("{issuer}/v1/oauth/revoke"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        }),
        true,
    )
}

pub(super) async fn jwks(app: &App) -> Response<Body> {
    match app.jwks().await {
        Ok(keys) => json_response(200, &json!({"keys": keys}), true),
        Err(e) => super::native::failure(&e),
    }
}
