//! The three-way merge on small snapshots: the ordinary plan first, then the merge, as the
//! planner runs them.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use serde_json::json;
use sync_shared::acronis::{CYBER_PROTECTION_APP_ID, OfferingItem, Quota, Tenant};
use sync_shared::config::{IntegrationConfig, RawConfigItems};

use super::*;
use crate::plan::{CompanyInfo, ContractInfo, PlanInput, UnitsRow, plan};

const PARTNER: &str = "00000000-0000-4000-8000-000000000001";
const TENANT: &str = "00000000-0000-4000-8000-000000000002";
const ACRONIS_STORAGE: &str = "00000000-0000-4000-8000-00000000aaaa";
const AZURE_1: &str = "00000000-0000-4000-8000-00000000a201";
const AZURE_2: &str = "00000000-0000-4000-8000-00000000a202";
const AMAZON: &str = "00000000-0000-4000-8000-00000000a301";
const COMPANY: i64 = 100;
const CONTRACT: i64 = 10;
const SVC_WS: i64 = 1;
const SVC_SERVERS: i64 = 2;
const SVC_STORAGE: i64 = 3;
const SVC_AZURE: i64 = 20;
const SVC_AMAZON: i64 = 21;
const GB: u64 = 1 << 30;

fn item(name: &str, infra: Option<&str>, enabled: bool, quota: Option<u64>) -> OfferingItem {
    OfferingItem {
        application_id: CYBER_PROTECTION_APP_ID.into(),
        name: name.into(),
        edition: Some("pck_per_workload".into()),
        usage_name: if infra.is_some() {
            "storage".into()
        } else {
            name.trim_start_matches("pw_base_").into()
        },
        tenant_id: Some(TENANT.into()),
        status: i32::from(enabled),
        item_type: if infra.is_some() { "infra" } else { "count" }.into(),
        infra_id: infra.map(str::to_string),
        measurement_unit: if infra.is_some() { "bytes" } else { "quantity" }.into(),
        quota: enabled.then_some(Quota {
            value: quota,
            overage: quota.map(|_| 0),
            version: 1,
        }),
    }
}

fn config(two_way: bool) -> IntegrationConfig {
    let pk = "INTEGRATION#t";
    let settings = json!({"pk": pk, "sk": "SETTINGS", "integration_state": "enabled",
        "autotask_secret_name": "a", "acronis_secret_name": "b",
        "features": {"billing": true, "two_way_sync": two_way, "default_allocation_code": 7}});
    let to_item = |v: serde_json::Value| serde_dynamo::to_item(v).expect("item");
    let mut raw = RawConfigItems {
        settings: Some(to_item(settings)),
        ..Default::default()
    };
    for sk_service in [
        ("SERVICE#pw_base_workstations".to_string(), SVC_WS),
        ("SERVICE#pw_base_servers".to_string(), SVC_SERVERS),
        (
            format!("SERVICE#pw_base_storage#{ACRONIS_STORAGE}"),
            SVC_STORAGE,
        ),
        ("SERVICE#PUBLIC_CLOUD#azure".to_string(), SVC_AZURE),
        ("SERVICE#PUBLIC_CLOUD#amazon_s3".to_string(), SVC_AMAZON),
    ] {
        raw.services.push(to_item(
            json!({"pk": pk, "sk": sk_service.0, "service": sk_service.1}),
        ));
    }
    raw.customers.push(to_item(
        json!({"pk": pk, "sk": "CUSTOMER#100", "tenant": TENANT}),
    ));
    IntegrationConfig::from_items("t", raw).expect("valid config")
}

struct Fixture {
    config: IntegrationConfig,
    autotask: AutotaskSnapshot,
    acronis: AcronisSnapshot,
    agreed: HashMap<i64, AgreedItems>,
}

