//! The local pipeline: creates the table and queues on the local stack, loads configuration
//! items and secrets, invokes the scheduler as EventBridge would, then plays Lambda's SQS
//! event-source mapping (receive, invoke the handler in-process, delete or leave per the batch
//! response) until the queues are empty.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use scheduler::{FanOutSummary, JobQueues, ScheduleInput, Scheduler};
use serde::Deserialize;
use sync_shared::Job;
use sync_shared::aws::AwsClients;
use sync_shared::config::Item;
use sync_shared::store::{Store, schema};
use sync_shared::worker::WorkerContext;

/// The queues' `maxReceiveCount`, as in `template.yaml`.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// A deployment on the local stack: one table, one FIFO queue (with its FIFO DLQ) per job.
pub struct LocalDeployment {
    pub clients: AwsClients,
    pub store: Store,
    pub queues: JobQueues,
    pub dead_letter_queues: HashMap<Job, String>,
    /// Apply queues (and their DLQs) of the jobs that plan and apply.
    pub apply_queues: HashMap<Job, String>,
    pub apply_dead_letter_queues: HashMap<Job, String>,
    pub worker: WorkerContext,
    pub provisioning: provisioning::ProvisioningContext,
}

/// What one drain of a queue did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainSummary {
    pub invocations: usize,
    pub messages_received: usize,
    pub messages_deleted: usize,
    pub messages_failed: usize,
}

impl LocalDeployment {
    /// Creates the table and queues named after `name` (tests pass a unique name each).
    pub async fn create(clients: AwsClients, name: &str, secrets_prefix: &str) -> Result<Self> {
        create_table(&clients.dynamodb, name).await?;
        let mut queues = HashMap::new();
        let mut dead_letter_queues = HashMap::new();
        let mut apply_queues = HashMap::new();
        let mut apply_dead_letter_queues = HashMap::new();
        for job in Job::ALL {
            let (queue, dlq) = create_job_queue(&clients.sqs, &format!("{name}-{job}")).await?;
            queues.insert(job, queue);
            dead_letter_queues.insert(job, dlq);
            if job.apply_queue_url_env().is_some() {
                let (queue, dlq) =
                    create_job_queue(&clients.sqs, &format!("{name}-{job}-apply")).await?;
                apply_queues.insert(job, queue);
                apply_dead_letter_queues.insert(job, dlq);
            }
        }
        let store = Store::new(clients.dynamodb.clone(), name);
        let worker = WorkerContext {
            store: store.clone(),
            secrets: std::sync::Arc::new(sync_shared::secrets::SecretsCache::new(
                clients.secrets.clone(),
                Duration::from_secs(300),
                secrets_prefix,
            )),
            max_receives: MAX_RECEIVE_COUNT,
            lease: Duration::from_secs(60),
        };
        let provisioning = provisioning::ProvisioningContext {
            worker: worker.clone(),
            sqs: clients.sqs.clone(),
            apply_queue_url: apply_queues
                .get(&Job::Provisioning)
                .cloned()
                .context("no provisioning apply queue")?,
            acronis_options: sync_shared::acronis::ClientOptions::fast(),
            fast_autotask_retries: true,
        };
        Ok(LocalDeployment {
            clients,
            store,
            queues: JobQueues(queues),
            dead_letter_queues,
            apply_queues,
            apply_dead_letter_queues,
            worker,
            provisioning,
        })
    }

    pub fn scheduler(&self) -> Scheduler {
        Scheduler {
            store: self.store.clone(),
            sqs: self.clients.sqs.clone(),
            queues: self.queues.clone(),
        }
    }

    /// Plays one EventBridge Scheduler tick for `job`.
    pub async fn tick(&self, job: Job, scheduled_time: DateTime<Utc>) -> Result<FanOutSummary> {
        self.scheduler()
            .fan_out(&ScheduleInput {
                job,
                scheduled_time,
            })
            .await
            .map_err(|e| anyhow::anyhow!(sync_shared::error::error_chain(&e)))
    }

