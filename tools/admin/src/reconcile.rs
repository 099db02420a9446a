//! `reconcile INTEGRATION --month YYYY-MM [--drift-only] [--json | --csv]`: the reconciliation
//! report (G2) the usage job stored for a month — per customer, Acronis usage against Autotask
//! units for every mapped item, and its status.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_shared::reconcile::{RECON_RETENTION_DAYS, ReconCustomer, ReconRow, ReconStatus};
use sync_shared::store::Store;

use crate::AdminError;
use crate::csv;
use crate::text::{Table, fields, time};

/// Rows per status, over the whole month's report (with `--drift-only` too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTotals {
    pub rows: u64,
    pub not_in_sync: u64,
    pub in_sync: u64,
    pub drift_up: u64,
    pub drift_down: u64,
    pub unmapped_tenant: u64,
    pub unmapped_item: u64,
}

impl StatusTotals {
    pub fn add(&mut self, status: ReconStatus) {
        self.rows += 1;
        if status.is_drift() {
            self.not_in_sync += 1;
        }
        *match status {
            ReconStatus::InSync => &mut self.in_sync,
            ReconStatus::DriftUp => &mut self.drift_up,
            ReconStatus::DriftDown => &mut self.drift_down,
            ReconStatus::UnmappedTenant => &mut self.unmapped_tenant,
            ReconStatus::UnmappedItem => &mut self.unmapped_item,
        } += 1;
    }

