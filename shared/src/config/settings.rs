//! The settings item (`INTEGRATION#<id>` / `SETTINGS`): every option of SPEC F6–F11.

use serde::Deserialize;

use super::{IdOrLabel, Item, SETTINGS_SK, parse_item};
use crate::error::ConfigError;

/// Written by users as `integration_state`; the table's `ByState` index lists the enabled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationState {
    Enabled,
    Disabled,
}

impl IntegrationState {
    pub const ENABLED: &'static str = "enabled";
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub integration_state: IntegrationState,
    /// A display name for statuses and reports.
    #[serde(default)]
    pub name: Option<String>,
    /// Secrets Manager names (never the values, F1).
    pub autotask_secret_name: String,
    pub acronis_secret_name: String,
    /// The name the Autotask API user's tracking identifier must carry (F3).
    #[serde(default = "default_integration_name")]
    pub autotask_integration_name: String,
    /// Where Autotask zone discovery starts (F2); a simulator or test double can stand in.
    #[serde(default)]
    pub autotask_zone_lookup_url: Option<String>,
    /// G5: share of the database's hourly Autotask request threshold above which this
    /// integration's background jobs slow down, leaving the rest to people and other tools.
    #[serde(default = "default_autotask_budget_share")]
    pub autotask_budget_share: f64,
    /// G1: every job stores the writes it would make instead of making them.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub usage_reporting: UsageReporting,
    #[serde(default)]
    pub provisioning: Provisioning,
    #[serde(default)]
    pub deprovisioning: Deprovisioning,
    #[serde(default)]
    pub tickets: TicketSettings,
    /// F11: the storage (Acronis infra id) for customers whose contracts name none.
    #[serde(default)]
    pub default_storage_infra_id: Option<String>,
}

pub fn default_autotask_budget_share() -> f64 {
    0.5
}

pub fn default_integration_name() -> String {
    "acronis-autotask-sync".into()
}

/// F6.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    pub billing: bool,
    pub two_way_sync: bool,
    /// Autotask billing code (allocation code) for services that two-way sync adds.
    pub default_allocation_code: Option<IdOrLabel>,
    pub default_period_type: PeriodType,
    pub ticket_creation: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            billing: false,
            two_way_sync: false,
            default_allocation_code: None,
            default_period_type: PeriodType::Monthly,
            ticket_creation: false,
        }
    }
}

/// Autotask's service period types, by their labels in the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PeriodType {
    Monthly,
    Quarterly,
    #[serde(rename = "Semi-Annual")]
    SemiAnnual,
    Yearly,
}

impl PeriodType {
    pub fn label(self) -> &'static str {
        match self {
            PeriodType::Monthly => "Monthly",
            PeriodType::Quarterly => "Quarterly",
            PeriodType::SemiAnnual => "Semi-Annual",
            PeriodType::Yearly => "Yearly",
        }
    }
}

/// F7.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageReporting {
    pub period: UsagePeriod,
    /// Day of the month a custom billing month starts, 1–28.
    pub billing_day: Option<u8>,
}

impl Default for UsageReporting {
    fn default() -> Self {
        UsageReporting {
            period: UsagePeriod::CustomBillingMonth,
            billing_day: None,
        }
    }
}

