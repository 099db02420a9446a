//! Error types per layer. Every error says whether retrying can help ([`Classify`]): retryable
//! errors go back to SQS (and finally the DLQ), permanent ones end in the integration's status.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use thiserror::Error;

/// Whether an error is worth retrying.
pub trait Classify {
    fn is_retryable(&self) -> bool;
}

/// A configuration item that cannot be used. Always permanent: retrying reads the same item.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    #[error("item {pk} / {sk}: field `{field}`: {problem}")]
    InvalidField {
        pk: String,
        sk: String,
        field: String,
        problem: String,
    },
    #[error("item {pk} / {sk} is missing")]
    MissingItem { pk: String, sk: String },
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several { errors: Vec<ConfigError> },
    #[error("item {pk} / {sk}: {problem}")]
    InvalidItem {
        pk: String,
        sk: String,
        problem: String,
    },
}

impl ConfigError {
    pub fn field(
        pk: impl Into<String>,
        sk: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError::InvalidField {
            pk: pk.into(),
            sk: sk.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Classify for ConfigError {
    fn is_retryable(&self) -> bool {
        false
    }
}

/// A secret that cannot be read or used. Messages never carry secret values.
#[derive(Debug, Error)]
pub enum SecretError {
    #[error("secret `{name}` does not exist in Secrets Manager")]
    Missing { name: String },
    #[error(
        "secret `{name}` cannot be read: access denied (the functions may read only secrets under `{prefix}`)"
    )]
    AccessDenied { name: String, prefix: String },
    #[error("secret `{name}` is malformed: {problem}")]
    Malformed { name: String, problem: String },
    #[error("secret `{name}` could not be fetched")]
    Unavailable {
        name: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Classify for SecretError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            SecretError::Unavailable {
                retryable: true,
                ..
            }
        )
    }
}

/// A DynamoDB or SQS call that failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{operation} failed")]
    Aws {
        operation: &'static str,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("item {pk} / {sk} could not be decoded: {problem}")]
    Decode {
        pk: String,
        sk: String,
        problem: String,
    },
    #[error("{operation}: {message}")]
    Conflict {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    /// Wraps an AWS SDK error, classifying throttling, timeouts and 5xx as retryable.
    pub fn aws<E, R>(operation: &'static str, err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let retryable = sdk_error_is_retryable(&err);
        StoreError::Aws {
            operation,
            retryable,
            source: Box::new(err),
        }
    }
}

/// Throttling, timeouts, dispatch failures and server-side faults are worth retrying; a rejected
/// request (validation, access denied, missing resource) is not.
pub fn sdk_error_is_retryable<E: ProvideErrorMetadata, R>(
    err: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "InternalFailure"
                    | "InternalServiceError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "KMSThrottlingException"
                    | "AWS.SimpleQueueService.RequestThrottled"
                    | "RequestThrottled"
            )
        ),
        _ => false,
    }
}

impl Classify for StoreError {
    fn is_retryable(&self) -> bool {
        match self {
            StoreError::Aws { retryable, .. } => *retryable,
            StoreError::Decode { .. } => false,
            StoreError::Conflict { .. } => true,
        }
    }
}

/// Renders an error with its chain of sources, for statuses and logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// What a job's own code can fail with: every service it talks to, each error keeping its
/// source and its classification. The worker runtime turns it into a [`crate::worker::JobError`].
#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Autotask(#[from] crate::autotask::AutotaskError),
    #[error(transparent)]
    Acronis(#[from] crate::acronis::AcronisError),
    #[error("sending apply messages failed")]
    Queue(#[from] crate::queue::QueueError),
    /// A record kept changing under us (two workers of one target); retrying settles it.
    #[error("{0}")]
    Conflict(String),
}

impl Classify for SyncError {
    fn is_retryable(&self) -> bool {
        match self {
            SyncError::Config(e) => e.is_retryable(),
            SyncError::Secret(e) => e.is_retryable(),
            SyncError::Store(e) => e.is_retryable(),
            SyncError::Autotask(e) => e.is_retryable(),
            SyncError::Acronis(e) => e.is_retryable(),
            SyncError::Queue(e) => e.is_retryable(),
            SyncError::Conflict(_) => true,
        }
    }
}

impl From<SyncError> for crate::worker::JobError {
    fn from(error: SyncError) -> Self {
        use crate::worker::JobError;
        match error {
            SyncError::Config(e) => JobError::Config(e),
            SyncError::Secret(e) => JobError::Secret(e),
            SyncError::Store(e) => JobError::Store(e),
            SyncError::Autotask(e) => e.into(),
            SyncError::Acronis(e) => e.into(),
            other => JobError::Remote {
                message: other.to_string(),
                retryable: other.is_retryable(),
                source: Some(Box::new(other)),
            },
        }
    }
}
