//! `POST /api/alert_manager/v1/alerts` (SPEC-AL "Create an alert") and dismissal: raise,
//! re-raise by type + tenant + context, body conformance, tenant choice, `DELETE /alerts/{id}`.

mod common;

use acronis_sim::{AcronisSim, NewAlert, SimConfig, TenantSeed};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ALERTS: &str = "/api/alert_manager/v1/alerts";
const PLAN: &str = "796c399a-a230-46c1-b705-31d590b9ef07";
const RESOURCE: &str = "E10FC321-7900-63B3-3797-8969AB0756B1";

async fn post(sim: &AcronisSim, token: &str, body: Value) -> (u16, Value) {
    call(sim, token, "POST", ALERTS, Some(body)).await
}

async fn get_alert(sim: &AcronisSim, token: &str, id: &str) -> Value {
    let (status, alert) = call(
        sim,
        token,
        "GET",
        &format!("{ALERTS}/{id}?show_deleted=true"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{alert}");
    alert
}

fn ns(alert: &Value, field: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(alert[field].as_str().expect(field))
        .expect("RFC 3339")
        .timestamp_nanos_opt()
        .expect("ns")
}

fn backup_failed(tenant: &str, plan: &str, resource: &str, host: &str) -> Value {
    json!({
        "type": "BackupFailed",
        "tenantID": tenant,
        "context": {"planId": plan, "resourceId": resource},
        "details": {"planName": "Daily", "resourceName": host, "errorMessage": {"message": "Disk not found"}},
    })
}

fn assert_no_violations(sim: &AcronisSim) {
    assert!(
        sim.conformance_violations().is_empty(),
        "{:#?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn posting_an_alert_raises_it_with_the_spec_fields() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let body = json!({
        "type": "NoBackupForXDays",
        "tenantID": CONTOSO,
        "_source": "DC4A6F3B-479B-4D42-B7DD-132C56E9C76B",
        "_sourceTimeStamp": 344168,
        "affinity": "agent-7",
        "context": {"planId": PLAN, "resourceId": RESOURCE},
        "details": {"daysPassed": 32, "planId": "other-plan", "resourceId": RESOURCE,
                    "planName": "Acme SQL", "resourceName": "mssql://acme", "errorMessage": {"kbLink": {"serCode": "NoBackupForXDays"}}},
    });
    let (status, created) = post(&sim, &token, body).await;
    assert_eq!(status, 200, "the spec answers 200 (not 201): {created}");
    assert_eq!(created.as_object().expect("object").len(), 1, "{created}");
    let id = created["id"].as_str().expect("AlertID.id").to_string();
    assert!(acronis_sim::model::is_uuid(&id));
    let alert = get_alert(&sim, &token, &id).await;
    assert_eq!(alert["type"], "NoBackupForXDays");
    assert_eq!(alert["category"], "Backup", "category comes from the type");
    assert_eq!(
        alert["severity"], "warning",
        "no severity sent: the type's default"
    );
    assert_eq!(alert["tenant"]["uuid"], CONTOSO);
    assert!(
        alert["tenant"]["id"]
            .as_str()
            .is_some_and(|n| n.parse::<u64>().is_ok())
    );
    let locator = alert["tenant"]["locator"].as_str().expect("locator");
    assert!(
        locator.starts_with('/')
            && locator.ends_with(&format!("/{}/", alert["tenant"]["id"].as_str().unwrap()))
    );
    // "Copy of context is merged to details": the context's planId wins over the details' one.
    assert_eq!(alert["details"]["planId"], PLAN);
    assert_eq!(alert["details"]["resourceId"], RESOURCE);
    assert_eq!(alert["details"]["daysPassed"], 32);
    assert_eq!(alert["_source"], "DC4A6F3B-479B-4D42-B7DD-132C56E9C76B");
    assert_eq!(alert["_sourceTimeStamp"], 344168);
    assert_eq!(alert["affinity"], "agent-7");
    assert!(alert.get("deletedAt").is_none());
    assert_eq!(alert["createdAt"], alert["receivedAt"]);
    assert_eq!(alert["updatedAt"], alert["receivedAt"]);
    // It is in the list a poller reads.
    let (_, list) = call(
        &sim,
        &token,
        "GET",
        &format!("{ALERTS}?type=NoBackupForXDays&tenant={CONTOSO}"),
        None,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    // Explicit severity and producer-chosen createdAt / id are kept.
    let (status, chosen) = post(
        &sim,
        &token,
        json!({"type": "BackupFailed", "severity": "error", "id": "1be7be26-c68f-0863-2f55-dacc93a799f9",
               "createdAt": "2019-09-05T16:24:35.000Z", "details": {}}),
    )
    .await;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["id"], "1BE7BE26-C68F-0863-2F55-DACC93A799F9");
    let alert = get_alert(&sim, &token, "1BE7BE26-C68F-0863-2F55-DACC93A799F9").await;
    assert_eq!(alert["severity"], "error");
    assert_eq!(
        ns(&alert, "createdAt"),
        ns(&json!({"t": "2019-09-05T16:24:35Z"}), "t")
    );
    assert_eq!(
        alert["tenant"]["uuid"], PARTNER,
        "no tenantID: the caller's tenant"
    );
    assert_no_violations(&sim);
}

#[tokio::test]
async fn posting_the_same_type_tenant_and_context_again_reraises_the_same_alert() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (status, first) = post(&sim, &token, backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1")).await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().expect("id").to_string();
    let before = get_alert(&sim, &token, &id).await;

    // Same type, tenant and context: the same alert, raised again with the new details.
    let mut again = backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1 (renamed)");
    again["severity"] = json!("error");
    let (status, second) = post(&sim, &token, again).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["id"], id.as_str(), "re-raise keeps the id");
    let after = get_alert(&sim, &token, &id).await;
    assert!(ns(&after, "updatedAt") > ns(&before, "updatedAt"));
    assert!(ns(&after, "receivedAt") > ns(&before, "receivedAt"));
    assert_eq!(after["createdAt"], before["createdAt"], "createdAt is kept");
    assert_eq!(after["details"]["resourceName"], "PC-1 (renamed)");
    assert_eq!(after["severity"], "error");
    let (_, list) = call(
        &sim,
        &token,
        "GET",
        &format!("{ALERTS}?type=BackupFailed&tenant={CONTOSO}&show_deleted=true&limit=100"),
        None,
    )
    .await;
    let ours: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["details"]["planId"] == PLAN)
        .collect();
    assert_eq!(ours.len(), 1, "no second alert: {list:#}");

    // Dismissed, then raised again: active again under the same id.
    let (status, _) = call(&sim, &token, "DELETE", &format!("{ALERTS}/{id}"), None).await;
    assert_eq!(status, 204);
    let dismissed = get_alert(&sim, &token, &id).await;
    assert!(dismissed["deletedAt"].is_string());
    let watermark = ns(&dismissed, "updatedAt");
    let (status, third) = post(&sim, &token, backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1")).await;
    assert_eq!(status, 200);
    assert_eq!(third["id"], id.as_str());
    let active = get_alert(&sim, &token, &id).await;
    assert!(active.get("deletedAt").is_none(), "{active}");
    assert!(ns(&active, "updatedAt") > watermark);
    let (status, _) = call(&sim, &token, "GET", &format!("{ALERTS}/{id}"), None).await;
    assert_eq!(status, 200, "visible again without show_deleted");
    // A poller reading updated_at=gt(watermark) sees it once more.
    let (_, changed) = call(
        &sim,
        &token,
        "GET",
        &format!("{ALERTS}?updated_at=gt({watermark})"),
        None,
    )
    .await;
    let changed: Vec<&str> = changed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(changed, vec![id.as_str()]);

    // An alert the platform raised (hook) with the same key is re-raised by a POST as well.
    let mut context = BTreeMap::new();
    context.insert("planId".to_string(), "p-hook".to_string());
    context.insert("resourceId".to_string(), "r-hook".to_string());
    let hooked = sim
        .raise_alert_with_context(
            NewAlert {
                tenant_id: CONTOSO.into(),
                alert_type: "BackupFailed".into(),
                severity: "critical".into(),
                category: "Backup".into(),
                details: json!({}),
            },
            context,
        )
        .expect("hook alert");
    let (_, posted) = post(
        &sim,
        &token,
        backup_failed(CONTOSO, "p-hook", "r-hook", "X"),
    )
    .await;
    assert_eq!(posted["id"], hooked.as_str());
    assert_no_violations(&sim);
}

