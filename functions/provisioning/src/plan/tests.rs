//! The planning rules on small snapshots.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use serde_json::json;
use sync_shared::acronis::{CYBER_PROTECTION_APP_ID, OfferingItem, Quota, Tenant};
use sync_shared::config::{IntegrationConfig, RawConfigItems};

use super::*;
use crate::provisioned::{ProvisionState, Provisioned};

const PARTNER: &str = "00000000-0000-4000-8000-000000000001";
const TENANT: &str = "00000000-0000-4000-8000-000000000002";
const STORAGE_A: &str = "00000000-0000-4000-8000-00000000aaaa";
const STORAGE_B: &str = "00000000-0000-4000-8000-00000000bbbb";

fn item(
    name: &str,
    infra: Option<&str>,
    enabled: bool,
    quota: Option<(Option<u64>, Option<u64>)>,
) -> OfferingItem {
    let infra_item = infra.is_some();
    OfferingItem {
        application_id: CYBER_PROTECTION_APP_ID.into(),
        name: name.into(),
        edition: Some("pck_per_workload".into()),
        usage_name: if infra_item {
            "storage".into()
        } else {
            name.trim_start_matches("pw_base_").into()
        },
        tenant_id: Some(TENANT.into()),
        status: i32::from(enabled),
        item_type: if infra_item {
            "infra".into()
        } else {
            "count".into()
        },
        infra_id: infra.map(str::to_string),
        measurement_unit: if infra_item {
            "bytes".into()
        } else {
            "quantity".into()
        },
        quota: quota.filter(|_| enabled).map(|(value, overage)| Quota {
            value,
            overage,
            version: 1,
        }),
    }
}

fn tenant(id: &str, name: &str, self_service: bool) -> Tenant {
    Tenant {
        id: id.into(),
        version: 1,
        name: name.into(),
        kind: "customer".into(),
        parent_id: PARTNER.into(),
        enabled: true,
        ancestral_access: Some(!self_service),
        pricing_mode: Some("production".into()),
        mfa_status: Some("disabled".into()),
    }
}

fn config(settings: serde_json::Value, items: Vec<serde_json::Value>) -> IntegrationConfig {
    let pk = "INTEGRATION#t";
    let mut base = json!({"pk": pk, "sk": "SETTINGS", "integration_state": "enabled",
        "autotask_secret_name": "a", "acronis_secret_name": "b", "features": {"billing": true}});
    if let (Some(b), serde_json::Value::Object(extra)) = (base.as_object_mut(), settings) {
        b.extend(extra);
    }
    let to_item = |v: serde_json::Value| serde_dynamo::to_item(v).expect("item");
    let mut raw = RawConfigItems {
        settings: Some(to_item(base)),
        ..Default::default()
    };
    for mut i in items {
        i["pk"] = json!(pk);
        let sk = i["sk"].as_str().unwrap_or_default().to_string();
        if sk.starts_with("SERVICE#") {
            raw.services.push(to_item(i));
        } else {
            raw.customers.push(to_item(i));
        }
    }
    IntegrationConfig::from_items("t", raw).expect("valid config")
}

struct Fixture {
    config: IntegrationConfig,
    autotask: AutotaskSnapshot,
    acronis: AcronisSnapshot,
    provisioned: Vec<Provisioned>,
}

