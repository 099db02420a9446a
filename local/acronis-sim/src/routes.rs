//! The table of served routes (the router is built from it) and the request pipeline shared by
//! all of them: latency, injected faults, request log and response self-check.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use rand::Rng;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::errors::ApiError;
use crate::{LoggedRequest, Shared, account, alerts, hooks, lock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    AccountManagement,
    AlertManager,
}

impl Api {
    pub fn prefix(self) -> &'static str {
        match self {
            Api::AccountManagement => "/api/2",
            Api::AlertManager => "/api/alert_manager/v1",
        }
    }

    pub(crate) fn generic_error_schema(self) -> &'static str {
        match self {
            Api::AccountManagement => "#/components/schemas/errorScheme",
            Api::AlertManager => "#/components/schemas/Error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpecStatus {
    InSpec,
    /// Served because the developer docs describe it although the OpenAPI file lacks it.
    DocumentedOutsideSpec(&'static str),
}

pub(crate) type Handler = fn(&Shared, &Ctx) -> Result<Reply, ApiError>;

pub struct ServedRoute {
    pub api: Api,
    pub method: &'static str,
    /// Spec-relative path template, axum syntax = OpenAPI syntax (`/tenants/{tenant_id}`).
    pub path: &'static str,
    pub spec_status: SpecStatus,
    pub(crate) handler: Handler,
}

impl ServedRoute {
    pub fn full_path(&self) -> String {
        format!("{}{}", self.api.prefix(), self.path)
    }
}

const fn am(method: &'static str, path: &'static str, handler: Handler) -> ServedRoute {
    ServedRoute {
        api: Api::AccountManagement,
        method,
        path,
        spec_status: SpecStatus::InSpec,
        handler,
    }
}

const fn al(method: &'static str, path: &'static str, handler: Handler) -> ServedRoute {
    ServedRoute {
        api: Api::AlertManager,
        method,
        path,
        spec_status: SpecStatus::InSpec,
        handler,
    }
}

/// Every real-API route the simulator serves. The `/__sim` hooks are in [`HOOK_ROUTES`].
pub static SERVED_ROUTES: &[ServedRoute] = &[
    am("POST", "/idp/token", account::issue_token),
    am("GET", "/clients/{client_id}", account::get_client),
    am("POST", "/tenants", account::create_tenant),
    am("GET", "/tenants", account::list_tenants),
    am("GET", "/tenants/{tenant_id}", account::get_tenant),
    am("PUT", "/tenants/{tenant_id}", account::update_tenant),
    am("DELETE", "/tenants/{tenant_id}", account::delete_tenant),
    am(
        "GET",
        "/tenants/{tenant_id}/children",
        account::list_children,
    ),
    am("GET", "/tenants/{tenant_id}/pricing", account::get_pricing),
    am(
        "PUT",
        "/tenants/{tenant_id}/pricing",
        account::update_pricing,
    ),
    am(
        "GET",
        "/tenants/{tenant_id}/mfa/status",
        account::get_mfa_status,
    ),
    am(
        "PUT",
        "/tenants/{tenant_id}/mfa/status",
        account::update_mfa_status,
    ),
    am("GET", "/tenants/{tenant_id}/users", account::tenant_users),
    am("GET", "/users/check_login", account::check_login),
    am("POST", "/users", account::create_user),
    am("GET", "/users/{user_id}", account::get_user),
    am(
        "POST",
        "/users/{user_id}/send-activation-email",
        account::send_activation_email,
    ),
    am(
        "GET",
        "/users/{user_id}/access_policies",
        account::get_access_policies,
    ),
    am(
        "PUT",
        "/users/{user_id}/access_policies",
        account::put_access_policies,
    ),
    am("GET", "/applications", account::list_applications),
    am(
        "GET",
        "/tenants/{tenant_id}/applications",
        account::tenant_applications,
    ),
    am(
        "POST",
        "/applications/{application_id}/bindings/tenants/{tenant_id}",
        account::bind_application,
    ),
    am(
        "DELETE",
        "/applications/{application_id}/bindings/tenants/{tenant_id}",
        account::unbind_application,
    ),
    am(
        "GET",
        "/tenants/{tenant_id}/offering_items",
        account::list_offering_items,
    ),
    am(
        "PUT",
        "/tenants/{tenant_id}/offering_items",
        account::update_offering_items,
    ),
    am(
        "GET",
        "/tenants/offering_items",
        account::batch_offering_items,
    ),
    am("GET", "/infra", account::get_infras),
    ServedRoute {
        api: Api::AccountManagement,
        method: "GET",
        path: "/tenants/{tenant_id}/infra",
        spec_status: SpecStatus::DocumentedOutsideSpec(
            "developer.acronis.com locations/fetching-infras.html documents it; SPEC-AM lacks it",
        ),
        handler: account::tenant_infras,
    },
    am("GET", "/tenants/{tenant_id}/usages", account::tenant_usages),
    am("GET", "/tenants/usages", account::batch_usages),
    al("POST", "/alerts", alerts::create_alert),
    al("GET", "/alerts", alerts::list_alerts),
    al("GET", "/alerts/{id}", alerts::get_alert),
    al("DELETE", "/alerts/{id}", alerts::dismiss_alert),
    al("GET", "/types", alerts::list_types),
];

/// Test hooks the real API does not have; never checked against the specs.
pub const HOOK_PREFIX: &str = "/__sim";

pub(crate) static HOOK_ROUTES: &[(&str, &str, Handler)] = &[
    ("POST", "/alerts", hooks::raise_alert),
    ("POST", "/alerts/{id}/reraise", hooks::reraise_alert),
    ("POST", "/alerts/{id}/resolve", hooks::resolve_alert),
    ("PUT", "/usages", hooks::set_usage),
    ("GET", "/knobs", hooks::get_knobs),
    ("PUT", "/knobs", hooks::set_knobs),
    ("POST", "/clock/advance", hooks::advance_clock),
    ("GET", "/requests", hooks::get_requests),
    ("DELETE", "/requests", hooks::reset_requests),
    ("GET", "/concurrency", hooks::get_concurrency),
    ("DELETE", "/concurrency", hooks::reset_concurrency),
    ("PUT", "/hold", hooks::set_hold),
    ("POST", "/seed", hooks::apply_seed),
    ("GET", "/state", hooks::dump_state),
];

/// Every hook as (method, path below [`HOOK_PREFIX`]), including the waiting
/// `GET /__sim/in_flight`.
pub fn hook_routes() -> Vec<(&'static str, &'static str)> {
    HOOK_ROUTES
        .iter()
        .map(|(method, path, _)| (*method, *path))
        .chain([("GET", "/in_flight")])
        .collect()
}

/// What a handler produces.
pub(crate) enum Reply {
    Json(StatusCode, Value),
    Empty(StatusCode),
}

/// The parts of a request handlers need, already extracted.
pub(crate) struct Ctx {
    pub method: Method,
    pub path: String,
    pub params: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Ctx {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn query_bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.query(name) {
            None => Ok(false),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name} must be a boolean, got {other:?}"
            ))),
        }
    }

    /// JSON body; the platform answers 415 to other content types.
    pub fn json_body(&self) -> Result<Value, ApiError> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            return Err(ApiError::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request("Request body is not valid JSON.").with_info(e.to_string())
        })
    }
}

