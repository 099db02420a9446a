//! What an Autotask call can fail with. Texts never quote the username, secret or integration
//! code (F1): they name the endpoint, the HTTP status and Autotask's own error messages only.

use thiserror::Error;

use crate::error::Classify;
use crate::worker::JobError;

#[derive(Debug, Error)]
pub enum AutotaskError {
    /// F2: the database answers from another zone than the one recorded for the integration.
    #[error(
        "the Autotask database moved from zone {recorded} to zone {discovered}; migration is not supported: disable and re-enable the integration"
    )]
    ZoneChanged {
        recorded: String,
        discovered: String,
    },
    /// F3: a regular (non-API) user, or an API user without our tracking identifier.
    #[error(
        "Please create an API user with the integration name \"{integration_name}\" and update current user credentials, according to the Autotask PSA API version 1.6 requirements."
    )]
    ApiUserRequired { integration_name: String },
    #[error("Autotask zone lookup failed: {message}")]
    ZoneLookup { message: String, retryable: bool },
    #[error("Autotask rejected the API user's credentials (HTTP 401) on {endpoint}")]
    Unauthorized { endpoint: String },
    /// Autotask answered with an error status; `messages` are its `errors` (or `Message`) texts.
    #[error("Autotask {endpoint} answered HTTP {status}: {}", messages.join("; "))]
    Api {
        endpoint: String,
        status: u16,
        messages: Vec<String>,
    },
    #[error("Autotask {endpoint}: {kind}")]
    Transport {
        endpoint: String,
        kind: TransportKind,
        #[source]
        source: reqwest::Error,
    },
    #[error("Autotask {endpoint} answered with a body that could not be read: {problem}")]
    Decode { endpoint: String, problem: String },
    /// A label (picklist value, billing code name) that Autotask does not know.
    #[error("Autotask has no {what} labelled \"{label}\" (known: {})", known.join(", "))]
    UnknownLabel {
        what: String,
        label: String,
        known: Vec<String>,
    },
    /// A `nextPageUrl` that points somewhere else than the zone: credentials are not sent there.
    #[error("Autotask returned a next-page URL outside the zone ({url}); paging stopped")]
    ForeignPageUrl { url: String },
    #[error("invalid Autotask client setting: {0}")]
    Setting(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "the request timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Other => "the request failed",
        })
    }
}

/// Thread-limit rejections carry this code and may come with a non-429 status (notes §4).
pub(crate) const THREAD_LIMIT_CODE: &str = "Itgenatr005";

impl AutotaskError {
    /// 429, the thread threshold, gateway faults and timeouts pass; retrying helps.
    pub fn is_throttle_or_transient(&self) -> bool {
        match self {
            AutotaskError::Api {
                status, messages, ..
            } => {
                *status == 429
                    || matches!(status, 502..=504)
                    || messages.iter().any(|m| m.contains(THREAD_LIMIT_CODE))
            }
            AutotaskError::Transport { .. } => true,
            AutotaskError::ZoneLookup { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The request was refused before Autotask did anything: safe to resend even a create.
    pub(crate) fn was_not_processed(&self) -> bool {
        match self {
            AutotaskError::Api {
                status, messages, ..
            } => *status == 429 || messages.iter().any(|m| m.contains(THREAD_LIMIT_CODE)),
            AutotaskError::Transport {
                kind: TransportKind::Connect,
                ..
            } => true,
            _ => false,
        }
    }
}

impl Classify for AutotaskError {
    /// Autotask reports validation errors as HTTP 500, so a plain 500 is permanent unless it
    /// is the thread threshold; the job's own retry (SQS) covers the rare real server fault.
    fn is_retryable(&self) -> bool {
        self.is_throttle_or_transient()
    }
}

impl From<AutotaskError> for JobError {
    fn from(err: AutotaskError) -> Self {
        JobError::Remote {
            message: err.to_string(),
            retryable: err.is_retryable(),
            source: Some(Box::new(err)),
        }
    }
}
