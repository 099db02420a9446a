//! What to do with each alert (pure): create a ticket (F25), note / re-open / open a new one for
//! a re-raised alert (F26, H), complete it when the alert is cleared (F27), send it to the
//! catch-all (G4), or nothing — and the ticket's text.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sync_shared::acronis::Alert;
use sync_shared::config::{AlertMapping, AutoCloseStatus, IdOrLabel, TicketSettings};

use crate::records::{TicketRecord, TicketState};

/// Autotask's ticket title is at most 255 characters.
const TITLE_MAX: usize = 255;

/// What Autotask says about a ticket the product created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketStatus {
    pub complete: bool,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The ticket fields an alert mapping (or the catch-all) gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketFields {
    pub queue: Option<IdOrLabel>,
    pub ticket_type: Option<IdOrLabel>,
    pub status: Option<IdOrLabel>,
    pub priority: Option<IdOrLabel>,
    pub issue_type: Option<IdOrLabel>,
    pub sub_issue_type: Option<IdOrLabel>,
    pub due_in_days: u32,
}

impl TicketFields {
    fn from_mapping(m: &AlertMapping) -> Self {
        TicketFields {
            queue: m.queue.clone(),
            ticket_type: m.ticket_type.clone(),
            status: m.status.clone(),
            priority: m.priority.clone(),
            issue_type: m.issue_type.clone(),
            sub_issue_type: m.sub_issue_type.clone(),
            due_in_days: m.due_in_days,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A new ticket (`occurrence` 1), a new one for a re-raise beyond the window, or finishing a
    /// create that a timeout or a crash interrupted (`resume`).
    Create {
        company_id: i64,
        fields: TicketFields,
        occurrence: u32,
        catch_all: bool,
        resume: bool,
    },
    /// Re-raised while its ticket is open: a note.
    Note {
        ticket_id: i64,
    },
    /// Re-raised within the re-open window (or with the window off): status back, and a note.
    Reopen {
        ticket_id: i64,
        status: Option<IdOrLabel>,
    },
    /// Cleared: the ticket is set to Complete with a note (F27).
    Close {
        ticket_id: i64,
    },
    /// Nothing remote; the record only follows the alert.
    Follow {
        state: TicketState,
    },
    Skip(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The alert's type is mapped and disabled.
    DisabledType,
    /// No mapping for the tenant (or the type) and no catch-all: counted, never silent (G4).
    Unmapped,
    /// Already handled at this update.
    Seen,
    /// Cleared before any ticket was made for it.
    ClearedBeforeTicket,
}

/// Everything `decide` looks at for one alert.
pub struct AlertContext<'a> {
    pub alert: &'a Alert,
    pub record: Option<&'a TicketRecord>,
    /// The mapped company of the alert's tenant.
    pub company_id: Option<i64>,
    pub mapping: Option<&'a AlertMapping>,
    pub settings: &'a TicketSettings,
    /// Autotask's view of the record's ticket, when one was read.
    pub ticket: Option<TicketStatus>,
    pub now: DateTime<Utc>,
}

/// Whether the alert is cleared (resolved by the platform or dismissed by a person): both give
/// it `deletedAt`, and the Alert Manager API has no field that tells them apart, so either
/// setting of `tickets.auto_close_on` closes on a cleared alert.
pub fn is_cleared(alert: &Alert) -> bool {
    alert.deleted_at.is_some()
}

fn auto_close(settings: &TicketSettings) -> bool {
    matches!(
        settings.auto_close_on,
        Some(AutoCloseStatus::Resolved | AutoCloseStatus::Dismissed)
    )
}

pub fn decide(cx: &AlertContext) -> Decision {
    let alert = cx.alert;
    let cleared = is_cleared(alert);
    if let Some(record) = cx.record {
        if record.state == TicketState::Creating {
            return Decision::Create {
                company_id: record.company_id,
                fields: fields_for(cx).map(|(f, _)| f).unwrap_or_default(),
                occurrence: record.occurrence,
                catch_all: false,
                resume: true,
            };
        }
        let Some(ticket_id) = record.ticket_id else {
            return Decision::Skip(Skip::Seen);
        };
        if alert.updated_ns() <= record.alert_updated_ns {
            return Decision::Skip(Skip::Seen);
        }
        if cleared {
            let complete = cx.ticket.is_some_and(|t| t.complete);
            return if record.state == TicketState::Open && auto_close(cx.settings) && !complete {
                Decision::Close { ticket_id }
            } else {
                Decision::Follow {
                    state: if complete || auto_close(cx.settings) {
                        TicketState::Closed
                    } else {
                        record.state
                    },
                }
            };
        }
        // Re-raised (or updated while active) after the record's update (F26, H).
        let ticket = cx.ticket.unwrap_or(TicketStatus {
            complete: record.state == TicketState::Closed,
            completed_at: None,
        });
        if !ticket.complete {
            return Decision::Note { ticket_id };
        }
        let within_window = match cx.settings.reopen_window_days {
            None => true,
            // A date at the end of chrono's range is "never" (no overflow on remote input).
            Some(days) => ticket.completed_at.is_none_or(|at| {
                at.checked_add_signed(Duration::days(i64::from(days)))
                    .is_none_or(|end| end >= cx.now)
            }),
        };
        if within_window {
            return Decision::Reopen {
                ticket_id,
                status: cx.mapping.and_then(|m| m.status.clone()),
            };
        }
        return match fields_for(cx) {
            Some((fields, catch_all)) => Decision::Create {
                company_id: record.company_id,
                fields,
                occurrence: record.occurrence + 1,
                catch_all,
                resume: false,
            },
            None => Decision::Skip(Skip::DisabledType),
        };
    }
    if cleared {
        return Decision::Skip(Skip::ClearedBeforeTicket);
    }
    if cx.mapping.is_some_and(|m| !m.enabled) {
        return Decision::Skip(Skip::DisabledType);
    }
    let company = cx.company_id.or(cx.settings.catch_all_company_id);
    match (company, fields_for(cx)) {
        (Some(company_id), Some((fields, catch_all))) => Decision::Create {
            company_id,
            fields,
            occurrence: 1,
            catch_all,
            resume: false,
        },
        _ => Decision::Skip(Skip::Unmapped),
    }
}

/// The mapping's fields, or the catch-all's (G4) for an unmapped tenant or type; `None` when
/// neither applies (counted as unmapped) or the type is disabled.
fn fields_for(cx: &AlertContext) -> Option<(TicketFields, bool)> {
    match (cx.company_id, cx.mapping) {
        (_, Some(m)) if !m.enabled => None,
        (Some(_), Some(m)) => Some((TicketFields::from_mapping(m), false)),
        _ => {
            let settings = cx.settings;
            let catch_all = cx.company_id.is_some() || settings.catch_all_company_id.is_some();
            let configured =
                settings.catch_all_company_id.is_some() || settings.catch_all_queue.is_some();
            (catch_all && configured).then(|| {
                (
                    TicketFields {
                        queue: settings.catch_all_queue.clone(),
                        due_in_days: sync_shared::config::DEFAULT_DUE_IN_DAYS,
                        ..TicketFields::default()
                    },
                    true,
                )
            })
        }
    }
}

/// The `externalID` of an alert's n-th ticket (H: the alert id; later tickets of a re-raised
/// alert carry `#n`).
pub fn external_id(alert_id: &str, occurrence: u32) -> String {
    if occurrence <= 1 {
        alert_id.to_string()
    } else {
        format!("{alert_id}#{occurrence}")
    }
}

/// The alert id inside an `externalID`.
pub fn alert_id_of(external_id: &str) -> &str {
    external_id.split('#').next().unwrap_or(external_id)
}

fn detail(details: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match details.get(*key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("reason")
            .or_else(|| o.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| Some(Value::Object(o.clone()).to_string())),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Title (H): the alert type, the resource and the plan.
pub fn ticket_title(alert: &Alert) -> String {
    let resource = detail(&alert.details, &["resourceName", "resource_name"]);
    let plan = detail(&alert.details, &["planName", "plan_name"]);
    let mut title = format!("Acronis: {}", alert.alert_type);
    if let Some(resource) = resource {
        title.push_str(&format!(" on {resource}"));
    }
    if let Some(plan) = plan {
        title.push_str(&format!(" (plan {plan})"));
    }
    title.chars().take(TITLE_MAX).collect()
}

/// Description (H, F25): adds the time, severity, error text, the tenant and the contract.
pub fn ticket_description(
    alert: &Alert,
    tenant_name: Option<&str>,
    contract: Option<&str>,
) -> String {
    let mut lines = vec![
        format!("Acronis alert {} ({})", alert.alert_type, alert.id),
        format!("Severity: {}", alert.severity),
        format!("Category: {}", alert.category),
        format!("Raised: {}", alert.created_at.to_rfc3339()),
        format!("Updated: {}", alert.updated_at.to_rfc3339()),
    ];
    if let Some(resource) = detail(&alert.details, &["resourceName", "resource_name"]) {
        lines.push(format!("Resource: {resource}"));
    }
    if let Some(plan) = detail(&alert.details, &["planName", "plan_name"]) {
        lines.push(format!("Plan: {plan}"));
    }
    if let Some(error) = detail(
        &alert.details,
        &["errorMessage", "error_message", "error", "description"],
    ) {
        lines.push(format!("Error: {error}"));
    }
    let tenant = alert.tenant.uuid.as_deref().unwrap_or(&alert.tenant.id);
    lines.push(match tenant_name {
        Some(name) => format!("Tenant: {name} ({tenant})"),
        None => format!("Tenant: {tenant}"),
    });
    if let Some(contract) = contract {
        lines.push(format!("Contract: {contract}"));
    }
    lines.join("\n")
}

/// The due date: the alert's time plus the mapping's days.
pub fn due_date(alert: &Alert, days: u32) -> DateTime<Utc> {
    // An alert dated at the end of chrono's range keeps its own date (no overflow).
    alert
        .created_at
        .checked_add_signed(Duration::days(i64::from(days)))
        .unwrap_or(alert.created_at)
}

#[cfg(test)]
mod tests;
