//! Transport: tokens, retries, timeouts, counting and error bodies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::AcronisError;
use super::models::{TokenError, TokenResponse};
use crate::secrets::{AcronisCredentials, SecretsCache};

/// Account Management API prefix.
pub(crate) const AM: &str = "/api/2";
/// Alert Manager API prefix.
pub(crate) const AL: &str = "/api/alert_manager/v1";
const TOKEN_PATH: &str = "/api/2/idp/token";
/// The platform's token lifetime, used when a token response states none.
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 7200;

#[derive(Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect + answer).
    pub request_timeout: Duration,
    /// Retries after a 5xx, a timeout or a failed connection (the platform advises two).
    pub server_error_retries: u32,
    /// Pause before such a retry: uniformly between these bounds (the platform advises 1–2 s).
    pub retry_delay: (Duration, Duration),
    /// Retries after 429 Too Many Requests.
    pub rate_limit_retries: u32,
    /// First pause after a 429 without `Retry-After`; doubles on each further 429, up to the max.
    pub rate_limit_backoff: Duration,
    pub rate_limit_backoff_max: Duration,
    /// Read–apply attempts of a versioned write before giving up on a version conflict.
    pub version_conflict_attempts: u32,
    /// Upper bound of the random pause after a version conflict (spreads racing writers).
    pub version_conflict_jitter: Duration,
    /// A token is renewed when it has less than this left (the official examples use 15 min);
    /// never more than a quarter of its lifetime, so short-lived tokens are still reused.
    pub token_renew_margin: Duration,
    pub tokens: TokenCache,
    /// Test hook: every request's method, path and JSON body.
    pub recorder: Option<RequestRecorder>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            server_error_retries: 2,
            retry_delay: (Duration::from_secs(1), Duration::from_secs(2)),
            rate_limit_retries: 5,
            rate_limit_backoff: Duration::from_secs(2),
            rate_limit_backoff_max: Duration::from_secs(30),
            version_conflict_attempts: 5,
            version_conflict_jitter: Duration::from_millis(100),
            token_renew_margin: Duration::from_secs(900),
            tokens: TokenCache::shared(),
            recorder: None,
        }
    }
}

impl ClientOptions {
    /// Millisecond pauses, for tests against a simulator.
    pub fn fast() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(10),
            retry_delay: (Duration::from_millis(1), Duration::from_millis(5)),
            rate_limit_backoff: Duration::from_millis(2),
            rate_limit_backoff_max: Duration::from_millis(20),
            version_conflict_jitter: Duration::from_millis(5),
            ..ClientOptions::default()
        }
    }
}

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub access_token: SecretString,
    /// Unix seconds.
    pub expires_on: i64,
    pub lifetime_secs: i64,
}

/// Access tokens by API client. Keys are hashes of data center, client id and secret, so a
/// changed secret never reuses an old token and no secret is held in a key.
#[derive(Clone, Default)]
pub struct TokenCache(Arc<Mutex<HashMap<String, CachedToken>>>);

impl TokenCache {
    /// The process-wide cache: a warm Lambda container reuses tokens across runs.
    pub fn shared() -> TokenCache {
        static SHARED: LazyLock<TokenCache> = LazyLock::new(TokenCache::default);
        SHARED.clone()
    }

    pub(crate) fn get(&self, key: &str, margin: Duration) -> Option<SecretString> {
        let now = chrono::Utc::now().timestamp();
        let entries = self.0.lock().ok()?;
        let token = entries.get(key)?;
        let margin = i64::try_from(margin.as_secs())
            .unwrap_or(i64::MAX)
            .min(token.lifetime_secs / 4);
        (token.expires_on.saturating_sub(now) > margin).then(|| token.access_token.clone())
    }

    pub(crate) fn put(&self, key: String, token: CachedToken) {
        if let Ok(mut entries) = self.0.lock() {
            entries.insert(key, token);
        }
    }

    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut entries) = self.0.lock() {
            entries.remove(key);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Concrete path (`/api/2/tenants/<uuid>/offering_items`); the client id is never recorded.
    pub path: String,
    pub body: Option<Value>,
}

