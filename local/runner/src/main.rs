//! `local-run`: the whole pipeline on one machine. Expects the local stack's environment
//! (`scripts/local-stack.sh start` writes it; `scripts/run-local.sh` does everything).

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DurationRound, TimeDelta, Utc};
use local_runner::{ExampleSecret, LocalDeployment, put_secret};
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

    // Autotask is simulated in-process; the settings' zone lookup is sent to it.
    let autotask = start_autotask_sim().await?;
    sync_shared::autotask::set_process_zone_lookup_url(Some(autotask.base_url()));
    println!("autotask-sim: {}", autotask.base_url());
    // Acronis too: the example secrets' data-center URLs are pointed at it.
    let acronis = start_acronis_sim(&secrets_file, &config_dir).await?;
    println!("acronis-sim: {}", acronis.base_url());

    let clients = AwsClients::from_env().await;
    let name = format!(
        "acronis-autotask-sync-local-{}",
        Utc::now().format("%Y%m%d%H%M%S")
    );
    let deployment =
        LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;
    println!("table and queues: {name}");

    let secrets = load_secrets_for_acronis_sim(&clients.secrets, &secrets_file, &acronis).await?;
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
    autotask.shutdown().await;
    acronis.shutdown().await;
    Ok(())
}

/// The simulator's example database plus the API users and allocation code the example
/// integrations (config/examples) name, so that they connect.
async fn start_autotask_sim() -> Result<autotask_sim::AutotaskSim> {
    let mut seed = autotask_sim::Seed::example().context("autotask-sim example seed")?;
    for (user, secret, code) in [
        (
            "contoso-api-user@example.invalid",
            "local-only-autotask-secret",
            "LOCALINTEGRATIONCODE",
        ),
        (
            "fabrikam-api-user@example.invalid",
            "local-only-autotask-secret-2",
            "LOCALINTEGRATIONCODE2",
        ),
    ] {
        seed.users.push(autotask_sim::SimUser {
            integration_vendor: Some("Custom (Internal Integration)".into()),
            ..autotask_sim::SimUser::api(user, secret, code)
        });
    }
    let sim = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
        seed,
        ..autotask_sim::SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    sim.with_db(|db| -> Result<()> {
        db.insert(
            "BillingCodes",
            serde_json::json!({"name": "Acronis Cloud Services", "useType": 6, "isActive": true}),
        )?;
        // config/examples/service-mappings.json maps pw_base_servers to this id.
        db.insert(
            "Services",
            serde_json::json!({"id": 29683412, "name": "Acronis Servers", "periodType": 1,
                "unitPrice": 20.0, "billingCodeID": 29682100, "isActive": true}),
        )?;
        Ok(())
    })?;
    Ok(sim)
}

fn read_example_secrets(path: &std::path::Path) -> Result<Vec<ExampleSecret>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// An Acronis data center with, for each example Acronis secret, a partner tenant owning that
/// API client and the customer tenants the example customer mappings name.
async fn start_acronis_sim(
    secrets_file: &std::path::Path,
    config_dir: &std::path::Path,
) -> Result<acronis_sim::AcronisSim> {
    let sim = acronis_sim::AcronisSim::start(acronis_sim::SimConfig::example())
        .await
        .context("starting acronis-sim")?;
    let mappings: Vec<serde_json::Value> =
        std::fs::read_to_string(config_dir.join("customer-mappings.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
    for secret in read_example_secrets(secrets_file)? {
        let (Some(client_id), Some(client_secret)) = (
            secret.value["client_id"].as_str(),
            secret.value["client_secret"].as_str(),
        ) else {
            continue;
        };
        // Secret names are `<prefix>/<integration>/acronis`.
        let integration = secret.name.rsplit('/').nth(1).unwrap_or(&secret.name);
        let partner = sim
            .add_tenant(acronis_sim::TenantSeed::new(
                &format!("{integration} MSP (simulated)"),
                "partner",
                None,
            ))
            .map_err(|e| anyhow::anyhow!("acronis-sim partner for {integration}: {e:?}"))?;
        sim.add_api_client(acronis_sim::ApiClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            tenant_id: partner.clone(),
            name: format!("{integration} integration"),
            enabled: true,
        });
        let pk = format!("INTEGRATION#{integration}");
        for mapping in mappings.iter().filter(|m| m["pk"] == pk.as_str()) {
            let (Some(tenant), Some(company)) =
                (mapping["tenant"].as_str(), mapping["company_name"].as_str())
            else {
                continue;
            };
            if tenant.len() == 36 {
                let mut customer =
                    acronis_sim::TenantSeed::new(company, "customer", Some(&partner));
                customer.id = Some(tenant.into());
                sim.add_tenant(customer)
                    .map_err(|e| anyhow::anyhow!("acronis-sim customer {tenant}: {e:?}"))?;
            }
        }
    }
    Ok(sim)
}

/// Creates the example secrets, with every Acronis `datacenter_url` replaced by the simulator's.
async fn load_secrets_for_acronis_sim(
    client: &aws_sdk_secretsmanager::Client,
    path: &std::path::Path,
    acronis: &acronis_sim::AcronisSim,
) -> Result<usize> {
    let secrets = read_example_secrets(path)?;
    for secret in &secrets {
        let mut value = secret.value.clone();
        if value.get("datacenter_url").is_some() {
            value["datacenter_url"] = serde_json::json!(acronis.base_url());
        }
        put_secret(client, &secret.name, &value.to_string()).await?;
    }
    Ok(secrets.len())
}
