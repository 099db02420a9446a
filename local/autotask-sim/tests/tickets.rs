//! Tickets and TicketNotes as an alert → ticket sync uses them: completedDate / lastActivityDate
//! transitions, externalID look-ups, notes through the child route, and the per-cycle queries.

use autotask_sim::{AutotaskSim, Seed, SimConfig};
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

const CONTOSO: i64 = 29682200;
const FABRIKAM: i64 = 29682201;
const COMPLETE: i64 = 5;
const NEW: i64 = 1;
const MONITORING_ALERT_SOURCE: i64 = 8;

async fn start() -> AutotaskSim {
    AutotaskSim::start(SimConfig {
        seed: Seed::example().expect("example seed"),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

async fn call(
    sim: &AutotaskSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{}", sim.base_url(), path)
    };
    let mut request = Client::new()
        .request(method, url)
        .header("ApiIntegrationCode", "ACRONISSIMINTEGRATIONCODE01")
        .header("UserName", "acronis-api@example.com")
        .header("Secret", "api-secret-1");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_ticket(sim: &AutotaskSim, fields: Value) -> i64 {
    let mut body =
        json!({"companyID": CONTOSO, "title": "Backup failed", "status": NEW, "priority": 2});
    for (key, value) in fields.as_object().expect("object") {
        body[key] = value.clone();
    }
    let (status, created) = call(sim, Method::POST, "V1.0/Tickets", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["itemId"].as_i64().expect("itemId")
}

async fn ticket(sim: &AutotaskSim, id: i64) -> Value {
    let (status, body) = call(sim, Method::GET, &format!("V1.0/Tickets/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["item"].clone()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(
        value
            .as_str()
            .unwrap_or_else(|| panic!("a date-time: {value}")),
    )
    .expect("RFC 3339")
    .with_timezone(&Utc)
}

/// Lets the clock move on, so the next stamp is strictly later.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

async fn patch(sim: &AutotaskSim, body: Value) {
    let (status, answer) = call(sim, Method::PATCH, "V1.0/Tickets", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn query(sim: &AutotaskSim, entity: &str, body: Value) -> Vec<Value> {
    let (status, mut page) = call(
        sim,
        Method::POST,
        &format!("V1.0/{entity}/query"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut items = Vec::new();
    loop {
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        let Some(next) = page["pageDetails"]["nextPageUrl"]
            .as_str()
            .map(str::to_string)
        else {
            return items;
        };
        let (status, next_page) = call(sim, Method::POST, &next, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{next_page}");
        page = next_page;
    }
}

fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|t| t["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn completing_stamps_completed_date_and_reopening_clears_it() {
    let sim = start().await;
    let id = create_ticket(&sim, json!({})).await;
    let created = ticket(&sim, id).await;
    assert!(created["completedDate"].is_null());
    assert!(created["ticketNumber"].is_string());
    assert_eq!(created["createDate"], created["lastActivityDate"]);
    tick().await;

    patch(&sim, json!({"id": id, "status": COMPLETE})).await;
    let completed = ticket(&sim, id).await;
    let completed_at = time(&completed["completedDate"]);
    assert!(completed_at > time(&created["createDate"]));
    assert!(time(&completed["lastActivityDate"]) > time(&created["lastActivityDate"]));
    tick().await;

    // Other changes while complete keep the completion time.
    patch(
        &sim,
        json!({"id": id, "title": "Backup failed (seen again)"}),
    )
    .await;
    let still = ticket(&sim, id).await;
    assert_eq!(time(&still["completedDate"]), completed_at);
    assert!(time(&still["lastActivityDate"]) > time(&completed["lastActivityDate"]));
    tick().await;

    // Re-opened: cleared.
    patch(&sim, json!({"id": id, "status": NEW})).await;
    let reopened = ticket(&sim, id).await;
    assert!(reopened["completedDate"].is_null(), "{reopened}");
    assert!(time(&reopened["lastActivityDate"]) > time(&still["lastActivityDate"]));
    tick().await;

    // Completed again: a new completion time.
    patch(&sim, json!({"id": id, "status": COMPLETE})).await;
    assert!(time(&ticket(&sim, id).await["completedDate"]) > completed_at);

    // Created complete: stamped at once.
    let done = create_ticket(&sim, json!({"status": COMPLETE})).await;
    let done = ticket(&sim, done).await;
    assert_eq!(done["completedDate"], done["createDate"]);

    // PUT (full update) follows the same rules, and does not null the read-only stamps.
    let mut full = ticket(&sim, id).await;
    full["status"] = json!(NEW);
    full.as_object_mut().unwrap().remove("userDefinedFields");
    for read_only in [
        "ticketNumber",
        "createDate",
        "creatorResourceID",
        "creatorType",
        "lastActivityDate",
        "lastActivityPersonType",
        "lastActivityResourceID",
        "lastTrackedModificationDateTime",
        "apiVendorID",
        "impersonatorCreatorResourceID",
        "completedByResourceID",
        "completedDate",
    ] {
        full.as_object_mut().unwrap().remove(read_only);
    }
    let (status, answer) = call(&sim, Method::PUT, "V1.0/Tickets", Some(full)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let put = ticket(&sim, id).await;
    assert!(put["completedDate"].is_null());
    assert!(put["createDate"].is_string() && put["ticketNumber"].is_string());
}

#[tokio::test]
async fn completed_date_and_last_activity_date_are_read_only() {
    let sim = start().await;
    let (_, fields) = call(
        &sim,
        Method::GET,
        "V1.0/Tickets/entityInformation/fields",
        None,
    )
    .await;
    let field = |name: &str| {
        fields["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("field {name}"))
    };
    for name in [
        "completedDate",
        "lastActivityDate",
        "createDate",
        "ticketNumber",
    ] {
        assert_eq!(field(name)["isReadOnly"], json!(true), "{name}");
    }
    for name in [
        "externalID",
        "status",
        "source",
        "lastActivityDate",
        "completedDate",
    ] {
        assert_eq!(field(name)["isQueryable"], json!(true), "{name}");
    }
    assert_eq!(field("externalID")["isReadOnly"], json!(false));
    let status = field("status");
    assert!(
        status["picklistValues"]
            .as_array()
            .expect("picklist")
            .iter()
            .any(|p| p["value"] == "5" && p["label"] == "Complete")
    );
    // Written values of server-maintained fields do not stick (ignored, see README).
    let id = create_ticket(
        &sim,
        json!({"completedDate": "2020-01-01T00:00:00Z", "lastActivityDate": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let created = ticket(&sim, id).await;
    assert!(created["completedDate"].is_null());
    assert_ne!(created["lastActivityDate"], json!("2020-01-01T00:00:00Z"));
    patch(
        &sim,
        json!({"id": id, "completedDate": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert!(ticket(&sim, id).await["completedDate"].is_null());
}

#[tokio::test]
async fn tickets_are_found_by_external_id_as_written() {
    let sim = start().await;
    let external = "1BE7BE26-C68F-0863-2F55-DACC93A799F9#2";
    let id = create_ticket(&sim, json!({"externalID": external})).await;
    let _other = create_ticket(
        &sim,
        json!({"externalID": "1BE7BE26-C68F-0863-2F55-DACC93A799F9"}),
    )
    .await;
    let _none = create_ticket(&sim, json!({})).await;
    assert_eq!(
        ticket(&sim, id).await["externalID"],
        external,
        "stored as written"
    );
    let filter = json!({"filter": [{"op": "eq", "field": "externalID", "value": external}]});
    let found = query(&sim, "Tickets", filter.clone()).await;
    assert_eq!(ids(&found), vec![id]);
    assert_eq!(found[0]["externalID"], external);
    // The GET form of the same query.
    let search = serde_json::to_string(&filter).unwrap();
    let encoded: String = url_encode(&search);
    let (status, page) = call(
        &sim,
        Method::GET,
        &format!("V1.0/Tickets/query?search={encoded}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(page["items"].as_array().unwrap()), vec![id]);
    // Field names are case-insensitive; string comparison ignores case (SQL Server collation).
    let loose =
        json!({"filter": [{"op": "eq", "field": "ExternalId", "value": external.to_lowercase()}]});
    assert_eq!(ids(&query(&sim, "Tickets", loose).await), vec![id]);
    let missing = json!({"filter": [{"op": "eq", "field": "externalID", "value": "nope"}]});
    assert!(query(&sim, "Tickets", missing).await.is_empty());
    // Updating externalID keeps it as written too.
    patch(&sim, json!({"id": id, "externalID": "A#3"})).await;
    assert_eq!(ticket(&sim, id).await["externalID"], "A#3");
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn notes_through_the_child_route_update_the_tickets_last_activity() {
    let sim = start().await;
    let id = create_ticket(&sim, json!({})).await;
    let before = ticket(&sim, id).await;
    tick().await;
    let note = json!({"title": "Alert re-raised", "description": "Backup failed again on PC-1", "noteType": 1, "publish": 1});
    let (status, created) = call(
        &sim,
        Method::POST,
        &format!("V1.0/Tickets/{id}/Notes"),
        Some(note.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let note_id = created["itemId"].as_i64().expect("itemId");
    let after = ticket(&sim, id).await;
    assert!(time(&after["lastActivityDate"]) > time(&before["lastActivityDate"]));
    let (_, stored) = call(
        &sim,
        Method::GET,
        &format!("V1.0/TicketNotes/{note_id}"),
        None,
    )
    .await;
    let stored = &stored["item"];
    assert_eq!(stored["ticketID"], id, "ticketID taken from the URL");
    assert_eq!(stored["noteType"], 1);
    assert_eq!(stored["publish"], 1);
    assert!(stored["createDateTime"].is_string());
    assert_eq!(stored["lastActivityDate"], after["lastActivityDate"]);
    // The note type and publish picklists the swagger's TicketNoteModel fields use.
    let (_, fields) = call(
        &sim,
        Method::GET,
        "V1.0/TicketNotes/entityInformation/fields",
        None,
    )
    .await;
    for name in ["noteType", "publish"] {
        let field = fields["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .expect(name);
        assert_eq!(field["isPickList"], json!(true), "{name}");
        assert!(!field["picklistValues"].as_array().unwrap().is_empty());
    }
    // Refusals: values outside the picklists, missing required fields, ticket id mismatch,
    // unknown ticket.
    for (why, body) in [
        (
            "noteType picklist",
            json!({"title": "t", "description": "d", "noteType": 99, "publish": 1}),
        ),
        (
            "publish picklist",
            json!({"title": "t", "description": "d", "noteType": 1, "publish": 99}),
        ),
        (
            "description required",
            json!({"title": "t", "noteType": 1, "publish": 1}),
        ),
        (
            "noteType required",
            json!({"title": "t", "description": "d", "publish": 1}),
        ),
        (
            "ticketID must match the URL",
            json!({"ticketID": id + 1, "title": "t", "description": "d", "noteType": 1, "publish": 1}),
        ),
        (
            "unknown field",
            json!({"title": "t", "description": "d", "noteType": 1, "publish": 1, "colour": "red"}),
        ),
    ] {
        let (status, error) = call(
            &sim,
            Method::POST,
            &format!("V1.0/Tickets/{id}/Notes"),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{why}: {error}");
        assert!(error["errors"].is_array(), "{why}: {error}");
    }
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/Tickets/1/Notes",
        Some(note.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&sim, Method::POST, "V1.0/TicketNotes", Some(note)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no root TicketNotes route in the swagger: notes are created through their ticket"
    );
    // Editing a note is activity on the ticket too.
    tick().await;
    let (status, body) = call(
        &sim,
        Method::PATCH,
        &format!("V1.0/Tickets/{id}/Notes"),
        Some(json!({"id": note_id, "description": "Backup failed again on PC-1 (edited)"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edited = ticket(&sim, id).await;
    assert!(time(&edited["lastActivityDate"]) > time(&after["lastActivityDate"]));
    // Listing the ticket's notes.
    let notes = query(
        &sim,
        "TicketNotes",
        json!({"filter": [{"op": "eq", "field": "ticketID", "value": id}]}),
    )
    .await;
    assert_eq!(ids(&notes), vec![note_id]);
}

#[tokio::test]
async fn per_cycle_queries_by_last_activity_status_and_source_page_through_everything() {
    let sim = start().await;
    let mut alert_tickets = Vec::new();
    for n in 0..7 {
        alert_tickets.push(
            create_ticket(
                &sim,
                json!({"source": MONITORING_ALERT_SOURCE, "externalID": format!("alert-{n}")}),
            )
            .await,
        );
    }
    let phone = create_ticket(&sim, json!({"source": 2, "companyID": FABRIKAM})).await;
    tick().await;
    let watermark = ticket(&sim, *alert_tickets.last().unwrap()).await["lastActivityDate"].clone();
    tick().await;
    // The technician completes some, notes one, edits another.
    for id in &alert_tickets[..3] {
        patch(&sim, json!({"id": id, "status": COMPLETE})).await;
    }
    patch(&sim, json!({"id": phone, "status": COMPLETE})).await;
    let (status, _) = call(
        &sim,
        Method::POST,
        &format!("V1.0/Tickets/{}/Notes", alert_tickets[5]),
        Some(json!({"title": "t", "description": "d", "noteType": 1, "publish": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    patch(&sim, json!({"id": alert_tickets[6], "priority": 1})).await;

    let changed = |extra: Vec<Value>| {
        let mut filter = vec![
            json!({"op": "gt", "field": "lastActivityDate", "value": watermark}),
            json!({"op": "eq", "field": "source", "value": MONITORING_ALERT_SOURCE}),
        ];
        filter.extend(extra);
        json!({"MaxRecords": 2, "filter": filter})
    };
    let touched = query(&sim, "Tickets", changed(vec![])).await;
    let mut expected: Vec<i64> = alert_tickets[..3].to_vec();
    expected.extend([alert_tickets[5], alert_tickets[6]]);
    assert_eq!(
        ids(&touched),
        expected,
        "ordered by id, each once, over pages of 2"
    );
    let completed = query(
        &sim,
        "Tickets",
        changed(vec![
            json!({"op": "eq", "field": "status", "value": COMPLETE}),
        ]),
    )
    .await;
    assert_eq!(ids(&completed), alert_tickets[..3].to_vec());
    assert!(completed.iter().all(|t| t["completedDate"].is_string()));
    // Dates in the filter may be written without a zone (taken as UTC), as in the Postman samples.
    let naive = time(&watermark).format("%Y-%m-%dT%H:%M:%S%.f").to_string();
    let naive_query = json!({"filter": [{"op": "gt", "field": "lastActivityDate", "value": naive},
        {"op": "eq", "field": "source", "value": MONITORING_ALERT_SOURCE}]});
    assert_eq!(ids(&query(&sim, "Tickets", naive_query).await), expected);
    // status eq 5 across all sources, and the complement.
    let all_complete = query(
        &sim,
        "Tickets",
        json!({"MaxRecords": 1, "filter": [{"op": "eq", "field": "status", "value": COMPLETE}]}),
    )
    .await;
    let mut complete_ids: Vec<i64> = alert_tickets[..3].to_vec();
    complete_ids.push(phone);
    assert_eq!(ids(&all_complete), complete_ids);
    let open = query(
        &sim,
        "Tickets",
        json!({"filter": [{"op": "noteq", "field": "status", "value": COMPLETE}]}),
    )
    .await;
    assert_eq!(
        ids(&open).into_iter().collect::<HashSet<_>>(),
        alert_tickets[3..].iter().copied().collect()
    );
    // Nothing newer than the newest stamp.
    let newest = touched
        .iter()
        .map(|t| time(&t["lastActivityDate"]))
        .max()
        .unwrap();
    let later = json!({"filter": [{"op": "gt", "field": "lastActivityDate", "value": newest.to_rfc3339()}]});
    assert!(query(&sim, "Tickets", later).await.is_empty());
    let (_, count) = call(
        &sim,
        Method::POST,
        "V1.0/Tickets/query/count",
        Some(changed(vec![])),
    )
    .await;
    assert_eq!(count, json!({"queryCount": 5}));
    // The source picklist rejects values it does not list.
    let (status, _) = call(&sim, Method::POST, "V1.0/Tickets",
        Some(json!({"companyID": CONTOSO, "title": "x", "status": NEW, "priority": 2, "source": 999}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}
