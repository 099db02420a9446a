//! The deprovisioning rules on small situations.

use chrono::{TimeZone, Utc};
use sync_shared::config::Deprovisioning;

use super::*;

const TENANT: &str = "00000000-0000-4000-8000-000000000002";
const COMPANY: i64 = 42;

/// 10:00 on the `day`th day from 2026-11-01 (day 31 is 2026-12-01).
fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::days(i64::from(day) - 1)
}

fn tenant(enabled: bool) -> Tenant {
    Tenant {
        id: TENANT.into(),
        version: 3,
        name: "Contoso".into(),
        kind: "customer".into(),
        parent_id: "00000000-0000-4000-8000-000000000001".into(),
        enabled,
        ancestral_access: Some(true),
        pricing_mode: None,
        mfa_status: None,
    }
}

fn settings(zero: bool, disable: Option<u32>, delete: Option<u32>) -> Deprovisioning {
    Deprovisioning {
        zero_quotas_without_active_additions: zero,
        disable_after_days: disable,
        delete_after_days: delete,
    }
}

fn record(since: Option<u32>, disabled: bool) -> DeprovisionRecord {
    DeprovisionRecord {
        company_id: COMPANY,
        tenant_id: TENANT.into(),
        without_services_since: since.map(at),
        disabled_by_integration: disabled,
        delete_requested_at: None,
        run_id: "provisioning#earlier".into(),
        version: 4,
    }
}

fn situation<'a>(
    settings: &'a Deprovisioning,
    now: u32,
    tenant: Option<&'a Tenant>,
    has_services: bool,
    record: Option<&'a DeprovisionRecord>,
) -> Situation<'a> {
    Situation {
        settings,
        now: at(now),
        run_id: "provisioning#now",
        dry_run: false,
        company_id: COMPANY,
        tenant_id: TENANT,
        tenant,
        children: 0,
        has_services,
        record,
    }
}

fn actions(decision: &Decision) -> Vec<&str> {
    decision.writes.iter().map(|w| w.action.as_str()).collect()
}

#[test]
fn the_first_run_without_services_starts_the_counter_at_its_slot() {
    let s = settings(true, Some(10), Some(30));
    let t = tenant(true);
    let d = decide(&situation(&s, 2, Some(&t), false, None));
    assert!(d.zero_all);
    assert_eq!(d.lifecycle, None);
    assert!(d.writes.is_empty());
    let r = d.record.expect("a new counter");
    assert_eq!(r.without_services_since, Some(at(2)));
    assert_eq!(r.version, 0, "a new item");
    assert!(d.notes[0].contains("no active services since 2026-11-02 (0 days)"));
    assert!(d.notes[0].contains("disabled after 10 days and deleted after 30 days"));
}

#[test]
fn a_later_run_keeps_the_start_and_writes_nothing_new() {
    let s = settings(false, Some(10), None);
    let t = tenant(true);
    let r = record(Some(2), false);
    let d = decide(&situation(&s, 5, Some(&t), false, Some(&r)));
    assert_eq!(d.record, None, "unchanged counter, no write");
    assert_eq!(d.days_without_services, 3);
    assert!(!d.zero_all);
    assert_eq!(d.lifecycle, None);
}

#[test]
fn after_n_days_the_tenant_is_disabled_and_the_integration_remembers_it() {
    let s = settings(true, Some(10), Some(30));
    let t = tenant(true);
    let r = record(Some(2), false);
    assert_eq!(
        decide(&situation(&s, 11, Some(&t), false, Some(&r))).lifecycle,
        None,
        "9 days"
    );
    let d = decide(&situation(&s, 12, Some(&t), false, Some(&r)));
    assert_eq!(d.lifecycle, Some(Lifecycle::Disable));
    assert_eq!(actions(&d), vec![DISABLE_TENANT]);
    assert!(d.record.expect("changed").disabled_by_integration);
    // Disabled already: nothing more to write until the deletion.
    let t = tenant(false);
    let r = record(Some(2), true);
    let d = decide(&situation(&s, 20, Some(&t), false, Some(&r)));
    assert_eq!(d.lifecycle, None);
    assert!(
        d.notes[0].contains("disabled by deprovisioning"),
        "{:?}",
        d.notes
    );
}