    /// Writes configuration items from a JSON file holding one item or an array of items.
    pub async fn load_items_file(&self, path: &Path) -> Result<usize> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let items = match value {
            serde_json::Value::Array(items) => items,
            item => vec![item],
        };
        let count = items.len();
        for item in items {
            self.put_json_item(item).await?;
        }
        Ok(count)
    }

    pub async fn put_json_item(&self, item: serde_json::Value) -> Result<()> {
        let item: Item = serde_dynamo::to_item(item).context("converting a JSON item")?;
        self.store
            .put_item(item)
            .await
            .map_err(|e| anyhow::anyhow!(sync_shared::error::error_chain(&e)))
    }

    /// Receives one batch from `job`'s queue, as the event-source mapping does.
    pub async fn receive_batch(&self, job: Job) -> Result<Vec<SqsMessage>> {
        let queue = self.queue_url(job)?;
        let output = self
            .clients
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .context("ReceiveMessage")?;
        Ok(output.messages().iter().map(to_event_message).collect())
    }

    /// Deletes the messages the handler did not report as failed; makes the failed ones visible
    /// again at once (Lambda would wait for the visibility timeout).
    pub async fn settle_batch(
        &self,
        job: Job,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) -> Result<(usize, usize)> {
        let queue = self.queue_url(job)?;
        let failed: std::collections::HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let (mut deleted, mut retried) = (0, 0);
        for message in batch {
            let id = message.message_id.as_deref().unwrap_or_default();
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            if failed.contains(id) {
                self.clients
                    .sqs
                    .change_message_visibility()
                    .queue_url(queue)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .context("ChangeMessageVisibility")?;
                retried += 1;
            } else {
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .context("DeleteMessage")?;
                deleted += 1;
            }
        }
        Ok((deleted, retried))
    }

    /// Runs `job`'s worker until its queue is empty (or `max_invocations` is reached).
    pub async fn drain(&self, job: Job, max_invocations: usize) -> Result<DrainSummary> {
        let mut summary = DrainSummary::default();
        while summary.invocations < max_invocations {
            let batch = self.receive_batch(job).await?;
            if batch.is_empty() {
                return Ok(summary);
            }
            let response = self.invoke(job, batch.clone()).await;
            let (deleted, failed) = self.settle_batch(job, &batch, &response).await?;
            summary.invocations += 1;
            summary.messages_received += batch.len();
            summary.messages_deleted += deleted;
            summary.messages_failed += failed;
        }
        bail!("{job} queue still had messages after {max_invocations} invocations")
    }

    /// Invokes `job`'s handler in-process with an SQS event.
    pub async fn invoke(&self, job: Job, records: Vec<SqsMessage>) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = records;
        match job {
            Job::Setup => setup::handle(&self.worker, event).await,
            Job::Provisioning => provisioning::handle_plan(&self.provisioning, event).await,
        }
    }

    /// Invokes `job`'s applier in-process with an SQS event from its apply queue.
    pub async fn invoke_apply(&self, job: Job, records: Vec<SqsMessage>) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = records;
        match job {
            Job::Setup => SqsBatchResponse::default(),
            Job::Provisioning => provisioning::handle_apply(&self.provisioning, event).await,
        }
    }

    pub fn queue_url(&self, job: Job) -> Result<&str> {
        self.queues
            .0
            .get(&job)
            .map(String::as_str)
            .with_context(|| format!("no queue for job {job}"))
    }

    /// Messages waiting in `job`'s dead-letter queue.
    pub async fn dead_letters(&self, job: Job) -> Result<usize> {
        let dlq = self
            .dead_letter_queues
            .get(&job)
            .with_context(|| format!("no DLQ for job {job}"))?;
        let output = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(dlq)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .context("GetQueueAttributes")?;
        Ok(output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

fn to_event_message(message: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut event = SqsMessage::default();
    event.message_id = message.message_id().map(str::to_string);
    event.receipt_handle = message.receipt_handle().map(str::to_string);
    event.body = message.body().map(str::to_string);
    event.attributes = message
        .attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    event.event_source = Some("aws:sqs".into());
    event
}

/// The table as `template.yaml` declares it.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let key = |attr: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
    };
    let string_attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let index = |index: &str,
                 partition: &str,
                 projection: ProjectionType|
     -> Result<GlobalSecondaryIndex> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(partition, KeyType::Hash)?)
            .key_schema(key(schema::PK, KeyType::Range)?)
            .projection(Projection::builder().projection_type(projection).build())
            .build()?)
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(schema::PK, KeyType::Hash)?)
        .key_schema(key(schema::SK, KeyType::Range)?)
        .attribute_definitions(string_attr(schema::PK)?)
        .attribute_definitions(string_attr(schema::SK)?)
        .attribute_definitions(string_attr(schema::STATE_ATTR)?)
        .attribute_definitions(string_attr(schema::TENANT_ATTR)?)
        .global_secondary_indexes(index(
            schema::BY_STATE_INDEX,
            schema::STATE_ATTR,
            ProjectionType::KeysOnly,
        )?)
        .global_secondary_indexes(index(
            schema::BY_TENANT_INDEX,
            schema::TENANT_ATTR,
            ProjectionType::All,
        )?)
        .send()
        .await
        .with_context(|| format!("CreateTable {name}"))?;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(60))
        .await
        .with_context(|| format!("waiting for table {name}"))?;
    Ok(())
}

/// A FIFO queue with its FIFO dead-letter queue, as in `template.yaml`.
async fn create_job_queue(client: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .with_context(|| format!("CreateQueue {name}-dlq.fifo"))?;
    let dlq_url = dlq.queue_url().context("DLQ without URL")?.to_string();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes QueueArn")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("DLQ without ARN")?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    });
    let queue = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .with_context(|| format!("CreateQueue {name}.fifo"))?;
    Ok((
        queue.queue_url().context("queue without URL")?.to_string(),
        dlq_url,
    ))
}

/// An example secret: its name and its JSON value.
#[derive(Debug, Deserialize)]
pub struct ExampleSecret {
    pub name: String,
    pub value: serde_json::Value,
}

/// Creates (or overwrites) secrets from a JSON file `[{"name": …, "value": {…}}]`.
pub async fn load_secrets_file(
    client: &aws_sdk_secretsmanager::Client,
    path: &Path,
) -> Result<usize> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secrets: Vec<ExampleSecret> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for secret in &secrets {
        put_secret(client, &secret.name, &secret.value.to_string()).await?;
    }
    Ok(secrets.len())
}

pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|e| e.is_resource_exists_exception());
        if !exists {
            return Err(anyhow::anyhow!(sync_shared::error::error_chain(&e)))
                .context(format!("CreateSecret {name}"));
        }
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .with_context(|| format!("PutSecretValue {name}"))?;
    }
    Ok(())
}

/// The process's peak resident memory (VmHWM), for benchmarks.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
