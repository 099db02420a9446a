//! Sub-partners (F22, the guide: "when billing and provisioning sub-partner tenants, usage
//! reporting is aggregate"): a sub-partner tenant mapped to a company is billed for the usage of
//! every customer tenant in its subtree, at any depth — except customers mapped to a company of
//! their own (billed there) and customers under a nearer mapped sub-partner (billed there), so
//! no usage is billed twice. Pure; the planner reads the subtree and the usages in bulk.

use std::collections::{BTreeMap, HashMap, HashSet};

use sync_shared::acronis::{Tenant, Usage};

/// For each mapped sub-partner (a mapped tenant of kind `partner`, not the integration's own
/// partner `root`): the customer tenants whose usage it is billed for.
pub fn aggregated_customers(
    tenants: &[Tenant],
    mapped: &HashSet<&str>,
    root: &str,
) -> BTreeMap<String, Vec<String>> {
    let by_id: HashMap<&str, &Tenant> = tenants.iter().map(|t| (t.id.as_str(), t)).collect();
    let is_mapped_sub_partner = |id: &str| {
        id != root && mapped.contains(id) && by_id.get(id).is_some_and(|t| t.kind == "partner")
    };
    let mut aggregated: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for tenant in tenants {
        if tenant.kind != "customer" || mapped.contains(tenant.id.as_str()) {
            continue;
        }
        // The nearest mapped sub-partner above it, if any (bounded: a cycle is no tree).
        let mut current = tenant.parent_id.as_str();
        for _ in 0..tenants.len() {
            if current == root || current == tenant.id {
                break;
            }
            if is_mapped_sub_partner(current) {
                aggregated
                    .entry(current.to_string())
                    .or_default()
                    .push(tenant.id.clone());
                break;
            }
            match by_id.get(current) {
                Some(parent) if parent.parent_id != parent.id => current = &parent.parent_id,
                _ => break,
            }
        }
    }
    for members in aggregated.values_mut() {
        members.sort();
    }
    aggregated
}

/// Usage rows of several tenants as one tenant's: rows of the same item (application, name,
/// usage name, storage) summed, so storage is rounded up once, over the sum.
pub fn aggregate<'a>(rows: impl IntoIterator<Item = &'a Usage>) -> Vec<Usage> {
    let mut summed: BTreeMap<(String, String, String, Option<String>), Usage> = BTreeMap::new();
    for row in rows {
        let key = (
            row.application_id.clone(),
            row.name.clone(),
            row.usage_name.clone(),
            row.infra_id.clone(),
        );
        summed
            .entry(key)
            .and_modify(|sum| {
                sum.value = sum.value.saturating_add(row.value);
                sum.absolute_value = match (sum.absolute_value, row.absolute_value) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
                };
            })
            .or_insert_with(|| Usage {
                tenant_uuid: None,
                ..row.clone()
            });
    }
    summed.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, kind: &str, parent: &str) -> Tenant {
        Tenant {
            id: id.into(),
            version: 1,
            name: id.into(),
            kind: kind.into(),
            parent_id: parent.into(),
            enabled: true,
            ancestral_access: Some(true),
            pricing_mode: None,
            mfa_status: None,
        }
    }

    fn usage(name: &str, infra: Option<&str>, value: u64) -> Usage {
        Usage {
            tenant_uuid: Some("t".into()),
            application_id: "app".into(),
            name: name.into(),
            edition: None,
            usage_name: name.into(),
            usage_type: "absolute".into(),
            infra_id: infra.map(Into::into),
            measurement_unit: "quantity".into(),
            range_start: "2026-11-01T00:00:00Z".into(),
            value,
            absolute_value: None,
        }
    }

    #[test]
    fn customers_at_any_depth_go_to_the_nearest_mapped_sub_partner_unless_mapped_themselves() {
        let tenants = vec![
            tenant("root", "partner", "dc"),
            tenant("a", "partner", "root"),
            tenant("a-folder", "folder", "a"),
            tenant("a1", "customer", "a"),
            tenant("a2", "customer", "a-folder"),
            tenant("a-own", "customer", "a"),
            tenant("b", "partner", "a"),
            tenant("b1", "customer", "b"),
            tenant("c", "partner", "root"),
            tenant("c1", "customer", "c"),
            tenant("direct", "customer", "root"),
        ];
        let mapped: HashSet<&str> = ["a", "b", "a-own", "direct", "root"].into();
        let aggregated = aggregated_customers(&tenants, &mapped, "root");
        assert_eq!(
            aggregated,
            BTreeMap::from([
                ("a".to_string(), vec!["a1".to_string(), "a2".to_string()]),
                ("b".to_string(), vec!["b1".to_string()]),
            ]),
            "c is not mapped; a-own and direct are billed on their own; root is never a sub-partner"
        );
    }

    #[test]
    fn rows_of_one_item_are_summed_across_tenants() {
        let rows = [
            usage("pw_base_workstations", None, 3),
            usage("pw_base_workstations", None, 2),
            usage("pw_base_storage", Some("x"), 10),
            usage("pw_base_storage", Some("y"), 1),
        ];
        let summed = aggregate(&rows);
        assert_eq!(summed.len(), 3);
        let ws = summed
            .iter()
            .find(|u| u.name == "pw_base_workstations")
            .map(|u| u.value);
        assert_eq!(ws, Some(5));
        assert!(summed.iter().all(|u| u.tenant_uuid.is_none()));
    }
}
