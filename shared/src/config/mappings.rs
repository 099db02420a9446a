//! Mapping items: services (F12, F13), customers (F14) and alerts (F15).

use serde::Deserialize;

use super::{ALERT_PREFIX, CUSTOMER_PREFIX, IdOrLabel, Item, SERVICE_PREFIX, parse_item};
use crate::error::ConfigError;

/// What a service mapping item maps, read from its sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSubject {
    /// `SERVICE#<offering item>` or, for a storage, `SERVICE#<offering item>#<infra id>`.
    OfferingItem {
        name: String,
        infra_id: Option<String>,
    },
    /// `SERVICE#PUBLIC_CLOUD#<vendor>`: one Autotask service per public cloud vendor (F13, F19).
    PublicCloud(PublicCloudVendor),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicCloudVendor {
    Azure,
    AmazonS3,
    S3Compatible,
}

impl PublicCloudVendor {
    const ALL: [(&'static str, PublicCloudVendor); 3] = [
        ("azure", PublicCloudVendor::Azure),
        ("amazon_s3", PublicCloudVendor::AmazonS3),
        ("s3_compatible", PublicCloudVendor::S3Compatible),
    ];
}

/// The Autotask side of a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceTarget {
    Service(IdOrLabel),
    ServiceBundle(IdOrLabel),
}

/// F13: Autotask services that receive a storage's usage by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageRoles {
    #[serde(default)]
    pub class1_free: Option<IdOrLabel>,
    #[serde(default)]
    pub class2_billed: Option<IdOrLabel>,
    #[serde(default)]
    pub geo_redundancy: Option<IdOrLabel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceMappingFields {
    #[serde(default)]
    service: Option<IdOrLabel>,
    #[serde(default)]
    service_bundle: Option<IdOrLabel>,
    #[serde(default)]
    free: bool,
    #[serde(default)]
    storage_roles: Option<StorageRoles>,
}

/// F12: an offering item (or storage, or public cloud vendor) mapped to an Autotask service or
/// bundle. For a storage, `target` is the "quota and total usage" product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMapping {
    pub sk: String,
    pub subject: ServiceSubject,
    pub target: Option<ServiceTarget>,
    pub free: bool,
    pub storage_roles: Option<StorageRoles>,
}

impl ServiceMapping {
    pub fn from_item(pk: &str, sk: &str, item: Item) -> Result<Self, ConfigError> {
        let subject = service_subject(pk, sk)?;
        let fields: ServiceMappingFields = parse_item(pk, sk, item)?;
        let bad = |field: &str, problem: &str| Err(ConfigError::field(pk, sk, field, problem));
        let target = match (fields.service, fields.service_bundle) {
            (Some(_), Some(_)) => {
                return bad(
                    "service_bundle",
                    "give either service or service_bundle, not both",
                );
            }
            (Some(service), None) => Some(ServiceTarget::Service(service)),
            (None, Some(bundle)) => Some(ServiceTarget::ServiceBundle(bundle)),
            (None, None) => None,
        };
        match &subject {
            ServiceSubject::PublicCloud(_) => {
                if fields.free {
                    return bad(
                        "free",
                        "does not apply to public cloud storage, which Acronis does not provision",
                    );
                }
                if fields.storage_roles.is_some() {
                    return bad(
                        "storage_roles",
                        "apply to Acronis storages (SERVICE#<offering item>#<infra id>), not to public cloud vendors",
                    );
                }
                if target.is_none() {
                    return bad("service", "is required for a public cloud vendor");
                }
            }
            ServiceSubject::OfferingItem { infra_id, .. } => {
                if let Some(roles) = &fields.storage_roles {
                    if infra_id.is_none() {
                        return bad(
                            "storage_roles",
                            "apply only to a storage, whose sort key names its infra id: SERVICE#<offering item>#<infra id>",
                        );
                    }
                    if *roles == StorageRoles::default() {
                        return bad(
                            "storage_roles",
                            "name at least one of class1_free, class2_billed, geo_redundancy",
                        );
                    }
                }
                if target.is_none() && fields.storage_roles.is_none() && !fields.free {
                    return bad(
                        "service",
                        "the item maps nothing: give service, service_bundle or storage_roles, or set free to true",
                    );
                }
            }
        }
        Ok(ServiceMapping {
            sk: sk.to_string(),
            subject,
            target,
            free: fields.free,
            storage_roles: fields.storage_roles,
        })
    }
}

fn service_subject(pk: &str, sk: &str) -> Result<ServiceSubject, ConfigError> {
    let bad = |problem: String| ConfigError::field(pk, sk, "sk", problem);
    let rest = sk
        .strip_prefix(SERVICE_PREFIX)
        .ok_or_else(|| bad(format!("must start with {SERVICE_PREFIX}")))?;
    let mut parts = rest.split('#');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    if parts.next().is_some() {
        return Err(bad(
            "has too many parts; allowed: SERVICE#<offering item>, SERVICE#<offering item>#<infra id>, SERVICE#PUBLIC_CLOUD#<vendor>".into(),
        ));
    }
    if first == "PUBLIC_CLOUD" {
        let vendor = second.unwrap_or_default();
        return PublicCloudVendor::ALL
            .iter()
            .find(|(name, _)| *name == vendor)
            .map(|(_, v)| ServiceSubject::PublicCloud(*v))
            .ok_or_else(|| {
                bad(format!(
                    "unknown public cloud vendor `{vendor}`; allowed: azure, amazon_s3, s3_compatible"
                ))
            });
    }
    if first.is_empty()
        || !first
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(bad(format!(
            "`{first}` is not an offering item name (lower-case letters, digits and `_`, e.g. pw_base_workstations)"
        )));
    }
    if second.is_some_and(|infra| infra.trim().is_empty()) {
        return Err(bad("the infra id after the offering item is empty".into()));
    }
    Ok(ServiceSubject::OfferingItem {
        name: first.to_string(),
        infra_id: second.map(str::to_string),
    })
}

