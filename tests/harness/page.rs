//! The hosted page (DESIGN §14) as a browser and ALTCHA's widget use it:
//! its forms' fields read from its HTML, its proof of work solved, its forms
//! encoded as a browser posts them.

use aws_lc_rs::digest;
use base64::Engine;
use serde_json::{Value, json};
use std::io::Write;

/// `value` percent-encoded for a query or a form.
pub fn encode(value: &str) -> String {
    otp_shared::service::with_query("", &[("v", value)])[3..].to_string()
}

/// A form body of `fields`, as a browser posts one.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(n, v)| format!("{n}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the form field `name` in `html`, unescaped.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The page's proof-of-work challenge (ALTCHA's: algorithm, challenge,
/// salt, signature, maxnumber).
pub fn pow_challenge(html: &str) -> Value {
    let start = html.find("data-pow=\"").unwrap() + "data-pow=\"".len();
    let end = start + html[start..].find('"').unwrap();
    serde_json::from_str(&unescape(&html[start..end])).unwrap()
}

/// The page's proof of work, solved as ALTCHA's solver does (every number
/// from 0 until the salt and the number hash to the challenge), in the form
/// ALTCHA's widget sends.
pub fn solved(html: &str) -> String {
    let challenge = pow_challenge(html);
    let salt = challenge["salt"].as_str().unwrap();
    let target = challenge["challenge"].as_str().unwrap();
    let digest_wanted: Vec<u8> = (0..target.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&target[i..i + 2], 16).unwrap())
        .collect();
    let mut input = salt.as_bytes().to_vec();
    let number = (0..=challenge["maxnumber"].as_u64().unwrap())
        .find(|n| {
            input.truncate(salt.len());
            write!(input, "{n}").unwrap();
            digest::digest(&digest::SHA256, &input).as_ref() == digest_wanted
        })
        .expect("a solution");
    let payload = json!({"algorithm": challenge["algorithm"], "challenge": target,
        "number": number, "salt": salt, "signature": challenge["signature"]});
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}
