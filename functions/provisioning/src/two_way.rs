//! Two-way sync (F19, H): a three-way merge against the last state both sides agreed on. Pure.
//!
//! For every mapped offering item of a customer (and every mapped public cloud vendor) the merge
//! compares three states: the Autotask units of the item's service on the company's prepaid
//! contracts, whether the item is on in Acronis (enabled with a quota other than 0), and the
//! agreed state stored per customer (`AGREED#<company id>`, units and on/off per item).
//!
//! - Only Acronis changed: the change is carried to Autotask. An item turned on gets its service
//!   on the company's one active prepaid contract that holds Acronis services (a new contract
//!   service, or units back on a line at 0), with the item's quota as units (1 when unlimited);
//!   an item turned off gets every line of its service adjusted to 0 units, dated the run's day.
//!   The Acronis item is left as the person set it.
//! - Only Autotask changed, or nothing: the ordinary plan (Autotask is the source) stands.
//! - Both changed the same item and disagree: a conflict. Autotask wins (the ordinary plan
//!   stands) and the customer's status names it.
//! - No agreed state yet (two-way sync just turned on, a new customer): the ordinary plan stands
//!   and its result becomes the agreed state.
//!
//! Public cloud storages are not merged: their vendor's product follows Acronis (present while
//! any storage of the vendor is enabled, see [`crate::public_cloud`]).
//!
//! The agreed state is recorded after the apply that makes both sides agree (or by the planner
//! when nothing has to be written), so a failed apply never turns into a reversal.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sync_shared::acronis::OfferingItem;
use sync_shared::config::{IdOrLabel, IntegrationConfig, ServiceSubject, ServiceTarget};
use sync_shared::plan::PlannedWrite;

use crate::plan::{
    AcronisSnapshot, AutotaskSnapshot, BYTES_PER_GB, CustomerDesired, DesiredItem, ItemState,
    Outcome, Plan, TenantTarget, describe_change, item_changes, item_label,
};
use crate::public_cloud::{self, VendorChange};

/// Sort-key prefix of the agreed state: `AGREED#<company id>` under the integration.
pub const AGREED_PREFIX: &str = "AGREED#";

/// One item's agreed state: the units its service had in Autotask, and whether it was on in
/// Acronis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgreedItem {
    pub units: u64,
    pub on: bool,
}

/// A customer's agreed state, by item label (`pw_base_servers`, `pw_base_storage @ <infra>`).
pub type AgreedItems = BTreeMap<String, AgreedItem>;

/// A change to a contract, as the applier makes it (H: it reads the line first and writes only
/// what is still missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ContractChange {
    /// The service is not on the contract: a new contract service, brought to `units`.
    Create {
        contract_id: i64,
        service_id: i64,
        units: u64,
        object: String,
    },
    /// The service's line is on the contract at 0 units: back to `units`.
    Restore {
        contract_id: i64,
        line_id: i64,
        service_id: i64,
        units: u64,
        object: String,
    },
    /// The service's line goes to 0 units (an adjustment dated the run's day).
    Remove {
        contract_id: i64,
        line_id: i64,
        service_id: i64,
        /// The units the planner saw, for the plan.
        units_before: u64,
        object: String,
    },
}

impl ContractChange {
    /// How the change reads in the plan and in its audit item (the applier uses the same
    /// action and object).
    pub fn planned(&self) -> PlannedWrite {
        match self {
            ContractChange::Create { units, object, .. } => PlannedWrite {
                action: ADD_ACTION.into(),
                object: object.clone(),
                before: "absent".into(),
                after: format!("{units} units"),
            },
            ContractChange::Restore { units, object, .. } => PlannedWrite {
                action: ADJUST_ACTION.into(),
                object: object.clone(),
                before: "0 units".into(),
                after: format!("{units} units"),
            },
            ContractChange::Remove {
                units_before,
                object,
                ..
            } => PlannedWrite {
                action: ADJUST_ACTION.into(),
                object: object.clone(),
                before: format!("{units_before} units"),
                after: "0 units".into(),
            },
        }
    }
}

pub const ADD_ACTION: &str = "add contract service";
pub const ADJUST_ACTION: &str = "adjust contract service units";

/// The two-way part of an apply message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoWayDesired {
    /// Adjustments are dated the run's day (H).
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ContractChange>,
    /// Recorded once the apply has succeeded.
    pub agreed: AgreedItems,
}

/// What the merge reads beside the plan.
pub struct TwoWayInput<'a> {
    pub config: &'a IntegrationConfig,
    pub autotask: &'a AutotaskSnapshot,
    pub acronis: &'a AcronisSnapshot,
    /// Agreed states by company.
    pub agreed: &'a HashMap<i64, AgreedItems>,
    /// The run's day.
    pub day: NaiveDate,
}

