//! JSON logs for CloudWatch and metrics in the embedded metric format (EMF: a log line that
//! CloudWatch turns into metrics, no API call).
//!
//! Every attempt of a job run, and every apply, writes one EMF record. Its metrics carry two
//! dimension sets, `[Job]` (what the alarms use) and `[Job, Integration]` (one integration's
//! graphs); `integration_id` rides along as a plain property for Logs Insights. The record is
//! built by a pure function ([`emf_record`]) and written by [`write_record`], so tests can check
//! it; inside Lambda [`emit_job_metrics`] prints it on stdout, where the log agent parses it.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::status::JobReport;

pub const METRICS_NAMESPACE: &str = "AcronisAutotaskSync";
/// The job (`setup`, `provisioning`, …): the dimension of every metric and of the alarms.
pub const JOB_DIMENSION: &str = "Job";
/// The integration id, as a second dimension set next to `[Job]`.
pub const INTEGRATION_DIMENSION: &str = "Integration";
/// The integration id as a property (not a dimension), named like the log lines' field.
pub const INTEGRATION_PROPERTY: &str = "integration_id";

/// Metric names. The template's alarms name some of them: keep them stable.
pub mod names {
    /// Attempts of a run (1 per record): a run retried after a throttle counts once per attempt.
    pub const RUNS: &str = "Runs";
    /// 1 when the attempt ended the run failed for good (permanent error or retries exhausted).
    pub const RUN_FAILED: &str = "RunFailed";
    /// 1 when the attempt failed and the message goes back to the queue.
    pub const RUN_RETRIED: &str = "RunRetried";
    /// The job's consecutive failed runs for the integration (0 after a success); the per-job
    /// failure alarms fire at `ALARM_AFTER_FAILURES`.
    pub const CONSECUTIVE_FAILURES: &str = "ConsecutiveFailures";
    /// Requests the run sent to Autotask and Acronis (successful runs only).
    pub const REMOTE_CALLS: &str = "RemoteCalls";
    /// Writes made to Autotask or Acronis by the run or the apply (successful ones only).
    pub const REMOTE_WRITES: &str = "RemoteWrites";
    /// Writes a planner decided on; its appliers make them (and count them as `RemoteWrites`),
    /// or nobody does in a dry run.
    pub const PLANNED_WRITES: &str = "PlannedWrites";
    /// Wall time of the attempt.
    pub const DURATION: &str = "Duration";
    /// Apply messages handled (1 per record).
    pub const APPLIES: &str = "Applies";
    /// 1 when the apply failed for good (its target gets an error in the status).
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// 1 when the apply failed and its message goes back to the queue.
    pub const APPLY_RETRIED: &str = "ApplyRetried";
    /// Wall time of the apply.
    pub const APPLY_DURATION: &str = "ApplyDuration";

    /// Every name the emitter can produce.
    pub const ALL: [&str; 12] = [
        RUNS,
        RUN_FAILED,
        RUN_RETRIED,
        CONSECUTIVE_FAILURES,
        REMOTE_CALLS,
        REMOTE_WRITES,
        PLANNED_WRITES,
        DURATION,
        APPLIES,
        APPLY_FAILED,
        APPLY_RETRIED,
        APPLY_DURATION,
    ];
}

/// Run-report counts that are requests sent to the remote APIs (`RemoteCalls`).
pub const REMOTE_CALL_COUNTS: &[&str] = &["autotask_requests", "acronis_requests"];

/// Run-report counts that are writes the run itself made to Autotask or Acronis
/// (`RemoteWrites`). `tickets_catch_all` is a subset of `tickets_created`, so it is not listed.
pub const WRITE_COUNTS: &[&str] = &[
    // setup
    "autotask_udfs_created",
    "autotask_services_created",
    // tickets
    "tickets_created",
    "notes_added",
    "tickets_reopened",
    "tickets_completed",
    "alerts_dismissed",
];

/// Run-report counts that are writes planned for appliers, or not made in a dry run
/// (`PlannedWrites`).
pub const PLANNED_WRITE_COUNTS: &[&str] = &[
    // setup, dry run
    "autotask_udfs_to_create",
    "autotask_services_to_create",
    // provisioning (and tickets in a dry run)
    "writes_planned",
    // usage
    "lines_to_adjust",
];

/// The CloudWatch units this emitter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value of a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
}

impl Metric {
    pub fn count(name: &'static str, value: u64) -> Metric {
        Metric {
            name,
            unit: Unit::Count,
            value: value as f64,
        }
    }

    pub fn millis(name: &'static str, duration: Duration) -> Metric {
        Metric {
            name,
            unit: Unit::Milliseconds,
            value: duration.as_secs_f64() * 1000.0,
        }
    }
}

/// How one attempt of a job run ended.
#[derive(Debug, Clone, Copy)]
pub enum RunEnd<'a> {
    Succeeded(&'a JobReport),
    /// Failed; the message goes back to the queue for another attempt.
    Retrying,
    /// Failed for good; `consecutive_failures` as the status now holds it.
    Failed {
        consecutive_failures: u32,
    },
}

/// How one apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyEnd {
    Succeeded { writes: u64 },
    Retrying,
    Failed,
}

/// The sum of the counts named in `keys` (absent keys count 0).
pub fn sum_counts(counts: &BTreeMap<String, u64>, keys: &[&str]) -> u64 {
    keys.iter()
        .filter_map(|k| counts.get(*k))
        .fold(0u64, |sum, v| sum.saturating_add(*v))
}

