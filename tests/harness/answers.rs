//! Records every request the handlers answer in the tests and the answer, so
//! that `make test` can hold both to `openapi.json`
//! (`tests/openapi_from_answers.py`): every answer must be one the document
//! describes, and every request the service accepted one it allows. On only
//! when `OTP_API_ANSWERS` names a directory; each test process appends JSON
//! lines to a file of its own there.

use crate::body_bytes;
use lambda_http::{Body, Request, Response};
use otp_shared::domain::keys::b64;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

fn sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| crate::process_jsonl("OTP_API_ANSWERS"))
        .as_ref()
}

fn headers(map: &lambda_http::http::HeaderMap) -> Value {
    let mut object = Map::new();
    for (name, value) in map {
        object.insert(
            name.as_str().to_string(),
            json!(String::from_utf8_lossy(value.as_bytes())),
        );
    }
    Value::Object(object)
}

/// A request as the handler gets it, kept until its answer comes.
pub struct Asked(Option<Value>);

impl Asked {
    pub fn of(request: &Request) -> Self {
        Self(sink().map(|_| {
            json!({
                "method": request.method().as_str(),
                "path": request.uri().path(),
                "query": request.uri().query().unwrap_or(""),
                "request_headers": headers(request.headers()),
                "request_body": b64(body_bytes(request.body())),
            })
        }))
    }

    pub fn record(self, response: &Response<Body>) {
        let (Some(mut line), Some(sink)) = (self.0, sink()) else {
            return;
        };
        line["status"] = json!(response.status().as_u16());
        line["headers"] = headers(response.headers());
        line["body"] = json!(String::from_utf8_lossy(body_bytes(response.body())));
        writeln!(sink.lock().unwrap(), "{line}").expect("the answers file is writable");
    }
}
