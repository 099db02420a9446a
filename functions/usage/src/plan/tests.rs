//! The usage rules on small inputs.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::json;
use sync_shared::acronis::Usage;
use sync_shared::config::{ServiceMapping, UsageReporting};

use super::*;

const XYZ: &str = "00000000-0000-4000-8000-0000000000aa";
const AZ: &str = "00000000-0000-4000-8000-0000000000bb";

fn usage(name: &str, usage_name: &str, infra: Option<&str>, value: u64) -> Usage {
    Usage {
        tenant_uuid: None,
        application_id: "app".into(),
        name: name.into(),
        edition: None,
        usage_name: usage_name.into(),
        usage_type: if infra.is_some() {
            "infra".into()
        } else {
            "count".into()
        },
        infra_id: infra.map(str::to_string),
        measurement_unit: if infra.is_some() {
            "bytes".into()
        } else {
            "quantity".into()
        },
        range_start: "2026-11-01T00:00:00Z".into(),
        value,
        absolute_value: Some(value),
    }
}

fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date")
}

fn reporting(value: serde_json::Value) -> UsageReporting {
    serde_json::from_value(value).expect("reporting")
}

fn mapping(sk: &str, fields: serde_json::Value) -> ServiceMapping {
    let item = serde_dynamo::to_item(fields).expect("item");
    ServiceMapping::from_item("INTEGRATION#t", sk, item).expect("mapping")
}

#[test]
fn the_guides_sample_60_gb_total_50_billed_10_free() {
    let usages = vec![
        usage("pw_base_storage", "storage", Some(XYZ), 60 * BYTES_PER_GB),
        usage(
            "pw_base_storage_class1",
            "storage_class1",
            Some(XYZ),
            10 * BYTES_PER_GB,
        ),
        usage(
            "pw_base_storage_class2",
            "storage_class2",
            Some(XYZ),
            50 * BYTES_PER_GB,
        ),
        usage("pw_base_workstations", "workstations", None, 7),
    ];
    let q = quantities(&usages, &HashMap::new());
    let get = |k: &str| q.get(&ItemKey(k.into())).copied();
    assert_eq!(get(&format!("pw_base_storage @ {XYZ} (total)")), Some(60));
    assert_eq!(get(&format!("pw_base_storage @ {XYZ} (class1)")), Some(10));
    assert_eq!(get(&format!("pw_base_storage @ {XYZ} (class2)")), Some(50));
    assert_eq!(get("pw_base_workstations"), Some(7));
}

#[test]
fn geo_redundant_usage_adds_to_the_total_public_cloud_goes_per_vendor_and_gb_round_up() {
    let usages = vec![
        usage(
            "pw_base_storage",
            "storage",
            Some(XYZ),
            40 * BYTES_PER_GB + 1,
        ),
        usage(
            "pw_base_geo_redundant_storage",
            "geo_redundant_storage",
            Some(XYZ),
            15 * BYTES_PER_GB,
        ),
        usage(
            "pw_base_storage",
            "storage",
            Some(AZ),
            3 * BYTES_PER_GB + BYTES_PER_GB / 2,
        ),
    ];
    let types = HashMap::from([
        (AZ.to_string(), "azure".to_string()),
        (XYZ.to_string(), "acronis".to_string()),
    ]);
    let q = quantities(&usages, &types);
    assert_eq!(
        q[&ItemKey(format!("pw_base_storage @ {XYZ} (total)"))],
        56,
        "55 GB and one byte, up"
    );
    assert_eq!(q[&ItemKey(format!("pw_base_storage @ {XYZ} (geo)"))], 15);
    assert_eq!(q[&ItemKey("public cloud azure".into())], 4);
    assert!(
        !q.contains_key(&ItemKey(format!("pw_base_storage @ {AZ} (total)"))),
        "public cloud is not an Acronis storage"
    );
}

#[test]
fn f7_periods() {
    let current = period(
        &reporting(json!({"period": "current_month"})),
        day("2026-11-17"),
    );
    assert!(current.report_range && current.range_from_month.is_none());
    let previous = period(
        &reporting(json!({"period": "previous_month"})),
        day("2026-01-03"),
    );
    assert_eq!(previous.range_from_month.as_deref(), Some("2025-12"));
    let custom = reporting(json!({"period": "custom_billing_month", "billing_day": 5}));
    assert!(!period(&custom, day("2026-11-04")).report_range);
    assert!(period(&custom, day("2026-11-05")).report_range);
    let default = reporting(json!({}));
    assert!(
        period(&default, day("2026-11-01")).report_range,
        "custom billing month from day 1 by default"
    );
    assert!(!period(&default, day("2026-11-02")).report_range);
}

