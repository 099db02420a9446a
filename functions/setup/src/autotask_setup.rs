//! The Autotask half of `setup` (F2–F4): connect (zone, API user), record the zone, and create
//! the contract UDF "Acronis PAYG" and the services named in service mappings when missing.
//! Dry-run (G1) reports what it would create and creates nothing.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sync_shared::ConfigError;
use sync_shared::autotask::{
    AutotaskClient, AutotaskError, BillingCode, ClientOptions, Filter, Paging, Query, Service,
    UserDefinedFieldDefinition,
};
use sync_shared::config::{
    IdOrLabel, IntegrationConfig, SETTINGS_SK, ServiceTarget, integration_pk,
};
use sync_shared::secrets::AutotaskCredentials;
use sync_shared::worker::{JobError, WorkerContext};

pub use sync_shared::autotask::{PAYG_UDF_NAME, ZONE_SK, ZONE_URL_ATTR};

/// What the Autotask half established.
#[derive(Debug, Default)]
pub struct AutotaskSetup {
    /// Set when the integration must stop (F2, F3): the text tells the person what to do.
    pub stopped: Option<String>,
    pub message: String,
    pub counts: BTreeMap<String, u64>,
}

pub async fn run(
    ctx: &WorkerContext,
    config: &IntegrationConfig,
    credentials: AutotaskCredentials,
) -> Result<AutotaskSetup, JobError> {
    let options = ClientOptions::for_settings(&config.settings);
    let recorded = recorded_zone(ctx, &config.integration_id).await?;
    let secret_name = &config.settings.autotask_secret_name;
    let client = match AutotaskClient::connect(options, credentials, recorded.clone()).await {
        Ok(client) => client,
        Err(e) => return stop_or_fail(ctx, secret_name, e, 1),
    };
    let outcome = set_up(ctx, config, &client, recorded.is_none()).await;
    let requests = client.request_count();
    match outcome {
        Ok(mut setup) => {
            setup.counts.insert("autotask_requests".into(), requests);
            setup
                .counts
                .insert("autotask_slowed_calls".into(), client.slowed_call_count());
            Ok(setup)
        }
        Err(SetupError::Autotask(e)) => stop_or_fail(ctx, secret_name, e, requests),
        Err(SetupError::Job(e)) => Err(e),
    }
}

enum SetupError {
    Autotask(AutotaskError),
    Job(JobError),
}

impl From<AutotaskError> for SetupError {
    fn from(e: AutotaskError) -> Self {
        SetupError::Autotask(e)
    }
}

impl From<sync_shared::StoreError> for SetupError {
    fn from(e: sync_shared::StoreError) -> Self {
        SetupError::Job(e.into())
    }
}

/// F2 and F3 stop the integration with their message; anything else fails the run. Refused
/// credentials also drop the cached secret, so a corrected secret is read on the next run.
fn stop_or_fail(
    ctx: &WorkerContext,
    secret_name: &str,
    error: AutotaskError,
    requests: u64,
) -> Result<AutotaskSetup, JobError> {
    if matches!(
        error,
        AutotaskError::Unauthorized { .. } | AutotaskError::ApiUserRequired { .. }
    ) {
        ctx.secrets.invalidate(secret_name);
    }
    match error {
        AutotaskError::ZoneChanged { .. } | AutotaskError::ApiUserRequired { .. } => {
            Ok(AutotaskSetup {
                stopped: Some(error.to_string()),
                message: String::new(),
                counts: BTreeMap::from([("autotask_requests".to_string(), requests)]),
            })
        }
        other => Err(other.into()),
    }
}

async fn recorded_zone(
    ctx: &WorkerContext,
    integration_id: &str,
) -> Result<Option<String>, JobError> {
    Ok(sync_shared::autotask::recorded_zone(&ctx.store, integration_id).await?)
}

