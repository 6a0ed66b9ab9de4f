//! `otp-admin` against DynamoDB Local (started by `make test`): what it
//! writes is what the handlers then use.

use aws_sdk_dynamodb::types::AttributeValue;
use otp_integration_tests::{TestApp, fresh_table, kms_signer, kms_signing_alias};
use otp_shared::domain::keys::b64;
use otp_shared::domain::phone::LineType;
use otp_shared::http::Function;
use otp_shared::signer::Signer;
use otp_shared::store::{DynamoStore, Store};
use serde_json::json;
use std::process::{Command, Output};
use std::sync::Arc;

fn admin(table: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otp-admin"))
        .args(args)
        .env("OTP_TABLE_NAME", table)
        .output()
        .expect("otp-admin runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value after `label` in otp-admin's output.
fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} in {output}"))
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["client", "--help"],
        vec!["client", "create", "--help"],
        vec!["client", "list", "--help"],
        vec!["client", "disable", "--help"],
        vec!["client", "show", "--help"],
        vec!["client", "set", "--help"],
        vec!["client", "enable", "--help"],
        vec!["client", "delete", "--help"],
        vec!["client", "rotate-secret", "--help"],
        vec!["client", "retire-secret", "--help"],
        vec!["client", "add-sender", "--help"],
        vec!["client", "set-template", "--help"],
        vec!["client", "set-autofill", "--help"],
        vec!["users", "--help"],
        vec!["users", "import", "--help"],
        vec!["test-number", "--help"],
        vec!["test-number", "add", "--help"],
        vec!["test-number", "remove", "--help"],
        vec!["providers", "--help"],
        vec!["providers", "set", "--help"],
        vec!["signing-key", "--help"],
        vec!["signing-key", "status", "--help"],
        vec!["signing-key", "rotate", "--help"],
    ] {
        let out = stdout(&admin("", &args));
        assert!(out.contains("Usage: otp-admin"), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn a_created_client_logs_users_in_and_its_secret_is_shown_once() {
    let (client, table) = fresh_table().await;
    let created = stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "66",
            "--id",
            "shop",
            "--brand",
            "Shop",
            "--sender-id",
            "ShopOTP",
            "--template",
            "en={BRAND} code {OTP} ref {REF}",
        ],
    ));
    let secret = field(&created, "client_secret:");
    assert_eq!(field(&created, "client_id:"), "shop");

    let store = DynamoStore::new(client.clone(), table.clone());
    let record = store.client("shop").await.unwrap().unwrap();
    assert!(record.authenticates(&secret));
    let items = client.scan().table_name(&table).send().await.unwrap();
    assert!(
        !format!("{:?}", items.items()).contains(&secret),
        "stored hashed"
    );

    let again = stderr(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "66",
            "--id",
            "shop",
        ],
    ));
    assert!(again.contains("exists already"), "{again}");

    let t = TestApp::over(Arc::new(store), None).await;
    let body = json!({"client_id": "shop", "client_secret": secret, "mobile_no": "0812345678"});
    let sent = t.call(Function::RequestOtp, "request-otp", &body).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let sms = t.last_sms();
    assert_eq!(sms.sender_id.as_deref(), Some("ShopOTP"));
    assert!(sms.message.starts_with("Shop code "));
}

#[tokio::test]
async fn clients_are_listed_configured_and_disabled() {
    let (client, table) = fresh_table().await;
    let secret = field(
        &stdout(&admin(
            &table,
            &[
                "client",
                "create",
                "--default-calling-code",
                "66",
                "--id",
                "app-1",
            ],
        )),
        "client_secret:",
    );
    stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "66",
            "--id",
            "app-2",
            "--brand",
            "Two",
        ],
    ));
    stdout(&admin(
        &table,
        &[
            "client",
            "add-sender",
            "--id",
            "app-1",
            "--sender-id",
            "AppOne",
        ],
    ));
    stdout(&admin(
        &table,
        &[
            "client",
            "set-template",
            "--id",
            "app-1",
            "--locale",
            "th",
            "--text",
            "รหัส {OTP}",
        ],
    ));
    let refused = stderr(&admin(
        &table,
        &[
            "client",
            "set-template",
            "--id",
            "app-1",
            "--locale",
            "vi",
            "--text",
            "no code",
        ],
    ));
    assert!(refused.contains("{OTP}"), "{refused}");
    assert!(stderr(&admin(&table, &["client", "disable", "--id", "nobody"])).contains("no client"));

    let listed = stdout(&admin(&table, &["client", "list"]));
    assert_eq!(
        listed,
        "app-1\tenabled\tOTP\tAppOne\napp-2\tenabled\tTwo\t\n"
    );
    assert!(!listed.contains(&secret));

    stdout(&admin(&table, &["client", "disable", "--id", "app-1"]));
    assert!(stdout(&admin(&table, &["client", "list"])).starts_with("app-1\tdisabled"));
    let store = DynamoStore::new(client, table);
    let record = store.client("app-1").await.unwrap().unwrap();
    assert!(
        !record.authenticates(&secret),
        "a disabled client's secret stops working"
    );
    assert_eq!(record.settings.templates["th"], "รหัส {OTP}");
}

