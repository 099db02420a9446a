//! `mappings INTEGRATION [--unmapped] [--company-type TYPE]`: F14's listing. Autotask companies
//! and Acronis customer tenants, read in bulk with the integration's own secrets; which company
//! is mapped to which tenant (the user's `CUSTOMER#<company id>` items and the tenants the
//! product recorded as `PROVISIONED#<company id>`); the unmapped on both sides; and suggestions:
//! an unmapped company whose name matches exactly one unmapped tenant (see [`crate::names`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use sync_shared::acronis::{AcronisClient, AcronisError};
use sync_shared::autotask::{self, AutotaskClient, AutotaskError, Paging, PicklistValue, Query};
use sync_shared::config::{
    CustomerMapping, IntegrationConfig, Item, MappedTenant, integration_pk, string_attr,
};
use sync_shared::store::{Store, schema};

use crate::names::suggest_pairs;
use crate::{Admin, AdminError};

/// Items the product writes beside a customer mapping: the tenant it created or recorded for
/// the company (H, "Mapping new"). Read as raw items: every attribute may be missing.
pub const PROVISIONED_PREFIX: &str = "PROVISIONED#";
/// The item setup writes with the integration's Autotask zone (F2), and its attribute.
pub const ZONE_SK: &str = "ZONE";
pub const ZONE_URL_ATTR: &str = "zone_url";
/// Company 0 is the Autotask database owner's own company, never a customer.
pub const OWN_COMPANY_ID: i64 = 0;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub unmapped_only: bool,
    /// A company type label (`Customer`) or picklist id (`1`).
    pub company_type: Option<String>,
}

/// An Autotask company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Company {
    pub id: i64,
    pub name: String,
    /// The type's picklist label, or its id as text when the picklist does not know it.
    pub company_type: Option<String>,
    pub company_type_id: Option<i64>,
    pub active: bool,
}

/// An Acronis customer tenant under the partner or one of its sub-partners (F22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerTenant {
    pub id: String,
    pub name: String,
    /// The sub-partner (or folder) path when it is not directly under the partner.
    pub under: Option<String>,
    pub enabled: bool,
    /// Self-service mode / support access disabled: never changed (F21).
    pub self_service: bool,
    /// Set on an unmapped tenant the product created for a company whose `"new"` mapping was
    /// removed since (no longer managed, H).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the product recorded for a company: `PROVISIONED#<company id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisionedRecord {
    pub company_id: i64,
    pub tenant: Option<String>,
    pub tenant_name: Option<String>,
    /// `mapping_new` (for a CUSTOMER item with `"new"`: managed while that item exists) or
    /// `auto_create` (F16: the record is the mapping).
    pub origin: Option<String>,
    /// `creating` or `created`.
    pub state: Option<String>,
}

/// The origin of a record that is a mapping by itself (F16).
pub const ORIGIN_AUTO_CREATE: &str = "auto_create";

/// A company and the tenant it is mapped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedPair {
    pub company_id: i64,
    pub company_name: Option<String>,
    pub company_type: Option<String>,
    /// `None` while a `"new"` mapping's tenant is not created yet.
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    /// `mapping` (a CUSTOMER item naming a tenant), `mapping new` (a CUSTOMER item with
    /// `"new"`) or `auto-created` (a PROVISIONED item of origin `auto_create`: a tenant the
    /// product created by itself, F16, whose record is the mapping).
    pub via: String,
    pub origin: Option<String>,
    /// Something a person should look at: the company or tenant was not found, or the
    /// recorded tenant differs from the mapping's.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub company_id: i64,
    pub company_name: String,
    pub tenant_id: String,
    pub tenant_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Read from Autotask (company 0 left out) and Acronis.
    pub companies: usize,
    pub customer_tenants: usize,
    /// Shown, after the filters.
    pub mapped: usize,
    pub unmapped_companies: usize,
    pub unmapped_tenants: usize,
    pub suggestions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingsReport {
    pub integration: String,
    pub partner_tenant_id: Option<String>,
    pub unmapped_only: bool,
    pub company_type: Option<String>,
    pub totals: Totals,
    pub mapped: Vec<MappedPair>,
    pub unmapped_companies: Vec<Company>,
    pub unmapped_tenants: Vec<CustomerTenant>,
    pub suggestions: Vec<Suggestion>,
}

