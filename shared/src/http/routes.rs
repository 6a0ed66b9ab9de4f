//! Which function serves which route: the tables `template.yaml` declares,
//! one per function, each with its own entry. A Lambda binary calls only its
//! own entry, so it links only its own routes' handlers (and, through the
//! ports it wires, only its own SDK clients); the local server plays API
//! Gateway in front of all three.

use super::{delivery, esms, native, oauth, oneid, page, thaibulksms};
use crate::{App, Error};
use lambda_http::http::{HeaderValue, Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response};
use std::convert::Infallible;
use thaibulksms::Version;

/// The Lambda functions that serve routes (delivery-events also takes
/// the providers' events that are not HTTP requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    RequestOtp,
    ConfirmOtp,
    IssueToken,
    DeliveryEvents,
}

/// request-otp's routes: a code asked for, in each dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeRequest {
    /// The native request, and ThaiBulkSMS v1's on the same path: see
    /// [`request_otp`].
    Native,
    OneId,
    ThaiBulkSms(Version),
    EsmsGencode,
    /// The hosted page (DESIGN §14): its request, its code request, and
    /// its script and style sheet.
    Authorize,
    PageSend,
    PageScript,
    PageStyle,
}

/// confirm-otp's routes: a code checked, in each dialect, and what became
/// of its SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeCheck {
    Native,
    NativeStatus,
    OneId,
    ThaiBulkSms(Version),
    EsmsCheckcode,
    /// The hosted page's code check.
    PageConfirm,
}

/// issue-token's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenRoute {
    Token,
    Revoke,
    Jwks,
    Discovery,
}

/// delivery-events' routes: the providers' callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callback {
    Esms,
    ThaiBulkSms,
    Webhook,
}

/// A route's path, or a pattern whose last segment is `{ticket}`: any one
/// segment.
type Routes<R> = &'static [(Method, &'static str, R)];

/// The segment a route's last may be, whatever its value.
const TICKET: &str = "{ticket}";

/// Whether `path` is the route path (or pattern) `route`.
fn path_is(route: &str, path: &str) -> bool {
    match route.strip_suffix(TICKET) {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|last| !last.is_empty() && !last.contains('/')),
        None => route == path,
    }
}

const REQUEST_OTP_ROUTES: Routes<CodeRequest> = &[
    (Method::POST, "/v1/otp/request", CodeRequest::Native),
    (
        Method::POST,
        "/api/v1/citizen/oauth/mobile-and-idcard",
        CodeRequest::OneId,
    ),
    (
        Method::POST,
        "/v2/otp/request",
        CodeRequest::ThaiBulkSms(Version::V2),
    ),
    (
        Method::GET,
        "/MainService.svc/json/SendMessageAutoGenCode_V4_get",
        CodeRequest::EsmsGencode,
    ),
    (Method::GET, "/oauth2/authorize", CodeRequest::Authorize),
    (
        Method::POST,
        "/oauth2/authorize/code",
        CodeRequest::PageSend,
    ),
    (Method::GET, "/oauth2/page.js", CodeRequest::PageScript),
    (Method::GET, "/oauth2/page.css", CodeRequest::PageStyle),
];

const CONFIRM_OTP_ROUTES: Routes<CodeCheck> = &[
    (Method::POST, "/v1/otp/confirm", CodeCheck::Native),
    (Method::POST, "/v1/otp/status", CodeCheck::NativeStatus),
    (
        Method::POST,
        "/api/v1/citizen/oauth/mobile-and-idcard/otp/confirm",
        CodeCheck::OneId,
    ),
    (
        Method::POST,
        "/v1/otp/verify",
        CodeCheck::ThaiBulkSms(Version::V1),
    ),
    (
        Method::POST,
        "/v2/otp/verify",
        CodeCheck::ThaiBulkSms(Version::V2),
    ),
    (
        Method::GET,
        "/MainService.svc/json/CheckCodeGen_V4_get",
        CodeCheck::EsmsCheckcode,
    ),
    (
        Method::POST,
        "/oauth2/authorize/confirm",
        CodeCheck::PageConfirm,
    ),
];

const DELIVERY_EVENTS_ROUTES: Routes<Callback> = &[
    (Method::GET, "/v1/delivery/esms/{ticket}", Callback::Esms),
    (
        Method::GET,
        "/v1/delivery/thaibulksms/{ticket}",
        Callback::ThaiBulkSms,
    ),
    (
        Method::POST,
        "/v1/delivery/thaibulksms/{ticket}",
        Callback::ThaiBulkSms,
    ),
    (
        Method::POST,
        "/v1/delivery/webhook/{ticket}",
        Callback::Webhook,
    ),
];

