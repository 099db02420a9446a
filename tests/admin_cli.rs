//! The admin CLI end to end on the local stack: statuses, a stored plan, audit entries and a
//! reconciliation report written as the jobs write them, and `mappings` against both simulators
//! — as tables, JSON and CSV, with no secret value in any output.

use std::collections::BTreeMap;

use admin::{Admin, AdminError, Command, Since};
use chrono::{DateTime, Duration, TimeZone, Utc};
use e2e::deployment;
use local_runner::{LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;
use sync_shared::plan::{AuditEntry, PlanHeader, PlannedTarget, PlannedWrite, retention_expiry};
use sync_shared::reconcile::{ReconCustomer, ReconRow, ReconStatus};
use sync_shared::status::{
    CustomerIssue, IntegrationHealth, IssueKind, IssueSource, JobReport, customer_issue_key,
};

const AUTOTASK_USER: &str = "acronis-api@example.com";
const AUTOTASK_SECRET: &str = "api-secret-1";
const AUTOTASK_CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const ACRONIS_CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
const ACRONIS_SECRET: &str = "example-secret";
/// The example seeds' partner and customer tenant, and companies.
const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CONTOSO_TENANT: &str = "7c2e4a10-0000-4000-8000-000000000002";
const CONTOSO_COMPANY: i64 = 29_682_200;
const FABRIKAM_COMPANY: i64 = 29_682_201;

fn slot() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("time")
}

fn admin_for(d: &LocalDeployment) -> Admin {
    let mut admin = Admin::new(&d.clients, d.store.table(), e2e::SECRETS_PREFIX);
    admin.acronis_options = sync_shared::acronis::ClientOptions::fast();
    admin.fast_autotask_retries = true;
    admin
}

async fn run(admin: &Admin, command: Command, json: bool) -> String {
    admin::run(admin, &command, json)
        .await
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"))
}