    /// `in_sync 3, drift_up 2, …`: every status, in a fixed order.
    pub fn line(&self) -> String {
        [
            (ReconStatus::InSync, self.in_sync),
            (ReconStatus::DriftUp, self.drift_up),
            (ReconStatus::DriftDown, self.drift_down),
            (ReconStatus::UnmappedTenant, self.unmapped_tenant),
            (ReconStatus::UnmappedItem, self.unmapped_item),
        ]
        .iter()
        .map(|(status, n)| format!("{} {n}", status.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconcileReport {
    pub integration: String,
    pub month: String,
    pub drift_only: bool,
    /// Over every row of the month, shown or not.
    pub totals: StatusTotals,
    /// Customers as stored, with the rows shown (with `--drift-only`, customers left without a
    /// row are left out): mapped companies by name, then tenants no company maps.
    pub customers: Vec<ReconCustomer>,
}

/// `YYYY-MM`, a month 01–12 of a four-digit year.
pub fn parse_month(text: &str) -> Result<String, String> {
    let bad = || format!("--month `{text}` is not a month as YYYY-MM (e.g. 2026-11)");
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
        return Err(bad());
    }
    let year: u32 = text[..4].parse().map_err(|_| bad())?;
    let month: u32 = text[5..].parse().map_err(|_| bad())?;
    if year == 0 || !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(text.to_string())
}

pub async fn load(
    store: &Store,
    integration: &str,
    month: &str,
    drift_only: bool,
) -> Result<ReconcileReport, AdminError> {
    let mut customers = store
        .reconciliation(integration, month)
        .await
        .map_err(|e| {
            AdminError::from_error(
                format!("reading the {month} reconciliation report of {integration}"),
                &e,
            )
        })?;
    if customers.is_empty() {
        return Err(AdminError::NotFound(format!(
            "integration `{integration}` has no reconciliation report for {month} in table {} \
             (the usage job writes it on every run; reports are kept {RECON_RETENTION_DAYS} days)",
            store.table()
        )));
    }
    Ok(build(integration, month, drift_only, &mut customers))
}

/// Sorts, totals and (with `drift_only`) filters the stored customers.
pub fn build(
    integration: &str,
    month: &str,
    drift_only: bool,
    customers: &mut Vec<ReconCustomer>,
) -> ReconcileReport {
    let mut totals = StatusTotals::default();
    for row in customers.iter().flat_map(|c| &c.rows) {
        totals.add(row.status);
    }
    customers.sort_by_cached_key(|c| {
        (
            c.company_id.is_none(),
            c.company_name.to_lowercase(),
            c.company_id,
            c.tenant_id.clone(),
        )
    });
    let mut shown = std::mem::take(customers);
    if drift_only {
        for customer in &mut shown {
            customer.rows.retain(|row| row.status.is_drift());
        }
        shown.retain(|customer| !customer.rows.is_empty());
    }
    ReconcileReport {
        integration: integration.to_string(),
        month: month.to_string(),
        drift_only,
        totals,
        customers: shown,
    }
}

/// `Contoso Ltd (29682200)`, or `Twin Peaks (no company)` for an unmapped tenant.
fn customer_label(customer: &ReconCustomer) -> String {
    let name = if customer.company_name.trim().is_empty() {
        "-"
    } else {
        customer.company_name.as_str()
    };
    match customer.company_id {
        Some(id) => format!("{name} ({id})"),
        None => format!("{name} (no company)"),
    }
}

fn or_dash(text: &str) -> String {
    if text.trim().is_empty() {
        "-".into()
    } else {
        text.to_string()
    }
}

/// Runs that wrote the customers, newest first, with how many customers each wrote.
fn runs(customers: &[ReconCustomer]) -> Vec<(String, DateTime<Utc>, usize)> {
    let mut runs: BTreeMap<&str, (DateTime<Utc>, usize)> = BTreeMap::new();
    for customer in customers {
        let entry = runs
            .entry(customer.run_id.as_str())
            .or_insert((customer.updated_at, 0));
        entry.0 = entry.0.max(customer.updated_at);
        entry.1 += 1;
    }
    let mut runs: Vec<_> = runs
        .into_iter()
        .map(|(run, (at, n))| (run.to_string(), at, n))
        .collect();
    runs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    runs
}

pub fn render(report: &ReconcileReport) -> String {
    let totals = &report.totals;
    let shown: usize = report.customers.iter().map(|c| c.rows.len()).sum();
    let mut out = format!(
        "reconciliation of {} for {}: {} rows, {} not in sync",
        report.integration, report.month, totals.rows, totals.not_in_sync
    );
    if report.drift_only {
        out.push_str(&format!(" (showing only those: {shown} rows)"));
    }
    out.push('\n');
    let runs = runs(&report.customers);
    let mut header = Vec::new();
    match runs.as_slice() {
        [] => {}
        [(run, at, _)] => {
            header.push(("run", run.clone()));
            header.push(("updated", time(at)));
        }
        several => {
            header.push((
                "runs",
                several
                    .iter()
                    .map(|(run, at, n)| format!("{run} ({n} customers, updated {})", time(at)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
    }
    out.push_str(&fields(&header));
    out.push('\n');

    if shown == 0 {
        out.push_str("every row is in sync\n");
    } else {
        let mut table = Table::new(&[
            ("", 1),
            ("customer", 48),
            ("tenant", 36),
            ("item", 72),
            ("service", 40),
            ("contract", 8),
            ("usage", 12),
            ("units", 12),
            ("status", 15),
        ]);
        for customer in &report.customers {
            for row in &customer.rows {
                table.row([
                    if row.status.is_drift() { "*" } else { "" }.to_string(),
                    customer_label(customer),
                    customer.tenant_id.clone().unwrap_or_else(|| "-".into()),
                    row.item.clone(),
                    or_dash(&row.service),
                    or_dash(&row.contract_kind),
                    row.usage.to_string(),
                    row.units.to_string(),
                    row.status.as_str().to_string(),
                ]);
            }
        }
        out.push_str(&table.render());
        out.push('\n');
    }
    out.push_str(&format!("totals: {}\n", totals.line()));
    if shown > 0 {
        out.push_str("* not in sync\n");
    }
    out
}

pub const CSV_HEADER: [&str; 10] = [
    "month",
    "company_id",
    "company_name",
    "tenant_id",
    "item",
    "service",
    "contract_kind",
    "usage",
    "units",
    "status",
];

/// A header row and one record per row shown; empty fields for no company or tenant.
pub fn render_csv(report: &ReconcileReport) -> String {
    let mut out = csv::record(CSV_HEADER);
    for customer in &report.customers {
        for row in &customer.rows {
            let ReconRow {
                item,
                service,
                contract_kind,
                usage,
                units,
                status,
            } = row;
            out.push_str(&csv::record([
                customer.month.clone(),
                customer
                    .company_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                customer.company_name.clone(),
                customer.tenant_id.clone().unwrap_or_default(),
                item.clone(),
                service.clone(),
                contract_kind.clone(),
                usage.to_string(),
                units.to_string(),
                status.as_str().to_string(),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(item: &str, usage: u64, units: u64, status: ReconStatus) -> ReconRow {
        ReconRow {
            item: item.into(),
            service: if status == ReconStatus::UnmappedItem {
                String::new()
            } else {
                format!("Service {item}")
            },
            contract_kind: "payg".into(),
            usage,
            units,
            status,
        }
    }

    fn customer(id: Option<i64>, name: &str, rows: Vec<ReconRow>) -> ReconCustomer {
        ReconCustomer {
            month: "2026-11".into(),
            company_id: id,
            company_name: name.into(),
            tenant_id: Some(format!("tenant-{name}")),
            rows,
            updated_at: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 5).unwrap(),
            run_id: "usage#2026-11-24T12:00:00Z".into(),
            expires_at: 0,
        }
    }

    fn sample() -> Vec<ReconCustomer> {
        vec![
            customer(
                None,
                "Twin Peaks",
                vec![row("a", 3, 0, ReconStatus::UnmappedTenant)],
            ),
            customer(
                Some(2),
                "zeta, \"Z\" Ltd",
                vec![
                    row("a", 5, 5, ReconStatus::InSync),
                    row("b", 7, 5, ReconStatus::DriftUp),
                ],
            ),
            customer(Some(1), "Alpha", vec![row("a", 1, 1, ReconStatus::InSync)]),
        ]
    }

    #[test]
    fn months_are_yyyy_mm() {
        assert_eq!(parse_month("2026-11").unwrap(), "2026-11");
        assert_eq!(parse_month("1999-01").unwrap(), "1999-01");
        for bad in [
            "",
            "2026",
            "2026-1",
            "2026-13",
            "2026-00",
            "26-11",
            "2026/11",
            "2026-11-01",
            "２026-11",
            "0000-05",
            " 2026-11",
            "+026-11",
        ] {
            let err = parse_month(bad).expect_err(bad);
            assert!(err.contains("YYYY-MM"), "{err}");
        }
    }

    #[test]
    fn totals_cover_every_row_and_drift_only_keeps_the_drifted() {
        let report = build("contoso", "2026-11", false, &mut sample());
        let names: Vec<&str> = report
            .customers
            .iter()
            .map(|c| c.company_name.as_str())
            .collect();
        assert_eq!(names, ["Alpha", "zeta, \"Z\" Ltd", "Twin Peaks"]);
        assert_eq!(
            report.totals,
            StatusTotals {
                rows: 4,
                not_in_sync: 2,
                in_sync: 2,
                drift_up: 1,
                unmapped_tenant: 1,
                ..StatusTotals::default()
            }
        );
        let drifted = build("contoso", "2026-11", true, &mut sample());
        assert_eq!(drifted.totals, report.totals);
        let rows: Vec<(&str, &str)> = drifted
            .customers
            .iter()
            .flat_map(|c| {
                c.rows
                    .iter()
                    .map(|r| (c.company_name.as_str(), r.item.as_str()))
            })
            .collect();
        assert_eq!(rows, [("zeta, \"Z\" Ltd", "b"), ("Twin Peaks", "a")]);
    }

    #[test]
    fn the_table_marks_drifted_rows_and_ends_with_totals() {
        let text = render(&build("contoso", "2026-11", false, &mut sample()));
        assert!(
            text.starts_with("reconciliation of contoso for 2026-11: 4 rows, 2 not in sync\n"),
            "{text}"
        );
        let line = |part: &str| {
            text.lines()
                .find(|l| l.contains(part))
                .unwrap_or_else(|| panic!("{part}: {text}"))
        };
        assert!(line("Alpha (1)").starts_with("   Alpha (1)"), "{text}");
        assert!(line("drift_up").starts_with("*  zeta"), "{text}");
        assert!(line("Twin Peaks (no company)").starts_with('*'), "{text}");
        assert!(
            text.ends_with(
                "totals: in_sync 2, drift_up 1, drift_down 0, unmapped_tenant 1, unmapped_item 0\n* not in sync\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let text = render_csv(&build("contoso", "2026-11", true, &mut sample()));
        assert_eq!(
            text,
            "month,company_id,company_name,tenant_id,item,service,contract_kind,usage,units,status\r\n\
             2026-11,2,\"zeta, \"\"Z\"\" Ltd\",\"tenant-zeta, \"\"Z\"\" Ltd\",b,Service b,payg,7,5,drift_up\r\n\
             2026-11,,Twin Peaks,tenant-Twin Peaks,a,Service a,payg,3,0,unmapped_tenant\r\n"
        );
    }
}
