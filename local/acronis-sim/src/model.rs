//! The data center's state: API clients, tenants, users, applications, infra, offering items,
//! usages and alerts, with the rules the real platform enforces on them.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

use crate::errors::ApiError;
use crate::usage_names;

pub const CYBER_PROTECTION_APP_ID: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";
pub const FILE_SYNC_SHARE_APP_ID: &str = "dfd85a5f-a464-32ab-81fd-99bcc66a070f";
pub const MANAGEMENT_PORTAL_APP_ID: &str = "7459244f-68f3-3bf4-9f53-5f63ecc1d91f";
/// The data center's own root tenant, parent of top-level partners (never visible to them).
pub const ROOT_TENANT_ID: &str = "00000000-0000-4000-8000-000000000001";

pub fn new_uuid() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Version 4, RFC 4122 variant.
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        8 + (bytes[8] & 0x3),
        &hex[17..20],
        &hex[20..32]
    )
}

pub fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lengths)
            .all(|(part, len)| part.len() == len && part.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Account Management timestamps: UTC without offset, as in the platform's examples.
pub fn am_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A contact with every key the read schemas require (the platform fills unknowns with null).
pub fn blank_contact(now: DateTime<Utc>) -> Value {
    json!({"id": new_uuid(), "created_at": am_time(now), "updated_at": am_time(now), "email": "", "types": [],
        "firstname": null, "lastname": null, "phone": null, "address1": null, "address2": null, "country": null,
        "state": null, "city": null, "zipcode": null, "title": null, "website": null, "industry": null,
        "organization_size": null, "email_confirmed": false, "aan": null})
}

/// Alert Manager timestamps: RFC 3339 with nanoseconds.
pub fn alert_time(ns: i64) -> String {
    Utc.timestamp_nanos(ns)
        .to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn month_start(at: DateTime<Utc>, months_ahead: u32) -> DateTime<Utc> {
    let total = at.year() * 12 + at.month0() as i32 + months_ahead as i32;
    let date = NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or_default();
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiClient {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: String,
    #[serde(default = "default_client_name")]
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_client_name() -> String {
    "acronis-sim client".into()
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub client_id: String,
    pub expires_on: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    /// The v1 numeric id alerts carry in `tenant.id` / `tenant.locator`.
    pub numeric_id: u64,
    pub version: i64,
    pub name: String,
    pub kind: String,
    pub parent_id: String,
    pub enabled: bool,
    pub customer_type: String,
    pub customer_id: Option<String>,
    pub internal_tag: Option<String>,
    pub language: String,
    pub contact: Value,
    pub ancestral_access: bool,
    pub update_lock: bool,
    pub mfa_status: String,
    pub pricing_mode: String,
    pub pricing_version: i64,
    pub production_start_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Creation order: the `as_is` order of children listings.
    pub sequence: u64,
}

impl Tenant {
    pub fn to_json(&self, has_children: bool) -> Value {
        let contacts = if self
            .contact
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|e| !e.is_empty())
        {
            vec![self.contact.clone()]
        } else {
            vec![]
        };
        json!({
            "id": self.id, "version": self.version, "name": self.name, "kind": self.kind,
            "parent_id": self.parent_id, "enabled": self.enabled, "customer_type": self.customer_type,
            "customer_id": self.customer_id, "internal_tag": self.internal_tag, "language": self.language,
            "contact": self.contact, "contacts": contacts, "brand_id": null, "brand_enabled": false,
            "owner_id": null, "has_children": has_children,
            "update_lock": {"enabled": self.update_lock, "owner_id": null},
            "ancestral_access": self.ancestral_access, "mfa_status": self.mfa_status,
            "pricing_mode": self.pricing_mode,
            "production_start_date": self.production_start_date.map(am_time),
            "created_at": am_time(self.created_at), "updated_at": am_time(self.updated_at),
            "deleted_at": self.deleted_at.map(am_time), "external_operation_status": null,
        })
    }

    pub fn pricing_json(&self) -> Value {
        json!({
            "mode": self.pricing_mode, "currency": null, "version": self.pricing_version,
            "production_start_date": self.production_start_date.map(am_time),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub login: String,
    pub email: String,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub activated: bool,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub activation_emails_sent: u32,
    /// What `PUT /users/{id}/access_policies` stored last (roles such as `company_admin`).
    #[serde(default)]
    pub access_policies: Vec<AccessPolicy>,
}

impl User {
    /// The `role_id`s of the user's access policies, in stored order.
    pub fn roles(&self) -> Vec<String> {
        self.access_policies
            .iter()
            .map(|p| p.role_id.clone())
            .collect()
    }

    pub fn to_json(&self, created_at: DateTime<Utc>) -> Value {
        json!({
            "id": self.id, "version": self.version, "tenant_id": self.tenant_id, "login": self.login,
            "contact": {"email": self.email, "firstname": self.firstname, "lastname": self.lastname, "types": []},
            "activated": self.activated, "enabled": self.enabled, "terms_accepted": false,
            "created_at": am_time(created_at), "updated_at": am_time(created_at), "deleted_at": null,
            "language": "en", "business_types": [], "notifications": ["quota", "reports", "backup_error", "backup_warning", "backup_daily_report"],
            "personal_tenant_id": null, "mfa_status": "disabled",
        })
    }
}

/// One access policy (role grant) of a user (SPEC-AM `accessPoliciesList` item).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessPolicy {
    pub id: String,
    pub version: i64,
    pub trustee_id: String,
    /// Always `user` here (the spec also knows `user_group` and `client`).
    pub trustee_type: String,
    pub issuer_id: String,
    pub tenant_id: String,
    /// A SPEC-AM `userRole`, e.g. `company_admin`.
    pub role_id: String,
    #[serde(default)]
    pub resource_server_id: Option<String>,
    #[serde(default)]
    pub resource_namespace: Option<String>,
    #[serde(default)]
    pub resource_path: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AccessPolicy {
    pub fn to_json(&self) -> Value {
        let mut policy = json!({
            "id": self.id, "version": self.version, "trustee_id": self.trustee_id,
            "trustee_type": self.trustee_type, "issuer_id": self.issuer_id, "tenant_id": self.tenant_id,
            "role_id": self.role_id, "created_at": am_time(self.created_at),
            "updated_at": am_time(self.updated_at), "deleted_at": null,
        });
        for (key, value) in [
            ("resource_server_id", &self.resource_server_id),
            ("resource_namespace", &self.resource_namespace),
            ("resource_path", &self.resource_path),
        ] {
            if let Some(value) = value {
                policy[key] = json!(value);
            }
        }
        policy
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Infra {
    pub id: String,
    pub name: String,
    /// `acronis`, `azure`, `amazon_s3`, `s3_compatible` (the spec leaves this a free string).
    pub backend_type: String,
    #[serde(default)]
    pub owner_tenant_id: Option<String>,
    #[serde(default = "default_true")]
    pub platform_owned: bool,
    #[serde(default)]
    pub url: Option<String>,
}

impl Infra {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "owner_tenant_id": self.owner_tenant_id.clone().unwrap_or_else(|| ROOT_TENANT_ID.to_string()),
            "location_id": "00000000-0000-4000-8000-00000000a001",
            "platform_owned": self.platform_owned, "name": self.name,
            "url": self.url.clone().unwrap_or_else(|| format!("https://storage.example.invalid/{}", self.id)),
            "capabilities": ["backup"], "backend_type": self.backend_type, "version": 1, "readonly": false,
        })
    }
}

/// One row of the offering-item catalogue (what a top-level partner gets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogueItem {
    #[serde(default = "default_application")]
    pub application_id: String,
    pub name: String,
    pub edition: Option<String>,
    pub usage_name: String,
    /// `count`, `feature` or `infra` (infra items are expanded once per infra).
    #[serde(rename = "type")]
    pub item_type: String,
    pub measurement_unit: String,
}

fn default_application() -> String {
    CYBER_PROTECTION_APP_ID.to_string()
}

pub fn default_catalogue() -> Vec<CatalogueItem> {
    let item = |name: &str, edition: Option<&str>, usage: &str, item_type: &str, unit: &str| {
        CatalogueItem {
            application_id: CYBER_PROTECTION_APP_ID.into(),
            name: name.into(),
            edition: edition.map(Into::into),
            usage_name: usage.into(),
            item_type: item_type.into(),
            measurement_unit: unit.into(),
        }
    };
    let pw = Some("pck_per_workload");
    let mut items = vec![
        item(
            "pw_base_workstations",
            pw,
            "workstations",
            "count",
            "quantity",
        ),
        item("pw_base_servers", pw, "servers", "count", "quantity"),
        item("pw_base_vms", pw, "vms", "count", "quantity"),
        item("pw_base_mobiles", pw, "mobiles", "count", "quantity"),
        item(
            "pw_base_web_hosting_servers",
            pw,
            "web_hosting_servers",
            "count",
            "quantity",
        ),
        item("pw_base_websites", pw, "websites", "count", "quantity"),
        item("pw_base_m365_seats", pw, "mailboxes", "count", "quantity"),
        item(
            "pw_base_m365_mailboxes",
            pw,
            "o365_mailboxes",
            "feature",
            "n/a",
        ),
        item(
            "pw_base_m365_onedrive",
            pw,
            "o365_onedrive",
            "feature",
            "n/a",
        ),
        item(
            "pw_base_m365_sharepoint_sites",
            pw,
            "o365_sharepoint_sites",
            "count",
            "quantity",
        ),
        item("pw_base_m365_teams", pw, "o365_teams", "count", "quantity"),
        item(
            "pw_base_gworkspace_seats",
            pw,
            "gsuite_seats",
            "count",
            "quantity",
        ),
        item("pw_base_storage", pw, "storage", "infra", "bytes"),
        item(
            "pw_pack_adv_backup_workstations",
            pw,
            "pack_adv_backup_workstations",
            "count",
            "quantity",
        ),
        item(
            "pw_pack_adv_backup_servers",
            pw,
            "pack_adv_backup_servers",
            "count",
            "quantity",
        ),
        item(
            "pw_pack_adv_backup_vms",
            pw,
            "pack_adv_backup_vms",
            "count",
            "quantity",
        ),
        item(
            "pw_pack_adv_security",
            pw,
            "pack_adv_security",
            "count",
            "quantity",
        ),
        item(
            "pw_pack_adv_management",
            pw,
            "pack_adv_management",
            "count",
            "quantity",
        ),
        item("local_storage", None, "local_storage", "count", "bytes"),
    ];
    // The legacy `standard` edition is what the offering-items listing returns by default.
    let std = Some("standard");
    items.extend([
        item("workstations", std, "workstations", "count", "quantity"),
        item("servers", std, "servers", "count", "quantity"),
        item("vms", std, "vms", "count", "quantity"),
        item("storage", std, "storage", "infra", "bytes"),
    ]);
    items
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Quota {
    pub value: Option<u64>,
    pub overage: Option<u64>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfferingItem {
    pub tenant_id: String,
    pub catalogue: CatalogueItem,
    pub infra_id: Option<String>,
    pub enabled: bool,
    pub quota: Quota,
    pub updated_at: DateTime<Utc>,
}

impl OfferingItem {
    pub fn key_matches(&self, application_id: &str, name: &str, infra_id: Option<&str>) -> bool {
        self.catalogue.application_id == application_id
            && self.catalogue.name == name
            && (self.infra_id.is_none()
                || infra_id.is_none()
                || self.infra_id.as_deref() == infra_id)
    }

    pub fn quota_json(&self) -> Option<Value> {
        // Disabled items and feature items carry no quota (PW22 payloads).
        (self.enabled && self.catalogue.item_type != "feature")
            .then(|| json!({"value": self.quota.value, "overage": self.quota.overage, "version": self.quota.version}))
    }

    pub fn to_json(&self) -> Value {
        let mut item = json!({
            "application_id": self.catalogue.application_id, "name": self.catalogue.name,
            "edition": self.catalogue.edition, "usage_name": self.catalogue.usage_name,
            "tenant_id": self.tenant_id, "updated_at": am_time(self.updated_at), "deleted_at": null,
            "status": i32::from(self.enabled), "type": self.catalogue.item_type,
            "measurement_unit": self.catalogue.measurement_unit,
        });
        if let Some(infra_id) = &self.infra_id {
            item["infra_id"] = json!(infra_id);
        }
        if self.catalogue.item_type != "feature" {
            item["locked"] = json!(false);
        }
        if let Some(quota) = self.quota_json() {
            item["quota"] = quota;
        }
        item
    }
}

/// A usage value set by a test, keyed by offering-item name (or bare usage name) and infra.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsageUpdate {
    pub tenant_id: String,
    /// Offering-item name (`pw_base_workstations`, `pw_base_storage`); for the class-1 /
    /// class-2 / geo-redundant storage usages the row name or usage name
    /// ([`crate::usage_names::STORAGE_USAGES_WITHOUT_ITEM`], stored as the row name); for other
    /// usages without an offering item (`workstation_storage`, `immutable_storage`), the usage
    /// name itself. Storage usages need `infra_id`.
    pub name: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    pub value: u64,
    /// Accumulated value; defaults to `value`.
    #[serde(default)]
    pub absolute_value: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewAlert {
    pub tenant_id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default)]
    pub details: Value,
}

fn default_severity() -> String {
    "critical".into()
}
fn default_category() -> String {
    "Backup".into()
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub alert_type: String,
    pub severity: String,
    pub category: String,
    pub details: Value,
    /// SPEC-AL `Context`: the alert's unique key within its type and tenant (string values only).
    /// A copy is merged into `details` on the wire.
    pub context: BTreeMap<String, String>,
    pub tenant_id: String,
    pub created_ns: i64,
    pub received_ns: i64,
    pub updated_ns: i64,
    pub deleted_ns: Option<i64>,
    /// `_source`, `_sourceTimeStamp`, `affinity` as the producer sent them.
    pub source: Option<String>,
    pub source_time_stamp: Option<i64>,
    pub affinity: Option<String>,
}

/// A validated `POST /api/alert_manager/v1/alerts` body, with the tenant already chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedAlert {
    pub tenant_id: String,
    pub alert_type: String,
    /// None = the type's default severity.
    pub severity: Option<String>,
    pub details: Value,
    pub context: BTreeMap<String, String>,
    /// The producer's own id for a new alert (upper-cased).
    pub id: Option<String>,
    pub created_ns: Option<i64>,
    pub source: Option<String>,
    pub source_time_stamp: Option<i64>,
    pub affinity: Option<String>,
}

/// What `POST /alerts` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Created,
    /// An alert with the same type, tenant and context existed: same id, raised again.
    Reraised,
}

pub const SEVERITIES: [&str; 5] = ["ok", "information", "warning", "error", "critical"];

pub fn severity_rank(severity: &str) -> usize {
    SEVERITIES.iter().position(|s| *s == severity).unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertType {
    pub id: String,
    pub severity: String,
    pub category: String,
    #[serde(default = "all_os")]
    pub supported_os: Vec<String>,
}

fn all_os() -> Vec<String> {
    ["ios", "linux", "macos", "windows"]
        .map(String::from)
        .to_vec()
}

pub fn default_alert_types() -> Vec<AlertType> {
    let t = |id: &str, severity: &str, category: &str| AlertType {
        id: id.into(),
        severity: severity.into(),
        category: category.into(),
        supported_os: all_os(),
    };
    vec![
        t("BackupFailed", "critical", "Backup"),
        t("BackupDidNotStart", "warning", "Backup"),
        t("BackupCanceled", "warning", "Backup"),
        t("NoBackupForXDays", "warning", "Backup"),
        t("DrInternetTrafficUnblocked", "warning", "Disaster recovery"),
        t("DrStorageHardQuotaExceeds", "error", "Disaster recovery"),
        t("EDRIncidentDetected", "critical", "EDR"),
    ]
}

#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: &'static str,
    pub name: &'static str,
    pub app_type: &'static str,
    pub api_base_url: &'static str,
}

pub const APPLICATIONS: [Application; 3] = [
    Application {
        id: CYBER_PROTECTION_APP_ID,
        name: "Cyber Protection",
        app_type: "backup",
        api_base_url: "/bc/",
    },
    Application {
        id: FILE_SYNC_SHARE_APP_ID,
        name: "File Sync & Share",
        app_type: "files_cloud",
        api_base_url: "/fc/",
    },
    Application {
        id: MANAGEMENT_PORTAL_APP_ID,
        name: "Management Portal",
        app_type: "platform",
        api_base_url: "/api/2/",
    },
];

/// The whole data center. Fields are public so tests can inspect and adjust anything.
#[derive(Debug, Default)]
pub struct SimState {
    pub clients: BTreeMap<String, ApiClient>,
    pub tokens: HashMap<String, IssuedToken>,
    pub tenants: BTreeMap<String, Tenant>,
    pub users: BTreeMap<String, (User, DateTime<Utc>)>,
    /// (application id, tenant id) pairs: services enabled for a tenant.
    pub bindings: Vec<(String, String)>,
    pub infras: BTreeMap<String, Infra>,
    pub catalogue: Vec<CatalogueItem>,
    pub offering_items: Vec<OfferingItem>,
    pub usages: Vec<UsageUpdate>,
    pub alerts: BTreeMap<String, Alert>,
    pub alert_types: Vec<AlertType>,
    next_sequence: u64,
    last_event_ns: i64,
    last_version_ms: i64,
}

impl SimState {
    pub fn new(now: DateTime<Utc>) -> SimState {
        let mut state = SimState {
            catalogue: default_catalogue(),
            alert_types: default_alert_types(),
            ..Default::default()
        };
        let root = state.new_tenant(
            ROOT_TENANT_ID.into(),
            "Data center root".into(),
            "root",
            ROOT_TENANT_ID.into(),
            now,
        );
        state.tenants.insert(root.id.clone(), root);
        state
    }

    /// Strictly increasing nanosecond stamps, so `updated_at=gt(last seen)` never misses an event
    /// that happened within the same clock tick.
    pub fn next_event_ns(&mut self, now: DateTime<Utc>) -> i64 {
        let ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        self.last_event_ns = ns.max(self.last_event_ns + 1);
        self.last_event_ns
    }

    /// Millisecond-timestamp-like versions (quota and pricing versions look like this on the wire).
    pub fn next_version_ms(&mut self, now: DateTime<Utc>) -> i64 {
        self.last_version_ms = now.timestamp_millis().max(self.last_version_ms + 1);
        self.last_version_ms
    }

    pub fn new_tenant(
        &mut self,
        id: String,
        name: String,
        kind: &str,
        parent_id: String,
        now: DateTime<Utc>,
    ) -> Tenant {
        self.next_sequence += 1;
        let is_customer = kind == "customer";
        Tenant {
            numeric_id: self.next_sequence,
            id,
            version: 1,
            name,
            kind: kind.into(),
            parent_id,
            enabled: true,
            customer_type: "default".into(),
            customer_id: None,
            internal_tag: None,
            language: "en".into(),
            contact: blank_contact(now),
            ancestral_access: true,
            update_lock: false,
            mfa_status: "disabled".into(),
            // New customers start in trial; the planned switch is after one full month.
            pricing_mode: if is_customer { "trial" } else { "production" }.into(),
            pricing_version: self.next_version_ms(now),
            production_start_date: Some(if is_customer {
                month_start(now, 2)
            } else {
                now
            }),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            sequence: self.next_sequence,
        }
    }

    pub fn live_tenant(&self, id: &str) -> Result<&Tenant, ApiError> {
        self.tenants
            .get(id)
            .filter(|t| t.deleted_at.is_none())
            .ok_or_else(|| ApiError::tenant_not_found(id))
    }

    pub fn live_tenant_mut(&mut self, id: &str) -> Result<&mut Tenant, ApiError> {
        self.tenants
            .get_mut(id)
            .filter(|t| t.deleted_at.is_none())
            .ok_or_else(|| ApiError::tenant_not_found(id))
    }

    pub fn has_live_children(&self, id: &str) -> bool {
        self.tenants
            .values()
            .any(|t| t.parent_id == id && t.id != id && t.deleted_at.is_none())
    }

    /// True when `ancestor` is `tenant` or above it.
    pub fn is_within(&self, tenant: &str, ancestor: &str) -> bool {
        let mut current = tenant.to_string();
        for _ in 0..64 {
            if current == ancestor {
                return true;
            }
            match self.tenants.get(&current) {
                Some(t) if t.parent_id != t.id => current = t.parent_id.clone(),
                _ => return false,
            }
        }
        false
    }

    pub fn tenant_json(&self, tenant: &Tenant) -> Value {
        tenant.to_json(self.has_live_children(&tenant.id))
    }

    /// A new tenant gets the items its parent has enabled (disabled, no quota) and its parent's services.
    pub fn inherit_from_parent(&mut self, tenant_id: &str, parent_id: &str, now: DateTime<Utc>) {
        let inherited: Vec<OfferingItem> = self
            .offering_items
            .iter()
            .filter(|item| item.tenant_id == parent_id && item.enabled)
            .map(|item| OfferingItem {
                tenant_id: tenant_id.into(),
                enabled: false,
                quota: Quota {
                    value: None,
                    overage: None,
                    version: 0,
                },
                updated_at: now,
                ..item.clone()
            })
            .collect();
        self.offering_items.extend(inherited);
        let services: Vec<(String, String)> = self
            .bindings
            .iter()
            .filter(|(_, tenant)| tenant == parent_id)
            .map(|(app, _)| (app.clone(), tenant_id.to_string()))
            .collect();
        self.bindings.extend(services);
    }

    /// A top-level partner gets the whole catalogue, enabled and unlimited (infra items once per infra).
    pub fn grant_catalogue(&mut self, tenant_id: &str, now: DateTime<Utc>) {
        let infra_ids: Vec<String> = self.infras.keys().cloned().collect();
        let mut granted = Vec::new();
        for entry in &self.catalogue {
            let infras: Vec<Option<String>> = if entry.item_type == "infra" {
                infra_ids.iter().cloned().map(Some).collect()
            } else {
                vec![None]
            };
            for infra_id in infras {
                granted.push(OfferingItem {
                    tenant_id: tenant_id.into(),
                    catalogue: entry.clone(),
                    infra_id,
                    enabled: true,
                    quota: Quota {
                        value: None,
                        overage: None,
                        version: 0,
                    },
                    updated_at: now,
                });
            }
        }
        self.offering_items.extend(granted);
        for app in APPLICATIONS {
            self.bindings
                .push((app.id.to_string(), tenant_id.to_string()));
        }
    }

    pub fn usage_of(
        &self,
        tenant_id: &str,
        name: &str,
        infra_id: Option<&str>,
    ) -> Option<&UsageUpdate> {
        self.usages.iter().find(|u| {
            u.tenant_id == tenant_id && u.name == name && u.infra_id.as_deref() == infra_id
        })
    }

    /// Stores a measured usage (replacing the one with the same tenant, name and infra). The
    /// class-1 / class-2 / geo-redundant storage usages are taken by row `name` or `usage_name`
    /// and stored under their row `name` ([`crate::usage_names`]). Refused (400): a storage usage
    /// (`infra`-type catalogue item or one of those three) without a known `infra_id`, an
    /// `infra_id` on a non-`infra` catalogue item, an unknown `infra_id`, geo-redundant usage on a
    /// storage that is not Acronis-hosted.
    pub fn set_usage(&mut self, mut update: UsageUpdate) -> Result<(), ApiError> {
        self.live_tenant(&update.tenant_id)?;
        let infra = match update.infra_id.as_deref() {
            Some(id) => Some(self.infras.get(id).ok_or_else(|| {
                ApiError::bad_request(format!("usage {}: unknown infra_id {id}", update.name))
            })?),
            None => None,
        };
        if let Some(storage) = usage_names::storage_usage_without_item(&update.name) {
            update.name = storage.name.to_string();
            let infra = infra.ok_or_else(|| {
                ApiError::bad_request(format!("usage {} needs an infra_id", storage.name))
            })?;
            if storage.acronis_hosted_only && infra.backend_type != usage_names::ACRONIS_BACKEND {
                return Err(ApiError::bad_request(format!(
                    "usage {} exists only on Acronis-hosted storage; infra {} is {}",
                    storage.name, infra.id, infra.backend_type
                )));
            }
        } else if let Some(entry) = self.catalogue.iter().find(|c| c.name == update.name) {
            match (entry.item_type == "infra", infra.is_some()) {
                (true, false) => {
                    return Err(ApiError::bad_request(format!(
                        "usage {} is per storage: it needs an infra_id",
                        update.name
                    )));
                }
                (false, true) => {
                    return Err(ApiError::bad_request(format!(
                        "usage {} is not per storage: it takes no infra_id",
                        update.name
                    )));
                }
                _ => {}
            }
        }
        self.usages.retain(|u| {
            !(u.tenant_id == update.tenant_id
                && u.name == update.name
                && u.infra_id == update.infra_id)
        });
        self.usages.push(update);
        Ok(())
    }

    /// Usage rows of a tenant: one per offering item, plus free-standing usages tests have set.
    pub fn usage_rows(&self, tenant: &Tenant, range_start: &str) -> Vec<Value> {
        let mut by_tenant = self.items_and_usages_of(&[tenant.id.as_str()]);
        let (items, usages) = by_tenant.remove(tenant.id.as_str()).unwrap_or_default();
        usage_rows_of(tenant, &items, &usages, range_start)
    }

    /// The offering items and usages of some tenants, in one pass over each list (batch reads
    /// ask for a hundred tenants at a time).
    pub fn items_and_usages_of<'s>(&'s self, tenant_ids: &[&str]) -> TenantItemsAndUsages<'s> {
        let mut by_tenant: TenantItemsAndUsages<'s> = tenant_ids
            .iter()
            .map(|id| (id.to_string(), (Vec::new(), Vec::new())))
            .collect();
        for item in &self.offering_items {
            if let Some((items, _)) = by_tenant.get_mut(item.tenant_id.as_str()) {
                items.push(item);
            }
        }
        for usage in &self.usages {
            if let Some((_, usages)) = by_tenant.get_mut(usage.tenant_id.as_str()) {
                usages.push(usage);
            }
        }
        by_tenant
    }

    pub fn range_start(now: DateTime<Utc>) -> String {
        format!("{}Z", am_time(month_start(now, 0)))
    }

    pub fn alert_json(&self, alert: &Alert) -> Value {
        let tenant = self.tenants.get(&alert.tenant_id);
        let numeric = tenant.map_or(0, |t| t.numeric_id);
        let mut locator = String::from("/");
        let mut chain = Vec::new();
        let mut current = tenant;
        while let Some(t) = current {
            chain.push(t.numeric_id);
            current = if t.parent_id == t.id {
                None
            } else {
                self.tenants.get(&t.parent_id)
            };
        }
        for id in chain.iter().rev() {
            locator.push_str(&format!("{id}/"));
        }
        // SPEC-AL AlertView.details: "Copy of context is merged to details."
        let mut details = alert.details.clone();
        if let Some(fields) = details.as_object_mut() {
            for (key, value) in &alert.context {
                fields.insert(key.clone(), json!(value));
            }
        }
        let mut view = json!({
            "id": alert.id, "type": alert.alert_type, "severity": alert.severity, "category": alert.category,
            "details": details, "createdAt": alert_time(alert.created_ns),
            "receivedAt": alert_time(alert.received_ns), "updatedAt": alert_time(alert.updated_ns),
            "tenant": {"id": numeric.to_string(), "locator": locator, "uuid": alert.tenant_id},
        });
        if let Some(deleted) = alert.deleted_ns {
            view["deletedAt"] = json!(alert_time(deleted));
        }
        if let Some(source) = &alert.source {
            view["_source"] = json!(source);
        }
        if let Some(stamp) = alert.source_time_stamp {
            view["_sourceTimeStamp"] = json!(stamp);
        }
        if let Some(affinity) = &alert.affinity {
            view["affinity"] = json!(affinity);
        }
        view
    }

    /// `POST /alerts`: raises a new alert, or raises again the alert of the same type, tenant and
    /// context (dismissed or not): same id, fresh `updatedAt`/`receivedAt`, `deletedAt` cleared,
    /// details, severity and producer fields replaced, `createdAt` kept.
    pub fn post_alert(
        &mut self,
        posted: PostedAlert,
        now: DateTime<Utc>,
    ) -> Result<(String, PostOutcome), ApiError> {
        let alert_type = self
            .alert_types
            .iter()
            .find(|t| t.id == posted.alert_type)
            .cloned()
            .ok_or_else(|| {
                ApiError::alert_bad_request(format!(
                    "alert type {:?} is not registered",
                    posted.alert_type
                ))
            })?;
        let severity = posted.severity.unwrap_or(alert_type.severity);
        let details = if posted.details.is_null() {
            json!({})
        } else {
            posted.details
        };
        let existing = self
            .alerts
            .values()
            .filter(|a| {
                a.alert_type == posted.alert_type
                    && a.tenant_id == posted.tenant_id
                    && a.context == posted.context
            })
            .max_by_key(|a| a.updated_ns)
            .map(|a| a.id.clone());
        if let Some(id) = existing {
            let ns = self.next_event_ns(now);
            let alert = self
                .alerts
                .get_mut(&id)
                .ok_or_else(|| ApiError::alert_not_found(&id))?;
            alert.updated_ns = ns;
            alert.received_ns = ns;
            alert.deleted_ns = None;
            alert.severity = severity;
            alert.details = details;
            alert.source = posted.source;
            alert.source_time_stamp = posted.source_time_stamp;
            alert.affinity = posted.affinity;
            return Ok((id, PostOutcome::Reraised));
        }
        let id = match posted.id {
            Some(id) if self.alerts.contains_key(&id) => {
                return Err(ApiError::alert_bad_request(format!(
                    "alert id {id} is taken by an alert of another type, tenant or context"
                )));
            }
            Some(id) => id,
            None => new_uuid().to_ascii_uppercase(),
        };
        let ns = self.next_event_ns(now);
        self.alerts.insert(
            id.clone(),
            Alert {
                id: id.clone(),
                alert_type: alert_type.id,
                severity,
                category: alert_type.category,
                details,
                context: posted.context,
                tenant_id: posted.tenant_id,
                created_ns: posted.created_ns.unwrap_or(ns),
                received_ns: ns,
                updated_ns: ns,
                deleted_ns: None,
                source: posted.source,
                source_time_stamp: posted.source_time_stamp,
                affinity: posted.affinity,
            },
        );
        Ok((id, PostOutcome::Created))
    }

    pub fn raise_alert(&mut self, new: NewAlert, now: DateTime<Utc>) -> Result<String, ApiError> {
        self.raise_alert_with_context(new, BTreeMap::new(), now)
    }

    /// What the platform does when a problem appears: always a new alert (see [`Self::post_alert`]
    /// for the API's re-raise by type, tenant and context).
    pub fn raise_alert_with_context(
        &mut self,
        new: NewAlert,
        context: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        self.live_tenant(&new.tenant_id)?;
        if !SEVERITIES.contains(&new.severity.as_str()) {
            return Err(ApiError::alert_bad_request(format!(
                "unknown severity {}",
                new.severity
            )));
        }
        let ns = self.next_event_ns(now);
        let id = new_uuid().to_ascii_uppercase();
        let details = if new.details.is_null() {
            json!({})
        } else {
            new.details
        };
        self.alerts.insert(
            id.clone(),
            Alert {
                id: id.clone(),
                alert_type: new.alert_type,
                severity: new.severity,
                category: new.category,
                details,
                context,
                tenant_id: new.tenant_id,
                created_ns: ns,
                received_ns: ns,
                updated_ns: ns,
                deleted_ns: None,
                source: None,
                source_time_stamp: None,
                affinity: None,
            },
        );
        Ok(id)
    }

    /// The same problem happened again: same id, fresh `updatedAt`, active again.
    pub fn reraise_alert(
        &mut self,
        id: &str,
        details: Option<Value>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let ns = self.next_event_ns(now);
        let alert = self
            .alerts
            .get_mut(id)
            .ok_or_else(|| ApiError::alert_not_found(id))?;
        alert.updated_ns = ns;
        alert.received_ns = ns;
        alert.deleted_ns = None;
        if let Some(details) = details {
            alert.details = details;
        }
        Ok(())
    }

    /// The platform cleared the alert (problem gone) or a user dismissed it: it gets `deletedAt`.
    pub fn close_alert(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let ns = self.next_event_ns(now);
        let alert = self
            .alerts
            .get_mut(id)
            .filter(|a| a.deleted_ns.is_none())
            .ok_or_else(|| ApiError::alert_not_found(id))?;
        alert.updated_ns = ns;
        alert.deleted_ns = Some(ns);
        Ok(())
    }
}