const ISSUE_TOKEN_ROUTES: Routes<TokenRoute> = &[
    (Method::POST, "/v1/oauth/token", TokenRoute::Token),
    (Method::POST, "/v1/oauth/revoke", TokenRoute::Revoke),
    (Method::GET, "/.well-known/jwks.json", TokenRoute::Jwks),
    (
        Method::GET,
        "/.well-known/openid-configuration",
        TokenRoute::Discovery,
    ),
];

/// The route of `routes` that `request` names; 405 for a path of theirs asked
/// with another method, 404 for any other path (API Gateway's answer).
fn route<R: Copy>(routes: Routes<R>, request: &Request) -> Result<R, Error> {
    let (method, path) = (request.method(), request.uri().path());
    let mut path_known = false;
    for (m, p, r) in routes {
        if path_is(p, path) {
            if m == method {
                return Ok(*r);
            }
            path_known = true;
        }
    }
    Err(if path_known {
        Error::MethodNotAllowed
    } else {
        Error::RouteNotFound
    })
}

/// A request no route of `routes` takes, refused in the native format; a
/// 405 lists the methods the path answers in `Allow` (RFC 9110 §15.5.6).
fn unrouted<R>(routes: Routes<R>, request: &Request, error: &Error) -> Response<Body> {
    let mut response = native::failure(error);
    if *error == Error::MethodNotAllowed {
        let path = request.uri().path();
        let allow: Vec<&str> = routes
            .iter()
            .filter(|(_, p, _)| path_is(p, path))
            .map(|(m, _, _)| m.as_str())
            .collect();
        if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    response
}

/// With an edge (the stack's CloudFront distribution and its web ACL, docs/deploying.md
/// "Throttling and the edge"), a request that did not come through it (no
/// `X-Origin-Verify`, or another) is answered as a route that does not
/// exist, before anything is read or counted: nobody walks around the web
/// ACL's per-address limit by calling API Gateway directly. One that came
/// through it is counted by the address its viewer connected from, which
/// the edge's function writes in `x-edge-viewer-address`; API Gateway's is
/// the edge's own.
fn through_edge(app: &App, mut request: Request) -> Result<Request, Error> {
    let Some(edge) = &app.config.edge else {
        return Ok(request);
    };
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if !edge.verifies(&header(ORIGIN_VERIFY).unwrap_or_default()) {
        return Err(Error::RouteNotFound);
    }
    let viewer = header(VIEWER_ADDRESS);
    if let Some(RequestContext::ApiGatewayV2(context)) =
        request.extensions_mut().get_mut::<RequestContext>()
    {
        context.http.source_ip = viewer;
    }
    Ok(request)
}

/// The header in which the edge proves a request came through it.
const ORIGIN_VERIFY: &str = "x-origin-verify";
/// The header in which the edge's function names the viewer's address.
const VIEWER_ADDRESS: &str = "x-edge-viewer-address";

/// request-otp's entry.
pub async fn request_otp(app: &App, request: Request) -> Response<Body> {
    let request = match through_edge(app, request) {
        Ok(request) => request,
        Err(refused) => return native::failure(&refused),
    };
    match route(REQUEST_OTP_ROUTES, &request) {
        // ThaiBulkSMS v1 shares the native path; told apart by its fields.
        Ok(CodeRequest::Native) if thaibulksms::is_v1_request(&request).await => {
            thaibulksms::request_otp(app, &request, Version::V1).await
        }
        Ok(CodeRequest::Native) => native::request_otp(app, &request).await,
        Ok(CodeRequest::OneId) => oneid::request_otp(app, &request).await,
        Ok(CodeRequest::ThaiBulkSms(version)) => {
            thaibulksms::request_otp(app, &request, version).await
        }
        Ok(CodeRequest::EsmsGencode) => esms::gencode(app, &request).await,
        Ok(CodeRequest::Authorize) => page::authorize(app, &request).await,
        Ok(CodeRequest::PageSend) => page::send_code(app, &request).await,
        Ok(CodeRequest::PageScript) => page::asset("text/javascript", page::SCRIPT),
        Ok(CodeRequest::PageStyle) => page::asset("text/css", page::STYLE),
        Err(e) => unrouted(REQUEST_OTP_ROUTES, &request, &e),
    }
}

/// confirm-otp's entry.
pub async fn confirm_otp(app: &App, request: Request) -> Response<Body> {
    let request = match through_edge(app, request) {
        Ok(request) => request,
        Err(refused) => return native::failure(&refused),
    };
    match route(CONFIRM_OTP_ROUTES, &request) {
        Ok(CodeCheck::Native) => native::confirm_otp(app, &request).await,
        Ok(CodeCheck::NativeStatus) => native::otp_status(app, &request).await,
        Ok(CodeCheck::OneId) => oneid::confirm_otp(app, &request).await,
        Ok(CodeCheck::ThaiBulkSms(version)) => {
            thaibulksms::verify_otp(app, &request, version).await
        }
        Ok(CodeCheck::EsmsCheckcode) => esms::checkcode(app, &request).await,
        Ok(CodeCheck::PageConfirm) => page::confirm_code(app, &request).await,
        Err(e) => unrouted(CONFIRM_OTP_ROUTES, &request, &e),
    }
}

/// issue-token's entry. The public keys and the discovery document are
/// served to anyone, the edge or not: JWT authorizers and relying parties
/// fetch them from the issuer.
///
/// Every one of its answers may be read by a page of any origin (CORS,
/// RFC 9700 §2.6): a single-page app exchanges its code and refreshes
/// from the browser. None of these routes acts on a cookie or other
/// ambient credential, so a page of another origin reads only what it
/// could ask for itself. The authorization endpoint, which a browser is
/// sent to and never fetches, answers no origin.
pub async fn issue_token(app: &App, request: Request) -> Response<Body> {
    let route = route(ISSUE_TOKEN_ROUTES, &request);
    let mut response = token_route(app, &route, request).await;
    if route.is_ok() {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

async fn token_route(
    app: &App,
    route: &Result<TokenRoute, Error>,
    request: Request,
) -> Response<Body> {
    let request = match route {
        Ok(TokenRoute::Token | TokenRoute::Revoke) => match through_edge(app, request) {
            Ok(request) => request,
            Err(refused) => return native::failure(&refused),
        },
        _ => request,
    };
    match route {
        Ok(TokenRoute::Token) => oauth::token(app, &request).await,
        Ok(TokenRoute::Revoke) => oauth::revoke(app, &request).await,
        Ok(TokenRoute::Jwks) => oauth::jwks(app).await,
        Ok(TokenRoute::Discovery) => oauth::discovery(app, &request),
        Err(e) => unrouted(ISSUE_TOKEN_ROUTES, &request, e),
    }
}

/// delivery-events' entry for HTTP requests: the providers' callbacks.
pub async fn delivery_events(app: &App, request: Request) -> Response<Body> {
    let request = match through_edge(app, request) {
        Ok(request) => request,
        Err(refused) => return native::failure(&refused),
    };
    match route(DELIVERY_EVENTS_ROUTES, &request) {
        Ok(Callback::Esms) => delivery::esms(app, &request).await,
        Ok(Callback::ThaiBulkSms) => delivery::thaibulksms(app, &request).await,
        Ok(Callback::Webhook) => delivery::webhook(app, &request).await,
        Err(e) => unrouted(DELIVERY_EVENTS_ROUTES, &request, &e),
    }
}

/// `function`'s entry, chosen at run time: for tests and the local server.
/// A route of another function is answered 404, as API Gateway would.
pub async fn handle(
    app: &App,
    function: Function,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(match function {
        Function::RequestOtp => request_otp(app, request).await,
        Function::ConfirmOtp => confirm_otp(app, request).await,
        Function::IssueToken => issue_token(app, request).await,
        Function::DeliveryEvents => delivery_events(app, request).await,
    })
}

impl Function {
    /// The function whose table holds `path`.
    fn serving(path: &str) -> Option<Self> {
        fn holds<R>(routes: Routes<R>, path: &str) -> bool {
            routes.iter().any(|(_, p, _)| path_is(p, path))
        }
        if holds(REQUEST_OTP_ROUTES, path) {
            Some(Self::RequestOtp)
        } else if holds(CONFIRM_OTP_ROUTES, path) {
            Some(Self::ConfirmOtp)
        } else if holds(ISSUE_TOKEN_ROUTES, path) {
            Some(Self::IssueToken)
        } else if holds(DELIVERY_EVENTS_ROUTES, path) {
            Some(Self::DeliveryEvents)
        } else {
            None
        }
    }
}

/// `path` when some function serves it, as its routes name it (a ticket as
/// `{ticket}`): what a log may say of a request's path (an unknown path may
/// be anything the caller typed, a number or a code included).
pub fn route_served(path: &str) -> Option<&'static str> {
    fn paths<R>(routes: Routes<R>) -> impl Iterator<Item = &'static str> {
        routes.iter().map(|(_, p, _)| *p)
    }
    paths(REQUEST_OTP_ROUTES)
        .chain(paths(CONFIRM_OTP_ROUTES))
        .chain(paths(ISSUE_TOKEN_ROUTES))
        .chain(paths(DELIVERY_EVENTS_ROUTES))
        .find(|served| path_is(served, path))
}

/// Every route of every function: for the local server, which plays API
/// Gateway in front of all of them.
pub async fn handle_any(app: &App, request: Request) -> Response<Body> {
    match Function::serving(request.uri().path()) {
        Some(function) => handle(app, function, request)
            .await
            .unwrap_or_else(|never| match never {}),
        None => native::failure(&Error::RouteNotFound),
    }
}

/// Every (method, path) some function serves.
#[cfg(test)]
pub(super) fn served() -> Vec<(Method, &'static str)> {
    fn pairs<R>(routes: Routes<R>) -> impl Iterator<Item = (Method, &'static str)> {
        routes.iter().map(|(m, p, _)| (m.clone(), *p))
    }
    pairs(REQUEST_OTP_ROUTES)
        .chain(pairs(CONFIRM_OTP_ROUTES))
        .chain(pairs(ISSUE_TOKEN_ROUTES))
        .chain(pairs(DELIVERY_EVENTS_ROUTES))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request {
        let mut request = Request::new(Body::Empty);
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    #[test]
    fn each_path_belongs_to_one_function() {
        let mut paths: Vec<&str> = served().into_iter().map(|(_, p)| p).collect();
        paths.sort_unstable();
        paths.dedup();
        let holds = |routes: &[&str], path| routes.contains(&path);
        let paths_of = |function| -> Vec<&str> {
            match function {
                Function::RequestOtp => REQUEST_OTP_ROUTES.iter().map(|r| r.1).collect(),
                Function::ConfirmOtp => CONFIRM_OTP_ROUTES.iter().map(|r| r.1).collect(),
                Function::IssueToken => ISSUE_TOKEN_ROUTES.iter().map(|r| r.1).collect(),
                Function::DeliveryEvents => DELIVERY_EVENTS_ROUTES.iter().map(|r| r.1).collect(),
            }
        };
        for path in paths {
            let holders = [
                Function::RequestOtp,
                Function::ConfirmOtp,
                Function::IssueToken,
                Function::DeliveryEvents,
            ]
            .map(|f| holds(&paths_of(f), path));
            assert_eq!(holders.iter().filter(|h| **h).count(), 1, "{path}");
            let function = Function::serving(path).expect("a function serves it");
            assert!(holds(&paths_of(function), path), "{path}");
        }
        assert_eq!(
            Function::serving("/.well-known/jwks.json"),
            Some(Function::IssueToken)
        );
        assert_eq!(Function::serving("/v1/otp/nope"), None);
    }

    #[test]
    fn a_ticket_route_takes_one_segment_of_any_value() {
        let get = |path| route(DELIVERY_EVENTS_ROUTES, &request(Method::GET, path));
        assert_eq!(get("/v1/delivery/esms/abc.def"), Ok(Callback::Esms));
        for path in [
            "/v1/delivery/esms/",
            "/v1/delivery/esms/a/b",
            "/v1/delivery/esms",
        ] {
            assert_eq!(get(path), Err(Error::RouteNotFound), "{path}");
        }
        assert_eq!(
            route_served("/v1/delivery/webhook/secret.ticket"),
            Some("/v1/delivery/webhook/{ticket}"),
            "a log names the route, never the ticket"
        );
    }

    #[test]
    fn a_function_finds_its_own_routes_and_refuses_the_rest() {
        let post = |path| request(Method::POST, path);
        assert_eq!(
            route(REQUEST_OTP_ROUTES, &post("/v1/otp/request")),
            Ok(CodeRequest::Native)
        );
        assert_eq!(
            route(REQUEST_OTP_ROUTES, &request(Method::GET, "/v1/otp/request")),
            Err(Error::MethodNotAllowed)
        );
        // Another function's route is unknown here, as behind API Gateway.
        assert_eq!(
            route(REQUEST_OTP_ROUTES, &post("/v1/otp/confirm")),
            Err(Error::RouteNotFound)
        );
        let refused = unrouted(
            REQUEST_OTP_ROUTES,
            &request(Method::GET, "/v1/otp/request"),
            &Error::MethodNotAllowed,
        );
        assert_eq!(refused.status(), 405);
        assert_eq!(refused.headers()[header::ALLOW], "POST");
    }
}
