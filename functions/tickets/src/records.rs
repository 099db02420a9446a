//! What the tickets job keeps in the table:
//!
//! - `TICKET#<alert id>`: one per alert, written (conditionally) *before* its ticket is created
//!   and completed with the ticket id after (F26). A record left in `creating` by a timeout or
//!   a crash makes the next attempt look the ticket up by `externalID` before creating one.
//! - `CURSOR#tickets`: the alert watermark (Unix ns) with the ids seen at that very nanosecond,
//!   the alerts still to retry, and the ticket → alert (G7) watermark.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::StoreError;
use sync_shared::config::{Item, integration_pk};
use sync_shared::store::{Store, schema};

pub const TICKET_PREFIX: &str = "TICKET#";
pub const CURSOR_SK: &str = "CURSOR#tickets";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// The ticket may have been sent: look it up by `externalID` before creating it.
    Creating,
    /// The ticket exists (`ticket_id`) and the alert is active or its ticket still open.
    Open,
    /// The alert was closed and its ticket completed (by us or a technician).
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub alert_id: String,
    /// The alert's `externalID` on the current ticket: the alert id, then `<id>#<n>` for the
    /// n-th ticket of an alert re-raised after the re-open window.
    pub external_id: String,
    pub occurrence: u32,
    pub state: TicketState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    pub company_id: i64,
    /// The alert's `updatedAt` (ns) last handled.
    pub alert_updated_ns: i64,
    /// Another run holds a `creating` record until then (epoch ms).
    #[serde(default)]
    pub lease_until_ms: i64,
    pub run_id: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// `None` before the first run, which starts from the alerts active then.
    #[serde(default)]
    pub watermark_ns: Option<i64>,
    /// Alert ids handled whose `updatedAt` equals the watermark.
    #[serde(default)]
    pub ids_at_watermark: Vec<String>,
    /// Alerts whose handling failed: taken again next cycle.
    #[serde(default)]
    pub pending: Vec<String>,
    /// G7: tickets completed after this time were looked at.
    #[serde(default)]
    pub completed_since: Option<DateTime<Utc>>,
}

fn decode<T: serde::de::DeserializeOwned>(
    pk: &str,
    sk: &str,
    mut item: Item,
) -> Result<T, StoreError> {
    item.remove(schema::PK);
    item.remove(schema::SK);
    serde_dynamo::from_item(item).map_err(|e| StoreError::Decode {
        pk: pk.into(),
        sk: sk.into(),
        problem: e.to_string(),
    })
}

fn encode<T: Serialize>(pk: &str, sk: &str, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Decode {
        pk: pk.into(),
        sk: sk.into(),
        problem: format!("cannot encode: {e}"),
    })?;
    item.insert(schema::PK.into(), AttributeValue::S(pk.into()));
    item.insert(schema::SK.into(), AttributeValue::S(sk.into()));
    Ok(item)
}

pub fn ticket_sk(alert_id: &str) -> String {
    format!("{TICKET_PREFIX}{alert_id}")
}

pub async fn load_cursor(store: &Store, integration_id: &str) -> Result<Cursor, StoreError> {
    let pk = integration_pk(integration_id);
    match store.get_item(&pk, CURSOR_SK).await? {
        None => Ok(Cursor::default()),
        Some(item) => decode(&pk, CURSOR_SK, item),
    }
}

pub async fn save_cursor(
    store: &Store,
    integration_id: &str,
    cursor: &Cursor,
) -> Result<(), StoreError> {
    let pk = integration_pk(integration_id);
    store.put_item(encode(&pk, CURSOR_SK, cursor)?).await
}

/// The records of these alerts (consistent reads, one per alert; the alerts of one cycle).
pub async fn load_records(
    store: &Store,
    integration_id: &str,
    alert_ids: &[String],
) -> Result<std::collections::HashMap<String, TicketRecord>, StoreError> {
    let pk = integration_pk(integration_id);
    let reads = alert_ids.iter().map(|id| {
        let pk = pk.clone();
        async move {
            let sk = ticket_sk(id);
            match store.get_item(&pk, &sk).await? {
                None => Ok(None),
                Some(item) => decode::<TicketRecord>(&pk, &sk, item).map(Some),
            }
        }
    });
    let mut records = std::collections::HashMap::new();
    let results: Vec<Result<Option<TicketRecord>, StoreError>> = futures::stream::iter(reads)
        .buffer_unordered(16)
        .collect()
        .await;
    for record in results {
        if let Some(record) = record? {
            records.insert(record.alert_id.clone(), record);
        }
    }
    Ok(records)
}

use futures::StreamExt;

/// Every ticket record of the integration (G7 reads them to map tickets back to alerts).
pub async fn all_records(
    store: &Store,
    integration_id: &str,
) -> Result<Vec<TicketRecord>, StoreError> {
    let pk = integration_pk(integration_id);
    let mut records = Vec::new();
    for item in store.query_prefix(&pk, TICKET_PREFIX).await? {
        let sk = sync_shared::config::string_attr(&item, schema::SK)
            .unwrap_or_default()
            .to_string();
        records.push(decode(&pk, &sk, item)?);
    }
    Ok(records)
}

/// Writes the record if its version is still the one read (0: it must not exist); false when
/// another run wrote it first.
pub async fn save_record(
    store: &Store,
    integration_id: &str,
    record: &mut TicketRecord,
) -> Result<bool, StoreError> {
    let pk = integration_pk(integration_id);
    let sk = ticket_sk(&record.alert_id);
    let expected = record.version;
    record.version = expected + 1;
    let item = encode(&pk, &sk, &*record)?;
    let written = store.put_versioned(item, expected).await;
    if !matches!(written, Ok(true)) {
        record.version = expected;
    }
    written
}