/// Per tenant id: its offering items and its usages.
pub type TenantItemsAndUsages<'s> =
    std::collections::HashMap<String, (Vec<&'s OfferingItem>, Vec<&'s UsageUpdate>)>;

/// Usage rows of a tenant: one per offering item, plus free-standing usages tests have set.
pub fn usage_rows_of(
    tenant: &Tenant,
    items: &[&OfferingItem],
    usages: &[&UsageUpdate],
    range_start: &str,
) -> Vec<Value> {
    let mut rows = Vec::new();
    let row = |catalogue: &CatalogueItem, infra_id: Option<&str>, offering_item: Option<Value>| {
        let usage = usages
            .iter()
            .find(|u| u.name == catalogue.name && u.infra_id.as_deref() == infra_id);
        let value = usage.map_or(0, |u| u.value);
        let mut row = json!({
            "application_id": catalogue.application_id, "name": catalogue.name, "edition": catalogue.edition,
            "usage_name": catalogue.usage_name, "type": catalogue.item_type,
            "measurement_unit": catalogue.measurement_unit, "tenant_uuid": tenant.id,
            "tenant_id": tenant.numeric_id, "range_start": range_start, "value": value,
            "absolute_value": usage.and_then(|u| u.absolute_value).unwrap_or(value),
        });
        if let Some(infra_id) = infra_id {
            row["infra_id"] = json!(infra_id);
        }
        if let Some(offering_item) = offering_item {
            row["offering_item"] = offering_item;
        }
        row
    };
    for item in items {
        let mut offering_item = json!({"status": i32::from(item.enabled)});
        if let Some(quota) = item.quota_json() {
            offering_item["quota"] = quota;
        }
        rows.push(row(
            &item.catalogue,
            item.infra_id.as_deref(),
            Some(offering_item),
        ));
    }
    for usage in usages {
        let has_item = items.iter().any(|i| {
            i.catalogue.name == usage.name && i.infra_id.as_deref() == usage.infra_id.as_deref()
        });
        if has_item {
            continue;
        }
        // A catalogue item the tenant has for other storages only (an infra seeded later): the
        // item's row shape, without `offering_item`.
        let shape = items
            .iter()
            .find(|i| i.catalogue.name == usage.name)
            .map(|i| i.catalogue.clone())
            .or_else(|| {
                usage_names::storage_usage_without_item(&usage.name).map(|s| CatalogueItem {
                    application_id: CYBER_PROTECTION_APP_ID.into(),
                    name: s.name.into(),
                    edition: Some(usage_names::STORAGE_EDITION.into()),
                    usage_name: s.usage_name.into(),
                    item_type: "infra".into(),
                    measurement_unit: "bytes".into(),
                })
            })
            .unwrap_or_else(|| CatalogueItem {
                application_id: CYBER_PROTECTION_APP_ID.into(),
                name: usage.name.clone(),
                edition: None,
                usage_name: usage.name.clone(),
                item_type: if usage.infra_id.is_some() {
                    "infra"
                } else {
                    "count"
                }
                .into(),
                measurement_unit: if usage.name.contains("storage") {
                    "bytes"
                } else {
                    "quantity"
                }
                .into(),
            });
        rows.push(row(&shape, usage.infra_id.as_deref(), None));
    }
    rows
}
