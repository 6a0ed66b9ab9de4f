//! Fuzz target that reaches the logic: each case starts from a valid code
//! request of one dialect, mutates it (a field dropped, emptied, retyped or
//! given again in another case; the number spelled another way or broken;
//! another encoding; an unknown field), sends it through the real handler,
//! and, when a code went out, confirms it with a code mutated from the right
//! one (a digit off, one short or long, lower case, padded, full-width, or
//! left as it is). Never a 5xx; a confirm succeeds exactly when its code,
//! trimmed and in upper case, is the one texted. Prints how many cases
//! reached sending and confirming; `make fuzz` runs many more cases.

use otp_integration_tests::dialects::{Dialect, Encoding, ID_CARD};
use otp_integration_tests::{CLIENT_ID, TestApp, call, request_of};
use otp_shared::http::Function;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone)]
enum Mutation {
    Keep,
    Drop(usize),
    Empty(usize),
    Number(usize),
    Garbage(usize, String),
    TwiceInAnotherCase(usize),
    UnknownField,
    PhoneSpelling(usize),
    BrokenPhone(String),
}

#[derive(Debug, Clone)]
enum CodeMutation {
    Right,
    DigitOff(usize),
    OneShort,
    OneLong,
    LowerCase,
    Padded,
    FullWidth,
    Other(String),
}

const PHONE_DIGITS: &str = "812345678";

/// Ways to write +66 812345678 that the service reads as that number.
fn spelling(index: usize) -> String {
    let spellings = [
        format!("0{PHONE_DIGITS}"),
        format!("+66{PHONE_DIGITS}"),
        format!("66{PHONE_DIGITS}"),
        format!("0066{PHONE_DIGITS}"),
        "081-234-5678".to_string(),
        "081 234 5678".to_string(),
        "(081) 234.5678".to_string(),
        "０８１２３４５６７８".to_string(),
    ];
    spellings[index % spellings.len()].clone()
}

fn mutate(fields: &mut Vec<(String, Value)>, mutation: &Mutation, dialect: Dialect) {
    let at = |i: usize, fields: &Vec<(String, Value)>| i % fields.len();
    match mutation {
        Mutation::Keep => {}
        Mutation::Drop(i) => {
            let i = at(*i, fields);
            fields.remove(i);
        }
        Mutation::Empty(i) => {
            let i = at(*i, fields);
            fields[i].1 = json!("");
        }
        Mutation::Number(i) => {
            let i = at(*i, fields);
            fields[i].1 = json!(12345);
        }
        Mutation::Garbage(i, text) => {
            let i = at(*i, fields);
            fields[i].1 = json!(text);
        }
        Mutation::TwiceInAnotherCase(i) => {
            let i = at(*i, fields);
            let (name, value) = fields[i].clone();
            fields.push((name.to_uppercase(), value));
        }
        Mutation::UnknownField => fields.push(("nickname".into(), json!("x"))),
        Mutation::PhoneSpelling(i) => {
            let name = dialect.phone_field();
            if let Some(field) = fields.iter_mut().find(|(k, _)| k == name) {
                field.1 = json!(spelling(*i));
            }
        }
        Mutation::BrokenPhone(text) => {
            let name = dialect.phone_field();
            if let Some(field) = fields.iter_mut().find(|(k, _)| k == name) {
                field.1 = json!(text);
            }
        }
    }
}

fn mutate_code(code: &str, mutation: &CodeMutation) -> String {
    match mutation {
        CodeMutation::Right => code.to_string(),
        CodeMutation::DigitOff(i) => {
            let i = i % code.len();
            let mut bytes = code.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'9' { b'0' } else { bytes[i] + 1 };
            String::from_utf8(bytes).unwrap()
        }
        CodeMutation::OneShort => code[..code.len() - 1].to_string(),
        CodeMutation::OneLong => format!("{code}7"),
        CodeMutation::LowerCase => code.to_lowercase(),
        CodeMutation::Padded => format!(" {code} "),
        CodeMutation::FullWidth => code
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
            .collect(),
        CodeMutation::Other(text) => text.clone(),
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        5 => Just(Mutation::Keep),
        3 => any::<usize>().prop_map(Mutation::PhoneSpelling),
        1 => any::<usize>().prop_map(Mutation::Drop),
        1 => any::<usize>().prop_map(Mutation::Empty),
        1 => any::<usize>().prop_map(Mutation::Number),
        1 => (any::<usize>(), ".{0,12}").prop_map(|(i, t)| Mutation::Garbage(i, t)),
        1 => any::<usize>().prop_map(Mutation::TwiceInAnotherCase),
        1 => Just(Mutation::UnknownField),
        1 => "[0-9+ ()-]{0,16}".prop_map(Mutation::BrokenPhone),
    ]
}

