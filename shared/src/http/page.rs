//! The hosted page (DESIGN §14): server-rendered HTML in the user's
//! language, its own script and style sheet, no third-party request. Three
//! steps: `GET /oauth2/authorize` checks the client's authorization request
//! and asks for a number; `POST /oauth2/authorize/code` texts it a code
//! (after a proof of work); `POST /oauth2/authorize/confirm` checks the code
//! and sends the browser back to the client with an authorization code.
//! The request travels sealed in the forms (`PageRequest`).

use super::{Fields, fields, form_fields, issuer, source_ip};
use crate::domain::authorization::PageRequest;
use crate::domain::pow::PowChallenge;
use crate::service::{
    AuthorizeParams, AuthorizeRefusal, Authorized, PAGE_LOCALES, PageSent, with_query,
};
use crate::{App, Error};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;

/// The page's words, one file per language.
const STRINGS: [(&str, &str); 3] = [
    ("en", include_str!("page/en.json")),
    ("th", include_str!("page/th.json")),
    ("vi", include_str!("page/vi.json")),
];
pub(super) const SCRIPT: &str = include_str!("page/page.js");
pub(super) const STYLE: &str = include_str!("page/page.css");

/// The words of `locale` (English for one the page does not speak).
fn words(locale: &str) -> HashMap<String, String> {
    let text = STRINGS
        .iter()
        .find(|(l, _)| *l == locale)
        .unwrap_or(&STRINGS[0])
        .1;
    serde_json::from_str(text).unwrap_or_default()
}

/// The page's language for a number: the request's, else the number's
/// country (Thailand, Vietnam), else English.
fn locale_for(page: &PageRequest, mobile_no: &str) -> String {
    if PAGE_LOCALES.contains(&page.locale.as_str()) {
        return page.locale.clone();
    }
    let digits: String = mobile_no.chars().filter(char::is_ascii_digit).collect();
    let international = mobile_no.trim_start().starts_with('+') || digits.starts_with("00");
    let digits = digits.trim_start_matches("00");
    match () {
        _ if international && digits.starts_with("66") => "th",
        _ if international && digits.starts_with("84") => "vi",
        _ => "en",
    }
    .to_string()
}

/// `text` safe in HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a form's answer may go: the page itself, and the client's
/// redirect URI (a form's redirect is held to `form-action` too).
fn form_action(redirect_uri: Option<&str>) -> String {
    let target = redirect_uri.map(|uri| match uri.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            format!(" {scheme}://{authority}")
        }
        None => format!(" {}:", uri.split(':').next().unwrap_or_default()),
    });
    format!("'self'{}", target.unwrap_or_default())
}

/// An HTML answer with the page's security headers.
fn html(status: u16, body: String, redirect_uri: Option<&str>) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action(redirect_uri)
    );
    let headers = response.headers_mut();
    let set = |headers: &mut lambda_http::http::HeaderMap, name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CONTENT_SECURITY_POLICY, &csp);
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// The page's frame around `main`, in `locale`.
fn document(locale: &str, title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{locale}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/oauth2/page.css\">\
         <script src=\"/oauth2/page.js\" defer></script></head>\
         <body><main>{main}</main></body></html>\n",
        title = escape(title),
    )
}

fn alert(message: Option<&str>) -> String {
    message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default()
}

/// What the number form shows and carries.
struct PhoneForm<'a> {
    locale: &'a str,
    brand: &'a str,
    page: &'a str,
    pow: &'a PowChallenge,
    /// The number the user typed, when the form comes back to them.
    mobile_no: &'a str,
    error: Option<&'a str>,
    /// Solve the proof and send the form again without waiting for a
    /// click: the number needs a dearer proof than the one it came with.
    again: bool,
}

