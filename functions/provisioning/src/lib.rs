//! The `provisioning` job (SPEC D): a planner per integration reads Autotask and Acronis in bulk
//! and computes every mapped customer's desired tenant and quotas ([`plan`]), stores the plan
//! (G1) and sends one apply message per customer that must change; an applier per customer
//! brings the tenant to that state ([`apply`]) and audits every write (G3).

pub mod agreed;
pub mod apply;
pub mod contract_lines;
pub mod deprovision;
pub mod plan;
pub mod provisioned;
pub mod public_cloud;
pub mod snapshot;
pub mod two_way;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use sync_shared::apply::{ApplyMessage, process_apply_batch};
use sync_shared::config::{AccountBasis, integration_pk};
use sync_shared::plan::{PlanHeader, PlannedTarget, retention_expiry};
use sync_shared::queue::send_fifo;
use sync_shared::remote::{ClientSetup, load_config};
use sync_shared::status::{CustomerIssue, IssueKind, IssueSource, JobReport};
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};
use sync_shared::{Job, JobMessage};

use crate::plan::{CustomerDesired, Outcome, PlanInput};

/// What the provisioning functions are given at cold start.
#[derive(Clone)]
pub struct ProvisioningContext {
    pub worker: WorkerContext,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the planner sends apply messages (`PROVISIONING_APPLY_QUEUE_URL`).
    pub apply_queue_url: String,
    pub clients: ClientSetup,
}

impl ProvisioningContext {
    /// From the function's environment (see `WorkerContext::from_env`), plus the apply queue.
    pub fn from_env(clients: &sync_shared::aws::AwsClients) -> Result<Self, String> {
        Ok(ProvisioningContext {
            worker: WorkerContext::from_env(&clients.dynamodb, &clients.secrets)?,
            sqs: clients.sqs.clone(),
            apply_queue_url: sync_shared::aws::env_var("PROVISIONING_APPLY_QUEUE_URL")?,
            clients: ClientSetup::production(),
        })
    }
}

/// What provisioning can fail with: the errors of every service it talks to.
pub type ProvisioningError = sync_shared::error::SyncError;

/// The planner: one message per integration from the scheduler.
pub async fn handle_plan(ctx: &ProvisioningContext, event: SqsEvent) -> SqsBatchResponse {
    process_fifo_batch(
        &ctx.worker,
        Job::Provisioning,
        event,
        |message| async move { run_planner(ctx, &message).await.map_err(JobError::from) },
    )
    .await
}

/// The applier: one message per customer from the planner.
pub async fn handle_apply(ctx: &ProvisioningContext, event: SqsEvent) -> SqsBatchResponse {
    process_apply_batch(
        &ctx.worker,
        Job::Provisioning,
        event,
        |message: ApplyMessage<CustomerDesired>| async move {
            apply::apply_customer(ctx, &message)
                .await
                .map_err(JobError::from)
        },
    )
    .await
}

