//! The writes of the tickets job, each audited (G3): create a ticket (record first, F26), add a
//! note, re-open, complete; and G7's dismissal of alerts whose tickets were completed.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use sync_shared::Job;
use sync_shared::acronis::{AcronisClient, Alert};
use sync_shared::autotask::{
    AutotaskClient, AutotaskError, Contract, ContractService, Filter, Paging, PicklistValue, Query,
    Service, Ticket, TicketNote,
};
use sync_shared::config::{IdOrLabel, IntegrationConfig, ServiceSubject, ServiceTarget};
use sync_shared::plan::{AuditEntry, PlannedWrite};
use tokio::sync::OnceCell;

use crate::plan::{self, Decision, TicketFields, TicketStatus};
use crate::records::{self, TicketRecord, TicketState};
use crate::{TicketsContext, TicketsError};

/// A `creating` record is left alone this long by other runs (the function's timeout).
const CREATE_LEASE_MS: i64 = 60_000;
/// Picklists change rarely; a warm container keeps them this long, so a quiet cycle makes no
/// metadata call.
const PICKLIST_TTL: StdDuration = StdDuration::from_secs(3600);

type PicklistKey = (String, String, String);
type PicklistCache = HashMap<PicklistKey, (Instant, Vec<PicklistValue>)>;
static PICKLISTS: LazyLock<Mutex<PicklistCache>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The picklist of `entity.field` of this Autotask database, from the process cache.
async fn picklist(
    client: &AutotaskClient,
    entity: &str,
    field: &str,
) -> Result<Vec<PicklistValue>, AutotaskError> {
    let key = (
        client.zone_url(),
        entity.to_ascii_lowercase(),
        field.to_ascii_lowercase(),
    );
    if let Ok(cache) = PICKLISTS.lock()
        && let Some((at, values)) = cache.get(&key)
        && at.elapsed() < PICKLIST_TTL
    {
        return Ok(values.clone());
    }
    let values = client.picklist(entity, field).await?;
    if let Ok(mut cache) = PICKLISTS.lock() {
        cache.insert(key, (Instant::now(), values.clone()));
    }
    Ok(values)
}

/// A picklist value by id (taken as given) or by label (case-insensitive, active values).
pub async fn picklist_id(
    client: &AutotaskClient,
    entity: &str,
    field: &str,
    value: &IdOrLabel,
) -> Result<i64, AutotaskError> {
    match value {
        IdOrLabel::Id(id) => Ok(*id),
        IdOrLabel::Label(label) => {
            let values = picklist(client, entity, field).await?;
            values
                .iter()
                .filter(|v| v.is_active)
                .find(|v| v.label.trim().eq_ignore_ascii_case(label.trim()))
                .and_then(|v| v.value.parse().ok())
                .ok_or_else(|| AutotaskError::UnknownLabel {
                    what: format!("{entity} {field}"),
                    label: label.clone(),
                    known: values
                        .iter()
                        .filter(|v| v.is_active)
                        .map(|v| v.label.clone())
                        .collect(),
                })
        }
    }
}

async fn optional_id(
    client: &AutotaskClient,
    field: &str,
    value: &Option<IdOrLabel>,
) -> Result<Option<i64>, AutotaskError> {
    match value {
        Some(v) => picklist_id(client, "Tickets", field, v).await.map(Some),
        None => Ok(None),
    }
}

/// Autotask's status of these tickets, one query per 500.
pub async fn ticket_statuses(
    client: &AutotaskClient,
    ids: &[i64],
) -> Result<HashMap<i64, TicketStatus>, TicketsError> {
    let mut statuses = HashMap::new();
    if ids.is_empty() {
        return Ok(statuses);
    }
    let complete = picklist_id(
        client,
        "Tickets",
        "status",
        &IdOrLabel::Label("Complete".into()),
    )
    .await?;
    for chunk in ids.chunks(500) {
        let tickets: Vec<Ticket> = client
            .query_all(
                &Query::new(Filter::is_in("id", chunk.iter().copied()))
                    .fields(&["status", "completedDate"]),
                Paging::NextPageUrl,
            )
            .await?;
        for t in tickets {
            if let Some(id) = t.id {
                statuses.insert(
                    id,
                    TicketStatus {
                        complete: t.status == Some(complete),
                        completed_at: t.completed_date.as_deref().and_then(parse_time),
                    },
                );
            }
        }
    }
    Ok(statuses)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(
                text.trim_end_matches('Z'),
                "%Y-%m-%dT%H:%M:%S%.f",
            )
            .ok()
            .map(|t| t.and_utc())
        })
}

