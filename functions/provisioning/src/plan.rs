//! Planning (pure): snapshots of Autotask and Acronis plus the configuration in, every mapped
//! customer's desired tenant and quotas out. No I/O here; this is where the rules live:
//!
//! - F17 prepaid units (services and bundles, summed over active prepaid contracts) → hard quotas
//! - F12 mapped but not contracted, or not mapped → quota 0; Free → unlimited; packs need their
//!   standard workload item
//! - F11 default storage; one storage per customer
//! - F18 PAYG contracts → unlimited; the same item in PAYG and prepaid → an error, nothing changed
//! - F21 self-service tenants are never changed
//! - F16 / F8 / H new tenants: name, admin user, activation email, 2FA, production or trial

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::acronis::{
    CYBER_PROTECTION_APP_ID, DesiredOfferingItem, NewUser, OfferingItem, OfferingItemKey,
    QuotaLimit, Tenant,
};
use sync_shared::config::{
    AccountBasis, IntegrationConfig, MappedTenant, ProvisionAs, ServiceSubject, ServiceTarget,
};
use sync_shared::plan::PlannedWrite;

use crate::provisioned::{ProvisionOrigin, Provisioned};

/// Autotask units of a storage service are binary GB (H).
pub const BYTES_PER_GB: u64 = 1024 * 1024 * 1024;

// ------------------------------------------------------------------------------- snapshots

#[derive(Debug, Clone, PartialEq)]
pub struct CompanyInfo {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactInfo {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
}

/// An active Recurring Service contract whose period contains the run's day.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractInfo {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    /// `Acronis PAYG` = Yes (F18).
    pub payg: bool,
}

/// Units of one service (or bundle) line of a contract in the period that contains "now".
#[derive(Debug, Clone, PartialEq)]
pub struct UnitsRow {
    pub contract_id: i64,
    /// The contract service (or contract service bundle) the row belongs to.
    pub line_id: i64,
    /// The service id, or the service bundle id for bundle rows.
    pub product_id: i64,
    pub units: f64,
}

/// What the planner read from Autotask.
#[derive(Debug, Clone, Default)]
pub struct AutotaskSnapshot {
    pub companies: HashMap<i64, CompanyInfo>,
    /// Primary contacts, read only for companies that need a new tenant.
    pub primary_contacts: HashMap<i64, ContactInfo>,
    pub contracts: Vec<ContractInfo>,
    pub service_units: Vec<UnitsRow>,
    pub bundle_units: Vec<UnitsRow>,
    /// Service and bundle names (lower case) → ids, to resolve mappings given by name.
    pub services_by_name: HashMap<String, i64>,
    pub bundles_by_name: HashMap<String, i64>,
}

/// What the planner read from Acronis.
#[derive(Debug, Clone, Default)]
pub struct AcronisSnapshot {
    pub partner_id: String,
    pub tenants: HashMap<String, Tenant>,
    pub items: HashMap<String, Vec<OfferingItem>>,
    /// Storages the partner offers (`/tenants/{partner}/infra`).
    pub infra_ids: Vec<String>,
    /// Their `backend_type` by infra id (public cloud storages: [`crate::public_cloud`]).
    pub infra_backends: HashMap<String, String>,
}

impl AcronisSnapshot {
    /// The items a new customer tenant starts with: what the partner has enabled, disabled.
    pub fn items_of_new_tenant(&self) -> Vec<OfferingItem> {
        self.items
            .get(&self.partner_id)
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i.enabled())
                    .map(|i| OfferingItem {
                        status: 0,
                        quota: None,
                        tenant_id: None,
                        ..i.clone()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Customer tenants directly under the partner, by lower-cased name.
    pub fn customers_by_name(&self) -> HashMap<String, &Tenant> {
        self.tenants
            .values()
            .filter(|t| t.kind == "customer" && t.parent_id == self.partner_id)
            .map(|t| (t.name.trim().to_lowercase(), t))
            .collect()
    }
}

// ------------------------------------------------------------------------------- desired state

/// The state one offering item should be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "value")]
pub enum ItemState {
    /// Enabled, no quota (PAYG, Free, F18).
    Unlimited,
    /// Enabled with a hard quota: `value` = units (bytes for storage), `overage` 0 (H).
    Hard(u64),
    /// Quota 0 while enabled; a disabled item stays disabled (F12: nothing to provision).
    ZeroIfEnabled,
    /// Enabled, for feature items, which carry no quota.
    Enabled,
}

/// One offering item and the state it should be in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredItem {
    pub application_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    pub state: ItemState,
}

impl DesiredItem {
    fn key(&self) -> OfferingItemKey {
        OfferingItemKey {
            application_id: self.application_id.clone(),
            name: self.name.clone(),
            infra_id: self.infra_id.clone(),
        }
    }
}

/// A tenant to create for a company (F16, F8, H).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTenant {
    pub name: String,
    pub origin: ProvisionOrigin,
    pub admin: NewUser,
    pub two_factor_auth: bool,
    pub production: bool,
}

