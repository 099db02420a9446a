//! Sub-partners (F22) end to end on the local stack, through the real path (scheduler → planner
//! → apply queue → applier, and the usage job): a sub-partner tenant mapped to a company as a
//! whole is provisioned at its own level and billed for the usage of its subtree; a customer of
//! a sub-partner two levels down is mapped alone, like a direct customer. The planner reads the
//! subtree in bulk. Judged on the remote sides: quotas in Acronis, units in Autotask.

#[path = "provisioning_support.rs"]
mod provisioning_support;

use acronis_sim::{TenantSeed, UsageUpdate};
use e2e::on_big_stack;
use provisioning_support::*;
use serde_json::json;
use sync_shared::Job;

const RESELLER_TENANT: &str = "7c2e4a10-0000-4000-8000-0000000000b1";
const RESELLER_SUB_TENANT: &str = "7c2e4a10-0000-4000-8000-0000000000b2";
const RESELLER_CUSTOMER: &str = "7c2e4a10-0000-4000-8000-0000000000b3";
const DEEP_CUSTOMER: &str = "7c2e4a10-0000-4000-8000-0000000000b4";
const DEEP_OTHER: &str = "7c2e4a10-0000-4000-8000-0000000000b5";

const RESELLER_CO: i64 = 29700011;
const DEEP_CO: i64 = 29700012;
const RESELLER_PREPAID: i64 = 29720011;
const RESELLER_PAYG: i64 = 29720012;
const DEEP_PREPAID: i64 = 29720013;

/// The offering items a sub-partner seed enables (`OfferingItemSeed`s, as the seed format has
/// them), the storage included.
fn items(names: &[&str]) -> Vec<serde_json::Value> {
    let mut items: Vec<serde_json::Value> = names.iter().map(|n| json!({"name": n})).collect();
    items.push(json!({"name": "pw_base_storage", "infra_id": ACRONIS_STORAGE}));
    items
}

/// The standard world plus a reseller: sub-partner → sub-sub-partner → customers, two companies
/// mapped (the reseller as a whole, one deep customer alone) and their contracts.
async fn world(test: &str) -> World {
    let w = World::new(test, json!({})).await;
    let offered = [
        "pw_base_workstations",
        "pw_base_servers",
        "pw_base_vms",
        "pw_base_mobiles",
    ];
    for (id, name, kind, parent, enabled) in [
        (RESELLER_TENANT, "Reseller A", "partner", PARTNER, true),
        (
            RESELLER_SUB_TENANT,
            "Reseller A East",
            "partner",
            RESELLER_TENANT,
            true,
        ),
        (
            RESELLER_CUSTOMER,
            "Reseller Customer",
            "customer",
            RESELLER_TENANT,
            false,
        ),
        (
            DEEP_CUSTOMER,
            "Deep Customer",
            "customer",
            RESELLER_SUB_TENANT,
            false,
        ),
        (
            DEEP_OTHER,
            "Deep Other",
            "customer",
            RESELLER_SUB_TENANT,
            false,
        ),
    ] {
        let seed: TenantSeed = serde_json::from_value(json!({"id": id, "name": name,
            "kind": kind, "parent_id": parent,
            "offering_items": if enabled { items(&offered) } else { Vec::new() }}))
        .expect("a tenant seed");
        w.acronis.add_tenant(seed).expect("tenant");
    }
    let contract = |id: i64, company: i64, name: &str, payg: bool| {
        json!({"id": id, "companyID": company, "contractName": name, "contractType": 7, "status": 1,
            "startDate": "2026-01-01T00:00:00", "endDate": "2026-12-31T00:00:00",
            "userDefinedFields": [{"name": "Acronis PAYG", "value": if payg {"Yes"} else {"No"}}]})
    };
    w.autotask.with_db(|db| {
        for (entity, row) in [
            ("Companies", json!({"id": RESELLER_CO, "companyName": "Reseller A", "companyType": 1, "isActive": true})),
            ("Companies", json!({"id": DEEP_CO, "companyName": "Deep Customer", "companyType": 1, "isActive": true})),
            ("Contracts", contract(RESELLER_PREPAID, RESELLER_CO, "Reseller prepaid", false)),
            ("Contracts", contract(RESELLER_PAYG, RESELLER_CO, "Reseller usage", true)),
            ("Contracts", contract(DEEP_PREPAID, DEEP_CO, "Deep prepaid", false)),
        ] {
            db.insert(entity, row).unwrap_or_else(|e| panic!("{entity}: {e:?}"));
        }
        for (contract, service, units) in [
            (RESELLER_PREPAID, SVC_SERVERS, 6),
            (RESELLER_PAYG, SVC_WORKSTATIONS, 0),
            (DEEP_PREPAID, SVC_WORKSTATIONS, 4),
        ] {
            db.seed_contract_service(contract, service, units)
                .unwrap_or_else(|e| panic!("line: {e:?}"));
        }
    });
    for (company, tenant) in [(RESELLER_CO, RESELLER_TENANT), (DEEP_CO, DEEP_CUSTOMER)] {
        w.d.put_json_item(
            json!({"pk": "INTEGRATION#msp", "sk": format!("CUSTOMER#{company}"),
            "tenant": tenant}),
        )
        .await
        .expect("mapping");
    }
    w
}

