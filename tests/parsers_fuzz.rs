//! Parsers under fuzz: arbitrary bytes, arbitrary JSON and mutations of valid payloads go to
//! every parser of remote responses (Autotask, Acronis: the typed entities, the clients' error
//! bodies, tokens and pages, through a tiny HTTP double), of configuration items and of SQS
//! bodies, and to the worker runtimes with garbage messages. Each must answer Ok or Err and never
//! panic: proptest catches a panic, shrinks the input and reports it.
//!
//! Case counts are bounded and the seed is fixed, so a run is quick and repeatable and writes no
//! file; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` widen or vary the search.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::root;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use secrecy::SecretString;
use serde_json::{Value, json};
use sync_shared::acronis::{self, AcronisClient, DesiredOfferingItem, OfferingItemKey, QuotaLimit};
use sync_shared::apply::{ApplyMessage, ApplyOutcome, process_apply_batch};
use sync_shared::autotask;
use sync_shared::config::{IntegrationConfig, Item, RawConfigItems, validate_user_item};
use sync_shared::secrets::{AcronisCredentials, AutotaskCredentials};
use sync_shared::status::JobReport;
use sync_shared::worker::{JobError, WorkerContext, process_fifo_batch};
use sync_shared::{Classify, Job, JobMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---- configuration ----------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    let env = |name: &str| std::env::var_os(name).is_some();
    ProptestConfig {
        cases: if env("PROPTEST_CASES") {
            base.cases
        } else {
            cases
        },
        rng_seed: if env("PROPTEST_RNG_SEED") {
            base.rng_seed
        } else {
            RngSeed::Fixed(0x0a7a_5eed)
        },
        failure_persistence: None,
        ..base
    }
}

// ---- valid sample payloads (the seeds of the mutations) -----------------------------------------

/// Autotask answers as the REST API sends them (camelCase; notes §2–§4).
const AUTOTASK_SAMPLES: &[&str] = &[
    r#"{"id":29682200,"companyName":"Contoso Ltd","companyType":1,"isActive":true,"parentCompanyID":null,"userDefinedFields":[{"name":"Acronis Tenant","value":"7c2e4a10-0000-4000-8000-000000000002"}]}"#,
    r#"{"id":29682600,"companyID":29682200,"contractName":"Managed Backup","contractType":7,"status":1,"startDate":"2026-01-01T00:00:00","endDate":"2026-12-31T00:00:00","userDefinedFields":[{"name":"Acronis PAYG","value":"Yes"}]}"#,
    r#"{"id":29682901,"contractID":29682600,"contractServiceID":29682900,"serviceID":29682400,"startDate":"2026-11-01T00:00:00","endDate":"2026-11-30T00:00:00","units":7.0}"#,
    r#"{"id":5,"contractID":29682600,"contractServiceBundleID":8,"serviceBundleID":9,"startDate":"2026-11-01T00:00:00","endDate":"2026-11-30T00:00:00","units":2}"#,
    r#"{"id":29682900,"contractID":29682600,"serviceID":29682400,"unitPrice":12.5,"invoiceDescription":"Workstations"}"#,
    r#"{"id":7,"companyID":29682200,"title":"Acronis: BackupFailed on srv1","description":"Backup failed","status":1,"priority":2,"queueID":29682833,"ticketType":1,"issueType":null,"subIssueType":null,"source":8,"dueDateTime":"2026-11-27T10:00:00Z","externalID":"a1b2c3#2","contractID":null,"completedDate":null,"lastActivityDate":"2026-11-24T10:00:00.123Z","createDate":"2026-11-24T10:00:00Z"}"#,
    r#"{"id":70,"ticketID":7,"title":"Re-raised","description":"The alert was raised again","noteType":1,"publish":1}"#,
    r#"{"id":29682400,"name":"Acronis Workstations","description":"","periodType":3,"unitPrice":12.5,"billingCodeID":29682000,"isActive":true}"#,
    r#"{"id":3,"name":"Acronis Microsoft 365 Bundle","periodType":3,"unitPrice":4,"billingCodeID":29682000,"isActive":true}"#,
    r#"{"id":29682000,"name":"Acronis Cloud Services","useType":1,"isActive":true}"#,
    r#"{"id":30,"name":"Acronis PAYG","description":"","udfType":2,"dataType":1,"isActive":true}"#,
    r#"{"id":11,"companyID":29682200,"firstName":"Ann","lastName":"Lee","emailAddress":"ann@contoso.example","isActive":1,"primaryContact":true}"#,
    r#"{"zoneName":"America West","url":"https://webservices5.autotask.net/ATServicesRest/","webUrl":"https://ww5.autotask.net/","ci":5}"#,
    r#"{"externalRequestThreshold":10000,"requestThresholdTimeframe":60,"currentTimeframeRequestCount":250}"#,
    r#"{"fields":[{"name":"status","dataType":"integer","isPickList":true,"picklistValues":[{"value":"1","label":"New","isActive":true,"isDefaultValue":true},{"value":"5","label":"Complete","isActive":true}]},{"name":"title","isPickList":false,"picklistValues":null}]}"#,
    r#"{"items":[{"id":29682200,"companyName":"Contoso Ltd","isActive":true}],"pageDetails":{"count":1,"requestCount":500,"prevPageUrl":null,"nextPageUrl":null}}"#,
    r#"{"item":{"id":7,"companyID":29682200,"title":"x","status":5,"completedDate":"2026-11-25T08:00:00Z"}}"#,
    r#"{"queryCount":3}"#,
    r#"{"itemId":12}"#,
    r#"{"errors":["Invalid filter: field companyNam does not exist"]}"#,
    r#"{"errors":[{"message":"IntegrationCode is invalid"}]}"#,
    r#"{"Message":"An error has occurred."}"#,
];