impl Fixture {
    fn new(items: Vec<OfferingItem>) -> Fixture {
        let autotask = AutotaskSnapshot {
            companies: HashMap::from([(
                COMPANY,
                CompanyInfo {
                    id: COMPANY,
                    name: "Contoso".into(),
                },
            )]),
            contracts: vec![ContractInfo {
                id: CONTRACT,
                company_id: COMPANY,
                name: "prepaid".into(),
                payg: false,
            }],
            ..AutotaskSnapshot::default()
        };
        let acronis = AcronisSnapshot {
            partner_id: PARTNER.into(),
            tenants: HashMap::from([(
                TENANT.to_string(),
                Tenant {
                    id: TENANT.into(),
                    version: 1,
                    name: "Contoso".into(),
                    kind: "customer".into(),
                    parent_id: PARTNER.into(),
                    enabled: true,
                    ancestral_access: Some(true),
                    pricing_mode: Some("production".into()),
                    mfa_status: Some("disabled".into()),
                },
            )]),
            items: HashMap::from([(TENANT.to_string(), items)]),
            infra_ids: vec![
                ACRONIS_STORAGE.into(),
                AZURE_1.into(),
                AZURE_2.into(),
                AMAZON.into(),
            ],
            infra_backends: [
                (ACRONIS_STORAGE, "acronis"),
                (AZURE_1, "azure"),
                (AZURE_2, "azure"),
                (AMAZON, "amazon_s3"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        };
        Fixture {
            config: config(true),
            autotask,
            acronis,
            agreed: HashMap::new(),
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

    fn agreed(mut self, items: &[(&str, u64, bool)]) -> Self {
        self.agreed.insert(
            COMPANY,
            items
                .iter()
                .map(|(label, units, on)| {
                    (
                        label.to_string(),
                        AgreedItem {
                            units: *units,
                            on: *on,
                        },
                    )
                })
                .collect(),
        );
        self
    }

    fn run(&self) -> (Plan, MergeOutcome) {
        let mut planned = plan(&PlanInput {
            config: &self.config,
            provisioned: &[],
            autotask: &self.autotask,
            acronis: &self.acronis,
            now: Utc
                .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
                .single()
                .expect("time"),
        });
        let outcome = merge(
            &TwoWayInput {
                config: &self.config,
                autotask: &self.autotask,
                acronis: &self.acronis,
                agreed: &self.agreed,
                day: NaiveDate::from_ymd_opt(2026, 11, 25).expect("day"),
            },
            &mut planned,
        );
        (planned, outcome)
    }
}

fn changes(plan: &Plan) -> Vec<ContractChange> {
    plan.customers[0]
        .desired
        .as_ref()
        .and_then(|d| d.two_way.as_ref())
        .map(|t| t.changes.clone())
        .unwrap_or_default()
}

fn state_of(plan: &Plan, name: &str) -> Option<ItemState> {
    plan.customers[0]
        .desired
        .as_ref()?
        .items
        .iter()
        .find(|i| i.name == name && i.infra_id.is_none())
        .map(|i| i.state)
}

fn base_items() -> Vec<OfferingItem> {
    vec![
        item("pw_base_workstations", None, true, Some(5)),
        item("pw_base_servers", None, false, None),
        item(
            "pw_base_storage",
            Some(ACRONIS_STORAGE),
            true,
            Some(100 * GB),
        ),
        item("pw_base_storage", Some(AZURE_1), false, None),
        item("pw_base_storage", Some(AZURE_2), false, None),
        item("pw_base_storage", Some(AMAZON), false, None),
    ]
}

fn in_sync_fixture(items: Vec<OfferingItem>) -> Fixture {
    Fixture::new(items)
        .units(CONTRACT, SVC_WS, 5.0)
        .units(CONTRACT, SVC_STORAGE, 100.0)
        .agreed(&[
            ("pw_base_workstations", 5, true),
            ("pw_base_servers", 0, false),
            (&format!("pw_base_storage @ {ACRONIS_STORAGE}"), 100, true),
        ])
}

#[test]
fn first_run_records_the_baseline_and_writes_nothing_to_autotask() {
    let mut fixture = in_sync_fixture(base_items());
    fixture.agreed.clear();
    let (plan, outcome) = fixture.run();
    assert_eq!(plan.customers[0].outcome, Outcome::InSync, "{plan:?}");
    assert_eq!(outcome.remember.len(), 1);
    let (company, agreed) = &outcome.remember[0];
    assert_eq!(*company, COMPANY);
    assert_eq!(
        agreed["pw_base_workstations"],
        AgreedItem { units: 5, on: true }
    );
    assert_eq!(
        agreed["pw_base_servers"],
        AgreedItem {
            units: 0,
            on: false
        }
    );
}

#[test]
fn steady_state_changes_nothing_and_remembers_nothing() {
    let (plan, outcome) = in_sync_fixture(base_items()).run();
    assert_eq!(plan.customers[0].outcome, Outcome::InSync, "{plan:?}");
    assert!(plan.customers[0].writes.is_empty());
    assert_eq!(outcome, MergeOutcome::default());
}

#[test]
fn an_item_turned_on_in_acronis_adds_its_service_with_the_quota_as_units() {
    let mut items = base_items();
    items[1] = item("pw_base_servers", None, true, Some(3));
    let (plan, outcome) = in_sync_fixture(items).run();
    assert_eq!(outcome.added, 1);
    assert_eq!(
        changes(&plan),
        vec![ContractChange::Create {
            contract_id: CONTRACT,
            service_id: SVC_SERVERS,
            units: 3,
            object: format!("service {SVC_SERVERS} (pw_base_servers) on contract {CONTRACT}"),
        }]
    );
    // The item keeps its quota (as a hard quota), not the 0 of an uncontracted item.
    assert_eq!(state_of(&plan, "pw_base_servers"), Some(ItemState::Hard(3)));
    let two_way = plan.customers[0]
        .desired
        .as_ref()
        .and_then(|d| d.two_way.clone());
    assert_eq!(
        two_way.map(|t| t.agreed["pw_base_servers"]),
        Some(AgreedItem { units: 3, on: true })
    );
    assert!(
        plan.customers[0]
            .writes
            .iter()
            .any(|w| w.action == ADD_ACTION && w.after == "3 units")
    );
}

#[test]
fn unlimited_gives_one_unit_and_a_line_at_zero_is_restored_not_created() {
    let mut items = base_items();
    items[1] = item("pw_base_servers", None, true, None);
    let (plan, _) = in_sync_fixture(items)
        .units(CONTRACT, SVC_SERVERS, 0.0)
        .run();
    assert_eq!(
        changes(&plan),
        vec![ContractChange::Restore {
            contract_id: CONTRACT,
            line_id: CONTRACT * 1000 + SVC_SERVERS,
            service_id: SVC_SERVERS,
            units: 1,
            object: format!("service {SVC_SERVERS} (pw_base_servers) on contract {CONTRACT}"),
        }]
    );
}

#[test]
fn an_item_turned_off_in_acronis_adjusts_its_lines_to_zero_and_stays_off() {
    let mut items = base_items();
    items[0] = item("pw_base_workstations", None, false, None);
    let (plan, outcome) = in_sync_fixture(items).run();
    assert_eq!(outcome.removed, 1);
    assert_eq!(
        changes(&plan),
        vec![ContractChange::Remove {
            contract_id: CONTRACT,
            line_id: CONTRACT * 1000 + SVC_WS,
            service_id: SVC_WS,
            units_before: 5,
            object: format!("service {SVC_WS} (pw_base_workstations) on contract {CONTRACT}"),
        }]
    );
    // Not re-enabled with the contract's 5.
    assert_eq!(
        state_of(&plan, "pw_base_workstations"),
        Some(ItemState::ZeroIfEnabled)
    );
    assert!(
        !plan.customers[0]
            .writes
            .iter()
            .any(|w| w.action == "set offering item")
    );
}

#[test]
fn a_removed_line_at_zero_keeps_its_disabled_item_disabled() {
    let mut items = base_items();
    items[0] = item("pw_base_workstations", None, false, None);
    let mut fixture = Fixture::new(items)
        .units(CONTRACT, SVC_WS, 0.0)
        .units(CONTRACT, SVC_STORAGE, 100.0)
        .agreed(&[
            ("pw_base_workstations", 0, false),
            ("pw_base_servers", 0, false),
            (&format!("pw_base_storage @ {ACRONIS_STORAGE}"), 100, true),
        ]);
    let (plan, outcome) = fixture.run();
    assert_eq!(plan.customers[0].outcome, Outcome::InSync, "{plan:?}");
    assert_eq!(outcome, MergeOutcome::default());
    // Without two-way sync the ordinary rule stands: enabled at the contract's 0.
    fixture.config = config(false);
    let (plan, _) = fixture.run();
    assert_eq!(
        state_of(&plan, "pw_base_workstations"),
        Some(ItemState::Hard(0))
    );
}

#[test]
fn autotask_changes_still_flow_to_acronis() {
    let (plan, outcome) = in_sync_fixture(base_items())
        .units(CONTRACT, SVC_SERVERS, 4.0)
        .run();
    assert_eq!(outcome, MergeOutcome::default());
    assert!(changes(&plan).is_empty());
    assert_eq!(state_of(&plan, "pw_base_servers"), Some(ItemState::Hard(4)));
    let two_way = plan.customers[0]
        .desired
        .as_ref()
        .and_then(|d| d.two_way.clone());
    assert_eq!(
        two_way.map(|t| t.agreed["pw_base_servers"]),
        Some(AgreedItem { units: 4, on: true })
    );
}

#[test]
fn a_conflict_is_resolved_for_autotask_and_named() {
    // Autotask raised workstations to 8 while Acronis turned them off.
    let mut items = base_items();
    items[0] = item("pw_base_workstations", None, false, None);
    let mut fixture = in_sync_fixture(items);
    fixture.autotask.service_units[0].units = 8.0;
    let (plan, outcome) = fixture.run();
    assert_eq!(outcome.conflicts, 1);
    assert!(changes(&plan).is_empty());
    assert_eq!(
        state_of(&plan, "pw_base_workstations"),
        Some(ItemState::Hard(8))
    );
    let warning = plan.customers[0].warnings.join("; ");
    assert!(
        warning.contains("conflict on pw_base_workstations") && warning.contains("Autotask wins"),
        "{warning}"
    );
}

#[test]
fn both_sides_making_the_same_change_is_no_conflict() {
    let mut items = base_items();
    items[0] = item("pw_base_workstations", None, false, None);
    let mut fixture = in_sync_fixture(items);
    fixture.autotask.service_units[0].units = 0.0;
    let (plan, outcome) = fixture.run();
    assert_eq!(
        (outcome.added, outcome.removed, outcome.conflicts),
        (0, 0, 0)
    );
    assert_eq!(plan.customers[0].outcome, Outcome::InSync, "{plan:?}");
    // Both sides agree again: the planner records it.
    assert_eq!(
        outcome.remember[0].1["pw_base_workstations"],
        AgreedItem {
            units: 0,
            on: false
        }
    );
}

#[test]
fn no_single_prepaid_contract_is_a_warning_and_nothing_is_added() {
    let mut items = base_items();
    items[1] = item("pw_base_servers", None, true, None);
    let mut fixture = in_sync_fixture(items);
    fixture.autotask.contracts.push(ContractInfo {
        id: 11,
        company_id: COMPANY,
        name: "second".into(),
        payg: false,
    });
    let fixture = fixture.units(11, SVC_WS, 1.0);
    let (plan, outcome) = fixture.run();
    assert_eq!(outcome.added, 0);
    assert!(changes(&plan).is_empty());
    let warning = plan.customers[0].warnings.join("; ");
    assert!(warning.contains("2 active prepaid contracts"), "{warning}");
    // The item is left as the person set it, and the old agreed state is kept.
    assert_eq!(state_of(&plan, "pw_base_servers"), None);
}

#[test]
fn public_cloud_follows_acronis_one_product_per_vendor() {
    let mut items = base_items();
    items[3] = item("pw_base_storage", Some(AZURE_1), true, None);
    items[4] = item("pw_base_storage", Some(AZURE_2), true, None);
    let (plan, outcome) = in_sync_fixture(items.clone())
        .units(CONTRACT, SVC_AMAZON, 1.0)
        .run();
    assert_eq!((outcome.added, outcome.removed), (1, 1));
    let changes = changes(&plan);
    assert!(changes.contains(&ContractChange::Create {
        contract_id: CONTRACT,
        service_id: SVC_AZURE,
        units: 1,
        object: format!(
            "service {SVC_AZURE} (public cloud Microsoft Azure) on contract {CONTRACT}"
        ),
    }));
    assert!(changes.iter().any(|c| matches!(
        c,
        ContractChange::Remove {
            service_id: SVC_AMAZON,
            ..
        }
    )));
    // The public cloud storages themselves are never written; nor is the Acronis storage.
    assert!(
        !plan.customers[0]
            .writes
            .iter()
            .any(|w| w.action == "set offering item"),
        "{:?}",
        plan.customers[0].writes
    );
    // Present and enabled: nothing to do.
    let (plan, outcome) = in_sync_fixture(items).units(CONTRACT, SVC_AZURE, 1.0).run();
    assert_eq!(outcome, MergeOutcome::default());
    assert_eq!(plan.customers[0].outcome, Outcome::InSync);
}

#[test]
fn two_way_off_changes_nothing() {
    let mut items = base_items();
    items[1] = item("pw_base_servers", None, true, None);
    let mut fixture = in_sync_fixture(items);
    fixture.config = config(false);
    let (plan, outcome) = fixture.run();
    assert_eq!(outcome, MergeOutcome::default());
    assert!(changes(&plan).is_empty());
    assert_eq!(
        state_of(&plan, "pw_base_servers"),
        Some(ItemState::ZeroIfEnabled)
    );
}

#[test]
fn units_for_converts_storage_to_whole_gb() {
    assert_eq!(
        units_for(&item(
            "pw_base_storage",
            Some(ACRONIS_STORAGE),
            true,
            Some(GB + 1)
        )),
        2
    );
    assert_eq!(units_for(&item("pw_base_servers", None, true, None)), 1);
    assert_eq!(units_for(&item("pw_base_servers", None, true, Some(0))), 1);
}
