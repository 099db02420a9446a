//! HTTP handling: routing through the route table, auth, limits, knobs, request log.

// The early-exit helpers return the finished HTTP answer as their error; it is built once per
// request, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use crate::db::{Db, DbError, UserKind};
use crate::entities::{EntityDef, picklist_parent_field};
use crate::query::{self, ParsedQuery};
use crate::routes::{Action, RouteMatch, UpdateMode, match_route, served_routes};
use crate::values::url_encode;
use crate::{Knobs, RequestRecord, SharedState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REST_ROOT: &str = "/atservicesrest";

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn errors(status: StatusCode, messages: Vec<String>) -> Response {
    json_response(status, json!({ "errors": messages }))
}

fn error(status: StatusCode, message: &str) -> Response {
    errors(status, vec![message.to_string()])
}

fn db_error(e: DbError) -> Response {
    match e {
        DbError::Invalid(messages) => errors(StatusCode::INTERNAL_SERVER_ERROR, messages),
        DbError::NotFound => error(StatusCode::NOT_FOUND, "The requested entity was not found."),
    }
}

/// Releases a thread-limit slot when the request finishes, whatever the outcome.
struct InFlightSlot {
    state: Arc<SharedState>,
    key: (String, String),
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.state.in_flight.lock()
            && let Some(count) = map.get_mut(&self.key)
        {
            *count = count.saturating_sub(1);
        }
        self.state.in_flight_changed.notify_waiters();
    }
}

pub async fn handle(
    State(state): State<Arc<SharedState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Test hooks: outside the REST root, never logged, counted, delayed or faulted.
    if crate::hooks::is_hook_path(uri.path()) {
        return crate::hooks::handle(&state, &method, &uri, &body).await;
    }
    let path = uri.path().to_string();
    let mut meta = Meta::default();
    // Once `dispatch` returns, the request is fully processed (a write is in the database) and
    // its thread slot released; nothing below can undo that, whether or not the client waits.
    let (response, endpoint) = dispatch(&state, &method, &uri, &headers, &body, &mut meta).await;
    let status = response.status().as_u16();
    state.log().push(RequestRecord {
        method: method.to_string(),
        path,
        entity: meta.entity.map(str::to_string),
        endpoint,
        status,
        fault: meta.fault.map(str::to_string),
    });
    if let Some(hold) = meta.hold_answer {
        // `timeout_after_apply`: the answer is late, the work is done. A client that gives up
        // drops this future here, after the write and the log entry.
        tokio::time::sleep(hold).await;
    }
    response
}

/// What the log records besides the endpoint: the matched object and an injected fault; and how
/// long to hold the finished answer (`timeout_after_apply`).
#[derive(Default)]
struct Meta {
    entity: Option<&'static str>,
    fault: Option<&'static str>,
    hold_answer: Option<Duration>,
}

