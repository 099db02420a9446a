//! The query protocol (notes §2.2–2.3): filters, IncludeFields, MaxRecords, id order, paging.

use crate::db::{Db, Row};
use crate::entities::{EntityDef, FieldKind};
use crate::values::parse_datetime;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// Rows per page, and the MaxRecords ceiling.
pub const PAGE_SIZE: usize = 500;

#[derive(Debug)]
enum Target {
    Field(&'static str, FieldKind),
    Udf(String),
}

#[derive(Debug)]
enum Condition {
    Compare {
        op: String,
        target: Target,
        value: Option<Value>,
    },
    Group {
        any: bool,
        items: Vec<Condition>,
    },
}

#[derive(Debug)]
pub struct ParsedQuery {
    pub max_records: Option<usize>,
    include: Option<Vec<String>>,
    conditions: Vec<Condition>,
}

fn get_ci<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

const COMPARISON_OPS: &[&str] = &[
    "eq",
    "noteq",
    "gt",
    "gte",
    "lt",
    "lte",
    "beginsWith",
    "endsWith",
    "contains",
    "exist",
    "notExist",
    "in",
    "notIn",
];

/// Parses and checks a QueryModel body. Errors are the `errors` strings of a 500 answer.
pub fn parse(def: &'static EntityDef, db: &Db, body: &Value) -> Result<ParsedQuery, Vec<String>> {
    let object = body
        .as_object()
        .ok_or_else(|| vec!["The query must be a JSON object.".to_string()])?;
    let mut errors = Vec::new();
    let max_records = match get_ci(object, "MaxRecords") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(n) if (1..=PAGE_SIZE as i64).contains(&n) => Some(n as usize),
            _ => {
                return Err(vec![
                    "maxCountOfRecordsToReturn must be between 1 and 500".to_string(),
                ]);
            }
        },
    };
    let include = match get_ci(object, "IncludeFields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => {
            let udfs = db.udf_definitions(def);
            let mut fields = Vec::new();
            for name in names {
                let Some(name) = name.as_str() else {
                    errors.push("IncludeFields entries must be strings.".to_string());
                    continue;
                };
                if let Some(field) = def.field(name) {
                    fields.push(field.name.clone());
                } else if let Some(udf) = udfs.iter().find(|u| u.eq_ignore_ascii_case(name)) {
                    fields.push(udf.clone());
                } else {
                    errors.push(format!(
                        "Unable to find {name} in the {} entity.",
                        def.singular
                    ));
                }
            }
            Some(fields)
        }
        Some(_) => return Err(vec!["IncludeFields must be an array.".to_string()]),
    };
    let mut conditions = Vec::new();
    match get_ci(object, "filter") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                conditions.push(parse_condition(def, db, item, &mut errors));
            }
        }
        Some(_) => errors.push("filter must be an array.".to_string()),
    }
    let mut udf_names = Vec::new();
    collect_udfs(&conditions, &mut udf_names);
    udf_names.sort();
    udf_names.dedup();
    if udf_names.len() > 1 {
        errors.push("Only one user-defined field can be queried at a time.".to_string());
    }
    if errors.is_empty() {
        Ok(ParsedQuery {
            max_records,
            include,
            conditions,
        })
    } else {
        Err(errors)
    }
}

fn collect_udfs(conditions: &[Condition], out: &mut Vec<String>) {
    for condition in conditions {
        match condition {
            Condition::Compare {
                target: Target::Udf(name),
                ..
            } => out.push(name.to_ascii_lowercase()),
            Condition::Compare { .. } => {}
            Condition::Group { items, .. } => collect_udfs(items, out),
        }
    }
}

