//! The single DynamoDB table: configuration items, status, run records.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::{
    ALERT_PREFIX, CUSTOMER_PREFIX, Item, RawConfigItems, SERVICE_PREFIX, SETTINGS_SK,
    integration_id_from_pk, integration_pk, string_attr,
};
use crate::error::StoreError;
use crate::status::{IntegrationStatus, RUN_PREFIX, RunRecord, RunState, STATUS_SK};

/// The table's key schema and indexes. `template.yaml` declares the same; a test compares them.
pub mod schema {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    /// Lists enabled integrations: partition `integration_state`, sort `pk`, keys only.
    pub const BY_STATE_INDEX: &str = "ByState";
    pub const STATE_ATTR: &str = "integration_state";
    /// Finds a customer mapping by Acronis tenant id: partition `tenant`, sort `pk`.
    pub const BY_TENANT_INDEX: &str = "ByTenant";
    pub const TENANT_ATTR: &str = "tenant";
    /// TTL attribute (epoch seconds) for run records and leases.
    pub const TTL_ATTR: &str = "expires_at";
}

#[derive(Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The result of claiming a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This worker owns the run now.
    Claimed(RunRecord),
    /// The run already finished: a duplicate delivery.
    Finished(RunRecord),
    /// Another worker holds an unexpired lease on the run.
    Busy,
}

