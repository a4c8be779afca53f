//! What a DuckDB target asks for when its database opens, as dbt-duckdb
//! profiles write it: extensions to install and load, `SET` settings, and
//! other databases to attach. Read by the project loader into [`Setup`];
//! applied here to the root connection (extensions, attachments, settings)
//! and again to every worker's connection (settings are per connection).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::errors::{duckdb_message, one_line};
use crate::adapter::AdapterError;

/// The statements a DuckDB target runs when its database opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Extension names, installed (when missing) and loaded in order.
    pub extensions: Vec<String>,
    /// `SET key = value` pairs; the value is already a SQL literal.
    pub settings: Vec<(String, String)>,
    pub attach: Vec<Attachment>,
}

/// One `attach:` entry of a dbt-duckdb profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// A file (absolute) or a URL-like location passed through as written.
    pub path: PathBuf,
    pub alias: Option<String>,
    /// `type:` (`sqlite`, `postgres`, ...); DuckDB's own format when `None`.
    pub kind: Option<String>,
    pub read_only: bool,
}

impl Setup {
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty() && self.settings.is_empty() && self.attach.is_empty()
    }

    /// The `SET` statements, run on every connection.
    pub(super) fn set_statements(&self) -> Vec<String> {
        self.settings
            .iter()
            .map(|(key, value)| format!("SET {key} = {value}"))
            .collect()
    }

    /// Installs and loads the extensions, attaches the databases and applies
    /// the settings on the connection every other one is cloned from.
    pub(super) fn apply(&self, conn: &duckdb::Connection) -> Result<(), AdapterError> {
        for name in &self.extensions {
            load_extension(conn, name)?;
        }
        for statement in self.set_statements() {
            run(conn, &statement, "apply the setting")?;
        }
        for attachment in &self.attach {
            run(conn, &attach_sql(attachment), "attach")?;
        }
        Ok(())
    }
}

/// `LOAD` works offline once an extension is installed (or built in), so a
/// failed `INSTALL` only matters when the `LOAD` after it fails too.
fn load_extension(conn: &duckdb::Connection, name: &str) -> Result<(), AdapterError> {
    let ident = super::KIND.quote(name);
    let installed = conn.execute_batch(&format!("INSTALL {ident}"));
    conn.execute_batch(&format!("LOAD {ident}")).map_err(|load| {
        let mut message = format!(
            "cannot load the DuckDB extension `{name}`: {}",
            one_line(&duckdb_message(&load), None)
        );
        if let Err(install) = installed {
            let _ = write!(
                message,
                "; installing it failed first: {} (installing downloads the extension, so it needs the network once; offline, install it beforehand with `INSTALL {name}` in a DuckDB shell, or remove it from `extensions`)",
                one_line(&duckdb_message(&install), None)
            );
        }
        AdapterError::new(message)
    })
}

fn attach_sql(attachment: &Attachment) -> String {
    let path = attachment.path.to_string_lossy();
    let mut sql = format!("ATTACH IF NOT EXISTS '{}'", path.replace('\'', "''"));
    if let Some(alias) = &attachment.alias {
        let _ = write!(sql, " AS {}", super::KIND.quote(alias));
    }
    let mut options = Vec::new();
    if let Some(kind) = &attachment.kind {
        options.push(format!("TYPE {kind}"));
    }
    if attachment.read_only {
        options.push("READ_ONLY".to_owned());
    }
    if !options.is_empty() {
        let _ = write!(sql, " ({})", options.join(", "));
    }
    sql
}

fn run(conn: &duckdb::Connection, sql: &str, what: &str) -> Result<(), AdapterError> {
    conn.execute_batch(sql).map_err(|err| {
        AdapterError::new(format!(
            "cannot {what} while opening the DuckDB database (`{sql}`): {}",
            one_line(&duckdb_message(&err), None)
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attach_statement_carries_alias_type_and_read_only() {
        let attachment = Attachment {
            path: PathBuf::from("/data/o'brien.db"),
            alias: Some("other".into()),
            kind: Some("sqlite".into()),
            read_only: true,
        };
        assert_eq!(
            attach_sql(&attachment),
            "ATTACH IF NOT EXISTS '/data/o''brien.db' AS \"other\" (TYPE sqlite, READ_ONLY)"
        );
    }

    #[test]
    fn settings_and_attachments_apply_to_a_fresh_database() {
        let dir = tempfile::tempdir().unwrap();
        let setup = Setup {
            extensions: Vec::new(),
            settings: vec![("threads".into(), "2".into())],
            attach: vec![Attachment {
                path: dir.path().join("side.duckdb"),
                alias: Some("side".into()),
                kind: None,
                read_only: false,
            }],
        };
        let conn = duckdb::Connection::open_in_memory().unwrap();
        setup.apply(&conn).unwrap();
        let threads: i64 = conn
            .query_row("select current_setting('threads')", [], |row| row.get(0))
            .unwrap();
        assert_eq!(threads, 2);
        conn.execute_batch("create table side.t as select 1 as x")
            .unwrap();
    }
}
