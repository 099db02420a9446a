//! `bench_usage`: the usage job end to end (scheduler → planner → apply queue → applier, as
//! `local-run` plays it) against the in-process simulators, on the local stack.
//!
//! N PAYG customers (default 1,000): N Autotask companies, each mapped to its own Acronis
//! customer tenant and holding one active Recurring Service contract with `Acronis PAYG` = Yes
//! and 5 mapped service lines (workstations, servers, virtual machines, mobiles, storage GB on
//! the Acronis-hosted infra); every tenant has usage of all 5 items.
//!
//! 1. First run (no latency): every line goes from 0 to its usage (5 × N adjustments).
//! 2. Measured cycle, the next day: 100 ms latency per call on both simulators, 10 % of the
//!    5 × N usages changed (up or down). Prints the wall time (tick + planner + every apply,
//!    `drain_apply` with 3 pollers: the job's 3 message groups per integration), the Autotask
//!    calls by endpoint for the planner (reads must be the 500-row pages) and the applies
//!    (writes = the changed lines as `ContractServiceAdjustments` POSTs plus one
//!    `ContractServiceUnits` re-read each), the Acronis calls by route, the changed lines against
//!    the adjustments posted, the largest concurrent Autotask calls per endpoint (≤ 3), the local
//!    stack's calls and CPU time (where the wall time goes) and the peak memory.
//! 3. No-change cycle right after (the next daily run, nothing changed): writes must be 0.
//!
//! A summary block lists each target and whether it was met; the exit code is non-zero when a
//! correctness target (calls, writes, units, concurrency) is not.
//!
//!     scripts/local-stack.sh start && set -a && . .local/stack.env && set +a
//!     cargo run --release -p local-runner --bin bench_usage [-- N]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use acronis_sim::{AcronisSim, LoggedRequest, TenantSeed, UsageUpdate};
use anyhow::{Context, Result, anyhow, bail, ensure};
use autotask_sim::{AutotaskSim, RequestRecord};
use chrono::{DateTime, TimeZone, Utc};
use local_runner::bench::{
    AwsCalls, Cpu, Meter, StackProcesses, fmt_map, metered_clients, verdict,
};
use local_runner::{DrainSummary, LocalDeployment, peak_memory_kib, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;

/// The example seeds' Acronis partner and API client, and Autotask API user.
const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
const CLIENT_SECRET: &str = "example-secret";
const ACRONIS_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000101";
const AUTOTASK_USER: &str = "acronis-api@example.com";
const AUTOTASK_SECRET: &str = "api-secret-1";
const AUTOTASK_CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const INTEGRATION: &str = "msp";
const LATENCY: Duration = Duration::from_millis(100);
/// Pollers of the apply queue: the usage job's message groups per integration.
const APPLY_POLLERS: usize = 3;
/// Autotask's threads per endpoint.
const AUTOTASK_THREADS: usize = 3;
/// Autotask rows per page; Acronis subtree page (the planner's); tenants per usage batch.
const PAGE: usize = 500;
const SUBTREE_PAGE: usize = 1000;
const USAGE_BATCH: usize = 100;
/// The usage planner's Lambda timeout (template.yaml).
const PLANNER_TIMEOUT: Duration = Duration::from_secs(300);
/// Share of the usage values changed before the measured cycle.
const CHANGED_SHARE: f64 = 0.10;
const GIB: u64 = 1024 * 1024 * 1024;
const NAME_PREFIX: &str = "Usage Customer ";

/// The mapped items: (Acronis offering item, infra, Autotask service name).
const ITEMS: [(&str, Option<&str>, &str); 5] = [
    ("pw_base_workstations", None, "Bench Usage Workstations"),
    ("pw_base_servers", None, "Bench Usage Servers"),
    ("pw_base_vms", None, "Bench Usage Virtual Machines"),
    ("pw_base_mobiles", None, "Bench Usage Mobiles"),
    (
        "pw_base_storage",
        Some(ACRONIS_STORAGE),
        "Bench Usage Storage GB",
    ),
];

/// Customer `n`'s initial usage of item `s` in its billing unit (storage: GB).
fn initial_usage(n: usize, s: usize) -> u64 {
    match s {
        0 => 1 + (n % 20) as u64,
        1 => 1 + (n % 3) as u64,
        2 => 1 + (n % 4) as u64,
        3 => 1 + (n % 5) as u64,
        _ => 50 + 10 * (n % 10) as u64,
    }
}

/// The raw Acronis value of `units` of item `s`.
fn raw_value(s: usize, units: u64) -> u64 {
    if ITEMS[s].1.is_some() {
        units * GIB
    } else {
        units
    }
}

fn day(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 7, 0, 0)
        .single()
        .expect("a valid time")
}