#[tokio::test]
async fn a_different_context_tenant_or_type_is_a_different_alert() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (_, base) = post(&sim, &token, backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1")).await;
    let base = base["id"].as_str().expect("id").to_string();
    let mut ids = vec![base.clone()];
    let other_resource = backup_failed(
        CONTOSO,
        PLAN,
        "00000000-0000-0000-0000-000000000002",
        "PC-2",
    );
    let other_plan = backup_failed_other_plan();
    let mut no_context = backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1");
    no_context.as_object_mut().unwrap().remove("context");
    let mut other_type = backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1");
    other_type["type"] = json!("BackupDidNotStart");
    let other_tenant = backup_failed(PARTNER, PLAN, RESOURCE, "PC-1");
    for body in [
        other_resource,
        other_plan,
        no_context,
        other_type,
        other_tenant,
    ] {
        let (status, created) = post(&sim, &token, body.clone()).await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        assert!(!ids.contains(&id), "{body} must be a new alert");
        ids.push(id);
    }
    // Context keys are compared as a whole: an extra key is another alert too.
    let mut extra_key = backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1");
    extra_key["context"]["archive"] = json!("a1");
    let (_, created) = post(&sim, &token, extra_key).await;
    assert!(!ids.contains(&created["id"].as_str().unwrap().to_string()));
    // Details do not identify an alert: same key, other details = same alert.
    let (_, same) = post(
        &sim,
        &token,
        backup_failed(CONTOSO, PLAN, RESOURCE, "elsewhere"),
    )
    .await;
    assert_eq!(same["id"], base.as_str());
    assert_no_violations(&sim);
}