/// The number form, with its proof of work.
fn phone_page(form: &PhoneForm) -> String {
    let w = words(form.locale);
    let heading = w["sign_in_to"].replace("{brand}", form.brand);
    let pow = serde_json::to_string(form.pow).unwrap_or_default();
    let (again, status) = if form.again {
        (" data-again=\"\"", escape(&w["working"]))
    } else {
        ("", String::new())
    };
    let main = format!(
        "<h1>{heading}</h1>{alert}\
         <form method=\"post\" action=\"/oauth2/authorize/code\" data-pow=\"{pow}\" data-working=\"{working}\"{again}>\
         <input type=\"hidden\" name=\"page\" value=\"{page}\">\
         <input type=\"hidden\" name=\"altcha\" value=\"\">\
         <label for=\"mobile_no\">{label}</label>\
         <input id=\"mobile_no\" name=\"mobile_no\" type=\"tel\" autocomplete=\"tel\" inputmode=\"tel\" value=\"{mobile_no}\" required>\
         <p id=\"status\" role=\"status\">{status}</p>\
         <button type=\"submit\">{send}</button></form>\
         <noscript><p>{no_script}</p></noscript>",
        heading = escape(&heading),
        alert = alert(form.error),
        pow = escape(&pow),
        working = escape(&w["working"]),
        page = escape(form.page),
        label = escape(&w["phone_label"]),
        mobile_no = escape(form.mobile_no),
        send = escape(&w["send"]),
        no_script = escape(&w["no_script"]),
    );
    document(form.locale, &heading, &main)
}

/// What the code form shows and carries.
struct CodeForm<'a> {
    locale: &'a str,
    page: &'a str,
    mobile_no: &'a str,
    token: &'a str,
    ref_code: &'a str,
    resend_after: u64,
    pow: &'a PowChallenge,
}

/// The code form, and the resend form with its countdown.
fn code_page(form: &CodeForm<'_>, error: Option<&str>) -> String {
    let w = words(form.locale);
    let digits: String = form
        .mobile_no
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let last4 = &digits[digits.len().saturating_sub(4)..];
    let pow = serde_json::to_string(form.pow).unwrap_or_default();
    let main = format!(
        "<h1>{title}</h1>{alert}<p>{sent}</p>\
         <p>{ref_label}: <span class=\"ref\">{ref_code}</span></p>\
         <form method=\"post\" action=\"/oauth2/authorize/confirm\">\
         <input type=\"hidden\" name=\"page\" value=\"{page}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"mobile_no\" value=\"{mobile}\">\
         <input type=\"hidden\" name=\"ref_code\" value=\"{ref_code}\">\
         <label for=\"otp\">{code_label}</label>\
         <input id=\"otp\" name=\"otp\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"10\" required>\
         <button type=\"submit\">{confirm}</button></form>\
         <form method=\"post\" action=\"/oauth2/authorize/code\" data-pow=\"{pow}\" data-working=\"{working}\">\
         <input type=\"hidden\" name=\"page\" value=\"{page}\">\
         <input type=\"hidden\" name=\"altcha\" value=\"\">\
         <input type=\"hidden\" name=\"mobile_no\" value=\"{mobile}\">\
         <p id=\"status\" role=\"status\"></p>\
         <p id=\"countdown\" role=\"timer\" data-seconds=\"{resend_after}\" data-template=\"{resend_in}\"></p>\
         <button id=\"resend\" class=\"secondary\" type=\"submit\">{resend}</button></form>",
        title = escape(&w["code_title"]),
        alert = alert(error),
        sent = escape(&w["sent_to"].replace("{last4}", last4)),
        ref_label = escape(&w["ref_label"]),
        ref_code = escape(form.ref_code),
        page = escape(form.page),
        token = escape(form.token),
        mobile = escape(form.mobile_no),
        code_label = escape(&w["code_label"]),
        confirm = escape(&w["confirm"]),
        pow = escape(&pow),
        working = escape(&w["working"]),
        resend_after = form.resend_after,
        resend_in = escape(&w["resend_in"]),
        resend = escape(&w["resend"]),
    );
    document(form.locale, &w["code_title"], &main)
}

/// A page that only tells why (the request cannot be answered at all).
fn message_page(status: u16, locale: &str, key: &str) -> Response<Body> {
    let w = words(locale);
    let main = format!("<h1>{}</h1>{}", escape(&w["title"]), alert(Some(&w[key])));
    html(status, document(locale, &w["title"], &main), None)
}

