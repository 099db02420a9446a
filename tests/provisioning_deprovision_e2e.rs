//! Deprovisioning (F9, F20, H) end to end on the local stack, through the real path (scheduler →
//! planner → apply queue → applier) across simulated days (`--at` slots): quotas to 0, disable
//! after N days, delete after M days (disabled first), day counters kept in the table across a
//! cold start and reset when a contract comes back. Judged on the Acronis side: the tenant's
//! `enabled` flag, its deletion, its quotas.

#[path = "provisioning_support.rs"]
mod provisioning_support;

use chrono::{DateTime, Utc};
use e2e::on_big_stack;
use local_runner::LocalDeployment;
use provisioning_support::*;
use serde_json::{Value, json};
use sync_shared::Job;
use sync_shared::status::IssueKind;

const CONTOSO_CONTRACT: i64 = 29720001;
const UNMAPPED_TENANT_NAME: &str = "Unmapped Ltd";

/// `day` 1 = 2026-11-01; later days run on into December.
fn day(day: u32, hour: u32) -> DateTime<Utc> {
    slot(1, hour) + chrono::Duration::days(i64::from(day) - 1)
}

fn deprovisioning(zero: bool, disable: u32, delete: u32) -> Value {
    json!({"deprovisioning": {"zero_quotas_without_active_additions": zero,
        "disable_after_days": disable, "delete_after_days": delete}})
}

/// A person sets the contract Active or Inactive in Autotask (REST PATCH).
async fn set_contract_active(w: &World, contract: i64, active: bool) {
    let response = reqwest::Client::new()
        .patch(format!("{}V1.0/Contracts", w.autotask.base_url()))
        .header("ApiIntegrationCode", "ACRONISSIMINTEGRATIONCODE01")
        .header("UserName", "acronis-api@example.com")
        .header("Secret", "api-secret-1")
        .json(&json!({"id": contract, "status": if active { 1 } else { 0 }}))
        .send()
        .await
        .expect("patch");
    assert!(
        response.status().is_success(),
        "contract status: {}",
        response.text().await.unwrap_or_default()
    );
}

/// A cold start: a new deployment object (new handler contexts, caches) on the same table and
/// queues.
async fn cold_start(w: &mut World) {
    let table = w.d.store.table().to_string();
    let clients = sync_shared::aws::AwsClients::from_env().await;
    w.d = LocalDeployment::open_or_create(clients, &table, e2e::SECRETS_PREFIX)
        .await
        .expect("the same deployment");
    assert!(w.d.created.is_empty(), "nothing new was created");
}

/// (enabled, deleted) of a tenant in the simulator.
fn tenant_state(w: &World, tenant: &str) -> (bool, bool) {
    w.acronis.with_state(|s| {
        let t = &s.tenants[tenant];
        (t.enabled, t.deleted_at.is_some())
    })
}

/// Successful requests of `method` on the tenant itself (`PUT`: enable/disable; `DELETE`).
fn tenant_writes(w: &World, method: &str, tenant: &str) -> usize {
    w.acronis
        .request_log()
        .iter()
        .filter(|r| {
            r.method == method
                && r.path == format!("/api/2/tenants/{tenant}")
                && (200..300).contains(&r.status)
        })
        .count()
}

fn add_unmapped_tenant(w: &World) -> String {
    let id = w
        .acronis
        .add_tenant(acronis_sim::TenantSeed::new(
            UNMAPPED_TENANT_NAME,
            "customer",
            Some(PARTNER),
        ))
        .expect("tenant");
    assert!(tenant_state(w, &id).0);
    id
}

/// The counter item of a company, as the table holds it.
async fn counter(w: &World, company: i64) -> Option<Value> {
    let item =
        w.d.store
            .get_item("INTEGRATION#msp", &format!("DEPROVISION#{company}"))
            .await
            .expect("get")?;
    Some(serde_dynamo::from_item(item).expect("json"))
}

async fn contoso_issue(w: &World) -> Option<(IssueKind, String)> {
    w.status()
        .await
        .customers
        .get(&format!("provisioning:{CONTOSO}"))
        .map(|i| (i.kind, i.message.clone()))
}