/// Which tenant the apply works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TenantTarget {
    Existing { tenant_id: String },
    Create(NewTenant),
}

/// The body of a provisioning apply message: one customer's desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDesired {
    pub tenant: TenantTarget,
    pub items: Vec<DesiredItem>,
    /// A trial tenant the product created switches to production after a full month (F8).
    #[serde(default)]
    pub switch_to_production: bool,
    /// The partner tenant new tenants go under (saves the applier a lookup per customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Deprovisioning's step on the tenant itself (F20), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::deprovision::Lifecycle>,
    /// Two-way sync's contract changes and the agreed state to record (F19, H).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_way: Option<crate::two_way::TwoWayDesired>,
}

impl CustomerDesired {
    /// Whether applying it writes to Autotask (two-way sync's contract changes).
    pub fn writes_autotask(&self) -> bool {
        self.two_way.as_ref().is_some_and(|t| !t.changes.is_empty())
    }
}

/// The writes that bring `current` items to `desired`, as the applier will send them: only
/// items that differ. Planner and applier use this one function, so a dry run lists exactly
/// what a real run writes.
pub fn item_changes(current: &[OfferingItem], desired: &[DesiredItem]) -> Vec<DesiredOfferingItem> {
    let mut changes = Vec::new();
    for wanted in desired {
        let key = wanted.key();
        let Some(item) = current.iter().find(|i| i.is(&key)) else {
            continue;
        };
        let quota = |value: Option<u64>, overage: Option<u64>| {
            item.quota
                .filter(|_| item.enabled())
                .is_some_and(|q| q.value == value && q.overage == overage)
        };
        let change = match wanted.state {
            ItemState::Unlimited if !item.enabled() || !quota(None, None) => {
                Some((true, Some(QuotaLimit::UNLIMITED)))
            }
            ItemState::Hard(units) if !item.enabled() || !quota(Some(units), Some(0)) => Some((
                true,
                Some(QuotaLimit {
                    value: Some(units),
                    overage: Some(0),
                }),
            )),
            ItemState::ZeroIfEnabled if item.enabled() && item.item_type != "feature" => {
                (!quota(Some(0), Some(0))).then_some((
                    true,
                    Some(QuotaLimit {
                        value: Some(0),
                        overage: Some(0),
                    }),
                ))
            }
            ItemState::Enabled if !item.enabled() => Some((true, None)),
            _ => None,
        };
        if let Some((enabled, quota)) = change {
            changes.push(DesiredOfferingItem {
                key,
                enabled,
                quota,
            });
        }
    }
    changes
}

/// How a change reads in a plan or an audit item.
pub fn describe_change(current: &[OfferingItem], change: &DesiredOfferingItem) -> PlannedWrite {
    let before = current
        .iter()
        .find(|i| i.is(&change.key))
        .map(describe_item)
        .unwrap_or_else(|| "absent".into());
    let after = match change.quota {
        None => "enabled".to_string(),
        Some(limit) => format!(
            "enabled, quota {}",
            describe_quota(limit.value, limit.overage)
        ),
    };
    PlannedWrite {
        action: "set offering item".into(),
        object: item_label(&change.key.name, change.key.infra_id.as_deref()),
        before,
        after,
    }
}

pub fn item_label(name: &str, infra_id: Option<&str>) -> String {
    match infra_id {
        Some(infra) => format!("{name} @ {infra}"),
        None => name.to_string(),
    }
}

fn describe_item(item: &OfferingItem) -> String {
    if !item.enabled() {
        return "disabled".into();
    }
    match item.quota {
        Some(q) => format!("enabled, quota {}", describe_quota(q.value, q.overage)),
        None => "enabled".into(),
    }
}

fn describe_quota(value: Option<u64>, overage: Option<u64>) -> String {
    match (value, overage) {
        (None, _) => "unlimited".into(),
        (Some(v), Some(0)) => format!("{v} (hard)"),
        (Some(v), Some(o)) => format!("{v} + {o} overage"),
        (Some(v), None) => format!("{v} (soft)"),
    }
}

// ------------------------------------------------------------------------------- the plan

