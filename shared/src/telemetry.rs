//! JSON logs for CloudWatch and metrics in the embedded metric format (a log line, no API call).

use serde_json::json;

pub const METRICS_NAMESPACE: &str = "AcronisAutotaskSync";

/// JSON log lines on stdout, level from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .try_init();
}

/// An EMF record: CloudWatch turns it into metrics with the `Job` dimension; the integration id
/// rides along as a searchable property without multiplying metrics.
/// Printed only inside Lambda, where the log agent parses it.
pub fn emit_job_metrics(job: &str, integration_id: &str, metrics: &[(&str, f64)]) {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        return;
    }
    let timestamp = chrono::Utc::now().timestamp_millis();
    let mut record = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Job"]],
                "Metrics": metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        },
        "Job": job,
        "integration_id": integration_id,
    });
    if let Some(object) = record.as_object_mut() {
        for (name, value) in metrics {
            object.insert((*name).to_string(), json!(value));
        }
    }
    println!("{record}");
}
