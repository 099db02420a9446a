//! Two-way sync (F19, H) and public cloud storages (F13, F19) end to end on the local stack,
//! through the real path (scheduler → planner → apply queue → applier) against both simulators.
//! Judged on the remote sides: contract services, their units and adjustments in the Autotask
//! simulator; offering items in the Acronis simulator.

#[path = "provisioning_support.rs"]
mod provisioning_support;

use std::collections::BTreeMap;

use e2e::on_big_stack;
use provisioning_support::*;
use serde_json::{Value, json};
use sync_shared::Job;

const CONTRACT: i64 = 29720001;
const SVC_AZURE: i64 = 29710020;
const SVC_AMAZON: i64 = 29710021;
const SVC_S3_COMPATIBLE: i64 = 29710022;
const AZURE_1: &str = "5a3b1c2d-0000-4000-8000-000000000102";
const AMAZON_1: &str = "5a3b1c2d-0000-4000-8000-000000000103";
/// A second Azure storage the data center gains ("Microsoft Azure n").
const AZURE_2: &str = "5a3b1c2d-0000-4000-8000-0000000001a2";
const TODAY: &str = "2026-11-25";

fn two_way_settings() -> Value {
    json!({"features": {"billing": true, "two_way_sync": true,
        "default_allocation_code": BILLING_CODE, "default_period_type": "Monthly"}})
}

/// The standard world with two-way sync on, a service per public cloud vendor mapped, and a
/// second Azure storage offered to the partner and to Contoso.
async fn two_way_world(test: &str) -> World {
    let w = World::new(test, two_way_settings()).await;
    w.autotask.with_db(|db| {
        for (id, name) in [
            (SVC_AZURE, "Acronis pw base adv backup azure storage"),
            (SVC_AMAZON, "Acronis pw base adv backup amazon storage"),
            (
                SVC_S3_COMPATIBLE,
                "Acronis pw base adv backup S3 compatible storage",
            ),
        ] {
            db.insert(
                "Services",
                json!({"id": id, "name": name, "periodType": 1, "unitPrice": 5.0,
                    "billingCodeID": BILLING_CODE, "isActive": true}),
            )
            .expect("service");
        }
    });
    let pk = format!("INTEGRATION#{}", w.integration);
    for (vendor, service) in [
        ("azure", SVC_AZURE),
        ("amazon_s3", SVC_AMAZON),
        ("s3_compatible", SVC_S3_COMPATIBLE),
    ] {
        w.d.put_json_item(
            json!({"pk": pk, "sk": format!("SERVICE#PUBLIC_CLOUD#{vendor}"), "service": service}),
        )
        .await
        .expect("mapping");
    }
    let seed = acronis_sim::Seed::from_json(
        &json!({"infras": [{"id": AZURE_2, "name": "Microsoft Azure 2", "backend_type": "azure"}]})
            .to_string(),
    )
    .expect("seed");
    w.acronis.apply_seed(&seed).expect("infra");
    // The partner offers it, and Contoso has its item (disabled), like the other storages.
    w.acronis.with_state(|s| {
        let copies: Vec<_> = s
            .offering_items
            .iter()
            .filter(|i| {
                (i.tenant_id == PARTNER || i.tenant_id == CONTOSO_TENANT)
                    && i.infra_id.as_deref() == Some(AZURE_1)
            })
            .cloned()
            .map(|mut i| {
                i.infra_id = Some(AZURE_2.into());
                i
            })
            .collect();
        s.offering_items.extend(copies);
    });
    w
}

/// A person turns an item on (with a quota; `None` = unlimited) or off in Acronis.
fn set_item(w: &World, name: &str, infra: Option<&str>, on: Option<Option<u64>>) {
    w.acronis.with_state(|s| {
        let item = s
            .offering_items
            .iter_mut()
            .find(|i| {
                i.tenant_id == CONTOSO_TENANT
                    && i.catalogue.name == name
                    && i.infra_id.as_deref() == infra
            })
            .unwrap_or_else(|| panic!("Contoso has no {name} {infra:?}"));
        item.enabled = on.is_some();
        let value = on.flatten();
        item.quota.value = value;
        item.quota.overage = None;
        item.quota.version = if value.is_some() {
            1_764_000_000_000
        } else {
            0
        };
    });
}

