//! The tickets job end to end on the local stack (scheduler → tickets worker) against both
//! simulators; judged on the Autotask side (tickets, notes) and the Acronis side (dismissals).

use acronis_sim::{AcronisSim, NewAlert};
use autotask_sim::AutotaskSim;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use local_runner::{LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;

const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CONTOSO_TENANT: &str = "7c2e4a10-0000-4000-8000-000000000002";
const UNMAPPED_TENANT: &str = "7c2e4a10-0000-4000-8000-000000000003";
const CONTOSO: i64 = 29800001;
const CATCH_ALL: i64 = 29800009;
const CONTRACT: i64 = 29820001;
const SVC: i64 = 29810001;

struct World {
    d: LocalDeployment,
    autotask: AutotaskSim,
    acronis: AcronisSim,
    base: DateTime<Utc>,
}

/// Secrets are named per test: the tests share one Secrets Manager.
fn settings(test: &str, zone: &str, tickets: Value) -> Value {
    json!({
        "pk": "INTEGRATION#msp", "sk": "SETTINGS", "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{test}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{test}/acronis"),
        "autotask_zone_lookup_url": zone,
        "features": {"billing": true, "ticket_creation": true},
        "tickets": tickets,
    })
}

impl World {
    async fn new(test: &str, tickets: Value) -> World {
        let autotask = AutotaskSim::start(autotask_sim::SimConfig {
            seed: autotask_sim::Seed::example().expect("seed"),
            ..autotask_sim::SimConfig::default()
        })
        .await
        .expect("autotask-sim");
        autotask.with_db(|db| {
            for (entity, row) in [
                ("BillingCodes", json!({"id": 29682100, "name": "Acronis Cloud Services", "useType": 6, "isActive": true})),
                ("Services", json!({"id": SVC, "name": "Acronis Workstations", "periodType": 1, "unitPrice": 10.0, "billingCodeID": 29682100, "isActive": true})),
                ("Companies", json!({"id": CONTOSO, "companyName": "Contoso Ltd", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": CATCH_ALL, "companyName": "MSP Catch-all", "companyType": 1, "isActive": true})),
                ("Contracts", json!({"id": CONTRACT, "companyID": CONTOSO, "contractName": "Contoso Backup", "contractType": 7, "status": 1,
                    "startDate": "2026-01-01T00:00:00", "endDate": "2027-12-31T00:00:00"})),
            ] {
                db.insert(entity, row).unwrap_or_else(|e| panic!("{entity}: {e:?}"));
            }
            db.seed_contract_service(CONTRACT, SVC, 5).expect("line");
        });
        let acronis = AcronisSim::start(acronis_sim::SimConfig::example())
            .await
            .expect("acronis-sim");
        let d = e2e::deployment(test).await;
        let zone = autotask.zone_lookup_url();
        for item in [
            settings(test, &zone, tickets),
            json!({"pk": "INTEGRATION#msp", "sk": "SERVICE#pw_base_workstations", "service": "Acronis Workstations"}),
            json!({"pk": "INTEGRATION#msp", "sk": format!("CUSTOMER#{CONTOSO}"), "tenant": CONTOSO_TENANT}),
            json!({"pk": "INTEGRATION#msp", "sk": "ALERT#BackupFailed", "enabled": true, "queue": "Client Portal",
                "ticket_type": "Alert", "status": "New", "priority": "Critical", "issue_type": "Backup",
                "sub_issue_type": "Backup Failed", "due_in_days": 3}),
            json!({"pk": "INTEGRATION#msp", "sk": "ALERT#NoBackupForXDays", "queue": 29683482, "ticket_type": 2,
                "status": 8, "priority": 1, "issue_type": 3, "sub_issue_type": 13, "due_in_days": 1}),
            json!({"pk": "INTEGRATION#msp", "sk": "ALERT#AgentOutdated", "enabled": false}),
        ] {
            d.put_json_item(item).await.expect("item");
        }
        let secrets = [
            (
                "autotask",
                json!({"username": "acronis-api@example.com", "secret": "api-secret-1", "api_integration_code": "ACRONISSIMINTEGRATIONCODE01"}),
            ),
            (
                "acronis",
                json!({"client_id": "3f9d2b7e-0000-4000-8000-0000000000c1", "client_secret": "example-secret", "datacenter_url": acronis.base_url()}),
            ),
        ];
        for (kind, value) in secrets {
            put_secret(
                &d.clients.secrets,
                &format!("acronis-autotask-sync/{test}/{kind}"),
                &value.to_string(),
            )
            .await
            .expect("secret");
        }
        let base = Utc::now()
            .duration_trunc(TimeDelta::minutes(1))
            .expect("time");
        let w = World {
            d,
            autotask,
            acronis,
            base,
        };
        // setup records the zone; the first tickets run starts from the alerts active then.
        w.run(Job::Setup, 0).await;
        w.run(Job::Tickets, 0).await;
        w
    }

    /// One tick of `job` at base + `minutes`, drained.
    async fn run(&self, job: Job, minutes: i64) {
        self.d
            .tick(job, self.base + TimeDelta::minutes(minutes))
            .await
            .expect("tick");
        let drained = self.d.drain(job, 50).await.expect("drain");
        assert_eq!(drained.messages_failed, 0, "{job} left messages for retry");
    }

    fn raise(&self, tenant: &str, alert_type: &str, details: Value) -> String {
        let alert: NewAlert = serde_json::from_value(
            json!({"tenant_id": tenant, "type": alert_type, "details": details}),
        )
        .expect("alert");
        self.acronis.raise_alert(alert).expect("raise")
    }

    fn tickets(&self) -> Vec<Value> {
        self.autotask.with_db(|db| db.rows("Tickets"))
    }

    fn tickets_of(&self, alert: &str) -> Vec<Value> {
        self.tickets()
            .into_iter()
            .filter(|t| {
                t["externalID"]
                    .as_str()
                    .is_some_and(|e| e.split('#').next() == Some(alert))
            })
            .collect()
    }

    fn notes_of(&self, ticket: i64) -> usize {
        self.autotask
            .with_db(|db| db.rows("TicketNotes"))
            .iter()
            .filter(|n| n["ticketID"] == json!(ticket))
            .count()
    }

    async fn status(&self) -> sync_shared::status::IntegrationStatus {
        self.d
            .store
            .status("msp")
            .await
            .expect("status")
            .expect("a status")
    }

    /// A technician changes a ticket's status through the API.
    async fn set_ticket_status(&self, ticket: i64, status: i64) {
        let response = reqwest::Client::new()
            .patch(format!("{}V1.0/Tickets", self.autotask.base_url()))
            .header("ApiIntegrationCode", "CUSTOMINTERNALINTEGRATION02")
            .header("UserName", "custom-api@example.com")
            .header("Secret", "api-secret-2")
            .json(&json!({"id": ticket, "status": status}))
            .send()
            .await
            .expect("patch");
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// Raises (or re-raises: same type, tenant and context) an alert the way a producer does,
/// through the Alert Manager API.
async fn post_alert(w: &World, tenant: &str, alert_type: &str, context: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/alert_manager/v1/alerts",
            w.acronis.base_url()
        ))
        .bearer_auth(token(&w.acronis).await)
        .json(
            &json!({"type": alert_type, "tenantID": tenant, "context": context,
            "details": {"resourceName": "SRV-01", "planName": "Nightly"}}),
        )
        .send()
        .await
        .expect("post alert");
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap_or_default()
    );
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_string()
}

fn id(ticket: &Value) -> i64 {
    ticket["id"].as_i64().expect("ticket id")
}

#[tokio::test]
async fn each_mapping_field_lands_on_the_ticket_a_disabled_type_makes_none_and_a_quiet_cycle_calls_nothing()
 {
    let w = World::new("tk-fields", json!({"source": "Monitoring Alert", "note_type": "Task Notes", "note_publish": "Internal Only"})).await;
    let failed = w.raise(CONTOSO_TENANT, "BackupFailed", json!({"resourceName": "SRV-01", "planName": "Nightly", "errorMessage": {"reason": "Disk full"}}));
    let missing = w.raise(
        CONTOSO_TENANT,
        "NoBackupForXDays",
        json!({"resourceName": "LAPTOP-7", "daysPassed": 3}),
    );
    let outdated = w.raise(CONTOSO_TENANT, "AgentOutdated", json!({}));
    w.run(Job::Tickets, 1).await;

    let t = &w.tickets_of(&failed)[0];
    assert_eq!(w.tickets_of(&failed).len(), 1);
    // By label: Client Portal 5, Alert 5, New 1, Critical 4, Backup 3, Backup Failed 12; source 8.
    assert_eq!(
        (
            t["queueID"].clone(),
            t["ticketType"].clone(),
            t["status"].clone(),
            t["priority"].clone()
        ),
        (json!(5), json!(5), json!(1), json!(4))
    );
    assert_eq!(
        (
            t["issueType"].clone(),
            t["subIssueType"].clone(),
            t["source"].clone()
        ),
        (json!(3), json!(12), json!(8))
    );
    assert_eq!(t["companyID"], json!(CONTOSO));
    assert_eq!(
        t["contractID"],
        json!(CONTRACT),
        "billing on and a contract with mapped services"
    );
    let title = t["title"].as_str().unwrap_or_default();
    assert!(
        title.contains("BackupFailed") && title.contains("SRV-01") && title.contains("Nightly"),
        "{title}"
    );
    let description = t["description"].as_str().unwrap_or_default();
    for part in [
        "Disk full",
        "critical",
        CONTOSO_TENANT,
        "Contoso Backup",
        "Raised:",
    ] {
        assert!(description.contains(part), "{part} in {description}");
    }
    assert!(t["dueDateTime"].as_str().is_some_and(|d| !d.is_empty()));
    // By id.
    let m = &w.tickets_of(&missing)[0];
    assert_eq!(
        (
            m["queueID"].clone(),
            m["ticketType"].clone(),
            m["status"].clone(),
            m["priority"].clone(),
            m["subIssueType"].clone()
        ),
        (json!(29683482), json!(2), json!(8), json!(1), json!(13))
    );
    assert!(
        w.tickets_of(&outdated).is_empty(),
        "a disabled type creates nothing"
    );
    let status = w.status().await;
    assert_eq!(
        status.jobs["tickets"].counts["tickets_created"],
        2,
        "{}",
        status.jobs["tickets"]
            .last_error
            .clone()
            .unwrap_or_default()
    );
    assert_eq!(status.jobs["tickets"].counts["alerts_type_disabled"], 1);

    w.autotask.reset_request_log();
    w.run(Job::Tickets, 2).await;
    assert_eq!(
        w.autotask.request_log().records.len(),
        0,
        "a quiet cycle makes no Autotask call"
    );
}

#[tokio::test]
async fn a_re_raised_alert_notes_an_open_ticket_re_opens_within_the_window_and_opens_a_new_one_beyond()
 {
    let w = World::new("tk-reraise", json!({"reopen_window_days": 7})).await;
    let context = json!({"planId": "plan-1", "resourceId": "res-1"});
    let alert = post_alert(&w, CONTOSO_TENANT, "BackupFailed", context.clone()).await;
    w.run(Job::Tickets, 1).await;
    let first = id(&w.tickets_of(&alert)[0]);
    // Open ticket: a note.
    assert_eq!(
        post_alert(&w, CONTOSO_TENANT, "BackupFailed", context.clone()).await,
        alert,
        "re-raised, same id"
    );
    w.run(Job::Tickets, 2).await;
    assert_eq!(w.tickets_of(&alert).len(), 1);
    assert_eq!(w.notes_of(first), 1);
    // Completed, re-raised within the window: re-opened (the mapping's status) with a note.
    w.set_ticket_status(first, 5).await;
    assert_eq!(
        post_alert(&w, CONTOSO_TENANT, "BackupFailed", context.clone()).await,
        alert,
        "re-raised, same id"
    );
    w.run(Job::Tickets, 60 * 24).await;
    let tickets = w.tickets_of(&alert);
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["status"], json!(1), "re-opened to New");
    assert_eq!(w.notes_of(first), 2);
    // Completed, re-raised beyond the window: a new ticket.
    w.set_ticket_status(first, 5).await;
    assert_eq!(
        post_alert(&w, CONTOSO_TENANT, "BackupFailed", context.clone()).await,
        alert,
        "re-raised, same id"
    );
    w.run(Job::Tickets, 60 * 24 * 10).await;
    let tickets = w.tickets_of(&alert);
    assert_eq!(tickets.len(), 2, "a new ticket beyond the window");
    assert!(
        tickets
            .iter()
            .any(|t| t["externalID"] == json!(format!("{alert}#2")))
    );
}

#[tokio::test]
async fn with_the_window_off_a_re_raised_alert_always_re_opens() {
    let w = World::new("tk-nowindow", json!({})).await;
    let alert = w.raise(CONTOSO_TENANT, "BackupFailed", json!({}));
    w.run(Job::Tickets, 1).await;
    let first = id(&w.tickets_of(&alert)[0]);
    w.set_ticket_status(first, 5).await;
    w.acronis.reraise_alert(&alert, None).expect("reraise");
    w.run(Job::Tickets, 60 * 24 * 60).await;
    let tickets = w.tickets_of(&alert);
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["status"], json!(1));
}

