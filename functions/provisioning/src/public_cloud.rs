//! Public cloud storages (F13, F19; the vendor guide's scenario 3). Pure.
//!
//! A public cloud storage is a storage (`infra`) whose `backend_type` is `azure`, `amazon_s3` or
//! `s3_compatible`; a customer "has" it while its `pw_base_storage` item for that infra is
//! enabled. The integration never provisions these items (the guide: "due to the absence of
//! Acronis offering items provisioning at all"), so the planner leaves them out of the storage
//! rules. With two-way sync on, each vendor's one Autotask service (`SERVICE#PUBLIC_CLOUD#<vendor>`)
//! is on the customer's contract while any storage of that vendor is enabled and removed when
//! none is; Acronis storage is handled by the ordinary rules, independently.

use std::collections::{BTreeMap, HashMap};

use sync_shared::acronis::OfferingItem;
use sync_shared::config::{
    IdOrLabel, IntegrationConfig, PublicCloudVendor, ServiceSubject, ServiceTarget,
};

use crate::plan::AutotaskSnapshot;

/// The `backend_type` of a vendor's storages.
pub fn backend_type(vendor: PublicCloudVendor) -> &'static str {
    match vendor {
        PublicCloudVendor::Azure => "azure",
        PublicCloudVendor::AmazonS3 => "amazon_s3",
        PublicCloudVendor::S3Compatible => "s3_compatible",
    }
}

/// A readable vendor name, as the guide writes it.
pub fn vendor_label(vendor: PublicCloudVendor) -> &'static str {
    match vendor {
        PublicCloudVendor::Azure => "Microsoft Azure",
        PublicCloudVendor::AmazonS3 => "Amazon S3",
        PublicCloudVendor::S3Compatible => "S3 compatible",
    }
}

fn vendor_of_backend(backend: &str) -> Option<PublicCloudVendor> {
    [
        PublicCloudVendor::Azure,
        PublicCloudVendor::AmazonS3,
        PublicCloudVendor::S3Compatible,
    ]
    .into_iter()
    .find(|v| backend_type(*v) == backend)
}

/// The vendor of a storage item, when it is a public cloud storage. `backends`: infra id →
/// `backend_type`.
pub fn vendor_of(
    item: &OfferingItem,
    backends: &HashMap<String, String>,
) -> Option<PublicCloudVendor> {
    if item.usage_name != "storage" {
        return None;
    }
    let infra = item.infra_id.as_deref()?;
    vendor_of_backend(backends.get(infra)?)
}

/// The items the provisioning rules manage: every item but public cloud storages.
pub fn without_public_cloud_storages(
    items: Vec<OfferingItem>,
    backends: &HashMap<String, String>,
) -> Vec<OfferingItem> {
    if backends.is_empty() {
        return items;
    }
    items
        .into_iter()
        .filter(|i| vendor_of(i, backends).is_none())
        .collect()
}

/// The vendors of which a customer has at least one storage enabled.
pub fn enabled_vendors(
    items: &[OfferingItem],
    backends: &HashMap<String, String>,
) -> Vec<PublicCloudVendor> {
    let mut vendors: Vec<PublicCloudVendor> = items
        .iter()
        .filter(|i| i.enabled())
        .filter_map(|i| vendor_of(i, backends))
        .collect();
    vendors.sort_by_key(|v| backend_type(*v));
    vendors.dedup();
    vendors
}

/// The Autotask service of each mapped vendor (mappings by name resolved through the
/// snapshot; bundles are not supported for public cloud).
pub fn vendor_services(
    config: &IntegrationConfig,
    autotask: &AutotaskSnapshot,
) -> BTreeMap<&'static str, (PublicCloudVendor, i64)> {
    let mut services = BTreeMap::new();
    for mapping in &config.services {
        let ServiceSubject::PublicCloud(vendor) = &mapping.subject else {
            continue;
        };
        let Some(ServiceTarget::Service(target)) = &mapping.target else {
            continue;
        };
        let id = match target {
            IdOrLabel::Id(id) => Some(*id),
            IdOrLabel::Label(label) => autotask
                .services_by_name
                .get(&label.trim().to_lowercase())
                .copied(),
        };
        if let Some(id) = id {
            services.insert(backend_type(*vendor), (*vendor, id));
        }
    }
    services
}

