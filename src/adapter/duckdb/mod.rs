//! The DuckDB adapter: one embedded database file shared by every worker, one
//! cloned connection per worker thread. It owns DuckDB's side of the warehouse
//! boundary: running SQL, turning result rows into JSON values, reading the
//! catalog, and building views, tables, incremental models and CSV seeds so
//! that a failed build always leaves the previous relation intact and no
//! temporary relation behind. This file opens the database and its
//! connections and answers the [`Connection`] trait; the work behind each
//! answer lives in the sibling modules: `cache` (the relations sb knows),
//! `session` (the statements of one build), `materialize` (views, tables,
//! incremental models), `load` (Arrow batches and CSV files), `slices` (the
//! table function that pulls synthesized slices), `query` and `values`
//! (result rows as JSON) and `errors` (DuckDB's messages on one line).

mod cache;
mod errors;
mod load;
mod materialize;
mod query;
mod session;
mod setup;
mod slices;
mod snapshot;
mod values;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use duckdb::arrow::record_batch::RecordBatch;

use self::cache::KnownRelations;
use self::errors::{duckdb_message, one_line, statement_error, statement_error_message};
use self::query::read_query;
use self::session::{Session, execute_sql, only_reads};
pub use self::setup::{Attachment, Setup};
use super::{
    Adapter, AdapterError, AdapterKind, BatchLoad, BuildOutcome, ColumnInfo, Connection, CsvLoad,
    MaterializeRequest, QueryResult, RelationKind, RelationRef, SliceSource,
};

const KIND: AdapterKind = AdapterKind::Duckdb;

/// An open DuckDB database file, shared by all workers.
pub struct DuckDbAdapter {
    path: Option<PathBuf>,
    /// The connection the workers' connections are cloned from. Behind a
    /// mutex only because `duckdb::Connection` is `Send` but not `Sync`.
    root: Mutex<duckdb::Connection>,
    catalog_lock: Arc<Mutex<()>>,
    known: Arc<Mutex<Option<KnownRelations>>>,
    /// `SET` statements every new connection runs (settings are per connection).
    session_settings: Vec<String>,
    /// Every connection's interrupt handle, for [`DuckDbAdapter::interrupter`].
    interrupts: Arc<Mutex<Vec<Arc<duckdb::InterruptHandle>>>>,
}

impl DuckDbAdapter {
    /// Opens (creating it and its parent folders when missing) a database file.
    pub fn open(path: &Path) -> Result<Self, AdapterError> {
        Self::open_with(path, &Setup::default())
    }

    /// Opens a database file and applies a target's [`Setup`]: extensions,
    /// settings and attached databases.
    pub fn open_with(path: &Path, setup: &Setup) -> Result<Self, AdapterError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                AdapterError::new(format!(
                    "cannot create the folder {} for the DuckDB database: {err}",
                    parent.display()
                ))
            })?;
        }
        let root = duckdb::Connection::open(path).map_err(|err| {
            AdapterError::new(format!(
                "cannot open the DuckDB database {}: {}",
                path.display(),
                one_line(&duckdb_message(&err), None)
            ))
        })?;
        setup.apply(&root)?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            root: Mutex::new(root),
            catalog_lock: Arc::new(Mutex::new(())),
            known: Arc::new(Mutex::new(None)),
            session_settings: setup.set_statements(),
            interrupts: Arc::default(),
        })
    }

    /// Opens a private in-memory database (tests, dry runs).
    pub fn open_in_memory() -> Result<Self, AdapterError> {
        let root = duckdb::Connection::open_in_memory().map_err(|err| {
            AdapterError::new(format!(
                "cannot open an in-memory DuckDB database: {}",
                duckdb_message(&err)
            ))
        })?;
        Ok(Self {
            path: None,
            root: Mutex::new(root),
            catalog_lock: Arc::new(Mutex::new(())),
            known: Arc::new(Mutex::new(None)),
            session_settings: Vec::new(),
            interrupts: Arc::default(),
        })
    }

    /// What interrupts every statement running on this database's
    /// connections (each then fails as DuckDB's `INTERRUPT` error, and its
    /// transaction rolls back); a closed connection's handle does nothing.
    pub fn interrupter(&self) -> impl Fn() + Send + Sync + 'static {
        let handles = Arc::clone(&self.interrupts);
        move || {
            if let Ok(handles) = handles.lock() {
                for handle in handles.iter() {
                    handle.interrupt();
                }
            }
        }
    }

    /// The database file, `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Opens a connection with its concrete type (the trait's `connect` boxes it).
    pub fn connect_duckdb(&self) -> Result<DuckDbConnection, AdapterError> {
        let root = self
            .root
            .lock()
            .map_err(|_| AdapterError::new("the DuckDB connection pool is poisoned"))?;
        let conn = root.try_clone().map_err(|err| {
            AdapterError::new(format!(
                "cannot open a DuckDB connection: {}",
                duckdb_message(&err)
            ))
        })?;
        for statement in &self.session_settings {
            conn.execute_batch(statement).map_err(|err| {
                AdapterError::new(format!(
                    "cannot apply `{statement}` to a DuckDB connection: {}",
                    duckdb_message(&err)
                ))
            })?;
        }
        if let Ok(mut handles) = self.interrupts.lock() {
            handles.push(conn.interrupt_handle());
        }
        Ok(DuckDbConnection {
            conn,
            catalog_lock: Arc::clone(&self.catalog_lock),
            known: Arc::clone(&self.known),
        })
    }
}

