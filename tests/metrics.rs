//! The jobs' metrics: the EMF records the worker runtime writes are valid by the embedded metric
//! format specification, and the template's alarms watch metrics the emitter produces.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e::template;
use serde_json::Value;
use sync_shared::Job;
use sync_shared::status::JobReport;
use sync_shared::telemetry::{
    ApplyEnd, INTEGRATION_DIMENSION, INTEGRATION_PROPERTY, JOB_DIMENSION, METRICS_NAMESPACE,
    PLANNED_WRITE_COUNTS, REMOTE_CALL_COUNTS, RunEnd, WRITE_COUNTS, apply_metrics, emf_record,
    names, run_metrics, write_record,
};

/// The units CloudWatch (and so EMF) accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

const TIMESTAMP: i64 = 1_767_225_600_000;

/// Problems of `line` by the EMF specification (an empty list: valid): the root is a JSON object
/// with `_aws` {`Timestamp` integer ms, `CloudWatchMetrics` [MetricDirective]}; each directive
/// has a `Namespace` string, `Dimensions` (arrays of at most 30 dimension names, each a string
/// member of the root) and `Metrics` (at most 100 {`Name`, optional `Unit` from the CloudWatch
/// list}); each metric is a number, or an array of at most 100 numbers, on the root.
fn emf_problems(line: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let root: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let Some(root) = root.as_object() else {
        return vec!["the root is not an object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["no _aws object".into()];
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|t| t > 0) => {}
        other => problems.push(format!("_aws.Timestamp is not integer ms: {other:?}")),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("_aws.CloudWatchMetrics is not an array".into());
        return problems;
    };
    if directives.is_empty() {
        problems.push("_aws.CloudWatchMetrics is empty".into());
    }
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        let Some(directive) = directive.as_object() else {
            problems.push(format!("{at} is not an object"));
            continue;
        };
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns.len() <= 1024 => {}
            other => problems.push(format!("{at}.Namespace is not a string: {other:?}")),
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problems.push(format!("{at}.Dimensions is not an array")),
            Some(sets) => {
                for (j, set) in sets.iter().enumerate() {
                    let Some(set) = set.as_array() else {
                        problems.push(format!("{at}.Dimensions[{j}] is not an array"));
                        continue;
                    };
                    if set.len() > 30 {
                        problems.push(format!("{at}.Dimensions[{j}] has over 30 dimensions"));
                    }
                    for name in set {
                        let Some(name) = name.as_str() else {
                            problems.push(format!("{at}.Dimensions[{j}] holds a non-string"));
                            continue;
                        };
                        match root.get(name) {
                            Some(Value::String(v)) if !v.is_empty() && v.len() <= 1024 => {}
                            other => problems.push(format!(
                                "dimension {name} is not a string member of the root: {other:?}"
                            )),
                        }
                    }
                }
            }
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            problems.push(format!("{at}.Metrics is not an array"));
            continue;
        };
        if metrics.len() > 100 {
            problems.push(format!("{at}.Metrics has over 100 definitions"));
        }
        for metric in metrics {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                problems.push(format!("{at} has a metric without a Name: {metric}"));
                continue;
            };
            if name.is_empty() || name.len() > 1024 {
                problems.push(format!("metric name {name:?} is empty or too long"));
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
            {
                problems.push(format!(
                    "metric {name} has unit {unit}, not a CloudWatch unit"
                ));
            }
            if let Some(extra) = metric
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .find(|k| !["Name", "Unit", "StorageResolution"].contains(&k.as_str()))
            {
                problems.push(format!("metric {name} has an unknown member {extra}"));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => problems.push(format!(
                    "metric {name} is not a number (or up to 100 numbers) on the root: {other:?}"
                )),
            }
        }
    }
    problems
}

/// The line `write_record` writes for these metrics.
fn line(job: &str, integration: &str, metrics: &[sync_shared::telemetry::Metric]) -> String {
    let record = emf_record(job, integration, TIMESTAMP, metrics);
    let mut out = Vec::new();
    write_record(&mut out, &record).expect("writes to memory");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(text.ends_with('\n'), "one line: {text}");
    assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
    text.trim_end().to_string()
}

fn parsed(line: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str::<Value>(line)
        .expect("JSON")
        .as_object()
        .cloned()
        .expect("object")
}

