// The handler's future nests every awaited call (retries within deadlines,
// the store's writes); computing its layout from a cold cache goes deeper
// than rustc's default query limit of 128.
#![recursion_limit = "256"]

use otp_shared::aws::Deployment;
use otp_shared::http::lambda;

// One event at a time per instance: one thread serves it.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    otp_shared::logging::init();
    let deployment = Deployment::from_env()?
        .with_sent_index()
        .with_sms_account()
        .with_message_feedback();
    lambda::run_events(|| deployment.app(), lambda::delivery_events).await
}