#[tokio::test]
async fn imported_users_log_in_through_one_id_at_their_own_client_only() {
    let (client, table) = fresh_table().await;
    // The test clients, as the handlers know them.
    let t = TestApp::over(
        Arc::new(DynamoStore::new(client.clone(), table.clone())),
        None,
    )
    .await;
    let csv = std::env::temp_dir().join(format!("otp-admin-users-{}.csv", std::process::id()));
    std::fs::write(
        &csv,
        "mobile,id_card,username,account_id\n081-234-5678,1234567890121,somchai.j,ACC-1\n\
         0899999999,,malee,ACC-2\n",
    )
    .unwrap();
    let server_secret_b64 = b64(b"a test server secret, 32 bytes or more");
    let import = |clients: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_otp-admin"));
        command.args(["users", "import", "--file", csv.to_str().unwrap()]);
        for client in clients {
            command.args(["--client", client]);
        }
        command
            .env("OTP_TABLE_NAME", &table)
            .env("OTP_SERVER_SECRET", &server_secret_b64)
            .output()
            .unwrap()
    };
    let imported = import(&[otp_integration_tests::CLIENT_ID]);
    assert_eq!(stdout(&imported).trim(), "registered 2 users for test-app");
    assert!(
        stderr(&import(&[])).contains("--client"),
        "a client is required"
    );
    assert!(stderr(&import(&["nobody"])).contains("no client nobody"));
    // The whole file is checked first: a bad third line writes nothing.
    std::fs::write(
        &csv,
        "0811111111\n0822222222,,second\n0833333333,1234567890122,x,y\n",
    )
    .unwrap();
    let (code, said) = failure(&import(&[otp_integration_tests::CLIENT_ID]));
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("line 3: id_card_num: not 13 digits with a valid check digit"),
        "{said}"
    );
    let store = DynamoStore::new(client.clone(), table.clone());
    let secret = otp_shared::config::server_secret_from_text(&server_secret_b64).unwrap();
    let phone_key = |raw: &str| {
        secret.phone_key(&otp_shared::domain::phone::PhoneNumber::parse(raw, "66").unwrap())
    };
    let registered = |raw: &str| {
        let store = &store;
        let key = phone_key(raw);
        async move {
            store
                .user(otp_integration_tests::CLIENT_ID, &key)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!registered("0811111111").await, "line 1 was written");

    // Only the number is required; --dry-run writes nothing.
    std::fs::write(&csv, "0811111111\n0822222222,,second\n").unwrap();
    let mut dry = import(&[otp_integration_tests::CLIENT_ID]);
    assert_eq!(stdout(&dry).trim(), "registered 2 users for test-app");
    assert!(registered("0822222222").await);
    std::fs::write(&csv, "0844444444\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_otp-admin"));
    command.args([
        "users",
        "import",
        "--dry-run",
        "--client",
        otp_integration_tests::CLIENT_ID,
        "--file",
        csv.to_str().unwrap(),
    ]);
    dry = command
        .env("OTP_TABLE_NAME", &table)
        .env("OTP_SERVER_SECRET", &server_secret_b64)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&dry).trim(),
        "would register 1 users for test-app (--dry-run: nothing written)"
    );
    assert!(!registered("0844444444").await);
    std::fs::remove_file(&csv).ok();

    // The handlers hash with the same server secret, so they find the user,
    // at the client it was imported for and at no other.
    let one_id = |client_id: &str| {
        json!({
            "client_id": client_id, "client_secret": otp_integration_tests::CLIENT_SECRET,
            "mobile_no": "0812345678", "id_card_num": "1234567890121",
        })
    };
    let answer = t
        .call(
            Function::RequestOtp,
            "oneid-request",
            &one_id(otp_integration_tests::CLIENT_ID),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let elsewhere = t
        .call(
            Function::RequestOtp,
            "oneid-request",
            &one_id(otp_integration_tests::PLAIN_CLIENT_ID),
        )
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.body["errorMessage"].as_str()),
        (404, Some("user mobile not found"))
    );
}