/// What the planner concluded for one company.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPlan {
    pub company_id: i64,
    pub company_name: String,
    pub tenant_id: Option<String>,
    pub outcome: Outcome,
    /// Set when something must be written.
    pub desired: Option<CustomerDesired>,
    pub writes: Vec<PlannedWrite>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Create,
    Update,
    InSync,
    /// Nothing is changed; a person must act (F18 conflict, missing tenant, no contact …).
    Error,
    /// Deliberately left alone (F21).
    Excluded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Create => "create",
            Outcome::Update => "update",
            Outcome::InSync => "in_sync",
            Outcome::Error => "error",
            Outcome::Excluded => "excluded",
        }
    }
}

/// The whole plan of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub customers: Vec<CustomerPlan>,
    /// Integration-wide notes (mappings that name unknown services, an unknown default storage).
    pub notes: Vec<String>,
    /// Companies with Acronis services in active contracts but no mapping, while automatic
    /// creation is off: listed so nothing is silently skipped.
    pub unmapped_companies: Vec<CompanyInfo>,
}

impl Plan {
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for c in &self.customers {
            *counts
                .entry(format!("customers_{}", c.outcome.as_str()))
                .or_insert(0) += 1;
            *counts.entry("writes_planned".into()).or_insert(0) += c.writes.len() as u64;
        }
        counts.insert("customers_planned".into(), self.customers.len() as u64);
        counts.insert(
            "companies_unmapped_with_services".into(),
            self.unmapped_companies.len() as u64,
        );
        counts
    }
}

/// Everything the planner needs.
pub struct PlanInput<'a> {
    pub config: &'a IntegrationConfig,
    pub provisioned: &'a [Provisioned],
    pub autotask: &'a AutotaskSnapshot,
    pub acronis: &'a AcronisSnapshot,
    pub now: DateTime<Utc>,
}

/// Who is managed, and how: the union of customer mappings, recorded tenants and (F16)
/// companies to create.
#[derive(Debug, Clone, PartialEq)]
enum Managed {
    Tenant(String),
    /// `new` mapping or auto-create, no tenant recorded yet.
    ToCreate(ProvisionOrigin),
}

