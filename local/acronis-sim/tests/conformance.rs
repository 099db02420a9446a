//! The simulator against the official OpenAPI files: routes it serves exist there, bodies it
//! returns validate, and the checks themselves fail on things the specs lack.

mod common;

use acronis_sim::conformance::{
    Specs, check_routes, served_route_list, validate_request_body_with, validate_response_body_with,
};
use acronis_sim::routes::{Api, HOOK_PREFIX, SERVED_ROUTES, SpecStatus};
use acronis_sim::{NewAlert, SimConfig};
use common::*;
use serde_json::{Value, json};
use std::path::Path;

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

fn specs() -> Specs {
    Specs::load(Path::new(SPEC_DIR)).expect("both OpenAPI files under ../shared/reference")
}

#[test]
fn every_served_route_is_in_the_specs() {
    let specs = specs();
    if let Err(problems) = check_routes(&specs, served_route_list()) {
        panic!("{problems:#?}");
    }
    // Hooks are excluded on purpose: they are not in the table at all.
    assert!(
        SERVED_ROUTES
            .iter()
            .all(|r| !r.full_path().starts_with(HOOK_PREFIX))
    );
    let outside: Vec<String> = SERVED_ROUTES
        .iter()
        .filter(|r| r.spec_status != SpecStatus::InSpec)
        .map(|r| r.full_path())
        .collect();
    assert_eq!(
        outside,
        vec!["/api/2/tenants/{tenant_id}/infra".to_string()]
    );
}

#[test]
fn route_check_fails_for_routes_the_spec_lacks() {
    let specs = specs();
    static IN_SPEC: SpecStatus = SpecStatus::InSpec;
    let in_spec = &IN_SPEC;
    let altered = served_route_list().chain([(
        Api::AccountManagement,
        "GET",
        "/tenants/{tenant_id}/bogus",
        in_spec,
    )]);
    let problems = check_routes(&specs, altered).expect_err("a bogus route must fail");
    assert!(problems[0].contains("/tenants/{tenant_id}/bogus"));
    let wrong_method = [(Api::AlertManager, "PUT", "/alerts/{id}", in_spec)];
    assert!(check_routes(&specs, wrong_method).is_err());
    let marked_outside = SpecStatus::DocumentedOutsideSpec("test");
    assert!(
        check_routes(
            &specs,
            [(
                Api::AccountManagement,
                "GET",
                "/tenants/{tenant_id}",
                &marked_outside
            )]
        )
        .is_err()
    );
}

#[test]
fn request_bodies_are_checked_against_the_request_schemas() {
    let specs = specs();
    let tenant = json!({"name": "Northwind", "kind": "customer", "parent_id": PARTNER});
    assert_eq!(
        validate_request_body_with(&specs, "POST", "/api/2/tenants", &tenant),
        Ok(())
    );
    let mut extra = tenant.clone();
    extra["colour"] = json!("blue");
    assert!(
        validate_request_body_with(&specs, "POST", "/api/2/tenants", &extra).is_err(),
        "additionalProperties: false"
    );
    let missing_kind = json!({"name": "Northwind", "parent_id": PARTNER});
    assert!(validate_request_body_with(&specs, "POST", "/api/2/tenants", &missing_kind).is_err());
    let path = format!("/api/2/tenants/{CONTOSO}/offering_items");
    let good = json!({"offering_items": [{"application_id": acronis_sim::model::CYBER_PROTECTION_APP_ID,
        "name": "pw_base_workstations", "status": 1, "quota": {"value": 5, "overage": null, "version": 0}}]});
    assert_eq!(
        validate_request_body_with(&specs, "PUT", &path, &good),
        Ok(())
    );
    let mut bad_quota = good.clone();
    bad_quota["offering_items"][0]["quota"]["value"] = json!("5");
    assert!(validate_request_body_with(&specs, "PUT", &path, &bad_quota).is_err());
    let mut quota_without_version = good.clone();
    quota_without_version["offering_items"][0]["quota"] = json!({"value": 5, "overage": null});
    assert!(validate_request_body_with(&specs, "PUT", &path, &quota_without_version).is_err());
    assert!(
        validate_request_body_with(&specs, "PUT", "/api/2/tenants/x/nonexistent", &good).is_err()
    );
}

