//! A stateful simulator of one Acronis Cyber Protect Cloud data center: Account Management
//! (`/api/2`) and Alert Manager (`/api/alert_manager/v1`), plus test hooks under `/__sim`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = acronis_sim::AcronisSim::start(acronis_sim::SimConfig::example()).await?;
//! println!("data center URL: {}", sim.base_url());
//! # Ok(()) }
//! ```

pub mod conformance;
pub mod errors;
pub mod model;
pub mod routes;
pub mod seed;
pub mod usage_names;

mod account;
mod alerts;
mod hooks;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

pub use conformance::{validate_request_body, validate_response_body};
pub use errors::ApiError;
pub use model::{AccessPolicy, ApiClient, Infra, NewAlert, SimState, UsageUpdate, User};
pub use seed::{Seed, TenantSeed};

/// Fault and latency knobs; changeable at run time ([`AcronisSim::set_knobs`], `PUT /__sim/knobs`).
/// Faults hit only the real API routes, never `/__sim`. The three fault probabilities are of
/// disjoint outcomes drawn from one roll per request, so each happens with exactly its probability
/// (their sum should not exceed 1; beyond it the later ones shrink).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Added to every API response.
    pub latency_ms: u64,
    /// Probability of answering 429 Too Many Requests.
    pub rate_limit_probability: f64,
    /// Probability of answering 503 Service Unavailable.
    pub server_error_probability: f64,
    /// Probability of hanging for `timeout_ms` and then answering 504.
    pub timeout_probability: f64,
    pub timeout_ms: u64,
    /// Seed of the fault dice: the same seed and request order give the same faults.
    pub random_seed: u64,
}

impl Knobs {
    /// Probabilities outside 0..=1 are refused (`PUT /__sim/knobs` answers 400).
    pub fn check(&self) -> Result<(), String> {
        for (name, p) in [
            ("rate_limit_probability", self.rate_limit_probability),
            ("server_error_probability", self.server_error_probability),
            ("timeout_probability", self.timeout_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, got {p}"));
            }
        }
        Ok(())
    }
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            latency_ms: 0,
            rate_limit_probability: 0.0,
            server_error_probability: 0.0,
            timeout_probability: 0.0,
            timeout_ms: 30_000,
            random_seed: 42,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub host: String,
    /// 0 = any free port.
    pub port: u16,
    /// Access-token lifetime (the platform uses 2 hours).
    pub token_lifetime: Duration,
    pub knobs: Knobs,
    pub seed: Seed,
    /// How many ids one `GET /tenants/{id}/children` page holds (the spec gives clients no `limit`).
    pub children_page_size: usize,
    /// Page size of `GET /alerts` when the client gives no `limit`.
    pub alerts_default_limit: usize,
    /// Validate every JSON response against the spec and record violations.
    pub check_responses: bool,
    /// Folder holding the two OpenAPI files; default [`conformance::default_spec_dir`].
    pub spec_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            host: "127.0.0.1".into(),
            port: 0,
            token_lifetime: Duration::from_secs(7200),
            knobs: Knobs::default(),
            seed: Seed::default(),
            children_page_size: 100,
            alerts_default_limit: 100,
            check_responses: true,
            spec_dir: None,
        }
    }
}

impl SimConfig {
    /// Default settings with the seed of `seed.example.json`.
    pub fn example() -> SimConfig {
        SimConfig {
            seed: Seed::example(),
            ..SimConfig::default()
        }
    }
}

/// One served request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The route template (`/api/2/tenants/{tenant_id}`), `None` when nothing matched.
    pub route: Option<String>,
    pub status: u16,
    /// The injected fault, if any: `429`, `503` or `timeout` (held, then 504).
    pub fault: Option<String>,
}

/// The largest number of concurrent requests seen on one route since the last reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteConcurrency {
    pub method: String,
    /// Route template, e.g. `/api/2/tenants/{tenant_id}`.
    pub route: String,
    pub max_concurrent: usize,
    /// Requests being served right now.
    pub in_flight: usize,
}

/// Concurrency figures per route (`GET /__sim/concurrency`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Concurrency {
    /// Sorted by route template, then method.
    pub routes: Vec<RouteConcurrency>,
}

impl Concurrency {
    /// The largest concurrency seen on any route.
    pub fn max_concurrent(&self) -> usize {
        self.routes
            .iter()
            .map(|r| r.max_concurrent)
            .max()
            .unwrap_or(0)
    }

    /// The figure of one route (`GET`, `/api/2/tenants/{tenant_id}`); 0 when never called.
    pub fn max_of(&self, method: &str, route: &str) -> usize {
        self.routes
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.route == route)
            .map_or(0, |r| r.max_concurrent)
    }
}

/// Keyed by (route template, method).
type RouteKey = (String, String);