/// A mapped offering item's Autotask side, resolved to ids.
#[derive(Debug, Clone)]
struct ResolvedMapping {
    name: String,
    infra_id: Option<String>,
    product: Option<Product>,
    free: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Product {
    Service(i64),
    Bundle(i64),
}

/// The companies the planner must look at: which of them need a tenant created (their primary
/// contacts are read only then). Pure, so the snapshot reader can ask before reading contacts.
pub fn companies_to_create(input: &PlanInput) -> Vec<i64> {
    managed_companies(input)
        .0
        .into_iter()
        .filter(|(_, m)| matches!(m, Managed::ToCreate(_)))
        .map(|(id, _)| id)
        .collect()
}

/// The service and bundle ids the mappings name (to read only their contract lines).
pub fn mapped_products(
    config: &IntegrationConfig,
    autotask: &AutotaskSnapshot,
) -> (Vec<i64>, Vec<i64>) {
    let (mappings, _) = resolve_mappings(config, autotask);
    let mut services = BTreeSet::new();
    let mut bundles = BTreeSet::new();
    for m in mappings {
        match m.product {
            Some(Product::Service(id)) => {
                services.insert(id);
            }
            Some(Product::Bundle(id)) => {
                bundles.insert(id);
            }
            None => {}
        }
    }
    (
        services.into_iter().collect(),
        bundles.into_iter().collect(),
    )
}

fn resolve_mappings(
    config: &IntegrationConfig,
    autotask: &AutotaskSnapshot,
) -> (Vec<ResolvedMapping>, Vec<String>) {
    let mut notes = Vec::new();
    let mut resolved = Vec::new();
    for mapping in &config.services {
        let ServiceSubject::OfferingItem { name, infra_id } = &mapping.subject else {
            continue; // public cloud storages are not provisioned (F13)
        };
        let product = match &mapping.target {
            None => None,
            Some(ServiceTarget::Service(id_or_label)) => {
                let found = match id_or_label {
                    sync_shared::config::IdOrLabel::Id(id) => Some(*id),
                    sync_shared::config::IdOrLabel::Label(label) => autotask
                        .services_by_name
                        .get(&label.trim().to_lowercase())
                        .copied(),
                };
                if found.is_none() {
                    notes.push(format!(
                        "{}: Autotask has no service {id_or_label} (setup creates services named in mappings)",
                        mapping.sk
                    ));
                }
                found.map(Product::Service)
            }
            Some(ServiceTarget::ServiceBundle(id_or_label)) => {
                let found = match id_or_label {
                    sync_shared::config::IdOrLabel::Id(id) => Some(*id),
                    sync_shared::config::IdOrLabel::Label(label) => autotask
                        .bundles_by_name
                        .get(&label.trim().to_lowercase())
                        .copied(),
                };
                if found.is_none() {
                    notes.push(format!(
                        "{}: Autotask has no service bundle {id_or_label}",
                        mapping.sk
                    ));
                }
                found.map(Product::Bundle)
            }
        };
        resolved.push(ResolvedMapping {
            name: name.clone(),
            infra_id: infra_id.clone(),
            product,
            free: mapping.free,
        });
    }
    (resolved, notes)
}

/// Contract lines per company: product → (units in prepaid contracts, in a prepaid contract,
/// in a PAYG contract).
#[derive(Debug, Default, Clone, Copy)]
struct Contracted {
    prepaid_units: f64,
    in_prepaid: bool,
    in_payg: bool,
}

fn contracted_by_company(
    autotask: &AutotaskSnapshot,
) -> HashMap<i64, HashMap<Product, Contracted>> {
    let contracts: HashMap<i64, &ContractInfo> =
        autotask.contracts.iter().map(|c| (c.id, c)).collect();
    let mut by_company: HashMap<i64, HashMap<Product, Contracted>> = HashMap::new();
    let rows = autotask
        .service_units
        .iter()
        .map(|r| (r, Product::Service(r.product_id)))
        .chain(
            autotask
                .bundle_units
                .iter()
                .map(|r| (r, Product::Bundle(r.product_id))),
        );
    for (row, product) in rows {
        let Some(contract) = contracts.get(&row.contract_id) else {
            continue; // not an active Recurring Service contract
        };
        let entry = by_company
            .entry(contract.company_id)
            .or_default()
            .entry(product)
            .or_default();
        if contract.payg {
            entry.in_payg = true;
        } else {
            entry.in_prepaid = true;
            entry.prepaid_units += row.units.max(0.0);
        }
    }
    by_company
}

/// (company → how it is managed, companies with mapped services but unmanaged).
fn managed_companies(input: &PlanInput) -> (BTreeMap<i64, Managed>, Vec<i64>) {
    let config = input.config;
    let recorded: HashMap<i64, &Provisioned> = input
        .provisioned
        .iter()
        .map(|p| (p.company_id, p))
        .collect();
    let mut managed = BTreeMap::new();
    for mapping in &config.customers {
        let how = match &mapping.tenant {
            MappedTenant::Existing(tenant) => Managed::Tenant(tenant.clone()),
            MappedTenant::New => match recorded
                .get(&mapping.company_id)
                .and_then(|p| p.tenant_id.clone())
            {
                Some(tenant) => Managed::Tenant(tenant),
                None => Managed::ToCreate(ProvisionOrigin::MappingNew),
            },
        };
        managed.insert(mapping.company_id, how);
    }
    // Tenants created for auto-created companies are the product's own mappings (F16); a
    // tenant created for a `new` mapping that the user removed is no longer managed (H).
    for p in input.provisioned {
        if p.origin == ProvisionOrigin::AutoCreate && !managed.contains_key(&p.company_id) {
            let how = match &p.tenant_id {
                Some(tenant) => Managed::Tenant(tenant.clone()),
                None => Managed::ToCreate(ProvisionOrigin::AutoCreate),
            };
            managed.insert(p.company_id, how);
        }
    }
    let (mappings, _) = resolve_mappings(config, input.autotask);
    let mapped: HashSet<Product> = mappings.iter().filter_map(|m| m.product).collect();
    let mut unmanaged = Vec::new();
    for (company, lines) in contracted_by_company(input.autotask) {
        if managed.contains_key(&company) || !lines.keys().any(|p| mapped.contains(p)) {
            continue;
        }
        if config.settings.provisioning.auto_create_customers {
            managed.insert(company, Managed::ToCreate(ProvisionOrigin::AutoCreate));
        } else {
            unmanaged.push(company);
        }
    }
    unmanaged.sort_unstable();
    (managed, unmanaged)
}

/// Advanced packs and the standard workload items they need (F12: a pack only on top of a
/// workload that has Standard protection). Management, security and DLP packs need any
/// protected workload.
fn standard_items_for_pack(pack: &str) -> Option<&'static [&'static str]> {
    const WORKLOADS: &[&str] = &[
        "pw_base_workstations",
        "pw_base_servers",
        "pw_base_vms",
        "pw_base_web_hosting_servers",
    ];
    match pack {
        "pw_pack_adv_backup_workstations" => Some(&["pw_base_workstations"]),
        "pw_pack_adv_backup_servers" => Some(&["pw_base_servers"]),
        "pw_pack_adv_backup_vms" => Some(&["pw_base_vms"]),
        "pw_pack_adv_backup_web_hosting_servers" => Some(&["pw_base_web_hosting_servers"]),
        "pw_pack_adv_email_security" => Some(&["pw_base_m365_seats", "pw_base_m365_mailboxes"]),
        other if other.starts_with("pw_pack_adv_") => Some(WORKLOADS),
        _ => None,
    }
}

