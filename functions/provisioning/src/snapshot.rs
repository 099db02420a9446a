//! Bulk reads for the planner: O(pages) calls on both sides, never a call per customer.
//!
//! Autotask: the picklist of Contracts (labels → ids), services and bundles (names → ids),
//! active Recurring Service contracts, the units of mapped services and bundles in the period
//! that contains the run's day, the companies involved, and — only for companies that get a new
//! tenant — their primary contacts. Acronis: the partner, its whole subtree of tenants, their
//! offering items, and the partner's storages.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use sync_shared::acronis::{AcronisClient, OfferingItem};
use sync_shared::autotask::{
    AutotaskClient, Company, Contact, Contract, ContractServiceBundleUnit, ContractServiceUnit,
    Filter, PAYG_UDF_NAME, Paging, Query, Service, ServiceBundle, udf_value,
};

use crate::ProvisioningError;
use crate::plan::{
    AcronisSnapshot, AutotaskSnapshot, CompanyInfo, ContactInfo, ContractInfo, UnitsRow,
    period_contains,
};

/// Ids per `in` filter: keeps query bodies small.
const IDS_PER_QUERY: usize = 500;
/// Page size for Acronis bulk reads.
const ACRONIS_PAGE: usize = 1000;

fn as_date_filter(day: NaiveDate) -> String {
    format!("{}T00:00:00", day.format("%Y-%m-%d"))
}

/// Services and bundles by name, contracts, units. Companies are read by [`read_companies`].
pub async fn read_autotask(
    client: &AutotaskClient,
    day: NaiveDate,
    read_bundles: bool,
) -> Result<AutotaskSnapshot, ProvisioningError> {
    let recurring = client
        .picklist_value("Contracts", "contractType", "Recurring Service")
        .await?;
    let active = client
        .picklist_value("Contracts", "status", "Active")
        .await?;
    let services: Vec<Service> = client
        .query_all(&Query::all().fields(&["name"]), Paging::NextPageUrl)
        .await?;
    let bundles: Vec<ServiceBundle> = if read_bundles {
        client
            .query_all(&Query::all().fields(&["name"]), Paging::NextPageUrl)
            .await?
    } else {
        Vec::new()
    };
    let contracts: Vec<Contract> = client
        .query_all(
            &Query::new(Filter::eq("contractType", recurring))
                .filter(Filter::eq("status", active))
                .filter(Filter::lte("startDate", as_date_filter(day)))
                .filter(Filter::gte("endDate", as_date_filter(day))),
            Paging::NextPageUrl,
        )
        .await?;
    let contracts = contracts
        .into_iter()
        .filter(|c| {
            period_contains(
                c.start_date.as_deref().unwrap_or_default(),
                c.end_date.as_deref().unwrap_or_default(),
                day,
            )
        })
        .filter_map(|c| {
            Some(ContractInfo {
                id: c.id?,
                company_id: c.company_id?,
                name: c.contract_name.clone().unwrap_or_default(),
                payg: c
                    .user_defined_fields
                    .as_deref()
                    .and_then(|udfs| udf_value(udfs, PAYG_UDF_NAME))
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes")),
            })
        })
        .collect();
    Ok(AutotaskSnapshot {
        services_by_name: services
            .into_iter()
            .filter_map(|s| Some((s.name?.trim().to_lowercase(), s.id?)))
            .collect(),
        bundles_by_name: bundles
            .into_iter()
            .filter_map(|b| Some((b.name?.trim().to_lowercase(), b.id?)))
            .collect(),
        contracts,
        ..AutotaskSnapshot::default()
    })
}

