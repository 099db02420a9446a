//! `local-run`: the whole pipeline on one machine. Expects the local stack's environment
//! (`scripts/local-stack.sh start` writes it; `scripts/run-local.sh` does everything).

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DurationRound, TimeDelta, Utc};
use local_runner::{LocalDeployment, load_secrets_file};
use sync_shared::Job;
use sync_shared::aws::AwsClients;
use sync_shared::config::{SETTINGS_SK, integration_id_from_pk};

const USAGE: &str = "usage: local-run [--config DIR] [--secrets FILE]
  --config DIR    configuration items to load: every *.json file (default config/examples)
  --secrets FILE  secrets to create (default config/examples/local-secrets.json)";

#[tokio::main]
async fn main() -> Result<()> {
    let mut config_dir = PathBuf::from("config/examples");
    let mut secrets_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config_dir = args.next().context(USAGE)?.into(),
            "--secrets" => secrets_file = Some(PathBuf::from(args.next().context(USAGE)?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let secrets_file = secrets_file.unwrap_or_else(|| config_dir.join("local-secrets.json"));
    if std::env::var_os("RUST_LOG").is_some() {
        sync_shared::telemetry::init();
    }

    let clients = AwsClients::from_env().await;
    let name = format!(
        "acronis-autotask-sync-local-{}",
        Utc::now().format("%Y%m%d%H%M%S")
    );
    let deployment =
        LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;
    println!("table and queues: {name}");

    let secrets = load_secrets_file(&clients.secrets, &secrets_file).await?;
    println!("secrets created: {secrets} from {}", secrets_file.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&config_dir)
        .with_context(|| format!("reading {}", config_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json") && *path != secrets_file)
        .collect();
    files.sort();
    for file in &files {
        let count = deployment.load_items_file(file).await?;
        println!("items loaded: {count} from {}", file.display());
    }

    let slot = Utc::now().duration_trunc(TimeDelta::minutes(1))?;
    for job in Job::ALL {
        let fan_out = deployment.tick(job, slot).await?;
        let drained = deployment.drain(job, 1000).await?;
        println!(
            "job {job}: {} messages sent; {} invocations, {} messages handled, {} left for retry",
            fan_out.messages_sent,
            drained.invocations,
            drained.messages_deleted,
            drained.messages_failed
        );
    }

    println!();
    println!("{:<20} {:<11} message", "integration", "state");
    let settings = deployment
        .store
        .client()
        .scan()
        .table_name(&name)
        .filter_expression("sk = :settings")
        .expression_attribute_values(
            ":settings",
            aws_sdk_dynamodb::types::AttributeValue::S(SETTINGS_SK.into()),
        )
        .send()
        .await
        .context("Scan settings")?;
    let mut ids: Vec<String> = settings
        .items()
        .iter()
        .filter_map(|item| sync_shared::config::string_attr(item, "pk"))
        .filter_map(integration_id_from_pk)
        .map(str::to_string)
        .collect();
    ids.sort();
    for id in ids {
        match deployment.store.status(&id).await {
            Ok(Some(status)) => {
                let state = serde_json::to_value(status.state)?;
                println!(
                    "{:<20} {:<11} {}",
                    id,
                    state.as_str().unwrap_or_default(),
                    status.message
                );
            }
            Ok(None) => println!(
                "{:<20} {:<11} not scheduled (integration_state is not enabled)",
                id, "-"
            ),
            Err(e) => println!(
                "{:<20} {:<11} {}",
                id,
                "unreadable",
                sync_shared::error::error_chain(&e)
            ),
        }
    }
    Ok(())
}
