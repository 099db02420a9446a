//! Fan-out benchmark: the scheduler sends one setup message for each of 10,000 enabled
//! integrations on the local stack. Prints SQS and DynamoDB calls, wall time and peak memory.
//!
//!     scripts/local-stack.sh start && set -a && . .local/stack.env && set +a
//!     cargo run --release -p local-runner --bin bench_fanout [-- INTEGRATIONS]

use std::time::Instant;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{TimeZone, Utc};
use local_runner::{LocalDeployment, peak_memory_kib};
use sync_shared::Job;
use sync_shared::aws::AwsClients;

#[tokio::main]
async fn main() -> Result<()> {
    let integrations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);
    let clients = AwsClients::from_env().await;
    let name = format!("bench-fanout-{}", Utc::now().timestamp());
    let deployment =
        LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;

    let seeding = Instant::now();
    let items: Vec<WriteRequest> = (0..integrations)
        .map(|i| {
            let item = serde_dynamo::to_item(serde_json::json!({
                "pk": format!("INTEGRATION#msp-{i:05}"),
                "sk": "SETTINGS",
                "integration_state": "enabled",
                "autotask_secret_name": format!("acronis-autotask-sync/msp-{i:05}/autotask"),
                "acronis_secret_name": format!("acronis-autotask-sync/msp-{i:05}/acronis"),
            }))?;
            Ok(WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build())
        })
        .collect::<Result<_>>()?;
    for chunk in items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let output = clients
                .dynamodb
                .batch_write_item()
                .request_items(&name, pending)
                .send()
                .await
                .context("BatchWriteItem")?;
            pending = output
                .unprocessed_items()
                .and_then(|u| u.get(&name))
                .cloned()
                .unwrap_or_default();
        }
    }
    println!(
        "seeded {integrations} enabled integrations in {:.2?}",
        seeding.elapsed()
    );

    let memory_before = peak_memory_kib();
    let slot = Utc
        .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .context("time")?;
    let started = Instant::now();
    let summary = deployment.tick(Job::Setup, slot).await?;
    let wall = started.elapsed();

    let queued: usize = clients
        .sqs
        .get_queue_attributes()
        .queue_url(deployment.queue_url(Job::Setup)?)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);

    println!(
        "fan-out of job setup over {} integrations",
        summary.integrations
    );
    println!("  messages sent          {}", summary.messages_sent);
    println!("  messages on the queue  {queued}");
    println!("  SQS SendMessageBatch   {} calls", summary.sqs_calls);
    println!(
        "  DynamoDB Query         {} calls (ByState index pages)",
        summary.dynamodb_calls
    );
    println!("  wall time              {:.2?}", wall);
    println!(
        "  throughput             {:.0} messages/s",
        summary.messages_sent as f64 / wall.as_secs_f64()
    );
    println!(
        "  peak memory (VmHWM)    {} KiB (before fan-out {} KiB)",
        peak_memory_kib().unwrap_or(0),
        memory_before.unwrap_or(0)
    );
    anyhow::ensure!(
        queued == integrations,
        "expected {integrations} messages, found {queued}"
    );
    Ok(())
}
