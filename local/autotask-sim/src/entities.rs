//! The entities the simulator serves: one table row each, with the rules from the Autotask help
//! (autotask-api-notes §3). Field names and types come from the swagger model; everything else
//! (required, read-only, picklists, references) is listed here.

use crate::conformance::embedded_spec;
use crate::values::camel_case;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A child route `/V1.0/{parent}/{parentId}/{segment}` through which an entity is written.
#[derive(Debug)]
pub struct ChildRoute {
    pub parent: &'static str,
    pub segment: &'static str,
    /// Field of the child that holds the parent id.
    pub parent_field: &'static str,
    pub create: bool,
    pub update: bool,
    pub list: bool,
}

#[derive(Debug)]
pub struct EntityDef {
    /// URL name, e.g. `Companies`.
    pub name: &'static str,
    /// Name reported by `entityInformation`, e.g. `Company`.
    pub singular: &'static str,
    pub model: &'static str,
    pub query: bool,
    pub root_create: bool,
    pub root_update: bool,
    pub delete: bool,
    pub child: Option<ChildRoute>,
    /// `udfType` picklist value of this entity's UDFs, if it has any.
    pub udf_type: Option<i64>,
    pub udf_limit: usize,
    pub required: &'static [&'static str],
    pub read_only: &'static [&'static str],
    /// (field, referenced entity)
    pub references: &'static [(&'static str, &'static str)],
    pub not_queryable: &'static [&'static str],
    pub webhooks: bool,
}

impl EntityDef {
    pub fn can_create(&self) -> bool {
        self.root_create || self.child.as_ref().is_some_and(|c| c.create)
    }
    pub fn can_update(&self) -> bool {
        self.root_update || self.child.as_ref().is_some_and(|c| c.update)
    }
    pub fn fields(&self) -> &'static [FieldMeta] {
        FIELD_META
            .get(self.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    pub fn field(&self, name: &str) -> Option<&'static FieldMeta> {
        self.fields()
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
    pub fn is_read_only(&self, field: &str) -> bool {
        field == "id" || self.read_only.iter().any(|f| f.eq_ignore_ascii_case(field))
    }
    pub fn is_required(&self, field: &str) -> bool {
        self.required.iter().any(|f| f.eq_ignore_ascii_case(field))
    }
    pub fn reference(&self, field: &str) -> Option<&'static str> {
        self.references
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, entity)| *entity)
    }
}

/// Udf types (the `udfType` picklist of UserDefinedFieldDefinitions). Company = 1 and Ticket = 7
/// are confirmed (notes §3.10); the others are this simulator's choice, so clients must read the
/// picklist by label.
pub const UDF_TYPE_COMPANY: i64 = 1;
pub const UDF_TYPE_CONTACT: i64 = 3;
pub const UDF_TYPE_TICKET: i64 = 7;
pub const UDF_TYPE_CONTRACT: i64 = 13;

/// `contractType` of Recurring Service contracts (notes §3.4).
pub const CONTRACT_TYPE_RECURRING_SERVICE: i64 = 7;
/// BillingCodes `useType` of "Recurring Contract Service" allocation codes (simulator choice).
pub const USE_TYPE_RECURRING_CONTRACT_SERVICE: i64 = 6;

const NO_CHILD: Option<ChildRoute> = None;

