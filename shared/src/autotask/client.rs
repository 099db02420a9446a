use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::entities::{
    Entity, FieldInformation, PicklistValue, ThresholdInformation, ZoneInformation,
};
use super::error::{AutotaskError, TransportKind};
use super::query::{Filter, MAX_PAGE_SIZE, Paging, Query};
use crate::config::Settings;
use crate::secrets::AutotaskCredentials;

/// Where zone discovery starts when neither the settings nor the environment say otherwise.
pub const OFFICIAL_ZONE_LOOKUP_ROOT: &str = "https://webservices.autotask.net/ATServicesRest/";
/// Environment variable naming another zone-lookup root (a simulator, a test double).
pub const ZONE_LOOKUP_URL_ENV: &str = "AUTOTASK_ZONE_LOOKUP_URL";
/// Thread limit per (tracking identifier, endpoint) for integrations created after 2023.1.
const THREADS_PER_ENDPOINT: usize = 3;

static PROCESS_ZONE_LOOKUP_URL: RwLock<Option<String>> = RwLock::new(None);

/// Sets a zone-lookup root for this process, in place of the environment variable: the local
/// runner starts its simulator after the runtime's threads, when changing the environment is
/// no longer sound.
pub fn set_process_zone_lookup_url(url: Option<String>) {
    if let Ok(mut current) = PROCESS_ZONE_LOOKUP_URL.write() {
        *current = url;
    }
}

/// The zone-lookup root: the settings' value, else the process override or
/// `AUTOTASK_ZONE_LOOKUP_URL`, else the official one.
pub fn zone_lookup_root(from_settings: Option<&str>) -> String {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    from_settings
        .and_then(non_empty)
        .or_else(|| {
            PROCESS_ZONE_LOOKUP_URL
                .read()
                .ok()
                .and_then(|v| v.as_deref().and_then(non_empty))
        })
        .or_else(|| {
            std::env::var(ZONE_LOOKUP_URL_ENV)
                .ok()
                .as_deref()
                .and_then(non_empty)
        })
        .unwrap_or_else(|| OFFICIAL_ZONE_LOOKUP_ROOT.to_string())
}

/// How the client behaves; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The zone-lookup root (`…/ATServicesRest/`) or the full `…/ZoneInformation` URL.
    pub zone_lookup_url: String,
    /// Named in F3's message.
    pub integration_name: String,
    /// Tries per call, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is cut to it, so one answer cannot park a job for hours.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
    pub concurrency_per_endpoint: usize,
    /// Background jobs yield to people and other integrations when the hourly budget runs low.
    pub background: bool,
    /// Share of the hourly threshold above which background calls are slowed (G5).
    pub slow_down_above_share: f64,
    pub slow_down_delay: Duration,
    /// Re-read `ThresholdInformation` after this many calls (0: only when asked).
    pub budget_check_every: u64,
    /// Keep every request body sent (conformance tests, dry-run plans).
    pub record_requests: bool,
}

impl ClientOptions {
    pub fn new(zone_lookup_url: impl Into<String>, integration_name: impl Into<String>) -> Self {
        ClientOptions {
            zone_lookup_url: zone_lookup_url.into(),
            integration_name: integration_name.into(),
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            concurrency_per_endpoint: THREADS_PER_ENDPOINT,
            background: true,
            slow_down_above_share: 0.5,
            slow_down_delay: Duration::from_secs(1),
            budget_check_every: 250,
            record_requests: false,
        }
    }

    /// For a job of the integration these settings belong to.
    pub fn for_settings(settings: &Settings) -> Self {
        let mut options = ClientOptions::new(
            zone_lookup_root(settings.autotask_zone_lookup_url.as_deref()),
            settings.autotask_integration_name.clone(),
        );
        options.slow_down_above_share = settings.autotask_budget_share;
        options
    }

    /// Short delays, for tests.
    pub fn with_fast_retries(mut self) -> Self {
        self.base_delay = Duration::from_millis(5);
        self.max_delay = Duration::from_millis(50);
        self.max_retry_after = Duration::from_millis(50);
        self.slow_down_delay = Duration::from_millis(5);
        self.max_attempts = 12;
        self
    }
}

