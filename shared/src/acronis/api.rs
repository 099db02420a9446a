//! The endpoints the integration uses, typed.

use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::client::{AM, AcronisClient, ApiRequest, random_between};
use super::error::AcronisError;
use super::models::{
    Alert, ApiClientInfo, DesiredOfferingItem, OfferingItem, OfferingItemPut, OfferingItemsPut,
    Page, Quota, Tenant, TenantUsages,
};

/// `GET /tenants?uuids=` and `GET /tenants/usages?tenants=` take at most this many ids.
const IDS_PER_REQUEST: usize = 100;

/// What a versioned offering-item write did.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferingItemsUpdate {
    /// The items as the platform returned them after the write (empty when nothing changed).
    pub changed: Vec<OfferingItem>,
    /// Read–apply rounds it took (1 = no conflict).
    pub attempts: u32,
}

/// Alerts updated after a watermark, and the watermark to pass next time.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertBatch {
    pub alerts: Vec<Alert>,
    /// The greatest `updatedAt` seen in Unix nanoseconds (the given watermark if none).
    pub watermark_ns: i64,
    pub pages: u32,
}

impl AcronisClient {
    /// The tenant the API client belongs to: the partner tenant (`GET /clients/{id}`).
    pub async fn partner_tenant_id(&self) -> Result<String, AcronisError> {
        let path = format!("{AM}/clients/{}", self.client_id().expose_secret());
        let info: ApiClientInfo = self
            .json(ApiRequest {
                label: Some("/api/2/clients/{client_id}"),
                ..ApiRequest::get(&path, &[])
            })
            .await?;
        Ok(info.tenant_id)
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Tenant, AcronisError> {
        self.json(ApiRequest::get(&format!("{AM}/tenants/{tenant_id}"), &[]))
            .await
    }

    /// Ids of a tenant's direct children, following the children cursor page by page.
    pub async fn child_tenant_ids(&self, parent_id: &str) -> Result<Vec<String>, AcronisError> {
        let path = format!("{AM}/tenants/{parent_id}/children");
        self.all_pages(&path, Vec::new()).await
    }

    /// Tenants by id, 100 per request.
    pub async fn tenants(&self, ids: &[String]) -> Result<Vec<Tenant>, AcronisError> {
        self.by_ids(&format!("{AM}/tenants"), "uuids", ids).await
    }

    /// Every offering item of one tenant, all editions.
    pub async fn offering_items(&self, tenant_id: &str) -> Result<Vec<OfferingItem>, AcronisError> {
        let query = [("edition", "*".to_string())];
        let page: Page<OfferingItem> = self
            .json(ApiRequest::get(
                &format!("{AM}/tenants/{tenant_id}/offering_items"),
                &query,
            ))
            .await?;
        Ok(page.items)
    }

    /// Every offering item of every tenant under `root_id` (the root included), in pages of
    /// `page_size`: requests grow with pages, not with tenants.
    pub async fn subtree_offering_items(
        &self,
        root_id: &str,
        page_size: usize,
    ) -> Result<Vec<OfferingItem>, AcronisError> {
        let first = vec![
            ("subtree_root_tenant_id", root_id.to_string()),
            ("limit", page_size.to_string()),
        ];
        self.all_pages(&format!("{AM}/tenants/offering_items"), first)
            .await
    }

    /// Usages of the current period for many tenants, 100 tenants per request.
    pub async fn usages(&self, tenant_ids: &[String]) -> Result<Vec<TenantUsages>, AcronisError> {
        self.by_ids(&format!("{AM}/tenants/usages"), "tenants", tenant_ids)
            .await
    }

    /// A batch endpoint that takes ids in a query parameter, `IDS_PER_REQUEST` per request.
    async fn by_ids<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        parameter: &str,
        ids: &[String],
    ) -> Result<Vec<T>, AcronisError> {
        let mut items = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let query = [(parameter, chunk.join(","))];
            let page: Page<T> = self.json(ApiRequest::get(path, &query)).await?;
            items.extend(page.items);
        }
        Ok(items)
    }

    /// Follows `paging.cursors.after`; follow-up requests carry only the cursor, which encodes
    /// the original filters.
    pub(crate) async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        first_query: Vec<(&str, String)>,
    ) -> Result<Vec<T>, AcronisError> {
        let mut items = Vec::new();
        let mut query = first_query;
        loop {
            let page: Page<T> = self.json(ApiRequest::get(path, &query)).await?;
            let next = page.next_cursor().map(str::to_string);
            items.extend(page.items);
            match next {
                Some(cursor) => query = vec![("after", cursor)],
                None => return Ok(items),
            }
        }
    }

    /// Brings one tenant's offering items to the state `desire` computes from the current
    /// items. Only items that differ are sent. On a version mismatch (another writer changed a
    /// quota since our read) the items are read again and `desire` is applied again, so nobody's
    /// write is lost; after `version_conflict_attempts` rounds it gives up (retryable).
    pub async fn update_offering_items(
        &self,
        tenant_id: &str,
        desire: impl Fn(&[OfferingItem]) -> Vec<DesiredOfferingItem>,
    ) -> Result<OfferingItemsUpdate, AcronisError> {
        let path = format!("{AM}/tenants/{tenant_id}/offering_items");
        let what = || format!("offering items of tenant {tenant_id}");
        self.until_versions_match(what, async |attempt| {
            let current = self.offering_items(tenant_id).await?;
            let changes = changes_needed(&current, &desire(&current));
            if changes.is_empty() {
                return Ok(OfferingItemsUpdate {
                    changed: Vec::new(),
                    attempts: attempt,
                });
            }
            let body = serde_json::to_value(OfferingItemsPut {
                offering_items: changes,
            })
            .unwrap_or(Value::Null);
            let page: Page<OfferingItem> = self
                .json(ApiRequest {
                    method: Method::PUT,
                    body: Some(&body),
                    ..ApiRequest::get(&path, &[])
                })
                .await?;
            Ok(OfferingItemsUpdate {
                changed: page.items,
                attempts: attempt,
            })
        })
        .await
    }

    /// [`AcronisClient::update_offering_items`] with a fixed desired state.
    pub async fn apply_offering_items(
        &self,
        tenant_id: &str,
        desired: &[DesiredOfferingItem],
    ) -> Result<OfferingItemsUpdate, AcronisError> {
        self.update_offering_items(tenant_id, |_| desired.to_vec())
            .await
    }

    /// Enables or disables a tenant (`PUT /tenants/{id}` with the version just read).
    pub async fn set_tenant_enabled(
        &self,
        tenant_id: &str,
        enabled: bool,
    ) -> Result<Tenant, AcronisError> {
        let path = format!("{AM}/tenants/{tenant_id}");
        self.until_versions_match(
            || format!("tenant {tenant_id}"),
            async |_| {
                let tenant = self.tenant(tenant_id).await?;
                if tenant.enabled == enabled {
                    return Ok(tenant);
                }
                let body = serde_json::json!({"version": tenant.version, "enabled": enabled});
                self.json(ApiRequest {
                    method: Method::PUT,
                    body: Some(&body),
                    ..ApiRequest::get(&path, &[])
                })
                .await
            },
        )
        .await
    }

    /// Deletes a tenant (`DELETE /tenants/{id}?version=`). The platform refuses an enabled
    /// tenant with error 1006; disable it first ([`AcronisClient::set_tenant_enabled`]).
    pub async fn delete_tenant(&self, tenant_id: &str) -> Result<(), AcronisError> {
        let path = format!("{AM}/tenants/{tenant_id}");
        self.until_versions_match(
            || format!("tenant {tenant_id}"),
            async |_| {
                let tenant = self.tenant(tenant_id).await?;
                let query = [("version", tenant.version.to_string())];
                self.send(ApiRequest {
                    method: Method::DELETE,
                    ..ApiRequest::get(&path, &query)
                })
                .await
                .map(|_| ())
            },
        )
        .await
    }

    /// Runs read-then-write rounds (numbered from 1) until one is not refused for a stale
    /// version: another writer changed the object since our read, so the next round reads it
    /// again. Gives up (retryable) after `version_conflict_attempts` rounds.
    pub(crate) async fn until_versions_match<T>(
        &self,
        what: impl FnOnce() -> String,
        mut round: impl AsyncFnMut(u32) -> Result<T, AcronisError>,
    ) -> Result<T, AcronisError> {
        let attempts = self.options().version_conflict_attempts.max(1);
        for attempt in 1..=attempts {
            match round(attempt).await {
                Err(error) if error.is_version_mismatch() => self.after_conflict().await,
                other => return other,
            }
        }
        Err(AcronisError::VersionConflict {
            what: what(),
            attempts,
        })
    }

    /// Alerts whose `updatedAt` is after `after_ns` (Unix nanoseconds), oldest update first,
    /// every page. Passing the returned watermark next time yields each alert once, and a
    /// re-raised alert again after its update. `include_dismissed` adds dismissed/resolved ones.
    pub async fn alerts_updated_after(
        &self,
        after_ns: i64,
        page_size: usize,
        include_dismissed: bool,
    ) -> Result<AlertBatch, AcronisError> {
        let mut query = vec![
            ("updated_at", format!("gt({after_ns})")),
            ("order", "asc(updated_at)".to_string()),
            ("limit", page_size.to_string()),
        ];
        if include_dismissed {
            query.push(("show_deleted", "true".to_string()));
        }
        self.alert_pages(query, after_ns, page_size).await
    }

    async fn after_conflict(&self) {
        self.count_version_conflict();
        let jitter = self.options().version_conflict_jitter;
        tokio::time::sleep(random_between(Duration::ZERO, jitter)).await;
    }
}