/// One seeded customer: its company, tenant and the 5 contract lines.
struct Customer {
    company: i64,
    tenant: String,
    lines: [i64; 5],
}

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("N must be a whole number")?,
        None => 1000,
    };
    ensure!(n > 0, "N must be at least 1");
    ensure!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack's environment is missing: scripts/local-stack.sh start && set -a && . .local/stack.env && set +a"
    );
    let (clients, meter) = metered_clients().await;
    let stack = StackProcesses::from_env();

    // ---- Seeding ----
    let seeding = Instant::now();
    let autotask = AutotaskSim::start(autotask_sim::SimConfig {
        seed: autotask_sim::Seed::example().context("autotask-sim example seed")?,
        // The first run posts 5 × N adjustments: not what the hourly threshold is about here.
        hourly_request_threshold: 10_000_000,
        ..autotask_sim::SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    // The simulator's response self-check (on by default) would weigh on 1,000-row pages.
    let acronis = AcronisSim::start(acronis_sim::SimConfig {
        check_responses: false,
        ..acronis_sim::SimConfig::example()
    })
    .await
    .context("starting acronis-sim")?;
    let (service_ids, mut customers) = seed_autotask(&autotask, n)?;
    seed_acronis(&acronis, &mut customers)?;
    let name = format!("bench-usage-{}", Utc::now().timestamp());
    let mut d = LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;
    // Production client timings (no faults are injected, so only pacing could differ).
    d.usage.clients = sync_shared::remote::ClientSetup::production();
    configure(&d, &name, &autotask, &acronis, &customers).await?;
    let seeded_kib = peak_memory_kib().unwrap_or(0);
    println!(
        "seeded {n} PAYG customers (company, tenant, PAYG contract with 5 mapped lines, 5 usages) and deployment {name} in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // The setup job records the zone (as before any cycle); not part of the figures below.
    let setup_started = Instant::now();
    d.tick(Job::Setup, day(19)).await?;
    let setup = d.drain(Job::Setup, 100).await?;
    ensure!(
        setup.messages_failed == 0,
        "the setup job failed: {setup:?}"
    );
    println!(
        "setup job: {:.1} s (not counted below)",
        setup_started.elapsed().as_secs_f64()
    );

    // ---- Phase 1: first run, no latency ----
    let mut usage: Vec<[u64; 5]> = (0..n)
        .map(|c| std::array::from_fn(|s| initial_usage(c, s)))
        .collect();
    reset(&autotask, &acronis, &meter);
    let adjustments_before = adjustments(&autotask);
    let first = cycle(&d, day(20), &meter, &stack, &autotask, &acronis).await?;
    let first_posted = adjustments(&autotask) - adjustments_before;
    let first_wrong = wrong_lines(&autotask, &customers, &usage, "2026-11-20");
    println!();
    println!("== first run (no latency): every line from 0 to its usage ==");
    println!(
        "wall time:          {:.1} s = tick {:.1} s + planner {:.1} s + applies {:.1} s ({} apply messages in {} invocations)",
        first.total.as_secs_f64(),
        first.tick.as_secs_f64(),
        (first.planner - first.tick).as_secs_f64(),
        first.apply.as_secs_f64(),
        first.applied.messages_received,
        first.applied.invocations
    );
    println!(
        "adjustments:        {first_posted} posted (expected {}); lines not on their usage: {first_wrong}",
        5 * n
    );
    println!("status:             {}", status_line(&d).await?);
    println!(
        "Autotask calls:     {} (planner {}, applies {}); Acronis calls {}",
        first.planner_autotask.len() + first.apply_autotask.len(),
        first.planner_autotask.len(),
        first.apply_autotask.len(),
        first.planner_acronis.len() + first.apply_acronis.len()
    );
    first.apply_aws.print("applies", None, first.apply);
    first.apply_cpu.print(first.apply);
    ensure!(
        first_posted == 5 * n && first_wrong == 0,
        "the first run left {first_wrong} lines off their usage ({first_posted} adjustments)"
    );

    // ---- Phase 2: 10 % of the usages changed, 100 ms latency ----
    let changed = change_usages(&acronis, &customers, &mut usage, 0x9E37_79B9_7F4A_7C15)?;
    let changed_lines = changed.len();
    let changed_contracts: BTreeSet<usize> = changed.iter().map(|(c, _)| *c).collect();
    autotask.set_knobs(autotask_sim::Knobs {
        latency: LATENCY,
        ..autotask_sim::Knobs::default()
    });
    acronis.set_knobs(acronis_sim::Knobs {
        latency_ms: LATENCY.as_millis() as u64,
        ..acronis_sim::Knobs::default()
    });
    reset(&autotask, &acronis, &meter);
    let adjustments_before = adjustments(&autotask);
    let measured = cycle(&d, day(21), &meter, &stack, &autotask, &acronis).await?;
    let posted = adjustments(&autotask) - adjustments_before;
    let wrong = wrong_lines(&autotask, &customers, &usage, "2026-11-21");
    let measured_status = status_line(&d).await?;
    let concurrency = autotask.concurrency();
    let rows = rows_read(&autotask, &service_ids, "2026-11-21");
    let (subtree, acronis_customers) = acronis_subtree(&acronis);
    let dead_letters = d.apply_dead_letters(Job::Usage).await?;

    let planner_expected = planner_queries(&rows);
    let planner_queries_seen = query_calls(&measured.planner_autotask);
    let planner_other = measured.planner_autotask.len()
        - planner_queries_seen.values().sum::<usize>()
        - writes_of(&measured.planner_autotask);
    let planner_reads_ok = planner_queries_seen == planner_expected && planner_other <= 5;
    let apply_posts = endpoint_count(
        &measured.apply_autotask,
        "POST",
        "ContractServiceAdjustments",
    );
    let apply_rereads = query_calls(&measured.apply_autotask)
        .get("ContractServiceUnits")
        .copied()
        .unwrap_or(0);
    let apply_other = measured.apply_autotask.len() - apply_posts - apply_rereads;
    let writes_ok = apply_posts == changed_lines
        && writes_of(&measured.planner_autotask) == 0
        && writes_of(&measured.apply_autotask) == changed_lines;
    let rereads_ok = apply_rereads == changed_lines && apply_other == 0;
    let acronis_expected =
        1 + 1 + subtree.div_ceil(SUBTREE_PAGE).max(1) + acronis_customers.div_ceil(USAGE_BATCH) + 1;
    let acronis_calls = measured.planner_acronis.len() + measured.apply_acronis.len();
    let acronis_ok = acronis_calls <= acronis_expected
        && measured.apply_acronis.is_empty()
        && acronis_writes(&measured.planner_acronis) == 0;
    let adjust_ok = posted == changed_lines && wrong == 0;
    let concurrency_ok =
        concurrency.max_concurrent() <= AUTOTASK_THREADS && concurrency.refused() == 0;
    // What the 100 ms latency alone costs: the planner's calls one after the other, and two
    // Autotask calls per changed line spread over the 3 message groups.
    let planner_floor =
        LATENCY * (measured.planner_autotask.len() + measured.planner_acronis.len()) as u32;
    let apply_floor = LATENCY * (2 * changed_lines).div_ceil(APPLY_POLLERS) as u32;
    let floor = planner_floor + apply_floor;
    let wall_ok = measured.total <= 2 * floor;

    println!();
    println!(
        "== measured cycle: {n} PAYG customers × 5 lines, {changed_lines} usages changed ({:.0} %), {} ms per call ==",
        100.0 * changed_lines as f64 / (5 * n) as f64,
        LATENCY.as_millis()
    );
    println!(
        "wall time:          {:.1} s = tick {:.2} s + planner {:.1} s + applies {:.1} s ({APPLY_POLLERS} pollers)",
        measured.total.as_secs_f64(),
        measured.tick.as_secs_f64(),
        (measured.planner - measured.tick).as_secs_f64(),
        measured.apply.as_secs_f64(),
    );
    println!(
        "latency floor:      {:.1} s = planner {} calls in a row × 100 ms ({:.1} s) + applies 2 × {changed_lines} calls / {APPLY_POLLERS} groups × 100 ms ({:.1} s)",
        floor.as_secs_f64(),
        measured.planner_autotask.len() + measured.planner_acronis.len(),
        planner_floor.as_secs_f64(),
        apply_floor.as_secs_f64()
    );
    println!(
        "apply messages:     {} received in {} invocations ({:.1} per batch), {} deleted, {} failed, {} in the DLQ; contracts with a changed line: {}",
        measured.applied.messages_received,
        measured.applied.invocations,
        measured.applied.messages_received as f64 / measured.applied.invocations.max(1) as f64,
        measured.applied.messages_deleted,
        measured.applied.messages_failed,
        dead_letters,
        changed_contracts.len()
    );
    println!(
        "changed lines:      {changed_lines}; adjustments posted {posted}; lines not on their usage afterwards: {wrong}"
    );
    println!("status:             {measured_status}");
    println!(
        "rows the planner reads: {} → 500-row pages {}",
        fmt_map(&rows),
        fmt_map(&planner_expected)
    );
    print_autotask("planner", &measured.planner_autotask);
    print_autotask("applies", &measured.apply_autotask);
    println!(
        "  planner queries by entity {} (pages {}: {}); other planner calls {planner_other} (≤ 5)",
        fmt_map(&planner_queries_seen),
        fmt_map(&planner_expected),
        verdict(planner_reads_ok)
    );
    println!(
        "  applies: {apply_posts} adjustment POSTs, {apply_rereads} ContractServiceUnits re-reads, {apply_other} other calls for {changed_lines} changed lines ({:.2} calls per changed line)",
        measured.apply_autotask.len() as f64 / changed_lines.max(1) as f64
    );
    print_acronis("planner", &measured.planner_acronis);
    println!(
        "  expected ≤ {acronis_expected} (token 1, client 1, subtree of {subtree} tenants in pages of {SUBTREE_PAGE}: {}, usages of {acronis_customers} customers in batches of {USAGE_BATCH}: {}, infra 1); applies {}",
        subtree.div_ceil(SUBTREE_PAGE).max(1),
        acronis_customers.div_ceil(USAGE_BATCH),
        measured.apply_acronis.len()
    );
    println!(
        "Autotask concurrency (largest per endpoint): {} — max {} (≤ {AUTOTASK_THREADS}: {}), {} refused",
        fmt_map(&concurrency.max_by_entity()),
        concurrency.max_concurrent(),
        verdict(concurrency_ok),
        concurrency.refused()
    );
    measured
        .planner_aws
        .print("planner", None, measured.planner);
    measured.planner_cpu.print(measured.planner);
    measured.apply_aws.print("applies", None, measured.apply);
    measured.apply_cpu.print(measured.apply);
    apply_breakdown(&measured, changed_lines);

    // ---- Phase 3: no change, the next daily run ----
    reset(&autotask, &acronis, &meter);
    let adjustments_before = adjustments(&autotask);
    let steady = cycle(&d, day(22), &meter, &stack, &autotask, &acronis).await?;
    let steady_posted = adjustments(&autotask) - adjustments_before;
    let steady_writes = writes_of(&steady.planner_autotask)
        + writes_of(&steady.apply_autotask)
        + acronis_writes(&steady.planner_acronis)
        + acronis_writes(&steady.apply_acronis);
    let steady_ok =
        steady_writes == 0 && steady_posted == 0 && steady.applied.messages_received == 0;
    println!();
    println!(
        "== no-change cycle (next daily run, nothing changed), {} ms per call ==",
        LATENCY.as_millis()
    );
    println!(
        "wall time:          {:.1} s = tick {:.2} s + planner {:.1} s + applies {:.1} s",
        steady.total.as_secs_f64(),
        steady.tick.as_secs_f64(),
        (steady.planner - steady.tick).as_secs_f64(),
        steady.apply.as_secs_f64()
    );
    println!(
        "apply messages:     {}; remote writes {steady_writes}; adjustments posted {steady_posted} (must be 0: {})",
        steady.applied.messages_received,
        verdict(steady_ok)
    );
    println!("status:             {}", status_line(&d).await?);
    print_autotask("planner", &steady.planner_autotask);
    print_acronis("planner", &steady.planner_acronis);
    steady.planner_aws.print("planner", None, steady.planner);
    steady.planner_cpu.print(steady.planner);

    let peak_kib = peak_memory_kib().unwrap_or(0);

    // ---- Diagnostic: the applies batch by batch ----
    let changed = change_usages(&acronis, &customers, &mut usage, 0x2545_F491_4F6C_DD1D)?;
    reset(&autotask, &acronis, &meter);
    let adjustments_before = adjustments(&autotask);
    let batches = batch_by_batch(&d, day(23)).await?;
    let diag_posted = adjustments(&autotask) - adjustments_before;
    let diag_wrong = wrong_lines(&autotask, &customers, &usage, "2026-11-23");
    let diag_aws = meter.take();
    println!();
    println!(
        "== where the applies' time goes: another {} usages changed, the apply queue drained by one poller batch by batch (same latency) ==",
        changed.len()
    );
    batches.print(changed.len(), diag_posted, diag_wrong);
    diag_aws.print("planner + applies", None, batches.total);
    per_message_reads(&d).await?;

    println!();
    println!(
        "peak memory (VmHWM): {:.1} MiB, including both in-process simulators and their data ({:.1} MiB after seeding them)",
        peak_kib as f64 / 1024.0,
        seeded_kib as f64 / 1024.0
    );

    println!();
    println!(
        "== summary (N = {n} PAYG customers × 5 lines, {changed_lines} usages changed, {} ms per call) ==",
        LATENCY.as_millis()
    );
    println!(
        "wall time:            {:.1} s (tick {:.2} s, planner {:.1} s, applies {:.1} s); target ≤ 2 × latency floor {:.1} s = {:.1} s: {}; planner ≤ its {} s timeout: {}",
        measured.total.as_secs_f64(),
        measured.tick.as_secs_f64(),
        (measured.planner - measured.tick).as_secs_f64(),
        measured.apply.as_secs_f64(),
        floor.as_secs_f64(),
        2.0 * floor.as_secs_f64(),
        verdict(wall_ok),
        PLANNER_TIMEOUT.as_secs(),
        verdict(measured.planner <= PLANNER_TIMEOUT)
    );
    println!(
        "Autotask reads:       planner {} calls: queries {} = 500-row pages {}, other {planner_other} (≤ 5): {}",
        measured.planner_autotask.len(),
        fmt_map(&planner_queries_seen),
        fmt_map(&planner_expected),
        verdict(planner_reads_ok)
    );
    println!(
        "Autotask writes:      {apply_posts} ContractServiceAdjustments POSTs = {changed_lines} changed lines, no other write: {}",
        verdict(writes_ok)
    );
    println!(
        "applier re-reads:     {apply_rereads} ContractServiceUnits queries = {changed_lines} changed lines, {apply_other} other applier calls (0): {}",
        verdict(rereads_ok)
    );
    println!(
        "Acronis:              {acronis_calls} calls ≤ {acronis_expected} (token, client, subtree pages, usage batches of 100, infra), none from the applies, no write: {}",
        verdict(acronis_ok)
    );
    println!(
        "adjustments:          {posted} posted = {changed_lines} changed lines, {wrong} lines off their usage: {}",
        verdict(adjust_ok)
    );
    println!(
        "Autotask concurrency: largest per endpoint {} ≤ {AUTOTASK_THREADS}, {} refused: {}",
        concurrency.max_concurrent(),
        concurrency.refused(),
        verdict(concurrency_ok)
    );
    println!(
        "no-change cycle:      {:.1} s, {} Autotask + {} Acronis calls, {} apply messages, {steady_writes} writes (0): {}",
        steady.total.as_secs_f64(),
        steady.planner_autotask.len() + steady.apply_autotask.len(),
        steady.planner_acronis.len() + steady.apply_acronis.len(),
        steady.applied.messages_received,
        verdict(steady_ok)
    );
    println!(
        "peak memory:          {:.1} MiB (with the in-process simulators; {:.1} MiB after seeding)",
        peak_kib as f64 / 1024.0,
        seeded_kib as f64 / 1024.0
    );

    autotask.shutdown().await;
    acronis.shutdown().await;
    let failed: Vec<&str> = [
        ("Autotask reads", planner_reads_ok),
        ("Autotask writes", writes_ok),
        ("applier re-reads", rereads_ok),
        ("Acronis calls", acronis_ok),
        ("adjustments", adjust_ok),
        ("Autotask concurrency", concurrency_ok),
        ("no-change cycle", steady_ok),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if !failed.is_empty() {
        bail!("targets not met: {}", failed.join(", "));
    }
    Ok(())
}

fn seed_autotask(sim: &AutotaskSim, n: usize) -> Result<(Vec<i64>, Vec<Customer>)> {
    sim.with_db(|db| -> Result<(Vec<i64>, Vec<Customer>)> {
        let billing_code = db.insert(
            "BillingCodes",
            json!({"name": "Acronis Cloud Services", "useType": 6, "isActive": true}),
        )?;
        db.insert(
            "UserDefinedFieldDefinitions",
            json!({"name": "Acronis PAYG", "udfType": 13, "dataType": 1, "isActive": true}),
        )?;
        let services = ITEMS
            .iter()
            .map(|(_, _, name)| {
                db.insert(
                    "Services",
                    json!({"name": name, "periodType": 1, "unitPrice": 1.0,
                        "billingCodeID": billing_code, "isActive": true}),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut customers = Vec::with_capacity(n);
        for c in 0..n {
            let company = db.insert(
                "Companies",
                json!({"companyName": format!("{NAME_PREFIX}{c:05}"), "companyType": 1, "isActive": true}),
            )?;
            let contract = db.insert(
                "Contracts",
                json!({"companyID": company, "contractName": format!("Usage {c:05}"),
                    "contractType": 7, "status": 1,
                    "startDate": "2026-01-01T00:00:00", "endDate": "2026-12-31T00:00:00",
                    "userDefinedFields": [{"name": "Acronis PAYG", "value": "Yes"}]}),
            )?;
            let mut lines = [0; 5];
            for (s, service) in services.iter().enumerate() {
                lines[s] = db.seed_contract_service(contract, *service, 0)?;
            }
            customers.push(Customer {
                company,
                tenant: String::new(),
                lines,
            });
        }
        Ok((services, customers))
    })
}

/// A customer tenant per company under the example partner, with the 5 items and their usage.
fn seed_acronis(sim: &AcronisSim, customers: &mut [Customer]) -> Result<()> {
    for (c, customer) in customers.iter_mut().enumerate() {
        let mut seed = TenantSeed::new(&format!("{NAME_PREFIX}{c:05}"), "customer", Some(PARTNER));
        seed.pricing_mode = Some("production".into());
        seed.offering_items = ITEMS
            .iter()
            .map(|(item, infra, _)| acronis_sim::seed::OfferingItemSeed {
                name: (*item).into(),
                infra_id: infra.map(Into::into),
                quota_value: None,
                quota_overage: None,
            })
            .collect();
        customer.tenant = sim
            .add_tenant(seed)
            .map_err(|e| anyhow!("seeding tenant {c}: {e:?}"))?;
        for (s, (item, infra, _)) in ITEMS.iter().enumerate() {
            set_usage(
                sim,
                &customer.tenant,
                item,
                *infra,
                raw_value(s, initial_usage(c, s)),
            )?;
        }
    }
    Ok(())
}

fn set_usage(
    sim: &AcronisSim,
    tenant: &str,
    item: &str,
    infra: Option<&str>,
    value: u64,
) -> Result<()> {
    sim.set_usage(UsageUpdate {
        tenant_id: tenant.into(),
        name: item.into(),
        infra_id: infra.map(Into::into),
        value,
        absolute_value: None,
    })
    .map_err(|e| anyhow!("usage {item} of {tenant}: {e:?}"))
}

/// Changes 10 % of the N × 5 usages, spread at random (a fixed seed) over customers and items:
/// half up by 1–3 units, half down by 1 (up when at 0). Returns the changed (customer, item) pairs.
fn change_usages(
    sim: &AcronisSim,
    customers: &[Customer],
    usage: &mut [[u64; 5]],
    seed: u64,
) -> Result<Vec<(usize, usize)>> {
    let total = customers.len() * 5;
    let count = ((total as f64) * CHANGED_SHARE).round() as usize;
    let mut slots: Vec<usize> = (0..total).collect();
    let mut state: u64 = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..count.min(total) {
        let j = i + (next() % (total - i) as u64) as usize;
        slots.swap(i, j);
    }
    let mut changed = Vec::with_capacity(count);
    for (k, slot) in slots.into_iter().take(count).enumerate() {
        let (c, s) = (slot / 5, slot % 5);
        let old = usage[c][s];
        let new = if k % 2 == 0 || old == 0 {
            old + 1 + (k % 3) as u64
        } else {
            old - 1
        };
        usage[c][s] = new;
        let (item, infra, _) = ITEMS[s];
        set_usage(sim, &customers[c].tenant, item, infra, raw_value(s, new))?;
        changed.push((c, s));
    }
    Ok(changed)
}

/// Settings (billing on, current month), the 5 service mappings, a customer mapping per
/// company, both secrets.
async fn configure(
    d: &LocalDeployment,
    name: &str,
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    customers: &[Customer],
) -> Result<()> {
    let pk = format!("INTEGRATION#{INTEGRATION}");
    d.put_json_item(json!({
        "pk": pk,
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{name}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{name}/acronis"),
        "autotask_zone_lookup_url": autotask.zone_lookup_url(),
        "features": {"billing": true},
        "usage_reporting": {"period": "current_month"},
    }))
    .await?;
    for (item, infra, service) in ITEMS {
        let sk = match infra {
            Some(infra) => format!("SERVICE#{item}#{infra}"),
            None => format!("SERVICE#{item}"),
        };
        d.put_json_item(json!({"pk": pk, "sk": sk, "service": service}))
            .await?;
    }
    for customer in customers {
        d.put_json_item(
            json!({"pk": pk, "sk": format!("CUSTOMER#{}", customer.company),
            "tenant": customer.tenant}),
        )
        .await?;
    }
    let autotask_secret = json!({"username": AUTOTASK_USER, "secret": AUTOTASK_SECRET,
        "api_integration_code": AUTOTASK_CODE});
    let acronis_secret = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "datacenter_url": acronis.base_url()});
    for (kind, value) in [("autotask", autotask_secret), ("acronis", acronis_secret)] {
        put_secret(
            &d.clients.secrets,
            &format!("acronis-autotask-sync/{name}/{kind}"),
            &value.to_string(),
        )
        .await?;
    }
    Ok(())
}

// ---- one cycle ------------------------------------------------------------------------------

struct CycleRun {
    tick: Duration,
    /// Tick plus the planner's queue drained.
    planner: Duration,
    apply: Duration,
    total: Duration,
    applied: DrainSummary,
    planner_autotask: Vec<RequestRecord>,
    apply_autotask: Vec<RequestRecord>,
    planner_acronis: Vec<LoggedRequest>,
    apply_acronis: Vec<LoggedRequest>,
    planner_aws: AwsCalls,
    apply_aws: AwsCalls,
    planner_cpu: Cpu,
    apply_cpu: Cpu,
}

/// One usage tick, the planner's queue drained, then the apply queue with the job's 3 pollers.
async fn cycle(
    d: &LocalDeployment,
    at: DateTime<Utc>,
    meter: &Meter,
    stack: &StackProcesses,
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
) -> Result<CycleRun> {
    let cpu = Cpu::now(stack);
    let started = Instant::now();
    d.tick(Job::Usage, at).await?;
    let tick = started.elapsed();
    let planned = d.drain(Job::Usage, 100).await?;
    let planner = started.elapsed();
    let planner_aws = meter.take();
    let planner_cpu = cpu.elapsed(stack);
    let planner_autotask = autotask.request_log().records;
    let planner_acronis = acronis.request_log();
    ensure!(
        planned.messages_failed == 0 && planned.messages_received == 1,
        "the planner did not run once and succeed: {planned:?}"
    );
    let cpu = Cpu::now(stack);
    let applied = d.drain_apply(Job::Usage, APPLY_POLLERS, 100_000).await?;
    let total = started.elapsed();
    ensure!(applied.messages_failed == 0, "applies failed: {applied:?}");
    let apply_autotask = autotask.request_log().records[planner_autotask.len()..].to_vec();
    let apply_acronis = acronis.request_log()[planner_acronis.len()..].to_vec();
    Ok(CycleRun {
        tick,
        planner,
        apply: total - planner,
        total,
        applied,
        planner_autotask,
        apply_autotask,
        planner_acronis,
        apply_acronis,
        planner_aws,
        apply_aws: meter.take(),
        planner_cpu,
        apply_cpu: cpu.elapsed(stack),
    })
}

fn reset(autotask: &AutotaskSim, acronis: &AcronisSim, meter: &Meter) {
    autotask.reset_request_log();
    autotask.reset_concurrency();
    acronis.reset_request_log();
    acronis.reset_concurrency();
    meter.take();
}

async fn status_line(d: &LocalDeployment) -> Result<String> {
    let status = d
        .store
        .status(INTEGRATION)
        .await
        .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?
        .context("no status item")?;
    let job = status
        .jobs
        .get("usage")
        .context("no usage job in the status")?;
    if job.last_outcome != sync_shared::status::JobOutcomeKind::Succeeded {
        bail!("the usage job failed: {:?}", job.last_error);
    }
    Ok(format!(
        "{}; counts {}; {} customer issues",
        status.message,
        job.counts
            .iter()
            .filter(|(k, _)| !k.starts_with("recon_in"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        status.customers.len()
    ))
}

// ---- checks -----------------------------------------------------------------------------------

fn adjustments(autotask: &AutotaskSim) -> usize {
    autotask.with_db(|db| db.adjustments().len())
}

/// Lines whose units on `day` differ from their usage.
fn wrong_lines(
    autotask: &AutotaskSim,
    customers: &[Customer],
    usage: &[[u64; 5]],
    day: &str,
) -> usize {
    let units = units_on(autotask, day);
    customers
        .iter()
        .zip(usage)
        .map(|(customer, usage)| {
            (0..5)
                .filter(|&s| units.get(&customer.lines[s]).copied().unwrap_or(0) != usage[s] as i64)
                .count()
        })
        .sum()
}

fn date(row: &Value, field: &str) -> String {
    row[field]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(10)
        .collect()
}

/// Units per contract line on `day`.
fn units_on(autotask: &AutotaskSim, day: &str) -> BTreeMap<i64, i64> {
    autotask.with_db(|db| {
        let mut units = BTreeMap::new();
        for row in db.rows("ContractServiceUnits") {
            if date(&row, "startDate").as_str() <= day && day <= date(&row, "endDate").as_str() {
                if let Some(line) = row["contractServiceID"].as_i64() {
                    *units.entry(line).or_default() += row["units"].as_f64().unwrap_or(0.0) as i64;
                }
            }
        }
        units
    })
}

/// The rows the planner's Autotask queries return, counted in the simulator's database.
fn rows_read(autotask: &AutotaskSim, service_ids: &[i64], day: &str) -> BTreeMap<String, usize> {
    let current = |row: &Value| {
        date(row, "startDate").as_str() <= day && date(row, "endDate").as_str() >= day
    };
    autotask.with_db(|db| {
        let contracts = db
            .rows("Contracts")
            .iter()
            .filter(|c| c["contractType"] == json!(7) && c["status"] == json!(1) && current(c))
            .count();
        let units = db
            .rows("ContractServiceUnits")
            .iter()
            .filter(|u| {
                u["serviceID"]
                    .as_i64()
                    .is_some_and(|s| service_ids.contains(&s))
                    && current(u)
            })
            .count();
        BTreeMap::from([
            ("Contracts".to_string(), contracts),
            ("ContractServiceUnits".to_string(), units),
            ("Services".to_string(), db.rows("Services").len()),
        ])
    })
}

/// The 500-row pages of `rows` (an empty read is one call).
fn planner_queries(rows: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    rows.iter()
        .map(|(entity, n)| (entity.clone(), n.div_ceil(PAGE).max(1)))
        .collect()
}

fn is_query(r: &RequestRecord) -> bool {
    r.path.to_ascii_lowercase().contains("/query")
}

/// Query calls per entity.
fn query_calls(log: &[RequestRecord]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in log.iter().filter(|r| is_query(r)) {
        *counts
            .entry(r.entity.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
    }
    counts
}

/// Autotask writes: anything but GET and queries.
fn writes_of(log: &[RequestRecord]) -> usize {
    log.iter()
        .filter(|r| r.method != "GET" && !is_query(r))
        .count()
}

fn endpoint_count(log: &[RequestRecord], method: &str, entity: &str) -> usize {
    log.iter()
        .filter(|r| r.method == method && !is_query(r) && r.entity.as_deref() == Some(entity))
        .count()
}

fn acronis_writes(log: &[LoggedRequest]) -> usize {
    log.iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/idp/token"))
        .count()
}

/// The partner's subtree (the partner included) and its customer tenants.
fn acronis_subtree(acronis: &AcronisSim) -> (usize, usize) {
    acronis.with_state(|s| {
        let mut inside: BTreeSet<String> = BTreeSet::from([PARTNER.to_string()]);
        loop {
            let before = inside.len();
            for t in s.tenants.values() {
                if t.deleted_at.is_none() && inside.contains(&t.parent_id) {
                    inside.insert(t.id.clone());
                }
            }
            if inside.len() == before {
                break;
            }
        }
        let customers = s
            .tenants
            .values()
            .filter(|t| inside.contains(&t.id) && t.kind == "customer")
            .count();
        (inside.len(), customers)
    })
}

fn print_autotask(label: &str, log: &[RequestRecord]) {
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for r in log {
        *by_endpoint.entry(r.endpoint.clone()).or_default() += 1;
    }
    println!(
        "Autotask calls, {label}: {} ({} writes)",
        log.len(),
        writes_of(log)
    );
    for (endpoint, n) in by_endpoint {
        println!("  {n:>6}  {endpoint}");
    }
}

fn print_acronis(label: &str, log: &[LoggedRequest]) {
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    for r in log {
        let route = r.route.clone().unwrap_or_else(|| r.path.clone());
        *by_route.entry(format!("{} {route}", r.method)).or_default() += 1;
    }
    println!("Acronis calls, {label}: {}", log.len());
    for (route, n) in by_route {
        println!("  {n:>6}  {route}");
    }
}

/// Where the applies' wall time goes: each message's remote calls and local-stack calls, as
/// seconds of one group's serial work, against the wall time of the applies.
fn apply_breakdown(run: &CycleRun, changed_lines: usize) {
    let messages = run.applied.messages_received.max(1);
    let autotask_secs = run.apply_autotask.len() as f64 * LATENCY.as_secs_f64();
    let aws_secs: f64 = run
        .apply_aws
        .services
        .values()
        .map(|m| m.request_secs)
        .sum();
    let groups = APPLY_POLLERS as f64;
    println!(
        "applies, where the time goes ({} messages, {changed_lines} lines, {:.1} s wall): Autotask latency {:.1} request-s ({:.0} ms per message), local stack {:.1} request-s ({:.0} ms per message); spread over {APPLY_POLLERS} groups: {:.1} s + {:.1} s = {:.1} s of the {:.1} s",
        messages,
        run.apply.as_secs_f64(),
        autotask_secs,
        1000.0 * autotask_secs / messages as f64,
        aws_secs,
        1000.0 * aws_secs / messages as f64,
        autotask_secs / groups,
        aws_secs / groups,
        (autotask_secs + aws_secs) / groups,
        run.apply.as_secs_f64()
    );
}

// ---- diagnostic: the applies batch by batch --------------------------------------------------

/// One apply batch as one poller sees it.
struct BatchRun {
    /// Per message group: (messages, lines).
    groups: BTreeMap<String, (usize, usize)>,
    receive: Duration,
    invoke: Duration,
    settle: Duration,
}

struct Batches {
    planner: Duration,
    total: Duration,
    batches: Vec<BatchRun>,
}

/// A usage tick and its planner, then the apply queue received, invoked and settled one batch
/// at a time: what `drain_apply` does when every message group is held by the batch in flight.
async fn batch_by_batch(d: &LocalDeployment, at: DateTime<Utc>) -> Result<Batches> {
    let started = Instant::now();
    d.tick(Job::Usage, at).await?;
    let planned = d.drain(Job::Usage, 100).await?;
    ensure!(
        planned.messages_failed == 0 && planned.messages_received == 1,
        "the planner did not run once and succeed: {planned:?}"
    );
    let planner = started.elapsed();
    let mut batches = Vec::new();
    loop {
        let t = Instant::now();
        let batch = d.receive_apply_batch(Job::Usage).await?;
        let receive = t.elapsed();
        if batch.is_empty() {
            break;
        }
        let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for m in &batch {
            let group = m
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_default();
            let body: Value = serde_json::from_str(m.body.as_deref().unwrap_or("{}"))
                .context("an apply message's body")?;
            let lines = body["desired"]["lines"].as_array().map_or(0, Vec::len);
            let entry = groups.entry(group).or_default();
            entry.0 += 1;
            entry.1 += lines;
        }
        let t = Instant::now();
        let response = d.invoke_apply(Job::Usage, batch.clone()).await;
        let invoke = t.elapsed();
        ensure!(
            response.batch_item_failures.is_empty(),
            "{} apply messages failed",
            response.batch_item_failures.len()
        );
        let t = Instant::now();
        d.settle_apply_batch(Job::Usage, &batch, &response).await?;
        batches.push(BatchRun {
            groups,
            receive,
            invoke,
            settle: t.elapsed(),
        });
    }
    Ok(Batches {
        planner,
        total: started.elapsed(),
        batches,
    })
}

impl Batches {
    fn print(&self, changed: usize, posted: usize, wrong: usize) {
        let n = self.batches.len().max(1) as f64;
        let sum = |f: &dyn Fn(&BatchRun) -> f64| self.batches.iter().map(f).sum::<f64>();
        let messages = sum(&|b| b.groups.values().map(|g| g.0).sum::<usize>() as f64);
        let lines = sum(&|b| b.groups.values().map(|g| g.1).sum::<usize>() as f64);
        let groups = sum(&|b| b.groups.len() as f64);
        let slowest_lines = sum(&|b| b.groups.values().map(|g| g.1).max().unwrap_or(0) as f64);
        let slowest_messages = sum(&|b| b.groups.values().map(|g| g.0).max().unwrap_or(0) as f64);
        let invoke = sum(&|b| b.invoke.as_secs_f64());
        let receive = sum(&|b| b.receive.as_secs_f64());
        let settle = sum(&|b| b.settle.as_secs_f64());
        let applies = self.total - self.planner;
        println!(
            "{} usages changed: {posted} adjustments posted, {wrong} lines off their usage; planner {:.1} s, applies {:.1} s",
            changed,
            self.planner.as_secs_f64(),
            applies.as_secs_f64()
        );
        println!(
            "batches:            {} of {:.1} messages ({:.1} lines) from {:.1} message groups on average",
            self.batches.len(),
            messages / n,
            lines / n,
            groups / n
        );
        println!(
            "applies' time:      invocations {invoke:.1} s ({:.2} s per batch) + receives {receive:.1} s + settling (one DeleteMessage per message) {settle:.1} s",
            invoke / n
        );
        println!(
            "per batch the groups run side by side, the batch lasts as long as its busiest group: Σ busiest group = {slowest_messages:.0} messages / {slowest_lines:.0} lines, against {:.0} messages / {:.0} lines if every batch's work were spread evenly over 3 groups ({:.0} % more)",
            messages / 3.0,
            lines / 3.0,
            100.0 * (slowest_lines / (lines / 3.0).max(1e-9) - 1.0)
        );
        println!(
            "invocation time per line of the busiest group: {:.0} ms (two Autotask calls are {} ms)",
            1000.0 * invoke / slowest_lines.max(1.0),
            2 * LATENCY.as_millis()
        );
    }
}

/// The local reads every apply message makes before its first Autotask call, timed one by one
/// with nothing else running: the integration's whole configuration (settings, every service,
/// customer and alert mapping, validated), the recorded zone, and the status (after the apply).
async fn per_message_reads(d: &LocalDeployment) -> Result<()> {
    const TIMES: u32 = 20;
    let cpu = || local_runner::bench::cpu_secs("self").unwrap_or(0.0);
    let (t, c) = (Instant::now(), cpu());
    let mut customers = 0;
    for _ in 0..TIMES {
        let raw = d
            .store
            .load_config_items(INTEGRATION)
            .await
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?;
        let config = sync_shared::config::IntegrationConfig::from_items(INTEGRATION, raw)
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?;
        customers = config.customers.len();
    }
    let config = (t.elapsed() / TIMES, (cpu() - c) / f64::from(TIMES));
    let (t, c) = (Instant::now(), cpu());
    for _ in 0..TIMES {
        d.store
            .get_item(&format!("INTEGRATION#{INTEGRATION}"), "SETTINGS")
            .await
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?;
    }
    let settings = (t.elapsed() / TIMES, (cpu() - c) / f64::from(TIMES));
    let (t, c) = (Instant::now(), cpu());
    for _ in 0..TIMES {
        sync_shared::autotask::recorded_zone(&d.store, INTEGRATION)
            .await
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?;
        d.store
            .status(INTEGRATION)
            .await
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?;
    }
    let zone_status = (t.elapsed() / TIMES, (cpu() - c) / f64::from(TIMES));
    println!(
        "per apply message, before any Autotask call (mean of {TIMES}, nothing else running): whole configuration ({customers} customer mappings) read and validated {:.0} ms ({:.0} ms CPU here); the SETTINGS item alone {:.0} ms; recorded zone + status {:.0} ms",
        config.0.as_secs_f64() * 1000.0,
        config.1 * 1000.0,
        settings.0.as_secs_f64() * 1000.0,
        zone_status.0.as_secs_f64() * 1000.0,
    );
    Ok(())
}