/// Releases a route's in-flight count when its request finishes, whatever the outcome.
pub(crate) struct InFlightSlot<'s> {
    shared: &'s Shared,
    key: RouteKey,
}

impl Drop for InFlightSlot<'_> {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.shared.in_flight).get_mut(&self.key) {
            *count = count.saturating_sub(1);
        }
        self.shared.in_flight_changed.notify_waiters();
    }
}

pub(crate) struct Shared {
    pub state: Mutex<SimState>,
    pub knobs: Mutex<Knobs>,
    pub dice: Mutex<StdRng>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub violations: Mutex<Vec<String>>,
    pub in_flight: Mutex<BTreeMap<RouteKey, usize>>,
    pub in_flight_changed: Notify,
    /// Largest in-flight count per route since the last reset.
    pub max_in_flight: Mutex<BTreeMap<RouteKey, usize>>,
    pub hold: watch::Sender<bool>,
    clock_offset_ms: AtomicI64,
    pub config: SimConfig,
    pub specs: conformance::Specs,
}

/// Poisoning only follows a panic elsewhere; the data is still the best we have.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::SeqCst))
    }

    pub fn state(&self) -> MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.dice) = StdRng::seed_from_u64(knobs.random_seed);
        *lock(&self.knobs) = knobs;
    }

    /// Counts a request of a route as in flight until the slot drops.
    pub(crate) fn enter(&self, method: &str, route: &str) -> InFlightSlot<'_> {
        let key = (route.to_string(), method.to_string());
        let now = {
            let mut in_flight = lock(&self.in_flight);
            let count = in_flight.entry(key.clone()).or_default();
            *count += 1;
            *count
        };
        let mut maxima = lock(&self.max_in_flight);
        let max = maxima.entry(key.clone()).or_default();
        *max = (*max).max(now);
        drop(maxima);
        self.in_flight_changed.notify_waiters();
        InFlightSlot { shared: self, key }
    }

    /// Requests in flight on a route template (all methods), or on all routes for `None`.
    pub fn in_flight(&self, route: Option<&str>) -> usize {
        lock(&self.in_flight)
            .iter()
            .filter(|((r, _), _)| route.is_none_or(|wanted| wanted == r))
            .map(|(_, n)| n)
            .sum()
    }

    pub async fn wait_for_in_flight(&self, route: Option<&str>, count: usize) {
        loop {
            let notified = self.in_flight_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight(route) >= count {
                return;
            }
            notified.await;
        }
    }

    /// Waits while requests are held (`PUT /__sim/hold`).
    pub(crate) async fn pass_hold_gate(&self) {
        let mut gate = self.hold.subscribe();
        while *gate.borrow_and_update() {
            if gate.changed().await.is_err() {
                break;
            }
        }
    }

    pub fn concurrency(&self) -> Concurrency {
        let in_flight = lock(&self.in_flight).clone();
        let routes = lock(&self.max_in_flight)
            .iter()
            .map(|(key, max)| RouteConcurrency {
                route: key.0.clone(),
                method: key.1.clone(),
                max_concurrent: *max,
                in_flight: in_flight.get(key).copied().unwrap_or(0),
            })
            .collect();
        Concurrency { routes }
    }

    /// Forgets the maxima; requests still in flight count as the new maxima.
    pub fn reset_concurrency(&self) {
        let in_flight = lock(&self.in_flight).clone();
        let mut maxima = lock(&self.max_in_flight);
        maxima.clear();
        maxima.extend(in_flight.into_iter().filter(|(_, n)| *n > 0));
    }

    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.clock_offset_ms.fetch_add(millis, Ordering::SeqCst);
    }
}

