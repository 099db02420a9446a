//! AWS clients, built once per cold start and injected into handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_types::service_config::ServiceConfigKey;

#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// The three clients of [`sdk_config`]: region, credentials and endpoints from the
    /// environment.
    pub async fn from_env() -> Self {
        Self::from_config(&sdk_config().await)
    }

    /// The three clients of `config` ([`dynamodb_client`], [`sqs_client`],
    /// [`secrets_client`]).
    pub fn from_config(config: &SdkConfig) -> Self {
        AwsClients {
            dynamodb: dynamodb_client(config),
            sqs: sqs_client(config),
            secrets: secrets_client(config),
        }
    }
}

// One client per service, for the functions that need only some: each SDK client costs start-up
// time. A service's endpoint variable that is set but empty (`AWS_ENDPOINT_URL_DYNAMODB=""`: the
// template declares them empty so that `sam local invoke --env-vars` can fill them) counts as not
// set, where the SDK would take `""` for the endpoint and fail every call.

/// The DynamoDB client of `config`.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
    if blank_endpoint(config, "DynamoDB") {
        builder.set_endpoint_url(config.endpoint_url().map(str::to_string));
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// The SQS client of `config`.
pub fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(config);
    if blank_endpoint(config, "SQS") {
        builder.set_endpoint_url(config.endpoint_url().map(str::to_string));
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// The Secrets Manager client of `config`.
pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(config);
    if blank_endpoint(config, "Secrets Manager") {
        builder.set_endpoint_url(config.endpoint_url().map(str::to_string));
    }
    aws_sdk_secretsmanager::Client::from_conf(builder.build())
}

/// The SDK configuration from the environment: region, credentials and endpoints
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, … let the local stack stand in). HTTPS goes
/// through [`AwsHttpClient`] (the process's TLS configuration, roots compiled in): every SDK
/// client of the workspace is built from here, as the SDK's own HTTPS client is not compiled in.
pub async fn sdk_config() -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(AwsHttpClient::default());
    // Lambda puts the region and the role's credentials in the environment, where the default
    // chains look first. Taking them from there directly gives the same answer without building
    // the chains' other providers (an STS client for web identity, IMDS clients for region and
    // credentials), which took a sixth of a function's start-up CPU.
    if ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .any(|name| env_var(name).is_ok())
    {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    if env_var("AWS_ACCESS_KEY_ID").is_ok() && env_var("AWS_SECRET_ACCESS_KEY").is_ok() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// The SDK's partition table cut to its commercial partition, `aws` (entries as the SDK has
/// them; `tests/partition_table.rs` checks that every endpoint resolves the same with it).
///
/// Every SDK crate parses its own copy of the full table (eight partitions, a region regex to
/// compile for each) when its first client is built: with three clients, a tenth of a
/// function's start. A function in a commercial region needs only this partition.
const COMMERCIAL_PARTITION_TABLE: &str = r#"{"partitions":[{"id":"aws","outputs":{"dnsSuffix":"amazonaws.com","dualStackDnsSuffix":"api.aws","implicitGlobalRegion":"us-east-1","name":"aws","supportsDualStack":true,"supportsFIPS":true},"regionRegex":"^(us|eu|ap|sa|ca|me|af|il|mx)\\-\\w+\\-\\d+$","regions":{}}],"version":"1.1"}"#;

/// The commercial partition's regions as the SDK lists them. A region that is not here (a new
/// one, GovCloud, China, …) keeps the SDK's full table.
pub const COMMERCIAL_REGIONS: [&str; 34] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The SDK's variable naming a partition table file to use instead of its own.
pub const CUSTOM_PARTITION_VARIABLE: &str = "SMITHY_CLIENT_SDK_CUSTOM_PARTITION";

/// Gives the AWS SDK [`COMMERCIAL_PARTITION_TABLE`] (through [`CUSTOM_PARTITION_VARIABLE`])
/// when the process is a Lambda function in a commercial region and nobody chose a table
/// already; otherwise, or when the table cannot be written, the SDK keeps its own.
///
/// The table is an in-memory file (`memfd_create`) that the process keeps open and names as
/// `/proc/self/fd/N`: nothing touches the disk, nobody else can see or swap it, nothing is left
/// behind.
///
/// [`crate::lambda::start`] calls it first, while the process has one thread: it sets an
/// environment variable.
pub fn use_commercial_partition_table() {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        static TABLE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
        let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
        let chosen = std::env::var_os(CUSTOM_PARTITION_VARIABLE).is_some();
        let commercial =
            env_var("AWS_REGION").is_ok_and(|region| COMMERCIAL_REGIONS.contains(&region.as_str()));
        if !in_lambda || chosen || !commercial {
            return;
        }
        let Ok(file) = in_memory_file_with(COMMERCIAL_PARTITION_TABLE.as_bytes()) else {
            return;
        };
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        if TABLE.set(file).is_ok() {
            // SAFETY: called at the start of `main` (`lambda::start`) on the current-thread
            // runtime, before any other thread exists that could read the environment.
            unsafe { std::env::set_var(CUSTOM_PARTITION_VARIABLE, path) };
        }
    }
}

