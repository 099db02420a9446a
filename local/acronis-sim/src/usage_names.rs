//! The storage usage names the simulator reports, in one place (README "Usage names
//! (ASSUMPTION)").
//!
//! Documented by Acronis: the usage `storage` (offering item `pw_base_storage`, one usage row per
//! storage infra), and that class-1 backup storage is free and class-2 billable, and that
//! geo-redundant storage is billed separately (acronis-api-notes.md §2.8, §2.9). **Not** documented
//! anywhere we have: the API names of the class-1 / class-2 / geo-redundant usages. The names below
//! are the simulator's choice (ASSUMPTION), as are their rows carrying no `offering_item` (no
//! offering item is known for them).
//!
//! Public cloud storage has no usage name of its own: it is an infra whose `backend_type` is one
//! of [`PUBLIC_CLOUD_BACKENDS`], and its usage is the `storage` row with that infra's id.

/// The offering item of backup storage (one per infra) and its usage name.
pub const STORAGE_ITEM: &str = "pw_base_storage";
pub const STORAGE_USAGE: &str = "storage";

/// The edition the per-workload storage rows carry (that of `pw_base_storage`).
pub const STORAGE_EDITION: &str = "pck_per_workload";

/// `backend_type` of the storages that are public clouds (vendor guide, scenario 3).
pub const PUBLIC_CLOUD_BACKENDS: [&str; 3] = ["azure", "amazon_s3", "s3_compatible"];

/// `backend_type` of Acronis-hosted storage, the only kind with geo-redundancy (notes §2.8).
pub const ACRONIS_BACKEND: &str = "acronis";

/// A storage usage without an offering item: reported per storage infra, `type` `infra`,
/// `measurement_unit` `bytes`, application Cyber Protection, edition [`STORAGE_EDITION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUsage {
    /// The row's `name` (ASSUMPTION).
    pub name: &'static str,
    /// The row's `usage_name` (ASSUMPTION).
    pub usage_name: &'static str,
    /// Only measured on Acronis-hosted storage (`backend_type` [`ACRONIS_BACKEND`]).
    pub acronis_hosted_only: bool,
    pub meaning: &'static str,
}

/// The class-1 / class-2 / geo-redundant storage usages (ASSUMPTION: names chosen by us).
pub const STORAGE_USAGES_WITHOUT_ITEM: [StorageUsage; 3] = [
    StorageUsage {
        name: "pw_base_storage_class1",
        usage_name: "storage_class1",
        acronis_hosted_only: false,
        meaning: "the free (class 1) part of the storage usage",
    },
    StorageUsage {
        name: "pw_base_storage_class2",
        usage_name: "storage_class2",
        acronis_hosted_only: false,
        meaning: "the billed (class 2) part of the storage usage",
    },
    StorageUsage {
        name: "pw_base_geo_redundant_storage",
        usage_name: "geo_redundant_storage",
        acronis_hosted_only: true,
        meaning: "the usage of the storage's geo-replica (not part of `storage`)",
    },
];

/// The storage usage without an offering item called `name`, by its row `name` or `usage_name`.
pub fn storage_usage_without_item(name: &str) -> Option<&'static StorageUsage> {
    STORAGE_USAGES_WITHOUT_ITEM
        .iter()
        .find(|u| u.name == name || u.usage_name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_found_by_either_name() {
        let mut all: Vec<&str> = STORAGE_USAGES_WITHOUT_ITEM
            .iter()
            .flat_map(|u| [u.name, u.usage_name])
            .chain([STORAGE_ITEM, STORAGE_USAGE])
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        for usage in &STORAGE_USAGES_WITHOUT_ITEM {
            assert_eq!(storage_usage_without_item(usage.name), Some(usage));
            assert_eq!(storage_usage_without_item(usage.usage_name), Some(usage));
        }
        assert_eq!(storage_usage_without_item(STORAGE_USAGE), None);
    }
}
