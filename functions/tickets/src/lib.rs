//! The `tickets` job (SPEC F): every minute, alerts updated since the watermark become Autotask
//! tickets, notes, re-opened or completed tickets; completed tickets can dismiss their alerts
//! (G7). One run per integration does it all: a per-alert apply message would add an SQS round
//! trip per alert to a job that must finish within the minute, and the per-alert record
//! (`TICKET#<alert id>`, written before the ticket) gives the same never-twice guarantee, with
//! failed alerts retried from the cursor's pending list.

pub mod apply;
pub mod plan;
pub mod records;

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use sync_shared::acronis::{AcronisClient, Alert};
use sync_shared::autotask::AutotaskClient;
use sync_shared::config::integration_pk;
use sync_shared::plan::{PlanHeader, PlannedTarget, PlannedWrite, retention_expiry};
use sync_shared::remote::{ClientSetup, load_config};
use sync_shared::status::JobReport;
use sync_shared::store::schema;
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};
use sync_shared::{Job, JobMessage, StoreError};

use crate::plan::{AlertContext, Decision, Skip};
use crate::records::TicketState;

/// Alerts per page of the Alert Manager.
pub const ALERT_PAGE: usize = 500;
/// Most alerts handled side by side (the Autotask client keeps 3 calls per endpoint).
const ALERT_CONCURRENCY: usize = 6;

#[derive(Clone)]
pub struct TicketsContext {
    pub worker: WorkerContext,
    pub clients: ClientSetup,
    /// Alerts per page (tests use small pages to cross page boundaries).
    pub alert_page_size: usize,
}

impl TicketsContext {
    /// From the function's environment (see `WorkerContext::from_env`).
    pub fn from_env(
        dynamodb: &aws_sdk_dynamodb::Client,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<Self, String> {
        Ok(TicketsContext {
            worker: WorkerContext::from_env(dynamodb, secrets)?,
            clients: ClientSetup::production(),
            alert_page_size: ALERT_PAGE,
        })
    }
}

/// What the tickets job can fail with: the errors of every service it talks to.
pub type TicketsError = sync_shared::error::SyncError;

pub async fn handle(ctx: &TicketsContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(&ctx.worker, Job::Tickets, event, |message| async move {
        run_tickets(ctx, &message).await.map_err(JobError::from)
    })
    .await
}

/// Counts for the run report.
#[derive(Debug, Default)]
pub struct Tally(pub BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, key: &str) {
        *self.0.entry(key.to_string()).or_insert(0) += 1;
    }
}