impl UsageReporting {
    pub fn effective_billing_day(&self) -> u8 {
        self.billing_day.unwrap_or(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsagePeriod {
    CurrentMonth,
    PreviousMonth,
    CustomBillingMonth,
}

/// F8.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Provisioning {
    pub create_accounts_based_on: AccountBasis,
    /// Required when accounts are based on the company name: the admin user's email.
    pub activation_email: Option<String>,
    pub auto_create_customers: bool,
    pub two_factor_auth: bool,
    pub provision_as: ProvisionAs,
}

impl Default for Provisioning {
    fn default() -> Self {
        Provisioning {
            create_accounts_based_on: AccountBasis::CompanyPrimaryContact,
            activation_email: None,
            auto_create_customers: false,
            two_factor_auth: false,
            provision_as: ProvisionAs::Production,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountBasis {
    CompanyName,
    CompanyPrimaryContact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionAs {
    Production,
    Trial,
}

/// F9. Absent day counts mean "never".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deprovisioning {
    pub zero_quotas_without_active_additions: bool,
    pub disable_after_days: Option<u32>,
    pub delete_after_days: Option<u32>,
}

/// F10 and G4.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketSettings {
    /// A re-raised alert within this many days re-opens its ticket; later it opens a new one.
    /// Absent: always re-open.
    pub reopen_window_days: Option<u32>,
    pub auto_close_on: Option<AutoCloseStatus>,
    pub source: Option<IdOrLabel>,
    pub note_type: Option<IdOrLabel>,
    pub note_publish: Option<IdOrLabel>,
    /// G4: where alerts of unmapped customers go.
    pub catch_all_company_id: Option<i64>,
    pub catch_all_queue: Option<IdOrLabel>,
    /// G7: a ticket the product created that a technician completes dismisses its alert.
    pub dismiss_alert_on_ticket_complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoCloseStatus {
    Resolved,
    Dismissed,
}

const MAX_DAYS: u32 = 3650;

impl Settings {
    pub fn from_item(pk: &str, item: Item) -> Result<Self, ConfigError> {
        let settings: Settings = parse_item(pk, SETTINGS_SK, item)?;
        settings.validate(pk)?;
        Ok(settings)
    }

    fn validate(&self, pk: &str) -> Result<(), ConfigError> {
        let bad =
            |field: &str, problem: String| Err(ConfigError::field(pk, SETTINGS_SK, field, problem));
        for (field, name) in [
            ("autotask_secret_name", &self.autotask_secret_name),
            ("acronis_secret_name", &self.acronis_secret_name),
            ("autotask_integration_name", &self.autotask_integration_name),
        ] {
            if name.trim().is_empty() {
                return bad(field, "must not be empty".into());
            }
        }
        if let Some(url) = &self.autotask_zone_lookup_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return bad(
                    "autotask_zone_lookup_url",
                    format!("`{url}` is not an http(s) URL"),
                );
            }
        }
        if !(0.05..=1.0).contains(&self.autotask_budget_share) {
            return bad(
                "autotask_budget_share",
                format!(
                    "{} is out of range; allowed: 0.05 to 1.0 (a share of the hourly threshold)",
                    self.autotask_budget_share
                ),
            );
        }
        if self.features.two_way_sync && self.features.default_allocation_code.is_none() {
            return bad(
                "features.default_allocation_code",
                "is required when features.two_way_sync is on (the billing code for services it adds)".into(),
            );
        }
        match (
            self.usage_reporting.period,
            self.usage_reporting.billing_day,
        ) {
            (_, Some(day)) if !(1..=28).contains(&day) => {
                return bad(
                    "usage_reporting.billing_day",
                    format!("{day} is out of range; allowed: 1 to 28"),
                );
            }
            (UsagePeriod::CurrentMonth | UsagePeriod::PreviousMonth, Some(_)) => {
                return bad(
                    "usage_reporting.billing_day",
                    "applies only when usage_reporting.period is custom_billing_month".into(),
                );
            }
            _ => {}
        }
        let provisioning = &self.provisioning;
        match (
            &provisioning.create_accounts_based_on,
            &provisioning.activation_email,
        ) {
            (AccountBasis::CompanyName, None) => {
                return bad(
                    "provisioning.activation_email",
                    "is required when provisioning.create_accounts_based_on is company_name".into(),
                );
            }
            (_, Some(email)) if !looks_like_email(email) => {
                return bad(
                    "provisioning.activation_email",
                    format!("`{email}` is not an email address"),
                );
            }
            _ => {}
        }
        let deprovisioning = &self.deprovisioning;
        for (field, days) in [
            (
                "deprovisioning.disable_after_days",
                deprovisioning.disable_after_days,
            ),
            (
                "deprovisioning.delete_after_days",
                deprovisioning.delete_after_days,
            ),
            (
                "tickets.reopen_window_days",
                self.tickets.reopen_window_days,
            ),
        ] {
            if let Some(days) = days {
                if days == 0 || days > MAX_DAYS {
                    return bad(
                        field,
                        format!("{days} is out of range; allowed: 1 to {MAX_DAYS}"),
                    );
                }
            }
        }
        if let (Some(disable), Some(delete)) = (
            deprovisioning.disable_after_days,
            deprovisioning.delete_after_days,
        ) {
            if delete < disable {
                return bad(
                    "deprovisioning.delete_after_days",
                    format!(
                        "{delete} is before disable_after_days ({disable}); a tenant is disabled before it is deleted"
                    ),
                );
            }
        }
        if self
            .default_storage_infra_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return bad("default_storage_infra_id", "must not be empty".into());
        }
        Ok(())
    }
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !text.contains(' '),
        None => false,
    }
}
