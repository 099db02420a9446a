//! The `provisioning` job (SPEC D): a planner per integration reads Autotask and Acronis in bulk
//! and computes every mapped customer's desired tenant and quotas (`plan`); an applier per
//! customer brings the tenant to that state (`apply`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use sync_shared::Job;
use sync_shared::apply::{ApplyOutcome, process_apply_batch};
use sync_shared::status::JobReport;
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};

/// What the provisioning functions are given at cold start.
#[derive(Clone)]
pub struct ProvisioningContext {
    pub worker: WorkerContext,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the planner sends apply messages (`PROVISIONING_APPLY_QUEUE_URL`).
    pub apply_queue_url: String,
    pub acronis_options: sync_shared::acronis::ClientOptions,
    /// Tests shorten the Autotask client's delays; production leaves them.
    pub fast_autotask_retries: bool,
}

impl ProvisioningContext {
    /// From the function's environment (see `WorkerContext::from_env`), plus the apply queue.
    pub fn from_env(clients: &sync_shared::aws::AwsClients) -> Result<Self, String> {
        Ok(ProvisioningContext {
            worker: WorkerContext::from_env(clients)?,
            sqs: clients.sqs.clone(),
            apply_queue_url: sync_shared::aws::env_var("PROVISIONING_APPLY_QUEUE_URL")?,
            acronis_options: sync_shared::acronis::ClientOptions::default(),
            fast_autotask_retries: false,
        })
    }
}

/// The planner: one message per integration from the scheduler.
pub async fn handle_plan(ctx: &ProvisioningContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(
        &ctx.worker,
        Job::Provisioning,
        event,
        |message| async move {
            let _ = (ctx, message);
            Err::<JobReport, _>(JobError::Remote {
                message: "not built yet".into(),
                retryable: false,
                source: None,
            })
        },
    )
    .await
}

/// The applier: one message per customer from the planner.
pub async fn handle_apply(ctx: &ProvisioningContext, event: SqsEvent) -> SqsBatchResponse {
    process_apply_batch(
        &ctx.worker,
        Job::Provisioning,
        event,
        |message: sync_shared::apply::ApplyMessage<serde_json::Value>| async move {
            let _ = (ctx, message);
            Err::<ApplyOutcome, _>(JobError::Remote {
                message: "not built yet".into(),
                retryable: false,
                source: None,
            })
        },
    )
    .await
}