pub async fn run_tickets(
    ctx: &TicketsContext,
    message: &JobMessage,
) -> Result<JobReport, TicketsError> {
    let worker = &ctx.worker;
    let integration_id = &message.integration_id;
    let config = load_config(worker, integration_id).await?;
    let settings = &config.settings;
    if !settings.features.ticket_creation {
        return Ok(JobReport {
            health: None,
            message: "ticket creation is off (settings features.ticket_creation); nothing read or written".into(),
            counts: BTreeMap::new(),
        });
    }
    let now = message.slot;
    let acronis = ctx.clients.acronis(worker, settings).await?;
    // Tickets are what people wait for: they are not slowed for the budget.
    let autotask = ctx
        .clients
        .autotask(worker, integration_id, settings, false)
        .await?;

    // Poll: everything updated since the watermark, plus the alerts to retry.
    let mut cursor = records::load_cursor(&worker.store, integration_id).await?;
    let batch = match cursor.watermark_ns {
        None => acronis.active_alerts(ctx.alert_page_size).await?,
        Some(since) => {
            acronis
                .alerts_updated_since(since, ctx.alert_page_size)
                .await?
        }
    };
    let seen_at_watermark: HashSet<&str> =
        cursor.ids_at_watermark.iter().map(String::as_str).collect();
    let mut alerts: Vec<Alert> = batch
        .alerts
        .iter()
        .filter(|a| {
            !(Some(a.updated_ns()) == cursor.watermark_ns
                && seen_at_watermark.contains(a.id.as_str()))
        })
        .cloned()
        .collect();
    let polled: HashSet<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let retry: Vec<String> = cursor
        .pending
        .iter()
        .filter(|id| !polled.contains(*id))
        .cloned()
        .collect();
    if !retry.is_empty() {
        alerts.extend(acronis.alerts_by_ids(&retry).await?);
    }
    let new_watermark = batch.watermark_ns;
    let mut ids_at_watermark: Vec<String> = batch
        .alerts
        .iter()
        .filter(|a| a.updated_ns() == new_watermark)
        .map(|a| a.id.clone())
        .collect();
    if Some(new_watermark) == cursor.watermark_ns {
        ids_at_watermark.extend(cursor.ids_at_watermark.iter().cloned());
    }
    ids_at_watermark.sort();
    ids_at_watermark.dedup();

    // Who: the mapped company of each tenant, through the ByTenant index.
    let tenants: HashSet<String> = alerts
        .iter()
        .filter_map(|a| a.tenant.uuid.clone())
        .collect();
    let companies = companies_by_tenant(worker, integration_id, &tenants).await?;
    let alert_ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let existing = records::load_records(&worker.store, integration_id, &alert_ids).await?;
    // Autotask's view of the tickets whose alerts were re-raised or cleared.
    let auto_close = settings.tickets.auto_close_on.is_some();
    let ticket_ids: Vec<i64> = alerts
        .iter()
        .filter_map(|a| existing.get(&a.id).map(|r| (a, r)))
        .filter(|(a, r)| r.state != TicketState::Creating && a.updated_ns() > r.alert_updated_ns)
        .filter(|(a, r)| !plan::is_cleared(a) || (auto_close && r.state == TicketState::Open))
        .filter_map(|(_, r)| r.ticket_id)
        .collect();
    let statuses = apply::ticket_statuses(&autotask, &ticket_ids).await?;

    let mut tally = Tally::default();
    let mut work = Vec::new();
    let mut plan_targets = Vec::new();
    for alert in &alerts {
        let record = existing.get(&alert.id);
        let company_id = alert
            .tenant
            .uuid
            .as_ref()
            .and_then(|t| companies.get(t))
            .copied();
        let mapping = config
            .alerts
            .iter()
            .find(|m| m.alert_type == alert.alert_type);
        let decision = plan::decide(&AlertContext {
            alert,
            record,
            company_id,
            mapping,
            settings: &settings.tickets,
            ticket: record
                .and_then(|r| r.ticket_id)
                .and_then(|id| statuses.get(&id).copied()),
            now,
        });
        tally.add("alerts_seen");
        match &decision {
            Decision::Skip(Skip::Unmapped) => {
                tally.add("alerts_unmapped");
                tracing::warn!(integration_id, alert = %alert.id, alert_type = %alert.alert_type, "alert of an unmapped tenant or type, no catch-all: counted");
            }
            Decision::Skip(Skip::DisabledType) => tally.add("alerts_type_disabled"),
            Decision::Skip(_) => {}
            _ => {}
        }
        if let Some(target) = planned_target(alert, &decision) {
            plan_targets.push(target);
        }
        if !matches!(decision, Decision::Skip(_)) {
            work.push((alert.clone(), decision, record.cloned(), company_id));
        }
    }

    // The plan is stored before any write (G1).
    let created_at = Utc::now();
    let header = PlanHeader {
        integration_id: integration_id.clone(),
        job: Job::Tickets,
        run_id: message.run_id(),
        slot: message.slot,
        created_at,
        dry_run: settings.dry_run,
        targets_to_apply: plan_targets.len() as u64,
        writes: plan_targets.iter().map(|t| t.writes.len() as u64).sum(),
        counts: tally.0.clone(),
        notes: Vec::new(),
        expires_at: retention_expiry(created_at),
    };
    if !plan_targets.is_empty() || settings.dry_run {
        worker.store.put_plan(&header, &plan_targets).await?;
    }
    if settings.dry_run {
        tally.0.insert("writes_planned".into(), header.writes);
        return Ok(report(&tally, &autotask, &acronis, true));
    }

    let applier = apply::Applier::new(ctx, message, &config, &autotask);
    let results =
        futures::stream::iter(work.into_iter().map(|(alert, decision, record, company)| {
            let applier = &applier;
            async move {
                let outcome = applier.apply(&alert, decision, record, company).await;
                (alert.id.clone(), outcome)
            }
        }))
        .buffer_unordered(ALERT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut pending = Vec::new();
    let mut failures = Vec::new();
    for (alert_id, outcome) in results {
        match outcome {
            Ok(done) => {
                for key in done {
                    tally.add(key);
                }
            }
            Err(e) => {
                tally.add("alerts_failed");
                failures.push(format!(
                    "alert {alert_id}: {}",
                    sync_shared::error::error_chain(&e)
                ));
                pending.push(alert_id);
            }
        }
    }
    tally
        .0
        .insert("alerts_pending".into(), pending.len() as u64);

    // G7: completed tickets dismiss their alerts.
    if settings.tickets.dismiss_alert_on_ticket_complete {
        let since = cursor
            .completed_since
            .unwrap_or(now - chrono::Duration::days(1));
        let dismissed = applier.dismiss_completed(&acronis, since).await?;
        tally.0.insert("alerts_dismissed".into(), dismissed);
        cursor.completed_since = Some(now - chrono::Duration::minutes(5));
    }

    cursor.watermark_ns = Some(new_watermark);
    cursor.ids_at_watermark = ids_at_watermark;
    cursor.pending = pending;
    records::save_cursor(&worker.store, integration_id, &cursor).await?;
    let mut report = report(&tally, &autotask, &acronis, false);
    if !failures.is_empty() {
        report.message.push_str(&format!(
            "; {} alerts failed and will be retried next cycle: {}",
            failures.len(),
            failures.join("; ")
        ));
    }
    Ok(report)
}

fn report(
    tally: &Tally,
    autotask: &AutotaskClient,
    acronis: &AcronisClient,
    dry_run: bool,
) -> JobReport {
    let mut counts = tally.0.clone();
    counts.insert("autotask_requests".into(), autotask.request_count());
    counts.insert("acronis_requests".into(), acronis.requests());
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    let mut message = format!(
        "{} alerts: {} tickets created, {} notes, {} re-opened, {} completed, {} to the catch-all, {} unmapped (no catch-all), {} of disabled types",
        get("alerts_seen"),
        get("tickets_created"),
        get("notes_added"),
        get("tickets_reopened"),
        get("tickets_completed"),
        get("tickets_catch_all"),
        get("alerts_unmapped"),
        get("alerts_type_disabled"),
    );
    if dry_run {
        message.push_str(&format!(
            "; dry run: {} writes planned and stored, none made",
            get("writes_planned")
        ));
    }
    if counts.contains_key("alerts_dismissed") {
        message.push_str(&format!(
            "; {} alerts dismissed for completed tickets",
            get("alerts_dismissed")
        ));
    }
    JobReport {
        health: None,
        message,
        counts,
    }
}

fn planned_target(alert: &Alert, decision: &Decision) -> Option<PlannedTarget> {
    let write = |action: &str, before: &str, after: String| PlannedWrite {
        action: action.into(),
        object: format!("alert {} ({})", alert.id, alert.alert_type),
        before: before.into(),
        after,
    };
    let (outcome, writes) = match decision {
        Decision::Create {
            company_id,
            occurrence,
            ..
        } => (
            "create",
            vec![write(
                "create ticket",
                "no ticket",
                format!(
                    "ticket for company {company_id}, externalID {}",
                    plan::external_id(&alert.id, *occurrence)
                ),
            )],
        ),
        Decision::Note { ticket_id } => (
            "update",
            vec![write(
                "add note",
                "open",
                format!("note on ticket {ticket_id}"),
            )],
        ),
        Decision::Reopen { ticket_id, .. } => (
            "update",
            vec![
                write(
                    "re-open ticket",
                    "complete",
                    format!("ticket {ticket_id} re-opened"),
                ),
                write("add note", "", format!("note on ticket {ticket_id}")),
            ],
        ),
        Decision::Close { ticket_id } => (
            "update",
            vec![
                write(
                    "complete ticket",
                    "open",
                    format!("ticket {ticket_id} complete"),
                ),
                write("add note", "", format!("note on ticket {ticket_id}")),
            ],
        ),
        Decision::Follow { .. } | Decision::Skip(_) => return None,
    };
    Some(PlannedTarget {
        key: alert.id.clone(),
        name: alert.alert_type.clone(),
        tenant_id: alert.tenant.uuid.clone(),
        outcome: outcome.into(),
        writes,
        notes: Vec::new(),
    })
}

/// The company each tenant is mapped to: customer mappings and tenants the product created,
/// found through the `ByTenant` index.
async fn companies_by_tenant(
    worker: &WorkerContext,
    integration_id: &str,
    tenants: &HashSet<String>,
) -> Result<HashMap<String, i64>, TicketsError> {
    let pk = integration_pk(integration_id);
    let store = &worker.store;
    let lookups = tenants.iter().map(|tenant| {
        let pk = pk.clone();
        async move {
            let output = store
                .client()
                .query()
                .table_name(store.table())
                .index_name(schema::BY_TENANT_INDEX)
                .key_condition_expression("#tenant = :tenant AND #pk = :pk")
                .expression_attribute_names("#tenant", schema::TENANT_ATTR)
                .expression_attribute_names("#pk", schema::PK)
                .expression_attribute_values(
                    ":tenant",
                    AttributeValue::S(tenant.to_ascii_lowercase()),
                )
                .expression_attribute_values(":pk", AttributeValue::S(pk))
                .send()
                .await
                .map_err(|e| StoreError::aws("Query ByTenant", e))?;
            let company = output.items().iter().find_map(|item| {
                let sk = sync_shared::config::string_attr(item, schema::SK)?;
                let id = sk
                    .strip_prefix(sync_shared::config::CUSTOMER_PREFIX)
                    .or_else(|| sk.strip_prefix("PROVISIONED#"))?;
                id.parse::<i64>().ok()
            });
            Ok::<_, TicketsError>(company.map(|c| (tenant.clone(), c)))
        }
    });
    let found: Vec<Result<Option<(String, i64)>, TicketsError>> = futures::stream::iter(lookups)
        .buffer_unordered(16)
        .collect()
        .await;
    let mut companies = HashMap::new();
    for entry in found {
        if let Some((tenant, company)) = entry? {
            companies.insert(tenant, company);
        }
    }
    Ok(companies)
}

use futures::StreamExt;
