//! Teardown keeps what the data needs (template: the table AND the server
//! secret are retained): every phone key and user key in the table is a
//! keyed hash under the server secret, so a restored table served with the
//! retained secret still knows its users and their sessions, and served with
//! any other secret knows no one by phone. DynamoDB Local has no point-in-time
//! recovery: the restore here is what one yields, every item of the table
//! in a new table.

use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, aws_config, call, code_in, deployment, fresh_table, json_request,
    lambda_app, refresh_request, sms_to,
};
use otp_shared::App;
use otp_shared::domain::keys::b64_decode;
use otp_shared::http::Function;
use serde_json::{Value, json};
use std::collections::HashMap;

const PHONE: &str = "+66812345678";

/// A login of `PHONE` through `app`: the answer's `data`.
async fn log_in(app: &App) -> Value {
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": PHONE});
    let sent = call(
        app,
        Function::RequestOtp,
        json_request("request-otp", &body),
    )
    .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let code = code_in(&sms_to(&otp_integration_tests::moto_url(), PHONE).await);
    let confirm = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "token": sent.body["data"]["token"], "otp": code});
    let confirmed = call(
        app,
        Function::ConfirmOtp,
        json_request("confirm-otp", &confirm),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    confirmed.body["data"].clone()
}

/// The account an access token names (`sub`).
fn account(login: &Value) -> String {
    let token = login["access_token"].as_str().unwrap();
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&b64_decode(claims).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_string()
}

/// Every item of `from`, written to a new table: what a point-in-time
/// restore yields, but for the codes' slots. Codes live minutes and a
/// restore takes longer: the slots would only hold the 60 s cooldown the
/// test would have to wait out to log the same phone in again.
async fn restored(from: &str) -> String {
    let (client, to) = fresh_table().await;
    let items = client.scan().table_name(from).send().await.unwrap();
    let kept: Vec<_> = items
        .items()
        .iter()
        .filter(|item| !item["pk"].as_s().unwrap().starts_with("otp#"))
        .collect();
    assert!(kept.len() >= 3, "the client, counters, the refresh family");
    for item in kept {
        client
            .put_item()
            .table_name(&to)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
    }
    to
}

#[tokio::test]
async fn a_restored_table_with_the_retained_secret_serves_its_users_and_sessions() {
    let variables = deployment(&[]).await;
    let first = log_in(&lambda_app(&variables).await).await;

    let with_restored_table = |variables: &HashMap<String, String>, table: String| {
        let mut variables = variables.clone();
        variables.insert("OTP_TABLE_NAME".into(), table);
        variables
    };
    let table = restored(&variables["OTP_TABLE_NAME"]).await;
    let restored_app = lambda_app(&with_restored_table(&variables, table.clone())).await;
    // The session goes on, and the phone is the same account.
    let refresh = first["refresh_token"].as_str().unwrap();
    let refreshed = call(
        &restored_app,
        Function::IssueToken,
        refresh_request(refresh),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(account(&log_in(&restored_app).await), account(&first));

    // With another secret (what deleting the stack's secret leaves), the
    // same table knows no one by phone: the user's phone is a new account.
    let another = aws_sdk_secretsmanager::Client::new(&aws_config().await)
        .create_secret()
        .name(format!("otp-another-secret-{table}"))
        .secret_string("An0therS3cretAn0therS3cretAn0therS3cretAn0therS3cretAn0therS3cre")
        .send()
        .await
        .unwrap();
    otp_integration_tests::logs::secrets()
        .server_secret("An0therS3cretAn0therS3cretAn0therS3cretAn0therS3cretAn0therS3cre");
    let mut with_another = with_restored_table(&variables, table);
    with_another.insert(
        "OTP_SERVER_SECRET_ARN".into(),
        another.arn().unwrap().into(),
    );
    let stranger = lambda_app(&with_another).await;
    assert_ne!(account(&log_in(&stranger).await), account(&first));
}