async fn dispatch(
    state: &Arc<SharedState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    meta: &mut Meta,
) -> (Response, String) {
    let full_path = uri.path();
    let below_root = match full_path.get(..REST_ROOT.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(REST_ROOT) => &full_path[REST_ROOT.len()..],
        _ => {
            return (
                error(
                    StatusCode::NOT_FOUND,
                    "No HTTP resource was found that matches the request URI.",
                ),
                format!("{method} {full_path}"),
            );
        }
    };
    let (route, params) = match match_route(served_routes(), method.as_str(), below_root) {
        RouteMatch::Found { route, params } => (route, params),
        RouteMatch::WrongMethod => {
            // ASP.NET's answer, with `Message` rather than `errors` (notes §2.1).
            let body = json!({ "Message": format!("The requested resource does not support http method '{method}'.") });
            return (
                json_response(StatusCode::METHOD_NOT_ALLOWED, body),
                format!("{method} {below_root}"),
            );
        }
        RouteMatch::NotFound => {
            return (
                error(
                    StatusCode::NOT_FOUND,
                    "No HTTP resource was found that matches the request URI.",
                ),
                format!("{method} {below_root}"),
            );
        }
    };
    let endpoint = format!("{} {}", route.method, route.template);
    meta.entity = Some(route.action.endpoint_object());
    let query_params: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query_params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };

    match route.action {
        Action::ZoneInformation => return (zone_information(state, param("user")), endpoint),
        Action::VersionInformation => {
            return (
                json_response(StatusCode::OK, json!({ "apiVersions": ["V1.0"] })),
                endpoint,
            );
        }
        _ => {}
    }
    let caller = match authenticate(state, headers) {
        Ok(caller) => caller,
        Err(response) => return (response, endpoint),
    };
    if let Err(response) = count_against_hourly_threshold(state) {
        return (response, endpoint);
    }
    let _slot = match take_thread_slot(
        state,
        &caller.integration_code,
        route.action.endpoint_object(),
    ) {
        Ok(slot) => slot,
        Err(response) => return (response, endpoint),
    };
    let (fault, response) = apply_knobs(state).await;
    meta.fault = fault;
    if let Some(response) = response {
        return (response, endpoint);
    }
    if fault == Some(TIMEOUT_AFTER_APPLY) {
        meta.hold_answer = Some(state.knobs().timeout_hold);
    }
    // From here on nothing awaits: once the knobs let the request through it is processed to
    // the end in one go, so a client dropping the connection cannot cut a write in half.

    let body_json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("The request body is not valid JSON: {e}"),
                    ),
                    endpoint,
                );
            }
        }
    };
    // Bodies must fit the swagger model (unknown properties, wrong types → 500).
    if matches!(
        route.action,
        Action::Create(_)
            | Action::ChildCreate(_)
            | Action::Update(..)
            | Action::ChildUpdate(..)
            | Action::Query(_)
            | Action::QueryCount(_)
            | Action::QueryNextPage(_)
    ) && method != Method::GET
    {
        let template = if matches!(route.action, Action::QueryNextPage(_)) {
            route.template.trim_end_matches("/next").to_string()
        } else {
            route.template.clone()
        };
        if body_json.is_null() {
            return (
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The request body is missing.",
                ),
                endpoint,
            );
        }
        if let Err(problems) =
            crate::conformance::validate_request_body(method.as_str(), &template, &body_json)
        {
            return (
                errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
                endpoint,
            );
        }
    }
    let parse_id = |text: Option<&String>| text.and_then(|t| t.parse::<i64>().ok());
    let response = match route.action {
        Action::ZoneInformation | Action::VersionInformation => {
            error(StatusCode::NOT_FOUND, "unreachable")
        }
        Action::ThresholdInformation => {
            let limit = state.hourly_threshold();
            let used = state.requests_this_hour();
            json_response(
                StatusCode::OK,
                json!({ "externalRequestThreshold": limit, "requestThresholdTimeframe": 60, "currentTimeframeRequestCount": used }),
            )
        }
        Action::EntityInformation(def) => {
            json_response(StatusCode::OK, json!({ "info": entity_information(def) }))
        }
        Action::FieldInformation(def) => {
            let db = state.lock_db();
            json_response(
                StatusCode::OK,
                json!({ "fields": field_information(def, &db) }),
            )
        }
        Action::UdfInformation(def) => {
            let db = state.lock_db();
            json_response(
                StatusCode::OK,
                json!({ "fields": udf_information(def, &db) }),
            )
        }
        Action::Query(def) => {
            let (query_body, paging) = if *method == Method::GET {
                match param("search") {
                    Some(search) => match serde_json::from_str::<Value>(&search) {
                        Ok(v) => (v, param("paging")),
                        Err(_) => {
                            return (
                                error(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "The search parameter is not valid JSON.",
                                ),
                                endpoint,
                            );
                        }
                    },
                    None => {
                        return (
                            error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "The search parameter is required.",
                            ),
                            endpoint,
                        );
                    }
                }
            } else {
                (body_json, None)
            };
            if *method == Method::GET
                && let Err(problems) =
                    crate::conformance::validate_request_body("POST", &route.template, &query_body)
            {
                return (
                    errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
                    endpoint,
                );
            }
            run_query(
                state,
                def,
                &query_body,
                paging.as_deref(),
                *method == Method::GET,
            )
        }
        Action::QueryNextPage(def) => match param("paging") {
            Some(paging) => run_query(state, def, &body_json, Some(&paging), false),
            None => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The paging parameter is required.",
            ),
        },
        Action::QueryCount(def) => {
            let query_body = if *method == Method::GET {
                match param("search").and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
                    Some(v) => v,
                    None => {
                        return (
                            error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "The search parameter is required and must be JSON.",
                            ),
                            endpoint,
                        );
                    }
                }
            } else {
                body_json
            };
            let db = state.lock_db();
            match query::parse(def, &db, &query_body) {
                Ok(parsed) => json_response(
                    StatusCode::OK,
                    json!({ "queryCount": query::count(def, &db, &parsed) }),
                ),
                Err(problems) => errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
            }
        }
        Action::GetById(def) | Action::ChildGetById(def) => {
            let (id, parent) = match route.action {
                Action::ChildGetById(_) => (parse_id(params.get(1)), parse_id(params.first())),
                _ => (parse_id(params.first()), None),
            };
            let db = state.lock_db();
            let found = id.and_then(|id| db.get(def.name, id)).filter(|item| {
                match (parent, def.child.as_ref()) {
                    (Some(parent), Some(child)) => {
                        item.get(child.parent_field).and_then(Value::as_i64) == Some(parent)
                    }
                    _ => true,
                }
            });
            match found {
                Some(item) => json_response(StatusCode::OK, json!({ "item": item })),
                None => error(StatusCode::NOT_FOUND, "The requested entity was not found."),
            }
        }
        Action::ChildList(def) => {
            let Some(parent) = parse_id(params.first()) else {
                return (
                    error(StatusCode::NOT_FOUND, "The requested entity was not found."),
                    endpoint,
                );
            };
            let db = state.lock_db();
            let field = def.child.as_ref().map(|c| c.parent_field).unwrap_or("id");
            match query::parse(def, &db, &json!({}))
                .and_then(|q| query::run(def, &db, &q, None, Some((field, parent))))
            {
                Ok(page) => json_response(
                    StatusCode::OK,
                    json!({ "items": page.items, "pageDetails": { "count": page.items.len(), "requestCount": query::PAGE_SIZE, "prevPageUrl": null, "nextPageUrl": null } }),
                ),
                Err(problems) => errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
            }
        }
        Action::Create(def) => write(state, |db| {
            db.create(def, &body_json, None, caller.resource_id)
        }),
        Action::ChildCreate(def) => match parse_id(params.first()) {
            Some(parent) => write(state, |db| {
                db.create(def, &body_json, Some(parent), caller.resource_id)
            }),
            None => error(StatusCode::NOT_FOUND, "The requested entity was not found."),
        },
        Action::Update(def, mode) => write(state, |db| {
            db.update(def, &body_json, mode == UpdateMode::Put, None)
        }),
        Action::ChildUpdate(def, mode) => match parse_id(params.first()) {
            Some(parent) => write(state, |db| {
                db.update(def, &body_json, mode == UpdateMode::Put, Some(parent))
            }),
            None => error(StatusCode::NOT_FOUND, "The requested entity was not found."),
        },
        Action::Delete(def) => match parse_id(params.first()) {
            Some(id) => write(state, |db| db.delete(def, id)),
            None => error(StatusCode::NOT_FOUND, "The requested entity was not found."),
        },
    };
    (response, endpoint)
}

