//! How a job reaches its integration: the validated configuration, and the Autotask and Acronis
//! clients built from its settings and secrets. One place for what every job does first.

use crate::acronis::{self, AcronisClient};
use crate::autotask::{self, AutotaskClient};
use crate::config::{IntegrationConfig, SETTINGS_SK, Settings, integration_pk};
use crate::error::SyncError;
use crate::worker::WorkerContext;

/// How the clients are built. Production uses the defaults; tests and benchmarks shorten the
/// delays (or the timeouts).
#[derive(Clone)]
pub struct ClientSetup {
    pub acronis: acronis::ClientOptions,
    pub autotask_tuning: Option<fn(autotask::ClientOptions) -> autotask::ClientOptions>,
}

impl ClientSetup {
    pub fn production() -> Self {
        ClientSetup {
            acronis: acronis::ClientOptions::default(),
            autotask_tuning: None,
        }
    }

    /// Millisecond retry pauses on both clients, for runs against the simulators.
    pub fn fast() -> Self {
        ClientSetup {
            acronis: acronis::ClientOptions::fast(),
            autotask_tuning: Some(autotask::ClientOptions::with_fast_retries),
        }
    }

    /// The integration's Autotask client at its recorded zone. `background` jobs yield to the
    /// hourly budget (G5); a job people wait for (tickets) does not.
    pub async fn autotask(
        &self,
        worker: &WorkerContext,
        integration_id: &str,
        settings: &Settings,
        background: bool,
    ) -> Result<AutotaskClient, SyncError> {
        let credentials = worker
            .secrets
            .autotask(&settings.autotask_secret_name)
            .await?;
        let mut options = autotask::ClientOptions::for_settings(settings);
        options.background = background;
        if let Some(tune) = self.autotask_tuning {
            options = tune(options);
        }
        let zone = autotask::recorded_zone(&worker.store, integration_id).await?;
        Ok(AutotaskClient::connect(options, credentials, zone).await?)
    }

    /// The integration's Acronis client; a refused secret is dropped from the cache.
    pub async fn acronis(
        &self,
        worker: &WorkerContext,
        settings: &Settings,
    ) -> Result<AcronisClient, SyncError> {
        let credentials = worker
            .secrets
            .acronis(&settings.acronis_secret_name)
            .await?;
        Ok(AcronisClient::new(
            &settings.acronis_secret_name,
            credentials,
            self.acronis.clone(),
        )?
        .with_secrets_cache(worker.secrets.clone()))
    }
}

/// Every configuration item of the integration, validated.
pub async fn load_config(
    worker: &WorkerContext,
    integration_id: &str,
) -> Result<IntegrationConfig, SyncError> {
    let raw = worker.store.load_config_items(integration_id).await?;
    Ok(IntegrationConfig::from_items(integration_id, raw)?)
}

/// Only the settings item (appliers need nothing else); `None` when it was deleted.
pub async fn load_settings(
    worker: &WorkerContext,
    integration_id: &str,
) -> Result<Option<Settings>, SyncError> {
    let pk = integration_pk(integration_id);
    match worker.store.get_item(&pk, SETTINGS_SK).await? {
        None => Ok(None),
        Some(item) => Ok(Some(Settings::from_item(&pk, item)?)),
    }
}
