//! `/__sim` test hooks: what the real platform does on its own (alerts raised, usage measured,
//! time passing) plus knobs and the request log. The real API has none of these routes.

use axum::http::StatusCode;
use serde_json::{Value, json};
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
    let now = shared.now();
    let id = shared.state().raise_alert(alert, now)?;
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
    *lock(&shared.dice) = rand::SeedableRng::seed_from_u64(knobs.random_seed);
    *lock(&shared.knobs) = knobs;
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
    Ok(Reply::Json(StatusCode::OK, json!({"items": log})))
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
