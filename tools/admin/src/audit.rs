//! `audit INTEGRATION [--since WHEN]`: every remote write recorded for the integration (G3),
//! oldest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sync_shared::plan::AuditEntry;
use sync_shared::store::Store;

use crate::AdminError;
use crate::text::{Table, change, time};

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub integration: String,
    pub since: Option<DateTime<Utc>>,
    pub entries: Vec<AuditEntry>,
}

pub async fn load(
    store: &Store,
    integration: &str,
    since: Option<DateTime<Utc>>,
) -> Result<AuditReport, AdminError> {
    let entries = store.audit(integration, since).await.map_err(|e| {
        AdminError::from_error(format!("reading the audit log of {integration}"), &e)
    })?;
    Ok(AuditReport {
        integration: integration.to_string(),
        since,
        entries,
    })
}

pub fn render(report: &AuditReport) -> String {
    let range = match &report.since {
        Some(since) => format!(" since {}", time(since)),
        None => String::new(),
    };
    if report.entries.is_empty() {
        return format!("audit of {}{range}: no writes\n", report.integration);
    }
    let failed = report.entries.iter().filter(|e| !e.succeeded()).count();
    let mut out = format!(
        "audit of {}{range}: {} writes, {failed} failed\n",
        report.integration,
        report.entries.len()
    );
    let mut table = Table::new(&[
        ("time", 20),
        ("run", 34),
        ("target", 40),
        ("action", 26),
        ("object", 36),
        ("before → after", 50),
        ("result", 60),
    ]);
    for entry in &report.entries {
        let target = if entry.target_name.is_empty() {
            entry.target.clone()
        } else {
            format!("{} ({})", entry.target_name, entry.target)
        };
        table.row([
            time(&entry.at),
            entry.run_id.clone(),
            target,
            entry.action.clone(),
            entry.object.clone(),
            change(&entry.before, &entry.after),
            entry.result.clone(),
        ]);
    }
    out.push_str(&table.render());
    out
}