/// The PUT rows that bring `current` to `desired`; items already in the desired state are left
/// out, so writers of different items do not touch each other's versions.
pub(crate) fn changes_needed(
    current: &[OfferingItem],
    desired: &[DesiredOfferingItem],
) -> Vec<OfferingItemPut> {
    let mut rows = Vec::new();
    for wanted in desired {
        let existing = current.iter().find(|item| item.is(&wanted.key));
        let row = |status: i32, quota: Option<Quota>| OfferingItemPut {
            application_id: wanted.key.application_id.clone(),
            name: wanted.key.name.clone(),
            status,
            infra_id: wanted.key.infra_id.clone(),
            quota,
        };
        let Some(item) = existing else {
            // Not offered to this tenant: the platform answers with its own error (1021).
            rows.push(row(i32::from(wanted.enabled), None));
            continue;
        };
        if !wanted.enabled {
            if item.enabled() {
                rows.push(row(0, None));
            }
            continue;
        }
        let quota = wanted.quota.filter(|_| item.item_type != "feature");
        match quota {
            None if !item.enabled() => rows.push(row(1, None)),
            None => {}
            Some(limit) => {
                // Overage without a value means nothing: unlimited is (null, null).
                let overage = limit.value.and(limit.overage);
                let current_quota = item.quota.filter(|_| item.enabled());
                let same =
                    current_quota.is_some_and(|q| q.value == limit.value && q.overage == overage);
                if !same {
                    let version = current_quota.map_or(0, |q| q.version);
                    rows.push(row(
                        1,
                        Some(Quota {
                            value: limit.value,
                            overage,
                            version,
                        }),
                    ));
                }
            }
        }
    }
    rows
}