#[test]
fn desired_lines_sum_the_quantities_billed_on_a_service_and_follow_the_period() {
    let mappings = vec![
        mapping("SERVICE#pw_base_workstations", json!({"service": 1})),
        mapping(
            &format!("SERVICE#pw_base_storage#{XYZ}"),
            json!({"service": 2, "storage_roles": {"class2_billed": 3}}),
        ),
    ];
    let billed: Vec<(Billed, i64)> = billed_items(&mappings)
        .into_iter()
        .map(|b| {
            let id = match &b.service {
                IdOrLabel::Id(id) => *id,
                IdOrLabel::Label(_) => 0,
            };
            (b, id)
        })
        .collect();
    let quantities = BTreeMap::from([
        (ItemKey("pw_base_workstations".into()), 7),
        (ItemKey(format!("pw_base_storage @ {XYZ} (total)")), 60),
        (ItemKey(format!("pw_base_storage @ {XYZ} (class2)")), 50),
    ]);
    let lines = vec![
        CurrentLine {
            contract_service_id: 11,
            service_id: 1,
            units: 5.0,
        },
        CurrentLine {
            contract_service_id: 12,
            service_id: 2,
            units: 60.0,
        },
        CurrentLine {
            contract_service_id: 13,
            service_id: 3,
            units: 0.0,
        },
        CurrentLine {
            contract_service_id: 14,
            service_id: 99,
            units: 4.0,
        },
    ];
    let every_day = PeriodDecision {
        report_range: true,
        range_from_month: None,
        note: String::new(),
    };
    let desired = desired_lines(&lines, &billed, &quantities, &quantities, &every_day);
    let units: Vec<(i64, u64)> = desired
        .iter()
        .map(|(l, _)| (l.contract_service_id, l.units))
        .collect();
    assert_eq!(
        units,
        vec![(11, 7), (12, 60), (13, 50)],
        "unmapped line 14 left alone"
    );
    let not_today = PeriodDecision {
        report_range: false,
        ..every_day
    };
    let desired = desired_lines(&lines, &billed, &quantities, &quantities, &not_today);
    assert_eq!(desired.len(), 1, "only the count item");
}

#[test]
fn reconciliation_rows_compare_usage_with_units() {
    let mappings = vec![
        mapping("SERVICE#pw_base_workstations", json!({"service": 1})),
        mapping("SERVICE#pw_base_servers", json!({"service": 2})),
        mapping("SERVICE#pw_base_vms", json!({"service": 3})),
    ];
    let billed: Vec<(Billed, i64)> = billed_items(&mappings).into_iter().zip([1, 2, 3]).collect();
    let quantities = BTreeMap::from([
        (ItemKey("pw_base_workstations".into()), 9),
        (ItemKey("pw_base_servers".into()), 2),
        (ItemKey("pw_base_vms".into()), 1),
        (ItemKey("pw_base_mobiles".into()), 4),
    ]);
    // PAYG 5 for workstations (drift up), prepaid 10 for servers (under quota: in sync), PAYG 3
    // for vms (drift down); mobiles are not mapped.
    let units = HashMap::from([
        (1, (5.0, 0.0, true, false)),
        (2, (0.0, 10.0, false, true)),
        (3, (3.0, 0.0, true, false)),
    ]);
    let mapped: HashSet<String> = ["pw_base_workstations", "pw_base_servers", "pw_base_vms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows = recon_rows(&billed, &quantities, &units, &mapped);
    let status = |item: &str| rows.iter().find(|r| r.item == item).map(|r| r.status);
    assert_eq!(status("pw_base_workstations"), Some(ReconStatus::DriftUp));
    assert_eq!(status("pw_base_servers"), Some(ReconStatus::InSync));
    assert_eq!(status("pw_base_vms"), Some(ReconStatus::DriftDown));
    assert_eq!(status("pw_base_mobiles"), Some(ReconStatus::UnmappedItem));
    let mut over = units.clone();
    over.insert(2, (0.0, 1.0, false, true));
    let rows = recon_rows(&billed, &quantities, &over, &mapped);
    assert_eq!(
        rows.iter()
            .find(|r| r.item == "pw_base_servers")
            .map(|r| r.status),
        Some(ReconStatus::DriftUp),
        "prepaid: usage over quota is drift"
    );
}