/// The per-workload backup storage item; one per storage (`infra_id`).
const STORAGE_ITEM: &str = "pw_base_storage";

/// A backup storage of the edition the mappings use (other editions' storage items are
/// ordinary unmapped items).
fn is_storage(item: &OfferingItem, storage_names: &HashSet<&str>) -> bool {
    item.infra_id.is_some()
        && item.usage_name == "storage"
        && storage_names.contains(item.name.as_str())
}

/// Plans every managed company.
pub fn plan(input: &PlanInput) -> Plan {
    let (mappings, mut notes) = resolve_mappings(input.config, input.autotask);
    let settings = &input.config.settings;
    if let Some(default) = &settings.default_storage_infra_id {
        if !input.acronis.infra_ids.is_empty() && !input.acronis.infra_ids.contains(default) {
            notes.push(format!(
                "default_storage_infra_id {default} is not a storage of the partner tenant"
            ));
        }
    }
    let contracted = contracted_by_company(input.autotask);
    let (managed, unmanaged) = managed_companies(input);
    let recorded: HashMap<i64, &Provisioned> = input
        .provisioned
        .iter()
        .map(|p| (p.company_id, p))
        .collect();
    let mut customers = Vec::new();
    for (company_id, how) in managed {
        let company_name = input
            .autotask
            .companies
            .get(&company_id)
            .map(|c| c.name.clone());
        let lines = contracted.get(&company_id).cloned().unwrap_or_default();
        let mut customer = CustomerPlan {
            company_id,
            company_name: company_name
                .clone()
                .unwrap_or_else(|| format!("company {company_id}")),
            tenant_id: None,
            outcome: Outcome::InSync,
            desired: None,
            writes: Vec::new(),
            warnings: Vec::new(),
        };
        let error = |mut c: CustomerPlan, message: String| {
            c.outcome = Outcome::Error;
            c.warnings.push(message);
            c
        };
        let Some(company_name) = company_name else {
            customers.push(error(
                customer,
                format!("Autotask company {company_id} does not exist (or is not readable); check the customer mapping"),
            ));
            continue;
        };
        let (tenant_target, current_items, tenant) = match &how {
            Managed::Tenant(tenant_id) => {
                customer.tenant_id = Some(tenant_id.clone());
                let Some(tenant) = input.acronis.tenants.get(tenant_id) else {
                    customers.push(error(
                        customer,
                        format!("tenant {tenant_id} is not a tenant under the partner (deleted, moved, or a wrong id); nothing changed"),
                    ));
                    continue;
                };
                // F22: a sub-partner is provisioned at its own level, like a customer.
                let sub_partner =
                    tenant.kind == "partner" && *tenant_id != input.acronis.partner_id;
                if tenant.kind != "customer" && !sub_partner {
                    customers.push(error(
                        customer,
                        format!(
                            "tenant {tenant_id} (\"{}\") is a {} tenant, not a customer or sub-partner tenant",
                            tenant.name, tenant.kind
                        ),
                    ));
                    continue;
                }
                if tenant.ancestral_access == Some(false) {
                    customer.outcome = Outcome::Excluded;
                    customer.warnings.push(format!(
                        "tenant \"{}\" is in self-service mode (support access disabled): the integration never changes it (F21)",
                        tenant.name
                    ));
                    customers.push(customer);
                    continue;
                }
                let items = input
                    .acronis
                    .items
                    .get(tenant_id)
                    .cloned()
                    .unwrap_or_default();
                (
                    TenantTarget::Existing {
                        tenant_id: tenant_id.clone(),
                    },
                    items,
                    Some(tenant),
                )
            }
            Managed::ToCreate(origin) => {
                match new_tenant(input, company_id, &company_name, *origin) {
                    Ok(spec) => (
                        TenantTarget::Create(spec),
                        input.acronis.items_of_new_tenant(),
                        None,
                    ),
                    Err(problem) => {
                        customers.push(error(customer, problem));
                        continue;
                    }
                }
            }
        };
        // Public cloud storages are never provisioned (F13, the guide's scenario 3).
        let current_items = crate::public_cloud::without_public_cloud_storages(
            current_items,
            &input.acronis.infra_backends,
        );
        // F18: the same item in a PAYG and a prepaid contract is an error, not a guess.
        let mixed: Vec<&str> = mappings
            .iter()
            .filter(|m| {
                m.product
                    .and_then(|p| lines.get(&p))
                    .is_some_and(|c| c.in_payg && c.in_prepaid)
            })
            .map(|m| m.name.as_str())
            .collect();
        if !mixed.is_empty() {
            customers.push(error(
                customer,
                format!(
                    "{} in both a PAYG and a prepaid contract (Acronis PAYG = Yes and No): a contract cannot have both kinds of additions for one item; nothing changed",
                    mixed.join(", ")
                ),
            ));
            continue;
        }
        let (items, warnings) = match desired_items(
            &mappings,
            &lines,
            &current_items,
            settings.default_storage_infra_id.as_deref(),
        ) {
            Ok(result) => result,
            Err(problem) => {
                customers.push(error(customer, problem));
                continue;
            }
        };
        customer.warnings.extend(warnings);
        let switch_to_production = tenant.is_some_and(|t| {
            t.pricing_mode.as_deref() == Some("trial")
                && recorded.get(&company_id).is_some_and(|p| {
                    p.provision_as_trial
                        && p.created_at
                            .and_then(|at| at.checked_add_months(Months::new(1)))
                            .is_some_and(|due| due <= input.now)
                })
        });
        let changes = item_changes(&current_items, &items);
        if let TenantTarget::Create(spec) = &tenant_target {
            customer
                .writes
                .extend(creation_writes(spec, &input.acronis.partner_id));
        }
        if switch_to_production {
            customer.writes.push(PlannedWrite {
                action: "set pricing mode".into(),
                object: "tenant".into(),
                before: "trial".into(),
                after: "production (a full month of trial has passed)".into(),
            });
        }
        customer
            .writes
            .extend(changes.iter().map(|c| describe_change(&current_items, c)));
        customer.outcome = match (&tenant_target, customer.writes.is_empty()) {
            (TenantTarget::Create(_), _) => Outcome::Create,
            (_, true) => Outcome::InSync,
            (_, false) => Outcome::Update,
        };
        if customer.outcome != Outcome::InSync {
            // A new tenant's items all start disabled: "zero if enabled" has nothing to do there,
            // and the message stays small.
            let items = match &tenant_target {
                TenantTarget::Create(_) => items
                    .into_iter()
                    .filter(|i| i.state != ItemState::ZeroIfEnabled)
                    .collect(),
                TenantTarget::Existing { .. } => items,
            };
            customer.desired = Some(CustomerDesired {
                tenant: tenant_target,
                items,
                switch_to_production,
                partner_id: Some(input.acronis.partner_id.clone()).filter(|p| !p.is_empty()),
                lifecycle: None,
                two_way: None,
            });
        }
        customers.push(customer);
    }
    let unmapped_companies = unmanaged
        .into_iter()
        .filter_map(|id| input.autotask.companies.get(&id).cloned())
        .collect();
    Plan {
        customers,
        notes,
        unmapped_companies,
    }
}

