//! Every JSON body the Acronis client sends must validate against the official OpenAPI request
//! schema (`additionalProperties: false` included), checked on the bodies actually sent.

#[path = "acronis_support.rs"]
mod acronis_support;

use acronis_sim::{SimConfig, TenantSeed, validate_request_body};
use acronis_support::*;
use serde_json::{Value, json};
use sync_shared::acronis::{
    CYBER_PROTECTION_APP_ID, ClientOptions, DesiredOfferingItem, OfferingItemKey, QuotaLimit,
    RequestRecorder,
};

const ACRONIS_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000101";

fn item(
    name: &str,
    infra_id: Option<&str>,
    enabled: bool,
    quota: Option<QuotaLimit>,
) -> DesiredOfferingItem {
    DesiredOfferingItem {
        key: OfferingItemKey {
            application_id: CYBER_PROTECTION_APP_ID.into(),
            name: name.into(),
            infra_id: infra_id.map(Into::into),
        },
        enabled,
        quota,
    }
}

#[tokio::test]
async fn every_request_body_the_client_sends_matches_the_spec() {
    let sim = start_sim(SimConfig::example()).await;
    let recorder = RequestRecorder::default();
    let client = client(
        &sim,
        ClientOptions {
            recorder: Some(recorder.clone()),
            ..options()
        },
    );

    // Every kind of write the client can send: quotas (soft, hard, unlimited, on a storage
    // item), enabling without a quota, disabling, tenant updates and deletion, plus reads.
    let partner = client.partner_tenant_id().await.expect("partner");
    client
        .apply_offering_items(
            CONTOSO,
            &[
                item(
                    "pw_base_workstations",
                    None,
                    true,
                    Some(QuotaLimit::soft(12)),
                ),
                item(
                    "pw_base_servers",
                    None,
                    true,
                    Some(QuotaLimit {
                        value: Some(3),
                        overage: Some(1),
                    }),
                ),
                item("pw_base_vms", None, true, None),
                item("pw_base_mobiles", None, true, Some(QuotaLimit::UNLIMITED)),
                item(
                    "pw_base_storage",
                    Some(ACRONIS_STORAGE),
                    true,
                    Some(QuotaLimit::soft(2 << 40)),
                ),
            ],
        )
        .await
        .expect("quotas");
    client
        .apply_offering_items(CONTOSO, &[item("pw_base_vms", None, false, None)])
        .await
        .expect("disable");
    let extra = sim
        .add_tenant(TenantSeed::new("Short-lived", "customer", Some(&partner)))
        .expect("tenant");
    client
        .set_tenant_enabled(&extra, false)
        .await
        .expect("disable tenant");
    client.delete_tenant(&extra).await.expect("delete tenant");
    client.child_tenant_ids(&partner).await.expect("children");
    client.usages(&[CONTOSO.to_string()]).await.expect("usages");
    client
        .alerts_updated_after(0, 10, true)
        .await
        .expect("alerts");

    let sent = recorder.requests();
    let bodies: Vec<_> = sent
        .iter()
        .filter_map(|r| r.body.as_ref().map(|b| (r, b)))
        .collect();
    assert!(bodies.len() >= 3, "writes were recorded: {sent:?}");
    let mut problems = Vec::new();
    for (request, body) in &bodies {
        if let Err(errors) = validate_request_body(&request.method, &request.path, body) {
            problems.push(format!(
                "{} {} {body}: {errors:?}",
                request.method, request.path
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        sent.iter().all(
            |r| !r.path.contains(CLIENT_ID) && !format!("{:?}", r.body).contains(CLIENT_SECRET)
        ),
        "the client id or secret was recorded"
    );
    assert!(sim.conformance_violations().is_empty());

    // Offering-item rows are not `additionalProperties: false` in the spec, so the validator
    // accepts extra row properties; require every property we send to be declared, too.
    let spec = account_management_spec();
    for (request, body) in &bodies {
        let schema = request_schema(&spec, &request.method, &request.path)
            .unwrap_or_else(|| panic!("no request schema for {} {}", request.method, request.path));
        let undeclared = undeclared_properties(&spec, &schema, body, "$");
        assert!(
            undeclared.is_empty(),
            "{} {}: {undeclared:?}",
            request.method,
            request.path
        );
    }

    // Both checks bite: a property the spec lacks fails them.
    let (request, body) = bodies
        .iter()
        .find(|(r, _)| r.path.ends_with("/offering_items"))
        .expect("an offering-items body");
    let mut tampered = (*body).clone();
    tampered["tenant_id"] = json!(CONTOSO);
    assert!(validate_request_body(&request.method, &request.path, &tampered).is_err());
    let mut tampered = (*body).clone();
    tampered["offering_items"][0]["usage_name"] = json!("workstations");
    let schema = request_schema(&spec, &request.method, &request.path).expect("schema");
    assert_eq!(
        undeclared_properties(&spec, &schema, &tampered, "$"),
        vec!["$.offering_items[0].usage_name".to_string()]
    );
    let tampered = json!({"version": 1, "enabled": false, "kind_of_thing": true});
    assert!(validate_request_body("PUT", &format!("/api/2/tenants/{CONTOSO}"), &tampered).is_err());
}

fn account_management_spec() -> Value {
    let path = acronis_sim::conformance::default_spec_dir()
        .join(acronis_sim::conformance::ACCOUNT_MANAGEMENT_SPEC_FILE);
    let text = std::fs::read_to_string(&path).expect("Account Management spec");
    serde_json::from_str(&text).expect("spec is JSON")
}

/// The JSON request schema of `method` on a concrete `/api/2/…` path.
fn request_schema(spec: &Value, method: &str, path: &str) -> Option<Value> {
    let relative = path.strip_prefix("/api/2")?;
    let wanted: Vec<&str> = relative.split('/').collect();
    let (_, operations) = spec["paths"].as_object()?.iter().find(|(template, _)| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')))
    })?;
    let schema = &operations[method.to_ascii_lowercase()]["requestBody"]["content"]["application/json"]
        ["schema"];
    (!schema.is_null()).then(|| schema.clone())
}

fn resolve<'s>(spec: &'s Value, schema: &'s Value) -> &'s Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(spec, spec.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => schema,
    }
}

/// JSON paths of body properties that the schema (or a nested one) does not declare.
fn undeclared_properties(spec: &Value, schema: &Value, body: &Value, at: &str) -> Vec<String> {
    let schema = resolve(spec, schema);
    let mut found = Vec::new();
    match body {
        Value::Object(fields) => {
            let declared = schema["properties"].as_object();
            for (key, value) in fields {
                match declared.and_then(|d| d.get(key)) {
                    Some(inner) => found.extend(undeclared_properties(
                        spec,
                        inner,
                        value,
                        &format!("{at}.{key}"),
                    )),
                    None if declared.is_some() => found.push(format!("{at}.{key}")),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                found.extend(undeclared_properties(
                    spec,
                    &schema["items"],
                    item,
                    &format!("{at}[{index}]"),
                ));
            }
        }
        _ => {}
    }
    found
}
