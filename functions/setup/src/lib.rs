//! The `setup` job: loads and validates the integration's configuration items and secrets and
//! records the result in its status.

pub mod acronis_setup;
pub mod autotask_setup;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use sync_shared::config::IntegrationConfig;
use sync_shared::status::{IntegrationHealth, JobReport};
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};
use sync_shared::{Job, JobMessage};

pub async fn handle(ctx: &WorkerContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(ctx, Job::Setup, event, |message| run_setup(ctx, message)).await
}

pub async fn run_setup(ctx: &WorkerContext, message: JobMessage) -> Result<JobReport, JobError> {
    let raw = ctx.store.load_config_items(&message.integration_id).await?;
    let config = IntegrationConfig::from_items(&message.integration_id, raw)?;
    let settings = &config.settings;
    let autotask_credentials = ctx.secrets.autotask(&settings.autotask_secret_name).await?;
    let acronis_credentials = ctx.secrets.acronis(&settings.acronis_secret_name).await?;
    let autotask = autotask_setup::run(ctx, &config, autotask_credentials).await?;
    if let Some(stopped) = autotask.stopped {
        return Ok(JobReport {
            health: Some(IntegrationHealth::Stopped),
            message: stopped,
            counts: autotask.counts,
        });
    }
    let mut counts: std::collections::BTreeMap<String, u64> = [
        ("service_mappings", config.services.len()),
        ("customer_mappings", config.customers.len()),
        ("alert_mappings", config.alerts.len()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v as u64))
    .collect();
    counts.extend(autotask.counts);
    let acronis = acronis_setup::check(
        &ctx.secrets,
        &settings.acronis_secret_name,
        acronis_credentials,
        sync_shared::acronis::ClientOptions::default(),
    )
    .await?;
    counts.insert("acronis_requests".into(), acronis.requests);
    Ok(JobReport {
        health: Some(IntegrationHealth::Connected),
        message: format!(
            "configuration valid ({} service, {} customer and {} alert mappings); secrets {} and {} readable; {}; {}",
            config.services.len(),
            config.customers.len(),
            config.alerts.len(),
            settings.autotask_secret_name,
            settings.acronis_secret_name,
            autotask.message,
            acronis.summary()
        ),
        counts,
    })
}
