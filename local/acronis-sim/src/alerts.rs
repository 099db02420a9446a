//! Alert Manager API v1 handlers (`/api/alert_manager/v1`).

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::Shared;
use crate::account::{Principal, authenticate, decode_cursor, encode_cursor};
use crate::errors::ApiError;
use crate::model::{Alert, PostedAlert, SEVERITIES, SimState, is_uuid, severity_rank};
use crate::routes::{Api, Ctx, Reply};

/// `gt(N)`, `lt(N)`, … or a bare value (= `eq`).
fn split_operator(text: &str) -> (&str, &str) {
    for op in ["eq", "lt", "gt", "le", "ge", "or"] {
        if let Some(inner) = text
            .strip_prefix(op)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return (op, inner);
        }
    }
    ("eq", text)
}

fn compare(op: &str, actual: i128, wanted: i128) -> bool {
    match op {
        "lt" => actual < wanted,
        "gt" => actual > wanted,
        "le" => actual <= wanted,
        "ge" => actual >= wanted,
        _ => actual == wanted,
    }
}

/// Values of a repeatable filter: repeated keys, `or(a,b)` and comma lists all accepted.
fn values_of(pairs: &[(String, String)], name: &str) -> Option<Vec<String>> {
    let values: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == name || key == &format!("{name}[]"))
        .flat_map(|(_, value)| {
            let (_, inner) = split_operator(value);
            inner
                .split(',')
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

fn flag(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::alert_bad_request(format!(
            "{name} must be true or false, got {other:?}"
        ))),
    }
}

/// Decoded query parameters, in order.
type QueryPairs = Vec<(String, String)>;

struct TimeFilter {
    field: &'static str,
    op: String,
    ns: i128,
}