/// The writes that creating a tenant makes, for the plan.
fn creation_writes(spec: &NewTenant, partner_id: &str) -> Vec<PlannedWrite> {
    let mut writes = vec![
        PlannedWrite {
            action: "create tenant".into(),
            object: format!("customer \"{}\" under {partner_id}", spec.name),
            before: "absent".into(),
            after: "created".into(),
        },
        PlannedWrite {
            action: "create admin user".into(),
            object: spec.admin.login.clone(),
            before: "absent".into(),
            after: "created".into(),
        },
        PlannedWrite {
            action: "grant role".into(),
            object: spec.admin.login.clone(),
            before: "none".into(),
            after: sync_shared::acronis::COMPANY_ADMIN_ROLE.into(),
        },
        PlannedWrite {
            action: "send activation email".into(),
            object: spec.admin.login.clone(),
            before: "not sent".into(),
            after: format!("sent to {}", spec.admin.email),
        },
    ];
    if spec.two_factor_auth {
        writes.push(PlannedWrite {
            action: "set two-factor authentication".into(),
            object: "tenant".into(),
            before: "disabled".into(),
            after: "enabled".into(),
        });
    }
    if spec.production {
        writes.push(PlannedWrite {
            action: "set pricing mode".into(),
            object: "tenant".into(),
            before: "trial".into(),
            after: "production".into(),
        });
    }
    writes
}

