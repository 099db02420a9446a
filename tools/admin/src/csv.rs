//! RFC 4180 CSV: records end in CRLF; a field holding a comma, a double quote, CR or LF is
//! enclosed in double quotes, with its double quotes doubled.

/// One field as it stands in a record.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One record, CRLF included.
pub fn record<I, S>(fields: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut line = fields
        .into_iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_stay_bare_and_others_are_quoted() {
        assert_eq!(field("pw_base_workstations"), "pw_base_workstations");
        assert_eq!(field(""), "");
        assert_eq!(
            field("Hilda Huffington, Inc."),
            "\"Hilda Huffington, Inc.\""
        );
        assert_eq!(field("the \"big\" one"), "\"the \"\"big\"\" one\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn records_join_with_commas_and_end_in_crlf() {
        assert_eq!(
            record(["a", "b,c", "", "d\"e"]),
            "a,\"b,c\",,\"d\"\"e\"\r\n"
        );
        assert_eq!(record([""; 0]), "\r\n");
    }
}
