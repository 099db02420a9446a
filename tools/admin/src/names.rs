//! Name matching for mapping suggestions (F14): an unmapped Autotask company and an unmapped
//! Acronis customer tenant whose names are the same apart from case, punctuation and spacing.

use std::collections::HashMap;

/// The comparable form of a name: lower case, every run of characters that are not letters or
/// digits turned into one blank, no blanks at the ends. "Hilda Huffington, Inc." and
/// "hilda  huffington inc" both become "hilda huffington inc".
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_blank = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if pending_blank && !out.is_empty() {
                out.push(' ');
            }
            pending_blank = false;
            out.extend(c.to_lowercase());
        } else if c == '\'' || c == '’' {
            // An apostrophe joins: "O'Brien" is "obrien", as is "OBrien".
        } else {
            pending_blank = true;
        }
    }
    out
}

/// Whether two names match for a suggestion.
pub fn names_match(a: &str, b: &str) -> bool {
    let a = normalize_name(a);
    !a.is_empty() && a == normalize_name(b)
}

/// Pairs `(company index, tenant index)` whose names match where the match is unambiguous:
/// the company's name matches exactly one tenant, and that tenant's name matches no other
/// company. Names that normalise to nothing never match. Pairs come in company order.
pub fn suggest_pairs<C, T>(
    companies: &[C],
    tenants: &[T],
    company_name: impl Fn(&C) -> &str,
    tenant_name: impl Fn(&T) -> &str,
) -> Vec<(usize, usize)> {
    let mut tenants_by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let key = normalize_name(tenant_name(tenant));
        if !key.is_empty() {
            tenants_by_name.entry(key).or_default().push(i);
        }
    }
    let mut companies_by_name: HashMap<String, usize> = HashMap::new();
    let keys: Vec<String> = companies
        .iter()
        .map(|c| normalize_name(company_name(c)))
        .collect();
    for key in keys.iter().filter(|k| !k.is_empty()) {
        *companies_by_name.entry(key.clone()).or_default() += 1;
    }
    keys.iter()
        .enumerate()
        .filter_map(|(company, key)| {
            let tenants = tenants_by_name.get(key)?;
            match (tenants.as_slice(), companies_by_name.get(key)) {
                ([tenant], Some(1)) => Some((company, *tenant)),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_case_punctuation_and_spacing() {
        let cases = [
            ("Hilda Huffington, Inc.", "hilda huffington inc"),
            ("  HILDA   huffington inc ", "hilda huffington inc"),
            ("Hilda-Huffington Inc", "hilda huffington inc"),
            ("A.B.C. Dental (Main)", "a b c dental main"),
            ("O'Brien & Sons", "obrien sons"),
            ("O’Brien & Sons", "obrien sons"),
            ("Müller GmbH", "müller gmbh"),
            ("ÉCOLE 42", "école 42"),
            ("Tab\tand\nnewline", "tab and newline"),
            ("---", ""),
            ("", ""),
        ];
        for (name, expected) in cases {
            assert_eq!(normalize_name(name), expected, "{name:?}");
        }
    }

    #[test]
    fn names_match_despite_case_and_punctuation() {
        assert!(names_match(
            "Hilda Huffington, Inc.",
            "hilda huffington inc"
        ));
        assert!(names_match("Contoso Ltd", "CONTOSO LTD."));
        assert!(!names_match("Contoso Ltd", "Contoso Limited"));
        assert!(!names_match("Contoso", "Contoso Ltd"));
        assert!(!names_match("...", "!!!"), "empty names never match");
    }

    fn pairs(companies: &[&str], tenants: &[&str]) -> Vec<(usize, usize)> {
        suggest_pairs(companies, tenants, |c| c, |t| t)
    }

    #[test]
    fn a_unique_match_is_suggested() {
        let companies = ["Hilda Huffington, Inc.", "Florida IT Services", "Nobody"];
        let tenants = [
            "florida it services",
            "hilda huffington inc",
            "Someone Else",
        ];
        assert_eq!(pairs(&companies, &tenants), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn a_company_matching_two_tenants_gets_no_suggestion() {
        let companies = ["Contoso Ltd", "Fabrikam"];
        let tenants = ["Contoso Ltd", "contoso, ltd.", "Fabrikam"];
        assert_eq!(pairs(&companies, &tenants), vec![(1, 2)]);
    }

    #[test]
    fn two_companies_matching_one_tenant_get_no_suggestion() {
        let companies = ["Contoso Ltd", "CONTOSO LTD.", "Fabrikam"];
        let tenants = ["contoso ltd", "fabrikam"];
        assert_eq!(pairs(&companies, &tenants), vec![(2, 1)]);
    }

    #[test]
    fn names_of_punctuation_only_are_never_suggested() {
        assert!(pairs(&["-", "?"], &["-", "!"]).is_empty());
        assert!(pairs(&[], &["x"]).is_empty());
        assert!(pairs(&["x"], &[]).is_empty());
    }
}
