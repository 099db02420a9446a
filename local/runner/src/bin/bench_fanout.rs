//! Fan-out benchmark: the scheduler sends one setup message for each of 10,000 enabled
//! integrations on the local stack. Prints SQS and DynamoDB calls, wall time and peak memory.
//!
//! A consumer drains the queue while the scheduler fills it, as the workers do in AWS. That also
//! keeps moto usable: it recomputes the queue's attributes over every queued message on each
//! send, so a FIFO queue holding 10,000 messages makes each send take seconds.
//!
//!     scripts/local-stack.sh start && set -a && . .local/stack.env && set +a
//!     cargo run --release -p local-runner --bin bench_fanout [-- INTEGRATIONS]

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use chrono::{TimeZone, Utc};
use local_runner::{LocalDeployment, peak_memory_kib};
use sync_shared::aws::AwsClients;
use sync_shared::{Job, JobMessage};

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
    let queue_url = deployment.queue_url(Job::Setup)?.to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            tokio::spawn(consume(
                clients.sqs.clone(),
                queue_url.clone(),
                integrations,
                seen.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let summary = deployment.tick(Job::Setup, slot).await?;
    let wall = started.elapsed();
    let mut consumer_calls = 0;
    for consumer in consumers {
        consumer_calls += consumer.await??;
    }
    let delivered = seen.lock().map(|s| s.len()).unwrap_or(0);

    println!(
        "fan-out of job setup over {} integrations",
        summary.integrations
    );
    println!("  messages sent          {}", summary.messages_sent);
    println!("  SQS SendMessageBatch   {} calls", summary.sqs_calls);
    println!(
        "  DynamoDB Query         {} calls (ByState index pages)",
        summary.dynamodb_calls
    );
    println!("  wall time              {wall:.2?}");
    println!(
        "  throughput             {:.0} messages/s",
        summary.messages_sent as f64 / wall.as_secs_f64()
    );
    println!(
        "  peak memory (VmHWM)    {} KiB (before fan-out {} KiB)",
        peak_memory_kib().unwrap_or(0),
        memory_before.unwrap_or(0)
    );
    println!(
        "  consumer               {delivered} distinct integrations received ({consumer_calls} receive/delete calls, not counted above)"
    );
    anyhow::ensure!(
        delivered == integrations,
        "expected {integrations} messages, got {delivered}"
    );
    Ok(())
}

/// Receivers working the queue at once, as Lambda's pollers do.
const CONSUMERS: usize = 12;

type Seen = std::sync::Arc<std::sync::Mutex<HashSet<String>>>;

fn seen_count(seen: &Seen) -> usize {
    seen.lock().map(|s| s.len()).unwrap_or(0)
}

/// Receives and deletes until every integration's message arrived, as the worker's event-source
/// mapping would. Returns the calls made.
async fn consume(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    expected: usize,
    seen: Seen,
) -> Result<usize> {
    let mut calls = 0;
    let mut idle_polls = 0;
    while seen_count(&seen) < expected && idle_polls < 30 {
        let output = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .context("ReceiveMessage")?;
        calls += 1;
        let messages = output.messages();
        if messages.is_empty() {
            idle_polls += 1;
            continue;
        }
        idle_polls = 0;
        let mut delete = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            let job: JobMessage =
                serde_json::from_str(message.body().unwrap_or_default()).context("message body")?;
            if let Ok(mut seen) = seen.lock() {
                seen.insert(job.integration_id);
            }
            delete.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()?,
            );
        }
        sqs.delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(delete))
            .send()
            .await
            .context("DeleteMessageBatch")?;
        calls += 1;
    }
    Ok(calls)
}
