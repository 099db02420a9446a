//! The query body (`QueryModel`, notes §2.2): top-level filters are ANDed, `and`/`or` groups nest,
//! `udf: true` marks a user-defined field.

use serde::Serialize;
use serde_json::Value;

/// Autotask returns at most 500 rows per page.
pub const MAX_PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub udf: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Filter>,
}

impl Filter {
    fn compare(op: &'static str, field: &str, value: impl Into<Value>) -> Self {
        Filter {
            op,
            field: Some(field.to_string()),
            udf: false,
            value: Some(value.into()),
            items: Vec::new(),
        }
    }
    pub fn eq(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("eq", field, value)
    }
    pub fn not_eq(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("noteq", field, value)
    }
    pub fn gt(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("gt", field, value)
    }
    pub fn gte(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("gte", field, value)
    }
    pub fn lt(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("lt", field, value)
    }
    pub fn lte(field: &str, value: impl Into<Value>) -> Self {
        Self::compare("lte", field, value)
    }
    pub fn contains(field: &str, value: &str) -> Self {
        Self::compare("contains", field, value)
    }
    pub fn begins_with(field: &str, value: &str) -> Self {
        Self::compare("beginsWith", field, value)
    }
    pub fn is_in(field: &str, values: impl IntoIterator<Item = impl Into<Value>>) -> Self {
        let values: Vec<Value> = values.into_iter().map(Into::into).collect();
        Self::compare("in", field, Value::Array(values))
    }
    pub fn exists(field: &str) -> Self {
        Filter {
            op: "exist",
            field: Some(field.to_string()),
            udf: false,
            value: None,
            items: Vec::new(),
        }
    }
    pub fn and(items: Vec<Filter>) -> Self {
        Self::group("and", items)
    }
    pub fn or(items: Vec<Filter>) -> Self {
        Self::group("or", items)
    }
    fn group(op: &'static str, items: Vec<Filter>) -> Self {
        Filter {
            op,
            field: None,
            udf: false,
            value: None,
            items,
        }
    }
    /// Marks the field as a user-defined field (only one UDF per query, notes §2.2).
    pub fn udf(mut self) -> Self {
        self.udf = true;
        self
    }
}

/// A query: filters plus optional field projection and page size.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Query {
    #[serde(rename = "filter")]
    pub filters: Vec<Filter>,
    #[serde(rename = "IncludeFields", skip_serializing_if = "Vec::is_empty")]
    pub include_fields: Vec<String>,
    #[serde(rename = "MaxRecords", skip_serializing_if = "Option::is_none")]
    pub max_records: Option<u32>,
}

impl Query {
    /// Every row: Autotask needs at least one filter, and `id exist` matches all.
    pub fn all() -> Self {
        Query::default().filter(Filter::exists("id"))
    }
    pub fn new(filter: Filter) -> Self {
        Query::default().filter(filter)
    }
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }
    /// Only these fields come back (`id` is added: pages past 500 rows need it, notes §2.2).
    pub fn fields(mut self, fields: &[&str]) -> Self {
        self.include_fields = fields.iter().map(|f| (*f).to_string()).collect();
        if !self
            .include_fields
            .iter()
            .any(|f| f.eq_ignore_ascii_case("id"))
        {
            self.include_fields.insert(0, "id".to_string());
        }
        self
    }
    pub fn max_records(mut self, records: u32) -> Self {
        self.max_records = Some(records.clamp(1, MAX_PAGE_SIZE));
        self
    }
}

/// How a query reads past the first 500 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paging {
    /// POST the original body to `pageDetails.nextPageUrl` (a GET there answers 405).
    #[default]
    NextPageUrl,
    /// Repeat the query with `id gt <last id>` (the documented alternative, notes §2.3).
    IdGreaterThanLast,
}
