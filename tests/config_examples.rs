//! The example configuration (config/examples) is valid, is what the README shows, and the
//! sample events in events/ are what the functions accept.

use std::path::PathBuf;

use e2e::{deployment, root};
use sync_shared::JobMessage;
use sync_shared::config::IntegrationConfig;

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("config/examples"))
        .expect("config/examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The README shows each example file right after a `<!-- example: PATH -->` marker.
#[test]
fn the_readme_shows_every_example_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for file in example_files() {
        let relative = file
            .strip_prefix(root())
            .expect("under root")
            .display()
            .to_string();
        let relative = relative.trim_start_matches("./");
        let marker = format!("<!-- example: {relative} -->");
        let after = readme
            .split_once(&marker)
            .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
            .1;
        let block = after
            .split_once("```json\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block)
            .unwrap_or_else(|| panic!("no json block after `{marker}`"));
        let text = std::fs::read_to_string(&file).expect("example");
        assert_eq!(
            block.trim(),
            text.trim(),
            "README.md differs from {relative}"
        );
    }
}

#[tokio::test]
async fn every_example_item_loads_and_validates() {
    let d = deployment("examples").await;
    let mut integrations = std::collections::BTreeSet::new();
    for file in example_files() {
        if file.ends_with("local-secrets.json") {
            continue;
        }
        d.load_items_file(&file).await.expect("load");
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        for item in items {
            let pk = item["pk"].as_str().expect("pk").to_string();
            integrations.insert(pk.trim_start_matches("INTEGRATION#").to_string());
        }
    }
    assert!(integrations.len() >= 2);
    for id in integrations {
        let raw = d.store.load_config_items(&id).await.expect("items");
        if let Err(e) = IntegrationConfig::from_items(&id, raw) {
            panic!("example integration {id} is invalid: {e}");
        }
    }
}

#[test]
fn sample_events_are_what_the_functions_accept() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("events")).expect("events/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.starts_with("schedule-") {
            let input: scheduler::ScheduleInput =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(format!("schedule-{}.json", input.job), name);
            seen += 1;
        } else if name.starts_with("sqs-") && name.ends_with("-apply.json") {
            let event: aws_lambda_events::event::sqs::SqsEvent =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!event.records.is_empty(), "{name} has no records");
            for record in event.records {
                let body = record.body.unwrap_or_default();
                let message: sync_shared::apply::ApplyMessage<serde_json::Value> =
                    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(format!("sqs-{}-apply.json", message.job), name);
            }
            seen += 1;
        } else if name.starts_with("sqs-") {
            let event: aws_lambda_events::event::sqs::SqsEvent =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!event.records.is_empty(), "{name} has no records");
            for record in event.records {
                let body = record.body.unwrap_or_default();
                let message: JobMessage =
                    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(format!("sqs-{}.json", message.job), name);
            }
            seen += 1;
        }
    }
    let appliers = sync_shared::Job::ALL
        .iter()
        .filter(|j| j.apply_queue_url_env().is_some())
        .count();
    assert_eq!(
        seen,
        2 * sync_shared::Job::ALL.len() + appliers,
        "one schedule and one SQS event per job, and one apply event per job that applies"
    );
}
