//! The product's own record of a tenant it creates for a company (H, "Mapping new"): item
//! `INTEGRATION#<id>` / `PROVISIONED#<company id>`, beside the user's `CUSTOMER#` mapping.
//!
//! It is written *before* the tenant is created (state `creating`), so a crash or a timeout
//! between the create and the record leaves a trace: the next attempt looks the tenant up by
//! name before it creates anything. The recorded tenant id wins over everything else. Its
//! `tenant` attribute feeds the `ByTenant` index, as customer mappings do.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::StoreError;
use sync_shared::config::integration_pk;
use sync_shared::store::{Store, schema};

pub const PROVISIONED_PREFIX: &str = "PROVISIONED#";

/// Why the product created the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionOrigin {
    /// A customer mapping item with `tenant: "new"`: managed while that item exists.
    MappingNew,
    /// F16 automatic creation: this record is the mapping.
    AutoCreate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionState {
    /// The create may have been sent; look the tenant up by name before sending it again.
    Creating,
    Created,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provisioned {
    pub company_id: i64,
    pub tenant_name: String,
    pub origin: ProvisionOrigin,
    pub state: ProvisionState,
    /// The tenant id once known (attribute `tenant`, indexed by `ByTenant`).
    #[serde(default, rename = "tenant", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Created in trial mode: switched to production after a full month (F8).
    #[serde(default)]
    pub provision_as_trial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_id: Option<String>,
    #[serde(default)]
    pub admin_role_set: bool,
    #[serde(default)]
    pub activation_email_sent: bool,
    /// The run that created it.
    pub run_id: String,
    /// Optimistic lock.
    #[serde(default)]
    pub version: u64,
}

pub fn provisioned_sk(company_id: i64) -> String {
    format!("{PROVISIONED_PREFIX}{company_id}")
}

/// Every record of one integration.
pub async fn load_all(store: &Store, integration_id: &str) -> Result<Vec<Provisioned>, StoreError> {
    store
        .query_records(&integration_pk(integration_id), PROVISIONED_PREFIX)
        .await
}

pub async fn load(
    store: &Store,
    integration_id: &str,
    company_id: i64,
) -> Result<Option<Provisioned>, StoreError> {
    let pk = integration_pk(integration_id);
    let sk = provisioned_sk(company_id);
    match store.get_item(&pk, &sk).await? {
        None => Ok(None),
        Some(mut item) => {
            item.remove(schema::PK);
            item.remove(schema::SK);
            serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Decode {
                    pk,
                    sk,
                    problem: e.to_string(),
                })
        }
    }
}

/// Writes the record if its version is still the one read (`version` 0: it must not exist);
/// returns false when someone else wrote it first.
pub async fn save(
    store: &Store,
    integration_id: &str,
    record: &mut Provisioned,
) -> Result<bool, StoreError> {
    let expected = record.version;
    record.version = expected + 1;
    let mut item: sync_shared::config::Item =
        serde_dynamo::to_item(&*record).map_err(|e| StoreError::Decode {
            pk: integration_pk(integration_id),
            sk: provisioned_sk(record.company_id),
            problem: format!("cannot encode: {e}"),
        })?;
    item.insert(
        schema::PK.into(),
        AttributeValue::S(integration_pk(integration_id)),
    );
    item.insert(
        schema::SK.into(),
        AttributeValue::S(provisioned_sk(record.company_id)),
    );
    let written = store.put_versioned(item, expected).await;
    if !matches!(written, Ok(true)) {
        record.version = expected;
    }
    written
}
