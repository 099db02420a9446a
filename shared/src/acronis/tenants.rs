//! Tenant and user lifecycle calls for provisioning (F16): bulk tenant reads, creating a customer
//! tenant and its admin user, pricing mode and two-factor authentication.
//!
//! Creating is never blindly retried (H): `create_customer_tenant` and `create_user` send once
//! (no retry after a 5xx or a timeout, whose request may have been carried out); the caller
//! looks the object up before trying again.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{AM, AcronisClient, ApiRequest};
use super::error::AcronisError;
use super::models::{Page, Tenant};

/// The role that makes a user the customer tenant's administrator.
pub const COMPANY_ADMIN_ROLE: &str = "company_admin";

/// `GET /tenants/{id}/pricing`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pricing {
    pub mode: String,
    pub version: i64,
}

/// The admin user to create in a new customer tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub login: String,
    pub email: String,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
}

/// `{"items": ["<uuid>", …]}` of `GET /tenants/{id}/users`.
#[derive(Deserialize)]
struct IdList {
    items: Vec<String>,
}

#[derive(Deserialize)]
struct CreatedUser {
    id: String,
}

impl AcronisClient {
    /// Every live tenant under `root_id` (the root included), full detail, `page_size` per page.
    pub async fn subtree_tenants(
        &self,
        root_id: &str,
        page_size: usize,
    ) -> Result<Vec<Tenant>, AcronisError> {
        let first = vec![
            ("subtree_root_id", root_id.to_string()),
            ("limit", page_size.to_string()),
        ];
        self.all_pages(&format!("{AM}/tenants"), first).await
    }

