//! The hosted page's side of OAuth 2.1's authorization code grant (DESIGN
//! §14, RFC 9700): the authorization request checked as it arrives, then
//! carried sealed through the page's steps (a proof of work and a number,
//! then the code it was sent), ending in a redirect with an authorization
//! code, which the client exchanges at the token endpoint
//! (`App::exchange_code`).

use super::confirm::{Outcome, Want};
use super::{App, Caller, ChallengeRef, OtpRequest, OtpSent, UnknownUsers};
use crate::Error;
use crate::domain::authorization::{
    PAGE_LIFETIME_MS, PageRequest, is_s256_challenge, is_state, redirect_uri_matches,
};
use crate::domain::client::Overrides;
use crate::domain::pow::{self, PowChallenge};
use std::time::Instant;

/// Clients and number ranges whose page velocity an instance keeps at most.
const POW_RATES_MAX: usize = 10_000;

/// What the page's first step came to.
#[derive(Debug)]
pub enum PageSent {
    /// The code was texted.
    Sent(OtpSent),
    /// The number's range was asked for often this minute: nothing was
    /// sent, and the number needs a proof of this dearer challenge.
    DearerProof(PowChallenge),
}

/// The page's languages, the first the default.
pub const PAGE_LOCALES: [&str; 3] = ["en", "th", "vi"];

/// An authorization request's query, as it came.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub ui_locales: Option<String>,
    /// The browser's `Accept-Language`.
    pub accept_language: Option<String>,
}

/// Why an authorization request is not served.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    /// Told on the page itself: the client, or where to send its answer,
    /// cannot be trusted (RFC 6749 §4.1.2.1: never redirect then).
    Shown(&'static str),
    /// Sent back to the client's registered redirect URI.
    Redirected {
        redirect_uri: String,
        error: &'static str,
        description: &'static str,
        state: Option<String>,
    },
    /// The service could not tell (a dependency failed).
    Failed(Error),
}

/// A request the page serves: sealed into its forms, with the proof of
/// work its first form asks for.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub page: PageRequest,
    pub brand: String,
    pub pow: PowChallenge,
}

