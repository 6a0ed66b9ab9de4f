use lambda_http::{Error, run, service_fn};
use otp_shared::http::{Function, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = otp_shared::aws::app_from_env().await?;
    run(service_fn(|request| {
        handle(&app, Function::ConfirmOtp, request)
    }))
    .await
}
