//! The provisioning job end to end on the local stack, through the real path (scheduler →
//! planner → apply queue → applier) against both simulators; correctness is judged on the
//! remote sides (Acronis quotas, tenants, users).

#[path = "provisioning_support.rs"]
mod provisioning_support;

use provisioning_support::*;
use serde_json::json;
use sync_shared::Job;
use sync_shared::status::IssueKind;

#[tokio::test]
async fn a_first_cycle_provisions_every_kind_of_customer_and_a_second_changes_nothing() {
    let w = World::new("prov", json!({})).await;
    w.cycle(slot(25, 10)).await;
    let status = w.status().await;
    let run = &status.jobs["provisioning"];
    assert_eq!(
        run.last_outcome,
        sync_shared::status::JobOutcomeKind::Succeeded,
        "{status:?}"
    );

    // Contoso (prepaid, existing tenant): F17 units become hard quotas.
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(5), Some(0))
    );
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_storage", Some(ACRONIS_STORAGE)),
        (true, Some(100 * GIB), Some(0)),
        "storage in bytes"
    );
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_vms", None),
        (true, Some(2), Some(0)),
        "bundle units"
    );
    // F12: mapped but not in a contract → 0 (it was enabled); Free → unlimited.
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_servers", None),
        (true, Some(0), Some(0))
    );
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_mobiles", None),
        (true, None, None)
    );

    // Payg Corp (`new` mapping, PAYG contract): a tenant, admin user from the primary contact.
    let payg = w.tenants_named("Payg Corp");
    assert_eq!(payg.len(), 1, "exactly one tenant");
    assert_eq!(
        w.item(&payg[0], "pw_base_workstations", None),
        (true, None, None),
        "PAYG: unlimited"
    );
    let (pricing, mfa) = w.acronis.with_state(|s| {
        let t = &s.tenants[&payg[0]];
        (t.pricing_mode.clone(), t.mfa_status.clone())
    });
    assert_eq!(pricing, "production");
    assert_eq!(mfa, "enabled");
    let users: Vec<_> = w.acronis.with_state(|s| {
        s.users
            .values()
            .filter(|(u, _)| u.tenant_id == payg[0])
            .map(|(u, _)| u.clone())
            .collect()
    });
    assert_eq!(users.len(), 1, "one admin user");
    assert_eq!(users[0].login, "pat@payg.example");
    assert_eq!(users[0].email, "pat@payg.example");
    assert_eq!(users[0].activation_emails_sent, 1);
    assert!(
        w.acronis
            .user_roles(&users[0].id)
            .contains(&"company_admin".to_string())
    );

    // F16: the unmapped company with a contract gets a tenant (auto-create on).
    let auto = w.tenants_named("Auto Created Co");
    assert_eq!(auto.len(), 1);
    assert_eq!(
        w.item(&auto[0], "pw_base_workstations", None),
        (true, Some(3), Some(0))
    );
    // F11: no storage in its contracts → the default storage, assigned.
    assert!(w.item(&auto[0], "pw_base_storage", Some(ACRONIS_STORAGE)).0);

    // F18: the mixed company is an error; its tenant is untouched.
    assert!(!w.item(MIXED_TENANT, "pw_base_workstations", None).0);
    let mixed = &status.customers[&format!("provisioning:{MIXED_INC}")];
    assert_eq!(mixed.kind, IssueKind::Error);
    assert!(
        mixed.message.contains("PAYG and a prepaid contract"),
        "{}",
        mixed.message
    );
    // F21: the self-service tenant is untouched and named.
    assert!(!w.item(SELF_SERVICE_TENANT, "pw_base_workstations", None).0);
    let excluded = &status.customers[&format!("provisioning:{SELF_SERVICE_CO}")];
    assert_eq!(excluded.kind, IssueKind::Excluded);
    assert!(status.jobs["provisioning"].counts["customers_excluded"] == 1);
    assert!(run.counts["customers_error"] >= 1);
    // No primary contact: nothing created, the status says so.
    assert!(w.tenants_named("No Contact GmbH").is_empty());
    let no_contact = &status.customers[&format!("provisioning:{NO_CONTACT_CO}")];
    assert!(
        no_contact.message.contains("primary contact"),
        "{}",
        no_contact.message
    );
    assert!(
        w.acronis.conformance_violations().is_empty(),
        "{:?}",
        w.acronis.conformance_violations()
    );

    // Second cycle, nothing changed, the same configuration loaded again (a `new` mapping
    // already served included): zero writes on both sides, no apply message.
    w.reload_config().await;
    w.reset_logs();
    let applied = w
        .cycle_job(
            Job::Provisioning,
            slot(25, 10) + chrono::Duration::minutes(5),
        )
        .await
        .1;
    assert_eq!(applied, 0, "no apply message when nothing changes");
    assert_eq!(w.remote_writes(), (0, 0));
    assert_eq!(w.tenants_named("Payg Corp").len(), 1);
    assert_eq!(w.tenants_named("Auto Created Co").len(), 1);

    // Secrets never reach the table (the logs: tests/provisioning_logs.rs).
    let table =
        w.d.store
            .client()
            .scan()
            .table_name(w.d.store.table())
            .send()
            .await
            .expect("scan");
    let table = format!("{:?}", table.items());
    for secret in ["api-secret-1", CLIENT_SECRET, "ACRONISSIMINTEGRATIONCODE01"] {
        assert!(!table.contains(secret), "a secret in the table");
    }
}

