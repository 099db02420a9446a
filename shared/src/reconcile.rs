//! The reconciliation report (G2): per customer and month, Acronis usage against Autotask
//! contract units for every mapped item. The usage job writes it on every run (the month's
//! report is replaced); the admin CLI shows it (`admin reconcile <integration> --month YYYY-MM`).
//!
//! Items: `RECON#<YYYY-MM>#<company id>` (or `RECON#<YYYY-MM>#tenant#<tenant id>` for a tenant
//! no company maps), one per customer, holding its rows. Kept a year and a half (TTL).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::integration_pk;
use crate::error::StoreError;
use crate::store::{Store, decode, encode, schema};

pub const RECON_PREFIX: &str = "RECON#";
/// Reports are kept this long: invoices get questioned months later.
pub const RECON_RETENTION_DAYS: i64 = 550;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconStatus {
    InSync,
    /// Acronis usage is above what Autotask bills (PAYG units, or the prepaid quota).
    DriftUp,
    /// Autotask bills more than the usage (PAYG only: a prepaid contract may be under-used).
    DriftDown,
    /// A customer tenant with usage that no company maps.
    UnmappedTenant,
    /// Usage of an offering item that no service mapping names.
    UnmappedItem,
}

impl ReconStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconStatus::InSync => "in_sync",
            ReconStatus::DriftUp => "drift_up",
            ReconStatus::DriftDown => "drift_down",
            ReconStatus::UnmappedTenant => "unmapped_tenant",
            ReconStatus::UnmappedItem => "unmapped_item",
        }
    }

    pub fn is_drift(self) -> bool {
        self != ReconStatus::InSync
    }
}

/// One mapped item (or unmapped usage) of one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconRow {
    /// The offering item, storage role or public-cloud vendor, e.g. `pw_base_workstations`,
    /// `pw_base_storage @ <infra> (class 2)`, `public cloud azure`.
    pub item: String,
    /// The Autotask service (name or id as mapped), empty when unmapped.
    pub service: String,
    /// `payg`, `prepaid`, or empty when no active contract holds the service.
    pub contract_kind: String,
    /// Acronis usage in the service's unit (storage in GB, rounded up).
    pub usage: u64,
    /// Autotask units (summed over the company's contracts of that kind), today.
    pub units: u64,
    pub status: ReconStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconCustomer {
    pub month: String,
    /// The Autotask company id, or none for an unmapped tenant.
    #[serde(default)]
    pub company_id: Option<i64>,
    pub company_name: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    pub rows: Vec<ReconRow>,
    pub updated_at: DateTime<Utc>,
    pub run_id: String,
    pub expires_at: i64,
}

impl ReconCustomer {
    pub fn sk(&self) -> String {
        match (self.company_id, &self.tenant_id) {
            (Some(company), _) => format!("{RECON_PREFIX}{}#{company}", self.month),
            (None, Some(tenant)) => format!("{RECON_PREFIX}{}#tenant#{tenant}", self.month),
            (None, None) => format!("{RECON_PREFIX}{}#unknown", self.month),
        }
    }
}

impl Store {
    /// Replaces the month's report with these customers.
    pub async fn put_reconciliation(
        &self,
        integration_id: &str,
        customers: &[ReconCustomer],
    ) -> Result<(), StoreError> {
        let pk = integration_pk(integration_id);
        let mut items = Vec::with_capacity(customers.len());
        for customer in customers {
            let mut item = encode(customer)?;
            item.insert(schema::PK.into(), AttributeValue::S(pk.clone()));
            item.insert(schema::SK.into(), AttributeValue::S(customer.sk()));
            // `expires_at` is the table's TTL attribute.
            items.push(item);
        }
        self.batch_put(items).await
    }

    /// The stored report of one month (`YYYY-MM`).
    pub async fn reconciliation(
        &self,
        integration_id: &str,
        month: &str,
    ) -> Result<Vec<ReconCustomer>, StoreError> {
        let pk = integration_pk(integration_id);
        let mut customers = Vec::new();
        for item in self
            .query_prefix(&pk, &format!("{RECON_PREFIX}{month}#"))
            .await?
        {
            let sk = crate::config::string_attr(&item, schema::SK)
                .unwrap_or_default()
                .to_string();
            customers.push(decode(&pk, &sk, item)?);
        }
        Ok(customers)
    }
}