impl Fixture {
    fn new(items: Vec<OfferingItem>) -> Fixture {
        let config = config(
            json!({"default_storage_infra_id": STORAGE_A}),
            vec![
                json!({"sk": "SERVICE#pw_base_workstations", "service": 1}),
                json!({"sk": "SERVICE#pw_base_servers", "service": 2}),
                json!({"sk": "SERVICE#pw_base_vms", "service_bundle": "VM Bundle"}),
                json!({"sk": "SERVICE#pw_base_mobiles", "free": true}),
                json!({"sk": format!("SERVICE#pw_base_storage#{STORAGE_A}"), "service": 3}),
                json!({"sk": format!("SERVICE#pw_base_storage#{STORAGE_B}"), "service": 4}),
                json!({"sk": "CUSTOMER#100", "tenant": TENANT}),
            ],
        );
        let autotask = AutotaskSnapshot {
            companies: HashMap::from([(
                100,
                CompanyInfo {
                    id: 100,
                    name: "Contoso".into(),
                },
            )]),
            contracts: vec![
                ContractInfo {
                    id: 10,
                    company_id: 100,
                    name: "prepaid".into(),
                    payg: false,
                },
                ContractInfo {
                    id: 11,
                    company_id: 100,
                    name: "prepaid 2".into(),
                    payg: false,
                },
            ],
            bundles_by_name: HashMap::from([("vm bundle".to_string(), 50)]),
            ..AutotaskSnapshot::default()
        };
        let acronis = AcronisSnapshot {
            partner_id: PARTNER.into(),
            tenants: HashMap::from([(TENANT.to_string(), tenant(TENANT, "Contoso", false))]),
            items: HashMap::from([(TENANT.to_string(), items)]),
            infra_ids: vec![STORAGE_A.into(), STORAGE_B.into()],
            infra_backends: HashMap::new(),
        };
        Fixture {
            config,
            autotask,
            acronis,
            provisioned: Vec::new(),
        }
    }

    fn units(mut self, contract: i64, service: i64, units: f64) -> Self {
        self.autotask.service_units.push(UnitsRow {
            contract_id: contract,
            line_id: contract * 1000 + service,
            product_id: service,
            units,
        });
        self
    }

    fn plan(&self) -> Plan {
        plan(&PlanInput {
            config: &self.config,
            provisioned: &self.provisioned,
            autotask: &self.autotask,
            acronis: &self.acronis,
            now: Utc
                .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
                .single()
                .expect("time"),
        })
    }
}

fn state_of(plan: &Plan, name: &str) -> Option<ItemState> {
    plan.customers[0]
        .desired
        .as_ref()?
        .items
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.state)
}

fn standard_items() -> Vec<OfferingItem> {
    vec![
        item("pw_base_workstations", None, false, None),
        item("pw_base_servers", None, true, Some((None, None))),
        item("pw_base_vms", None, false, None),
        item("pw_base_mobiles", None, false, None),
        item("pw_base_mailboxes", None, true, Some((Some(3), None))),
        item("pw_base_storage", Some(STORAGE_A), false, None),
        item("pw_base_storage", Some(STORAGE_B), false, None),
        item("pw_pack_adv_backup_servers", None, false, None),
    ]
}

#[test]
fn prepaid_units_summed_over_contracts_become_hard_quotas_and_the_rest_follows_f12() {
    let f = Fixture::new(standard_items())
        .units(10, 1, 3.0)
        .units(11, 1, 2.0);
    let plan = f.plan();
    assert_eq!(plan.customers[0].outcome, Outcome::Update);
    assert_eq!(
        state_of(&plan, "pw_base_workstations"),
        Some(ItemState::Hard(5))
    );
    // Mapped, not contracted, enabled → 0; Free → unlimited; unmapped CP item → 0.
    assert_eq!(
        state_of(&plan, "pw_base_servers"),
        Some(ItemState::ZeroIfEnabled)
    );
    assert_eq!(
        state_of(&plan, "pw_base_mobiles"),
        Some(ItemState::Unlimited)
    );
    assert_eq!(
        state_of(&plan, "pw_base_mailboxes"),
        Some(ItemState::ZeroIfEnabled)
    );
    let writes: Vec<&str> = plan.customers[0]
        .writes
        .iter()
        .map(|w| w.object.as_str())
        .collect();
    assert!(writes.contains(&"pw_base_workstations"));
    assert!(writes.contains(&"pw_base_servers"), "enabled unlimited → 0");
    assert!(
        !writes.contains(&"pw_base_vms"),
        "disabled and not provisioned: left off"
    );
    // F11: no storage contracted → the default storage, assigned (enabled).
    assert!(writes.contains(&format!("pw_base_storage @ {STORAGE_A}").as_str()));
    assert!(!writes.contains(&format!("pw_base_storage @ {STORAGE_B}").as_str()));
}

