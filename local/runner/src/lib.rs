//! The local pipeline: creates the table and queues on the local stack, loads configuration
//! items and secrets, invokes the scheduler as EventBridge would, then plays Lambda's SQS
//! event-source mapping (receive, invoke the handler in-process, delete or leave per the batch
//! response) until the queues are empty.
//!
//! `run_cli` is `local-run`: the local runner's contract (see the README, "The local runner").

pub mod bench;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use scheduler::{FanOutSummary, JobQueues, ScheduleInput, Scheduler};
use serde::Deserialize;
use sync_shared::Job;
use sync_shared::aws::AwsClients;
use sync_shared::config::{Item, SETTINGS_SK, integration_id_from_pk};
use sync_shared::status::IntegrationStatus;
use sync_shared::store::{Store, schema};
use sync_shared::worker::WorkerContext;

/// The queues' `maxReceiveCount`, as in `template.yaml`.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// The apply functions' `ScalingConfig.MaximumConcurrency` in `template.yaml`: how many
/// batches of an apply queue Lambda handles at once, so how many pollers `drain_apply` runs.
pub const APPLY_MAX_CONCURRENCY: usize = 10;

/// The secrets prefix the local deployment reads under (the template's default).
pub const SECRETS_PREFIX: &str = "acronis-autotask-sync/";

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
    pub tickets: tickets::TicketsContext,
    pub usage: usage::UsageContext,
    /// What `create` or `open_or_create` created (the table's and queues' names); empty when
    /// everything was there already.
    pub created: Vec<String>,
}

/// How often an idle apply poller looks at the apply queue again while the planner still runs
/// (Lambda's pollers long-poll; moto answers a long poll only when it times out).
const PLANNING_POLL: Duration = Duration::from_millis(50);

/// What `drain_planned` did: the planner's drain, how long it took from the start, and the
/// applier's drain (`None` for a job without apply queue).
#[derive(Debug, Clone)]
pub struct PlannedDrain {
    pub planner: DrainSummary,
    pub planner_time: Duration,
    pub apply: Option<DrainSummary>,
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
    /// Creates the table and queues named after `name` (tests pass a unique name each); fails
    /// when one of them exists.
    pub async fn create(clients: AwsClients, name: &str, secrets_prefix: &str) -> Result<Self> {
        Self::build(clients, name, secrets_prefix, false).await
    }

    /// The deployment named `name`: the table `name` and the queues `name-<job>.fifo` and
    /// `name-<job>-apply.fifo` (each with its `-dlq.fifo`). What exists is reused with all its
    /// state (DescribeTable, GetQueueUrl); what is missing is created.
    pub async fn open_or_create(
        clients: AwsClients,
        name: &str,
        secrets_prefix: &str,
    ) -> Result<Self> {
        Self::build(clients, name, secrets_prefix, true).await
    }

