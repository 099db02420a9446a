//! The seed format (JSON) that fills a fresh data center; see `seed.example.json`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::ApiError;
use crate::model::{
    AccessPolicy, AlertType, ApiClient, CatalogueItem, Infra, NewAlert, Quota, ROOT_TENANT_ID,
    SimState, UsageUpdate, User, new_uuid,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    /// Offering-item catalogue of top-level partners; omitted = the built-in one.
    pub catalogue: Option<Vec<CatalogueItem>>,
    pub infras: Vec<Infra>,
    /// Parents before children.
    pub tenants: Vec<TenantSeed>,
    pub clients: Vec<ApiClient>,
    pub users: Vec<UserSeed>,
    pub usages: Vec<UsageUpdate>,
    pub alerts: Vec<NewAlert>,
    /// Alert types added to (or replacing, by id) the built-in registry, e.g. a CyberApp's CTI
    /// types; `POST /alerts` accepts registered types only.
    pub alert_types: Vec<AlertType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// `partner`, `folder` or `customer`.
    pub kind: String,
    /// Omitted = directly under the data center's root (a top-level partner).
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// false = self-service mode (support access disabled).
    #[serde(default = "yes")]
    pub ancestral_access: bool,
    #[serde(default)]
    pub pricing_mode: Option<String>,
    #[serde(default)]
    pub mfa_status: Option<String>,
    /// Items to enable on a child tenant (top-level partners have everything enabled).
    #[serde(default)]
    pub offering_items: Vec<OfferingItemSeed>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OfferingItemSeed {
    pub name: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    #[serde(default)]
    pub quota_value: Option<u64>,
    #[serde(default)]
    pub quota_overage: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    #[serde(default)]
    pub id: Option<String>,
    pub tenant_id: String,
    pub login: String,
    pub email: String,
    #[serde(default)]
    pub activated: bool,
    /// Roles granted on the user's own tenant (as `PUT /users/{id}/access_policies` would).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Seed {
    /// The contents of `seed.example.json` (one partner with an API client, two customers,
    /// Acronis/Azure/S3/S3-compatible storages, usage and an alert).
    pub fn example() -> Seed {
        serde_json::from_str(include_str!("../seed.example.json")).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> anyhow::Result<Seed> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn apply(&self, state: &mut SimState, now: DateTime<Utc>) -> Result<(), ApiError> {
        if let Some(catalogue) = &self.catalogue {
            state.catalogue = catalogue.clone();
        }
        for infra in &self.infras {
            state.infras.insert(infra.id.clone(), infra.clone());
        }
        for tenant in &self.tenants {
            tenant.apply(state, now)?;
        }
        for client in &self.clients {
            state.live_tenant(&client.tenant_id)?;
            state
                .clients
                .insert(client.client_id.clone(), client.clone());
        }
        for user in &self.users {
            state.live_tenant(&user.tenant_id)?;
            let id = user.id.clone().unwrap_or_else(new_uuid);
            let record = User {
                id: id.clone(),
                tenant_id: user.tenant_id.clone(),
                login: user.login.clone(),
                email: user.email.clone(),
                firstname: None,
                lastname: None,
                activated: user.activated,
                enabled: true,
                version: 1,
                activation_emails_sent: 0,
                access_policies: user
                    .roles
                    .iter()
                    .map(|role| AccessPolicy {
                        id: new_uuid(),
                        version: 1,
                        trustee_id: id.clone(),
                        trustee_type: "user".into(),
                        issuer_id: user.tenant_id.clone(),
                        tenant_id: user.tenant_id.clone(),
                        role_id: role.clone(),
                        resource_server_id: None,
                        resource_namespace: None,
                        resource_path: None,
                        created_at: now,
                        updated_at: now,
                    })
                    .collect(),
            };
            state.users.insert(id, (record, now));
        }
        for usage in &self.usages {
            state.set_usage(usage.clone())?;
        }
        for alert_type in &self.alert_types {
            state.alert_types.retain(|t| t.id != alert_type.id);
            state.alert_types.push(alert_type.clone());
        }
        for alert in &self.alerts {
            state.raise_alert(alert.clone(), now)?;
        }
        Ok(())
    }
}

impl TenantSeed {
    pub fn new(name: &str, kind: &str, parent_id: Option<&str>) -> TenantSeed {
        TenantSeed {
            id: None,
            name: name.into(),
            kind: kind.into(),
            parent_id: parent_id.map(Into::into),
            enabled: true,
            ancestral_access: true,
            pricing_mode: None,
            mfa_status: None,
            offering_items: vec![],
        }
    }

    pub fn apply(&self, state: &mut SimState, now: DateTime<Utc>) -> Result<String, ApiError> {
        let parent_id = self
            .parent_id
            .clone()
            .unwrap_or_else(|| ROOT_TENANT_ID.to_string());
        state.live_tenant(&parent_id)?;
        let id = self.id.clone().unwrap_or_else(new_uuid);
        let mut tenant = state.new_tenant(
            id.clone(),
            self.name.clone(),
            &self.kind,
            parent_id.clone(),
            now,
        );
        tenant.enabled = self.enabled;
        tenant.ancestral_access = self.ancestral_access;
        if let Some(mode) = &self.pricing_mode {
            tenant.pricing_mode = mode.clone();
        }
        if let Some(mfa) = &self.mfa_status {
            tenant.mfa_status = mfa.clone();
        }
        state.tenants.insert(id.clone(), tenant);
        if parent_id == ROOT_TENANT_ID {
            state.grant_catalogue(&id, now);
        } else {
            state.inherit_from_parent(&id, &parent_id, now);
        }
        for wanted in &self.offering_items {
            let version = if wanted.quota_value.is_some() {
                state.next_version_ms(now)
            } else {
                0
            };
            let item = state
                .offering_items
                .iter_mut()
                .find(|item| {
                    item.tenant_id == id
                        && item.catalogue.name == wanted.name
                        && (wanted.infra_id.is_none() || item.infra_id == wanted.infra_id)
                })
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "seed: tenant {id} cannot have offering item {}",
                        wanted.name
                    ))
                })?;
            item.enabled = true;
            item.quota = Quota {
                value: wanted.quota_value,
                overage: wanted.quota_value.and(wanted.quota_overage),
                version,
            };
        }
        Ok(id)
    }
}