/// A request as sent (no headers: those carry the credentials).
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    pub method: String,
    /// Below the zone root, e.g. `V1.0/Services`.
    pub path: String,
    pub body: Option<Value>,
}

/// One page of a query.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_page_url: Option<String>,
}

/// What a call is, for the retry rule: creates are resent only when Autotask surely did not
/// process them (429, thread threshold, no connection), so a create is never duplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Read,
    Write,
}

/// A cheap handle; clones share the zone, semaphores, budget and counters.
#[derive(Clone)]
pub struct AutotaskClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    options: ClientOptions,
    credentials: AutotaskCredentials,
    /// The zone REST root in use (`…/ATServicesRest/`).
    zone: RwLock<String>,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
    requests: AtomicU64,
    slow_down: AtomicBool,
    slowed_calls: AtomicU64,
    sent: Mutex<Vec<SentRequest>>,
    picklists: Mutex<HashMap<(String, String), Vec<PicklistValue>>>,
}

impl AutotaskClient {
    /// Finds the zone: `recorded_zone` when the integration has one (a moved database answers
    /// 401 there and is re-discovered), else `ZoneInformation`. Makes no other call.
    pub async fn connect(
        options: ClientOptions,
        credentials: AutotaskCredentials,
        recorded_zone: Option<String>,
    ) -> Result<Self, AutotaskError> {
        // The process's client (one connection pool across runs); requests set
        // `options.request_timeout`.
        let http = crate::http::client();
        let client = AutotaskClient {
            inner: Arc::new(Inner {
                http,
                options,
                credentials,
                zone: RwLock::new(recorded_zone.clone().unwrap_or_default()),
                semaphores: Mutex::new(HashMap::new()),
                requests: AtomicU64::new(0),
                slow_down: AtomicBool::new(false),
                slowed_calls: AtomicU64::new(0),
                sent: Mutex::new(Vec::new()),
                picklists: Mutex::new(HashMap::new()),
            }),
        };
        if recorded_zone.is_none() {
            let zone = client.discover_zone().await?;
            client.set_zone(zone);
        }
        Ok(client)
    }

    /// The zone REST root in use; record it per integration (F2).
    pub fn zone_url(&self) -> String {
        self.inner
            .zone
            .read()
            .map(|z| z.clone())
            .unwrap_or_default()
    }

    fn set_zone(&self, zone: String) {
        if let Ok(mut current) = self.inner.zone.write() {
            *current = zone;
        }
    }

