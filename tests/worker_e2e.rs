//! The worker runtime on the local stack: the FIFO partial-batch rule, retryable versus permanent
//! errors, the DLQ after the last receive, and leases.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{Duration, TimeZone, Utc};
use e2e::deployment;
use local_runner::{LocalDeployment, MAX_RECEIVE_COUNT};
use serde_json::json;
use sync_shared::status::{IntegrationHealth, JobReport, RunRecord, RunState};
use sync_shared::store::Claim;
use sync_shared::worker::{JobError, process_fifo_batch};
use sync_shared::{Job, JobMessage};

fn slot(hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, hour, 0, 0)
        .single()
        .expect("time")
}

fn message(id: &str, integration: &str, hour: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(
        serde_json::to_string(&JobMessage {
            integration_id: integration.into(),
            job: Job::Setup,
            slot: slot(hour),
        })
        .expect("json"),
    );
    m.attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    m
}

fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

fn transient(text: &str) -> JobError {
    JobError::Remote {
        message: text.into(),
        retryable: true,
        source: None,
    }
}

fn permanent(text: &str) -> JobError {
    JobError::Remote {
        message: text.into(),
        retryable: false,
        source: None,
    }
}

#[tokio::test]
async fn the_first_retryable_failure_fails_itself_and_every_later_message() {
    let d = deployment("fifo").await;
    let calls = AtomicUsize::new(0);
    let batch = event(vec![
        message("m1", "a", 1),
        message("m2", "b", 1),
        message("m3", "c", 1),
    ]);
    let response = process_fifo_batch(&d.worker, Job::Setup, batch, |m| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if m.integration_id == "b" {
                Err(transient("Autotask answered 503"))
            } else {
                Ok(JobReport::default())
            }
        }
    })
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2", "m3"]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "nothing after the failure may run"
    );
    // The retryable failure released its run for the next delivery and left the status alone.
    assert_eq!(
        d.store.runs("b").await.expect("runs")[0].run_state,
        RunState::Retrying
    );
    assert_eq!(d.store.status("b").await.expect("status"), None);
    assert!(d.store.runs("c").await.expect("runs").is_empty());
}

#[tokio::test]
async fn a_message_that_keeps_failing_reaches_the_dlq_and_the_status_says_so() {
    let d = deployment("dlq").await;
    d.put_json_item(json!({"pk": "INTEGRATION#flaky", "sk": "SETTINGS", "integration_state": "enabled",
        "autotask_secret_name": "acronis-autotask-sync/x", "acronis_secret_name": "acronis-autotask-sync/y"}))
        .await
        .expect("settings");
    d.tick(Job::Setup, slot(2)).await.expect("tick");
    let mut deliveries = 0;
    loop {
        let batch = d.receive_batch(Job::Setup).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        deliveries += batch.len();
        assert!(
            deliveries <= MAX_RECEIVE_COUNT as usize,
            "delivered past maxReceiveCount"
        );
        let response = process_fifo_batch(&d.worker, Job::Setup, event(batch.clone()), |_| async {
            Err::<JobReport, _>(transient("Acronis answered 502"))
        })
        .await;
        d.settle_batch(Job::Setup, &batch, &response)
            .await
            .expect("settle");
    }
    assert_eq!(deliveries, MAX_RECEIVE_COUNT as usize);
    assert_eq!(d.dead_letters(Job::Setup).await.expect("dlq"), 1);
    let status = d
        .store
        .status("flaky")
        .await
        .expect("status")
        .expect("a status");
    assert_eq!(status.state, IntegrationHealth::Error);
    assert!(
        status.message.contains("Acronis answered 502")
            && status.message.contains("gave up after 5 attempts"),
        "{}",
        status.message
    );
    // Released, so a redrive from the DLQ runs it again rather than skipping it.
    assert_eq!(
        d.store.runs("flaky").await.expect("runs")[0].run_state,
        RunState::Retrying
    );
}

#[tokio::test]
async fn permanent_failures_count_up_and_a_success_resets_them() {
    let d = deployment("perm").await;
    for hour in 3..6 {
        let response = process_fifo_batch(
            &d.worker,
            Job::Setup,
            event(vec![message("m", "broken", hour)]),
            |_| async { Err::<JobReport, _>(permanent("Autotask refused the API user")) },
        )
        .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "permanent errors are not retried"
        );
    }
    let status = d
        .store
        .status("broken")
        .await
        .expect("status")
        .expect("status");
    assert_eq!(status.jobs["setup"].consecutive_failures, 3);
    assert_eq!(status.message, "setup: Autotask refused the API user");

    process_fifo_batch(
        &d.worker,
        Job::Setup,
        event(vec![message("m", "broken", 6)]),
        |_| async {
            Ok(JobReport {
                health: Some(IntegrationHealth::Configured),
                message: "fine again".into(),
                ..Default::default()
            })
        },
    )
    .await;
    let status = d
        .store
        .status("broken")
        .await
        .expect("status")
        .expect("status");
    assert_eq!(status.state, IntegrationHealth::Configured);
    assert_eq!(status.jobs["setup"].consecutive_failures, 0);
    assert_eq!(d.store.runs("broken").await.expect("runs").len(), 4);
}

#[tokio::test]
async fn a_run_held_by_another_worker_is_retried_later_and_an_expired_lease_is_taken_over() {
    let d: LocalDeployment = deployment("lease").await;
    let job_message = JobMessage {
        integration_id: "busy".into(),
        job: Job::Setup,
        slot: slot(7),
    };
    let now = Utc::now();
    let held = RunRecord {
        integration_id: "busy".into(),
        job: Job::Setup,
        run_id: job_message.run_id(),
        run_state: RunState::InProgress,
        started_at: now,
        finished_at: None,
        lease_until_ms: (now + Duration::minutes(5)).timestamp_millis(),
        attempts: 1,
        message: String::new(),
        counts: Default::default(),
        expires_at: (now + Duration::days(1)).timestamp(),
    };
    assert!(matches!(
        d.store
            .claim_run(&held, now.timestamp_millis())
            .await
            .expect("claim"),
        Claim::Claimed(_)
    ));

    let response = process_fifo_batch(
        &d.worker,
        Job::Setup,
        event(vec![message("m", "busy", 7)]),
        |_| async { Ok(JobReport::default()) },
    )
    .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "a held run must wait"
    );

    // Once the lease has run out, the claim passes to the next worker.
    let later = (now + Duration::minutes(6)).timestamp_millis();
    match d.store.claim_run(&held, later).await.expect("claim") {
        Claim::Claimed(run) => assert_eq!(run.attempts, 2),
        other => panic!("expected the expired lease to be taken over, got {other:?}"),
    }
}