#[tokio::test]
async fn an_adjustment_in_autotask_changes_the_quota_on_the_next_cycle() {
    let w = World::new("provadj", json!({})).await;
    w.cycle(slot(25, 10)).await;
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(5), Some(0))
    );
    w.adjust_units(29720001, SVC_WORKSTATIONS, 3, "2026-11-25")
        .await;
    w.cycle_job(Job::Provisioning, slot(25, 11)).await;
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(8), Some(0))
    );
    let audit = w.d.store.audit("msp", None).await.expect("audit");
    let last = audit
        .iter()
        .rev()
        .find(|e| e.object == "pw_base_workstations" && e.target == CONTOSO.to_string())
        .expect("an audit item for the change");
    assert_eq!(
        (
            last.before.as_str(),
            last.after.as_str(),
            last.result.as_str()
        ),
        ("enabled, quota 5 (hard)", "enabled, quota 8 (hard)", "ok")
    );
    assert_eq!(last.run_id, "provisioning#2026-11-25T11:00:00Z");
}

#[tokio::test]
async fn accounts_based_on_the_company_name_in_trial_switch_to_production_after_a_month() {
    let w = World::new(
        "provname",
        json!({"provisioning": {"create_accounts_based_on": "company_name",
            "activation_email": "activation@msp.example", "auto_create_customers": true,
            "two_factor_auth": false, "provision_as": "trial"}}),
    )
    .await;
    w.cycle(slot(2, 10)).await;
    let payg = w.tenants_named("Payg Corp");
    assert_eq!(payg.len(), 1);
    let users = w.users_of(&payg[0]);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].login, format!("payg.corp.{PAYG_CORP}"));
    assert_eq!(users[0].email, "activation@msp.example");
    assert_eq!(users[0].activation_emails_sent, 1);
    let mode = |w: &World, t: &str| {
        w.acronis.with_state(|s| {
            (
                s.tenants[t].pricing_mode.clone(),
                s.tenants[t].mfa_status.clone(),
            )
        })
    };
    assert_eq!(
        mode(&w, &payg[0]),
        ("trial".to_string(), "disabled".to_string())
    );
    // The company without a primary contact gets a tenant too: the name is the basis now.
    assert_eq!(w.tenants_named("No Contact GmbH").len(), 1);
    // Before a full month nothing changes; after it, production (F8).
    w.reset_logs();
    w.cycle_job(Job::Provisioning, slot(30, 10)).await;
    assert_eq!(w.remote_writes(), (0, 0));
    let december = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 2, 10, 0, 0)
        .single()
        .expect("time");
    w.cycle_job(Job::Provisioning, december).await;
    assert_eq!(mode(&w, &payg[0]).0, "production");
}

