//! OAuth 2.1's authorization code grant with PKCE (DESIGN §14, RFC 9700):
//! which redirect URIs a client may register and how a request's is matched
//! to them, PKCE's S256 check, and the authorization code a login through
//! the hosted page ends in.

use super::keys::{ServerSecret, b64, b64_decode, constant_time_eq, sha256};
use crate::clock::Millis;
use serde::{Deserialize, Serialize};

/// An authorization code lives this long (RFC 9700 §2.1.1: short-lived).
pub const CODE_LIFETIME_MS: Millis = 60_000;
/// The hosted page's steps are taken within this long of the request.
pub const PAGE_LIFETIME_MS: Millis = 15 * 60_000;
/// Redirect URIs, and `state`, are at most this long.
const MAX_REDIRECT_URI: usize = 512;
pub const MAX_STATE: usize = 512;
/// Loopback hosts a native app may listen on, on any port (RFC 8252 §7.3).
/// Not `[::1]`: a Content-Security-Policy source cannot name an IPv6
/// address, so the page's form could not send the browser back there.
const LOOPBACK: [&str; 2] = ["127.0.0.1", "localhost"];

/// Why `uri` cannot be registered as a redirect URI: an `https` URL; a
/// native app's loopback `http` URL (RFC 8252 §7.3) or private-use scheme
/// named by a reverse domain (§7.1); never a fragment, user info or
/// anything a browser would read apart from what was registered.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI {
        return Some("a redirect URI is 1 to 512 characters");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("a redirect URI is printable ASCII without spaces");
    }
    if uri.contains('#') {
        return Some("a redirect URI has no fragment");
    }
    if uri.contains('\\') {
        return Some("a redirect URI has no backslash");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Some("a redirect URI has a scheme");
    };
    match scheme {
        "https" | "http" => {
            let Some(after) = rest.strip_prefix("//") else {
                return Some("an http(s) redirect URI has a host");
            };
            let authority = after.split(['/', '?']).next().unwrap_or_default();
            if authority.is_empty() || authority.contains('@') {
                return Some("an http(s) redirect URI has a host and no user info");
            }
            if scheme == "http" && !is_loopback(authority) {
                return Some("a plain-http redirect URI is a loopback address");
            }
            None
        }
        _ => {
            let private_use = scheme.contains('.')
                && scheme.starts_with(|c: char| c.is_ascii_lowercase())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
            if !private_use || !rest.starts_with('/') || rest.starts_with("//") {
                return Some(
                    "a redirect URI is https, loopback http, or a reverse-domain scheme such as com.example.app:/callback",
                );
            }
            None
        }
    }
}

/// The authority's host, without its port.
fn host_of(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.is_empty() => host,
        _ => authority,
    }
}

fn is_loopback(authority: &str) -> bool {
    LOOPBACK.contains(&host_of(authority))
}

/// Whether the request's `redirect_uri` is the registered `registered`:
/// exactly, character for character, except the port of a loopback URI,
/// which a native app picks when it starts (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let loopback_parts = |uri: &str| {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        is_loopback(authority).then(|| (host_of(authority).to_string(), path.to_string()))
    };
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether `challenge` is an S256 code challenge: base64url without padding
/// of a SHA-256 digest.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(is_base64url)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// RFC 7636 §4.6 with S256: the verifier is 43 to 128 unreserved
/// characters and hashes to the challenge.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && constant_time_eq(&sha256(verifier.as_bytes()), challenge)
}

/// The authorization request a hosted page serves, carried sealed from
/// step to step in the page's forms: nothing of it is kept server-side
/// until a login ends in a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    /// The page's language, as chosen when the request came.
    pub locale: String,
    pub until_ms: Millis,
}

impl PageRequest {
    /// The request as a form field: its JSON, then its tag.
    pub fn seal(&self, secret: &ServerSecret) -> String {
        let body = b64(serde_json::to_string(self).unwrap_or_default().as_bytes());
        let tag = secret.page_tag(&body);
        format!("{body}.{tag}")
    }

    /// The request `text` is, if `secret` sealed it and it still holds at
    /// `now`.
    pub fn open(text: &str, secret: &ServerSecret, now: Millis) -> Option<PageRequest> {
        let (body, tag) = text.split_once('.')?;
        if !constant_time_eq(&secret.page_tag(body), tag) {
            return None;
        }
        let request: PageRequest = serde_json::from_slice(&b64_decode(body)?).ok()?;
        (now < request.until_ms).then_some(request)
    }
}

/// Whether `state` may be carried back: printable ASCII (RFC 6749's
/// VSCHAR), at most [`MAX_STATE`] characters.
pub fn is_state(state: &str) -> bool {
    state.len() <= MAX_STATE && state.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// A code the hosted page's login ends in, as kept (by its hash) until the
/// client exchanges it at the token endpoint: bound to the client, the
/// redirect URI and the PKCE challenge of the request it answers, and to
/// the account that logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub account_id: String,
    pub username: String,
    pub login_by: String,
    pub expires_at_ms: Millis,
}

/// Why a code was not redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Unknown, or past its lifetime.
    Invalid,
    /// Redeemed before: the tokens of that first use (their refresh family)
    /// are to be revoked (RFC 9700 §4.5).
    Replayed { family_id: Option<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_verifier_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(&verifier.replace('d', "e"), challenge));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn rule_14_a_page_request_opens_only_as_sealed_here_and_in_time() {
        let secret = ServerSecret::new(&[9u8; 32]).unwrap();
        let request = PageRequest {
            client_id: "spa".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            state: Some("x y".into()),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            locale: "th".into(),
            until_ms: 1_000,
        };
        let sealed = request.seal(&secret);
        assert_eq!(
            PageRequest::open(&sealed, &secret, 999),
            Some(request.clone())
        );
        assert_eq!(PageRequest::open(&sealed, &secret, 1_000), None);
        let other = ServerSecret::new(&[8u8; 32]).unwrap();
        assert_eq!(PageRequest::open(&sealed, &other, 0), None);
        let forged = PageRequest {
            redirect_uri: "https://evil.example/cb".into(),
            ..request
        }
        .seal(&other);
        assert_eq!(PageRequest::open(&forged, &secret, 0), None);
    }

    #[test]
    fn registrable_redirect_uris() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1/callback",
            "http://localhost/cb",
            "com.example.app:/callback",
        ] {
            assert_eq!(redirect_uri_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user@app.example.com/cb",
            "https:///cb",
            "javascript:alert(1)",
            "myapp://callback",
            "com.example.app://host/cb",
            "https://app.example.com/ cb",
            "https://app.example.com\\@evil.example/",
            "http://[::1]:8080/cb",
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_match_exactly_but_a_loopback_port() {
        let registered = "https://app.example.com/callback";
        assert!(redirect_uri_matches(registered, registered));
        for other in [
            "https://app.example.com/callback/",
            "https://APP.example.com/callback",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/callbacks",
            "https://evil@app.example.com/callback",
            "http://app.example.com/callback",
        ] {
            assert!(!redirect_uri_matches(registered, other), "{other}");
        }
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/other"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://localhost:51000/cb"
        ));
    }
}