impl Adapter for DuckDbAdapter {
    fn kind(&self) -> AdapterKind {
        KIND
    }

    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError> {
        Ok(Box::new(self.connect_duckdb()?))
    }
}

/// One worker's session with the DuckDB database.
pub struct DuckDbConnection {
    conn: duckdb::Connection,
    /// Serialises schema creation across the connections to one database.
    /// DuckDB's optimistic catalog concurrency aborts the loser of two
    /// transactions that create the same entry: workers starting together on
    /// a new schema each run `create schema if not exists`, and all but one
    /// fail with "Catalog write-write conflict on create". Builds themselves
    /// run unlocked; a lost race there is retried (`Session::run`).
    catalog_lock: Arc<Mutex<()>>,
    known: Arc<Mutex<Option<KnownRelations>>>,
}

impl DuckDbConnection {
    fn lock_catalog(&self) -> MutexGuard<'_, ()> {
        // A worker that panicked while holding the lock leaves nothing to
        // repair: the lock guards no data.
        self.catalog_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ensure_schema(
        &self,
        session: &mut Session<'_>,
        relation: &RelationRef,
    ) -> Result<(), AdapterError> {
        if self.with_known(|known| known.schemas.contains(&known.schema_key(relation)))? {
            return Ok(());
        }
        let sql = create_schema_sql(relation.database.as_deref(), &relation.schema);
        {
            let _guard = self.lock_catalog();
            session.run(sql)?;
        }
        if let Some(known) = self.lock_known().as_mut() {
            let key = known.schema_key(relation);
            known.schemas.insert(key);
        }
        Ok(())
    }
}

impl Connection for DuckDbConnection {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        self.forget_known();
        execute_sql(&self.conn, sql).map_err(|err| statement_error(&err, sql, vec![sql.to_owned()]))
    }

    fn query(&mut self, sql: &str, limit: Option<usize>) -> Result<QueryResult, AdapterError> {
        if !only_reads(sql) {
            self.forget_known();
        }
        read_query(&self.conn, sql, limit).map_err(|message| {
            statement_error_message(&message.to_string(), sql, vec![sql.to_owned()])
        })
    }

    fn relation_kind(
        &mut self,
        relation: &RelationRef,
    ) -> Result<Option<RelationKind>, AdapterError> {
        self.known_kind(relation)
    }

    fn columns(&mut self, relation: &RelationRef) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = format!(
            "select column_name, data_type from duckdb_columns() where {} and table_name = {} order by column_index",
            catalog_filter(relation),
            literal(&relation.identifier)
        );
        let result = self.query(&sql, None)?;
        Ok(result
            .rows
            .iter()
            .filter_map(|row| match row.as_slice() {
                [
                    serde_json::Value::String(name),
                    serde_json::Value::String(data_type),
                ] => Some(ColumnInfo {
                    name: name.clone(),
                    data_type: data_type.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    fn create_schema(&mut self, database: Option<&str>, schema: &str) -> Result<(), AdapterError> {
        let sql = create_schema_sql(database, schema);
        let _guard = self.lock_catalog();
        self.forget_known();
        execute_sql(&self.conn, &sql)
            .map(|_| ())
            .map_err(|err| statement_error(&err, &sql, vec![sql.clone()]))
    }

    fn materialize(&mut self, request: &MaterializeRequest) -> Result<BuildOutcome, AdapterError> {
        self.build_relation(request)
    }

    fn load_batches(
        &mut self,
        load: &BatchLoad,
        batches: &mut dyn Iterator<Item = RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError> {
        self.append_batches(load, batches)
    }

    fn load_slices(
        &mut self,
        load: &BatchLoad,
        source: Arc<dyn SliceSource>,
    ) -> Result<BuildOutcome, AdapterError> {
        self.load_slices_by_scan(load, source)
    }

    fn load_csv(&mut self, load: &CsvLoad) -> Result<BuildOutcome, AdapterError> {
        self.load_csv_file(load)
    }
}

fn create_schema_sql(database: Option<&str>, schema: &str) -> String {
    match database {
        Some(db) => format!(
            "create schema if not exists {}.{}",
            KIND.quote(db),
            KIND.quote(schema)
        ),
        None => format!("create schema if not exists {}", KIND.quote(schema)),
    }
}

/// Restricts a `duckdb_tables()`-like listing to a relation's catalog and schema.
fn catalog_filter(relation: &RelationRef) -> String {
    let database = relation
        .database
        .as_deref()
        .map_or_else(|| "current_database()".to_owned(), literal);
    format!(
        "database_name = {database} and schema_name = {}",
        literal(&relation.schema)
    )
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn plural_rows(n: u64) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}