/// Acronis answers (Account Management v2, Alert Manager v1, the token endpoint).
const ACRONIS_SAMPLES: &[&str] = &[
    r#"{"id":"7c2e4a10-0000-4000-8000-000000000002","version":3,"name":"Contoso","kind":"customer","parent_id":"7c2e4a10-0000-4000-8000-000000000001","enabled":true,"ancestral_access":true,"pricing_mode":"production","mfa_status":"disabled","customer_type":"default"}"#,
    r#"{"items":[{"application_id":"6e6d758d-8e74-3ae3-ac84-50eb0dff12eb","name":"pw_base_workstations","edition":"pck_per_workload","usage_name":"workstations","tenant_id":"7c2e4a10-0000-4000-8000-000000000002","status":1,"type":"count","infra_id":null,"measurement_unit":"quantity","quota":{"value":10,"overage":0,"version":2}}],"paging":{"cursors":{"after":null}}}"#,
    r#"{"application_id":"6e6d758d-8e74-3ae3-ac84-50eb0dff12eb","name":"pw_base_storage","usage_name":"storage","status":0,"type":"infra","infra_id":"7f3c9d2a-1b4e-4c8f-9a6d-2e5b8c1f0a37","measurement_unit":"bytes"}"#,
    r#"{"items":[{"tenant":"7c2e4a10-0000-4000-8000-000000000002","usages":[{"tenant_uuid":"7c2e4a10-0000-4000-8000-000000000002","application_id":"6e6d758d-8e74-3ae3-ac84-50eb0dff12eb","name":"pw_base_storage","edition":"pck_per_gigabyte","usage_name":"storage","type":"infra","infra_id":"7f3c9d2a-1b4e-4c8f-9a6d-2e5b8c1f0a37","measurement_unit":"bytes","range_start":"2026-11-01T00:00:00","value":1073741824,"absolute_value":1073741824}]}]}"#,
    r#"{"items":[{"id":"a1b2c3","type":"BackupFailed","severity":"critical","category":"Backup","createdAt":"2026-11-24T10:00:00.123456789Z","updatedAt":"2026-11-24T10:05:00Z","deletedAt":null,"details":{"resourceName":"srv1","planName":"Daily","errorMessage":{"reason":"disk full"}},"tenant":{"id":"1234","locator":"/1/1234/","uuid":"7c2e4a10-0000-4000-8000-000000000002"}}],"paging":{"cursors":{"after":"c1"}}}"#,
    r#"{"id":"a1b2c4","type":"QuotaExceeded","severity":"warning","category":"Quota","createdAt":"2026-11-24T10:00:00Z","updatedAt":"2026-11-24T10:00:00Z","deletedAt":"2026-11-25T10:00:00+02:00","details":{"resource_name":7,"plan_name":{"message":"m"}},"tenant":{"id":"1234"}}"#,
    r#"{"access_token":"tok","token_type":"bearer","expires_in":7200,"expires_on":1795525200,"id_token":"x"}"#,
    r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
    r#"{"error":{"code":1001,"message":"Version mismatch","details":{"info":"quota version 2, expected 3"},"domain":"PlatformAccountServer","context":{}}}"#,
    r#"{"domain":"AlertManager","code":"NotFound","reason":"no such alert"}"#,
    r#"{"client_id":"3f9d2b7e-0000-4000-8000-0000000000c1","tenant_id":"7c2e4a10-0000-4000-8000-000000000001","type":"api_client"}"#,
    r#"{"items":["7c2e4a10-0000-4000-8000-000000000002","7c2e4a10-0000-4000-8000-000000000003"],"paging":{"cursors":{"after":"next"}}}"#,
    r#"{"mode":"trial","version":1}"#,
    r#"{"items":[{"id":"7f3c9d2a-1b4e-4c8f-9a6d-2e5b8c1f0a37","backend_type":"azure","name":"Azure"}]}"#,
];

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// SQS bodies and whole events: the sample events and the bodies of their records.
static SQS_SAMPLES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut samples = Vec::new();
    let dir = root().join("events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("event");
        let value: Value = serde_json::from_str(&text).expect("event JSON");
        for record in value["Records"].as_array().into_iter().flatten() {
            if let Some(body) = record["body"].as_str() {
                samples.push(body.to_string());
            }
        }
        samples.push(text);
    }
    assert!(samples.len() >= 10, "sample events: {samples:?}");
    samples
});

/// The example configuration items.
static CONFIG_SAMPLES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut items = Vec::new();
    for file in [
        "settings.json",
        "service-mappings.json",
        "customer-mappings.json",
        "alert-mappings.json",
    ] {
        let value: Value =
            serde_json::from_str(&read(&format!("config/examples/{file}"))).expect("example");
        items.extend(value.as_array().cloned().unwrap_or_default());
    }
    assert!(items.len() >= 8);
    items
});

/// Every object key in the samples, so that arbitrary JSON hits the fields the parsers read.
static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(value: &Value, keys: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    keys.insert(k.clone());
                    walk(v, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    let mut keys = BTreeSet::new();
    let texts = AUTOTASK_SAMPLES
        .iter()
        .chain(ACRONIS_SAMPLES)
        .map(|s| s.to_string())
        .chain(SQS_SAMPLES.iter().cloned());
    for text in texts {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            walk(&value, &mut keys);
        }
    }
    CONFIG_SAMPLES.iter().for_each(|v| walk(v, &mut keys));
    keys.into_iter().collect()
});

// ---- strategies -----------------------------------------------------------------------------------

const EDGE_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "Yes",
    "No",
    "null",
    "setup",
    "provisioning",
    "tickets",
    "usage",
    "enabled",
    "INTEGRATION#contoso",
    "INTEGRATION#",
    "SETTINGS",
    "SERVICE#pw_base_workstations",
    "SERVICE#PUBLIC_CLOUD#azure",
    "CUSTOMER#29682200",
    "ALERT#BackupFailed",
    "2026-11-24T07:00:00Z",
    "2026-11-24",
    "2026-02-30",
    "2026-11-24T07:00:00.123456789+14:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "+262142-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "18446744073709551616",
    "9223372036854775808",
    "1e400",
    "NaN",
    "http://127.0.0.1:9/",
    "https://webservices5.autotask.net/ATServicesRest/",
    "a#b#c",
    "é",
    "\u{0}",
    "\u{feff}",
    "💾💾",
];