    async fn build(
        clients: AwsClients,
        name: &str,
        secrets_prefix: &str,
        reuse: bool,
    ) -> Result<Self> {
        validate_deployment_name(name)?;
        let mut created = Vec::new();
        if !reuse || !table_exists(&clients.dynamodb, name).await? {
            create_table(&clients.dynamodb, name).await?;
            created.push(name.to_string());
        }
        let mut queues = HashMap::new();
        let mut dead_letter_queues = HashMap::new();
        let mut apply_queues = HashMap::new();
        let mut apply_dead_letter_queues = HashMap::new();
        for job in Job::ALL {
            let (queue, dlq) =
                job_queue(&clients.sqs, &format!("{name}-{job}"), reuse, &mut created).await?;
            queues.insert(job, queue);
            dead_letter_queues.insert(job, dlq);
            if job.apply_queue_url_env().is_some() {
                let (queue, dlq) = job_queue(
                    &clients.sqs,
                    &format!("{name}-{job}-apply"),
                    reuse,
                    &mut created,
                )
                .await?;
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
            clients: sync_shared::remote::ClientSetup::fast(),
        };
        let tickets = tickets::TicketsContext {
            worker: worker.clone(),
            clients: sync_shared::remote::ClientSetup::fast(),
            alert_page_size: tickets::ALERT_PAGE,
        };
        let usage = usage::UsageContext {
            worker: worker.clone(),
            sqs: clients.sqs.clone(),
            apply_queue_url: apply_queues
                .get(&Job::Usage)
                .cloned()
                .context("no usage apply queue")?,
            clients: sync_shared::remote::ClientSetup::fast(),
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
            tickets,
            usage,
            created,
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
        self.receive_from(self.queue_url(job)?).await
    }

    /// Receives one batch from `job`'s apply queue.
    pub async fn receive_apply_batch(&self, job: Job) -> Result<Vec<SqsMessage>> {
        self.receive_from(self.apply_queue_url(job)?).await
    }

    async fn receive_from(&self, queue: &str) -> Result<Vec<SqsMessage>> {
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
        self.settle_on(self.queue_url(job)?, batch, response).await
    }

    /// `settle_batch` for a batch from `job`'s apply queue.
    pub async fn settle_apply_batch(
        &self,
        job: Job,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) -> Result<(usize, usize)> {
        self.settle_on(self.apply_queue_url(job)?, batch, response)
            .await
    }

    async fn settle_on(
        &self,
        queue: &str,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) -> Result<(usize, usize)> {
        let failed: std::collections::HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // One batch call each way (at most 10 entries, the receive's limit), as the event-source
        // mapping settles a batch.
        let mut to_delete = Vec::new();
        let mut to_retry = Vec::new();
        for (n, message) in batch.iter().enumerate() {
            let id = message.message_id.as_deref().unwrap_or_default();
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            if failed.contains(id) {
                to_retry.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .build()
                        .context("ChangeMessageVisibilityBatch entry")?,
                );
            } else {
                to_delete.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .context("DeleteMessageBatch entry")?,
                );
            }
        }
        let (deleted, retried) = (to_delete.len(), to_retry.len());
        if !to_retry.is_empty() {
            let output = self
                .clients
                .sqs
                .change_message_visibility_batch()
                .queue_url(queue)
                .set_entries(Some(to_retry))
                .send()
                .await
                .context("ChangeMessageVisibilityBatch")?;
            if let Some(failure) = output.failed().first() {
                bail!("ChangeMessageVisibilityBatch refused an entry: {failure:?}");
            }
        }
        if !to_delete.is_empty() {
            let output = self
                .clients
                .sqs
                .delete_message_batch()
                .queue_url(queue)
                .set_entries(Some(to_delete))
                .send()
                .await
                .context("DeleteMessageBatch")?;
            if let Some(failure) = output.failed().first() {
                bail!("DeleteMessageBatch refused an entry: {failure:?}");
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

    /// Runs `job`'s applier until its apply queue is empty (or `max_invocations` is reached),
    /// with `concurrency` pollers, as Lambda runs up to the event-source mapping's
    /// `MaximumConcurrency` batches at once. A poller that finds the queue empty waits while
    /// another is still handling a batch (whose failed messages become visible again), and
    /// stops once every poller is idle and the queue is empty. Messages are settled as `drain`
    /// settles them. A job without an apply queue has nothing to drain.
    ///
    /// The pollers take turns at the queue itself (receive, settle) while their handlers run side
    /// by side: moto's ReceiveMessage is not thread-safe (two receives moving the same message to
    /// the DLQ fail with a 500 after hiding other messages for the visibility timeout).
    pub async fn drain_apply(
        &self,
        job: Job,
        concurrency: usize,
        max_invocations: usize,
    ) -> Result<DrainSummary> {
        let planning = std::sync::atomic::AtomicBool::new(false);
        self.drain_apply_while(
            job,
            concurrency,
            max_invocations,
            &planning,
            &tokio::sync::Notify::new(),
        )
        .await
    }

    /// Runs `job`'s planner and its applier at the same time, as Lambda does: the apply
    /// event-source mapping polls while the planner is still sending, so the first customers are
    /// applied before the last are planned and the apply queue never holds the whole plan. The
    /// appliers stop once the planner's queue is drained and the apply queue is empty.
    pub async fn drain_planned(
        &self,
        job: Job,
        max_invocations: usize,
        apply_concurrency: usize,
        max_apply_invocations: usize,
    ) -> Result<PlannedDrain> {
        let started = std::time::Instant::now();
        if !self.apply_queues.contains_key(&job) {
            let planner = self.drain(job, max_invocations).await?;
            return Ok(PlannedDrain {
                planner,
                planner_time: started.elapsed(),
                apply: None,
            });
        }
        let planning = std::sync::atomic::AtomicBool::new(true);
        let planner_stopped = tokio::sync::Notify::new();
        // Boxed: the handlers' futures are large, and two side by side overflow a test thread's stack.
        let planner = Box::pin(async {
            let drained = self.drain(job, max_invocations).await;
            let elapsed = started.elapsed();
            planning.store(false, Ordering::SeqCst);
            planner_stopped.notify_waiters();
            (drained, elapsed)
        });
        let applier = Box::pin(self.drain_apply_while(
            job,
            apply_concurrency,
            max_apply_invocations,
            &planning,
            &planner_stopped,
        ));
        let ((planner, planner_time), apply) = futures::join!(planner, applier);
        Ok(PlannedDrain {
            planner: planner?,
            planner_time,
            apply: Some(apply?),
        })
    }

    /// `drain_apply`, not stopping at an empty apply queue while `planning` is set (the planner
    /// may still send); `planner_stopped` is notified when it is cleared.
    async fn drain_apply_while(
        &self,
        job: Job,
        concurrency: usize,
        max_invocations: usize,
        planning: &std::sync::atomic::AtomicBool,
        planner_stopped: &tokio::sync::Notify,
    ) -> Result<DrainSummary> {
        if !self.apply_queues.contains_key(&job) {
            return Ok(DrainSummary::default());
        }
        // Pollers between a receive and its batch's settlement: the queue is empty for good
        // when a receive finds nothing and no other poller holds a batch.
        let in_flight = AtomicUsize::new(0);
        let invocations = AtomicUsize::new(0);
        let capped = std::sync::atomic::AtomicBool::new(false);
        // Woken when a batch is settled (its failed messages are visible again) or a poller stops.
        let changed = tokio::sync::Notify::new();
        let queue_turn = tokio::sync::Mutex::new(());
        // While the planner runs and nothing is in flight, one poller (the scout) looks at the
        // queue every PLANNING_POLL; the others wait until a poller receives or settles a batch,
        // so an idle queue costs moto one receive per poll, not one per poller.
        let scouting = std::sync::atomic::AtomicBool::new(false);
        let poller = || async {
            let mut summary = DrainSummary::default();
            loop {
                let woken = changed.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let stopped = planner_stopped.notified();
                tokio::pin!(stopped);
                stopped.as_mut().enable();
                in_flight.fetch_add(1, Ordering::SeqCst);
                let received = if invocations.load(Ordering::SeqCst) >= max_invocations {
                    capped.store(true, Ordering::SeqCst);
                    Ok(Vec::new())
                } else {
                    let _turn = queue_turn.lock().await;
                    self.receive_apply_batch(job).await
                };
                let batch = match received {
                    Ok(batch) if !batch.is_empty() => batch,
                    other => {
                        let others = in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
                        let planner_running = planning.load(Ordering::SeqCst);
                        if others == 0 && !planner_running {
                            changed.notify_waiters();
                            return other.map(|_| summary);
                        }
                        other?;
                        if others == 0 && !scouting.swap(true, Ordering::SeqCst) {
                            tokio::select! {
                                _ = &mut stopped => {}
                                _ = tokio::time::sleep(PLANNING_POLL) => {}
                            }
                            scouting.store(false, Ordering::SeqCst);
                        } else {
                            tokio::select! {
                                _ = &mut woken => {}
                                _ = &mut stopped => {}
                            }
                        }
                        continue;
                    }
                };
                // Others may find messages of other groups behind this batch.
                changed.notify_waiters();
                invocations.fetch_add(1, Ordering::SeqCst);
                let response = self.invoke_apply(job, batch.clone()).await;
                let settled = {
                    let _turn = queue_turn.lock().await;
                    self.settle_apply_batch(job, &batch, &response).await
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                changed.notify_waiters();
                let (deleted, failed) = settled?;
                summary.invocations += 1;
                summary.messages_received += batch.len();
                summary.messages_deleted += deleted;
                summary.messages_failed += failed;
            }
        };
        let results = futures::future::join_all((0..concurrency.max(1)).map(|_| poller())).await;
        let mut total = DrainSummary::default();
        for result in results {
            let summary = result?;
            total.invocations += summary.invocations;
            total.messages_received += summary.messages_received;
            total.messages_deleted += summary.messages_deleted;
            total.messages_failed += summary.messages_failed;
        }
        if capped.load(Ordering::SeqCst) {
            bail!("{job} apply queue still had messages after {max_invocations} invocations");
        }
        Ok(total)
    }

    /// Invokes `job`'s handler in-process with an SQS event.
    pub async fn invoke(&self, job: Job, records: Vec<SqsMessage>) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = records;
        match job {
            Job::Setup => setup::handle(&self.worker, event).await,
            Job::Provisioning => provisioning::handle_plan(&self.provisioning, event).await,
            Job::Tickets => tickets::handle(&self.tickets, event).await,
            Job::Usage => usage::handle_plan(&self.usage, event).await,
        }
    }

    /// Invokes `job`'s applier in-process with an SQS event from its apply queue.
    pub async fn invoke_apply(&self, job: Job, records: Vec<SqsMessage>) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = records;
        match job {
            Job::Setup | Job::Tickets => SqsBatchResponse::default(),
            Job::Usage => usage::handle_apply(&self.usage, event).await,
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

    /// `job`'s apply queue (jobs that plan and apply have one).
    pub fn apply_queue_url(&self, job: Job) -> Result<&str> {
        self.apply_queues
            .get(&job)
            .map(String::as_str)
            .with_context(|| format!("no apply queue for job {job}"))
    }

    /// Messages waiting in `job`'s dead-letter queue.
    pub async fn dead_letters(&self, job: Job) -> Result<usize> {
        let dlq = self
            .dead_letter_queues
            .get(&job)
            .with_context(|| format!("no DLQ for job {job}"))?;
        self.visible_messages(dlq).await
    }

    /// Messages waiting in `job`'s apply dead-letter queue (0 for a job without apply queue).
    pub async fn apply_dead_letters(&self, job: Job) -> Result<usize> {
        match self.apply_dead_letter_queues.get(&job) {
            Some(dlq) => self.visible_messages(dlq).await,
            None => Ok(0),
        }
    }

    async fn visible_messages(&self, queue: &str) -> Result<usize> {
        let output = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
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

    /// The integrations with a SETTINGS item, sorted, each with its status (`None`: never run).
    pub async fn statuses(&self) -> Result<Vec<IntegrationLine>> {
        let pages = self
            .store
            .client()
            .scan()
            .table_name(self.store.table())
            .filter_expression("sk = :settings")
            .expression_attribute_values(
                ":settings",
                aws_sdk_dynamodb::types::AttributeValue::S(SETTINGS_SK.into()),
            )
            .projection_expression("pk")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .context("Scan settings")?;
        let mut ids: Vec<String> = pages
            .iter()
            .filter_map(|item| sync_shared::config::string_attr(item, schema::PK))
            .filter_map(integration_id_from_pk)
            .map(str::to_string)
            .collect();
        ids.sort();
        let mut lines = Vec::new();
        for id in ids {
            let line = match self.store.status(&id).await {
                Ok(status) => IntegrationLine {
                    integration_id: id,
                    status,
                    unreadable: None,
                },
                Err(e) => IntegrationLine {
                    integration_id: id,
                    status: None,
                    unreadable: Some(sync_shared::error::error_chain(&e)),
                },
            };
            lines.push(line);
        }
        Ok(lines)
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

/// Whether the table exists (DescribeTable); waits until it is active when it does.
async fn table_exists(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<bool> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => {
            client
                .wait_until_table_exists()
                .table_name(name)
                .wait(Duration::from_secs(60))
                .await
                .with_context(|| format!("waiting for table {name}"))?;
            Ok(true)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::anyhow!(sync_shared::error::error_chain(&e)))
            .with_context(|| format!("DescribeTable {name}")),
    }
}

/// A deployment's name is its table's name and its queues' prefix, so it must suit both: SQS
/// allows letters, digits, `-` and `_`, and 80 characters with the longest suffix.
pub fn validate_deployment_name(name: &str) -> Result<()> {
    const LONGEST_SUFFIX: usize = "-provisioning-apply-dlq.fifo".len();
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.len() < 3 || name.len() > 80 - LONGEST_SUFFIX || !valid_chars {
        bail!(
            "deployment name `{name}`: use 3 to {} letters, digits, `-` or `_` (it names the table and the queues)",
            80 - LONGEST_SUFFIX
        );
    }
    Ok(())
}

/// The URL of the queue named `name`, or `None` when there is none (GetQueueUrl).
async fn queue_url_if_exists(client: &aws_sdk_sqs::Client, name: &str) -> Result<Option<String>> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => Ok(output.queue_url().map(str::to_string)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(sync_shared::error::error_chain(&e)))
            .with_context(|| format!("GetQueueUrl {name}")),
    }
}

/// A FIFO queue `<name>.fifo` with its FIFO dead-letter queue `<name>-dlq.fifo`, as in
/// `template.yaml`: reused when `reuse` and present, else created (their names are added to
/// `created`).
async fn job_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    reuse: bool,
    created: &mut Vec<String>,
) -> Result<(String, String)> {
    let dlq_name = format!("{name}-dlq.fifo");
    let existing = if reuse {
        queue_url_if_exists(client, &dlq_name).await?
    } else {
        None
    };
    let dlq_url = match existing {
        Some(url) => url,
        None => {
            let dlq = client
                .create_queue()
                .queue_name(&dlq_name)
                .attributes(QueueAttributeName::FifoQueue, "true")
                .send()
                .await
                .with_context(|| format!("CreateQueue {dlq_name}"))?;
            created.push(dlq_name);
            dlq.queue_url().context("DLQ without URL")?.to_string()
        }
    };
    let queue_name = format!("{name}.fifo");
    if reuse {
        if let Some(url) = queue_url_if_exists(client, &queue_name).await? {
            return Ok((url, dlq_url));
        }
    }
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
        .queue_name(&queue_name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .with_context(|| format!("CreateQueue {queue_name}"))?;
    created.push(queue_name);
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

/// Creates the secret, or gives it this value; leaves it alone when it has the value already.
pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    put_secret_if_changed(client, name, value).await.map(|_| ())
}

/// `put_secret`, telling whether it wrote (a new secret or a new version): loading the same
/// secrets twice writes nothing the second time.
pub async fn put_secret_if_changed(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<bool> {
    match client.get_secret_value().secret_id(name).send().await {
        Ok(current) if current.secret_string() == Some(value) => return Ok(false),
        Ok(_) => {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("PutSecretValue {name}"))?;
            return Ok(true);
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => {
            return Err(anyhow::anyhow!(sync_shared::error::error_chain(&e)))
                .context(format!("GetSecretValue {name}"));
        }
    }
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
    Ok(true)
}

/// The process's peak resident memory (VmHWM), for benchmarks.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---- local-run: the local runner's contract ---------------------------------------------------

/// `local-run --help`.
pub const USAGE: &str = "usage: local-run [--config DIR] [--secrets FILE] [--autotask URL] [--acronis URL]
                 [--deployment NAME] [--jobs JOB,...] [--at TIME]
  --config DIR        configuration items to load: every *.json file in DIR (default config/examples);
                      loading is idempotent (items are put, unchanged secrets are left alone)
  --secrets FILE      secrets to load, [{\"name\": …, \"value\": {…}}] (default DIR/local-secrets.json,
                      when present)
  --autotask URL      use a running Autotask: its REST root (…/ATServicesRest/), where the zone
                      lookup starts (default: an Autotask simulator started in-process)
  --acronis URL       use a running Acronis data center: replaces every loaded secret's
                      datacenter_url (default: an Acronis simulator started in-process)
  --deployment NAME   the table NAME and the queues NAME-<job>, NAME-<job>-apply (+ -dlq): created
                      when missing, reused with all their state when present, so a second
                      invocation continues (default: a new acronis-autotask-sync-local-<time>)
  --jobs JOB,...      the jobs to tick, in this order (default: all: setup,provisioning,tickets,usage)
  --at TIME           the schedule time of the tick, RFC 3339 (e.g. 2026-12-01T10:00:00Z); jobs take
                      \"now\" from it (default: now, truncated to the minute)
  -h, --help          this text
Each job is ticked once, then its queue and its apply queue are drained until empty; then a
status line per integration, with its customers' issues below it, is printed.";

/// What `local-run` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub config_dir: PathBuf,
    /// `None`: `<config_dir>/local-secrets.json` when it exists.
    pub secrets_file: Option<PathBuf>,
    pub autotask: Option<String>,
    pub acronis: Option<String>,
    pub deployment: Option<String>,
    pub jobs: Vec<Job>,
    pub at: Option<DateTime<Utc>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config_dir: PathBuf::from("config/examples"),
            secrets_file: None,
            autotask: None,
            acronis: None,
            deployment: None,
            jobs: Job::ALL.to_vec(),
            at: None,
        }
    }
}

/// A command line `local-run` does not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{USAGE}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    Help,
    Run(RunOptions),
}

/// Parses `local-run`'s arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<Cli, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut options = RunOptions::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Cli::Help);
        }
        let mut value = || {
            args.next()
                .filter(|v| !v.starts_with("--"))
                .ok_or_else(|| UsageError(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--config" => options.config_dir = value()?.into(),
            "--secrets" => options.secrets_file = Some(value()?.into()),
            "--autotask" => options.autotask = Some(url_value(&arg, value()?)?),
            "--acronis" => options.acronis = Some(url_value(&arg, value()?)?),
            "--deployment" => {
                let name = value()?;
                validate_deployment_name(&name).map_err(|e| UsageError(e.to_string()))?;
                options.deployment = Some(name);
            }
            "--jobs" => {
                let list = value()?;
                options.jobs = list
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(|name| {
                        Job::ALL
                            .into_iter()
                            .find(|job| job.as_str() == name)
                            .ok_or_else(|| {
                                let known: Vec<&str> =
                                    Job::ALL.iter().map(|j| j.as_str()).collect();
                                UsageError(format!(
                                    "unknown job `{name}` (jobs: {})",
                                    known.join(", ")
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?;
                if options.jobs.is_empty() {
                    return Err(UsageError("--jobs names no job".into()));
                }
            }
            "--at" => {
                let text = value()?;
                let at = DateTime::parse_from_rfc3339(&text).map_err(|e| {
                    UsageError(format!(
                        "--at {text}: {e} (use RFC 3339, e.g. 2026-12-01T10:00:00Z)"
                    ))
                })?;
                options.at = Some(at.with_timezone(&Utc));
            }
            other => return Err(UsageError(format!("unknown argument {other}"))),
        }
    }
    Ok(Cli::Run(options))
}

fn url_value(flag: &str, url: String) -> Result<String, UsageError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(UsageError(format!("{flag} {url}: not an http(s) URL")))
    }
}

/// What one `local-run` invocation did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The table's name (the queues' prefix).
    pub deployment: String,
    /// The table and queues this invocation created (empty when it reused them all).
    pub created: Vec<String>,
    pub slot: DateTime<Utc>,
    pub autotask_url: String,
    pub acronis_url: String,
    pub items_loaded: usize,
    pub secrets_loaded: usize,
    /// Secrets created or given a new value (0 when loading them again).
    pub secrets_changed: usize,
    /// The ticked jobs, in order.
    pub jobs: Vec<JobRun>,
    pub integrations: Vec<IntegrationLine>,
}

/// One job's tick and drains.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub job: Job,
    pub fan_out: FanOutSummary,
    pub drained: DrainSummary,
    /// Messages in the job queue's DLQ after the drain.
    pub dead_letters: usize,
    /// The apply queue's drain, for jobs that plan and apply.
    pub apply: Option<ApplyRun>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRun {
    pub drained: DrainSummary,
    pub dead_letters: usize,
}

/// An integration (one with a SETTINGS item) and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationLine {
    pub integration_id: String,
    /// `None`: no job has run for it (it is not enabled) or its status is unreadable.
    pub status: Option<IntegrationStatus>,
    /// Why the status item could not be read.
    pub unreadable: Option<String>,
}

impl JobRun {
    /// `job setup: 2 messages sent; 1 invocations, 2 messages handled, 0 left for retry`, then
    /// for jobs with an apply queue `; apply: …`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "job {}: {} messages sent; {} invocations, {} messages handled, {} left for retry",
            self.job,
            self.fan_out.messages_sent,
            self.drained.invocations,
            self.drained.messages_deleted,
            self.drained.messages_failed
        );
        if self.dead_letters > 0 {
            line.push_str(&format!(", {} in the dead-letter queue", self.dead_letters));
        }
        if let Some(apply) = &self.apply {
            line.push_str(&format!(
                "; apply: {} invocations, {} messages handled, {} failed",
                apply.drained.invocations,
                apply.drained.messages_deleted,
                apply.drained.messages_failed
            ));
            if apply.dead_letters > 0 {
                line.push_str(&format!(
                    ", {} in the dead-letter queue",
                    apply.dead_letters
                ));
            }
        }
        line
    }
}

impl IntegrationLine {
    /// The status line, then one indented line per customer issue.
    pub fn lines(&self) -> Vec<String> {
        let id = &self.integration_id;
        let Some(status) = &self.status else {
            return vec![match &self.unreadable {
                Some(error) => format!("{id:<20} {:<11} {error}", "unreadable"),
                None => format!(
                    "{id:<20} {:<11} not scheduled (integration_state is not enabled)",
                    "-"
                ),
            }];
        };
        let mut lines = vec![format!(
            "{id:<20} {:<11} {}",
            enum_name(&status.state),
            status.message
        )];
        for issue in status.customers.values() {
            lines.push(format!(
                "    {} customer {} \"{}\": {}: {}",
                issue.job,
                issue.target,
                issue.name,
                enum_name(&issue.kind),
                issue.message
            ));
        }
        lines
    }
}

fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl RunSummary {
    /// The job lines, then the status table: what `local-run` prints last.
    pub fn report(&self) -> String {
        let mut out: Vec<String> = self.jobs.iter().map(JobRun::line).collect();
        out.push(String::new());
        out.extend(status_table(&self.integrations));
        out.join("\n")
    }
}

fn status_table(integrations: &[IntegrationLine]) -> Vec<String> {
    let mut out = vec![format!("{:<20} {:<11} message", "integration", "state")];
    out.extend(integrations.iter().flat_map(IntegrationLine::lines));
    out
}

/// `local-run`: parses the arguments and runs; `None` for `--help` (after printing it).
pub async fn run_cli<I, S>(args: I) -> Result<Option<RunSummary>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    match parse_args(args)? {
        Cli::Help => {
            println!("{USAGE}");
            Ok(None)
        }
        Cli::Run(options) => run(&options).await.map(Some),
    }
}

