//! DESIGN §7: a client's autofill lines (WebOTP / iOS `@<domain> #<code>`
//! last, the Android SMS Retriever app hash on a line of its own) end every
//! SMS it sends, whichever dialect asked for the code.

use otp_integration_tests::dialects::DIALECTS;
use otp_integration_tests::{TestApp, test_settings};
use otp_shared::domain::client::ClientSettings;

const PHONE: &str = "0812345678";

#[tokio::test]
async fn every_dialect_sends_the_autofill_lines_last() {
    for dialect in DIALECTS {
        let t = TestApp::memory().await;
        let settings = ClientSettings {
            code_length: Some(6),
            webotp_domain: Some("login.example.com".into()),
            android_app_hash: Some("FA+9qCX9VSu".into()),
            ..test_settings()
        };
        t.serve_test_client(settings, PHONE).await;
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
        let sms = t.last_sms();
        let lines: Vec<&str> = sms.message.lines().collect();
        let webotp = format!("@login.example.com #{}", sms.code);
        assert_eq!(
            lines[lines.len() - 2..],
            ["FA+9qCX9VSu", webotp.as_str()],
            "{dialect:?}: {}",
            sms.message
        );
        let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &sms.code).await;
        assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
    }
}