/// F14: the Acronis side of a customer mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedTenant {
    /// Create a new customer tenant for the company and record it.
    New,
    Existing(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMappingFields {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMapping {
    pub sk: String,
    pub company_id: i64,
    pub tenant: MappedTenant,
    pub company_name: Option<String>,
}

impl CustomerMapping {
    pub fn from_item(pk: &str, sk: &str, item: Item) -> Result<Self, ConfigError> {
        let company_id = sk
            .strip_prefix(CUSTOMER_PREFIX)
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                ConfigError::field(
                    pk,
                    sk,
                    "sk",
                    "must be CUSTOMER#<Autotask company id>, the id a whole number",
                )
            })?;
        let fields: CustomerMappingFields = parse_item(pk, sk, item)?;
        let allowed = "allowed: an Acronis customer tenant id (UUID) or \"new\"";
        let tenant = match fields.tenant.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(ConfigError::field(
                    pk,
                    sk,
                    "tenant",
                    format!("is missing; {allowed}"),
                ));
            }
            Some("new") => MappedTenant::New,
            Some(id) if is_uuid(id) => MappedTenant::Existing(id.to_ascii_lowercase()),
            Some(other) => {
                return Err(ConfigError::field(
                    pk,
                    sk,
                    "tenant",
                    format!("`{other}` is neither a tenant id nor \"new\"; {allowed}"),
                ));
            }
        };
        Ok(CustomerMapping {
            sk: sk.to_string(),
            company_id,
            tenant,
            company_name: fields.company_name,
        })
    }
}

/// Two companies mapped to one tenant would bill one customer twice.
pub(super) fn check_unique_tenants(
    pk: &str,
    customers: &[CustomerMapping],
) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashMap::new();
    for mapping in customers {
        if let MappedTenant::Existing(tenant) = &mapping.tenant {
            if let Some(first) = seen.insert(tenant.as_str(), mapping.sk.as_str()) {
                return Err(ConfigError::field(
                    pk,
                    &mapping.sk,
                    "tenant",
                    format!(
                        "tenant {tenant} is already mapped by {first}; a tenant maps to one company"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertMappingFields {
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(default)]
    queue: Option<IdOrLabel>,
    #[serde(default)]
    ticket_type: Option<IdOrLabel>,
    #[serde(default)]
    status: Option<IdOrLabel>,
    #[serde(default)]
    priority: Option<IdOrLabel>,
    #[serde(default)]
    issue_type: Option<IdOrLabel>,
    #[serde(default)]
    sub_issue_type: Option<IdOrLabel>,
    #[serde(default)]
    due_in_days: Option<u32>,
}

fn enabled_by_default() -> bool {
    true
}

/// F15: how alerts of one Acronis alert type become Autotask tickets. Picklist values may be
/// labels or ids; they are resolved against Autotask's picklists when tickets are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMapping {
    pub sk: String,
    pub alert_type: String,
    pub enabled: bool,
    pub queue: Option<IdOrLabel>,
    pub ticket_type: Option<IdOrLabel>,
    pub status: Option<IdOrLabel>,
    pub priority: Option<IdOrLabel>,
    pub issue_type: Option<IdOrLabel>,
    pub sub_issue_type: Option<IdOrLabel>,
    pub due_in_days: u32,
}

pub const DEFAULT_DUE_IN_DAYS: u32 = 3;
const MAX_DUE_IN_DAYS: u32 = 365;

impl AlertMapping {
    pub fn from_item(pk: &str, sk: &str, item: Item) -> Result<Self, ConfigError> {
        let alert_type = sk
            .strip_prefix(ALERT_PREFIX)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::field(pk, sk, "sk", "must be ALERT#<Acronis alert type>")
            })?;
        let fields: AlertMappingFields = parse_item(pk, sk, item)?;
        if fields.sub_issue_type.is_some() && fields.issue_type.is_none() {
            return Err(ConfigError::field(
                pk,
                sk,
                "sub_issue_type",
                "needs issue_type: a sub-issue type belongs to an issue type",
            ));
        }
        let due_in_days = fields.due_in_days.unwrap_or(DEFAULT_DUE_IN_DAYS);
        if due_in_days > MAX_DUE_IN_DAYS {
            return Err(ConfigError::field(
                pk,
                sk,
                "due_in_days",
                format!("{due_in_days} is out of range; allowed: 0 to {MAX_DUE_IN_DAYS}"),
            ));
        }
        Ok(AlertMapping {
            sk: sk.to_string(),
            alert_type: alert_type.to_string(),
            enabled: fields.enabled,
            queue: fields.queue,
            ticket_type: fields.ticket_type,
            status: fields.status,
            priority: fields.priority,
            issue_type: fields.issue_type,
            sub_issue_type: fields.sub_issue_type,
            due_in_days,
        })
    }
}
