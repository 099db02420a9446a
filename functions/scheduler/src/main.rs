use lambda_runtime::{Error, LambdaEvent, service_fn};
use scheduler::{JobQueues, ScheduleInput, Scheduler};
use sync_shared::aws::{AwsClients, env_var};
use sync_shared::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sync_shared::aws::use_commercial_partition_table();
    sync_shared::telemetry::init();
    let clients = AwsClients::from_env().await;
    let scheduler = Scheduler {
        store: Store::new(clients.dynamodb.clone(), env_var("TABLE_NAME")?),
        sqs: clients.sqs.clone(),
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
