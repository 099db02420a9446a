//! The runtime every job worker shares: an SQS FIFO batch handler with partial batch responses.
//!
//! FIFO rule: messages are handled in order; at the first message that must be retried, it and
//! every later message of the batch are reported as failures, so nothing overtakes it.
//! Each message is one run, claimed in the table before it starts: a duplicate delivery of a
//! finished run changes nothing. Permanent errors end the run in the status and are not retried;
//! retryable ones go back to the queue, and after `max_receives` deliveries to the DLQ.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::error::{Classify, ConfigError, SecretError, StoreError, error_chain};
use crate::job::{Job, JobMessage};
use crate::secrets::SecretsCache;
use crate::status::{ALARM_AFTER_FAILURES, JobReport, RUN_RETENTION_DAYS, RunRecord, RunState};
use crate::store::{Claim, Store};
use crate::telemetry::{RunEnd, emit_job_metrics, run_metrics};

/// What a job can fail with.
#[derive(Debug, Error)]
pub enum JobError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{message}")]
    Remote {
        message: String,
        retryable: bool,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Classify for JobError {
    fn is_retryable(&self) -> bool {
        match self {
            JobError::Config(e) => e.is_retryable(),
            JobError::Secret(e) => e.is_retryable(),
            JobError::Store(e) => e.is_retryable(),
            JobError::Remote { retryable, .. } => *retryable,
        }
    }
}

/// What every worker is given at cold start.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: Store,
    pub secrets: Arc<SecretsCache>,
    /// The queue's `maxReceiveCount`: the delivery after which a message goes to the DLQ.
    pub max_receives: u32,
    /// How long a claimed run is protected from a second worker (the function's timeout).
    pub lease: Duration,
}

/// The fate of one message.
enum Disposition {
    Done,
    RetryLater,
}

/// Handles a batch from a FIFO queue; `run` performs the job for one message.
pub async fn process_fifo_batch<F, Fut>(
    ctx: &WorkerContext,
    job: Job,
    event: SqsEvent,
    run: F,
) -> SqsBatchResponse
where
    F: Fn(JobMessage) -> Fut,
    Fut: Future<Output = Result<JobReport, JobError>>,
{
    let mut response = SqsBatchResponse::default();
    let mut failed = false;
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if !failed {
            if let Disposition::RetryLater = process_message(ctx, job, &record, &run).await {
                failed = true;
            }
        }
        if failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn process_message<F, Fut>(
    ctx: &WorkerContext,
    job: Job,
    record: &SqsMessage,
    run: &F,
) -> Disposition
where
    F: Fn(JobMessage) -> Fut,
    Fut: Future<Output = Result<JobReport, JobError>>,
{
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or_default();
    // A message we cannot read is left to the DLQ, where its alarm tells someone.
    let message: JobMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(message_id, error = %e, "unreadable job message; it will reach the DLQ");
            return Disposition::RetryLater;
        }
    };
    if message.job != job {
        tracing::error!(message_id, expected = %job, got = %message.job, "job message on the wrong queue");
        return Disposition::RetryLater;
    }
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1);
    match run_once(ctx, &message, receive_count, run).await {
        Ok(disposition) => disposition,
        Err(e) => {
            tracing::warn!(
                integration_id = %message.integration_id,
                job = %job,
                error = %error_chain(&e),
                "could not record the run; it will be retried"
            );
            Disposition::RetryLater
        }
    }
}

