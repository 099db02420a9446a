//! A faithful, stateful simulator of the Autotask PSA REST API v1.0 (ATServicesRest), for tests
//! and local runs. Behaviour follows `shared/reference/autotask-api-notes.md` and the swagger;
//! see README.md for what is served and how to start it.

pub mod conformance;
mod db;
pub mod entities;
pub mod hooks;
mod query;
pub mod routes;
mod seed;
mod server;
mod values;

pub use db::{
    AppliedAdjustment, Db, DbError, INITIAL_UNITS_OF_NEW_CONTRACT_LINE, Row, SimUser, UserKind,
};
pub use entities::PicklistValue;
pub use routes::{Route, served_routes};
pub use seed::{EXAMPLE_SEED_JSON, Seed, SeedContractLine, SeedError};

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

/// Fault and latency knobs, settable at start and at run time (also `PUT /__sim/knobs`).
///
/// The four fault probabilities are of disjoint outcomes drawn from one roll per request: a
/// request is answered 429 with `random_429_probability`, 500 with `random_5xx_probability`, held
/// *before* it is processed with `timeout_probability`, processed and then its answer held with
/// `timeout_after_apply_probability` (their sum should not exceed 1; beyond it the later ones
/// shrink).
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Added to every authenticated request.
    pub latency: Duration,
    /// Probability (0..=1) that a request is answered 429.
    pub random_429_probability: f64,
    /// Probability that a request is answered 500.
    pub random_5xx_probability: f64,
    /// Probability that a request is held for `timeout_hold` before being answered normally
    /// (a client with a shorter timeout sees a timeout).
    pub timeout_probability: f64,
    /// Probability that a request is processed (a write takes effect, the request is logged)
    /// and only then is its answer held for `timeout_hold`: a client with a shorter timeout sees
    /// a timeout although the write happened. Giving up (dropping the connection) does not undo
    /// it. The thread slot is released when processing ends, before the hold.
    pub timeout_after_apply_probability: f64,
    /// How long `timeout_probability` and `timeout_after_apply_probability` hold a request.
    pub timeout_hold: Duration,
    /// Seed of the fault generator, so fault sequences repeat.
    pub rng_seed: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency: Duration::ZERO,
            random_429_probability: 0.0,
            random_5xx_probability: 0.0,
            timeout_probability: 0.0,
            timeout_after_apply_probability: 0.0,
            timeout_hold: Duration::from_secs(120),
            rng_seed: 0x5EED,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub host: IpAddr,
    /// 0 = a free port.
    pub port: u16,
    pub zone_name: String,
    pub zone_ci: i64,
    /// Requests per rolling hour per database (notes §4).
    pub hourly_request_threshold: u32,
    /// Concurrent requests per (integration code, endpoint object).
    pub thread_limit: usize,
    pub knobs: Knobs,
    pub seed: Seed,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            zone_name: "America East".to_string(),
            zone_ci: 1,
            hourly_request_threshold: 10_000,
            thread_limit: 3,
            knobs: Knobs::default(),
            seed: Seed::default(),
        }
    }
}

/// One logged request (`/__sim` calls are never logged).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The endpoint object of the matched route (`Companies`, `ContractServices`,
    /// `ThresholdInformation`, …); `None` when no route matched.
    pub entity: Option<String>,
    /// `METHOD /template` of the served route (or of the raw path when none matched).
    pub endpoint: String,
    pub status: u16,
    /// The injected fault, if any: `429`, `5xx`, `timeout` (held, then processed and answered
    /// normally) or `timeout_after_apply` (processed, then the answer held; logged when
    /// processing ends, before the hold).
    pub fault: Option<String>,
}

/// The request log, oldest first.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    pub records: Vec<RequestRecord>,
}

impl RequestLog {
    fn push(&mut self, record: RequestRecord) {
        self.records.push(record);
    }

