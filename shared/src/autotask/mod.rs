//! The Autotask PSA REST client (ATServicesRest V1.0; behaviour per
//! `shared/reference/autotask-api-notes.md`).
//!
//! - [`AutotaskClient::connect`] finds the zone (F2) — the recorded one when there is one,
//!   re-discovered on a 401 — and refuses a zone that differs from the recorded one.
//! - Queries page with `nextPageUrl` (POSTed with the original body) or by `id gt <last>`.
//! - Every call retries 429, the thread threshold, gateway faults and timeouts with jittered
//!   backoff (honouring `Retry-After`), runs at most 3 at a time per endpoint (G5), and counts
//!   against the integration's request budget, which slows background jobs when
//!   `ThresholdInformation` shows more than a set share of the hourly limit used.

mod client;
mod entities;
mod error;
mod query;

pub use client::{
    AutotaskClient, ClientOptions, OFFICIAL_ZONE_LOOKUP_ROOT, Page, SentRequest,
    ZONE_LOOKUP_URL_ENV, set_process_zone_lookup_url, zone_lookup_root,
};
pub use entities::{
    BillingCode, Company, Contact, Contract, ContractService, ContractServiceBundleUnit,
    ContractServiceUnit, Entity, FieldInformation, PicklistValue, Service, ServiceBundle,
    ThresholdInformation, Ticket, TicketNote, UserDefinedField, UserDefinedFieldDefinition,
    ZoneInformation, udf_value,
};
pub use error::{AutotaskError, TransportKind};
pub use query::{Filter, MAX_PAGE_SIZE, Paging, Query};

/// The item that records the Autotask zone of an integration (F2). Deleting it lets the next
/// setup run accept the zone Autotask reports now.
pub const ZONE_SK: &str = "ZONE";
pub const ZONE_URL_ATTR: &str = "zone_url";
/// The contract UDF that marks pay-as-you-go contracts (F4, F18); its values are "Yes" / "No".
pub const PAYG_UDF_NAME: &str = "Acronis PAYG";

/// The zone recorded by setup for the integration, if any.
pub async fn recorded_zone(
    store: &crate::store::Store,
    integration_id: &str,
) -> Result<Option<String>, crate::StoreError> {
    let item = store
        .get_item(&crate::config::integration_pk(integration_id), ZONE_SK)
        .await?;
    Ok(item
        .as_ref()
        .and_then(|i| i.get(ZONE_URL_ATTR))
        .and_then(|v| v.as_s().ok())
        .filter(|s| !s.is_empty())
        .cloned())
}