/// The words of a refusal, for the page.
fn refusal_key(error: &Error) -> &'static str {
    match error {
        Error::InvalidMobile
        | Error::MobileNotAllowed
        | Error::MobileNotTextable
        | Error::InvalidField(_) => "phone_invalid",
        Error::RateLimited { .. } => "rate_limited",
        Error::OtpInvalid => "wrong_code",
        Error::OtpExpired => "expired",
        Error::OtpAttemptsExceeded => "attempts",
        Error::InvalidRequest(_) | Error::InvalidClient => "try_again",
        _ => "server_error",
    }
}

/// The request's form fields, and the page request they carry sealed;
/// `None` when it is not one the service sealed, or has expired, or when a
/// browser says another site's page posted it (`Sec-Fetch-Site`): a site
/// that made its visitors post the page's forms would text numbers from
/// each visitor's address.
fn page_fields(app: &App, request: &Request) -> Option<(Fields, PageRequest, String)> {
    let site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if site.is_some_and(|site| !matches!(site, "same-origin" | "none")) {
        return None;
    }
    let f = fields(request, true).ok()?;
    let sealed = f.optional("page", "page must be a string").ok()??;
    let page = PageRequest::open(&sealed, &app.secret, app.clock.now_ms())?;
    Some((f, page, sealed))
}

fn text(f: &Fields, name: &'static str) -> String {
    f.optional(name, "a field must be a string")
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// A posted field shown again on the page: kept only if it is what the
/// page itself put there (digits and `+ -()` for a number, up to 10 letters
/// or digits for a reference), so that no other site's post writes words
/// on the service's page.
fn echoed(f: &Fields, name: &'static str) -> String {
    let value = text(f, name);
    let shown = match name {
        "mobile_no" => {
            value.len() <= 32
                && value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b" +-()".contains(&b))
        }
        _ => value.len() <= 10 && value.bytes().all(|b| b.is_ascii_alphanumeric()),
    };
    if shown { value } else { String::new() }
}

/// A refusal's status on the page: a client that may no longer use it is
/// refused (403), never asked to authenticate (401).
fn page_status(error: &Error) -> u16 {
    match error {
        Error::InvalidClient => 403,
        e => e.status(),
    }
}

