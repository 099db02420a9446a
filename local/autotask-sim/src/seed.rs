//! The seed file format (documented in README.md; example in seed.example.json).

use crate::db::{Db, DbError, SimUser};
use crate::entities::PicklistValue;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<SimUser>,
    /// entity → camelCase field → values; replaces that default picklist.
    #[serde(default)]
    pub picklists: BTreeMap<String, BTreeMap<String, Vec<PicklistValue>>>,
    /// entity (URL name, e.g. "Companies") → rows (camelCase fields, optional `id`).
    #[serde(default)]
    pub entities: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    pub contract_services: Vec<SeedContractLine>,
    #[serde(default)]
    pub contract_service_bundles: Vec<SeedContractLine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedContractLine {
    #[serde(rename = "contractID")]
    pub contract_id: i64,
    #[serde(rename = "serviceID", default)]
    pub service_id: Option<i64>,
    #[serde(rename = "serviceBundleID", default)]
    pub service_bundle_id: Option<i64>,
    pub units: i64,
}

/// The example seed shipped with the crate (`seed.example.json`).
pub const EXAMPLE_SEED_JSON: &str = include_str!("../seed.example.json");

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("seed {context}: {source}")]
    Rejected { context: String, source: DbError },
}

impl Seed {
    pub fn from_json(text: &str) -> Result<Seed, SeedError> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn example() -> Result<Seed, SeedError> {
        Seed::from_json(EXAMPLE_SEED_JSON)
    }

    pub fn apply(&self, db: &mut Db) -> Result<(), SeedError> {
        for user in &self.users {
            db.add_user(user.clone());
        }
        for (entity, fields) in &self.picklists {
            for (field, values) in fields {
                db.set_picklist(entity, field, values.clone());
            }
        }
        for (entity, rows) in &self.entities {
            for row in rows {
                db.insert(entity, row.clone())
                    .map_err(|source| SeedError::Rejected {
                        context: format!("{entity} row {row}"),
                        source,
                    })?;
            }
        }
        for line in &self.contract_services {
            let service = line.service_id.unwrap_or_default();
            db.seed_contract_service(line.contract_id, service, line.units)
                .map_err(|source| SeedError::Rejected {
                    context: format!("contract service {service} on {}", line.contract_id),
                    source,
                })?;
        }
        for line in &self.contract_service_bundles {
            let bundle = line.service_bundle_id.unwrap_or_default();
            db.seed_contract_service_bundle(line.contract_id, bundle, line.units)
                .map_err(|source| SeedError::Rejected {
                    context: format!("contract service bundle {bundle} on {}", line.contract_id),
                    source,
                })?;
        }
        Ok(())
    }
}
