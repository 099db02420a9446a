use lambda_runtime::{Error, LambdaEvent, service_fn};
use scheduler::{JobQueues, ScheduleInput, Scheduler};
use sync_shared::aws::{dynamodb_client, env_var, sqs_client};
use sync_shared::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = sync_shared::lambda::start().await;
    // DynamoDB and SQS only: each SDK client costs start-up time.
    let scheduler = Scheduler {
        store: Store::new(dynamodb_client(&config), env_var("TABLE_NAME")?),
        sqs: sqs_client(&config),
        queues: JobQueues::from_env(),
    };
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduleInput>| async move {
            scheduler.fan_out(&event.payload).await.map_err(|e| {
                let text = sync_shared::error::error_chain(&e);
                tracing::error!(error = %text, "fan-out failed");
                Error::from(text)
            })
        },
    ))
    .await
}