#[tokio::test]
async fn cleared_alerts_complete_their_tickets_when_resolved_and_when_dismissed() {
    for (test, on) in [("tk-resolved", "resolved"), ("tk-dismissed", "dismissed")] {
        let w = World::new(test, json!({"auto_close_on": on})).await;
        let resolved = w.raise(CONTOSO_TENANT, "BackupFailed", json!({"resourceName": "A"}));
        let dismissed = w.raise(CONTOSO_TENANT, "BackupFailed", json!({"resourceName": "B"}));
        w.run(Job::Tickets, 1).await;
        w.acronis.resolve_alert(&resolved).expect("resolve");
        let response = reqwest::Client::new()
            .delete(format!(
                "{}/api/alert_manager/v1/alerts/{dismissed}",
                w.acronis.base_url()
            ))
            .bearer_auth(token(&w.acronis).await)
            .send()
            .await
            .expect("dismiss");
        assert!(response.status().is_success());
        w.run(Job::Tickets, 2).await;
        for alert in [&resolved, &dismissed] {
            let ticket = &w.tickets_of(alert)[0];
            assert_eq!(ticket["status"], json!(5), "{on}: completed");
            assert_eq!(w.notes_of(id(ticket)), 1, "{on}: with a note");
        }
    }
}

async fn token(acronis: &AcronisSim) -> String {
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/2/idp/token", acronis.base_url()))
        .basic_auth(
            "3f9d2b7e-0000-4000-8000-0000000000c1",
            Some("example-secret"),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    response["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::test]
async fn alerts_of_unmapped_tenants_and_types_go_to_the_catch_all_or_are_counted() {
    let w = World::new(
        "tk-catch",
        json!({"catch_all_company_id": CATCH_ALL, "catch_all_queue": "Monitoring Alert"}),
    )
    .await;
    let unmapped_tenant = w.raise(UNMAPPED_TENANT, "BackupFailed", json!({}));
    let unmapped_type = w.raise(CONTOSO_TENANT, "DiskFailureImminent", json!({}));
    w.run(Job::Tickets, 1).await;
    let t = &w.tickets_of(&unmapped_tenant)[0];
    assert_eq!(
        (t["companyID"].clone(), t["queueID"].clone()),
        (json!(CATCH_ALL), json!(8))
    );
    let t = &w.tickets_of(&unmapped_type)[0];
    assert_eq!(
        (t["companyID"].clone(), t["queueID"].clone()),
        (json!(CONTOSO), json!(8))
    );
    assert_eq!(
        w.status().await.jobs["tickets"].counts["tickets_catch_all"],
        2
    );

    let w = World::new("tk-nocatch", json!({})).await;
    let lost = w.raise(UNMAPPED_TENANT, "BackupFailed", json!({}));
    w.run(Job::Tickets, 1).await;
    assert!(w.tickets_of(&lost).is_empty());
    let status = w.status().await;
    assert_eq!(
        status.jobs["tickets"].counts["alerts_unmapped"], 1,
        "never silently lost"
    );
    assert!(status.jobs["tickets"].last_error.is_none());
}

#[tokio::test]
async fn completing_a_ticket_dismisses_its_alert_only_when_g7_is_on() {
    for (test, on) in [("tk-g7on", true), ("tk-g7off", false)] {
        let w = World::new(
            test,
            json!({"dismiss_alert_on_ticket_complete": on, "source": "Monitoring Alert"}),
        )
        .await;
        let alert = w.raise(CONTOSO_TENANT, "BackupFailed", json!({}));
        w.run(Job::Tickets, 1).await;
        let ticket = id(&w.tickets_of(&alert)[0]);
        w.set_ticket_status(ticket, 5).await;
        w.run(Job::Tickets, 2).await;
        let dismissed = w
            .acronis
            .with_state(|s| s.alerts[&alert].deleted_ns.is_some());
        assert_eq!(dismissed, on, "G7 {on}");
        if on {
            w.autotask.reset_request_log();
            w.run(Job::Tickets, 3).await;
            let calls = w.autotask.request_log().records.len();
            assert_eq!(calls, 1, "a quiet cycle with G7 on makes its one query");
        }
    }
}

/// Two whole runs side by side need more stack than a test thread has in a debug build.
#[test]
fn never_a_duplicate_ticket() {
    e2e::on_big_stack(never_a_duplicate_ticket_body);
}

async fn never_a_duplicate_ticket_body() {
    let w = World::new("tk-dup", json!({})).await;
    // Every SQS message delivered twice.
    let twice = w.raise(
        CONTOSO_TENANT,
        "BackupFailed",
        json!({"resourceName": "twice"}),
    );
    w.d.tick(Job::Tickets, w.base + TimeDelta::minutes(1))
        .await
        .expect("tick");
    let batch = w.d.receive_batch(Job::Tickets).await.expect("receive");
    w.d.invoke(Job::Tickets, batch.clone()).await;
    let response = w.d.invoke(Job::Tickets, batch.clone()).await;
    w.d.settle_batch(Job::Tickets, &batch, &response)
        .await
        .expect("settle");
    assert_eq!(w.tickets_of(&twice).len(), 1);

    // Two overlapping runs (different slots) see the same alert.
    let overlap = w.raise(
        CONTOSO_TENANT,
        "BackupFailed",
        json!({"resourceName": "overlap"}),
    );
    let message = |minutes: i64| sync_shared::JobMessage {
        integration_id: "msp".into(),
        job: Job::Tickets,
        slot: w.base + TimeDelta::minutes(minutes),
    };
    let (a, b) = (message(2), message(3));
    let (ra, rb) = futures::join!(
        Box::pin(tickets::run_tickets(&w.d.tickets, &a)),
        Box::pin(tickets::run_tickets(&w.d.tickets, &b))
    );
    ra.expect("run a");
    rb.expect("run b");
    assert_eq!(
        w.tickets_of(&overlap).len(),
        1,
        "overlapping runs make one ticket"
    );

    // A POST that timed out after Autotask created the ticket: the ticket exists, the record
    // says `creating` with its lease released (what the job leaves after a failed create).
    // And a crash between creation and record: the same, with the lease left to expire.
    for (label, lease) in [("timeout", 0), ("crash", Utc::now().timestamp_millis() - 1)] {
        let alert = w.raise(
            CONTOSO_TENANT,
            "BackupFailed",
            json!({"resourceName": label}),
        );
        let updated_ns = w.acronis.with_state(|s| s.alerts[&alert].updated_ns);
        w.autotask.with_db(|db| {
            db.insert("Tickets", json!({"companyID": CONTOSO, "title": "created before the answer was lost", "status": 1, "priority": 2, "externalID": alert}))
                .expect("ticket")
        });
        w.d.put_json_item(
            json!({"pk": "INTEGRATION#msp", "sk": format!("TICKET#{alert}"), "alert_id": alert,
            "external_id": alert, "occurrence": 1, "state": "creating", "company_id": CONTOSO,
            "alert_updated_ns": updated_ns, "lease_until_ms": lease, "run_id": "tickets#earlier",
            "updated_at": Utc::now().to_rfc3339(), "version": 1}),
        )
        .await
        .expect("record");
        let mut cursor =
            w.d.store
                .get_item("INTEGRATION#msp", "CURSOR#tickets")
                .await
                .expect("get")
                .expect("cursor");
        cursor.insert(
            "pending".into(),
            aws_sdk_dynamodb::types::AttributeValue::L(vec![
                aws_sdk_dynamodb::types::AttributeValue::S(alert.clone()),
            ]),
        );
        w.d.store.put_item(cursor).await.expect("cursor");
        w.run(Job::Tickets, 10 + lease.signum()).await;
        assert_eq!(w.tickets_of(&alert).len(), 1, "{label}: exactly one ticket");
        let record =
            w.d.store
                .get_item("INTEGRATION#msp", &format!("TICKET#{alert}"))
                .await
                .expect("get")
                .expect("record");
        assert_eq!(
            record["state"].as_s().ok().map(String::as_str),
            Some("open"),
            "{label}"
        );
    }
    for ticket in w.tickets() {
        let external = ticket["externalID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            w.tickets()
                .iter()
                .filter(|t| t["externalID"].as_str() == Some(&external))
                .count(),
            1,
            "one ticket per alert"
        );
    }
}

#[tokio::test]
async fn alerts_sharing_one_update_nanosecond_across_a_page_boundary_are_each_handled_once() {
    let mut w = World::new("tk-samens", json!({})).await;
    w.d.tickets.alert_page_size = 2;
    let ids: Vec<String> = (0..5)
        .map(|n| {
            w.raise(
                CONTOSO_TENANT,
                "BackupFailed",
                json!({"resourceName": format!("R{n}")}),
            )
        })
        .collect();
    let shared_ns = w.acronis.with_state(|s| s.alerts[&ids[4]].updated_ns);
    w.acronis.with_state(|s| {
        for id in &ids {
            if let Some(a) = s.alerts.get_mut(id) {
                a.updated_ns = shared_ns;
            }
        }
    });
    w.run(Job::Tickets, 1).await;
    for id in &ids {
        assert_eq!(w.tickets_of(id).len(), 1, "{id}");
    }
    // One more alert updated in that same nanosecond, seen by the next poll only.
    let late = w.raise(
        CONTOSO_TENANT,
        "BackupFailed",
        json!({"resourceName": "late"}),
    );
    w.acronis.with_state(|s| {
        if let Some(a) = s.alerts.get_mut(&late) {
            a.updated_ns = shared_ns;
        }
    });
    w.run(Job::Tickets, 2).await;
    assert_eq!(
        w.tickets_of(&late).len(),
        1,
        "the late alert at the watermark's instant is not lost"
    );
    for id in &ids {
        assert_eq!(w.tickets_of(id).len(), 1, "{id} is not handled twice");
    }
    let _ = PARTNER;
}