    /// Calls made so far, zone lookups included (the run report's `autotask_requests`).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Requests sent so far, when `record_requests` is on.
    pub fn sent_requests(&self) -> Vec<SentRequest> {
        self.inner
            .sent
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Whether background calls are currently slowed for the hourly budget.
    pub fn is_slowed_down(&self) -> bool {
        self.inner.slow_down.load(Ordering::Relaxed)
    }

    /// Calls held back for the hourly budget so far (the run report's `autotask_slowed_calls`).
    pub fn slowed_call_count(&self) -> u64 {
        self.inner.slowed_calls.load(Ordering::Relaxed)
    }

    async fn discover_zone(&self) -> Result<String, AutotaskError> {
        let root = &self.inner.options.zone_lookup_url;
        let lookup = if root
            .trim_end_matches('/')
            .to_ascii_lowercase()
            .ends_with("zoneinformation")
        {
            root.trim_end_matches('/').to_string()
        } else {
            format!("{}/V1.0/ZoneInformation", root.trim_end_matches('/'))
        };
        let mut url = Url::parse(&lookup).map_err(|e| {
            AutotaskError::Setting(format!("zone lookup URL `{lookup}` is not a URL: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("user", self.inner.credentials.username.expose_secret());
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let result = self
                .inner
                .http
                .get(url.clone())
                .timeout(self.inner.options.request_timeout)
                .send()
                .await;
            let outcome = match result {
                Err(e) => Err(AutotaskError::ZoneLookup {
                    message: transport_kind(&e).to_string(),
                    retryable: true,
                }),
                Ok(response) => {
                    let status = response.status();
                    let bytes = response.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        serde_json::from_slice::<ZoneInformation>(&bytes).map_err(|e| {
                            AutotaskError::ZoneLookup {
                                message: format!("unreadable answer: {e}"),
                                retryable: false,
                            }
                        })
                    } else {
                        let messages = error_messages(&bytes);
                        // An unknown user is answered 500 "Zone information could not be
                        // determined" (notes §1.3): the username is wrong, retrying won't help.
                        Err(AutotaskError::ZoneLookup {
                            message: format!(
                                "HTTP {}: {} (is the API username right?)",
                                status.as_u16(),
                                messages.join("; ")
                            ),
                            retryable: status == StatusCode::TOO_MANY_REQUESTS
                                || matches!(status.as_u16(), 502..=504),
                        })
                    }
                }
            };
            match outcome {
                Ok(zone) => {
                    let mut url = zone.url;
                    if !url.ends_with('/') {
                        url.push('/');
                    }
                    return Ok(url);
                }
                Err(e) if e.is_throttle_or_transient() && attempt < self.max_attempts() => {
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn max_attempts(&self) -> u32 {
        self.inner.options.max_attempts.max(1)
    }

    /// Exponential backoff with jitter in [d/2, d]; a `Retry-After` wins when longer.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let options = &self.inner.options;
        let exponential = options
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(options.max_delay);
        let millis = exponential.as_millis().max(2) as u64;
        let jittered = Duration::from_millis(rand::random_range(millis / 2..=millis));
        match retry_after {
            Some(wait) => wait.min(options.max_retry_after).max(jittered),
            None => jittered,
        }
    }

    fn semaphore(&self, endpoint_object: &str) -> Arc<Semaphore> {
        let key = endpoint_object.to_ascii_lowercase();
        let mut map = self
            .inner
            .semaphores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(map.entry(key).or_insert_with(|| {
            Arc::new(Semaphore::new(
                self.inner.options.concurrency_per_endpoint.max(1),
            ))
        }))
    }

    fn auth_headers(&self) -> Result<HeaderMap, AutotaskError> {
        let credentials = &self.inner.credentials;
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("apiintegrationcode", &credentials.api_integration_code),
            ("username", &credentials.username),
            ("secret", &credentials.secret),
        ] {
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                AutotaskError::Setting(format!(
                    "the Autotask secret's {name} contains characters not allowed in a header"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(headers)
    }

    /// Resolves a path below the zone root, or a full URL Autotask gave (a `nextPageUrl`), which
    /// must be on the zone's origin: credentials go nowhere else.
    fn resolve(&self, path_or_url: &str) -> Result<(Url, String), AutotaskError> {
        let zone = self.zone_url();
        let zone_url = Url::parse(&zone)
            .map_err(|e| AutotaskError::Setting(format!("zone URL `{zone}` is not a URL: {e}")))?;
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            let url = Url::parse(path_or_url).map_err(|_| AutotaskError::ForeignPageUrl {
                url: path_or_url.to_string(),
            })?;
            if url.origin() != zone_url.origin() {
                return Err(AutotaskError::ForeignPageUrl {
                    url: path_or_url.to_string(),
                });
            }
            let below = url
                .path()
                .to_ascii_lowercase()
                .find("/v1.0/")
                .map(|i| url.path()[i + 1..].to_string())
                .unwrap_or_else(|| url.path().to_string());
            return Ok((url, below));
        }
        let url = zone_url.join(path_or_url).map_err(|e| {
            AutotaskError::Setting(format!("path `{path_or_url}` does not fit the zone: {e}"))
        })?;
        Ok((url, path_or_url.to_string()))
    }

    /// One call with retries, the per-endpoint semaphore and the budget.
    async fn call(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&Value>,
        kind: CallKind,
    ) -> Result<Option<Value>, AutotaskError> {
        let value = self.call_unmetered(method, path_or_url, body, kind).await?;
        self.maybe_check_budget().await;
        Ok(value)
    }

    /// A call with retries and the per-endpoint semaphore, without the periodic budget check.
    async fn call_unmetered(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&Value>,
        kind: CallKind,
    ) -> Result<Option<Value>, AutotaskError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (url, path) = self.resolve(path_or_url)?;
            let endpoint = format!("{method} {}", path.split('?').next().unwrap_or(&path));
            let object = endpoint_object(&path);
            if self.inner.options.background && self.is_slowed_down() {
                self.inner.slowed_calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.inner.options.slow_down_delay).await;
            }
            let outcome = {
                let semaphore = self.semaphore(&object);
                let _permit = semaphore
                    .acquire()
                    .await
                    .map_err(|_| AutotaskError::Setting("semaphore closed".into()))?;
                self.send_once(&method, url, &path, &endpoint, body).await
            };
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(Failure::Unauthorized { endpoint, html }) => {
                    // A moved database answers 401 on the old zone (notes §1.3): look again.
                    let current = self.zone_url();
                    let discovered = self.discover_zone().await?;
                    if !same_zone(&current, &discovered) {
                        return Err(AutotaskError::ZoneChanged {
                            recorded: current,
                            discovered,
                        });
                    }
                    // Same zone: the credentials themselves are refused.
                    if html.to_ascii_lowercase().contains("api only") {
                        return Err(self.api_user_required());
                    }
                    return Err(AutotaskError::Unauthorized { endpoint });
                }
                Err(Failure::Error(error, _)) if is_missing_tracking_identifier(&error) => {
                    return Err(self.api_user_required());
                }
                Err(Failure::Error(error, retry_after)) => (error, retry_after),
            };
            let (error, retry_after) = error;
            let retry = match kind {
                CallKind::Read => {
                    error.is_throttle_or_transient()
                        || matches!(error, AutotaskError::Api { status, .. } if status >= 500)
                }
                CallKind::Write => error.was_not_processed(),
            };
            if !retry || attempt >= self.max_attempts() {
                return Err(error);
            }
            tracing::debug!(endpoint = %endpoint, attempt, error = %error, "Autotask call will be retried");
            tokio::time::sleep(self.backoff(attempt, retry_after)).await;
        }
    }

    fn api_user_required(&self) -> AutotaskError {
        AutotaskError::ApiUserRequired {
            integration_name: self.inner.options.integration_name.clone(),
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: Url,
        path: &str,
        endpoint: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Failure> {
        let headers = self.auth_headers().map_err(|e| Failure::Error(e, None))?;
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .timeout(self.inner.options.request_timeout)
            .headers(headers);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        if self.inner.options.record_requests
            && let Ok(mut sent) = self.inner.sent.lock()
        {
            sent.push(SentRequest {
                method: method.to_string(),
                path: path.to_string(),
                body: body.cloned(),
            });
        }
        // The URL is dropped from transport errors: the zone lookup's carries the username.
        let transport = |e: reqwest::Error| {
            Failure::Error(
                AutotaskError::Transport {
                    endpoint: endpoint.to_string(),
                    kind: transport_kind(&e),
                    source: e.without_url(),
                },
                None,
            )
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Unauthorized {
                endpoint: endpoint.to_string(),
                html: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        if status == StatusCode::NOT_FOUND && *method == Method::GET {
            return Ok(None);
        }
        let api_error = |retry_after| {
            Failure::Error(
                AutotaskError::Api {
                    endpoint: endpoint.to_string(),
                    status: status.as_u16(),
                    messages: error_messages(&bytes),
                },
                retry_after,
            )
        };
        if !status.is_success() {
            return Err(api_error(retry_after));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Error(
                AutotaskError::Decode {
                    endpoint: endpoint.to_string(),
                    problem: e.to_string(),
                },
                None,
            )
        })?;
        // An `errors` array inside a 2xx is still a failure (notes §2.5).
        if let Some(errors) = value.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            return Err(api_error(None));
        }
        Ok(Some(value))
    }

    /// Every `budget_check_every` calls, re-reads the threshold (background clients only).
    async fn maybe_check_budget(&self) {
        let every = self.inner.options.budget_check_every;
        if every == 0 || !self.inner.options.background {
            return;
        }
        if self.request_count() % every == 0 {
            // A failed check leaves the pace as it was; the next check tries again.
            let _ = self.threshold().await;
        }
    }

    /// Reads the hourly budget and sets the pace of background calls from it.
    pub async fn threshold(&self) -> Result<ThresholdInformation, AutotaskError> {
        let value = self
            .call_unmetered(
                Method::GET,
                "V1.0/ThresholdInformation",
                None,
                CallKind::Read,
            )
            .await?
            .ok_or_else(|| AutotaskError::Decode {
                endpoint: "GET V1.0/ThresholdInformation".into(),
                problem: "not found".into(),
            })?;
        let info: ThresholdInformation = decode("GET V1.0/ThresholdInformation", value)?;
        let slow = info.used_share() > self.inner.options.slow_down_above_share;
        if slow != self.inner.slow_down.swap(slow, Ordering::Relaxed) {
            tracing::info!(
                used = info.current_timeframe_request_count,
                threshold = info.external_request_threshold,
                slowed = slow,
                "Autotask hourly request budget"
            );
        }
        Ok(info)
    }

    /// One page of a query: the first (no `next`) or the one `next` points at.
    pub async fn query_page(
        &self,
        entity: &str,
        query: &Query,
        next: Option<&str>,
    ) -> Result<Page, AutotaskError> {
        let body = serde_json::to_value(query).map_err(|e| AutotaskError::Decode {
            endpoint: format!("{entity} query"),
            problem: e.to_string(),
        })?;
        let target = match next {
            Some(url) => url.to_string(),
            None => format!("V1.0/{entity}/query"),
        };
        let value = self
            .call(Method::POST, &target, Some(&body), CallKind::Read)
            .await?
            .unwrap_or(Value::Null);
        let items = match value.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let next_page_url = value
            .pointer("/pageDetails/nextPageUrl")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(Page {
            items,
            next_page_url,
        })
    }

    /// Every row matching `query`, each once, in id order.
    pub async fn query_all_values(
        &self,
        entity: &str,
        query: &Query,
        paging: Paging,
    ) -> Result<Vec<Value>, AutotaskError> {
        let mut rows = Vec::new();
        match paging {
            Paging::NextPageUrl => {
                let mut next: Option<String> = None;
                loop {
                    let page = self.query_page(entity, query, next.as_deref()).await?;
                    rows.extend(page.items);
                    match page.next_page_url {
                        Some(url) => next = Some(url),
                        None => break,
                    }
                }
            }
            Paging::IdGreaterThanLast => {
                let page_size = query.max_records.unwrap_or(MAX_PAGE_SIZE);
                let mut last_id: Option<i64> = None;
                loop {
                    let mut page_query = query.clone().max_records(page_size);
                    if let Some(last) = last_id {
                        page_query = page_query.filter(Filter::gt("id", last));
                    }
                    let page = self.query_page(entity, &page_query, None).await?;
                    let count = page.items.len();
                    let page_last = page
                        .items
                        .iter()
                        .filter_map(|row| row.get("id").and_then(Value::as_i64))
                        .max();
                    rows.extend(page.items);
                    // A short page, or no next page, is the last one: no extra empty call.
                    match page_last {
                        Some(last) if count as u32 >= page_size && page.next_page_url.is_some() => {
                            last_id = Some(last)
                        }
                        _ => break,
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Every row matching `query`, typed.
    pub async fn query_all<T: Entity>(
        &self,
        query: &Query,
        paging: Paging,
    ) -> Result<Vec<T>, AutotaskError> {
        let rows = self.query_all_values(T::ENTITY, query, paging).await?;
        let endpoint = format!("POST V1.0/{}/query", T::ENTITY);
        rows.into_iter().map(|row| decode(&endpoint, row)).collect()
    }

    pub async fn count(&self, entity: &str, query: &Query) -> Result<u64, AutotaskError> {
        let body = serde_json::to_value(query).map_err(|e| AutotaskError::Decode {
            endpoint: format!("{entity} count"),
            problem: e.to_string(),
        })?;
        let path = format!("V1.0/{entity}/query/count");
        let value = self
            .call(Method::POST, &path, Some(&body), CallKind::Read)
            .await?
            .unwrap_or(Value::Null);
        value
            .get("queryCount")
            .and_then(Value::as_u64)
            .ok_or_else(|| AutotaskError::Decode {
                endpoint: path,
                problem: "no queryCount".into(),
            })
    }

    /// By id; `None` when Autotask answers 404.
    pub async fn get<T: Entity>(&self, id: i64) -> Result<Option<T>, AutotaskError> {
        let path = format!("V1.0/{}/{id}", T::ENTITY);
        match self.call(Method::GET, &path, None, CallKind::Read).await? {
            None => Ok(None),
            Some(value) => match value.get("item") {
                None | Some(Value::Null) => Ok(None),
                Some(item) => decode(&path, item.clone()).map(Some),
            },
        }
    }

    /// Creates a root entity; returns its id.
    pub async fn create<T: Entity + Serialize>(&self, item: &T) -> Result<i64, AutotaskError> {
        self.write(Method::POST, &format!("V1.0/{}", T::ENTITY), item)
            .await
    }

    /// Creates a root entity from any body (entities this client has no type for, e.g.
    /// `ContractServiceAdjustments`); returns its id.
    pub async fn create_in<B: Serialize>(
        &self,
        entity: &str,
        item: &B,
    ) -> Result<i64, AutotaskError> {
        self.write(Method::POST, &format!("V1.0/{entity}"), item)
            .await
    }

    /// Creates a child through its parent's URL (`/Contracts/{id}/Services`, notes §2.1).
    pub async fn create_child<B: Serialize>(
        &self,
        parent_entity: &str,
        parent_id: i64,
        child: &str,
        item: &B,
    ) -> Result<i64, AutotaskError> {
        self.write(
            Method::POST,
            &format!("V1.0/{parent_entity}/{parent_id}/{child}"),
            item,
        )
        .await
    }

    /// Changes only the fields set in `item`, which must carry its `id` (notes §2.4).
    pub async fn patch<T: Entity + Serialize>(&self, item: &T) -> Result<i64, AutotaskError> {
        self.write(Method::PATCH, &format!("V1.0/{}", T::ENTITY), item)
            .await
    }

    async fn write<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        item: &B,
    ) -> Result<i64, AutotaskError> {
        let body = serde_json::to_value(item).map_err(|e| AutotaskError::Decode {
            endpoint: path.to_string(),
            problem: e.to_string(),
        })?;
        let value = self
            .call(method.clone(), path, Some(&body), CallKind::Write)
            .await?
            .unwrap_or(Value::Null);
        value
            .get("itemId")
            .and_then(Value::as_i64)
            .ok_or_else(|| AutotaskError::Decode {
                endpoint: format!("{method} {path}"),
                problem: "no itemId in the answer".into(),
            })
    }

    /// The picklist of `entity.field`, read once per client (values are per database).
    pub async fn picklist(
        &self,
        entity: &str,
        field: &str,
    ) -> Result<Vec<PicklistValue>, AutotaskError> {
        let key = (entity.to_ascii_lowercase(), field.to_ascii_lowercase());
        if let Ok(cache) = self.inner.picklists.lock()
            && let Some(values) = cache.get(&key)
        {
            return Ok(values.clone());
        }
        let path = format!("V1.0/{entity}/entityInformation/fields");
        let value = self
            .call(Method::GET, &path, None, CallKind::Read)
            .await?
            .unwrap_or(Value::Null);
        let fields: Vec<FieldInformation> =
            decode(&path, value.get("fields").cloned().unwrap_or(json!([])))?;
        let mut found = None;
        if let Ok(mut cache) = self.inner.picklists.lock() {
            for f in fields {
                let values = f.picklist_values.unwrap_or_default();
                let field_key = (entity.to_ascii_lowercase(), f.name.to_ascii_lowercase());
                if field_key == key {
                    found = Some(values.clone());
                }
                if f.is_pick_list {
                    cache.insert(field_key, values);
                }
            }
        }
        found.ok_or_else(|| AutotaskError::UnknownLabel {
            what: format!("field of {entity}"),
            label: field.to_string(),
            known: Vec::new(),
        })
    }

    /// The value of the active picklist entry labelled `label` (case-insensitive).
    pub async fn picklist_value(
        &self,
        entity: &str,
        field: &str,
        label: &str,
    ) -> Result<i64, AutotaskError> {
        let values = self.picklist(entity, field).await?;
        let found = values
            .iter()
            .filter(|v| v.is_active)
            .find(|v| v.label.trim().eq_ignore_ascii_case(label.trim()));
        match found.and_then(|v| v.value.parse::<i64>().ok()) {
            Some(value) => Ok(value),
            None => Err(AutotaskError::UnknownLabel {
                what: format!("{entity} {field}"),
                label: label.to_string(),
                known: values
                    .iter()
                    .filter(|v| v.is_active)
                    .map(|v| v.label.clone())
                    .collect(),
            }),
        }
    }
}

enum Failure {
    Unauthorized { endpoint: String, html: String },
    Error(AutotaskError, Option<Duration>),
}

fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    }
}

/// The thread limit is per endpoint object: `V1.0/Companies/query` → `companies`.
fn endpoint_object(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let below = lower
        .find("v1.0/")
        .map(|i| &lower[i + 5..])
        .unwrap_or(lower.as_str());
    let mut segments = below.split(['/', '?']);
    let root = segments.next().unwrap_or_default();
    // A child URL (`Tickets/{id}/Notes`) writes the child entity, whose limit it counts against.
    match (segments.next(), segments.next()) {
        (Some(id), Some(child)) if !child.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            match (root, child) {
                ("tickets", "notes") => "ticketnotes".into(),
                ("companies", "contacts") => "contacts".into(),
                ("contracts", child) => format!("contract{child}"),
                (_, child) => child.to_string(),
            }
        }
        _ => root.to_string(),
    }
}

#[cfg(test)]
#[test]
fn child_urls_count_against_the_child_entity() {
    assert_eq!(endpoint_object("V1.0/Tickets/query"), "tickets");
    assert_eq!(endpoint_object("V1.0/Tickets/17/Notes"), "ticketnotes");
    assert_eq!(
        endpoint_object("V1.0/Contracts/5/Services"),
        "contractservices"
    );
    assert_eq!(endpoint_object("V1.0/Companies/5/Contacts"), "contacts");
    assert_eq!(
        endpoint_object("V1.0/Tickets/entityInformation/fields"),
        "tickets"
    );
}

fn same_zone(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// A valid user with a missing or foreign integration code gets a 500 naming the code.
fn is_missing_tracking_identifier(error: &AutotaskError) -> bool {
    matches!(error, AutotaskError::Api { status: 500, messages, .. }
        if messages.iter().any(|m| m.to_ascii_lowercase().contains("integrationcode")))
}

/// `{"errors":["…"]}`, `{"errors":[{"message":…}]}` or ASP.NET's `{"Message":…}` (notes §2.5).
fn error_messages(bytes: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text.chars().take(300).collect()]
        };
    };
    let mut messages = Vec::new();
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for e in errors {
            match e {
                Value::String(s) => messages.push(s.clone()),
                other => {
                    if let Some(m) = other.get("message").and_then(Value::as_str) {
                        messages.push(m.to_string());
                    }
                }
            }
        }
    }
    if let Some(m) = value.get("Message").and_then(Value::as_str) {
        messages.push(m.to_string());
    }
    messages
}

fn decode<T: DeserializeOwned>(endpoint: &str, value: Value) -> Result<T, AutotaskError> {
    serde_json::from_value(value).map_err(|e| AutotaskError::Decode {
        endpoint: endpoint.to_string(),
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    async fn offline_client() -> AutotaskClient {
        let credentials = AutotaskCredentials {
            username: SecretString::from("user".to_string()),
            secret: SecretString::from("secret".to_string()),
            api_integration_code: SecretString::from("code".to_string()),
        };
        // A recorded zone: connecting makes no call.
        AutotaskClient::connect(
            ClientOptions::new("http://127.0.0.1:9/", "test"),
            credentials,
            Some("http://127.0.0.1:9/ATServicesRest/".into()),
        )
        .await
        .expect("no call is made")
    }

    #[tokio::test]
    async fn backoff_grows_with_jitter_and_honours_retry_after_up_to_its_cap() {
        let client = offline_client().await;
        for attempt in 1..=8 {
            let exponential =
                (Duration::from_millis(500) * (1 << (attempt - 1))).min(Duration::from_secs(30));
            let delay = client.backoff(attempt, None);
            assert!(
                delay >= exponential / 2 && delay <= exponential,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert_eq!(
            client.backoff(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7),
            "a longer Retry-After wins"
        );
        assert_eq!(
            client.backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(120),
            "but one answer cannot park a job for an hour"
        );
        assert!(client.backoff(8, Some(Duration::ZERO)) >= Duration::from_secs(15));
    }
}