/// An anonymous in-memory file holding `contents`.
#[cfg(target_os = "linux")]
fn in_memory_file_with(contents: &[u8]) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // The system call itself: glibc's wrapper (2.27) is newer than provided.al2's glibc.
    // SAFETY: the name is NUL-terminated; the call returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c"sdk-partitions.json".as_ptr(),
            libc::MFD_CLOEXEC,
        )
    };
    let fd = i32::try_from(fd)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(std::io::Error::last_os_error)?;
    // SAFETY: `fd` was just created and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(contents)?;
    Ok(file)
}

/// The names of the endpoint variables the functions read (`AWS_ENDPOINT_URL_<SERVICE>`), as
/// the SDK forms them from the service ids.
pub const ENDPOINT_URL_VARIABLES: [&str; 3] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
];

/// Whether the service's own endpoint setting (`AWS_ENDPOINT_URL_<SERVICE>`, or the profile's)
/// is present but blank, looked up as the SDK's service clients look it up.
fn blank_endpoint(config: &SdkConfig, service_id: &str) -> bool {
    let Ok(key) = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
    else {
        return false;
    };
    config
        .service_config()
        .and_then(|loader| loader.load_config(key))
        .is_some_and(|value| value.trim().is_empty())
}

/// A required environment variable, or an error that names it.
pub fn env_var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set"))
}

/// A connector setting's connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The AWS SDK's HTTP client: `reqwest` with the process's TLS configuration
/// ([`crate::http::tls_config`]).
///
/// The SDK's default client (aws-smithy-http-client) loads the system's root certificates
/// (`/etc/ssl/certs`) and builds a TLS connector for every service client it validates, only to
/// drop it and build another at the first request: that was most of a function's cold start.
/// Here a client per connector setting (connect and read timeouts, as the SDK's timeout
/// configuration gives them) shares the one TLS configuration; transport errors are classified
/// as the SDK's own client does (timeouts and I/O errors are retried, an unusable request is
/// not).
#[derive(Clone, Debug, Default)]
pub struct AwsHttpClient {
    clients: Arc<Mutex<HashMap<Timeouts, reqwest::Client>>>,
}

impl AwsHttpClient {
    fn client(&self, settings: &HttpConnectorSettings) -> Result<reqwest::Client, String> {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder = crate::http::client_builder();
        if let Some(timeout) = key.0 {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = key.1 {
            builder = builder.read_timeout(timeout);
        }
        let client = builder
            .build()
            .map_err(|e| format!("HTTP client for AWS: {e}"))?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

impl HttpClient for AwsHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(AwsConnector {
            client: self.client(settings),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", None))
    }
}

#[derive(Debug)]
struct AwsConnector {
    client: Result<reqwest::Client, String>,
}

impl HttpConnector for AwsConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::user(e.into()))?;
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let body = match body.bytes() {
                Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                None => reqwest::Body::wrap(body),
            };
            let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response =
                http::Response::<reqwest::Body>::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// As the SDK's own client classifies them: a timeout or a failed connection or exchange may be
/// retried, a request reqwest cannot send may not.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_builder() {
        ConnectorError::user(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    fn request(uri: &str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from("{}"));
        request.set_uri(uri).expect("uri");
        request
    }

    fn connector(settings: HttpConnectorSettings) -> AwsConnector {
        AwsConnector {
            client: AwsHttpClient::default().client(&settings),
        }
    }

    /// A refused connection is an I/O error (the SDK retries it).
    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let error = connector(HttpConnectorSettings::builder().build())
            .call(request(&format!("http://127.0.0.1:{port}/")))
            .await
            .expect_err("nothing listens");
        assert!(error.is_io(), "{error:?}");
    }

