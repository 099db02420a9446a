//! `bench_tickets`: the tickets job end to end (scheduler → tickets worker, as `local-run` plays
//! it) on the local stack, against the in-process simulators answering with 100 ms latency per
//! call (by default).
//!
//! The world: N companies (default 1,000), each with an active Recurring Service contract
//! holding the mapped service, mapped to N customer tenants; settings with ticket creation and
//! billing on, `auto_close_on: resolved`, `dismiss_alert_on_ticket_complete: true` (G7) and a
//! ticket source; an alert mapping for `BackupFailed` (fields by label). A setup cycle and a
//! first tickets cycle, without latency, give 20 alerts their tickets (and warm the job's
//! Tickets and Contracts picklists, as a warm Lambda container has them; the TicketNotes ones
//! are first read by the busy cycle's notes).
//!
//! 1. Busy cycle: 100 new alerts on 100 other customers and the 20 earlier alerts resolved,
//!    then ONE tickets cycle. Prints its wall time (tick + drain; target ≤ 10 s, so that with a
//!    1-minute schedule an alert is a ticket within about a minute), the Autotask calls by
//!    entity and endpoint, the Acronis calls by route, the tickets created (100) and completed
//!    (20), the largest number of concurrent Autotask calls per entity (≤ 3), the local stack's
//!    calls by operation and item kind, and a timeline of what was in flight when.
//! 2. Quiet cycle: nothing new. Autotask calls (exactly 1: G7's query), Acronis calls, wall
//!    time.
//!
//! Then a summary with the targets and whether each is met, and the peak memory.
//!
//!     scripts/local-stack.sh start && set -a && . .local/stack.env && set +a
//!     cargo run --release -p local-runner --bin bench_tickets [-- N [LATENCY_MS]]
//!
//! LATENCY_MS (default 100) is the simulated latency of every call in the busy and quiet
//! cycles, to see how the busy cycle's wall time grows with Autotask's answer time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acronis_sim::{AcronisSim, NewAlert};
use anyhow::{Context, Result, anyhow, bail, ensure};
use autotask_sim::AutotaskSim;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt;
use local_runner::bench::{fmt_map, verdict};
use local_runner::{LocalDeployment, peak_memory_kib, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;
use sync_shared::aws::AwsClients;

/// The example seeds' Acronis partner and API client, and Autotask API user.
const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
const CLIENT_SECRET: &str = "example-secret";
const AUTOTASK_USER: &str = "acronis-api@example.com";
const AUTOTASK_SECRET: &str = "api-secret-1";
const AUTOTASK_CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const INTEGRATION: &str = "msp";
const BUSY_TARGET: Duration = Duration::from_secs(10);
const AUTOTASK_THREADS: usize = 3;
const NEW_ALERTS: usize = 100;
const CLEARED_ALERTS: usize = 20;
const ALERT_TYPE: &str = "BackupFailed";
const SERVICE_NAME: &str = "Bench Workstations";
/// The simulator's Tickets status picklist: Complete.
const COMPLETE: i64 = 5;
/// Autotask endpoint objects sampled for the timeline.
const AUTOTASK_ENTITIES: [&str; 6] = [
    "Tickets",
    "TicketNotes",
    "Contracts",
    "ContractServices",
    "Services",
    "Companies",
];
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

#[tokio::main]
async fn main() -> Result<()> {
    let customers: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("N must be a whole number")?,
        None => 1000,
    };
    let latency = match std::env::args().nth(2) {
        Some(ms) => Duration::from_millis(ms.parse().context("LATENCY_MS must be a whole number")?),
        None => Duration::from_millis(100),
    };
    ensure!(
        customers >= NEW_ALERTS + CLEARED_ALERTS,
        "N must be at least {} (one customer per alert)",
        NEW_ALERTS + CLEARED_ALERTS
    );
    ensure!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack's environment is missing: scripts/local-stack.sh start && set -a && . .local/stack.env && set +a"
    );
    let (clients, meter) = metered_clients().await;

    let seeding = Instant::now();
    let autotask = AutotaskSim::start(autotask_sim::SimConfig {
        seed: autotask_sim::Seed::example().context("autotask-sim example seed")?,
        ..autotask_sim::SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    let companies = seed_autotask(&autotask, customers)?;
    let acronis = AcronisSim::start(acronis_sim::SimConfig {
        check_responses: false,
        ..acronis_sim::SimConfig::example()
    })
    .await
    .context("starting acronis-sim")?;
    let tenants = (0..customers)
        .map(|n| {
            acronis
                .add_tenant(acronis_sim::TenantSeed::new(
                    &format!("Bench Customer {n:05}"),
                    "customer",
                    Some(PARTNER),
                ))
                .map_err(|e| anyhow!("adding tenant {n}: {e:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let name = format!("bench-tickets-{}", Utc::now().timestamp());
    let mut d = LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;
    // Production client timings (no faults are injected, so only pacing could differ).
    d.tickets.clients = sync_shared::remote::ClientSetup::production();
    configure(&d, &name, &autotask, &acronis, &companies, &tenants).await?;
    let seeded_kib = peak_memory_kib().unwrap_or(0);
    println!(
        "seeded {customers} companies (each with a Recurring Service contract holding the mapped service), {customers} customer tenants and mappings, deployment {name} in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let base = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .context("time")?;
    let slot = |minutes: i64| base + TimeDelta::minutes(minutes);

    // ---- Preparation: setup, then a first tickets cycle with 20 alerts (no latency) ----
    d.tick(Job::Setup, slot(0)).await?;
    let setup = d.drain(Job::Setup, 10).await?;
    ensure!(
        setup.messages_failed == 0,
        "the setup job failed: {setup:?}"
    );
    let earlier: Vec<String> = (0..CLEARED_ALERTS)
        .map(|n| raise(&acronis, &tenants[n], n))
        .collect::<Result<_>>()?;
    reset(&autotask, &acronis, &meter);
    let first = cycle(&d, slot(1), &autotask, &acronis, &meter).await?;
    let first_status = job_status(&d).await?;
    let first_at = autotask.request_log();
    let earlier_tickets = tickets_of(&autotask, &earlier);
    ensure!(
        earlier_tickets.len() == CLEARED_ALERTS,
        "the first cycle made {} tickets for the {CLEARED_ALERTS} alerts: {}",
        earlier_tickets.len(),
        first_status.message
    );
    println!(
        "first tickets cycle (no latency, cold picklist cache): {:.2} s; {}; Autotask {} calls ({}), Acronis {} calls",
        first.total.as_secs_f64(),
        first_status.message,
        first_at.records.len(),
        fmt_map(&first_at.count_by_entity()),
        acronis.request_log().len()
    );

    autotask.set_knobs(autotask_sim::Knobs {
        latency,
        ..autotask_sim::Knobs::default()
    });
    acronis.set_knobs(acronis_sim::Knobs {
        latency_ms: latency.as_millis() as u64,
        ..acronis_sim::Knobs::default()
    });

    // ---- Phase 1: busy cycle ----
    let new: Vec<String> = (CLEARED_ALERTS..CLEARED_ALERTS + NEW_ALERTS)
        .map(|n| raise(&acronis, &tenants[n], n))
        .collect::<Result<_>>()?;
    for id in &earlier {
        acronis
            .resolve_alert(id)
            .map_err(|e| anyhow!("resolving {id}: {e:?}"))?;
    }
    reset(&autotask, &acronis, &meter);
    let busy = cycle(&d, slot(2), &autotask, &acronis, &meter).await?;
    let busy_status = job_status(&d).await?;
    let busy_at = autotask.request_log();
    let busy_ac = acronis.request_log();
    let busy_concurrency = autotask.concurrency();
    let created = tickets_of(&autotask, &new);
    let completed = tickets_of(&autotask, &earlier)
        .iter()
        .filter(|t| t["status"] == json!(COMPLETE))
        .count();
    let count = |key: &str| busy_status.counts.get(key).copied().unwrap_or(0);

    println!();
    println!(
        "== busy cycle: {customers} mapped customers, {NEW_ALERTS} new alerts, {CLEARED_ALERTS} resolved, {} ms per simulated call ==",
        latency.as_millis()
    );
    busy.print_times();
    println!(
        "tickets:            {} created for the {NEW_ALERTS} new alerts, {completed} of the {CLEARED_ALERTS} earlier ones completed; job counts: created {}, completed {}, notes {}, alerts seen {}, failed {}, pending {}",
        created.len(),
        count("tickets_created"),
        count("tickets_completed"),
        count("notes_added"),
        count("alerts_seen"),
        count("alerts_failed"),
        count("alerts_pending"),
    );
    println!("status:             {}", busy_status.message);
    print_autotask(&busy_at);
    print_acronis(&busy_ac);
    println!(
        "Autotask concurrency (largest in flight per entity): {} — max {} (≤ {AUTOTASK_THREADS}: {}); refused by the thread limit (500 Itgenatr005, then retried): {} ({}; must be 0: {})",
        fmt_map(&busy_concurrency.max_by_entity()),
        busy_concurrency.max_concurrent(),
        verdict(busy_concurrency.max_concurrent() <= AUTOTASK_THREADS),
        busy_concurrency.refused(),
        fmt_map(&refused_by_entity(&busy_concurrency)),
        verdict(busy_concurrency.refused() == 0)
    );
    busy.aws.print(busy.total);
    busy.timeline.print(busy.total, &busy_at);
    print_where_time_goes(&busy, &busy_at, &busy_ac, latency);

    // ---- Phase 2: quiet cycle ----
    reset(&autotask, &acronis, &meter);
    let quiet = cycle(&d, slot(3), &autotask, &acronis, &meter).await?;
    let quiet_status = job_status(&d).await?;
    let quiet_at = autotask.request_log();
    let quiet_ac = acronis.request_log();
    println!();
    println!("== quiet cycle: nothing new ==");
    quiet.print_times();
    println!("status:             {}", quiet_status.message);
    print_autotask(&quiet_at);
    println!(
        "Autotask target:    {} calls, exactly 1 (G7's query): {}",
        quiet_at.records.len(),
        verdict(quiet_at.records.len() == 1)
    );
    print_acronis(&quiet_ac);
    quiet.aws.print(quiet.total);

    let peak_kib = peak_memory_kib().unwrap_or(0);
    let busy_ok = busy.total <= BUSY_TARGET;
    let tickets_ok = created.len() == NEW_ALERTS && completed == CLEARED_ALERTS;
    let concurrency_ok =
        busy_concurrency.max_concurrent() <= AUTOTASK_THREADS && busy_concurrency.refused() == 0;
    let quiet_ok = quiet_at.records.len() == 1;
    println!();
    println!(
        "== summary (N = {customers}, {NEW_ALERTS} new + {CLEARED_ALERTS} resolved alerts, {} ms per simulated call) ==",
        latency.as_millis()
    );
    println!(
        "busy cycle:  {:.2} s wall (tick {:.2} s + drain {:.2} s, handler {:.2} s; target ≤ {} s: {}); Autotask {} calls ({}); Acronis {} calls; tickets created {} (100: {}), completed {} (20: {}); Autotask max concurrency per entity {} (≤ {AUTOTASK_THREADS}: {}), {} refused by the thread limit (0: {})",
        busy.total.as_secs_f64(),
        busy.tick.as_secs_f64(),
        (busy.total - busy.tick).as_secs_f64(),
        busy.handler.as_secs_f64(),
        BUSY_TARGET.as_secs(),
        verdict(busy_ok),
        busy_at.records.len(),
        fmt_map(&by_method_entity(&busy_at)),
        busy_ac.len(),
        created.len(),
        verdict(created.len() == NEW_ALERTS),
        completed,
        verdict(completed == CLEARED_ALERTS),
        busy_concurrency.max_concurrent(),
        verdict(busy_concurrency.max_concurrent() <= AUTOTASK_THREADS),
        busy_concurrency.refused(),
        verdict(busy_concurrency.refused() == 0)
    );
    println!(
        "quiet cycle: {:.2} s wall; Autotask {} calls (exactly 1, G7's query: {}); Acronis {} calls",
        quiet.total.as_secs_f64(),
        quiet_at.records.len(),
        verdict(quiet_ok),
        quiet_ac.len()
    );
    println!(
        "peak memory: {:.1} MiB (VmHWM, with both in-process simulators; {:.1} MiB after seeding them)",
        peak_kib as f64 / 1024.0,
        seeded_kib as f64 / 1024.0
    );

    autotask.shutdown().await;
    acronis.shutdown().await;

    ensure!(
        tickets_ok,
        "tickets created {} (expected {NEW_ALERTS}), completed {completed} (expected {CLEARED_ALERTS})",
        created.len()
    );
    ensure!(
        concurrency_ok,
        "Autotask concurrency: max {} per entity (limit {AUTOTASK_THREADS}), {} requests refused by the thread limit ({})",
        busy_concurrency.max_concurrent(),
        busy_concurrency.refused(),
        fmt_map(&refused_by_entity(&busy_concurrency))
    );
    ensure!(
        quiet_ok,
        "the quiet cycle made {} Autotask calls, expected 1",
        quiet_at.records.len()
    );
    Ok(())
}

fn reset(autotask: &AutotaskSim, acronis: &AcronisSim, meter: &Meter) {
    autotask.reset_request_log();
    autotask.reset_concurrency();
    acronis.reset_request_log();
    acronis.reset_concurrency();
    meter.take(Instant::now());
}

/// A `BackupFailed` alert on `tenant`.
fn raise(acronis: &AcronisSim, tenant: &str, n: usize) -> Result<String> {
    let alert: NewAlert = serde_json::from_value(json!({
        "tenant_id": tenant, "type": ALERT_TYPE,
        "details": {"resourceName": format!("SRV-{n:05}"), "planName": "Nightly",
            "errorMessage": {"reason": "Disk full"}},
    }))
    .context("alert")?;
    acronis
        .raise_alert(alert)
        .map_err(|e| anyhow!("raising an alert on {tenant}: {e:?}"))
}

/// The tickets whose `externalID` names one of `alerts`.
fn tickets_of(autotask: &AutotaskSim, alerts: &[String]) -> Vec<Value> {
    let wanted: BTreeSet<&str> = alerts.iter().map(String::as_str).collect();
    autotask.with_db(|db| {
        db.rows("Tickets")
            .into_iter()
            .filter(|t| {
                t["externalID"]
                    .as_str()
                    .and_then(|e| e.split('#').next())
                    .is_some_and(|a| wanted.contains(a))
            })
            .collect()
    })
}

/// A billing code, the mapped service, and `customers` companies, each with an active Recurring
/// Service contract holding the service; the company ids.
fn seed_autotask(sim: &AutotaskSim, customers: usize) -> Result<Vec<i64>> {
    sim.with_db(|db| -> Result<Vec<i64>> {
        let billing_code = db.insert(
            "BillingCodes",
            json!({"name": "Acronis Cloud Services", "useType": 6, "isActive": true}),
        )?;
        let service = db.insert(
            "Services",
            json!({"name": SERVICE_NAME, "periodType": 1, "unitPrice": 10.0,
                "billingCodeID": billing_code, "isActive": true}),
        )?;
        let mut companies = Vec::with_capacity(customers);
        for n in 0..customers {
            let company = db.insert(
                "Companies",
                json!({"companyName": format!("Bench Customer {n:05}"), "companyType": 1, "isActive": true}),
            )?;
            let contract = db.insert(
                "Contracts",
                json!({"companyID": company, "contractName": format!("Backup {n:05}"),
                    "contractType": 7, "status": 1,
                    "startDate": "2026-01-01T00:00:00", "endDate": "2027-12-31T00:00:00"}),
            )?;
            db.seed_contract_service(contract, service, 1 + (n % 20) as i64)?;
            companies.push(company);
        }
        Ok(companies)
    })
}

/// Settings, the service mapping, the alert mapping, one customer mapping per company, and both
/// secrets (named after the deployment: the local stack's Secrets Manager is shared).
async fn configure(
    d: &LocalDeployment,
    name: &str,
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    companies: &[i64],
    tenants: &[String],
) -> Result<()> {
    let pk = format!("INTEGRATION#{INTEGRATION}");
    let secret = |kind: &str| format!("acronis-autotask-sync/{name}/{kind}");
    let mut items = vec![
        json!({
            "pk": pk, "sk": "SETTINGS", "integration_state": "enabled",
            "autotask_secret_name": secret("autotask"),
            "acronis_secret_name": secret("acronis"),
            "autotask_zone_lookup_url": autotask.zone_lookup_url(),
            "features": {"billing": true, "ticket_creation": true},
            "tickets": {"auto_close_on": "resolved", "dismiss_alert_on_ticket_complete": true,
                "source": "Monitoring Alert"},
        }),
        json!({"pk": pk, "sk": "SERVICE#pw_base_workstations", "service": SERVICE_NAME}),
        json!({"pk": pk, "sk": format!("ALERT#{ALERT_TYPE}"), "enabled": true,
            "queue": "Client Portal", "ticket_type": "Alert", "status": "New",
            "priority": "Critical", "issue_type": "Backup", "sub_issue_type": "Backup Failed",
            "due_in_days": 3}),
    ];
    items.extend(companies.iter().zip(tenants).map(|(company, tenant)| {
        json!({"pk": pk, "sk": format!("CUSTOMER#{company}"), "tenant": tenant.to_ascii_lowercase()})
    }));
    let written: Vec<Result<()>> =
        futures::stream::iter(items.into_iter().map(|item| d.put_json_item(item)))
            .buffer_unordered(16)
            .collect()
            .await;
    written.into_iter().collect::<Result<Vec<()>>>()?;
    let autotask_secret = json!({"username": AUTOTASK_USER, "secret": AUTOTASK_SECRET,
        "api_integration_code": AUTOTASK_CODE});
    let acronis_secret = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "datacenter_url": acronis.base_url()});
    for (kind, value) in [("autotask", autotask_secret), ("acronis", acronis_secret)] {
        put_secret(&d.clients.secrets, &secret(kind), &value.to_string()).await?;
    }
    Ok(())
}

/// The tickets job's status after a cycle; fails unless the last run succeeded.
async fn job_status(d: &LocalDeployment) -> Result<JobLine> {
    let status = d
        .store
        .status(INTEGRATION)
        .await
        .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?
        .context("no status item")?;
    let job = status
        .jobs
        .get("tickets")
        .context("no tickets job in the status")?;
    if job.last_outcome != sync_shared::status::JobOutcomeKind::Succeeded {
        bail!("the tickets job failed: {:?}", job.last_error);
    }
    Ok(JobLine {
        message: status.message.clone(),
        counts: job.counts.clone(),
    })
}

struct JobLine {
    message: String,
    counts: BTreeMap<String, u64>,
}

fn refused_by_entity(concurrency: &autotask_sim::Concurrency) -> BTreeMap<String, usize> {
    let mut refused = BTreeMap::new();
    for e in concurrency.endpoints.iter().filter(|e| e.refused > 0) {
        *refused.entry(e.entity.clone()).or_default() += e.refused;
    }
    refused
}

fn by_method_entity(log: &autotask_sim::RequestLog) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in &log.records {
        let entity = r.entity.clone().unwrap_or_else(|| "(zone lookup)".into());
        *counts.entry(format!("{} {entity}", r.method)).or_default() += 1;
    }
    counts
}

fn print_autotask(log: &autotask_sim::RequestLog) {
    println!(
        "Autotask calls:     {}: by method and entity {}",
        log.records.len(),
        fmt_map(&by_method_entity(log))
    );
    println!("  by endpoint:      {}", fmt_map(&log.count_by_endpoint()));
    println!(
        "  by status:        {}",
        fmt_map(
            &log.count_by_status()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        )
    );
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    for r in log.records.iter().filter(|r| r.status >= 400) {
        *failed
            .entry(match &r.fault {
                Some(fault) => format!("{} {} (fault {fault})", r.status, r.endpoint),
                None => format!("{} {}", r.status, r.endpoint),
            })
            .or_default() += 1;
    }
    if !failed.is_empty() {
        println!("  not 2xx:          {}", fmt_map(&failed));
    }
}

fn acronis_routes(log: &[acronis_sim::LoggedRequest]) -> BTreeMap<String, usize> {
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    for r in log {
        let route = r.route.clone().unwrap_or_else(|| r.path.clone());
        *by_route.entry(format!("{} {route}", r.method)).or_default() += 1;
    }
    by_route
}

fn print_acronis(log: &[acronis_sim::LoggedRequest]) {
    println!(
        "Acronis calls:      {}: {}",
        log.len(),
        fmt_map(&acronis_routes(log))
    );
}

// ---- one cycle, timed -----------------------------------------------------------------------

struct CycleFigures {
    tick: Duration,
    receive: Duration,
    handler: Duration,
    settle: Duration,
    total: Duration,
    invocations: usize,
    aws: AwsCalls,
    timeline: Timeline,
}

impl CycleFigures {
    fn print_times(&self) {
        println!(
            "wall time:          {:.2} s = tick {:.2} s + receive {:.2} s + handler {:.2} s ({} invocation) + settle {:.2} s",
            self.total.as_secs_f64(),
            self.tick.as_secs_f64(),
            self.receive.as_secs_f64(),
            self.handler.as_secs_f64(),
            self.invocations,
            self.settle.as_secs_f64()
        );
    }
}

/// One tickets tick, then the queue drained as `LocalDeployment::drain` does it (receive,
/// invoke, settle until empty), each step timed, with a sampler of what is in flight.
async fn cycle(
    d: &LocalDeployment,
    at: DateTime<Utc>,
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    meter: &Meter,
) -> Result<CycleFigures> {
    let started = Instant::now();
    meter.take(started);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = sample(autotask, acronis, meter, started, sampling.clone());
    let run = async {
        d.tick(Job::Tickets, at).await?;
        let tick = started.elapsed();
        let (mut receive, mut handler, mut settle, mut invocations) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0);
        loop {
            let step = Instant::now();
            let batch = d.receive_batch(Job::Tickets).await?;
            receive += step.elapsed();
            if batch.is_empty() {
                break;
            }
            let step = Instant::now();
            let response = d.invoke(Job::Tickets, batch.clone()).await;
            handler += step.elapsed();
            let step = Instant::now();
            let (_, failed) = d.settle_batch(Job::Tickets, &batch, &response).await?;
            settle += step.elapsed();
            ensure!(
                failed == 0,
                "the tickets job left {failed} messages for retry"
            );
            invocations += 1;
            ensure!(invocations <= 10, "the tickets queue does not empty");
        }
        let total = started.elapsed();
        sampling.store(false, Ordering::Relaxed);
        Ok::<_, anyhow::Error>((tick, receive, handler, settle, total, invocations))
    };
    let (result, timeline) = futures::join!(run, sampler);
    let (tick, receive, handler, settle, total, invocations) = result?;
    ensure!(invocations == 1, "the tickets job ran {invocations} times");
    Ok(CycleFigures {
        tick,
        receive,
        handler,
        settle,
        total,
        invocations,
        aws: meter.take(Instant::now()),
        timeline,
    })
}

// ---- what was in flight when ----------------------------------------------------------------

/// Per stream (an Autotask entity, Acronis, DynamoDB operation): first and last time it had a
/// call in flight, the time with one or more in flight, and the sum of calls × time.
#[derive(Debug, Default, Clone)]
struct Activity {
    first: Option<Duration>,
    last: Duration,
    busy: Duration,
    call_time: Duration,
    max: usize,
}

#[derive(Debug, Default)]
struct Timeline {
    streams: BTreeMap<String, Activity>,
    /// Time with any remote (Autotask or Acronis) call in flight.
    remote_busy: Duration,
    /// Time with any call at all (remote or local stack) in flight.
    any_busy: Duration,
}

async fn sample(
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    meter: &Meter,
    started: Instant,
    sampling: Arc<AtomicBool>,
) -> Timeline {
    let mut timeline = Timeline::default();
    let mut previous = started;
    while sampling.load(Ordering::Relaxed) {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let now = Instant::now();
        let dt = now - previous;
        previous = now;
        let at = now - started;
        let mut streams: Vec<(String, usize)> = AUTOTASK_ENTITIES
            .iter()
            .map(|e| (format!("Autotask {e}"), autotask.in_flight(e)))
            .collect();
        streams.push(("Acronis (all routes)".into(), acronis.in_flight(None)));
        let remote: usize = streams.iter().map(|(_, n)| n).sum();
        for (service, n) in meter.in_flight() {
            streams.push((service, n));
        }
        let any: usize = streams.iter().map(|(_, n)| n).sum();
        if remote > 0 {
            timeline.remote_busy += dt;
        }
        if any > 0 {
            timeline.any_busy += dt;
        }
        for (stream, n) in streams {
            if n == 0 {
                continue;
            }
            let a = timeline.streams.entry(stream).or_default();
            a.first.get_or_insert(at);
            a.last = at;
            a.busy += dt;
            a.call_time += dt * n as u32;
            a.max = a.max.max(n);
        }
    }
    timeline
}

impl Timeline {
    fn print(&self, wall: Duration, log: &autotask_sim::RequestLog) {
        println!(
            "timeline (sampled every {} ms; first..last in flight, busy = time with ≥ 1 call in flight, mean/max in flight while busy):",
            SAMPLE_EVERY.as_millis()
        );
        let mut streams: Vec<(&String, &Activity)> = self.streams.iter().collect();
        streams.sort_by_key(|(_, a)| a.first);
        for (stream, a) in streams {
            println!(
                "  {stream:<34} {:>6.2} .. {:>6.2} s, busy {:>5.2} s, mean {:.1}, max {}",
                a.first.unwrap_or_default().as_secs_f64(),
                a.last.as_secs_f64(),
                a.busy.as_secs_f64(),
                a.call_time.as_secs_f64() / a.busy.as_secs_f64().max(1e-9),
                a.max
            );
        }
        println!(
            "  remote (Autotask or Acronis) calls in flight {:.2} s of {:.2} s; any call in flight {:.2} s",
            self.remote_busy.as_secs_f64(),
            wall.as_secs_f64(),
            self.any_busy.as_secs_f64()
        );
        let unsampled: BTreeSet<String> = log
            .records
            .iter()
            .filter_map(|r| r.entity.clone())
            .filter(|e| !AUTOTASK_ENTITIES.contains(&e.as_str()))
            .collect();
        if !unsampled.is_empty() {
            println!(
                "  (Autotask entities not sampled: {})",
                unsampled.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
}

/// The busy cycle's floor at this latency, to read the wall time against.
fn print_where_time_goes(
    busy: &CycleFigures,
    log: &autotask_sim::RequestLog,
    acronis: &[acronis_sim::LoggedRequest],
    latency: Duration,
) {
    let latency = latency.as_secs_f64();
    let tickets_calls = log
        .records
        .iter()
        .filter(|r| r.entity.as_deref() == Some("Tickets"))
        .count();
    let writes = log
        .records
        .iter()
        .filter(|r| r.method != "GET" && !r.path.to_ascii_lowercase().contains("/query"))
        .count();
    let floor = tickets_calls as f64 / AUTOTASK_THREADS as f64 * latency;
    println!(
        "where the time goes: {} Autotask calls ({writes} writes) and {} Acronis calls × {:.0} ms = {:.1} call-seconds; {tickets_calls} calls on the Tickets endpoint at {AUTOTASK_THREADS} at a time need at least {:.1} s; handler {:.2} s",
        log.records.len(),
        acronis.len(),
        latency * 1000.0,
        (log.records.len() + acronis.len()) as f64 * latency,
        floor,
        busy.handler.as_secs_f64()
    );
}

// ---- local stack metering -------------------------------------------------------------------

/// Calls to the local stack per service and operation (DynamoDB operations also by the kind of
/// item, the sort key's prefix), and the time they were in flight.
#[derive(Debug, Default)]
struct ServiceMeter {
    calls: BTreeMap<String, usize>,
    in_flight: usize,
    last_change: Option<Instant>,
    request_secs: f64,
    busy_secs: f64,
}

impl ServiceMeter {
    fn advance(&mut self, now: Instant) {
        if let Some(last) = self.last_change
            && now > last
        {
            let dt = now.duration_since(last).as_secs_f64();
            self.request_secs += self.in_flight as f64 * dt;
            if self.in_flight > 0 {
                self.busy_secs += dt;
            }
        }
        self.last_change = Some(now);
    }
}

#[derive(Debug, Clone, Default)]
struct Meter(Arc<Mutex<BTreeMap<&'static str, ServiceMeter>>>);

struct AwsCalls {
    services: BTreeMap<&'static str, ServiceMeter>,
}

impl Meter {
    /// The figures since the last `take`, and a fresh start at `now`.
    fn take(&self, now: Instant) -> AwsCalls {
        let services = self
            .0
            .lock()
            .map(|mut m| {
                for meter in m.values_mut() {
                    meter.advance(now);
                }
                let taken = std::mem::take(&mut *m);
                for (service, old) in &taken {
                    if old.in_flight > 0 {
                        m.insert(
                            service,
                            ServiceMeter {
                                in_flight: old.in_flight,
                                last_change: Some(now),
                                ..ServiceMeter::default()
                            },
                        );
                    }
                }
                taken
            })
            .unwrap_or_default();
        AwsCalls { services }
    }

    fn in_flight(&self) -> Vec<(String, usize)> {
        self.0
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(service, s)| (format!("local {service}"), s.in_flight))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl AwsCalls {
    fn print(&self, wall: Duration) {
        println!(
            "local stack calls (request-s: sum of call durations; busy: wall time with any in flight):"
        );
        for (service, m) in &self.services {
            let calls: usize = m.calls.values().sum();
            println!(
                "  {service:<15} {calls:>5} calls, {:.2} request-s, busy {:.2} s of {:.2} s, {:.1} ms per call: {}",
                m.request_secs,
                m.busy_secs,
                wall.as_secs_f64(),
                if calls > 0 {
                    1000.0 * m.request_secs / calls as f64
                } else {
                    0.0
                },
                fmt_map(&m.calls)
            );
        }
    }
}

#[derive(Debug)]
struct MeterInterceptor {
    service: &'static str,
    meter: Meter,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `PutItem TICKET`, `Query ByTenant`, `GetItem CURSOR`, … from a DynamoDB request body.
fn dynamodb_operation(operation: &str, body: Option<&[u8]>) -> String {
    let body = body.map(String::from_utf8_lossy).unwrap_or_default();
    if let Some(index) = body
        .split("\"IndexName\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        return format!("{operation} {index}");
    }
    let prefix = body
        .split("\"sk\":{\"S\":\"")
        .nth(1)
        .and_then(|rest| rest.split(['#', '"']).next())
        .or_else(|| {
            body.split("\":sk\":{\"S\":\"")
                .nth(1)
                .and_then(|rest| rest.split(['#', '"']).next())
        });
    match prefix {
        Some(prefix) => format!("{operation} {prefix}"),
        None => operation.to_string(),
    }
}

impl Intercept for MeterInterceptor {
    fn name(&self) -> &'static str {
        "bench-meter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} {}", request.method(), request.uri()));
        let operation = if self.service == "DynamoDB" {
            dynamodb_operation(&operation, request.body().bytes())
        } else {
            operation
        };
        let now = Instant::now();
        if let Ok(mut meters) = self.meter.0.lock() {
            let m = meters.entry(self.service).or_default();
            m.advance(now);
            m.in_flight += 1;
            *m.calls.entry(operation).or_default() += 1;
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = Instant::now();
        if let Ok(mut meters) = self.meter.0.lock() {
            let m = meters.entry(self.service).or_default();
            m.advance(now);
            m.in_flight = m.in_flight.saturating_sub(1);
        }
        Ok(())
    }
}

async fn metered_clients() -> (AwsClients, Meter) {
    let config = sync_shared::aws::sdk_config().await;
    let meter = Meter::default();
    let interceptor = |service| MeterInterceptor {
        service,
        meter: meter.clone(),
    };
    let clients = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(interceptor("DynamoDB"))
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .interceptor(interceptor("SQS"))
                .build(),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config)
                .interceptor(interceptor("SecretsManager"))
                .build(),
        ),
    };
    (clients, meter)
}
