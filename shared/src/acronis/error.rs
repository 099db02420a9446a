//! What talking to Acronis can fail with. No variant carries a secret: requests are named by
//! method and path (never the query or the Authorization header) and the token endpoint's error
//! text is the platform's own description.

use thiserror::Error;

use crate::error::Classify;
use crate::worker::JobError;

/// Account Management platform error codes the client reacts to (developer docs, error-codes page).
pub mod codes {
    pub const VERSION_MISMATCH: i64 = 1001;
    pub const DELETE_ENABLED_TENANT: i64 = 1006;
}

#[derive(Debug, Error)]
pub enum AcronisError {
    /// The token endpoint refused the API client: wrong client id or secret, or a disabled client.
    #[error(
        "Acronis rejected the API client of secret `{secret}` (HTTP {status}: {description}); check its client_id and client_secret"
    )]
    Credentials {
        secret: String,
        status: u16,
        description: String,
    },
    /// A fresh token was refused too: the client lost access between two calls.
    #[error("Acronis {method} {path} refused a freshly issued token (HTTP 401)")]
    Unauthorized { method: String, path: String },
    #[error(
        "Acronis data center {datacenter_url} is unreachable; check `datacenter_url` in secret `{secret}`"
    )]
    Unreachable {
        datacenter_url: String,
        secret: String,
        #[source]
        source: reqwest::Error,
    },
    /// The connection broke off in some other way (reset, bad framing).
    #[error("Acronis {method} {path}: the request failed in transit")]
    Transport {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Acronis {method} {path} timed out")]
    Timeout {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// An Account Management `errorScheme` body (`{"error": {code, message, …}}`) or an Alert
    /// Manager error (`{domain, code, reason}`).
    #[error("Acronis {method} {path} failed with HTTP {status}, platform error {code}: {message}")]
    Platform {
        method: String,
        path: String,
        status: u16,
        /// A platform code such as 1006, or the HTTP status, or an Alert Manager code.
        code: String,
        message: String,
    },
    /// An error status without a readable error body.
    #[error("Acronis {method} {path} failed with HTTP {status}")]
    Http {
        method: String,
        path: String,
        status: u16,
    },
    #[error("Acronis {method} {path} was still rate limited (HTTP 429) after {attempts} attempts")]
    RateLimited {
        method: String,
        path: String,
        attempts: u32,
    },
    #[error("{what}: the version changed under us {attempts} times in a row (concurrent writers)")]
    VersionConflict { what: String, attempts: u32 },
    #[error("Acronis {method} {path} answered with an unexpected body")]
    Decode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("secret `{secret}` holds an invalid datacenter_url `{datacenter_url}`")]
    InvalidUrl {
        secret: String,
        datacenter_url: String,
    },
}

impl AcronisError {
    /// The platform error code (e.g. 1006 for deleting an enabled tenant), when there is one.
    pub fn platform_code(&self) -> Option<i64> {
        match self {
            AcronisError::Platform { code, .. } => code.parse().ok(),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            AcronisError::Platform { status, .. }
            | AcronisError::Http { status, .. }
            | AcronisError::Credentials { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_version_mismatch(&self) -> bool {
        self.platform_code() == Some(codes::VERSION_MISMATCH)
    }
}

/// Server-side trouble (5xx), throttling, timeouts, an unreachable data center and lost races
/// can pass; a refused request, bad credentials or a body we cannot read will not.
impl Classify for AcronisError {
    fn is_retryable(&self) -> bool {
        match self {
            AcronisError::Unreachable { .. }
            | AcronisError::Transport { .. }
            | AcronisError::Timeout { .. }
            | AcronisError::RateLimited { .. }
            | AcronisError::VersionConflict { .. } => true,
            AcronisError::Platform { status, .. } | AcronisError::Http { status, .. } => {
                *status >= 500 || *status == 429
            }
            AcronisError::Credentials { .. }
            | AcronisError::Unauthorized { .. }
            | AcronisError::Decode { .. }
            | AcronisError::InvalidUrl { .. } => false,
        }
    }
}

impl From<AcronisError> for JobError {
    fn from(error: AcronisError) -> JobError {
        JobError::Remote {
            message: error.to_string(),
            retryable: error.is_retryable(),
            source: Some(Box::new(error)),
        }
    }
}
