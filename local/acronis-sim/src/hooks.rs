//! `/__sim` test hooks: what the real platform does on its own (alerts raised, usage measured,
//! time passing) plus knobs and the request log. The real API has none of these routes.

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::errors::ApiError;
use crate::model::{NewAlert, UsageUpdate};
use crate::routes::{Ctx, Reply};
use crate::seed::Seed;
use crate::{Knobs, Shared, lock};

fn parse<T: serde::de::DeserializeOwned>(ctx: &Ctx) -> Result<T, ApiError> {
    serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("hook body: {e}")))
}

fn no_content() -> Result<Reply, ApiError> {
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(crate) fn raise_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let alert: NewAlert = parse(ctx)?;
    let body: Value = parse(ctx)?;
    let context: BTreeMap<String, String> = match body.get("context") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
            ApiError::bad_request(format!("hook body: context values are strings: {e}"))
        })?,
    };
    let now = shared.now();
    let id = shared
        .state()
        .raise_alert_with_context(alert, context, now)?;
    Ok(Reply::Json(StatusCode::CREATED, json!({"id": id})))
}

pub(crate) fn reraise_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let details: Option<Value> = if ctx.body.is_empty() {
        None
    } else {
        parse::<Value>(ctx)?.get("details").cloned()
    };
    let now = shared.now();
    shared
        .state()
        .reraise_alert(&ctx.param("id").to_ascii_uppercase(), details, now)?;
    no_content()
}

pub(crate) fn resolve_alert(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let now = shared.now();
    shared
        .state()
        .close_alert(&ctx.param("id").to_ascii_uppercase(), now)?;
    no_content()
}

pub(crate) fn set_usage(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let update: UsageUpdate = parse(ctx)?;
    shared.state().set_usage(update)?;
    no_content()
}

pub(crate) fn get_knobs(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    let knobs = lock(&shared.knobs).clone();
    Ok(Reply::Json(
        StatusCode::OK,
        serde_json::to_value(knobs).unwrap_or_default(),
    ))
}

pub(crate) fn set_knobs(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let knobs: Knobs = parse(ctx)?;
    knobs.check().map_err(ApiError::bad_request)?;
    shared.set_knobs(knobs);
    no_content()
}

pub(crate) fn advance_clock(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let body: Value = parse(ctx)?;
    let seconds = body["seconds"]
        .as_f64()
        .filter(|s| *s >= 0.0)
        .ok_or_else(|| ApiError::bad_request("{\"seconds\": N} expected"))?;
    shared.advance(Duration::from_secs_f64(seconds));
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"now": shared.now().to_rfc3339()}),
    ))
}

pub(crate) fn get_requests(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    let log = lock(&shared.log).clone();
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for request in &log {
        *by_method.entry(request.method.as_str()).or_default() += 1;
        if let Some(route) = &request.route {
            *by_route
                .entry(format!("{} {route}", request.method))
                .or_default() += 1;
        }
        *by_status.entry(request.status).or_default() += 1;
    }
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"items": log, "counts": {"total": log.len(), "by_method": by_method,
            "by_route": by_route, "by_status": by_status}}),
    ))
}

pub(crate) fn get_concurrency(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    let figures = shared.concurrency();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"max_concurrent": figures.max_concurrent(), "items": figures.routes}),
    ))
}

pub(crate) fn reset_concurrency(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    shared.reset_concurrency();
    no_content()
}

pub(crate) fn set_hold(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Hold {
        hold: bool,
    }
    let wanted: Hold = parse(ctx)?;
    shared.hold.send_replace(wanted.hold);
    no_content()
}

/// `GET /__sim/in_flight[?route=/api/2/…template][&at_least=N][&timeout_ms=M]`: API requests being
/// served now (one route template or all). With `at_least`, waits until that many are in flight
/// (200) or `timeout_ms` (default 10,000) passed (408).
pub(crate) async fn in_flight(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<Shared>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = query
        .as_deref()
        .map(crate::routes::parse_form)
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let number = |name: &str, default: u64| match param(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer"))),
    };
    let (at_least, timeout_ms) = match (number("at_least", 0), number("timeout_ms", 10_000)) {
        (Ok(at_least), Ok(timeout_ms)) => (at_least, timeout_ms),
        (Err(error), _) | (_, Err(error)) => return error.into_response(),
    };
    let route = param("route");
    let wanted = usize::try_from(at_least).unwrap_or(usize::MAX);
    let reached = tokio::time::timeout(
        Duration::from_millis(timeout_ms),
        shared.wait_for_in_flight(route.as_deref(), wanted),
    )
    .await
    .is_ok();
    let body = json!({"route": route, "in_flight": shared.in_flight(route.as_deref())});
    let status = if reached {
        StatusCode::OK
    } else {
        StatusCode::REQUEST_TIMEOUT
    };
    (status, axum::Json(body)).into_response()
}

pub(crate) fn reset_requests(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    lock(&shared.log).clear();
    no_content()
}

pub(crate) fn apply_seed(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let seed: Seed = parse(ctx)?;
    let now = shared.now();
    seed.apply(&mut shared.state(), now)?;
    no_content()
}

pub(crate) fn dump_state(shared: &Shared, _ctx: &Ctx) -> Result<Reply, ApiError> {
    let state = shared.state();
    let tenants: Vec<Value> = state
        .tenants
        .values()
        .map(|t| state.tenant_json(t))
        .collect();
    let offering_items: Vec<Value> = state.offering_items.iter().map(|i| i.to_json()).collect();
    let alerts: Vec<Value> = state.alerts.values().map(|a| state.alert_json(a)).collect();
    let users: Vec<Value> = state
        .users
        .values()
        .map(|(u, created)| {
            let mut user = u.to_json(*created);
            user["activation_emails_sent"] = json!(u.activation_emails_sent);
            user["access_policies"] = u.access_policies.iter().map(|p| p.to_json()).collect();
            user["roles"] = json!(u.roles());
            user
        })
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({
            "tenants": tenants, "offering_items": offering_items, "usages": state.usages,
            "alerts": alerts, "users": users, "violations": *lock(&shared.violations),
        }),
    ))
}
