//! Deprovisioning (F9, F20, H "Deprovisioning"): what happens to a mapped customer whose company
//! has no active services any more.
//!
//! - `zero_quotas_without_active_additions`: every quota of the tenant is set to 0 (Free items
//!   and the default storage included) while the company has no active contract additions.
//! - `disable_after_days`: the tenant is disabled once that many days have passed since the
//!   first run that saw no active services.
//! - `delete_after_days`: the tenant is deleted once that many days have passed (disabled first:
//!   Acronis refuses to delete an enabled tenant).
//!
//! The day counter is an item of the integration's own, `INTEGRATION#<id>` /
//! `DEPROVISION#<company id>`, written by the planner only (runs of one integration are
//! serialized), so it survives runs and cold starts. Days are counted in schedule time: from the
//! slot of the first run that saw no active services to the slot of the current run (H "Time").
//! Services coming back reset it, and re-enable a tenant this integration disabled.
//!
//! Safeguards: only tenants the integration maps are ever looked at (the planner's managed
//! customers, checked again by the applier right before a delete); never the partner tenant,
//! never a self-service tenant (F21), never a tenant that still has child tenants; a dry run
//! plans and stores the delete but sends nothing.
//!
//! The deciding part ([`decide`], [`plan_deprovisioning`]) is pure; the applier's part
//! ([`before_items`], [`after_items`], [`delete`]) runs inside the per-customer apply.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::StoreError;
use sync_shared::acronis::{AcronisError, OfferingItem, Tenant};
use sync_shared::config::{Deprovisioning, IntegrationConfig, MappedTenant, integration_pk};
use sync_shared::plan::PlannedWrite;
use sync_shared::store::{Store, schema};

use crate::ProvisioningError;
use crate::apply::Applier;
use crate::plan::{
    CustomerDesired, DesiredItem, ItemState, Outcome, Plan, PlanInput, TenantTarget,
    describe_change, item_changes, mapped_products,
};
use crate::provisioned::{ProvisionOrigin, Provisioned};

pub const DEPROVISION_PREFIX: &str = "DEPROVISION#";
/// Platform error: tenant not found.
const TENANT_NOT_FOUND: i64 = 1005;

/// The action of the plan's offering-item writes (replaced when all quotas are zeroed).
const ITEM_WRITE: &str = "set offering item";
pub const DISABLE_TENANT: &str = "disable tenant";
pub const ENABLE_TENANT: &str = "enable tenant";
pub const DELETE_TENANT: &str = "delete tenant";

/// What the applier does to the tenant itself, beside its offering items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Services are back: enable the tenant this integration disabled (before the items).
    Enable,
    /// N days without active services: disable (after the items).
    Disable,
    /// M days without active services: disable if needed, then delete; items are left alone.
    Delete,
}

/// The day counter of one mapped customer (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeprovisionRecord {
    pub company_id: i64,
    /// The tenant counted; a company mapped to another tenant starts over. (Not `tenant`: that
    /// attribute feeds the `ByTenant` index of mappings.)
    pub tenant_id: String,
    /// Slot of the first run that saw no active services; `None` = services are active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub without_services_since: Option<DateTime<Utc>>,
    /// This integration asked for the tenant to be disabled: active services re-enable it. A
    /// tenant someone else disabled stays disabled.
    #[serde(default)]
    pub disabled_by_integration: bool,
    /// Slot of the run that sent the delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<DateTime<Utc>>,
    /// The run that last changed the record.
    pub run_id: String,
    /// Optimistic lock.
    #[serde(default)]
    pub version: u64,
}

impl DeprovisionRecord {
    fn same_state(&self, other: &DeprovisionRecord) -> bool {
        self.tenant_id == other.tenant_id
            && self.without_services_since == other.without_services_since
            && self.disabled_by_integration == other.disabled_by_integration
            && self.delete_requested_at == other.delete_requested_at
    }
}

pub fn deprovision_sk(company_id: i64) -> String {
    format!("{DEPROVISION_PREFIX}{company_id}")
}

/// Every counter of one integration.
pub async fn load_all(
    store: &Store,
    integration_id: &str,
) -> Result<Vec<DeprovisionRecord>, StoreError> {
    store
        .query_records(&integration_pk(integration_id), DEPROVISION_PREFIX)
        .await
}