#[derive(Clone, Default)]
pub struct RequestRecorder(Arc<Mutex<Vec<RecordedRequest>>>);

impl RequestRecorder {
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn record(&self, request: RecordedRequest) {
        if let Ok(mut requests) = self.0.lock() {
            requests.push(request);
        }
    }
}

/// The client of one integration's Acronis API client. Cheap to create per run; tokens live in
/// the [`TokenCache`].
pub struct AcronisClient {
    http: reqwest::Client,
    datacenter_url: String,
    secret_name: String,
    client_id: SecretString,
    client_secret: SecretString,
    token_key: String,
    options: ClientOptions,
    /// Told to forget the secret when Acronis refuses it, so the next run reads it afresh.
    secrets: Option<Arc<SecretsCache>>,
    requests: AtomicU64,
    token_requests: AtomicU64,
    version_conflicts: AtomicU64,
}

/// A request as the pipeline needs it.
pub(crate) struct ApiRequest<'a> {
    pub method: Method,
    pub path: &'a str,
    /// What errors and the recorder call the path (hides ids that must not be shown).
    pub label: Option<&'a str>,
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a Value>,
    /// A create that must not be repeated blindly: no retry after a 5xx or a timeout (the
    /// platform may have carried it out); a 429 is still retried (nothing was done).
    pub once: bool,
}

