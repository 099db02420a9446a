//! Small value helpers shared by the store, the query engine and the validator.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Parses the date forms Autotask accepts: RFC 3339, a naive date-time (taken as UTC, which is
/// what the API stores) and a bare date.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Date-only fields keep the calendar date as written and drop the time, without any timezone
/// conversion (notes §3.9: `effectiveDate` is set to midnight of the given date).
pub fn parse_date_only(text: &str) -> Option<NaiveDate> {
    let date_part = text.get(..10)?;
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()
}

/// The wire form of a date-time: UTC with a `Z` suffix.
pub fn format_datetime(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub fn format_date(date: NaiveDate) -> String {
    format!("{}T00:00:00Z", date.format("%Y-%m-%d"))
}

pub fn now_string() -> String {
    format_datetime(Utc::now())
}

/// Swagger PascalCase → wire camelCase: the leading capitals are lowered, except the last one of
/// an acronym that starts a word (`CompanyID` → `companyID`, `SICCode` → `sicCode`, `CI` → `ci`).
pub fn camel_case(pascal: &str) -> String {
    let chars: Vec<char> = pascal.chars().collect();
    let leading_upper = chars.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let lower_count = if leading_upper <= 1 || leading_upper == chars.len() {
        leading_upper
    } else {
        leading_upper - 1
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < lower_count {
                c.to_ascii_lowercase()
            } else {
                *c
            }
        })
        .collect()
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_matches_the_wire_names() {
        assert_eq!(camel_case("CompanyID"), "companyID");
        assert_eq!(camel_case("SICCode"), "sicCode");
        assert_eq!(camel_case("CI"), "ci");
        assert_eq!(camel_case("UserDefinedFields"), "userDefinedFields");
        assert_eq!(camel_case("RMMAlertID"), "rmmAlertID");
        assert_eq!(camel_case("Id"), "id");
    }

    #[test]
    fn date_only_drops_time_without_conversion() {
        let date = parse_date_only("2024-05-01T23:30:00-05:00");
        assert_eq!(date, NaiveDate::from_ymd_opt(2024, 5, 1));
    }
}
