//! docs/operations.md, "Cost per million logins", is the measurement, not a guess: the
//! DynamoDB units of a login measured here as `benches/cost.rs` measures
//! them (every call through the layer in front of DynamoDB Local, which asks
//! for each call's consumed capacity and bills transactions twice, as
//! DynamoDB does) are the units the table states, and each row's arithmetic
//! gives the amount it states, and the total is their sum.

use otp_integration_tests::layer::{Capacity, DynamoLayer};
use otp_integration_tests::{CLIENT_ID, TestApp, call, refresh_request, relaxed_timeouts};
use otp_shared::http::Function;

const OPERATIONS: &str = include_str!("../docs/operations.md");

/// The rows of the cost table: its cells, the header's names.
fn cost_table() -> Vec<Vec<String>> {
    let section = OPERATIONS
        .split("## Cost per million logins")
        .nth(1)
        .expect("docs/operations.md has a cost section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("| ---"))
        .skip(1)
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The first number in `text` (`$0.625`, `1,000`, `0.5`).
fn number(text: &str) -> f64 {
    let start = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or_else(|| panic!("no number in {text:?}"));
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits.trim_end_matches('.').parse().unwrap()
}

/// `a × b ÷ c + d × e`, from left to right, each operand the first number
/// in its words (`2 × 0.2 s × $0.01`).
fn evaluate(arithmetic: &str) -> f64 {
    arithmetic
        .split(" + ")
        .map(|term| {
            let marked = term.replace(" × ", "\n*").replace(" ÷ ", "\n/");
            let mut operands = marked.split('\n');
            let mut value = number(operands.next().unwrap());
            for operand in operands {
                let (operator, rest) = operand.split_at(1);
                value = match operator {
                    "*" => value * number(rest),
                    _ => value / number(rest),
                };
            }
            value
        })
        .sum()
}

#[test]
fn the_arithmetic_is_read_as_written() {
    assert_eq!(evaluate("2 × $1.00"), 2.0);
    assert_eq!(evaluate("1 × 1,000,000 ÷ 10,000 × $0.03"), 3.0);
    assert_eq!(evaluate("$2.00 + $0.40 + 0.5 × $0.125"), 2.4625);
}

fn row<'a>(table: &'a [Vec<String>], what: &str) -> &'a [String] {
    table
        .iter()
        .find(|cells| cells[0].contains(what))
        .unwrap_or_else(|| panic!("the cost table has no row for {what}"))
}

#[test]
fn each_rows_arithmetic_gives_its_amount_and_the_total_is_their_sum() {
    let table = cost_table();
    assert!(table.len() >= 8, "{table:?}");
    let mut sum = 0.0;
    for cells in &table {
        assert_eq!(
            cells.len(),
            5,
            "what, measured, price, arithmetic, amount: {cells:?}"
        );
        let (arithmetic, amount) = (&cells[3], number(&cells[4]));
        let computed = evaluate(arithmetic);
        assert!(
            (computed - amount).abs() < 0.005 + amount * 0.001,
            "{}: {arithmetic} = {computed:.4}, the table says {amount}",
            cells[0]
        );
        if !cells[0].contains("total") {
            sum += amount;
        }
    }
    let total = number(&row(&table, "total")[4]);
    assert!(
        (sum - total).abs() < 0.005,
        "rows add up to {sum:.2}, the total says {total}"
    );
}

async fn units(table: &str, work: impl Future<Output = u16>) -> Capacity {
    let layer = DynamoLayer::get();
    let before = layer.capacity_of(table);
    assert_eq!(work.await, 200);
    layer.capacity_of(table) - before
}

#[tokio::test]
async fn the_dynamodb_units_the_table_states_are_the_measured_ones() {
    let (t, table) = TestApp::on_table_with(relaxed_timeouts()).await;
    DynamoLayer::get().measure_capacity(&table);
    // The first login reads the client record, which is then cached, as a
    // warm function's is.
    let mut measured = vec![];
    for phone in ["0812345678", "0812345679"] {
        let mut token = String::new();
        let mut code = String::new();
        let request = units(&table, async {
            let answer = t.request_otp(phone).await;
            token = answer.body["data"]["token"]
                .as_str()
                .unwrap_or_default()
                .into();
            code = t.last_sms().code;
            answer.status
        })
        .await;
        let mut refresh_token = String::new();
        let confirm = units(&table, async {
            let answer = t.confirm_by_token(CLIENT_ID, &token, &code).await;
            refresh_token = answer.body["data"]["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .into();
            answer.status
        })
        .await;
        let refresh = units(&table, async {
            call(
                &t.app,
                Function::IssueToken,
                refresh_request(&refresh_token),
            )
            .await
            .status
        })
        .await;
        measured = vec![request, confirm, refresh];
    }
    let [request, confirm, refresh] = measured[..] else {
        unreachable!()
    };

    let table = cost_table();
    let writes = request.writes + confirm.writes;
    let stated = &row(&table, "DynamoDB on-demand writes")[1];
    assert_eq!(
        stated,
        &format!(
            "{writes} write units (request {} + confirm {})",
            request.writes, confirm.writes
        ),
        "measured: request {request:?}, confirm {confirm:?}"
    );
    let reads = request.reads + confirm.reads;
    let stated = &row(&table, "DynamoDB on-demand reads")[1];
    assert_eq!(
        stated,
        &format!("{reads} read unit (confirm {})", confirm.reads)
    );
    // The refresh the text below the table prices.
    let words: Vec<&str> = OPERATIONS.split_whitespace().collect();
    assert!(
        words.join(" ").contains(&format!(
            "Each refresh adds 1 API request, 1 invocation, {} write unit",
            refresh.writes
        )),
        "a refresh writes {} units",
        refresh.writes
    );
}