/// Reads both sides, plans, stores the plan, sends the apply messages (unless `dry_run`).
pub async fn run_planner(
    ctx: &ProvisioningContext,
    message: &JobMessage,
) -> Result<JobReport, ProvisioningError> {
    let worker = &ctx.worker;
    let integration_id = &message.integration_id;
    let config = load_config(worker, integration_id).await?;
    let settings = &config.settings;
    if !settings.features.billing {
        return Ok(JobReport {
            health: None,
            message: "billing and provisioning is off (settings features.billing); nothing read or written".into(),
            counts: BTreeMap::new(),
        });
    }
    let now = message.slot;
    let day = now.date_naive();
    let autotask = ctx
        .clients
        .autotask(worker, integration_id, settings, true)
        .await?;
    let acronis = ctx.clients.acronis(worker, settings).await?;
    let provisioned = provisioned::load_all(&worker.store, integration_id).await?;
    let deprovision_records = deprovision::load_all(&worker.store, integration_id).await?;

    let read_bundles = config.services.iter().any(|m| {
        matches!(
            m.target,
            Some(sync_shared::config::ServiceTarget::ServiceBundle(_))
        )
    });
    let (mut at_snapshot, ac_snapshot) = futures::try_join!(
        snapshot::read_autotask(&autotask, day, read_bundles),
        snapshot::read_acronis(&acronis),
    )?;
    let (mut services, bundles) = plan::mapped_products(&config, &at_snapshot);
    // F19: two-way sync reads the public cloud vendors' lines too (in the same queries) and
    // the agreed states (one table query).
    let two_way_on = settings.features.two_way_sync;
    let agreed = if two_way_on {
        services.extend(
            public_cloud::vendor_services(&config, &at_snapshot)
                .values()
                .map(|(_, id)| *id),
        );
        services.sort_unstable();
        services.dedup();
        agreed::load_all(&worker.store, integration_id).await?
    } else {
        Default::default()
    };
    snapshot::read_units(&autotask, &mut at_snapshot, day, &services, &bundles).await?;
    let contract_companies: std::collections::HashMap<i64, i64> = at_snapshot
        .contracts
        .iter()
        .map(|c| (c.id, c.company_id))
        .collect();
    let mut company_ids: BTreeSet<i64> = at_snapshot
        .service_units
        .iter()
        .chain(at_snapshot.bundle_units.iter())
        .filter_map(|row| contract_companies.get(&row.contract_id).copied())
        .collect();
    company_ids.extend(config.customers.iter().map(|c| c.company_id));
    company_ids.extend(provisioned.iter().map(|p| p.company_id));
    snapshot::read_companies(&autotask, &mut at_snapshot, &company_ids).await?;
    let to_create = plan::companies_to_create(&PlanInput {
        config: &config,
        provisioned: &provisioned,
        autotask: &at_snapshot,
        acronis: &ac_snapshot,
        now,
    });
    if settings.provisioning.create_accounts_based_on == AccountBasis::CompanyPrimaryContact
        && !to_create.is_empty()
    {
        snapshot::read_primary_contacts(&autotask, &mut at_snapshot, &to_create).await?;
    }
    let plan_input = PlanInput {
        config: &config,
        provisioned: &provisioned,
        autotask: &at_snapshot,
        acronis: &ac_snapshot,
        now,
    };
    let mut planned = plan::plan(&plan_input);
    let two_way_outcome = two_way::merge(
        &two_way::TwoWayInput {
            config: &config,
            autotask: &at_snapshot,
            acronis: &ac_snapshot,
            agreed: &agreed,
            day,
        },
        &mut planned,
    );
    // F20: day counters, disable and delete, over the plan (pure, like the plan).
    let (deprovision_changes, deprovision_counts) = deprovision::plan_deprovisioning(
        &mut planned,
        &plan_input,
        &deprovision_records,
        &message.run_id(),
    );

    // The plan is stored before anything is written remotely (G1).
    let created_at = Utc::now();
    let mut counts = planned.counts();
    counts.extend(deprovision_counts);
    if two_way_on {
        counts.extend(two_way_outcome.counts().map(|(k, v)| (k.to_string(), v)));
    }
    let to_apply: Vec<&plan::CustomerPlan> = planned
        .customers
        .iter()
        .filter(|c| c.desired.is_some())
        .collect();
    let header = PlanHeader {
        integration_id: integration_id.clone(),
        job: Job::Provisioning,
        run_id: message.run_id(),
        slot: message.slot,
        created_at,
        dry_run: settings.dry_run,
        targets_to_apply: to_apply.len() as u64,
        writes: to_apply.iter().map(|c| c.writes.len() as u64).sum(),
        counts: counts.clone(),
        notes: planned.notes.clone(),
        expires_at: retention_expiry(created_at),
    };
    let targets: Vec<PlannedTarget> = planned
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::InSync || !c.warnings.is_empty())
        .map(|c| PlannedTarget {
            key: c.company_id.to_string(),
            name: c.company_name.clone(),
            tenant_id: c.tenant_id.clone(),
            outcome: c.outcome.as_str().into(),
            writes: c.writes.clone(),
            notes: c.warnings.clone(),
        })
        .collect();
    worker.store.put_plan(&header, &targets).await?;
    deprovision::save_all(&worker.store, integration_id, &deprovision_changes).await?;
    if !settings.dry_run {
        agreed::save_all(
            &worker.store,
            integration_id,
            &two_way_outcome.remember,
            &message.run_id(),
        )
        .await?;
    }

    let issues: Vec<CustomerIssue> = planned
        .customers
        .iter()
        .filter(|c| !c.warnings.is_empty())
        .map(|c| CustomerIssue {
            job: Job::Provisioning,
            target: c.company_id.to_string(),
            name: c.company_name.clone(),
            kind: match c.outcome {
                Outcome::Error => IssueKind::Error,
                Outcome::Excluded => IssueKind::Excluded,
                _ => IssueKind::Warning,
            },
            message: c.warnings.join("; "),
            at: now,
            source: IssueSource::Planner,
        })
        .collect();
    let applying: HashSet<String> = to_apply.iter().map(|c| c.company_id.to_string()).collect();
    worker
        .store
        .update_status(integration_id, created_at, |status| {
            status.set_planner_issues(Job::Provisioning, issues.clone(), &applying)
        })
        .await?;

    let mut sent = 0;
    if !settings.dry_run && !to_apply.is_empty() {
        let messages = to_apply
            .iter()
            .filter_map(|c| {
                Some(ApplyMessage {
                    integration_id: integration_id.clone(),
                    job: Job::Provisioning,
                    slot: message.slot,
                    target: c.company_id.to_string(),
                    target_name: c.company_name.clone(),
                    desired: c.desired.clone()?,
                })
            })
            .map(|m| {
                // Contract changes write to Autotask: at most 3 such applies at once (G5).
                if m.desired.writes_autotask() {
                    m.to_fifo_among(sync_shared::job::AUTOTASK_WRITE_GROUPS)
                } else {
                    m.to_fifo()
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        send_fifo(&ctx.sqs, &ctx.apply_queue_url, &messages).await?;
        sent = messages.len();
    }
    counts.insert("apply_messages_sent".into(), sent as u64);
    counts.insert("autotask_requests".into(), autotask.request_count());
    counts.insert("autotask_slowed_calls".into(), autotask.slowed_call_count());
    counts.insert("acronis_requests".into(), acronis.requests());
    Ok(JobReport {
        health: None,
        message: summary(&planned, settings.dry_run, header.writes, sent),
        counts,
    })
}

/// One line for the status: what the plan found and did.
fn summary(planned: &plan::Plan, dry_run: bool, writes: u64, sent: usize) -> String {
    let count = |o: Outcome| planned.customers.iter().filter(|c| c.outcome == o).count();
    let names = |o: Outcome| {
        let names: Vec<String> = planned
            .customers
            .iter()
            .filter(|c| c.outcome == o)
            .map(|c| c.company_name.clone())
            .collect();
        match names.len() {
            0 => String::new(),
            n if n <= 5 => format!(" ({})", names.join(", ")),
            n => format!(" ({}, and {} more)", names[..5].join(", "), n - 5),
        }
    };
    let mut text = format!(
        "{} customers: {} in sync, {} to update, {} to create, {} in error{}, {} excluded{}",
        planned.customers.len(),
        count(Outcome::InSync),
        count(Outcome::Update),
        count(Outcome::Create),
        count(Outcome::Error),
        names(Outcome::Error),
        count(Outcome::Excluded),
        names(Outcome::Excluded),
    );
    if dry_run {
        text.push_str(&format!(
            "; dry run: {writes} writes planned and stored, none made"
        ));
    } else {
        text.push_str(&format!(
            "; {writes} writes planned, {sent} customers sent to apply"
        ));
    }
    if !planned.unmapped_companies.is_empty() {
        text.push_str(&format!(
            "; {} companies have Acronis services in active contracts but no mapping (automatic creation is off)",
            planned.unmapped_companies.len()
        ));
    }
    for note in &planned.notes {
        text.push_str("; ");
        text.push_str(note);
    }
    text
}

/// The integration's partition key, for items this job writes.
pub fn pk(integration_id: &str) -> String {
    integration_pk(integration_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample apply event (for `sam local invoke` / `cargo lambda invoke`) is one the
    /// applier reads.
    #[test]
    fn the_sample_apply_event_carries_a_readable_desired_state() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/sqs-provisioning-apply.json"
        );
        let text = std::fs::read_to_string(path).expect("events/sqs-provisioning-apply.json");
        let event: SqsEvent = serde_json::from_str(&text).expect("an SQS event");
        let body = event.records[0].body.as_deref().expect("a body");
        let message: ApplyMessage<CustomerDesired> =
            serde_json::from_str(body).expect("an apply message");
        assert_eq!(message.job, Job::Provisioning);
        assert!(matches!(
            message.desired.tenant,
            plan::TenantTarget::Existing { .. }
        ));
        assert_eq!(message.desired.items.len(), 4);
        assert_eq!(
            message.group_id(),
            event.records[0].attributes["MessageGroupId"]
        );
    }
}
