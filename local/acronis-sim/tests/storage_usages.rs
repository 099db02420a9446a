//! Storage usage by class and geo-redundancy, and storage usage on public clouds (README "Usage
//! names (ASSUMPTION)").

mod common;

use acronis_sim::usage_names::STORAGE_USAGES_WITHOUT_ITEM;
use acronis_sim::{AcronisSim, Seed, SimConfig, UsageUpdate};
use common::*;
use serde_json::{Value, json};

const AMAZON_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000103";
const S3_COMPATIBLE_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000104";
const CYBER_PROTECTION: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";
const GB: u64 = 1 << 30;

fn usage(name: &str, infra_id: Option<&str>, value: u64) -> UsageUpdate {
    UsageUpdate {
        tenant_id: CONTOSO.into(),
        name: name.into(),
        infra_id: infra_id.map(Into::into),
        value,
        absolute_value: None,
    }
}

fn rows_named<'a>(rows: &'a [Value], name: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["name"] == name).collect()
}

async fn put_usage(sim: &AcronisSim, body: Value) -> u16 {
    reqwest::Client::new()
        .put(format!("{}/__sim/usages", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("usage hook")
        .status()
        .as_u16()
}

#[tokio::test]
async fn class_and_geo_redundant_storage_rows_per_infra() {
    // The example seed without its usages (it sets class 1 and class 2 for Contoso).
    let mut config = SimConfig::example();
    config.seed.usages.clear();
    let sim = start(config).await;
    let token = token(&sim).await;
    let path = format!("/api/2/tenants/{CONTOSO}/usages");

    // Nothing set yet: no class or geo rows at all.
    let (status, before) = call(&sim, &token, "GET", &path, None).await;
    assert_eq!(status, 200);
    for storage in &STORAGE_USAGES_WITHOUT_ITEM {
        assert!(rows_named(before["items"].as_array().unwrap(), storage.name).is_empty());
    }

    // 60 GB in total, 10 GB class 1 (free), 50 GB class 2 (billed), 60 GB geo-replicated (the
    // vendor guide's "PAYG Class 1 and Class 2 usage" sample). Set by row name or usage name.
    sim.set_usage(UsageUpdate {
        absolute_value: Some(60 * GB),
        ..usage("pw_base_storage", Some(ACRONIS_STORAGE), 60 * GB)
    })
    .expect("storage");
    sim.set_usage(usage("storage_class1", Some(ACRONIS_STORAGE), 10 * GB))
        .expect("class 1 by usage name");
    sim.set_usage(usage(
        "pw_base_storage_class2",
        Some(ACRONIS_STORAGE),
        50 * GB,
    ))
    .expect("class 2 by row name");
    assert_eq!(
        put_usage(
            &sim,
            json!({"tenant_id": CONTOSO, "name": "geo_redundant_storage", "infra_id": ACRONIS_STORAGE,
                   "value": 60 * GB, "absolute_value": 61 * GB})
        )
        .await,
        204
    );

    let (status, body) = call(&sim, &token, "GET", &path, None).await;
    assert_eq!(status, 200);
    let rows = body["items"].as_array().unwrap();
    let numeric_id = rows[0]["tenant_id"].clone();
    let range_start = rows[0]["range_start"].clone();
    let expected = |name: &str, usage_name: &str, value: u64, absolute: u64| {
        json!({
            "application_id": CYBER_PROTECTION, "name": name, "edition": "pck_per_workload",
            "usage_name": usage_name, "type": "infra", "measurement_unit": "bytes",
            "tenant_uuid": CONTOSO, "tenant_id": numeric_id, "range_start": range_start,
            "value": value, "absolute_value": absolute, "infra_id": ACRONIS_STORAGE,
        })
    };
    for (name, usage_name, value, absolute) in [
        ("pw_base_storage_class1", "storage_class1", 10 * GB, 10 * GB),
        ("pw_base_storage_class2", "storage_class2", 50 * GB, 50 * GB),
        (
            "pw_base_geo_redundant_storage",
            "geo_redundant_storage",
            60 * GB,
            61 * GB,
        ),
    ] {
        let found = rows_named(rows, name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(*found[0], expected(name, usage_name, value, absolute));
    }
    // The standard row keeps its offering item.
    let storage: Vec<&Value> = rows_named(rows, "pw_base_storage")
        .into_iter()
        .filter(|r| r["infra_id"] == ACRONIS_STORAGE)
        .collect();
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0]["usage_name"], "storage");
    assert_eq!(storage[0]["value"], json!(60 * GB));
    assert_eq!(storage[0]["offering_item"]["status"], 1);

    // Setting again (by the other name) replaces, never duplicates.
    sim.set_usage(usage(
        "pw_base_storage_class1",
        Some(ACRONIS_STORAGE),
        11 * GB,
    ))
    .unwrap();
    let (_, body) = call(&sim, &token, "GET", &path, None).await;
    let class1 = rows_named(body["items"].as_array().unwrap(), "pw_base_storage_class1");
    assert_eq!(class1.len(), 1);
    assert_eq!(class1[0]["value"], json!(11 * GB));

    // The batch read carries the same rows; usage_names picks them by usage name.
    let (status, batch) = call(
        &sim,
        &token,
        "GET",
        &format!(
            "/api/2/tenants/usages?tenants={CONTOSO}&usage_names=storage_class1,storage_class2,geo_redundant_storage"
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let batch_rows = batch["items"][0]["usages"].as_array().unwrap();
    let mut names: Vec<&str> = batch_rows
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "pw_base_geo_redundant_storage",
            "pw_base_storage_class1",
            "pw_base_storage_class2"
        ]
    );
    assert!(batch_rows.iter().all(|r| r.get("offering_item").is_none()));
    // `usage_names=storage` is the standard usage only.
    let (_, only_storage) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/usages?tenants={CONTOSO}&usage_names=storage"),
        None,
    )
    .await;
    assert!(
        only_storage["items"][0]["usages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["usage_name"] == "storage")
    );

    // The Cyber Protection application declares the usage names.
    let (_, apps) = call(&sim, &token, "GET", "/api/2/applications", None).await;
    let cyber = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == CYBER_PROTECTION)
        .unwrap();
    for storage in &STORAGE_USAGES_WITHOUT_ITEM {
        assert!(
            cyber["usages"]
                .as_array()
                .unwrap()
                .contains(&json!(storage.usage_name))
        );
    }
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn public_cloud_storage_is_the_storage_usage_of_its_infra() {
    let sim = start(SimConfig::example()).await;
    let token = token(&sim).await;
    let values = [
        (ACRONIS_STORAGE, 60 * GB),
        (AZURE_STORAGE, 7 * GB),
        (AMAZON_STORAGE, 8 * GB),
        (S3_COMPATIBLE_STORAGE, 9 * GB),
    ];
    for (infra, value) in values {
        sim.set_usage(usage("pw_base_storage", Some(infra), value))
            .expect("storage usage");
    }
    let (status, single) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{CONTOSO}/usages"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, batch) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/usages?tenants={CONTOSO}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    for (path, rows) in [
        ("single", single["items"].as_array().unwrap()),
        ("batch", batch["items"][0]["usages"].as_array().unwrap()),
    ] {
        for (infra, value) in values {
            let row: Vec<&Value> = rows_named(rows, "pw_base_storage")
                .into_iter()
                .filter(|r| r["infra_id"] == infra)
                .collect();
            assert_eq!(row.len(), 1, "{path} {infra}");
            assert_eq!(row[0]["usage_name"], "storage");
            assert_eq!(row[0]["value"], json!(value));
            assert_eq!(row[0]["type"], "infra");
            assert_eq!(row[0]["measurement_unit"], "bytes");
            // Only the Acronis storage is enabled for Contoso (one storage per customer).
            let enabled = i64::from(infra == ACRONIS_STORAGE);
            assert_eq!(row[0]["offering_item"]["status"], enabled, "{infra}");
        }
    }
    let (status, infras) = call(
        &sim,
        &token,
        "GET",
        &format!(
            "/api/2/infra?uuids={ACRONIS_STORAGE},{AZURE_STORAGE},{AMAZON_STORAGE},{S3_COMPATIBLE_STORAGE}"
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let backends: Vec<(&str, &str)> = infras["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["backend_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        backends,
        [
            (ACRONIS_STORAGE, "acronis"),
            (AZURE_STORAGE, "azure"),
            (AMAZON_STORAGE, "amazon_s3"),
            (S3_COMPATIBLE_STORAGE, "s3_compatible")
        ]
    );

    // A second Azure storage added later (the tenant has no offering item for it): its usage is
    // still a `storage` row, without `offering_item`.
    let azure2 = "5a3b1c2d-0000-4000-8000-000000000105";
    let seed = Seed::from_json(
        &json!({"infras": [{"id": azure2, "name": "Microsoft Azure 2", "backend_type": "azure"}]})
            .to_string(),
    )
    .unwrap();
    sim.apply_seed(&seed).unwrap();
    sim.set_usage(usage("pw_base_storage", Some(azure2), 3 * GB))
        .unwrap();
    let (_, body) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/tenants/{CONTOSO}/usages"),
        None,
    )
    .await;
    let row: Vec<&Value> = rows_named(body["items"].as_array().unwrap(), "pw_base_storage")
        .into_iter()
        .filter(|r| r["infra_id"] == azure2)
        .collect();
    assert_eq!(row.len(), 1);
    assert_eq!(row[0]["usage_name"], "storage");
    assert_eq!(row[0]["edition"], "pck_per_workload");
    assert_eq!(row[0]["value"], json!(3 * GB));
    assert!(row[0].get("offering_item").is_none());
    let (_, infra) = call(
        &sim,
        &token,
        "GET",
        &format!("/api/2/infra?uuids={azure2}"),
        None,
    )
    .await;
    assert_eq!(infra["items"][0]["backend_type"], "azure");
    assert!(
        sim.conformance_violations().is_empty(),
        "{:?}",
        sim.conformance_violations()
    );
}

#[tokio::test]
async fn storage_usages_that_cannot_exist_are_refused() {
    let sim = start(SimConfig::example()).await;
    let unknown_infra = "5a3b1c2d-0000-4000-8000-0000000009ff";
    let refused = [
        usage("storage_class1", None, GB),
        usage("pw_base_storage_class2", None, GB),
        usage("pw_base_storage", None, GB),
        usage("pw_base_storage_class1", Some(unknown_infra), GB),
        usage("pw_base_workstations", Some(ACRONIS_STORAGE), 1),
        // Geo-redundancy exists for Acronis-hosted storage only.
        usage("geo_redundant_storage", Some(AZURE_STORAGE), GB),
        usage("pw_base_geo_redundant_storage", Some(AMAZON_STORAGE), GB),
    ];
    for update in refused {
        let body = serde_json::to_value(&update).unwrap();
        assert!(sim.set_usage(update).is_err(), "{body}");
        assert_eq!(put_usage(&sim, body.clone()).await, 400, "{body}");
    }
    // Class 1 / class 2 on a public cloud storage are accepted (UNVERIFIED either way).
    sim.set_usage(usage("storage_class2", Some(AZURE_STORAGE), GB))
        .expect("class 2 on Azure");
    assert!(sim.with_state(|s| {
        s.usages
            .iter()
            .all(|u| u.name != "storage_class2" && u.name != "geo_redundant_storage")
    }));
}
