//! Setup's Acronis part: a connection check (token, partner tenant through `clients/{id}`, its
//! name) whose result the setup report folds into the status.

use std::sync::Arc;

use sync_shared::acronis::{AcronisClient, AcronisError, ClientOptions};
use sync_shared::secrets::{AcronisCredentials, SecretsCache};
use sync_shared::worker::JobError;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcronisConnection {
    pub partner_tenant_id: String,
    pub partner_name: String,
    /// HTTP requests the check sent (token included), for the run report.
    pub requests: u64,
}

impl AcronisConnection {
    pub fn summary(&self) -> String {
        format!(
            "Acronis partner tenant \"{}\" ({}) connected",
            self.partner_name, self.partner_tenant_id
        )
    }
}

/// Gets a token, finds the partner tenant the API client belongs to and reads its name.
pub async fn check(
    secrets: &Arc<SecretsCache>,
    secret_name: &str,
    credentials: AcronisCredentials,
    options: ClientOptions,
) -> Result<AcronisConnection, JobError> {
    let client = AcronisClient::new(secret_name, credentials, options)
        .map_err(setup_error)?
        .with_secrets_cache(secrets.clone());
    let partner = async {
        let partner_tenant_id = client.partner_tenant_id().await?;
        client.tenant(&partner_tenant_id).await
    }
    .await
    .map_err(setup_error)?;
    Ok(AcronisConnection {
        partner_tenant_id: partner.id,
        partner_name: partner.name,
        requests: client.requests(),
    })
}

/// Setup exists to tell the MSP whether the connection works, so an unreachable data center ends
/// this run with that message in the status at once (the next setup run checks again) instead of
/// waiting in the queue through every redelivery.
fn setup_error(error: AcronisError) -> JobError {
    match error {
        AcronisError::Unreachable { .. } => JobError::Remote {
            message: error.to_string(),
            retryable: false,
            source: Some(Box::new(error)),
        },
        other => other.into(),
    }
}
