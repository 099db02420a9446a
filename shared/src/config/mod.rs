//! Configuration items (SPEC B and C) that users write into the table, typed with serde through
//! `serde_dynamo` and validated on read. Every error names the item (pk / sk) and the field.

mod mappings;
mod settings;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

pub use mappings::{
    AlertMapping, CustomerMapping, DEFAULT_DUE_IN_DAYS, MappedTenant, PublicCloudVendor,
    ServiceMapping, ServiceSubject, ServiceTarget, StorageRoles,
};
pub use settings::{
    AccountBasis, AutoCloseStatus, Deprovisioning, Features, IntegrationState, PeriodType,
    ProvisionAs, Provisioning, Settings, TicketSettings, UsagePeriod, UsageReporting,
};

use crate::error::ConfigError;

pub const SETTINGS_SK: &str = "SETTINGS";
pub const SERVICE_PREFIX: &str = "SERVICE#";
pub const CUSTOMER_PREFIX: &str = "CUSTOMER#";
pub const ALERT_PREFIX: &str = "ALERT#";
const INTEGRATION_PREFIX: &str = "INTEGRATION#";

/// The partition key of everything that belongs to one integration.
pub fn integration_pk(integration_id: &str) -> String {
    format!("{INTEGRATION_PREFIX}{integration_id}")
}

/// The integration id inside a partition key, if it is one.
pub fn integration_id_from_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(INTEGRATION_PREFIX)
}

/// Integration ids become SQS message group ids and key parts: keep them short and plain.
pub fn validate_integration_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err(format!(
            "integration id `{id}` must be 1 to 64 characters long"
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "integration id `{id}` may contain only letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}

/// An Autotask picklist value or entity given either by its id or by its label / name, as
/// users may write either (F15).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum IdOrLabel {
    Id(i64),
    Label(String),
}

impl std::fmt::Display for IdOrLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdOrLabel::Id(id) => write!(f, "id {id}"),
            IdOrLabel::Label(label) => write!(f, "\"{label}\""),
        }
    }
}