fn edge_numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(1),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::from(u32::MAX) + 1),
        json!(-0.0),
        json!(0.5),
        json!(1e308),
        json!(-1e308),
        json!(f64::MIN_POSITIVE),
    ]
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(EDGE_STRINGS).prop_map(str::to_string),
        2 => "[ -~]{0,24}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(KEYS.clone()),
        1 => text(),
    ]
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(edge_numbers()),
        text().prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
        .boxed()
}

/// An edit of a document's bytes.
#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    InsertToken(usize, &'static str),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

const TOKENS: &[&str] = &[
    "18446744073709551616",
    "-9223372036854775809",
    "1e400",
    "-1e400",
    "0.1e-400",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "null",
    "[]",
    "{}",
    "\"\"",
    "true",
    ",",
    "\"+262142-12-31T23:59:59Z\"",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

fn byte_edit() -> BoxedStrategy<ByteEdit> {
    let structural = prop::sample::select(b"{}[]\":,\\0123456789-+.eE tfn".to_vec());
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| ByteEdit::Flip(i, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<usize>(), prop_oneof![any::<u8>(), structural])
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| ByteEdit::InsertToken(i, t)),
        any::<usize>().prop_map(ByteEdit::Delete),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| ByteEdit::Duplicate(i, n)),
    ]
    .boxed()
}

fn edit_bytes(mut bytes: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        let at = |i: usize| if len == 0 { 0 } else { i % len };
        match *edit {
            ByteEdit::Flip(i, bit) if len > 0 => bytes[at(i)] ^= 1 << bit,
            ByteEdit::Set(i, b) if len > 0 => bytes[at(i)] = b,
            ByteEdit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            ByteEdit::InsertToken(i, token) => {
                let at = i % (len + 1);
                bytes.splice(at..at, token.bytes());
            }
            ByteEdit::Delete(i) if len > 0 => {
                bytes.remove(at(i));
            }
            ByteEdit::Truncate(i) => bytes.truncate(i % (len + 1)),
            ByteEdit::Duplicate(i, n) if len > 0 => {
                let start = at(i);
                let chunk: Vec<u8> = bytes[start..(start + n).min(len)].to_vec();
                bytes.splice(start..start, chunk);
            }
            _ => {}
        }
    }
    bytes
}

/// An edit of a parsed document: a node (by pre-order index) replaced, removed, retyped, or
/// given a new member.
#[derive(Debug, Clone)]
enum ValueEdit {
    Replace(usize, Value),
    Remove(usize),
    Retype(usize),
    /// A value at the edge of its kind: extreme numbers and dates, odd strings, empty or long
    /// containers.
    Boundary(usize, usize),
    AddMember(usize, String, Value),
}

/// Dates at and past the edges of what parses (chrono's range, Unix nanoseconds' range).
const EDGE_DATES: &[&str] = &[
    "0000-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1677-09-21T00:12:43.145224191Z",
    "2262-04-11T23:47:16.854775808Z",
    "9999-12-31T23:59:59.999999999Z",
    "+262142-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "+262142-12-31T23:59:59",
    "2026-02-29T00:00:00Z",
    "2026-11-24T07:00:00+14:00",
    "2026-11-24T07:00:00",
    "2026-11-24",
];

fn boundary(value: &Value, choice: usize) -> Value {
    let pick = |list: &[&str]| Value::from(list[choice % list.len()]);
    match value {
        Value::Number(_) | Value::Null => {
            let numbers = edge_numbers();
            numbers[choice % numbers.len()].clone()
        }
        Value::Bool(b) => Value::Bool(!b),
        Value::String(s) if s.len() >= 10 && s.as_bytes()[4] == b'-' => pick(EDGE_DATES),
        Value::String(_) => pick(EDGE_STRINGS),
        Value::Array(items) => match (choice % 2, items.first()) {
            (0, Some(first)) => Value::Array(vec![first.clone(); 150]),
            _ => json!([]),
        },
        Value::Object(_) => json!({}),
    }
}

fn value_edit() -> BoxedStrategy<ValueEdit> {
    prop_oneof![
        3 => (any::<usize>(), json_value()).prop_map(|(i, v)| ValueEdit::Replace(i, v)),
        2 => any::<usize>().prop_map(ValueEdit::Remove),
        3 => any::<usize>().prop_map(ValueEdit::Retype),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, c)| ValueEdit::Boundary(i, c)),
        1 => (any::<usize>(), key(), json_value()).prop_map(|(i, k, v)| ValueEdit::AddMember(i, k, v)),
    ]
    .boxed()
}

/// JSON pointers of every node, pre-order.
fn pointers(value: &Value) -> Vec<String> {
    fn walk(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    walk(
                        v,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

/// The same content as another JSON type: numbers and strings swap, containers flip.
fn retyped(value: &Value) -> Value {
    match value {
        Value::Null => json!(0),
        Value::Bool(b) => json!(b.to_string()),
        Value::Number(n) => json!(n.to_string()),
        Value::String(s) => s
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<f64>().map(Value::from))
            .unwrap_or(json!([s])),
        Value::Array(items) => Value::Object(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect(),
        ),
        Value::Object(map) => Value::Array(map.values().cloned().collect()),
    }
}

fn edit_value(mut value: Value, edits: &[ValueEdit]) -> Value {
    for edit in edits {
        let nodes = pointers(&value);
        let pick = |i: usize| nodes[i % nodes.len()].clone();
        match edit {
            ValueEdit::Replace(i, new) => {
                if let Some(node) = value.pointer_mut(&pick(*i)) {
                    *node = new.clone();
                }
            }
            ValueEdit::Retype(i) => {
                if let Some(node) = value.pointer_mut(&pick(*i)) {
                    *node = retyped(node);
                }
            }
            ValueEdit::Boundary(i, choice) => {
                if let Some(node) = value.pointer_mut(&pick(*i)) {
                    *node = boundary(node, *choice);
                }
            }
            ValueEdit::Remove(i) => {
                let at = pick(*i);
                let Some((parent, last)) = at.rsplit_once('/') else {
                    value = Value::Null;
                    continue;
                };
                let last = last.replace("~1", "/").replace("~0", "~");
                match value.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(index) = last.parse::<usize>()
                            && index < items.len()
                        {
                            items.remove(index);
                        }
                    }
                    _ => {}
                }
            }
            ValueEdit::AddMember(i, k, v) => match value.pointer_mut(&pick(*i)) {
                Some(Value::Object(map)) => {
                    map.insert(k.clone(), v.clone());
                }
                Some(Value::Array(items)) => items.push(v.clone()),
                _ => {}
            },
        }
    }
    value
}

