#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sync_shared::aws::{dynamodb_client, secrets_client};
use sync_shared::worker::WorkerContext;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = sync_shared::lambda::start().await;
    // The Autotask and Acronis HTTP client, built at init like the AWS clients.
    sync_shared::http::init();
    // DynamoDB and Secrets Manager only: each SDK client costs start-up time.
    let ctx = WorkerContext::from_env(&dynamodb_client(&config), &secrets_client(&config))?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(setup::handle(ctx, event.payload).await)
    }))
    .await
}