async fn set_up(
    ctx: &WorkerContext,
    config: &IntegrationConfig,
    client: &AutotaskClient,
    record_zone: bool,
) -> Result<AutotaskSetup, SetupError> {
    let settings = &config.settings;
    // The connection check: an authenticated call, which also reads the hourly budget.
    let threshold = client.threshold().await?;
    if record_zone {
        let item = [
            ("pk", integration_pk(&config.integration_id)),
            ("sk", ZONE_SK.to_string()),
            (ZONE_URL_ATTR, client.zone_url()),
            ("recorded_at", chrono::Utc::now().to_rfc3339()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v)))
        .collect();
        ctx.store.put_item(item).await?;
    }
    let mut setup = AutotaskSetup::default();
    let mut notes = vec![format!(
        "Autotask connected (zone {}; {} of {} hourly requests used)",
        client.zone_url(),
        threshold.current_timeframe_request_count,
        threshold.external_request_threshold
    )];
    if client.is_slowed_down() {
        notes.push(format!(
            "background jobs slowed: more than {:.0}% of the hourly Autotask threshold is used (autotask_budget_share)",
            settings.autotask_budget_share * 100.0
        ));
    }
    let verb = if settings.dry_run {
        "would create"
    } else {
        "created"
    };

    // F4: the contract UDF.
    let udf_type = client
        .picklist_value("UserDefinedFieldDefinitions", "udfType", "Contract")
        .await?;
    let existing = client
        .query_all::<UserDefinedFieldDefinition>(
            &Query::new(Filter::eq("name", PAYG_UDF_NAME))
                .filter(Filter::eq("udfType", udf_type))
                .fields(&["name", "udfType"]),
            Paging::NextPageUrl,
        )
        .await?;
    let udf_missing = existing.is_empty();
    if udf_missing {
        if !settings.dry_run {
            // A text UDF holding "Yes" / "No": UDF values are strings on the wire (notes
            // §3.10), and a list UDF would need its items created through a child route too.
            let data_type = client
                .picklist_value("UserDefinedFieldDefinitions", "dataType", "String")
                .await?;
            client
                .create(&UserDefinedFieldDefinition {
                    name: Some(PAYG_UDF_NAME.into()),
                    description: Some(
                        "Yes: the contract is pay-as-you-go (usage reported by acronis-autotask-sync); No or empty: prepaid".into(),
                    ),
                    udf_type: Some(udf_type),
                    data_type: Some(data_type),
                    is_active: Some(true),
                    ..Default::default()
                })
                .await?;
        }
        notes.push(format!("{verb} contract UDF \"{PAYG_UDF_NAME}\""));
    }

    // F4: services named (not numbered) in service mappings.
    let wanted = service_names(config);
    let mut missing = Vec::new();
    if !wanted.is_empty() {
        let found = client
            .query_all::<Service>(
                &Query::new(Filter::is_in("name", wanted.iter().map(String::as_str)))
                    .fields(&["name"]),
                Paging::NextPageUrl,
            )
            .await?;
        missing = wanted
            .into_iter()
            .filter(|name| {
                !found.iter().any(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
                })
            })
            .collect();
    }
    if !missing.is_empty() {
        if !settings.dry_run {
            let period_type = client
                .picklist_value(
                    "Services",
                    "periodType",
                    settings.features.default_period_type.label(),
                )
                .await?;
            let billing_code = billing_code_id(config, client, &missing).await?;
            for name in &missing {
                client
                    .create(&Service {
                        name: Some(name.clone()),
                        description: Some("Created by acronis-autotask-sync (F4)".into()),
                        period_type: Some(period_type),
                        billing_code_id: Some(billing_code),
                        unit_price: Some(0.0),
                        is_active: Some(true),
                        ..Default::default()
                    })
                    .await?;
            }
        }
        notes.push(format!(
            "{verb} {} service(s): {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    let (udf_key, services_key) = if settings.dry_run {
        ("autotask_udfs_to_create", "autotask_services_to_create")
    } else {
        ("autotask_udfs_created", "autotask_services_created")
    };
    setup.counts.insert(udf_key.into(), u64::from(udf_missing));
    setup
        .counts
        .insert(services_key.into(), missing.len() as u64);
    setup.message = notes.join("; ");
    Ok(setup)
}

/// Service names from mappings (targets and storage roles), each once, case-insensitively.
fn service_names(config: &IntegrationConfig) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |value: Option<&IdOrLabel>| {
        if let Some(IdOrLabel::Label(name)) = value {
            let name = name.trim();
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_string());
            }
        }
    };
    for mapping in &config.services {
        if let Some(ServiceTarget::Service(target)) = &mapping.target {
            add(Some(target));
        }
        if let Some(roles) = &mapping.storage_roles {
            add(roles.class1_free.as_ref());
            add(roles.class2_billed.as_ref());
            add(roles.geo_redundancy.as_ref());
        }
    }
    names
}

/// F6's default allocation code, by id or by name.
async fn billing_code_id(
    config: &IntegrationConfig,
    client: &AutotaskClient,
    missing: &[String],
) -> Result<i64, SetupError> {
    let field = "features.default_allocation_code";
    match &config.settings.features.default_allocation_code {
        None => Err(SetupError::Job(
            ConfigError::field(
                integration_pk(&config.integration_id),
                SETTINGS_SK,
                field,
                format!(
                    "is required to create the Autotask services {} (F4)",
                    missing.join(", ")
                ),
            )
            .into(),
        )),
        Some(IdOrLabel::Id(id)) => Ok(*id),
        Some(IdOrLabel::Label(name)) => {
            let active = client
                .query_all::<BillingCode>(
                    &Query::new(Filter::eq("isActive", true)).fields(&["name", "useType"]),
                    Paging::NextPageUrl,
                )
                .await?;
            active
                .iter()
                .find(|c| {
                    c.name
                        .as_deref()
                        .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                })
                .and_then(|c| c.id)
                .ok_or_else(|| {
                    SetupError::Autotask(AutotaskError::UnknownLabel {
                        what: "active allocation code (billing code)".into(),
                        label: name.clone(),
                        known: active.iter().filter_map(|c| c.name.clone()).collect(),
                    })
                })
        }
    }
}