impl<'a> ApiRequest<'a> {
    pub fn get(path: &'a str, query: &'a [(&'a str, String)]) -> Self {
        ApiRequest {
            method: Method::GET,
            path,
            label: None,
            query,
            body: None,
            once: false,
        }
    }

    fn shown_path(&self) -> &str {
        self.label.unwrap_or(self.path)
    }
}

impl AcronisClient {
    pub fn new(
        secret_name: &str,
        credentials: AcronisCredentials,
        options: ClientOptions,
    ) -> Result<Self, AcronisError> {
        let datacenter_url = credentials.datacenter_url.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&datacenter_url).is_err() {
            return Err(AcronisError::InvalidUrl {
                secret: secret_name.into(),
                datacenter_url,
            });
        }
        let mut hasher = Sha256::new();
        for part in [
            datacenter_url.as_str(),
            credentials.client_id.expose_secret(),
            credentials.client_secret.expose_secret(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let token_key = format!("{:x}", hasher.finalize());
        Ok(AcronisClient {
            http: crate::http::client(),
            datacenter_url,
            secret_name: secret_name.into(),
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            token_key,
            options,
            secrets: None,
            requests: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            version_conflicts: AtomicU64::new(0),
        })
    }

    /// After an authentication failure, `secrets` forgets this client's secret.
    pub fn with_secrets_cache(mut self, secrets: Arc<SecretsCache>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    pub fn datacenter_url(&self) -> &str {
        &self.datacenter_url
    }

    /// HTTP requests sent by this client, retries and token requests included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// Version mismatches met (and re-applied) by versioned writes.
    pub fn version_conflicts(&self) -> u64 {
        self.version_conflicts.load(Ordering::Relaxed)
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub(crate) fn client_id(&self) -> &SecretString {
        &self.client_id
    }

    pub(crate) fn count_version_conflict(&self) {
        self.version_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends a request and decodes a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        request: ApiRequest<'_>,
    ) -> Result<T, AcronisError> {
        let (method, path) = (request.method.to_string(), request.shown_path().to_string());
        let bytes = self.send(request).await?;
        serde_json::from_slice(&bytes).map_err(|source| AcronisError::Decode {
            method,
            path,
            source,
        })
    }

    /// [`AcronisClient::json`] for a create that must not be repeated blindly.
    pub(crate) async fn json_once<T: DeserializeOwned>(
        &self,
        request: ApiRequest<'_>,
    ) -> Result<T, AcronisError> {
        self.json(ApiRequest {
            once: true,
            ..request
        })
        .await
    }

    /// Sends a request with a bearer token; renews the token once on 401.
    pub(crate) async fn send(&self, request: ApiRequest<'_>) -> Result<Vec<u8>, AcronisError> {
        if let Some(recorder) = &self.options.recorder {
            recorder.record(RecordedRequest {
                method: request.method.to_string(),
                path: request.shown_path().to_string(),
                body: request.body.cloned(),
            });
        }
        let url = format!("{}{}", self.datacenter_url, request.path);
        let mut renewed = false;
        loop {
            let token = self.bearer_token(renewed).await?;
            let response = self
                .execute(&request, || {
                    let mut builder = self
                        .http
                        .request(request.method.clone(), &url)
                        .bearer_auth(token.expose_secret());
                    if !request.query.is_empty() {
                        builder = builder.query(request.query);
                    }
                    if let Some(body) = request.body {
                        builder = builder.json(body);
                    }
                    builder
                })
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                // Expired or revoked early: renew once; a fresh token refused means lost access.
                self.options.tokens.forget(&self.token_key);
                if !renewed {
                    renewed = true;
                    continue;
                }
                self.forget_secret();
                return Err(AcronisError::Unauthorized {
                    method: request.method.to_string(),
                    path: request.shown_path().to_string(),
                });
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&request, e))?;
            if status.is_success() {
                return Ok(body.to_vec());
            }
            return Err(error_from_body(
                request.method.as_str(),
                request.shown_path(),
                status,
                &body,
            ));
        }
    }

    async fn bearer_token(&self, force_renewal: bool) -> Result<SecretString, AcronisError> {
        if !force_renewal {
            if let Some(token) = self
                .options
                .tokens
                .get(&self.token_key, self.options.token_renew_margin)
            {
                return Ok(token);
            }
        }
        let token = self.issue_token().await?;
        let access_token = token.access_token.clone();
        self.options.tokens.put(self.token_key.clone(), token);
        Ok(access_token)
    }

    /// `POST /idp/token` with client_credentials and HTTP Basic client authentication.
    async fn issue_token(&self) -> Result<CachedToken, AcronisError> {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let request = ApiRequest {
            method: Method::POST,
            path: TOKEN_PATH,
            label: None,
            query: &[],
            body: None,
            once: false,
        };
        let url = format!("{}{TOKEN_PATH}", self.datacenter_url);
        let response = self
            .execute(&request, || {
                self.http
                    .post(&url)
                    .basic_auth(
                        self.client_id.expose_secret(),
                        Some(self.client_secret.expose_secret()),
                    )
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
            })
            .await?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&request, e))?;
        if status.is_success() {
            let token: TokenResponse =
                serde_json::from_slice(&body).map_err(|source| AcronisError::Decode {
                    method: "POST".into(),
                    path: TOKEN_PATH.into(),
                    source,
                })?;
            let now = chrono::Utc::now().timestamp();
            let lifetime = token
                .expires_in
                .or(token.expires_on.map(|on| on.saturating_sub(now)))
                .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS)
                .max(1);
            return Ok(CachedToken {
                access_token: SecretString::from(token.access_token),
                expires_on: token.expires_on.unwrap_or(now.saturating_add(lifetime)),
                lifetime_secs: lifetime,
            });
        }
        if matches!(status.as_u16(), 400 | 401 | 403) {
            self.forget_secret();
            let description = serde_json::from_slice::<TokenError>(&body)
                .map(|e| format!("{}: {}", e.error, e.error_description))
                .unwrap_or_else(|_| "no error description".into());
            return Err(AcronisError::Credentials {
                secret: self.secret_name.clone(),
                status: status.as_u16(),
                description,
            });
        }
        Err(error_from_body("POST", TOKEN_PATH, status, &body))
    }

    fn forget_secret(&self) {
        if let Some(secrets) = &self.secrets {
            secrets.invalidate(&self.secret_name);
        }
    }

