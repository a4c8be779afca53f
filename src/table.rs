//! Plain-text tables for `sb show`: one header, aligned columns, values cut
//! to a readable width.

use crate::adapter::QueryResult;

const MAX_WIDTH: usize = 40;

fn cell(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Null => "null".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_WIDTH {
        let cut: String = text.chars().take(MAX_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Rows of text cells, each column padded to its widest cell and the
/// cells joined by ` | `, one line per row (no trailing spaces): the plain
/// tables of diagnostics.
pub fn aligned_lines<R: AsRef<[String]>>(rows: &[R]) -> Vec<String> {
    let count = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            row.as_ref()
                .iter()
                .zip(&widths)
                .map(|(value, width)| format!("{value:<width$}"))
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Renders rows as an aligned table with a header rule.
pub fn render(result: &QueryResult) -> String {
    let headers: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let rows: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|row| row.iter().map(cell).collect())
        .collect();
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            result
                .rows
                .iter()
                .all(|row| row.get(i).is_none_or(|v| v.is_number() || v.is_null()))
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .chain(std::iter::once(headers[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let width = widths.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) {
                    format!("{c:>width$}")
                } else {
                    format!("{c:<width$}")
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(&headers)];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-"),
    );
    out.extend(rows.iter().map(|r| line(r)));
    out.push(format!(
        "({} row{})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out.join("\n")
}
