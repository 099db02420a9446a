//! `status [INTEGRATION]`: the settings' state and the status item (F5) of every integration, or
//! of one: its state and message, each job's last run, and the per-customer issues.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use sync_shared::config::{Item, SETTINGS_SK, integration_id_from_pk, integration_pk, string_attr};
use sync_shared::status::{IntegrationStatus, STATUS_SK};
use sync_shared::store::{Store, schema};

use crate::AdminError;
use crate::text::{Table, counts, fields, optional_time, time};

/// One integration as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationView {
    pub integration: String,
    /// The settings' display name.
    pub name: Option<String>,
    /// The settings' `integration_state` as written; `None` when there is no settings item.
    pub integration_state: Option<String>,
    /// The status item; `None` before the first run.
    pub status: Option<IntegrationStatus>,
    /// Why the status item could not be read, when it could not.
    pub status_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The one integration asked for, if one was.
    pub integration: Option<String>,
    pub integrations: Vec<IntegrationView>,
}

/// Every integration (one paged Scan for settings and status items) or one (two reads).
pub async fn load(store: &Store, integration: Option<&str>) -> Result<StatusReport, AdminError> {
    let integrations =
        match integration {
            Some(id) => {
                let pk = integration_pk(id);
                let settings = store.get_item(&pk, SETTINGS_SK).await.map_err(|e| {
                    AdminError::from_error(format!("reading {pk} / {SETTINGS_SK}"), &e)
                })?;
                let status = store.get_item(&pk, STATUS_SK).await.map_err(|e| {
                    AdminError::from_error(format!("reading {pk} / {STATUS_SK}"), &e)
                })?;
                if settings.is_none() && status.is_none() {
                    return Err(AdminError::NotFound(format!(
                        "integration `{id}` has neither a settings item nor a status in table {}",
                        store.table()
                    )));
                }
                let mut view = empty_view(id);
                if let Some(item) = settings {
                    read_settings(&mut view, &item);
                }
                if let Some(item) = status {
                    read_status(&mut view, item);
                }
                vec![view]
            }
            None => scan_all(store).await?,
        };
    Ok(StatusReport {
        integration: integration.map(str::to_string),
        integrations,
    })
}