/// Contract services of a contract: service id → (lines, units on the run's day).
fn contract_services(w: &World, contract: i64) -> BTreeMap<i64, (usize, i64)> {
    w.autotask.with_db(|db| {
        let units = db.rows("ContractServiceUnits");
        let mut services: BTreeMap<i64, (usize, i64)> = BTreeMap::new();
        for line in db.rows("ContractServices") {
            if line["contractID"].as_i64() != Some(contract) {
                continue;
            }
            let id = line["id"].as_i64().unwrap_or_default();
            let service = line["serviceID"].as_i64().unwrap_or_default();
            let today: i64 = units
                .iter()
                .filter(|u| u["contractServiceID"].as_i64() == Some(id))
                .filter(|u| {
                    let start = u["startDate"].as_str().unwrap_or_default();
                    let end = u["endDate"].as_str().unwrap_or_default();
                    start.get(..10).unwrap_or_default() <= TODAY
                        && TODAY <= end.get(..10).unwrap_or_default()
                })
                .map(|u| u["units"].as_f64().unwrap_or_default().round() as i64)
                .sum();
            let entry = services.entry(service).or_default();
            entry.0 += 1;
            entry.1 += today;
        }
        services
    })
}

/// Units on the contract today of each service that has some.
fn present(w: &World) -> BTreeMap<i64, i64> {
    contract_services(w, CONTRACT)
        .into_iter()
        .filter(|(_, (_, units))| *units > 0)
        .map(|(service, (_, units))| (service, units))
        .collect()
}

/// The public cloud products present on Contoso's contract.
fn vendors_present(w: &World) -> Vec<i64> {
    present(w)
        .into_keys()
        .filter(|s| [SVC_AZURE, SVC_AMAZON, SVC_S3_COMPATIBLE].contains(s))
        .collect()
}

/// (line id, unit change, date) of every adjustment of a service on the contract.
fn adjustments_of(w: &World, service: i64) -> Vec<(i64, i64, String)> {
    w.autotask.with_db(|db| {
        let lines: Vec<i64> = db
            .rows("ContractServices")
            .iter()
            .filter(|l| {
                l["contractID"].as_i64() == Some(CONTRACT)
                    && l["serviceID"].as_i64() == Some(service)
            })
            .filter_map(|l| l["id"].as_i64())
            .collect();
        db.adjustments()
            .iter()
            .filter(|a| a.contract_id == CONTRACT && lines.contains(&a.line_id))
            .map(|a| (a.line_id, a.unit_change, a.effective_date.to_string()))
            .collect()
    })
}

async fn provisioning(w: &World, hour: u32) {
    w.cycle_job(Job::Provisioning, slot(25, hour)).await;
}

#[test]
fn the_guides_public_cloud_rows_hold_exactly() {
    on_big_stack(|| async {
        let w = two_way_world("tw-cloud").await;
        w.cycle(slot(25, 8)).await; // setup, then the first two-way cycle: the baseline
        assert!(vendors_present(&w).is_empty());
        assert_eq!(present(&w)[&SVC_STORAGE], 100);

        // Row 1: Microsoft Azure 1 … n enabled → a single Azure product.
        set_item(&w, "pw_base_storage", Some(AZURE_1), Some(None));
        set_item(&w, "pw_base_storage", Some(AZURE_2), Some(None));
        provisioning(&w, 9).await;
        assert_eq!(vendors_present(&w), vec![SVC_AZURE]);
        assert_eq!(
            contract_services(&w, CONTRACT)[&SVC_AZURE],
            (1, 1),
            "one line, 1 unit"
        );

        // Row 2: Azure 1 … n and Amazon S3 1 … m → a product per vendor.
        set_item(&w, "pw_base_storage", Some(AMAZON_1), Some(None));
        provisioning(&w, 10).await;
        assert_eq!(vendors_present(&w), vec![SVC_AZURE, SVC_AMAZON]);
        assert_eq!(contract_services(&w, CONTRACT)[&SVC_AZURE], (1, 1));

        // Row 3: no Azure storage left, Amazon S3 only → the Azure product is removed.
        set_item(&w, "pw_base_storage", Some(AZURE_1), None);
        set_item(&w, "pw_base_storage", Some(AZURE_2), None);
        provisioning(&w, 11).await;
        assert_eq!(vendors_present(&w), vec![SVC_AMAZON]);
        assert_eq!(
            adjustments_of(&w, SVC_AZURE)
                .iter()
                .map(|(_, change, date)| (*change, date.as_str()))
                .collect::<Vec<_>>(),
            vec![(-1, TODAY)],
            "removed by an adjustment to 0 dated the run's day"
        );

        // Row 4: Acronis storage used in parallel with Azure → both products, untouched storage.
        set_item(&w, "pw_base_storage", Some(AMAZON_1), None);
        set_item(&w, "pw_base_storage", Some(AZURE_1), Some(None));
        provisioning(&w, 12).await;
        assert_eq!(vendors_present(&w), vec![SVC_AZURE]);
        assert_eq!(
            contract_services(&w, CONTRACT)[&SVC_AZURE],
            (1, 1),
            "the line came back, no second one"
        );
        assert_eq!(present(&w)[&SVC_STORAGE], 100);
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_storage", Some(ACRONIS_STORAGE)),
            (true, Some(100 * GIB), Some(0))
        );
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_storage", Some(AZURE_1)),
            (true, None, None),
            "public cloud storages are never provisioned"
        );

        // …and the Acronis storage disabled → removed from the contract; Azure stays.
        set_item(&w, "pw_base_storage", Some(ACRONIS_STORAGE), None);
        provisioning(&w, 13).await;
        assert_eq!(present(&w).get(&SVC_STORAGE), None);
        assert_eq!(vendors_present(&w), vec![SVC_AZURE]);
        assert!(
            !w.item(CONTOSO_TENANT, "pw_base_storage", Some(ACRONIS_STORAGE))
                .0
        );

        // Nothing changes: nothing is written on either side.
        w.reset_logs();
        provisioning(&w, 14).await;
        assert_eq!(w.remote_writes(), (0, 0));
        assert!(
            w.acronis.conformance_violations().is_empty(),
            "{:?}",
            w.acronis.conformance_violations()
        );
    });
}

