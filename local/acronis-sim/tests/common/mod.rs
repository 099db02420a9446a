#![allow(dead_code)]

use acronis_sim::{AcronisSim, SimConfig};
use serde_json::Value;

pub const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
pub const CONTOSO: &str = "7c2e4a10-0000-4000-8000-000000000002";
pub const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
pub const CLIENT_SECRET: &str = "example-secret";
pub const ACRONIS_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000101";
pub const AZURE_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000102";

pub async fn start(config: SimConfig) -> AcronisSim {
    match AcronisSim::start(config).await {
        Ok(sim) => sim,
        Err(error) => panic!("simulator did not start: {error}"),
    }
}

pub async fn token(sim: &AcronisSim) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/2/idp/token", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Sends a request and returns (status, JSON body or Null).
pub async fn call(
    sim: &AcronisSim,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{}", sim.base_url(), path);
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