#[test]
fn each_deprovisioning_step_across_days_with_a_cold_start_and_a_contract_coming_back() {
    on_big_stack(each_step_body);
}

async fn each_step_body() {
    let mut w = World::new("deprov", deprovisioning(true, 3, 5)).await;
    let unmapped = add_unmapped_tenant(&w);
    w.cycle(day(1, 10)).await;
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(5), Some(0))
    );
    assert!(counter(&w, CONTOSO).await.is_none(), "services: no counter");

    // Day 2: the contract ends. Every quota goes to 0 (Free items and storage included).
    set_contract_active(&w, CONTOSO_CONTRACT, false).await;
    w.cycle_job(Job::Provisioning, day(2, 10)).await;
    for (name, infra) in [
        ("pw_base_workstations", None),
        ("pw_base_mobiles", None),
        ("pw_base_vms", None),
        ("pw_base_storage", Some(ACRONIS_STORAGE)),
    ] {
        assert_eq!(
            w.item(CONTOSO_TENANT, name, infra),
            (true, Some(0), Some(0)),
            "{name}: quota 0"
        );
    }
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (true, false));
    let since = counter(&w, CONTOSO).await.expect("a counter");
    assert_eq!(
        since["without_services_since"],
        json!("2026-11-02T10:00:00Z")
    );
    let (kind, message) = contoso_issue(&w).await.expect("a status line");
    assert_eq!(kind, IssueKind::Warning);
    assert!(
        message.contains("no active services since 2026-11-02 (0 days)")
            && message.contains("disabled after 3 days and deleted after 5 days"),
        "{message}"
    );

    // A cold start between runs: the counter is in the table, not in memory.
    cold_start(&mut w).await;
    w.reset_logs();
    w.cycle_job(Job::Provisioning, day(4, 10)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (true, false), "2 days");
    assert_eq!(w.remote_writes(), (0, 0), "nothing to change on day 4");
    assert_eq!(
        counter(&w, CONTOSO).await.expect("counter")["without_services_since"],
        json!("2026-11-02T10:00:00Z"),
        "counted from the first run that saw no services"
    );

    // Day 5, 3 days: disabled, once.
    w.cycle_job(Job::Provisioning, day(5, 10)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false));
    assert_eq!(tenant_writes(&w, "PUT", CONTOSO_TENANT), 1);
    let (_, message) = contoso_issue(&w).await.expect("status");
    assert!(message.contains("(3 days)"), "{message}");

    // Day 6: the contract is active again: the tenant is enabled again, quotas restored, the
    // counter reset.
    set_contract_active(&w, CONTOSO_CONTRACT, true).await;
    cold_start(&mut w).await;
    w.cycle_job(Job::Provisioning, day(6, 10)).await;
    assert_eq!(
        tenant_state(&w, CONTOSO_TENANT),
        (true, false),
        "re-enabled"
    );
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(5), Some(0))
    );
    let reset = counter(&w, CONTOSO).await.expect("counter");
    assert!(reset.get("without_services_since").is_none(), "{reset}");
    let (_, message) = contoso_issue(&w).await.expect("status");
    assert!(message.contains("enabled again"), "{message}");
    w.cycle_job(Job::Provisioning, day(6, 11)).await;
    assert!(contoso_issue(&w).await.is_none(), "no deprovisioning line");

    // Day 7: the contract ends again; the counter starts over from day 7.
    set_contract_active(&w, CONTOSO_CONTRACT, false).await;
    w.cycle_job(Job::Provisioning, day(7, 10)).await;
    assert_eq!(
        counter(&w, CONTOSO).await.expect("counter")["without_services_since"],
        json!("2026-11-07T10:00:00Z")
    );
    w.cycle_job(Job::Provisioning, day(9, 10)).await;
    assert!(tenant_state(&w, CONTOSO_TENANT).0, "2 days since the reset");
    w.cycle_job(Job::Provisioning, day(10, 10)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false), "disabled");

    // Day 12, 5 days: due for deletion. A dry run plans and stores it, and deletes nothing.
    w.put_settings(
        json!({"dry_run": true, "deprovisioning": {"zero_quotas_without_active_additions": true,
        "disable_after_days": 3, "delete_after_days": 5}}),
    )
    .await;
    w.reset_logs();
    w.cycle_job(Job::Provisioning, day(12, 10)).await;
    assert_eq!(w.remote_writes(), (0, 0), "a dry run writes nothing");
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false));
    let plan =
        w.d.store
            .latest_plan("msp", Job::Provisioning)
            .await
            .expect("plan")
            .expect("a plan");
    assert!(plan.header.dry_run);
    let target = plan
        .targets
        .iter()
        .find(|t| t.key == CONTOSO.to_string())
        .expect("Contoso in the plan");
    assert!(
        target.writes.iter().any(|w| w.action == "delete tenant"
            && w.object.contains(CONTOSO_TENANT)
            && w.after.contains("5 days")),
        "{:?}",
        target.writes
    );

    // The real run deletes it (it is disabled already), audited, once.
    w.put_settings(deprovisioning(true, 3, 5)).await;
    w.cycle_job(Job::Provisioning, day(12, 11)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, true), "deleted");
    assert_eq!(tenant_writes(&w, "DELETE", CONTOSO_TENANT), 1);
    let plan =
        w.d.store
            .latest_plan("msp", Job::Provisioning)
            .await
            .expect("plan")
            .expect("a plan");
    assert!(!plan.header.dry_run);
    assert!(
        plan.targets
            .iter()
            .any(|t| t.writes.iter().any(|w| w.action == "delete tenant"))
    );
    let audit = w.d.store.audit("msp", None).await.expect("audit");
    let deletes: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "delete tenant")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].target, CONTOSO.to_string());
    assert!(deletes[0].succeeded());
    assert_eq!(deletes[0].run_id, "provisioning#2026-11-12T11:00:00Z");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "disable tenant" && e.succeeded())
            .count(),
        2,
        "disabled on day 5 and day 10"
    );

    // Afterwards: the status says what happened, nothing is written again.
    w.reset_logs();
    w.cycle_job(Job::Provisioning, day(13, 10)).await;
    assert_eq!(w.remote_writes(), (0, 0));
    let (kind, message) = contoso_issue(&w).await.expect("status");
    assert_eq!(kind, IssueKind::Excluded);
    assert!(message.contains("deleted by deprovisioning"), "{message}");

    // Only mapped tenants were ever touched.
    assert_eq!(
        tenant_state(&w, &unmapped),
        (true, false),
        "unmapped tenant"
    );
    assert_eq!(tenant_state(&w, SELF_SERVICE_TENANT), (true, false), "F21");
    assert_eq!(tenant_state(&w, MIXED_TENANT), (true, false));
    for name in ["Payg Corp", "Auto Created Co"] {
        assert_eq!(w.tenants_named(name).len(), 1, "{name} has services");
    }
    assert!(
        w.acronis.conformance_violations().is_empty(),
        "{:?}",
        w.acronis.conformance_violations()
    );
}