fn set_usage(w: &World, tenant: &str, name: &str, value: u64) {
    let update: UsageUpdate =
        serde_json::from_value(json!({"tenant_id": tenant, "name": name, "value": value}))
            .expect("usage");
    w.acronis.set_usage(update).expect("set usage");
}

/// Units of a contract's line of `service` today (2026-11-25).
fn units(w: &World, contract: i64, service: i64) -> i64 {
    w.autotask.with_db(|db| {
        db.rows("ContractServiceUnits")
            .iter()
            .filter(|r| r["serviceID"] == json!(service) && r["contractID"] == json!(contract))
            .filter(|r| {
                let d = |k: &str| {
                    r[k].as_str()
                        .unwrap_or_default()
                        .get(..10)
                        .map(str::to_string)
                };
                d("startDate").is_some_and(|s| s.as_str() <= "2026-11-25")
                    && d("endDate").is_some_and(|e| "2026-11-25" <= e.as_str())
            })
            .map(|r| r["units"].as_f64().unwrap_or(0.0) as i64)
            .sum()
    })
}

fn assert_provisioned(w: &World) {
    // The sub-partner, at its own level: PAYG → unlimited, prepaid → its units.
    assert_eq!(
        w.item(RESELLER_TENANT, "pw_base_workstations", None),
        (true, None, None),
        "reseller: PAYG workstations"
    );
    assert_eq!(
        w.item(RESELLER_TENANT, "pw_base_servers", None),
        (true, Some(6), Some(0)),
        "reseller: prepaid servers"
    );
    // The customer two levels down, mapped alone, like a direct customer.
    assert_eq!(
        w.item(DEEP_CUSTOMER, "pw_base_workstations", None),
        (true, Some(4), Some(0))
    );
    assert!(
        !w.item(DEEP_CUSTOMER, "pw_base_servers", None).0,
        "not contracted: stays disabled"
    );
    assert!(
        w.item(DEEP_CUSTOMER, "pw_base_storage", Some(ACRONIS_STORAGE))
            .0,
        "default storage"
    );
    // Customers of the reseller that are not mapped are not touched.
    for tenant in [RESELLER_CUSTOMER, DEEP_OTHER] {
        assert!(!w.item(tenant, "pw_base_workstations", None).0, "{tenant}");
    }
}

#[test]
fn a_sub_partner_mapped_as_a_whole_and_a_customer_of_a_sub_partner_mapped_alone() {
    on_big_stack(whole_and_alone_body);
}

