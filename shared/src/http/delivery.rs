//! delivery-events' routes: the providers that report by calling a URL
//! (DESIGN §13.3) call `/v1/delivery/<kind>/{ticket}`, the ticket the SMS
//! was sent with (`delivery::callback`). A ticket this deployment did not
//! seal is answered as a route that does not exist, and nothing is read.

use super::native::failure;
use super::{fields, json_response, query_fields};
use crate::delivery::callback::{Ticket, esms_state, thaibulksms_state, webhook_state};
use crate::delivery::{Report, Subject};
use crate::domain::delivery::{DeliveryEvent, DeliveryState};
use crate::{App, Error};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// The ticket of the request's path (its last segment), if sealed here for
/// `provider` and still taken: else nothing of the request is read.
fn ticket<'r>(app: &App, request: &'r Request, provider: &str) -> Result<&'r str, Error> {
    let path = request.uri().path();
    let last = path.rsplit('/').next().unwrap_or_default();
    Ticket::open(last, &app.secret, provider, app.clock.now_ms())
        .map(|_| last)
        .ok_or(Error::RouteNotFound)
}

/// Folds `state` reported by `provider` into the ticket's challenge.
async fn record(
    app: &App,
    ticket: &str,
    provider: &str,
    (state, reason): (DeliveryState, Option<&'static str>),
) -> Response<Body> {
    let report = Report {
        subject: Subject::Sealed {
            ticket: ticket.to_string(),
        },
        event: DeliveryEvent {
            state,
            reason: reason.map(str::to_string),
            provider: provider.to_string(),
            at_ms: app.clock.now_ms(),
        },
        message_id: None,
    };
    match app.record_reports(&[report]).await {
        Ok(_) => json_response(200, &json!({"result": "Success"}), false),
        Err(e) => failure(&e),
    }
}

/// eSMS's callback: `GET …?SMSID=…&SendStatus=…&SendSuccess=…&SendFailed=…`.
pub(super) async fn esms(app: &App, request: &Request) -> Response<Body> {
    let read = async {
        let ticket = ticket(app, request, "esms")?;
        let f = query_fields(request)?.with_names_in_lower_case();
        let text = |name: &'static str| -> Result<String, Error> {
            Ok(f.optional(name, "eSMS's callback fields are text")?
                .unwrap_or_default())
        };
        let state = esms_state(
            &text("sendstatus")?,
            &text("sendsuccess")?,
            &text("sendfailed")?,
        )
        .ok_or(Error::InvalidRequest(
            "SendStatus is not one eSMS documents",
        ))?;
        Ok((ticket, state))
    };
    match read.await {
        Ok((ticket, state)) => record(app, ticket, "esms", state).await,
        Err(e) => failure(&e),
    }
}

/// ThaiBulkSMS's callback, `GET` with its fields in the query, or `POST`
/// with them in a form or JSON body (its dashboard offers both methods):
/// only the `status` word is read (`delivery::callback`).
pub(super) async fn thaibulksms(app: &App, request: &Request) -> Response<Body> {
    let read = async {
        let ticket = ticket(app, request, "thaibulksms")?;
        let f = if request.method() == Method::GET {
            query_fields(request)?
        } else {
            fields(request, true)?
        }
        .with_names_in_lower_case();
        let status = f
            .optional("status", "ThaiBulkSMS's callback status is text")?
            .unwrap_or_default();
        let state = thaibulksms_state(&status).ok_or(Error::InvalidRequest(
            "status is not a word of a message's fate",
        ))?;
        Ok((ticket, state))
    };
    match read.await {
        Ok((ticket, state)) => record(app, ticket, "thaibulksms", state).await,
        Err(e) => failure(&e),
    }
}

/// A webhook receiver's report: `POST {"delivery": state, "reason": word}`.
pub(super) async fn webhook(app: &App, request: &Request) -> Response<Body> {
    let read = async {
        let ticket = ticket(app, request, "webhook")?;
        let f = fields(request, false)?.only(&["delivery", "reason"])?;
        let delivery = f.required(
            "delivery",
            "delivery is required",
            "delivery must be a string",
        )?;
        let reason = f.optional("reason", "reason must be a string")?;
        let state = webhook_state(&delivery, reason.as_deref()).ok_or(Error::InvalidRequest(
            "delivery must be sent, delivered, failed, blocked, expired or unknown",
        ))?;
        Ok((ticket, state))
    };
    match read.await {
        Ok((ticket, state)) => record(app, ticket, "webhook", state).await,
        Err(e) => failure(&e),
    }
}