#[tokio::test]
async fn test_numbers_are_added_removed_and_refused_in_prod() {
    let (client, table) = fresh_table().await;
    stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "66",
            "--id",
            "qa",
        ],
    ));
    stdout(&admin(
        &table,
        &[
            "test-number",
            "add",
            "--id",
            "qa",
            "--number",
            "+66899990000",
            "--code",
            "123456",
        ],
    ));
    let store = DynamoStore::new(client, table.clone());
    let numbers = store
        .client("qa")
        .await
        .unwrap()
        .unwrap()
        .settings
        .test_numbers;
    assert_eq!(
        numbers.get("+66899990000").map(String::as_str),
        Some("123456")
    );
    let bad = stderr(&admin(
        &table,
        &[
            "test-number",
            "add",
            "--id",
            "qa",
            "--number",
            "0899990000",
            "--code",
            "1",
        ],
    ));
    assert!(bad.contains("test_numbers"), "{bad}");
    stdout(&admin(
        &table,
        &[
            "test-number",
            "remove",
            "--id",
            "qa",
            "--number",
            "+66899990000",
        ],
    ));
    assert!(
        store
            .client("qa")
            .await
            .unwrap()
            .unwrap()
            .settings
            .test_numbers
            .is_empty()
    );

    let prod = Command::new(env!("CARGO_BIN_EXE_otp-admin"))
        .args([
            "test-number",
            "add",
            "--id",
            "qa",
            "--number",
            "+66899990000",
            "--code",
            "123456",
        ])
        .env("OTP_TABLE_NAME", &table)
        .env("OTP_STAGE", "prod")
        .output()
        .unwrap();
    assert!(stderr(&prod).contains("refused in the prod stage"));
}

/// `signing-key status` as (role, key id, kid) rows.
fn key_rows(alias: &str) -> Vec<(String, String, String)> {
    stdout(&admin("", &["signing-key", "status", "--alias", alias]))
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let kid = cols[2].strip_prefix("kid=").expect("kid column");
            (cols[0].into(), cols[1].into(), kid.into())
        })
        .collect()
}

#[tokio::test]
async fn signing_key_rotation_publishes_a_key_before_it_signs() {
    let alias = kms_signing_alias().await;
    let signer = kms_signer(&alias).await;
    let first = key_rows(&alias);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, "current");
    assert_eq!(first[0].2, signer.public_key().await.unwrap().kid);

    let published = stdout(&admin("", &["signing-key", "rotate", "--alias", &alias]));
    assert!(
        published.contains("published a new key as next"),
        "{published}"
    );
    let staged = key_rows(&alias);
    assert_eq!(
        staged.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["current", "next"]
    );
    assert_eq!(staged[0], first[0], "the current key still signs");
    assert_eq!(signer.verification_keys().await.unwrap().len(), 2);

    let early = stderr(&admin("", &["signing-key", "rotate", "--alias", &alias]));
    assert!(early.contains("--force"), "{early}");
    assert_eq!(
        key_rows(&alias),
        staged,
        "a refused promotion changes nothing"
    );

    let promoted = stdout(&admin(
        "",
        &["signing-key", "rotate", "--alias", &alias, "--force"],
    ));
    assert!(
        promoted.contains(&format!("signing with {}", staged[1].1)),
        "{promoted}"
    );
    let rotated = key_rows(&alias);
    assert_eq!(
        rotated,
        vec![
            ("current".into(), staged[1].1.clone(), staged[1].2.clone()),
            ("previous".into(), first[0].1.clone(), first[0].2.clone()),
        ]
    );
    assert_eq!(signer.public_key().await.unwrap().kid, staged[1].2);
}