#[test]
fn alert_post_bodies_are_checked_against_the_alert_payload_schema() {
    let specs = specs();
    let path = "/api/alert_manager/v1/alerts";
    let good = json!({"type": "BackupFailed", "details": {"planName": "Daily"},
        "context": {"planId": "p", "resourceId": "r"}, "tenantID": CONTOSO, "severity": "critical"});
    assert_eq!(
        validate_request_body_with(&specs, "POST", path, &good),
        Ok(())
    );
    for bad in [
        json!({"type": "BackupFailed"}),
        json!({"details": {}}),
        json!({"type": "BackupFailed", "details": {}, "severity": "fatal"}),
        json!({"type": "BackupFailed", "details": {}, "id": "x"}),
        json!({"type": "BackupFailed", "details": []}),
    ] {
        assert!(
            validate_request_body_with(&specs, "POST", path, &bad).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        validate_response_body_with(
            &specs,
            "POST",
            path,
            200,
            &json!({"id": "BACA9625-A993-4722-B03F-F2807C85E76F"})
        ),
        Ok(())
    );
    assert!(validate_response_body_with(&specs, "POST", path, 200, &json!({})).is_err());
}

#[test]
fn response_check_fails_for_bodies_the_spec_lacks() {
    let specs = specs();
    let error = json!({"error": {"code": 1006, "domain": "PlatformAccountServer", "message": "m", "details": {"info": null}, "context": {}}});
    assert_eq!(
        validate_response_body_with(
            &specs,
            "DELETE",
            &format!("/api/2/tenants/{CONTOSO}"),
            400,
            &error
        ),
        Ok(())
    );
    let unwrapped = json!({"code": 1006, "message": "m"});
    assert!(
        validate_response_body_with(
            &specs,
            "DELETE",
            &format!("/api/2/tenants/{CONTOSO}"),
            400,
            &unwrapped
        )
        .is_err()
    );
    let quota_item = json!({"timestamp": "2025-06-01T00:00:00", "items": [{"application_id": acronis_sim::model::CYBER_PROTECTION_APP_ID,
        "name": "x", "edition": null, "usage_name": "x", "tenant_id": CONTOSO, "status": 1, "type": "count",
        "measurement_unit": "quantity", "surprise": 1}]});
    assert!(
        validate_response_body_with(
            &specs,
            "GET",
            &format!("/api/2/tenants/{CONTOSO}/offering_items"),
            200,
            &quota_item
        )
        .is_err()
    );
    let alert_list = json!({"items": [{"id": "not-a-uuid"}]});
    assert!(
        validate_response_body_with(
            &specs,
            "GET",
            "/api/alert_manager/v1/alerts",
            200,
            &alert_list
        )
        .is_err()
    );
}

/// Drives every served route and validates each JSON response against its response schema.
#[tokio::test]
async fn responses_of_every_served_route_validate() {
    let specs = specs();
    let sim = start(SimConfig {
        children_page_size: 1,
        ..SimConfig::example()
    })
    .await;
    let token = token(&sim).await;
    let alert = sim
        .raise_alert(NewAlert {
            tenant_id: CONTOSO.into(),
            alert_type: "BackupFailed".into(),
            severity: "error".into(),
            category: "Backup".into(),
            details: json!({}),
        })
        .expect("alert");
    let app = acronis_sim::model::CYBER_PROTECTION_APP_ID;
    let (_, created) = call(
        &sim,
        &token,
        "POST",
        "/api/2/tenants",
        Some(
            json!({"name": "Conf", "kind": "customer", "parent_id": PARTNER,
        "contact": {"email": "it@conf.example", "firstname": "Ada", "types": ["billing"]}}),
        ),
    )
    .await;
    let new_id = created["id"].as_str().expect("id").to_string();
    let (_, pricing) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{new_id}/pricing"),
        None,
    )
    .await;
    let (_, user) = call(
        &sim,
        &token,
        "POST",
        "/api/2/users",
        Some(json!({"tenant_id": CONTOSO, "login": "conf.user",
        "contact": {"email": "conf@contoso.example"}})),
    )
    .await;
    let user_id = user["id"].as_str().expect("user").to_string();
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/2/clients/{CLIENT_ID}"), None),
        ("GET", format!("/api/2/tenants/{PARTNER}"), None),
        (
            "GET",
            format!("/api/2/tenants?parent_id={PARTNER}&lod=basic"),
            None,
        ),
        (
            "GET",
            format!("/api/2/tenants?subtree_root_id={PARTNER}"),
            None,
        ),
        (
            "GET",
            format!("/api/2/tenants?uuids={CONTOSO}&lod=stamps"),
            None,
        ),
        (
            "PUT",
            format!("/api/2/tenants/{new_id}"),
            Some(json!({"version": 1, "name": "Conf 2", "internal_tag": "x"})),
        ),
        (
            "PUT",
            format!("/api/2/tenants/{new_id}"),
            Some(json!({"version": 1})),
        ),
        ("GET", format!("/api/2/tenants/{PARTNER}/children"), None),
        (
            "PUT",
            format!("/api/2/tenants/{new_id}/pricing"),
            Some(json!({"version": pricing["version"], "mode": "production"})),
        ),
        ("GET", format!("/api/2/tenants/{new_id}/pricing"), None),
        (
            "PUT",
            format!("/api/2/tenants/{new_id}/mfa/status"),
            Some(json!({"enabled": true})),
        ),
        ("GET", format!("/api/2/tenants/{new_id}/mfa/status"), None),
        ("GET", format!("/api/2/users/{user_id}"), None),
        ("GET", "/api/2/applications".to_string(), None),
        (
            "GET",
            format!("/api/2/tenants/{CONTOSO}/applications"),
            None,
        ),
        (
            "DELETE",
            format!("/api/2/applications/{app}/bindings/tenants/{new_id}"),
            None,
        ),
        (
            "POST",
            format!("/api/2/applications/{app}/bindings/tenants/{new_id}"),
            None,
        ),
        (
            "GET",
            format!("/api/2/tenants/{CONTOSO}/offering_items?edition=*"),
            None,
        ),
        (
            "GET",
            format!("/api/2/tenants/{CONTOSO}/offering_items"),
            None,
        ),
        (
            "PUT",
            format!("/api/2/tenants/{CONTOSO}/offering_items"),
            Some(json!({"offering_items": [
            {"application_id": app, "name": "pw_base_servers", "status": 1, "quota": {"value": 3, "overage": 1, "version": 0}},
            {"application_id": app, "name": "pw_base_m365_mailboxes", "status": 1}]})),
        ),
        (
            "PUT",
            format!("/api/2/tenants/{CONTOSO}/offering_items"),
            Some(json!({"offering_items": [{"application_id": app, "name": "nope"}]})),
        ),
        (
            "GET",
            format!("/api/2/tenants/offering_items?subtree_root_tenant_id={PARTNER}&limit=5"),
            None,
        ),
        (
            "GET",
            format!("/api/2/infra?uuids={ACRONIS_STORAGE},{AZURE_STORAGE}"),
            None,
        ),
        ("GET", format!("/api/2/tenants/{CONTOSO}/usages"), None),
        (
            "GET",
            format!(
                "/api/2/tenants/usages?tenants={CONTOSO},{new_id}&usage_names=storage,workstation_storage"
            ),
            None,
        ),
        (
            "POST",
            "/api/alert_manager/v1/alerts".to_string(),
            Some(json!({"type": "BackupFailed", "tenantID": CONTOSO,
                "context": {"planId": "p-1", "resourceId": "r-1"}, "details": {"planName": "Daily"}})),
        ),
        (
            "POST",
            "/api/alert_manager/v1/alerts".to_string(),
            Some(json!({"type": "BackupFailed", "tenantID": CONTOSO,
                "context": {"planId": "p-1", "resourceId": "r-1"}, "details": {"planName": "Daily"}})),
        ),
        (
            "POST",
            "/api/alert_manager/v1/alerts".to_string(),
            Some(json!({"type": "BackupFailed"})),
        ),
        (
            "POST",
            "/api/alert_manager/v1/alerts".to_string(),
            Some(json!({"type": "BackupFailed", "details": {},
                "tenantID": "00000000-0000-4000-8000-00000000dead"})),
        ),
        (
            "GET",
            "/api/alert_manager/v1/alerts?limit=1&order=desc(created_at)".to_string(),
            None,
        ),
        ("GET", format!("/api/alert_manager/v1/alerts/{alert}"), None),
        (
            "GET",
            "/api/alert_manager/v1/alerts/not-a-uuid".to_string(),
            None,
        ),
        (
            "DELETE",
            format!("/api/alert_manager/v1/alerts/{alert}"),
            None,
        ),
        (
            "GET",
            format!(
                "/api/alert_manager/v1/alerts?show_deleted=true&updated_at=gt(0)&tenant={CONTOSO}&severity=ge(warning)"
            ),
            None,
        ),
        (
            "GET",
            "/api/alert_manager/v1/types?os_type=linux&category=Backup".to_string(),
            None,
        ),
        (
            "GET",
            "/api/2/tenants/00000000-0000-4000-8000-00000000dead".to_string(),
            None,
        ),
        ("DELETE", format!("/api/2/tenants/{new_id}?version=1"), None),
        (
            "GET",
            "/api/2/users/check_login?username=conf.user".to_string(),
            None,
        ),
        (
            "POST",
            format!("/api/2/users/{user_id}/send-activation-email"),
            None,
        ),
        ("GET", format!("/api/2/tenants/{CONTOSO}/infra"), None),
        (
            "GET",
            format!("/api/2/tenants/{CONTOSO}/users?order=-login&include_grand_children=true"),
            None,
        ),
        (
            "PUT",
            format!("/api/2/users/{user_id}/access_policies"),
            Some(
                json!({"items": [{"id": "00000000-0000-0000-0000-000000000000", "version": 0,
                "trustee_id": user_id, "trustee_type": "user", "issuer_id": "00000000-0000-0000-0000-000000000000",
                "tenant_id": CONTOSO, "role_id": "company_admin"}]}),
            ),
        ),
        (
            "GET",
            format!("/api/2/users/{user_id}/access_policies"),
            None,
        ),
    ];
    for (method, path, body) in requests {
        let (status, response) = call(&sim, &token, method, &path, body).await;
        assert!(status < 500, "{method} {path}: {status}");
        if path.ends_with("/infra") {
            // Documented by Acronis but absent from SPEC-AM: check the documented shape instead.
            assert!(
                response["items"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().all(Value::is_string)),
                "{response}"
            );
        } else if !response.is_null() {
            let only_path = path.split('?').next().unwrap_or(&path);
            if let Err(problems) =
                validate_response_body_with(&specs, method, only_path, status, &response)
            {
                panic!("{method} {path} → {status}: {problems:#?}\n{response:#}");
            }
        }
    }
    // Every route in the table was hit (the log counts per route template).
    for route in SERVED_ROUTES {
        let hits = sim.request_count(route.method, &route.full_path());
        assert!(
            hits > 0,
            "{} {} was not exercised",
            route.method,
            route.full_path()
        );
    }
    assert!(
        sim.conformance_violations().is_empty(),
        "{:#?}",
        sim.conformance_violations()
    );
}

#[test]
fn example_seed_parses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json"))
        .expect("seed file");
    let seed = acronis_sim::Seed::from_json(&text).expect("valid seed");
    assert_eq!(seed, acronis_sim::Seed::example());
    assert_eq!(seed.clients[0].client_id, CLIENT_ID);
    assert_eq!(seed.infras.len(), 4);
}
