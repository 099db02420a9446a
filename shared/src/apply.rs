//! Apply messages and their worker runtime: a planner sends one message per target (customer,
//! contract, alert) that must change, carrying the target's desired state; an applier brings the
//! remote side to it. Appliers are convergent (they re-read before they write), so a message
//! delivered twice changes nothing the second time.
//!
//! Message groups: a target's messages share one group (`<integration>#<n>`, n from a hash of
//! the target), so they stay in order, and an integration's messages spread over
//! `Job::apply_groups` groups, which bounds how many of its applies run at once. A job whose
//! applies only sometimes write to Autotask sends those among the first
//! `AUTOTASK_WRITE_GROUPS` groups; such a target's messages can then sit in two groups, and its
//! applier drops a message older than the last one it applied.

use std::collections::BTreeMap;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Classify, error_chain};
use crate::job::Job;
use crate::queue::{FifoMessage, QueueError, deduplication_id};
use crate::status::{CustomerIssue, IssueKind, IssueSource, customer_issue_key};
use crate::telemetry::{ApplyEnd, apply_metrics, emit_job_metrics};
use crate::worker::{JobError, WorkerContext};

/// One target's desired state, for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyMessage<T> {
    pub integration_id: String,
    pub job: Job,
    /// The planner run's slot: names the run in audit items.
    pub slot: DateTime<Utc>,
    /// The target's key (the Autotask company id for provisioning).
    pub target: String,
    /// A readable name, so a message in the DLQ says whom it is about.
    pub target_name: String,
    pub desired: T,
}

