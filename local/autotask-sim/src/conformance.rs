//! Checks against the Autotask swagger: which routes exist, and whether a request body fits the
//! swagger model.
//!
//! The simulator embeds `spec/autotask-subset.json`: the swagger paths it serves and the
//! definitions they reach, copied unchanged from `shared/reference/autotask-rest-swagger.json`
//! (tests/conformance.rs proves the copy is faithful). The same validator guards the simulator's
//! own request handling and is exported so client tests can prove that every body they send fits.

use serde_json::Value;
use std::sync::LazyLock;

/// The embedded swagger subset (Swagger 2.0, PascalCase property names).
pub const SUBSET_JSON: &str = include_str!("../spec/autotask-subset.json");

static SUBSET: LazyLock<Value> = LazyLock::new(|| {
    // The file is part of the crate and checked by tests; a parse failure is a build defect.
    serde_json::from_str(SUBSET_JSON).unwrap_or(Value::Null)
});

/// The embedded swagger subset, parsed.
pub fn embedded_spec() -> &'static Value {
    &SUBSET
}

/// Routes the simulator serves that the swagger does not list, with the reason. Only the paging
/// continuation: real Autotask answers POST queries with a `nextPageUrl` of the form
/// `/{Entity}/query/next?paging=…` (notes §2.3) that the 2020 swagger never declared.
pub const ROUTES_DOCUMENTED_OUTSIDE_SWAGGER: &[(&str, &str)] = &[(
    "/query/next",
    "paging continuation URL returned in pageDetails.nextPageUrl (autotask-api-notes §2.3)",
)];

/// Every (method, template) of `routes` that `spec` does not declare, as readable messages.
pub fn check_routes_against_spec<'a>(
    spec: &Value,
    routes: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), Vec<String>> {
    let errors: Vec<String> = routes
        .into_iter()
        .filter(|(method, template)| !spec_declares(spec, method, template))
        .map(|(method, template)| format!("{method} {template} is not in the swagger"))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Whether the swagger declares exactly this path template with this method.
pub fn spec_declares(spec: &Value, method: &str, template: &str) -> bool {
    spec.get("paths")
        .and_then(|paths| paths.get(template))
        .and_then(|ops| ops.get(method.to_ascii_lowercase()))
        .is_some()
}

/// Finds the swagger path template a concrete path (or template) belongs to. Accepts an optional
/// `/ATServicesRest` prefix, any letter case, and a bare entity name (`"Companies"` means
/// `/V1.0/Companies`). Literal segments beat `{placeholders}` so `/Companies/query` is not read
/// as `/Companies/{id}`.
pub fn find_spec_template<'s>(spec: &'s Value, path: &str) -> Option<&'s str> {
    let normalized = normalize_path(path);
    let wanted: Vec<&str> = normalized.split('/').filter(|s| !s.is_empty()).collect();
    let paths = spec.get("paths")?.as_object()?;
    let mut best: Option<(&str, usize)> = None;
    for template in paths.keys() {
        let segments: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
        if segments.len() != wanted.len() {
            continue;
        }
        let mut literal_matches = 0;
        let matches = segments.iter().zip(&wanted).all(|(t, w)| {
            if t.starts_with('{') {
                true
            } else if t.eq_ignore_ascii_case(w) {
                literal_matches += 1;
                true
            } else {
                false
            }
        });
        if matches && best.is_none_or(|(_, score)| literal_matches > score) {
            best = Some((template.as_str(), literal_matches));
        }
    }
    best.map(|(template, _)| template)
}

fn normalize_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let trimmed = path.trim_start_matches('/');
    let without_root = match trimmed.get(..14) {
        Some(prefix) if prefix.eq_ignore_ascii_case("ATServicesRest") => &trimmed[14..],
        _ => trimmed,
    };
    if without_root.contains('/') {
        format!("/{}", without_root.trim_start_matches('/'))
    } else if without_root.eq_ignore_ascii_case("VersionInformation") {
        "/VersionInformation".to_string()
    } else {
        format!("/V1.0/{without_root}")
    }
}