fn write(state: &SharedState, operation: impl FnOnce(&mut Db) -> Result<i64, DbError>) -> Response {
    let mut db = state.lock_db();
    match operation(&mut db) {
        Ok(id) => json_response(StatusCode::OK, json!({ "itemId": id })),
        Err(e) => db_error(e),
    }
}

fn run_query(
    state: &SharedState,
    def: &'static EntityDef,
    body: &Value,
    paging: Option<&str>,
    via_get: bool,
) -> Response {
    let db = state.lock_db();
    let parsed: ParsedQuery = match query::parse(def, &db, body) {
        Ok(parsed) => parsed,
        Err(problems) => return errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
    };
    let (previous_starts, start) = match paging {
        None => (Vec::new(), None),
        Some(token) => match query::parse_paging(token) {
            Some((previous, start)) => (previous, Some(start)),
            None => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The paging parameter is not valid.",
                );
            }
        },
    };
    let page = match query::run(def, &db, &parsed, start, None) {
        Ok(page) => page,
        Err(problems) => return errors(StatusCode::INTERNAL_SERVER_ERROR, problems),
    };
    // POST queries page through `/query/next` (POST only, with the original body); GET queries
    // repeat the search in the URL.
    let url_for = |token: String| {
        if via_get {
            format!(
                "{}V1.0/{}/query?search={}&paging={}",
                state.base_url,
                def.name,
                url_encode(&body.to_string()),
                url_encode(&token)
            )
        } else {
            format!(
                "{}V1.0/{}/query/next?paging={}",
                state.base_url,
                def.name,
                url_encode(&token)
            )
        }
    };
    let size = parsed.page_size();
    let mut starts_so_far = previous_starts.clone();
    if let Some(start) = start {
        starts_so_far.push(start);
    } else if let Some(first) = page
        .items
        .first()
        .and_then(|i| i.get("id"))
        .and_then(Value::as_i64)
    {
        starts_so_far.push(first);
    }
    let next_page_url = page
        .next_start
        .map(|next| url_for(query::paging_token(size, &starts_so_far, next)));
    let prev_page_url = previous_starts.last().map(|prev| {
        url_for(query::paging_token(
            size,
            &previous_starts[..previous_starts.len() - 1],
            *prev,
        ))
    });
    json_response(
        StatusCode::OK,
        json!({ "items": page.items, "pageDetails": { "count": page.items.len(), "requestCount": size, "prevPageUrl": prev_page_url, "nextPageUrl": next_page_url } }),
    )
}

