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
    BillingCode, Company, Contract, ContractService, ContractServiceUnit, Entity, FieldInformation,
    PicklistValue, Service, ServiceBundle, ThresholdInformation, UserDefinedField,
    UserDefinedFieldDefinition, ZoneInformation, udf_value,
};
pub use error::{AutotaskError, TransportKind};
pub use query::{Filter, MAX_PAGE_SIZE, Paging, Query};
