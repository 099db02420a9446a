//! Helpers shared by the Acronis client tests: a simulator with the example seed and a client
//! of its API client.
#![allow(dead_code)]

use acronis_sim::{AcronisSim, SimConfig};
use secrecy::SecretString;
use sync_shared::acronis::{AcronisClient, ClientOptions, TokenCache};
use sync_shared::secrets::AcronisCredentials;

/// The example seed's partner, customer and API client (see local/acronis-sim/README.md).
pub const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
pub const CONTOSO: &str = "7c2e4a10-0000-4000-8000-000000000002";
pub const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
pub const CLIENT_SECRET: &str = "example-secret";
pub const SECRET_NAME: &str = "acronis-autotask-sync/test/acronis";

pub async fn start_sim(config: SimConfig) -> AcronisSim {
    AcronisSim::start(config)
        .await
        .unwrap_or_else(|e| panic!("acronis-sim did not start: {e}"))
}

pub fn credentials(sim: &AcronisSim, secret: &str) -> AcronisCredentials {
    AcronisCredentials {
        client_id: SecretString::from(CLIENT_ID),
        client_secret: SecretString::from(secret),
        datacenter_url: sim.base_url(),
    }
}

/// Millisecond retry pauses and a token cache of its own, so tests do not share tokens.
pub fn options() -> ClientOptions {
    ClientOptions {
        tokens: TokenCache::default(),
        ..ClientOptions::fast()
    }
}

pub fn client(sim: &AcronisSim, options: ClientOptions) -> AcronisClient {
    AcronisClient::new(SECRET_NAME, credentials(sim, CLIENT_SECRET), options).expect("client")
}

/// `(enabled, quota value, quota version)` of one of a tenant's offering items, read from the
/// simulator's state.
pub fn item_state(sim: &AcronisSim, tenant: &str, name: &str) -> (bool, Option<u64>, i64) {
    sim.with_state(|state| {
        state
            .offering_items
            .iter()
            .find(|i| i.tenant_id == tenant && i.catalogue.name == name)
            .map(|i| (i.enabled, i.quota.value, i.quota.version))
            .unwrap_or_else(|| panic!("{tenant} has no {name}"))
    })
}
