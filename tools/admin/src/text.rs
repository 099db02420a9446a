//! Fixed-width tables and the small text helpers the readable output is made of.

use chrono::{DateTime, SecondsFormat, Utc};

/// A table with aligned columns; each column has a maximum width past which text is cut with
/// `…`. The last column is not padded, so lines carry no trailing blanks.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(String, usize)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as `(header, maximum width)`.
    pub fn new(columns: &[(&str, usize)]) -> Self {
        Table {
            columns: columns
                .iter()
                .map(|(header, max)| ((*header).to_string(), (*max).max(1)))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .map(Into::into)
            .take(self.columns.len())
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn render(&self) -> String {
        let cells: Vec<Vec<String>> = std::iter::once(
            self.columns
                .iter()
                .map(|(header, _)| header.clone())
                .collect::<Vec<_>>(),
        )
        .chain(self.rows.iter().cloned())
        .map(|row| {
            row.iter()
                .zip(&self.columns)
                .map(|(cell, (_, max))| truncate(cell, *max))
                .collect()
        })
        .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in cells {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// One line of at most `max` characters: line breaks become blanks, and a longer text ends
/// in `…`.
pub fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A time as the tables show it: RFC 3339 to the second, UTC.
pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn optional_time(at: Option<&DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "-".into())
}

/// `before → after`, with `-` for an empty side.
pub fn change(before: &str, after: &str) -> String {
    let side = |s: &str| {
        if s.trim().is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    format!("{} → {}", side(before), side(after))
}

/// `key=value, …` of a count map.
pub fn counts<'a>(counts: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    counts
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `label  value` block with aligned values.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let line = format!("{label:width$}  {value}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_long_text_is_cut() {
        let mut table = Table::new(&[("id", 10), ("message", 12)]);
        table.row(["1", "short"]);
        table.row(["12345", "a much longer message than fits"]);
        assert_eq!(
            table.render(),
            "id     message\n1      short\n12345  a much long…\n"
        );
    }

    #[test]
    fn missing_cells_are_blank_and_lines_have_no_trailing_blanks() {
        let mut table = Table::new(&[("a", 5), ("b", 5), ("c", 5)]);
        table.row(["x"]);
        let text = table.render();
        assert_eq!(text, "a  b  c\nx\n");
    }

    #[test]
    fn truncate_counts_characters_and_flattens_lines() {
        assert_eq!(truncate("Hüsker Dü", 9), "Hüsker Dü");
        assert_eq!(truncate("Hüsker Dü", 8), "Hüsker …");
        assert_eq!(truncate("two\nlines", 20), "two lines");
    }

    #[test]
    fn change_marks_empty_sides() {
        assert_eq!(change("", "10"), "- → 10");
        assert_eq!(change("5", "10"), "5 → 10");
    }
}
