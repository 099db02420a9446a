//! Stored plans (G1) and the audit log (G3): what a planner decided before any remote write, and
//! every remote write an applier made or was refused.
//!
//! A plan is a header item `PLAN#<job>#<slot>` and one item per target (customer, contract,
//! alert) `PLAN#<job>#<slot>#T#<target>`, so a plan of thousands of customers never meets
//! DynamoDB's 400 KB item limit. Audit items are `AUDIT#<time>#<random>`. Both expire by TTL.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Item, integration_pk};
use crate::error::StoreError;
use crate::job::Job;
use crate::store::{Store, decode, encode, schema};

pub const PLAN_PREFIX: &str = "PLAN#";
pub const AUDIT_PREFIX: &str = "AUDIT#";
/// Plans and audit items are kept this long (DESIGN: 90 days).
pub const PLAN_RETENTION_DAYS: i64 = 90;
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_LIMIT: usize = 25;
const BATCH_WRITE_TRIES: u32 = 8;

/// One remote write a plan intends: what, on which object, the value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// e.g. `create tenant`, `set offering item`, `create admin user`.
    pub action: String,
    /// The object written, e.g. `pw_base_workstations` or `pw_base_storage @ <infra>`.
    pub object: String,
    pub before: String,
    pub after: String,
}

/// Everything a plan says about one target: the writes, and why nothing is written when so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTarget {
    /// The target's key: the Autotask company id for provisioning.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// `create`, `update`, `in_sync`, `error`, `excluded`.
    pub outcome: String,
    #[serde(default)]
    pub writes: Vec<PlannedWrite>,
    /// Errors and warnings the planner found for this target.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The plan's header: when, for which run, with what totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanHeader {
    pub integration_id: String,
    pub job: Job,
    pub run_id: String,
    pub slot: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub dry_run: bool,
    /// Targets with writes (each gets one apply message unless `dry_run`).
    pub targets_to_apply: u64,
    pub writes: u64,
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Integration-wide notes (a warning that concerns no single target).
    #[serde(default)]
    pub notes: Vec<String>,
    pub expires_at: i64,
}

/// A stored plan: its header and its targets (only those with writes, errors or notes).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    pub header: PlanHeader,
    pub targets: Vec<PlannedTarget>,
}

/// One remote write, done or refused (G3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub job: Job,
    pub run_id: String,
    /// The customer (company id), contract or alert the write was for.
    pub target: String,
    pub target_name: String,
    /// `POST /api/2/tenants`, `PUT offering items`, …
    pub action: String,
    pub object: String,
    pub before: String,
    pub after: String,
    /// `ok` or `failed: <error>`.
    pub result: String,
    pub expires_at: i64,
}

