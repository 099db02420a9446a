//! HTTPS for every remote call of a function: one TLS configuration per process and one HTTP
//! client for Autotask and Acronis.
//!
//! The TLS configuration trusts Mozilla's root certificates compiled into the binary
//! (`webpki-roots`), not the system's: reading those from `/etc/ssl/certs` (a file per
//! certificate plus the bundle) and parsing them for every client was most of a function's cold
//! start. Certificates are verified as before (rustls's WebPKI verifier, host names included);
//! the trusted roots change when `webpki-roots` is updated, not with the image's CA package. The
//! AWS SDK uses the same configuration ([`crate::aws::AwsHttpClient`]).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// How long a connection attempt to Autotask or Acronis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection to Autotask or Acronis stays in the pool (a warm function's next
/// invocation reuses it).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The roots of trust: Mozilla's root program as `webpki-roots` ships it (nothing to read or
/// parse at run time).
pub fn root_store() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The process's TLS client configuration (aws-lc-rs, TLS 1.2 and 1.3, [`root_store`]), built
/// once; clones share its parts.
pub fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    static CONFIG: LazyLock<Result<rustls::ClientConfig, rustls::Error>> = LazyLock::new(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(root_store())
            .with_no_client_auth())
    });
    CONFIG.clone()
}

/// A `reqwest` client builder that uses [`tls_config`] (or, should that fail, reqwest's own
/// verifier with the system's roots: slower, as safe).
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls_config() {
        Ok(config) => builder.tls_backend_preconfigured(config),
        Err(_) => builder,
    }
}

/// The HTTP client (and connection pool) of the process for Autotask and Acronis; requests set
/// their own overall timeout.
pub fn client() -> reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            // Fails only when no TLS backend can be set up.
            .unwrap_or_default()
    });
    CLIENT.clone()
}

/// Builds the TLS configuration and [`client`] now: `main` calls it before the runtime asks for
/// the first event, so the first invocation does not pay for it.
pub fn init() {
    drop(client());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A test CA and a certificate it issued for localhost and 127.0.0.1 (100 years), with its
    /// key: a server that no trusted root vouches for.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATmgAwIBAgIUcAxpJB4J1/2jMFu9ElLQTHuJOeYwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc3luYy1zaGFyZWQgdGVzdCBDQTAgFw0yNjExMjkxODEyNDJa
GA8yMTI2MTEwNTE4MTI0MlowHjEcMBoGA1UEAwwTc3luYy1zaGFyZWQgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLMjGcVqwzcfY/h1IjboPVLRuPyO
ZzrgNbyuKP47QCLdK7xQyYoTExTdkdULc6r8LYug6/PIkIcpKHKlZ9WTkSejUzBR
MB0GA1UdDgQWBBSAovN2VnIaazY7lRLzQiAdnonirzAfBgNVHSMEGDAWgBSAovN2
VnIaazY7lRLzQiAdnonirzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cA
MEQCIBk33/zDTPVbBwB2WE0Mg0CF5ZsNRTl6gtXQa70B4LtGAiBky7a0sVl4A14G
RUOHqkIilT5Lnh/Ysimax/Sv/A/H/w==
-----END CERTIFICATE-----";
    const TEST_LEAF: &str = "-----BEGIN CERTIFICATE-----
MIIBtzCCAV6gAwIBAgIUa6sFPwJt6l/GhtEU+agmDgwOXCgwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc3luYy1zaGFyZWQgdGVzdCBDQTAgFw0yNjExMjkxODEyNDJa
GA8yMTI2MTEwNTE4MTI0MlowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAETEDVB8ls7JqFz8s3mqXVh972qag9Iwg6502HYzwc
DO22dOc8tge16jy7ehM1YnQDGigizUEWXxzKG7bC58olpaOBgTB/MBoGA1UdEQQT
MBGCCWxvY2FsaG9zdIcEfwAAATAMBgNVHRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsG
AQUFBwMBMB0GA1UdDgQWBBTR1STRbwLfmGu9QwMpVA1BYbGi+DAfBgNVHSMEGDAW
gBSAovN2VnIaazY7lRLzQiAdnonirzAKBggqhkjOPQQDAgNHADBEAiAH2m+YPdMN
edakjul8VkgbRdJvJznw4yAFO9ErHdTM9wIgddFJKqcSp4BlR/YOO86pBKcEuoFY
0O8SgjgIAfl+0EM=
-----END CERTIFICATE-----";
    const TEST_LEAF_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9stJNOPHAQ7YsFT2
2tiOVd86OJadQ6ziFFMbxzqKRtuhRANCAARMQNUHyWzsmoXPyzeapdWH3vapqD0j
CDrnTYdjPBwM7bZ05zy2B7XqPLt6EzVidAMaKCLNQRZfHMobtsLnyiWl
-----END PRIVATE KEY-----";

    /// An HTTPS server presenting [`TEST_LEAF`]; answers every request `200 ok`.
    async fn untrusted_server() -> u16 {
        let cert = CertificateDer::from_pem_slice(TEST_LEAF.as_bytes()).expect("test cert");
        let key = PrivateKeyDer::from_pem_slice(TEST_LEAF_KEY.as_bytes()).expect("test key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// The roots AWS's endpoints chain to are trusted (Amazon Root CA 1-4, and Starfield
    /// Services Root G2 that cross-signs them).
    #[test]
    fn trusts_the_roots_aws_chains_to() {
        let store = root_store();
        assert!(store.len() > 100, "{} roots", store.len());
        let subjects: Vec<String> = store
            .roots
            .iter()
            .map(|anchor| String::from_utf8_lossy(anchor.subject.as_ref()).into_owned())
            .collect();
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                subjects.iter().any(|s| s.contains(name)),
                "{name} is not a trusted root"
            );
        }
    }

    /// Certificates are verified: the shared client refuses a server whose certificate no
    /// trusted root issued, and the same server is accepted once its CA is trusted (so the
    /// refusal is the verifier's, not a broken server).
    #[tokio::test]
    async fn refuses_a_certificate_no_trusted_root_issued() {
        let port = untrusted_server().await;
        let url = format!("https://localhost:{port}/");
        let refused = client()
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let error = refused.expect_err("an untrusted certificate was accepted");
        assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(TEST_CA.as_bytes()).expect("test CA"))
            .expect("CA");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let trusting = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let accepted = reqwest::Client::builder()
            .tls_backend_preconfigured(trusting)
            .build()
            .expect("client")
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the test CA's certificate was refused");
        assert_eq!(accepted.status(), 200);
    }
}