fn code_mutation() -> impl Strategy<Value = CodeMutation> {
    prop_oneof![
        3 => Just(CodeMutation::Right),
        3 => any::<usize>().prop_map(CodeMutation::DigitOff),
        1 => Just(CodeMutation::OneShort),
        1 => Just(CodeMutation::OneLong),
        1 => Just(CodeMutation::LowerCase),
        1 => Just(CodeMutation::Padded),
        1 => Just(CodeMutation::FullWidth),
        1 => "[0-9A-Za-z ]{0,12}".prop_map(CodeMutation::Other),
    ]
}

fn case() -> impl Strategy<Value = (Dialect, Encoding, Vec<Mutation>, Vec<CodeMutation>)> {
    (
        prop::sample::select(vec![
            Dialect::Native,
            Dialect::OneId,
            Dialect::ThaiBulkSmsV1,
            Dialect::ThaiBulkSmsV2,
            Dialect::Esms,
        ]),
        prop::sample::select(vec![Encoding::Json, Encoding::Form, Encoding::Query]),
        proptest::collection::vec(mutation(), 1..3),
        proptest::collection::vec(code_mutation(), 1..4),
    )
}

static CASES: AtomicUsize = AtomicUsize::new(0);
static SENT: AtomicUsize = AtomicUsize::new(0);
static CONFIRMS_EVALUATED: AtomicUsize = AtomicUsize::new(0);
static LOGGED_IN: AtomicUsize = AtomicUsize::new(0);

async fn run_case(
    dialect: Dialect,
    encoding: Encoding,
    mutations: &[Mutation],
    codes: &[CodeMutation],
) -> Result<(), TestCaseError> {
    let t = TestApp::memory().await;
    let phone = format!("0{PHONE_DIGITS}");
    t.register(CLIENT_ID, &phone, ID_CARD, "acc", "user").await;
    let mut fields = dialect.code_request(&phone);
    for m in mutations {
        mutate(&mut fields, m, dialect);
    }
    // The native API and One ID take no query strings; eSMS only them.
    let encoding = match (dialect, encoding) {
        (Dialect::Native, _) => Encoding::Json,
        (Dialect::OneId, Encoding::Query) => Encoding::Form,
        _ => encoding,
    };
    let e = dialect.event(dialect.request_event(), &fields, encoding);
    CASES.fetch_add(1, Ordering::Relaxed);
    let sent = call(&t.app, Function::RequestOtp, request_of(e)).await;
    prop_assert!(sent.status < 500, "{dialect:?}: {sent:?}");
    let Some(sms) = t.outbox.entries().pop() else {
        prop_assert!(
            !dialect.succeeded(&sent),
            "answered as sent, nothing sent: {sent:?}"
        );
        return Ok(());
    };
    prop_assert!(
        dialect.succeeded(&sent),
        "sent, answered otherwise: {sent:?}"
    );
    SENT.fetch_add(1, Ordering::Relaxed);
    let mut spent = false;
    for mutation in codes {
        let otp = mutate_code(&sms.code, mutation);
        let fields = dialect.confirm(&sent.body, &phone, &otp);
        let e = dialect.event(dialect.confirm_event(), &fields, Encoding::Json);
        let answer = call(&t.app, Function::ConfirmOtp, request_of(e)).await;
        prop_assert!(answer.status < 500, "{dialect:?}: {answer:?}");
        let right = otp.trim().to_ascii_uppercase() == sms.code;
        let well_formed = (4..=10).contains(&otp.trim().len())
            && otp.trim().bytes().all(|b| b.is_ascii_alphanumeric());
        if well_formed {
            CONFIRMS_EVALUATED.fetch_add(1, Ordering::Relaxed);
        }
        // At most three tries: within the five attempts a challenge allows.
        let expected = right && !spent;
        prop_assert_eq!(
            dialect.succeeded(&answer),
            expected,
            "{:?}: code {:?} for {:?}: {:?}",
            dialect,
            otp,
            sms.code,
            answer
        );
        if expected {
            LOGGED_IN.fetch_add(1, Ordering::Relaxed);
            spent = true;
        }
    }
    Ok(())
}

#[test]
fn fuzz_mutated_valid_requests_reach_sending_and_confirming() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config::default());
    runner
        .run(&case(), |(dialect, encoding, mutations, codes)| {
            runtime.block_on(run_case(dialect, encoding, &mutations, &codes))
        })
        .unwrap();
    let cases = CASES.load(Ordering::Relaxed);
    let sent = SENT.load(Ordering::Relaxed);
    let evaluated = CONFIRMS_EVALUATED.load(Ordering::Relaxed);
    let logged_in = LOGGED_IN.load(Ordering::Relaxed);
    println!(
        "{cases} cases: {sent} reached sending ({:.0} %), {evaluated} confirms reached the code \
         comparison, {logged_in} logged in",
        100.0 * sent as f64 / cases.max(1) as f64
    );
    assert!(
        sent * 3 >= cases && evaluated >= sent,
        "the generator no longer reaches the logic: {sent} of {cases} sent, {evaluated} confirms"
    );
}