/// Writes the records the planner changed, each only if nobody wrote it since it was read.
pub async fn save_all(
    store: &Store,
    integration_id: &str,
    records: &[DeprovisionRecord],
) -> Result<(), ProvisioningError> {
    for record in records {
        let mut next = record.clone();
        next.version = record.version + 1;
        let mut item: sync_shared::config::Item =
            serde_dynamo::to_item(&next).map_err(|e| StoreError::Decode {
                pk: integration_pk(integration_id),
                sk: deprovision_sk(record.company_id),
                problem: format!("cannot encode: {e}"),
            })?;
        item.insert(
            schema::PK.into(),
            AttributeValue::S(integration_pk(integration_id)),
        );
        item.insert(
            schema::SK.into(),
            AttributeValue::S(deprovision_sk(record.company_id)),
        );
        if !store.put_versioned(item, record.version).await? {
            return Err(ProvisioningError::Conflict(format!(
                "the deprovisioning counter of company {} changed during the run",
                record.company_id
            )));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------- pure part

/// Whether `tenant_id` is the tenant the integration maps `company_id` to: the user's customer
/// mapping, or the product's own record of a tenant it created (a `new` mapping, or F16).
pub fn maps_tenant(
    config: &IntegrationConfig,
    provisioned: &[Provisioned],
    company_id: i64,
    tenant_id: &str,
) -> bool {
    let recorded = |origin_ok: &dyn Fn(ProvisionOrigin) -> bool| {
        provisioned.iter().any(|p| {
            p.company_id == company_id
                && p.tenant_id.as_deref() == Some(tenant_id)
                && origin_ok(p.origin)
        })
    };
    match config.customers.iter().find(|c| c.company_id == company_id) {
        Some(mapping) => match &mapping.tenant {
            MappedTenant::Existing(mapped) => mapped == tenant_id,
            MappedTenant::New => recorded(&|_| true),
        },
        None => recorded(&|origin| origin == ProvisionOrigin::AutoCreate),
    }
}

/// The companies with active services: a line of a mapped service or bundle in an active PAYG
/// contract, or with units above 0 in an active prepaid contract (two-way sync removes a service
/// with an adjustment to 0 units).
pub fn companies_with_active_services(input: &PlanInput) -> HashSet<i64> {
    let (services, bundles) = mapped_products(input.config, input.autotask);
    let contracts: HashMap<i64, (i64, bool)> = input
        .autotask
        .contracts
        .iter()
        .map(|c| (c.id, (c.company_id, c.payg)))
        .collect();
    let active = |rows: &'_ [crate::plan::UnitsRow], products: &'_ [i64]| {
        rows.iter()
            .filter(|row| products.contains(&row.product_id))
            .filter_map(|row| {
                let (company, payg) = contracts.get(&row.contract_id)?;
                (*payg || row.units > 0.0).then_some(*company)
            })
            .collect::<Vec<i64>>()
    };
    active(&input.autotask.service_units, &services)
        .into_iter()
        .chain(active(&input.autotask.bundle_units, &bundles))
        .collect()
}

/// Everything [`decide`] looks at for one mapped customer.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub settings: &'a Deprovisioning,
    pub now: DateTime<Utc>,
    pub run_id: &'a str,
    pub dry_run: bool,
    pub company_id: i64,
    pub tenant_id: &'a str,
    /// The tenant as read this run; `None` when it is not under the partner (any more).
    pub tenant: Option<&'a Tenant>,
    /// Live child tenants (a sub-partner's customers): such a tenant is never deleted.
    pub children: usize,
    pub has_services: bool,
    /// The company's counter, whichever tenant it counted.
    pub record: Option<&'a DeprovisionRecord>,
}

/// What deprovisioning concluded for one customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub lifecycle: Option<Lifecycle>,
    /// Every quota to 0 (F9 "set offering item quotas to zero").
    pub zero_all: bool,
    /// The counter to write (changed), with the version read.
    pub record: Option<DeprovisionRecord>,
    /// The tenant-level writes, for the plan.
    pub writes: Vec<PlannedWrite>,
    /// Status lines for the customer.
    pub notes: Vec<String>,
    /// The tenant is gone after this integration deleted it.
    pub deleted: bool,
    /// Counting days without active services.
    pub without_services: bool,
    /// Days without active services (0 when services are active).
    pub days_without_services: i64,
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The deprovisioning rules for one mapped customer (pure).
pub fn decide(s: &Situation) -> Decision {
    let mut decision = Decision::default();
    let settings = s.settings;
    let record = s.record.filter(|r| r.tenant_id == s.tenant_id);
    let version = s.record.map_or(0, |r| r.version);
    let base = || DeprovisionRecord {
        company_id: s.company_id,
        tenant_id: s.tenant_id.to_string(),
        without_services_since: None,
        disabled_by_integration: false,
        delete_requested_at: None,
        run_id: s.run_id.to_string(),
        version,
    };
    let mut next = record.cloned().map_or_else(base, |r| DeprovisionRecord {
        run_id: s.run_id.to_string(),
        version,
        ..r
    });

    let Some(tenant) = s.tenant else {
        if let Some(at) = record.and_then(|r| r.delete_requested_at) {
            decision.deleted = true;
            decision.notes.push(format!(
                "tenant {} was deleted by deprovisioning (sent on {}, after {} days without active services); nothing more is done for this company: remove its customer mapping, or map it to a new tenant",
                s.tenant_id,
                day(at),
                record
                    .and_then(|r| r.without_services_since)
                    .map_or(0, |since| (at - since).num_days()),
            ));
        }
        return decision;
    };

    if s.has_services {
        let Some(record) = record else {
            return decision;
        };
        if record.disabled_by_integration && !tenant.enabled {
            decision.lifecycle = Some(Lifecycle::Enable);
            decision.writes.push(PlannedWrite {
                action: ENABLE_TENANT.into(),
                object: format!("tenant \"{}\" ({})", tenant.name, tenant.id),
                before: "disabled (by deprovisioning)".into(),
                after: "enabled (active services again)".into(),
            });
            decision.notes.push(
                "active services again: the tenant, disabled by deprovisioning, is enabled again"
                    .into(),
            );
            // The flag stays until the tenant is seen enabled: a failed enable is tried again.
            next.without_services_since = None;
            next.delete_requested_at = None;
        } else {
            if record.without_services_since.is_some() {
                decision
                    .notes
                    .push("active services again: the deprovisioning day counter was reset".into());
            }
            next = DeprovisionRecord {
                without_services_since: None,
                disabled_by_integration: false,
                delete_requested_at: None,
                ..next
            };
        }
        if !next.same_state(record) {
            decision.record = Some(next);
        }
        return decision;
    }

    let on = settings.zero_quotas_without_active_additions
        || settings.disable_after_days.is_some()
        || settings.delete_after_days.is_some();
    if !on {
        return decision;
    }
    let since = record
        .and_then(|r| r.without_services_since)
        .filter(|since| *since <= s.now)
        .unwrap_or(s.now);
    next.without_services_since = Some(since);
    if tenant.enabled {
        // Enabled again since (by us, or by a person): not ours to re-enable any more.
        next.disabled_by_integration = false;
    }
    let days = (s.now - since).num_days();
    decision.days_without_services = days;
    decision.without_services = true;
    decision.zero_all = settings.zero_quotas_without_active_additions;
    let due = |after: Option<u32>| after.is_some_and(|n| s.now - since >= Duration::days(n.into()));
    let object = format!("tenant \"{}\" ({})", tenant.name, tenant.id);
    let mut line = format!(
        "no active services since {} ({days} day{})",
        day(since),
        if days == 1 { "" } else { "s" }
    );
    if decision.zero_all {
        line.push_str("; quotas set to 0");
    }
    if due(settings.delete_after_days) && s.children > 0 {
        line.push_str(&format!(
            "; due for deletion after {} days, but the tenant has {} child tenant(s): a tenant with children is never deleted (delete or move them first)",
            settings.delete_after_days.unwrap_or_default(),
            s.children
        ));
    }
    if due(settings.delete_after_days) && s.children == 0 {
        if tenant.enabled {
            decision.writes.push(PlannedWrite {
                action: DISABLE_TENANT.into(),
                object: object.clone(),
                before: "enabled".into(),
                after: "disabled (before its deletion)".into(),
            });
        }
        decision.writes.push(PlannedWrite {
            action: DELETE_TENANT.into(),
            object,
            before: if tenant.enabled {
                "enabled"
            } else {
                "disabled"
            }
            .into(),
            after: format!(
                "deleted ({} days without active services)",
                settings.delete_after_days.unwrap_or_default()
            ),
        });
        decision.lifecycle = Some(Lifecycle::Delete);
        decision.zero_all = false;
        line.push_str(&format!(
            "; deleted after {} days without active services",
            settings.delete_after_days.unwrap_or_default()
        ));
        if !s.dry_run {
            next.delete_requested_at = Some(s.now);
            next.disabled_by_integration |= tenant.enabled;
        }
    } else if due(settings.disable_after_days) || due(settings.delete_after_days) {
        if tenant.enabled {
            decision.writes.push(PlannedWrite {
                action: DISABLE_TENANT.into(),
                object,
                before: "enabled".into(),
                after: format!(
                    "disabled ({} days without active services)",
                    settings.disable_after_days.unwrap_or_default()
                ),
            });
            decision.lifecycle = Some(Lifecycle::Disable);
            if !s.dry_run {
                next.disabled_by_integration = true;
            }
            line.push_str("; the tenant is disabled");
        } else if record.is_some_and(|r| r.disabled_by_integration) {
            line.push_str("; the tenant is disabled by deprovisioning");
        } else {
            line.push_str("; the tenant was already disabled (not by this integration)");
        }
    }
    if decision.lifecycle != Some(Lifecycle::Delete) {
        let mut next_steps = Vec::new();
        if let Some(n) = settings
            .disable_after_days
            .filter(|_| !due(settings.disable_after_days))
        {
            next_steps.push(format!("disabled after {n} days"));
        }
        if let Some(m) = settings
            .delete_after_days
            .filter(|_| !due(settings.delete_after_days))
        {
            next_steps.push(format!("deleted after {m} days"));
        }
        if !next_steps.is_empty() {
            line.push_str(&format!("; the tenant is {}", next_steps.join(" and ")));
        }
    }
    if s.dry_run && decision.lifecycle.is_some() {
        line.push_str(" (dry run: planned, not done)");
    }
    decision.notes.push(line);
    if record.is_none_or(|r| !next.same_state(r)) {
        decision.record = Some(next);
    }
    decision
}

/// Every enabled quota of the tenant at 0; feature items (no quota) are left alone.
pub fn zeroed_items(current: &[OfferingItem]) -> Vec<DesiredItem> {
    current
        .iter()
        .filter(|i| i.item_type != "feature")
        .map(|i| DesiredItem {
            application_id: i.application_id.clone(),
            name: i.name.clone(),
            infra_id: i.infra_id.clone(),
            state: ItemState::ZeroIfEnabled,
        })
        .collect()
}

/// Deprovisioning over a finished plan (pure): adds tenant writes, zeroes quotas, names the
/// state in each customer's status lines, and returns the counters to write.
pub fn plan_deprovisioning(
    plan: &mut Plan,
    input: &PlanInput,
    records: &[DeprovisionRecord],
    run_id: &str,
) -> (Vec<DeprovisionRecord>, BTreeMap<String, u64>) {
    let settings = &input.config.settings;
    let mut changed = Vec::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let active = companies_with_active_services(input);
    let mut children: HashMap<&str, usize> = HashMap::new();
    for t in input
        .acronis
        .tenants
        .values()
        .filter(|t| t.parent_id != t.id)
    {
        *children.entry(t.parent_id.as_str()).or_default() += 1;
    }
    for customer in &mut plan.customers {
        let Some(tenant_id) = customer.tenant_id.clone() else {
            continue;
        };
        // Only tenants the integration maps, never the partner itself, never F21 tenants.
        if !maps_tenant(
            input.config,
            input.provisioned,
            customer.company_id,
            &tenant_id,
        ) || tenant_id == input.acronis.partner_id
            || matches!(customer.outcome, Outcome::Excluded | Outcome::Create)
        {
            continue;
        }
        let tenant = input.acronis.tenants.get(&tenant_id);
        if customer.outcome == Outcome::Error && tenant.is_some() {
            continue; // a person must act first (F18 conflict, storages, a wrong kind …)
        }
        let situation = Situation {
            settings: &settings.deprovisioning,
            now: input.now,
            run_id,
            dry_run: settings.dry_run,
            company_id: customer.company_id,
            tenant_id: &tenant_id,
            tenant,
            children: children.get(tenant_id.as_str()).copied().unwrap_or(0),
            has_services: active.contains(&customer.company_id),
            record: records.iter().find(|r| r.company_id == customer.company_id),
        };
        let decision = decide(&situation);
        if let Some(record) = decision.record.clone() {
            changed.push(record);
        }
        if decision.deleted {
            customer.outcome = Outcome::Excluded;
            customer.warnings = decision.notes;
            *counts.entry("deprovision_deleted".into()).or_default() += 1;
            continue;
        }
        if tenant.is_none() {
            continue;
        }
        if decision.without_services {
            *counts
                .entry("deprovision_without_services".into())
                .or_default() += 1;
        }
        if let Some(step) = decision.lifecycle {
            let key = match step {
                Lifecycle::Enable => "deprovision_enable",
                Lifecycle::Disable => "deprovision_disable",
                Lifecycle::Delete => "deprovision_delete",
            };
            *counts.entry(key.into()).or_default() += 1;
        }
        customer.warnings.extend(decision.notes.iter().cloned());
        if !decision.zero_all && decision.lifecycle.is_none() {
            continue;
        }
        let current = input
            .acronis
            .items
            .get(&tenant_id)
            .cloned()
            .unwrap_or_default();
        let items = if decision.lifecycle == Some(Lifecycle::Delete) {
            Vec::new()
        } else if decision.zero_all {
            zeroed_items(&current)
        } else {
            customer
                .desired
                .as_ref()
                .map(|d| d.items.clone())
                .unwrap_or_default()
        };
        if decision.zero_all || decision.lifecycle == Some(Lifecycle::Delete) {
            customer.writes.retain(|w| w.action != ITEM_WRITE);
            customer.writes.extend(
                item_changes(&current, &items)
                    .iter()
                    .map(|c| describe_change(&current, c)),
            );
        }
        if decision.lifecycle == Some(Lifecycle::Delete) {
            // Nothing else is written to a tenant about to be deleted.
            customer
                .writes
                .retain(|w| w.action != ITEM_WRITE && w.action != "set pricing mode");
        }
        customer.writes.extend(decision.writes.iter().cloned());
        if customer.writes.is_empty() {
            customer.desired = None;
            if customer.outcome == Outcome::Update {
                customer.outcome = Outcome::InSync;
            }
            continue;
        }
        let desired = customer.desired.get_or_insert_with(|| CustomerDesired {
            tenant: TenantTarget::Existing {
                tenant_id: tenant_id.clone(),
            },
            items: Vec::new(),
            switch_to_production: false,
            partner_id: Some(input.acronis.partner_id.clone()).filter(|p| !p.is_empty()),
            lifecycle: None,
            two_way: None,
        });
        desired.items = items;
        desired.lifecycle = decision.lifecycle;
        if decision.lifecycle == Some(Lifecycle::Delete) {
            desired.switch_to_production = false;
        }
        if customer.outcome == Outcome::InSync {
            customer.outcome = Outcome::Update;
        }
    }
    if !counts.is_empty() {
        let part = |key: &str, label: &str| {
            counts
                .get(key)
                .filter(|n| **n > 0)
                .map(|n| format!("{n} {label}"))
        };
        let parts: Vec<String> = [
            part("deprovision_without_services", "without active services"),
            part("deprovision_disable", "to disable"),
            part("deprovision_delete", "to delete"),
            part("deprovision_enable", "to enable again"),
            part("deprovision_deleted", "deleted"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            plan.notes
                .push(format!("deprovisioning: {}", parts.join(", ")));
        }
    }
    (changed, counts)
}

// ------------------------------------------------------------------------------- applier part

fn not_found(e: &AcronisError) -> bool {
    e.http_status() == Some(404) || e.platform_code() == Some(TENANT_NOT_FOUND)
}

/// Before the offering items: re-enable a tenant whose services came back.
pub(crate) async fn before_items(
    applier: &Applier<'_>,
    tenant: &Tenant,
) -> Result<(), ProvisioningError> {
    if applier.message.desired.lifecycle == Some(Lifecycle::Enable) && !tenant.enabled {
        let object = format!("tenant \"{}\" ({})", tenant.name, tenant.id);
        applier
            .audited(
                ENABLE_TENANT,
                &object,
                "disabled (by deprovisioning)",
                "enabled (active services again)",
                async {
                    applier
                        .client
                        .set_tenant_enabled(&tenant.id, true)
                        .await
                        .map(|_| ())
                },
            )
            .await?;
    }
    Ok(())
}

/// After the offering items (set to 0 first): disable.
pub(crate) async fn after_items(
    applier: &Applier<'_>,
    tenant: &Tenant,
) -> Result<(), ProvisioningError> {
    if applier.message.desired.lifecycle == Some(Lifecycle::Disable) && tenant.enabled {
        let object = format!("tenant \"{}\" ({})", tenant.name, tenant.id);
        applier
            .audited(
                DISABLE_TENANT,
                &object,
                "enabled",
                "disabled (no active services)",
                async {
                    applier
                        .client
                        .set_tenant_enabled(&tenant.id, false)
                        .await
                        .map(|_| ())
                },
            )
            .await?;
    }
    Ok(())
}

/// The delete, with every safeguard checked again right before it: the integration still maps
/// this tenant to this company, deletion is still on and this is no dry run, the tenant is not
/// the partner, not self-service, and has no child tenants. Disabled first. A tenant already
/// gone (an earlier delivery deleted it) is no error and no second write.
pub(crate) async fn delete(
    applier: &mut Applier<'_>,
    tenant_id: &str,
) -> Result<(), ProvisioningError> {
    let client = &applier.client;
    let tenant = match client.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let worker = &applier.ctx.worker;
    let integration_id = applier.message.integration_id.clone();
    let config = sync_shared::remote::load_config(worker, &integration_id).await?;
    let provisioned = crate::provisioned::load_all(&worker.store, &integration_id).await?;
    let company_id: Option<i64> = applier.message.target.parse().ok();
    let partner = match &applier.message.desired.partner_id {
        Some(partner) => partner.clone(),
        None => client.partner_tenant_id().await?,
    };
    let refuse = if config.settings.dry_run {
        Some("the integration is in dry run now".to_string())
    } else if config.settings.deprovisioning.delete_after_days.is_none() {
        Some("deprovisioning.delete_after_days was switched off".to_string())
    } else if !company_id
        .is_some_and(|company| maps_tenant(&config, &provisioned, company, tenant_id))
    {
        Some("the integration no longer maps this tenant to the company".to_string())
    } else if tenant_id == partner || !matches!(tenant.kind.as_str(), "customer" | "partner") {
        Some(format!("tenant {tenant_id} is a {} tenant", tenant.kind))
    } else if tenant.ancestral_access == Some(false) {
        Some("the tenant is in self-service mode (F21)".to_string())
    } else {
        let children = client.child_tenant_ids(tenant_id).await?;
        (!children.is_empty()).then(|| format!("the tenant has {} child tenant(s)", children.len()))
    };
    if let Some(reason) = refuse {
        applier.warnings.push(format!(
            "tenant \"{}\" was not deleted: {reason}",
            tenant.name
        ));
        return Ok(());
    }
    let object = format!("tenant \"{}\" ({})", tenant.name, tenant.id);
    if tenant.enabled {
        applier
            .audited(
                DISABLE_TENANT,
                &object,
                "enabled",
                "disabled (before its deletion)",
                async {
                    client
                        .set_tenant_enabled(tenant_id, false)
                        .await
                        .map(|_| ())
                },
            )
            .await?;
    }
    let result = client.delete_tenant(tenant_id).await;
    match result {
        // An answer lost after the platform deleted it: the retry finds it gone.
        Err(e) if not_found(&e) => Ok(()),
        other => {
            applier
                .audited(
                    DELETE_TENANT,
                    &object,
                    "disabled",
                    "deleted (no active services)",
                    async { other },
                )
                .await
        }
    }
}

#[cfg(test)]
mod tests;
