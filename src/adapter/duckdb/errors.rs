//! DuckDB's error messages as sb reports them: without the driver's
//! wrapping, folded onto one line, the caret under an excerpt turned into a
//! column number, and tied to the statement that failed.

use crate::adapter::AdapterError;

/// DuckDB's own message for an error, without the crate's wrapping.
pub(super) fn duckdb_message(err: &duckdb::Error) -> String {
    match err {
        duckdb::Error::DuckDBFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    }
}

pub(super) fn statement_error(
    err: &duckdb::Error,
    sql: &str,
    statements: Vec<String>,
) -> AdapterError {
    statement_error_message(&duckdb_message(err), sql, statements)
}

pub(super) fn statement_error_message(
    message: &str,
    sql: &str,
    statements: Vec<String>,
) -> AdapterError {
    AdapterError {
        message: one_line(message, Some(sql)),
        statement: Some(sql.to_owned()),
        statements,
    }
}

/// Folds DuckDB's multi-line message into one line. The `LINE n: <excerpt>`
/// part is kept, and the caret line under it becomes `(column c)`: the
/// 1-based column in line `n` of the statement.
pub(super) fn one_line(message: &str, statement: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in message.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.chars().all(|c| c == '^') {
            let caret = line.chars().take_while(|c| *c == ' ').count();
            if let Some(column) = parts
                .last()
                .and_then(|excerpt| caret_column(excerpt, caret, statement))
            {
                parts.push(format!("(column {column})"));
            }
            continue;
        }
        parts.push(trimmed.to_owned());
    }
    parts.join(" ")
}

/// The column a caret at `caret` points to under a `LINE n: excerpt` line.
fn caret_column(excerpt_line: &str, caret: usize, statement: Option<&str>) -> Option<usize> {
    let rest = excerpt_line.strip_prefix("LINE ")?;
    let (number, excerpt) = rest.split_once(": ")?;
    let line_number: usize = number.parse().ok()?;
    let prefix = "LINE ".len() + number.len() + 2;
    let offset = caret.checked_sub(prefix)?;
    match excerpt.strip_prefix("...") {
        None => Some(offset + 1),
        Some(shown) => {
            // The start of the line was cut: find where the shown part begins.
            let offset = offset.checked_sub(3)?;
            let shown = shown.strip_suffix("...").unwrap_or(shown);
            let source = statement?.lines().nth(line_number.checked_sub(1)?)?;
            let start = source.find(shown)?;
            Some(source.get(..start)?.chars().count() + offset + 1)
        }
    }
}
