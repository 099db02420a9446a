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
    assert_eq!(
        w.item(&auto[0], "pw_base_storage", Some(ACRONIS_STORAGE)).0,
        true
    );

    // F18: the mixed company is an error; its tenant is untouched.
    assert_eq!(w.item(MIXED_TENANT, "pw_base_workstations", None).0, false);
    let mixed = &status.customers[&format!("provisioning:{MIXED_INC}")];
    assert_eq!(mixed.kind, IssueKind::Error);
    assert!(
        mixed.message.contains("PAYG and a prepaid contract"),
        "{}",
        mixed.message
    );
    // F21: the self-service tenant is untouched and named.
    assert_eq!(
        w.item(SELF_SERVICE_TENANT, "pw_base_workstations", None).0,
        false
    );
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

    // Second cycle, nothing changed: zero writes on both sides, no apply message.
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
}