#[tokio::test]
async fn duplicate_deliveries_and_faults_on_both_sides_converge_without_a_second_tenant() {
    let w = World::new("provfault", json!({})).await;
    w.cycle_job(Job::Setup, slot(25, 9)).await;
    w.acronis.set_knobs(acronis_sim::Knobs {
        rate_limit_probability: 0.1,
        server_error_probability: 0.1,
        timeout_probability: 0.1,
        timeout_ms: 50,
        random_seed: 11,
        ..acronis_sim::Knobs::default()
    });
    w.autotask.set_knobs(autotask_sim::Knobs {
        random_429_probability: 0.1,
        random_5xx_probability: 0.1,
        timeout_probability: 0.1,
        timeout_hold: std::time::Duration::from_millis(50),
        rng_seed: 12,
        ..autotask_sim::Knobs::default()
    });
    for (n, at) in [slot(25, 10), slot(25, 11), slot(25, 12)]
        .into_iter()
        .enumerate()
    {
        w.cycle_delivering_twice(at).await;
        let converged = w.tenants_named("Payg Corp").len() == 1
            && w.tenants_named("Auto Created Co").len() == 1
            && w.item(CONTOSO_TENANT, "pw_base_workstations", None) == (true, Some(5), Some(0));
        eprintln!("cycle {}: converged {converged}", n + 1);
    }
    w.acronis.set_knobs(acronis_sim::Knobs::default());
    w.autotask.set_knobs(autotask_sim::Knobs::default());
    for name in ["Payg Corp", "Auto Created Co"] {
        let tenants = w.tenants_named(name);
        assert_eq!(tenants.len(), 1, "{name}: exactly one tenant");
        assert_eq!(w.users_of(&tenants[0]).len(), 1, "{name}: exactly one user");
    }
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_workstations", None),
        (true, Some(5), Some(0))
    );
    assert_eq!(
        w.item(CONTOSO_TENANT, "pw_base_storage", Some(ACRONIS_STORAGE)),
        (true, Some(100 * GIB), Some(0))
    );
    let payg = &w.tenants_named("Payg Corp")[0];
    assert_eq!(
        w.item(payg, "pw_base_workstations", None),
        (true, None, None)
    );
    // Converged within the three cycles: a fourth, without faults, writes nothing.
    w.reset_logs();
    w.cycle_job(Job::Provisioning, slot(25, 13)).await;
    assert_eq!(w.remote_writes(), (0, 0), "converged within 3 cycles");
}

#[tokio::test]
async fn a_crash_after_the_tenant_was_created_but_before_it_was_recorded_creates_no_second_tenant()
{
    let w = World::new("provcrash", json!({})).await;
    // The state such a crash leaves: the record says `creating`, the tenant exists.
    let mut created = acronis_sim::TenantSeed::new("Payg Corp", "customer", Some(PARTNER));
    created.pricing_mode = Some("trial".into());
    let tenant = w.acronis.add_tenant(created).expect("tenant");
    w.d.put_json_item(
        json!({"pk": "INTEGRATION#msp", "sk": format!("PROVISIONED#{PAYG_CORP}"),
        "company_id": PAYG_CORP, "tenant_name": "Payg Corp", "origin": "mapping_new",
        "state": "creating", "run_id": "provisioning#2026-11-25T09:55:00Z", "version": 1}),
    )
    .await
    .expect("record");
    w.cycle(slot(25, 10)).await;
    assert_eq!(
        w.tenants_named("Payg Corp"),
        vec![tenant.clone()],
        "the tenant was adopted"
    );
    assert_eq!(
        w.item(&tenant, "pw_base_workstations", None),
        (true, None, None)
    );
    assert_eq!(w.users_of(&tenant).len(), 1);
    let record =
        w.d.store
            .get_item("INTEGRATION#msp", &format!("PROVISIONED#{PAYG_CORP}"))
            .await
            .expect("get")
            .expect("record");
    assert_eq!(record["tenant"].as_s().ok(), Some(&tenant));
}

#[tokio::test]
async fn dry_run_writes_nothing_and_its_plan_lists_exactly_the_writes_a_real_run_makes() {
    let w = World::new("provdry", json!({"dry_run": true})).await;
    w.cycle(slot(25, 10)).await;
    assert_eq!(w.remote_writes().0, 0, "no Acronis write");
    assert!(w.tenants_named("Payg Corp").is_empty());
    let status = w.status().await;
    assert!(status.jobs["provisioning"].counts["apply_messages_sent"] == 0);
    assert!(
        status.message.contains("dry run")
            || status.jobs["provisioning"].counts["writes_planned"] > 0
    );
    let plan =
        w.d.store
            .latest_plan("msp", Job::Provisioning)
            .await
            .expect("plan")
            .expect("a plan");
    assert!(plan.header.dry_run);
    let mut planned: Vec<(String, String, String)> = plan
        .targets
        .iter()
        .flat_map(|t| {
            t.writes
                .iter()
                .map(|w| (t.key.clone(), w.action.clone(), w.object.clone()))
        })
        .collect();
    planned.sort();
    assert!(planned.len() > 10, "{planned:?}");

    w.put_settings(json!({"dry_run": false})).await;
    w.cycle_job(Job::Provisioning, slot(25, 11)).await;
    let mut made: Vec<(String, String, String)> =
        w.d.store
            .audit("msp", None)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.succeeded())
            .map(|e| (e.target, e.action, e.object))
            .collect();
    made.sort();
    assert_eq!(planned, made);
}
