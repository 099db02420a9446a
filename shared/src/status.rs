//! The integration's status item (F5) and the run records that make a job message idempotent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::Job;

pub const STATUS_SK: &str = "STATUS";
pub const RUN_PREFIX: &str = "RUN#";

/// After this many consecutive failures of a job, an alarm fires (F5).
pub const ALARM_AFTER_FAILURES: u32 = 3;

/// The integration as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationHealth {
    /// Configuration and secrets are valid.
    Configured,
    /// Configuration is valid and both APIs answered.
    Connected,
    /// The last run of some job failed; `message` says why.
    Error,
    /// The integration cannot go on until a person acts (F2 zone move, F3 wrong API user);
    /// `message` says what to do. Only a setup run that connects again clears it.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub last_run_id: String,
    pub last_run_at: DateTime<Utc>,
    pub last_outcome: JobOutcomeKind,
    #[serde(default)]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// What the last successful run did, by kind of change.
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcomeKind {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationStatus {
    pub state: IntegrationHealth,
    pub message: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub jobs: BTreeMap<String, JobStatus>,
    /// Per-customer (contract, alert) problems, keyed `<job>:<target>`: what a planner found
    /// (F18 conflicts, F21 exclusions, warnings) and applies that failed for good.
    #[serde(default)]
    pub customers: BTreeMap<String, CustomerIssue>,
    /// Optimistic lock: every write expects the version it read.
    #[serde(default)]
    pub version: u64,
}

/// One target's problem, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerIssue {
    pub job: Job,
    /// The target's key (the Autotask company id for provisioning).
    pub target: String,
    pub name: String,
    pub kind: IssueKind,
    pub message: String,
    pub at: DateTime<Utc>,
    /// Whether the planner or an applier found it.
    pub source: IssueSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// Nothing was changed for the target; a person must act.
    Error,
    /// The target is deliberately left alone (F21); the message says why.
    Excluded,
    /// The target was provisioned, but not all of it (e.g. an advanced pack left off).
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSource {
    Planner,
    Applier,
}

/// At most this many target issues are kept in the status item (400 KB limit); the planner's
/// counts still give the totals.
pub const MAX_CUSTOMER_ISSUES: usize = 500;

pub fn customer_issue_key(job: Job, target: &str) -> String {
    format!("{job}:{target}")
}

/// What a job run reports when it finishes without error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    /// The integration's state this run established, if it checks it (setup does).
    pub health: Option<IntegrationHealth>,
    pub message: String,
    pub counts: BTreeMap<String, u64>,
}

impl IntegrationStatus {
    pub fn new(now: DateTime<Utc>) -> Self {
        IntegrationStatus {
            state: IntegrationHealth::Configured,
            message: String::new(),
            updated_at: now,
            jobs: BTreeMap::new(),
            customers: BTreeMap::new(),
            version: 0,
        }
    }

    pub fn record_success(
        &mut self,
        job: Job,
        run_id: &str,
        now: DateTime<Utc>,
        report: &JobReport,
    ) {
        let entry = self.job_entry(job, run_id, now);
        entry.last_outcome = JobOutcomeKind::Succeeded;
        entry.last_success_at = Some(now);
        entry.consecutive_failures = 0;
        entry.last_error = None;
        entry.counts = report.counts.clone();
        if let Some(health) = report.health {
            self.state = health;
            self.message = report.message.clone();
        }
        self.settle(now);
    }

    pub fn record_failure(&mut self, job: Job, run_id: &str, now: DateTime<Utc>, error: &str) {
        let entry = self.job_entry(job, run_id, now);
        entry.last_outcome = JobOutcomeKind::Failed;
        entry.consecutive_failures += 1;
        entry.last_error = Some(error.to_string());
        self.settle(now);
    }

    /// A planner run's issues replace its previous ones. Applier failures stay only for targets
    /// the planner sends to apply again (the new apply settles them).
    pub fn set_planner_issues(
        &mut self,
        job: Job,
        issues: Vec<CustomerIssue>,
        targets_to_apply: &std::collections::HashSet<String>,
    ) {
        self.customers.retain(|_, issue| {
            issue.job != job
                || (issue.source == IssueSource::Applier
                    && targets_to_apply.contains(&issue.target))
        });
        for issue in issues {
            if self.customers.len() >= MAX_CUSTOMER_ISSUES {
                break;
            }
            self.customers
                .insert(customer_issue_key(job, &issue.target), issue);
        }
    }

    pub fn consecutive_failures(&self, job: Job) -> u32 {
        self.jobs
            .get(job.as_str())
            .map_or(0, |j| j.consecutive_failures)
    }

    fn job_entry(&mut self, job: Job, run_id: &str, now: DateTime<Utc>) -> &mut JobStatus {
        let entry = self
            .jobs
            .entry(job.as_str().to_string())
            .or_insert_with(|| JobStatus {
                last_run_id: run_id.to_string(),
                last_run_at: now,
                last_outcome: JobOutcomeKind::Succeeded,
                last_success_at: None,
                consecutive_failures: 0,
                last_error: None,
                counts: BTreeMap::new(),
            });
        entry.last_run_id = run_id.to_string();
        entry.last_run_at = now;
        entry
    }

    /// The integration is in error while any job's last run failed; the message is that
    /// job's error. Otherwise it is in the state the last connection check established.
    fn settle(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        if self.state == IntegrationHealth::Stopped {
            // Sticky: another job's failure must not hide what the person has to do.
            return;
        }
        let failing = self
            .jobs
            .iter()
            .filter(|(_, s)| s.last_outcome == JobOutcomeKind::Failed)
            .max_by_key(|(_, s)| s.last_run_at);
        if let Some((job, status)) = failing {
            self.state = IntegrationHealth::Error;
            self.message = format!(
                "{job}: {}",
                status.last_error.as_deref().unwrap_or("failed")
            );
        } else if self.state == IntegrationHealth::Error {
            self.state = IntegrationHealth::Configured;
            self.message.clear();
        }
    }
}

/// Where a run stands. A run is one (integration, job, slot); its record is the idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    InProgress,
    /// Released after a retryable failure: the next delivery may claim it again.
    Retrying,
    Succeeded,
    Failed,
}

/// The run report, kept for `RUN_RETENTION_DAYS` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub integration_id: String,
    pub job: Job,
    pub run_id: String,
    pub run_state: RunState,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Epoch milliseconds after which an in-progress claim is considered abandoned.
    pub lease_until_ms: i64,
    pub attempts: u32,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// DynamoDB TTL (epoch seconds).
    pub expires_at: i64,
}

pub const RUN_RETENTION_DAYS: i64 = 30;