pub static ENTITIES: [EntityDef; 15] = [
    EntityDef {
        name: "Companies",
        singular: "Company",
        model: "CompanyModel",
        query: true,
        root_create: true,
        root_update: true,
        delete: false,
        child: NO_CHILD,
        udf_type: Some(UDF_TYPE_COMPANY),
        udf_limit: 200,
        required: &["companyName", "companyType", "ownerResourceID", "phone"],
        read_only: &[
            "createDate",
            "lastActivityDate",
            "lastTrackedModifiedDateTime",
            "createdByResourceID",
            "apiVendorID",
            "impersonatorCreatorResourceID",
        ],
        references: &[("parentCompanyID", "Companies")],
        not_queryable: &[],
        webhooks: true,
    },
    EntityDef {
        name: "Contacts",
        singular: "Contact",
        model: "ContactModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Companies",
            segment: "Contacts",
            parent_field: "companyID",
            create: true,
            update: true,
            list: false,
        }),
        udf_type: Some(UDF_TYPE_CONTACT),
        udf_limit: 100,
        required: &["companyID", "firstName", "lastName", "isActive"],
        read_only: &[
            "createDate",
            "lastActivityDate",
            "lastModifiedDate",
            "apiVendorID",
            "impersonatorCreatorResourceID",
        ],
        references: &[("companyID", "Companies")],
        not_queryable: &[],
        webhooks: true,
    },
    EntityDef {
        name: "Contracts",
        singular: "Contract",
        model: "ContractModel",
        query: true,
        root_create: true,
        root_update: true,
        delete: false,
        child: NO_CHILD,
        udf_type: Some(UDF_TYPE_CONTRACT),
        udf_limit: 50,
        required: &[
            "companyID",
            "contractName",
            "contractType",
            "startDate",
            "endDate",
            "status",
        ],
        read_only: &[],
        references: &[
            ("companyID", "Companies"),
            ("billToCompanyID", "Companies"),
            ("contactID", "Contacts"),
        ],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "Services",
        singular: "Service",
        model: "ServiceModel",
        query: true,
        root_create: true,
        root_update: true,
        delete: false,
        child: NO_CHILD,
        udf_type: None,
        udf_limit: 0,
        required: &["name", "periodType", "unitPrice", "billingCodeID"],
        read_only: &[
            "createDate",
            "creatorResourceID",
            "lastModifiedDate",
            "updateResourceID",
        ],
        references: &[
            ("billingCodeID", "BillingCodes"),
            ("vendorCompanyID", "Companies"),
        ],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ServiceBundles",
        singular: "ServiceBundle",
        model: "ServiceBundleModel",
        query: true,
        root_create: true,
        root_update: true,
        delete: true,
        child: NO_CHILD,
        udf_type: None,
        udf_limit: 0,
        required: &["name", "periodType", "unitPrice", "billingCodeID"],
        read_only: &[
            "createDate",
            "creatorResourceID",
            "lastModifiedDate",
            "updateResourceID",
        ],
        references: &[("billingCodeID", "BillingCodes")],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServices",
        singular: "ContractService",
        model: "ContractServiceModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "Services",
            parent_field: "contractID",
            create: true,
            update: true,
            list: true,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &["contractID", "serviceID", "unitPrice"],
        read_only: &["internalCurrencyUnitPrice", "internalCurrencyAdjustedPrice"],
        references: &[("contractID", "Contracts"), ("serviceID", "Services")],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServiceBundles",
        singular: "ContractServiceBundle",
        model: "ContractServiceBundleModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "ServiceBundles",
            parent_field: "contractID",
            create: true,
            update: true,
            list: true,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &["contractID", "serviceBundleID", "unitPrice"],
        read_only: &["internalCurrencyUnitPrice", "internalCurrencyAdjustedPrice"],
        references: &[
            ("contractID", "Contracts"),
            ("serviceBundleID", "ServiceBundles"),
        ],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServiceUnits",
        singular: "ContractServiceUnit",
        model: "ContractServiceUnitModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "ServiceUnits",
            parent_field: "contractID",
            create: false,
            update: false,
            list: true,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &[],
        read_only: &[],
        references: &[],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServiceBundleUnits",
        singular: "ContractServiceBundleUnit",
        model: "ContractServiceBundleUnitModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "ServiceBundleUnits",
            parent_field: "contractID",
            create: false,
            update: false,
            list: true,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &[],
        read_only: &[],
        references: &[],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServiceAdjustments",
        singular: "ContractServiceAdjustment",
        model: "ContractServiceAdjustmentModel",
        query: false,
        root_create: true,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "ServiceAdjustments",
            parent_field: "contractID",
            create: true,
            update: false,
            list: false,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &["contractID", "effectiveDate", "unitChange"],
        read_only: &[],
        references: &[
            ("contractID", "Contracts"),
            ("serviceID", "Services"),
            ("contractServiceID", "ContractServices"),
        ],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "ContractServiceBundleAdjustments",
        singular: "ContractServiceBundleAdjustment",
        model: "ContractServiceBundleAdjustmentModel",
        query: false,
        root_create: true,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Contracts",
            segment: "ServiceBundleAdjustments",
            parent_field: "contractID",
            create: true,
            update: false,
            list: false,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &["contractID", "effectiveDate", "unitChange"],
        read_only: &[],
        references: &[
            ("contractID", "Contracts"),
            ("serviceBundleID", "ServiceBundles"),
            ("contractServiceBundleID", "ContractServiceBundles"),
        ],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "BillingCodes",
        singular: "BillingCode",
        model: "BillingCodeModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: NO_CHILD,
        udf_type: None,
        udf_limit: 0,
        required: &[],
        read_only: &[],
        references: &[],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "UserDefinedFieldDefinitions",
        singular: "UserDefinedFieldDefinition",
        model: "UserDefinedFieldDefinitionModel",
        query: true,
        root_create: true,
        root_update: false,
        delete: false,
        child: NO_CHILD,
        udf_type: None,
        udf_limit: 0,
        required: &["name", "udfType", "dataType"],
        read_only: &["createDate"],
        references: &[],
        not_queryable: &[],
        webhooks: false,
    },
    EntityDef {
        name: "Tickets",
        singular: "Ticket",
        model: "TicketModel",
        query: true,
        root_create: true,
        root_update: true,
        delete: false,
        child: NO_CHILD,
        udf_type: Some(UDF_TYPE_TICKET),
        udf_limit: 300,
        required: &["companyID", "title", "status", "priority"],
        read_only: &[
            "ticketNumber",
            "createDate",
            "creatorResourceID",
            "creatorType",
            "lastActivityDate",
            "lastActivityPersonType",
            "lastActivityResourceID",
            "lastTrackedModificationDateTime",
            "apiVendorID",
            "impersonatorCreatorResourceID",
            "completedByResourceID",
            // Maintained by status changes (Complete stamps it, re-opening clears it); read-only
            // here is the simulator's reading (UNVERIFIED).
            "completedDate",
        ],
        references: &[
            ("companyID", "Companies"),
            ("contactID", "Contacts"),
            ("contractID", "Contracts"),
            ("contractServiceID", "ContractServices"),
            ("contractServiceBundleID", "ContractServiceBundles"),
            ("billingCodeID", "BillingCodes"),
        ],
        not_queryable: &["creatorType", "lastActivityPersonType"],
        webhooks: true,
    },
    EntityDef {
        name: "TicketNotes",
        singular: "TicketNote",
        model: "TicketNoteModel",
        query: true,
        root_create: false,
        root_update: false,
        delete: false,
        child: Some(ChildRoute {
            parent: "Tickets",
            segment: "Notes",
            parent_field: "ticketID",
            create: true,
            update: true,
            list: true,
        }),
        udf_type: None,
        udf_limit: 0,
        required: &["ticketID", "title", "description", "noteType", "publish"],
        read_only: &[
            "createDateTime",
            "creatorResourceID",
            "lastActivityDate",
            "impersonatorCreatorResourceID",
            "impersonatorUpdaterResourceID",
        ],
        references: &[("ticketID", "Tickets")],
        not_queryable: &[],
        webhooks: true,
    },
];

