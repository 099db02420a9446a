//! Validation names the item, the field and what is allowed.

use serde_json::{Value, json};

use super::*;

fn item(value: Value) -> Item {
    serde_dynamo::to_item(value).expect("item")
}

fn settings(extra: Value) -> Value {
    let mut base = json!({
        "pk": "INTEGRATION#acme", "sk": "SETTINGS", "integration_state": "enabled",
        "autotask_secret_name": "acronis-autotask-sync/acme/autotask",
        "acronis_secret_name": "acronis-autotask-sync/acme/acronis"
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base
}

fn settings_error(extra: Value) -> String {
    Settings::from_item("INTEGRATION#acme", item(settings(extra)))
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn minimal_settings_take_the_documented_defaults() {
    let s = Settings::from_item("INTEGRATION#acme", item(settings(json!({})))).expect("valid");
    assert_eq!(s.usage_reporting.period, UsagePeriod::CustomBillingMonth);
    assert_eq!(s.usage_reporting.effective_billing_day(), 1);
    assert_eq!(s.features.default_period_type, PeriodType::Monthly);
    assert_eq!(
        s.provisioning.create_accounts_based_on,
        AccountBasis::CompanyPrimaryContact
    );
    assert_eq!(s.provisioning.provision_as, ProvisionAs::Production);
    assert!(
        !s.features.billing
            && !s.features.two_way_sync
            && !s.features.ticket_creation
            && !s.dry_run
    );
    assert!(!s.deprovisioning.zero_quotas_without_active_additions);
    assert_eq!(s.autotask_integration_name, "acronis-autotask-sync");
    assert_eq!(s.autotask_budget_share, 0.5);
}

#[test]
fn a_budget_share_outside_its_range_is_named() {
    let e = settings_error(json!({"autotask_budget_share": 1.5}));
    assert_eq!(
        e,
        "item INTEGRATION#acme / SETTINGS: field `autotask_budget_share`: 1.5 is out of range; allowed: 0.05 to 1.0 (a share of the hourly threshold)"
    );
    let share = Settings::from_item(
        "INTEGRATION#acme",
        item(settings(json!({"autotask_budget_share": 0.8}))),
    )
    .expect("valid");
    assert_eq!(share.autotask_budget_share, 0.8);
}

#[test]
fn a_billing_day_of_31_names_the_field_and_the_range() {
    let e = settings_error(json!({"usage_reporting": {"billing_day": 31}}));
    assert_eq!(
        e,
        "item INTEGRATION#acme / SETTINGS: field `usage_reporting.billing_day`: 31 is out of range; allowed: 1 to 28"
    );
}

#[test]
fn an_unknown_period_type_lists_the_allowed_ones() {
    let e = settings_error(json!({"features": {"default_period_type": "Weekly"}}));
    assert!(e.starts_with("item INTEGRATION#acme / SETTINGS: field `features.default_period_type`: unknown variant `Weekly`"), "{e}");
    assert!(
        e.contains("`Monthly`, `Quarterly`, `Semi-Annual`, `Yearly`"),
        "{e}"
    );
}

#[test]
fn type_errors_missing_fields_and_typos_are_named() {
    let e = settings_error(json!({"features": {"billing": "yes"}}));
    assert!(e.contains("field `features.billing`: Expected bool"), "{e}");
    let mut without = settings(json!({}));
    without
        .as_object_mut()
        .map(|o| o.remove("acronis_secret_name"));
    let e = Settings::from_item("INTEGRATION#acme", item(without))
        .expect_err("missing")
        .to_string();
    assert!(
        e.contains("field `acronis_secret_name`: missing field `acronis_secret_name`"),
        "{e}"
    );
    let e = settings_error(json!({"tickets": {"reopen_windw_days": 3}}));
    assert!(
        e.contains("field `tickets.reopen_windw_days`: unknown field `reopen_windw_days`"),
        "{e}"
    );
    let e = settings_error(json!({"integration_state": "on"}));
    assert!(
        e.contains(
            "field `integration_state`: unknown variant `on`, expected `enabled` or `disabled`"
        ),
        "{e}"
    );
}

#[test]
fn cross_field_rules_are_enforced() {
    let e = settings_error(json!({"features": {"two_way_sync": true}}));
    assert!(
        e.contains(
            "field `features.default_allocation_code`: is required when features.two_way_sync is on"
        ),
        "{e}"
    );
    let e = settings_error(json!({"provisioning": {"create_accounts_based_on": "company_name"}}));
    assert!(
        e.contains("field `provisioning.activation_email`: is required"),
        "{e}"
    );
    let e =
        settings_error(json!({"usage_reporting": {"period": "current_month", "billing_day": 5}}));
    assert!(
        e.contains("applies only when usage_reporting.period is custom_billing_month"),
        "{e}"
    );
    let e = settings_error(
        json!({"deprovisioning": {"disable_after_days": 30, "delete_after_days": 10}}),
    );
    assert!(
        e.contains(
            "field `deprovisioning.delete_after_days`: 10 is before disable_after_days (30)"
        ),
        "{e}"
    );
    let e = settings_error(json!({"tickets": {"reopen_window_days": 0}}));
    assert!(
        e.contains("field `tickets.reopen_window_days`: 0 is out of range"),
        "{e}"
    );
}

fn customer(sk: &str, fields: Value) -> Result<CustomerMapping, ConfigError> {
    let mut value = json!({"pk": "INTEGRATION#acme", "sk": sk});
    if let (Some(v), Some(f)) = (value.as_object_mut(), fields.as_object()) {
        v.extend(f.clone());
    }
    CustomerMapping::from_item("INTEGRATION#acme", sk, item(value))
}

#[test]
fn customer_mappings_need_a_tenant_or_new() {
    let e = customer("CUSTOMER#42", json!({}))
        .expect_err("no tenant")
        .to_string();
    assert_eq!(
        e,
        "item INTEGRATION#acme / CUSTOMER#42: field `tenant`: is missing; allowed: an Acronis customer tenant id (UUID) or \"new\""
    );
    let e = customer("CUSTOMER#42", json!({"tenant": "nope"}))
        .expect_err("bad")
        .to_string();
    assert!(
        e.contains("`nope` is neither a tenant id nor \"new\""),
        "{e}"
    );
    let e = customer("CUSTOMER#abc", json!({"tenant": "new"}))
        .expect_err("bad sk")
        .to_string();
    assert!(
        e.contains("field `sk`: must be CUSTOMER#<Autotask company id>"),
        "{e}"
    );
    assert_eq!(
        customer("CUSTOMER#42", json!({"tenant": "new"}))
            .expect("new")
            .tenant,
        MappedTenant::New
    );
    let uuid = "0C6F3A4E-8D2B-4F1A-9E7C-5B3D2A1F6E90";
    assert_eq!(
        customer("CUSTOMER#42", json!({"tenant": uuid}))
            .expect("uuid")
            .tenant,
        MappedTenant::Existing(uuid.to_ascii_lowercase())
    );
}

#[test]
fn one_tenant_cannot_be_mapped_to_two_companies() {
    let tenant = "0c6f3a4e-8d2b-4f1a-9e7c-5b3d2a1f6e90";
    let raw = RawConfigItems {
        settings: Some(item(settings(json!({})))),
        customers: vec![
            item(json!({"pk": "INTEGRATION#acme", "sk": "CUSTOMER#1", "tenant": tenant})),
            item(json!({"pk": "INTEGRATION#acme", "sk": "CUSTOMER#2", "tenant": tenant})),
        ],
        ..Default::default()
    };
    let e = IntegrationConfig::from_items("acme", raw)
        .expect_err("duplicate")
        .to_string();
    assert!(e.contains("CUSTOMER#2: field `tenant`: tenant 0c6f3a4e-8d2b-4f1a-9e7c-5b3d2a1f6e90 is already mapped by CUSTOMER#1"), "{e}");
}

fn service(sk: &str, fields: Value) -> Result<ServiceMapping, ConfigError> {
    ServiceMapping::from_item("INTEGRATION#acme", sk, item(fields))
}

#[test]
fn service_mappings_are_checked_against_their_sort_key() {
    let m = service("SERVICE#pw_base_workstations", json!({"service": 12})).expect("by id");
    assert_eq!(m.target, Some(ServiceTarget::Service(IdOrLabel::Id(12))));
    let m = service(
        "SERVICE#pw_base_storage#infra-1",
        json!({"service": "Storage", "storage_roles": {"class2_billed": "Billed"}}),
    )
    .expect("storage");
    assert_eq!(
        m.subject,
        ServiceSubject::OfferingItem {
            name: "pw_base_storage".into(),
            infra_id: Some("infra-1".into())
        }
    );
    assert_eq!(
        service("SERVICE#PUBLIC_CLOUD#azure", json!({"service": "Azure"}))
            .expect("vendor")
            .subject,
        ServiceSubject::PublicCloud(PublicCloudVendor::Azure)
    );
    let errors = [
        (
            service("SERVICE#pw_base_servers", json!({})),
            "field `service`: the item maps nothing",
        ),
        (
            service(
                "SERVICE#pw_base_servers",
                json!({"service": "A", "service_bundle": "B"}),
            ),
            "give either service or service_bundle",
        ),
        (
            service(
                "SERVICE#pw_base_servers",
                json!({"storage_roles": {"class1_free": "F"}}),
            ),
            "apply only to a storage",
        ),
        (
            service("SERVICE#PUBLIC_CLOUD#gcp", json!({"service": "G"})),
            "unknown public cloud vendor `gcp`",
        ),
        (
            service(
                "SERVICE#PUBLIC_CLOUD#azure",
                json!({"service": "A", "free": true}),
            ),
            "field `free`: does not apply to public cloud",
        ),
        (
            service("SERVICE#Workstations", json!({"service": "W"})),
            "is not an offering item name",
        ),
        (
            service("SERVICE#pw_base_servers", json!({"service": ""})),
            "field `service`: invalid value",
        ),
    ];
    for (result, expected) in errors {
        let e = result.expect_err(expected).to_string();
        assert!(e.contains(expected), "`{expected}` not in `{e}`");
    }
}

#[test]
fn alert_mappings_take_labels_or_ids_and_check_dependencies() {
    let m = AlertMapping::from_item(
        "INTEGRATION#acme",
        "ALERT#BackupFailed",
        item(json!({"queue": 5, "priority": "Critical"})),
    )
    .expect("valid");
    assert!(m.enabled);
    assert_eq!(m.queue, Some(IdOrLabel::Id(5)));
    assert_eq!(m.priority, Some(IdOrLabel::Label("Critical".into())));
    assert_eq!(m.due_in_days, 3);
    let e = AlertMapping::from_item(
        "INTEGRATION#acme",
        "ALERT#BackupFailed",
        item(json!({"sub_issue_type": "Email"})),
    )
    .expect_err("needs issue type")
    .to_string();
    assert!(
        e.contains("field `sub_issue_type`: needs issue_type"),
        "{e}"
    );
    let e = AlertMapping::from_item(
        "INTEGRATION#acme",
        "ALERT#BackupFailed",
        item(json!({"queue": true})),
    )
    .expect_err("bad type")
    .to_string();
    assert!(e.contains("field `queue`: invalid type: boolean `true`, expected an id (a whole number) or a label"), "{e}");
}

#[test]
fn integration_ids_are_plain() {
    assert!(validate_integration_id("contoso-eu_1").is_ok());
    assert!(validate_integration_id("").is_err());
    assert!(validate_integration_id("a b").is_err());
    assert!(validate_integration_id(&"x".repeat(65)).is_err());
}