#[test]
fn two_way_sync_carries_changes_both_ways_and_autotask_wins_a_conflict() {
    on_big_stack(|| async {
        let w = two_way_world("tw-both").await;
        w.cycle(slot(25, 8)).await;
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_servers", None),
            (true, Some(0), Some(0))
        );
        assert_eq!(present(&w).get(&SVC_SERVERS), None);

        // Acronis → Autotask: servers turned on with a quota of 4 → the service, 4 units.
        set_item(&w, "pw_base_servers", None, Some(Some(4)));
        provisioning(&w, 9).await;
        assert_eq!(contract_services(&w, CONTRACT)[&SVC_SERVERS], (1, 4));
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_servers", None),
            (true, Some(4), Some(0)),
            "the person's quota stays, as a hard quota"
        );

        // Acronis → Autotask: workstations turned off → their line adjusted to 0, item stays off.
        set_item(&w, "pw_base_workstations", None, None);
        provisioning(&w, 10).await;
        assert_eq!(present(&w).get(&SVC_WORKSTATIONS), None);
        assert_eq!(
            adjustments_of(&w, SVC_WORKSTATIONS)
                .iter()
                .map(|(_, change, date)| (*change, date.as_str()))
                .collect::<Vec<_>>(),
            vec![(-5, TODAY)]
        );
        assert!(!w.item(CONTOSO_TENANT, "pw_base_workstations", None).0);

        // Autotask → Acronis still flows: 2 more servers.
        w.adjust_units(CONTRACT, SVC_SERVERS, 2, TODAY).await;
        provisioning(&w, 11).await;
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_servers", None),
            (true, Some(6), Some(0))
        );

        // A conflict: Autotask raises servers to 7 while Acronis turns them off → Autotask wins.
        w.adjust_units(CONTRACT, SVC_SERVERS, 1, TODAY).await;
        set_item(&w, "pw_base_servers", None, None);
        provisioning(&w, 12).await;
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_servers", None),
            (true, Some(7), Some(0))
        );
        assert_eq!(contract_services(&w, CONTRACT)[&SVC_SERVERS], (1, 7));
        let status = w.status().await;
        let issue = &status.customers[&format!("provisioning:{CONTOSO}")];
        assert!(
            issue.message.contains("conflict on pw_base_servers")
                && issue.message.contains("Autotask wins"),
            "{}",
            issue.message
        );
        assert_eq!(status.jobs["provisioning"].counts["two_way_conflicts"], 1);

        // Every Autotask write is audited and was in the stored plan with before and after.
        let audit = w.d.store.audit("msp", None).await.expect("audit");
        let autotask_writes: Vec<_> = audit
            .iter()
            .filter(|e| e.action.contains("contract service"))
            .map(|e| {
                (
                    e.action.as_str(),
                    e.before.as_str(),
                    e.after.as_str(),
                    e.result.as_str(),
                )
            })
            .collect();
        assert_eq!(
            autotask_writes,
            vec![
                ("add contract service", "absent", "4 units", "ok"),
                ("adjust contract service units", "1 units", "4 units", "ok"),
                ("adjust contract service units", "5 units", "0 units", "ok"),
            ]
        );
        let plan =
            w.d.store
                .plan("msp", Job::Provisioning, slot(25, 10))
                .await
                .expect("plan")
                .expect("the plan of the removal");
        let removal = plan
            .targets
            .iter()
            .flat_map(|t| t.writes.iter())
            .find(|w| w.action == "adjust contract service units")
            .expect("the removal in the plan");
        assert_eq!(
            (removal.before.as_str(), removal.after.as_str()),
            ("5 units", "0 units")
        );

        // The conflict is settled: a steady cycle with two-way sync on makes zero writes.
        w.reset_logs();
        provisioning(&w, 13).await;
        assert_eq!(w.remote_writes(), (0, 0));
        let status = w.status().await;
        assert!(
            !status
                .customers
                .get(&format!("provisioning:{CONTOSO}"))
                .is_some_and(|i| i.message.contains("conflict")),
            "the conflict is gone once settled"
        );
    });
}

