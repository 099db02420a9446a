#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use provisioning::ProvisioningContext;
use sync_shared::aws::AwsClients;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let clients = AwsClients::from_config(&sync_shared::lambda::start().await);
    // The Autotask and Acronis HTTP client, built at init like the AWS clients.
    sync_shared::http::init();
    let ctx = ProvisioningContext::from_env(&clients)?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(provisioning::handle_plan(ctx, event.payload).await)
    }))
    .await
}
