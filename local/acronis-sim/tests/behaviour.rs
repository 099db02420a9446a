mod common;

use acronis_sim::{NewAlert, SimConfig, TenantSeed};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn client_lookup_finds_the_partner_tenant() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (status, client) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/clients/{CLIENT_ID}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(client["tenant_id"], PARTNER);
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn wrong_secret_is_rejected() {
    let sim = start(SimConfig::example()).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/2/idp/token", sim.base_url()))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "access_denied");
}

#[tokio::test]
async fn expired_token_gives_401_on_both_apis() {
    let config = SimConfig {
        token_lifetime: Duration::from_secs(60),
        ..SimConfig::example()
    };
    let sim = start(config).await;
    let token = token(&sim).await;
    let tenant_path = format!("/api/2/tenants/{PARTNER}");
    assert_eq!(call(&sim, &token, "GET", &tenant_path, None).await.0, 200);
    sim.advance_clock(Duration::from_secs(61));
    let (status, body) = call(&sim, &token, "GET", &tenant_path, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    // Alert Manager answers 401 with nginx's text page, not JSON.
    let response = reqwest::Client::new()
        .get(format!("{}/api/alert_manager/v1/alerts", sim.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn tenant_lifecycle_with_version_locking_and_1006() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (status, created) = call(
        &sim,
        &token,
        "POST",
        "/api/2/tenants",
        Some(json!({"name": "Northwind", "kind": "customer", "parent_id": PARTNER})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["pricing_mode"], "trial");
    let id = created["id"].as_str().expect("id").to_string();
    let path = format!("/api/2/tenants/{id}");

    let (status, error) = call(&sim, &token, "DELETE", &format!("{path}?version=1"), None).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], 1006);
    assert_eq!(error["error"]["domain"], "PlatformAccountServer");

    let (status, error) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"version": 7, "enabled": false})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], 1001);

    let (status, disabled) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"version": 1, "enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(disabled["version"], 2);

    let (status, _) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"version": 2, "bogus": true})),
    )
    .await;
    assert_eq!(
        status, 400,
        "unknown properties are rejected (tenantPut has additionalProperties: false)"
    );

    assert_eq!(
        call(&sim, &token, "DELETE", &format!("{path}?version=2"), None)
            .await
            .0,
        204
    );
    assert_eq!(call(&sim, &token, "GET", &path, None).await.0, 404);
    let (status, deleted) = call(
        &sim,
        &token,
        "GET",
        &format!("{path}?allow_deleted=true"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(deleted["deleted_at"].is_string());

    let (status, pricing) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{CONTOSO}/pricing"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(pricing["mode"], "production");
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn children_are_paged_with_cursors() {
    let config = SimConfig {
        children_page_size: 2,
        ..SimConfig::example()
    };
    let sim = start(config).await;
    for index in 0..3 {
        sim.add_tenant(TenantSeed::new(
            &format!("Extra {index}"),
            "customer",
            Some(PARTNER),
        ))
        .expect("tenant");
    }
    let token = token(&sim).await;
    let mut seen = Vec::new();
    let mut path = format!("/api/2/tenants/{PARTNER}/children");
    loop {
        let (status, page) = call(&sim, &token, "GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().filter_map(Value::as_str).map(String::from));
        match page["paging"]["cursors"]["after"].as_str() {
            Some(after) => path = format!("/api/2/tenants/{PARTNER}/children?after={after}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "2 seeded customers + 3 extra: {seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    assert_eq!(
        sim.request_count("GET", "/api/2/tenants/{tenant_id}/children"),
        3
    );
}

#[tokio::test]
async fn racing_offering_item_writers_one_gets_409() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let path = format!("/api/2/tenants/{CONTOSO}/offering_items");
    let (status, listing) = call(
        &sim,
        &token,
        "GET",
        &format!("{path}?edition=*&usage_names=workstations"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let item = listing["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == "pw_base_workstations"))
        .expect("item")
        .clone();
    let version = item["quota"]["version"].as_i64().expect("quota version");
    let put = |value: u64| {
        json!({"offering_items": [{"application_id": item["application_id"], "name": "pw_base_workstations", "status": 1,
            "quota": {"value": value, "overage": null, "version": version}}]})
    };
    let (first, second) = tokio::join!(
        call(&sim, &token, "PUT", &path, Some(put(20))),
        call(&sim, &token, "PUT", &path, Some(put(30)))
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    let loser = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(loser["error"]["code"], 1001);
    let winner = if first.0 == 200 { &first.1 } else { &second.1 };
    assert!(
        winner["items"][0]["quota"]["version"]
            .as_i64()
            .expect("version")
            > version
    );
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn offering_item_rules() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let path = format!("/api/2/tenants/{CONTOSO}/offering_items");
    // Default edition filter is the legacy `standard`: per-workload items need edition=*.
    let (_, default_listing) = call(&sim, &token, "GET", &path, None).await;
    assert!(
        default_listing["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["edition"] == "standard" || i["edition"].is_null())
    );
    let app = acronis_sim::model::CYBER_PROTECTION_APP_ID;
    // A public cloud storage may be enabled beside the customer's storage (the guide's storage
    // scenario 3; a second storage of any other kind is refused: tests/public_cloud_storages.rs).
    let (status, body) = call(&sim, &token, "PUT", &path, Some(json!({"offering_items": [
        {"application_id": app, "name": "pw_base_storage", "infra_id": AZURE_STORAGE, "status": 1}]}))).await;
    assert_eq!(status, 200, "{body}");
    // Turning off an item with usage fails with check_usage.
    let (status, _) = call(
        &sim,
        &token,
        "PUT",
        &path,
        Some(json!({"check_usage": true, "offering_items": [
        {"application_id": app, "name": "pw_base_workstations", "status": 0}]})),
    )
    .await;
    assert_eq!(status, 400);
    // Switching storage in one PUT works.
    let (status, body) = call(&sim, &token, "PUT", &path, Some(json!({"offering_items": [
        {"application_id": app, "name": "pw_base_storage", "infra_id": ACRONIS_STORAGE, "status": 0},
        {"application_id": app, "name": "pw_base_storage", "infra_id": AZURE_STORAGE, "status": 1}]}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, usages) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/usages?tenants={CONTOSO}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let rows = usages["items"][0]["usages"].as_array().expect("usages");
    assert!(rows.iter().any(|r| r["name"] == "pw_base_workstations"
        && r["value"] == 7
        && r["absolute_value"] == 7));
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn alert_paging_with_nanosecond_filters_sees_each_alert_once_and_reraised_again() {
    let sim = start(SimConfig {
        alerts_default_limit: 2,
        ..SimConfig::example()
    })
    .await;
    let token = token(&sim).await;
    let mut ids = Vec::new();
    for index in 0..4 {
        let alert = NewAlert {
            tenant_id: CONTOSO.into(),
            alert_type: "BackupFailed".into(),
            severity: "critical".into(),
            category: "Backup".into(),
            details: json!({"resourceName": format!("PC-{index}")}),
        };
        ids.push(sim.raise_alert(alert).expect("raise"));
    }
    // Poll the way a client does: remember the highest updatedAt (in ns) seen.
    async fn poll(
        sim: &acronis_sim::AcronisSim,
        token: &str,
        since_ns: i128,
    ) -> (Vec<String>, i128) {
        let mut seen = Vec::new();
        let mut newest = since_ns;
        let mut path =
            format!("/api/alert_manager/v1/alerts?updated_at=gt({since_ns})&order=asc(updated_at)");
        loop {
            let (status, page) = call(sim, token, "GET", &path, None).await;
            assert_eq!(status, 200, "{page}");
            for alert in page["items"].as_array().expect("items") {
                seen.push(alert["id"].as_str().expect("id").to_string());
                let updated = chrono::DateTime::parse_from_rfc3339(
                    alert["updatedAt"].as_str().expect("updatedAt"),
                )
                .expect("time");
                newest = newest.max(i128::from(updated.timestamp_nanos_opt().expect("ns")));
                assert!(alert["tenant"]["uuid"] == CONTOSO);
            }
            match page["paging"]["cursors"]["after"].as_str() {
                Some(after) => path = format!("/api/alert_manager/v1/alerts?after={after}"),
                None => return (seen, newest),
            }
        }
    }
    let (first_pass, watermark) = poll(&sim, &token, 0).await;
    assert_eq!(
        first_pass.len(),
        5,
        "4 raised + 1 seeded, each once: {first_pass:?}"
    );
    let (nothing_new, _) = poll(&sim, &token, watermark).await;
    assert!(nothing_new.is_empty());
    sim.reraise_alert(&ids[1], None).expect("reraise");
    let (after_reraise, _) = poll(&sim, &token, watermark).await;
    assert_eq!(
        after_reraise,
        vec![ids[1].clone()],
        "same id again after its update"
    );
    // Dismissal hides it unless show_deleted.
    assert_eq!(
        call(
            &sim,
            &token,
            "DELETE",
            &format!("/api/alert_manager/v1/alerts/{}", ids[1]),
            None
        )
        .await
        .0,
        204
    );
    let (_, active) = call(
        &sim,
        &token,
        "GET",
        "/api/alert_manager/v1/alerts?limit=100",
        None,
    )
    .await;
    assert_eq!(active["items"].as_array().expect("items").len(), 4);
    let (_, all) = call(
        &sim,
        &token,
        "GET",
        "/api/alert_manager/v1/alerts?limit=100&show_deleted=true",
        None,
    )
    .await;
    assert_eq!(all["items"].as_array().expect("items").len(), 5);
    let (status, types) = call(
        &sim,
        &token,
        "GET",
        "/api/alert_manager/v1/types?os_type=windows",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(!types["items"].as_array().expect("items").is_empty());
    assert_eq!(
        call(&sim, &token, "GET", "/api/alert_manager/v1/types", None)
            .await
            .0,
        400
    );
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn knobs_inject_faults_deterministically_and_hooks_work_over_http() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let http = reqwest::Client::new();
    let knobs = json!({"rate_limit_probability": 1.0, "random_seed": 7});
    let response = http
        .put(format!("{}/__sim/knobs", sim.base_url()))
        .json(&knobs)
        .send()
        .await
        .expect("knobs");
    assert_eq!(response.status(), 204);
    let (status, body) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{PARTNER}"),
        None,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], 429);
    sim.set_knobs(acronis_sim::Knobs::default());
    let response = http
        .put(format!("{}/__sim/usages", sim.base_url()))
        .json(&json!({"tenant_id": CONTOSO, "name": "pw_base_servers", "value": 3}))
        .send()
        .await
        .expect("usage hook");
    assert_eq!(response.status(), 204);
    let (_, usages) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{CONTOSO}/usages"),
        None,
    )
    .await;
    assert!(
        usages["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|r| r["name"] == "pw_base_servers" && r["value"] == 3)
    );
    let raised: Value = http
        .post(format!("{}/__sim/alerts", sim.base_url()))
        .json(&json!({"tenant_id": CONTOSO, "type": "BackupFailed"}))
        .send()
        .await
        .expect("alert hook")
        .json()
        .await
        .expect("json");
    assert!(raised["id"].is_string());
    let log = sim.request_log();
    assert!(log.iter().any(|r| r.status == 429));
    sim.reset_request_log();
    assert!(sim.request_log().is_empty());
}

#[tokio::test]
async fn users_and_activation() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    assert_eq!(
        call(
            &sim,
            &token,
            "GET",
            "/api/2/users/check_login?username=new.admin",
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &sim,
            &token,
            "GET",
            "/api/2/users/check_login?username=admin@contoso.example",
            None
        )
        .await
        .0,
        409
    );
    let (status, user) = call(&sim, &token, "POST", "/api/2/users",
        Some(json!({"tenant_id": CONTOSO, "login": "new.admin", "contact": {"email": "new.admin@contoso.example"}}))).await;
    assert_eq!(status, 200, "{user}");
    let id = user["id"].as_str().expect("id");
    assert_eq!(
        call(
            &sim,
            &token,
            "POST",
            &format!("/api/2/users/{id}/send-activation-email"),
            None
        )
        .await
        .0,
        204
    );
    let (status, mfa) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{CONTOSO}/mfa/status"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mfa["mfa_status"], "disabled");
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

const FABRIKAM: &str = "7c2e4a10-0000-4000-8000-000000000003";

fn policy(user_id: &str, tenant_id: &str, role: &str) -> Value {
    json!({"id": "00000000-0000-0000-0000-000000000000", "version": 0, "trustee_id": user_id,
        "trustee_type": "user", "issuer_id": "00000000-0000-0000-0000-000000000000",
        "tenant_id": tenant_id, "role_id": role})
}

#[tokio::test]
async fn tenant_users_and_access_policies() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let (status, user) = call(
        &sim,
        &token,
        "POST",
        "/api/2/users",
        Some(json!({"tenant_id": CONTOSO, "login": "aaa.admin",
            "contact": {"email": "aaa@contoso.example", "firstname": "Zed"}})),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    let id = user["id"].as_str().expect("id").to_string();
    let seeded = sim.with_state(|s| {
        s.users
            .values()
            .find(|(u, _)| u.login == "admin@contoso.example")
            .map(|(u, _)| u.id.clone())
            .expect("seeded user")
    });

    // FetchTenantUsers: ids only, ordered by login when asked, reversed with '-'.
    let users_path = format!("/api/2/tenants/{CONTOSO}/users");
    let (status, listed) = call(
        &sim,
        &token,
        "GET",
        &format!("{users_path}?order=login"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed, json!({"items": [id, seeded]}));
    let (_, reversed) = call(
        &sim,
        &token,
        "GET",
        &format!("{users_path}?order=-login"),
        None,
    )
    .await;
    assert_eq!(reversed, json!({"items": [seeded, id]}));
    let (status, _) = call(
        &sim,
        &token,
        "GET",
        &format!("{users_path}?order=shoe_size"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, empty) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{PARTNER}/users"),
        None,
    )
    .await;
    assert_eq!((status, empty), (200, json!({"items": []})));
    let outsider = sim
        .add_tenant(acronis_sim::TenantSeed::new("Other MSP", "partner", None))
        .expect("other partner");
    let (status, denied) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{outsider}/users"),
        None,
    )
    .await;
    assert_eq!(
        (status, denied["error"]["code"].clone()),
        (403, json!(1002))
    );
    let (status, _) = call(
        &sim,
        &token,
        "GET",
        "/api/2/tenants/00000000-0000-4000-8000-00000000dead/users",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Access policies: a new user has none; PUT stores and returns them.
    let policies_path = format!("/api/2/users/{id}/access_policies");
    let (status, none) = call(&sim, &token, "GET", &policies_path, None).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["items"], json!([]));
    let (status, stored) = call(
        &sim,
        &token,
        "PUT",
        &policies_path,
        Some(json!({"items": [policy(&id, CONTOSO, "company_admin")]})),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["items"][0]["role_id"], "company_admin");
    assert_eq!(stored["items"][0]["trustee_id"], json!(id));
    assert_eq!(stored["items"][0]["issuer_id"], CONTOSO);
    let policy_id = stored["items"][0]["id"]
        .as_str()
        .expect("policy id")
        .to_string();
    assert_ne!(policy_id, "00000000-0000-0000-0000-000000000000");
    assert_eq!(sim.user_roles(&id), vec!["company_admin".to_string()]);
    let (_, read) = call(&sim, &token, "GET", &policies_path, None).await;
    assert_eq!(read["items"], stored["items"]);
    // Writing back what was read keeps the id and version; a change bumps the version.
    let (_, again) = call(
        &sim,
        &token,
        "PUT",
        &policies_path,
        Some(json!({"items": read["items"]})),
    )
    .await;
    assert_eq!(again["items"], stored["items"]);
    let mut changed = read["items"][0].clone();
    changed["role_id"] = json!("readonly_admin");
    let (_, bumped) = call(
        &sim,
        &token,
        "PUT",
        &policies_path,
        Some(json!({"items": [changed]})),
    )
    .await;
    assert_eq!(bumped["items"][0]["id"], json!(policy_id));
    assert_eq!(bumped["items"][0]["version"], json!(2));
    assert_eq!(sim.user_roles(&id), vec!["readonly_admin".to_string()]);

    // What the platform rejects.
    let rejected = [
        // the spec schema: unknown role, missing role_id, wrong type
        (json!({"items": [policy(&id, CONTOSO, "overlord")]}), 400),
        (
            json!({"items": [{"id": "x", "version": 0, "trustee_id": id, "trustee_type": "user",
            "issuer_id": "x", "tenant_id": CONTOSO}]}),
            400,
        ),
        (
            json!({"items": [{"id": "x", "version": "0", "trustee_id": id, "trustee_type": "user",
            "issuer_id": "x", "tenant_id": CONTOSO, "role_id": "company_admin"}]}),
            400,
        ),
        (json!({"policies": []}), 400),
        // a policy of somebody else
        (
            json!({"items": [policy(&seeded, CONTOSO, "company_admin")]}),
            400,
        ),
        // a tenant outside the caller's subtree
        (
            json!({"items": [policy(&id, &outsider, "company_admin")]}),
            403,
        ),
        // a tenant the user does not belong to
        (
            json!({"items": [policy(&id, PARTNER, "partner_admin")]}),
            400,
        ),
        // the same role twice
        (
            json!({"items": [policy(&id, CONTOSO, "company_admin"), policy(&id, CONTOSO, "company_admin")]}),
            409,
        ),
    ];
    for (body, expected) in rejected {
        let (status, error) = call(&sim, &token, "PUT", &policies_path, Some(body.clone())).await;
        assert_eq!(status, expected, "{body} → {error}");
        assert!(error["error"]["code"].is_number(), "{error}");
    }
    assert_eq!(
        sim.user_roles(&id),
        vec!["readonly_admin".to_string()],
        "rejected writes change nothing"
    );
    let unknown = "00000000-0000-4000-8000-00000000beef";
    for method in ["GET", "PUT"] {
        let body = (method == "PUT")
            .then(|| json!({"items": [policy(unknown, CONTOSO, "company_admin")]}));
        let (status, _) = call(
            &sim,
            &token,
            method,
            &format!("/api/2/users/{unknown}/access_policies"),
            body,
        )
        .await;
        assert_eq!(status, 404, "{method}");
    }

    // A self-service customer: its users exist, but the partner may not manage their roles.
    sim.apply_seed(&serde_json::from_value(json!({"users": [
        {"id": "00000000-0000-4000-8000-0000000000f1", "tenant_id": FABRIKAM,
         "login": "owner@fabrikam.example", "email": "owner@fabrikam.example", "roles": ["company_admin"]}]}))
        .expect("seed"))
        .expect("apply");
    let fabrikam_user = "00000000-0000-4000-8000-0000000000f1";
    assert_eq!(
        sim.user_roles(fabrikam_user),
        vec!["company_admin".to_string()]
    );
    let (status, error) = call(
        &sim,
        &token,
        "PUT",
        &format!("/api/2/users/{fabrikam_user}/access_policies"),
        Some(json!({"items": []})),
    )
    .await;
    assert_eq!((status, error["error"]["code"].clone()), (403, json!(1002)));
    assert_eq!(
        sim.user_roles(fabrikam_user),
        vec!["company_admin".to_string()]
    );

    // Activation e-mails and roles are visible in the state dump.
    let (status, _) = call(
        &sim,
        &token,
        "POST",
        &format!("/api/2/users/{id}/send-activation-email"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let state: Value = reqwest::get(format!("{}/__sim/state", sim.base_url()))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let dumped = state["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == json!(id))
        .expect("user in state")
        .clone();
    assert_eq!(dumped["activation_emails_sent"], 1);
    assert_eq!(dumped["roles"], json!(["readonly_admin"]));
    assert_eq!(dumped["access_policies"][0]["id"], json!(policy_id));
    assert_eq!(sim.user(&id).expect("user").activation_emails_sent, 1);
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn library_reports_concurrency_per_route() {
    let sim = std::sync::Arc::new(start(SimConfig::example()).await);
    let token = token(&sim).await;
    sim.reset_concurrency();
    sim.hold_requests();
    let route = "/api/2/tenants/{tenant_id}";
    let held: Vec<_> = [PARTNER, CONTOSO]
        .into_iter()
        .map(|tenant| {
            let (sim, token) = (std::sync::Arc::clone(&sim), token.clone());
            tokio::spawn(async move {
                call(
                    &sim,
                    &token,
                    "GET",
                    &format!("/api/2/tenants/{tenant}"),
                    None,
                )
                .await
                .0
            })
        })
        .collect();
    sim.wait_for_in_flight(Some(route), 2).await;
    assert_eq!(sim.in_flight(None), 2);
    sim.release_requests();
    for call in held {
        assert_eq!(call.await.expect("task"), 200);
    }
    let figures = sim.concurrency();
    assert_eq!(figures.max_concurrent(), 2);
    assert_eq!(figures.max_of("GET", route), 2);
    assert_eq!(figures.routes.len(), 1, "{figures:?}");
    assert_eq!(figures.routes[0].in_flight, 0);
    sim.reset_concurrency();
    assert_eq!(sim.concurrency().max_concurrent(), 0);
}