/// What the contract should hold for one vendor: present while any storage is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorChange {
    Add,
    Remove,
}

/// The change a vendor's product needs: `present` = the product has units on the company's
/// prepaid contracts; `enabled` = the customer has a storage of the vendor enabled.
pub fn vendor_change(present: bool, enabled: bool) -> Option<VendorChange> {
    match (present, enabled) {
        (false, true) => Some(VendorChange::Add),
        (true, false) => Some(VendorChange::Remove),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_shared::acronis::{CYBER_PROTECTION_APP_ID, Quota};

    const ACRONIS: &str = "infra-acronis";
    const AZURE_1: &str = "infra-azure-1";
    const AZURE_2: &str = "infra-azure-2";
    const AMAZON: &str = "infra-amazon";
    const S3C: &str = "infra-s3c";

    fn backends() -> HashMap<String, String> {
        [
            (ACRONIS, "acronis"),
            (AZURE_1, "azure"),
            (AZURE_2, "azure"),
            (AMAZON, "amazon_s3"),
            (S3C, "s3_compatible"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    fn storage(infra: &str, enabled: bool) -> OfferingItem {
        OfferingItem {
            application_id: CYBER_PROTECTION_APP_ID.into(),
            name: "pw_base_storage".into(),
            edition: Some("pck_per_workload".into()),
            usage_name: "storage".into(),
            tenant_id: None,
            status: i32::from(enabled),
            item_type: "infra".into(),
            infra_id: Some(infra.into()),
            measurement_unit: "bytes".into(),
            quota: enabled.then_some(Quota {
                value: None,
                overage: None,
                version: 0,
            }),
        }
    }

    fn present_after(initial: &[PublicCloudVendor], items: &[OfferingItem]) -> Vec<&'static str> {
        let enabled = enabled_vendors(items, &backends());
        let mut after: Vec<&'static str> = [
            PublicCloudVendor::Azure,
            PublicCloudVendor::AmazonS3,
            PublicCloudVendor::S3Compatible,
        ]
        .into_iter()
        .filter(|v| {
            let present = initial.contains(v);
            match vendor_change(present, enabled.contains(v)) {
                Some(VendorChange::Add) => true,
                Some(VendorChange::Remove) => false,
                None => present,
            }
        })
        .map(vendor_label)
        .collect();
        after.sort_unstable();
        after
    }

    #[test]
    fn several_storages_of_one_vendor_make_one_product() {
        let items = [
            storage(AZURE_1, true),
            storage(AZURE_2, true),
            storage(AMAZON, false),
        ];
        assert_eq!(present_after(&[], &items), ["Microsoft Azure"]);
    }

    #[test]
    fn each_vendor_gets_its_product() {
        let items = [
            storage(AZURE_1, true),
            storage(AZURE_2, true),
            storage(AMAZON, true),
        ];
        assert_eq!(present_after(&[], &items), ["Amazon S3", "Microsoft Azure"]);
    }

    #[test]
    fn a_vendor_without_storages_loses_its_product() {
        let items = [storage(AZURE_1, false), storage(AMAZON, true)];
        assert_eq!(
            present_after(
                &[PublicCloudVendor::Azure, PublicCloudVendor::AmazonS3],
                &items
            ),
            ["Amazon S3"]
        );
    }

    #[test]
    fn acronis_storage_is_not_a_public_cloud_and_is_left_to_the_ordinary_rules() {
        let items = vec![
            storage(ACRONIS, true),
            storage(AZURE_1, true),
            storage(S3C, false),
        ];
        assert_eq!(
            present_after(&[PublicCloudVendor::Azure], &items),
            ["Microsoft Azure"]
        );
        let managed = without_public_cloud_storages(items, &backends());
        assert_eq!(managed.len(), 1);
        assert_eq!(managed[0].infra_id.as_deref(), Some(ACRONIS));
    }

    #[test]
    fn unknown_backends_and_non_storage_items_are_not_public_clouds() {
        let mut item = storage("infra-unknown", true);
        assert_eq!(vendor_of(&item, &backends()), None);
        item.infra_id = Some(AZURE_1.into());
        item.usage_name = "storage_class1".into();
        assert_eq!(vendor_of(&item, &backends()), None);
        assert_eq!(vendor_change(true, true), None);
        assert_eq!(vendor_change(false, false), None);
    }
}