#[test]
fn signing_key_commands_name_a_missing_alias() {
    let err = stderr(&admin(
        "",
        &[
            "signing-key",
            "status",
            "--alias",
            "alias/otp-no-such-stack",
        ],
    ));
    assert!(
        err.contains("alias/otp-no-such-stack does not exist"),
        "{err}"
    );
    let err = stderr(&admin("", &["signing-key", "rotate"]));
    assert!(err.contains("--alias"), "{err}");
}

/// What the operator is told, and the exit code, by `output`.
fn failure(output: &Output) -> (i32, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// otp-admin with only `env` set: no engines, no profile, nothing else.
fn admin_with_only(env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = std::env::temp_dir().join(format!("otp-admin-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    Command::new(env!("CARGO_BIN_EXE_otp-admin"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .envs(env.iter().copied())
        .output()
        .expect("otp-admin runs")
}

#[test]
fn with_nothing_configured_it_says_what_is_missing_without_asking_ec2() {
    let (code, said) = failure(&admin_with_only(&[], &["client", "list"]));
    assert_eq!(code, 2, "{said}");
    assert_eq!(
        said.trim(),
        "otp-admin: the table is required: --table or OTP_TABLE_NAME (the stack's TableName output)"
    );

    let (code, said) = failure(&admin_with_only(&[], &["--table", "otp", "client", "list"]));
    assert_eq!(code, 3, "{said}");
    assert_eq!(
        said.trim(),
        "otp-admin: no region: set AWS_REGION, or a region in your AWS profile (aws configure)"
    );

    let region = [("AWS_REGION", "ap-southeast-1")];
    let (code, said) = failure(&admin_with_only(
        &region,
        &["--table", "otp", "client", "list"],
    ));
    assert_eq!(code, 3, "{said}");
    assert!(said.starts_with("otp-admin: no AWS credentials"), "{said}");
    assert_eq!(
        said.lines().count(),
        1,
        "one line, no IMDS warnings: {said}"
    );

    // Arguments and files are checked before anything is asked of AWS.
    let (code, said) = failure(&admin_with_only(
        &[],
        &[
            "--table",
            "otp",
            "users",
            "import",
            "--file",
            "/no/such/file",
            "--client",
            "a",
        ],
    ));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("/no/such/file"), "{said}");
}

#[test]
fn a_missing_table_is_named_with_its_region() {
    let (code, said) = failure(&admin("otp-no-such-table", &["client", "list"]));
    assert_eq!(code, 4, "{said}");
    assert_eq!(
        said.trim(),
        "otp-admin: the table otp-no-such-table (in us-east-1) does not exist"
    );
}

/// AWS's answers that DynamoDB Local never gives, from the layer in front
/// of it: IAM's refusal and throttling, each a plain sentence and its own
/// exit code.
#[tokio::test]
async fn access_denied_and_throttling_are_told_apart() {
    use otp_integration_tests::layer::{DynamoLayer, Injected, Injection};
    let (_, table) = fresh_table().await;
    let layer = DynamoLayer::get();
    let through_layer = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_otp-admin"))
            .args(args)
            .env("OTP_TABLE_NAME", &table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &layer.url)
            .output()
            .unwrap()
    };
    stdout(&through_layer(&["client", "list"]));

    layer.inject(&table, Injection::always(Injected::AccessDenied));
    let (code, said) = failure(&through_layer(&["client", "list"]));
    assert_eq!(code, 5, "{said}");
    assert!(
        said.contains("access denied (AccessDeniedException): User: "),
        "{said}"
    );
    assert!(said.contains("dynamodb:DescribeTable"), "{said}");
    layer.heal(&table);

    layer.inject(&table, Injection::always(Injected::Throttling));
    let (code, said) = failure(&through_layer(&["client", "list"]));
    assert_eq!(code, 6, "{said}");
    assert!(said.contains("throttled (ThrottlingException)"), "{said}");
    layer.heal(&table);

    // Past the table's check, a throttled scan is still said as such.
    layer.inject(
        &table,
        Injection {
            operation: Some("Scan"),
            ..Injection::always(Injected::Throttling)
        },
    );
    let (code, said) = failure(&through_layer(&["client", "list"]));
    assert_eq!(code, 6, "{said}");
    assert!(said.contains("try again shortly"), "{said}");
    layer.heal(&table);
}

/// Issue: an operator could not change a client after creating it, undo a
/// disable, delete a client, or replace a leaked secret without a new
/// client id for every app.
#[tokio::test]
async fn a_client_is_shown_changed_enabled_rotated_and_deleted() {
    let (client, table) = fresh_table().await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let record = || async { store.client("app").await.unwrap() };
    let first = field(
        &stdout(&admin(
            &table,
            &[
                "client",
                "create",
                "--default-calling-code",
                "66",
                "--id",
                "app",
            ],
        )),
        "client_secret:",
    );
    let shown = stdout(&admin(&table, &["client", "show", "--id", "app"]));
    assert!(shown.contains("state:     enabled"), "{shown}");
    assert!(
        shown.contains("\"callers_are_end_users\": false"),
        "{shown}"
    );
    assert!(!shown.contains(&first), "{shown}");

    stdout(&admin(
        &table,
        &[
            "client",
            "set",
            "--id",
            "app",
            "--set",
            "sends_per_phone_per_hour=3",
            "--set",
            "callers_are_end_users=true",
            "--set",
            r#"allowed_calling_codes=["66","84"]"#,
            "--set",
            "brand=Shop",
        ],
    ));
    let settings = record().await.unwrap().settings;
    assert_eq!(settings.sends_per_phone_per_hour, 3);
    assert!(settings.callers_are_end_users);
    assert_eq!(settings.allowed_calling_codes, ["66", "84"]);
    assert_eq!(settings.brand, "Shop");
    stdout(&admin(
        &table,
        &[
            "client",
            "set",
            "--id",
            "app",
            "--set",
            "sends_per_phone_per_hour=null",
        ],
    ));
    assert_eq!(
        record().await.unwrap().settings.sends_per_phone_per_hour,
        otp_shared::domain::client::ClientSettings::default().sends_per_phone_per_hour
    );
    for (assignment, said) in [
        ("code_length=3", "code_length"),
        ("no_such_setting=1", "no such setting"),
        ("code_length=six", "--set: invalid type"),
        ("test_numbers={}", "test-number add"),
        ("brand", "not NAME=VALUE"),
    ] {
        let (code, refused) = failure(&admin(
            &table,
            &["client", "set", "--id", "app", "--set", assignment],
        ));
        assert_eq!(code, 2, "{assignment}: {refused}");
        assert!(refused.contains(said), "{assignment}: {refused}");
    }
    assert_eq!(
        record().await.unwrap().settings.code_length,
        None,
        "refusals write nothing"
    );

    stdout(&admin(&table, &["client", "disable", "--id", "app"]));
    assert!(!record().await.unwrap().authenticates(&first));
    stdout(&admin(&table, &["client", "enable", "--id", "app"]));
    assert!(record().await.unwrap().authenticates(&first));

    // A leaked secret is replaced without an outage: both work until the
    // old one is retired.
    let second = field(
        &stdout(&admin(&table, &["client", "rotate-secret", "--id", "app"])),
        "client_secret:",
    );
    let rotated = record().await.unwrap();
    assert!(rotated.authenticates(&first) && rotated.authenticates(&second));
    // A second rotation before the first is retired would end the secret
    // apps still use: refused unless forced.
    let (code, said) = failure(&admin(&table, &["client", "rotate-secret", "--id", "app"]));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("retire it first"), "{said}");
    assert!(record().await.unwrap().authenticates(&first));
    assert!(stdout(&admin(&table, &["client", "show", "--id", "app"])).contains("secrets:   two"));
    stdout(&admin(&table, &["client", "retire-secret", "--id", "app"]));
    let retired = record().await.unwrap();
    assert!(!retired.authenticates(&first) && retired.authenticates(&second));
    let (code, _) = failure(&admin(&table, &["client", "retire-secret", "--id", "app"]));
    assert_eq!(code, 2);

    // Deleted only once disabled, with its directory users and its refresh
    // families: a client made later under the same id accepts none of them.
    let family = |pk: &str, client_id: &str| {
        client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S(pk.into()))
            .item("client_id", AttributeValue::S(client_id.into()))
            .send()
    };
    family("refresh#of-app", "app").await.unwrap();
    family("refresh#of-another", "app-2").await.unwrap();
    let user = otp_shared::domain::user::User {
        client_id: "app".into(),
        account_id: "acc".into(),
        username: "somchai".into(),
        phone_key: "key".into(),
        id_card_hash: None,
    };
    store.put_user(&user).await.unwrap();
    let (code, said) = failure(&admin(&table, &["client", "delete", "--id", "app"]));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("disable it first"), "{said}");
    stdout(&admin(&table, &["client", "disable", "--id", "app"]));
    let deleted = stdout(&admin(&table, &["client", "delete", "--id", "app"]));
    assert_eq!(
        deleted.trim(),
        "client app deleted, with its 1 directory users and 1 refresh-token families"
    );
    assert!(record().await.is_none());
    assert!(store.user("app", "key").await.unwrap().is_none());
    let kept = |pk: &str| {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
    };
    assert!(kept("refresh#of-app").await.unwrap().item().is_none());
    assert!(kept("refresh#of-another").await.unwrap().item().is_some());
    let (code, _) = failure(&admin(&table, &["client", "show", "--id", "app"]));
    assert_eq!(code, 4);
}

