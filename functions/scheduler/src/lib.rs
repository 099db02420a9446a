//! The scheduler: an EventBridge Scheduler tick names a job; every enabled integration gets one
//! message on that job's FIFO queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sync_shared::config::validate_integration_id;
use sync_shared::error::{StoreError, error_chain, sdk_error_is_retryable};
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
    #[error("SendMessageBatch to {queue_url} failed")]
    Send {
        queue_url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no queue is configured for job {job} (set {variable})")]
    NoQueue { job: Job, variable: &'static str },
    #[error("cannot encode a message: {0}")]
    Encode(String),
    #[error("{failed} messages to {queue_url} were still refused after {tries} tries: {reasons}")]
    Refused {
        queue_url: String,
        failed: usize,
        tries: u32,
        reasons: String,
    },
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

/// SQS allows 10 entries per SendMessageBatch.
const BATCH_SIZE: usize = 10;
/// Batches in flight at once.
const CONCURRENT_BATCHES: usize = 8;
const SEND_TRIES: u32 = 5;

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
            let calls: Vec<usize> = stream::iter(messages.chunks(BATCH_SIZE))
                .map(|chunk| self.send_batch(queue_url, chunk))
                .buffer_unordered(CONCURRENT_BATCHES)
                .try_collect()
                .await?;
            summary.sqs_calls += calls.iter().sum::<usize>();
            summary.messages_sent += messages.len();
            match next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        tracing::info!(job = %input.job, integrations = summary.integrations, sqs_calls = summary.sqs_calls, "fan-out done");
        Ok(summary)
    }

    /// Sends one batch, resending the entries SQS reports as failed. Returns the calls made.
    async fn send_batch(
        &self,
        queue_url: &str,
        messages: &[JobMessage],
    ) -> Result<usize, SchedulerError> {
        let mut pending: Vec<SendMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| entry(i, m))
            .collect::<Result<_, _>>()?;
        let mut calls = 0;
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=SEND_TRIES {
            calls += 1;
            let result = self
                .sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(pending.clone()))
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(e) if sdk_error_is_retryable(&e) && attempt < SEND_TRIES => {
                    tracing::warn!(error = %error_chain(&e), attempt, "SendMessageBatch failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                Err(e) => {
                    return Err(SchedulerError::Send {
                        queue_url: queue_url.into(),
                        source: Box::new(e),
                    });
                }
            };
            let failed = output.failed();
            if failed.is_empty() {
                return Ok(calls);
            }
            let permanent: Vec<_> = failed.iter().filter(|f| f.sender_fault()).collect();
            if !permanent.is_empty() || attempt == SEND_TRIES {
                return Err(SchedulerError::Refused {
                    queue_url: queue_url.into(),
                    failed: failed.len(),
                    tries: attempt,
                    reasons: failed
                        .iter()
                        .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            let retry: std::collections::HashSet<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|e| retry.contains(e.id()));
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Ok(calls)
    }
}

fn entry(
    index: usize,
    message: &JobMessage,
) -> Result<SendMessageBatchRequestEntry, SchedulerError> {
    let body = serde_json::to_string(message).map_err(|e| SchedulerError::Encode(e.to_string()))?;
    SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(body)
        .message_group_id(message.group_id())
        .message_deduplication_id(message.deduplication_id())
        .build()
        .map_err(|e| SchedulerError::Encode(e.to_string()))
}
