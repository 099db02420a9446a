//! The `usage` job (SPEC E, G2): a planner per integration reads the contracts' units and the
//! mapped customers' Acronis usage in bulk, works out every PAYG contract line's desired units
//! for the period (F7, F23, F24, H), stores the plan and the reconciliation report, and sends one
//! apply message per contract that must change; an applier per contract re-reads each line's
//! units and posts one adjustment with the difference, guarded by a ledger ([`apply`]).

pub mod apply;
pub mod plan;
pub mod subtree;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use sync_shared::acronis::Usage;
use sync_shared::apply::{ApplyMessage, process_apply_batch};
use sync_shared::config::{IdOrLabel, IntegrationConfig, MappedTenant, integration_pk};
use sync_shared::plan::{PlanHeader, PlannedTarget, PlannedWrite, retention_expiry};
use sync_shared::queue::send_fifo;
use sync_shared::reconcile::{RECON_RETENTION_DAYS, ReconCustomer, ReconRow, ReconStatus};
use sync_shared::remote::{ClientSetup, load_config};
use sync_shared::status::JobReport;
use sync_shared::store::schema;
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};
use sync_shared::{Job, JobMessage};

use crate::plan::{Billed, ContractDesired, CurrentLine, ItemKey};

/// Tenants per `GET /tenants/usages` call is 100; page size of subtree reads.
const ACRONIS_PAGE: usize = 1000;
const SNAPSHOT_PREFIX: &str = "USAGESNAP#";

#[derive(Clone)]
pub struct UsageContext {
    pub worker: WorkerContext,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the planner sends apply messages (`USAGE_APPLY_QUEUE_URL`).
    pub apply_queue_url: String,
    pub clients: ClientSetup,
}

impl UsageContext {
    pub fn from_env(clients: &sync_shared::aws::AwsClients) -> Result<Self, String> {
        Ok(UsageContext {
            worker: WorkerContext::from_env(&clients.dynamodb, &clients.secrets)?,
            sqs: clients.sqs.clone(),
            apply_queue_url: sync_shared::aws::env_var("USAGE_APPLY_QUEUE_URL")?,
            clients: ClientSetup::production(),
        })
    }
}

/// What the usage job can fail with: the errors of every service it talks to.
pub type UsageError = sync_shared::error::SyncError;

pub async fn handle_plan(ctx: &UsageContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(&ctx.worker, Job::Usage, event, |message| async move {
        run_planner(ctx, &message).await.map_err(JobError::from)
    })
    .await
}

pub async fn handle_apply(ctx: &UsageContext, event: SqsEvent) -> SqsBatchResponse {
    process_apply_batch(
        &ctx.worker,
        Job::Usage,
        event,
        |message: ApplyMessage<ContractDesired>| async move {
            apply::apply_contract(ctx, &message)
                .await
                .map_err(JobError::from)
        },
    )
    .await
}

/// The mapped tenant of each company: customer mappings and tenants the product created.
async fn mapped_tenants(
    worker: &WorkerContext,
    config: &IntegrationConfig,
) -> Result<BTreeMap<i64, String>, UsageError> {
    let mut map = BTreeMap::new();
    for item in worker
        .store
        .query_prefix(&integration_pk(&config.integration_id), "PROVISIONED#")
        .await?
    {
        let company = sync_shared::config::string_attr(&item, schema::SK)
            .and_then(|sk| sk.strip_prefix("PROVISIONED#"))
            .and_then(|id| id.parse::<i64>().ok());
        let tenant = sync_shared::config::string_attr(&item, schema::TENANT_ATTR);
        if let (Some(company), Some(tenant)) = (company, tenant) {
            map.insert(company, tenant.to_string());
        }
    }
    for c in &config.customers {
        match &c.tenant {
            MappedTenant::Existing(tenant) => {
                map.insert(c.company_id, tenant.clone());
            }
            MappedTenant::New => {}
        }
    }
    Ok(map)
}