fn zone_information(state: &SharedState, user: Option<String>) -> Response {
    let known = user
        .as_deref()
        .is_some_and(|u| state.lock_db().user(u).is_some());
    let Some(user) = user.filter(|_| known) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Zone information could not be determined",
        );
    };
    let url = state.zone_url_of(&user);
    json_response(
        StatusCode::OK,
        json!({ "zoneName": state.zone_name, "url": url, "webUrl": state.web_url, "ci": state.zone_ci }),
    )
}

pub(crate) struct Caller {
    pub resource_id: i64,
    pub integration_code: String,
}

fn header_ci(headers: &HeaderMap, name: &str) -> Option<String> {
    // HeaderMap keys are already lower-case; the lookup is case-insensitive by construction.
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Auth failure shapes from notes §1.2.
fn authenticate(state: &SharedState, headers: &HeaderMap) -> Result<Caller, Response> {
    let user_name = header_ci(headers, "username").unwrap_or_default();
    let secret = header_ci(headers, "secret").unwrap_or_default();
    let code = header_ci(headers, "apiintegrationcode").unwrap_or_default();
    let db = state.lock_db();
    let Some(user) = db.user(&user_name) else {
        // Unknown user: 500, not 401.
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to authenticate: the user name is not recognized.",
        ));
    };
    if user.secret != secret {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed: invalid user name or secret.",
        ));
    }
    if state.zone_url_of(&user.user_name) != state.base_url {
        // The database moved to another zone: the old zone answers 401 (notes §1.3).
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed: invalid user name or secret.",
        ));
    }
    if user.kind == UserKind::Regular {
        // No REST text is known; SOAP 1.6 answered with this HTML page (notes §1.2).
        let page = "<html><head><title>Version 1.6 of the API is only accessible to API Only users.</title></head><body>Version 1.6 of the API is only accessible to API Only users.</body></html>";
        return Err((
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response());
    }
    if user.integration_code.as_deref() != Some(code.as_str()) || code.is_empty() {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "IntegrationCode is invalid.",
        ));
    }
    Ok(Caller {
        resource_id: user.resource_id.unwrap_or_default(),
        integration_code: code,
    })
}

fn count_against_hourly_threshold(state: &SharedState) -> Result<(), Response> {
    let limit = state.hourly_threshold() as usize;
    let Ok(mut window) = state.hourly.lock() else {
        return Ok(());
    };
    let now = Instant::now();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(3600))
    {
        window.pop_front();
    }
    if window.len() >= limit {
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "The hourly request threshold of {limit} requests has been exceeded for this database."
            ),
        ));
    }
    window.push_back(now);
    Ok(())
}

fn take_thread_slot(
    state: &Arc<SharedState>,
    code: &str,
    object: &'static str,
) -> Result<InFlightSlot, Response> {
    let key = (code.to_string(), object.to_ascii_lowercase());
    let record = |update: &dyn Fn(&mut crate::EndpointStats)| {
        if let Ok(mut stats) = state.concurrency.lock() {
            update(stats.entry((code.to_string(), object)).or_default());
        }
    };
    let Ok(mut map) = state.in_flight.lock() else {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal lock failure",
        ));
    };
    let count = map.entry(key.clone()).or_default();
    if *count >= state.thread_limit {
        // Notes §4: code Itgenatr005, may arrive with a non-429 status.
        record(&|figures| figures.refused += 1);
        let limit = state.thread_limit;
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "Itgenatr005: Thread Threshold Exceeded - The Autotask API thread threshold of {limit} threads has been exceeded."
            ),
        ));
    }
    *count += 1;
    let now = *count;
    drop(map);
    record(&|figures| figures.max_concurrent = figures.max_concurrent.max(now));
    state.in_flight_changed.notify_waiters();
    Ok(InFlightSlot {
        state: Arc::clone(state),
        key,
    })
}