/// Decodes `a=b&c=d` (form bodies and query strings).
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    fn hex(byte: u8) -> Option<u8> {
        (byte as char)
            .to_digit(16)
            .and_then(|digit| u8::try_from(digit).ok())
    }
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'+' => out.push(b' '),
                b'%' if index + 2 < bytes.len() => {
                    match (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                        (Some(high), Some(low)) => {
                            out.push(high * 16 + low);
                            index += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            index += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "DELETE" => MethodFilter::DELETE,
        "PATCH" => MethodFilter::PATCH,
        _ => MethodFilter::GET,
    }
}

pub(crate) fn build_router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for route in SERVED_ROUTES {
        let template = route.full_path();
        let handler = route.handler;
        let api = Some(route.api);
        router = router.route(
            &template.clone(),
            on(
                method_filter(route.method),
                move |state: State<Arc<Shared>>,
                      params: Result<
                    Path<HashMap<String, String>>,
                    axum::extract::rejection::PathRejection,
                >,
                      query: RawQuery,
                      headers: HeaderMap,
                      method: Method,
                      uri: axum::http::Uri,
                      body: Bytes| {
                    let template = template.clone();
                    async move {
                        serve(
                            state, api, template, handler, params, query, headers, method, uri,
                            body,
                        )
                        .await
                    }
                },
            ),
        );
    }
    for (method, path, handler) in HOOK_ROUTES {
        let template = format!("{HOOK_PREFIX}{path}");
        let handler = *handler;
        router = router.route(
            &template.clone(),
            on(
                method_filter(method),
                move |state: State<Arc<Shared>>,
                      params: Result<
                    Path<HashMap<String, String>>,
                    axum::extract::rejection::PathRejection,
                >,
                      query: RawQuery,
                      headers: HeaderMap,
                      method: Method,
                      uri: axum::http::Uri,
                      body: Bytes| {
                    let template = template.clone();
                    async move {
                        serve(
                            state, None, template, handler, params, query, headers, method, uri,
                            body,
                        )
                        .await
                    }
                },
            ),
        );
    }
    router = router.route(
        &format!("{HOOK_PREFIX}/in_flight"),
        axum::routing::get(hooks::in_flight),
    );
    router.fallback(not_found).with_state(shared)
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: axum::http::Uri,
) -> Response {
    let path = uri.path().to_string();
    lock(&shared.log).push(LoggedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(String::from),
        route: None,
        status: 404,
        fault: None,
    });
    let error = if path.starts_with(crate::routes::Api::AlertManager.prefix()) {
        ApiError::Alerts {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            reason: "no such endpoint".into(),
        }
    } else {
        ApiError::http(StatusCode::NOT_FOUND, "Not Found.")
    };
    error.into_response()
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    State(shared): State<Arc<Shared>>,
    api: Option<Api>,
    template: String,
    handler: Handler,
    params: Result<Path<HashMap<String, String>>, axum::extract::rejection::PathRejection>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    method: Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let ctx = Ctx {
        method: method.clone(),
        path: uri.path().to_string(),
        params: params.map(|Path(p)| p).unwrap_or_default(),
        query: raw_query.as_deref().map(parse_form).unwrap_or_default(),
        headers,
        body,
    };
    let Some(api) = api else {
        // Test hooks: no faults, no log, no spec.
        return into_response(handler(&shared, &ctx));
    };
    let _slot = shared.enter(method.as_str(), &template);
    shared.pass_hold_gate().await;
    let knobs = lock(&shared.knobs).clone();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let fault = {
        let p429 = knobs.rate_limit_probability.clamp(0.0, 1.0);
        let p503 = knobs.server_error_probability.clamp(0.0, 1.0);
        let ptimeout = knobs.timeout_probability.clamp(0.0, 1.0);
        if p429 + p503 + ptimeout <= 0.0 {
            None
        } else {
            // One roll, disjoint outcomes: each fault happens with exactly its probability.
            let roll: f64 = lock(&shared.dice).random();
            if roll < p429 {
                Some("429")
            } else if roll < p429 + p503 {
                Some("503")
            } else if roll < p429 + p503 + ptimeout {
                Some("timeout")
            } else {
                None
            }
        }
    };
    let (rate_limited, server_error, timed_out) = (
        fault == Some("429"),
        fault == Some("503"),
        fault == Some("timeout"),
    );
    let outcome = if timed_out {
        tokio::time::sleep(Duration::from_millis(knobs.timeout_ms)).await;
        Err(injected(api, StatusCode::GATEWAY_TIMEOUT))
    } else if rate_limited {
        Err(injected(api, StatusCode::TOO_MANY_REQUESTS))
    } else if server_error {
        Err(injected(api, StatusCode::SERVICE_UNAVAILABLE))
    } else {
        handler(&shared, &ctx)
    };
    let injected_fault = timed_out || rate_limited || server_error;
    let (status, body) = match &outcome {
        Ok(Reply::Json(status, body)) => (*status, Some(body.clone())),
        Ok(Reply::Empty(status)) => (*status, None),
        Err(error) => (error.status(), error.body()),
    };
    let in_spec = SERVED_ROUTES
        .iter()
        .any(|r| r.spec_status == SpecStatus::InSpec && r.full_path() == template);
    if shared.config.check_responses && !injected_fault && in_spec {
        if let Some(body) = &body {
            let checked = crate::conformance::validate_response_body_with(
                &shared.specs,
                method.as_str(),
                &ctx.path,
                status.as_u16(),
                body,
            );
            if let Err(problems) = checked {
                lock(&shared.violations).push(format!(
                    "{method} {template} {status}: {}",
                    problems.join("; ")
                ));
            }
        }
    }
    lock(&shared.log).push(LoggedRequest {
        method: method.to_string(),
        path: ctx.path.clone(),
        query: raw_query,
        route: Some(template),
        status: status.as_u16(),
        fault: fault.map(String::from),
    });
    into_response(outcome)
}

fn injected(api: Api, status: StatusCode) -> ApiError {
    match api {
        Api::AccountManagement => ApiError::http(status, "Injected by acronis-sim knobs."),
        Api::AlertManager => ApiError::Alerts {
            status,
            code: "Unavailable",
            reason: "Injected by acronis-sim knobs.".into(),
        },
    }
}

fn into_response(outcome: Result<Reply, ApiError>) -> Response {
    match outcome {
        Ok(Reply::Json(status, body)) => (status, axum::Json(body)).into_response(),
        Ok(Reply::Empty(status)) => status.into_response(),
        Err(error) => error.into_response(),
    }
}