pub async fn run_planner(
    ctx: &UsageContext,
    message: &JobMessage,
) -> Result<JobReport, UsageError> {
    let worker = &ctx.worker;
    let integration_id = &message.integration_id;
    let config = load_config(worker, integration_id).await?;
    let settings = &config.settings;
    if !settings.features.billing {
        return Ok(JobReport {
            health: None,
            message: "billing is off (settings features.billing); nothing read or written".into(),
            counts: BTreeMap::new(),
        });
    }
    let day = message.slot.date_naive();
    let period = plan::period(&settings.usage_reporting, day);
    let autotask = ctx
        .clients
        .autotask(worker, integration_id, settings, true)
        .await?;
    let acronis = ctx.clients.acronis(worker, settings).await?;

    // Autotask in bulk: active Recurring Service contracts, units of mapped services today.
    let mut snapshot = provisioning::snapshot::read_autotask(&autotask, day, false).await?;
    let billed_items = plan::billed_items(&config.services);
    let mut billed: Vec<(Billed, i64)> = Vec::new();
    let mut unresolved = Vec::new();
    for b in billed_items {
        let id = match &b.service {
            IdOrLabel::Id(id) => Some(*id),
            IdOrLabel::Label(label) => snapshot
                .services_by_name
                .get(&label.trim().to_lowercase())
                .copied(),
        };
        match id {
            Some(id) => billed.push((b, id)),
            None => unresolved.push(format!("Autotask has no service {}", b.service)),
        }
    }
    let service_ids: Vec<i64> = billed
        .iter()
        .map(|(_, id)| *id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    provisioning::snapshot::read_units(&autotask, &mut snapshot, day, &service_ids, &[]).await?;

    // Acronis in bulk: the subtree, every customer's usage, the storages' backend types.
    let partner = acronis.partner_tenant_id().await?;
    let tenants = acronis.subtree_tenants(&partner, ACRONIS_PAGE).await?;
    let customers: Vec<String> = tenants
        .iter()
        .filter(|t| t.kind == "customer")
        .map(|t| t.id.clone())
        .collect();
    let mut usages: HashMap<String, Vec<Usage>> = acronis
        .usages(&customers)
        .await?
        .into_iter()
        .map(|t| (t.tenant, t.usages))
        .collect();
    let infra_ids: BTreeSet<String> = usages
        .values()
        .flatten()
        .filter_map(|u| u.infra_id.clone())
        .collect();
    let backend_types = acronis
        .infra_backend_types(&infra_ids.into_iter().collect::<Vec<_>>())
        .await?;
    let tenant_names: HashMap<&str, &str> = tenants
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();

    let mapped = mapped_tenants(worker, &config).await?;
    // F22: a mapped sub-partner is billed for its subtree's customers (read above, in bulk).
    let aggregated = subtree::aggregated_customers(
        &tenants,
        &mapped.values().map(String::as_str).collect(),
        &partner,
    );
    for (sub_partner, members) in &aggregated {
        let rows = subtree::aggregate(members.iter().filter_map(|m| usages.get(m)).flatten());
        usages.insert(sub_partner.clone(), rows);
    }
    let aggregated_members: HashSet<&String> = aggregated.values().flatten().collect();
    let quantities_of = |tenant: &str| {
        plan::quantities(
            usages.get(tenant).map(Vec::as_slice).unwrap_or_default(),
            &backend_types,
        )
    };
    // F7 previous month: the last usage the runs recorded in it.
    let recorded = match &period.range_from_month {
        Some(month) => load_snapshots(worker, integration_id, month).await?,
        None => HashMap::new(),
    };

    let contracts_by_company: HashMap<i64, Vec<&provisioning::plan::ContractInfo>> = snapshot
        .contracts
        .iter()
        .fold(HashMap::new(), |mut map, c| {
            map.entry(c.company_id).or_default().push(c);
            map
        });
    let contract_kind: HashMap<i64, bool> =
        snapshot.contracts.iter().map(|c| (c.id, c.payg)).collect();
    let mapped_names: HashSet<String> = config
        .services
        .iter()
        .filter_map(|m| match &m.subject {
            sync_shared::config::ServiceSubject::OfferingItem { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();

    let mut to_apply = Vec::new();
    let mut targets = Vec::new();
    let mut recon = Vec::new();
    let mut snapshots = Vec::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let now = Utc::now();
    for (company_id, tenant) in &mapped {
        let quantities = quantities_of(tenant);
        snapshots.push((tenant.clone(), quantities.clone()));
        let range_quantities = match &period.range_from_month {
            Some(_) => recorded.get(tenant).cloned().unwrap_or_default(),
            None => quantities.clone(),
        };
        // Units per service across the company's active contracts, for G2.
        let mut units: HashMap<i64, (f64, f64, bool, bool)> = HashMap::new();
        let company_contracts = contracts_by_company
            .get(company_id)
            .cloned()
            .unwrap_or_default();
        for row in &snapshot.service_units {
            if !company_contracts.iter().any(|c| c.id == row.contract_id) {
                continue;
            }
            let entry = units.entry(row.product_id).or_default();
            if contract_kind
                .get(&row.contract_id)
                .copied()
                .unwrap_or(false)
            {
                entry.0 += row.units;
                entry.2 = true;
            } else {
                entry.1 += row.units;
                entry.3 = true;
            }
        }
        let company_name = format!("company {company_id}");
        recon.push(ReconCustomer {
            month: plan::month_of(day),
            company_id: Some(*company_id),
            company_name: tenant_names
                .get(tenant.as_str())
                .map(|n| n.to_string())
                .unwrap_or(company_name),
            tenant_id: Some(tenant.clone()),
            rows: plan::recon_rows(&billed, &quantities, &units, &mapped_names),
            updated_at: now,
            run_id: message.run_id(),
            expires_at: (now + chrono::Duration::days(RECON_RETENTION_DAYS)).timestamp(),
        });
        // F23: each PAYG contract's lines.
        for contract in company_contracts.iter().filter(|c| c.payg) {
            let lines: Vec<CurrentLine> = snapshot
                .service_units
                .iter()
                .filter(|r| r.contract_id == contract.id)
                .map(|r| CurrentLine {
                    contract_service_id: r.line_id,
                    service_id: r.product_id,
                    units: r.units,
                })
                .collect();
            let desired =
                plan::desired_lines(&lines, &billed, &quantities, &range_quantities, &period);
            let changed: Vec<_> = desired
                .into_iter()
                .filter(|(line, current)| line.units != plan::whole(*current))
                .collect();
            *counts.entry("contracts_payg".into()).or_insert(0) += 1;
            if changed.is_empty() {
                continue;
            }
            targets.push(PlannedTarget {
                key: contract.id.to_string(),
                name: contract.name.clone(),
                tenant_id: Some(tenant.clone()),
                outcome: "update".into(),
                writes: changed
                    .iter()
                    .map(|(line, current)| PlannedWrite {
                        action: "adjust units".into(),
                        object: format!(
                            "contract service {} ({})",
                            line.contract_service_id, line.items
                        ),
                        before: plan::whole(*current).to_string(),
                        after: line.units.to_string(),
                    })
                    .collect(),
                notes: Vec::new(),
            });
            to_apply.push(ApplyMessage {
                integration_id: integration_id.clone(),
                job: Job::Usage,
                slot: message.slot,
                target: contract.id.to_string(),
                target_name: format!("{} (company {company_id})", contract.name),
                desired: ContractDesired {
                    contract_id: contract.id,
                    company_id: *company_id,
                    date: day,
                    lines: changed.into_iter().map(|(line, _)| line).collect(),
                },
            });
        }
    }
    // G2: tenants with usage that no company maps.
    let mapped_tenant_ids: HashSet<&String> = mapped.values().collect();
    for tenant in &customers {
        if mapped_tenant_ids.contains(tenant) || aggregated_members.contains(tenant) {
            continue;
        }
        let rows: Vec<ReconRow> = quantities_of(tenant)
            .into_iter()
            .filter(|(_, usage)| *usage > 0)
            .map(|(key, usage)| ReconRow {
                item: key.0,
                service: String::new(),
                contract_kind: String::new(),
                usage,
                units: 0,
                status: ReconStatus::UnmappedTenant,
            })
            .collect();
        if !rows.is_empty() {
            recon.push(ReconCustomer {
                month: plan::month_of(day),
                company_id: None,
                company_name: tenant_names
                    .get(tenant.as_str())
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                tenant_id: Some(tenant.clone()),
                rows,
                updated_at: now,
                run_id: message.run_id(),
                expires_at: (now + chrono::Duration::days(RECON_RETENTION_DAYS)).timestamp(),
            });
        }
    }
    for customer in &recon {
        for row in &customer.rows {
            *counts
                .entry(format!("recon_{}", row.status.as_str()))
                .or_insert(0) += 1;
        }
    }
    worker
        .store
        .put_reconciliation(integration_id, &recon)
        .await?;
    save_snapshots(worker, integration_id, &plan::month_of(day), &snapshots).await?;

    // The plan is stored before any write (G1).
    let created_at = Utc::now();
    let writes: u64 = targets.iter().map(|t| t.writes.len() as u64).sum();
    let header = PlanHeader {
        integration_id: integration_id.clone(),
        job: Job::Usage,
        run_id: message.run_id(),
        slot: message.slot,
        created_at,
        dry_run: settings.dry_run,
        targets_to_apply: targets.len() as u64,
        writes,
        counts: counts.clone(),
        notes: unresolved.clone(),
        expires_at: retention_expiry(created_at),
    };
    worker.store.put_plan(&header, &targets).await?;
    let mut sent = 0;
    if !settings.dry_run && !to_apply.is_empty() {
        let messages = to_apply
            .iter()
            .map(ApplyMessage::to_fifo)
            .collect::<Result<Vec<_>, _>>()?;
        send_fifo(&ctx.sqs, &ctx.apply_queue_url, &messages).await?;
        sent = messages.len();
    }
    counts.insert("lines_to_adjust".into(), writes);
    counts.insert("apply_messages_sent".into(), sent as u64);
    counts.insert("autotask_requests".into(), autotask.request_count());
    counts.insert("acronis_requests".into(), acronis.requests());
    let drift = counts
        .iter()
        .filter(|(k, _)| k.starts_with("recon_") && *k != "recon_in_sync")
        .map(|(_, v)| *v)
        .sum::<u64>();
    let mut text = format!(
        "{} PAYG contracts: {} lines to adjust{}; {}; reconciliation {}: {} rows drifted or unmapped",
        counts.get("contracts_payg").copied().unwrap_or(0),
        writes,
        if settings.dry_run {
            " (dry run: planned and stored, none made)"
        } else {
            ""
        },
        period.note,
        plan::month_of(day),
        drift
    );
    for note in &unresolved {
        text.push_str("; ");
        text.push_str(note);
    }
    Ok(JobReport {
        health: None,
        message: text,
        counts,
    })
}

/// The usage recorded per tenant in `month` (F7 previous month).
async fn load_snapshots(
    worker: &WorkerContext,
    integration_id: &str,
    month: &str,
) -> Result<HashMap<String, BTreeMap<ItemKey, u64>>, UsageError> {
    let pk = integration_pk(integration_id);
    let mut out = HashMap::new();
    for item in worker
        .store
        .query_prefix(&pk, &format!("{SNAPSHOT_PREFIX}{month}#"))
        .await?
    {
        let tenant = sync_shared::config::string_attr(&item, "tenant_id")
            .unwrap_or_default()
            .to_string();
        let values: BTreeMap<String, u64> = item
            .get("quantities")
            .and_then(|v| v.as_s().ok())
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        out.insert(
            tenant,
            values.into_iter().map(|(k, v)| (ItemKey(k), v)).collect(),
        );
    }
    Ok(out)
}

/// Records this run's usage per tenant as the month's latest (read by previous-month runs).
async fn save_snapshots(
    worker: &WorkerContext,
    integration_id: &str,
    month: &str,
    snapshots: &[(String, BTreeMap<ItemKey, u64>)],
) -> Result<(), UsageError> {
    let pk = integration_pk(integration_id);
    let expires = (Utc::now() + chrono::Duration::days(100)).timestamp();
    let items = snapshots
        .iter()
        .map(|(tenant, quantities)| {
            let values: BTreeMap<&str, u64> =
                quantities.iter().map(|(k, v)| (k.0.as_str(), *v)).collect();
            HashMap::from([
                (schema::PK.to_string(), AttributeValue::S(pk.clone())),
                (
                    schema::SK.to_string(),
                    AttributeValue::S(format!("{SNAPSHOT_PREFIX}{month}#{tenant}")),
                ),
                ("tenant_id".to_string(), AttributeValue::S(tenant.clone())),
                (
                    "quantities".to_string(),
                    AttributeValue::S(serde_json::to_string(&values).unwrap_or_default()),
                ),
                (
                    schema::TTL_ATTR.to_string(),
                    AttributeValue::N(expires.to_string()),
                ),
            ])
        })
        .collect();
    worker.store.batch_put(items).await?;
    Ok(())
}
