//! Sending to SQS FIFO queues in batches of 10, resending what SQS reports as failed: the
//! scheduler's job messages and the planners' apply messages.

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::error::{Classify, error_chain, sdk_error_is_retryable};

/// SQS allows 10 entries per SendMessageBatch.
pub const BATCH_SIZE: usize = 10;
/// Batches in flight at once.
const CONCURRENT_BATCHES: usize = 8;
const SEND_TRIES: u32 = 5;

/// One message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoMessage {
    pub body: String,
    pub group_id: String,
    pub deduplication_id: String,
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("SendMessageBatch to {queue_url} failed")]
    Send {
        queue_url: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot encode a message: {0}")]
    Encode(String),
    #[error("{failed} messages to {queue_url} were still refused after {tries} tries: {reasons}")]
    Refused {
        queue_url: String,
        failed: usize,
        tries: u32,
        reasons: String,
    },
}

impl Classify for QueueError {
    fn is_retryable(&self) -> bool {
        match self {
            QueueError::Send { retryable, .. } => *retryable,
            QueueError::Encode(_) => false,
            QueueError::Refused { .. } => true,
        }
    }
}

/// A FIFO deduplication id from any text: at most 128 characters of the allowed set.
pub fn deduplication_id(plain: &str) -> String {
    let allowed = plain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(c));
    if plain.len() <= 128 && allowed {
        plain.to_string()
    } else {
        format!("{:x}", Sha256::digest(plain.as_bytes()))
    }
}

/// Sends every message, 10 per call and 8 calls in flight. Returns the calls made.
pub async fn send_fifo(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[FifoMessage],
) -> Result<usize, QueueError> {
    let calls: Vec<usize> = stream::iter(messages.chunks(BATCH_SIZE))
        .map(|chunk| send_batch(sqs, queue_url, chunk))
        .buffer_unordered(CONCURRENT_BATCHES)
        .try_collect()
        .await?;
    Ok(calls.iter().sum())
}

/// Sends one batch, resending the entries SQS reports as failed. Returns the calls made.
async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[FifoMessage],
) -> Result<usize, QueueError> {
    let mut pending: Vec<SendMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body)
                .message_group_id(&m.group_id)
                .message_deduplication_id(&m.deduplication_id)
                .build()
                .map_err(|e| QueueError::Encode(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let mut calls = 0;
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=SEND_TRIES {
        calls += 1;
        let result = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(pending.clone()))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(e) if sdk_error_is_retryable(&e) && attempt < SEND_TRIES => {
                tracing::warn!(error = %error_chain(&e), attempt, "SendMessageBatch failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                continue;
            }
            Err(e) => {
                return Err(QueueError::Send {
                    queue_url: queue_url.into(),
                    retryable: sdk_error_is_retryable(&e),
                    source: Box::new(e),
                });
            }
        };
        let failed = output.failed();
        if failed.is_empty() {
            return Ok(calls);
        }
        let permanent = failed.iter().any(|f| f.sender_fault());
        if permanent || attempt == SEND_TRIES {
            return Err(QueueError::Refused {
                queue_url: queue_url.into(),
                failed: failed.len(),
                tries: attempt,
                reasons: failed
                    .iter()
                    .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let retry: std::collections::HashSet<&str> = failed.iter().map(|f| f.id()).collect();
        pending.retain(|e| retry.contains(e.id()));
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Ok(calls)
}