pub fn entity(name: &str) -> Option<&'static EntityDef> {
    ENTITIES.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Integer,
    Long,
    Double,
    Boolean,
    Text,
    DateTime,
    /// Free-form (`DefaultValue`).
    Any,
}

impl FieldKind {
    /// `dataType` string reported by `entityInformation/fields`.
    pub fn data_type(self) -> &'static str {
        match self {
            FieldKind::Integer => "integer",
            FieldKind::Long => "long",
            FieldKind::Double => "double",
            FieldKind::Boolean => "boolean",
            FieldKind::Text => "string",
            FieldKind::DateTime => "datetime",
            FieldKind::Any => "string",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldMeta {
    /// camelCase wire name.
    pub name: String,
    pub kind: FieldKind,
}

/// Entity fields, from the swagger models (minus the SOAP artefacts and the UDF array).
static FIELD_META: LazyLock<HashMap<&'static str, Vec<FieldMeta>>> = LazyLock::new(|| {
    let definitions = embedded_spec().get("definitions");
    ENTITIES
        .iter()
        .map(|def| {
            let properties = definitions
                .and_then(|d| d.get(def.model))
                .and_then(|m| m.get("properties"))
                .and_then(Value::as_object);
            let fields = properties
                .into_iter()
                .flatten()
                .filter(|(name, _)| {
                    !matches!(name.as_str(), "SoapParentPropertyId" | "UserDefinedFields")
                })
                .map(|(name, schema)| FieldMeta {
                    name: camel_case(name),
                    kind: kind_of(schema),
                })
                .collect();
            (def.name, fields)
        })
        .collect()
});

