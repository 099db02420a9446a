//! The simulator serves only what the swagger declares, and its embedded swagger subset is an
//! unchanged copy of the reference file.

use autotask_sim::conformance::{self, ROUTES_DOCUMENTED_OUTSIDE_SWAGGER};
use autotask_sim::served_routes;
use serde_json::{Value, json};

fn reference_swagger() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/autotask-rest-swagger.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).expect("the reference swagger is JSON")
}

#[test]
fn every_served_route_is_in_the_swagger() {
    let swagger = reference_swagger();
    let documented: Vec<(&str, &str)> = served_routes()
        .iter()
        .filter(|r| r.in_swagger)
        .map(|r| (r.method, r.template.as_str()))
        .collect();
    assert!(documented.len() > 100, "route table unexpectedly small");
    // The simulator's control surface is not part of the API.
    assert!(served_routes().iter().all(|r| {
        !r.template
            .to_ascii_lowercase()
            .contains(&autotask_sim::hooks::HOOK_PREFIX.to_ascii_lowercase())
    }));
    conformance::check_routes_against_spec(&swagger, documented)
        .expect("all served routes exist in the swagger");
    // The only exception is the paging continuation described in the notes.
    for route in served_routes().iter().filter(|r| !r.in_swagger) {
        assert!(
            ROUTES_DOCUMENTED_OUTSIDE_SWAGGER
                .iter()
                .any(|(suffix, _)| route.template.ends_with(suffix))
                && route.method == "POST",
            "{} {} is outside the swagger without a documented reason",
            route.method,
            route.template
        );
    }
}

#[test]
fn route_check_fails_for_routes_the_swagger_lacks() {
    let swagger = reference_swagger();
    let fake = vec![
        ("GET", "/V1.0/Companies/frobnicate"),
        ("DELETE", "/V1.0/Companies/{id}"),
        ("GET", "/V1.0/Companies/query"),
    ];
    let errors =
        conformance::check_routes_against_spec(&swagger, fake).expect_err("fake routes must fail");
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn embedded_subset_is_an_unchanged_copy_of_the_swagger() {
    let swagger = reference_swagger();
    let subset = conformance::embedded_spec();
    for (path, ops) in subset["paths"].as_object().expect("paths") {
        assert_eq!(
            &swagger["paths"][path], ops,
            "path {path} differs from the swagger"
        );
    }
    for (name, definition) in subset["definitions"].as_object().expect("definitions") {
        assert_eq!(
            &swagger["definitions"][name], definition,
            "definition {name} differs from the swagger"
        );
    }
}

#[test]
fn body_validation_accepts_wire_bodies_and_rejects_unknown_properties() {
    let company = json!({"companyName": "Acme", "companyType": 1, "ownerResourceID": 4, "phone": "555", "userDefinedFields": [{"name": "X", "value": "Y"}]});
    conformance::validate_request_body("POST", "/V1.0/Companies", &company)
        .expect("a camelCase company body is valid");
    conformance::validate_request_body("POST", "Companies", &company)
        .expect("bare entity names work");
    let query = json!({"MaxRecords": 10, "IncludeFields": ["id"], "filter": [{"op": "in", "field": "companyType", "value": [1, 3]}, {"op": "or", "items": [{"op": "eq", "field": "x", "value": "y", "udf": true}]}]});
    conformance::validate_request_body("POST", "/ATServicesRest/V1.0/Companies/query", &query)
        .expect("query bodies validate");
    conformance::validate_request_body(
        "POST",
        "/V1.0/Contracts/12/Services",
        &json!({"contractID": 12, "serviceID": 3, "unitPrice": 1.5}),
    )
    .expect("child routes validate");

    let errors = conformance::validate_request_body(
        "POST",
        "/V1.0/Companies",
        &json!({"companyName": "Acme", "frobnicate": 1}),
    )
    .expect_err("unknown property");
    assert!(
        errors.iter().any(|e| e.contains("frobnicate")),
        "{errors:?}"
    );
    let errors = conformance::validate_request_body(
        "POST",
        "/V1.0/Companies",
        &json!({"companyType": "one"}),
    )
    .expect_err("wrong type");
    assert!(
        errors.iter().any(|e| e.contains("companyType")),
        "{errors:?}"
    );
    assert!(
        conformance::validate_request_body("POST", "/V1.0/Companies/frobnicate/x", &json!({}))
            .is_err()
    );
    assert!(
        conformance::validate_request_body("DELETE", "/V1.0/Companies/5", &Value::Null).is_err(),
        "Companies cannot be deleted"
    );
    // The full reference swagger gives the same answers as the embedded subset.
    let swagger = reference_swagger();
    conformance::validate_request_body_with(&swagger, "POST", "/V1.0/Companies", &company)
        .expect("valid against the full swagger");
}