/// Reads the configuration, the PROVISIONED items, Autotask's companies and Acronis's customer
/// tenants (both APIs at the same time) and builds the listing.
pub async fn load(
    admin: &Admin,
    integration: &str,
    filter: &Filter,
) -> Result<MappingsReport, AdminError> {
    let store = &admin.store;
    let pk = integration_pk(integration);
    let raw = store.load_config_items(integration).await.map_err(|e| {
        AdminError::from_error(format!("reading the configuration of {integration}"), &e)
    })?;
    if raw.settings.is_none() {
        return Err(AdminError::NotFound(format!(
            "integration `{integration}` has no settings item ({pk} / SETTINGS) in table {}",
            store.table()
        )));
    }
    let config = IntegrationConfig::from_items(integration, raw).map_err(|e| {
        AdminError::from_error(format!("the configuration of {integration} is invalid"), &e)
    })?;
    let provisioned = provisioned_records(store, integration).await?;
    let zone = recorded_zone(store, integration).await?;

    let settings = &config.settings;
    let autotask_secret = admin
        .secrets
        .autotask(&settings.autotask_secret_name)
        .await
        .map_err(|e| AdminError::from_error("reading the Autotask secret", &e))?;
    let acronis_secret = admin
        .secrets
        .acronis(&settings.acronis_secret_name)
        .await
        .map_err(|e| AdminError::from_error("reading the Acronis secret", &e))?;
    let mut options = autotask::ClientOptions::for_settings(settings);
    // A person is waiting: no slowing down for the hourly budget (G5 is for background jobs).
    options.background = false;
    if admin.fast_autotask_retries {
        options = options.with_fast_retries();
    }
    let acronis = AcronisClient::new(
        &settings.acronis_secret_name,
        acronis_secret,
        admin.acronis_options.clone(),
    )
    .map_err(|e| AdminError::from_error("connecting to Acronis", &e))?
    .with_secrets_cache(admin.secrets.clone());

    let autotask_side = async {
        let client = AutotaskClient::connect(options, autotask_secret, zone).await?;
        read_companies(&client).await
    };
    let (autotask_result, acronis_result) =
        tokio::join!(autotask_side, read_customer_tenants(&acronis));
    let (companies, company_types) =
        autotask_result.map_err(|e| AdminError::from_error("reading Autotask companies", &e))?;
    let (partner, tenants) = acronis_result
        .map_err(|e| AdminError::from_error("reading Acronis customer tenants", &e))?;

    let type_filter = match &filter.company_type {
        None => None,
        Some(wanted) => Some(resolve_company_type(wanted, &company_types)?),
    };
    let mut report = build(
        integration,
        &config.customers,
        &provisioned,
        companies,
        tenants,
        filter.unmapped_only,
        type_filter,
    );
    report.partner_tenant_id = Some(partner);
    report.company_type = filter.company_type.clone();
    Ok(report)
}

async fn provisioned_records(
    store: &Store,
    integration: &str,
) -> Result<Vec<ProvisionedRecord>, AdminError> {
    let pk = integration_pk(integration);
    let items = store
        .query_prefix(&pk, PROVISIONED_PREFIX)
        .await
        .map_err(|e| AdminError::from_error(format!("reading {pk} / {PROVISIONED_PREFIX}…"), &e))?;
    Ok(items.iter().filter_map(provisioned_record).collect())
}