/// A running simulator. Dropping it stops the server.
pub struct AcronisSim {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl AcronisSim {
    pub async fn start(config: SimConfig) -> anyhow::Result<AcronisSim> {
        let spec_dir = config
            .spec_dir
            .clone()
            .unwrap_or_else(conformance::default_spec_dir);
        let specs = conformance::Specs::load(&spec_dir)?;
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
        let address = listener.local_addr()?;
        let now = Utc::now();
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new(now)),
            dice: Mutex::new(StdRng::seed_from_u64(config.knobs.random_seed)),
            knobs: Mutex::new(config.knobs.clone()),
            log: Mutex::default(),
            violations: Mutex::default(),
            in_flight: Mutex::default(),
            in_flight_changed: Notify::new(),
            max_in_flight: Mutex::default(),
            hold: watch::channel(false).0,
            clock_offset_ms: AtomicI64::new(0),
            specs,
            config,
        });
        {
            let mut state = shared.state();
            shared
                .config
                .seed
                .apply(&mut state, now)
                .map_err(|e| anyhow::anyhow!("invalid seed: {e:?}"))?;
        }
        let router = routes::build_router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                eprintln!("acronis-sim server error: {error}");
            }
        });
        Ok(AcronisSim {
            shared,
            address,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The data-center URL a client is configured with (`http://127.0.0.1:PORT`); the APIs live
    /// under `/api/2` and `/api/alert_manager/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Read or change anything in the data center.
    pub fn with_state<R>(&self, change: impl FnOnce(&mut SimState) -> R) -> R {
        change(&mut self.shared.state())
    }

    /// The simulator's clock (real time plus [`AcronisSim::advance_clock`] offsets).
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Moves the simulated clock forward, e.g. past a token's expiry, without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance(by);
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.shared.knobs).clone()
    }

    /// Replaces the knobs and re-seeds the fault dice.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.shared.set_knobs(knobs);
    }

    /// The largest number of concurrent requests seen per route since the start or
    /// [`AcronisSim::reset_concurrency`] (`GET /__sim/concurrency`).
    pub fn concurrency(&self) -> Concurrency {
        self.shared.concurrency()
    }

    /// Starts a new measuring period (`DELETE /__sim/concurrency`); the request log is separate.
    pub fn reset_concurrency(&self) {
        self.shared.reset_concurrency();
    }

    /// Holds every API request (after it counted as in flight) until released (`PUT /__sim/hold`).
    pub fn hold_requests(&self) {
        self.shared.hold.send_replace(true);
    }

    pub fn release_requests(&self) {
        self.shared.hold.send_replace(false);
    }

    /// Requests in flight on a route template (all methods), or on all routes for `None`.
    pub fn in_flight(&self, route: Option<&str>) -> usize {
        self.shared.in_flight(route)
    }

    /// Waits until at least `count` requests are in flight (see [`AcronisSim::in_flight`]).
    pub async fn wait_for_in_flight(&self, route: Option<&str>, count: usize) {
        self.shared.wait_for_in_flight(route, count).await;
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// How many requests hit `method` + route template (e.g. `GET`, `/api/2/tenants/{tenant_id}`).
    pub fn request_count(&self, method: &str, route: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.route.as_deref() == Some(route))
            .count()
    }

    pub fn reset_request_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Responses this simulator sent that do not match the spec (should always be empty).
    pub fn conformance_violations(&self) -> Vec<String> {
        lock(&self.shared.violations).clone()
    }

    /// Adds the seed's contents (tenants, clients, infra, users, usages, alerts) to the state.
    pub fn apply_seed(&self, seed: &Seed) -> Result<(), ApiError> {
        let now = self.now();
        seed.apply(&mut self.shared.state(), now)
    }

    pub fn add_api_client(&self, client: ApiClient) {
        self.shared
            .state()
            .clients
            .insert(client.client_id.clone(), client);
    }

    /// Creates a tenant as a seed would (top-level partners get the whole catalogue). Returns its id.
    pub fn add_tenant(&self, tenant: TenantSeed) -> Result<String, ApiError> {
        let now = self.now();
        tenant.apply(&mut self.shared.state(), now)
    }

    /// A user as stored (including `access_policies` and `activation_emails_sent`).
    pub fn user(&self, user_id: &str) -> Option<User> {
        self.shared
            .state()
            .users
            .get(user_id)
            .map(|(user, _)| user.clone())
    }

    /// The `role_id`s the user's access policies grant (empty for an unknown user).
    pub fn user_roles(&self, user_id: &str) -> Vec<String> {
        self.user(user_id).map(|u| u.roles()).unwrap_or_default()
    }

    pub fn set_usage(&self, update: UsageUpdate) -> Result<(), ApiError> {
        self.shared.state().set_usage(update)
    }

    pub fn raise_alert(&self, alert: NewAlert) -> Result<String, ApiError> {
        let now = self.now();
        self.shared.state().raise_alert(alert, now)
    }

    /// A new alert carrying a `context` (its key for `POST /alerts` re-raises; merged into
    /// `details` on the wire), e.g. `{"planId": …, "resourceId": …}`.
    pub fn raise_alert_with_context(
        &self,
        alert: NewAlert,
        context: std::collections::BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        let now = self.now();
        self.shared
            .state()
            .raise_alert_with_context(alert, context, now)
    }

    /// Raises an existing alert again: same id, new `updatedAt`, active again.
    pub fn reraise_alert(
        &self,
        id: &str,
        details: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let now = self.now();
        self.shared.state().reraise_alert(id, details, now)
    }

    /// The platform resolves the alert (problem gone): it gets `deletedAt` like a dismissal.
    pub fn resolve_alert(&self, id: &str) -> Result<(), ApiError> {
        let now = self.now();
        self.shared.state().close_alert(id, now)
    }

    pub async fn shutdown(mut self) {
        self.release_requests();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for AcronisSim {
    fn drop(&mut self) {
        self.shared.hold.send_replace(false);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