    /// Requests per endpoint (`METHOD /V1.0/…template`).
    pub fn count_by_endpoint(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            *counts.entry(record.endpoint.clone()).or_default() += 1;
        }
        counts
    }

    /// Requests per HTTP method.
    pub fn count_by_method(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            *counts.entry(record.method.clone()).or_default() += 1;
        }
        counts
    }

    /// Requests per endpoint object (`Companies`, …); unmatched paths are not counted.
    pub fn count_by_entity(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            if let Some(entity) = &record.entity {
                *counts.entry(entity.clone()).or_default() += 1;
            }
        }
        counts
    }

    /// Requests per HTTP status.
    pub fn count_by_status(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            *counts.entry(record.status).or_default() += 1;
        }
        counts
    }

    pub fn count(&self, endpoint: &str) -> usize {
        self.records
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }
}

/// Concurrency seen on one (integration code, endpoint object) since the last reset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointConcurrency {
    pub integration_code: String,
    /// Endpoint object, e.g. `Companies` (child routes count under the child entity).
    pub entity: String,
    /// The largest number of requests that held a thread slot at the same time.
    pub max_concurrent: usize,
    /// Requests refused with `Itgenatr005` (thread threshold exceeded).
    pub refused: usize,
    /// Requests holding a slot right now.
    pub in_flight: usize,
}

/// Concurrency figures of the thread-limit rule (`GET /__sim/concurrency`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Concurrency {
    pub thread_limit: usize,
    /// Sorted by integration code, then entity.
    pub endpoints: Vec<EndpointConcurrency>,
}

impl Concurrency {
    /// The largest concurrency seen on any (integration code, endpoint object).
    pub fn max_concurrent(&self) -> usize {
        self.endpoints
            .iter()
            .map(|e| e.max_concurrent)
            .max()
            .unwrap_or(0)
    }

    /// All requests refused by the thread limit.
    pub fn refused(&self) -> usize {
        self.endpoints.iter().map(|e| e.refused).sum()
    }

    /// The largest concurrency per endpoint object (over all integration codes).
    pub fn max_by_entity(&self) -> BTreeMap<String, usize> {
        let mut by_entity = BTreeMap::new();
        for e in &self.endpoints {
            let max: &mut usize = by_entity.entry(e.entity.clone()).or_default();
            *max = (*max).max(e.max_concurrent);
        }
        by_entity
    }