/// Documents for a family of parsers: arbitrary bytes, arbitrary JSON, and the family's samples
/// mutated byte-wise and value-wise.
fn documents(samples: Vec<String>) -> BoxedStrategy<Vec<u8>> {
    let n = samples.len();
    let by_bytes = samples.clone();
    let by_value = samples;
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        3 => (0..n, prop::collection::vec(byte_edit(), 1..6))
            .prop_map(move |(i, edits)| edit_bytes(by_bytes[i].clone().into_bytes(), &edits)),
        4 => (0..n, prop::collection::vec(value_edit(), 1..5)).prop_map(move |(i, edits)| {
            let value = serde_json::from_str(&by_value[i]).unwrap_or(Value::Null);
            edit_value(value, &edits).to_string().into_bytes()
        }),
    ]
    .boxed()
}

fn owned(samples: &[&str]) -> Vec<String> {
    samples.iter().map(|s| s.to_string()).collect()
}

// ---- the parsers ------------------------------------------------------------------------------------

/// Parses `bytes` as each type, straight from bytes and through a `Value` (as the clients
/// decode rows), and hands what parses to the code that reads it.
macro_rules! parse_as {
    ($bytes:expr, $value:expr; $($ty:ty),* $(,)?) => {$(
        let _ = serde_json::from_slice::<$ty>($bytes);
        if let Some(value) = $value {
            let _ = serde_json::from_value::<$ty>(value.clone());
        }
    )*};
}

fn use_alert(alert: &acronis::Alert) {
    let _ = alert.updated_ns();
    let _ = tickets::plan::is_cleared(alert);
    let _ = tickets::plan::ticket_title(alert);
    let _ = tickets::plan::ticket_description(alert, Some("Contoso"), Some("Managed Backup"));
    let _ = tickets::plan::ticket_description(alert, None, None);
    // The mapping's `due_in_days` is at most 365 (validated on read).
    let _ = tickets::plan::due_date(alert, 365);
}

// ---- bugs the fuzz found (now fixed): each has a test below that reproduces its input -------

fn use_autotask_strings(text: &str, id: i64) {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
    let _ = provisioning::plan::period_contains(text, text, day);
    let _ = provisioning::plan::login_from_company_name(text, id);
    let _ = tickets::plan::alert_id_of(text);
}

fn parse_autotask(bytes: &[u8]) {
    use autotask::*;
    let value = serde_json::from_slice::<Value>(bytes).ok();
    parse_as!(bytes, value.as_ref();
        Company, Contact, Contract, ContractService, ContractServiceUnit,
        ContractServiceBundleUnit, Ticket, TicketNote, Service, ServiceBundle, BillingCode,
        UserDefinedFieldDefinition, UserDefinedField, ZoneInformation, Vec<FieldInformation>,
        PicklistValue,
    );
    if let Ok(info) = serde_json::from_slice::<ThresholdInformation>(bytes) {
        let _ = info.used_share();
    }
    if let Ok(field) = serde_json::from_slice::<FieldInformation>(bytes) {
        let _ = field.picklist_values.map(|v| v.len());
    }
    if let Ok(company) = serde_json::from_slice::<Company>(bytes) {
        let udfs = company.user_defined_fields.unwrap_or_default();
        let _ = udf_value(&udfs, PAYG_UDF_NAME);
        use_autotask_strings(
            company.company_name.as_deref().unwrap_or_default(),
            company.id.unwrap_or(i64::MAX),
        );
    }
    if let Ok(contract) = serde_json::from_slice::<Contract>(bytes) {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        let _ = provisioning::plan::period_contains(
            contract.start_date.as_deref().unwrap_or_default(),
            contract.end_date.as_deref().unwrap_or_default(),
            day,
        );
    }
    if let Ok(ticket) = serde_json::from_slice::<Ticket>(bytes) {
        let _ = tickets::plan::alert_id_of(ticket.external_id.as_deref().unwrap_or_default());
    }
    // Rows of a query page, one by one, as `query_all` decodes them.
    if let Some(items) = value
        .as_ref()
        .and_then(|v| v.get("items"))
        .and_then(Value::as_array)
    {
        for row in items {
            let _ = serde_json::from_value::<Company>(row.clone());
            let _ = serde_json::from_value::<Contract>(row.clone());
            let _ = serde_json::from_value::<Ticket>(row.clone());
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        use_autotask_strings(text, 1);
    }
}

fn parse_acronis(bytes: &[u8]) {
    use acronis::*;
    let value = serde_json::from_slice::<Value>(bytes).ok();
    parse_as!(bytes, value.as_ref();
        Tenant, OfferingItem, Quota, Usage, TenantUsages, ApiClientInfo, AlertTenant, Pricing,
        Page<Tenant>, Page<OfferingItem>, Page<TenantUsages>, Page<Usage>, Page<String>,
        Page<Value>,
    );
    if let Ok(item) = serde_json::from_slice::<OfferingItem>(bytes) {
        let key = item.key();
        let _ = (item.enabled(), item.is(&key));
    }
    if let Ok(alert) = serde_json::from_slice::<Alert>(bytes) {
        use_alert(&alert);
    }
    if let Ok(page) = serde_json::from_slice::<Page<Alert>>(bytes) {
        let _ = page.next_cursor();
        page.items.iter().for_each(use_alert);
    }
    if let Ok(page) = serde_json::from_slice::<Page<OfferingItem>>(bytes) {
        let _ = page.next_cursor();
    }
}

fn parse_sqs(bytes: &[u8]) {
    let Ok(body) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(message) = serde_json::from_str::<JobMessage>(body) {
        let _ = (
            message.run_id(),
            message.deduplication_id(),
            message.group_id(),
        );
    }
    if let Ok(message) =
        serde_json::from_str::<ApplyMessage<provisioning::plan::CustomerDesired>>(body)
    {
        let _ = (message.run_id(), message.group_id(), message.to_fifo());
    }
    if let Ok(message) = serde_json::from_str::<ApplyMessage<usage::plan::ContractDesired>>(body) {
        let _ = (message.run_id(), message.group_id(), message.to_fifo());
    }
    let _ = serde_json::from_str::<ApplyMessage<Value>>(body);
    let _ = serde_json::from_str::<scheduler::ScheduleInput>(body);
    if let Ok(event) = serde_json::from_str::<SqsEvent>(body) {
        for record in event.records {
            if let Some(body) = record.body {
                let _ = serde_json::from_str::<JobMessage>(&body);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn autotask_entities_read_any_answer_without_panicking(
        bytes in documents(owned(AUTOTASK_SAMPLES)),
    ) {
        parse_autotask(&bytes);
    }

    #[test]
    fn acronis_models_read_any_answer_without_panicking(
        bytes in documents(owned(ACRONIS_SAMPLES)),
    ) {
        parse_acronis(&bytes);
    }

    #[test]
    fn sqs_bodies_and_events_parse_without_panicking(bytes in documents(SQS_SAMPLES.clone())) {
        parse_sqs(&bytes);
    }

    #[test]
    fn strings_autotask_sends_are_read_without_panicking(text in text(), id in any::<i64>()) {
        use_autotask_strings(&text, id);
    }
}

// ---- configuration items ----------------------------------------------------------------------------

fn pk() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just("INTEGRATION#contoso".to_string()),
        1 => text().prop_map(|t| format!("INTEGRATION#{t}")),
        1 => text(),
    ]
    .boxed()
}

fn sk() -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just("SETTINGS".to_string()),
        2 => prop::sample::select(vec!["SERVICE#", "CUSTOMER#", "ALERT#"])
            .prop_flat_map(|prefix| text().prop_map(move |t| format!("{prefix}{t}"))),
        1 => text(),
    ]
    .boxed()
}

fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        "-?[0-9]{1,25}(\\.[0-9]{0,6})?([eE]-?[0-9]{1,3})?",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "",
            "abc",
            "NaN",
            "inf",
            "1e400",
            "18446744073709551616",
            "-0",
            " 1"
        ])
        .prop_map(str::to_string),
    ]
    .boxed()
}

/// Any DynamoDB attribute, sets, binary and malformed numbers included.
fn attribute() -> BoxedStrategy<AttributeValue> {
    let leaf = prop_oneof![
        text().prop_map(AttributeValue::S),
        number_text().prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        any::<bool>().prop_map(AttributeValue::Null),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| AttributeValue::B(Blob::new(b))),
        prop::collection::vec(text(), 0..4).prop_map(AttributeValue::Ss),
        prop::collection::vec(number_text(), 0..4).prop_map(AttributeValue::Ns),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 0..3)
            .prop_map(|bs| AttributeValue::Bs(bs.into_iter().map(Blob::new).collect())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(AttributeValue::L),
            prop::collection::hash_map(key(), inner, 0..6).prop_map(AttributeValue::M),
        ]
    })
    .boxed()
}

/// An example item mutated as JSON, then some attributes (top level or one down) replaced by
/// any attribute.
fn config_item() -> BoxedStrategy<Item> {
    let n = CONFIG_SAMPLES.len();
    let from_example = (
        0..n,
        prop::collection::vec(value_edit(), 0..4),
        prop::collection::vec((any::<usize>(), any::<usize>(), attribute()), 0..3),
    )
        .prop_map(|(i, edits, replacements)| {
            let value = edit_value(CONFIG_SAMPLES[i].clone(), &edits);
            let mut item: Item = serde_dynamo::to_item(value).unwrap_or_default();
            for (at, below, attribute) in replacements {
                let mut names: Vec<String> = item.keys().cloned().collect();
                names.sort();
                let Some(name) = names.get(at % names.len().max(1)).cloned() else {
                    item.insert("pk".into(), attribute);
                    continue;
                };
                match item.get_mut(&name) {
                    Some(AttributeValue::M(map)) if !map.is_empty() => {
                        let mut inner: Vec<String> = map.keys().cloned().collect();
                        inner.sort();
                        let key = inner[below % inner.len()].clone();
                        map.insert(key, attribute);
                    }
                    _ => {
                        item.insert(name, attribute);
                    }
                }
            }
            item
        });
    let arbitrary_json = (pk(), sk(), json_value()).prop_map(|(pk, sk, value)| {
        let mut value = match value {
            Value::Object(map) => Value::Object(map),
            other => json!({ "value": other }),
        };
        value["pk"] = json!(pk);
        value["sk"] = json!(sk);
        serde_dynamo::to_item(value).unwrap_or_default()
    });
    let arbitrary_attributes = (
        pk(),
        sk(),
        prop::collection::hash_map(key(), attribute(), 0..8),
    )
        .prop_map(|(pk, sk, mut item)| {
            item.insert("pk".into(), AttributeValue::S(pk));
            item.insert("sk".into(), AttributeValue::S(sk));
            item
        });
    prop_oneof![
        4 => from_example,
        2 => arbitrary_json,
        2 => arbitrary_attributes,
    ]
    .boxed()
}

fn raw_items(items: Vec<(u8, Item)>) -> RawConfigItems {
    let mut raw = RawConfigItems::default();
    for (bucket, item) in items {
        match bucket % 4 {
            0 => raw.settings = Some(item),
            1 => raw.services.push(item),
            2 => raw.customers.push(item),
            _ => raw.alerts.push(item),
        }
    }
    raw
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_config_item_is_validated_without_panicking(item in config_item()) {
        let _ = validate_user_item(&item).map_err(|e| e.to_string());
    }

    #[test]
    fn any_set_of_config_items_is_read_without_panicking(
        items in prop::collection::vec((any::<u8>(), config_item()), 0..8),
        integration in prop_oneof![4 => Just("contoso".to_string()), 1 => text()],
    ) {
        let _ = IntegrationConfig::from_items(&integration, raw_items(items))
            .map_err(|e| (e.to_string(), e.is_retryable()));
    }
}