    /// Sends one logical request: counts every attempt, retries 5xx / timeouts / failed
    /// connections and backs off on 429. Returns the final response, whatever its status.
    async fn execute(
        &self,
        request: &ApiRequest<'_>,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, AcronisError> {
        let server_error_retries = if request.once {
            0
        } else {
            self.options.server_error_retries
        };
        let mut server_errors = 0;
        let mut rate_limited = 0;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = build().timeout(self.options.request_timeout).send().await;
            match sent {
                Err(error) => {
                    if server_errors < server_error_retries {
                        server_errors += 1;
                        tracing::warn!(method = %request.method, path = request.shown_path(), error = %error.without_url(), "Acronis request failed; retrying");
                        tokio::time::sleep(self.retry_delay()).await;
                        continue;
                    }
                    return Err(self.transport_error(request, error));
                }
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    if rate_limited >= self.options.rate_limit_retries {
                        return Err(AcronisError::RateLimited {
                            method: request.method.to_string(),
                            path: request.shown_path().to_string(),
                            attempts: rate_limited + 1,
                        });
                    }
                    let pause = retry_after(&response)
                        .unwrap_or_else(|| self.rate_limit_pause(rate_limited));
                    rate_limited += 1;
                    tracing::warn!(method = %request.method, path = request.shown_path(), pause_ms = pause.as_millis() as u64, "Acronis rate limit; backing off");
                    tokio::time::sleep(pause).await;
                }
                Ok(response)
                    if response.status().is_server_error()
                        && server_errors < server_error_retries =>
                {
                    server_errors += 1;
                    tracing::warn!(method = %request.method, path = request.shown_path(), status = response.status().as_u16(), "Acronis server error; retrying");
                    tokio::time::sleep(self.retry_delay()).await;
                }
                Ok(response) => return Ok(response),
            }
        }
    }

    fn retry_delay(&self) -> Duration {
        random_between(self.options.retry_delay.0, self.options.retry_delay.1)
    }

    fn rate_limit_pause(&self, previous: u32) -> Duration {
        let base = self.options.rate_limit_backoff;
        let pause = base.saturating_mul(2u32.saturating_pow(previous.min(16)));
        random_between(pause / 2, pause).min(self.options.rate_limit_backoff_max)
    }

    fn transport_error(&self, request: &ApiRequest<'_>, error: reqwest::Error) -> AcronisError {
        // The URL may hold an id that must not be shown; the path label says what was called.
        let error = error.without_url();
        let (method, path) = (request.method.to_string(), request.shown_path().to_string());
        if error.is_timeout() {
            AcronisError::Timeout {
                method,
                path,
                source: error,
            }
        } else if error.is_connect() {
            AcronisError::Unreachable {
                datacenter_url: self.datacenter_url.clone(),
                secret: self.secret_name.clone(),
                source: error,
            }
        } else {
            AcronisError::Transport {
                method,
                path,
                source: error,
            }
        }
    }
}

pub(crate) fn random_between(low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    low + (high - low).mul_f64(rand::random::<f64>())
}

fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(120)))
}

/// Reads the error body of either API: Account Management's `{"error": {code, message,
/// details}}`, the token endpoint's `{"error", "error_description"}` or Alert Manager's
/// `{domain, code, reason}`.
pub(crate) fn error_from_body(
    method: &str,
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> AcronisError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (code, message) = if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        let mut message = error.get("message").and_then(text).unwrap_or_default();
        if let Some(info) = error.pointer("/details/info").and_then(text) {
            message = format!("{message} ({info})");
        }
        (error.get("code").and_then(text), message)
    } else if let Some(error) = value.get("error").and_then(text) {
        let description = value
            .get("error_description")
            .and_then(text)
            .unwrap_or_default();
        (Some(error), description)
    } else if value.get("domain").is_some() {
        let reason = value.get("reason").and_then(text).unwrap_or_default();
        (value.get("code").and_then(text), reason)
    } else {
        (None, String::new())
    };
    match code {
        Some(code) => AcronisError::Platform {
            method: method.into(),
            path: path.into(),
            status: status.as_u16(),
            code,
            message,
        },
        None => AcronisError::Http {
            method: method.into(),
            path: path.into(),
            status: status.as_u16(),
        },
    }
}
