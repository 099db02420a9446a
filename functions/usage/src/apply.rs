//! The applier: one PAYG contract's lines to their desired units. For each line it re-reads
//! today's units and posts one `ContractServiceAdjustment` with the difference, only when there
//! is one. The ledger item `USAGE#<contract service>#<date>` records the intended units before
//! the POST and the result after: a timeout (after which Autotask may have applied the POST) or
//! a crash between the two never posts the difference twice, because the next attempt reads the
//! units again first and finds nothing left to do (H).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sync_shared::apply::{ApplyMessage, ApplyOutcome};
use sync_shared::autotask::{AutotaskClient, ContractServiceUnit, Filter, Paging, Query};
use sync_shared::config::integration_pk;
use sync_shared::plan::PlannedWrite;
use sync_shared::remote::load_settings;
use sync_shared::store::schema;

use crate::plan::{ContractDesired, LineUnits, whole};
use crate::{UsageContext, UsageError};

pub const LEDGER_PREFIX: &str = "USAGE#";
/// Ledger items are kept as long as the reconciliation report.
const LEDGER_RETENTION_DAYS: i64 = sync_shared::reconcile::RECON_RETENTION_DAYS;

/// `ContractServiceAdjustments` body (create-only, date-only `effectiveDate`, notes §3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Adjustment {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "serviceID")]
    service_id: i64,
    effective_date: String,
    unit_change: i64,
}

pub async fn apply_contract(
    ctx: &UsageContext,
    message: &ApplyMessage<ContractDesired>,
) -> Result<ApplyOutcome, UsageError> {
    // Only the settings: the lines to set came with the message.
    let Some(settings) = load_settings(&ctx.worker, &message.integration_id).await? else {
        return Ok(ApplyOutcome {
            writes: 0,
            warnings: vec!["the integration's settings item is gone; nothing applied".into()],
        });
    };
    if settings.dry_run {
        return Ok(ApplyOutcome::default());
    }
    let autotask = ctx
        .clients
        .autotask(&ctx.worker, &message.integration_id, &settings, true)
        .await?;
    let mut outcome = ApplyOutcome::default();
    for line in &message.desired.lines {
        if adjust_line(ctx, message, &autotask, line).await? {
            outcome.writes += 1;
        }
    }
    Ok(outcome)
}

/// Today's units of one contract line (0 when no unit row covers the day).
async fn units_on(
    autotask: &AutotaskClient,
    contract_service_id: i64,
    date: NaiveDate,
) -> Result<u64, UsageError> {
    let day = format!("{}T00:00:00", date.format("%Y-%m-%d"));
    let rows: Vec<ContractServiceUnit> = autotask
        .query_all(
            &Query::new(Filter::eq("contractServiceID", contract_service_id))
                .filter(Filter::lte("startDate", day.clone()))
                .filter(Filter::gte("endDate", day))
                .fields(&["units"]),
            Paging::NextPageUrl,
        )
        .await?;
    Ok(rows.iter().map(|r| whole(r.units.unwrap_or(0.0))).sum())
}

async fn adjust_line(
    ctx: &UsageContext,
    message: &ApplyMessage<ContractDesired>,
    autotask: &AutotaskClient,
    line: &LineUnits,
) -> Result<bool, UsageError> {
    let desired = &message.desired;
    // Read first: a POST that timed out may have been applied.
    let current = units_on(autotask, line.contract_service_id, desired.date).await?;
    let change =
        i64::try_from(line.units).unwrap_or(i64::MAX) - i64::try_from(current).unwrap_or(0);
    if change == 0 {
        return Ok(false);
    }
    let ledger_sk = format!(
        "{LEDGER_PREFIX}{}#{}",
        line.contract_service_id, desired.date
    );
    put_ledger(ctx, message, &ledger_sk, line, current, "posting", None).await?;
    let body = Adjustment {
        contract_id: desired.contract_id,
        service_id: line.service_id,
        effective_date: desired.date.format("%Y-%m-%d").to_string(),
        unit_change: change,
    };
    let result = autotask
        .create_in("ContractServiceAdjustments", &body)
        .await;
    let entry = message.audit_entry(
        PlannedWrite {
            action: "adjust units".into(),
            object: format!(
                "contract service {} ({})",
                line.contract_service_id, line.items
            ),
            before: current.to_string(),
            after: line.units.to_string(),
        },
        result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
    );
    ctx.worker
        .store
        .put_audit(&message.integration_id, &entry)
        .await?;
    let id = result?;
    put_ledger(ctx, message, &ledger_sk, line, current, "posted", Some(id)).await?;
    Ok(true)
}

async fn put_ledger(
    ctx: &UsageContext,
    message: &ApplyMessage<ContractDesired>,
    sk: &str,
    line: &LineUnits,
    before: u64,
    state: &str,
    adjustment_id: Option<i64>,
) -> Result<(), UsageError> {
    let expires = (Utc::now() + chrono::Duration::days(LEDGER_RETENTION_DAYS)).timestamp();
    let mut item = std::collections::HashMap::from([
        (
            schema::PK.to_string(),
            AttributeValue::S(integration_pk(&message.integration_id)),
        ),
        (schema::SK.to_string(), AttributeValue::S(sk.to_string())),
        (
            "contract_id".to_string(),
            AttributeValue::N(message.desired.contract_id.to_string()),
        ),
        (
            "intended_units".to_string(),
            AttributeValue::N(line.units.to_string()),
        ),
        (
            "units_before".to_string(),
            AttributeValue::N(before.to_string()),
        ),
        ("state".to_string(), AttributeValue::S(state.to_string())),
        ("run_id".to_string(), AttributeValue::S(message.run_id())),
        (
            "updated_at".to_string(),
            AttributeValue::S(Utc::now().to_rfc3339()),
        ),
        (
            schema::TTL_ATTR.to_string(),
            AttributeValue::N(expires.to_string()),
        ),
    ]);
    if let Some(id) = adjustment_id {
        item.insert(
            "adjustment_id".to_string(),
            AttributeValue::N(id.to_string()),
        );
    }
    ctx.worker.store.put_item(item).await?;
    Ok(())
}