/// The line of `text` that contains every one of `parts`.
fn line_with<'a>(text: &'a str, parts: &[&str]) -> &'a str {
    text.lines()
        .find(|line| parts.iter().all(|p| line.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{text}"))
}

fn settings(id: &str, state: &str, zone_lookup_url: &str) -> Value {
    json!({
        "pk": format!("INTEGRATION#{id}"),
        "sk": "SETTINGS",
        "integration_state": state,
        "name": format!("{id} MSP"),
        "autotask_secret_name": format!("acronis-autotask-sync/{id}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{id}/acronis"),
        "autotask_zone_lookup_url": zone_lookup_url,
    })
}

/// Writes a status, a plan and audit entries for `contoso` as the jobs would.
async fn seed_job_results(d: &LocalDeployment) {
    let slot = slot();
    d.store
        .update_status("contoso", slot, |status| {
            let report = JobReport {
                health: Some(IntegrationHealth::Connected),
                message: "configuration valid; Autotask connected".into(),
                counts: BTreeMap::from([("autotask_requests".to_string(), 4)]),
            };
            status.record_success(
                Job::Setup,
                &format!("setup#{}", text_time(slot)),
                slot,
                &report,
            );
            let later = slot + Duration::minutes(5);
            status.record_failure(
                Job::Provisioning,
                &format!("provisioning#{}", text_time(later)),
                later,
                "Autotask answered 500 three times",
            );
            for (target, name, kind, message) in [
                (
                    "29684001",
                    "Hilda Huffington Dental",
                    IssueKind::Error,
                    "both PAYG and prepaid additions for pw_base_workstations (F18)",
                ),
                (
                    "29684002",
                    "Fabrikam Self-Service",
                    IssueKind::Excluded,
                    "the tenant is in self-service mode (F21)",
                ),
            ] {
                status.customers.insert(
                    customer_issue_key(Job::Provisioning, target),
                    CustomerIssue {
                        job: Job::Provisioning,
                        target: target.into(),
                        name: name.into(),
                        kind,
                        message: message.into(),
                        at: later,
                        source: IssueSource::Planner,
                    },
                );
            }
        })
        .await
        .expect("status");

    let header = PlanHeader {
        integration_id: "contoso".into(),
        job: Job::Provisioning,
        run_id: format!("provisioning#{}", text_time(slot)),
        slot,
        created_at: slot + Duration::seconds(3),
        dry_run: true,
        targets_to_apply: 1,
        writes: 2,
        counts: BTreeMap::from([
            ("customers".to_string(), 3),
            ("customers_in_sync".to_string(), 1),
        ]),
        notes: vec!["2 companies have contracts with unmapped services".into()],
        expires_at: retention_expiry(slot),
    };
    let targets = vec![
        PlannedTarget {
            key: "29684003".into(),
            name: "Florida IT Services".into(),
            tenant_id: None,
            outcome: "create".into(),
            writes: vec![
                PlannedWrite {
                    action: "create tenant".into(),
                    object: "tenant".into(),
                    before: String::new(),
                    after: "Florida IT Services".into(),
                },
                PlannedWrite {
                    action: "set offering item".into(),
                    object: "pw_base_workstations".into(),
                    before: "disabled".into(),
                    after: "enabled, quota 12".into(),
                },
            ],
            notes: vec![],
        },
        PlannedTarget {
            key: "29684001".into(),
            name: "Hilda Huffington Dental".into(),
            tenant_id: Some("0c6f3a4e-8d2b-4f1a-9e7c-5b3d2a1f6e90".into()),
            outcome: "error".into(),
            writes: vec![],
            notes: vec!["both PAYG and prepaid additions for pw_base_workstations (F18)".into()],
        },
    ];
    // An older plan first: `plan` shows the newest.
    let mut older = header.clone();
    older.slot = slot - Duration::hours(1);
    older.run_id = format!("provisioning#{}", text_time(older.slot));
    older.notes = vec!["the older plan".into()];
    d.store.put_plan(&older, &[]).await.expect("older plan");
    d.store.put_plan(&header, &targets).await.expect("plan");

    let now = Utc::now();
    for (at, action, result) in [
        (now - Duration::days(3), "PUT offering items", "ok"),
        (now - Duration::hours(2), "POST /api/2/tenants", "ok"),
        (
            now - Duration::hours(1),
            "POST /api/2/users",
            "failed: Acronis answered 409 (login taken)",
        ),
    ] {
        let entry = AuditEntry {
            at,
            job: Job::Provisioning,
            run_id: format!("provisioning#{}", text_time(slot)),
            target: "29684003".into(),
            target_name: "Florida IT Services".into(),
            action: action.into(),
            object: "tenant Florida IT Services".into(),
            before: String::new(),
            after: "created".into(),
            result: result.into(),
            expires_at: retention_expiry(at),
        };
        d.store.put_audit("contoso", &entry).await.expect("audit");
    }
}

fn text_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn status_plan_and_audit_show_what_the_jobs_stored() {
    let d = deployment("admin-read").await;
    d.put_json_item(settings("contoso", "enabled", "http://127.0.0.1:9/"))
        .await
        .expect("settings");
    d.put_json_item(settings("fabrikam", "disabled", "http://127.0.0.1:9/"))
        .await
        .expect("settings");
    seed_job_results(&d).await;
    let admin = admin_for(&d);

    // status of every integration: the disabled one too, never run.
    let all = run(&admin, Command::Status { integration: None }, false).await;
    let header = all.lines().next().expect("header");
    assert!(
        header.starts_with("integration") && header.contains("state") && header.contains("message"),
        "{all}"
    );
    let contoso = line_with(&all, &["contoso", "enabled", "error"]);
    assert!(
        contoso.contains("provisioning: Autotask answered 500"),
        "{all}"
    );
    line_with(&all, &["fabrikam", "disabled", "never run"]);
    line_with(
        &all,
        &[
            "contoso",
            "setup",
            "2026-11-24T12:00:00Z",
            "succeeded",
            "autotask_requests=4",
        ],
    );
    line_with(
        &all,
        &[
            "contoso",
            "provisioning",
            "failed",
            "1",
            "error: Autotask answered 500",
        ],
    );
    line_with(
        &all,
        &[
            "29684002",
            "Fabrikam Self-Service",
            "excluded",
            "planner",
            "self-service",
        ],
    );
    // Aligned: every row of the integrations table starts its `state` column at one offset.
    let column = header.find("state").expect("state column");
    for line in all.lines().skip(1).take(2) {
        let cell = &line[column..];
        assert!(
            cell.starts_with("error") || cell.starts_with("never run"),
            "misaligned: {line:?}\n{all}"
        );
    }

    // status of one integration, as JSON.
    let one = parse_json(
        &run(
            &admin,
            Command::Status {
                integration: Some("contoso".into()),
            },
            true,
        )
        .await,
    );
    let view = &one["integrations"][0];
    assert_eq!(view["integration"], "contoso");
    assert_eq!(view["integration_state"], "enabled");
    assert_eq!(view["status"]["state"], "error");
    assert_eq!(
        view["status"]["jobs"]["provisioning"]["consecutive_failures"],
        1
    );
    assert_eq!(
        view["status"]["customers"]["provisioning:29684001"]["kind"],
        "error"
    );
    let readable_one = run(
        &admin,
        Command::Status {
            integration: Some("contoso".into()),
        },
        false,
    )
    .await;
    assert!(
        readable_one.starts_with("integration  contoso (contoso MSP)\n"),
        "{readable_one}"
    );
    line_with(
        &readable_one,
        &["29684001", "Hilda Huffington Dental", "error", "F18"],
    );
    let missing = admin::run(
        &admin,
        &Command::Status {
            integration: Some("nobody".into()),
        },
        false,
    )
    .await
    .expect_err("an unknown integration");
    assert!(matches!(missing, AdminError::NotFound(_)), "{missing}");

    // plan: the newest one, with its header, targets and writes.
    let plan = run(
        &admin,
        Command::Plan {
            integration: "contoso".into(),
            job: Job::Provisioning,
        },
        false,
    )
    .await;
    assert!(plan.starts_with("provisioning plan of contoso\n"), "{plan}");
    line_with(&plan, &["run", "provisioning#2026-11-24T12:00:00Z"]);
    line_with(&plan, &["dry run", "yes"]);
    line_with(&plan, &["counts", "customers=3, customers_in_sync=1"]);
    line_with(
        &plan,
        &["- 2 companies have contracts with unmapped services"],
    );
    assert!(!plan.contains("the older plan"), "{plan}");
    line_with(
        &plan,
        &["29684003", "Florida IT Services", "-", "create", "2"],
    );
    line_with(
        &plan,
        &[
            "29684001",
            "0c6f3a4e-8d2b-4f1a-9e7c-5b3d2a1f6e90",
            "error",
            "F18",
        ],
    );
    line_with(
        &plan,
        &[
            "29684003",
            "create tenant",
            "tenant",
            "- → Florida IT Services",
        ],
    );
    line_with(
        &plan,
        &[
            "set offering item",
            "pw_base_workstations",
            "disabled → enabled, quota 12",
        ],
    );
    let plan_json = parse_json(
        &run(
            &admin,
            Command::Plan {
                integration: "contoso".into(),
                job: Job::Provisioning,
            },
            true,
        )
        .await,
    );
    assert_eq!(plan_json["header"]["writes"], 2);
    assert_eq!(plan_json["header"]["dry_run"], true);
    assert_eq!(plan_json["targets"].as_array().map(Vec::len), Some(2));
    let no_plan = admin::run(
        &admin,
        &Command::Plan {
            integration: "contoso".into(),
            job: Job::Setup,
        },
        false,
    )
    .await
    .expect_err("setup stores no plan");
    assert!(
        no_plan.to_string().contains("no stored setup plan"),
        "{no_plan}"
    );

    // audit: everything, then the last 24 hours, oldest first.
    let audit = run(
        &admin,
        Command::Audit {
            integration: "contoso".into(),
            since: None,
        },
        false,
    )
    .await;
    assert!(
        audit.starts_with("audit of contoso: 3 writes, 1 failed\n"),
        "{audit}"
    );
    let puts = audit.find("PUT offering items").expect("oldest");
    let users = audit.find("POST /api/2/users").expect("newest");
    assert!(puts < users, "oldest first:\n{audit}");
    line_with(
        &audit,
        &[
            "Florida IT Services (29684003)",
            "POST /api/2/users",
            "- → created",
            "failed: Acronis answered 409",
        ],
    );
    let recent = parse_json(
        &run(
            &admin,
            Command::Audit {
                integration: "contoso".into(),
                since: Some(Since::parse("24h").expect("24h")),
            },
            true,
        )
        .await,
    );
    let actions: Vec<&str> = recent["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["POST /api/2/tenants", "POST /api/2/users"]);
    let nothing = run(
        &admin,
        Command::Audit {
            integration: "fabrikam".into(),
            since: None,
        },
        false,
    )
    .await;
    assert_eq!(nothing, "audit of fabrikam: no writes\n");

    // The in-process entry point, as the binary runs it: arguments and the environment.
    let via_args = admin::run_args(["--table", d.store.table(), "--json", "status"])
        .await
        .expect("run_args");
    assert_eq!(
        parse_json(&via_args)["integrations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let usage = admin::run_args(["--table", d.store.table(), "plan"])
        .await
        .expect_err("plan needs an integration");
    assert_eq!(usage.exit_code(), 2);
}

struct Sims {
    autotask: autotask_sim::AutotaskSim,
    acronis: acronis_sim::AcronisSim,
}

/// The example seeds plus companies and tenants for every case of the listing.
async fn start_sims() -> (
    Sims,
    BTreeMap<&'static str, i64>,
    BTreeMap<&'static str, String>,
) {
    let autotask = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
        seed: autotask_sim::Seed::example().expect("autotask seed"),
        ..autotask_sim::SimConfig::default()
    })
    .await
    .expect("autotask-sim");
    let acronis = acronis_sim::AcronisSim::start(acronis_sim::SimConfig::example())
        .await
        .expect("acronis-sim");
    let mut companies = BTreeMap::new();
    autotask.with_db(|db| {
        for (name, company_type) in [
            ("Hilda Huffington, Inc.", 1),
            ("Florida IT Services", 1),
            ("Auto Made Co", 1),
            ("Twin Peaks", 1),
            ("Lead Prospect Ltd", 2),
            ("Sub Customer", 1),
        ] {
            let id = db
                .insert(
                    "Companies",
                    json!({"companyName": name, "companyType": company_type, "isActive": true, "phone": "555-0199"}),
                )
                .expect("company");
            companies.insert(name, id);
        }
    });
    let mut tenants = BTreeMap::new();
    let add = |name: &str, kind: &str, parent: &str| {
        acronis
            .add_tenant(acronis_sim::TenantSeed::new(name, kind, Some(parent)))
            .expect("tenant")
    };
    for name in [
        "hilda huffington inc",
        "Florida IT Services",
        "Auto Made Co",
        "Twin Peaks",
        "twin-peaks",
        "Lead Prospect Ltd.",
    ] {
        tenants.insert(name, add(name, "customer", PARTNER));
    }
    let reseller = add("Reseller One", "partner", PARTNER);
    tenants.insert("Sub Customer", add("Sub Customer", "customer", &reseller));
    (Sims { autotask, acronis }, companies, tenants)
}

async fn create_secrets(d: &LocalDeployment, id: &str, sims: &Sims, autotask_secret: &str) {
    let autotask = json!({"username": AUTOTASK_USER, "secret": autotask_secret,
        "api_integration_code": AUTOTASK_CODE});
    let acronis = json!({"client_id": ACRONIS_CLIENT_ID, "client_secret": ACRONIS_SECRET,
        "datacenter_url": sims.acronis.base_url()});
    for (kind, value) in [("autotask", autotask), ("acronis", acronis)] {
        put_secret(
            &d.clients.secrets,
            &format!("acronis-autotask-sync/{id}/{kind}"),
            &value.to_string(),
        )
        .await
        .expect("secret");
    }
}

fn assert_no_secret(text: &str) {
    for secret in [
        AUTOTASK_SECRET,
        AUTOTASK_CODE,
        ACRONIS_SECRET,
        "Wrong-Autotask-Secret-9",
    ] {
        assert!(
            !text.contains(secret),
            "a secret value was printed:\n{text}"
        );
    }
}

#[tokio::test]
async fn mappings_lists_both_sides_with_suggestions_and_prints_no_secret() {
    let (sims, companies, tenants) = start_sims().await;
    let d = deployment("admin-map").await;
    let zone = sims.autotask.zone_lookup_url();
    d.put_json_item(settings("contoso", "enabled", &zone))
        .await
        .expect("settings");
    create_secrets(&d, "contoso", &sims, AUTOTASK_SECRET).await;
    let florida = companies["Florida IT Services"];
    let auto_made = companies["Auto Made Co"];
    for item in [
        json!({"pk": "INTEGRATION#contoso", "sk": format!("CUSTOMER#{CONTOSO_COMPANY}"),
            "tenant": CONTOSO_TENANT, "company_name": "Contoso Ltd"}),
        json!({"pk": "INTEGRATION#contoso", "sk": format!("CUSTOMER#{florida}"), "tenant": "new"}),
        // What the provisioning job records; `tenant_name` is left out on purpose.
        json!({"pk": "INTEGRATION#contoso", "sk": format!("PROVISIONED#{florida}"),
            "tenant": tenants["Florida IT Services"], "origin": "mapping_new", "state": "created"}),
        json!({"pk": "INTEGRATION#contoso", "sk": format!("PROVISIONED#{auto_made}"),
            "tenant": tenants["Auto Made Co"], "tenant_name": "Auto Made Co",
            "origin": "auto_create", "state": "created"}),
    ] {
        d.put_json_item(item).await.expect("item");
    }
    let admin = admin_for(&d);
    let mappings = |unmapped_only: bool, company_type: Option<&str>| Command::Mappings {
        integration: "contoso".into(),
        unmapped_only,
        company_type: company_type.map(str::to_string),
    };

    sims.autotask.reset_request_log();
    sims.acronis.reset_request_log();
    let text = run(&admin, mappings(false, None), false).await;
    assert_no_secret(&text);
    // Bulk reads (G5): pages and batches, not a call per company or tenant.
    let autotask_calls = sims.autotask.request_log().count_by_endpoint();
    assert_eq!(
        autotask_calls.values().sum::<usize>(),
        3,
        "zone lookup, companyType picklist, one page of companies: {autotask_calls:?}"
    );
    let acronis_calls: Vec<String> = sims
        .acronis
        .request_log()
        .iter()
        .filter(|r| !r.path.ends_with("/idp/token"))
        .map(|r| format!("{} {}", r.method, r.route.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        acronis_calls.len(),
        5,
        "client, partner's children, one tenants batch, sub-partner's children, one batch: {acronis_calls:?}"
    );
    assert!(
        text.starts_with(
            "mappings of contoso: 8 companies in Autotask, 9 customer tenants in Acronis\n"
        ),
        "{text}"
    );
    line_with(
        &text,
        &[
            &CONTOSO_COMPANY.to_string(),
            "Contoso Ltd",
            "Customer",
            CONTOSO_TENANT,
            "mapping",
        ],
    );
    line_with(
        &text,
        &[
            "Florida IT Services",
            &tenants["Florida IT Services"],
            "mapping new",
        ],
    );
    line_with(
        &text,
        &["Auto Made Co", &tenants["Auto Made Co"], "auto-created"],
    );
    let unmapped = text
        .split("\nunmapped companies (")
        .nth(1)
        .expect("unmapped companies section");
    line_with(
        unmapped,
        &[
            &FABRIKAM_COMPANY.to_string(),
            "Fabrikam Inc",
            "Customer",
            "yes",
        ],
    );
    line_with(unmapped, &["Lead Prospect Ltd", "Lead"]);
    line_with(
        unmapped,
        &[&tenants["Sub Customer"], "Sub Customer", "Reseller One"],
    );
    line_with(
        unmapped,
        &[
            "7c2e4a10-0000-4000-8000-000000000003",
            "Fabrikam Self-Service",
            "self-service",
        ],
    );
    let suggestions = text.split("\nsuggestions (").nth(1).expect("suggestions");
    line_with(
        suggestions,
        &[
            &companies["Hilda Huffington, Inc."].to_string(),
            "Hilda Huffington, Inc.",
            &tenants["hilda huffington inc"],
            "hilda huffington inc",
        ],
    );
    line_with(suggestions, &["Lead Prospect Ltd", "Lead Prospect Ltd."]);
    line_with(suggestions, &["Sub Customer", &tenants["Sub Customer"]]);
    assert!(
        !suggestions.contains("Twin Peaks"),
        "ambiguous: two tenants\n{text}"
    );
    assert!(!suggestions.contains("Fabrikam"), "{text}");

    let report = parse_json(&run(&admin, mappings(false, None), true).await);
    assert_eq!(report["partner_tenant_id"], PARTNER);
    assert_eq!(report["totals"]["mapped"], 3);
    assert_eq!(report["totals"]["suggestions"], 3);
    let suggested: Vec<i64> = report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .filter_map(|s| s["company_id"].as_i64())
        .collect();
    assert_eq!(
        suggested,
        vec![
            companies["Hilda Huffington, Inc."],
            companies["Lead Prospect Ltd"],
            companies["Sub Customer"]
        ]
    );
    let florida_pair = report["mapped"]
        .as_array()
        .expect("mapped")
        .iter()
        .find(|m| m["company_id"] == florida)
        .expect("florida mapped");
    assert_eq!(
        florida_pair["tenant_id"],
        tenants["Florida IT Services"].as_str()
    );
    assert_eq!(
        florida_pair["tenant_name"], "Florida IT Services",
        "read from Acronis"
    );
    assert_eq!(florida_pair["problem"], Value::Null);

    // Only unmapped companies of type Customer: by label, and the same by picklist id.
    let customers_only = parse_json(&run(&admin, mappings(true, Some("customer")), true).await);
    assert_eq!(customers_only["mapped"], json!([]));
    let names: Vec<&str> = customers_only["unmapped_companies"]
        .as_array()
        .expect("companies")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "Fabrikam Inc",
            "Hilda Huffington, Inc.",
            "Sub Customer",
            "Twin Peaks"
        ]
    );
    assert_eq!(
        customers_only["totals"]["suggestions"], 2,
        "the Lead company is filtered out"
    );
    let by_id = parse_json(&run(&admin, mappings(true, Some("1")), true).await);
    assert_eq!(
        by_id["unmapped_companies"],
        customers_only["unmapped_companies"]
    );
    let leads = run(&admin, mappings(true, Some("Lead")), false).await;
    assert!(
        leads.contains("filter: company type Lead, unmapped only"),
        "{leads}"
    );
    assert!(!leads.contains("\nmapped"), "{leads}");
    line_with(&leads, &["Lead Prospect Ltd", "Lead Prospect Ltd."]);
    assert_no_secret(&leads);
    let unknown = admin::run(&admin, &mappings(false, Some("Supplier")), false)
        .await
        .expect_err("an unknown type");
    assert!(
        unknown
            .to_string()
            .contains("unknown company type `Supplier`"),
        "{unknown}"
    );
    assert!(unknown.to_string().contains("Customer (1)"), "{unknown}");

    // A refused Autotask secret: the error names the problem, never the value.
    d.put_json_item(settings("wrong", "enabled", &zone))
        .await
        .expect("settings");
    create_secrets(&d, "wrong", &sims, "Wrong-Autotask-Secret-9").await;
    let refused = admin::run(
        &admin,
        &Command::Mappings {
            integration: "wrong".into(),
            unmapped_only: false,
            company_type: None,
        },
        false,
    )
    .await
    .expect_err("refused credentials");
    let message = refused.to_string();
    assert!(
        message.starts_with(
            "reading Autotask companies: Autotask rejected the API user's credentials"
        ),
        "{message}"
    );
    assert_no_secret(&message);
    assert!(!message.contains(AUTOTASK_USER), "{message}");

    sims.autotask.shutdown().await;
    sims.acronis.shutdown().await;
}

/// `target/debug/admin` (or under `CARGO_TARGET_DIR`), once built: `cargo build -p admin`, or
/// `cargo test --workspace`, which builds it for `tools/admin/tests/binary.rs`.
fn admin_binary() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| e2e::root().join("target"));
    let path = target.join("debug").join("admin");
    path.is_file().then_some(path)
}

