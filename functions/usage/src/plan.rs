//! Usage planning (pure): the period rules (F7, H), what each mapped item's usage is in its
//! service's unit (F13, F24, H), every PAYG contract line's desired units (F23), and the
//! reconciliation rows (G2).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use sync_shared::acronis::Usage;
use sync_shared::config::{
    IdOrLabel, PublicCloudVendor, ServiceMapping, ServiceSubject, ServiceTarget, UsagePeriod,
    UsageReporting,
};
use sync_shared::reconcile::{ReconRow, ReconStatus};

/// Binary GB (H).
pub const BYTES_PER_GB: u64 = 1024 * 1024 * 1024;

/// The usage names of storage by class (assumed; see local/acronis-sim/README.md).
pub mod usage_names {
    pub const STORAGE: &str = "storage";
    pub const CLASS1: &str = "storage_class1";
    pub const CLASS2: &str = "storage_class2";
    pub const GEO: &str = "geo_redundant_storage";
}

/// What this run reports (F7, H).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodDecision {
    /// Range items (storage) are reported this run.
    pub report_range: bool,
    /// Range items take the usage recorded in this month (`YYYY-MM`); `None`: the current usage.
    pub range_from_month: Option<String>,
    /// For the status: what the period rule did.
    pub note: String,
}

pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// F7: current month → every day, current usage; previous month → every day, the usage the
/// runs recorded in the month before; custom billing month → on its day only, the usage now,
/// which closes the billing month before it. Count items are reported on every run (H).
pub fn period(reporting: &UsageReporting, day: NaiveDate) -> PeriodDecision {
    match reporting.period {
        UsagePeriod::CurrentMonth => PeriodDecision {
            report_range: true,
            range_from_month: None,
            note: format!(
                "range items: current month {} (current usage)",
                month_of(day)
            ),
        },
        UsagePeriod::PreviousMonth => {
            let previous = day
                .with_day(1)
                .and_then(|first| first.checked_sub_months(Months::new(1)))
                .map(month_of)
                .unwrap_or_default();
            PeriodDecision {
                report_range: true,
                range_from_month: Some(previous.clone()),
                note: format!("range items: previous month {previous} (last usage recorded in it)"),
            }
        }
        UsagePeriod::CustomBillingMonth => {
            let billing_day = u32::from(reporting.effective_billing_day());
            if day.day() == billing_day {
                PeriodDecision {
                    report_range: true,
                    range_from_month: None,
                    note: format!(
                        "range items: the billing month ending {day} (reported once, on day {billing_day})"
                    ),
                }
            } else {
                PeriodDecision {
                    report_range: false,
                    range_from_month: None,
                    note: format!(
                        "range items: not reported today (custom billing month, reported on day {billing_day})"
                    ),
                }
            }
        }
    }
}

/// One reportable quantity: an offering item, a storage role, a public-cloud vendor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey(pub String);

/// A mapped quantity and the Autotask service that bills it.
#[derive(Debug, Clone, PartialEq)]
pub struct Billed {
    pub key: ItemKey,
    pub service: IdOrLabel,
    /// Measured over time (storage): follows the period rule.
    pub range: bool,
}

/// Everything the mappings bill, one entry per (quantity, service).
pub fn billed_items(services: &[ServiceMapping]) -> Vec<Billed> {
    let mut billed = Vec::new();
    for m in services {
        match &m.subject {
            ServiceSubject::OfferingItem { name, infra_id } => {
                let storage = infra_id.is_some();
                if let Some(ServiceTarget::Service(service)) = &m.target {
                    let key = match infra_id {
                        Some(infra) => storage_key(infra, "total"),
                        None => ItemKey(name.clone()),
                    };
                    billed.push(Billed {
                        key,
                        service: service.clone(),
                        range: storage,
                    });
                }
                if let (Some(roles), Some(infra)) = (&m.storage_roles, infra_id) {
                    for (role, service) in [
                        ("class1", &roles.class1_free),
                        ("class2", &roles.class2_billed),
                        ("geo", &roles.geo_redundancy),
                    ] {
                        if let Some(service) = service {
                            billed.push(Billed {
                                key: storage_key(infra, role),
                                service: service.clone(),
                                range: true,
                            });
                        }
                    }
                }
            }
            ServiceSubject::PublicCloud(vendor) => {
                if let Some(ServiceTarget::Service(service)) = &m.target {
                    billed.push(Billed {
                        key: ItemKey(format!("public cloud {}", vendor_name(*vendor))),
                        service: service.clone(),
                        range: true,
                    });
                }
            }
        }
    }
    billed
}

