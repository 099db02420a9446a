//! The applier's Autotask side of two-way sync (F19): the contract changes of an apply message,
//! then the agreed state once the whole apply has succeeded.
//!
//! Creating a contract service and posting an adjustment are not idempotent, so neither is ever
//! repeated blindly (H): before each write the applier reads the remote side — the contract's
//! lines of the service, the line's units on the run's day — and writes only what is still
//! missing. A create or an adjustment that timed out after Autotask carried it out is found by
//! that read on the retry, and nothing is written twice. Every write leaves an audit item (G3).

use chrono::NaiveDate;
use serde::Serialize;
use sync_shared::apply::ApplyMessage;
use sync_shared::autotask::{
    AutotaskClient, AutotaskError, ContractService, ContractServiceUnit, Filter, Paging, Query,
    Service,
};
use sync_shared::config::Settings;
use sync_shared::plan::PlannedWrite;

use crate::plan::CustomerDesired;
use crate::two_way::{ADD_ACTION, ADJUST_ACTION, ContractChange, TwoWayDesired};
use crate::{ProvisioningContext, ProvisioningError, agreed};

/// `POST /Contracts/{id}/Services` body (notes §3.7).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewContractService {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "serviceID")]
    service_id: i64,
    unit_price: f64,
}

/// `ContractServiceAdjustments` body (create-only, date-only `effectiveDate`, notes §3.9).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Adjustment {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "contractServiceID")]
    contract_service_id: i64,
    #[serde(rename = "serviceID")]
    service_id: i64,
    effective_date: String,
    unit_change: i64,
}

/// Makes the message's contract changes with the settings the applier read (not in dry run);
/// returns how many writes succeeded.
pub async fn apply(
    ctx: &ProvisioningContext,
    message: &ApplyMessage<CustomerDesired>,
    settings: &Settings,
) -> Result<u64, ProvisioningError> {
    let Some(two_way) = message
        .desired
        .two_way
        .as_ref()
        .filter(|t| !t.changes.is_empty())
    else {
        return Ok(0);
    };
    let client = ctx
        .clients
        .autotask(&ctx.worker, &message.integration_id, settings, true)
        .await?;
    let lines = Lines {
        ctx,
        message,
        client,
        two_way,
    };
    let mut writes = 0;
    for change in &two_way.changes {
        writes += lines.make(change).await?;
    }
    Ok(writes)
}

/// Records the agreed state the apply has reached (after every other write succeeded).
pub async fn record_agreed(
    ctx: &ProvisioningContext,
    message: &ApplyMessage<CustomerDesired>,
) -> Result<(), ProvisioningError> {
    let Some(two_way) = &message.desired.two_way else {
        return Ok(());
    };
    let company_id: i64 = message.target.parse().map_err(|_| {
        ProvisioningError::Conflict(format!(
            "apply target {} is not a company id",
            message.target
        ))
    })?;
    agreed::save(
        &ctx.worker.store,
        &message.integration_id,
        company_id,
        &two_way.agreed,
        &message.run_id(),
    )
    .await?;
    Ok(())
}

struct Lines<'a> {
    ctx: &'a ProvisioningContext,
    message: &'a ApplyMessage<CustomerDesired>,
    client: AutotaskClient,
    two_way: &'a TwoWayDesired,
}