#[test]
fn after_m_days_the_tenant_is_disabled_and_deleted_and_quotas_are_left_alone() {
    let s = settings(true, Some(10), Some(30));
    let r = record(Some(1), true);
    let t = tenant(false);
    let d = decide(&situation(&s, 30, Some(&t), false, Some(&r)));
    assert_eq!(d.lifecycle, None, "29 days");
    let d = decide(&situation(&s, 31, Some(&t), false, Some(&r)));
    assert_eq!(d.lifecycle, Some(Lifecycle::Delete));
    assert_eq!(actions(&d), vec![DELETE_TENANT]);
    assert!(!d.zero_all);
    assert_eq!(d.record.expect("changed").delete_requested_at, Some(at(31)));
    // Still enabled (no disable step configured): disabled first.
    let s = settings(false, None, Some(30));
    let t = tenant(true);
    let d = decide(&situation(&s, 31, Some(&t), false, Some(&r)));
    assert_eq!(actions(&d), vec![DISABLE_TENANT, DELETE_TENANT]);
}

#[test]
fn a_tenant_with_children_is_never_deleted() {
    let s = settings(false, Some(10), Some(30));
    let r = record(Some(1), true);
    let t = tenant(false);
    let mut situation = situation(&s, 31, Some(&t), false, Some(&r));
    situation.children = 2;
    let d = decide(&situation);
    assert_eq!(d.lifecycle, None);
    assert!(d.notes[0].contains("never deleted"), "{:?}", d.notes);
}

#[test]
fn a_dry_run_plans_the_delete_but_does_not_record_it_as_sent() {
    let s = settings(false, Some(10), Some(30));
    let r = record(Some(1), false);
    let t = tenant(true);
    let mut situation = situation(&s, 31, Some(&t), false, Some(&r));
    situation.dry_run = true;
    let d = decide(&situation);
    assert_eq!(d.lifecycle, Some(Lifecycle::Delete));
    assert!(d.notes[0].contains("dry run"));
    assert_eq!(d.record, None, "the counter is unchanged");
}

#[test]
fn services_coming_back_reset_the_counter_and_re_enable_only_what_deprovisioning_disabled() {
    let s = settings(true, Some(10), Some(30));
    let disabled = tenant(false);
    let r = record(Some(1), true);
    let d = decide(&situation(&s, 15, Some(&disabled), true, Some(&r)));
    assert_eq!(d.lifecycle, Some(Lifecycle::Enable));
    assert_eq!(actions(&d), vec![ENABLE_TENANT]);
    let next = d.record.expect("changed");
    assert_eq!(next.without_services_since, None);
    assert!(next.disabled_by_integration, "kept until seen enabled");
    // Seen enabled: the flag goes.
    let enabled = tenant(true);
    let d = decide(&situation(&s, 16, Some(&enabled), true, Some(&next)));
    assert_eq!(d.lifecycle, None);
    assert!(!d.record.expect("changed").disabled_by_integration);
    // Disabled by someone else: left disabled, the counter reset.
    let r = record(Some(1), false);
    let d = decide(&situation(&s, 15, Some(&disabled), true, Some(&r)));
    assert_eq!(d.lifecycle, None);
    assert_eq!(d.record.expect("reset").without_services_since, None);
    assert!(d.notes[0].contains("reset"));
}

#[test]
fn active_services_without_a_counter_and_all_settings_off_do_nothing() {
    let t = tenant(true);
    let s = settings(true, Some(10), Some(30));
    assert_eq!(
        decide(&situation(&s, 5, Some(&t), true, None)),
        Decision::default()
    );
    let off = settings(false, None, None);
    assert_eq!(
        decide(&situation(&off, 5, Some(&t), false, None)),
        Decision::default()
    );
}