impl App {
    /// Checks the authorization request `params` (DESIGN §14).
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
    ) -> Result<Authorized, AuthorizeRefusal> {
        let client_id = params
            .client_id
            .as_deref()
            .ok_or(AuthorizeRefusal::Shown("client_id is required"))?;
        let client = match self
            .authenticate_caller(&Caller::HostedPage {
                client_id: client_id.to_string(),
            })
            .await
        {
            Ok(client) => client,
            Err(Error::InvalidClient) => {
                return Err(AuthorizeRefusal::Shown(
                    "this app may not log in through this page",
                ));
            }
            Err(e) => return Err(AuthorizeRefusal::Failed(e)),
        };
        let requested = params
            .redirect_uri
            .as_deref()
            .ok_or(AuthorizeRefusal::Shown("redirect_uri is required"))?;
        let redirect_uri = client
            .settings
            .redirect_uris
            .iter()
            .find(|registered| redirect_uri_matches(registered, requested))
            .map(|_| requested.to_string())
            .ok_or(AuthorizeRefusal::Shown(
                "redirect_uri is not one this app registered",
            ))?;
        // From here on the client hears of what is wrong.
        let state = params.state.clone().filter(|s| is_state(s));
        let refuse = |error, description| AuthorizeRefusal::Redirected {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
            state: state.clone(),
        };
        if params.state.as_deref().is_some_and(|s| !is_state(s)) {
            return Err(refuse(
                "invalid_request",
                "state must be at most 512 printable characters",
            ));
        }
        if params.response_type.as_deref() != Some("code") {
            return Err(refuse(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        if params.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256 (PKCE)",
            ));
        }
        let code_challenge = params
            .code_challenge
            .clone()
            .filter(|c| is_s256_challenge(c))
            .ok_or_else(|| {
                refuse(
                    "invalid_request",
                    "code_challenge must be an S256 challenge (PKCE)",
                )
            })?;
        let now = self.clock.now_ms();
        let page = PageRequest {
            client_id: client.client_id.clone(),
            redirect_uri,
            state,
            code_challenge,
            locale: params.page_locale().unwrap_or_default().to_string(),
            until_ms: now + PAGE_LIFETIME_MS,
        };
        Ok(Authorized {
            pow: self.page_pow(&page.client_id),
            brand: client.settings.brand,
            page,
        })
    }

    /// The name the page shows for `client_id` (none when it cannot be
    /// read now: the page still works).
    pub async fn page_brand(&self, client_id: &str) -> String {
        self.client_record(client_id)
            .await
            .map(|client| client.settings.brand)
            .unwrap_or_default()
    }

    /// A proof-of-work challenge for the page of `client_id`, costing more
    /// the more codes its page was asked to text this minute on this
    /// instance (`pow::max_number`). Counted by the solved proofs the page
    /// was sent, never by page views, which cost nothing: else anyone could
    /// make the page dearer for everyone by reloading it.
    pub fn page_pow(&self, client_id: &str) -> PowChallenge {
        self.pow_costing(client_id, self.page_cost(client_id, None))
    }

    fn pow_costing(&self, client_id: &str, cost: u64) -> PowChallenge {
        pow::create(
            &self.secret,
            self.entropy.as_ref(),
            client_id,
            self.clock.now_ms(),
            cost,
        )
    }

    /// What a proof for `client_id`'s page must cost now, and for a number
    /// of `range` (its number without the last four digits), when given:
    /// the client's velocity's cost, or the range's (`pow::range_max_number`)
    /// when dearer.
    fn page_cost(&self, client_id: &str, range: Option<&str>) -> u64 {
        let minute = self.clock.now_ms() / 60_000;
        let rates = self.pow_rates.lock().unwrap_or_else(|p| p.into_inner());
        let recent = |key: &str| {
            rates
                .get(key)
                .filter(|(at, _)| *at == minute)
                .map_or(0, |(_, count)| *count)
        };
        let base = self.config.pow_max_number.into();
        let client_cost = pow::max_number(base, recent(client_id));
        range.map_or(client_cost, |range| {
            client_cost.max(pow::range_max_number(
                base,
                recent(&range_rate_key(client_id, range)),
            ))
        })
    }

    /// Counts a solved proof of work of `client_id`'s page in this minute.
    fn count_page_send(&self, client_id: &str) {
        self.count_rate(client_id.to_string());
    }

    /// Counts a code texted to a number of `range` through `client_id`'s
    /// page in this minute.
    fn count_page_send_to_range(&self, client_id: &str, range: &str) {
        self.count_rate(range_rate_key(client_id, range));
    }

    /// Counts one more for `key` in this minute. At most [`POW_RATES_MAX`]
    /// keys are kept: past minutes' go first, and a key that finds no room
    /// is not counted (its cost stays the base).
    fn count_rate(&self, key: String) {
        let minute = self.clock.now_ms() / 60_000;
        let mut rates = self.pow_rates.lock().unwrap_or_else(|p| p.into_inner());
        if rates.len() >= POW_RATES_MAX && !rates.contains_key(&key) {
            rates.retain(|_, (at, _)| *at == minute);
            if rates.len() >= POW_RATES_MAX {
                return;
            }
        }
        let rate = rates.entry(key).or_insert((minute, 0));
        if rate.0 != minute {
            *rate = (minute, 0);
        }
        rate.1 += 1;
    }

    /// The page's first step: with a solved proof of work, texts a code to
    /// `mobile_no` under every limit of the page's client, the per-IP one
    /// counting the address API Gateway saw (`source_ip`). The proof's
    /// spend and the request share one deadline.
    pub async fn page_send(
        &self,
        page: &PageRequest,
        mobile_no: &str,
        proof_of_work: &str,
        source_ip: Option<String>,
        public_url: Option<String>,
    ) -> Result<PageSent, Error> {
        let began = Instant::now();
        let now = self.clock.now_ms();
        let solved = pow::verify(&self.secret, proof_of_work, &page.client_id, now)
            .map_err(Error::InvalidRequest)?;
        let request = OtpRequest {
            client: Caller::HostedPage {
                client_id: page.client_id.clone(),
            },
            mobile_no: mobile_no.to_string(),
            id_card_num: None,
            sms_sender: None,
            locale: Some(page.locale.clone()).filter(|l| !l.is_empty()),
            overrides: Overrides::default(),
            end_user_ip: vec![],
            source_ip,
            unknown_users: UnknownUsers::AnswerAsKnown,
            public_url,
        };
        self.in_time(async {
            let key = format!("pow#{}", solved.challenge);
            if !self.store.spend_once(&key, solved.expires_at_ms).await? {
                return Err(Error::InvalidRequest("this proof of work was used before"));
            }
            // The number's range, when it is a number the client texts
            // (any other is refused by the send, whatever its proof); a
            // client that may not use the page gets no dearer challenge.
            let client = self.authenticate_caller(&request.client).await?;
            let range = self
                .parse_phone(&client, mobile_no)
                .ok()
                .map(|(phone, _)| phone.prefix().to_string());
            let cost = self.page_cost(&page.client_id, range.as_deref());
            if solved.max_number < cost {
                tracing::info!(
                    client_id = %page.client_id,
                    cost,
                    "number range busy: a dearer proof of work asked for"
                );
                return Ok(PageSent::DearerProof(
                    self.pow_costing(&page.client_id, cost),
                ));
            }
            // Every solved proof raises the client's cost; only a code
            // texted raises its range's, so that refusals (a number's
            // cooldown, say) make no range dearer for its other users.
            self.count_page_send(&page.client_id);
            let sent = self.send_code(&request, began).await?;
            if let Some(range) = &range {
                self.count_page_send_to_range(&page.client_id, range);
            }
            Ok(PageSent::Sent(sent))
        })
        .await
    }

    /// The page's second step: the code sent for `token`; on success, where
    /// the browser goes: the request's redirect URI with the authorization
    /// code, the request's `state` and the issuer (RFC 9207).
    pub async fn page_confirm(
        &self,
        page: &PageRequest,
        token: &str,
        otp: &str,
        issuer: &str,
    ) -> Result<String, Error> {
        let caller = Caller::HostedPage {
            client_id: page.client_id.clone(),
        };
        let challenge = ChallengeRef::Token(token.to_string());
        let checked = async {
            // The client may have dropped the redirect URI since the page
            // began.
            let client = self.client_record(&page.client_id).await?;
            let still_registered = client
                .settings
                .redirect_uris
                .iter()
                .any(|registered| redirect_uri_matches(registered, &page.redirect_uri));
            if !still_registered {
                return Err(Error::InvalidClient);
            }
            self.check_code(
                &caller,
                &challenge,
                otp,
                Want::AuthorizationCode(page),
                issuer,
            )
            .await
        };
        match self.in_time(checked).await? {
            Outcome::AuthorizationCode(code) => {
                let mut answer = vec![("code", code.as_str())];
                if let Some(state) = &page.state {
                    answer.push(("state", state));
                }
                answer.push(("iss", issuer));
                Ok(with_query(&page.redirect_uri, &answer))
            }
            Outcome::CodeCorrect | Outcome::Tokens(_) => Err(Error::internal(
                "service.page_confirm",
                "the page's confirm made no authorization code",
            )),
        }
    }
}