impl Lines<'_> {
    async fn make(&self, change: &ContractChange) -> Result<u64, ProvisioningError> {
        let date = self.two_way.date;
        match change {
            ContractChange::Create {
                contract_id,
                service_id,
                units,
                object,
            }
            | ContractChange::Restore {
                contract_id,
                service_id,
                units,
                object,
                ..
            } => {
                // Read first: a create that timed out may have been carried out.
                let line = match self.line_of(*contract_id, *service_id).await? {
                    Some(line) => line,
                    None => {
                        let price = self
                            .client
                            .get::<Service>(*service_id)
                            .await?
                            .and_then(|s| s.unit_price)
                            .unwrap_or(0.0);
                        let body = NewContractService {
                            contract_id: *contract_id,
                            service_id: *service_id,
                            unit_price: price,
                        };
                        let created = self
                            .client
                            .create_child("Contracts", *contract_id, "Services", &body)
                            .await;
                        self.audit(
                            ADD_ACTION,
                            object,
                            "absent",
                            &format!("{units} units"),
                            created.as_ref().map(|_| ()),
                        )
                        .await?;
                        let line = created?;
                        // The units a new line starts with are Autotask's: read them.
                        let current = self.units_on(line, date).await?;
                        return Ok(1 + self
                            .adjust(*contract_id, line, *service_id, object, current, *units)
                            .await?);
                    }
                };
                let current = self.units_on(line, date).await?;
                if current > 0 {
                    return Ok(0); // on the contract already
                }
                self.adjust(*contract_id, line, *service_id, object, current, *units)
                    .await
            }
            ContractChange::Remove {
                contract_id,
                line_id,
                service_id,
                object,
                ..
            } => {
                // Read first: an adjustment that timed out may have been carried out.
                let current = self.units_on(*line_id, date).await?;
                self.adjust(*contract_id, *line_id, *service_id, object, current, 0)
                    .await
            }
        }
    }

    /// One adjustment from `current` to `wanted` units, dated the run's day; none when equal.
    async fn adjust(
        &self,
        contract_id: i64,
        line: i64,
        service_id: i64,
        object: &str,
        current: u64,
        wanted: u64,
    ) -> Result<u64, ProvisioningError> {
        if current == wanted {
            return Ok(0);
        }
        let change =
            i64::try_from(wanted).unwrap_or(i64::MAX) - i64::try_from(current).unwrap_or(i64::MAX);
        let body = Adjustment {
            contract_id,
            contract_service_id: line,
            service_id,
            effective_date: self.two_way.date.format("%Y-%m-%d").to_string(),
            unit_change: change,
        };
        let result = self
            .client
            .create_in("ContractServiceAdjustments", &body)
            .await;
        self.audit(
            ADJUST_ACTION,
            object,
            &format!("{current} units"),
            &format!("{wanted} units"),
            result.as_ref().map(|_| ()),
        )
        .await?;
        result?;
        Ok(1)
    }

    /// The contract's line of a service, if it has one.
    async fn line_of(
        &self,
        contract_id: i64,
        service_id: i64,
    ) -> Result<Option<i64>, ProvisioningError> {
        let lines: Vec<ContractService> = self
            .client
            .query_all(
                &Query::new(Filter::eq("contractID", contract_id))
                    .filter(Filter::eq("serviceID", service_id))
                    .fields(&["contractID", "serviceID"]),
                Paging::NextPageUrl,
            )
            .await?;
        Ok(lines.iter().filter_map(|l| l.id).min())
    }

    /// A line's units on `date` (0 when no unit row covers it).
    async fn units_on(&self, line: i64, date: NaiveDate) -> Result<u64, ProvisioningError> {
        let day = format!("{}T00:00:00", date.format("%Y-%m-%d"));
        let rows: Vec<ContractServiceUnit> = self
            .client
            .query_all(
                &Query::new(Filter::eq("contractServiceID", line))
                    .filter(Filter::lte("startDate", day.clone()))
                    .filter(Filter::gte("endDate", day))
                    .fields(&["units"]),
                Paging::NextPageUrl,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.units.unwrap_or(0.0))
            .filter(|u| u.is_finite() && *u > 0.0)
            .map(|u| u.round() as u64)
            .sum())
    }

    async fn audit<T>(
        &self,
        action: &str,
        object: &str,
        before: &str,
        after: &str,
        result: Result<T, &AutotaskError>,
    ) -> Result<(), ProvisioningError> {
        let entry = self.message.audit_entry(
            PlannedWrite {
                action: action.into(),
                object: object.into(),
                before: before.into(),
                after: after.into(),
            },
            result.map(|_| ()).map_err(|e| e.to_string()),
        );
        self.ctx
            .worker
            .store
            .put_audit(&self.message.integration_id, &entry)
            .await?;
        Ok(())
    }
}