#[test]
fn a_mapping_removed_before_the_delete_deletes_nothing() {
    on_big_stack(mapping_removed_body);
}

async fn mapping_removed_body() {
    let w = World::new("deprovunmap", deprovisioning(false, 1, 2)).await;
    w.cycle(day(1, 10)).await;
    set_contract_active(&w, CONTOSO_CONTRACT, false).await;
    w.cycle_job(Job::Provisioning, day(2, 10)).await;
    w.cycle_job(Job::Provisioning, day(3, 10)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false), "disabled");
    // Day 4 is due for deletion, but the user removes the mapping before the applier runs:
    // the planner's message is applied against the mapping as it is then.
    w.d.tick(Job::Provisioning, day(4, 10)).await.expect("tick");
    w.d.drain(Job::Provisioning, 10).await.expect("planner");
    w.d.store
        .client()
        .delete_item()
        .table_name(w.d.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("INTEGRATION#msp".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CUSTOMER#{CONTOSO}")),
        )
        .send()
        .await
        .expect("delete the mapping");
    w.d.drain_apply(Job::Provisioning, 10, 100)
        .await
        .expect("applier");
    assert_eq!(
        tenant_state(&w, CONTOSO_TENANT),
        (false, false),
        "not deleted"
    );
    let status = w.status().await;
    let issue = &status.customers[&format!("provisioning:{CONTOSO}")];
    assert!(
        issue.message.contains("no longer maps this tenant"),
        "{}",
        issue.message
    );
    // Unmapped now: later runs leave the tenant alone.
    w.cycle_job(Job::Provisioning, day(5, 10)).await;
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false));
}