/// The units of the mapped services and bundles in the period that contains `day`.
pub async fn read_units(
    client: &AutotaskClient,
    snapshot: &mut AutotaskSnapshot,
    day: NaiveDate,
    services: &[i64],
    bundles: &[i64],
) -> Result<(), ProvisioningError> {
    let period = |field: &str, ids: &[i64]| {
        Query::new(Filter::is_in(field, ids.iter().copied()))
            .filter(Filter::lte("startDate", as_date_filter(day)))
            .filter(Filter::gte("endDate", as_date_filter(day)))
    };
    for chunk in services.chunks(IDS_PER_QUERY) {
        let rows: Vec<ContractServiceUnit> = client
            .query_all(
                &period("serviceID", chunk).fields(&[
                    "contractID",
                    "contractServiceID",
                    "serviceID",
                    "units",
                ]),
                Paging::NextPageUrl,
            )
            .await?;
        snapshot
            .service_units
            .extend(rows.into_iter().filter_map(|r| {
                Some(UnitsRow {
                    contract_id: r.contract_id?,
                    line_id: r.contract_service_id.unwrap_or_default(),
                    product_id: r.service_id?,
                    units: r.units.unwrap_or(0.0),
                })
            }));
    }
    for chunk in bundles.chunks(IDS_PER_QUERY) {
        let rows: Vec<ContractServiceBundleUnit> = client
            .query_all(
                &period("serviceBundleID", chunk).fields(&[
                    "contractID",
                    "contractServiceBundleID",
                    "serviceBundleID",
                    "units",
                ]),
                Paging::NextPageUrl,
            )
            .await?;
        snapshot
            .bundle_units
            .extend(rows.into_iter().filter_map(|r| {
                Some(UnitsRow {
                    contract_id: r.contract_id?,
                    line_id: r.contract_service_bundle_id.unwrap_or_default(),
                    product_id: r.service_bundle_id?,
                    units: r.units.unwrap_or(0.0),
                })
            }));
    }
    Ok(())
}

/// Companies by id.
pub async fn read_companies(
    client: &AutotaskClient,
    snapshot: &mut AutotaskSnapshot,
    ids: &BTreeSet<i64>,
) -> Result<(), ProvisioningError> {
    let ids: Vec<i64> = ids.iter().copied().collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let companies: Vec<Company> = client
            .query_all(
                &Query::new(Filter::is_in("id", chunk.iter().copied())).fields(&["companyName"]),
                Paging::NextPageUrl,
            )
            .await?;
        for company in companies {
            if let Some(id) = company.id {
                snapshot.companies.insert(
                    id,
                    CompanyInfo {
                        id,
                        name: company.company_name.unwrap_or_default(),
                    },
                );
            }
        }
    }
    Ok(())
}

/// Active primary contacts of these companies.
pub async fn read_primary_contacts(
    client: &AutotaskClient,
    snapshot: &mut AutotaskSnapshot,
    company_ids: &[i64],
) -> Result<(), ProvisioningError> {
    for chunk in company_ids.chunks(IDS_PER_QUERY) {
        let contacts: Vec<Contact> = client
            .query_all(
                &Query::new(Filter::is_in("companyID", chunk.iter().copied()))
                    .filter(Filter::eq("primaryContact", true))
                    .filter(Filter::eq("isActive", 1))
                    .fields(&["companyID", "firstName", "lastName", "emailAddress"]),
                Paging::NextPageUrl,
            )
            .await?;
        for contact in contacts {
            if let Some(company) = contact.company_id {
                snapshot.primary_contacts.insert(
                    company,
                    ContactInfo {
                        first_name: contact.first_name.unwrap_or_default(),
                        last_name: contact.last_name.unwrap_or_default(),
                        email: contact.email_address.filter(|e| !e.trim().is_empty()),
                    },
                );
            }
        }
    }
    Ok(())
}

/// The partner's subtree: tenants, offering items, storages.
pub async fn read_acronis(client: &AcronisClient) -> Result<AcronisSnapshot, ProvisioningError> {
    let partner_id = client.partner_tenant_id().await?;
    let (tenants, items, infra_ids) = futures::try_join!(
        client.subtree_tenants(&partner_id, ACRONIS_PAGE),
        client.subtree_offering_items(&partner_id, ACRONIS_PAGE),
        client.tenant_infra_ids(&partner_id),
    )?;
    let mut by_tenant: HashMap<String, Vec<OfferingItem>> = HashMap::new();
    for item in items {
        if let Some(tenant) = item.tenant_id.clone() {
            by_tenant.entry(tenant).or_default().push(item);
        }
    }
    // Which storages are public clouds (never provisioned; F13, F19): one call per 100.
    let infra_backends = client.infra_backend_types(&infra_ids).await?;
    Ok(AcronisSnapshot {
        tenants: tenants.into_iter().map(|t| (t.id.clone(), t)).collect(),
        items: by_tenant,
        infra_ids,
        infra_backends,
        partner_id,
    })
}