/// A `PROVISIONED#<company id>` item, tolerant of missing attributes; `None` when its key
/// names no company id.
pub fn provisioned_record(item: &Item) -> Option<ProvisionedRecord> {
    let company_id = string_attr(item, schema::SK)?
        .strip_prefix(PROVISIONED_PREFIX)?
        .parse()
        .ok()?;
    let text = |name: &str| {
        string_attr(item, name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(ProvisionedRecord {
        company_id,
        tenant: text(schema::TENANT_ATTR).map(|t| t.to_ascii_lowercase()),
        tenant_name: text("tenant_name"),
        origin: text("origin"),
        state: text("state"),
    })
}

async fn recorded_zone(store: &Store, integration: &str) -> Result<Option<String>, AdminError> {
    let pk = integration_pk(integration);
    let item = store
        .get_item(&pk, ZONE_SK)
        .await
        .map_err(|e| AdminError::from_error(format!("reading {pk} / {ZONE_SK}"), &e))?;
    Ok(item
        .as_ref()
        .and_then(|i| string_attr(i, ZONE_URL_ATTR))
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// Every company (company 0 left out), typed by the `companyType` picklist: one metadata call
/// and one query of 500-row pages.
async fn read_companies(
    client: &AutotaskClient,
) -> Result<(Vec<Company>, Vec<PicklistValue>), AutotaskError> {
    let types = client.picklist("Companies", "companyType").await?;
    let labels: HashMap<i64, String> = types
        .iter()
        .filter_map(|v| Some((v.value.parse().ok()?, v.label.clone())))
        .collect();
    let query = Query::all().fields(&["companyName", "companyType", "isActive"]);
    let rows: Vec<autotask::Company> = client.query_all(&query, Paging::NextPageUrl).await?;
    let companies = rows
        .into_iter()
        .filter_map(|row| {
            let id = row.id?;
            (id != OWN_COMPANY_ID).then(|| Company {
                id,
                name: row.company_name.unwrap_or_default(),
                company_type: row
                    .company_type
                    .map(|t| labels.get(&t).cloned().unwrap_or_else(|| t.to_string())),
                company_type_id: row.company_type,
                active: row.is_active.unwrap_or(true),
            })
        })
        .collect();
    Ok((companies, types))
}

/// The partner's customer tenants, its sub-partners' and folders' included (F22): one children
/// listing per partner or folder and one read per 100 tenants.
async fn read_customer_tenants(
    client: &AcronisClient,
) -> Result<(String, Vec<CustomerTenant>), AcronisError> {
    let partner = client.partner_tenant_id().await?;
    let mut seen: HashSet<String> = HashSet::from([partner.clone()]);
    let mut parents: Vec<(String, Option<String>)> = vec![(partner.clone(), None)];
    let mut customers = Vec::new();
    while let Some((parent, path)) = parents.pop() {
        let ids: Vec<String> = client
            .child_tenant_ids(&parent)
            .await?
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        if ids.is_empty() {
            continue;
        }
        for tenant in client.tenants(&ids).await? {
            match tenant.kind.as_str() {
                "customer" => customers.push(CustomerTenant {
                    id: tenant.id.to_ascii_lowercase(),
                    name: tenant.name,
                    under: path.clone(),
                    enabled: tenant.enabled,
                    self_service: tenant.ancestral_access == Some(false),
                    note: None,
                }),
                "partner" | "folder" => {
                    let below = match &path {
                        Some(path) => format!("{path} / {}", tenant.name),
                        None => tenant.name.clone(),
                    };
                    parents.push((tenant.id, Some(below)));
                }
                _ => {}
            }
        }
    }
    customers.sort_by_cached_key(|t| (sort_key(&t.name), t.id.clone()));
    Ok((partner, customers))
}

/// A `--company-type` as the picklist id to keep.
fn resolve_company_type(wanted: &str, types: &[PicklistValue]) -> Result<i64, AdminError> {
    let wanted = wanted.trim();
    if let Ok(id) = wanted.parse::<i64>() {
        return Ok(id);
    }
    types
        .iter()
        .find(|v| v.label.trim().eq_ignore_ascii_case(wanted))
        .and_then(|v| v.value.parse().ok())
        .ok_or_else(|| {
            let known: Vec<String> = types
                .iter()
                .filter(|v| v.is_active)
                .map(|v| format!("{} ({})", v.label, v.value))
                .collect();
            AdminError::NotFound(format!(
                "unknown company type `{wanted}`; this Autotask database has: {}",
                known.join(", ")
            ))
        })
}

/// The listing from what was read: pure, so the rules are tested without services.
pub fn build(
    integration: &str,
    customers: &[CustomerMapping],
    provisioned: &[ProvisionedRecord],
    companies: Vec<Company>,
    tenants: Vec<CustomerTenant>,
    unmapped_only: bool,
    company_type: Option<i64>,
) -> MappingsReport {
    let company_by_id: HashMap<i64, &Company> = companies.iter().map(|c| (c.id, c)).collect();
    let tenant_by_id: HashMap<&str, &CustomerTenant> =
        tenants.iter().map(|t| (t.id.as_str(), t)).collect();
    let recorded: BTreeMap<i64, &ProvisionedRecord> =
        provisioned.iter().map(|p| (p.company_id, p)).collect();

    let mut mapped = Vec::new();
    let mut mapped_companies = HashSet::new();
    for mapping in customers {
        let record = recorded.get(&mapping.company_id);
        let recorded_tenant = record.and_then(|r| r.tenant.clone());
        let (tenant_id, via, mut problem) = match &mapping.tenant {
            MappedTenant::Existing(id) => {
                let differs = recorded_tenant
                    .as_ref()
                    .filter(|t| *t != id)
                    .map(|t| format!("the product recorded tenant {t} for this company"));
                (Some(id.clone()), "mapping", differs)
            }
            MappedTenant::New => (recorded_tenant, "mapping new", None),
        };
        if tenant_id.is_none() {
            problem = Some(match record.and_then(|r| r.state.as_deref()) {
                Some("creating") => "tenant being created".into(),
                _ => "tenant not created yet".into(),
            });
        }
        mapped.push(pair(
            mapping.company_id,
            mapping.company_name.clone(),
            tenant_id,
            record.and_then(|r| r.tenant_name.clone()),
            via,
            record.and_then(|r| r.origin.clone()),
            problem,
            &company_by_id,
            &tenant_by_id,
        ));
        mapped_companies.insert(mapping.company_id);
    }
    // Like the planner: an auto-created tenant's record is its mapping; a tenant created for a
    // `"new"` mapping that was removed since is no longer managed.
    let mut released: HashMap<String, i64> = HashMap::new();
    for record in provisioned {
        if mapped_companies.contains(&record.company_id) {
            continue;
        }
        if record.origin.as_deref() != Some(ORIGIN_AUTO_CREATE) {
            if let Some(tenant) = &record.tenant {
                released.insert(tenant.clone(), record.company_id);
            }
            continue;
        }
        if mapped_companies.insert(record.company_id) {
            let problem = record
                .tenant
                .is_none()
                .then(|| "recorded without a tenant id".to_string());
            mapped.push(pair(
                record.company_id,
                None,
                record.tenant.clone(),
                record.tenant_name.clone(),
                "auto-created",
                record.origin.clone(),
                problem,
                &company_by_id,
                &tenant_by_id,
            ));
        }
    }
    mapped.sort_by_cached_key(|m| {
        (
            sort_key(m.company_name.as_deref().unwrap_or_default()),
            m.company_id,
        )
    });
    let mapped_tenants: HashSet<&str> = mapped
        .iter()
        .filter_map(|m| m.tenant_id.as_deref())
        .collect();

    let mut unmapped_companies: Vec<Company> = companies
        .iter()
        .filter(|c| !mapped_companies.contains(&c.id))
        .cloned()
        .collect();
    unmapped_companies.sort_by_cached_key(|c| (sort_key(&c.name), c.id));
    let mut unmapped_tenants: Vec<CustomerTenant> = tenants
        .iter()
        .filter(|t| !mapped_tenants.contains(t.id.as_str()))
        .map(|t| CustomerTenant {
            note: released
                .get(&t.id)
                .map(|company| format!("created for company {company}, whose mapping was removed")),
            ..t.clone()
        })
        .collect();
    unmapped_tenants.sort_by_cached_key(|t| (sort_key(&t.name), t.id.clone()));
    // Suggestions are found among all unmapped companies, then filtered: a type filter never
    // turns an ambiguous name into a suggestion.
    let mut suggestions: Vec<Suggestion> = suggest_pairs(
        &unmapped_companies,
        &unmapped_tenants,
        |c| c.name.as_str(),
        |t| t.name.as_str(),
    )
    .into_iter()
    .map(|(c, t)| Suggestion {
        company_id: unmapped_companies[c].id,
        company_name: unmapped_companies[c].name.clone(),
        tenant_id: unmapped_tenants[t].id.clone(),
        tenant_name: unmapped_tenants[t].name.clone(),
    })
    .collect();

    if let Some(wanted) = company_type {
        let keep = |id: i64| {
            company_by_id
                .get(&id)
                .is_some_and(|c| c.company_type_id == Some(wanted))
        };
        mapped.retain(|m| keep(m.company_id));
        unmapped_companies.retain(|c| c.company_type_id == Some(wanted));
        suggestions.retain(|s| keep(s.company_id));
    }
    if unmapped_only {
        mapped.clear();
    }
    MappingsReport {
        integration: integration.to_string(),
        partner_tenant_id: None,
        unmapped_only,
        company_type: company_type.map(|t| t.to_string()),
        totals: Totals {
            companies: companies.len(),
            customer_tenants: tenants.len(),
            mapped: mapped.len(),
            unmapped_companies: unmapped_companies.len(),
            unmapped_tenants: unmapped_tenants.len(),
            suggestions: suggestions.len(),
        },
        mapped,
        unmapped_companies,
        unmapped_tenants,
        suggestions,
    }
}

/// Names sort as a person reads them: case-insensitively.
fn sort_key(name: &str) -> String {
    name.to_lowercase()
}

#[allow(clippy::too_many_arguments)]
fn pair(
    company_id: i64,
    mapping_company_name: Option<String>,
    tenant_id: Option<String>,
    recorded_tenant_name: Option<String>,
    via: &str,
    origin: Option<String>,
    problem: Option<String>,
    companies: &HashMap<i64, &Company>,
    tenants: &HashMap<&str, &CustomerTenant>,
) -> MappedPair {
    let company = companies.get(&company_id);
    let tenant = tenant_id.as_deref().and_then(|id| tenants.get(id));
    let mut problems: Vec<String> = problem.into_iter().collect();
    if company.is_none() {
        problems.push("company not found in Autotask".into());
    }
    if tenant_id.is_some() && tenant.is_none() {
        problems.push("tenant not found among the partner's customer tenants".into());
    }
    MappedPair {
        company_id,
        company_name: company.map(|c| c.name.clone()).or(mapping_company_name),
        company_type: company.and_then(|c| c.company_type.clone()),
        tenant_name: tenant.map(|t| t.name.clone()).or(recorded_tenant_name),
        tenant_id,
        via: via.to_string(),
        origin,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

pub fn render(report: &MappingsReport) -> String {
    use crate::text::Table;
    let totals = &report.totals;
    let mut out = format!(
        "mappings of {}: {} companies in Autotask, {} customer tenants in Acronis\n",
        report.integration, totals.companies, totals.customer_tenants
    );
    let mut shown = Vec::new();
    if let Some(t) = &report.company_type {
        shown.push(format!("company type {t}"));
    }
    if report.unmapped_only {
        shown.push("unmapped only".into());
    }
    if !shown.is_empty() {
        out.push_str(&format!("filter: {}\n", shown.join(", ")));
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());

    if !report.unmapped_only {
        out.push('\n');
        if report.mapped.is_empty() {
            out.push_str("mapped: none\n");
        } else {
            let mut table = Table::new(&[
                ("company", 10),
                ("company name", 30),
                ("type", 12),
                ("tenant", 36),
                ("tenant name", 30),
                ("via", 12),
                ("problem", 60),
            ]);
            for m in &report.mapped {
                table.row([
                    m.company_id.to_string(),
                    or_dash(&m.company_name),
                    or_dash(&m.company_type),
                    m.tenant_id.clone().unwrap_or_else(|| "(new)".into()),
                    or_dash(&m.tenant_name),
                    m.via.clone(),
                    m.problem.clone().unwrap_or_default(),
                ]);
            }
            out.push_str(&format!("mapped ({})\n", table.len()));
            out.push_str(&table.render());
        }
    }

    out.push('\n');
    if report.unmapped_companies.is_empty() {
        out.push_str("unmapped companies: none\n");
    } else {
        let mut table = Table::new(&[("company", 10), ("name", 40), ("type", 14), ("active", 6)]);
        for c in &report.unmapped_companies {
            table.row([
                c.id.to_string(),
                c.name.clone(),
                or_dash(&c.company_type),
                if c.active { "yes" } else { "no" }.to_string(),
            ]);
        }
        out.push_str(&format!("unmapped companies ({})\n", table.len()));
        out.push_str(&table.render());
    }

    out.push('\n');
    if report.unmapped_tenants.is_empty() {
        out.push_str("unmapped customer tenants: none\n");
    } else {
        let mut table = Table::new(&[("tenant", 36), ("name", 40), ("under", 30), ("notes", 70)]);
        for t in &report.unmapped_tenants {
            let mut notes = Vec::new();
            if !t.enabled {
                notes.push("disabled");
            }
            if t.self_service {
                notes.push("self-service: never changed");
            }
            if let Some(note) = &t.note {
                notes.push(note);
            }
            table.row([
                t.id.clone(),
                t.name.clone(),
                t.under.clone().unwrap_or_else(|| "partner".into()),
                notes.join(", "),
            ]);
        }
        out.push_str(&format!("unmapped customer tenants ({})\n", table.len()));
        out.push_str(&table.render());
    }

    out.push('\n');
    if report.suggestions.is_empty() {
        out.push_str("suggestions: none\n");
    } else {
        let mut table = Table::new(&[
            ("company", 10),
            ("company name", 36),
            ("tenant", 36),
            ("tenant name", 36),
        ]);
        for s in &report.suggestions {
            table.row([
                s.company_id.to_string(),
                s.company_name.clone(),
                s.tenant_id.clone(),
                s.tenant_name.clone(),
            ]);
        }
        out.push_str(&format!(
            "suggestions ({}): the same name apart from case and punctuation\n",
            table.len()
        ));
        out.push_str(&table.render());
        out.push_str(&format!(
            "to map one, write {{\"pk\": \"{}\", \"sk\": \"CUSTOMER#<company>\", \"tenant\": \"<tenant>\"}}\n",
            integration_pk(&report.integration)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: i64, name: &str, type_id: i64) -> Company {
        Company {
            id,
            name: name.into(),
            company_type: Some(if type_id == 1 { "Customer" } else { "Lead" }.into()),
            company_type_id: Some(type_id),
            active: true,
        }
    }

    fn tenant(n: u32, name: &str) -> CustomerTenant {
        CustomerTenant {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            name: name.into(),
            under: None,
            enabled: true,
            self_service: false,
            note: None,
        }
    }

    fn mapping(company_id: i64, tenant: MappedTenant) -> CustomerMapping {
        CustomerMapping {
            sk: format!("CUSTOMER#{company_id}"),
            company_id,
            tenant,
            company_name: None,
        }
    }

    fn fixture() -> (
        Vec<CustomerMapping>,
        Vec<ProvisionedRecord>,
        Vec<Company>,
        Vec<CustomerTenant>,
    ) {
        let companies = vec![
            company(1, "Mapped Dental", 1),
            company(2, "Hilda Huffington, Inc.", 1),
            company(3, "New Customer LLC", 1),
            company(4, "Auto Created", 1),
            company(5, "Lead Corp", 2),
            company(6, "Twin", 1),
            company(7, "Former Customer", 1),
        ];
        let tenants = vec![
            tenant(1, "Mapped Dental"),
            tenant(2, "hilda huffington inc"),
            tenant(3, "New Customer LLC"),
            tenant(4, "Auto Created"),
            tenant(5, "lead corp."),
            tenant(6, "Twin"),
            tenant(7, "twin"),
            tenant(8, "Former Customer"),
        ];
        let customers = vec![
            mapping(1, MappedTenant::Existing(tenants[0].id.clone())),
            mapping(3, MappedTenant::New),
            mapping(9, MappedTenant::New),
        ];
        let provisioned = vec![
            ProvisionedRecord {
                company_id: 3,
                tenant: Some(tenants[2].id.clone()),
                tenant_name: Some("New Customer LLC".into()),
                origin: Some("mapping_new".into()),
                state: Some("created".into()),
            },
            ProvisionedRecord {
                company_id: 4,
                tenant: Some(tenants[3].id.clone()),
                tenant_name: None,
                origin: Some("auto_create".into()),
                state: Some("created".into()),
            },
            // Created for a `new` mapping that was removed: no longer managed.
            ProvisionedRecord {
                company_id: 7,
                tenant: Some(tenants[7].id.clone()),
                tenant_name: None,
                origin: Some("mapping_new".into()),
                state: Some("created".into()),
            },
        ];
        (customers, provisioned, companies, tenants)
    }

    #[test]
    fn mappings_recorded_tenants_unmapped_and_suggestions() {
        let (customers, provisioned, companies, tenants) = fixture();
        let report = build(
            "x",
            &customers,
            &provisioned,
            companies,
            tenants,
            false,
            None,
        );
        let mapped: Vec<(i64, Option<&str>, &str)> = report
            .mapped
            .iter()
            .map(|m| {
                (
                    m.company_id,
                    m.tenant_id.as_deref().map(|t| &t[24..]),
                    m.via.as_str(),
                )
            })
            .collect();
        assert_eq!(
            mapped,
            vec![
                (9, None, "mapping new"),
                (4, Some("000000000004"), "auto-created"),
                (1, Some("000000000001"), "mapping"),
                (3, Some("000000000003"), "mapping new"),
            ]
        );
        let unknown = &report.mapped[0];
        assert_eq!(
            unknown.problem.as_deref(),
            Some("tenant not created yet; company not found in Autotask")
        );
        assert!(report.mapped[1..].iter().all(|m| m.problem.is_none()));
        let unmapped: Vec<i64> = report.unmapped_companies.iter().map(|c| c.id).collect();
        assert_eq!(unmapped, vec![7, 2, 5, 6]);
        let unmapped_tenants: Vec<&str> = report
            .unmapped_tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            unmapped_tenants,
            vec![
                "Former Customer",
                "hilda huffington inc",
                "lead corp.",
                "Twin",
                "twin"
            ],
            "sorted case-insensitively"
        );
        assert_eq!(
            report.unmapped_tenants[0].note.as_deref(),
            Some("created for company 7, whose mapping was removed")
        );
        // "Twin" matches two tenants: no suggestion.
        let suggested: Vec<(i64, &str)> = report
            .suggestions
            .iter()
            .map(|s| (s.company_id, s.tenant_name.as_str()))
            .collect();
        assert_eq!(
            suggested,
            vec![
                (7, "Former Customer"),
                (2, "hilda huffington inc"),
                (5, "lead corp.")
            ]
        );
        assert_eq!(report.totals.companies, 7);
        assert_eq!(report.totals.customer_tenants, 8);
    }

    #[test]
    fn filters_keep_one_company_type_and_only_unmapped() {
        let (customers, provisioned, companies, tenants) = fixture();
        let report = build(
            "x",
            &customers,
            &provisioned,
            companies,
            tenants,
            true,
            Some(1),
        );
        assert!(report.mapped.is_empty());
        let unmapped: Vec<i64> = report.unmapped_companies.iter().map(|c| c.id).collect();
        assert_eq!(unmapped, vec![7, 2, 6]);
        let suggested: Vec<i64> = report.suggestions.iter().map(|s| s.company_id).collect();
        assert_eq!(suggested, vec![7, 2]);
        assert_eq!(
            report.unmapped_tenants.len(),
            5,
            "tenants are not filtered by type"
        );
    }

    #[test]
    fn a_recorded_tenant_that_differs_from_the_mapping_is_a_problem() {
        let tenants = vec![tenant(1, "A"), tenant(2, "B")];
        let customers = vec![mapping(1, MappedTenant::Existing(tenants[0].id.clone()))];
        let provisioned = vec![ProvisionedRecord {
            company_id: 1,
            tenant: Some(tenants[1].id.clone()),
            tenant_name: None,
            origin: None,
            state: None,
        }];
        let report = build(
            "x",
            &customers,
            &provisioned,
            vec![company(1, "A", 1)],
            tenants,
            false,
            None,
        );
        assert_eq!(report.mapped.len(), 1);
        assert!(
            report.mapped[0]
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("recorded tenant")),
            "{:?}",
            report.mapped[0]
        );
        // The recorded tenant is not the mapped one, so it is unmapped.
        assert_eq!(report.unmapped_tenants.len(), 1);
    }

    #[test]
    fn provisioned_items_are_read_leniently() {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let item: Item = [
            ("pk".to_string(), S("INTEGRATION#x".into())),
            ("sk".to_string(), S("PROVISIONED#42".into())),
            (
                "tenant".to_string(),
                S("ABCDEF00-0000-4000-8000-000000000001".into()),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            provisioned_record(&item),
            Some(ProvisionedRecord {
                company_id: 42,
                tenant: Some("abcdef00-0000-4000-8000-000000000001".into()),
                tenant_name: None,
                origin: None,
                state: None,
            })
        );
        let bad: Item = [("sk".to_string(), S("PROVISIONED#nope".into()))]
            .into_iter()
            .collect();
        assert_eq!(provisioned_record(&bad), None);
    }
}
