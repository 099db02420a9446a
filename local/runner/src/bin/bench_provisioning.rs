//! `bench_provisioning`: the provisioning job end to end (scheduler → planner → apply queue →
//! applier, as `local-run` plays it) against the in-process simulators answering with 100 ms
//! latency per call, on the local stack.
//!
//! 1. First provisioning: N companies (default 1,000), each with a primary contact and an
//!    active prepaid contract holding 5 mapped services, automatic creation on. One cycle
//!    creates N tenants with their admin users and quotas. Prints the cycle's wall time (the
//!    planner and, beside it as in Lambda, the applies with the template's apply
//!    `MaximumConcurrency` of pollers), the calls to both sides and per customer, and the largest number of concurrent Autotask calls per
//!    endpoint the simulator saw (must be ≤ 3).
//! 2. Steady cycle: a second cycle with nothing changed. Prints the Autotask calls by entity
//!    against the target 1.1 × Σ ⌈rows/500⌉ over the entities read (rows counted in the
//!    simulator's database), the Acronis calls, the apply messages (must be 0) and the wall
//!    time; fails on any remote write.
//!
//! Both phases also print the local stack's calls (DynamoDB, SQS, Secrets Manager) by
//! operation with the time they were in flight, and the CPU time of this process and of the
//! local stack's processes, to tell where the wall time goes; at the end the planner's bulk
//! reads run once more one by one, at 100 ms and at 0 ms latency (simulated latency versus the
//! simulators' own time). Peak memory includes both in-process simulators.
//!
//! It fails when a tenant is missing or has the wrong quota, when Autotask saw more than 3
//! concurrent calls on an endpoint, or when the steady cycle sends an apply message or writes;
//! the wall-time and call targets are printed as met or NOT met.
//!
//!     scripts/local-stack.sh start && set -a && . .local/stack.env && set +a
//!     cargo run --release -p local-runner --bin bench_provisioning [-- N] [--two-way]
//!
//! `--two-way` turns two-way sync on (F19) with a public cloud vendor mapped: the steady
//! cycle then also reads the vendor's lines (in the same unit queries), the storages' backend
//! types and the agreed states, and must still write nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acronis_sim::AcronisSim;
use anyhow::{Context, Result, anyhow, bail, ensure};
use autotask_sim::AutotaskSim;
use chrono::{DateTime, TimeZone, Utc};
use local_runner::bench::{
    AwsCalls, Cpu, Meter, StackProcesses, fmt_map, metered_clients, verdict,
};
use local_runner::{
    APPLY_MAX_CONCURRENCY, DrainSummary, LocalDeployment, peak_memory_kib, put_secret,
};
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
const LATENCY: Duration = Duration::from_millis(100);
const FIRST_PROVISIONING_TARGET: Duration = Duration::from_secs(180);
const AUTOTASK_THREADS: usize = 3;
const PAGE: usize = 500;
const GIB: u64 = 1024 * 1024 * 1024;
const NAME_PREFIX: &str = "Bench Customer ";

/// The mapped services: (Acronis offering item, Autotask service name, unit price).
const SERVICES: [(&str, &str, f64); 5] = [
    ("pw_base_workstations", "Bench Workstations", 10.0),
    ("pw_base_servers", "Bench Servers", 20.0),
    ("pw_base_vms", "Bench Virtual Machines", 30.0),
    ("pw_base_mobiles", "Bench Mobiles", 2.0),
    ("pw_base_storage", "Bench Storage GB", 0.1),
];

/// Units of service `s` in company `n`'s contract (storage in GB).
fn units(n: usize, s: usize) -> i64 {
    match s {
        0 => 1 + (n % 20) as i64,
        1 => 1 + (n % 3) as i64,
        2 => (n % 4) as i64,
        3 => 1 + (n % 5) as i64,
        _ => 50 + 10 * (n % 10) as i64,
    }
}

fn slot(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, 0)
        .single()
        .expect("a valid time")
}