#[test]
fn a_bundle_counts_for_every_item_mapped_to_it_and_storage_units_are_gigabytes() {
    let mut f = Fixture::new(standard_items()).units(10, 3, 250.0);
    f.autotask.bundle_units.push(UnitsRow {
        contract_id: 10,
        line_id: 77,
        product_id: 50,
        units: 4.0,
    });
    let plan = f.plan();
    assert_eq!(state_of(&plan, "pw_base_vms"), Some(ItemState::Hard(4)));
    let storage = plan.customers[0].desired.as_ref().and_then(|d| {
        d.items
            .iter()
            .find(|i| i.infra_id.as_deref() == Some(STORAGE_A))
            .map(|i| i.state)
    });
    assert_eq!(storage, Some(ItemState::Hard(250 * BYTES_PER_GB)));
}

#[test]
fn payg_is_unlimited_and_an_item_in_payg_and_prepaid_is_an_error_with_nothing_changed() {
    let mut f = Fixture::new(standard_items()).units(10, 1, 3.0);
    f.autotask.contracts[1].payg = true;
    let plan = f.plan();
    assert_eq!(
        state_of(&plan, "pw_base_workstations"),
        Some(ItemState::Hard(3))
    );
    let f = f.units(11, 1, 0.0);
    let plan = f.plan();
    assert_eq!(plan.customers[0].outcome, Outcome::Error);
    assert!(plan.customers[0].desired.is_none() && plan.customers[0].writes.is_empty());
    let mut f = Fixture::new(standard_items()).units(11, 1, 0.0);
    f.autotask.contracts[1].payg = true;
    assert_eq!(
        state_of(&f.plan(), "pw_base_workstations"),
        Some(ItemState::Unlimited)
    );
}

#[test]
fn a_self_service_tenant_is_excluded_and_never_written() {
    let mut f = Fixture::new(standard_items()).units(10, 1, 3.0);
    f.acronis
        .tenants
        .insert(TENANT.into(), tenant(TENANT, "Contoso", true));
    let plan = f.plan();
    assert_eq!(plan.customers[0].outcome, Outcome::Excluded);
    assert!(plan.customers[0].desired.is_none());
    assert!(plan.customers[0].warnings[0].contains("self-service"));
}

#[test]
fn an_advanced_pack_needs_its_standard_item() {
    let mut f = Fixture::new(standard_items());
    f.config = config(
        json!({}),
        vec![
            json!({"sk": "SERVICE#pw_pack_adv_backup_servers", "service": 9}),
            json!({"sk": "SERVICE#pw_base_servers", "service": 2}),
            json!({"sk": "CUSTOMER#100", "tenant": TENANT}),
        ],
    );
    let f = f.units(10, 9, 2.0);
    let plan = f.plan();
    assert_eq!(
        state_of(&plan, "pw_pack_adv_backup_servers"),
        Some(ItemState::ZeroIfEnabled)
    );
    assert!(
        plan.customers[0]
            .warnings
            .iter()
            .any(|w| w.contains("pw_pack_adv_backup_servers was left off"))
    );
    let plan = f.units(10, 2, 1.0).plan();
    assert_eq!(
        state_of(&plan, "pw_pack_adv_backup_servers"),
        Some(ItemState::Hard(2))
    );
}

#[test]
fn one_storage_per_customer() {
    let f = Fixture::new(standard_items())
        .units(10, 3, 10.0)
        .units(11, 4, 10.0);
    let plan = f.plan();
    assert_eq!(plan.customers[0].outcome, Outcome::Error);
    assert!(plan.customers[0].warnings[0].contains("2 storages"));
    let mut items = standard_items();
    items[5] = item(
        "pw_base_storage",
        Some(STORAGE_A),
        true,
        Some((Some(5), Some(0))),
    );
    let plan = Fixture::new(items).units(11, 4, 10.0).plan();
    assert!(
        plan.customers[0]
            .warnings
            .iter()
            .any(|w| w.contains("one storage per customer"))
    );
    assert!(
        !plan.customers[0]
            .writes
            .iter()
            .any(|w| w.object.starts_with("pw_base_storage"))
    );
}