    /// A server that does not answer within the read timeout is a timeout (retried).
    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let settings = HttpConnectorSettings::builder()
            .read_timeout(Duration::from_millis(200))
            .build();
        let error = connector(settings)
            .call(request(&format!("http://127.0.0.1:{port}/")))
            .await
            .expect_err("no answer");
        assert!(error.is_timeout(), "{error:?}");
    }

    /// Method, path, headers and body reach the server; status, headers and body come back.
    #[tokio::test]
    async fn sends_the_request_and_returns_the_response() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&received).ends_with("{\"a\":1}") {
                let n = socket.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nx-amzn-requestid: r1\r\ncontent-length: 9\r\n\r\n{\"b\":\"c\"}")
                .await
                .expect("write");
            String::from_utf8_lossy(&received).into_owned()
        });
        let mut sent = HttpRequest::new(SdkBody::from("{\"a\":1}"));
        sent.set_uri(format!("http://127.0.0.1:{port}/x?y=z"))
            .expect("uri");
        sent.set_method("POST").expect("method");
        sent.headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.GetItem");
        let response = connector(HttpConnectorSettings::builder().build())
            .call(sent)
            .await
            .expect("response");
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("r1"));
        let body = response.into_body();
        let body = http_body_util_collect(body).await;
        assert_eq!(body, b"{\"b\":\"c\"}");
        let received = server.await.expect("server");
        assert!(
            received.starts_with("POST /x?y=z HTTP/1.1\r\n"),
            "{received}"
        );
        assert!(
            received
                .to_ascii_lowercase()
                .contains("x-amz-target: dynamodb_20120810.getitem"),
            "{received}"
        );
        assert!(received.ends_with("{\"a\":1}"), "{received}");
    }

    /// A client that records the URI of every request and answers none.
    #[derive(Clone, Debug, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl HttpClient for Recorder {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    impl HttpConnector for Recorder {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(request.uri().to_string());
            HttpConnectorFuture::ready(Err(ConnectorError::user("recorded".into())))
        }
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>` as a map (the SDK's service config, from the environment).
    #[derive(Debug)]
    struct Endpoints(HashMap<&'static str, &'static str>);

    impl aws_types::service_config::LoadServiceConfig for Endpoints {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            let variable = format!(
                "{}_{}",
                key.env(),
                key.service_id().to_ascii_uppercase().replace(' ', "_")
            );
            self.0.get(variable.as_str()).map(|v| v.to_string())
        }
    }

    /// Where each client sends its first request, given the endpoint variables.
    async fn first_requests(endpoints: &[(&'static str, &'static str)]) -> Vec<String> {
        let recorder = Recorder::default();
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )))
            .http_client(recorder.clone())
            .service_config(Endpoints(endpoints.iter().copied().collect()))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        let clients = AwsClients::from_config(&config);
        let _ = clients.dynamodb.list_tables().send().await;
        let _ = clients.sqs.list_queues().send().await;
        let _ = clients.secrets.list_secrets().send().await;
        recorder
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An empty `AWS_ENDPOINT_URL_<SERVICE>` is not set: AWS's endpoint. A value is the
    /// endpoint.
    #[tokio::test]
    async fn an_empty_endpoint_variable_means_the_aws_endpoint() {
        let empty = first_requests(&[
            ("AWS_ENDPOINT_URL_DYNAMODB", ""),
            ("AWS_ENDPOINT_URL_SQS", ""),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", " "),
        ])
        .await;
        assert_eq!(
            empty,
            [
                "https://dynamodb.eu-west-1.amazonaws.com/",
                "https://sqs.eu-west-1.amazonaws.com/",
                "https://secretsmanager.eu-west-1.amazonaws.com/",
            ]
        );
        let local = first_requests(&[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5000"),
        ])
        .await;
        assert_eq!(
            local,
            [
                "http://127.0.0.1:8000/",
                "http://127.0.0.1:5000/",
                "http://127.0.0.1:5000/",
            ]
        );
    }

    async fn http_body_util_collect(body: SdkBody) -> Vec<u8> {
        let stream = aws_smithy_types::byte_stream::ByteStream::new(body);
        stream.collect().await.expect("body").into_bytes().to_vec()
    }
}