const MAX_STATUS_TRIES: u32 = 8;

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// One page of enabled integration ids, from the keys-only `ByState` index.
    pub async fn enabled_integrations_page(
        &self,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<(Vec<String>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::BY_STATE_INDEX)
            .key_condition_expression("#state = :enabled")
            .expression_attribute_names("#state", schema::STATE_ATTR)
            .expression_attribute_values(
                ":enabled",
                AttributeValue::S(crate::config::IntegrationState::ENABLED.into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query ByState", e))?;
        let ids = output
            .items()
            .iter()
            .filter(|item| string_attr(item, schema::SK) == Some(SETTINGS_SK))
            .filter_map(|item| string_attr(item, schema::PK))
            .filter_map(integration_id_from_pk)
            .map(str::to_string)
            .collect();
        Ok((ids, output.last_evaluated_key().cloned()))
    }

    /// The settings and every mapping item of one integration: one read per kind.
    pub async fn load_config_items(
        &self,
        integration_id: &str,
    ) -> Result<RawConfigItems, StoreError> {
        let pk = integration_pk(integration_id);
        let (settings, services, customers, alerts) = futures::try_join!(
            self.get_item(&pk, SETTINGS_SK),
            self.query_prefix(&pk, SERVICE_PREFIX),
            self.query_prefix(&pk, CUSTOMER_PREFIX),
            self.query_prefix(&pk, ALERT_PREFIX),
        )?;
        Ok(RawConfigItems {
            settings,
            services,
            customers,
            alerts,
        })
    }

    pub async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk.into()))
            .key(schema::SK, AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        Ok(output.item)
    }

    /// Every item of a partition whose sort key starts with `prefix`, across pages.
    pub async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", schema::PK)
                .expression_attribute_names("#sk", schema::SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// `query_prefix`'s items decoded as records (keys removed); an item that does not decode
    /// is an error naming its key.
    pub async fn query_records<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_prefix(pk, prefix)
            .await?
            .into_iter()
            .map(|item| {
                let sk = string_attr(&item, schema::SK)
                    .unwrap_or_default()
                    .to_string();
                decode(pk, &sk, item)
            })
            .collect()
    }

    /// Writes a raw item (configuration written by users, examples, tests).
    pub async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem", e))?;
        Ok(())
    }

    pub async fn status(
        &self,
        integration_id: &str,
    ) -> Result<Option<IntegrationStatus>, StoreError> {
        let pk = integration_pk(integration_id);
        match self.get_item(&pk, STATUS_SK).await? {
            Some(item) => decode(&pk, STATUS_SK, item).map(Some),
            None => Ok(None),
        }
    }

    /// Read-modify-write of the status under an optimistic lock: jobs of one integration run on
    /// different queues and may finish at the same moment.
    pub async fn update_status(
        &self,
        integration_id: &str,
        now: DateTime<Utc>,
        mut change: impl FnMut(&mut IntegrationStatus),
    ) -> Result<IntegrationStatus, StoreError> {
        let pk = integration_pk(integration_id);
        for _ in 0..MAX_STATUS_TRIES {
            let current = self.status(integration_id).await?;
            let expected = current.as_ref().map(|s| s.version);
            let mut status = current.unwrap_or_else(|| IntegrationStatus::new(now));
            change(&mut status);
            status.version = expected.unwrap_or(0) + 1;
            let mut item = encode(&status)?;
            item.insert(schema::PK.into(), AttributeValue::S(pk.clone()));
            item.insert(schema::SK.into(), AttributeValue::S(STATUS_SK.into()));
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            let request = match expected {
                Some(version) => request
                    .condition_expression("#version = :expected")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(
                        ":expected",
                        AttributeValue::N(version.to_string()),
                    ),
                None => request
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", schema::PK),
            };
            match request.send().await {
                Ok(_) => return Ok(status),
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(StoreError::aws("PutItem STATUS", e)),
            }
        }
        Err(StoreError::Conflict {
            operation: "PutItem STATUS",
            message: format!(
                "status of {integration_id} kept changing under {MAX_STATUS_TRIES} tries"
            ),
        })
    }

    /// Claims a run for this worker: a conditional put that succeeds when the run is new, was
    /// released for retry, or its previous holder's lease ran out.
    pub async fn claim_run(&self, record: &RunRecord, now_ms: i64) -> Result<Claim, StoreError> {
        let pk = integration_pk(&record.integration_id);
        let sk = run_sk(&record.run_id);
        let existing = self.get_item(&pk, &sk).await?;
        let mut claim = record.clone();
        let condition = match &existing {
            None => None,
            Some(item) => {
                let previous: RunRecord = decode(&pk, &sk, item.clone())?;
                match previous.run_state {
                    RunState::Succeeded | RunState::Failed => return Ok(Claim::Finished(previous)),
                    RunState::InProgress if previous.lease_until_ms > now_ms => {
                        return Ok(Claim::Busy);
                    }
                    _ => {
                        claim.attempts = previous.attempts + 1;
                        claim.started_at = previous.started_at;
                        Some(previous.attempts)
                    }
                }
            }
        };
        let mut item = encode(&claim)?;
        item.insert(schema::PK.into(), AttributeValue::S(pk));
        item.insert(schema::SK.into(), AttributeValue::S(sk));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match condition {
            None => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", schema::PK),
            Some(attempts) => request
                .condition_expression("attempts = :attempts")
                .expression_attribute_values(":attempts", AttributeValue::N(attempts.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(Claim::Claimed(claim)),
            // Someone else claimed it between our read and write.
            Err(e) if is_condition_failure(&e) => Ok(Claim::Busy),
            Err(e) => Err(StoreError::aws("PutItem RUN claim", e)),
        }
    }

    /// Records how a claimed run ended (or releases it for a retry).
    pub async fn finish_run(&self, record: &RunRecord) -> Result<(), StoreError> {
        let pk = integration_pk(&record.integration_id);
        let sk = run_sk(&record.run_id);
        let mut item = encode(record)?;
        item.insert(schema::PK.into(), AttributeValue::S(pk));
        item.insert(schema::SK.into(), AttributeValue::S(sk));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attempts = :attempts")
            .expression_attribute_values(
                ":attempts",
                AttributeValue::N(record.attempts.to_string()),
            )
            .send()
            .await
            .map_err(|e| {
                if is_condition_failure(&e) {
                    StoreError::Conflict {
                        operation: "PutItem RUN finish",
                        message: format!(
                            "run {} was claimed again by another worker",
                            record.run_id
                        ),
                    }
                } else {
                    StoreError::aws("PutItem RUN finish", e)
                }
            })?;
        Ok(())
    }

    /// Writes `item` if the stored item's `version` attribute is still `expected` (0: the item
    /// must not exist); false when another writer got there first. The item carries its new
    /// version itself.
    pub async fn put_versioned(&self, item: Item, expected: u64) -> Result<bool, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if expected == 0 {
            request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", schema::PK)
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(StoreError::aws("PutItem (versioned)", e)),
        }
    }

    /// The run reports of one integration, newest first.
    pub async fn runs(&self, integration_id: &str) -> Result<Vec<RunRecord>, StoreError> {
        let pk = integration_pk(integration_id);
        let mut runs: Vec<RunRecord> = self.query_records(&pk, RUN_PREFIX).await?;
        runs.sort_by_key(|r: &RunRecord| std::cmp::Reverse(r.started_at));
        Ok(runs)
    }
}

pub fn run_sk(run_id: &str) -> String {
    format!("{RUN_PREFIX}{run_id}")
}

pub(crate) fn is_condition_failure<R>(
    err: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Decode {
        pk: String::new(),
        sk: String::new(),
        problem: format!("cannot encode: {e}"),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(
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