impl AuthorizeParams {
    /// The page's language: the first of `ui_locales`, then of the
    /// browser's `Accept-Language`, that the page speaks; none when neither
    /// names one (the number's country decides then).
    pub fn page_locale(&self) -> Option<&'static str> {
        let spoken = |tag: &str| {
            let language = tag
                .split(['-', '_', ';'])
                .next()?
                .trim()
                .to_ascii_lowercase();
            PAGE_LOCALES.into_iter().find(|l| *l == language)
        };
        let ui = self.ui_locales.as_deref().unwrap_or_default();
        let browser = self.accept_language.as_deref().unwrap_or_default();
        ui.split_whitespace()
            .find_map(spoken)
            .or_else(|| browser.split(',').find_map(spoken))
    }
}

/// Where a number range's page velocity is kept: per client, as every
/// limit is.
fn range_rate_key(client_id: &str, range: &str) -> String {
    format!("{client_id}#{range}")
}

/// `uri` with `answer` added to its query, each value percent-encoded.
pub fn with_query(uri: &str, answer: &[(&str, &str)]) -> String {
    let encode = |value: &str| {
        value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let query = answer
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_speaks_the_first_language_asked_that_it_has() {
        let asked = |ui: Option<&str>, browser: Option<&str>| {
            AuthorizeParams {
                ui_locales: ui.map(str::to_string),
                accept_language: browser.map(str::to_string),
                ..AuthorizeParams::default()
            }
            .page_locale()
        };
        assert_eq!(asked(Some("fr vi-VN en"), Some("th")), Some("vi"));
        assert_eq!(asked(None, Some("fr-FR,th;q=0.8,en;q=0.5")), Some("th"));
        assert_eq!(asked(Some("fr"), Some("de")), None);
    }

    #[test]
    fn the_answer_is_added_to_the_redirect_uris_own_query() {
        assert_eq!(
            with_query(
                "https://a.example/cb?x=1",
                &[("code", "a b"), ("state", "&=")]
            ),
            "https://a.example/cb?x=1&code=a%20b&state=%26%3D"
        );
        assert_eq!(
            with_query("com.example.app:/cb", &[("error", "access_denied")]),
            "com.example.app:/cb?error=access_denied"
        );
    }
}