    /// True when no endpoint ever had more than `thread_limit` requests in flight and none was
    /// refused.
    pub fn thread_rule_kept(&self) -> bool {
        self.refused() == 0 && self.max_concurrent() <= self.thread_limit
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EndpointStats {
    pub max_concurrent: usize,
    pub refused: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("binding the simulator socket: {0}")]
    Bind(#[from] std::io::Error),
    #[error(transparent)]
    Seed(#[from] SeedError),
}

pub(crate) struct SharedState {
    db: Mutex<Db>,
    knobs: Mutex<Knobs>,
    rng: Mutex<StdRng>,
    log: Mutex<RequestLog>,
    hourly: Mutex<VecDeque<Instant>>,
    hourly_threshold: AtomicU32,
    thread_limit: usize,
    in_flight: Mutex<HashMap<(String, String), usize>>,
    in_flight_changed: Notify,
    /// Keyed by (integration code, endpoint object as served).
    concurrency: Mutex<BTreeMap<(String, &'static str), EndpointStats>>,
    hold: watch::Sender<bool>,
    zone_overrides: Mutex<HashMap<String, String>>,
    base_url: String,
    web_url: String,
    zone_name: String,
    zone_ci: i64,
}

impl SharedState {
    fn lock_db(&self) -> MutexGuard<'_, Db> {
        // A poisoned lock only means a test panicked while holding it; the data is still usable.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn knobs(&self) -> Knobs {
        self.knobs.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn hourly_threshold(&self) -> u32 {
        self.hourly_threshold.load(Ordering::Relaxed)
    }

    fn requests_this_hour(&self) -> usize {
        let now = Instant::now();
        self.hourly
            .lock()
            .map(|w| {
                w.iter()
                    .filter(|t| now.duration_since(**t) < Duration::from_secs(3600))
                    .count()
            })
            .unwrap_or(0)
    }

    fn set_knobs(&self, knobs: Knobs) {
        if let Ok(mut rng) = self.rng.lock() {
            *rng = StdRng::seed_from_u64(knobs.rng_seed);
        }
        if let Ok(mut current) = self.knobs.lock() {
            *current = knobs;
        }
    }

    fn log(&self) -> MutexGuard<'_, RequestLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Requests in flight for an endpoint object (any letter case), or for all when `None`.
    fn in_flight(&self, endpoint_object: Option<&str>) -> usize {
        let key = endpoint_object.map(str::to_ascii_lowercase);
        self.in_flight
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((_, o), _)| key.as_ref().is_none_or(|k| k == o))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    async fn wait_for_in_flight(&self, endpoint_object: Option<&str>, count: usize) {
        loop {
            let notified = self.in_flight_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight(endpoint_object) >= count {
                return;
            }
            notified.await;
        }
    }

    fn concurrency(&self) -> Concurrency {
        let stats = self
            .concurrency
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let in_flight = self.in_flight.lock().map(|m| m.clone()).unwrap_or_default();
        let endpoints = stats
            .into_iter()
            .map(|((code, entity), figures)| EndpointConcurrency {
                in_flight: in_flight
                    .get(&(code.clone(), entity.to_ascii_lowercase()))
                    .copied()
                    .unwrap_or(0),
                integration_code: code,
                entity: entity.to_string(),
                max_concurrent: figures.max_concurrent,
                refused: figures.refused,
            })
            .collect();
        Concurrency {
            thread_limit: self.thread_limit,
            endpoints,
        }
    }

    /// Forgets maxima and refusals; requests still in flight count as the new maxima.
    fn reset_concurrency(&self) {
        let in_flight = self.in_flight.lock().map(|m| m.clone()).unwrap_or_default();
        if let Ok(mut stats) = self.concurrency.lock() {
            stats.retain(|(code, entity), figures| {
                let now = in_flight
                    .get(&(code.clone(), entity.to_ascii_lowercase()))
                    .copied()
                    .unwrap_or(0);
                *figures = EndpointStats {
                    max_concurrent: now,
                    refused: 0,
                };
                now > 0
            });
        }
    }

    fn apply_seed(&self, seed: &Seed) -> Result<(), SeedError> {
        // All or nothing: a seed that fails half-way leaves the database as it was.
        let mut db = self.lock_db();
        let mut copy = db.clone();
        seed.apply(&mut copy)?;
        *db = copy;
        Ok(())
    }

    fn zone_url_of(&self, user: &str) -> String {
        self.zone_overrides
            .lock()
            .ok()
            .and_then(|m| m.get(&user.to_ascii_lowercase()).cloned())
            .unwrap_or_else(|| self.base_url.clone())
    }
}

/// A running simulator. Dropping it stops the server.
pub struct AutotaskSim {
    state: Arc<SharedState>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl AutotaskSim {
    pub async fn start(config: SimConfig) -> Result<AutotaskSim, SimError> {
        let mut db = Db::new();
        config.seed.apply(&mut db)?;
        let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
        let address = listener.local_addr()?;
        let (hold, _) = watch::channel(false);
        let state = Arc::new(SharedState {
            db: Mutex::new(db),
            rng: Mutex::new(StdRng::seed_from_u64(config.knobs.rng_seed)),
            knobs: Mutex::new(config.knobs),
            log: Mutex::new(RequestLog::default()),
            hourly: Mutex::new(VecDeque::new()),
            hourly_threshold: AtomicU32::new(config.hourly_request_threshold),
            thread_limit: config.thread_limit,
            in_flight: Mutex::new(HashMap::new()),
            in_flight_changed: Notify::new(),
            concurrency: Mutex::new(BTreeMap::new()),
            hold,
            zone_overrides: Mutex::new(HashMap::new()),
            base_url: format!("http://{address}/ATServicesRest/"),
            web_url: format!("http://{address}/"),
            zone_name: config.zone_name,
            zone_ci: config.zone_ci,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(AutotaskSim {
            state,
            address,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The zone REST root, e.g. `http://127.0.0.1:PORT/ATServicesRest/` (clients append `V1.0/…`).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// `…/ATServicesRest/V1.0/ZoneInformation` (append `?user=`).
    pub fn zone_lookup_url(&self) -> String {
        format!("{}V1.0/ZoneInformation", self.state.base_url)
    }

    /// Reads or changes the database (seeding, inspection). Do not hold across awaits.
    pub fn with_db<R>(&self, f: impl FnOnce(&mut Db) -> R) -> R {
        f(&mut self.state.lock_db())
    }

    pub fn knobs(&self) -> Knobs {
        self.state.knobs()
    }

    /// Replaces the knobs; the fault generator is re-seeded from `rng_seed`.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.state.set_knobs(knobs);
    }

    /// The hourly request threshold currently applied.
    pub fn hourly_threshold(&self) -> u32 {
        self.state.hourly_threshold()
    }

    pub fn set_hourly_threshold(&self, requests: u32) {
        self.state
            .hourly_threshold
            .store(requests, Ordering::Relaxed);
    }

    pub fn requests_this_hour(&self) -> usize {
        self.state.requests_this_hour()
    }

    /// Simulates a database moved to another zone: ZoneInformation for `user` returns `zone_url`,
    /// and this simulator answers that user's calls with 401 (notes §1.3).
    pub fn move_user_to_zone(&self, user: &str, zone_url: &str) {
        if let Ok(mut map) = self.state.zone_overrides.lock() {
            map.insert(user.to_ascii_lowercase(), zone_url.to_string());
        }
    }

    /// Holds every authenticated request (after it took its thread slot) until released.
    pub fn hold_requests(&self) {
        self.state.hold.send_replace(true);
    }

    pub fn release_requests(&self) {
        self.state.hold.send_replace(false);
    }

    /// Requests currently in flight for an endpoint object (e.g. "Companies"), all codes.
    pub fn in_flight(&self, endpoint_object: &str) -> usize {
        self.state.in_flight(Some(endpoint_object))
    }

    /// Waits until at least `count` requests are in flight for the endpoint object.
    pub async fn wait_for_in_flight(&self, endpoint_object: &str, count: usize) {
        self.state
            .wait_for_in_flight(Some(endpoint_object), count)
            .await;
    }

    /// The largest number of concurrent requests seen per (integration code, endpoint object)
    /// since the start or [`AutotaskSim::reset_concurrency`], and the thread-limit refusals.
    pub fn concurrency(&self) -> Concurrency {
        self.state.concurrency()
    }

    /// Starts a new measuring period (`DELETE /__sim/concurrency`). The request log is separate
    /// ([`AutotaskSim::reset_request_log`]).
    pub fn reset_concurrency(&self) {
        self.state.reset_concurrency();
    }

    /// Adds a seed's users, picklists, entities and contract lines at run time (`POST /__sim/seed`);
    /// all or nothing.
    pub fn apply_seed(&self, seed: &Seed) -> Result<(), SeedError> {
        self.state.apply_seed(seed)
    }

    pub fn request_log(&self) -> RequestLog {
        self.state.log().clone()
    }

    /// Clears the request log only (not the concurrency figures nor the hourly window).
    pub fn reset_request_log(&self) {
        *self.state.log() = RequestLog::default();
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.release_requests();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AutotaskSim {
    fn drop(&mut self) {
        self.state.hold.send_replace(false);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