    /// The direct child of `parent_id` named `name` (case-insensitive, as the platform keeps
    /// sibling names unique that way), if any.
    pub async fn child_tenant_named(
        &self,
        parent_id: &str,
        name: &str,
    ) -> Result<Option<Tenant>, AcronisError> {
        let first = vec![
            ("parent_id", parent_id.to_string()),
            ("lod", "basic".to_string()),
        ];
        let children: Vec<BasicTenant> = self.all_pages(&format!("{AM}/tenants"), first).await?;
        let Some(found) = children
            .into_iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(name.trim()))
        else {
            return Ok(None);
        };
        self.tenant(&found.id).await.map(Some)
    }

    /// `POST /tenants` for a customer under `parent_id`. Sent once: the caller looks the tenant
    /// up by name before another try.
    pub async fn create_customer_tenant(
        &self,
        parent_id: &str,
        name: &str,
        contact_email: Option<&str>,
    ) -> Result<Tenant, AcronisError> {
        let mut body = json!({"name": name, "kind": "customer", "parent_id": parent_id});
        if let Some(email) = contact_email {
            body["contact"] = json!({"email": email});
        }
        self.json_once(ApiRequest {
            method: Method::POST,
            body: Some(&body),
            ..ApiRequest::get(&format!("{AM}/tenants"), &[])
        })
        .await
    }

    /// Ids of the tenant's users.
    pub async fn tenant_user_ids(&self, tenant_id: &str) -> Result<Vec<String>, AcronisError> {
        let list: IdList = self
            .json(ApiRequest::get(
                &format!("{AM}/tenants/{tenant_id}/users"),
                &[],
            ))
            .await?;
        Ok(list.items)
    }

    /// `POST /users` in `tenant_id`. Sent once (see the module's note); returns the user id.
    pub async fn create_user(
        &self,
        tenant_id: &str,
        user: &NewUser,
    ) -> Result<String, AcronisError> {
        let mut contact = json!({"email": user.email});
        if let Some(first) = &user.firstname {
            contact["firstname"] = json!(first);
        }
        if let Some(last) = &user.lastname {
            contact["lastname"] = json!(last);
        }
        let body = json!({"tenant_id": tenant_id, "login": user.login, "contact": contact});
        let created: CreatedUser = self
            .json_once(ApiRequest {
                method: Method::POST,
                body: Some(&body),
                ..ApiRequest::get(&format!("{AM}/users"), &[])
            })
            .await?;
        Ok(created.id)
    }

    /// Makes the user an administrator of `tenant_id` (`PUT /users/{id}/access_policies`).
    pub async fn make_company_admin(
        &self,
        user_id: &str,
        tenant_id: &str,
    ) -> Result<(), AcronisError> {
        let body = json!({"items": [{
            "id": "00000000-0000-0000-0000-000000000000",
            "issuer_id": tenant_id,
            "role_id": COMPANY_ADMIN_ROLE,
            "tenant_id": tenant_id,
            "trustee_id": user_id,
            "trustee_type": "user",
            "version": 0
        }]});
        self.send(ApiRequest {
            method: Method::PUT,
            body: Some(&body),
            ..ApiRequest::get(&format!("{AM}/users/{user_id}/access_policies"), &[])
        })
        .await
        .map(|_| ())
    }

    /// Roles the user holds (`GET /users/{id}/access_policies`).
    pub async fn user_roles(&self, user_id: &str) -> Result<Vec<String>, AcronisError> {
        let page: Page<Value> = self
            .json(ApiRequest::get(
                &format!("{AM}/users/{user_id}/access_policies"),
                &[],
            ))
            .await?;
        Ok(page
            .items
            .iter()
            .filter_map(|p| p.get("role_id").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    pub async fn send_activation_email(&self, user_id: &str) -> Result<(), AcronisError> {
        let body = json!({});
        self.send(ApiRequest {
            method: Method::POST,
            body: Some(&body),
            ..ApiRequest::get(&format!("{AM}/users/{user_id}/send-activation-email"), &[])
        })
        .await
        .map(|_| ())
    }

    pub async fn pricing(&self, tenant_id: &str) -> Result<Pricing, AcronisError> {
        self.json(ApiRequest::get(
            &format!("{AM}/tenants/{tenant_id}/pricing"),
            &[],
        ))
        .await
    }

    /// Switches the tenant to production (a trial cannot be re-entered).
    pub async fn set_production(&self, tenant_id: &str) -> Result<(), AcronisError> {
        let path = format!("{AM}/tenants/{tenant_id}/pricing");
        self.until_versions_match(
            || format!("pricing of tenant {tenant_id}"),
            async |_| {
                let pricing = self.pricing(tenant_id).await?;
                if pricing.mode == "production" {
                    return Ok(());
                }
                let body = json!({"mode": "production", "version": pricing.version});
                self.send(ApiRequest {
                    method: Method::PUT,
                    body: Some(&body),
                    ..ApiRequest::get(&path, &[])
                })
                .await
                .map(|_| ())
            },
        )
        .await
    }

    /// Turns two-factor authentication on or off for the tenant.
    pub async fn set_mfa(&self, tenant_id: &str, enabled: bool) -> Result<(), AcronisError> {
        let body = json!({"enabled": enabled});
        self.send(ApiRequest {
            method: Method::PUT,
            body: Some(&body),
            ..ApiRequest::get(&format!("{AM}/tenants/{tenant_id}/mfa/status"), &[])
        })
        .await
        .map(|_| ())
    }

    /// The storages the tenant can use (`GET /tenants/{id}/infra`, in the developer docs).
    pub async fn tenant_infra_ids(&self, tenant_id: &str) -> Result<Vec<String>, AcronisError> {
        let list: IdList = self
            .json(ApiRequest::get(
                &format!("{AM}/tenants/{tenant_id}/infra"),
                &[],
            ))
            .await?;
        Ok(list.items)
    }
}

#[derive(Deserialize)]
struct InfraList {
    items: Vec<InfraInfo>,
}

#[derive(Deserialize)]
struct InfraInfo {
    id: String,
    #[serde(default)]
    backend_type: Option<String>,
}

impl AcronisClient {
    /// Storages' `backend_type` (`acronis`, `azure`, `amazon_s3`, `s3_compatible`, …) by id,
    /// 100 ids per request (`GET /infra?uuids=`).
    pub async fn infra_backend_types(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, AcronisError> {
        let mut types = std::collections::HashMap::new();
        for chunk in ids.chunks(100) {
            let query = [("uuids", chunk.join(","))];
            let list: InfraList = self
                .json(ApiRequest::get(&format!("{AM}/infra"), &query))
                .await?;
            for infra in list.items {
                types.insert(infra.id, infra.backend_type.unwrap_or_default());
            }
        }
        Ok(types)
    }
}

#[derive(Deserialize)]
struct BasicTenant {
    id: String,
    #[serde(default)]
    name: String,
}