impl<'de> serde::Deserialize<'de> for IdOrLabel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdOrLabelVisitor;
        impl Visitor<'_> for IdOrLabelVisitor {
            type Value = IdOrLabel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id (a whole number) or a label (a non-empty string)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdOrLabel, E> {
                Ok(IdOrLabel::Id(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdOrLabel, E> {
                i64::try_from(v)
                    .map(IdOrLabel::Id)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdOrLabel, E> {
                if v.trim().is_empty() {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                Ok(IdOrLabel::Label(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdOrLabelVisitor)
    }
}

/// A raw item as read from the table.
pub type Item = HashMap<String, AttributeValue>;

/// Reads an attribute as a string, for keys.
pub fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Deserializes a user-written item into `T`. The key attributes are checked by the caller, so
/// they are taken out first; serde's path tells which field is wrong.
pub fn parse_item<T: DeserializeOwned>(
    pk: &str,
    sk: &str,
    mut item: Item,
) -> Result<T, ConfigError> {
    item.remove("pk");
    item.remove("sk");
    let deserializer = serde_dynamo::Deserializer::from_attribute_value(
        serde_dynamo::AttributeValue::from(AttributeValue::M(item)),
    );
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let problem = err.into_inner().to_string();
        // serde reports a missing field at its parent; name the field itself.
        let field = field_in_problem(&problem)
            .map(|name| {
                if path == "." || path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            })
            .unwrap_or_else(|| if path == "." { "(item)".into() } else { path });
        ConfigError::field(pk, sk, field, problem)
    })
}

fn field_in_problem(problem: &str) -> Option<&str> {
    problem.strip_prefix("missing field `")?.split('`').next()
}

/// Validates one user-written item on its own, by the kind its sort key names. Used before
/// writing configuration, so a mistake is refused instead of breaking the next run.
pub fn validate_user_item(item: &Item) -> Result<(), ConfigError> {
    let pk = string_attr(item, "pk").unwrap_or_default().to_string();
    let sk = string_attr(item, "sk").unwrap_or_default().to_string();
    let id = integration_id_from_pk(&pk).ok_or_else(|| {
        ConfigError::field(
            &pk,
            &sk,
            "pk",
            format!("must be {INTEGRATION_PREFIX}<integration id>"),
        )
    })?;
    validate_integration_id(id).map_err(|problem| ConfigError::field(&pk, &sk, "pk", problem))?;
    let item = item.clone();
    if sk == SETTINGS_SK {
        Settings::from_item(&pk, item).map(drop)
    } else if sk.starts_with(SERVICE_PREFIX) {
        ServiceMapping::from_item(&pk, &sk, item).map(drop)
    } else if sk.starts_with(CUSTOMER_PREFIX) {
        CustomerMapping::from_item(&pk, &sk, item).map(drop)
    } else if sk.starts_with(ALERT_PREFIX) {
        AlertMapping::from_item(&pk, &sk, item).map(drop)
    } else {
        Err(ConfigError::field(
            &pk,
            &sk,
            "sk",
            "is not a configuration item; allowed: SETTINGS, SERVICE#…, CUSTOMER#…, ALERT#…",
        ))
    }
}

/// Everything a job needs to know about one integration, validated.
#[derive(Debug, Clone)]
pub struct IntegrationConfig {
    pub integration_id: String,
    pub settings: Settings,
    pub services: Vec<ServiceMapping>,
    pub customers: Vec<CustomerMapping>,
    pub alerts: Vec<AlertMapping>,
}

/// The raw configuration items of one integration, as read from the table.
#[derive(Debug, Default, Clone)]
pub struct RawConfigItems {
    pub settings: Option<Item>,
    pub services: Vec<Item>,
    pub customers: Vec<Item>,
    pub alerts: Vec<Item>,
}

impl IntegrationConfig {
    /// Validates every item; reports every invalid item, not just the first.
    pub fn from_items(integration_id: &str, raw: RawConfigItems) -> Result<Self, ConfigError> {
        let pk = integration_pk(integration_id);
        let mut errors = Vec::new();
        if let Err(problem) = validate_integration_id(integration_id) {
            errors.push(ConfigError::InvalidItem {
                pk: pk.clone(),
                sk: SETTINGS_SK.into(),
                problem,
            });
        }
        let settings = match raw.settings {
            None => {
                errors.push(ConfigError::MissingItem {
                    pk: pk.clone(),
                    sk: SETTINGS_SK.into(),
                });
                None
            }
            Some(item) => match Settings::from_item(&pk, item) {
                Ok(settings) => Some(settings),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let services = collect(&pk, raw.services, ServiceMapping::from_item, &mut errors);
        let customers = collect(&pk, raw.customers, CustomerMapping::from_item, &mut errors);
        let alerts = collect(&pk, raw.alerts, AlertMapping::from_item, &mut errors);
        if let Err(e) = mappings::check_unique_tenants(&pk, &customers) {
            errors.push(e);
        }
        match (settings, errors.len()) {
            (Some(settings), 0) => Ok(IntegrationConfig {
                integration_id: integration_id.to_string(),
                settings,
                services,
                customers,
                alerts,
            }),
            _ if errors.len() == 1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Several { errors }),
        }
    }
}

fn collect<T>(
    pk: &str,
    items: Vec<Item>,
    parse: fn(&str, &str, Item) -> Result<T, ConfigError>,
    errors: &mut Vec<ConfigError>,
) -> Vec<T> {
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let sk = string_attr(&item, "sk").unwrap_or_default().to_string();
        match parse(pk, &sk, item) {
            Ok(value) => parsed.push(value),
            Err(e) => errors.push(e),
        }
    }
    parsed
}

#[cfg(test)]
mod tests;