fn parse_condition(
    def: &'static EntityDef,
    db: &Db,
    item: &Value,
    errors: &mut Vec<String>,
) -> Condition {
    let empty = Condition::Group {
        any: false,
        items: Vec::new(),
    };
    let Some(object) = item.as_object() else {
        errors.push("Each filter must be an object.".to_string());
        return empty;
    };
    let op = get_ci(object, "op")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if op.eq_ignore_ascii_case("and") || op.eq_ignore_ascii_case("or") {
        let items = match get_ci(object, "items") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|i| parse_condition(def, db, i, errors))
                .collect(),
            _ => {
                errors.push(format!("The {op} filter needs items."));
                Vec::new()
            }
        };
        return Condition::Group {
            any: op.eq_ignore_ascii_case("or"),
            items,
        };
    }
    let Some(op) = COMPARISON_OPS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(op))
    else {
        errors.push(format!("Invalid filter operator: {op}"));
        return empty;
    };
    let field = get_ci(object, "field")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_udf = match get_ci(object, "udf") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            errors.push("udf must be true or false.".to_string());
            false
        }
    };
    let target = if is_udf {
        match db
            .udf_definitions(def)
            .into_iter()
            .find(|u| u.eq_ignore_ascii_case(field))
        {
            Some(name) => Target::Udf(name),
            None => {
                errors.push(format!(
                    "Unable to find user-defined field {field} in the {} entity.",
                    def.singular
                ));
                return empty;
            }
        }
    } else {
        match def.field(field) {
            Some(meta)
                if def
                    .not_queryable
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(field)) =>
            {
                errors.push(format!("{} is not queryable.", meta.name));
                return empty;
            }
            Some(meta) => Target::Field(meta.name.as_str(), meta.kind),
            None => {
                errors.push(format!(
                    "Unable to find {field} in the {} entity.",
                    def.singular
                ));
                return empty;
            }
        }
    };
    let value = get_ci(object, "value").cloned();
    let op = (*op).to_string();
    match op.as_str() {
        "exist" | "notExist" => {}
        "in" | "notIn" => {
            if !matches!(value, Some(Value::Array(_))) {
                errors.push(format!("The {op} operator needs an array value."));
            }
        }
        _ => match &value {
            None | Some(Value::Null) => {
                errors.push(format!("The {op} filter on {field} needs a value."))
            }
            Some(v) => {
                if matches!(target, Target::Field(_, FieldKind::Boolean)) && !v.is_boolean() {
                    errors.push(format!("Value {v} is not a valid boolean for {field}."));
                }
            }
        },
    }
    Condition::Compare { op, target, value }
}

impl ParsedQuery {
    pub fn matches(&self, row: &Row) -> bool {
        self.conditions.iter().all(|c| evaluate(c, row))
    }

    pub fn page_size(&self) -> usize {
        self.max_records.unwrap_or(PAGE_SIZE)
    }

    /// Applies IncludeFields: listed fields only; `userDefinedFields` keeps listed UDFs only.
    pub fn project(&self, rendered: Value) -> Value {
        let Some(include) = &self.include else {
            return rendered;
        };
        let Value::Object(mut object) = rendered else {
            return rendered;
        };
        let udfs: Vec<Value> = object
            .remove("userDefinedFields")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|u| {
                u.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| include.iter().any(|i| i == n))
            })
            .collect();
        let mut out: Map<String, Value> = object
            .into_iter()
            .filter(|(k, _)| include.iter().any(|i| i == k))
            .collect();
        out.insert("userDefinedFields".into(), Value::Array(udfs));
        Value::Object(out)
    }

    pub fn includes_id(&self) -> bool {
        self.include
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|f| f == "id"))
    }
}