#[tokio::test]
async fn the_admin_binary_prints_tables_and_json_and_exits_2_on_usage_errors() {
    let Some(binary) = admin_binary() else {
        eprintln!("skipped: no target/debug/admin; build it with `cargo build -p admin`");
        return;
    };
    let d = deployment("admin-bin").await;
    d.put_json_item(settings("contoso", "enabled", "http://127.0.0.1:9/"))
        .await
        .expect("settings");
    seed_job_results(&d).await;
    let table = d.store.table().to_string();
    let admin = |args: &[&str]| {
        let binary = binary.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let table = table.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(binary)
                    .args(&args)
                    .env("TABLE_NAME", table)
                    .output()
                    .expect("admin runs")
            })
            .await
            .expect("join")
        }
    };

    let status = admin(&["status"]).await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status:?}");
    line_with(&stdout, &["contoso", "enabled", "error"]);

    let audit = admin(&["audit", "contoso", "--since", "7d", "--json"]).await;
    assert!(audit.status.success(), "{audit:?}");
    let json = parse_json(&String::from_utf8_lossy(&audit.stdout));
    assert_eq!(json["entries"].as_array().map(Vec::len), Some(3));

    let usage = admin(&["plan"]).await;
    assert_eq!(usage.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&usage.stderr);
    assert!(
        stderr.contains("plan needs an integration id") && stderr.contains("usage: admin"),
        "{stderr}"
    );

    let missing = admin(&["plan", "nobody"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no stored provisioning plan"));
}

// ---- reconcile ----------------------------------------------------------------------------

const TWIN_PEAKS_TENANT: &str = "c22ed7c7-0f54-49a0-951f-553ad541ceae";
const HILDA_COMPANY: i64 = 29_684_001;
/// A name that CSV must quote: a comma and double quotes.
const FABRIKAM_NAME: &str = "Fabrikam, Inc. \"East\"";

fn recon_row(
    item: &str,
    service: &str,
    contract_kind: &str,
    usage: u64,
    units: u64,
    status: ReconStatus,
) -> ReconRow {
    ReconRow {
        item: item.into(),
        service: service.into(),
        contract_kind: contract_kind.into(),
        usage,
        units,
        status,
    }
}

fn recon_customer(
    month: &str,
    company: Option<(i64, &str)>,
    name: &str,
    tenant_id: Option<&str>,
    rows: Vec<ReconRow>,
) -> ReconCustomer {
    let updated_at = slot() + Duration::seconds(7);
    ReconCustomer {
        month: month.into(),
        company_id: company.map(|(id, _)| id),
        company_name: company
            .map_or(name, |(_, company_name)| company_name)
            .into(),
        tenant_id: tenant_id.map(str::to_string),
        rows,
        updated_at,
        run_id: format!("usage#{}", text_time(slot())),
        expires_at: (updated_at + Duration::days(550)).timestamp(),
    }
}

/// November: three companies and a tenant no company maps, every status at least once.
fn november_report() -> Vec<ReconCustomer> {
    use ReconStatus::*;
    vec![
        recon_customer(
            "2026-11",
            Some((CONTOSO_COMPANY, "Contoso Ltd")),
            "",
            Some(CONTOSO_TENANT),
            vec![
                recon_row(
                    "pw_base_workstations",
                    "Acronis Workstation Backup",
                    "payg",
                    12,
                    12,
                    InSync,
                ),
                recon_row(
                    "pw_base_storage @ 8c1e2f30-0000-4000-8000-00000000aa01 (class 2)",
                    "Acronis Cloud Storage (GB)",
                    "payg",
                    120,
                    100,
                    DriftUp,
                ),
                recon_row("public cloud azure", "", "", 3, 0, UnmappedItem),
            ],
        ),
        recon_customer(
            "2026-11",
            Some((FABRIKAM_COMPANY, FABRIKAM_NAME)),
            "",
            Some("7c2e4a10-0000-4000-8000-000000000004"),
            vec![
                // A prepaid contract may be under-used: in sync.
                recon_row(
                    "pw_base_servers",
                    "Acronis Server Backup",
                    "prepaid",
                    2,
                    4,
                    InSync,
                ),
                recon_row("pw_base_vms", "Acronis VM Backup", "payg", 1, 3, DriftDown),
            ],
        ),
        recon_customer(
            "2026-11",
            Some((HILDA_COMPANY, "Hilda Huffington Dental")),
            "",
            Some("0c6f3a4e-8d2b-4f1a-9e7c-5b3d2a1f6e90"),
            vec![
                recon_row(
                    "pw_base_workstations",
                    "Acronis Workstation Backup",
                    "prepaid",
                    15,
                    10,
                    DriftUp,
                ),
                recon_row(
                    "pw_base_m365_seats",
                    "Acronis M365 Seats",
                    "payg",
                    8,
                    8,
                    InSync,
                ),
            ],
        ),
        recon_customer(
            "2026-11",
            None,
            "Twin Peaks",
            Some(TWIN_PEAKS_TENANT),
            vec![
                recon_row("pw_base_workstations", "", "", 4, 0, UnmappedTenant),
                recon_row("pw_base_storage", "", "", 50, 0, UnmappedTenant),
            ],
        ),
    ]
}

/// Every row with its customer, ordered for comparison.
type FlatRow = (String, Option<i64>, String, Option<String>, ReconRow);

fn flat_rows(customers: &[ReconCustomer], drift_only: bool) -> Vec<FlatRow> {
    let mut rows: Vec<FlatRow> = customers
        .iter()
        .flat_map(|c| {
            c.rows.iter().map(move |row| {
                (
                    c.month.clone(),
                    c.company_id,
                    c.company_name.clone(),
                    c.tenant_id.clone(),
                    row.clone(),
                )
            })
        })
        .filter(|(.., row)| !drift_only || row.status != ReconStatus::InSync)
        .collect();
    rows.sort_by_key(|row| format!("{row:?}"));
    rows
}

/// A small RFC 4180 reader: CRLF-terminated records, quoted fields with doubled quotes.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => panic!("a bare quote inside a field:\n{text}"),
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF:\n{text}");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            '\n' => panic!("a record ends in LF, not CRLF:\n{text}"),
            _ => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quoted field:\n{text}");
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record has no CRLF:\n{text}"
    );
    records
}