pub fn vendor_name(vendor: PublicCloudVendor) -> &'static str {
    match vendor {
        PublicCloudVendor::Azure => "azure",
        PublicCloudVendor::AmazonS3 => "amazon_s3",
        PublicCloudVendor::S3Compatible => "s3_compatible",
    }
}

fn storage_key(infra: &str, role: &str) -> ItemKey {
    ItemKey(format!("pw_base_storage @ {infra} ({role})"))
}

fn gb_up(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_GB)
}

/// A tenant's usage of every reportable quantity, in the billing unit (storage: GB, rounded
/// up; counts as they are). `backend_types`: infra id → `backend_type`.
pub fn quantities(
    usages: &[Usage],
    backend_types: &HashMap<String, String>,
) -> BTreeMap<ItemKey, u64> {
    let mut bytes: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let mut vendor_bytes: BTreeMap<String, u64> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for usage in usages {
        // The usage now: current value for counts (H) and storage alike.
        let value = usage.value;
        match (&usage.infra_id, usage.usage_name.as_str()) {
            (Some(infra), name) => {
                let public = backend_types
                    .get(infra)
                    .filter(|t| matches!(t.as_str(), "azure" | "amazon_s3" | "s3_compatible"));
                match (public, name) {
                    (Some(vendor), usage_names::STORAGE) => {
                        *vendor_bytes.entry(vendor.clone()).or_insert(0) += value;
                    }
                    (None, usage_names::STORAGE) => {
                        *bytes.entry((infra.clone(), "standard")).or_insert(0) += value
                    }
                    (None, usage_names::CLASS1) => {
                        *bytes.entry((infra.clone(), "class1")).or_insert(0) += value
                    }
                    (None, usage_names::CLASS2) => {
                        *bytes.entry((infra.clone(), "class2")).or_insert(0) += value
                    }
                    (None, usage_names::GEO) => {
                        *bytes.entry((infra.clone(), "geo")).or_insert(0) += value
                    }
                    _ => {}
                }
            }
            (None, _) if usage.measurement_unit == "bytes" => {
                counts.insert(ItemKey(usage.name.clone()), gb_up(value));
            }
            (None, _) => {
                counts.insert(ItemKey(usage.name.clone()), value);
            }
        }
    }
    let infras: HashSet<String> = bytes.keys().map(|(i, _)| i.clone()).collect();
    for infra in infras {
        let get = |role| bytes.get(&(infra.clone(), role)).copied().unwrap_or(0);
        // H / F24: the quota-and-total product gets standard + geo-redundant usage.
        counts.insert(
            storage_key(&infra, "total"),
            gb_up(get("standard") + get("geo")),
        );
        counts.insert(storage_key(&infra, "class1"), gb_up(get("class1")));
        counts.insert(storage_key(&infra, "class2"), gb_up(get("class2")));
        counts.insert(storage_key(&infra, "geo"), gb_up(get("geo")));
    }
    for (vendor, value) in vendor_bytes {
        counts.insert(ItemKey(format!("public cloud {vendor}")), gb_up(value));
    }
    counts
}

/// A PAYG contract line to bring to `units`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineUnits {
    pub contract_service_id: i64,
    pub service_id: i64,
    /// The quantities billed on it, for plans and audit items.
    pub items: String,
    pub units: u64,
}

/// The body of a usage apply message: one PAYG contract's lines that must change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractDesired {
    pub contract_id: i64,
    pub company_id: i64,
    /// Adjustments are dated the run's day (H).
    pub date: NaiveDate,
    pub lines: Vec<LineUnits>,
}

