//! `bench_autotask`: reads all companies, active contracts, contract services and the current
//! service units of a simulated database of 2,000 companies and 10,000 contract services, with
//! 50 ms latency per request, and prints calls, wall time and peak memory. Calls must equal the
//! 500-row pages (plus the zone lookup) and not grow with the number of companies (G5).
//!
//! `cargo run --release -p local-runner --bin bench_autotask`

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use autotask_sim::{AutotaskSim, Knobs, Seed, SimConfig, SimUser};
use secrecy::SecretString;
use serde_json::json;
use sync_shared::autotask::{
    AutotaskClient, ClientOptions, Company, Contract, ContractService, ContractServiceUnit, Filter,
    MAX_PAGE_SIZE, Paging, Query,
};
use sync_shared::secrets::AutotaskCredentials;

const COMPANIES: usize = 2_000;
const SERVICES_PER_CONTRACT: usize = 5;
const USER: &str = "bench-api@example.com";
const SECRET: &str = "bench-secret";
const CODE: &str = "BENCHINTEGRATIONCODE0000001";
/// The day whose unit rows are read: one row per contract service.
const CURRENT_DAY: &str = "2026-11-15T00:00:00";

#[tokio::main]
async fn main() -> Result<()> {
    let sim = seeded_simulator().await?;
    let (companies, contract_services) = sim.with_db(|db| {
        (
            db.rows("Companies").len(),
            db.rows("ContractServices").len(),
        )
    });
    sim.set_knobs(Knobs {
        latency: Duration::from_millis(50),
        ..Knobs::default()
    });
    sim.reset_request_log();

    let mut options = ClientOptions::new(sim.base_url(), "acronis-autotask-sync");
    // A foreground read: no periodic ThresholdInformation calls, so calls are pages + lookup.
    options.background = false;
    options.budget_check_every = 0;
    let credentials = AutotaskCredentials {
        username: SecretString::from(USER),
        secret: SecretString::from(SECRET),
        api_integration_code: SecretString::from(CODE),
    };

    let started = Instant::now();
    let client = AutotaskClient::connect(options, credentials, None).await?;
    let every_row = Query::all();
    let active_contracts = Query::new(Filter::eq("status", 1));
    let current_units = Query::new(Filter::lte("startDate", CURRENT_DAY))
        .filter(Filter::gte("endDate", CURRENT_DAY));
    // Different endpoints have their own thread budget, so the four reads run side by side.
    let (companies_read, contracts_read, services_read, units_read) = tokio::try_join!(
        client.query_all::<Company>(&every_row, Paging::NextPageUrl),
        client.query_all::<Contract>(&active_contracts, Paging::NextPageUrl),
        client.query_all::<ContractService>(&every_row, Paging::NextPageUrl),
        client.query_all::<ContractServiceUnit>(&current_units, Paging::IdGreaterThanLast),
    )?;
    let wall = started.elapsed();

    let pages = |rows: usize| rows.div_ceil(MAX_PAGE_SIZE as usize).max(1) as u64;
    let expected_calls = 1
        + pages(companies_read.len())
        + pages(contracts_read.len())
        + pages(services_read.len())
        + pages(units_read.len());
    let calls = client.request_count();
    let served = sim.request_log().records.len();
    println!("database: {companies} companies, {contract_services} contract services");
    println!(
        "read: {} companies, {} active contracts, {} contract services, {} current service units",
        companies_read.len(),
        contracts_read.len(),
        services_read.len(),
        units_read.len()
    );
    println!(
        "calls: {calls} (simulator served {served}; 500-row pages + zone lookup = {expected_calls})"
    );
    println!(
        "wall time: {:.2} s at 50 ms latency per call",
        wall.as_secs_f64()
    );
    println!(
        "peak memory (VmHWM, includes the in-process simulator and its database): {}",
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    sim.shutdown().await;
    anyhow::ensure!(
        calls == expected_calls,
        "calls ({calls}) differ from pages + zone lookup ({expected_calls})"
    );
    Ok(())
}

async fn seeded_simulator() -> Result<AutotaskSim> {
    let mut seed = Seed::default();
    seed.users.push(SimUser::api(USER, SECRET, CODE));
    let sim = AutotaskSim::start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await
    .context("starting autotask-sim")?;
    sim.with_db(|db| -> Result<()> {
        let billing_code = db.insert(
            "BillingCodes",
            json!({"name": "Recurring", "useType": 6, "isActive": true}),
        )?;
        let services = (0..SERVICES_PER_CONTRACT)
            .map(|n| {
                db.insert(
                    "Services",
                    json!({"name": format!("Acronis service {n}"), "periodType": 1,
                        "unitPrice": 10.0, "billingCodeID": billing_code, "isActive": true}),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let existing = db.rows("Companies").len();
        for n in existing..COMPANIES {
            let company = db.insert(
                "Companies",
                json!({"companyName": format!("Company {n:05}"), "companyType": 1, "isActive": true}),
            )?;
            let contract = db.insert(
                "Contracts",
                json!({"companyID": company, "contractName": format!("Backup {n:05}"),
                    "contractType": 7, "status": 1,
                    "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"}),
            )?;
            for service in &services {
                db.seed_contract_service(contract, *service, 3)?;
            }
        }
        // The root company (id 0) has a contract too, so lines number exactly 10,000.
        let contract = db.insert(
            "Contracts",
            json!({"companyID": 0, "contractName": "Root", "contractType": 7, "status": 1,
                "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"}),
        )?;
        for service in &services {
            db.seed_contract_service(contract, *service, 1)?;
        }
        Ok(())
    })?;
    Ok(sim)
}

fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}