fn short_timeout(
    options: sync_shared::autotask::ClientOptions,
) -> sync_shared::autotask::ClientOptions {
    let mut options = options.with_fast_retries();
    options.request_timeout = std::time::Duration::from_millis(300);
    options
}

#[test]
fn duplicates_and_faults_add_no_second_contract_service_and_no_duplicate_adjustment() {
    on_big_stack(|| async {
        let mut w = two_way_world("tw-faults").await;
        w.cycle(slot(25, 8)).await; // the baseline, without faults
        // Changes on the Acronis side: an add (a new contract service), a removal (an
        // adjustment) and a public cloud vendor (a new contract service).
        set_item(&w, "pw_base_servers", None, Some(Some(3)));
        set_item(&w, "pw_base_workstations", None, None);
        set_item(&w, "pw_base_storage", Some(AZURE_1), Some(None));
        // A client that gives up after 300 ms, so held answers are timeouts.
        w.d.provisioning.clients.autotask_tuning = Some(short_timeout);
        w.acronis.set_knobs(acronis_sim::Knobs {
            rate_limit_probability: 0.1,
            server_error_probability: 0.1,
            timeout_probability: 0.1,
            timeout_ms: 50,
            random_seed: 21,
            ..acronis_sim::Knobs::default()
        });
        w.autotask.set_knobs(autotask_sim::Knobs {
            random_429_probability: 0.1,
            random_5xx_probability: 0.1,
            timeout_after_apply_probability: 0.1,
            timeout_hold: std::time::Duration::from_millis(600),
            rng_seed: 22,
            ..autotask_sim::Knobs::default()
        });
        for hour in [9, 10, 11] {
            w.cycle_delivering_twice(slot(25, hour)).await;
            eprintln!("cycle at {hour}: {:?}", contract_services(&w, CONTRACT));
        }
        w.acronis.set_knobs(acronis_sim::Knobs::default());
        w.autotask.set_knobs(autotask_sim::Knobs::default());
        let faults = w
            .autotask
            .request_log()
            .records
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert!(faults > 0, "faults were injected");

        let services = contract_services(&w, CONTRACT);
        assert_eq!(
            services[&SVC_SERVERS],
            (1, 3),
            "one contract service, 3 units"
        );
        assert_eq!(services[&SVC_AZURE], (1, 1), "one contract service, 1 unit");
        assert_eq!(services[&SVC_WORKSTATIONS], (1, 0));
        assert_eq!(
            adjustments_of(&w, SVC_WORKSTATIONS).len(),
            1,
            "no duplicate adjustment"
        );
        assert_eq!(
            adjustments_of(&w, SVC_SERVERS)
                .iter()
                .map(|(_, change, _)| *change)
                .collect::<Vec<_>>(),
            vec![2],
            "from the new line's 1 unit to 3, once"
        );
        assert!(adjustments_of(&w, SVC_AZURE).is_empty());
        assert_eq!(
            w.item(CONTOSO_TENANT, "pw_base_servers", None),
            (true, Some(3), Some(0))
        );
        assert!(!w.item(CONTOSO_TENANT, "pw_base_workstations", None).0);

        // Converged within the three cycles: a fourth, without faults, writes nothing.
        w.reset_logs();
        provisioning(&w, 12).await;
        assert_eq!(w.remote_writes(), (0, 0), "converged within 3 cycles");
    });
}