fn alert_matches(
    state: &SimState,
    principal: &Principal,
    alert: &Alert,
    pairs: &[(String, String)],
    times: &[TimeFilter],
) -> Result<bool, ApiError> {
    if !state.is_within(&alert.tenant_id, &principal.tenant_id) {
        return Ok(false);
    }
    let (show_deleted, show_deleted_only) = (
        flag(pairs, "show_deleted")?,
        flag(pairs, "show_deleted_only")?,
    );
    let deleted = alert.deleted_ns.is_some();
    if (deleted && !show_deleted && !show_deleted_only) || (!deleted && show_deleted_only) {
        return Ok(false);
    }
    for filter in times {
        let actual = match filter.field {
            "created_at" => Some(alert.created_ns),
            "updated_at" => Some(alert.updated_ns),
            _ => alert.deleted_ns,
        };
        if !actual.is_some_and(|actual| compare(&filter.op, i128::from(actual), filter.ns)) {
            return Ok(false);
        }
    }
    let numeric = state
        .tenants
        .get(&alert.tenant_id)
        .map(|t| t.numeric_id.to_string())
        .unwrap_or_default();
    if let Some(tenants) = values_of(pairs, "tenant") {
        if !tenants
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&alert.tenant_id) || *t == numeric)
        {
            return Ok(false);
        }
    }
    for (name, actual) in [("type", &alert.alert_type), ("category", &alert.category)] {
        if values_of(pairs, name).is_some_and(|wanted| !wanted.contains(actual)) {
            return Ok(false);
        }
    }
    if values_of(pairs, "id")
        .is_some_and(|ids| !ids.iter().any(|id| id.eq_ignore_ascii_case(&alert.id)))
    {
        return Ok(false);
    }
    if values_of(pairs, "skip")
        .is_some_and(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(&alert.id)))
    {
        return Ok(false);
    }
    if let Some((_, severity)) = pairs.iter().find(|(key, _)| key == "severity") {
        let (op, inner) = split_operator(severity);
        let wanted: Vec<&str> = inner.split(',').map(str::trim).collect();
        if wanted.iter().any(|w| !SEVERITIES.contains(w)) {
            return Err(ApiError::alert_bad_request(format!(
                "invalid severity filter {severity:?}"
            )));
        }
        let rank = severity_rank(&alert.severity) as i128;
        let pass = match op {
            "or" | "eq" => wanted.contains(&alert.severity.as_str()),
            _ => compare(op, rank, severity_rank(wanted[0]) as i128),
        };
        if !pass {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sort key as a string that orders the same way as the field.
fn sort_key(alert: &Alert, field: &str) -> String {
    match field {
        "updated_at" => format!("{:020}", alert.updated_ns),
        "deleted_at" => format!("{:020}", alert.deleted_ns.unwrap_or(0)),
        "severity" => severity_rank(&alert.severity).to_string(),
        "type" => alert.alert_type.clone(),
        "category" => alert.category.clone(),
        _ => format!("{:020}", alert.created_ns),
    }
}

pub(crate) fn list_alerts(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AlertManager)?;
    let limit = match ctx.query("limit") {
        None => shared.config.alerts_default_limit,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| ApiError::alert_bad_request(format!("invalid limit {text:?}")))?,
    };
    // The cursor carries the original filters and the last item's position (keyset paging), so
    // items updated while a client pages through are neither skipped nor repeated in that pass.
    let (pairs, position): (QueryPairs, Option<(String, String)>) = match ctx.query("after") {
        Some(cursor) => {
            let decoded =
                decode_cursor(cursor).map_err(|_| ApiError::alert_bad_request("invalid cursor"))?;
            let pairs = serde_json::from_value(decoded["query"].clone()).unwrap_or_default();
            let key = decoded["key"].as_str().unwrap_or_default().to_string();
            let id = decoded["id"].as_str().unwrap_or_default().to_string();
            (pairs, Some((key, id)))
        }
        None => (
            ctx.query
                .iter()
                .filter(|(k, _)| k != "limit" && k != "after")
                .cloned()
                .collect(),
            None,
        ),
    };
    let order = pairs
        .iter()
        .find(|(k, _)| k == "order")
        .map_or("asc(created_at)", |(_, v)| v.as_str())
        .to_string();
    const ORDERABLE: [&str; 6] = [
        "created_at",
        "updated_at",
        "deleted_at",
        "severity",
        "type",
        "category",
    ];
    let parse_order = |prefix: &str| {
        order
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
    };
    let (descending, field) = match (parse_order("asc("), parse_order("desc(")) {
        (Some(field), _) if ORDERABLE.contains(&field) => (false, field),
        (_, Some(field)) if ORDERABLE.contains(&field) => (true, field),
        _ => {
            return Err(ApiError::alert_bad_request(format!(
                "unsupported order {order:?}"
            )));
        }
    };
    let mut times = Vec::new();
    for field in ["created_at", "updated_at", "deleted_at"] {
        if let Some((_, text)) = pairs.iter().find(|(k, _)| k == field) {
            let (op, inner) = split_operator(text);
            let ns = inner
                .parse::<i128>()
                .ok()
                .filter(|_| op != "or")
                .ok_or_else(|| {
                    ApiError::alert_bad_request(format!(
                        "{field} must be nanoseconds, e.g. gt(1439789551045000000)"
                    ))
                })?;
            times.push(TimeFilter {
                field,
                op: op.to_string(),
                ns,
            });
        }
    }
    let state = shared.state();
    let mut matching = Vec::new();
    for alert in state.alerts.values() {
        if alert_matches(&state, &principal, alert, &pairs, &times)? {
            matching.push((sort_key(alert, field), alert.id.clone(), alert));
        }
    }
    matching.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    if descending {
        matching.reverse();
    }
    if let Some((key, id)) = &position {
        matching.retain(|(k, i, _)| {
            if descending {
                (k, i) < (key, id)
            } else {
                (k, i) > (key, id)
            }
        });
    }
    let has_more = matching.len() > limit;
    matching.truncate(limit);
    let mut cursors = json!({});
    if let (true, Some((key, id, _))) = (has_more, matching.last()) {
        cursors["after"] = json!(encode_cursor(
            &json!({"query": pairs, "key": key, "id": id})
        ));
    }
    let items: Vec<Value> = matching
        .iter()
        .map(|(_, _, alert)| state.alert_json(alert))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"items": items, "paging": {"cursors": cursors}}),
    ))
}

fn alert_id(ctx: &Ctx) -> Result<String, ApiError> {
    let id = ctx.param("id");
    if is_uuid(id) {
        Ok(id.to_ascii_uppercase())
    } else {
        Err(ApiError::alert_bad_request(format!(
            "invalid alert id {id:?}"
        )))
    }
}

pub(crate) fn get_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AlertManager)?;
    let id = alert_id(ctx)?;
    let show_deleted = flag(&ctx.query, "show_deleted")?;
    let state = shared.state();
    let alert = state
        .alerts
        .get(&id)
        .filter(|a| state.is_within(&a.tenant_id, &principal.tenant_id))
        .filter(|a| show_deleted || a.deleted_ns.is_none())
        .ok_or_else(|| ApiError::alert_not_found(&id))?;
    Ok(Reply::Json(StatusCode::OK, state.alert_json(alert)))
}

pub(crate) fn dismiss_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AlertManager)?;
    let id = alert_id(ctx)?;
    let now = shared.now();
    let mut state = shared.state();
    let visible = state
        .alerts
        .get(&id)
        .is_some_and(|a| state.is_within(&a.tenant_id, &principal.tenant_id));
    if !visible {
        return Err(ApiError::alert_not_found(&id));
    }
    state.close_alert(&id, now)?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