/// One contract line as Autotask has it today.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentLine {
    pub contract_service_id: i64,
    pub service_id: i64,
    pub units: f64,
}

/// The desired units of a PAYG contract's lines: for each line whose service bills mapped
/// quantities reportable this run, the sum of those quantities. Returns every reportable line
/// (changed or not) with its current units.
pub fn desired_lines(
    lines: &[CurrentLine],
    billed: &[(Billed, i64)],
    quantities: &BTreeMap<ItemKey, u64>,
    range_quantities: &BTreeMap<ItemKey, u64>,
    period: &PeriodDecision,
) -> Vec<(LineUnits, f64)> {
    let mut out = Vec::new();
    for line in lines {
        let on_line: Vec<&Billed> = billed
            .iter()
            .filter(|(_, service_id)| *service_id == line.service_id)
            .map(|(b, _)| b)
            .filter(|b| !b.range || period.report_range)
            .collect();
        if on_line.is_empty() {
            continue;
        }
        let units: u64 = on_line
            .iter()
            .map(|b| {
                let source = if b.range {
                    range_quantities
                } else {
                    quantities
                };
                source.get(&b.key).copied().unwrap_or(0)
            })
            .sum();
        let items = on_line
            .iter()
            .map(|b| b.key.0.clone())
            .collect::<Vec<_>>()
            .join(", ");
        out.push((
            LineUnits {
                contract_service_id: line.contract_service_id,
                service_id: line.service_id,
                items,
                units,
            },
            line.units,
        ));
    }
    out
}

/// Whole Autotask units of a line (they are whole numbers, H).
pub fn whole(units: f64) -> u64 {
    units.max(0.0).round() as u64
}

/// G2 rows of one mapped customer: every billed quantity against the company's units.
/// `units`: service id → (PAYG units, prepaid units, in PAYG, in prepaid).
pub fn recon_rows(
    billed: &[(Billed, i64)],
    quantities: &BTreeMap<ItemKey, u64>,
    units: &HashMap<i64, (f64, f64, bool, bool)>,
    mapped_names: &HashSet<String>,
) -> Vec<ReconRow> {
    let mut rows = Vec::new();
    for (b, service_id) in billed {
        let usage = quantities.get(&b.key).copied().unwrap_or(0);
        let (payg_units, prepaid_units, in_payg, in_prepaid) =
            units.get(service_id).copied().unwrap_or_default();
        let (kind, billed_units, status) = if in_payg {
            let u = whole(payg_units);
            let status = match usage.cmp(&u) {
                std::cmp::Ordering::Equal => ReconStatus::InSync,
                std::cmp::Ordering::Greater => ReconStatus::DriftUp,
                std::cmp::Ordering::Less => ReconStatus::DriftDown,
            };
            ("payg", u, status)
        } else if in_prepaid {
            let u = whole(prepaid_units);
            (
                "prepaid",
                u,
                if usage > u {
                    ReconStatus::DriftUp
                } else {
                    ReconStatus::InSync
                },
            )
        } else {
            (
                "",
                0,
                if usage > 0 {
                    ReconStatus::DriftUp
                } else {
                    ReconStatus::InSync
                },
            )
        };
        rows.push(ReconRow {
            item: b.key.0.clone(),
            service: b.service.to_string(),
            contract_kind: kind.into(),
            usage,
            units: billed_units,
            status,
        });
    }
    for (key, usage) in quantities {
        let name = key.0.split(" @ ").next().unwrap_or(&key.0);
        let billed_here = billed.iter().any(|(b, _)| b.key == *key);
        if *usage > 0
            && !billed_here
            && !mapped_names.contains(name)
            && !key.0.starts_with("public cloud")
        {
            rows.push(ReconRow {
                item: key.0.clone(),
                service: String::new(),
                contract_kind: String::new(),
                usage: *usage,
                units: 0,
                status: ReconStatus::UnmappedItem,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests;