fn kind_of(schema: &Value) -> FieldKind {
    let format = schema.get("format").and_then(Value::as_str);
    match (schema.get("type").and_then(Value::as_str), format) {
        (Some("integer"), Some("int64")) => FieldKind::Long,
        (Some("integer"), _) => FieldKind::Integer,
        (Some("number"), _) => FieldKind::Double,
        (Some("boolean"), _) => FieldKind::Boolean,
        (Some("string"), Some("date-time")) => FieldKind::DateTime,
        (Some("string"), _) => FieldKind::Text,
        _ => FieldKind::Any,
    }
}

/// One picklist entry as `entityInformation/fields` reports it (values are strings).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    pub value: String,
    pub label: String,
    #[serde(default)]
    pub is_default_value: bool,
    #[serde(default)]
    pub sort_order: i64,
    #[serde(default)]
    pub parent_value: Option<String>,
    #[serde(default = "default_true")]
    pub is_active: bool,
    #[serde(default)]
    pub is_system: bool,
}

fn default_true() -> bool {
    true
}

fn pick(values: &[(&str, &str)]) -> Vec<PicklistValue> {
    values
        .iter()
        .enumerate()
        .map(|(i, (value, label))| PicklistValue {
            value: (*value).to_string(),
            label: (*label).to_string(),
            is_default_value: false,
            sort_order: i as i64,
            parent_value: None,
            is_active: true,
            is_system: true,
        })
        .collect()
}

fn pick_child(values: &[(&str, &str, &str)]) -> Vec<PicklistValue> {
    values
        .iter()
        .enumerate()
        .map(|(i, (value, label, parent))| PicklistValue {
            value: (*value).to_string(),
            label: (*label).to_string(),
            is_default_value: false,
            sort_order: i as i64,
            parent_value: Some((*parent).to_string()),
            is_active: true,
            is_system: false,
        })
        .collect()
}

/// Fields whose picklist depends on another field (notes §3.1: subIssueType → issueType).
pub fn picklist_parent_field(entity: &str, field: &str) -> Option<&'static str> {
    (entity == "Tickets" && field == "subIssueType").then_some("issueType")
}