/// DESIGN §7: autofill lines are set at creation or later, and a template
/// that would no longer fit one SMS with them is refused when registered.
#[tokio::test]
async fn autofill_lines_are_set_and_over_long_templates_refused() {
    let (client, table) = fresh_table().await;
    stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "66",
            "--id",
            "app",
            "--code-length",
            "6",
            "--webotp-domain",
            "login.example.com",
            "--template",
            "en={BRAND}: your code is {OTP}",
        ],
    ));
    let store = DynamoStore::new(client, table.clone());
    let settings = store.client("app").await.unwrap().unwrap().settings;
    assert_eq!(settings.webotp_domain.as_deref(), Some("login.example.com"));
    assert_eq!(settings.android_app_hash, None);

    stdout(&admin(
        &table,
        &[
            "client",
            "set-autofill",
            "--id",
            "app",
            "--android-app-hash",
            "FA+9qCX9VSu",
        ],
    ));
    let settings = store.client("app").await.unwrap().unwrap().settings;
    assert_eq!(settings.android_app_hash.as_deref(), Some("FA+9qCX9VSu"));
    assert_eq!(settings.webotp_domain.as_deref(), Some("login.example.com"));

    let thai = format!("th={} {{OTP}}", "ก".repeat(60));
    let refused = stderr(&admin(
        &table,
        &[
            "client",
            "set-template",
            "--id",
            "app",
            "--locale",
            "th",
            "--text",
            &thai[3..],
        ],
    ));
    assert!(
        refused.contains("template th with its autofill lines"),
        "{refused}"
    );
    let bad = stderr(&admin(
        &table,
        &[
            "client",
            "set-autofill",
            "--id",
            "app",
            "--webotp-domain",
            "https://x.com",
        ],
    ));
    assert!(bad.contains("webotp_domain"), "{bad}");

    stdout(&admin(
        &table,
        &[
            "client",
            "set-autofill",
            "--id",
            "app",
            "--webotp-domain",
            "",
            "--android-app-hash",
            "",
        ],
    ));
    let settings = store.client("app").await.unwrap().unwrap().settings;
    assert_eq!(
        (settings.webotp_domain, settings.android_app_hash),
        (None, None)
    );
}