fn backup_failed_other_plan() -> Value {
    backup_failed(
        CONTOSO,
        "00000000-0000-0000-0000-0000000000aa",
        RESOURCE,
        "PC-1",
    )
}

#[tokio::test]
async fn post_bodies_are_checked_against_the_spec() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let good = backup_failed(CONTOSO, PLAN, RESOURCE, "PC-1");
    let stored_before = sim.with_state(|s| s.alerts.len());
    let mut bad_bodies: Vec<(&str, Value)> = Vec::new();
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    bad_bodies.push(("details is required", without("details")));
    bad_bodies.push(("type is required", without("type")));
    let set = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    bad_bodies.push(("details must be an object", set("details", json!("failed"))));
    bad_bodies.push(("type must be a string", set("type", json!(7))));
    bad_bodies.push(("severity enum", set("severity", json!("fatal"))));
    bad_bodies.push(("id is a uuid", set("id", json!("alert-1"))));
    bad_bodies.push((
        "_sourceTimeStamp is int64",
        set("_sourceTimeStamp", json!("344168")),
    ));
    bad_bodies.push(("context is an object", set("context", json!(["planId"]))));
    bad_bodies.push((
        "context values are strings",
        set("context", json!({"planId": 7})),
    ));
    bad_bodies.push((
        "createdAt is a date-time",
        set("createdAt", json!("yesterday")),
    ));
    bad_bodies.push(("tenantID is a string", set("tenantID", json!(56))));
    bad_bodies.push(("unregistered type", set("type", json!("NoSuchAlertType"))));
    bad_bodies.push((
        "NoBackupForXDays details need daysPassed (the spec's payload for that type)",
        json!({"type": "NoBackupForXDays", "tenantID": CONTOSO,
               "details": {"planId": PLAN, "resourceId": RESOURCE}}),
    ));
    for (why, body) in bad_bodies {
        let (status, error) = post(&sim, &token, body.clone()).await;
        assert_eq!(status, 400, "{why}: {body} → {error}");
        assert_eq!(error["domain"], "AlertManager", "{why}: {error}");
        assert!(error["code"].is_string(), "{why}: {error}");
    }
    // Not JSON.
    let response = reqwest::Client::new()
        .post(format!("{}{ALERTS}", sim.base_url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let response = reqwest::Client::new()
        .post(format!("{}{ALERTS}", sim.base_url()))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 415);
    // No token: nginx's 401 page.
    let response = reqwest::Client::new()
        .post(format!("{}{ALERTS}", sim.base_url()))
        .json(&good)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    // Nothing was stored by the refused requests.
    assert_eq!(sim.with_state(|s| s.alerts.len()), stored_before);
    // The same checks are available to client tests.
    assert_eq!(
        acronis_sim::validate_request_body("POST", ALERTS, &good),
        Ok(())
    );
    assert!(
        acronis_sim::validate_request_body("POST", ALERTS, &json!({"type": "BackupFailed"}))
            .is_err()
    );
    // The spec's own example body is accepted (NoBackupForXDays is registered).
    let example = json!({
        "_source": "DC4A6F3B-479B-4D42-B7DD-132C56E9C76B", "_sourceTimeStamp": 344168,
        "context": {"planId": "00000000-0000-0000-0000-000000000000", "resourceId": "00000000-0000-0000-0000-000000000001"},
        "createdAt": "2019-09-05T16:24:35.000Z",
        "details": {"daysPassed": 32, "errorMessage": {"kbLink": {"serCode": "NoBackupForXDays"}},
                    "planId": "796c399a-a230-46c1-b705-31d590b9ef07", "planName": "Acme SQL to Cloud storage",
                    "resourceId": "E10FC321-7900-63B3-3797-8969AB0756B1", "resourceName": "mssql://acme"},
        "id": "1BE7BE26-C68F-0863-2F55-DACC93A799F9", "type": "NoBackupForXDays"});
    let (status, created) = post(&sim, &token, example).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], "1BE7BE26-C68F-0863-2F55-DACC93A799F9");
    // Taking an id that belongs to another alert is refused.
    let mut taken = backup_failed(CONTOSO, "p-9", "r-9", "PC-9");
    taken["id"] = json!("1be7be26-c68f-0863-2f55-dacc93a799f9");
    assert_eq!(post(&sim, &token, taken).await.0, 400);
    assert_no_violations(&sim);
}