async fn scan_all(store: &Store) -> Result<Vec<IntegrationView>, AdminError> {
    let mut views: BTreeMap<String, IntegrationView> = BTreeMap::new();
    let mut start = None;
    loop {
        let output = store
            .client()
            .scan()
            .table_name(store.table())
            .filter_expression("#sk IN (:settings, :status)")
            .expression_attribute_names("#sk", schema::SK)
            .expression_attribute_values(":settings", AttributeValue::S(SETTINGS_SK.into()))
            .expression_attribute_values(":status", AttributeValue::S(STATUS_SK.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AdminError::from_error(format!("scanning table {}", store.table()), &e))?;
        for item in output.items.unwrap_or_default() {
            let Some(id) = string_attr(&item, schema::PK).and_then(integration_id_from_pk) else {
                continue;
            };
            let id = id.to_string();
            let view = views.entry(id.clone()).or_insert_with(|| empty_view(&id));
            match string_attr(&item, schema::SK) {
                Some(SETTINGS_SK) => read_settings(view, &item),
                Some(STATUS_SK) => read_status(view, item),
                _ => {}
            }
        }
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok(views.into_values().collect())
}

fn empty_view(id: &str) -> IntegrationView {
    IntegrationView {
        integration: id.to_string(),
        name: None,
        integration_state: None,
        status: None,
        status_error: None,
    }
}

/// Settings are read leniently: an invalid settings item still shows its integration.
fn read_settings(view: &mut IntegrationView, item: &Item) {
    view.name = string_attr(item, "name").map(str::to_string);
    view.integration_state = Some(
        string_attr(item, schema::STATE_ATTR)
            .unwrap_or("(missing)")
            .to_string(),
    );
}

fn read_status(view: &mut IntegrationView, mut item: Item) {
    item.remove(schema::PK);
    item.remove(schema::SK);
    match serde_dynamo::from_item::<_, IntegrationStatus>(item) {
        Ok(status) => view.status = Some(status),
        Err(e) => view.status_error = Some(format!("the status item cannot be read: {e}")),
    }
}

fn health(view: &IntegrationView) -> String {
    match (&view.status, &view.status_error) {
        (Some(status), _) => serde_json::to_value(status.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        (None, Some(_)) => "unreadable".into(),
        (None, None) => "never run".into(),
    }
}

fn message(view: &IntegrationView) -> String {
    match (&view.status, &view.status_error) {
        (Some(status), _) => status.message.clone(),
        (None, Some(error)) => error.clone(),
        (None, None) => String::new(),
    }
}

fn settings_state(view: &IntegrationView) -> String {
    view.integration_state
        .clone()
        .unwrap_or_else(|| "no settings".into())
}

fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The slot part of a run id (`provisioning#2026-11-24T12:00:00Z`).
fn run_slot(run_id: &str) -> &str {
    run_id.split_once('#').map_or(run_id, |(_, slot)| slot)
}

pub fn render(report: &StatusReport) -> String {
    if report.integrations.is_empty() {
        return "no integrations (no SETTINGS or STATUS item in the table)\n".into();
    }
    let single = report.integration.is_some();
    let mut out = String::new();
    if single {
        let view = &report.integrations[0];
        let title = match &view.name {
            Some(name) => format!("{} ({name})", view.integration),
            None => view.integration.clone(),
        };
        let status = view.status.as_ref();
        out.push_str(&fields(&[
            ("integration", title),
            ("settings", settings_state(view)),
            ("state", health(view)),
            ("message", message(view)),
            ("updated", optional_time(status.map(|s| &s.updated_at))),
        ]));
    } else {
        let mut table = Table::new(&[
            ("integration", 24),
            ("settings", 11),
            ("state", 11),
            ("updated", 20),
            ("message", 90),
        ]);
        for view in &report.integrations {
            table.row([
                view.integration.clone(),
                settings_state(view),
                health(view),
                optional_time(view.status.as_ref().map(|s| &s.updated_at)),
                message(view),
            ]);
        }
        out.push_str(&table.render());
    }

    let lead = |columns: &[(&'static str, usize)]| -> Vec<(&'static str, usize)> {
        let mut all = if single {
            Vec::new()
        } else {
            vec![("integration", 24)]
        };
        all.extend_from_slice(columns);
        all
    };
    let mut jobs = Table::new(&lead(&[
        ("job", 12),
        ("last run (slot)", 20),
        ("ran at", 20),
        ("outcome", 9),
        ("failures", 8),
        ("last success", 20),
        ("counts / last error", 80),
    ]));
    let mut issues = Table::new(&lead(&[
        ("job", 12),
        ("target", 12),
        ("name", 28),
        ("kind", 8),
        ("source", 7),
        ("at", 20),
        ("message", 80),
    ]));
    for view in &report.integrations {
        let Some(status) = &view.status else { continue };
        let lead_cell = |cells: Vec<String>| -> Vec<String> {
            let mut row = if single {
                Vec::new()
            } else {
                vec![view.integration.clone()]
            };
            row.extend(cells);
            row
        };
        for (job, run) in &status.jobs {
            let detail = match &run.last_error {
                Some(error) => format!("error: {error}"),
                None => counts(&run.counts),
            };
            jobs.row(lead_cell(vec![
                job.clone(),
                run_slot(&run.last_run_id).to_string(),
                time(&run.last_run_at),
                to_text(&run.last_outcome),
                run.consecutive_failures.to_string(),
                optional_time(run.last_success_at.as_ref()),
                detail,
            ]));
        }
        let mut customer_issues: Vec<_> = status.customers.values().collect();
        customer_issues.sort_by(|a, b| (a.job, &a.target).cmp(&(b.job, &b.target)));
        for issue in customer_issues {
            issues.row(lead_cell(vec![
                issue.job.to_string(),
                issue.target.clone(),
                issue.name.clone(),
                to_text(&issue.kind),
                to_text(&issue.source),
                time(&issue.at),
                issue.message.clone(),
            ]));
        }
    }
    out.push('\n');
    if jobs.is_empty() {
        out.push_str("jobs: none has run yet\n");
    } else {
        out.push_str(&format!("jobs ({})\n", jobs.len()));
        out.push_str(&jobs.render());
    }
    out.push('\n');
    if issues.is_empty() {
        out.push_str("customer issues: none\n");
    } else {
        out.push_str(&format!("customer issues ({})\n", issues.len()));
        out.push_str(&issues.render());
    }
    out
}