/// What the merge decided beside the plan itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeOutcome {
    /// Agreed states the planner records itself: customers with nothing to apply whose state
    /// differs from the stored one.
    pub remember: Vec<(i64, AgreedItems)>,
    pub added: u64,
    pub removed: u64,
    pub conflicts: u64,
}

impl MergeOutcome {
    pub fn counts(&self) -> [(&'static str, u64); 3] {
        [
            ("two_way_services_added", self.added),
            ("two_way_services_removed", self.removed),
            ("two_way_conflicts", self.conflicts),
        ]
    }
}

/// One service of one company: its prepaid lines and whether a PAYG contract holds it.
#[derive(Debug, Clone, Default)]
struct CompanyService {
    /// (contract, line, units) on active prepaid contracts.
    lines: Vec<(i64, i64, u64)>,
    in_payg: bool,
}

impl CompanyService {
    fn units(&self) -> u64 {
        self.lines.iter().map(|(_, _, u)| *u).sum()
    }
}

struct CompanyContracts {
    services: HashMap<i64, CompanyService>,
    /// Active prepaid contracts holding Acronis services (mapped services or bundles).
    acronis_contracts: BTreeSet<i64>,
}

fn whole_units(units: f64) -> u64 {
    if units.is_finite() && units > 0.0 {
        units.round() as u64
    } else {
        0
    }
}

fn companies(autotask: &AutotaskSnapshot) -> HashMap<i64, CompanyContracts> {
    let contracts: HashMap<i64, _> = autotask.contracts.iter().map(|c| (c.id, c)).collect();
    let mut by_company: HashMap<i64, CompanyContracts> = HashMap::new();
    for row in &autotask.service_units {
        let Some(contract) = contracts.get(&row.contract_id) else {
            continue;
        };
        let company = by_company
            .entry(contract.company_id)
            .or_insert_with(|| CompanyContracts {
                services: HashMap::new(),
                acronis_contracts: BTreeSet::new(),
            });
        let service = company.services.entry(row.product_id).or_default();
        if contract.payg {
            service.in_payg = true;
        } else {
            service
                .lines
                .push((row.contract_id, row.line_id, whole_units(row.units)));
            company.acronis_contracts.insert(row.contract_id);
        }
    }
    for row in &autotask.bundle_units {
        let Some(contract) = contracts.get(&row.contract_id) else {
            continue;
        };
        if contract.payg {
            continue;
        }
        by_company
            .entry(contract.company_id)
            .or_insert_with(|| CompanyContracts {
                services: HashMap::new(),
                acronis_contracts: BTreeSet::new(),
            })
            .acronis_contracts
            .insert(row.contract_id);
    }
    by_company
}

/// Mapped offering items whose target is a service: (name, infra, service id).
fn item_services(
    config: &IntegrationConfig,
    autotask: &AutotaskSnapshot,
) -> Vec<(String, Option<String>, i64)> {
    config
        .services
        .iter()
        .filter_map(|m| {
            let ServiceSubject::OfferingItem { name, infra_id } = &m.subject else {
                return None;
            };
            let Some(ServiceTarget::Service(target)) = &m.target else {
                return None; // bundles are not carried by two-way sync
            };
            let id = match target {
                IdOrLabel::Id(id) => Some(*id),
                IdOrLabel::Label(label) => autotask
                    .services_by_name
                    .get(&label.trim().to_lowercase())
                    .copied(),
            }?;
            Some((name.clone(), infra_id.clone(), id))
        })
        .collect()
}

/// Whether an item is on in Acronis: enabled, with a quota other than 0.
pub fn is_on(item: &OfferingItem) -> bool {
    item.enabled() && item.quota.is_none_or(|q| q.value != Some(0))
}

fn state_is_on(state: ItemState) -> bool {
    match state {
        ItemState::Unlimited | ItemState::Enabled => true,
        ItemState::Hard(units) => units > 0,
        ItemState::ZeroIfEnabled => false,
    }
}

fn unit_bytes(item: &OfferingItem) -> u64 {
    if item.measurement_unit == "bytes" {
        BYTES_PER_GB
    } else {
        1
    }
}

/// The units a service gets when Acronis turns its item on: the item's quota in the service's
/// unit (storage in GB, rounded up), 1 when it has none (unlimited).
pub fn units_for(item: &OfferingItem) -> u64 {
    match item.quota.and_then(|q| q.value) {
        Some(value) if value > 0 => value.div_ceil(unit_bytes(item)),
        _ => 1,
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// What happens to one item's Acronis side after the merge.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Override {
    /// Leave the item as it is in Acronis.
    Leave,
    State(ItemState),
}

/// Merges every customer of `plan` that is planned against an existing tenant: adds the
/// contract changes to its writes and apply message, adjusts its desired items, names conflicts
/// in its warnings. Does nothing unless two-way sync is on.
pub fn merge(input: &TwoWayInput, plan: &mut Plan) -> MergeOutcome {
    let mut outcome = MergeOutcome::default();
    if !input.config.settings.features.two_way_sync {
        return outcome;
    }
    let backends = &input.acronis.infra_backends;
    let services = item_services(input.config, input.autotask);
    let vendors = public_cloud::vendor_services(input.config, input.autotask);
    let by_company = companies(input.autotask);
    let empty_company = CompanyContracts {
        services: HashMap::new(),
        acronis_contracts: BTreeSet::new(),
    };
    for customer in &mut plan.customers {
        if !matches!(customer.outcome, Outcome::InSync | Outcome::Update) {
            continue;
        }
        if matches!(
            customer.desired.as_ref().map(|d| &d.tenant),
            Some(TenantTarget::Create(_))
        ) {
            continue;
        }
        let Some(tenant_id) = customer.tenant_id.clone() else {
            continue;
        };
        let Some(current) = input.acronis.items.get(&tenant_id) else {
            continue;
        };
        let company = by_company
            .get(&customer.company_id)
            .unwrap_or(&empty_company);
        let target = match company.acronis_contracts.len() {
            1 => Ok(company
                .acronis_contracts
                .iter()
                .next()
                .copied()
                .unwrap_or_default()),
            0 => Err(
                "the company has no active prepaid contract holding Acronis services".to_string(),
            ),
            n => Err(format!(
                "the company has {n} active prepaid contracts holding Acronis services ({}); two-way sync adds services only when there is exactly one",
                company
                    .acronis_contracts
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        let stored = input.agreed.get(&customer.company_id);
        let mut desired_items: Vec<DesiredItem> = customer
            .desired
            .as_ref()
            .map(|d| d.items.clone())
            .unwrap_or_default();
        let mut overrides: Vec<(&OfferingItem, Override)> = Vec::new();
        let mut changes: Vec<ContractChange> = Vec::new();
        let mut agreed = AgreedItems::new();
        let no_service = CompanyService::default();
        let add = |service_id: i64, units: u64, object: String| -> Result<ContractChange, String> {
            let contract_id = target.clone()?;
            let line = company.services.get(&service_id).and_then(|s| {
                s.lines
                    .iter()
                    .find(|(contract, _, _)| *contract == contract_id)
            });
            let object = format!("{object} on contract {contract_id}");
            Ok(match line {
                Some((_, line_id, _)) => ContractChange::Restore {
                    contract_id,
                    line_id: *line_id,
                    service_id,
                    units,
                    object,
                },
                None => ContractChange::Create {
                    contract_id,
                    service_id,
                    units,
                    object,
                },
            })
        };
        let remove = |service_id: i64, object: &str| -> Vec<ContractChange> {
            company
                .services
                .get(&service_id)
                .map(|s| {
                    s.lines
                        .iter()
                        .filter(|(_, _, units)| *units > 0)
                        .map(|(contract_id, line_id, units)| ContractChange::Remove {
                            contract_id: *contract_id,
                            line_id: *line_id,
                            service_id,
                            units_before: *units,
                            object: format!("{object} on contract {contract_id}"),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };

        let managed = public_cloud::without_public_cloud_storages(current.clone(), backends);
        for (name, infra, service_id) in &services {
            for item in managed.iter().filter(|i| {
                &i.name == name && (infra.is_none() || i.infra_id.as_ref() == infra.as_ref())
            }) {
                let service = company.services.get(service_id).unwrap_or(&no_service);
                if service.in_payg {
                    continue; // PAYG: unlimited in Acronis, units are usage (F23)
                }
                let label = item_label(&item.name, item.infra_id.as_deref());
                let object = format!("service {service_id} ({label})");
                let units = service.units();
                let on = is_on(item);
                let planned_state = desired_items
                    .iter()
                    .find(|d| d.name == item.name && d.infra_id == item.infra_id)
                    .map(|d| d.state);
                let mut units_after = units;
                let mut decided: Option<Override> = None;
                let mut keep_agreed: Option<AgreedItem> = None;
                if let Some(previous) = stored.and_then(|s| s.get(&label)) {
                    let autotask_changed = units != previous.units;
                    let acronis_changed = on != previous.on;
                    if acronis_changed && !autotask_changed {
                        if on && units == 0 {
                            let wanted = units_for(item);
                            match add(*service_id, wanted, object.clone()) {
                                Ok(change) => {
                                    changes.push(change);
                                    outcome.added += 1;
                                    units_after = wanted;
                                    decided = Some(Override::State(ItemState::Hard(
                                        wanted.saturating_mul(unit_bytes(item)),
                                    )));
                                }
                                Err(why) => {
                                    customer.warnings.push(format!(
                                        "two-way sync: {label} was turned on in Acronis but its service {service_id} was not added: {why}"
                                    ));
                                    decided = Some(Override::Leave);
                                    keep_agreed = Some(*previous);
                                }
                            }
                        } else if !on && units > 0 {
                            changes.extend(remove(*service_id, &object));
                            outcome.removed += 1;
                            units_after = 0;
                            decided = Some(Override::State(ItemState::ZeroIfEnabled));
                        } else {
                            decided = Some(Override::Leave);
                        }
                    } else if acronis_changed && autotask_changed && (units > 0) != on {
                        outcome.conflicts += 1;
                        customer.warnings.push(format!(
                            "two-way sync conflict on {label}: changed in Autotask ({} → {units} units) and in Acronis ({} → {}) since the last agreed state; Autotask wins",
                            previous.units,
                            on_off(previous.on),
                            on_off(on)
                        ));
                    }
                }
                // A line at 0 units is a removed service: its item is off, not enabled at 0.
                if decided.is_none()
                    && units == 0
                    && !service.lines.is_empty()
                    && planned_state == Some(ItemState::Hard(0))
                    && !item.enabled()
                {
                    decided = Some(Override::State(ItemState::ZeroIfEnabled));
                }
                let on_after = match decided {
                    Some(Override::Leave) => on,
                    Some(Override::State(state)) => state_is_on(state),
                    None => planned_state.map_or(on, state_is_on),
                };
                agreed.insert(
                    label,
                    keep_agreed.unwrap_or(AgreedItem {
                        units: units_after,
                        on: on_after,
                    }),
                );
                if let Some(decided) = decided {
                    overrides.push((item, decided));
                }
            }
        }

        // Public cloud: each vendor's product follows Acronis.
        let enabled = public_cloud::enabled_vendors(current, backends);
        for (vendor, service_id) in vendors.values() {
            let service = company.services.get(service_id).unwrap_or(&no_service);
            if service.in_payg {
                continue;
            }
            let label = public_cloud::vendor_label(*vendor);
            let object = format!("service {service_id} (public cloud {label})");
            match public_cloud::vendor_change(service.units() > 0, enabled.contains(vendor)) {
                Some(VendorChange::Add) => match add(*service_id, 1, object) {
                    Ok(change) => {
                        changes.push(change);
                        outcome.added += 1;
                    }
                    Err(why) => customer.warnings.push(format!(
                        "two-way sync: {label} storage is enabled in Acronis but its service {service_id} was not added: {why}"
                    )),
                },
                Some(VendorChange::Remove) => {
                    changes.extend(remove(*service_id, &object));
                    outcome.removed += 1;
                }
                None => {}
            }
        }

        // The customer's plan, with the merge's decisions.
        for (item, decided) in &overrides {
            let position = desired_items
                .iter()
                .position(|d| d.name == item.name && d.infra_id == item.infra_id);
            match (decided, position) {
                (Override::Leave, Some(index)) => {
                    desired_items.remove(index);
                }
                (Override::Leave, None) => {}
                (Override::State(state), Some(index)) => desired_items[index].state = *state,
                (Override::State(state), None) => desired_items.push(DesiredItem {
                    application_id: item.application_id.clone(),
                    name: item.name.clone(),
                    infra_id: item.infra_id.clone(),
                    state: *state,
                }),
            }
        }
        let item_writes: Vec<PlannedWrite> = item_changes(current, &desired_items)
            .iter()
            .map(|c| describe_change(current, c))
            .collect();
        customer.writes.retain(|w| w.action != "set offering item");
        customer
            .writes
            .extend(changes.iter().map(ContractChange::planned));
        customer.writes.extend(item_writes);
        if customer.writes.is_empty() {
            customer.outcome = Outcome::InSync;
            customer.desired = None;
            if stored != Some(&agreed) {
                outcome.remember.push((customer.company_id, agreed));
            }
            continue;
        }
        customer.outcome = Outcome::Update;
        let two_way = TwoWayDesired {
            date: input.day,
            changes,
            agreed,
        };
        match customer.desired.as_mut() {
            Some(desired) => {
                desired.items = desired_items;
                desired.two_way = Some(two_way);
            }
            None => {
                customer.desired = Some(CustomerDesired {
                    tenant: TenantTarget::Existing {
                        tenant_id: tenant_id.clone(),
                    },
                    items: desired_items,
                    switch_to_production: false,
                    partner_id: Some(input.acronis.partner_id.clone()).filter(|p| !p.is_empty()),
                    lifecycle: None,
                    two_way: Some(two_way),
                });
            }
        }
    }
    if outcome.added + outcome.removed + outcome.conflicts > 0 {
        plan.notes.push(format!(
            "two-way sync: {} service(s) to add to contracts, {} to remove, {} conflict(s) resolved for Autotask",
            outcome.added, outcome.removed, outcome.conflicts
        ));
    }
    outcome
}

#[cfg(test)]
mod tests;
