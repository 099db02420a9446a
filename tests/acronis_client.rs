//! The Acronis client against the simulator: racing writers, token expiry, alert paging,
//! tenant deletion, retries and clear errors.

#[path = "acronis_support.rs"]
mod acronis_support;

use std::collections::HashSet;
use std::time::Duration;

use acronis_sim::{Knobs, NewAlert, SimConfig, TenantSeed};
use acronis_support::*;
use sync_shared::Classify;
use sync_shared::acronis::{
    AcronisClient, AcronisError, CYBER_PROTECTION_APP_ID, DesiredOfferingItem, OfferingItemKey,
    QuotaLimit, codes,
};
use sync_shared::worker::JobError;

fn quota(name: &str, value: u64) -> DesiredOfferingItem {
    DesiredOfferingItem {
        key: OfferingItemKey {
            application_id: CYBER_PROTECTION_APP_ID.into(),
            name: name.into(),
            infra_id: None,
        },
        enabled: true,
        quota: Some(QuotaLimit::soft(value)),
    }
}

/// Sets `items` to `base + round` for three rounds.
async fn write_rounds(client: &AcronisClient, items: [&str; 2], base: u64) {
    for round in 1..=3 {
        let desired: Vec<_> = items.iter().map(|n| quota(n, base + round)).collect();
        client
            .apply_offering_items(CONTOSO, &desired)
            .await
            .expect("writer applies its items");
    }
}

/// Raises the workstations quota by `by` from whatever the client reads.
async fn raise_workstations(
    client: &AcronisClient,
    by: u64,
) -> sync_shared::acronis::OfferingItemsUpdate {
    client
        .update_offering_items(CONTOSO, |items| {
            let current = items
                .iter()
                .find(|i| i.name == "pw_base_workstations")
                .and_then(|i| i.quota)
                .and_then(|q| q.value)
                .unwrap_or(0);
            vec![quota("pw_base_workstations", current + by)]
        })
        .await
        .expect("raise applies")
}

