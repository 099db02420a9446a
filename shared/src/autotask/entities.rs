//! Typed Autotask entities (camelCase on the wire, notes §3). Only the fields this product reads
//! or writes are named; unknown fields are ignored on read, and writes send only set fields so
//! every body fits the swagger model.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An entity with its REST root (`/V1.0/<ENTITY>`).
pub trait Entity: DeserializeOwned + Send + 'static {
    const ENTITY: &'static str;
}

/// A UDF value on an entity; values are strings (notes §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDefinedField {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// The value of the UDF `name` on a row, if set.
pub fn udf_value<'a>(udfs: &'a [UserDefinedField], name: &str) -> Option<&'a str> {
    udfs.iter()
        .find(|u| u.name.eq_ignore_ascii_case(name))
        .and_then(|u| u.value.as_deref())
}

macro_rules! entity {
    ($(#[$meta:meta])* $name:ident = $root:literal { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<i64>,
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
        impl Entity for $name {
            const ENTITY: &'static str = $root;
        }
    };
}

entity!(Company = "Companies" {
    company_name: String,
    company_type: i64,
    is_active: bool,
    #[serde(rename = "parentCompanyID")]
    parent_company_id: i64,
    user_defined_fields: Vec<UserDefinedField>,
});

entity!(Contact = "Contacts" {
    #[serde(rename = "companyID")]
    company_id: i64,
    first_name: String,
    last_name: String,
    #[serde(rename = "emailAddress")]
    email_address: String,
    is_active: i64,
    primary_contact: bool,
});

entity!(Contract = "Contracts" {
    #[serde(rename = "companyID")]
    company_id: i64,
    contract_name: String,
    contract_type: i64,
    status: i64,
    start_date: String,
    end_date: String,
    user_defined_fields: Vec<UserDefinedField>,
});

entity!(ContractService = "ContractServices" {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "serviceID")]
    service_id: i64,
    unit_price: f64,
    invoice_description: String,
});

entity!(ContractServiceUnit = "ContractServiceUnits" {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "contractServiceID")]
    contract_service_id: i64,
    #[serde(rename = "serviceID")]
    service_id: i64,
    start_date: String,
    end_date: String,
    units: f64,
});

entity!(ContractServiceBundleUnit = "ContractServiceBundleUnits" {
    #[serde(rename = "contractID")]
    contract_id: i64,
    #[serde(rename = "contractServiceBundleID")]
    contract_service_bundle_id: i64,
    #[serde(rename = "serviceBundleID")]
    service_bundle_id: i64,
    start_date: String,
    end_date: String,
    units: f64,
});

entity!(Ticket = "Tickets" {
    #[serde(rename = "companyID")]
    company_id: i64,
    title: String,
    description: String,
    status: i64,
    priority: i64,
    #[serde(rename = "queueID")]
    queue_id: i64,
    ticket_type: i64,
    issue_type: i64,
    sub_issue_type: i64,
    source: i64,
    due_date_time: String,
    #[serde(rename = "externalID")]
    external_id: String,
    #[serde(rename = "contractID")]
    contract_id: i64,
    completed_date: String,
    last_activity_date: String,
    create_date: String,
});

entity!(TicketNote = "TicketNotes" {
    #[serde(rename = "ticketID")]
    ticket_id: i64,
    title: String,
    description: String,
    note_type: i64,
    publish: i64,
});

entity!(Service = "Services" {
    name: String,
    description: String,
    period_type: i64,
    unit_price: f64,
    #[serde(rename = "billingCodeID")]
    billing_code_id: i64,
    is_active: bool,
});

entity!(ServiceBundle = "ServiceBundles" {
    name: String,
    period_type: i64,
    unit_price: f64,
    #[serde(rename = "billingCodeID")]
    billing_code_id: i64,
    is_active: bool,
});

entity!(BillingCode = "BillingCodes" {
    name: String,
    use_type: i64,
    is_active: bool,
});

entity!(UserDefinedFieldDefinition = "UserDefinedFieldDefinitions" {
    name: String,
    description: String,
    udf_type: i64,
    data_type: i64,
    is_active: bool,
});

/// `ZoneInformation` (notes §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInformation {
    #[serde(default)]
    pub zone_name: Option<String>,
    pub url: String,
}

/// `ThresholdInformation` (notes §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdInformation {
    pub external_request_threshold: u64,
    #[serde(default)]
    pub request_threshold_timeframe: u64,
    pub current_timeframe_request_count: u64,
}

impl ThresholdInformation {
    /// How much of the hourly budget is used, 0.0..=1.0 (and above when exceeded).
    pub fn used_share(&self) -> f64 {
        if self.external_request_threshold == 0 {
            return 1.0;
        }
        self.current_timeframe_request_count as f64 / self.external_request_threshold as f64
    }
}

/// One entry of `entityInformation/fields` (notes §3.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInformation {
    pub name: String,
    #[serde(default)]
    pub is_pick_list: bool,
    #[serde(default)]
    pub picklist_values: Option<Vec<PicklistValue>>,
}

/// `value` is a string in metadata even when the field is an integer (notes §3.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    pub value: String,
    pub label: String,
    #[serde(default = "active_by_default")]
    pub is_active: bool,
}

fn active_by_default() -> bool {
    true
}