/// F8 and H: the new tenant's name and admin user.
fn new_tenant(
    input: &PlanInput,
    company_id: i64,
    company_name: &str,
    origin: ProvisionOrigin,
) -> Result<NewTenant, String> {
    let provisioning = &input.config.settings.provisioning;
    let name = company_name.trim().to_string();
    // With a record, an earlier attempt may have created the tenant: the applier adopts it.
    let recorded = input.provisioned.iter().any(|p| p.company_id == company_id);
    if let Some(existing) = input
        .acronis
        .customers_by_name()
        .get(&name.to_lowercase())
        .filter(|_| !recorded)
    {
        // Adopting it would silently take over someone's tenant: a person decides.
        return Err(format!(
            "a customer tenant named \"{}\" ({}) already exists under the partner; map the company to it (tenant = its id) instead of creating a new one",
            existing.name, existing.id
        ));
    }
    let admin = match provisioning.create_accounts_based_on {
        AccountBasis::CompanyPrimaryContact => {
            let contact = input
                .autotask
                .primary_contacts
                .get(&company_id)
                .ok_or_else(|| {
                    "the company has no active primary contact in Autotask; accounts are based on the primary contact (F8), so nothing was created".to_string()
                })?;
            let email = contact
                .email
                .clone()
                .filter(|e| e.contains('@'))
                .ok_or_else(|| {
                    format!(
                        "the primary contact {} {} has no email address; it would receive the activation email (F8), so nothing was created",
                        contact.first_name, contact.last_name
                    )
                })?;
            NewUser {
                login: email.to_lowercase(),
                email,
                firstname: Some(contact.first_name.clone()).filter(|s| !s.is_empty()),
                lastname: Some(contact.last_name.clone()).filter(|s| !s.is_empty()),
            }
        }
        AccountBasis::CompanyName => {
            let email = provisioning.activation_email.clone().ok_or_else(|| {
                "provisioning.activation_email is required with company_name".to_string()
            })?;
            NewUser {
                login: login_from_company_name(company_name, company_id),
                email,
                firstname: None,
                lastname: None,
            }
        }
    };
    Ok(NewTenant {
        name,
        origin,
        admin,
        two_factor_auth: provisioning.two_factor_auth,
        production: provisioning.provision_as == ProvisionAs::Production,
    })
}

/// An Acronis login from a company name: lower-case letters and digits joined by dots, with the
/// company id so that two companies of one name never share a login.
pub fn login_from_company_name(company_name: &str, company_id: i64) -> String {
    let words: Vec<String> = company_name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let base = if words.is_empty() {
        "customer".to_string()
    } else {
        words.join(".")
    };
    let base: String = base.chars().take(48).collect();
    format!("{}.{company_id}", base.trim_end_matches('.'))
}