/// The CSV's records back as rows, after checking the header.
fn csv_rows(text: &str) -> Vec<FlatRow> {
    let records = read_csv(text);
    let (header, records) = records.split_first().expect("a header row");
    assert_eq!(
        header,
        &[
            "month",
            "company_id",
            "company_name",
            "tenant_id",
            "item",
            "service",
            "contract_kind",
            "usage",
            "units",
            "status"
        ]
    );
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut rows: Vec<FlatRow> = records
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            (
                r[0].clone(),
                optional(&r[1]).map(|id| id.parse().expect("company id")),
                r[2].clone(),
                optional(&r[3]),
                ReconRow {
                    item: r[4].clone(),
                    service: r[5].clone(),
                    contract_kind: r[6].clone(),
                    usage: r[7].parse().expect("usage"),
                    units: r[8].parse().expect("units"),
                    status: serde_json::from_value(Value::String(r[9].clone())).expect("status"),
                },
            )
        })
        .collect();
    rows.sort_by_key(|row| format!("{row:?}"));
    rows
}

fn reconcile(month: &str, drift_only: bool, csv: bool) -> Command {
    Command::Reconcile {
        integration: "contoso".into(),
        month: month.into(),
        drift_only,
        csv,
    }
}

/// The body of the readable table: the lines after its header, up to the blank line.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|line| !(line.contains("customer") && line.contains("status")))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect()
}