#[tokio::test]
async fn two_writers_racing_on_one_tenant_both_end_applied_without_lost_quota() {
    let sim = start_sim(SimConfig::example()).await;
    // Latency makes both writers read before either writes, so their writes really overlap.
    sim.set_knobs(Knobs {
        latency_ms: 20,
        ..Knobs::default()
    });
    let first = client(&sim, options());
    let second = client(&sim, options());

    // Different items each, several rounds, concurrently.
    tokio::join!(
        write_rounds(&first, ["pw_base_workstations", "pw_base_servers"], 100),
        write_rounds(&second, ["pw_base_vms", "pw_base_mobiles"], 200),
    );
    for (name, value) in [
        ("pw_base_workstations", 103),
        ("pw_base_servers", 103),
        ("pw_base_vms", 203),
        ("pw_base_mobiles", 203),
    ] {
        let (enabled, quota, _) = item_state(&sim, CONTOSO, name);
        assert!(enabled, "{name} enabled");
        assert_eq!(quota, Some(value), "{name} quota");
    }

    // Both writers raise the same item's quota from what they read: one of them meets a
    // version mismatch, re-reads and re-applies, so neither increment is lost.
    let (_, before, _) = item_state(&sim, CONTOSO, "pw_base_workstations");
    let before = before.expect("workstations has a quota");
    let (a, b) = tokio::join!(
        raise_workstations(&first, 5),
        raise_workstations(&second, 7)
    );
    let (_, after, _) = item_state(&sim, CONTOSO, "pw_base_workstations");
    assert_eq!(after, Some(before + 12), "an increment was lost");
    assert_eq!(
        a.attempts + b.attempts,
        3,
        "exactly one writer re-read and re-applied"
    );
    assert_eq!(first.version_conflicts() + second.version_conflicts(), 1);
    assert!(sim.conformance_violations().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_renewed_without_a_failed_call() {
    let sim = start_sim(SimConfig::example()).await;
    let options = options();
    let client = client(&sim, options.clone());
    assert_eq!(client.partner_tenant_id().await.expect("partner"), PARTNER);
    assert_eq!(client.token_requests(), 1);

    // The token is cached per API client: the next run's client reuses it.
    let next_run = acronis_support::client(&sim, options.clone());
    next_run.tenant(CONTOSO).await.expect("tenant");
    assert_eq!(next_run.token_requests(), 0);

    // Past the token's two hours on the platform's clock: the call answers 401, the client
    // renews the token once and the call succeeds.
    sim.advance_clock(Duration::from_secs(2 * 3600 + 60));
    let tenant = next_run
        .tenant(CONTOSO)
        .await
        .expect("renewed without failing");
    assert_eq!(tenant.name, "Contoso Ltd");
    assert_eq!(next_run.token_requests(), 1);
    let refused = sim.request_log().iter().filter(|r| r.status == 401).count();
    assert_eq!(refused, 1, "one 401, then the renewed token worked");
    // requests: tenant, tenant (401), token, tenant.
    assert_eq!(next_run.requests(), 4);
}

#[tokio::test]
async fn alert_paging_with_nanosecond_filters_returns_every_alert_once_and_reraised_ones_again() {
    let sim = start_sim(SimConfig::example()).await;
    for n in 0..119 {
        sim.raise_alert(NewAlert {
            tenant_id: CONTOSO.into(),
            alert_type: "BackupFailed".into(),
            severity: "critical".into(),
            category: "Backup".into(),
            details: serde_json::json!({"resourceName": format!("HOST-{n}")}),
        })
        .expect("raise");
    }
    let client = client(&sim, options());

    let first = client
        .alerts_updated_after(0, 25, false)
        .await
        .expect("alerts");
    let ids: HashSet<&str> = first.alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(first.alerts.len(), 120, "the seeded alert plus 119");
    assert_eq!(ids.len(), 120, "an alert came twice");
    assert_eq!(first.pages, 5);
    assert!(
        first
            .alerts
            .iter()
            .all(|a| a.tenant.uuid.as_deref() == Some(CONTOSO))
    );

    let nothing_new = client
        .alerts_updated_after(first.watermark_ns, 25, false)
        .await
        .expect("alerts");
    assert!(nothing_new.alerts.is_empty());
    assert_eq!(nothing_new.watermark_ns, first.watermark_ns);

    let reraised: Vec<String> = [3, 40, 99]
        .iter()
        .map(|i| first.alerts[*i].id.clone())
        .collect();
    for id in &reraised {
        sim.reraise_alert(id, None).expect("reraise");
    }
    let again = client
        .alerts_updated_after(first.watermark_ns, 2, false)
        .await
        .expect("alerts");
    let mut got: Vec<String> = again.alerts.iter().map(|a| a.id.clone()).collect();
    got.sort();
    let mut want = reraised.clone();
    want.sort();
    assert_eq!(got, want, "exactly the re-raised alerts, once each");
    assert!(again.watermark_ns > first.watermark_ns);
    for query in sim
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/alerts"))
        .filter_map(|r| r.query.as_deref())
        .filter(|q| q.contains("updated_at"))
    {
        assert!(
            query.contains("updated_at=gt%28"),
            "nanosecond filter expected: {query}"
        );
    }
}

#[tokio::test]
async fn deleting_an_enabled_tenant_fails_with_the_platform_error() {
    let sim = start_sim(SimConfig::example()).await;
    let doomed = sim
        .add_tenant(TenantSeed::new("Doomed Ltd", "customer", Some(PARTNER)))
        .expect("tenant");
    let client = client(&sim, options());

    let error = client
        .delete_tenant(&doomed)
        .await
        .expect_err("an enabled tenant cannot be deleted");
    assert_eq!(error.platform_code(), Some(codes::DELETE_ENABLED_TENANT));
    assert_eq!(error.http_status(), Some(400));
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains("platform error 1006")
            && text.contains("It is prohibited to delete a non-disabled tenant"),
        "{text}"
    );
    let job_error = JobError::from(error);
    assert!(!job_error.is_retryable());
    assert!(job_error.to_string().contains("1006"));

    // The documented way: disable, then delete with the new version.
    let disabled = client
        .set_tenant_enabled(&doomed, false)
        .await
        .expect("disable");
    assert!(!disabled.enabled);
    client.delete_tenant(&doomed).await.expect("delete");
    let gone = client.tenant(&doomed).await.expect_err("deleted");
    assert_eq!(gone.platform_code(), Some(1005));
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_then_reported() {
    let sim = start_sim(SimConfig::example()).await;
    let client = client(&sim, options());
    client.partner_tenant_id().await.expect("token first");

    sim.set_knobs(Knobs {
        server_error_probability: 0.2,
        rate_limit_probability: 0.2,
        random_seed: 7,
        ..Knobs::default()
    });
    let before = client.requests();
    for _ in 0..20 {
        client.tenant(CONTOSO).await.expect("a retry got through");
    }
    let sent = client.requests() - before;
    assert!(sent > 20, "faults were injected and retried: {sent}");
    let faults = sim
        .request_log()
        .iter()
        .filter(|r| r.status == 503 || r.status == 429)
        .count() as u64;
    assert_eq!(sent, 20 + faults, "every request counted");

    sim.set_knobs(Knobs {
        server_error_probability: 1.0,
        ..Knobs::default()
    });
    let before = client.requests();
    let error = client.tenant(CONTOSO).await.expect_err("always 503");
    assert_eq!(client.requests() - before, 3, "first try and two retries");
    assert_eq!(error.http_status(), Some(503));
    assert!(error.is_retryable());

    sim.set_knobs(Knobs {
        rate_limit_probability: 1.0,
        ..Knobs::default()
    });
    let error = client.tenant(CONTOSO).await.expect_err("always 429");
    assert!(matches!(error, AcronisError::RateLimited { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_wrong_secret_and_an_unreachable_data_center_give_clear_errors() {
    let sim = start_sim(SimConfig::example()).await;
    let wrong = AcronisClient::new(
        SECRET_NAME,
        credentials(&sim, "Not-The-Secret-42"),
        options(),
    )
    .expect("client");
    let error = wrong.partner_tenant_id().await.expect_err("refused");
    let text = error.to_string();
    assert!(matches!(error, AcronisError::Credentials { .. }), "{text}");
    assert!(!error.is_retryable());
    assert!(
        text.contains(SECRET_NAME) && text.contains("client_secret"),
        "{text}"
    );
    for secret in ["Not-The-Secret-42", CLIENT_ID] {
        assert!(
            !format!("{error:?}").contains(secret),
            "secret in {error:?}"
        );
    }

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut unreachable = credentials(&sim, CLIENT_SECRET);
    unreachable.datacenter_url = format!("http://127.0.0.1:{closed_port}");
    let client = AcronisClient::new(SECRET_NAME, unreachable, options()).expect("client");
    let error = client
        .partner_tenant_id()
        .await
        .expect_err("nobody listens");
    let text = sync_shared::error::error_chain(&error);
    assert!(matches!(error, AcronisError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("is unreachable") && text.contains("datacenter_url"),
        "{text}"
    );
    assert_eq!(client.requests(), 3, "two retries");
    sim.shutdown().await;
}
