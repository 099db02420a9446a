//! Typed views of the Account Management v2 and Alert Manager v1 objects the integration uses.
//! Unknown fields are ignored so that new platform fields do not break reads; request bodies are
//! built only from fields the OpenAPI request schemas declare.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"items": […], "paging": {"cursors": {"after": …}}}`; the last page has no `after`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl<T> Page<T> {
    pub fn next_cursor(&self) -> Option<&str> {
        self.paging
            .as_ref()
            .and_then(|p| p.cursors.after.as_deref())
            .filter(|c| !c.is_empty())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub cursors: Cursors,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
}

/// `POST /idp/token`; `expires_on` is absolute Unix seconds, `expires_in` a duration.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_on: Option<i64>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// `tokenError` of the token endpoint.
#[derive(Deserialize)]
pub(crate) struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

/// `GET /clients/{id}`: the API client and the tenant it acts for (the partner tenant).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiClientInfo {
    pub client_id: String,
    pub tenant_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub version: i64,
    pub name: String,
    pub kind: String,
    pub parent_id: String,
    pub enabled: bool,
    /// false = self-service: the partner may not manage it (F21).
    #[serde(default)]
    pub ancestral_access: Option<bool>,
    #[serde(default)]
    pub pricing_mode: Option<String>,
    #[serde(default)]
    pub mfa_status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Soft quota; `None` (with `overage` `None`) = unlimited.
    pub value: Option<u64>,
    /// Hard-quota allowance above `value`.
    pub overage: Option<u64>,
    /// Optimistic lock: must equal the version last read.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OfferingItem {
    pub application_id: String,
    pub name: String,
    #[serde(default)]
    pub edition: Option<String>,
    pub usage_name: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// 1 enabled, 0 disabled.
    pub status: i32,
    #[serde(rename = "type")]
    pub item_type: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    pub measurement_unit: String,
    /// Absent on disabled and feature items.
    #[serde(default)]
    pub quota: Option<Quota>,
}

impl OfferingItem {
    pub fn enabled(&self) -> bool {
        self.status == 1
    }

    /// Whether this is the item a change addresses (storage items are per infra).
    pub fn is(&self, key: &OfferingItemKey) -> bool {
        self.application_id == key.application_id
            && self.name == key.name
            && self.infra_id == key.infra_id
    }

    pub fn key(&self) -> OfferingItemKey {
        OfferingItemKey {
            application_id: self.application_id.clone(),
            name: self.name.clone(),
            infra_id: self.infra_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferingItemKey {
    pub application_id: String,
    pub name: String,
    pub infra_id: Option<String>,
}

/// The state one offering item should be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredOfferingItem {
    pub key: OfferingItemKey,
    pub enabled: bool,
    /// `None` = leave the quota as it is (or unlimited when newly enabled).
    pub quota: Option<QuotaLimit>,
}

/// A quota to set: `value` `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimit {
    pub value: Option<u64>,
    pub overage: Option<u64>,
}

impl QuotaLimit {
    pub const UNLIMITED: QuotaLimit = QuotaLimit {
        value: None,
        overage: None,
    };

    pub fn soft(value: u64) -> QuotaLimit {
        QuotaLimit {
            value: Some(value),
            overage: None,
        }
    }
}

/// One row of a `tenantOfferingItemsPut` body (SPEC-AM: `application_id`, `name`, `status`,
/// `infra_id`, `quota`; no other property is allowed).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OfferingItemPut {
    pub application_id: String,
    pub name: String,
    pub status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct OfferingItemsPut {
    pub offering_items: Vec<OfferingItemPut>,
}

/// `usageOutput`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub tenant_uuid: Option<String>,
    pub application_id: String,
    pub name: String,
    #[serde(default)]
    pub edition: Option<String>,
    pub usage_name: String,
    #[serde(rename = "type")]
    pub usage_type: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    pub measurement_unit: String,
    pub range_start: String,
    pub value: u64,
    /// Accumulated value; what PSA usage sync reports.
    #[serde(default)]
    pub absolute_value: Option<u64>,
}

/// One tenant's row of `GET /tenants/usages`.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantUsages {
    pub tenant: String,
    pub usages: Vec<Usage>,
}

/// `AlertView`. Times are RFC 3339 with up to nanosecond precision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub severity: String,
    pub category: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub details: Value,
    pub tenant: AlertTenant,
}

impl Alert {
    /// `updatedAt` in Unix nanoseconds, the unit of the `updated_at` filter.
    pub fn updated_ns(&self) -> i64 {
        self.updated_at.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertTenant {
    /// The v1 numeric tenant id, as a string.
    pub id: String,
    #[serde(default)]
    pub locator: Option<String>,
    /// The Account Management tenant UUID (live payloads carry it; the spec does not list it).
    #[serde(default)]
    pub uuid: Option<String>,
}