#[tokio::test]
async fn reconcile_shows_the_months_report_as_table_json_and_csv() {
    let d = deployment("admin-recon").await;
    let november = november_report();
    d.store
        .put_reconciliation("contoso", &november)
        .await
        .expect("november report");
    // Another month, and another integration's report of the same month, stay out.
    let october = vec![recon_customer(
        "2026-10",
        Some((CONTOSO_COMPANY, "Contoso Ltd")),
        "",
        Some(CONTOSO_TENANT),
        vec![recon_row(
            "pw_base_october_only",
            "Old",
            "payg",
            1,
            2,
            ReconStatus::DriftDown,
        )],
    )];
    d.store
        .put_reconciliation("contoso", &october)
        .await
        .expect("october report");
    let mut other = november_report();
    other.truncate(1);
    other[0].rows[0].item = "pw_other_integration_only".into();
    d.store
        .put_reconciliation("fabrikam", &other)
        .await
        .expect("other integration");
    let admin = admin_for(&d);

    // The table: every row, drifted rows marked, totals per status at the end.
    let table = run(&admin, reconcile("2026-11", false, false), false).await;
    assert!(
        table.starts_with("reconciliation of contoso for 2026-11: 9 rows, 6 not in sync\n"),
        "{table}"
    );
    line_with(&table, &["run", "usage#2026-11-24T12:00:00Z"]);
    line_with(&table, &["updated", "2026-11-24T12:00:07Z"]);
    let header = line_with(
        &table,
        &[
            "customer", "tenant", "item", "service", "contract", "usage", "units", "status",
        ],
    );
    assert!(!table.contains("october_only"), "{table}");
    assert!(!table.contains("other_integration_only"), "{table}");
    let rows = table_rows(&table);
    assert_eq!(rows.len(), 9, "{table}");
    for line in &rows {
        let drifted = !line.ends_with("in_sync");
        assert_eq!(
            line.starts_with("*  "),
            drifted,
            "marker: {line:?}\n{table}"
        );
        if !drifted {
            assert!(line.starts_with("   "), "{line:?}\n{table}");
        }
    }
    let status_column = header.find("status").expect("status column");
    for line in &rows {
        assert!(
            // Characters, not bytes: a cut cell ends in `…`.
            line.chars()
                .nth(status_column)
                .is_some_and(|c| c.is_ascii_lowercase()),
            "misaligned: {line:?}\n{table}"
        );
    }
    line_with(
        &table,
        &[
            "*  Contoso Ltd (29682200)",
            CONTOSO_TENANT,
            "pw_base_storage @ 8c1e2f30-0000-4000-8000-00000000aa01 (class 2)",
            "Acronis Cloud Storage (GB)",
            "payg",
            "120",
            "100",
            "drift_up",
        ],
    );
    line_with(
        &table,
        &[
            "   Contoso Ltd (29682200)",
            "pw_base_workstations",
            "12",
            "in_sync",
        ],
    );
    line_with(
        &table,
        &[
            "Contoso Ltd (29682200)",
            "public cloud azure",
            "-  ",
            "unmapped_item",
        ],
    );
    line_with(
        &table,
        &[
            "*  Fabrikam, Inc. \"East\" (29682201)",
            "pw_base_vms",
            "drift_down",
        ],
    );
    line_with(
        &table,
        &[
            "   Fabrikam, Inc. \"East\" (29682201)",
            "pw_base_servers",
            "prepaid",
            "in_sync",
        ],
    );
    line_with(
        &table,
        &[
            "*  Hilda Huffington Dental (29684001)",
            "prepaid",
            "15",
            "10",
            "drift_up",
        ],
    );
    line_with(
        &table,
        &[
            "*  Twin Peaks (no company)",
            TWIN_PEAKS_TENANT,
            "pw_base_storage",
            "50",
            "unmapped_tenant",
        ],
    );
    // Companies by name, the unmapped tenant last.
    let order: Vec<usize> = ["Contoso Ltd", "Fabrikam", "Hilda", "Twin Peaks"]
        .iter()
        .map(|name| table.find(name).expect(name))
        .collect();
    assert!(order.is_sorted(), "{table}");
    assert!(
        table.ends_with(
            "\ntotals: in_sync 3, drift_up 2, drift_down 1, unmapped_tenant 2, unmapped_item 1\n* not in sync\n"
        ),
        "{table}"
    );

    // --drift-only: exactly the rows not in sync; the totals still count the whole month.
    let drifted = run(&admin, reconcile("2026-11", true, false), false).await;
    assert!(
        drifted.starts_with(
            "reconciliation of contoso for 2026-11: 9 rows, 6 not in sync (showing only those: 6 rows)\n"
        ),
        "{drifted}"
    );
    let drifted_rows = table_rows(&drifted);
    let expected: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|line| !line.ends_with("in_sync"))
        .collect();
    assert_eq!(drifted_rows.len(), 6, "{drifted}");
    // The same lines as in the full table, apart from column widths.
    let squeeze = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        drifted_rows.iter().map(|l| squeeze(l)).collect::<Vec<_>>(),
        expected.iter().map(|l| squeeze(l)).collect::<Vec<_>>(),
        "{drifted}"
    );
    assert!(
        drifted.contains("\ntotals: in_sync 3, drift_up 2,"),
        "{drifted}"
    );

    // --json: one document whose customers are the stored ones, field for field.
    let document = parse_json(&run(&admin, reconcile("2026-11", false, false), true).await);
    assert_eq!(document["integration"], "contoso");
    assert_eq!(document["month"], "2026-11");
    assert_eq!(document["drift_only"], false);
    assert_eq!(
        document["totals"],
        json!({"rows": 9, "not_in_sync": 6, "in_sync": 3, "drift_up": 2, "drift_down": 1,
               "unmapped_tenant": 2, "unmapped_item": 1})
    );
    let mut customers: Vec<ReconCustomer> =
        serde_json::from_value(document["customers"].clone()).expect("customers");
    let mut stored = november.clone();
    customers.sort_by_key(ReconCustomer::sk);
    stored.sort_by_key(ReconCustomer::sk);
    assert_eq!(customers, stored);
    let document = parse_json(&run(&admin, reconcile("2026-11", true, false), true).await);
    assert_eq!(document["drift_only"], true);
    assert_eq!(document["totals"]["rows"], 9);
    let customers: Vec<ReconCustomer> =
        serde_json::from_value(document["customers"].clone()).expect("customers");
    assert_eq!(customers.len(), 4, "every customer has a drifted row");
    assert_eq!(flat_rows(&customers, false), flat_rows(&november, true));

    // --csv: a header row and the same rows, parsed back; quoting where needed.
    let csv = run(&admin, reconcile("2026-11", false, true), false).await;
    assert_eq!(csv_rows(&csv), flat_rows(&november, false), "{csv}");
    assert!(
        csv.contains(",\"Fabrikam, Inc. \"\"East\"\"\","),
        "the name is quoted:\n{csv}"
    );
    let csv = run(&admin, reconcile("2026-11", true, true), false).await;
    assert_eq!(csv_rows(&csv), flat_rows(&november, true), "{csv}");
    // As the binary runs it: arguments and the environment.
    let csv = admin::run_args([
        "--table",
        d.store.table(),
        "reconcile",
        "contoso",
        "--csv",
        "--month",
        "2026-10",
    ])
    .await
    .expect("run_args");
    assert_eq!(csv_rows(&csv), flat_rows(&october, false), "{csv}");

    // No report for the month: not found (exit 1); a bad or missing month: a usage error.
    let none = admin::run(&admin, &reconcile("2026-12", false, false), false)
        .await
        .expect_err("no December report");
    assert!(matches!(none, AdminError::NotFound(_)), "{none}");
    assert_eq!(none.exit_code(), 1);
    assert!(
        none.to_string()
            .contains("has no reconciliation report for 2026-12"),
        "{none}"
    );
    for (args, why) in [
        (
            &["--month", "2026-13"][..],
            "--month `2026-13` is not a month as YYYY-MM",
        ),
        (
            &["--month", "11-2026"],
            "--month `11-2026` is not a month as YYYY-MM",
        ),
        (
            &["--month=2026-1"],
            "--month `2026-1` is not a month as YYYY-MM",
        ),
        (&[], "reconcile needs --month YYYY-MM"),
        (
            &["--month", "2026-11", "--json", "--csv"],
            "--json and --csv exclude each other",
        ),
    ] {
        let mut all = vec!["--table", d.store.table(), "reconcile", "contoso"];
        all.extend_from_slice(args);
        let err = admin::run_args(all).await.expect_err(&format!("{args:?}"));
        assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        assert!(matches!(err, AdminError::Usage(_)), "{args:?}: {err}");
        assert!(err.to_string().starts_with(why), "{args:?}: {err}");
    }
}