#[test]
fn dry_run_with_two_way_on_writes_nothing_and_plans_the_contract_changes() {
    on_big_stack(|| async {
        let w = two_way_world("tw-dry").await;
        w.cycle(slot(25, 8)).await;
        let mut settings = two_way_settings();
        settings["dry_run"] = json!(true);
        w.put_settings(settings).await;
        set_item(&w, "pw_base_servers", None, Some(Some(2)));
        set_item(&w, "pw_base_storage", Some(AZURE_1), Some(None));
        let before = contract_services(&w, CONTRACT);
        w.reset_logs();
        provisioning(&w, 9).await;
        assert_eq!(w.remote_writes(), (0, 0));
        assert_eq!(contract_services(&w, CONTRACT), before);
        let plan =
            w.d.store
                .latest_plan("msp", Job::Provisioning)
                .await
                .expect("plan")
                .expect("a plan");
        assert!(plan.header.dry_run);
        let adds: Vec<(String, String)> = plan
            .targets
            .iter()
            .flat_map(|t| t.writes.iter())
            .filter(|w| w.action == "add contract service")
            .map(|w| (w.object.clone(), w.after.clone()))
            .collect();
        assert_eq!(
            adds,
            vec![
                (
                    format!("service {SVC_SERVERS} (pw_base_servers) on contract {CONTRACT}"),
                    "2 units".to_string()
                ),
                (
                    format!(
                        "service {SVC_AZURE} (public cloud Microsoft Azure) on contract {CONTRACT}"
                    ),
                    "1 units".to_string()
                ),
            ]
        );
    });
}

#[test]
fn contract_changes_are_applied_three_at_most_at_once_and_an_older_message_never_undoes_a_newer() {
    on_big_stack(|| async {
        let w = two_way_world("tw-groups").await;
        w.cycle(slot(25, 8)).await;

        // Servers turned on in Acronis: the planner's message carries a contract change, so it
        // goes to one of the integration's 3 Autotask groups (G5), not to one of its 50.
        set_item(&w, "pw_base_servers", None, Some(Some(4)));
        w.d.tick(Job::Provisioning, slot(25, 9))
            .await
            .expect("tick");
        w.d.drain(Job::Provisioning, 10).await.expect("planner");
        let batch =
            w.d.receive_apply_batch(Job::Provisioning)
                .await
                .expect("receive");
        assert_eq!(batch.len(), 1, "one customer changed");
        let autotask_groups: Vec<String> = (0..sync_shared::job::AUTOTASK_WRITE_GROUPS)
            .map(|n| format!("{}#{n}", w.integration))
            .collect();
        let group = batch[0].attributes.get("MessageGroupId").cloned();
        assert!(
            group.as_ref().is_some_and(|g| autotask_groups.contains(g)),
            "{group:?} is not among {autotask_groups:?}"
        );
        let hour_9 = batch[0].body.clone().expect("body");
        let mut retry = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        retry.batch_item_failures.push({
            let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
            failure.item_identifier = batch[0].message_id.clone().expect("id");
            failure
        });
        w.d.settle_apply_batch(Job::Provisioning, &batch, &retry)
            .await
            .expect("visible again");
        w.d.drain_apply(Job::Provisioning, 10, 100)
            .await
            .expect("applier");
        assert_eq!(contract_services(&w, CONTRACT)[&SVC_SERVERS], (1, 4));

        // The next run removes them again; then the hour-9 message comes back (a retry that
        // lost its place): it is dropped, and the service stays off the contract.
        set_item(&w, "pw_base_servers", None, None);
        provisioning(&w, 10).await;
        assert_eq!(present(&w).get(&SVC_SERVERS), None);
        w.reset_logs();
        let other_group = (0..50)
            .map(|n| format!("{}#{n}", w.integration))
            .find(|g| !autotask_groups.contains(g))
            .expect("a group");
        w.d.clients
            .sqs
            .send_message()
            .queue_url(w.d.apply_queue_url(Job::Provisioning).expect("queue"))
            .message_body(hour_9)
            .message_group_id(other_group)
            .message_deduplication_id("hour-9-again")
            .send()
            .await
            .expect("send");
        let applied =
            w.d.drain_apply(Job::Provisioning, 10, 100)
                .await
                .expect("applier");
        assert_eq!(applied.messages_deleted, 1);
        assert_eq!(w.remote_writes(), (0, 0), "the older message wrote nothing");
        assert_eq!(present(&w).get(&SVC_SERVERS), None);
        let status = w.status().await;
        assert!(
            serde_json::to_string(&status)
                .expect("status")
                .contains("arrived after provisioning#2026-11-25T10:00:00Z had been applied"),
            "{status:?}"
        );
    });
}