#[tokio::test]
async fn the_alert_tenant_is_tenant_id_in_the_callers_subtree_or_the_callers_own() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let stranger = sim
        .add_tenant(TenantSeed::new("Other MSP", "partner", None))
        .expect("tenant");
    let stranger_customer = sim
        .add_tenant(TenantSeed::new(
            "Other customer",
            "customer",
            Some(&stranger),
        ))
        .expect("tenant");
    for (tenant, why) in [
        (stranger.as_str(), "another partner"),
        (stranger_customer.as_str(), "another partner's customer"),
        ("00000000-0000-4000-8000-00000000dead", "unknown tenant"),
        ("56", "a v1 numeric id is not a tenant UUID"),
        ("/1/56/", "a locator is not a tenant UUID"),
        (acronis_sim::model::ROOT_TENANT_ID, "the data center root"),
    ] {
        let (status, error) = post(&sim, &token, backup_failed(tenant, PLAN, RESOURCE, "PC")).await;
        assert_eq!(status, 403, "{why}: {error}");
        assert_eq!(error["domain"], "AlertManager");
    }
    // The caller's descendants (upper-case UUID accepted) and its own tenant are fine.
    let (status, created) = post(
        &sim,
        &token,
        backup_failed(&CONTOSO.to_ascii_uppercase(), PLAN, RESOURCE, "PC"),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let alert = get_alert(&sim, &token, created["id"].as_str().unwrap()).await;
    assert_eq!(alert["tenant"]["uuid"], CONTOSO);
    let (status, own) = post(&sim, &token, backup_failed(PARTNER, PLAN, RESOURCE, "PC")).await;
    assert_eq!(status, 200);
    assert_ne!(own["id"], created["id"]);
    // A deleted tenant cannot get alerts.
    let (status, customer) = call(
        &sim,
        &token,
        "POST",
        "/api/2/tenants",
        Some(json!({"name": "Short-lived", "kind": "customer", "parent_id": PARTNER})),
    )
    .await;
    assert_eq!(status, 201, "{customer}");
    let short = customer["id"].as_str().unwrap().to_string();
    let (status, _) = call(
        &sim,
        &token,
        "PUT",
        &format!("/api/2/tenants/{short}"),
        Some(json!({"version": 1, "enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &sim,
        &token,
        "DELETE",
        &format!("/api/2/tenants/{short}?version=2"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        post(&sim, &token, backup_failed(&short, PLAN, RESOURCE, "PC"))
            .await
            .0,
        403
    );
    assert_no_violations(&sim);
}

#[tokio::test]
async fn dismissing_sets_deleted_at_and_updated_at_and_hides_the_alert() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (_, created) = post(&sim, &token, backup_failed(CONTOSO, PLAN, RESOURCE, "PC")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let before = get_alert(&sim, &token, &id).await;
    let (status, body) = call(&sim, &token, "DELETE", &format!("{ALERTS}/{id}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    let after = get_alert(&sim, &token, &id).await;
    assert_eq!(after["deletedAt"], after["updatedAt"]);
    assert!(ns(&after, "updatedAt") > ns(&before, "updatedAt"));
    assert_eq!(
        call(&sim, &token, "GET", &format!("{ALERTS}/{id}"), None)
            .await
            .0,
        404
    );
    let (_, deleted_only) = call(
        &sim,
        &token,
        "GET",
        &format!("{ALERTS}?show_deleted_only=true"),
        None,
    )
    .await;
    assert!(
        deleted_only["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
    // Dismissed (API) and resolved (platform, hook) alerts look the same on the wire.
    let (_, other) = post(&sim, &token, backup_failed(CONTOSO, "p-2", "r-2", "PC-2")).await;
    let other = other["id"].as_str().unwrap().to_string();
    sim.resolve_alert(&other).expect("resolve");
    let resolved = get_alert(&sim, &token, &other).await;
    let keys = |alert: &Value| {
        let mut keys: Vec<String> = alert.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&resolved), keys(&after));
    assert!(resolved["deletedAt"].is_string());
    // Unknown or already dismissed: 404; a malformed id: 400.
    assert_eq!(
        call(&sim, &token, "DELETE", &format!("{ALERTS}/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(
            &sim,
            &token,
            "DELETE",
            &format!("{ALERTS}/00000000-0000-4000-8000-000000000000"),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&sim, &token, "DELETE", &format!("{ALERTS}/nope"), None)
            .await
            .0,
        400
    );
    assert_no_violations(&sim);
}

#[tokio::test]
async fn seeded_alert_types_can_be_posted() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let cti = "cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.application.sync_failed.v1.0";
    let body = json!({"type": cti, "tenantID": CONTOSO,
        "details": {"title": "Sync failed", "category": "Integration", "description": "3 failures", "fields": {"Customer": "Contoso"}}});
    assert_eq!(
        post(&sim, &token, body.clone()).await.0,
        400,
        "not registered yet"
    );
    let seed: acronis_sim::Seed = serde_json::from_value(json!({"alert_types": [
        {"id": cti, "severity": "error", "category": "Integration"}]}))
    .expect("seed");
    sim.apply_seed(&seed).expect("seed applies");
    let (status, created) = post(&sim, &token, body).await;
    assert_eq!(status, 200, "{created}");
    let alert = get_alert(&sim, &token, created["id"].as_str().unwrap()).await;
    assert_eq!(alert["category"], "Integration");
    assert_eq!(alert["severity"], "error");
    assert_no_violations(&sim);
}