impl AuditEntry {
    /// A write made just now for `target` in run `run_id`: `Ok(())`, or the error's text when
    /// the remote side refused it. Kept as long as plans are.
    pub fn of(
        job: Job,
        run_id: String,
        (target, target_name): (&str, &str),
        write: PlannedWrite,
        result: Result<(), String>,
    ) -> Self {
        let at = Utc::now();
        AuditEntry {
            at,
            job,
            run_id,
            target: target.into(),
            target_name: target_name.into(),
            action: write.action,
            object: write.object,
            before: write.before,
            after: write.after,
            result: match result {
                Ok(()) => "ok".into(),
                Err(e) => format!("failed: {e}"),
            },
            expires_at: retention_expiry(at),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.result == "ok"
    }
}

pub fn plan_sk(job: Job, slot: DateTime<Utc>) -> String {
    format!(
        "{PLAN_PREFIX}{job}#{}",
        slot.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

fn plan_target_sk(job: Job, slot: DateTime<Utc>, key: &str) -> String {
    format!("{}#T#{key}", plan_sk(job, slot))
}

pub fn retention_expiry(now: DateTime<Utc>) -> i64 {
    (now + chrono::Duration::days(PLAN_RETENTION_DAYS)).timestamp()
}

impl Store {
    /// Stores a plan: the header last, so a reader that finds the header finds every target.
    pub async fn put_plan(
        &self,
        header: &PlanHeader,
        targets: &[PlannedTarget],
    ) -> Result<(), StoreError> {
        let pk = integration_pk(&header.integration_id);
        let mut items = Vec::with_capacity(targets.len());
        for target in targets {
            let mut item = encode(target)?;
            item.insert(schema::PK.into(), AttributeValue::S(pk.clone()));
            item.insert(
                schema::SK.into(),
                AttributeValue::S(plan_target_sk(header.job, header.slot, &target.key)),
            );
            item.insert(
                schema::TTL_ATTR.into(),
                AttributeValue::N(header.expires_at.to_string()),
            );
            items.push(item);
        }
        self.batch_put(items).await?;
        let mut item = encode(header)?;
        item.insert(schema::PK.into(), AttributeValue::S(pk));
        item.insert(
            schema::SK.into(),
            AttributeValue::S(plan_sk(header.job, header.slot)),
        );
        self.put_item(item).await
    }

    /// The newest stored plan of `job`, if any.
    pub async fn latest_plan(
        &self,
        integration_id: &str,
        job: Job,
    ) -> Result<Option<StoredPlan>, StoreError> {
        let pk = integration_pk(integration_id);
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", schema::PK)
            .expression_attribute_names("#sk", schema::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(format!("{PLAN_PREFIX}{job}#")),
            )
            .scan_index_forward(false)
            .limit(1)
            .projection_expression("#sk")
            .send()
            .await
            .map_err(|e| StoreError::aws("Query PLAN", e))?;
        let Some(newest) = output
            .items()
            .first()
            .and_then(|item| crate::config::string_attr(item, schema::SK))
        else {
            return Ok(None);
        };
        // `PLAN#<job>#<slot>` or `PLAN#<job>#<slot>#T#<key>`: the slot is the third part.
        let slot_text = newest.split('#').nth(2).unwrap_or_default();
        let Ok(slot) = DateTime::parse_from_rfc3339(slot_text) else {
            return Ok(None);
        };
        self.plan(integration_id, job, slot.with_timezone(&Utc))
            .await
    }

    /// The plan of one run; `None` while its header is not (yet) written.
    pub async fn plan(
        &self,
        integration_id: &str,
        job: Job,
        slot: DateTime<Utc>,
    ) -> Result<Option<StoredPlan>, StoreError> {
        let pk = integration_pk(integration_id);
        let header_sk = plan_sk(job, slot);
        let Some(header) = self.get_item(&pk, &header_sk).await? else {
            return Ok(None);
        };
        let header: PlanHeader = decode(&pk, &header_sk, header)?;
        let mut targets = Vec::new();
        for item in self.query_prefix(&pk, &format!("{header_sk}#T#")).await? {
            let sk = crate::config::string_attr(&item, schema::SK)
                .unwrap_or_default()
                .to_string();
            let mut item = item;
            item.remove(schema::TTL_ATTR);
            targets.push(decode(&pk, &sk, item)?);
        }
        Ok(Some(StoredPlan { header, targets }))
    }

    /// Records one remote write (G3).
    pub async fn put_audit(
        &self,
        integration_id: &str,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut item = encode(entry)?;
        item.insert(
            schema::PK.into(),
            AttributeValue::S(integration_pk(integration_id)),
        );
        item.insert(
            schema::SK.into(),
            AttributeValue::S(format!(
                "{AUDIT_PREFIX}{}#{:08x}",
                entry.at.to_rfc3339_opts(SecondsFormat::Nanos, true),
                rand::random::<u32>()
            )),
        );
        item.insert(
            schema::TTL_ATTR.into(),
            AttributeValue::N(entry.expires_at.to_string()),
        );
        self.put_item(item).await
    }

    /// Audit entries at or after `since`, oldest first.
    pub async fn audit(
        &self,
        integration_id: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let pk = integration_pk(integration_id);
        let mut entries = Vec::new();
        for item in self.query_prefix(&pk, AUDIT_PREFIX).await? {
            let sk = crate::config::string_attr(&item, schema::SK)
                .unwrap_or_default()
                .to_string();
            let entry: AuditEntry = decode(&pk, &sk, item)?;
            if since.is_none_or(|since| entry.at >= since) {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    /// Writes items 25 at a time, resending what DynamoDB leaves unprocessed.
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                        .map_err(|e| StoreError::Decode {
                            pk: String::new(),
                            sk: String::new(),
                            problem: format!("cannot build a put request: {e}"),
                        })
                })
                .collect::<Result<_, _>>()?;
            let mut delay = std::time::Duration::from_millis(20);
            for attempt in 1..=BATCH_WRITE_TRIES {
                let output = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table(), requests.clone())
                    .send()
                    .await
                    .map_err(|e| StoreError::aws("BatchWriteItem", e))?;
                let left = output
                    .unprocessed_items()
                    .and_then(|u| u.get(self.table()))
                    .cloned()
                    .unwrap_or_default();
                if left.is_empty() {
                    break;
                }
                if attempt == BATCH_WRITE_TRIES {
                    return Err(StoreError::Conflict {
                        operation: "BatchWriteItem",
                        message: format!(
                            "{} items still unprocessed after {attempt} tries",
                            left.len()
                        ),
                    });
                }
                requests = left;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Ok(())
    }
}
