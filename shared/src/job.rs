//! Jobs and the messages the scheduler sends for them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One sync step. Each job has its own FIFO queue and worker function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Validates configuration and secrets and checks the connections (F2–F4).
    Setup,
    /// Customer tenants and prepaid quotas from Autotask contracts (F11, F12, F16–F18, F21).
    Provisioning,
    /// Acronis alerts to Autotask tickets (F25–F27, G4, G7).
    Tickets,
    /// Pay-as-you-go usage into Autotask contracts (F7, F23, F24) and the reconciliation (G2).
    Usage,
}

impl Job {
    pub const ALL: [Job; 4] = [Job::Setup, Job::Provisioning, Job::Tickets, Job::Usage];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Setup => "setup",
            Job::Provisioning => "provisioning",
            Job::Tickets => "tickets",
            Job::Usage => "usage",
        }
    }

    /// The environment variable that holds this job's queue URL (the planner's messages).
    pub fn queue_url_env(self) -> &'static str {
        match self {
            Job::Setup => "SETUP_QUEUE_URL",
            Job::Provisioning => "PROVISIONING_QUEUE_URL",
            Job::Tickets => "TICKETS_QUEUE_URL",
            Job::Usage => "USAGE_QUEUE_URL",
        }
    }

    /// Jobs that plan per integration and apply per customer have a second queue for the
    /// apply messages; this names the variable that holds its URL.
    pub fn apply_queue_url_env(self) -> Option<&'static str> {
        match self {
            Job::Setup | Job::Tickets => None,
            Job::Provisioning => Some("PROVISIONING_APPLY_QUEUE_URL"),
            Job::Usage => Some("USAGE_APPLY_QUEUE_URL"),
        }
    }

    /// Message groups per integration on the apply queue. Applies that write to Autotask use
    /// [`AUTOTASK_WRITE_GROUPS`]. Provisioning applies write to Acronis (about 9 calls per new
    /// customer): 50 groups let the 10 concurrent batches of 10 messages each hold distinct
    /// groups, so up to 50 customers are applied at once (a first provisioning of 1,000 within
    /// minutes); its messages that also write to Autotask (two-way sync's contract changes) go to
    /// the first [`AUTOTASK_WRITE_GROUPS`] groups instead.
    pub fn apply_groups(self) -> u32 {
        match self {
            Job::Provisioning => 50,
            Job::Setup | Job::Tickets | Job::Usage => AUTOTASK_WRITE_GROUPS,
        }
    }
}

/// Message groups per integration for apply messages that write to Autotask: a group's messages
/// run one at a time, and Autotask allows 3 concurrent calls per endpoint per integration (G5).
pub const AUTOTASK_WRITE_GROUPS: u32 = 3;

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of a job message: which integration, which job, for which schedule slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub integration_id: String,
    pub job: Job,
    /// The scheduled time of the tick that caused this run; it names the run.
    pub slot: DateTime<Utc>,
}

impl JobMessage {
    /// Names the run: the same integration, job and slot is the same run, however often the
    /// message or the schedule tick is delivered.
    pub fn run_id(&self) -> String {
        format!(
            "{}#{}",
            self.job,
            self.slot.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// SQS FIFO deduplication id: at most 128 characters of the allowed set.
    pub fn deduplication_id(&self) -> String {
        let plain = format!(
            "{}:{}:{}",
            self.integration_id,
            self.job,
            self.slot.format("%Y%m%dT%H%M%SZ")
        );
        if plain.len() <= 128 {
            plain
        } else {
            format!("{:x}", Sha256::digest(plain.as_bytes()))
        }
    }

    /// Messages of one integration stay in order and never run side by side.
    pub fn group_id(&self) -> &str {
        &self.integration_id
    }
}
