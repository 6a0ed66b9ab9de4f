use otp_shared::http::{Function, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = otp_shared::aws::app_from_env().await?;
    lambda::run(&app, Function::ConfirmOtp).await
}