#[tokio::main]
async fn main() -> Result<()> {
    let two_way = std::env::args().any(|a| a == "--two-way");
    let customers: usize = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(n) => n.parse().context("N must be a whole number")?,
        None => 1000,
    };
    ensure!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack's environment is missing: scripts/local-stack.sh start && set -a && . .local/stack.env && set +a"
    );
    let (clients, meter) = metered_clients().await;
    let stack = StackProcesses::from_env();

    let seeding = Instant::now();
    let autotask = AutotaskSim::start(autotask_sim::SimConfig {
        seed: autotask_sim::Seed::example().context("autotask-sim example seed")?,
        ..autotask_sim::SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    let service_ids = seed_autotask(&autotask, customers)?;
    // The simulator's response self-check (on by default) would be a large share of the
    // timing of 1,000-row pages, as in bench_acronis.
    let acronis = AcronisSim::start(acronis_sim::SimConfig {
        check_responses: false,
        ..acronis_sim::SimConfig::example()
    })
    .await
    .context("starting acronis-sim")?;
    let name = format!("bench-prov-{}", Utc::now().timestamp());
    let mut d = LocalDeployment::create(clients.clone(), &name, "acronis-autotask-sync/").await?;
    // Production client timings (no faults are injected, so only pacing could differ).
    d.provisioning.clients = sync_shared::remote::ClientSetup::production();
    configure(&d, &autotask, &acronis, &service_ids, two_way).await?;
    let seeded_kib = peak_memory_kib().unwrap_or(0);
    println!(
        "seeded {customers} companies (contact, prepaid contract, 5 mapped services each) and deployment {name} in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    autotask.set_knobs(autotask_sim::Knobs {
        latency: LATENCY,
        ..autotask_sim::Knobs::default()
    });
    acronis.set_knobs(acronis_sim::Knobs {
        latency_ms: LATENCY.as_millis() as u64,
        ..acronis_sim::Knobs::default()
    });

    // The setup job records the zone (as in every cycle); not part of the figures below.
    let setup_started = Instant::now();
    d.tick(Job::Setup, slot(0)).await?;
    let setup = d.drain(Job::Setup, 100).await?;
    ensure!(
        setup.messages_failed == 0,
        "the setup job failed: {setup:?}"
    );
    println!(
        "setup job: {:.1} s, {} Autotask and {} Acronis calls (not counted below)",
        setup_started.elapsed().as_secs_f64(),
        autotask.request_log().records.len(),
        acronis.request_log().len()
    );

    // ---- Phase 1: first provisioning ----
    reset(&autotask, &acronis, &meter);
    let first = cycle(&d, slot(0), &meter, &stack).await?;
    let first_status = status_line(&d).await?;
    let created = bench_tenants(&acronis);
    let quota_mismatches = quota_mismatches(&acronis, &created, customers);
    let at_concurrency = autotask.concurrency();
    let at_log = autotask.request_log();
    let ac_log = acronis.request_log();
    let (ac_writes, at_writes) = remote_writes(&autotask, &acronis);
    let dead_letters = d.apply_dead_letters(Job::Provisioning).await?;
    let (first_autotask_calls, first_acronis_calls) = (at_log.records.len(), ac_log.len());

    println!();
    println!("== first provisioning: {customers} new customers ==");
    println!(
        "wall time:          {:.1} s = planner {:.1} s (incl. tick {:.1} s; applies run beside it) + last applies {:.1} s ({} pollers); target ≤ {} s: {}",
        first.total.as_secs_f64(),
        first.planner.as_secs_f64(),
        first.tick.as_secs_f64(),
        first.apply_tail.as_secs_f64(),
        APPLY_MAX_CONCURRENCY,
        FIRST_PROVISIONING_TARGET.as_secs(),
        verdict(first.total <= FIRST_PROVISIONING_TARGET)
    );
    println!(
        "apply messages:     {} received in {} invocations, {} deleted, {} failed, {} in the DLQ",
        first.applied.messages_received,
        first.applied.invocations,
        first.applied.messages_deleted,
        first.applied.messages_failed,
        dead_letters
    );
    println!(
        "tenants created:    {} of {customers} (customer tenants named {NAME_PREFIX}… in acronis-sim); quota mismatches {quota_mismatches}",
        created.len()
    );
    println!("status:             {first_status}");
    print_autotask(&at_log, customers);
    print_acronis(&ac_log, customers);
    println!(
        "remote writes:      Acronis {ac_writes} ({:.1} per customer), Autotask {at_writes}",
        ac_writes as f64 / customers.max(1) as f64
    );
    println!(
        "Autotask concurrency (largest per endpoint): {} — max {} (limit {AUTOTASK_THREADS}: {}), {} refused",
        fmt_map(&at_concurrency.max_by_entity()),
        at_concurrency.max_concurrent(),
        verdict(at_concurrency.max_concurrent() <= AUTOTASK_THREADS),
        at_concurrency.refused()
    );
    let ac_concurrency = acronis.concurrency();
    let item_reads = ac_concurrency
        .routes
        .iter()
        .filter(|r| r.method == "GET" && r.route == "/api/2/tenants/{tenant_id}/offering_items")
        .map(|r| r.max_concurrent)
        .max()
        .unwrap_or(0);
    println!(
        "Acronis concurrency: largest per route {}, applies side by side (largest concurrent GET /tenants/{{id}}/offering_items, once per apply) {item_reads}; mean Acronis calls in flight over the cycle {:.1} (calls × latency / wall time)",
        ac_concurrency.max_concurrent(),
        first_acronis_calls as f64 * LATENCY.as_secs_f64() / first.total.as_secs_f64().max(1e-9)
    );
    first.aws.print("cycle", Some(customers), first.total);
    first.cpu.print(first.total);

    // ---- Phase 2: steady cycle ----
    reset(&autotask, &acronis, &meter);
    let steady = cycle(&d, slot(5), &meter, &stack).await?;
    let steady_status = status_line(&d).await?;
    let at_log = autotask.request_log();
    let ac_log = acronis.request_log();
    let (ac_steady_writes, at_steady_writes) = remote_writes(&autotask, &acronis);
    let rows = rows_read(&autotask, &service_ids, slot(5));
    let pages: usize = rows.values().map(|r| r.div_ceil(PAGE).max(1)).sum();
    let target = 1.1 * pages as f64;
    let at_calls = at_log.records.len();

    println!();
    println!("== steady cycle: {customers} mapped customers, nothing changed ==");
    println!(
        "wall time:          {:.1} s (planner {:.1} s)",
        steady.total.as_secs_f64(),
        steady.planner.as_secs_f64(),
    );
    println!(
        "apply messages:     {} (must be 0: {})",
        steady.applied.messages_received,
        verdict(steady.applied.messages_received == 0)
    );
    println!("status:             {steady_status}");
    println!(
        "rows read:          {} → Σ ⌈rows/{PAGE}⌉ = {pages}; target ≤ 1.1 × {pages} = {target:.1}",
        rows.iter()
            .map(|(entity, n)| format!("{entity} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    print_autotask(&at_log, customers);
    println!(
        "Autotask target:    {at_calls} calls ≤ {target:.1}: {}",
        verdict(at_calls as f64 <= target)
    );
    print_acronis(&ac_log, customers);
    println!(
        "remote writes:      Acronis {ac_steady_writes}, Autotask {at_steady_writes} (must be 0: {})",
        verdict(ac_steady_writes == 0 && at_steady_writes == 0)
    );
    let steady_concurrency = autotask.concurrency();
    println!(
        "Autotask concurrency (largest per endpoint): {}",
        fmt_map(&steady_concurrency.max_by_entity())
    );
    steady.aws.print("cycle", Some(customers), steady.total);
    steady.cpu.print(steady.total);

    // ---- Diagnostic: the planner's reads one by one ----
    println!();
    println!(
        "== where the planner's time goes: its bulk reads one by one (the same calls, the simulators as after the cycles) =="
    );
    for latency in [LATENCY, Duration::ZERO] {
        autotask.set_knobs(autotask_sim::Knobs {
            latency,
            ..autotask_sim::Knobs::default()
        });
        acronis.set_knobs(acronis_sim::Knobs {
            latency_ms: latency.as_millis() as u64,
            ..acronis_sim::Knobs::default()
        });
        planner_reads(&autotask, &acronis, &service_ids, slot(5), latency).await?;
    }
    println!(
        "(the planner reads Autotask's picklist/services/contracts and all of Acronis side by side, then the units, the companies and — for new tenants — the contacts)"
    );

    let peak_kib = peak_memory_kib().unwrap_or(0);
    println!();
    println!(
        "peak memory (VmHWM): {:.1} MiB, including both in-process simulators and their data ({:.1} MiB after seeding them)",
        peak_kib as f64 / 1024.0,
        seeded_kib as f64 / 1024.0
    );

    println!();
    println!(
        "== summary (N = {customers}, {} ms per simulated call) ==",
        LATENCY.as_millis()
    );
    println!(
        "first provisioning: {:.1} s (target ≤ 180 s: {}); Autotask {} calls, Acronis {} calls ({:.1} per customer); {} tenants; Autotask max concurrency per endpoint {} (≤ 3: {})",
        first.total.as_secs_f64(),
        verdict(first.total <= FIRST_PROVISIONING_TARGET),
        first_autotask_calls,
        first_acronis_calls,
        first_acronis_calls as f64 / customers.max(1) as f64,
        created.len(),
        at_concurrency.max_concurrent(),
        verdict(at_concurrency.max_concurrent() <= AUTOTASK_THREADS)
    );
    println!(
        "steady cycle:       {:.1} s; Autotask {at_calls} calls (target ≤ {target:.1}: {}); Acronis {} calls; {} apply messages; writes {}/{}",
        steady.total.as_secs_f64(),
        verdict(at_calls as f64 <= target),
        ac_log.len(),
        steady.applied.messages_received,
        ac_steady_writes,
        at_steady_writes
    );
    println!(
        "peak memory:        {:.1} MiB (with the in-process simulators)",
        peak_kib as f64 / 1024.0
    );

    autotask.shutdown().await;
    acronis.shutdown().await;

    ensure!(
        created.len() == customers,
        "{} tenants created, expected {customers}",
        created.len()
    );
    ensure!(
        quota_mismatches == 0,
        "{quota_mismatches} tenants without their workstation quota"
    );
    ensure!(
        at_concurrency.max_concurrent() <= AUTOTASK_THREADS && at_concurrency.refused() == 0,
        "Autotask concurrency over {AUTOTASK_THREADS} per endpoint"
    );
    ensure!(
        steady.applied.messages_received == 0,
        "the steady cycle sent {} apply messages",
        steady.applied.messages_received
    );
    ensure!(
        ac_steady_writes == 0 && at_steady_writes == 0,
        "the steady cycle wrote: Acronis {ac_steady_writes}, Autotask {at_steady_writes}"
    );
    Ok(())
}

struct CycleTimes {
    tick: Duration,
    /// From the tick to the planner's last message sent and its queue drained.
    planner: Duration,
    /// Applies still running after the planner stopped (they start with its first message).
    apply_tail: Duration,
    total: Duration,
    applied: DrainSummary,
    aws: AwsCalls,
    cpu: Cpu,
}

/// One provisioning tick, then the planner's queue and the apply queue drained side by side
/// with the template's `MaximumConcurrency` of apply pollers: what `local-run` does for the job.
async fn cycle(
    d: &LocalDeployment,
    at: DateTime<Utc>,
    meter: &Meter,
    stack: &StackProcesses,
) -> Result<CycleTimes> {
    let cpu = Cpu::now(stack);
    let started = Instant::now();
    d.tick(Job::Provisioning, at).await?;
    let tick = started.elapsed();
    let drained = d
        .drain_planned(Job::Provisioning, 100, APPLY_MAX_CONCURRENCY, 100_000)
        .await?;
    let total = started.elapsed();
    ensure!(
        drained.planner.messages_failed == 0 && drained.planner.messages_received == 1,
        "the planner did not run once and succeed: {:?}",
        drained.planner
    );
    let planner = tick + drained.planner_time;
    Ok(CycleTimes {
        tick,
        planner,
        apply_tail: total.saturating_sub(planner),
        total,
        applied: drained.apply.unwrap_or_default(),
        aws: meter.take(),
        cpu: cpu.elapsed(stack),
    })
}

fn reset(autotask: &AutotaskSim, acronis: &AcronisSim, meter: &Meter) {
    autotask.reset_request_log();
    autotask.reset_concurrency();
    acronis.reset_request_log();
    acronis.reset_concurrency();
    meter.take();
}

/// Billing code, PAYG field, the 5 services, and `customers` companies, each with a primary
/// contact and an active prepaid Recurring Service contract holding the 5 services.
fn seed_autotask(sim: &AutotaskSim, customers: usize) -> Result<Vec<i64>> {
    sim.with_db(|db| -> Result<Vec<i64>> {
        let billing_code = db.insert(
            "BillingCodes",
            json!({"name": "Acronis Cloud Services", "useType": 6, "isActive": true}),
        )?;
        db.insert(
            "UserDefinedFieldDefinitions",
            json!({"name": "Acronis PAYG", "udfType": 13, "dataType": 1, "isActive": true}),
        )?;
        let services = SERVICES
            .iter()
            .map(|(_, name, price)| {
                db.insert(
                    "Services",
                    json!({"name": name, "periodType": 1, "unitPrice": price,
                        "billingCodeID": billing_code, "isActive": true}),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        for n in 0..customers {
            let company = db.insert(
                "Companies",
                json!({"companyName": format!("{NAME_PREFIX}{n:05}"), "companyType": 1, "isActive": true}),
            )?;
            db.insert(
                "Contacts",
                json!({"companyID": company, "firstName": "Admin", "lastName": format!("{n:05}"),
                    "emailAddress": format!("admin{n:05}@customer.example"), "isActive": 1,
                    "primaryContact": true}),
            )?;
            let contract = db.insert(
                "Contracts",
                json!({"companyID": company, "contractName": format!("Backup {n:05}"),
                    "contractType": 7, "status": 1,
                    "startDate": "2026-01-01T00:00:00", "endDate": "2026-12-31T00:00:00",
                    "userDefinedFields": [{"name": "Acronis PAYG", "value": "No"}]}),
            )?;
            for (s, service) in services.iter().enumerate() {
                db.seed_contract_service(contract, *service, units(n, s))?;
            }
        }
        Ok(services)
    })
}

/// Settings (automatic creation on), the 5 service mappings, both secrets.
async fn configure(
    d: &LocalDeployment,
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    service_ids: &[i64],
    two_way: bool,
) -> Result<()> {
    // The integration is named after the deployment, so its secrets are its own on a shared
    // Secrets Manager.
    let integration = d.store.table();
    let pk = format!("INTEGRATION#{integration}");
    let features = if two_way {
        let (azure, billing_code) = autotask
            .with_db(|db| {
                let billing_code = db
                    .rows("BillingCodes")
                    .iter()
                    .find_map(|b| b["id"].as_i64())
                    .unwrap_or_default();
                db.insert(
                    "Services",
                    json!({"name": "Bench Azure Storage", "periodType": 1, "unitPrice": 5.0,
                        "billingCodeID": billing_code, "isActive": true}),
                )
                .map(|id| (id, billing_code))
            })
            .map_err(|e| anyhow!("the Azure service: {e:?}"))?;
        d.put_json_item(json!({"pk": pk, "sk": "SERVICE#PUBLIC_CLOUD#azure", "service": azure}))
            .await?;
        json!({"billing": true, "two_way_sync": true, "default_allocation_code": billing_code})
    } else {
        json!({"billing": true})
    };
    d.put_json_item(json!({
        "pk": pk,
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{integration}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{integration}/acronis"),
        "autotask_zone_lookup_url": autotask.zone_lookup_url(),
        "features": features,
        "provisioning": {"create_accounts_based_on": "company_primary_contact",
            "auto_create_customers": true, "two_factor_auth": true, "provision_as": "production"},
        "default_storage_infra_id": ACRONIS_STORAGE,
    }))
    .await?;
    for ((item, name, _), id) in SERVICES.iter().zip(service_ids) {
        let sk = if *item == "pw_base_storage" {
            format!("SERVICE#{item}#{ACRONIS_STORAGE}")
        } else {
            format!("SERVICE#{item}")
        };
        // Half by name, half by id: both kinds of mapping.
        let target = if item.ends_with('s') && *item != "pw_base_servers" {
            json!(name)
        } else {
            json!(id)
        };
        d.put_json_item(json!({"pk": pk, "sk": sk, "service": target}))
            .await?;
    }
    let autotask_secret = json!({"username": AUTOTASK_USER, "secret": AUTOTASK_SECRET,
        "api_integration_code": AUTOTASK_CODE});
    let acronis_secret = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "datacenter_url": acronis.base_url()});
    for (kind, value) in [("autotask", autotask_secret), ("acronis", acronis_secret)] {
        put_secret(
            &d.clients.secrets,
            &format!("acronis-autotask-sync/{integration}/{kind}"),
            &value.to_string(),
        )
        .await?;
    }
    Ok(())
}

/// Live customer tenants under the partner named `Bench Customer NNNNN`: name → id.
fn bench_tenants(acronis: &AcronisSim) -> BTreeMap<String, String> {
    acronis.with_state(|state| {
        state
            .tenants
            .values()
            .filter(|t| {
                t.parent_id == PARTNER
                    && t.kind == "customer"
                    && t.deleted_at.is_none()
                    && t.name.starts_with(NAME_PREFIX)
            })
            .map(|t| (t.name.clone(), t.id.clone()))
            .collect()
    })
}

/// Created tenants whose workstation or storage quota is not their contract's units.
fn quota_mismatches(
    acronis: &AcronisSim,
    tenants: &BTreeMap<String, String>,
    customers: usize,
) -> usize {
    let by_id: BTreeMap<&str, usize> = tenants
        .iter()
        .filter_map(|(name, id)| Some((id.as_str(), name.strip_prefix(NAME_PREFIX)?.parse().ok()?)))
        .collect();
    let mut good: BTreeMap<usize, usize> = BTreeMap::new();
    acronis.with_state(|state| {
        for item in &state.offering_items {
            let Some(&n) = by_id.get(item.tenant_id.as_str()) else {
                continue;
            };
            let expected = match item.catalogue.name.as_str() {
                "pw_base_workstations" => units(n, 0) as u64,
                "pw_base_storage" if item.infra_id.as_deref() == Some(ACRONIS_STORAGE) => {
                    units(n, 4) as u64 * GIB
                }
                _ => continue,
            };
            if item.enabled && item.quota.value == Some(expected) {
                *good.entry(n).or_default() += 1;
            }
        }
    });
    customers - good.values().filter(|&&k| k == 2).count()
}

/// (Acronis, Autotask) writes the simulators saw, token requests and queries aside.
fn remote_writes(autotask: &AutotaskSim, acronis: &AcronisSim) -> (usize, usize) {
    let acronis = acronis
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/idp/token"))
        .count();
    let autotask = autotask
        .request_log()
        .records
        .iter()
        .filter(|r| r.method != "GET" && !r.path.to_ascii_lowercase().contains("/query"))
        .count();
    (acronis, autotask)
}

/// The rows the planner's Autotask reads return, counted in the simulator's database: active
/// Recurring Service contracts of the day, the mapped services' units in the period of the
/// day, the companies those units belong to, and the services (read whole, by name).
fn rows_read(
    autotask: &AutotaskSim,
    service_ids: &[i64],
    at: DateTime<Utc>,
) -> BTreeMap<String, usize> {
    let day = at.format("%Y-%m-%d").to_string();
    let date = |row: &Value, field: &str| -> String {
        row[field]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(10)
            .collect()
    };
    let current = |row: &Value| date(row, "startDate") <= day && date(row, "endDate") >= day;
    autotask.with_db(|db| {
        let contracts: BTreeMap<i64, i64> = db
            .rows("Contracts")
            .iter()
            .filter(|c| c["contractType"] == json!(7) && c["status"] == json!(1) && current(c))
            .filter_map(|c| Some((c["id"].as_i64()?, c["companyID"].as_i64()?)))
            .collect();
        let units: Vec<Value> = db
            .rows("ContractServiceUnits")
            .into_iter()
            .filter(|u| {
                u["serviceID"]
                    .as_i64()
                    .is_some_and(|s| service_ids.contains(&s))
                    && current(u)
            })
            .collect();
        let companies: std::collections::BTreeSet<i64> = units
            .iter()
            .filter_map(|u| contracts.get(&u["contractID"].as_i64()?).copied())
            .collect();
        BTreeMap::from([
            ("Contracts".to_string(), contracts.len()),
            ("ContractServiceUnits".to_string(), units.len()),
            ("Companies".to_string(), companies.len()),
            ("Services".to_string(), db.rows("Services").len()),
        ])
    })
}

fn print_autotask(log: &autotask_sim::RequestLog, customers: usize) {
    let total = log.records.len();
    let unmatched = log.records.iter().filter(|r| r.entity.is_none()).count();
    println!(
        "Autotask calls:     {total} ({:.3} per customer): by entity {}{}",
        total as f64 / customers.max(1) as f64,
        fmt_map(&log.count_by_entity()),
        if unmatched > 0 {
            format!(", other (zone lookup) {unmatched}")
        } else {
            String::new()
        }
    );
    println!("  by endpoint:      {}", fmt_map(&log.count_by_endpoint()));
}

fn print_acronis(log: &[acronis_sim::LoggedRequest], customers: usize) {
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    for r in log {
        let route = r.route.clone().unwrap_or_else(|| r.path.clone());
        *by_route.entry(format!("{} {route}", r.method)).or_default() += 1;
    }
    println!(
        "Acronis calls:      {} ({:.2} per customer)",
        log.len(),
        log.len() as f64 / customers.max(1) as f64
    );
    for (route, n) in by_route {
        println!("  {n:>6}  {route}");
    }
}

async fn status_line(d: &LocalDeployment) -> Result<String> {
    let status = d
        .store
        .status(d.store.table())
        .await
        .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?
        .context("no status item")?;
    let job = status
        .jobs
        .get("provisioning")
        .context("no provisioning job in the status")?;
    if job.last_outcome != sync_shared::status::JobOutcomeKind::Succeeded {
        bail!("the provisioning job failed: {:?}", job.last_error);
    }
    let issues = status.customers.len();
    Ok(format!("{}; {issues} customer issues", status.message))
}

/// The planner's bulk reads (provisioning::snapshot), one at a time, with their calls and time.
async fn planner_reads(
    autotask: &AutotaskSim,
    acronis: &AcronisSim,
    service_ids: &[i64],
    at: DateTime<Utc>,
    latency: Duration,
) -> Result<()> {
    use provisioning::snapshot;
    let chain = |e: provisioning::ProvisioningError| anyhow!(sync_shared::error::error_chain(&e));
    let day = at.date_naive();
    let mut options =
        sync_shared::autotask::ClientOptions::new(autotask.base_url(), "acronis-autotask-sync");
    options.background = false;
    options.budget_check_every = 0;
    let credentials = sync_shared::secrets::AutotaskCredentials {
        username: secrecy::SecretString::from(AUTOTASK_USER),
        secret: secrecy::SecretString::from(AUTOTASK_SECRET),
        api_integration_code: secrecy::SecretString::from(AUTOTASK_CODE),
    };
    let ac = sync_shared::acronis::AcronisClient::new(
        "bench/acronis",
        sync_shared::secrets::AcronisCredentials {
            client_id: secrecy::SecretString::from(CLIENT_ID),
            client_secret: secrecy::SecretString::from(CLIENT_SECRET),
            datacenter_url: acronis.base_url(),
        },
        sync_shared::acronis::ClientOptions::default(),
    )?;
    let mut lines = Vec::new();
    let mut step = |name: &str, started: Instant| {
        let at_calls = autotask.request_log().records.len();
        let ac_calls = acronis.request_log().len();
        autotask.reset_request_log();
        acronis.reset_request_log();
        lines.push(format!(
            "  {name:<58} {:>6.2} s  ({at_calls} Autotask, {ac_calls} Acronis calls)",
            started.elapsed().as_secs_f64()
        ));
    };
    autotask.reset_request_log();
    acronis.reset_request_log();
    let t = Instant::now();
    let at = sync_shared::autotask::AutotaskClient::connect(options, credentials, None).await?;
    step(
        "Autotask connect (zone lookup; the planner's zone is recorded)",
        t,
    );
    let t = Instant::now();
    let mut snap = snapshot::read_autotask(&at, day, false)
        .await
        .map_err(chain)?;
    step("Autotask picklist, services, contracts", t);
    let t = Instant::now();
    let ac_snap = snapshot::read_acronis(&ac).await.map_err(chain)?;
    step(
        &format!(
            "Acronis partner, tenants, offering items ({}), infra",
            ac_snap.items.values().map(Vec::len).sum::<usize>()
        ),
        t,
    );
    let t = Instant::now();
    snapshot::read_units(&at, &mut snap, day, service_ids, &[])
        .await
        .map_err(chain)?;
    step(
        &format!(
            "Autotask units of mapped services ({})",
            snap.service_units.len()
        ),
        t,
    );
    let companies: std::collections::BTreeSet<i64> =
        snap.contracts.iter().map(|c| c.company_id).collect();
    let ids: Vec<i64> = companies.iter().copied().collect();
    let t = Instant::now();
    snapshot::read_companies(&at, &mut snap, &companies)
        .await
        .map_err(chain)?;
    step(&format!("Autotask companies ({})", snap.companies.len()), t);
    let t = Instant::now();
    snapshot::read_primary_contacts(&at, &mut snap, &ids)
        .await
        .map_err(chain)?;
    step(
        &format!(
            "Autotask primary contacts ({}; first provisioning only)",
            snap.primary_contacts.len()
        ),
        t,
    );
    println!("at {} ms per call:", latency.as_millis());
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
