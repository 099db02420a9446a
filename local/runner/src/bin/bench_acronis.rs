//! `bench_acronis`: reads 5,000 customer tenants with their offering items and usages in bulk
//! from an in-process Acronis simulator answering with 50 ms latency, and prints the calls, the
//! wall time and the peak memory. Calls grow with pages (children cursor pages of 100,
//! `/tenants/offering_items` pages, `/tenants/usages` batches of 100), not with tenants.
//!
//! `cargo run --release -p local-runner --bin bench_acronis [-- TENANTS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use acronis_sim::{AcronisSim, Knobs, SimConfig, TenantSeed, UsageUpdate};
use anyhow::{Context, Result, anyhow};
use local_runner::peak_memory_kib;
use secrecy::SecretString;
use sync_shared::acronis::{AcronisClient, ClientOptions, TokenCache};
use sync_shared::secrets::AcronisCredentials;

/// The example seed's partner and API client.
const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
const CLIENT_SECRET: &str = "example-secret";
const ACRONIS_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000101";
const LATENCY: Duration = Duration::from_millis(50);
/// Rows per `/tenants/offering_items` page (the platform's default limit).
const OFFERING_ITEMS_PAGE: usize = 5000;
/// Usage batches in flight at once.
const USAGE_LANES: usize = 4;

#[tokio::main]
async fn main() -> Result<()> {
    let tenants: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("TENANTS must be a whole number")?,
        None => 5000,
    };
    // The simulator's own response self-check would dominate the timing of 5,000-row pages.
    let sim = AcronisSim::start(SimConfig {
        check_responses: false,
        ..SimConfig::example()
    })
    .await
    .context("starting acronis-sim")?;
    let seeding = Instant::now();
    seed(&sim, tenants)?;
    let seeded_kib = peak_memory_kib().unwrap_or(0);
    println!(
        "seeded {tenants} customer tenants in {:.1} s (simulator state included in memory below)",
        seeding.elapsed().as_secs_f64()
    );
    sim.set_knobs(Knobs {
        latency_ms: LATENCY.as_millis() as u64,
        ..Knobs::default()
    });

    let client = Arc::new(AcronisClient::new(
        "bench/acronis",
        AcronisCredentials {
            client_id: SecretString::from(CLIENT_ID),
            client_secret: SecretString::from(CLIENT_SECRET),
            datacenter_url: sim.base_url(),
        },
        ClientOptions {
            tokens: TokenCache::default(),
            ..ClientOptions::default()
        },
    )?);
    let started = Instant::now();
    let partner = client.partner_tenant_id().await?;
    let customer_ids = client.child_tenant_ids(&partner).await?;
    let offering_items = client
        .subtree_offering_items(&partner, OFFERING_ITEMS_PAGE)
        .await?;
    let usage_rows = read_usages(&client, &customer_ids).await?;
    let wall = started.elapsed();
    let peak_kib = peak_memory_kib().unwrap_or(0);

    let count = |method: &str, route: &str| sim.request_count(method, route);
    println!("customer tenants read:  {}", customer_ids.len());
    println!("offering items read:    {}", offering_items.len());
    println!("usage rows read:        {usage_rows}");
    println!(
        "calls:                  {} (token {}, clients/{{id}} {}, children pages {}, offering-item pages {}, usage batches {})",
        client.requests(),
        count("POST", "/api/2/idp/token"),
        count("GET", "/api/2/clients/{client_id}"),
        count("GET", "/api/2/tenants/{tenant_id}/children"),
        count("GET", "/api/2/tenants/offering_items"),
        count("GET", "/api/2/tenants/usages"),
    );
    println!(
        "wall time:              {:.2} s at {} ms simulated latency per call",
        wall.as_secs_f64(),
        LATENCY.as_millis()
    );
    println!(
        "peak memory (VmHWM):    {} MiB (after seeding the in-process simulator: {} MiB)",
        peak_kib / 1024,
        seeded_kib / 1024
    );
    if customer_ids.len() != tenants {
        return Err(anyhow!(
            "read {} customer tenants, expected {tenants}",
            customer_ids.len()
        ));
    }
    sim.shutdown().await;
    Ok(())
}

/// `tenants` customers under the example partner (besides the example's two), each with a
/// workstation quota, storage and usage.
fn seed(sim: &AcronisSim, tenants: usize) -> Result<()> {
    let existing = sim.with_state(|s| {
        s.tenants
            .values()
            .filter(|t| t.parent_id == PARTNER && t.kind == "customer")
            .count()
    });
    for n in existing..tenants {
        let mut customer = TenantSeed::new(&format!("Customer {n:05}"), "customer", Some(PARTNER));
        customer.pricing_mode = Some("production".into());
        customer.offering_items = vec![
            acronis_sim::seed::OfferingItemSeed {
                name: "pw_base_workstations".into(),
                infra_id: None,
                quota_value: Some(10 + (n as u64 % 40)),
                quota_overage: None,
            },
            acronis_sim::seed::OfferingItemSeed {
                name: "pw_base_storage".into(),
                infra_id: Some(ACRONIS_STORAGE.into()),
                quota_value: Some(1 << 40),
                quota_overage: None,
            },
        ];
        let id = sim
            .add_tenant(customer)
            .map_err(|e| anyhow!("seeding customer {n}: {e:?}"))?;
        sim.set_usage(UsageUpdate {
            tenant_id: id,
            name: "pw_base_workstations".into(),
            infra_id: None,
            value: n as u64 % 37,
            absolute_value: None,
        })
        .map_err(|e| anyhow!("seeding usage {n}: {e:?}"))?;
    }
    Ok(())
}

/// `/tenants/usages` in batches of 100 tenants, a few batches in flight.
async fn read_usages(client: &Arc<AcronisClient>, ids: &[String]) -> Result<usize> {
    let lane_size = ids.len().div_ceil(USAGE_LANES).max(1);
    let mut lanes = tokio::task::JoinSet::new();
    for lane in ids.chunks(lane_size) {
        let (client, lane) = (client.clone(), lane.to_vec());
        lanes.spawn(async move { client.usages(&lane).await });
    }
    let mut rows = 0;
    while let Some(lane) = lanes.join_next().await {
        rows += lane?
            .map_err(|e| anyhow!(sync_shared::error::error_chain(&e)))?
            .iter()
            .map(|t| t.usages.len())
            .sum::<usize>();
    }
    Ok(rows)
}