/// The options of the request body's `anyOf` tree that are made for one alert type (their `type`
/// property is an enum naming it), e.g. `NoBackupForXDays` with its required `daysPassed`.
fn type_specific_schemas<'s>(
    spec: &'s Value,
    schema: &'s Value,
    alert_type: &str,
) -> Vec<&'s Value> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| spec.pointer(pointer))
            .unwrap_or(&Value::Null),
        None => schema,
    };
    let options: Vec<&Value> = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|keyword| schema.get(*keyword).and_then(Value::as_array))
        .flatten()
        .collect();
    if !options.is_empty() {
        return options
            .into_iter()
            .flat_map(|option| type_specific_schemas(spec, option, alert_type))
            .collect();
    }
    let names_type = schema
        .pointer("/properties/type/enum")
        .and_then(Value::as_array)
        .is_some_and(|names| names.iter().any(|n| n == alert_type));
    if names_type { vec![schema] } else { Vec::new() }
}

/// `POST /alerts` ("Create an alert"): the body is checked against SPEC-AL's request schema (and,
/// for types the spec defines a payload for, against that payload); the alert belongs to
/// `tenantID` (a tenant UUID in the caller's subtree) or else to the caller's tenant. An alert of
/// the same type, tenant and `context` is raised again instead of created twice. 200 `{"id"}`.
pub(crate) fn create_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AlertManager)?;
    let content_type = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(ApiError::Alerts {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "UnsupportedMediaType",
            reason: "Content-Type must be application/json".into(),
        });
    }
    let body: Value = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::alert_bad_request(format!("request body is not JSON: {e}")))?;
    let invalid = |problems: Vec<String>| {
        ApiError::alert_bad_request(format!(
            "alert does not match the request schema: {}",
            problems.join("; ")
        ))
    };
    crate::conformance::validate_request_body_with(
        &shared.specs,
        ctx.method.as_str(),
        &ctx.path,
        &body,
    )
    .map_err(invalid)?;
    let alert_type = body["type"].as_str().unwrap_or_default().to_string();
    let spec = &shared.specs.alert_manager;
    if let Some(schema) =
        spec.pointer("/paths/~1alerts/post/requestBody/content/application~1json/schema")
    {
        for specific in type_specific_schemas(spec, schema, &alert_type) {
            crate::conformance::validate_value(spec, specific, &body).map_err(invalid)?;
        }
    }
    let mut context = BTreeMap::new();
    if let Some(fields) = body.get("context").and_then(Value::as_object) {
        for (key, value) in fields {
            let text = value.as_str().ok_or_else(|| {
                ApiError::alert_bad_request(format!(
                    "context.{key}: context values can only be strings"
                ))
            })?;
            context.insert(key.clone(), text.to_string());
        }
    }
    let created_ns = match body.get("createdAt").and_then(Value::as_str) {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .and_then(|at| at.timestamp_nanos_opt())
                .ok_or_else(|| {
                    ApiError::alert_bad_request(format!(
                        "createdAt {text:?} is not an RFC 3339 date-time"
                    ))
                })?,
        ),
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(String::from);
    let posted_tenant = text("tenantID");
    let now = shared.now();
    let mut state = shared.state();
    let tenant_id = match &posted_tenant {
        None => principal.tenant_id.clone(),
        Some(given) => {
            let id = given.to_ascii_lowercase();
            let resolved = is_uuid(&id)
                && state.live_tenant(&id).is_ok()
                && state.is_within(&id, &principal.tenant_id);
            if !resolved {
                return Err(ApiError::alert_forbidden(format!(
                    "tenantID {given:?} is not a tenant the caller can raise alerts for"
                )));
            }
            id
        }
    };
    let posted = PostedAlert {
        tenant_id,
        alert_type,
        severity: text("severity"),
        details: body.get("details").cloned().unwrap_or(Value::Null),
        context,
        id: text("id").map(|id| id.to_ascii_uppercase()),
        created_ns,
        source: text("_source"),
        source_time_stamp: body.get("_sourceTimeStamp").and_then(Value::as_i64),
        affinity: text("affinity"),
    };
    let (id, _) = state.post_alert(posted, now)?;
    Ok(Reply::Json(StatusCode::OK, json!({"id": id})))
}

pub(crate) fn list_types(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    authenticate(shared, ctx, Api::AlertManager)?;
    let os_types = values_of(&ctx.query, "os_type")
        .ok_or_else(|| ApiError::alert_bad_request("os_type is required"))?;
    if let Some(bad) = os_types
        .iter()
        .find(|os| !["ios", "linux", "macos", "windows"].contains(&os.as_str()))
    {
        return Err(ApiError::alert_bad_request(format!(
            "invalid os_type {bad:?}"
        )));
    }
    let categories = values_of(&ctx.query, "category");
    let state = shared.state();
    let items: Vec<Value> = state
        .alert_types
        .iter()
        .filter(|t| t.supported_os.iter().any(|os| os_types.contains(os)))
        .filter(|t| categories.as_ref().is_none_or(|c| c.contains(&t.category)))
        .map(|t| {
            json!({"id": t.id, "enabled": true, "severity": t.severity, "category": t.category,
                "contextKeys": [], "searchableDetails": [], "supportedOS": t.supported_os})
        })
        .collect();
    Ok(Reply::Json(StatusCode::OK, json!({"items": items})))
}