// ---- the worker runtimes with garbage messages ---------------------------------------------------------

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

/// A context whose table is unreachable (a closed port, no retries): every message that gets as
/// far as claiming its run fails fast and is handed back to the queue.
static OFFLINE: LazyLock<WorkerContext> = LazyLock::new(|| {
    RUNTIME.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(sync_shared::aws::AwsHttpClient::default())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:1")
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "fuzz",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let clients = sync_shared::aws::AwsClients::from_config(&config);
        WorkerContext {
            store: sync_shared::store::Store::new(clients.dynamodb.clone(), "fuzz"),
            secrets: Arc::new(sync_shared::secrets::SecretsCache::new(
                clients.secrets.clone(),
                sync_shared::secrets::DEFAULT_TTL,
                "",
            )),
            max_receives: 5,
            lease: Duration::from_secs(60),
        }
    })
});

/// An SQS record: body, `ApproximateReceiveCount`, `MessageGroupId`.
type Record = (Option<String>, Option<String>, Option<String>);

fn body() -> BoxedStrategy<Option<String>> {
    let sqs = SQS_SAMPLES.clone();
    prop_oneof![
        1 => Just(None),
        2 => any::<String>().prop_map(Some),
        2 => json_value().prop_map(|v| Some(v.to_string())),
        5 => documents(sqs).prop_map(|b| Some(String::from_utf8_lossy(&b).into_owned())),
    ]
    .boxed()
}

fn sqs_event(records: Vec<Record>) -> (SqsEvent, Vec<String>) {
    let mut event = SqsEvent::default();
    let mut ids = Vec::new();
    for (i, (body, receive_count, group)) in records.into_iter().enumerate() {
        let mut message = SqsMessage::default();
        let id = format!("m{i}");
        message.message_id = Some(id.clone());
        message.body = body;
        let mut attributes = HashMap::new();
        if let Some(count) = receive_count {
            attributes.insert("ApproximateReceiveCount".to_string(), count);
        }
        if let Some(group) = group {
            attributes.insert("MessageGroupId".to_string(), group);
        }
        message.attributes = attributes;
        event.records.push(message);
        ids.push(id);
    }
    (event, ids)
}

fn records() -> BoxedStrategy<Vec<Record>> {
    prop::collection::vec(
        (
            body(),
            prop::option::of(prop_oneof![number_text(), text()]),
            prop::option::of(prop_oneof![Just("contoso#1".to_string()), text()]),
        ),
        1..8,
    )
    .boxed()
}

proptest! {
    #![proptest_config(config(128))]

    /// Garbage never reaches the job, and every message comes back as a failure, in order: the
    /// unreadable ones for the DLQ, the readable ones because the table cannot be reached.
    #[test]
    fn the_job_runtime_answers_any_batch(
        job in prop::sample::select(Job::ALL.to_vec()),
        records in records(),
    ) {
        let (event, ids) = sqs_event(records);
        let ctx: &WorkerContext = &OFFLINE;
        let calls = AtomicUsize::new(0);
        let response = RUNTIME.block_on(async {
            let run = |_message: JobMessage| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, JobError>(JobReport::default()) }
            };
            tokio::time::timeout(
                Duration::from_secs(20),
                process_fifo_batch(ctx, job, event, run),
            )
            .await
        });
        let response = response.map_err(|_| TestCaseError::fail("the batch hung"))?;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        prop_assert_eq!(failed, ids);
        prop_assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    /// Apply batches: every message comes back as a failure (once), whatever its body.
    #[test]
    fn the_apply_runtime_answers_any_batch(
        job in prop::sample::select(vec![Job::Provisioning, Job::Usage]),
        records in records(),
    ) {
        let (event, ids) = sqs_event(records);
        let ctx: &WorkerContext = &OFFLINE;
        let response = RUNTIME.block_on(async {
            let timeout = Duration::from_secs(20);
            match job {
                Job::Provisioning => tokio::time::timeout(
                    timeout,
                    process_apply_batch(
                        ctx,
                        job,
                        event,
                        |_m: ApplyMessage<provisioning::plan::CustomerDesired>| async {
                            Ok::<_, JobError>(ApplyOutcome::default())
                        },
                    ),
                )
                .await,
                _ => tokio::time::timeout(
                    timeout,
                    process_apply_batch(
                        ctx,
                        job,
                        event,
                        |_m: ApplyMessage<usage::plan::ContractDesired>| async {
                            Ok::<_, JobError>(ApplyOutcome::default())
                        },
                    ),
                )
                .await,
            }
        });
        let response = response.map_err(|_| TestCaseError::fail("the batch hung"))?;
        let mut failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        failed.sort();
        let mut ids = ids;
        ids.sort();
        prop_assert_eq!(failed, ids);
    }
}

// ---- the clients against an HTTP double answering anything -----------------------------------------

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
        }
    }
}

/// What the double answers: the token endpoint, the Autotask zone lookup, the first other
/// request, and every later one (an empty last page, so no paging loop goes on).
#[derive(Debug, Clone)]
struct Script {
    token: Reply,
    zone: Reply,
    first: Reply,
    rest: Reply,
}

#[derive(Default)]
struct State {
    script: Option<Script>,
    served_first: bool,
}

struct Double {
    base: String,
    state: Arc<Mutex<State>>,
}