fn evaluate(condition: &Condition, row: &Row) -> bool {
    match condition {
        Condition::Group { any: true, items } => items.iter().any(|c| evaluate(c, row)),
        Condition::Group { any: false, items } => items.iter().all(|c| evaluate(c, row)),
        Condition::Compare { op, target, value } => {
            let (actual, kind) = match target {
                Target::Field(name, kind) => {
                    (row.get(*name).cloned().unwrap_or(Value::Null), *kind)
                }
                Target::Udf(name) => (
                    Db::udf_value(row, name).cloned().unwrap_or(Value::Null),
                    FieldKind::Text,
                ),
            };
            let present = !actual.is_null() && actual.as_str() != Some("");
            match op.as_str() {
                "exist" => present,
                "notExist" => !present,
                // SQL semantics: a null column matches no comparison.
                _ if actual.is_null() => false,
                "in" | "notIn" => {
                    let listed = value.as_ref().and_then(Value::as_array).is_some_and(|vs| {
                        vs.iter()
                            .any(|v| compare(kind, &actual, v) == Some(Ordering::Equal))
                    });
                    listed == (op == "in")
                }
                "beginsWith" | "endsWith" | "contains" => {
                    let haystack = text_of(&actual).to_lowercase();
                    let needle = value
                        .as_ref()
                        .map(text_of)
                        .unwrap_or_default()
                        .to_lowercase();
                    match op.as_str() {
                        "beginsWith" => haystack.starts_with(&needle),
                        "endsWith" => haystack.ends_with(&needle),
                        _ => haystack.contains(&needle),
                    }
                }
                _ => {
                    let Some(expected) = value else { return false };
                    let Some(ordering) = compare(kind, &actual, expected) else {
                        return false;
                    };
                    match op.as_str() {
                        "eq" => ordering == Ordering::Equal,
                        "noteq" => ordering != Ordering::Equal,
                        "gt" => ordering == Ordering::Greater,
                        "gte" => ordering != Ordering::Less,
                        "lt" => ordering == Ordering::Less,
                        "lte" => ordering != Ordering::Greater,
                        _ => false,
                    }
                }
            }
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Compares a stored value with a filter value by the field's type; strings compare without
/// regard to case, like the SQL Server collation behind Autotask.
fn compare(kind: FieldKind, actual: &Value, expected: &Value) -> Option<Ordering> {
    match kind {
        FieldKind::Integer | FieldKind::Long | FieldKind::Double | FieldKind::Boolean => {
            number_of(actual)?.partial_cmp(&number_of(expected)?)
        }
        FieldKind::DateTime => {
            Some(parse_datetime(actual.as_str()?)?.cmp(&parse_datetime(expected.as_str()?)?))
        }
        FieldKind::Text | FieldKind::Any => Some(
            text_of(actual)
                .to_lowercase()
                .cmp(&text_of(expected).to_lowercase()),
        ),
    }
}

/// One page of results: rows with id ≥ `start_id`, in id order.
pub struct Page {
    pub items: Vec<Value>,
    /// First id of the next page, when more rows match.
    pub next_start: Option<i64>,
}

pub fn run(
    def: &'static EntityDef,
    db: &Db,
    query: &ParsedQuery,
    start_id: Option<i64>,
    parent: Option<(&str, i64)>,
) -> Result<Page, Vec<String>> {
    let size = query.page_size();
    let mut matching = db
        .raw_rows(def.name)
        .filter(|(id, _)| start_id.is_none_or(|start| **id >= start))
        .filter(|(_, row)| {
            parent.is_none_or(|(field, id)| row.get(field).and_then(Value::as_i64) == Some(id))
        })
        .filter(|(_, row)| query.matches(row));
    let items: Vec<Value> = matching
        .by_ref()
        .take(size)
        .map(|(_, row)| query.project(db.render(def, row)))
        .collect();
    let next_start = matching.next().map(|(id, _)| *id);
    if next_start.is_some() && !query.includes_id() {
        return Err(vec![
            "IncludeFields must contain id when the result has more than one page.".to_string(),
        ]);
    }
    Ok(Page { items, next_start })
}

pub fn count(def: &'static EntityDef, db: &Db, query: &ParsedQuery) -> usize {
    db.raw_rows(def.name)
        .filter(|(_, row)| query.matches(row))
        .count()
}

/// The `paging` token of a next/previous page URL (notes §2.3).
pub fn paging_token(page_size: usize, previous_starts: &[i64], next_start: i64) -> String {
    json!({ "pageSize": page_size, "previousIds": previous_starts, "nextIds": [next_start] })
        .to_string()
}

/// Reads a paging token: (previous page starts, this page's start).
pub fn parse_paging(token: &str) -> Option<(Vec<i64>, i64)> {
    let value: Value = serde_json::from_str(token).ok()?;
    let previous = value
        .get("previousIds")?
        .as_array()?
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let start = value.get("nextIds")?.as_array()?.first()?.as_i64()?;
    Some((previous, start))
}
