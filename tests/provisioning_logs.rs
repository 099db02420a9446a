//! No secret in the logs of a provisioning cycle. Alone in its test binary: a thread-local log
//! subscriber misses events when other tests' threads run the same call sites first.

#[path = "provisioning_support.rs"]
mod provisioning_support;

use provisioning_support::*;
use serde_json::json;

#[tokio::test]
async fn a_provisioning_cycle_logs_no_secret() {
    let logs = e2e::CapturedLogs::default();
    let _guard = logs.install();
    let w = World::new("provlogs", json!({})).await;
    w.cycle(slot(25, 10)).await;
    assert_eq!(
        w.tenants_named("Payg Corp").len(),
        1,
        "the cycle provisioned"
    );
    let text = logs.text();
    assert!(
        text.contains("\"run_id\"") && text.contains("provisioning#"),
        "the runs' logs were captured"
    );
    for secret in ["api-secret-1", CLIENT_SECRET, "ACRONISSIMINTEGRATIONCODE01"] {
        assert!(!text.contains(secret), "a secret in the logs");
    }
}