/// The default picklists of a fresh database, keyed by (entity, camelCase field). Seeds may
/// replace any of them. Values are per tenant in real Autotask; clients must read them.
pub fn default_picklists() -> HashMap<(String, String), Vec<PicklistValue>> {
    let period_types = pick(&[
        ("1", "Monthly"),
        ("2", "Quarterly"),
        ("3", "Semi-Annual"),
        ("4", "Yearly"),
    ]);
    let entries: Vec<(&str, &str, Vec<PicklistValue>)> = vec![
        (
            "Companies",
            "companyType",
            pick(&[
                ("1", "Customer"),
                ("2", "Lead"),
                ("3", "Prospect"),
                ("4", "Dead"),
                ("6", "Cancellation"),
                ("7", "Vendor"),
                ("8", "Partner"),
            ]),
        ),
        (
            "Contracts",
            "contractType",
            pick(&[
                ("1", "Time & Materials"),
                ("3", "Fixed Price"),
                ("4", "Block Hours"),
                ("6", "Retainer"),
                ("7", "Recurring Service"),
                ("8", "Per Ticket"),
            ]),
        ),
        (
            "Contracts",
            "status",
            pick(&[("0", "Inactive"), ("1", "Active")]),
        ),
        ("Services", "periodType", period_types.clone()),
        ("ServiceBundles", "periodType", period_types),
        (
            "BillingCodes",
            "useType",
            pick(&[
                ("1", "Work Type"),
                ("2", "General"),
                ("3", "Material"),
                ("4", "Expense"),
                ("5", "Milestone"),
                ("6", "Recurring Contract Service"),
            ]),
        ),
        (
            "Tickets",
            "status",
            pick(&[
                ("1", "New"),
                ("5", "Complete"),
                ("7", "Waiting Customer"),
                ("8", "In Progress"),
                ("12", "Waiting Vendor"),
                ("17", "On Hold"),
            ]),
        ),
        (
            "Tickets",
            "priority",
            pick(&[
                ("1", "High"),
                ("2", "Medium"),
                ("3", "Low"),
                ("4", "Critical"),
            ]),
        ),
        (
            "Tickets",
            "queueID",
            pick(&[
                ("5", "Client Portal"),
                ("6", "Post Sale"),
                ("8", "Monitoring Alert"),
                ("29683482", "Level I Support"),
            ]),
        ),
        (
            "Tickets",
            "issueType",
            pick(&[("1", "Hardware"), ("2", "Software"), ("3", "Backup")]),
        ),
        (
            "Tickets",
            "subIssueType",
            pick_child(&[
                ("10", "Server", "1"),
                ("11", "Application", "2"),
                ("12", "Backup Failed", "3"),
                ("13", "Backup Warning", "3"),
            ]),
        ),
        (
            "Tickets",
            "source",
            pick(&[
                ("1", "Other"),
                ("2", "Phone"),
                ("4", "Email"),
                ("6", "Web Portal"),
                ("8", "Monitoring Alert"),
            ]),
        ),
        (
            "Tickets",
            "ticketType",
            pick(&[
                ("1", "Service Request"),
                ("2", "Incident"),
                ("3", "Problem"),
                ("4", "Change Request"),
                ("5", "Alert"),
            ]),
        ),
        (
            "Tickets",
            "ticketCategory",
            pick(&[("2", "Standard"), ("3", "Monitoring Alert")]),
        ),
        (
            "TicketNotes",
            "noteType",
            pick(&[
                ("1", "Task Summary"),
                ("2", "Task Detail"),
                ("3", "Task Notes"),
                ("13", "Internal"),
            ]),
        ),
        (
            "TicketNotes",
            "publish",
            pick(&[("1", "All Autotask Users"), ("2", "Internal Only")]),
        ),
        (
            "UserDefinedFieldDefinitions",
            "udfType",
            pick(&[
                ("1", "Company"),
                ("3", "Contact"),
                ("7", "Ticket"),
                ("13", "Contract"),
            ]),
        ),
        (
            "UserDefinedFieldDefinitions",
            "dataType",
            pick(&[
                ("1", "String"),
                ("2", "Number"),
                ("3", "Date"),
                ("4", "List"),
            ]),
        ),
    ];
    entries
        .into_iter()
        .map(|(entity, field, values)| ((entity.to_string(), field.to_string()), values))
        .collect()
}