#[test]
fn a_counter_of_another_tenant_starts_over_keeping_the_item_version() {
    let s = settings(false, Some(10), None);
    let t = tenant(true);
    let mut r = record(Some(1), true);
    r.tenant_id = "00000000-0000-4000-8000-0000000000ff".into();
    let d = decide(&situation(&s, 20, Some(&t), false, Some(&r)));
    assert_eq!(d.lifecycle, None, "counted from today");
    let next = d.record.expect("a new counter");
    assert_eq!(next.without_services_since, Some(at(20)));
    assert_eq!(next.tenant_id, TENANT);
    assert_eq!(next.version, 4);
    assert!(!next.disabled_by_integration);
}

#[test]
fn a_tenant_gone_after_its_delete_was_sent_is_reported_deleted() {
    let s = settings(false, Some(10), Some(30));
    let mut r = record(Some(1), true);
    r.delete_requested_at = Some(at(31));
    let d = decide(&situation(&s, 32, None, false, Some(&r)));
    assert!(d.deleted);
    assert!(
        d.notes[0].contains("deleted by deprovisioning"),
        "{:?}",
        d.notes
    );
    // Gone without a delete of ours: not ours to explain (the planner reports it missing).
    let r = record(Some(1), true);
    assert!(!decide(&situation(&s, 32, None, false, Some(&r))).deleted);
}

#[test]
fn zeroed_items_cover_every_quota_but_no_feature() {
    let item = |name: &str, kind: &str| OfferingItem {
        application_id: "app".into(),
        name: name.into(),
        edition: None,
        usage_name: name.into(),
        tenant_id: Some(TENANT.into()),
        status: 1,
        item_type: kind.into(),
        infra_id: None,
        measurement_unit: "quantity".into(),
        quota: None,
    };
    let zeroed = zeroed_items(&[item("pw_base_workstations", "count"), item("f", "feature")]);
    assert_eq!(zeroed.len(), 1);
    assert_eq!(zeroed[0].state, ItemState::ZeroIfEnabled);
}

#[test]
fn only_the_mapped_tenant_of_the_company_counts_as_mapped() {
    let raw = sync_shared::config::RawConfigItems {
        settings: Some(
            serde_dynamo::to_item(serde_json::json!({
                "pk": "INTEGRATION#x", "sk": "SETTINGS", "integration_state": "enabled",
                "autotask_secret_name": "a", "acronis_secret_name": "b"
            }))
            .expect("item"),
        ),
        customers: vec![
            serde_dynamo::to_item(
                serde_json::json!({"pk": "INTEGRATION#x", "sk": "CUSTOMER#42", "tenant": TENANT}),
            )
            .expect("item"),
            serde_dynamo::to_item(
                serde_json::json!({"pk": "INTEGRATION#x", "sk": "CUSTOMER#43", "tenant": "new"}),
            )
            .expect("item"),
        ],
        ..Default::default()
    };
    let config = IntegrationConfig::from_items("x", raw).expect("config");
    let created = Provisioned {
        company_id: 43,
        tenant_name: "New".into(),
        origin: ProvisionOrigin::MappingNew,
        state: crate::provisioned::ProvisionState::Created,
        tenant_id: Some("t-43".into()),
        created_at: None,
        provision_as_trial: false,
        admin_user_id: None,
        admin_role_set: false,
        activation_email_sent: false,
        run_id: String::new(),
        version: 1,
    };
    let auto = Provisioned {
        company_id: 44,
        origin: ProvisionOrigin::AutoCreate,
        tenant_id: Some("t-44".into()),
        ..created.clone()
    };
    let removed_new = Provisioned {
        company_id: 45,
        tenant_id: Some("t-45".into()),
        ..created.clone()
    };
    let records = [created, auto, removed_new];
    assert!(maps_tenant(&config, &records, 42, TENANT));
    assert!(!maps_tenant(&config, &records, 42, "t-43"));
    assert!(maps_tenant(&config, &records, 43, "t-43"));
    assert!(maps_tenant(&config, &records, 44, "t-44"));
    assert!(
        !maps_tenant(&config, &records, 45, "t-45"),
        "a `new` mapping the user removed"
    );
    assert!(!maps_tenant(&config, &records, 46, TENANT), "not mapped");
}