/// The desired state of every managed item of one customer, plus warnings.
fn desired_items(
    mappings: &[ResolvedMapping],
    lines: &HashMap<Product, Contracted>,
    current: &[OfferingItem],
    default_storage: Option<&str>,
) -> Result<(Vec<DesiredItem>, Vec<String>), String> {
    let mut warnings = Vec::new();
    let state_of_mapping = |m: &ResolvedMapping, unit_bytes: u64| -> (ItemState, bool) {
        let contracted = m
            .product
            .and_then(|p| lines.get(&p))
            .copied()
            .unwrap_or_default();
        if contracted.in_payg {
            (ItemState::Unlimited, true)
        } else if contracted.in_prepaid {
            let units = contracted.prepaid_units.round() as u64;
            (ItemState::Hard(units.saturating_mul(unit_bytes)), true)
        } else if m.free {
            (ItemState::Unlimited, false)
        } else {
            (ItemState::ZeroIfEnabled, false)
        }
    };
    let find_mapping = |item: &OfferingItem| {
        mappings
            .iter()
            .find(|m| m.name == item.name && (m.infra_id.is_none() || m.infra_id == item.infra_id))
    };
    // Storages first: one per customer.
    let mut storage_names: HashSet<&str> = mappings
        .iter()
        .filter(|m| m.infra_id.is_some())
        .map(|m| m.name.as_str())
        .collect();
    storage_names.insert(STORAGE_ITEM);
    let storages: Vec<&OfferingItem> = current
        .iter()
        .filter(|i| is_storage(i, &storage_names))
        .collect();
    let storage_key = |i: &OfferingItem| (i.name.clone(), i.infra_id.clone());
    let mut storage_states: HashMap<(String, Option<String>), ItemState> = HashMap::new();
    let named: Vec<&&OfferingItem> = storages
        .iter()
        .filter(|s| {
            find_mapping(s)
                .is_some_and(|m| m.infra_id.is_some() && state_of_mapping(m, BYTES_PER_GB).1)
        })
        .collect();
    let enabled: Vec<&&OfferingItem> = storages.iter().filter(|s| s.enabled()).collect();
    match named.as_slice() {
        [] => {
            for storage in &storages {
                let state = find_mapping(storage)
                    .map(|m| state_of_mapping(m, BYTES_PER_GB).0)
                    .unwrap_or(ItemState::ZeroIfEnabled);
                storage_states.insert(storage_key(storage), state);
            }
            if let Some(default) = default_storage {
                let other_enabled = enabled
                    .iter()
                    .any(|s| s.infra_id.as_deref() != Some(default));
                match storages
                    .iter()
                    .find(|s| s.infra_id.as_deref() == Some(default) && s.name == STORAGE_ITEM)
                {
                    None => warnings.push(format!(
                        "the default storage {default} is not offered to this tenant"
                    )),
                    Some(_) if other_enabled => warnings.push(format!(
                        "another storage is enabled, so the default storage {default} was not assigned"
                    )),
                    Some(storage) => {
                        // F11: assigned — enabled, with F12's quota for it.
                        let state = match storage_states.get(&storage_key(storage)) {
                            Some(ItemState::ZeroIfEnabled) | None => ItemState::Hard(0),
                            Some(other) => *other,
                        };
                        storage_states.insert(storage_key(storage), state);
                    }
                }
            }
        }
        [one] => {
            let other_enabled: Vec<&&&OfferingItem> = enabled
                .iter()
                .filter(|s| s.infra_id != one.infra_id)
                .collect();
            if let Some(other) = other_enabled.first() {
                warnings.push(format!(
                    "the contracts name storage {} but storage {} is enabled; Acronis allows one storage per customer, so storages were left as they are (switch it in Acronis)",
                    one.infra_id.as_deref().unwrap_or_default(),
                    other.infra_id.as_deref().unwrap_or_default()
                ));
            } else {
                for storage in &storages {
                    let state = if storage.infra_id == one.infra_id {
                        find_mapping(storage)
                            .map(|m| state_of_mapping(m, BYTES_PER_GB).0)
                            .unwrap_or(ItemState::ZeroIfEnabled)
                    } else {
                        ItemState::ZeroIfEnabled
                    };
                    storage_states.insert(storage_key(storage), state);
                }
            }
        }
        several => {
            return Err(format!(
                "the contracts name {} storages ({}); Acronis allows one storage per customer; nothing changed",
                several.len(),
                several
                    .iter()
                    .filter_map(|s| s.infra_id.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut desired = Vec::new();
    for item in current {
        if is_storage(item, &storage_names) {
            if let Some(state) = storage_states.get(&storage_key(item)) {
                desired.push(desired_item(item, *state));
            }
            continue;
        }
        let mapping = find_mapping(item);
        let state = match mapping {
            Some(m) => {
                let unit = if item.measurement_unit == "bytes" {
                    BYTES_PER_GB
                } else {
                    1
                };
                let state = state_of_mapping(m, unit).0;
                if item.item_type == "feature" {
                    match state {
                        ItemState::ZeroIfEnabled => continue,
                        _ => ItemState::Enabled,
                    }
                } else {
                    state
                }
            }
            // F12: an unmapped Cyber Protection item gets quota 0; features and other
            // applications' items are not the integration's.
            None if item.application_id == CYBER_PROTECTION_APP_ID
                && item.item_type != "feature" =>
            {
                ItemState::ZeroIfEnabled
            }
            None => continue,
        };
        desired.push(desired_item(item, state));
    }
    // Packs only on top of an enabled standard workload item.
    let enabled_after = |name: &str| {
        desired.iter().any(|d| {
            d.name == name
                && matches!(
                    d.state,
                    ItemState::Unlimited | ItemState::Enabled | ItemState::Hard(1..)
                )
        }) || (current
            .iter()
            .any(|i| i.name == name && i.enabled() && i.quota.is_none_or(|q| q.value != Some(0)))
            && !desired.iter().any(|d| d.name == name))
    };
    let packs_off: Vec<usize> = desired
        .iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d.state, ItemState::ZeroIfEnabled))
        .filter_map(|(index, d)| Some((index, standard_items_for_pack(&d.name)?)))
        .filter(|(_, needs)| !needs.iter().any(|n| enabled_after(n)))
        .map(|(index, _)| index)
        .collect();
    for index in packs_off {
        warnings.push(format!(
            "{} was left off: an advanced pack needs the standard item ({}) enabled",
            desired[index].name,
            standard_items_for_pack(&desired[index].name)
                .unwrap_or_default()
                .join(" or ")
        ));
        desired[index].state = ItemState::ZeroIfEnabled;
    }
    Ok((desired, warnings))
}

fn desired_item(item: &OfferingItem, state: ItemState) -> DesiredItem {
    DesiredItem {
        application_id: item.application_id.clone(),
        name: item.name.clone(),
        infra_id: item.infra_id.clone(),
        state,
    }
}

/// Whether a contract's period contains `day` (dates as Autotask sends them, date part only).
pub fn period_contains(start: &str, end: &str, day: NaiveDate) -> bool {
    let date = |s: &str| NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok();
    match (date(start), date(end)) {
        (Some(start), Some(end)) => start <= day && day <= end,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
