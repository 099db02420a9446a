//! The per-alert decisions on small inputs.

use chrono::{TimeZone, Utc};
use serde_json::json;
use sync_shared::acronis::{Alert, AlertTenant};
use sync_shared::config::{AlertMapping, TicketSettings};

use super::*;
use crate::records::{TicketRecord, TicketState};

fn alert(updated_secs: i64, cleared: bool) -> Alert {
    let at = |s: i64| {
        Utc.timestamp_opt(1_795_000_000 + s, 0)
            .single()
            .expect("time")
    };
    Alert {
        id: "A1".into(),
        alert_type: "BackupFailed".into(),
        severity: "critical".into(),
        category: "Backup".into(),
        created_at: at(0),
        updated_at: at(updated_secs),
        deleted_at: cleared.then(|| at(updated_secs)),
        details: json!({"resourceName": "SRV-01", "planName": "Nightly", "errorMessage": {"reason": "Disk full"}}),
        tenant: AlertTenant {
            id: "42".into(),
            locator: Some("/1/42/".into()),
            uuid: Some("t-uuid".into()),
        },
    }
}

fn mapping(enabled: bool) -> AlertMapping {
    AlertMapping {
        sk: "ALERT#BackupFailed".into(),
        alert_type: "BackupFailed".into(),
        enabled,
        queue: Some(IdOrLabel::Label("Client Portal".into())),
        ticket_type: None,
        status: Some(IdOrLabel::Label("New".into())),
        priority: None,
        issue_type: None,
        sub_issue_type: None,
        due_in_days: 3,
    }
}

fn record(state: TicketState, updated_secs: i64) -> TicketRecord {
    TicketRecord {
        alert_id: "A1".into(),
        external_id: "A1".into(),
        occurrence: 1,
        state,
        ticket_id: Some(7),
        company_id: 100,
        alert_updated_ns: alert(updated_secs, false).updated_ns(),
        lease_until_ms: 0,
        run_id: "r".into(),
        updated_at: Utc::now(),
        version: 1,
    }
}

fn decide_with(
    alert: &Alert,
    record: Option<&TicketRecord>,
    company: Option<i64>,
    mapping: Option<&AlertMapping>,
    settings: &TicketSettings,
    ticket: Option<TicketStatus>,
    now_days: i64,
) -> Decision {
    decide(&AlertContext {
        alert,
        record,
        company_id: company,
        mapping,
        settings,
        ticket,
        now: alert.created_at + Duration::days(now_days),
    })
}

#[test]
fn a_new_alert_of_a_mapped_customer_and_enabled_type_gets_a_ticket() {
    let m = mapping(true);
    let d = decide_with(
        &alert(1, false),
        None,
        Some(100),
        Some(&m),
        &TicketSettings::default(),
        None,
        0,
    );
    assert!(
        matches!(
            d,
            Decision::Create {
                company_id: 100,
                occurrence: 1,
                catch_all: false,
                resume: false,
                ..
            }
        ),
        "{d:?}"
    );
    let d = decide_with(
        &alert(1, false),
        None,
        Some(100),
        Some(&mapping(false)),
        &TicketSettings::default(),
        None,
        0,
    );
    assert_eq!(d, Decision::Skip(Skip::DisabledType));
    let d = decide_with(
        &alert(1, true),
        None,
        Some(100),
        Some(&m),
        &TicketSettings::default(),
        None,
        0,
    );
    assert_eq!(d, Decision::Skip(Skip::ClearedBeforeTicket));
}