fn report(counts: &[(&str, u64)]) -> JobReport {
    JobReport {
        health: None,
        message: "done".into(),
        counts: counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn a_successful_run_writes_a_valid_record_with_calls_writes_and_duration() {
    let report = report(&[
        ("alerts_seen", 7),
        ("tickets_created", 2),
        ("tickets_catch_all", 1),
        ("notes_added", 3),
        ("tickets_completed", 1),
        ("alerts_dismissed", 1),
        ("autotask_requests", 40),
        ("acronis_requests", 5),
    ]);
    let line = line(
        "tickets",
        "contoso",
        &run_metrics(RunEnd::Succeeded(&report), Duration::from_millis(1234)),
    );
    assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
    let record = parsed(&line);
    let number = |name: &str| record[name].as_f64().unwrap_or(f64::NAN);
    assert_eq!(number(names::RUNS), 1.0);
    assert_eq!(number(names::RUN_FAILED), 0.0);
    assert_eq!(number(names::RUN_RETRIED), 0.0);
    assert_eq!(number(names::CONSECUTIVE_FAILURES), 0.0);
    assert_eq!(number(names::REMOTE_CALLS), 45.0);
    // The catch-all tickets are among the created ones: counted once.
    assert_eq!(number(names::REMOTE_WRITES), 7.0);
    assert_eq!(number(names::PLANNED_WRITES), 0.0);
    assert_eq!(number(names::DURATION), 1234.0);
    assert_eq!(record[JOB_DIMENSION], "tickets");
    assert_eq!(record[INTEGRATION_DIMENSION], "contoso");
    assert_eq!(record[INTEGRATION_PROPERTY], "contoso");
    assert_eq!(record["_aws"]["Timestamp"], TIMESTAMP);
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["Job"], ["Job", "Integration"]])
    );
    let units: BTreeMap<&str, &str> = directive["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["Name"].as_str()?, m["Unit"].as_str()?)))
        .collect();
    assert_eq!(units.get(names::DURATION), Some(&"Milliseconds"));
    assert_eq!(units.get(names::RUNS), Some(&"Count"));
}

#[test]
fn a_planner_run_reports_its_writes_as_planned_not_made() {
    for counts in [
        &[("writes_planned", 6), ("autotask_requests", 3)][..],
        &[("lines_to_adjust", 6), ("autotask_requests", 3)][..],
    ] {
        let report = report(counts);
        let line = line(
            "provisioning",
            "contoso",
            &run_metrics(RunEnd::Succeeded(&report), Duration::from_millis(5)),
        );
        assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
        let record = parsed(&line);
        assert_eq!(record[names::PLANNED_WRITES], 6.0);
        assert_eq!(record[names::REMOTE_WRITES], 0.0);
        assert_eq!(record[names::REMOTE_CALLS], 3.0);
    }
}

#[test]
fn a_failed_run_writes_a_valid_record_with_its_consecutive_failures() {
    let line = line(
        "setup",
        "contoso",
        &run_metrics(
            RunEnd::Failed {
                consecutive_failures: 3,
            },
            Duration::from_millis(20),
        ),
    );
    assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
    let record = parsed(&line);
    assert_eq!(record[names::RUNS], 1.0);
    assert_eq!(record[names::RUN_FAILED], 1.0);
    assert_eq!(record[names::RUN_RETRIED], 0.0);
    assert_eq!(record[names::CONSECUTIVE_FAILURES], 3.0);
    // A failed run reports no counts: no call or write metric rather than a false 0.
    assert!(!record.contains_key(names::REMOTE_CALLS), "{line}");
    assert!(!record.contains_key(names::REMOTE_WRITES), "{line}");
}

#[test]
fn a_retried_run_and_every_apply_outcome_write_valid_records() {
    let retried = line(
        "tickets",
        "contoso",
        &run_metrics(RunEnd::Retrying, Duration::from_millis(9)),
    );
    assert_eq!(emf_problems(&retried), Vec::<String>::new(), "{retried}");
    let record = parsed(&retried);
    assert_eq!(record[names::RUN_RETRIED], 1.0);
    assert_eq!(record[names::RUN_FAILED], 0.0);
    // Only a run that ended knows the status's count.
    assert!(!record.contains_key(names::CONSECUTIVE_FAILURES));

    for (end, failed, writes) in [
        (ApplyEnd::Succeeded { writes: 4 }, 0.0, Some(4.0)),
        (ApplyEnd::Retrying, 0.0, None),
        (ApplyEnd::Failed, 1.0, None),
    ] {
        let line = line(
            "usage",
            "contoso",
            &apply_metrics(end, Duration::from_millis(3)),
        );
        assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
        let record = parsed(&line);
        assert_eq!(record[names::APPLIES], 1.0);
        assert_eq!(record[names::APPLY_FAILED], failed);
        assert_eq!(
            record.get(names::REMOTE_WRITES).and_then(Value::as_f64),
            writes,
            "{line}"
        );
        assert_eq!(record[names::APPLY_DURATION], 3.0);
    }
}

