//! Unit checks of the pure parts: token renewal timing, error bodies and the offering-item diff.

use super::api::changes_needed;
use super::client::{CachedToken, TokenCache, error_from_body};
use super::*;
use reqwest::StatusCode;
use secrecy::SecretString;
use std::time::Duration;

fn token(expires_in: i64, lifetime: i64) -> CachedToken {
    CachedToken {
        access_token: SecretString::from("t"),
        expires_on: chrono::Utc::now().timestamp() + expires_in,
        lifetime_secs: lifetime,
    }
}

#[test]
fn tokens_are_renewed_before_they_expire() {
    let cache = TokenCache::default();
    let margin = Duration::from_secs(900);
    cache.put("fresh".into(), token(7000, 7200));
    cache.put("ending".into(), token(600, 7200));
    cache.put("short".into(), token(50, 60));
    assert!(cache.get("fresh", margin).is_some());
    assert!(cache.get("ending", margin).is_none(), "under 15 min left");
    assert!(
        cache.get("short", margin).is_some(),
        "margin capped at a quarter of the lifetime"
    );
    cache.forget("fresh");
    assert!(cache.get("fresh", margin).is_none());
}

#[test]
fn error_bodies_of_both_apis_are_read() {
    let platform = br#"{"error":{"code":1006,"domain":"PlatformAccountServer","message":"It is prohibited to delete a non-disabled tenant.","details":{"info":null},"context":{}}}"#;
    let error = error_from_body(
        "DELETE",
        "/api/2/tenants/x",
        StatusCode::BAD_REQUEST,
        platform,
    );
    assert_eq!(error.platform_code(), Some(1006));
    assert!(!crate::Classify::is_retryable(&error));
    let alerts =
        br#"{"domain":"AlertManager","code":"NotFound","reason":"alert X not found","context":{}}"#;
    let error = error_from_body(
        "GET",
        "/api/alert_manager/v1/alerts/X",
        StatusCode::NOT_FOUND,
        alerts,
    );
    assert!(
        error.to_string().contains("NotFound: alert X not found"),
        "{error}"
    );
    let nginx = b"<html>502 Bad Gateway</html>";
    let error = error_from_body("GET", "/api/2/tenants", StatusCode::BAD_GATEWAY, nginx);
    assert!(matches!(error, AcronisError::Http { status: 502, .. }));
    assert!(crate::Classify::is_retryable(&error));
}

fn item(name: &str, status: i32, quota: Option<(Option<u64>, i64)>) -> OfferingItem {
    OfferingItem {
        application_id: CYBER_PROTECTION_APP_ID.into(),
        name: name.into(),
        edition: Some("pck_per_workload".into()),
        usage_name: name.into(),
        tenant_id: None,
        status,
        item_type: "count".into(),
        infra_id: None,
        measurement_unit: "quantity".into(),
        quota: quota.map(|(value, version)| Quota {
            value,
            overage: None,
            version,
        }),
    }
}

fn want(name: &str, enabled: bool, quota: Option<QuotaLimit>) -> DesiredOfferingItem {
    DesiredOfferingItem {
        key: OfferingItemKey {
            application_id: CYBER_PROTECTION_APP_ID.into(),
            name: name.into(),
            infra_id: None,
        },
        enabled,
        quota,
    }
}

#[test]
fn only_items_that_differ_are_sent_with_the_version_read() {
    let current = [
        item("a", 1, Some((Some(5), 111))),
        item("b", 1, Some((Some(5), 222))),
        item("c", 0, None),
        item("d", 1, Some((None, 0))),
    ];
    let rows = changes_needed(
        &current,
        &[
            want("a", true, Some(QuotaLimit::soft(5))),
            want("b", true, Some(QuotaLimit::soft(9))),
            want("c", true, None),
            want("d", false, None),
        ],
    );
    let sent: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.status,
                r.quota.map(|q| (q.value, q.version)),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            ("b", 1, Some((Some(9), 222))),
            ("c", 1, None),
            ("d", 0, None)
        ]
    );
}