#[test]
fn unmapped_alerts_go_to_the_catch_all_or_are_counted() {
    let none = TicketSettings::default();
    assert_eq!(
        decide_with(
            &alert(1, false),
            None,
            None,
            Some(&mapping(true)),
            &none,
            None,
            0
        ),
        Decision::Skip(Skip::Unmapped)
    );
    assert_eq!(
        decide_with(&alert(1, false), None, Some(100), None, &none, None, 0),
        Decision::Skip(Skip::Unmapped)
    );
    let catch_all = TicketSettings {
        catch_all_company_id: Some(9),
        catch_all_queue: Some(IdOrLabel::Label("Monitoring Alert".into())),
        ..TicketSettings::default()
    };
    let d = decide_with(
        &alert(1, false),
        None,
        None,
        Some(&mapping(true)),
        &catch_all,
        None,
        0,
    );
    assert!(
        matches!(&d, Decision::Create { company_id: 9, catch_all: true, fields, .. } if fields.queue == catch_all.catch_all_queue),
        "{d:?}"
    );
    // A mapped customer with an unmapped type: its own company, the catch-all queue.
    let d = decide_with(&alert(1, false), None, Some(100), None, &catch_all, None, 0);
    assert!(
        matches!(
            d,
            Decision::Create {
                company_id: 100,
                catch_all: true,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn a_re_raise_notes_an_open_ticket_re_opens_within_the_window_and_opens_a_new_one_beyond() {
    let m = mapping(true);
    let week = TicketSettings {
        reopen_window_days: Some(7),
        ..TicketSettings::default()
    };
    let open = record(TicketState::Open, 1);
    let raised = alert(100, false);
    let d = decide_with(
        &raised,
        Some(&open),
        Some(100),
        Some(&m),
        &week,
        Some(TicketStatus {
            complete: false,
            completed_at: None,
        }),
        1,
    );
    assert_eq!(d, Decision::Note { ticket_id: 7 });
    let done_at = raised.created_at + Duration::days(1);
    let complete = Some(TicketStatus {
        complete: true,
        completed_at: Some(done_at),
    });
    let d = decide_with(
        &raised,
        Some(&open),
        Some(100),
        Some(&m),
        &week,
        complete,
        5,
    );
    assert_eq!(
        d,
        Decision::Reopen {
            ticket_id: 7,
            status: m.status.clone()
        }
    );
    let d = decide_with(
        &raised,
        Some(&open),
        Some(100),
        Some(&m),
        &week,
        complete,
        30,
    );
    assert!(matches!(d, Decision::Create { occurrence: 2, .. }), "{d:?}");
    // Window off: always re-open.
    let d = decide_with(
        &raised,
        Some(&open),
        Some(100),
        Some(&m),
        &TicketSettings::default(),
        complete,
        300,
    );
    assert!(matches!(d, Decision::Reopen { .. }));
    // Seen already: nothing.
    let d = decide_with(
        &alert(1, false),
        Some(&open),
        Some(100),
        Some(&m),
        &week,
        None,
        1,
    );
    assert_eq!(d, Decision::Skip(Skip::Seen));
}

#[test]
fn a_cleared_alert_completes_its_open_ticket_only_with_auto_close() {
    let m = mapping(true);
    let open = record(TicketState::Open, 1);
    let cleared = alert(50, true);
    let auto = TicketSettings {
        auto_close_on: Some(sync_shared::config::AutoCloseStatus::Resolved),
        ..TicketSettings::default()
    };
    let d = decide_with(
        &cleared,
        Some(&open),
        Some(100),
        Some(&m),
        &auto,
        Some(TicketStatus {
            complete: false,
            completed_at: None,
        }),
        1,
    );
    assert_eq!(d, Decision::Close { ticket_id: 7 });
    let d = decide_with(
        &cleared,
        Some(&open),
        Some(100),
        Some(&m),
        &TicketSettings::default(),
        None,
        1,
    );
    assert!(
        matches!(
            d,
            Decision::Follow {
                state: TicketState::Open
            }
        ),
        "{d:?}"
    );
    // A technician completed it already: the record follows, nothing is written.
    let d = decide_with(
        &cleared,
        Some(&open),
        Some(100),
        Some(&m),
        &auto,
        Some(TicketStatus {
            complete: true,
            completed_at: None,
        }),
        1,
    );
    assert!(
        matches!(
            d,
            Decision::Follow {
                state: TicketState::Closed
            }
        ),
        "{d:?}"
    );
}

#[test]
fn an_interrupted_create_is_resumed_with_the_same_external_id() {
    let mut creating = record(TicketState::Creating, 1);
    creating.occurrence = 2;
    let d = decide_with(
        &alert(1, false),
        Some(&creating),
        Some(100),
        Some(&mapping(true)),
        &TicketSettings::default(),
        None,
        0,
    );
    assert!(
        matches!(
            d,
            Decision::Create {
                occurrence: 2,
                resume: true,
                ..
            }
        ),
        "{d:?}"
    );
    assert_eq!(external_id("A1", 1), "A1");
    assert_eq!(external_id("A1", 2), "A1#2");
    assert_eq!(alert_id_of("A1#2"), "A1");
}

#[test]
fn the_ticket_names_the_alert_resource_plan_time_error_tenant_and_contract() {
    let a = alert(1, false);
    assert_eq!(
        ticket_title(&a),
        "Acronis: BackupFailed on SRV-01 (plan Nightly)"
    );
    let description = ticket_description(&a, Some("Contoso"), Some("Contoso Backup"));
    for part in [
        "BackupFailed (A1)",
        "Severity: critical",
        "Raised:",
        "Resource: SRV-01",
        "Plan: Nightly",
        "Error: Disk full",
        "Tenant: Contoso (t-uuid)",
        "Contract: Contoso Backup",
    ] {
        assert!(description.contains(part), "{part} in {description}");
    }
    assert_eq!(due_date(&a, 3), a.created_at + Duration::days(3));
    let mut long = a.clone();
    long.details = json!({"resourceName": "x".repeat(400)});
    assert_eq!(ticket_title(&long).chars().count(), 255);
}