impl Double {
    async fn start() -> Double {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket, Arc::clone(&shared)));
            }
        });
        Double {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn play(&self, script: Script) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.script = Some(script);
        state.served_first = false;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn answer(mut socket: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buffer, b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(script) = state.script.clone() else {
            return Ok(());
        };
        if path.contains("/idp/token") {
            script.token
        } else if path.contains("ZoneInformation") {
            script.zone
        } else if !state.served_first {
            state.served_first = true;
            script.first
        } else {
            script.rest
        }
    };
    let mut response = format!(
        "HTTP/1.1 {} Fuzz\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    )
    .into_bytes();
    response.extend_from_slice(&reply.body);
    socket.write_all(&response).await?;
    socket.shutdown().await
}

/// The HTTP double, shared by the client tests (each case sets its own script).
static DOUBLE: LazyLock<Double> = LazyLock::new(|| RUNTIME.block_on(Double::start()));
/// One case at a time talks to the double.
static DOUBLE_TURN: Mutex<()> = Mutex::new(());

fn status() -> BoxedStrategy<u16> {
    prop::sample::select(vec![
        200, 200, 200, 201, 400, 401, 403, 404, 405, 409, 422, 429, 500, 503,
    ])
    .boxed()
}

fn reply(samples: Vec<String>) -> BoxedStrategy<Reply> {
    (status(), documents(samples))
        .prop_map(|(status, body)| Reply { status, body })
        .boxed()
}

fn acronis_script() -> BoxedStrategy<Script> {
    let token_ok = Reply::ok(r#"{"access_token":"tok","expires_in":7200}"#);
    (
        prop_oneof![3 => Just(token_ok), 1 => reply(owned(ACRONIS_SAMPLES))],
        reply(owned(ACRONIS_SAMPLES)),
    )
        .prop_map(|(token, first)| Script {
            token,
            zone: Reply::ok("{}"),
            first,
            rest: Reply::ok(r#"{"items":[]}"#),
        })
        .boxed()
}

async fn acronis_call(client: &AcronisClient, call: u8) -> Result<String, acronis::AcronisError> {
    let t = "7c2e4a10-0000-4000-8000-000000000002";
    let ids = vec![t.to_string(), "other".to_string()];
    let desired = DesiredOfferingItem {
        key: OfferingItemKey {
            application_id: acronis::CYBER_PROTECTION_APP_ID.into(),
            name: "pw_base_workstations".into(),
            infra_id: None,
        },
        enabled: true,
        quota: Some(QuotaLimit::soft(5)),
    };
    Ok(match call % 18 {
        0 => format!("{:?}", client.tenant(t).await?),
        1 => format!("{:?}", client.offering_items(t).await?),
        2 => format!("{:?}", client.usages(&ids).await?),
        3 => format!("{:?}", client.active_alerts(50).await?.alerts.len()),
        4 => format!("{:?}", client.alerts_by_ids(&ids).await?),
        5 => client.partner_tenant_id().await?,
        6 => format!("{:?}", client.child_tenant_ids(t).await?),
        7 => format!("{:?}", client.subtree_tenants(t, 100).await?),
        8 => format!("{:?}", client.tenant_user_ids(t).await?),
        9 => format!("{:?}", client.pricing(t).await?),
        10 => format!("{:?}", client.tenant_infra_ids(t).await?),
        11 => format!("{:?}", client.dismiss_alert("a1b2c3").await?),
        12 => format!(
            "{:?}",
            client
                .apply_offering_items(t, &[desired])
                .await?
                .changed
                .len()
        ),
        13 => format!("{:?}", client.child_tenant_named(t, "Contoso").await?),
        14 => format!("{:?}", client.user_roles("u1").await?),
        15 => format!(
            "{:?}",
            client.alerts_updated_since(0, 50).await?.alerts.len()
        ),
        16 => format!("{:?}", client.subtree_offering_items(t, 100).await?),
        _ => format!("{:?}", client.set_tenant_enabled(t, false).await?),
    })
}

fn autotask_script(base: String) -> BoxedStrategy<Script> {
    let zone_ok = Reply::ok(format!(
        r#"{{"zoneName":"Fuzz","url":"{base}/ATServicesRest/"}}"#
    ));
    (
        prop_oneof![3 => Just(zone_ok), 1 => reply(owned(AUTOTASK_SAMPLES))],
        reply(owned(AUTOTASK_SAMPLES)),
    )
        .prop_map(|(zone, first)| Script {
            token: Reply::ok("{}"),
            zone,
            first,
            rest: Reply::ok(r#"{"items":[],"pageDetails":{"nextPageUrl":null}}"#),
        })
        .boxed()
}

async fn autotask_call(base: &str, call: u8) -> Result<String, autotask::AutotaskError> {
    use autotask::*;
    let mut options =
        ClientOptions::new(format!("{base}/ATServicesRest/"), "fuzz").with_fast_retries();
    options.max_attempts = 1;
    let credentials = AutotaskCredentials {
        username: SecretString::from("api@contoso.example"),
        secret: SecretString::from("secret"),
        api_integration_code: SecretString::from("CODE"),
    };
    // Call 0 looks the zone up; the others use a recorded zone (no call).
    let recorded = (call % 13 != 0).then(|| format!("{base}/ATServicesRest/"));
    let client = AutotaskClient::connect(options, credentials, recorded).await?;
    let ticket = Ticket {
        id: Some(7),
        title: Some("x".into()),
        ..Ticket::default()
    };
    Ok(match call % 13 {
        0 => client.zone_url(),
        1 => format!("{:?}", client.threshold().await?),
        2 => format!(
            "{:?}",
            client.query_page("Companies", &Query::all(), None).await?
        ),
        3 => format!("{:?}", client.get::<Company>(1).await?),
        4 => format!("{:?}", client.get::<Ticket>(7).await?),
        5 => format!("{:?}", client.count("Tickets", &Query::all()).await?),
        6 => format!("{:?}", client.create(&ticket).await?),
        7 => format!("{:?}", client.patch(&ticket).await?),
        8 => format!("{:?}", client.picklist("Tickets", "status").await?.len()),
        9 => format!(
            "{:?}",
            client
                .query_all::<Contract>(&Query::all(), Paging::IdGreaterThanLast)
                .await?
        ),
        10 => format!(
            "{:?}",
            client
                .query_all::<ContractServiceUnit>(&Query::all(), Paging::NextPageUrl)
                .await?
        ),
        11 => format!(
            "{:?}",
            client
                .create_in("ContractServiceAdjustments", &json!({"unitChange": 1}))
                .await?
        ),
        _ => format!("{:?}", client.get::<Contract>(29682600).await?),
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Whatever Acronis answers (token, data, errors), the client returns a value or an error
    /// that reads and classifies.
    #[test]
    fn the_acronis_client_reads_any_answer(call in any::<u8>(), script in acronis_script()) {
        let _turn = DOUBLE_TURN.lock().unwrap_or_else(|p| p.into_inner());
        DOUBLE.play(script);
        let outcome = RUNTIME.block_on(async {
            let credentials = AcronisCredentials {
                client_id: SecretString::from("3f9d2b7e-0000-4000-8000-0000000000c1"),
                client_secret: SecretString::from("secret"),
                datacenter_url: DOUBLE.base.clone(),
            };
            let options = acronis::ClientOptions {
                tokens: acronis::TokenCache::default(),
                server_error_retries: 0,
                rate_limit_retries: 0,
                ..acronis::ClientOptions::fast()
            };
            let client = AcronisClient::new("fuzz/acronis", credentials, options)
                .expect("a valid URL");
            tokio::time::timeout(Duration::from_secs(20), acronis_call(&client, call)).await
        });
        let outcome = outcome.map_err(|_| TestCaseError::fail("the call hung"))?;
        if let Err(error) = outcome {
            let _ = (error.to_string(), error.is_retryable(), error.platform_code(), error.http_status());
            let _ = JobError::from(error).to_string();
        }
    }

}

proptest! {
    // Half the cases of the Acronis one: each case builds its client (a TLS configuration) anew.
    #![proptest_config(config(128))]

    /// Whatever Autotask answers (zone lookup, data, errors), the client returns a value or an
    /// error that reads and classifies.
    #[test]
    fn the_autotask_client_reads_any_answer(
        call in any::<u8>(),
        script in autotask_script(DOUBLE.base.clone()),
    ) {
        let _turn = DOUBLE_TURN.lock().unwrap_or_else(|p| p.into_inner());
        DOUBLE.play(script);
        let outcome = RUNTIME.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), autotask_call(&DOUBLE.base, call)).await
        });
        let outcome = outcome.map_err(|_| TestCaseError::fail("the call hung"))?;
        if let Err(error) = outcome {
            let _ = (error.to_string(), error.is_retryable(), error.is_throttle_or_transient());
            let _ = JobError::from(error).to_string();
        }
    }
}

// ---- the known bugs, reproduced -------------------------------------------------------------------

fn panics<T>(f: impl FnOnce() -> T) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err()
}

/// Found by `acronis_models_read_any_answer_without_panicking` (PROPTEST_CASES=20000): chrono
/// parses years past 9999, and `due_date` then panics (in release builds too).
#[test]
fn an_alert_at_the_end_of_time_does_not_panic_due_date() {
    let body = r#"{"category":"","createdAt":"+262142-12-31T23:59:59Z","deletedAt":"2026-11-25T10:00:00+02:00","details":{},"id":"a1b2c4","severity":"warning","tenant":{"id":"1234"},"type":"QuotaExceeded","updatedAt":"2026-11-24T10:00:00Z"}"#;
    let alert: acronis::Alert = serde_json::from_str(body).expect("chrono reads the date");
    assert!(!panics(|| tickets::plan::due_date(&alert, 3)));
}

/// The same overflow in `decide`: an Autotask ticket's `completedDate` of
/// `+262142-12-31T23:59:59` parses (tickets' `parse_time`, whose second form is this one) and
/// the re-open window is added with `+`.
#[test]
fn a_ticket_completed_at_the_end_of_time_does_not_panic_decide() {
    let completed =
        chrono::NaiveDateTime::parse_from_str("+262142-12-31T23:59:59", "%Y-%m-%dT%H:%M:%S%.f")
            .expect("chrono reads the date")
            .and_utc();
    let mut alert: acronis::Alert = serde_json::from_str(ACRONIS_SAMPLES[5]).expect("alert");
    alert.deleted_at = None;
    let record = tickets::records::TicketRecord {
        alert_id: alert.id.clone(),
        external_id: alert.id.clone(),
        occurrence: 1,
        state: tickets::records::TicketState::Closed,
        ticket_id: Some(7),
        company_id: 1,
        alert_updated_ns: 0,
        lease_until_ms: 0,
        run_id: "tickets#2026-11-24T10:00:00Z".into(),
        updated_at: chrono::Utc::now(),
        version: 0,
    };
    let settings = sync_shared::config::TicketSettings {
        reopen_window_days: Some(7),
        ..Default::default()
    };
    let cx = tickets::plan::AlertContext {
        alert: &alert,
        record: Some(&record),
        company_id: Some(1),
        mapping: None,
        settings: &settings,
        ticket: Some(tickets::plan::TicketStatus {
            complete: true,
            completed_at: Some(completed),
        }),
        now: chrono::Utc::now(),
    };
    assert!(!panics(|| tickets::plan::decide(&cx)));
}

/// A token answer with `expires_in` near i64::MAX (`now + lifetime`) or `expires_on` near
/// i64::MIN (`on - now`) panics in debug builds and wraps in release ones (a token renewed on
/// every call, or never).
#[test]
fn token_lifetimes_near_the_ends_of_i64_do_not_overflow() {
    for token in [
        r#"{"access_token":"tok","expires_in":9223372036854775807}"#,
        r#"{"access_token":"tok","expires_on":-9223372036854775808}"#,
    ] {
        let _turn = DOUBLE_TURN.lock().unwrap_or_else(|p| p.into_inner());
        DOUBLE.play(Script {
            token: Reply::ok(token),
            zone: Reply::ok("{}"),
            first: Reply::ok(ACRONIS_SAMPLES[0]),
            rest: Reply::ok(ACRONIS_SAMPLES[0]),
        });
        let panicked = panics(|| {
            RUNTIME.block_on(async {
                let credentials = AcronisCredentials {
                    client_id: SecretString::from("3f9d2b7e-0000-4000-8000-0000000000c1"),
                    client_secret: SecretString::from("secret"),
                    datacenter_url: DOUBLE.base.clone(),
                };
                let options = acronis::ClientOptions {
                    tokens: acronis::TokenCache::default(),
                    ..acronis::ClientOptions::fast()
                };
                let client =
                    AcronisClient::new("fuzz/acronis", credentials, options).expect("a valid URL");
                let _ = client.tenant("t").await;
                let _ = client.tenant("t").await;
            })
        });
        assert!(!panicked, "{token}");
    }
}