impl<T> ApplyMessage<T> {
    pub fn run_id(&self) -> String {
        format!(
            "{}#{}",
            self.job,
            self.slot.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// The audit item of a write made for this message's target (G3).
    pub fn audit_entry(
        &self,
        write: crate::plan::PlannedWrite,
        result: Result<(), String>,
    ) -> crate::plan::AuditEntry {
        crate::plan::AuditEntry::of(
            self.job,
            self.run_id(),
            (&self.target, &self.target_name),
            write,
            result,
        )
    }

    pub fn group_id(&self) -> String {
        self.group_id_among(self.job.apply_groups())
    }

    /// The target's group among the integration's first `groups` groups.
    pub fn group_id_among(&self, groups: u32) -> String {
        let digest = Sha256::digest(self.target.as_bytes());
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % groups.max(1);
        format!("{}#{n}", self.integration_id)
    }
}

impl<T: Serialize> ApplyMessage<T> {
    pub fn to_fifo(&self) -> Result<FifoMessage, QueueError> {
        self.to_fifo_among(self.job.apply_groups())
    }

    /// The message in the target's group among the integration's first `groups` groups (an
    /// apply that writes to Autotask: [`crate::job::AUTOTASK_WRITE_GROUPS`]).
    pub fn to_fifo_among(&self, groups: u32) -> Result<FifoMessage, QueueError> {
        Ok(FifoMessage {
            body: serde_json::to_string(self).map_err(|e| QueueError::Encode(e.to_string()))?,
            group_id: self.group_id_among(groups),
            deduplication_id: deduplication_id(&format!(
                "{}:{}:{}:{}",
                self.integration_id,
                self.job,
                self.slot.format("%Y%m%dT%H%M%SZ"),
                self.target
            )),
        })
    }
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Remote writes made.
    pub writes: u64,
    /// Done, but not all of it: kept in the status as a warning for the target.
    pub warnings: Vec<String>,
}

enum Disposition {
    Done,
    RetryLater,
}

/// Handles a batch from an apply queue. Groups run side by side; within a group messages run in
/// order and, at the first that must be retried, it and the group's later messages are reported
/// as failures (the FIFO rule, per group).
pub async fn process_apply_batch<T, F, Fut>(
    ctx: &WorkerContext,
    job: Job,
    event: SqsEvent,
    apply: F,
) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: Fn(ApplyMessage<T>) -> Fut,
    Fut: Future<Output = Result<ApplyOutcome, JobError>>,
{
    let mut groups: BTreeMap<String, Vec<SqsMessage>> = BTreeMap::new();
    for record in event.records {
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default();
        groups.entry(group).or_default().push(record);
    }
    let apply = &apply;
    let results = futures::future::join_all(groups.into_values().map(|records| async move {
        let mut failed = Vec::new();
        let mut stop = false;
        for record in records {
            if !stop {
                if let Disposition::RetryLater = apply_one(ctx, job, &record, apply).await {
                    stop = true;
                }
            }
            if stop {
                failed.push(record.message_id.clone().unwrap_or_default());
            }
        }
        failed
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

async fn apply_one<T, F, Fut>(
    ctx: &WorkerContext,
    job: Job,
    record: &SqsMessage,
    apply: &F,
) -> Disposition
where
    T: DeserializeOwned,
    F: Fn(ApplyMessage<T>) -> Fut,
    Fut: Future<Output = Result<ApplyOutcome, JobError>>,
{
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or_default();
    let message: ApplyMessage<T> = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(message_id, error = %e, "unreadable apply message; it will reach the DLQ");
            return Disposition::RetryLater;
        }
    };
    if message.job != job {
        tracing::error!(message_id, expected = %job, got = %message.job, "apply message on the wrong queue");
        return Disposition::RetryLater;
    }
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1);
    let integration_id = message.integration_id.clone();
    let target = message.target.clone();
    let target_name = message.target_name.clone();
    let run_id = message.run_id();
    let started = std::time::Instant::now();
    let result = apply(message).await;
    let duration = started.elapsed();
    let (issue, disposition) = match result {
        Ok(outcome) => {
            tracing::info!(
                integration_id,
                run_id,
                target,
                writes = outcome.writes,
                "applied"
            );
            emit_job_metrics(
                job.as_str(),
                &integration_id,
                &apply_metrics(
                    ApplyEnd::Succeeded {
                        writes: outcome.writes,
                    },
                    duration,
                ),
            );
            let issue = (!outcome.warnings.is_empty())
                .then(|| (IssueKind::Warning, outcome.warnings.join("; ")));
            (issue, Disposition::Done)
        }
        Err(err) => {
            let text = error_chain(&err);
            let retryable = err.is_retryable();
            if retryable && receive_count < ctx.max_receives {
                tracing::warn!(integration_id, run_id, target, attempt = receive_count, error = %text, "apply failed; it will be retried");
                emit_job_metrics(
                    job.as_str(),
                    &integration_id,
                    &apply_metrics(ApplyEnd::Retrying, duration),
                );
                return Disposition::RetryLater;
            }
            tracing::error!(integration_id, run_id, target, error = %text, "apply failed");
            emit_job_metrics(
                job.as_str(),
                &integration_id,
                &apply_metrics(ApplyEnd::Failed, duration),
            );
            let text = if retryable {
                format!(
                    "{text} (gave up after {receive_count} attempts; the message is in the dead-letter queue)"
                )
            } else {
                text
            };
            let disposition = if retryable {
                Disposition::RetryLater
            } else {
                Disposition::Done
            };
            (Some((IssueKind::Error, text)), disposition)
        }
    };
    if let Err(e) = record_issue(ctx, job, &integration_id, &target, &target_name, issue).await {
        tracing::warn!(integration_id, target, error = %error_chain(&e), "could not record the apply's outcome in the status; retrying");
        return Disposition::RetryLater;
    }
    disposition
}

/// Sets (or clears) the applier's entry for the target in the status; writes only on a change.
async fn record_issue(
    ctx: &WorkerContext,
    job: Job,
    integration_id: &str,
    target: &str,
    target_name: &str,
    issue: Option<(IssueKind, String)>,
) -> Result<(), crate::StoreError> {
    let key = customer_issue_key(job, target);
    let current = ctx.store.status(integration_id).await?;
    let has_entry = current
        .as_ref()
        .and_then(|s| s.customers.get(&key))
        .is_some_and(|i| i.source == IssueSource::Applier);
    if issue.is_none() && !has_entry {
        return Ok(());
    }
    let now = Utc::now();
    ctx.store
        .update_status(integration_id, now, |status| match &issue {
            Some((kind, message)) => {
                status.customers.insert(
                    key.clone(),
                    CustomerIssue {
                        job,
                        target: target.to_string(),
                        name: target_name.to_string(),
                        kind: *kind,
                        message: message.clone(),
                        at: now,
                        source: IssueSource::Applier,
                    },
                );
            }
            None => {
                status.customers.remove(&key);
            }
        })
        .await?;
    Ok(())
}
