//! Checks bodies and routes against the official OpenAPI 3.0 files (SPEC-AM, SPEC-AL).
//!
//! The simulator uses this to reject request bodies the real service would reject, to check its
//! own responses, and client code can call [`validate_request_body`] in its tests to prove every
//! body it sends is one the API accepts.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::routes::{Api, SERVED_ROUTES, ServedRoute, SpecStatus};

pub const ACCOUNT_MANAGEMENT_SPEC_FILE: &str = "acronis-account-management-v2.openapi.json";
pub const ALERT_MANAGER_SPEC_FILE: &str = "acronis-alert-manager-v1.openapi.json";

/// Where the spec files live: `$ACRONIS_SPEC_DIR`, else the workspace's sibling `shared/reference`.
pub fn default_spec_dir() -> PathBuf {
    match std::env::var_os("ACRONIS_SPEC_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference"
        )),
    }
}

/// Both parsed specs.
#[derive(Debug)]
pub struct Specs {
    pub account_management: Value,
    pub alert_manager: Value,
}

impl Specs {
    pub fn load(dir: &Path) -> anyhow::Result<Specs> {
        let read = |name: &str| -> anyhow::Result<Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("cannot read spec {}: {e}", path.display()))?;
            Ok(serde_json::from_str(&text)?)
        };
        Ok(Specs {
            account_management: read(ACCOUNT_MANAGEMENT_SPEC_FILE)?,
            alert_manager: read(ALERT_MANAGER_SPEC_FILE)?,
        })
    }

    /// Loaded once per process from [`default_spec_dir`].
    pub fn shared() -> Result<&'static Specs, String> {
        static SPECS: OnceLock<Result<Specs, String>> = OnceLock::new();
        SPECS
            .get_or_init(|| Specs::load(&default_spec_dir()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn spec(&self, api: Api) -> &Value {
        match api {
            Api::AccountManagement => &self.account_management,
            Api::AlertManager => &self.alert_manager,
        }
    }
}

/// Splits a full request path (`/api/2/tenants/…`) into its API and the spec-relative path.
pub fn split_api_path(path: &str) -> Option<(Api, &str)> {
    let path = path.split('?').next().unwrap_or(path);
    [Api::AccountManagement, Api::AlertManager]
        .into_iter()
        .find_map(|api| path.strip_prefix(api.prefix()).map(|rest| (api, rest)))
        .filter(|(_, rest)| rest.starts_with('/'))
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Finds the spec path template a concrete (or template) path matches. Literal segments win over
/// parameters, as in the service (`/tenants/usages` is not `/tenants/{tenant_id}`).
fn find_spec_path<'s>(spec: &'s Value, relative_path: &str) -> Option<&'s str> {
    let wanted = segments(relative_path);
    let paths = spec.get("paths")?.as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts = segments(template);
            if parts.len() != wanted.len() {
                return None;
            }
            let mut literal_matches = 0;
            for (part, want) in parts.iter().zip(&wanted) {
                if is_param(part) {
                    continue;
                }
                if part != want {
                    return None;
                }
                literal_matches += 1;
            }
            Some((literal_matches, template.as_str()))
        })
        .max_by_key(|(literal_matches, _)| *literal_matches)
        .map(|(_, template)| template)
}

fn find_operation<'s>(
    spec: &'s Value,
    method: &str,
    relative_path: &str,
) -> Result<&'s Value, String> {
    let template = find_spec_path(spec, relative_path)
        .ok_or_else(|| format!("path {relative_path} is not in the spec"))?;
    spec["paths"][template]
        .get(method.to_ascii_lowercase())
        .ok_or_else(|| format!("method {method} of {template} is not in the spec"))
}

/// Validates a request body (JSON, or a form body given as an object of strings) for `method` +
/// full `path` (e.g. `/api/2/tenants/0b6e…/offering_items`).
pub fn validate_request_body(method: &str, path: &str, body: &Value) -> Result<(), Vec<String>> {
    let specs = Specs::shared().map_err(|e| vec![e])?;
    validate_request_body_with(specs, method, path, body)
}