/// One invocation: loads, ticks each job once, drains, and prints (see `USAGE`). Simulators it
/// starts are stopped before it returns.
pub async fn run(options: &RunOptions) -> Result<RunSummary> {
    let secrets_file = match &options.secrets_file {
        Some(file) => Some(file.clone()),
        None => Some(options.config_dir.join("local-secrets.json")).filter(|f| f.exists()),
    };
    let secrets = match &secrets_file {
        Some(file) => read_example_secrets(file)?,
        None => Vec::new(),
    };
    let item_files = config_files(&options.config_dir, secrets_file.as_deref())?;

    let autotask_sim = match &options.autotask {
        Some(_) => None,
        None => Some(start_example_autotask_sim().await?),
    };
    let acronis_sim = match &options.acronis {
        Some(_) => None,
        None => Some(start_example_acronis_sim(&secrets, &options.config_dir).await?),
    };
    let autotask_url = options
        .autotask
        .clone()
        .or_else(|| autotask_sim.as_ref().map(|s| s.base_url()))
        .unwrap_or_default();
    let acronis_url = options
        .acronis
        .clone()
        .or_else(|| acronis_sim.as_ref().map(|s| s.base_url()))
        .unwrap_or_default();
    let in_process = |started: bool| {
        if started {
            " (simulator, in-process)"
        } else {
            ""
        }
    };
    println!(
        "autotask: {autotask_url}{}",
        in_process(autotask_sim.is_some())
    );
    println!(
        "acronis: {acronis_url}{}",
        in_process(acronis_sim.is_some())
    );
    sync_shared::autotask::set_process_zone_lookup_url(Some(autotask_url.clone()));

    let result = run_deployment(
        options,
        &secrets,
        secrets_file.as_deref(),
        &item_files,
        &autotask_url,
        &acronis_url,
        autotask_sim.is_some() || acronis_sim.is_some(),
    )
    .await;

    sync_shared::autotask::set_process_zone_lookup_url(None);
    if let Some(sim) = autotask_sim {
        sim.shutdown().await;
    }
    if let Some(sim) = acronis_sim {
        sim.shutdown().await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_deployment(
    options: &RunOptions,
    secrets: &[ExampleSecret],
    secrets_file: Option<&Path>,
    item_files: &[PathBuf],
    autotask_url: &str,
    acronis_url: &str,
    fresh_simulators: bool,
) -> Result<RunSummary> {
    let clients = AwsClients::from_env().await;
    let deployment = match &options.deployment {
        Some(name) => LocalDeployment::open_or_create(clients, name, SECRETS_PREFIX).await?,
        None => {
            let name = format!(
                "acronis-autotask-sync-local-{}",
                Utc::now().format("%Y%m%d%H%M%S")
            );
            LocalDeployment::create(clients, &name, SECRETS_PREFIX).await?
        }
    };
    let name = deployment.store.table().to_string();
    let reused = !deployment.created.contains(&name);
    println!(
        "table and queues: {name} ({})",
        match (reused, deployment.created.len()) {
            (false, _) => "created".to_string(),
            (true, 0) => "reused".to_string(),
            (true, n) => format!("reused; {n} missing queue(s) created"),
        }
    );
    if reused && fresh_simulators {
        println!(
            "note: the reused deployment now talks to simulators started afresh; pass --autotask and --acronis to continue against the same ones"
        );
    }

    let mut secrets_changed = 0;
    for secret in secrets {
        let mut value = secret.value.clone();
        if value.get("datacenter_url").is_some() {
            value["datacenter_url"] = serde_json::json!(acronis_url);
        }
        if put_secret_if_changed(
            &deployment.clients.secrets,
            &secret.name,
            &value.to_string(),
        )
        .await?
        {
            secrets_changed += 1;
        }
    }
    if let Some(file) = secrets_file {
        println!(
            "secrets loaded: {} from {} ({secrets_changed} changed)",
            secrets.len(),
            file.display()
        );
    }
    let mut items_loaded = 0;
    for file in item_files {
        let count = deployment.load_items_file(file).await?;
        items_loaded += count;
        println!("items loaded: {count} from {}", file.display());
    }

    let slot = match options.at {
        Some(at) => at,
        None => Utc::now().duration_trunc(TimeDelta::minutes(1))?,
    };
    println!(
        "tick at {}",
        slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut jobs = Vec::new();
    for &job in &options.jobs {
        let fan_out = deployment.tick(job, slot).await?;
        let planned = deployment
            .drain_planned(job, 1000, APPLY_MAX_CONCURRENCY, 10_000)
            .await?;
        let drained = planned.planner;
        let apply = match planned.apply {
            Some(drained) => Some(ApplyRun {
                drained,
                dead_letters: deployment.apply_dead_letters(job).await?,
            }),
            None => None,
        };
        let run = JobRun {
            job,
            fan_out,
            drained,
            dead_letters: deployment.dead_letters(job).await?,
            apply,
        };
        println!("{}", run.line());
        jobs.push(run);
    }

    let integrations = deployment.statuses().await?;
    println!();
    for line in status_table(&integrations) {
        println!("{line}");
    }
    Ok(RunSummary {
        deployment: name,
        created: deployment.created.clone(),
        slot,
        autotask_url: autotask_url.to_string(),
        acronis_url: acronis_url.to_string(),
        items_loaded,
        secrets_loaded: secrets.len(),
        secrets_changed,
        jobs,
        integrations,
    })
}

/// The `*.json` files in `dir`, sorted, without the secrets file.
fn config_files(dir: &Path, secrets_file: Option<&Path>) -> Result<Vec<PathBuf>> {
    let secrets = secrets_file.and_then(|f| f.canonicalize().ok());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter(|path| secrets.is_none() || path.canonicalize().ok() != secrets)
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a secrets file: `[{"name": …, "value": {…}}]`.
pub fn read_example_secrets(path: &Path) -> Result<Vec<ExampleSecret>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The Autotask simulator's example database plus the API users and allocation code the
/// example integrations (config/examples) name, so that they connect.
pub async fn start_example_autotask_sim() -> Result<autotask_sim::AutotaskSim> {
    let mut seed = autotask_sim::Seed::example().context("autotask-sim example seed")?;
    for (user, secret, code) in [
        (
            "contoso-api-user@example.invalid",
            "local-only-autotask-secret",
            "LOCALINTEGRATIONCODE",
        ),
        (
            "fabrikam-api-user@example.invalid",
            "local-only-autotask-secret-2",
            "LOCALINTEGRATIONCODE2",
        ),
    ] {
        seed.users.push(autotask_sim::SimUser {
            integration_vendor: Some("Custom (Internal Integration)".into()),
            ..autotask_sim::SimUser::api(user, secret, code)
        });
    }
    let sim = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
        seed,
        ..autotask_sim::SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    sim.with_db(|db| -> Result<()> {
        db.insert(
            "BillingCodes",
            serde_json::json!({"name": "Acronis Cloud Services", "useType": 6, "isActive": true}),
        )?;
        // config/examples/service-mappings.json maps pw_base_servers to this id.
        db.insert(
            "Services",
            serde_json::json!({"id": 29683412, "name": "Acronis Servers", "periodType": 1,
                "unitPrice": 20.0, "billingCodeID": 29682100, "isActive": true}),
        )?;
        // The companies config/examples/customer-mappings.json maps.
        for (id, name) in [
            (29684001, "Hilda Huffington Dental"),
            (29684002, "Florida IT Services"),
        ] {
            db.insert(
                "Companies",
                serde_json::json!({"id": id, "companyName": name, "companyType": 1,
                    "isActive": true, "ownerResourceID": 29682004}),
            )?;
        }
        db.insert(
            "Contacts",
            serde_json::json!({"companyID": 29684002, "firstName": "Flo", "lastName": "Rida",
                "emailAddress": "flo@florida-it.example", "isActive": 1, "primaryContact": true}),
        )?;
        Ok(())
    })?;
    Ok(sim)
}

/// An Acronis data center with, for each Acronis secret (one with a `client_id`), a partner
/// tenant owning that API client and the customer tenants `config_dir/customer-mappings.json`
/// names for its integration.
pub async fn start_example_acronis_sim(
    secrets: &[ExampleSecret],
    config_dir: &Path,
) -> Result<acronis_sim::AcronisSim> {
    let mut config = acronis_sim::SimConfig::example();
    // The storage config/examples/settings.json names as contoso's default storage.
    config.seed.infras.push(acronis_sim::Infra {
        id: "7f3c9d2a-1b4e-4c8f-9a6d-2e5b8c1f0a37".into(),
        name: "Acronis Cloud Storage (example default)".into(),
        backend_type: "acronis".into(),
        owner_tenant_id: None,
        platform_owned: true,
        url: None,
    });
    let sim = acronis_sim::AcronisSim::start(config)
        .await
        .context("starting acronis-sim")?;
    let mappings: Vec<serde_json::Value> =
        std::fs::read_to_string(config_dir.join("customer-mappings.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
    for secret in secrets {
        let (Some(client_id), Some(client_secret)) = (
            secret.value["client_id"].as_str(),
            secret.value["client_secret"].as_str(),
        ) else {
            continue;
        };
        // Secret names are `<prefix>/<integration>/acronis`.
        let integration = secret.name.rsplit('/').nth(1).unwrap_or(&secret.name);
        let partner = sim
            .add_tenant(acronis_sim::TenantSeed::new(
                &format!("{integration} MSP (simulated)"),
                "partner",
                None,
            ))
            .map_err(|e| anyhow::anyhow!("acronis-sim partner for {integration}: {e:?}"))?;
        sim.add_api_client(acronis_sim::ApiClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            tenant_id: partner.clone(),
            name: format!("{integration} integration"),
            enabled: true,
        });
        let pk = format!("INTEGRATION#{integration}");
        for mapping in mappings.iter().filter(|m| m["pk"] == pk.as_str()) {
            let (Some(tenant), Some(company)) =
                (mapping["tenant"].as_str(), mapping["company_name"].as_str())
            else {
                continue;
            };
            if tenant.len() == 36 {
                let mut customer =
                    acronis_sim::TenantSeed::new(company, "customer", Some(&partner));
                customer.id = Some(tenant.into());
                sim.add_tenant(customer)
                    .map_err(|e| anyhow::anyhow!("acronis-sim customer {tenant}: {e:?}"))?;
            }
        }
    }
    Ok(sim)
}
