//! One Autotask database: a generic entity store (rows are JSON maps keyed by camelCase field)
//! plus the business rules of the entities the simulator serves.

use crate::entities::{
    self, CONTRACT_TYPE_RECURRING_SERVICE, EntityDef, FieldKind, PicklistValue,
    USE_TYPE_RECURRING_CONTRACT_SERVICE,
};
use crate::values::{format_date, format_datetime, now_string, parse_date_only, parse_datetime};
use chrono::{Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

pub type Row = Map<String, Value>;

/// Where a row keeps its UDF values (name → string value); rendered as `userDefinedFields`.
const UDF_KEY: &str = "userDefinedFields";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DbError {
    /// Validation and business-rule failures: HTTP 500 `{"errors":[…]}` on the wire.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The addressed row does not exist: HTTP 404.
    #[error("not found")]
    NotFound,
}

fn invalid(message: impl Into<String>) -> DbError {
    DbError::Invalid(vec![message.into()])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum UserKind {
    /// "API User (API-only)" security level: the only kind REST accepts.
    #[default]
    Api,
    /// A regular (UI) resource.
    Regular,
}

/// An Autotask resource that may call the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimUser {
    pub user_name: String,
    pub secret: String,
    #[serde(default)]
    pub kind: UserKind,
    /// The API tracking identifier's integration code; `None` = no tracking identifier.
    #[serde(default)]
    pub integration_code: Option<String>,
    /// Integration vendor name of the tracking identifier (e.g. "Acronis - Acronis Cyber Cloud").
    #[serde(default)]
    pub integration_vendor: Option<String>,
    /// Resource id; allocated when absent.
    #[serde(default)]
    pub resource_id: Option<i64>,
}

impl SimUser {
    /// An API user whose tracking identifier carries `integration_code`.
    pub fn api(user_name: &str, secret: &str, integration_code: &str) -> SimUser {
        SimUser {
            user_name: user_name.into(),
            secret: secret.into(),
            kind: UserKind::Api,
            integration_code: Some(integration_code.into()),
            integration_vendor: None,
            resource_id: None,
        }
    }

    /// A person's login: the API refuses it.
    pub fn regular(user_name: &str, secret: &str) -> SimUser {
        SimUser {
            user_name: user_name.into(),
            secret: secret.into(),
            kind: UserKind::Regular,
            integration_code: None,
            integration_vendor: None,
            resource_id: None,
        }
    }
}

/// A stored ContractServiceAdjustment / ContractServiceBundleAdjustment (create-only entities).
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedAdjustment {
    pub id: i64,
    pub entity: &'static str,
    pub contract_id: i64,
    pub line_id: i64,
    pub effective_date: NaiveDate,
    pub unit_change: i64,
}

/// Contract lines with unit rows: services and bundles behave the same way.
struct LineKind {
    line_table: &'static str,
    units_table: &'static str,
    line_field: &'static str,
    catalog_table: &'static str,
    catalog_field: &'static str,
}

const SERVICE_LINES: LineKind = LineKind {
    line_table: "ContractServices",
    units_table: "ContractServiceUnits",
    line_field: "contractServiceID",
    catalog_table: "Services",
    catalog_field: "serviceID",
};
const BUNDLE_LINES: LineKind = LineKind {
    line_table: "ContractServiceBundles",
    units_table: "ContractServiceBundleUnits",
    line_field: "contractServiceBundleID",
    catalog_table: "ServiceBundles",
    catalog_field: "serviceBundleID",
};

/// Units a contract line starts with when created directly (not via an adjustment). The REST
/// entity carries no unit count; the UI default is 1 (UNVERIFIED for REST).
pub const INITIAL_UNITS_OF_NEW_CONTRACT_LINE: i64 = 1;

#[derive(Debug, Clone)]
pub struct Db {
    tables: HashMap<&'static str, BTreeMap<i64, Row>>,
    next_id: i64,
    ticket_sequence: u32,
    users: Vec<SimUser>,
    picklists: HashMap<(String, String), Vec<PicklistValue>>,
    adjustments: Vec<AppliedAdjustment>,
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

impl Db {
    pub fn new() -> Self {
        let mut db = Db {
            tables: HashMap::new(),
            next_id: 29_682_000,
            ticket_sequence: 0,
            users: Vec::new(),
            picklists: entities::default_picklists(),
            adjustments: Vec::new(),
        };
        // Root company id 0 always exists (notes §3.2).
        let mut root = blank_row(entity_def("Companies"));
        root.insert("id".into(), json!(0));
        root.insert("companyName".into(), json!("Root Company"));
        root.insert("companyType".into(), json!(1));
        root.insert("isActive".into(), json!(true));
        db.table_mut("Companies").insert(0, root);
        db
    }

    fn allocate_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn table_mut(&mut self, name: &'static str) -> &mut BTreeMap<i64, Row> {
        self.tables.entry(name).or_default()
    }

    /// Rows of an entity, ordered by id.
    pub fn rows(&self, entity: &str) -> Vec<Value> {
        let Some(def) = entities::entity(entity) else {
            return Vec::new();
        };
        self.tables
            .get(def.name)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(|row| self.render(def, row))
            .collect()
    }

    pub(crate) fn raw_rows(&self, entity: &'static str) -> impl Iterator<Item = (&i64, &Row)> {
        self.tables.get(entity).into_iter().flatten()
    }

    /// One row as the API returns it, if it exists.
    pub fn get(&self, entity: &str, id: i64) -> Option<Value> {
        let def = entities::entity(entity)?;
        self.tables
            .get(def.name)?
            .get(&id)
            .map(|row| self.render(def, row))
    }

    fn exists(&self, entity: &str, id: i64) -> bool {
        self.tables.get(entity).is_some_and(|t| t.contains_key(&id))
    }

    fn raw(&self, entity: &str, id: i64) -> Option<&Row> {
        self.tables.get(entity)?.get(&id)
    }

    // ---- users and picklists -------------------------------------------------------------

    /// Adds (or replaces, by user name) an API caller; returns its resource id.
    pub fn add_user(&mut self, mut user: SimUser) -> i64 {
        let resource_id = match user.resource_id {
            Some(id) => id,
            None => self.allocate_id(),
        };
        user.resource_id = Some(resource_id);
        self.users
            .retain(|u| !u.user_name.eq_ignore_ascii_case(&user.user_name));
        self.users.push(user);
        resource_id
    }

    pub fn users(&self) -> &[SimUser] {
        &self.users
    }

    pub fn user(&self, user_name: &str) -> Option<&SimUser> {
        self.users
            .iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
    }

    /// Replaces the picklist of `entity.field` (camelCase field name).
    pub fn set_picklist(&mut self, entity: &str, field: &str, values: Vec<PicklistValue>) {
        self.picklists
            .insert((entity.to_string(), field.to_string()), values);
    }

    pub fn picklist(&self, entity: &str, field: &str) -> Option<&Vec<PicklistValue>> {
        self.picklists.get(&(entity.to_string(), field.to_string()))
    }

    /// Adjustments accepted so far (they cannot be queried through the API).
    pub fn adjustments(&self) -> &[AppliedAdjustment] {
        &self.adjustments
    }

    // ---- rendering ------------------------------------------------------------------------

    /// The wire form of a row: every model field, plus `userDefinedFields` holding every active
    /// UDF of the entity (null when unset).
    pub(crate) fn render(&self, def: &EntityDef, row: &Row) -> Value {
        let mut out = Map::new();
        for field in def.fields() {
            out.insert(
                field.name.clone(),
                row.get(&field.name).cloned().unwrap_or(Value::Null),
            );
        }
        let stored = row.get(UDF_KEY).and_then(Value::as_object);
        let udfs: Vec<Value> = self
            .udf_definitions(def)
            .into_iter()
            .map(|name| {
                let value = stored
                    .and_then(|values| values.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)))
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                json!({ "name": name, "value": value })
            })
            .collect();
        out.insert(UDF_KEY.into(), Value::Array(udfs));
        Value::Object(out)
    }

    /// Names of the active UDFs of an entity, in definition order.
    pub(crate) fn udf_definitions(&self, def: &EntityDef) -> Vec<String> {
        self.udf_definition_rows(def)
            .into_iter()
            .filter_map(|row| row.get("name")?.as_str().map(str::to_string))
            .collect()
    }

    pub(crate) fn udf_definition_rows(&self, def: &EntityDef) -> Vec<&Row> {
        let Some(udf_type) = def.udf_type else {
            return Vec::new();
        };
        self.raw_rows("UserDefinedFieldDefinitions")
            .map(|(_, row)| row)
            .filter(|row| row.get("udfType").and_then(Value::as_i64) == Some(udf_type))
            .filter(|row| row.get("isActive").and_then(Value::as_bool) != Some(false))
            .collect()
    }

    /// The UDF value of a row (None when unset).
    pub(crate) fn udf_value<'r>(row: &'r Row, name: &str) -> Option<&'r Value> {
        row.get(UDF_KEY)?
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    // ---- seeding --------------------------------------------------------------------------

    /// Inserts a row as seed data: field names are matched case-insensitively and types checked,
    /// but business rules (required fields, picklists) are not applied so tests can build any
    /// state, including ones the API would refuse to create. Returns the id (given or allocated).
    pub fn insert(&mut self, entity: &str, fields: Value) -> Result<i64, DbError> {
        let def =
            entities::entity(entity).ok_or_else(|| invalid(format!("unknown entity {entity}")))?;
        let object = fields
            .as_object()
            .ok_or_else(|| invalid("seed rows must be JSON objects"))?;
        let mut row = blank_row(def);
        let mut errors = Vec::new();
        let mut id = None;
        for (key, value) in object {
            if key.eq_ignore_ascii_case("id") {
                id = value.as_i64();
                continue;
            }
            if key.eq_ignore_ascii_case(UDF_KEY) {
                row.insert(UDF_KEY.into(), Value::Object(udf_pairs(value, &mut errors)));
                continue;
            }
            match def.field(key) {
                Some(field) => match coerce(def, field.kind, &field.name, value) {
                    Ok(v) => {
                        row.insert(field.name.clone(), v);
                    }
                    Err(e) => errors.push(e),
                },
                None => errors.push(format!("{entity}: unknown field {key}")),
            }
        }
        if !errors.is_empty() {
            return Err(DbError::Invalid(errors));
        }
        let id = match id {
            Some(id) => {
                self.next_id = self.next_id.max(id);
                id
            }
            None => self.allocate_id(),
        };
        row.insert("id".into(), json!(id));
        self.table_mut(def.name).insert(id, row);
        Ok(id)
    }

    /// Seeds a contract service with `units` from the contract start, creating its unit rows.
    pub fn seed_contract_service(
        &mut self,
        contract_id: i64,
        service_id: i64,
        units: i64,
    ) -> Result<i64, DbError> {
        let price = self
            .raw("Services", service_id)
            .and_then(|s| s.get("unitPrice").cloned())
            .unwrap_or(json!(0.0));
        let mut line = Map::new();
        line.insert("contractID".into(), json!(contract_id));
        line.insert("serviceID".into(), json!(service_id));
        line.insert("unitPrice".into(), price);
        self.create_contract_line(&SERVICE_LINES, line, units, None)
    }

    /// Seeds a contract service bundle with `units` from the contract start.
    pub fn seed_contract_service_bundle(
        &mut self,
        contract_id: i64,
        bundle_id: i64,
        units: i64,
    ) -> Result<i64, DbError> {
        let price = self
            .raw("ServiceBundles", bundle_id)
            .and_then(|s| s.get("unitPrice").cloned())
            .unwrap_or(json!(0.0));
        let mut line = Map::new();
        line.insert("contractID".into(), json!(contract_id));
        line.insert("serviceBundleID".into(), json!(bundle_id));
        line.insert("unitPrice".into(), price);
        self.create_contract_line(&BUNDLE_LINES, line, units, None)
    }

    // ---- API writes -----------------------------------------------------------------------

    /// POST create (root or child route). `parent_id` comes from a child route's path.
    pub fn create(
        &mut self,
        def: &'static EntityDef,
        body: &Value,
        parent_id: Option<i64>,
        caller_resource: i64,
    ) -> Result<i64, DbError> {
        let (mut row, udfs) = self.normalize_body(def, body)?;
        if let (Some(parent_id), Some(child)) = (parent_id, def.child.as_ref()) {
            match row.get(child.parent_field).and_then(Value::as_i64) {
                Some(given) if given != parent_id => {
                    return Err(invalid(format!(
                        "{} {given} does not match the parent id {parent_id} in the URL.",
                        child.parent_field
                    )));
                }
                _ => {
                    row.insert(child.parent_field.into(), json!(parent_id));
                }
            }
            if !self.exists(child.parent, parent_id) {
                return Err(DbError::NotFound);
            }
        }
        let mut errors: Vec<String> = def
            .required
            .iter()
            .filter(|field| row.get(**field).is_none_or(Value::is_null))
            .map(|field| format!("{field} is required."))
            .collect();
        if !errors.is_empty() {
            return Err(DbError::Invalid(std::mem::take(&mut errors)));
        }
        self.check_values(def, &row, &udfs, None)?;
        match def.name {
            "ContractServiceAdjustments" => return self.apply_adjustment(def, &SERVICE_LINES, row),
            "ContractServiceBundleAdjustments" => {
                return self.apply_adjustment(def, &BUNDLE_LINES, row);
            }
            "ContractServices" => {
                self.require_recurring_contract(&row)?;
                return self.create_contract_line(
                    &SERVICE_LINES,
                    row,
                    INITIAL_UNITS_OF_NEW_CONTRACT_LINE,
                    None,
                );
            }
            "ContractServiceBundles" => {
                self.require_recurring_contract(&row)?;
                return self.create_contract_line(
                    &BUNDLE_LINES,
                    row,
                    INITIAL_UNITS_OF_NEW_CONTRACT_LINE,
                    None,
                );
            }
            _ => {}
        }
        self.before_create(def, &mut row, caller_resource)?;
        let mut full = blank_row(def);
        full.extend(row);
        full.insert(UDF_KEY.into(), Value::Object(udfs));
        let id = self.allocate_id();
        full.insert("id".into(), json!(id));
        self.after_write(def, id, &full);
        self.table_mut(def.name).insert(id, full);
        Ok(id)
    }

    /// PATCH (only given fields change) or PUT (omitted writable fields become null); the id is
    /// in the body.
    pub fn update(
        &mut self,
        def: &'static EntityDef,
        body: &Value,
        replace: bool,
        parent_id: Option<i64>,
    ) -> Result<i64, DbError> {
        let id = body
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")))
            .and_then(|(_, v)| v.as_i64())
            .ok_or_else(|| invalid("id is required to update an entity."))?;
        let (changes, udfs) = self.normalize_body(def, body)?;
        let existing = self.raw(def.name, id).cloned().ok_or(DbError::NotFound)?;
        if let (Some(parent_id), Some(child)) = (parent_id, def.child.as_ref())
            && existing.get(child.parent_field).and_then(Value::as_i64) != Some(parent_id)
        {
            return Err(DbError::NotFound);
        }
        if def.name == "ContractServices" || def.name == "ContractServiceBundles" {
            let allowed = ["adjustedPrice", "invoiceDescription", "internalDescription"];
            let forbidden: Vec<String> = changes
                .iter()
                .filter(|(k, v)| !allowed.contains(&k.as_str()) && existing.get(k.as_str()) != Some(*v))
                .map(|(k, _)| format!("{k} cannot be updated on {}; only adjustedPrice and invoiceDescription can.", def.name))
                .collect();
            if !forbidden.is_empty() {
                return Err(DbError::Invalid(forbidden));
            }
        }
        let mut updated = existing.clone();
        if replace {
            for field in def.fields() {
                if !def.is_read_only(&field.name) && !changes.contains_key(&field.name) {
                    updated.insert(field.name.clone(), Value::Null);
                }
            }
        }
        updated.extend(changes);
        let missing: Vec<String> = def
            .required
            .iter()
            .filter(|field| updated.get(**field).is_none_or(Value::is_null))
            .map(|field| format!("{field} is required."))
            .collect();
        if !missing.is_empty() {
            return Err(DbError::Invalid(missing));
        }
        let mut merged_udfs = if replace {
            Map::new()
        } else {
            existing
                .get(UDF_KEY)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        merged_udfs.extend(udfs.clone());
        self.check_values(def, &updated, &udfs, Some(id))?;
        updated.insert(UDF_KEY.into(), Value::Object(merged_udfs));
        touch(def, &mut updated);
        if def.name == "Tickets" {
            let stamp = now_of(&updated);
            ticket_status_side_effects(&mut updated, &stamp);
        }
        if def.name == "TicketNotes" {
            // A note edited is activity on its ticket, as a note added is (UNVERIFIED for edits).
            let stamp = updated.get("lastActivityDate").cloned();
            if let (Some(ticket), Some(stamp)) =
                (updated.get("ticketID").and_then(Value::as_i64), stamp)
                && let Some(t) = self
                    .tables
                    .get_mut("Tickets")
                    .and_then(|t| t.get_mut(&ticket))
            {
                t.insert("lastActivityDate".into(), stamp);
            }
        }
        self.after_write(def, id, &updated);
        self.table_mut(def.name).insert(id, updated);
        Ok(id)
    }

    pub fn delete(&mut self, def: &'static EntityDef, id: i64) -> Result<i64, DbError> {
        self.table_mut(def.name)
            .remove(&id)
            .map(|_| id)
            .ok_or(DbError::NotFound)
    }

    /// Maps body keys to field names, converts values, splits out UDFs. Read-only fields are
    /// ignored, as Autotask does; unknown fields were already refused by the swagger validator.
    fn normalize_body(&self, def: &EntityDef, body: &Value) -> Result<(Row, Row), DbError> {
        let object = body
            .as_object()
            .ok_or_else(|| invalid("The request body must be a JSON object."))?;
        let mut row = Map::new();
        let mut udfs = Map::new();
        let mut errors = Vec::new();
        for (key, value) in object {
            if key.eq_ignore_ascii_case("id") {
                continue;
            }
            if key.eq_ignore_ascii_case(UDF_KEY) {
                udfs = udf_pairs(value, &mut errors);
                continue;
            }
            let Some(field) = def.field(key) else {
                errors.push(format!(
                    "Unable to find {key} in the {} entity.",
                    def.singular
                ));
                continue;
            };
            if def.is_read_only(&field.name) {
                continue;
            }
            match coerce(def, field.kind, &field.name, value) {
                Ok(v) => {
                    row.insert(field.name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if !udfs.is_empty() && def.udf_type.is_none() {
            errors.push(format!(
                "{} does not support user-defined fields.",
                def.name
            ));
        }
        if errors.is_empty() {
            Ok((row, udfs))
        } else {
            Err(DbError::Invalid(errors))
        }
    }

    /// Picklist values, references and UDF names/values.
    fn check_values(
        &self,
        def: &EntityDef,
        row: &Row,
        udfs: &Row,
        self_id: Option<i64>,
    ) -> Result<(), DbError> {
        let mut errors = Vec::new();
        for (field, value) in row {
            if value.is_null() {
                continue;
            }
            if let Some(list) = self.picklist(def.name, field) {
                let text = scalar_text(value);
                match list.iter().find(|p| p.value == text) {
                    None => errors.push(format!(
                        "Value {text} is not a valid picklist value for {field}."
                    )),
                    Some(p) if !p.is_active => {
                        errors.push(format!("Value {text} for {field} is inactive."))
                    }
                    Some(p) => {
                        if let (Some(parent_field), Some(parent_value)) = (
                            entities::picklist_parent_field(def.name, field),
                            &p.parent_value,
                        ) {
                            let given = row.get(parent_field).map(scalar_text);
                            if given.as_deref() != Some(parent_value.as_str()) {
                                errors.push(format!(
                                    "{field} {text} does not belong to {parent_field} {}.",
                                    given.unwrap_or_default()
                                ));
                            }
                        }
                    }
                }
            }
            if let Some(target) = def.reference(field)
                && let Some(id) = value.as_i64()
                && Some(id) != self_id.filter(|_| target == def.name)
                && !self.exists(target, id)
            {
                errors.push(format!(
                    "Value does not reference an existing entity for {field}. "
                ));
            }
        }
        let definitions = self.udf_definition_rows(def);
        for (name, value) in udfs {
            let Some(definition) = definitions.iter().find(|d| {
                d.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            }) else {
                errors.push(format!(
                    "User-defined field {name} does not exist for {}.",
                    def.name
                ));
                continue;
            };
            let Some(text) = value.as_str() else { continue };
            match definition.get("dataType").and_then(Value::as_i64) {
                Some(2) if text.parse::<f64>().is_err() => {
                    errors.push(format!("User-defined field {name} requires a number."))
                }
                Some(3) if parse_datetime(text).is_none() => {
                    errors.push(format!("User-defined field {name} requires a date."))
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DbError::Invalid(errors))
        }
    }

    fn before_create(
        &mut self,
        def: &EntityDef,
        row: &mut Row,
        caller_resource: i64,
    ) -> Result<(), DbError> {
        let now = now_string();
        match def.name {
            "Companies" => {
                let owner = row.get("ownerResourceID").and_then(Value::as_i64);
                let owner_ok = self
                    .users
                    .iter()
                    .any(|u| u.resource_id == owner && u.kind == UserKind::Regular);
                if !owner_ok {
                    // API-only users cannot own entities (notes §1.2).
                    return Err(invalid(
                        "Value does not reference an existing entity for ownerResourceID. ",
                    ));
                }
                row.entry("isActive").or_insert(json!(true));
                row.insert("createDate".into(), json!(now));
                row.insert("createdByResourceID".into(), json!(caller_resource));
            }
            "Contacts" => {
                row.insert("createDate".into(), json!(now));
            }
            "Services" | "ServiceBundles" => {
                let name = row
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let duplicate = self.raw_rows(def.name).any(|(_, r)| {
                    r.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                });
                if duplicate {
                    return Err(invalid(format!(
                        "A {} with the name {name} already exists.",
                        def.singular
                    )));
                }
                let code = row
                    .get("billingCodeID")
                    .and_then(Value::as_i64)
                    .and_then(|id| self.raw("BillingCodes", id));
                let usable = code.is_some_and(|c| {
                    c.get("isActive").and_then(Value::as_bool) != Some(false)
                        && c.get("useType").and_then(Value::as_i64)
                            == Some(USE_TYPE_RECURRING_CONTRACT_SERVICE)
                });
                if !usable {
                    return Err(invalid(
                        "billingCodeID must reference an active Recurring Contract Service allocation code.",
                    ));
                }
                row.entry("isActive").or_insert(json!(true));
                row.insert("createDate".into(), json!(now));
                row.insert("creatorResourceID".into(), json!(caller_resource));
            }
            "Contracts" => {
                let start = row
                    .get("startDate")
                    .and_then(Value::as_str)
                    .and_then(parse_datetime);
                let end = row
                    .get("endDate")
                    .and_then(Value::as_str)
                    .and_then(parse_datetime);
                if let (Some(start), Some(end)) = (start, end)
                    && end < start
                {
                    return Err(invalid("endDate must be on or after startDate."));
                }
            }
            "UserDefinedFieldDefinitions" => {
                let name = row
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let udf_type = row.get("udfType").and_then(Value::as_i64);
                let same_type: Vec<&Row> = self
                    .raw_rows("UserDefinedFieldDefinitions")
                    .map(|(_, r)| r)
                    .filter(|r| r.get("udfType").and_then(Value::as_i64) == udf_type)
                    .collect();
                if same_type.iter().any(|r| {
                    r.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                }) {
                    return Err(invalid(format!(
                        "A user-defined field named {name} already exists."
                    )));
                }
                let limit = entities::ENTITIES
                    .iter()
                    .find(|e| e.udf_type == udf_type)
                    .map_or(usize::MAX, |e| e.udf_limit);
                let active = same_type
                    .iter()
                    .filter(|r| r.get("isActive").and_then(Value::as_bool) != Some(false))
                    .count();
                if active >= limit {
                    return Err(invalid(format!(
                        "The maximum number of active user-defined fields ({limit}) has been reached."
                    )));
                }
                row.entry("isActive").or_insert(json!(true));
                row.insert("createDate".into(), json!(now));
            }
            "Tickets" => {
                let assigned = row.get("assignedResourceID").is_some_and(|v| !v.is_null());
                let role = row
                    .get("assignedResourceRoleID")
                    .is_some_and(|v| !v.is_null());
                if assigned != role {
                    return Err(invalid(
                        "When assigning a Resource, you must assign both a assignedResourceID and assignedResourceRoleID.",
                    ));
                }
                self.ticket_sequence += 1;
                let today = Utc::now().format("%Y%m%d");
                row.insert(
                    "ticketNumber".into(),
                    json!(format!("T{today}.{:04}", self.ticket_sequence)),
                );
                row.insert("createDate".into(), json!(now));
                row.insert("creatorResourceID".into(), json!(caller_resource));
                row.insert("creatorType".into(), json!(1));
                row.insert("lastActivityDate".into(), json!(now));
                row.insert("lastTrackedModificationDateTime".into(), json!(now));
                ticket_status_side_effects(row, &now);
            }
            "TicketNotes" => {
                row.insert("createDateTime".into(), json!(now));
                row.insert("lastActivityDate".into(), json!(now));
                row.insert("creatorResourceID".into(), json!(caller_resource));
                if let Some(ticket) = row.get("ticketID").and_then(Value::as_i64)
                    && let Some(t) = self
                        .tables
                        .get_mut("Tickets")
                        .and_then(|t| t.get_mut(&ticket))
                {
                    t.insert("lastActivityDate".into(), json!(now));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Only one primary contact per company.
    fn after_write(&mut self, def: &EntityDef, id: i64, row: &Row) {
        if def.name == "Contacts"
            && row.get("primaryContact").and_then(Value::as_bool) == Some(true)
        {
            let company = row.get("companyID").cloned();
            for (other_id, other) in self.table_mut("Contacts").iter_mut() {
                if *other_id != id && other.get("companyID") == company.as_ref() {
                    other.insert("primaryContact".into(), json!(false));
                }
            }
        }
    }

    // ---- contract lines, units and adjustments --------------------------------------------

    fn require_recurring_contract(&self, row: &Row) -> Result<(), DbError> {
        let contract = row
            .get("contractID")
            .and_then(Value::as_i64)
            .and_then(|id| self.raw("Contracts", id));
        match contract {
            Some(c)
                if c.get("contractType").and_then(Value::as_i64)
                    == Some(CONTRACT_TYPE_RECURRING_SERVICE) =>
            {
                Ok(())
            }
            Some(_) => Err(invalid(
                "Services can only be added to Recurring Service contracts.",
            )),
            None => Err(invalid(
                "Value does not reference an existing entity for contractID. ",
            )),
        }
    }

    fn contract_dates(&self, contract_id: i64) -> Result<(NaiveDate, NaiveDate), DbError> {
        let contract = self.raw("Contracts", contract_id).ok_or_else(|| {
            invalid("Value does not reference an existing entity for contractID. ")
        })?;
        let date = |field: &str| {
            contract
                .get(field)
                .and_then(Value::as_str)
                .and_then(parse_date_only)
        };
        match (date("startDate"), date("endDate")) {
            (Some(start), Some(end)) => Ok((start, end)),
            _ => Err(invalid("The contract has no start or end date.")),
        }
    }

    /// Creates a contract service (bundle) and one unit row per billing period from `from` (the
    /// contract start when None) to the contract end.
    fn create_contract_line(
        &mut self,
        kind: &LineKind,
        mut line: Row,
        units: i64,
        from: Option<NaiveDate>,
    ) -> Result<i64, DbError> {
        let contract_id = line
            .get("contractID")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("contractID is required."))?;
        let catalog_id = line
            .get(kind.catalog_field)
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid(format!("{} is required.", kind.catalog_field)))?;
        let catalog = self
            .raw(kind.catalog_table, catalog_id)
            .cloned()
            .ok_or_else(|| {
                invalid(format!(
                    "Value does not reference an existing entity for {}. ",
                    kind.catalog_field
                ))
            })?;
        let duplicate = self.raw_rows(kind.line_table).any(|(_, r)| {
            r.get("contractID").and_then(Value::as_i64) == Some(contract_id)
                && r.get(kind.catalog_field).and_then(Value::as_i64) == Some(catalog_id)
        });
        if duplicate {
            return Err(invalid(format!(
                "{} {catalog_id} is already on contract {contract_id}.",
                kind.catalog_field
            )));
        }
        let (start, end) = self.contract_dates(contract_id)?;
        let from = from.unwrap_or(start).max(start);
        let months = match catalog.get("periodType").and_then(Value::as_i64) {
            Some(2) => 3,
            Some(3) => 6,
            Some(4) => 12,
            _ => 1,
        };
        let def = entity_def(kind.line_table);
        let mut full = blank_row(def);
        full.extend(std::mem::take(&mut line));
        let line_id = self.allocate_id();
        full.insert("id".into(), json!(line_id));
        let unit_price = full.get("unitPrice").and_then(Value::as_f64).unwrap_or(0.0);
        let unit_cost = catalog.get("unitCost").and_then(Value::as_f64);
        self.table_mut(kind.line_table).insert(line_id, full);
        let units_def = entity_def(kind.units_table);
        let mut period_start = start;
        let mut index = 0u32;
        while period_start <= end {
            index += 1;
            let next_start = start
                .checked_add_months(Months::new(months * index))
                .unwrap_or(end);
            let period_end = next_start.pred_opt().unwrap_or(end).min(end);
            if period_end >= from {
                let mut unit_row = blank_row(units_def);
                let id = self.allocate_id();
                for (field, value) in [
                    ("id", json!(id)),
                    ("contractID", json!(contract_id)),
                    (kind.line_field, json!(line_id)),
                    (kind.catalog_field, json!(catalog_id)),
                    ("startDate", json!(format_date(period_start.max(from)))),
                    ("endDate", json!(format_date(period_end))),
                    ("units", json!(units)),
                    ("price", json!(unit_price)),
                    ("internalCurrencyPrice", json!(unit_price)),
                    ("cost", json!(unit_cost)),
                    (
                        "vendorCompanyID",
                        catalog
                            .get("vendorCompanyID")
                            .cloned()
                            .unwrap_or(Value::Null),
                    ),
                ] {
                    if field == "id" || units_def.field(field).is_some() {
                        unit_row.insert(field.into(), value);
                    }
                }
                self.table_mut(kind.units_table).insert(id, unit_row);
            }
            if next_start <= period_start {
                break;
            }
            period_start = next_start;
        }
        Ok(line_id)
    }

    fn apply_adjustment(
        &mut self,
        def: &'static EntityDef,
        kind: &LineKind,
        row: Row,
    ) -> Result<i64, DbError> {
        let contract_id = row
            .get("contractID")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("contractID is required."))?;
        self.require_recurring_contract(&row)?;
        let effective = row
            .get("effectiveDate")
            .and_then(Value::as_str)
            .and_then(parse_date_only)
            .ok_or_else(|| invalid("effectiveDate is required."))?;
        let unit_change = row
            .get("unitChange")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("unitChange is required."))?;
        let (start, end) = self.contract_dates(contract_id)?;
        if effective < start || effective > end {
            return Err(invalid(
                "effectiveDate must be within the contract's start and end dates.",
            ));
        }
        let given_line = row.get(kind.line_field).and_then(Value::as_i64);
        let given_catalog = row.get(kind.catalog_field).and_then(Value::as_i64);
        let line_id = match (given_line, given_catalog) {
            (Some(line_id), _) => {
                let line = self.raw(kind.line_table, line_id).ok_or_else(|| {
                    invalid(format!(
                        "Value does not reference an existing entity for {}. ",
                        kind.line_field
                    ))
                })?;
                if line.get("contractID").and_then(Value::as_i64) != Some(contract_id) {
                    return Err(invalid(format!(
                        "{} {line_id} does not belong to contract {contract_id}.",
                        kind.line_field
                    )));
                }
                if given_catalog.is_some()
                    && line.get(kind.catalog_field).and_then(Value::as_i64) != given_catalog
                {
                    return Err(invalid(format!(
                        "{} does not match {}.",
                        kind.catalog_field, kind.line_field
                    )));
                }
                line_id
            }
            (None, Some(catalog_id)) => {
                let existing = self.raw_rows(kind.line_table).find(|(_, r)| {
                    r.get("contractID").and_then(Value::as_i64) == Some(contract_id)
                        && r.get(kind.catalog_field).and_then(Value::as_i64) == Some(catalog_id)
                });
                match existing {
                    Some((id, _)) => *id,
                    None => {
                        // The API creates the missing contract line (notes §3.9), starting at
                        // zero units on the effective date.
                        let catalog_price = self
                            .raw(kind.catalog_table, catalog_id)
                            .and_then(|c| c.get("unitPrice").cloned());
                        let price = row
                            .get("adjustedUnitPrice")
                            .cloned()
                            .filter(|v| !v.is_null())
                            .or(catalog_price)
                            .unwrap_or(json!(0.0));
                        let mut line = Map::new();
                        line.insert("contractID".into(), json!(contract_id));
                        line.insert(kind.catalog_field.into(), json!(catalog_id));
                        line.insert("unitPrice".into(), price);
                        self.create_contract_line(kind, line, 0, Some(effective))?
                    }
                }
            }
            (None, None) => {
                return Err(invalid(format!(
                    "Either {} or {} is required.",
                    kind.line_field, kind.catalog_field
                )));
            }
        };
        self.split_units(kind, line_id, effective, unit_change)?;
        let id = self.allocate_id();
        self.adjustments.push(AppliedAdjustment {
            id,
            entity: def.name,
            contract_id,
            line_id,
            effective_date: effective,
            unit_change,
        });
        Ok(id)
    }

    /// Applies a unit delta from `effective` on: the period containing it is split there, later
    /// periods change whole (notes §3.8).
    fn split_units(
        &mut self,
        kind: &LineKind,
        line_id: i64,
        effective: NaiveDate,
        delta: i64,
    ) -> Result<(), DbError> {
        let date_of = |row: &Row, field: &str| {
            row.get(field)
                .and_then(Value::as_str)
                .and_then(parse_date_only)
        };
        let affected: Vec<(i64, NaiveDate, NaiveDate, i64)> = self
            .raw_rows(kind.units_table)
            .filter(|(_, r)| r.get(kind.line_field).and_then(Value::as_i64) == Some(line_id))
            .filter_map(|(id, r)| {
                Some((
                    *id,
                    date_of(r, "startDate")?,
                    date_of(r, "endDate")?,
                    r.get("units").and_then(Value::as_i64).unwrap_or(0),
                ))
            })
            .filter(|(_, _, end, _)| *end >= effective)
            .collect();
        if affected.iter().any(|(_, _, _, units)| units + delta < 0) {
            return Err(invalid(
                "The adjustment would make the number of units negative.",
            ));
        }
        for (id, start, end, units) in affected {
            if start < effective {
                let Some(original) = self.raw(kind.units_table, id).cloned() else {
                    continue;
                };
                let mut head = original.clone();
                head.insert(
                    "endDate".into(),
                    json!(format_date(effective.pred_opt().unwrap_or(effective))),
                );
                self.table_mut(kind.units_table).insert(id, head);
                let mut tail = original;
                let tail_id = self.allocate_id();
                tail.insert("id".into(), json!(tail_id));
                tail.insert("startDate".into(), json!(format_date(effective)));
                tail.insert("endDate".into(), json!(format_date(end)));
                tail.insert("units".into(), json!(units + delta));
                self.table_mut(kind.units_table).insert(tail_id, tail);
            } else if let Some(row) = self
                .tables
                .get_mut(kind.units_table)
                .and_then(|t| t.get_mut(&id))
            {
                row.insert("units".into(), json!(units + delta));
            }
        }
        Ok(())
    }
}

fn entity_def(name: &str) -> &'static EntityDef {
    // Only called with names from the static table.
    entities::entity(name).unwrap_or(&entities::ENTITIES[0])
}

fn blank_row(def: &EntityDef) -> Row {
    def.fields()
        .iter()
        .map(|f| (f.name.clone(), Value::Null))
        .collect()
}

/// `status` value of Complete (a system value: the Postman samples' "not complete" filter is
/// `status noteq 5`).
pub const TICKET_STATUS_COMPLETE: i64 = 5;

/// Completing a ticket stamps completedDate (with `now`, the write's activity stamp); re-opening
/// clears it; other writes keep it.
fn ticket_status_side_effects(row: &mut Row, now: &str) {
    let complete = row.get("status").and_then(Value::as_i64) == Some(TICKET_STATUS_COMPLETE);
    let stamped = row.get("completedDate").is_some_and(|v| !v.is_null());
    if complete && !stamped {
        row.insert("completedDate".into(), json!(now));
    } else if !complete && stamped {
        row.insert("completedDate".into(), Value::Null);
    }
}

/// The activity stamp `touch` just wrote (or the clock, for rows without one).
fn now_of(row: &Row) -> String {
    row.get("lastActivityDate")
        .and_then(Value::as_str)
        .map_or_else(now_string, str::to_string)
}

fn touch(def: &EntityDef, row: &mut Row) {
    let now = now_string();
    for field in [
        "lastActivityDate",
        "lastModifiedDate",
        "lastTrackedModifiedDateTime",
        "lastTrackedModificationDateTime",
    ] {
        if def.field(field).is_some() {
            row.insert(field.into(), json!(now));
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `[{"name":…,"value":…}]` → name → string value (null clears).
fn udf_pairs(value: &Value, errors: &mut Vec<String>) -> Row {
    let mut out = Map::new();
    for item in value.as_array().into_iter().flatten() {
        let name = item
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("name")))
            .and_then(|(_, v)| v.as_str());
        let value = item
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        match (name, value) {
            (Some(name), v @ (Value::String(_) | Value::Null)) => {
                out.insert(name.to_string(), v);
            }
            (Some(name), _) => {
                errors.push(format!("User-defined field {name}: values are strings."))
            }
            (None, _) => errors.push("userDefinedFields entries need a name.".to_string()),
        }
    }
    out
}

/// Checks a value against the field type and normalizes dates to the wire form.
fn coerce(def: &EntityDef, kind: FieldKind, field: &str, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let bad = || {
        format!(
            "{field}: {value} is not a valid {} for the {} entity.",
            kind.data_type(),
            def.singular
        )
    };
    match kind {
        FieldKind::Integer | FieldKind::Long => value.as_i64().map(|n| json!(n)).ok_or_else(bad),
        FieldKind::Double => value.as_f64().map(|n| json!(n)).ok_or_else(bad),
        FieldKind::Boolean => value.as_bool().map(Value::Bool).ok_or_else(bad),
        FieldKind::Text => value.as_str().map(|s| json!(s)).ok_or_else(bad),
        FieldKind::DateTime => {
            let text = value.as_str().ok_or_else(bad)?;
            if field == "effectiveDate" {
                return parse_date_only(text)
                    .map(|d| json!(format_date(d)))
                    .ok_or_else(bad);
            }
            parse_datetime(text)
                .map(|d| json!(format_datetime(d)))
                .ok_or_else(bad)
        }
        FieldKind::Any => Ok(value.clone()),
    }
}
