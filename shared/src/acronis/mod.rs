//! Client of Acronis Cyber Protect Cloud: Account Management v2 (`<dc>/api/2`) and Alert Manager
//! v1 (`<dc>/api/alert_manager/v1`) for one integration's API client.
//!
//! - The data-center URL comes from the integration's secret, so a simulator can stand in.
//! - Tokens (client_credentials) are cached per API client in a [`TokenCache`], renewed before
//!   they expire and once more when a call answers 401.
//! - 5xx and broken connections are retried twice, 1–2 s apart (the platform's advice); 429 backs
//!   off exponentially; every request has a timeout and is counted ([`AcronisClient::requests`]).
//! - Writes guarded by a version re-read the object and re-apply the desired state on a version
//!   mismatch (code 1001), a bounded number of times.

mod alerts;
mod api;
mod client;
mod error;
mod models;
mod tenants;

pub use api::{AlertBatch, OfferingItemsUpdate};
pub use client::{AcronisClient, ClientOptions, RecordedRequest, RequestRecorder, TokenCache};
pub use error::{AcronisError, codes};
pub use models::{
    Alert, AlertTenant, ApiClientInfo, DesiredOfferingItem, OfferingItem, OfferingItemKey, Page,
    Quota, QuotaLimit, Tenant, TenantUsages, Usage,
};
pub use tenants::{COMPANY_ADMIN_ROLE, NewUser, Pricing};

/// The Cyber Protection application, owner of the `pw_*` offering items.
pub const CYBER_PROTECTION_APP_ID: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";

#[cfg(test)]
mod tests;
