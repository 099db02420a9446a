//! `/__sim`: the simulator's control surface, which the real API does not have. It lives outside
//! the REST root (`/ATServicesRest/__sim/…` is a plain 404), is not in [`crate::served_routes`],
//! and its calls are never logged, counted against the hourly threshold, delayed or faulted.

// As in the server: the early-exit helpers return the finished HTTP answer as their error.
#![allow(clippy::result_large_err)]

use crate::{Knobs, Seed, SharedState};
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const HOOK_PREFIX: &str = "/__sim";

/// Every hook as (method, path below [`HOOK_PREFIX`]).
pub const HOOK_ROUTES: &[(&str, &str)] = &[
    ("GET", "/knobs"),
    ("PUT", "/knobs"),
    ("GET", "/requests"),
    ("DELETE", "/requests"),
    ("GET", "/threshold"),
    ("PUT", "/threshold"),
    ("GET", "/concurrency"),
    ("DELETE", "/concurrency"),
    ("POST", "/seed"),
    ("PUT", "/hold"),
    ("GET", "/in_flight"),
];

/// The knobs on the wire; the same field names as acronis-sim's `/__sim/knobs`. A PUT replaces
/// all knobs (missing fields take their defaults; unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WireKnobs {
    pub latency_ms: u64,
    /// 429 probability.
    pub rate_limit_probability: f64,
    /// 500 probability.
    pub server_error_probability: f64,
    /// Probability of holding a request for `timeout_ms` before processing it, then answering
    /// normally (a client that gives up first leaves nothing done).
    pub timeout_probability: f64,
    /// Probability of processing a request and then holding its answer for `timeout_ms` (the
    /// write happened; the client may time out). Not in acronis-sim.
    pub timeout_after_apply_probability: f64,
    pub timeout_ms: u64,
    pub random_seed: u64,
}

impl Default for WireKnobs {
    fn default() -> Self {
        WireKnobs::from(&Knobs::default())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl From<&Knobs> for WireKnobs {
    fn from(knobs: &Knobs) -> Self {
        WireKnobs {
            latency_ms: millis(knobs.latency),
            rate_limit_probability: knobs.random_429_probability,
            server_error_probability: knobs.random_5xx_probability,
            timeout_probability: knobs.timeout_probability,
            timeout_after_apply_probability: knobs.timeout_after_apply_probability,
            timeout_ms: millis(knobs.timeout_hold),
            random_seed: knobs.rng_seed,
        }
    }
}

impl From<&WireKnobs> for Knobs {
    fn from(wire: &WireKnobs) -> Self {
        Knobs {
            latency: Duration::from_millis(wire.latency_ms),
            random_429_probability: wire.rate_limit_probability,
            random_5xx_probability: wire.server_error_probability,
            timeout_probability: wire.timeout_probability,
            timeout_after_apply_probability: wire.timeout_after_apply_probability,
            timeout_hold: Duration::from_millis(wire.timeout_ms),
            rng_seed: wire.random_seed,
        }
    }
}

impl WireKnobs {
    fn check(&self) -> Result<(), String> {
        let probabilities = [
            ("rate_limit_probability", self.rate_limit_probability),
            ("server_error_probability", self.server_error_probability),
            ("timeout_probability", self.timeout_probability),
            (
                "timeout_after_apply_probability",
                self.timeout_after_apply_probability,
            ),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, got {p}"));
            }
        }
        Ok(())
    }
}

pub(crate) fn is_hook_path(path: &str) -> bool {
    path == HOOK_PREFIX
        || path
            .strip_prefix(HOOK_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({ "error": message.into() }))
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("hook body: {e}")))
}

