//! The start of every function's `main`, before it builds its clients and asks for its first
//! event.

use aws_config::SdkConfig;

/// Gives the AWS SDK its partition table ([`crate::aws::use_commercial_partition_table`]: first,
/// as it sets an environment variable while the process still has one thread), starts the JSON
/// logs and loads the SDK configuration from the environment ([`crate::aws::sdk_config`]).
pub async fn start() -> SdkConfig {
    crate::aws::use_commercial_partition_table();
    crate::telemetry::init();
    crate::aws::sdk_config().await
}
