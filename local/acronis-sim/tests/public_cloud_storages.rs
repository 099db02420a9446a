//! One enabled storage per customer (400/1015, notes §2.7) — public cloud storages aside: the
//! vendor guide's scenario 3 enables several storages of one vendor, and the Acronis storage,
//! for one customer side by side.

mod common;

use acronis_sim::{Seed, SimConfig};
use common::*;
use serde_json::json;

const CYBER_PROTECTION: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";
const AMAZON_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000103";
/// A second Acronis-hosted storage, offered to the partner and to Contoso.
const ACRONIS_STORAGE_2: &str = "5a3b1c2d-0000-4000-8000-0000000001b1";

fn storage(infra: &str, enabled: bool) -> serde_json::Value {
    json!({"application_id": CYBER_PROTECTION, "name": "pw_base_storage", "infra_id": infra,
        "status": i32::from(enabled)})
}

#[tokio::test]
async fn public_cloud_storages_are_enabled_beside_the_one_other_storage() {
    let sim = start(SimConfig::example()).await;
    let seed = Seed::from_json(
        &json!({"infras": [{"id": ACRONIS_STORAGE_2, "name": "Acronis Cloud 2", "backend_type": "acronis"}]})
            .to_string(),
    )
    .expect("seed");
    sim.apply_seed(&seed).expect("infra");
    sim.with_state(|s| {
        let copies: Vec<_> = s
            .offering_items
            .iter()
            .filter(|i| {
                (i.tenant_id == PARTNER || i.tenant_id == CONTOSO)
                    && i.infra_id.as_deref() == Some(ACRONIS_STORAGE)
            })
            .cloned()
            .map(|mut i| {
                i.infra_id = Some(ACRONIS_STORAGE_2.into());
                i.enabled = i.tenant_id == PARTNER;
                i
            })
            .collect();
        s.offering_items.extend(copies);
    });
    let token = token(&sim).await;
    let path = format!("/api/2/tenants/{CONTOSO}/offering_items");
    // Contoso has the Acronis storage enabled (example seed): Azure and Amazon S3 beside it.
    let (status, body) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"offering_items": [storage(AZURE_STORAGE, true), storage(AMAZON_STORAGE, true)]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A second storage that is not a public cloud is still refused.
    let (status, body) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"offering_items": [storage(ACRONIS_STORAGE_2, true)]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 1015, "{body}");
    let enabled: Vec<String> = sim.with_state(|s| {
        s.offering_items
            .iter()
            .filter(|i| i.tenant_id == CONTOSO && i.enabled && i.infra_id.is_some())
            .filter_map(|i| i.infra_id.clone())
            .collect()
    });
    assert_eq!(enabled.len(), 3, "{enabled:?}");
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}