pub fn validate_request_body_with(
    specs: &Specs,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<(), Vec<String>> {
    let (api, relative) = split_api_path(path)
        .ok_or_else(|| vec![format!("{path} is not under a known API prefix")])?;
    let spec = specs.spec(api);
    let operation = find_operation(spec, method, relative).map_err(|e| vec![e])?;
    let Some(content) = operation
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
    else {
        return Err(vec![format!(
            "{method} {path} takes no request body in the spec"
        )]);
    };
    let Some(schema) = content.values().find_map(|media| media.get("schema")) else {
        return Ok(());
    };
    collect(spec, schema, body)
}

/// Validates a response body for `method` + full `path` + HTTP `status`. Statuses the spec does
/// not list for the operation fall back to the API's generic error schema (SPEC-AM says
/// `errorScheme` is used for every 4xx/5xx).
pub fn validate_response_body(
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), Vec<String>> {
    let specs = Specs::shared().map_err(|e| vec![e])?;
    validate_response_body_with(specs, method, path, status, body)
}

pub fn validate_response_body_with(
    specs: &Specs,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), Vec<String>> {
    let (api, relative) = split_api_path(path)
        .ok_or_else(|| vec![format!("{path} is not under a known API prefix")])?;
    let spec = specs.spec(api);
    let operation = find_operation(spec, method, relative).map_err(|e| vec![e])?;
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"));
    let schema = match response {
        Some(response) => match response.get("content").and_then(Value::as_object) {
            Some(content) => match content
                .get("application/json")
                .and_then(|media| media.get("schema"))
            {
                Some(schema) => schema.clone(),
                None => return Ok(()),
            },
            None => {
                return Err(vec![format!(
                    "status {status} of {method} {path} has no body in the spec"
                )]);
            }
        },
        None if status >= 400 => serde_json::json!({"$ref": api.generic_error_schema()}),
        None => {
            return Err(vec![format!(
                "status {status} is not documented for {method} {path}"
            )]);
        }
    };
    collect(spec, &schema, body)
}

/// Checks that every route marked as in-spec exists (path + method) in its spec, and that routes
/// marked as documented-outside-the-spec really are absent from it. Takes
/// (api, method, spec-relative path, status) so tests can feed altered tables.
pub fn check_routes<'r>(
    specs: &Specs,
    routes: impl IntoIterator<Item = (Api, &'r str, &'r str, &'r SpecStatus)>,
) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for (api, method, path, spec_status) in routes {
        let spec = specs.spec(api);
        let in_spec = find_spec_path(spec, path)
            .filter(|template| same_shape(template, path))
            .and_then(|template| spec["paths"][template].get(method.to_ascii_lowercase()))
            .is_some();
        let prefix = api.prefix();
        match (spec_status, in_spec) {
            (SpecStatus::InSpec, false) => errors.push(format!(
                "{method} {prefix}{path} is served but not in the spec"
            )),
            (SpecStatus::DocumentedOutsideSpec(_), true) => errors.push(format!(
                "{method} {prefix}{path} is marked as outside the spec but the spec has it"
            )),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The served-route table as `check_routes` input.
pub fn served_route_list()
-> impl Iterator<Item = (Api, &'static str, &'static str, &'static SpecStatus)> {
    SERVED_ROUTES
        .iter()
        .map(|r: &'static ServedRoute| (r.api, r.method, r.path, &r.spec_status))
}

/// Served routes checked against the specs.
pub fn check_served_routes() -> Result<(), Vec<String>> {
    let specs = Specs::shared().map_err(|e| vec![e])?;
    check_routes(specs, served_route_list())
}

/// Same segments, parameters in the same places (parameter names may differ).
fn same_shape(template: &str, path: &str) -> bool {
    let (a, b) = (segments(template), segments(path));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| if is_param(x) { is_param(y) } else { x == y })
}

/// Validates `value` against `schema` (resolved inside `spec`).
pub fn validate_value(spec: &Value, schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    collect(spec, schema, value)
}

fn collect(spec: &Value, schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(spec, schema, value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn resolve<'s>(spec: &'s Value, schema: &'s Value) -> &'s Value {
    let mut current = schema;
    // Bounded: a ref chain longer than this would be a cycle.
    for _ in 0..16 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(reference) => match reference
                .strip_prefix('#')
                .and_then(|pointer| spec.pointer(pointer))
            {
                Some(target) => current = target,
                None => return &Value::Null,
            },
            None => break,
        }
    }
    current
}

fn regex_cache() -> &'static Mutex<HashMap<String, Option<regex_lite::Regex>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex_lite::Regex>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
    let mut cache = regex_cache()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let compiled = cache
        .entry(pattern.to_string())
        .or_insert_with(|| regex_lite::Regex::new(pattern).ok());
    match compiled {
        // JSON Schema patterns are unanchored searches.
        Some(regex) => Ok(regex.is_match(text)),
        None => Err(format!("spec pattern {pattern:?} cannot be compiled")),
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let Some(rules) = schema.as_object() else {
        return;
    };
    // OpenAPI 3.0: `nullable` applies to the schema object it sits on, including its allOf.
    if value.is_null() && rules.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(parts) = rules.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check(spec, part, value, at, errors);
        }
    }
    for (keyword, needs_exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = rules.get(keyword).and_then(Value::as_array) {
            let mut option_errors = Vec::new();
            let passing = options
                .iter()
                .filter(|option| {
                    let mut local = Vec::new();
                    check(spec, option, value, at, &mut local);
                    let ok = local.is_empty();
                    option_errors.extend(local);
                    ok
                })
                .count();
            if passing == 0 || (needs_exactly_one && passing > 1) {
                errors.push(format!(
                    "{at}: {passing} of {} {keyword} options match ({})",
                    options.len(),
                    option_errors.join("; ")
                ));
            }
        }
    }
    if let Some(expected) = rules.get("type").and_then(Value::as_str) {
        if !type_matches(expected, value) {
            errors.push(format!("{at}: expected {expected}, got {}", short(value)));
            return;
        }
    }
    if let Some(allowed) = rules.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "{at}: {} is not one of {}",
                short(value),
                Value::Array(allowed.clone())
            ));
        }
    }
    match value {
        Value::Object(fields) => {
            if let Some(required) = rules.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        errors.push(format!("{at}: missing required property {name}"));
                    }
                }
            }
            let properties = rules.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                let field_at = format!("{at}.{name}");
                match properties.and_then(|known| known.get(name)) {
                    Some(field_schema) => check(spec, field_schema, field, &field_at, errors),
                    None => match rules.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{at}: property {name} is not allowed"))
                        }
                        Some(extra @ Value::Object(_)) => {
                            check(spec, extra, field, &field_at, errors)
                        }
                        _ => {}
                    },
                }
            }
        }
        Value::Array(elements) => {
            if let Some(min) = rules.get("minItems").and_then(Value::as_u64) {
                if (elements.len() as u64) < min {
                    errors.push(format!("{at}: fewer than {min} items"));
                }
            }
            if let Some(max) = rules.get("maxItems").and_then(Value::as_u64) {
                if (elements.len() as u64) > max {
                    errors.push(format!("{at}: more than {max} items"));
                }
            }
            if rules.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                for (index, element) in elements.iter().enumerate() {
                    if elements[..index].contains(element) {
                        errors.push(format!("{at}[{index}]: duplicate item"));
                    }
                }
            }
            if let Some(item_schema) = rules.get("items") {
                for (index, element) in elements.iter().enumerate() {
                    check(
                        spec,
                        item_schema,
                        element,
                        &format!("{at}[{index}]"),
                        errors,
                    );
                }
            }
        }
        Value::String(text) => {
            let length = text.chars().count() as u64;
            if let Some(min) = rules.get("minLength").and_then(Value::as_u64) {
                if length < min {
                    errors.push(format!("{at}: shorter than {min}"));
                }
            }
            if let Some(max) = rules.get("maxLength").and_then(Value::as_u64) {
                if length > max {
                    errors.push(format!("{at}: longer than {max}"));
                }
            }
            if let Some(pattern) = rules.get("pattern").and_then(Value::as_str) {
                match pattern_matches(pattern, text) {
                    Ok(true) => {}
                    Ok(false) => errors.push(format!("{at}: {text:?} does not match {pattern:?}")),
                    Err(problem) => errors.push(format!("{at}: {problem}")),
                }
            }
        }
        Value::Number(number) => {
            if let (Some(min), Some(actual)) = (
                rules.get("minimum").and_then(Value::as_f64),
                number.as_f64(),
            ) {
                if actual < min {
                    errors.push(format!("{at}: {actual} is below the minimum {min}"));
                }
            }
            if let (Some(max), Some(actual)) = (
                rules.get("maximum").and_then(Value::as_f64),
                number.as_f64(),
            ) {
                if actual > max {
                    errors.push(format!("{at}: {actual} is above the maximum {max}"));
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(60).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}
