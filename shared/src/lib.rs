//! Everything the Lambda functions share: configuration items and their validation, the DynamoDB
//! store (status, runs), secrets, the job messages and the SQS FIFO worker runtime.

pub mod acronis;
pub mod apply;
pub mod autotask;
pub mod aws;
pub mod config;
pub mod error;
pub mod http;
pub mod job;
pub mod lambda;
pub mod plan;
pub mod queue;
pub mod reconcile;
pub mod remote;
pub mod secrets;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod worker;

pub use error::{Classify, ConfigError, SecretError, StoreError};
pub use job::{Job, JobMessage};