async fn whole_and_alone_body() {
    let w = world("subp").await;
    w.cycle(slot(25, 10)).await;
    let status = w.status().await;
    for company in [RESELLER_CO, DEEP_CO] {
        assert!(
            !status
                .customers
                .contains_key(&format!("provisioning:{company}")),
            "{company}: {:?}",
            status.customers.get(&format!("provisioning:{company}"))
        );
    }
    assert_provisioned(&w);
    assert!(
        w.acronis.conformance_violations().is_empty(),
        "{:?}",
        w.acronis.conformance_violations()
    );

    // A steady cycle: the planner reads the whole subtree in bulk (tenants and offering items
    // by pages), never tenant by tenant, and writes nothing.
    w.reset_logs();
    let applied = w.cycle_job(Job::Provisioning, slot(25, 11)).await.1;
    assert_eq!(applied, 0);
    assert_eq!(w.remote_writes(), (0, 0));
    let log = w.acronis.request_log();
    let per_tenant = log
        .iter()
        .filter(|r| {
            r.method == "GET"
                && matches!(
                    r.route.as_deref(),
                    Some(
                        "/api/2/tenants/{tenant_id}" | "/api/2/tenants/{tenant_id}/offering_items"
                    )
                )
        })
        .count();
    assert_eq!(per_tenant, 0, "no per-tenant read");
    let subtree_reads = log
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path == "/api/2/tenants"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("subtree_root_id"))
        })
        .count();
    assert_eq!(subtree_reads, 1, "one page of tenants: {log:?}");

    // Usage: the sub-partner's PAYG line is the aggregate of its subtree's customers, at any
    // depth, except the deep customer mapped (and billed) on its own.
    set_usage(&w, RESELLER_CUSTOMER, "pw_base_workstations", 3);
    set_usage(&w, DEEP_OTHER, "pw_base_workstations", 2);
    set_usage(&w, DEEP_CUSTOMER, "pw_base_workstations", 7);
    let usage_at = slot(25, 7);
    w.cycle_job(Job::Usage, usage_at).await;
    assert_eq!(units(&w, RESELLER_PAYG, SVC_WORKSTATIONS), 5);
    let adjustments = w.autotask.with_db(|db| db.adjustments().len());
    // The same run delivered again and a later run: no second adjustment.
    w.cycle_job(Job::Usage, usage_at).await;
    w.cycle_job(Job::Usage, slot(26, 7)).await;
    assert_eq!(units(&w, RESELLER_PAYG, SVC_WORKSTATIONS), 5);
    assert_eq!(w.autotask.with_db(|db| db.adjustments().len()), adjustments);
    // The subtree's customers are billed through the reseller: none is an unmapped tenant in
    // the reconciliation report.
    let status = w.status().await;
    assert!(
        status.jobs["usage"]
            .counts
            .get("recon_unmapped_tenant")
            .is_none_or(|n| *n == 0),
        "{:?}",
        status.jobs["usage"].counts
    );
}

#[test]
fn sub_partners_with_duplicate_deliveries_and_faults_converge_within_three_cycles() {
    on_big_stack(faults_body);
}

async fn faults_body() {
    let w = world("subpfault").await;
    w.cycle_job(Job::Setup, slot(25, 9)).await;
    w.acronis.set_knobs(acronis_sim::Knobs {
        rate_limit_probability: 0.1,
        server_error_probability: 0.1,
        timeout_probability: 0.1,
        timeout_ms: 50,
        random_seed: 41,
        ..acronis_sim::Knobs::default()
    });
    w.autotask.set_knobs(autotask_sim::Knobs {
        random_429_probability: 0.1,
        random_5xx_probability: 0.1,
        timeout_probability: 0.1,
        timeout_hold: std::time::Duration::from_millis(50),
        rng_seed: 42,
        ..autotask_sim::Knobs::default()
    });
    for hour in [10, 11, 12] {
        w.cycle_delivering_twice(slot(25, hour)).await;
    }
    assert!(
        w.acronis.request_log().iter().any(|r| r.fault.is_some()),
        "faults were injected"
    );
    w.acronis.set_knobs(acronis_sim::Knobs::default());
    w.autotask.set_knobs(autotask_sim::Knobs::default());
    assert_provisioned(&w);
    w.reset_logs();
    w.cycle_job(Job::Provisioning, slot(25, 13)).await;
    assert_eq!(w.remote_writes(), (0, 0), "converged within 3 cycles");
}