/// DESIGN §5.3: a client may text more line types than the mobile ones.
#[tokio::test]
async fn a_client_texts_the_line_types_it_names() {
    let (client, table) = fresh_table().await;
    let create = |id: &str, line_type: &str| {
        admin(
            &table,
            &[
                "client",
                "create",
                "--id",
                id,
                "--default-calling-code",
                "66",
                "--allowed-line-type",
                "MOBILE",
                "--allowed-line-type",
                line_type,
            ],
        )
    };
    stdout(&create("office", "fixed_line"));
    let store = DynamoStore::new(client, table.clone());
    let settings = store.client("office").await.unwrap().unwrap().settings;
    assert_eq!(
        settings.allowed_line_types,
        [LineType::Mobile, LineType::FixedLine]
    );
    let refused = stderr(&create("typo", "LANDLINE"));
    assert!(refused.contains("is not a line type"), "{refused}");
    let defaults = stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--id",
            "plain",
            "--default-calling-code",
            "66",
        ],
    ));
    assert!(defaults.contains("client_id:"));
    let settings = store.client("plain").await.unwrap().unwrap().settings;
    assert_eq!(settings.allowed_line_types, LineType::TEXTABLE);
}

/// `providers set`: each inline secret stored in Secrets Manager (moto)
/// under the stack's name, the client naming it by ARN; a second run makes
/// a new version of the same secret; the secret is never printed; a bad
/// file is refused before anything is asked of AWS.
#[tokio::test]
async fn providers_are_set_with_their_secrets_in_secrets_manager_never_printed() {
    let (client, table) = fresh_table().await;
    stdout(&admin(
        &table,
        &[
            "client",
            "create",
            "--default-calling-code",
            "84",
            "--id",
            "shop",
            "--sender-id",
            "ShopVN",
        ],
    ));
    let stack = table.clone();
    let dir = std::env::temp_dir().join(format!("otp-admin-providers-{table}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("providers.json");
    let providers = |secret_key: &str| {
        json!([
            {"kind": "esms", "secret": {"api_key": "ESMS0KEY", "secret_key": secret_key}, "sandbox": true},
            {"kind": "sns"},
        ])
        .to_string()
    };
    let set = |file: &std::path::Path| {
        admin(
            &table,
            &[
                "providers",
                "set",
                "--id",
                "shop",
                "--stack",
                &stack,
                "--file",
                file.to_str().unwrap(),
            ],
        )
    };
    std::fs::write(&file, providers("first-secret-value")).unwrap();
    let first = set(&file);
    let said = stdout(&first) + &String::from_utf8_lossy(&first.stderr);
    assert!(said.contains("shop: sms_providers esms, sns"), "{said}");
    assert!(
        !said.contains("first-secret-value"),
        "a secret printed: {said}"
    );
    let arn = field(&said, "secret stored:");
    assert!(
        arn.contains(&format!(":secret:{stack}/sms-provider/shop/esms")),
        "{arn}"
    );

    let store = DynamoStore::new(client, table.clone());
    let record = store.client("shop").await.unwrap().unwrap();
    assert_eq!(
        record.settings.sms_providers[0].secret_arn(),
        Some(arn.as_str())
    );
    assert_eq!(record.settings.sms_providers[1].kind(), "sns");
    let secrets = aws_sdk_secretsmanager::Client::new(&otp_integration_tests::aws_config().await);
    let stored = |arn: String| {
        let secrets = secrets.clone();
        async move {
            let out = secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .unwrap();
            serde_json::from_str::<serde_json::Value>(out.secret_string().unwrap()).unwrap()
        }
    };
    assert_eq!(
        stored(arn.clone()).await["secret_key"],
        "first-secret-value"
    );

    std::fs::write(&file, providers("second-secret-value")).unwrap();
    let again = stdout(&set(&file));
    assert_eq!(
        field(&again, "secret stored:"),
        arn,
        "the same secret, a new version"
    );
    assert_eq!(
        stored(arn.clone()).await["secret_key"],
        "second-secret-value"
    );

    for (bad, reason) in [
        (
            json!([{"kind": "esms", "secret": "third-secret-value"}]).to_string(),
            "sms_providers[0].secret must be the provider's JSON object",
        ),
        (
            json!([{"kind": "smtp", "secret": {"password": "third-secret-value"}}]).to_string(),
            "sms_providers: unknown variant",
        ),
        (
            json!([{"kind": "esms", "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other/third-secret-value"}]).to_string(),
            "secret_arn must be the ARN of a Secrets Manager secret named <stack>/sms-provider/",
        ),
        ("[{\"kind\": \"esms\", \"secret\": {\"api_key\": \"third-secret-value".into(), "not a JSON array"),
    ] {
        std::fs::write(&file, &bad).unwrap();
        let refused = set(&file);
        assert_eq!(refused.status.code(), Some(2), "{bad}");
        let said = stderr(&refused);
        assert!(said.contains(reason), "{bad}: {said}");
        assert!(!said.contains("third-secret-value"), "a secret printed: {said}");
    }
    assert_eq!(
        stored(arn).await["secret_key"],
        "second-secret-value",
        "refusals stored nothing"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
