//! A world for provisioning tests: an Autotask database with companies, contacts, services,
//! a bundle and contracts; an Acronis partner with customer tenants; a deployment on the local
//! stack with an integration configured against both. Cycles run the real path: scheduler →
//! planner → apply queue → applier.
#![allow(dead_code)]

use acronis_sim::{AcronisSim, TenantSeed};
use autotask_sim::AutotaskSim;
use chrono::{DateTime, TimeZone, Utc};
use local_runner::{LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;
use sync_shared::status::IntegrationStatus;

pub const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
pub const CONTOSO_TENANT: &str = "7c2e4a10-0000-4000-8000-000000000002";
pub const SELF_SERVICE_TENANT: &str = "7c2e4a10-0000-4000-8000-000000000003";
pub const MIXED_TENANT: &str = "7c2e4a10-0000-4000-8000-0000000000a1";
pub const ACRONIS_STORAGE: &str = "5a3b1c2d-0000-4000-8000-000000000101";
pub const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
pub const CLIENT_SECRET: &str = "example-secret";
pub const GIB: u64 = 1024 * 1024 * 1024;

pub const CONTOSO: i64 = 29700001;
pub const PAYG_CORP: i64 = 29700002;
pub const MIXED_INC: i64 = 29700003;
pub const SELF_SERVICE_CO: i64 = 29700004;
pub const AUTO_CO: i64 = 29700005;
pub const NO_CONTACT_CO: i64 = 29700006;

pub const SVC_WORKSTATIONS: i64 = 29710001;
pub const SVC_SERVERS: i64 = 29710002;
pub const SVC_STORAGE: i64 = 29710003;
pub const BUNDLE_VMS: i64 = 29710010;
pub const BILLING_CODE: i64 = 29682100;

pub struct World {
    pub test: String,
    pub d: LocalDeployment,
    pub autotask: AutotaskSim,
    pub acronis: AcronisSim,
    pub integration: String,
    /// The configuration items as loaded, to load them again.
    pub config_items: Vec<Value>,
}

pub fn slot(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("time")
}

fn contract(id: i64, company: i64, name: &str, payg: bool) -> Value {
    json!({"id": id, "companyID": company, "contractName": name, "contractType": 7, "status": 1,
        "startDate": "2026-01-01T00:00:00", "endDate": "2026-12-31T00:00:00",
        "userDefinedFields": [{"name": "Acronis PAYG", "value": if payg {"Yes"} else {"No"}}]})
}

/// Settings of the test integration; `extra` is merged into them.
/// Secrets are named after the test (`scope`): the tests share one Secrets Manager.
pub fn settings(id: &str, scope: &str, zone: &str, extra: Value) -> Value {
    let mut settings = json!({
        "pk": format!("INTEGRATION#{id}"),
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{scope}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{scope}/acronis"),
        "autotask_zone_lookup_url": zone,
        "features": {"billing": true},
        "provisioning": {"create_accounts_based_on": "company_primary_contact",
            "auto_create_customers": true, "two_factor_auth": true, "provision_as": "production"},
        "default_storage_infra_id": ACRONIS_STORAGE,
    });
    if let (Some(target), Value::Object(extra)) = (settings.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
    settings
}

impl World {
    /// The standard world (see the module doc); `settings_extra` overrides settings fields.
    pub async fn new(test: &str, settings_extra: Value) -> World {
        let autotask = AutotaskSim::start(autotask_sim::SimConfig {
            seed: autotask_sim::Seed::example().expect("seed"),
            ..autotask_sim::SimConfig::default()
        })
        .await
        .expect("autotask-sim");
        autotask.with_db(|db| {
            let rows: Vec<(&str, Value)> = vec![
                ("BillingCodes", json!({"id": BILLING_CODE, "name": "Acronis Cloud Services", "useType": 6, "isActive": true})),
                ("UserDefinedFieldDefinitions", json!({"name": "Acronis PAYG", "udfType": 13, "dataType": 1, "isActive": true})),
                ("Services", json!({"id": SVC_WORKSTATIONS, "name": "Acronis Workstations", "periodType": 1, "unitPrice": 10.0, "billingCodeID": BILLING_CODE, "isActive": true})),
                ("Services", json!({"id": SVC_SERVERS, "name": "Acronis Servers", "periodType": 1, "unitPrice": 20.0, "billingCodeID": BILLING_CODE, "isActive": true})),
                ("Services", json!({"id": SVC_STORAGE, "name": "Acronis Storage GB", "periodType": 1, "unitPrice": 0.1, "billingCodeID": BILLING_CODE, "isActive": true})),
                ("ServiceBundles", json!({"id": BUNDLE_VMS, "name": "Acronis VM Bundle", "periodType": 1, "unitPrice": 30.0, "billingCodeID": BILLING_CODE, "isActive": true})),
                ("Companies", json!({"id": CONTOSO, "companyName": "Contoso Ltd", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": PAYG_CORP, "companyName": "Payg Corp", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": MIXED_INC, "companyName": "Mixed Inc", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": SELF_SERVICE_CO, "companyName": "Fabrikam Self-Service", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": AUTO_CO, "companyName": "Auto Created Co", "companyType": 1, "isActive": true})),
                ("Companies", json!({"id": NO_CONTACT_CO, "companyName": "No Contact GmbH", "companyType": 1, "isActive": true})),
                ("Contacts", json!({"companyID": PAYG_CORP, "firstName": "Pat", "lastName": "Payne", "emailAddress": "pat@payg.example", "isActive": 1, "primaryContact": true})),
                ("Contacts", json!({"companyID": AUTO_CO, "firstName": "Alex", "lastName": "Auto", "emailAddress": "alex@auto.example", "isActive": 1, "primaryContact": true})),
                ("Contacts", json!({"companyID": AUTO_CO, "firstName": "Not", "lastName": "Primary", "emailAddress": "np@auto.example", "isActive": 1, "primaryContact": false})),
                ("Contracts", contract(29720001, CONTOSO, "Contoso Backup", false)),
                ("Contracts", contract(29720002, PAYG_CORP, "Payg Corp Usage", true)),
                ("Contracts", contract(29720003, MIXED_INC, "Mixed Prepaid", false)),
                ("Contracts", contract(29720004, MIXED_INC, "Mixed PAYG", true)),
                ("Contracts", contract(29720005, SELF_SERVICE_CO, "Fabrikam Backup", false)),
                ("Contracts", contract(29720006, AUTO_CO, "Auto Backup", false)),
                ("Contracts", contract(29720007, NO_CONTACT_CO, "No Contact Backup", false)),
            ];
            for (entity, row) in rows {
                db.insert(entity, row).unwrap_or_else(|e| panic!("{entity}: {e:?}"));
            }
            for (contract, service, units) in [
                (29720001, SVC_WORKSTATIONS, 5),
                (29720001, SVC_STORAGE, 100),
                (29720002, SVC_WORKSTATIONS, 0),
                (29720003, SVC_WORKSTATIONS, 4),
                (29720004, SVC_WORKSTATIONS, 0),
                (29720005, SVC_WORKSTATIONS, 7),
                (29720006, SVC_WORKSTATIONS, 3),
                (29720007, SVC_WORKSTATIONS, 2),
            ] {
                db.seed_contract_service(contract, service, units)
                    .unwrap_or_else(|e| panic!("line: {e:?}"));
            }
            db.seed_contract_service_bundle(29720001, BUNDLE_VMS, 2)
                .unwrap_or_else(|e| panic!("bundle: {e:?}"));
        });
        let acronis = AcronisSim::start(acronis_sim::SimConfig::example())
            .await
            .expect("acronis-sim");
        let mut mixed = TenantSeed::new("Mixed Inc", "customer", Some(PARTNER));
        mixed.id = Some(MIXED_TENANT.into());
        acronis.add_tenant(mixed).expect("mixed tenant");

        let d = e2e::deployment(test).await;
        let integration = "msp".to_string();
        let zone = autotask.zone_lookup_url();
        d.put_json_item(settings(&integration, test, &zone, settings_extra.clone()))
            .await
            .expect("settings");
        let pk = format!("INTEGRATION#{integration}");
        let mut config_items = vec![settings(&integration, test, &zone, settings_extra.clone())];
        for item in [
            json!({"pk": pk, "sk": "SERVICE#pw_base_workstations", "service": "Acronis Workstations"}),
            json!({"pk": pk, "sk": "SERVICE#pw_base_servers", "service": SVC_SERVERS}),
            json!({"pk": pk, "sk": "SERVICE#pw_base_vms", "service_bundle": "Acronis VM Bundle"}),
            json!({"pk": pk, "sk": "SERVICE#pw_base_mobiles", "free": true}),
            json!({"pk": pk, "sk": format!("SERVICE#pw_base_storage#{ACRONIS_STORAGE}"), "service": "Acronis Storage GB"}),
            json!({"pk": pk, "sk": format!("CUSTOMER#{CONTOSO}"), "tenant": CONTOSO_TENANT}),
            json!({"pk": pk, "sk": format!("CUSTOMER#{PAYG_CORP}"), "tenant": "new"}),
            json!({"pk": pk, "sk": format!("CUSTOMER#{MIXED_INC}"), "tenant": MIXED_TENANT}),
            json!({"pk": pk, "sk": format!("CUSTOMER#{SELF_SERVICE_CO}"), "tenant": SELF_SERVICE_TENANT}),
        ] {
            d.put_json_item(item.clone()).await.expect("mapping");
            config_items.push(item);
        }
        let autotask_secret = json!({"username": "acronis-api@example.com", "secret": "api-secret-1",
            "api_integration_code": "ACRONISSIMINTEGRATIONCODE01"});
        let acronis_secret = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "datacenter_url": acronis.base_url()});
        for (kind, value) in [("autotask", autotask_secret), ("acronis", acronis_secret)] {
            put_secret(
                &d.clients.secrets,
                &format!("acronis-autotask-sync/{test}/{kind}"),
                &value.to_string(),
            )
            .await
            .expect("secret");
        }
        World {
            test: test.to_string(),
            d,
            autotask,
            acronis,
            integration,
            config_items,
        }
    }

    /// Writes the same configuration again (a re-run of put-config, a redeploy).
    pub async fn reload_config(&self) {
        for item in &self.config_items {
            self.d.put_json_item(item.clone()).await.expect("item");
        }
    }

    /// Rewrites the settings with `extra` merged in.
    pub async fn put_settings(&self, extra: Value) {
        let zone = self.autotask.zone_lookup_url();
        self.d
            .put_json_item(settings(&self.integration, &self.test, &zone, extra))
            .await
            .expect("settings");
    }

    /// A contract-service adjustment made in Autotask through its REST API, as a person would.
    pub async fn adjust_units(&self, contract: i64, service: i64, change: i64, date: &str) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}V1.0/ContractServiceAdjustments",
                self.autotask.base_url()
            ))
            .header("ApiIntegrationCode", "ACRONISSIMINTEGRATIONCODE01")
            .header("UserName", "acronis-api@example.com")
            .header("Secret", "api-secret-1")
            .json(&json!({"contractID": contract, "serviceID": service,
                "effectiveDate": date, "unitChange": change}))
            .send()
            .await
            .expect("adjustment");
        assert!(
            response.status().is_success(),
            "adjustment: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// A provisioning cycle in which every SQS message (planner and apply) is delivered twice.
    pub async fn cycle_delivering_twice(&self, at: DateTime<Utc>) {
        let job = Job::Provisioning;
        self.d.tick(job, at).await.expect("tick");
        loop {
            let batch = self.d.receive_batch(job).await.expect("receive");
            if batch.is_empty() {
                break;
            }
            self.d.invoke(job, batch.clone()).await;
            let response = self.d.invoke(job, batch.clone()).await;
            self.d
                .settle_batch(job, &batch, &response)
                .await
                .expect("settle");
        }
        for _ in 0..1000 {
            let batch = self.d.receive_apply_batch(job).await.expect("receive");
            if batch.is_empty() {
                return;
            }
            self.d.invoke_apply(job, batch.clone()).await;
            let response = self.d.invoke_apply(job, batch.clone()).await;
            self.d
                .settle_apply_batch(job, &batch, &response)
                .await
                .expect("settle");
        }
        panic!("the apply queue did not empty");
    }

    /// Users of a tenant in the simulator.
    pub fn users_of(&self, tenant: &str) -> Vec<acronis_sim::User> {
        self.acronis.with_state(|s| {
            s.users
                .values()
                .filter(|(u, _)| u.tenant_id == tenant)
                .map(|(u, _)| u.clone())
                .collect()
        })
    }

    /// One schedule tick of `job` at `at`, then every queue drained, as `local-run` does.
    pub async fn cycle_job(&self, job: Job, at: DateTime<Utc>) -> (usize, usize) {
        self.d.tick(job, at).await.expect("tick");
        let drained = self
            .d
            .drain_planned(job, 100, local_runner::APPLY_MAX_CONCURRENCY, 1000)
            .await
            .expect("drain planner and applier");
        let applied = drained.apply.map_or(0, |a| a.messages_received);
        (drained.planner.messages_received, applied)
    }

    /// setup (records the zone, creates the PAYG field) and then provisioning.
    pub async fn cycle(&self, at: DateTime<Utc>) -> usize {
        self.cycle_job(Job::Setup, at).await;
        self.cycle_job(Job::Provisioning, at).await.1
    }

    pub async fn status(&self) -> IntegrationStatus {
        self.d
            .store
            .status(&self.integration)
            .await
            .expect("status")
            .expect("a status item")
    }

    /// (enabled, quota value, quota overage) of a tenant's item in the simulator.
    pub fn item(
        &self,
        tenant: &str,
        name: &str,
        infra: Option<&str>,
    ) -> (bool, Option<u64>, Option<u64>) {
        self.acronis.with_state(|state| {
            state
                .offering_items
                .iter()
                .find(|i| {
                    i.tenant_id == tenant
                        && i.catalogue.name == name
                        && (infra.is_none() || i.infra_id.as_deref() == infra)
                })
                .map(|i| (i.enabled, i.quota.value, i.quota.overage))
                .unwrap_or_else(|| panic!("{tenant} has no {name}"))
        })
    }

    /// Live customer tenants under the partner with this name.
    pub fn tenants_named(&self, name: &str) -> Vec<String> {
        self.acronis.with_state(|state| {
            state
                .tenants
                .values()
                .filter(|t| t.name == name && t.deleted_at.is_none() && t.kind == "customer")
                .map(|t| t.id.clone())
                .collect()
        })
    }

    /// Writes to Acronis and Autotask seen by the simulators (token requests aside).
    pub fn remote_writes(&self) -> (usize, usize) {
        let acronis = self
            .acronis
            .request_log()
            .iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("/idp/token"))
            .count();
        let autotask = self
            .autotask
            .request_log()
            .records
            .iter()
            .filter(|r| r.method != "GET" && !r.path.to_ascii_lowercase().contains("/query"))
            .count();
        (acronis, autotask)
    }

    pub fn reset_logs(&self) {
        self.acronis.reset_request_log();
        self.autotask.reset_request_log();
    }
}