/// `GET /oauth2/authorize`.
pub(super) async fn authorize(app: &App, request: &Request) -> Response<Body> {
    let query = request.uri().query().unwrap_or_default();
    let Ok(q) = form_fields(query) else {
        return message_page(403, "en", "refused");
    };
    let get = |name: &'static str| text(&q, name);
    let some = |name: &'static str| Some(get(name)).filter(|v| !v.is_empty());
    let params = AuthorizeParams {
        response_type: some("response_type"),
        client_id: some("client_id"),
        redirect_uri: some("redirect_uri"),
        state: some("state"),
        code_challenge: some("code_challenge"),
        code_challenge_method: some("code_challenge_method"),
        ui_locales: some("ui_locales"),
        accept_language: request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    match app.authorize(&params).await {
        Ok(Authorized { page, brand, pow }) => {
            let locale = if page.locale.is_empty() {
                "en"
            } else {
                &page.locale
            };
            let body = phone_page(&PhoneForm {
                locale,
                brand: &brand,
                page: &page.seal(&app.secret),
                pow: &pow,
                mobile_no: "",
                error: None,
                again: false,
            });
            html(200, body, Some(&page.redirect_uri))
        }
        // Told in the user's words: the app that sent them here is at fault.
        Err(AuthorizeRefusal::Shown(_)) => {
            message_page(403, params.page_locale().unwrap_or("en"), "refused")
        }
        Err(AuthorizeRefusal::Redirected {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            let mut answer = vec![("error", error), ("error_description", description)];
            if let Some(state) = &state {
                answer.push(("state", state));
            }
            let iss = issuer(app, request).ok();
            if let Some(iss) = &iss {
                answer.push(("iss", iss));
            }
            see_other(&with_query(&redirect_uri, &answer))
        }
        Err(AuthorizeRefusal::Failed(e)) => {
            let status = e.status();
            message_page(status, "en", refusal_key(&e))
        }
    }
}

/// A 303 to `location`.
fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `POST /oauth2/authorize/code`: texts a code, after a proof of work.
pub(super) async fn send_code(app: &App, request: &Request) -> Response<Body> {
    let Some((f, page, sealed)) = page_fields(app, request) else {
        return message_page(403, "en", "page_expired");
    };
    let mobile_no = text(&f, "mobile_no");
    // What the page shows back: only what a number can look like, so that
    // no other site's post writes words on the service's page.
    let shown_number = echoed(&f, "mobile_no");
    let locale = locale_for(&page, &mobile_no);
    let pow = app.page_pow(&page.client_id);
    let sent = app
        .page_send(
            &page,
            &mobile_no,
            &text(&f, "altcha"),
            source_ip(request),
            issuer(app, request).ok(),
        )
        .await;
    match sent {
        Ok(PageSent::DearerProof(dearer)) => {
            let body = phone_page(&PhoneForm {
                locale: &locale,
                brand: &app.page_brand(&page.client_id).await,
                page: &sealed,
                pow: &dearer,
                mobile_no: &shown_number,
                error: None,
                again: !shown_number.is_empty(),
            });
            html(200, body, Some(&page.redirect_uri))
        }
        Ok(PageSent::Sent(sent)) => {
            let form = CodeForm {
                locale: &locale,
                page: &sealed,
                mobile_no: &mobile_no,
                token: &sent.token,
                ref_code: &sent.ref_code,
                resend_after: sent.resend_after,
                pow: &pow,
            };
            html(200, code_page(&form, None), Some(&page.redirect_uri))
        }
        Err(e) => {
            let w = words(&locale);
            let brand = app.page_brand(&page.client_id).await;
            let body = phone_page(&PhoneForm {
                locale: &locale,
                brand: &brand,
                page: &sealed,
                pow: &pow,
                mobile_no: &shown_number,
                error: Some(&w[refusal_key(&e)]),
                again: false,
            });
            let mut response = html(page_status(&e), body, Some(&page.redirect_uri));
            if let Some(secs) = e.retry_after() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    }
}

/// `POST /oauth2/authorize/confirm`: checks the code; on success a 303 to
/// the client with the authorization code.
pub(super) async fn confirm_code(app: &App, request: &Request) -> Response<Body> {
    let Some((f, page, sealed)) = page_fields(app, request) else {
        return message_page(403, "en", "page_expired");
    };
    let token = text(&f, "token");
    let confirmed = match issuer(app, request) {
        Ok(iss) => {
            app.page_confirm(&page, &token, &text(&f, "otp"), &iss)
                .await
        }
        Err(e) => Err(e),
    };
    match confirmed {
        Ok(location) => see_other(&location),
        Err(e) => {
            let mobile_no = echoed(&f, "mobile_no");
            let locale = locale_for(&page, &mobile_no);
            let w = words(&locale);
            let pow = app.page_pow(&page.client_id);
            let form = CodeForm {
                locale: &locale,
                page: &sealed,
                mobile_no: &mobile_no,
                token: &token,
                ref_code: &echoed(&f, "ref_code"),
                resend_after: 0,
                pow: &pow,
            };
            html(
                page_status(&e),
                code_page(&form, Some(&w[refusal_key(&e)])),
                Some(&page.redirect_uri),
            )
        }
    }
}

/// The page's script or style sheet.
pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_word() {
        let parsed = |text: &str| -> HashMap<String, String> {
            serde_json::from_str(text).expect("a page's words are a JSON object of strings")
        };
        let english: Vec<String> = parsed(STRINGS[0].1).into_keys().collect();
        assert!(english.len() > 10);
        for (locale, text) in STRINGS {
            let mut keys: Vec<String> = parsed(text).into_keys().collect();
            let mut expected = english.clone();
            keys.sort();
            expected.sort();
            assert_eq!(keys, expected, "{locale}");
        }
    }

    #[test]
    fn a_forms_redirect_may_reach_the_clients_origin_only() {
        assert_eq!(
            form_action(Some("https://app.example.com:8443/cb?x=1")),
            "'self' https://app.example.com:8443"
        );
        assert_eq!(
            form_action(Some("com.example.app:/callback")),
            "'self' com.example.app:"
        );
        assert_eq!(form_action(None), "'self'");
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