#[test]
fn an_unusable_integration_id_keeps_the_record_valid_with_the_job_dimension_alone() {
    let long = "x".repeat(2000);
    for id in ["", long.as_str()] {
        let line = line(
            "setup",
            id,
            &run_metrics(RunEnd::Retrying, Duration::from_millis(1)),
        );
        assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
        assert_eq!(
            parsed(&line)["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Job"]])
        );
    }
}

#[test]
fn a_value_that_is_not_a_number_is_left_out() {
    let metrics = [
        sync_shared::telemetry::Metric::count(names::RUNS, 1),
        sync_shared::telemetry::Metric {
            name: names::DURATION,
            unit: sync_shared::telemetry::Unit::Milliseconds,
            value: f64::NAN,
        },
    ];
    let line = line("setup", "contoso", &metrics);
    assert_eq!(emf_problems(&line), Vec::<String>::new(), "{line}");
    assert!(!parsed(&line).contains_key(names::DURATION));
}

#[test]
fn the_validator_catches_what_the_specification_forbids() {
    let good = line(
        "setup",
        "contoso",
        &run_metrics(RunEnd::Retrying, Duration::from_millis(1)),
    );
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut value: Value = serde_json::from_str(&good).expect("JSON");
        change(&mut value);
        emf_problems(&value.to_string())
    };
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "Timestamp",
            Box::new(|v| v["_aws"]["Timestamp"] = "now".into()),
        ),
        (
            "Namespace",
            Box::new(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] = 1.into()),
        ),
        (
            "dimension Integration",
            Box::new(|v| v["Integration"] = 5.into()),
        ),
        (
            "unit",
            Box::new(|v| v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Ms".into()),
        ),
        ("not a number", Box::new(|v| v[names::RUNS] = "1".into())),
        (
            "over 30",
            Box::new(|v| {
                let set: Vec<Value> = (0..31).map(|_| Value::from("Job")).collect();
                v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = Value::Array(vec![set.into()]);
            }),
        ),
    ];
    for (expected, change) in cases {
        let problems = broken(change.as_ref());
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected}: {problems:?}"
        );
    }
}

#[test]
fn the_count_keys_behind_calls_and_writes_do_not_overlap() {
    let mut seen = BTreeSet::new();
    for key in REMOTE_CALL_COUNTS
        .iter()
        .chain(WRITE_COUNTS)
        .chain(PLANNED_WRITE_COUNTS)
    {
        assert!(seen.insert(*key), "{key} is listed twice");
    }
}

/// Every alarm on the product's namespace watches a metric the emitter writes, with the `Job`
/// dimension only (a dimension set every record carries) and a job that exists.
#[test]
fn the_template_alarms_watch_metrics_the_jobs_emit() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let jobs: Vec<&str> = Job::ALL.iter().map(|j| j.as_str()).collect();
    let mut watched = BTreeSet::new();
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let name = name.as_str().unwrap_or_default();
        let props = &resource["Properties"];
        let namespace = props["Namespace"].as_str().unwrap_or_default();
        if namespace == "AWS/SQS" {
            continue;
        }
        assert_eq!(
            namespace, METRICS_NAMESPACE,
            "{name} watches an unknown namespace"
        );
        let metric = props["MetricName"].as_str().unwrap_or_default();
        assert!(
            names::ALL.contains(&metric),
            "{name} watches {metric}, which no job emits"
        );
        let dimensions = props["Dimensions"].as_sequence().expect("Dimensions");
        assert_eq!(dimensions.len(), 1, "{name}: only the Job dimension");
        assert_eq!(
            dimensions[0]["Name"].as_str(),
            Some(JOB_DIMENSION),
            "{name}"
        );
        let job = dimensions[0]["Value"].as_str().unwrap_or_default();
        assert!(jobs.contains(&job), "{name} watches job {job}");
        watched.insert((metric.to_string(), job.to_string()));
    }
    for job in &jobs {
        assert!(
            watched.contains(&(names::CONSECUTIVE_FAILURES.to_string(), job.to_string())),
            "no failure alarm for {job}: {watched:?}"
        );
    }
    for job in Job::ALL
        .iter()
        .filter(|j| j.apply_queue_url_env().is_some())
    {
        assert!(
            watched.contains(&(names::APPLY_FAILED.to_string(), job.as_str().to_string())),
            "no apply failure alarm for {job}: {watched:?}"
        );
    }
}
