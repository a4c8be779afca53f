//! Warehouse errors as diagnostics: the message's first line, its other
//! lines as notes, and the place in the model file (or seed CSV) the
//! message points at.

use super::NodeResult;
use super::Status;
use crate::adapter::AdapterError;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Location};
use crate::resource::{NodeId, ResourceType};

/// Turns a warehouse error into a failed result whose diagnostic points at
/// the model file (the quoted name in the message, when the file has it).
pub fn adapter_failure(
    compiled: &CompiledProject,
    index: NodeId,
    error: &AdapterError,
    run_path: Option<&std::path::Path>,
) -> NodeResult {
    let node = &compiled.project.nodes[index];
    let first_line = error
        .message
        .lines()
        .next()
        .unwrap_or(&error.message)
        .to_string();
    let is_seed = node.resource_type == ResourceType::Seed;
    let location = if is_seed {
        Some(locate_csv_error(compiled, index, &error.message))
    } else {
        locate_sql_error(node.file_path(), &node.raw_code, &error.message)
    };
    let mut diagnostic = Diagnostic::error(format!(
        "{} `{}` failed: {first_line}",
        node.resource_type, node.name
    ))
    .at_opt(location);
    for extra in error
        .message
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .take(6)
    {
        diagnostic = diagnostic.note(extra.trim_end().to_string());
    }
    if let Some(path) = run_path {
        let shown = path.strip_prefix(&compiled.project.root).unwrap_or(path);
        diagnostic = diagnostic.note(format!("the SQL sent is in {}", shown.display()));
    }
    let interrupted = crate::interrupt::requested().is_some();
    diagnostic = diagnostic.help(if interrupted {
        "sb was interrupted while this ran, and kept none of it: run the command again to build it"
    } else if is_seed {
        "fix the CSV file at the marked line (a value that does not match its column's type, or a wrong number of fields), or set `column_types` for the seed"
    } else {
        "fix the SQL in the model file; the compiled statement shows what the warehouse saw"
    });
    let short: String = first_line.chars().take(160).collect();
    let mut result = NodeResult::new(index, Status::Error, short);
    result.diagnostic = Some(diagnostic);
    result
}

/// Points at the CSV line a load error names (DuckDB says `Line: N`).
fn locate_csv_error(compiled: &CompiledProject, index: NodeId, message: &str) -> Location {
    let node = &compiled.project.nodes[index];
    let text = std::fs::read_to_string(compiled.project.root.join(&node.original_file_path))
        .unwrap_or_default();
    let line = regex::Regex::new(r"(?i)line:?\s*(\d+)")
        .ok()
        .and_then(|re| re.captures(message))
        .and_then(|c| c[1].parse::<usize>().ok())
        .filter(|&n| n >= 1 && n <= text.lines().count())
        .unwrap_or(1);
    let width = text.lines().nth(line - 1).map_or(1, |l| l.chars().count());
    Location::from_line_col(node.file_path(), &text, line, 1, width)
}

/// Finds where a warehouse error applies in the model source: a quoted name
/// from the message (`"col"`, `'x'`, `near "fro"`) located in the raw file.
pub fn locate_sql_error(path: &std::path::Path, raw: &str, message: &str) -> Option<Location> {
    if raw.is_empty() {
        return None;
    }
    let mut candidates = Vec::new();
    // BigQuery names what it cannot resolve without quotes:
    // `Unrecognized name: foo at [3:8]`, `Function not found: fo at [1:8]`.
    if let Ok(pattern) = regex::Regex::new(
        r"(?:Unrecognized name|Function not found|Name|Column|Field name)\s*:?\s*`?([A-Za-z_][A-Za-z0-9_]*)",
    ) {
        candidates.extend(pattern.captures_iter(message).map(|c| c[1].to_string()));
    }
    for quote in ['"', '\'', '`'] {
        let mut parts = message.split(quote);
        parts.next();
        while let (Some(inside), Some(())) = (parts.next(), Some(())) {
            if !inside.is_empty() && inside.len() < 80 && !inside.contains('\n') {
                candidates.push(inside.to_string());
            }
            if parts.next().is_none() {
                break;
            }
        }
    }
    for candidate in &candidates {
        let identifier = candidate.rsplit('.').next().unwrap_or(candidate);
        if let Some(found) = find_word(raw, identifier) {
            return Some(Location::from_offset(
                path,
                raw,
                found,
                identifier.chars().count(),
            ));
        }
    }
    Some(Location::from_line_col(
        path,
        raw,
        first_sql_line(raw),
        1,
        1,
    ))
}

fn find_word(haystack: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut start = 0;
    while let Some(found) = haystack[start..].find(word) {
        let at = start + found;
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        start = at + word.len();
    }
    None
}

/// The first line that is SQL rather than a Jinja block or blank.
pub(super) fn first_sql_line(raw: &str) -> usize {
    raw.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty()
                && !t.starts_with("{%")
                && !t.starts_with("{{ config")
                && !t.starts_with("--")
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigquery_messages_point_at_the_unresolved_name() {
        let raw = "{{ config(materialized='table') }}\nselect id,\n       no_such_column as label\nfrom t\n";
        let path = std::path::Path::new("models/orders.sql");
        for message in [
            "Unrecognized name: no_such_column at [4:8]",
            "Name no_such_column not found inside t at [4:8]",
            "Referenced column \"no_such_column\" not found",
        ] {
            let location = locate_sql_error(path, raw, message).expect("a location");
            assert_eq!((location.line, location.column), (3, 8), "{message}");
        }
    }
}