#[test]
fn deprovisioning_with_duplicate_deliveries_and_faults_writes_once_and_converges() {
    on_big_stack(faults_body);
}

async fn faults_body() {
    let w = World::new("deprovfault", deprovisioning(true, 1, 2)).await;
    w.cycle(day(1, 10)).await;
    set_contract_active(&w, CONTOSO_CONTRACT, false).await;
    w.cycle_job(Job::Provisioning, day(2, 10)).await;
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(0), Some(0))
    );
    w.reset_logs();
    let faults = |w: &World, seed: u64| {
        w.acronis.set_knobs(acronis_sim::Knobs {
            rate_limit_probability: 0.1,
            server_error_probability: 0.1,
            timeout_probability: 0.1,
            timeout_ms: 50,
            random_seed: seed,
            ..acronis_sim::Knobs::default()
        });
        w.autotask.set_knobs(autotask_sim::Knobs {
            random_429_probability: 0.1,
            random_5xx_probability: 0.1,
            timeout_probability: 0.1,
            timeout_hold: std::time::Duration::from_millis(50),
            rng_seed: seed + 1,
            ..autotask_sim::Knobs::default()
        });
    };
    let calm = |w: &World| {
        w.acronis.set_knobs(acronis_sim::Knobs::default());
        w.autotask.set_knobs(autotask_sim::Knobs::default());
    };
    // Day 3: disable, with every message delivered twice and faults on both sides.
    faults(&w, 21);
    for hour in [10, 11, 12] {
        w.cycle_delivering_twice(day(3, hour)).await;
        eprintln!(
            "day 3, {hour}:00: tenant enabled {}",
            tenant_state(&w, CONTOSO_TENANT).0
        );
    }
    calm(&w);
    assert!(
        w.acronis.request_log().iter().any(|r| r.fault.is_some()),
        "faults were injected"
    );
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, false));
    assert_eq!(
        tenant_writes(&w, "PUT", CONTOSO_TENANT),
        1,
        "disabled exactly once"
    );
    w.reset_logs();
    w.cycle_job(Job::Provisioning, day(3, 13)).await;
    assert_eq!(w.remote_writes(), (0, 0), "converged within 3 cycles");

    // Day 4: delete, the same way.
    faults(&w, 31);
    for hour in [10, 11, 12] {
        w.cycle_delivering_twice(day(4, hour)).await;
        eprintln!(
            "day 4, {hour}:00: tenant deleted {}",
            tenant_state(&w, CONTOSO_TENANT).1
        );
    }
    calm(&w);
    assert_eq!(tenant_state(&w, CONTOSO_TENANT), (false, true));
    assert_eq!(
        tenant_writes(&w, "DELETE", CONTOSO_TENANT),
        1,
        "deleted exactly once"
    );
    assert_eq!(
        tenant_writes(&w, "PUT", CONTOSO_TENANT),
        0,
        "no enable, no second disable"
    );
    w.reset_logs();
    w.cycle_job(Job::Provisioning, day(4, 13)).await;
    assert_eq!(w.remote_writes(), (0, 0), "converged within 3 cycles");
    let audit = w.d.store.audit("msp", None).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "delete tenant" && e.succeeded())
            .count(),
        1
    );
    // The customers with services kept theirs through the faults.
    assert_eq!(w.tenants_named("Payg Corp").len(), 1);
    assert_eq!(w.tenants_named("Auto Created Co").len(), 1);
}