/// The metrics of one attempt of a run. Failures carry no call or write counts: a failed run
/// reports none.
pub fn run_metrics(end: RunEnd<'_>, duration: Duration) -> Vec<Metric> {
    let (failed, retried) = match end {
        RunEnd::Succeeded(_) => (0, 0),
        RunEnd::Retrying => (0, 1),
        RunEnd::Failed { .. } => (1, 0),
    };
    let mut metrics = vec![
        Metric::count(names::RUNS, 1),
        Metric::count(names::RUN_FAILED, failed),
        Metric::count(names::RUN_RETRIED, retried),
    ];
    match end {
        RunEnd::Succeeded(report) => metrics.extend([
            Metric::count(names::CONSECUTIVE_FAILURES, 0),
            Metric::count(
                names::REMOTE_CALLS,
                sum_counts(&report.counts, REMOTE_CALL_COUNTS),
            ),
            Metric::count(
                names::REMOTE_WRITES,
                sum_counts(&report.counts, WRITE_COUNTS),
            ),
            Metric::count(
                names::PLANNED_WRITES,
                sum_counts(&report.counts, PLANNED_WRITE_COUNTS),
            ),
        ]),
        RunEnd::Failed {
            consecutive_failures,
        } => metrics.push(Metric::count(
            names::CONSECUTIVE_FAILURES,
            u64::from(consecutive_failures),
        )),
        RunEnd::Retrying => {}
    }
    metrics.push(Metric::millis(names::DURATION, duration));
    metrics
}

/// The metrics of one apply.
pub fn apply_metrics(end: ApplyEnd, duration: Duration) -> Vec<Metric> {
    let (failed, retried) = match end {
        ApplyEnd::Succeeded { .. } => (0, 0),
        ApplyEnd::Retrying => (0, 1),
        ApplyEnd::Failed => (1, 0),
    };
    let mut metrics = vec![
        Metric::count(names::APPLIES, 1),
        Metric::count(names::APPLY_FAILED, failed),
        Metric::count(names::APPLY_RETRIED, retried),
    ];
    if let ApplyEnd::Succeeded { writes } = end {
        metrics.push(Metric::count(names::REMOTE_WRITES, writes));
    }
    metrics.push(Metric::millis(names::APPLY_DURATION, duration));
    metrics
}

/// The EMF record of `metrics` for one job and integration, stamped `timestamp_ms` (Unix ms).
/// A metric whose value is not a finite number is left out (EMF wants numbers).
pub fn emf_record(job: &str, integration_id: &str, timestamp_ms: i64, metrics: &[Metric]) -> Value {
    let mut root = Map::new();
    let mut definitions = Vec::new();
    for metric in metrics {
        let Some(value) = serde_json::Number::from_f64(metric.value) else {
            continue;
        };
        if root.contains_key(metric.name) {
            continue;
        }
        definitions.push(json!({"Name": metric.name, "Unit": metric.unit.as_str()}));
        root.insert(metric.name.to_string(), Value::Number(value));
    }
    // CloudWatch refuses an empty dimension value (and one over 1024 characters): such an id
    // (only a malformed message has one) keeps the `[Job]` set alone.
    let mut dimensions = vec![json!([JOB_DIMENSION])];
    if !integration_id.is_empty() && integration_id.len() <= 1024 {
        dimensions.push(json!([JOB_DIMENSION, INTEGRATION_DIMENSION]));
        root.insert(INTEGRATION_DIMENSION.into(), json!(integration_id));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": definitions,
            }],
        }),
    );
    root.insert(JOB_DIMENSION.into(), json!(job));
    root.insert(INTEGRATION_PROPERTY.into(), json!(integration_id));
    Value::Object(root)
}

/// Writes `record` as one line (EMF wants the whole document in one log event).
pub fn write_record(out: &mut impl Write, record: &Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Prints the EMF record of `metrics` on stdout, only inside Lambda (`AWS_LAMBDA_FUNCTION_NAME`
/// set), where the log agent turns it into metrics; elsewhere it would only be noise.
pub fn emit_job_metrics(job: &str, integration_id: &str, metrics: &[Metric]) {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        return;
    }
    let record = emf_record(
        job,
        integration_id,
        chrono::Utc::now().timestamp_millis(),
        metrics,
    );
    if let Err(e) = write_record(&mut std::io::stdout().lock(), &record) {
        tracing::warn!(error = %e, "could not write the metrics record");
    }
}

/// JSON log lines on stdout, filtered by `RUST_LOG` ([`log_filter`]).
pub fn init() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_ansi(false)
                .with_filter(filter),
        )
        .try_init();
}

/// `RUST_LOG`'s filter: a level (`info`, the default) and per-target levels
/// (`info,sync_shared::store=debug`). A blank or unreadable value logs at `info`.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    rust_log
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        })
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_defaults_to_info() {
        for unset in [None, Some(""), Some("  "), Some("info=verbose")] {
            let filter = log_filter(unset);
            assert!(
                filter.would_enable("sync_shared::store", &Level::INFO),
                "{unset:?}"
            );
            assert!(
                !filter.would_enable("sync_shared::store", &Level::DEBUG),
                "{unset:?}"
            );
        }
        let filter = log_filter(Some("warn,sync_shared::store=debug"));
        assert!(filter.would_enable("sync_shared::store", &Level::DEBUG));
        assert!(!filter.would_enable("sync_shared::worker", &Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
    }
}
