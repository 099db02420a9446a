//! API credentials from Secrets Manager (F1), cached per warm container with a TTL and refetched
//! after an authentication failure. Values are `SecretString`s: their Debug output is redacted and
//! no error built here quotes a value.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::{SecretError, sdk_error_is_retryable};

/// The Autotask API user: `{"username": …, "secret": …, "api_integration_code": …}`.
#[derive(Debug, Clone)]
pub struct AutotaskCredentials {
    pub username: SecretString,
    pub secret: SecretString,
    pub api_integration_code: SecretString,
}

/// The Acronis API client: `{"client_id": …, "client_secret": …, "datacenter_url": …}`.
#[derive(Debug, Clone)]
pub struct AcronisCredentials {
    pub client_id: SecretString,
    pub client_secret: SecretString,
    /// Not secret: where the partner's data center is.
    pub datacenter_url: String,
}

/// How long a fetched secret is used before it is fetched again; the AWS extension's default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

pub struct SecretsCache {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    /// The functions' IAM policy allows reading only names under this prefix.
    prefix: String,
    entries: Mutex<HashMap<String, (SecretString, Instant)>>,
}

impl SecretsCache {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        ttl: Duration,
        prefix: impl Into<String>,
    ) -> Self {
        SecretsCache {
            client,
            ttl,
            prefix: prefix.into(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn autotask(&self, name: &str) -> Result<AutotaskCredentials, SecretError> {
        let fields = self
            .fields(name, &["username", "secret", "api_integration_code"])
            .await?;
        let [username, secret, api_integration_code] = fields;
        Ok(AutotaskCredentials {
            username,
            secret,
            api_integration_code,
        })
    }

    pub async fn acronis(&self, name: &str) -> Result<AcronisCredentials, SecretError> {
        let [client_id, client_secret, datacenter_url] = self
            .fields(name, &["client_id", "client_secret", "datacenter_url"])
            .await?;
        let datacenter_url = datacenter_url
            .expose_secret()
            .trim_end_matches('/')
            .to_string();
        if !(datacenter_url.starts_with("https://") || datacenter_url.starts_with("http://")) {
            return Err(SecretError::Malformed {
                name: name.into(),
                problem: "field `datacenter_url` is not an http(s) URL".into(),
            });
        }
        Ok(AcronisCredentials {
            client_id,
            client_secret,
            datacenter_url,
        })
    }

    /// Forgets a secret so that the next use fetches it again (after a 401 from the vendor).
    pub fn invalidate(&self, name: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(name);
        }
    }

    async fn fields<const N: usize>(
        &self,
        name: &str,
        required: &[&str; N],
    ) -> Result<[SecretString; N], SecretError> {
        let raw = self.raw(name).await?;
        let malformed = |problem: String| SecretError::Malformed {
            name: name.into(),
            problem,
        };
        // serde_json's syntax errors give only positions, never the text, so they are safe to show.
        let value: Value = serde_json::from_str(raw.expose_secret()).map_err(|e| {
            malformed(format!(
                "it is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(malformed(format!(
                "it must be a JSON object with the fields {}",
                required.join(", ")
            )));
        };
        let mut values = Vec::with_capacity(N);
        for field in required {
            match map.get(*field) {
                Some(Value::String(text)) if !text.trim().is_empty() => {
                    values.push(SecretString::from(text.clone()))
                }
                Some(Value::String(_)) => {
                    return Err(malformed(format!("field `{field}` is empty")));
                }
                Some(_) => return Err(malformed(format!("field `{field}` is not a string"))),
                None => return Err(malformed(format!("field `{field}` is missing"))),
            }
        }
        values
            .try_into()
            .map_err(|_| malformed("internal: field count mismatch".into()))
    }

    async fn raw(&self, name: &str) -> Result<SecretString, SecretError> {
        if !self.prefix.is_empty() && !name.starts_with(&self.prefix) {
            return Err(SecretError::AccessDenied {
                name: name.into(),
                prefix: self.prefix.clone(),
            });
        }
        if let Ok(entries) = self.entries.lock() {
            if let Some((value, fetched)) = entries.get(name) {
                if fetched.elapsed() < self.ttl {
                    return Ok(value.clone());
                }
            }
        }
        let output = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|err| {
                let code = err
                    .as_service_error()
                    .and_then(|e| e.code())
                    .unwrap_or_default();
                match code {
                    "ResourceNotFoundException" => SecretError::Missing { name: name.into() },
                    "AccessDeniedException" => SecretError::AccessDenied {
                        name: name.into(),
                        prefix: self.prefix.clone(),
                    },
                    _ => SecretError::Unavailable {
                        name: name.into(),
                        retryable: sdk_error_is_retryable(&err),
                        source: Box::new(err),
                    },
                }
            })?;
        let value = output
            .secret_string()
            .map(|s| SecretString::from(s.to_string()))
            .ok_or_else(|| SecretError::Malformed {
                name: name.into(),
                problem: "it holds binary data; a JSON string is expected".into(),
            })?;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(name.to_string(), (value.clone(), Instant::now()));
        }
        Ok(value)
    }
}