pub struct Applier<'a> {
    ctx: &'a TicketsContext,
    message: &'a sync_shared::JobMessage,
    config: &'a IntegrationConfig,
    autotask: &'a AutotaskClient,
    /// company → (contract id, name) of its active contract with mapped services (F25).
    contracts: OnceCell<HashMap<i64, (i64, String)>>,
}

impl<'a> Applier<'a> {
    pub fn new(
        ctx: &'a TicketsContext,
        message: &'a sync_shared::JobMessage,
        config: &'a IntegrationConfig,
        autotask: &'a AutotaskClient,
    ) -> Self {
        Applier {
            ctx,
            message,
            config,
            autotask,
            contracts: OnceCell::new(),
        }
    }

    fn integration_id(&self) -> &str {
        &self.message.integration_id
    }

    /// Carries out one decision; returns the counters to add.
    pub async fn apply(
        &self,
        alert: &Alert,
        decision: Decision,
        record: Option<TicketRecord>,
        _company: Option<i64>,
    ) -> Result<Vec<&'static str>, TicketsError> {
        match decision {
            Decision::Create {
                company_id,
                fields,
                occurrence,
                catch_all,
                resume,
            } => {
                self.create(
                    alert, record, company_id, &fields, occurrence, catch_all, resume,
                )
                .await
            }
            Decision::Note { ticket_id } => {
                self.note(alert, ticket_id, "re-raised").await?;
                self.follow(alert, record, TicketState::Open).await?;
                Ok(vec!["notes_added"])
            }
            Decision::Reopen { ticket_id, status } => {
                let status = status.unwrap_or(IdOrLabel::Label("New".into()));
                let status_id = picklist_id(self.autotask, "Tickets", "status", &status).await?;
                self.set_status(
                    alert,
                    ticket_id,
                    status_id,
                    ("re-open ticket", "complete", &status.to_string()),
                )
                .await?;
                self.note(alert, ticket_id, "re-raised; the ticket was re-opened")
                    .await?;
                self.follow(alert, record, TicketState::Open).await?;
                Ok(vec!["tickets_reopened", "notes_added"])
            }
            Decision::Close { ticket_id } => {
                let complete = picklist_id(
                    self.autotask,
                    "Tickets",
                    "status",
                    &IdOrLabel::Label("Complete".into()),
                )
                .await?;
                self.note(
                    alert,
                    ticket_id,
                    "cleared in Acronis; the ticket is completed",
                )
                .await?;
                self.set_status(
                    alert,
                    ticket_id,
                    complete,
                    ("complete ticket", "open", "Complete"),
                )
                .await?;
                self.follow(alert, record, TicketState::Closed).await?;
                Ok(vec!["tickets_completed"])
            }
            Decision::Follow { state } => {
                self.follow(alert, record, state).await?;
                Ok(Vec::new())
            }
            Decision::Skip(_) => Ok(Vec::new()),
        }
    }

    /// Sets the ticket's status (audited as `action`, `before` → `after`).
    async fn set_status(
        &self,
        alert: &Alert,
        ticket_id: i64,
        status: i64,
        (action, before, after): (&str, &str, &str),
    ) -> Result<(), TicketsError> {
        let result = self
            .autotask
            .patch(&Ticket {
                id: Some(ticket_id),
                status: Some(status),
                ..Ticket::default()
            })
            .await;
        self.audit(
            alert,
            action,
            &ticket_id.to_string(),
            before,
            after,
            &result,
        )
        .await?;
        result?;
        Ok(())
    }

    /// The record takes the alert's update (and state) without a remote write.
    async fn follow(
        &self,
        alert: &Alert,
        record: Option<TicketRecord>,
        state: TicketState,
    ) -> Result<(), TicketsError> {
        let Some(mut record) = record else {
            return Ok(());
        };
        record.state = state;
        record.alert_updated_ns = alert.updated_ns();
        record.updated_at = Utc::now();
        record.run_id = self.message.run_id();
        // A concurrent run wrote a newer state: it wins.
        records::save_record(&self.ctx.worker.store, self.integration_id(), &mut record).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        alert: &Alert,
        record: Option<TicketRecord>,
        company_id: i64,
        fields: &TicketFields,
        occurrence: u32,
        catch_all: bool,
        resume: bool,
    ) -> Result<Vec<&'static str>, TicketsError> {
        let store = &self.ctx.worker.store;
        let now_ms = Utc::now().timestamp_millis();
        let external_id = plan::external_id(&alert.id, occurrence);
        // The record comes first (F26): a second run, or a retry, finds it.
        let mut record = match record {
            Some(mut record) if resume => {
                if record.lease_until_ms > now_ms && record.run_id != self.message.run_id() {
                    return Ok(vec!["alerts_held_by_another_run"]);
                }
                record.lease_until_ms = now_ms + CREATE_LEASE_MS;
                record.run_id = self.message.run_id();
                if !records::save_record(store, self.integration_id(), &mut record).await? {
                    return Ok(vec!["alerts_held_by_another_run"]);
                }
                // A timeout or a crash may have left the ticket created: find it first.
                if let Some(ticket_id) = self.find_ticket(&record.external_id).await? {
                    record.ticket_id = Some(ticket_id);
                    record.state = TicketState::Open;
                    record.lease_until_ms = 0;
                    record.alert_updated_ns = alert.updated_ns();
                    records::save_record(store, self.integration_id(), &mut record).await?;
                    return Ok(vec!["tickets_found_after_interruption"]);
                }
                record
            }
            previous => {
                let mut record = TicketRecord {
                    alert_id: alert.id.clone(),
                    external_id: external_id.clone(),
                    occurrence,
                    state: TicketState::Creating,
                    ticket_id: None,
                    company_id,
                    alert_updated_ns: alert.updated_ns(),
                    lease_until_ms: now_ms + CREATE_LEASE_MS,
                    run_id: self.message.run_id(),
                    updated_at: Utc::now(),
                    version: previous.as_ref().map_or(0, |p| p.version),
                };
                if !records::save_record(store, self.integration_id(), &mut record).await? {
                    // Another run (an overlapping one, a duplicate delivery) has it.
                    return Ok(vec!["alerts_held_by_another_run"]);
                }
                record
            }
        };
        let ticket = self
            .ticket_body(alert, company_id, fields, &record.external_id)
            .await?;
        let result = self.autotask.create(&ticket).await;
        self.audit(
            alert,
            "create ticket",
            &format!("company {company_id}"),
            "no ticket",
            &format!("externalID {}", record.external_id),
            &result,
        )
        .await?;
        let ticket_id = match result {
            Ok(id) => id,
            Err(e) => {
                // Released at once: the next cycle looks the ticket up before creating it.
                record.lease_until_ms = 0;
                let _ = records::save_record(store, self.integration_id(), &mut record).await;
                return Err(e.into());
            }
        };
        record.ticket_id = Some(ticket_id);
        record.state = TicketState::Open;
        record.lease_until_ms = 0;
        record.updated_at = Utc::now();
        records::save_record(store, self.integration_id(), &mut record).await?;
        Ok(if catch_all {
            vec!["tickets_created", "tickets_catch_all"]
        } else {
            vec!["tickets_created"]
        })
    }

    async fn find_ticket(&self, external_id: &str) -> Result<Option<i64>, TicketsError> {
        let found: Vec<Ticket> = self
            .autotask
            .query_all(
                &Query::new(Filter::eq("externalID", external_id)).fields(&["externalID"]),
                Paging::NextPageUrl,
            )
            .await?;
        Ok(found.iter().filter_map(|t| t.id).min())
    }

    async fn ticket_body(
        &self,
        alert: &Alert,
        company_id: i64,
        fields: &TicketFields,
        external_id: &str,
    ) -> Result<Ticket, TicketsError> {
        let client = self.autotask;
        let settings = &self.config.settings;
        let status = fields
            .status
            .clone()
            .unwrap_or(IdOrLabel::Label("New".into()));
        let priority = fields
            .priority
            .clone()
            .unwrap_or(IdOrLabel::Label("Medium".into()));
        let contract = if settings.features.billing {
            self.contracts().await?.get(&company_id).cloned()
        } else {
            None
        };
        Ok(Ticket {
            company_id: Some(company_id),
            title: Some(plan::ticket_title(alert)),
            description: Some(plan::ticket_description(
                alert,
                None,
                contract.as_ref().map(|(_, name)| name.as_str()),
            )),
            status: Some(picklist_id(client, "Tickets", "status", &status).await?),
            priority: Some(picklist_id(client, "Tickets", "priority", &priority).await?),
            queue_id: optional_id(client, "queueID", &fields.queue).await?,
            ticket_type: optional_id(client, "ticketType", &fields.ticket_type).await?,
            issue_type: optional_id(client, "issueType", &fields.issue_type).await?,
            sub_issue_type: optional_id(client, "subIssueType", &fields.sub_issue_type).await?,
            source: optional_id(client, "source", &settings.tickets.source).await?,
            due_date_time: Some(
                plan::due_date(alert, fields.due_in_days)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            ),
            external_id: Some(external_id.to_string()),
            contract_id: contract.map(|(id, _)| id),
            ..Ticket::default()
        })
    }

    /// Each company's active Recurring Service contract holding mapped services, read once per
    /// run and only when a ticket is created.
    async fn contracts(&self) -> Result<&HashMap<i64, (i64, String)>, TicketsError> {
        self.contracts
            .get_or_try_init(|| async {
                let client = self.autotask;
                let mut service_ids: Vec<i64> = Vec::new();
                let mut names: Vec<String> = Vec::new();
                for m in &self.config.services {
                    if !matches!(m.subject, ServiceSubject::OfferingItem { .. }) {
                        continue;
                    }
                    match &m.target {
                        Some(ServiceTarget::Service(IdOrLabel::Id(id))) => service_ids.push(*id),
                        Some(ServiceTarget::Service(IdOrLabel::Label(name))) => {
                            names.push(name.to_lowercase())
                        }
                        _ => {}
                    }
                }
                if !names.is_empty() {
                    let services: Vec<Service> = client
                        .query_all(&Query::all().fields(&["name"]), Paging::NextPageUrl)
                        .await?;
                    service_ids.extend(services.into_iter().filter_map(|s| {
                        names
                            .contains(&s.name?.trim().to_lowercase())
                            .then_some(s.id?)
                    }));
                }
                let mut by_company = HashMap::new();
                if service_ids.is_empty() {
                    return Ok(by_company);
                }
                let recurring = picklist_id(
                    client,
                    "Contracts",
                    "contractType",
                    &IdOrLabel::Label("Recurring Service".into()),
                )
                .await?;
                let active = picklist_id(
                    client,
                    "Contracts",
                    "status",
                    &IdOrLabel::Label("Active".into()),
                )
                .await?;
                let contracts: Vec<Contract> = client
                    .query_all(
                        &Query::new(Filter::eq("contractType", recurring))
                            .filter(Filter::eq("status", active))
                            .fields(&["companyID", "contractName"]),
                        Paging::NextPageUrl,
                    )
                    .await?;
                let names: HashMap<i64, (i64, String)> = contracts
                    .iter()
                    .filter_map(|c| {
                        Some((
                            c.id?,
                            (c.company_id?, c.contract_name.clone().unwrap_or_default()),
                        ))
                    })
                    .collect();
                let lines: Vec<ContractService> = client
                    .query_all(
                        &Query::new(Filter::is_in("serviceID", service_ids.iter().copied()))
                            .fields(&["contractID"]),
                        Paging::NextPageUrl,
                    )
                    .await?;
                for line in lines {
                    if let Some((company, name)) = line
                        .contract_id
                        .and_then(|id| names.get(&id).map(|n| (id, n)))
                        .map(|(id, (company, name))| (*company, (id, name.clone())))
                    {
                        by_company.entry(company).or_insert(name);
                    }
                }
                Ok::<_, TicketsError>(by_company)
            })
            .await
    }

    async fn note(&self, alert: &Alert, ticket_id: i64, what: &str) -> Result<(), TicketsError> {
        let settings = &self.config.settings.tickets;
        let note_type = match &settings.note_type {
            Some(v) => picklist_id(self.autotask, "TicketNotes", "noteType", v).await?,
            None => first_active(self.autotask, "noteType", None).await?,
        };
        let publish = match &settings.note_publish {
            Some(v) => picklist_id(self.autotask, "TicketNotes", "publish", v).await?,
            None => first_active(self.autotask, "publish", Some("Internal Only")).await?,
        };
        let note = TicketNote {
            ticket_id: Some(ticket_id),
            title: Some(format!("Acronis alert {}: {what}", alert.alert_type)),
            description: Some(format!(
                "The Acronis alert {} ({}) was {what} at {}.\n\n{}",
                alert.alert_type,
                alert.id,
                alert.updated_at.to_rfc3339(),
                plan::ticket_description(alert, None, None)
            )),
            note_type: Some(note_type),
            publish: Some(publish),
            ..TicketNote::default()
        };
        let result = self
            .autotask
            .create_child("Tickets", ticket_id, "Notes", &note)
            .await;
        self.audit(
            alert,
            "add note",
            &format!("ticket {ticket_id}"),
            "",
            what,
            &result,
        )
        .await?;
        result?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit<T>(
        &self,
        alert: &Alert,
        action: &str,
        object: &str,
        before: &str,
        after: &str,
        result: &Result<T, AutotaskError>,
    ) -> Result<(), TicketsError> {
        let entry = AuditEntry::of(
            Job::Tickets,
            self.message.run_id(),
            (&alert.id, &alert.alert_type),
            PlannedWrite {
                action: action.into(),
                object: object.into(),
                before: before.into(),
                after: after.into(),
            },
            result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        self.ctx
            .worker
            .store
            .put_audit(self.integration_id(), &entry)
            .await?;
        Ok(())
    }

    /// G7: tickets the product created that were completed since `since` dismiss their alerts.
    /// One paged query per cycle.
    pub async fn dismiss_completed(
        &self,
        acronis: &AcronisClient,
        since: DateTime<Utc>,
    ) -> Result<u64, TicketsError> {
        let client = self.autotask;
        let complete = picklist_id(
            client,
            "Tickets",
            "status",
            &IdOrLabel::Label("Complete".into()),
        )
        .await?;
        let mut query = Query::new(Filter::eq("status", complete))
            .filter(Filter::gt(
                "lastActivityDate",
                since.format("%Y-%m-%dT%H:%M:%S").to_string(),
            ))
            .fields(&["externalID", "status"]);
        query = match &self.config.settings.tickets.source {
            Some(source) => query.filter(Filter::eq(
                "source",
                picklist_id(client, "Tickets", "source", source).await?,
            )),
            None => query.filter(Filter::exists("externalID")),
        };
        let tickets: Vec<Ticket> = client.query_all(&query, Paging::NextPageUrl).await?;
        let mut dismissed = 0;
        for ticket in tickets {
            let (Some(ticket_id), Some(external)) = (ticket.id, ticket.external_id.as_deref())
            else {
                continue;
            };
            let alert_id = plan::alert_id_of(external).to_string();
            let mut found = records::load_records(
                &self.ctx.worker.store,
                self.integration_id(),
                std::slice::from_ref(&alert_id),
            )
            .await?;
            let Some(mut record) = found.remove(&alert_id) else {
                continue; // not a ticket of this integration
            };
            if record.ticket_id != Some(ticket_id) || record.state != TicketState::Open {
                continue;
            }
            // Dismissed already (by a person, or the platform cleared it): nothing to undo.
            let result = match acronis.dismiss_alert(&alert_id).await {
                Err(e) if e.http_status() == Some(404) => Ok(()),
                other => other,
            };
            let entry = AuditEntry::of(
                Job::Tickets,
                self.message.run_id(),
                (&alert_id, &format!("ticket {ticket_id}")),
                PlannedWrite {
                    action: "dismiss alert".into(),
                    object: format!("alert {alert_id}"),
                    before: "active".into(),
                    after: "dismissed (its ticket was completed in Autotask)".into(),
                },
                result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            );
            self.ctx
                .worker
                .store
                .put_audit(self.integration_id(), &entry)
                .await?;
            result?;
            record.state = TicketState::Closed;
            record.updated_at = entry.at;
            records::save_record(&self.ctx.worker.store, self.integration_id(), &mut record)
                .await?;
            dismissed += 1;
        }
        Ok(dismissed)
    }
}

async fn first_active(
    client: &AutotaskClient,
    field: &str,
    preferred: Option<&str>,
) -> Result<i64, TicketsError> {
    let values = picklist(client, "TicketNotes", field).await?;
    let active: Vec<&PicklistValue> = values.iter().filter(|v| v.is_active).collect();
    let chosen = preferred
        .and_then(|p| active.iter().find(|v| v.label.eq_ignore_ascii_case(p)))
        .or_else(|| active.first());
    chosen.and_then(|v| v.value.parse().ok()).ok_or_else(|| {
        TicketsError::Autotask(AutotaskError::UnknownLabel {
            what: format!("TicketNotes {field}"),
            label: preferred.unwrap_or("(any)").into(),
            known: Vec::new(),
        })
    })
}
