//! Wire behaviours of the simulator, exercised over HTTP with reqwest.

use autotask_sim::{AutotaskSim, Seed, SimConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

const USER: &str = "acronis-api@example.com";
const SECRET: &str = "api-secret-1";
const CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const RECURRING_CONTRACT: i64 = 29682600;
const BLOCK_HOURS_CONTRACT: i64 = 29682601;
const WORKSTATION_SERVICE: i64 = 29682400;
const STORAGE_SERVICE: i64 = 29682401;

async fn start(config: SimConfig) -> AutotaskSim {
    let config = SimConfig {
        seed: Seed::example().expect("example seed parses"),
        ..config
    };
    AutotaskSim::start(config).await.expect("simulator starts")
}

async fn call_as(
    sim: &AutotaskSim,
    user: &str,
    secret: &str,
    code: &str,
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
        .header("ApiIntegrationcode", code)
        .header("username", user)
        .header("SECRET", secret);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn call(
    sim: &AutotaskSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_as(sim, USER, SECRET, CODE, method, path, body).await
}

#[tokio::test]
async fn zone_lookup_points_back_and_unknown_user_fails() {
    let sim = start(SimConfig::default()).await;
    let zone: Value = reqwest::get(format!(
        "{}?user={}",
        sim.zone_lookup_url(),
        "acronis-api%40example.com"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(zone["url"], json!(sim.base_url()));
    assert!(zone["zoneName"].is_string() && zone["webUrl"].is_string() && zone["ci"].is_i64());
    let response = reqwest::get(format!(
        "{}?user=nobody%40example.com",
        sim.zone_lookup_url()
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"errors": ["Zone information could not be determined"]})
    );

    sim.move_user_to_zone(USER, "https://webservices29.autotask.net/ATServicesRest/");
    let zone: Value = reqwest::get(format!("{}?user={USER}", sim.zone_lookup_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        zone["url"],
        json!("https://webservices29.autotask.net/ATServicesRest/")
    );
    let (status, _) = call(&sim, Method::GET, "V1.0/Companies/0", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old zone refuses a moved database"
    );
}

#[tokio::test]
async fn auth_failures_have_the_documented_shapes() {
    let sim = start(SimConfig::default()).await;
    let (status, _) = call(&sim, Method::GET, "V1.0/Companies/0", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call_as(
        &sim,
        USER,
        "wrong",
        CODE,
        Method::GET,
        "V1.0/Companies/0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call_as(
        &sim,
        "nobody@example.com",
        SECRET,
        CODE,
        Method::GET,
        "V1.0/Companies/0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["errors"].is_array());
    let (status, body) = call_as(
        &sim,
        USER,
        SECRET,
        "WRONGCODE",
        Method::GET,
        "V1.0/Companies/0",
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"errors": ["IntegrationCode is invalid."]})
        )
    );
    let (status, _) = call_as(
        &sim,
        "untracked-api@example.com",
        "api-secret-3",
        CODE,
        Method::GET,
        "V1.0/Companies/0",
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "an API user without tracking identifier is refused"
    );
    let (status, body) = call_as(
        &sim,
        "jane.admin@example.com",
        "ui-password",
        CODE,
        Method::GET,
        "V1.0/Companies/0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.as_str()
            .is_some_and(|t| t.contains("only accessible to API Only users")),
        "{body}"
    );
}

#[tokio::test]
async fn paging_returns_every_row_exactly_once() {
    let sim = start(SimConfig::default()).await;
    sim.with_db(|db| {
        for i in 0..1234 {
            db.insert(
                "Companies",
                json!({"companyName": format!("Bulk {i:04}"), "companyType": 3, "isActive": true}),
            )
            .unwrap();
        }
    });
    let filter = json!({"filter": [{"op": "eq", "field": "CompanyType", "value": 3}]});

    // 1. Following nextPageUrl with POST and the original body.
    let (status, mut page) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query",
        Some(filter.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 500);
        assert_eq!(page["pageDetails"]["count"], json!(items.len()));
        seen.extend(items.iter().map(|i| i["id"].as_i64().unwrap()));
        let Some(next) = page["pageDetails"]["nextPageUrl"]
            .as_str()
            .map(str::to_string)
        else {
            break;
        };
        if pages == 1 {
            let (status, body) = call(&sim, Method::GET, &next, None).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(
                body["Message"],
                json!("The requested resource does not support http method 'GET'.")
            );
        }
        let (status, body) = call(&sim, Method::POST, &next, Some(filter.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        page = body;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 1234);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1234);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by id");

    // 2. Looping with `id gt last`.
    let mut by_id = Vec::new();
    let mut last = -1;
    loop {
        let body = json!({"filter": [{"op": "eq", "field": "companyType", "value": 3}, {"op": "gt", "field": "id", "value": last}]});
        let (_, page) = call(&sim, Method::POST, "V1.0/Companies/query", Some(body)).await;
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        by_id.extend(items.iter().map(|i| i["id"].as_i64().unwrap()));
        last = *by_id.last().unwrap();
    }
    assert_eq!(by_id, seen);
    let (_, count) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query/count",
        Some(filter),
    )
    .await;
    assert_eq!(count, json!({"queryCount": 1234}));
}

#[tokio::test]
async fn query_rules_max_records_operators_and_errors() {
    let sim = start(SimConfig::default()).await;
    let (status, body) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query",
        Some(json!({"MaxRecords": 501, "filter": [{"op": "exist", "field": "id"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"errors": ["maxCountOfRecordsToReturn must be between 1 and 500"]})
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query",
        Some(json!({"MaxRecords": 0, "filter": []})),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let search = json!({"filter": [{"op": "or", "items": [{"op": "beginsWith", "field": "companyname", "value": "conT"}, {"op": "and", "items": [{"op": "in", "field": "id", "value": [29682201]}, {"op": "notExist", "field": "parentCompanyID"}]}]}], "IncludeFields": ["id", "companyName"]});
    let url = format!(
        "V1.0/Companies/query?search={}",
        urlencode(&search.to_string())
    );
    let (status, body) = call(&sim, Method::GET, &url, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["companyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Contoso Ltd", "Fabrikam Inc"]);
    assert_eq!(
        body["items"][0].as_object().unwrap().len(),
        3,
        "id, companyName, userDefinedFields"
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query",
        Some(json!({"filter": [{"op": "eq", "field": "isActive", "value": "yes"}]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "booleans must be literal"
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/Companies/query",
        Some(json!({"filter": [{"op": "eq", "field": "nope", "value": 1}]})),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = call(&sim, Method::GET, "V1.0/Companies/999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&sim, Method::DELETE, "V1.0/Companies/0", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["Message"].is_string());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn hourly_threshold_answers_429_and_is_reported() {
    let sim = start(SimConfig {
        hourly_request_threshold: 5,
        ..SimConfig::default()
    })
    .await;
    for _ in 0..4 {
        assert_eq!(
            call(&sim, Method::GET, "V1.0/Companies/0", None).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = call(&sim, Method::GET, "V1.0/ThresholdInformation", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["externalRequestThreshold"], json!(5));
    assert_eq!(body["currentTimeframeRequestCount"], json!(5));
    let (status, _) = call(&sim, Method::GET, "V1.0/Companies/0", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sim.request_log().count("GET /V1.0/Companies/{id}"), 5);
}

#[tokio::test]
async fn fourth_concurrent_request_on_one_endpoint_hits_the_thread_threshold() {
    let sim = std::sync::Arc::new(start(SimConfig::default()).await);
    sim.hold_requests();
    let mut held = Vec::new();
    for _ in 0..3 {
        let sim = std::sync::Arc::clone(&sim);
        held.push(tokio::spawn(async move {
            call(&sim, Method::GET, "V1.0/Companies/0", None).await.0
        }));
    }
    sim.wait_for_in_flight("Companies", 3).await;
    let (status, body) = call(&sim, Method::GET, "V1.0/Companies/0", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("thread threshold of 3 threads"),
        "{body}"
    );
    // Another endpoint object is not affected.
    let other = tokio::spawn({
        let sim = std::sync::Arc::clone(&sim);
        async move {
            call(&sim, Method::GET, "V1.0/Contracts/29682600", None)
                .await
                .0
        }
    });
    sim.wait_for_in_flight("Contracts", 1).await;
    sim.release_requests();
    for task in held {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(other.await.unwrap(), StatusCode::OK);
    // The same figures through the library: 3 at once on Companies, 1 refused, 1 on Contracts.
    let figures = sim.concurrency();
    assert_eq!(figures.thread_limit, 3);
    assert_eq!(figures.max_concurrent(), 3);
    assert_eq!(figures.refused(), 1);
    assert!(!figures.thread_rule_kept());
    assert_eq!(
        figures.max_by_entity(),
        [("Companies".to_string(), 3), ("Contracts".to_string(), 1)].into()
    );
    assert!(figures.endpoints.iter().all(|e| e.in_flight == 0));
    sim.reset_concurrency();
    assert!(sim.concurrency().endpoints.is_empty());
    assert!(sim.concurrency().thread_rule_kept());
}

#[tokio::test]
async fn adjustments_split_contract_service_units() {
    let sim = start(SimConfig::default()).await;
    // Existing line with 5 units: +3 from mid-March.
    let (status, body) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE, "effectiveDate": "2026-03-15T17:45:00", "unitChange": 3}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["itemId"].is_i64());
    let query = json!({"filter": [{"op": "eq", "field": "contractID", "value": RECURRING_CONTRACT}, {"op": "eq", "field": "serviceID", "value": WORKSTATION_SERVICE}]});
    let (_, units) = call(
        &sim,
        Method::POST,
        "V1.0/ContractServiceUnits/query",
        Some(query),
    )
    .await;
    let march: Vec<(String, String, i64)> = units["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["startDate"].as_str().unwrap().starts_with("2026-03"))
        .map(|u| {
            (
                u["startDate"].as_str().unwrap().to_string(),
                u["endDate"].as_str().unwrap().to_string(),
                u["units"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        march,
        vec![
            (
                "2026-03-01T00:00:00Z".into(),
                "2026-03-14T00:00:00Z".into(),
                5
            ),
            (
                "2026-03-15T00:00:00Z".into(),
                "2026-03-31T00:00:00Z".into(),
                8
            )
        ]
    );
    let april = units["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["startDate"] == json!("2026-04-01T00:00:00Z"))
        .unwrap();
    assert_eq!(april["units"], json!(8));

    // A service not yet on the contract is created by the adjustment.
    let (status, _) = call(&sim, Method::POST, &format!("V1.0/Contracts/{RECURRING_CONTRACT}/ServiceAdjustments"), Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "effectiveDate": "2026-06-01", "unitChange": 250}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, services) = call(
        &sim,
        Method::POST,
        "V1.0/ContractServices/query",
        Some(json!({"filter": [{"op": "eq", "field": "contractID", "value": RECURRING_CONTRACT}]})),
    )
    .await;
    assert_eq!(services["items"].as_array().unwrap().len(), 2);
    let (status, _) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "effectiveDate": "2026-07-01", "unitChange": -251}))).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "units cannot go negative"
    );
    // Adjustments are create-only.
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/ContractServiceAdjustments/query",
        Some(json!({"filter": []})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Units of (contract, service) lines on `date`, by the query a usage job makes.
async fn units_on(
    sim: &AutotaskSim,
    contracts: &[i64],
    services: &[i64],
    date: &str,
) -> Vec<Value> {
    let query = json!({"filter": [
        {"op": "in", "field": "contractID", "value": contracts},
        {"op": "in", "field": "serviceID", "value": services},
        {"op": "lte", "field": "startDate", "value": date},
        {"op": "gte", "field": "endDate", "value": date}]});
    let (status, body) = call(
        sim,
        Method::POST,
        "V1.0/ContractServiceUnits/query",
        Some(query),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn adjustments_by_service_or_contract_service_down_to_zero_seen_by_date_window() {
    let sim = start(SimConfig::default()).await;
    let both = [WORKSTATION_SERVICE, STORAGE_SERVICE];
    let units = |rows: &[Value]| -> Vec<(i64, i64)> {
        rows.iter()
            .map(|r| {
                (
                    r["serviceID"].as_i64().unwrap(),
                    r["units"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    // By serviceID with a date-only effectiveDate: 5 → 0 from 2026-05-10.
    let (status, body) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE, "effectiveDate": "2026-05-10", "unitChange": -5}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let on = |date: &'static str| units_on(&sim, &[RECURRING_CONTRACT], &both, date);
    assert_eq!(units(&on("2026-05-09").await), [(WORKSTATION_SERVICE, 5)]);
    let may = on("2026-05-10").await;
    assert_eq!(units(&may), [(WORKSTATION_SERVICE, 0)]);
    assert_eq!(may[0]["startDate"], "2026-05-10T00:00:00Z");
    assert_eq!(may[0]["endDate"], "2026-05-31T00:00:00Z");
    assert_eq!(units(&on("2026-12-31").await), [(WORKSTATION_SERVICE, 0)]);
    // Below zero is refused and changes nothing.
    let (status, _) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE, "effectiveDate": "2026-06-01", "unitChange": -1}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(units(&on("2026-06-01").await), [(WORKSTATION_SERVICE, 0)]);

    // By contractServiceID (a swagger field of the adjustment), without serviceID.
    let (_, lines) = call(
        &sim,
        Method::POST,
        "V1.0/ContractServices/query",
        Some(json!({"filter": [{"op": "eq", "field": "contractID", "value": RECURRING_CONTRACT}]})),
    )
    .await;
    let line_id = lines["items"][0]["id"].as_i64().unwrap();
    let (status, body) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "contractServiceID": line_id, "effectiveDate": "2026-06-15", "unitChange": 4}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(units(&on("2026-06-14").await), [(WORKSTATION_SERVICE, 0)]);
    assert_eq!(units(&on("2026-06-15").await), [(WORKSTATION_SERVICE, 4)]);
    let june = on("2026-06-15").await;
    assert_eq!(june[0]["contractServiceID"], json!(line_id));
    // A contractServiceID of another service than the serviceID sent is refused.
    let (status, _) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "contractServiceID": line_id, "serviceID": STORAGE_SERVICE, "effectiveDate": "2026-06-15", "unitChange": 1}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // A service not on the contract yet: the adjustment creates its line from the date on.
    let (status, _) = call(&sim, Method::POST, "V1.0/ContractServiceAdjustments", Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "effectiveDate": "2026-06-20", "unitChange": 50}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(units(&on("2026-06-19").await), [(WORKSTATION_SERVICE, 4)]);
    assert_eq!(
        units(&on("2026-06-20").await),
        [(WORKSTATION_SERVICE, 4), (STORAGE_SERVICE, 50)]
    );
    // The `in` filters select: another contract or service matches nothing.
    assert!(
        units_on(&sim, &[BLOCK_HOURS_CONTRACT], &both, "2026-06-20")
            .await
            .is_empty()
    );
    assert_eq!(
        units(
            &units_on(
                &sim,
                &[RECURRING_CONTRACT],
                &[STORAGE_SERVICE],
                "2026-07-01"
            )
            .await
        ),
        [(STORAGE_SERVICE, 50)]
    );
}

#[tokio::test]
async fn contract_services_only_on_recurring_service_contracts() {
    let sim = start(SimConfig::default()).await;
    let (status, body) = call(&sim, Method::POST, &format!("V1.0/Contracts/{BLOCK_HOURS_CONTRACT}/Services"), Some(json!({"contractID": BLOCK_HOURS_CONTRACT, "serviceID": STORAGE_SERVICE, "unitPrice": 0.1}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["errors"].is_array());
    let (status, body) = call(&sim, Method::POST, &format!("V1.0/Contracts/{RECURRING_CONTRACT}/Services"), Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "unitPrice": 0.1}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/ContractServices",
        Some(json!({"contractID": RECURRING_CONTRACT})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "writes go through the contract: the flat route does not exist"
    );
    let (status, body) = call(&sim, Method::POST, &format!("V1.0/Contracts/{RECURRING_CONTRACT}/Services"), Some(json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "frobnicate": 1}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.to_string().contains("frobnicate"));
}

#[tokio::test]
async fn udf_definitions_create_and_query() {
    let sim = start(SimConfig::default()).await;
    let (_, fields) = call(
        &sim,
        Method::GET,
        "V1.0/UserDefinedFieldDefinitions/entityInformation/fields",
        None,
    )
    .await;
    let udf_type = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == json!("udfType"))
        .unwrap();
    let contract_value = udf_type["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["label"] == json!("Contract"))
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let (status, body) = call(
        &sim,
        Method::POST,
        "V1.0/UserDefinedFieldDefinitions",
        Some(json!({"id": 0, "name": "Acronis PAYG", "udfType": contract_value, "dataType": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(
        &sim,
        Method::POST,
        "V1.0/UserDefinedFieldDefinitions",
        Some(json!({"name": "acronis payg", "udfType": contract_value, "dataType": 1})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "names are unique per entity"
    );
    let (status, _) = call(&sim, Method::PATCH, "V1.0/Contracts", Some(json!({"id": RECURRING_CONTRACT, "userDefinedFields": [{"name": "Acronis PAYG", "value": "Yes"}]}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = call(
        &sim,
        Method::POST,
        "V1.0/Contracts/query",
        Some(
            json!({"filter": [{"op": "eq", "field": "Acronis PAYG", "udf": true, "value": "Yes"}]}),
        ),
    )
    .await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["userDefinedFields"],
        json!([{"name": "Acronis PAYG", "value": "Yes"}])
    );
    let (_, defs) = call(
        &sim,
        Method::POST,
        "V1.0/UserDefinedFieldDefinitions/query",
        Some(json!({"filter": [{"op": "eq", "field": "name", "value": "Acronis PAYG"}]})),
    )
    .await;
    assert_eq!(defs["items"].as_array().unwrap().len(), 1);
    let (status, _) = call(&sim, Method::PATCH, "V1.0/Contracts", Some(json!({"id": RECURRING_CONTRACT, "userDefinedFields": [{"name": "Missing", "value": "x"}]}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn tickets_and_notes() {
    let sim = start(SimConfig::default()).await;
    let (status, body) = call(&sim, Method::POST, "V1.0/Tickets", Some(json!({"companyID": 29682200, "title": "Backup failed", "status": 1, "priority": 2, "queueID": 5, "issueType": 3, "subIssueType": 12}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ticket = body["itemId"].as_i64().unwrap();
    let (status, _) = call(&sim, Method::POST, "V1.0/Tickets", Some(json!({"companyID": 29682200, "title": "x", "status": 1, "priority": 2, "issueType": 1, "subIssueType": 12}))).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "sub-issue type must belong to the issue type"
    );
    let (status, _) = call(&sim, Method::POST, "V1.0/Tickets", Some(json!({"companyID": 29682200, "title": "x", "status": 1, "priority": 2, "assignedResourceID": 29682004}))).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "resource needs a role"
    );
    let (status, _) = call(
        &sim,
        Method::PATCH,
        "V1.0/Tickets",
        Some(json!({"id": ticket, "status": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = call(&sim, Method::GET, &format!("V1.0/Tickets/{ticket}"), None).await;
    assert_eq!(got["item"]["status"], json!(5));
    assert!(got["item"]["completedDate"].is_string());
    let (status, body) = call(&sim, Method::POST, &format!("V1.0/Tickets/{ticket}/Notes"), Some(json!({"TicketID": ticket, "Title": "Closed", "Description": "Alert resolved", "NoteType": 1, "Publish": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, notes) = call(
        &sim,
        Method::POST,
        "V1.0/TicketNotes/query",
        Some(json!({"filter": [{"op": "eq", "field": "ticketID", "value": ticket}]})),
    )
    .await;
    assert_eq!(notes["items"][0]["description"], json!("Alert resolved"));
    let (_, info) = call(&sim, Method::GET, "V1.0/Tickets/entityInformation", None).await;
    assert_eq!(info["info"]["canDelete"], json!(false));
}