fn threshold_json(state: &SharedState) -> Value {
    json!({
        "hourly_threshold": state.hourly_threshold(),
        "requests_this_hour": state.requests_this_hour(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdPut {
    hourly_threshold: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldPut {
    hold: bool,
}

pub(crate) async fn handle(
    state: &Arc<SharedState>,
    method: &Method,
    uri: &Uri,
    body: &Bytes,
) -> Response {
    let rest = &uri.path()[HOOK_PREFIX.len()..];
    let rest = if rest.len() > 1 {
        rest.trim_end_matches('/')
    } else {
        rest
    };
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let outcome = match (method.as_str(), rest) {
        ("GET", "/knobs") => Ok(reply(
            StatusCode::OK,
            json!(WireKnobs::from(&state.knobs())),
        )),
        ("PUT", "/knobs") => parse::<WireKnobs>(body).and_then(|wire| {
            wire.check().map_err(bad_request)?;
            state.set_knobs(Knobs::from(&wire));
            Ok(StatusCode::NO_CONTENT.into_response())
        }),
        ("GET", "/requests") => {
            let log = state.log().clone();
            Ok(reply(
                StatusCode::OK,
                json!({
                    "items": log.records,
                    "counts": {
                        "total": log.records.len(),
                        "by_method": log.count_by_method(),
                        "by_entity": log.count_by_entity(),
                        "by_endpoint": log.count_by_endpoint(),
                        "by_status": log.count_by_status(),
                    },
                }),
            ))
        }
        ("DELETE", "/requests") => {
            *state.log() = crate::RequestLog::default();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET", "/threshold") => Ok(reply(StatusCode::OK, threshold_json(state))),
        ("PUT", "/threshold") => parse::<ThresholdPut>(body).map(|wanted| {
            state.hourly_threshold.store(
                wanted.hourly_threshold,
                std::sync::atomic::Ordering::Relaxed,
            );
            reply(StatusCode::OK, threshold_json(state))
        }),
        ("GET", "/concurrency") => {
            let figures = state.concurrency();
            Ok(reply(
                StatusCode::OK,
                json!({
                    "thread_limit": figures.thread_limit,
                    "max_concurrent": figures.max_concurrent(),
                    "refused": figures.refused(),
                    "max_by_entity": figures.max_by_entity(),
                    "items": figures.endpoints,
                }),
            ))
        }
        ("DELETE", "/concurrency") => {
            state.reset_concurrency();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("POST", "/seed") => parse::<Value>(body).and_then(|value| {
            let seed: Seed =
                serde_json::from_value(value).map_err(|e| bad_request(format!("seed: {e}")))?;
            state
                .apply_seed(&seed)
                .map_err(|e| bad_request(e.to_string()))?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }),
        ("PUT", "/hold") => parse::<HoldPut>(body).map(|wanted| {
            state.hold.send_replace(wanted.hold);
            StatusCode::NO_CONTENT.into_response()
        }),
        ("GET", "/in_flight") => {
            in_flight(
                state,
                param("entity"),
                param("at_least"),
                param("timeout_ms"),
            )
            .await
        }
        (_, path) if HOOK_ROUTES.iter().any(|(_, p)| *p == path) => Err(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": format!("{method} is not served on {HOOK_PREFIX}{path}") }),
        )),
        (_, path) => Err(reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no hook {HOOK_PREFIX}{path}") }),
        )),
    };
    outcome.unwrap_or_else(|response| response)
}

/// `GET /__sim/in_flight[?entity=Companies][&at_least=N][&timeout_ms=M]`: requests holding a
/// thread slot now (for one endpoint object or all). With `at_least`, waits until that many are in
/// flight (200) or `timeout_ms` (default 10,000) passed (408).
async fn in_flight(
    state: &Arc<SharedState>,
    entity: Option<&str>,
    at_least: Option<&str>,
    timeout_ms: Option<&str>,
) -> Result<Response, Response> {
    let number = |name: &str, text: Option<&str>, default: u64| match text {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| bad_request(format!("{name} must be a non-negative integer"))),
    };
    let at_least = number("at_least", at_least, 0)?;
    let timeout = Duration::from_millis(number("timeout_ms", timeout_ms, 10_000)?);
    let wanted = usize::try_from(at_least).unwrap_or(usize::MAX);
    let reached = tokio::time::timeout(timeout, state.wait_for_in_flight(entity, wanted))
        .await
        .is_ok();
    let body = json!({ "entity": entity, "in_flight": state.in_flight(entity) });
    Ok(if reached {
        reply(StatusCode::OK, body)
    } else {
        reply(StatusCode::REQUEST_TIMEOUT, body)
    })
}