/// The fault name of a request processed normally whose answer is then held.
const TIMEOUT_AFTER_APPLY: &str = "timeout_after_apply";

/// Latency, hold gate and seeded random faults. Returns the injected fault's name and, when the
/// fault answers instead of the handler, the response. `timeout` holds here, before processing;
/// `timeout_after_apply` is only named here (the caller holds the answer after processing).
async fn apply_knobs(state: &SharedState) -> (Option<&'static str>, Option<Response>) {
    let knobs: Knobs = state.knobs();
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    let mut gate = state.hold.subscribe();
    while *gate.borrow_and_update() {
        if gate.changed().await.is_err() {
            break;
        }
    }
    let fault = {
        let p429 = knobs.random_429_probability.clamp(0.0, 1.0);
        let p5xx = knobs.random_5xx_probability.clamp(0.0, 1.0);
        let ptimeout = knobs.timeout_probability.clamp(0.0, 1.0);
        let pafter = knobs.timeout_after_apply_probability.clamp(0.0, 1.0);
        if p429 + p5xx + ptimeout + pafter <= 0.0 {
            None
        } else {
            // One roll, disjoint outcomes: each fault happens with exactly its probability.
            let roll: f64 = match state.rng.lock() {
                Ok(mut rng) => rng.random(),
                Err(_) => 1.0,
            };
            if roll < p429 {
                Some("429")
            } else if roll < p429 + p5xx {
                Some("5xx")
            } else if roll < p429 + p5xx + ptimeout {
                Some("timeout")
            } else if roll < p429 + p5xx + ptimeout + pafter {
                Some(TIMEOUT_AFTER_APPLY)
            } else {
                None
            }
        }
    };
    match fault {
        Some("429") => (
            fault,
            Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "The request was throttled. Please retry later.",
            )),
        ),
        Some("5xx") => (
            fault,
            Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error has occurred.",
            )),
        ),
        Some(TIMEOUT_AFTER_APPLY) => (fault, None),
        Some(_) => {
            tokio::time::sleep(knobs.timeout_hold).await;
            (fault, None)
        }
        None => (None, None),
    }
}

fn entity_information(def: &EntityDef) -> Value {
    let access = |allowed: bool| if allowed { 1 } else { 0 };
    json!({
        "name": def.singular,
        "canCreate": def.can_create(),
        "canDelete": def.delete,
        "canQuery": def.query,
        "canUpdate": def.can_update(),
        "userAccessForCreate": access(def.can_create()),
        "userAccessForDelete": access(def.delete),
        "userAccessForQuery": access(def.query),
        "userAccessForUpdate": access(def.can_update()),
        "hasUserDefinedFields": def.udf_type.is_some(),
        "supportsWebhookCallouts": def.webhooks,
    })
}

fn field_information(def: &EntityDef, db: &Db) -> Vec<Value> {
    def.fields()
        .iter()
        .map(|field| {
            let picklist = db.picklist(def.name, &field.name);
            let reference = def.reference(&field.name).and_then(crate::entities::entity);
            json!({
                "name": field.name,
                "dataType": field.kind.data_type(),
                "length": 0,
                "isRequired": def.is_required(&field.name),
                "isReadOnly": def.is_read_only(&field.name),
                "isQueryable": def.query && !def.not_queryable.contains(&field.name.as_str()),
                "isReference": reference.is_some(),
                "referenceEntityType": reference.map_or("", |r| r.singular),
                "isPickList": picklist.is_some(),
                "picklistValues": picklist,
                "picklistParentValueField": picklist_parent_field(def.name, &field.name).unwrap_or(""),
                "isSupportedWebhookField": def.webhooks,
            })
        })
        .collect()
}

fn udf_information(def: &EntityDef, db: &Db) -> Vec<Value> {
    db.udf_definition_rows(def)
        .into_iter()
        .map(|row| {
            let data_type = match row.get("dataType").and_then(Value::as_i64) {
                Some(2) => "double",
                Some(3) => "datetime",
                _ => "string",
            };
            json!({
                "name": row.get("name"),
                "dataType": data_type,
                "length": 0,
                "isRequired": row.get("isRequired").and_then(Value::as_bool).unwrap_or(false),
                "isReadOnly": false,
                "isQueryable": true,
                "isReference": false,
                "referenceEntityType": "",
                "isPickList": row.get("dataType").and_then(Value::as_i64) == Some(4),
                "picklistValues": null,
                "picklistParentValueField": "",
                "isSupportedWebhookField": def.webhooks,
            })
        })
        .collect()
}