/// Validates a request body against the swagger model of `method` on `path` (see
/// [`find_spec_template`] for the accepted path forms). Property names are compared
/// case-insensitively (the wire is camelCase, the swagger PascalCase); unknown and read-only
/// properties are errors; JSON types are checked where the swagger gives them. The filter `value`
/// (swagger `ValueItem`) is free-form on the wire: a scalar or, for `in`/`notIn`, an array.
pub fn validate_request_body(method: &str, path: &str, body: &Value) -> Result<(), Vec<String>> {
    validate_request_body_with(embedded_spec(), method, path, body)
}

/// [`validate_request_body`] against any swagger document (e.g. the full reference file).
pub fn validate_request_body_with(
    spec: &Value,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<(), Vec<String>> {
    let Some(template) = find_spec_template(spec, path) else {
        return Err(vec![format!("path {path} is not in the swagger")]);
    };
    let Some(operation) = spec
        .get("paths")
        .and_then(|p| p.get(template))
        .and_then(|ops| ops.get(method.to_ascii_lowercase()))
    else {
        return Err(vec![format!("{method} {template} is not in the swagger")]);
    };
    let body_schema = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))
        .and_then(|p| p.get("schema"));
    let mut errors = Vec::new();
    match body_schema {
        None if !body.is_null() => {
            errors.push(format!("{method} {template} takes no request body"));
        }
        None => {}
        Some(schema) => {
            if !body.is_object() {
                errors.push("$: the request body must be a JSON object".to_string());
            } else {
                validate_value(spec, schema, body, "$", &mut errors);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Definitions whose wire form is free-form although the swagger describes an object.
const FREE_FORM_DEFINITIONS: &[&str] = &["ValueItem", "Object"];

fn validate_value(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        // Every Autotask model property is nullable on the wire.
        return;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if FREE_FORM_DEFINITIONS.contains(&name) {
            return;
        }
        match spec.get("definitions").and_then(|d| d.get(name)) {
            Some(definition) => validate_value(spec, definition, value, at, errors),
            None => errors.push(format!("{at}: swagger definition {name} is missing")),
        }
        return;
    }
    let schema_type = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let format = schema.get("format").and_then(Value::as_str);
    match schema_type {
        "object" => validate_object(spec, schema, value, at, errors),
        "array" => match (value.as_array(), schema.get("items")) {
            (Some(items), Some(item_schema)) => {
                for (index, item) in items.iter().enumerate() {
                    validate_value(spec, item_schema, item, &format!("{at}[{index}]"), errors);
                }
            }
            (Some(_), None) => {}
            (None, _) => errors.push(format!("{at}: expected an array")),
        },
        "integer" => {
            let fits = match format {
                Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                _ => value.as_i64().is_some(),
            };
            if !fits {
                errors.push(format!(
                    "{at}: expected an integer ({})",
                    format.unwrap_or("int")
                ));
            }
        }
        "number" => {
            if !value.is_number() {
                errors.push(format!("{at}: expected a number"));
            }
        }
        "boolean" => {
            if !value.is_boolean() {
                errors.push(format!("{at}: expected true or false"));
            }
        }
        "string" => match value.as_str() {
            None => errors.push(format!("{at}: expected a string")),
            Some(text)
                if format == Some("date-time") && crate::values::parse_datetime(text).is_none() =>
            {
                errors.push(format!("{at}: {text:?} is not a date-time"));
            }
            Some(_) => {}
        },
        other => errors.push(format!("{at}: unsupported swagger type {other}")),
    }
}

fn validate_object(
    spec: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        errors.push(format!("{at}: expected an object"));
        return;
    };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        // `{"type":"object"}` without properties (e.g. DefaultValue) accepts anything.
        return;
    };
    for (key, item) in object {
        let found = properties
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key));
        match found {
            None => errors.push(format!("{at}.{key}: unknown property")),
            Some((name, property)) => {
                if property.get("readOnly").and_then(Value::as_bool) == Some(true) {
                    errors.push(format!("{at}.{key}: {name} is read-only"));
                } else {
                    validate_value(spec, property, item, &format!("{at}.{key}"), errors);
                }
            }
        }
    }
}
