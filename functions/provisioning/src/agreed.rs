//! The agreed state of two-way sync (F19, H), one item per customer: `INTEGRATION#<id>` /
//! `AGREED#<company id>` with `items` = item label → `{units, on}` (see [`crate::two_way`]).
//! Written by the applier once a customer's apply has succeeded, or by the planner when the
//! customer needs no write; read by the planner in one query per integration.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sync_shared::StoreError;
use sync_shared::config::{Item, integration_pk, string_attr};
use sync_shared::store::{Store, schema};

use crate::two_way::{AGREED_PREFIX, AgreedItems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AgreedRecord {
    company_id: i64,
    #[serde(default)]
    items: AgreedItems,
    /// The run that recorded it.
    run_id: String,
    updated_at: String,
}

pub fn agreed_sk(company_id: i64) -> String {
    format!("{AGREED_PREFIX}{company_id}")
}

/// Every customer's agreed state of one integration, by company.
pub async fn load_all(
    store: &Store,
    integration_id: &str,
) -> Result<HashMap<i64, AgreedItems>, StoreError> {
    let records: Vec<AgreedRecord> = store
        .query_records(&integration_pk(integration_id), AGREED_PREFIX)
        .await?;
    Ok(records
        .into_iter()
        .map(|record| (record.company_id, record.items))
        .collect())
}

fn to_item(
    integration_id: &str,
    company_id: i64,
    items: &AgreedItems,
    run_id: &str,
) -> Result<Item, StoreError> {
    let record = AgreedRecord {
        company_id,
        items: items.clone(),
        run_id: run_id.to_string(),
        updated_at: Utc::now().to_rfc3339(),
    };
    let mut item: Item = serde_dynamo::to_item(&record).map_err(|e| StoreError::Decode {
        pk: integration_pk(integration_id),
        sk: agreed_sk(company_id),
        problem: format!("cannot encode: {e}"),
    })?;
    item.insert(
        schema::PK.into(),
        AttributeValue::S(integration_pk(integration_id)),
    );
    item.insert(schema::SK.into(), AttributeValue::S(agreed_sk(company_id)));
    Ok(item)
}

/// The run that last recorded one customer's agreed state (`None`: never recorded).
pub async fn recorded_by(
    store: &Store,
    integration_id: &str,
    company_id: i64,
) -> Result<Option<String>, StoreError> {
    let pk = integration_pk(integration_id);
    let sk = agreed_sk(company_id);
    Ok(store
        .get_item(&pk, &sk)
        .await?
        .and_then(|item| string_attr(&item, "run_id").map(str::to_string)))
}

/// Records one customer's agreed state.
pub async fn save(
    store: &Store,
    integration_id: &str,
    company_id: i64,
    items: &AgreedItems,
    run_id: &str,
) -> Result<(), StoreError> {
    store
        .put_item(to_item(integration_id, company_id, items, run_id)?)
        .await
}

/// Records the agreed states the planner settled (customers with nothing to apply).
pub async fn save_all(
    store: &Store,
    integration_id: &str,
    states: &[(i64, AgreedItems)],
    run_id: &str,
) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    let items = states
        .iter()
        .map(|(company, items)| to_item(integration_id, *company, items, run_id))
        .collect::<Result<Vec<_>, _>>()?;
    store.batch_put(items).await
}
