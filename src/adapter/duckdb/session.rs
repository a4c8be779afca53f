//! The statements of one build: each is sent, recorded for the run's log and
//! error report, retried when it lost a catalog race outside a transaction,
//! and grouped into transactions that roll back on failure. Also the reading
//! of a statement's leading keywords that decides whether it changed rows or
//! the catalog.

use super::errors::{duckdb_message, statement_error, statement_error_message};
use super::query::read_query;
use super::{DuckDbConnection, KIND, literal};
use crate::adapter::sql_text::only_comments;
use crate::adapter::{AdapterError, BuildOutcome};

/// How often a catalog write that lost a write-write conflict is retried.
const CONFLICT_RETRIES: usize = 5;

impl DuckDbConnection {
    pub(super) fn session(&self) -> Session<'_> {
        Session {
            conn: &self.conn,
            sent: Vec::new(),
            in_transaction: false,
        }
    }
}

/// The statements of one build, recorded as they are sent.
pub(super) struct Session<'a> {
    pub(super) conn: &'a duckdb::Connection,
    pub(super) sent: Vec<String>,
    /// Whether a `begin transaction` is open (the driver cannot tell).
    in_transaction: bool,
}

impl Session<'_> {
    /// Sends one statement and records it; a failure carries every statement
    /// sent so far, the failing one last.
    pub(super) fn run(&mut self, sql: String) -> Result<Option<u64>, AdapterError> {
        let mut attempt = 0;
        loop {
            match execute_sql(self.conn, &sql) {
                Ok(rows) => {
                    self.sent.push(sql);
                    return Ok(rows);
                }
                // Outside a transaction a lost catalog race is safe to retry:
                // the statement had no effect.
                Err(err)
                    if attempt < CONFLICT_RETRIES
                        && !self.in_transaction
                        && is_conflict(&duckdb_message(&err)) =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt as u64));
                }
                Err(err) => {
                    self.sent.push(sql.clone());
                    return Err(statement_error(&err, &sql, self.sent.clone()));
                }
            }
        }
    }

    pub(super) fn run_hooks(&mut self, hooks: &[String]) -> Result<(), AdapterError> {
        for hook in hooks.iter().filter(|h| !h.trim().is_empty()) {
            self.run(hook.clone())?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), AdapterError> {
        self.run("begin transaction".to_owned())?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), AdapterError> {
        self.run("commit".to_owned())?;
        self.in_transaction = false;
        Ok(())
    }

    /// Cleanup after a failure: not recorded, errors ignored (the failure
    /// being reported matters more).
    pub(super) fn quiet(&self, sql: &str) {
        let _ = self.conn.execute_batch(sql);
    }

    /// Runs `work` between `begin` and `commit`, rolling back when it fails.
    pub(super) fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, AdapterError>,
    ) -> Result<T, AdapterError> {
        self.begin()?;
        let done = work(self).and_then(|value| self.commit().map(|()| value));
        if done.is_err() {
            self.rollback();
        }
        done
    }

    fn rollback(&mut self) {
        if self.in_transaction {
            self.quiet("rollback");
            self.in_transaction = false;
        }
    }

    pub(super) fn count_rows(&mut self, relation: &str) -> Result<u64, AdapterError> {
        let sql = format!("select count(*) from {relation}");
        let result = read_query(self.conn, &sql, Some(1));
        self.sent.push(sql.clone());
        let result = result.map_err(|message| {
            statement_error_message(&message.to_string(), &sql, self.sent.clone())
        })?;
        Ok(result
            .rows
            .first()
            .and_then(|row| row.first())
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0))
    }

    pub(super) fn temp_columns(&self, table: &str) -> Result<Vec<String>, AdapterError> {
        let filter = "database_name = 'temp' and schema_name = 'main'";
        Ok(self
            .typed_columns(filter, table)?
            .into_iter()
            .map(|(name, _)| KIND.quote(&name))
            .collect())
    }

    /// The columns of table `table` where `filter` (a `duckdb_columns()`
    /// condition on its catalog and schema) holds: names, unquoted, with
    /// their types, in order.
    pub(super) fn typed_columns(
        &self,
        filter: &str,
        table: &str,
    ) -> Result<Vec<(String, String)>, AdapterError> {
        let sql = format!(
            "select column_name, data_type from duckdb_columns() where {filter} and table_name = {} order by column_index",
            literal(table)
        );
        let result = read_query(self.conn, &sql, None).map_err(|message| {
            statement_error_message(&message.to_string(), &sql, self.sent.clone())
        })?;
        Ok(result
            .rows
            .iter()
            .filter_map(|row| {
                let name = row.first()?.as_str()?;
                let data_type = row.get(1)?.as_str()?;
                Some((name.to_string(), data_type.to_string()))
            })
            .collect())
    }

    pub(super) fn finish(self, rows_affected: Option<u64>, message: String) -> BuildOutcome {
        BuildOutcome {
            statements: self.sent,
            rows_affected,
            message,
        }
    }
}

fn is_conflict(message: &str) -> bool {
    message.contains("write-write conflict") || message.contains("Transaction conflict")
}

/// Runs one or more statements; the rows changed by the last one when it is
/// DML or `create table as` (DuckDB answers those with a single `Count` column).
pub(super) fn execute_sql(conn: &duckdb::Connection, sql: &str) -> duckdb::Result<Option<u64>> {
    if only_comments(sql) {
        return Ok(None);
    }
    let mut stmt = conn.prepare(sql)?;
    let changed = stmt.execute([])?;
    let counts = stmt.column_count() == 1 && stmt.column_name(0).is_ok_and(|name| name == "Count");
    // DuckDB answers DDL with a `Count` of 0 too; only DML has rows changed.
    Ok((counts && (changed > 0 || writes_rows(sql))).then_some(changed as u64))
}

/// Whether a query only reads (so it cannot change the catalog).
pub(super) fn only_reads(sql: &str) -> bool {
    matches!(
        leading_words(sql, 1).first().map(String::as_str),
        Some(
            "select"
                | "with"
                | "from"
                | "values"
                | "show"
                | "describe"
                | "summarize"
                | "explain"
                | "table"
        )
    )
}

/// Whether a statement's leading keywords make it one that writes rows:
/// DML, `copy`, or `create table` (possibly `as select`).
fn writes_rows(sql: &str) -> bool {
    let words = leading_words(sql, 5);
    match words.first().map(String::as_str) {
        Some("insert" | "update" | "delete" | "merge" | "copy" | "with") => true,
        Some("create") => words.iter().any(|w| w == "table"),
        _ => false,
    }
}

/// The first `count` keywords of some SQL, lower-cased, skipping comments.
fn leading_words(sql: &str, count: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = sql;
    while words.len() < count {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            let (word, tail) = rest.split_at(end);
            words.push(word.to_lowercase());
            rest = tail;
        }
    }
    words
}
