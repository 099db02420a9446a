//! The scheduler: an EventBridge Scheduler tick names a job; every enabled integration gets one
//! message on that job's FIFO queue.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::config::validate_integration_id;
use sync_shared::error::StoreError;
use sync_shared::queue::{FifoMessage, QueueError, send_fifo};
use sync_shared::store::Store;
use sync_shared::{Job, JobMessage};
use thiserror::Error;

/// The schedule's input: `{"job": "setup", "scheduled_time": "<aws.scheduler.scheduled-time>"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub job: Job,
    /// The tick's scheduled time: it names the runs, so a repeated tick does not double them.
    pub scheduled_time: DateTime<Utc>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FanOutSummary {
    pub job: Option<Job>,
    pub integrations: usize,
    pub messages_sent: usize,
    pub skipped: Vec<String>,
    pub dynamodb_calls: usize,
    pub sqs_calls: usize,
}

#[derive(Debug, Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("no queue is configured for job {job} (set {variable})")]
    NoQueue { job: Job, variable: &'static str },
    #[error("cannot encode a message: {0}")]
    Encode(String),
}

/// Where each job's messages go.
#[derive(Debug, Clone, Default)]
pub struct JobQueues(pub HashMap<Job, String>);

impl JobQueues {
    /// From `<JOB>_QUEUE_URL` variables; a job without one cannot be scheduled.
    pub fn from_env() -> Self {
        JobQueues(
            Job::ALL
                .iter()
                .filter_map(|job| {
                    std::env::var(job.queue_url_env())
                        .ok()
                        .map(|url| (*job, url))
                })
                .collect(),
        )
    }
}

pub struct Scheduler {
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub queues: JobQueues,
}

impl Scheduler {
    pub async fn fan_out(&self, input: &ScheduleInput) -> Result<FanOutSummary, SchedulerError> {
        let queue_url = self
            .queues
            .0
            .get(&input.job)
            .ok_or(SchedulerError::NoQueue {
                job: input.job,
                variable: input.job.queue_url_env(),
            })?;
        let mut summary = FanOutSummary {
            job: Some(input.job),
            ..Default::default()
        };
        let mut start = None;
        loop {
            let (ids, next) = self.store.enabled_integrations_page(start).await?;
            summary.dynamodb_calls += 1;
            let mut messages = Vec::with_capacity(ids.len());
            for id in ids {
                if let Err(problem) = validate_integration_id(&id) {
                    tracing::error!(integration_id = %id, problem, "integration skipped");
                    summary.skipped.push(problem);
                    continue;
                }
                messages.push(JobMessage {
                    integration_id: id,
                    job: input.job,
                    slot: input.scheduled_time,
                });
            }
            summary.integrations += messages.len();
            let entries: Vec<FifoMessage> = messages
                .iter()
                .map(|m| {
                    Ok(FifoMessage {
                        body: serde_json::to_string(m)
                            .map_err(|e| SchedulerError::Encode(e.to_string()))?,
                        group_id: m.group_id().to_string(),
                        deduplication_id: m.deduplication_id(),
                    })
                })
                .collect::<Result<_, SchedulerError>>()?;
            summary.sqs_calls += send_fifo(&self.sqs, queue_url, &entries).await?;
            summary.messages_sent += messages.len();
            match next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        tracing::info!(job = %input.job, integrations = summary.integrations, sqs_calls = summary.sqs_calls, "fan-out done");
        Ok(summary)
    }
}