#[test]
fn in_sync_when_the_tenant_already_matches() {
    let items = vec![
        item("pw_base_workstations", None, true, Some((Some(5), Some(0)))),
        item("pw_base_mobiles", None, true, Some((None, None))),
        item(
            "pw_base_storage",
            Some(STORAGE_A),
            true,
            Some((Some(0), Some(0))),
        ),
    ];
    let plan = Fixture::new(items).units(10, 1, 5.0).plan();
    assert_eq!(
        plan.customers[0].outcome,
        Outcome::InSync,
        "{:?}",
        plan.customers[0].writes
    );
    assert!(plan.customers[0].desired.is_none());
}

#[test]
fn new_tenants_follow_f8_and_are_never_created_twice() {
    let mut f = Fixture::new(standard_items()).units(10, 1, 3.0);
    f.config = config(
        json!({"provisioning": {"create_accounts_based_on": "company_name", "activation_email": "ops@msp.example", "provision_as": "trial"}}),
        vec![
            json!({"sk": "SERVICE#pw_base_workstations", "service": 1}),
            json!({"sk": "CUSTOMER#100", "tenant": "new"}),
        ],
    );
    f.acronis.tenants.clear();
    f.acronis.items.insert(
        PARTNER.into(),
        standard_items()
            .into_iter()
            .map(|i| OfferingItem { status: 1, ..i })
            .collect(),
    );
    let plan = f.plan();
    let TenantTarget::Create(spec) = &plan.customers[0].desired.as_ref().expect("desired").tenant
    else {
        panic!("a tenant to create");
    };
    assert_eq!(spec.name, "Contoso");
    assert_eq!(spec.admin.login, "contoso.100");
    assert_eq!(spec.admin.email, "ops@msp.example");
    assert!(!spec.production);
    // Recorded: the recorded tenant is used, nothing is created.
    f.provisioned.push(Provisioned {
        company_id: 100,
        tenant_name: "Contoso".into(),
        origin: ProvisionOrigin::MappingNew,
        state: ProvisionState::Created,
        tenant_id: Some(TENANT.into()),
        created_at: Some(
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
                .single()
                .expect("time"),
        ),
        provision_as_trial: true,
        admin_user_id: Some("u".into()),
        admin_role_set: true,
        activation_email_sent: true,
        run_id: "r".into(),
        version: 1,
    });
    let mut trial = tenant(TENANT, "Contoso", false);
    trial.pricing_mode = Some("trial".into());
    f.acronis.tenants.insert(TENANT.into(), trial);
    let plan = f.plan();
    let desired = plan.customers[0].desired.as_ref().expect("desired");
    assert!(matches!(desired.tenant, TenantTarget::Existing { .. }));
    assert!(
        desired.switch_to_production,
        "a full month of trial has passed"
    );
}

#[test]
fn logins_from_company_names() {
    assert_eq!(
        login_from_company_name("Hilda Huffington, Inc.", 7),
        "hilda.huffington.inc.7"
    );
    assert_eq!(login_from_company_name("Ærø & Co", 8), "r.co.8");
    assert_eq!(login_from_company_name("***", 9), "customer.9");
}

#[test]
fn contract_periods_contain_the_day() {
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    assert!(period_contains(
        "2026-01-01T00:00:00",
        "2026-12-31T00:00:00",
        day
    ));
    assert!(period_contains("2026-11-25", "2026-11-25", day));
    assert!(!period_contains(
        "2026-11-26T00:00:00",
        "2026-12-31T00:00:00",
        day
    ));
    assert!(!period_contains("garbage", "2026-12-31", day));
}