async fn run_once<F, Fut>(
    ctx: &WorkerContext,
    message: &JobMessage,
    receive_count: u32,
    run: &F,
) -> Result<Disposition, StoreError>
where
    F: Fn(JobMessage) -> Fut,
    Fut: Future<Output = Result<JobReport, JobError>>,
{
    let now = Utc::now();
    let run_id = message.run_id();
    let integration_id = message.integration_id.as_str();
    let claim = ctx
        .store
        .claim_run(&new_run(ctx, message, now), now.timestamp_millis())
        .await?;
    let mut record = match claim {
        Claim::Finished(previous) => {
            tracing::info!(integration_id, run_id, state = ?previous.run_state, "run already finished; duplicate delivery ignored");
            return Ok(Disposition::Done);
        }
        Claim::Busy => {
            tracing::info!(
                integration_id,
                run_id,
                "run is held by another worker; retrying later"
            );
            return Ok(Disposition::RetryLater);
        }
        Claim::Claimed(record) => record,
    };
    tracing::info!(
        integration_id,
        run_id,
        attempt = record.attempts,
        "run started"
    );
    let started = std::time::Instant::now();
    let result = run(message.clone()).await;
    let duration = started.elapsed();
    let finished = Utc::now();
    record.finished_at = Some(finished);
    match result {
        Ok(report) => {
            ctx.store
                .update_status(integration_id, finished, |s| {
                    s.record_success(message.job, &run_id, finished, &report)
                })
                .await?;
            record.run_state = RunState::Succeeded;
            record.message = report.message.clone();
            record.counts = report.counts.clone();
            ctx.store.finish_run(&record).await?;
            tracing::info!(integration_id, run_id, message = %report.message, "run succeeded");
            emit_job_metrics(
                message.job.as_str(),
                integration_id,
                &run_metrics(RunEnd::Succeeded(&report), duration),
            );
            Ok(Disposition::Done)
        }
        Err(err) => {
            let text = error_chain(&err);
            let retryable = err.is_retryable();
            let last_delivery = receive_count >= ctx.max_receives;
            if retryable && !last_delivery {
                tracing::warn!(integration_id, run_id, attempt = receive_count, error = %text, "run failed; it will be retried");
                emit_job_metrics(
                    message.job.as_str(),
                    integration_id,
                    &run_metrics(RunEnd::Retrying, duration),
                );
                record.run_state = RunState::Retrying;
                record.message = text;
                ctx.store.finish_run(&record).await?;
                return Ok(Disposition::RetryLater);
            }
            let status_text = if retryable {
                format!(
                    "{text} (gave up after {receive_count} attempts; the message is in the dead-letter queue)"
                )
            } else {
                text
            };
            let status = ctx
                .store
                .update_status(integration_id, finished, |s| {
                    s.record_failure(message.job, &run_id, finished, &status_text)
                })
                .await?;
            let failures = status.consecutive_failures(message.job);
            tracing::error!(integration_id, run_id, consecutive_failures = failures, alarm = failures >= ALARM_AFTER_FAILURES, error = %status_text, "run failed");
            emit_job_metrics(
                message.job.as_str(),
                integration_id,
                &run_metrics(
                    RunEnd::Failed {
                        consecutive_failures: failures,
                    },
                    duration,
                ),
            );
            record.message = status_text;
            if retryable {
                // Released, so a redrive from the DLQ runs it again.
                record.run_state = RunState::Retrying;
                ctx.store.finish_run(&record).await?;
                Ok(Disposition::RetryLater)
            } else {
                record.run_state = RunState::Failed;
                ctx.store.finish_run(&record).await?;
                Ok(Disposition::Done)
            }
        }
    }
}

fn new_run(ctx: &WorkerContext, message: &JobMessage, now: DateTime<Utc>) -> RunRecord {
    let lease_ms = i64::try_from(ctx.lease.as_millis()).unwrap_or(i64::MAX / 2);
    RunRecord {
        integration_id: message.integration_id.clone(),
        job: message.job,
        run_id: message.run_id(),
        run_state: RunState::InProgress,
        started_at: now,
        finished_at: None,
        lease_until_ms: now.timestamp_millis().saturating_add(lease_ms),
        attempts: 1,
        message: String::new(),
        counts: Default::default(),
        expires_at: (now + chrono::Duration::days(RUN_RETENTION_DAYS)).timestamp(),
    }
}

impl WorkerContext {
    /// From the function's environment: `TABLE_NAME`, `SECRETS_PREFIX`, `MAX_RECEIVE_COUNT`
    /// (the queue's redrive setting) and `RUN_LEASE_SECONDS` (the function's timeout).
    pub fn from_env(
        dynamodb: &aws_sdk_dynamodb::Client,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<Self, String> {
        let table = crate::aws::env_var("TABLE_NAME")?;
        let prefix = std::env::var("SECRETS_PREFIX").unwrap_or_default();
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match std::env::var(name) {
                Ok(v) => v.parse().map_err(|_| {
                    format!("environment variable {name}=`{v}` is not a whole number")
                }),
                Err(_) => Ok(default),
            }
        };
        Ok(WorkerContext {
            store: Store::new(dynamodb.clone(), table),
            secrets: Arc::new(SecretsCache::new(
                secrets.clone(),
                crate::secrets::DEFAULT_TTL,
                prefix,
            )),
            max_receives: u32::try_from(number("MAX_RECEIVE_COUNT", 5)?).unwrap_or(5),
            lease: Duration::from_secs(number("RUN_LEASE_SECONDS", 900)?),
        })
    }
}
