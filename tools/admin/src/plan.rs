//! `plan INTEGRATION [--job JOB]`: the newest stored plan of a job (G1) — its header, every
//! target's outcome and notes, and every write with its value before and after.

use serde::Serialize;
use sync_shared::Job;
use sync_shared::plan::{PlanHeader, PlannedTarget};
use sync_shared::store::Store;

use crate::AdminError;
use crate::text::{Table, change, counts, fields, time};

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub integration: String,
    pub job: Job,
    pub header: PlanHeader,
    pub targets: Vec<PlannedTarget>,
}

pub async fn load(store: &Store, integration: &str, job: Job) -> Result<PlanReport, AdminError> {
    let plan = store.latest_plan(integration, job).await.map_err(|e| {
        AdminError::from_error(format!("reading the {job} plan of {integration}"), &e)
    })?;
    let plan = plan.ok_or_else(|| {
        AdminError::NotFound(format!(
            "integration `{integration}` has no stored {job} plan in table {} (plans are kept 90 days)",
            store.table()
        ))
    })?;
    let mut targets = plan.targets;
    targets.sort_by(|a, b| (a.outcome.as_str(), &a.name).cmp(&(b.outcome.as_str(), &b.name)));
    Ok(PlanReport {
        integration: integration.to_string(),
        job,
        header: plan.header,
        targets,
    })
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

pub fn render(report: &PlanReport) -> String {
    let header = &report.header;
    let mut out = format!("{} plan of {}\n", report.job, report.integration);
    let mut rows = vec![
        ("run", header.run_id.clone()),
        ("slot", time(&header.slot)),
        ("created", time(&header.created_at)),
        (
            "dry run",
            if header.dry_run {
                "yes: nothing was applied".to_string()
            } else {
                yes_no(false)
            },
        ),
        ("targets to apply", header.targets_to_apply.to_string()),
        ("writes", header.writes.to_string()),
        ("counts", counts(&header.counts)),
    ];
    if header.counts.is_empty() {
        rows.pop();
    }
    out.push_str(&fields(&rows));
    if !header.notes.is_empty() {
        out.push_str("notes\n");
        for note in &header.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }

    out.push('\n');
    if report.targets.is_empty() {
        out.push_str("targets: none (everything was in sync)\n");
        return out;
    }
    let mut targets = Table::new(&[
        ("target", 12),
        ("name", 30),
        ("tenant", 36),
        ("outcome", 9),
        ("writes", 6),
        ("notes", 80),
    ]);
    let mut writes = Table::new(&[
        ("target", 12),
        ("name", 24),
        ("action", 26),
        ("object", 40),
        ("before → after", 60),
    ]);
    let mut noted = Vec::new();
    for target in &report.targets {
        let notes = match target.notes.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            many => format!("{} notes, see below", many.len()),
        };
        if target.notes.len() > 1 || notes.chars().count() > 80 {
            noted.push(target);
        }
        targets.row([
            target.key.clone(),
            target.name.clone(),
            target.tenant_id.clone().unwrap_or_else(|| "-".into()),
            target.outcome.clone(),
            target.writes.len().to_string(),
            notes,
        ]);
        for write in &target.writes {
            writes.row([
                target.key.clone(),
                target.name.clone(),
                write.action.clone(),
                write.object.clone(),
                change(&write.before, &write.after),
            ]);
        }
    }
    out.push_str(&format!("targets ({})\n", targets.len()));
    out.push_str(&targets.render());
    out.push('\n');
    if writes.is_empty() {
        out.push_str("writes: none\n");
    } else {
        out.push_str(&format!("writes ({})\n", writes.len()));
        out.push_str(&writes.render());
    }
    if !noted.is_empty() {
        out.push_str("\nnotes in full\n");
        for target in noted {
            out.push_str(&format!("  {} {}:\n", target.key, target.name));
            for note in &target.notes {
                out.push_str(&format!("    - {note}\n"));
            }
        }
    }
    out
}
