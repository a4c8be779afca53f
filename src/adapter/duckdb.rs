//! The DuckDB adapter: one embedded database file shared by every worker, one
//! cloned connection per worker thread. It owns DuckDB's side of the warehouse
//! boundary: running SQL, turning result rows into JSON values, reading the
//! catalog, and building views, tables, incremental models and CSV seeds so
//! that a failed build always leaves the previous relation intact and no
//! temporary relation behind.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::types::{Decimal, TimeUnit, Value};

use super::sql_text::{only_comments, strip_trailing};
use super::{
    Adapter, AdapterError, AdapterKind, BatchLoad, BuildOutcome, ColumnInfo, Connection, CsvLoad,
    IncrementalStrategy, Materialization, MaterializeRequest, QueryResult, RelationKind,
    RelationRef, SliceSource,
};

const KIND: AdapterKind = AdapterKind::Duckdb;

/// How often a catalog write that lost a write-write conflict is retried.
const CONFLICT_RETRIES: usize = 5;

/// Temporary-table names must be unique within a connection; a process-wide
/// counter also keeps them apart between connections in logs.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An open DuckDB database file, shared by all workers.
pub struct DuckDbAdapter {
    path: Option<PathBuf>,
    /// The connection the workers' connections are cloned from. Behind a
    /// mutex only because `duckdb::Connection` is `Send` but not `Sync`.
    root: Mutex<duckdb::Connection>,
    catalog_lock: Arc<Mutex<()>>,
    known: Arc<Mutex<Option<KnownRelations>>>,
}

/// The relations and schemas of the database as sb last saw them, shared by
/// every connection of one adapter. Read from DuckDB's catalog once, then kept
/// up to date by the builds themselves, so a build asks no catalog query:
/// listing `duckdb_tables()` costs time in proportion to the number of
/// relations, and a project of a thousand models would pay it a thousand times.
/// Anything that may change the catalog behind sb's back (hooks, statements
/// run through `execute`, `run_query` with DDL) drops it, and it is read again
/// on the next lookup.
struct KnownRelations {
    default_database: String,
    relations: HashMap<RelationKey, RelationKind>,
    schemas: HashSet<(String, String)>,
}

/// Database, schema and name, lower-cased: DuckDB's identifiers ignore case.
type RelationKey = (String, String, String);

impl KnownRelations {
    fn read(conn: &duckdb::Connection) -> Result<Self, AdapterError> {
        let sql = "select current_database(), null, null, null \
             union all select database_name, schema_name, null, null from duckdb_schemas() where not internal or schema_name = 'main' \
             union all select database_name, schema_name, table_name, 'table' from duckdb_tables() where not temporary \
             union all select database_name, schema_name, view_name, 'view' from duckdb_views() where not internal and not temporary";
        let result = read_query(conn, sql, None)
            .map_err(|message| statement_error_message(&message, sql, Vec::new()))?;
        let mut known = Self {
            default_database: String::new(),
            relations: HashMap::new(),
            schemas: HashSet::new(),
        };
        for row in &result.rows {
            let text = |i: usize| {
                row.get(i)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_lowercase)
            };
            match (text(0), text(1), text(2), text(3).as_deref()) {
                (Some(database), None, None, None) => known.default_database = database,
                (Some(database), Some(schema), None, None) => {
                    known.schemas.insert((database, schema));
                }
                (Some(database), Some(schema), Some(name), Some(kind)) => {
                    let kind = if kind == "view" {
                        RelationKind::View
                    } else {
                        RelationKind::Table
                    };
                    known.relations.insert((database, schema, name), kind);
                }
                _ => {}
            }
        }
        Ok(known)
    }

    fn key(&self, relation: &RelationRef) -> RelationKey {
        (
            relation
                .database
                .as_deref()
                .map_or_else(|| self.default_database.clone(), str::to_lowercase),
            relation.schema.to_lowercase(),
            relation.identifier.to_lowercase(),
        )
    }

    fn schema_key(&self, relation: &RelationRef) -> (String, String) {
        let (database, schema, _) = self.key(relation);
        (database, schema)
    }
}

impl DuckDbAdapter {
    /// Opens (creating it and its parent folders when missing) a database file.
    pub fn open(path: &Path) -> Result<Self, AdapterError> {
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
        Ok(Self {
            path: Some(path.to_path_buf()),
            root: Mutex::new(root),
            catalog_lock: Arc::new(Mutex::new(())),
            known: Arc::new(Mutex::new(None)),
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
        })
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
    fn lock_known(&self) -> MutexGuard<'_, Option<KnownRelations>> {
        // The cache is rebuilt from the catalog when in doubt: a poisoned
        // lock is cleared rather than trusted.
        self.known.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    /// Runs `look` over the known relations, reading them first if needed.
    fn with_known<T>(
        &self,
        look: impl FnOnce(&mut KnownRelations) -> T,
    ) -> Result<T, AdapterError> {
        let mut guard = self.lock_known();
        let known = match guard.take() {
            Some(known) => known,
            None => KnownRelations::read(&self.conn)?,
        };
        Ok(look(guard.insert(known)))
    }

    fn known_kind(&self, relation: &RelationRef) -> Result<Option<RelationKind>, AdapterError> {
        self.with_known(|known| known.relations.get(&known.key(relation)).copied())
    }

    /// Records what a build left at `relation` (when the cache is loaded).
    fn remember(&self, relation: &RelationRef, kind: RelationKind) {
        if let Some(known) = self.lock_known().as_mut() {
            let key = known.key(relation);
            known.relations.insert(key, kind);
        }
    }

    /// Forgets the cache: the catalog may have changed in ways sb cannot see.
    fn forget_known(&self) {
        *self.lock_known() = None;
    }

    fn lock_catalog(&self) -> MutexGuard<'_, ()> {
        // A worker that panicked while holding the lock leaves nothing to
        // repair: the lock guards no data.
        self.catalog_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn session(&self) -> Session<'_> {
        Session {
            conn: &self.conn,
            sent: Vec::new(),
            in_transaction: false,
        }
    }

    fn build_view(&self, request: &MaterializeRequest) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, &request.relation)?;
        self.run_hooks(&mut session, &request.pre_hooks)?;
        let create = format!(
            "create or replace view {target} as\n{}",
            strip_trailing(&request.sql)
        );
        // One statement is atomic on its own; replacing a table takes a
        // transaction so that a failed view keeps the table.
        if self.known_kind(&request.relation)? == Some(RelationKind::Table) {
            session.in_transaction(|session| {
                session.run(format!("drop table {target}"))?;
                session.run(create)
            })?;
        } else {
            session.run(create)?;
        }
        self.remember(&request.relation, RelationKind::View);
        self.run_hooks(&mut session, &request.post_hooks)?;
        Ok(session.finish(None, "CREATE VIEW".to_owned()))
    }

    /// Builds `select_sql` (a full SELECT, or a `read_csv` scan) into the
    /// table. `create or replace table ... as` is one atomic statement: when
    /// the query fails, DuckDB rolls it back and the previous table stays. A
    /// view in the way is dropped in the same transaction as the create.
    fn build_table(
        &self,
        relation: &RelationRef,
        select_sql: &str,
        pre_hooks: &[String],
        post_hooks: &[String],
        verb: &str,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, relation)?;
        self.run_hooks(&mut session, pre_hooks)?;
        let existing = self.known_kind(relation)?;
        let create = format!(
            "create {}table {target} as\n{}",
            if existing.is_some() {
                "or replace "
            } else {
                ""
            },
            strip_trailing(select_sql)
        );
        let created = if existing == Some(RelationKind::View) {
            session.in_transaction(|session| {
                session.run(format!("drop view {target}"))?;
                session.run(create)
            })?
        } else {
            session.run(create)?
        };
        self.remember(relation, RelationKind::Table);
        let rows = match created {
            Some(rows) => rows,
            None => session.count_rows(&target)?,
        };
        self.run_hooks(&mut session, post_hooks)?;
        Ok(session.finish(Some(rows), format!("{verb} ({})", plural_rows(rows))))
    }

    /// Runs hooks; they may create or drop anything, so the known relations
    /// are read again afterwards.
    fn run_hooks(&self, session: &mut Session<'_>, hooks: &[String]) -> Result<(), AdapterError> {
        if hooks.iter().all(|h| h.trim().is_empty()) {
            return Ok(());
        }
        let ran = session.run_hooks(hooks);
        self.forget_known();
        ran
    }

    fn build_incremental(
        &self,
        request: &MaterializeRequest,
        strategy: IncrementalStrategy,
        unique_key: &[String],
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let tmp_name = format!(
            "sb_incr_{}_{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Temporary tables live in the connection's private `temp` catalog,
        // so the unqualified name cannot collide with another worker's.
        let tmp = format!("temp.main.{}", KIND.quote(&tmp_name));
        let mut session = self.session();
        self.ensure_schema(&mut session, &request.relation)?;
        self.run_hooks(&mut session, &request.pre_hooks)?;

        session.run(format!(
            "create temp table {} as\n{}",
            KIND.quote(&tmp_name),
            strip_trailing(&request.sql)
        ))?;

        let applied = session.temp_columns(&tmp_name).and_then(|columns| {
            let key = unique_key.iter().map(|k| KIND.quote(k)).collect::<Vec<_>>();
            session.in_transaction(|session| match strategy {
                IncrementalStrategy::Merge if !key.is_empty() => {
                    let rows = session.run(merge_sql(&target, &tmp, &columns, &key))?;
                    Ok((rows, "MERGE"))
                }
                IncrementalStrategy::DeleteInsert if !key.is_empty() => {
                    let matches = key
                        .iter()
                        .map(|k| format!("\"sb_src\".{k} = \"sb_dst\".{k}"))
                        .collect::<Vec<_>>()
                        .join(" and ");
                    session.run(format!(
                        "delete from {target} as \"sb_dst\" where exists (select 1 from {tmp} as \"sb_src\" where {matches})"
                    ))?;
                    let rows =
                        session.run(format!("insert into {target} by name select * from {tmp}"))?;
                    Ok((rows, "DELETE+INSERT"))
                }
                _ => {
                    // `append`, and a merge or delete+insert without a key
                    // (nothing can match, so every row is new).
                    let rows =
                        session.run(format!("insert into {target} by name select * from {tmp}"))?;
                    Ok((rows, "INSERT"))
                }
            })
        });

        let (rows, verb) = match applied {
            Ok(done) => done,
            Err(err) => {
                session.quiet(&format!("drop table if exists {tmp}"));
                return Err(err);
            }
        };
        session.run(format!("drop table if exists {tmp}"))?;
        self.run_hooks(&mut session, &request.post_hooks)?;
        let message = match rows {
            Some(n) => format!("{verb} ({})", plural_rows(n)),
            None => verb.to_owned(),
        };
        Ok(session.finish(rows, message))
    }

    /// A load of rows produced in sb: the table is created (or replaced,
    /// a view in the way dropped) unless appending, and `fill` adds the rows,
    /// all in one transaction so that a failure keeps the previous table.
    /// `fill` gets the rendered target and returns the rows it wrote.
    fn load_rows(
        &self,
        load: &BatchLoad,
        fill: impl FnOnce(&mut Session<'_>, &str) -> Result<u64, AdapterError>,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&load.relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, &load.relation)?;
        let existing = self.known_kind(&load.relation)?;
        if load.append && existing != Some(RelationKind::Table) {
            return Err(AdapterError::new(format!(
                "cannot append to {target}: it does not exist as a table yet"
            )));
        }
        let rows = session.in_transaction(|session| {
            if !load.append {
                if existing == Some(RelationKind::View) {
                    session.run(format!("drop view {target}"))?;
                }
                session.run(format!(
                    "create or replace table {target} ({})",
                    column_definitions(&load.schema)
                ))?;
            }
            fill(session, &target)
        })?;
        self.remember(&load.relation, RelationKind::Table);
        let verb = if load.append { "APPEND" } else { "LOAD" };
        Ok(session.finish(Some(rows), format!("{verb} ({})", plural_rows(rows))))
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

impl DuckDbConnection {
    /// Reads a CSV file the way `load_csv` does (DuckDB's type inference;
    /// `types` forces some columns) into Arrow batches, for other
    /// warehouses' loads.
    pub fn read_csv_arrow(
        &self,
        path: &Path,
        types: &[(String, String)],
    ) -> Result<(duckdb::arrow::datatypes::SchemaRef, Vec<RecordBatch>), AdapterError> {
        let scan = format!(
            "select * from read_csv({}, {})",
            literal(&path.to_string_lossy()),
            csv_options(types)
        );
        let failed = |err: &duckdb::Error| statement_error(err, &scan, vec![scan.clone()]);
        let mut stmt = self.conn.prepare(&scan).map_err(|e| failed(&e))?;
        let arrow = stmt.query_arrow([]).map_err(|e| failed(&e))?;
        let schema = arrow.get_schema();
        Ok((schema, arrow.collect()))
    }
}

/// `read_csv`'s options for a seed: header, inference, forced types.
fn csv_options(types: &[(String, String)]) -> String {
    let mut options = String::from("header = true, auto_detect = true");
    if !types.is_empty() {
        let types = types
            .iter()
            .map(|(column, data_type)| format!("{}: {}", literal(column), literal(data_type)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(options, ", types = {{{types}}}");
    }
    options
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
        read_query(&self.conn, sql, limit)
            .map_err(|message| statement_error_message(&message, sql, vec![sql.to_owned()]))
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
        match &request.materialization {
            Materialization::View => self.build_view(request),
            Materialization::Table => self.build_table(
                &request.relation,
                &request.sql,
                &request.pre_hooks,
                &request.post_hooks,
                "CREATE TABLE",
            ),
            Materialization::Incremental {
                strategy,
                unique_key,
                full_refresh,
            } => {
                if *strategy == IncrementalStrategy::InsertOverwrite {
                    return Err(AdapterError::new(
                        "incremental_strategy `insert_overwrite` is only supported on BigQuery; \
                         use `merge`, `append` or `delete+insert` on DuckDB",
                    ));
                }
                let existing = self.known_kind(&request.relation)?;
                if *full_refresh || existing != Some(RelationKind::Table) {
                    self.build_table(
                        &request.relation,
                        &request.sql,
                        &request.pre_hooks,
                        &request.post_hooks,
                        "CREATE TABLE",
                    )
                } else {
                    self.build_incremental(request, *strategy, unique_key)
                }
            }
        }
    }

    fn load_batches(
        &mut self,
        load: &BatchLoad,
        batches: &mut dyn Iterator<Item = RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError> {
        self.load_rows(load, |session, target| {
            let mut appender = match load.relation.database.as_deref() {
                Some(catalog) => session.conn.appender_to_catalog_and_db(
                    &load.relation.identifier,
                    catalog,
                    &load.relation.schema,
                ),
                None => session
                    .conn
                    .appender_to_db(&load.relation.identifier, &load.relation.schema),
            }
            .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            let mut rows = 0_u64;
            for batch in batches {
                rows += batch.num_rows() as u64;
                appender
                    .append_record_batch(batch)
                    .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            }
            appender
                .flush()
                .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            session.sent.push(format!(
                "-- appended {rows} rows to {target} (Arrow record batches)"
            ));
            Ok(rows)
        })
    }

    /// DuckDB pulls the slices itself, through a table function, on all its
    /// threads: generating, converting and compressing run in parallel,
    /// where the appender of `load_batches` converts on one thread.
    fn load_slices(
        &mut self,
        load: &BatchLoad,
        source: Arc<dyn SliceSource>,
    ) -> Result<BuildOutcome, AdapterError> {
        // A function registered twice on one connection is an error: the
        // first registration stays and serves every later load.
        let _ = self
            .conn
            .register_table_function::<SliceScan>(SLICE_SCAN_FUNCTION);
        let token = slice_sources::register(source);
        let loaded = self.load_rows(load, |session, target| {
            // Slices land in whatever order the threads finish them (the
            // rows are the same): keeping the scan order would serialise
            // the insert.
            session.run("set preserve_insertion_order = false".to_owned())?;
            let inserted = session.run(format!(
                "insert into {target} select * from {SLICE_SCAN_FUNCTION}({token})"
            ));
            session.quiet("reset preserve_insertion_order");
            Ok(inserted?.unwrap_or(0))
        });
        slice_sources::unregister(token);
        loaded
    }

    fn load_csv(&mut self, load: &CsvLoad) -> Result<BuildOutcome, AdapterError> {
        let scan = format!(
            "select * from read_csv({}, {})",
            literal(&load.path.to_string_lossy()),
            csv_options(&load.column_types)
        );
        self.build_table(&load.relation, &scan, &[], &[], "LOAD CSV")
    }
}

/// The statements of one build, recorded as they are sent.
struct Session<'a> {
    conn: &'a duckdb::Connection,
    sent: Vec<String>,
    /// Whether a `begin transaction` is open (the driver cannot tell).
    in_transaction: bool,
}

impl Session<'_> {
    /// Sends one statement and records it; a failure carries every statement
    /// sent so far, the failing one last.
    fn run(&mut self, sql: String) -> Result<Option<u64>, AdapterError> {
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

    fn run_hooks(&mut self, hooks: &[String]) -> Result<(), AdapterError> {
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
    fn quiet(&self, sql: &str) {
        let _ = self.conn.execute_batch(sql);
    }

    /// Runs `work` between `begin` and `commit`, rolling back when it fails.
    fn in_transaction<T>(
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

    fn count_rows(&mut self, relation: &str) -> Result<u64, AdapterError> {
        let sql = format!("select count(*) from {relation}");
        let result = read_query(self.conn, &sql, Some(1));
        self.sent.push(sql.clone());
        let result =
            result.map_err(|message| statement_error_message(&message, &sql, self.sent.clone()))?;
        Ok(result
            .rows
            .first()
            .and_then(|row| row.first())
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0))
    }

    fn temp_columns(&self, table: &str) -> Result<Vec<String>, AdapterError> {
        let sql = format!(
            "select column_name from duckdb_columns() where database_name = 'temp' and schema_name = 'main' and table_name = {} order by column_index",
            literal(table)
        );
        let result = read_query(self.conn, &sql, None)
            .map_err(|message| statement_error_message(&message, &sql, self.sent.clone()))?;
        Ok(result
            .rows
            .iter()
            .filter_map(|row| row.first().and_then(serde_json::Value::as_str))
            .map(|name| KIND.quote(name))
            .collect())
    }

    fn finish(self, rows_affected: Option<u64>, message: String) -> BuildOutcome {
        BuildOutcome {
            statements: self.sent,
            rows_affected,
            message,
        }
    }
}

fn merge_sql(target: &str, tmp: &str, columns: &[String], key: &[String]) -> String {
    let on = key
        .iter()
        .map(|k| format!("\"sb_dst\".{k} = \"sb_src\".{k}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let updates = columns
        .iter()
        .filter(|c| !key.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .map(|c| format!("{c} = \"sb_src\".{c}"))
        .collect::<Vec<_>>();
    let mut sql =
        format!("merge into {target} as \"sb_dst\"\nusing {tmp} as \"sb_src\"\non ({on})");
    if !updates.is_empty() {
        let _ = write!(sql, "\nwhen matched then update set {}", updates.join(", "));
    }
    let values = columns
        .iter()
        .map(|c| format!("\"sb_src\".{c}"))
        .collect::<Vec<_>>();
    let _ = write!(
        sql,
        "\nwhen not matched then insert ({}) values ({})",
        columns.join(", "),
        values.join(", ")
    );
    sql
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

/// The table function through which DuckDB pulls a [`SliceSource`].
const SLICE_SCAN_FUNCTION: &str = "sb_slices";

/// Slice sources being loaded, by the token their scan is called with: the
/// table function's bind step finds its source here (a plain number crosses
/// DuckDB's C interface; a Rust reference cannot).
mod slice_sources {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};

    use super::SliceSource;

    static SOURCES: LazyLock<Mutex<HashMap<u64, Arc<dyn SliceSource>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    static NEXT: AtomicU64 = AtomicU64::new(1);

    pub fn register(source: Arc<dyn SliceSource>) -> u64 {
        let token = NEXT.fetch_add(1, Ordering::Relaxed);
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, source);
        token
    }

    pub fn get(token: u64) -> Option<Arc<dyn SliceSource>> {
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
            .cloned()
    }

    pub fn unregister(token: u64) {
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
    }
}

/// `sb_slices(token)`: a parallel scan of a registered [`SliceSource`], one
/// slice per call, slices handed out by an atomic counter.
struct SliceScan;

struct SliceScanBind {
    source: Arc<dyn SliceSource>,
}

struct SliceScanState {
    next: AtomicU64,
}

impl duckdb::vtab::VTab for SliceScan {
    type InitData = SliceScanState;
    type BindData = SliceScanBind;

    fn bind(bind: &duckdb::vtab::BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let token = bind.get_parameter(0).to_int64();
        let source = u64::try_from(token)
            .ok()
            .and_then(slice_sources::get)
            .ok_or_else(|| format!("no slice source is registered as {token}"))?;
        for field in source.schema().fields() {
            bind.add_result_column(
                field.name(),
                duckdb::vtab::to_duckdb_logical_type_for_field(field)?,
            );
        }
        Ok(SliceScanBind { source })
    }

    fn init(init: &duckdb::vtab::InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        init.set_max_threads(u64::MAX / 2);
        Ok(SliceScanState {
            next: AtomicU64::new(0),
        })
    }

    fn func(
        function: &duckdb::vtab::TableFunctionInfo<Self>,
        output: &mut duckdb::core::DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let source = &function.get_bind_data().source;
        let index = function
            .get_init_data()
            .next
            .fetch_add(1, Ordering::Relaxed);
        match usize::try_from(index) {
            Ok(index) if index < source.slice_count() => {
                duckdb::vtab::record_batch_to_duckdb_data_chunk(&source.slice(index), output)?;
            }
            _ => output.set_len(0),
        }
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)])
    }
}

/// `name TYPE, ...` for a table with an Arrow schema's columns.
fn column_definitions(schema: &duckdb::arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|field| {
            format!(
                "{} {}",
                KIND.quote(field.name()),
                arrow_type_sql(field.data_type())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// DuckDB's spelling of the Arrow types the synthesizer produces.
fn arrow_type_sql(data_type: &duckdb::arrow::datatypes::DataType) -> String {
    use duckdb::arrow::datatypes::DataType;
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|f| format!("{} {}", KIND.quote(f.name()), arrow_type_sql(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("{}[]", arrow_type_sql(item.data_type()))
        }
        _ => "VARCHAR".into(),
    }
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

fn is_conflict(message: &str) -> bool {
    message.contains("write-write conflict") || message.contains("Transaction conflict")
}

/// Runs one or more statements; the rows changed by the last one when it is
/// DML or `create table as` (DuckDB answers those with a single `Count` column).
fn execute_sql(conn: &duckdb::Connection, sql: &str) -> duckdb::Result<Option<u64>> {
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
fn only_reads(sql: &str) -> bool {
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

/// DuckDB's own message for an error, without the crate's wrapping.
fn duckdb_message(err: &duckdb::Error) -> String {
    match err {
        duckdb::Error::DuckDBFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    }
}

fn statement_error(err: &duckdb::Error, sql: &str, statements: Vec<String>) -> AdapterError {
    statement_error_message(&duckdb_message(err), sql, statements)
}

fn statement_error_message(message: &str, sql: &str, statements: Vec<String>) -> AdapterError {
    AdapterError {
        message: one_line(message, Some(sql)),
        statement: Some(sql.to_owned()),
        statements,
    }
}

/// Folds DuckDB's multi-line message into one line. The `LINE n: <excerpt>`
/// part is kept, and the caret line under it becomes `(column c)`: the
/// 1-based column in line `n` of the statement.
fn one_line(message: &str, statement: Option<&str>) -> String {
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

/// Runs a query and converts its rows; errors come back as DuckDB's message.
fn read_query(
    conn: &duckdb::Connection,
    sql: &str,
    limit: Option<usize>,
) -> Result<QueryResult, String> {
    let mut stmt = conn.prepare(sql).map_err(|err| duckdb_message(&err))?;
    let plain: Vec<bool> = (0..stmt.column_count())
        .map(|idx| decodable(&stmt.column_logical_type(idx)))
        .collect();
    if plain.contains(&false) {
        // The driver cannot decode some types (it would panic): let DuckDB
        // render those columns as text instead.
        drop(stmt);
        let wrapped = cast_undecodable(conn, sql, &plain)?;
        stmt = conn.prepare(&wrapped).map_err(|err| duckdb_message(&err))?;
    }
    let mut rows = stmt.query([]).map_err(|err| duckdb_message(&err))?;
    let (columns, shapes) = match rows.as_ref() {
        Some(executed) => {
            let count = executed.column_count();
            let mut columns = Vec::with_capacity(count);
            let mut shapes = Vec::with_capacity(count);
            for idx in 0..count {
                let logical = executed.column_logical_type(idx);
                columns.push(ColumnInfo {
                    name: executed.column_name(idx).cloned().unwrap_or_default(),
                    data_type: type_name(&logical),
                });
                shapes.push(Shape::of(&logical));
            }
            (columns, shapes)
        }
        None => (Vec::new(), Vec::new()),
    };
    let max = limit.unwrap_or(usize::MAX);
    let decoded = catch_unwind(AssertUnwindSafe(
        || -> Result<Vec<Vec<serde_json::Value>>, String> {
            let mut out = Vec::new();
            while out.len() < max {
                let Some(row) = rows.next().map_err(|err| duckdb_message(&err))? else {
                    break;
                };
                let mut values = Vec::with_capacity(shapes.len());
                for (idx, shape) in shapes.iter().enumerate() {
                    let value: Value = row.get(idx).map_err(|err| duckdb_message(&err))?;
                    values.push(to_json(&value, Some(shape)));
                }
                out.push(values);
            }
            Ok(out)
        },
    ));
    let rows = match decoded {
        Ok(rows) => rows?,
        Err(_) => {
            return Err(format!(
                "cannot read the result of this query: a column has a type the DuckDB driver cannot decode ({}); cast it to VARCHAR",
                columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.data_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    Ok(QueryResult { columns, rows })
}

/// Wraps a query so that the columns the driver cannot decode (`plain[i]`
/// false) come back as text. The subquery's columns are renamed by position,
/// so duplicate output names stay apart.
fn cast_undecodable(
    conn: &duckdb::Connection,
    sql: &str,
    plain: &[bool],
) -> Result<String, String> {
    let body = strip_trailing(sql);
    let mut describe = conn
        .prepare(&format!("describe\n{body}"))
        .map_err(|err| duckdb_message(&err))?;
    let names: Vec<String> = describe
        .query_map([], |row| row.get(0))
        .map_err(|err| duckdb_message(&err))?
        .collect::<duckdb::Result<_>>()
        .map_err(|err| duckdb_message(&err))?;
    let positions = (1..=names.len())
        .map(|idx| format!("\"sb_c{idx}\""))
        .collect::<Vec<_>>();
    let select = names
        .iter()
        .zip(&positions)
        .enumerate()
        .map(|(idx, (name, position))| {
            let alias = KIND.quote(name);
            if plain.get(idx).copied().unwrap_or(false) {
                format!("{position} as {alias}")
            } else {
                format!("cast({position} as varchar) as {alias}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "select {select} from (\n{body}\n) as \"sb_q\"({})",
        positions.join(", ")
    ))
}

/// Whether the driver can turn values of this type into Rust values.
fn decodable(ty: &LogicalTypeHandle) -> bool {
    match ty.id() {
        LogicalTypeId::Boolean
        | LogicalTypeId::Tinyint
        | LogicalTypeId::Smallint
        | LogicalTypeId::Integer
        | LogicalTypeId::Bigint
        | LogicalTypeId::UTinyint
        | LogicalTypeId::USmallint
        | LogicalTypeId::UInteger
        | LogicalTypeId::UBigint
        | LogicalTypeId::Float
        | LogicalTypeId::Double
        | LogicalTypeId::Timestamp
        | LogicalTypeId::Date
        | LogicalTypeId::Time
        | LogicalTypeId::Interval
        | LogicalTypeId::Hugeint
        | LogicalTypeId::UHugeint
        | LogicalTypeId::Varchar
        | LogicalTypeId::Blob
        | LogicalTypeId::Decimal
        | LogicalTypeId::TimestampS
        | LogicalTypeId::TimestampMs
        | LogicalTypeId::TimestampNs
        | LogicalTypeId::TimestampTZ
        | LogicalTypeId::Enum
        | LogicalTypeId::Uuid => true,
        LogicalTypeId::List
        | LogicalTypeId::Array
        | LogicalTypeId::Struct
        | LogicalTypeId::Map
        | LogicalTypeId::Union => (0..ty.num_children()).all(|idx| decodable(&ty.child(idx))),
        _ => false,
    }
}

/// DuckDB's name for a type, as `typeof()` would print it.
fn type_name(ty: &LogicalTypeHandle) -> String {
    if let Some(alias) = ty.get_alias() {
        return alias;
    }
    let id = ty.id();
    let simple = match id {
        LogicalTypeId::Boolean => "BOOLEAN",
        LogicalTypeId::Tinyint => "TINYINT",
        LogicalTypeId::Smallint => "SMALLINT",
        LogicalTypeId::Integer => "INTEGER",
        LogicalTypeId::Bigint => "BIGINT",
        LogicalTypeId::UTinyint => "UTINYINT",
        LogicalTypeId::USmallint => "USMALLINT",
        LogicalTypeId::UInteger => "UINTEGER",
        LogicalTypeId::UBigint => "UBIGINT",
        LogicalTypeId::Float => "FLOAT",
        LogicalTypeId::Double => "DOUBLE",
        LogicalTypeId::Timestamp => "TIMESTAMP",
        LogicalTypeId::Date => "DATE",
        LogicalTypeId::Time => "TIME",
        LogicalTypeId::Interval => "INTERVAL",
        LogicalTypeId::Hugeint => "HUGEINT",
        LogicalTypeId::UHugeint => "UHUGEINT",
        LogicalTypeId::Varchar => "VARCHAR",
        LogicalTypeId::Blob => "BLOB",
        LogicalTypeId::TimestampS => "TIMESTAMP_S",
        LogicalTypeId::TimestampMs => "TIMESTAMP_MS",
        LogicalTypeId::TimestampNs => "TIMESTAMP_NS",
        LogicalTypeId::Enum => "ENUM",
        LogicalTypeId::Uuid => "UUID",
        LogicalTypeId::Bit => "BIT",
        LogicalTypeId::TimeTZ => "TIME WITH TIME ZONE",
        LogicalTypeId::TimestampTZ => "TIMESTAMP WITH TIME ZONE",
        LogicalTypeId::Bignum => "BIGNUM",
        LogicalTypeId::SqlNull => "NULL",
        LogicalTypeId::TimeNs => "TIME_NS",
        LogicalTypeId::Geometry => "GEOMETRY",
        LogicalTypeId::Variant => "VARIANT",
        LogicalTypeId::Decimal => {
            return format!("DECIMAL({},{})", ty.decimal_width(), ty.decimal_scale());
        }
        // The driver does not expose an ARRAY's size: it prints as a LIST.
        LogicalTypeId::List | LogicalTypeId::Array => {
            return format!("{}[]", type_name(&ty.child(0)));
        }
        LogicalTypeId::Map => {
            return format!(
                "MAP({}, {})",
                type_name(&ty.child(0)),
                type_name(&ty.child(1))
            );
        }
        LogicalTypeId::Struct | LogicalTypeId::Union => {
            let fields = (0..ty.num_children())
                .map(|idx| {
                    format!(
                        "{} {}",
                        field_name(&ty.child_name(idx)),
                        type_name(&ty.child(idx))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let keyword = if id == LogicalTypeId::Struct {
                "STRUCT"
            } else {
                "UNION"
            };
            return format!("{keyword}({fields})");
        }
        _ => "UNKNOWN",
    };
    simple.to_owned()
}

/// A struct field name as DuckDB prints it: bare when it is a plain
/// lower-case identifier, double-quoted otherwise.
fn field_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        KIND.quote(name)
    }
}

/// What a value's conversion needs to know about its column's type beyond
/// the value itself: whether a timestamp is zoned, recursively.
struct Shape {
    zoned: bool,
    children: Vec<Shape>,
}

impl Shape {
    fn of(ty: &LogicalTypeHandle) -> Self {
        let id = ty.id();
        let children = match id {
            LogicalTypeId::List
            | LogicalTypeId::Array
            | LogicalTypeId::Struct
            | LogicalTypeId::Map
            | LogicalTypeId::Union => (0..ty.num_children())
                .map(|idx| Self::of(&ty.child(idx)))
                .collect(),
            _ => Vec::new(),
        };
        Self {
            zoned: id == LogicalTypeId::TimestampTZ,
            children,
        }
    }
}

fn to_json(value: &Value, shape: Option<&Shape>) -> serde_json::Value {
    use serde_json::Value as J;
    let child = |idx: usize| shape.and_then(|s| s.children.get(idx));
    match value {
        Value::Boolean(b) => J::Bool(*b),
        Value::TinyInt(n) => J::from(*n),
        Value::SmallInt(n) => J::from(*n),
        Value::Int(n) => J::from(*n),
        Value::BigInt(n) => J::from(*n),
        Value::UTinyInt(n) => J::from(*n),
        Value::USmallInt(n) => J::from(*n),
        Value::UInt(n) => J::from(*n),
        Value::UBigInt(n) => J::from(*n),
        Value::HugeInt(n) => i64::try_from(*n).map_or_else(|_| J::String(n.to_string()), J::from),
        Value::UHugeInt(n) => u64::try_from(*n).map_or_else(|_| J::String(n.to_string()), J::from),
        Value::Float(f) => float_json(f64::from(*f)),
        Value::Double(f) => float_json(*f),
        Value::Decimal(d) => decimal_json(*d),
        Value::Timestamp(unit, v) => {
            J::String(format_timestamp(*unit, *v, shape.is_some_and(|s| s.zoned)))
        }
        Value::Text(s) | Value::Enum(s) => J::String(s.clone()),
        Value::Blob(bytes) | Value::Geometry(bytes) => J::String(escape_blob(bytes)),
        Value::Date32(days) => J::String(format_date(*days)),
        Value::Time64(unit, v) => J::String(format_time(*unit, *v)),
        Value::Interval {
            months,
            days,
            nanos,
        } => J::String(format_interval(*months, *days, *nanos)),
        Value::List(items) | Value::Array(items) => {
            J::Array(items.iter().map(|item| to_json(item, child(0))).collect())
        }
        Value::Struct(fields) => J::Object(
            fields
                .iter()
                .enumerate()
                .map(|(idx, (name, item))| (name.clone(), to_json(item, child(idx))))
                .collect(),
        ),
        Value::Map(entries) => {
            let keys_are_text = entries.keys().all(|k| matches!(k, Value::Text(_)));
            if keys_are_text {
                J::Object(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                Value::Text(s) => s.clone(),
                                _ => String::new(),
                            };
                            (key, to_json(v, child(1)))
                        })
                        .collect(),
                )
            } else {
                J::Array(
                    entries
                        .iter()
                        .map(|(k, v)| serde_json::json!({"key": to_json(k, child(0)), "value": to_json(v, child(1))}))
                        .collect(),
                )
            }
        }
        Value::Union(inner) => to_json(inner, None),
        _ => J::Null,
    }
}

fn float_json(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or_else(
        || serde_json::Value::String(f.to_string()),
        serde_json::Value::Number,
    )
}

fn decimal_json(d: Decimal) -> serde_json::Value {
    if d.scale() == 0
        && let Ok(n) = i64::try_from(d.value())
    {
        return serde_json::Value::from(n);
    }
    let text = d.to_string();
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::String(text), serde_json::Value::Number)
}

/// `(year, month, day)` of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn format_date(days: i32) -> String {
    // DuckDB's infinite dates.
    if days == i32::MAX {
        return "infinity".to_owned();
    }
    if days == -i32::MAX {
        return "-infinity".to_owned();
    }
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

fn nanos_per(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// `.ffffff` without trailing zeros, empty for whole seconds.
fn fraction(nanos: i64) -> String {
    if nanos == 0 {
        return String::new();
    }
    let digits = format!("{nanos:09}");
    format!(".{}", digits.trim_end_matches('0'))
}

fn format_timestamp(unit: TimeUnit, value: i64, zoned: bool) -> String {
    if value == i64::MAX {
        return "infinity".to_owned();
    }
    if value == -i64::MAX {
        return "-infinity".to_owned();
    }
    let per_second = 1_000_000_000 / nanos_per(unit);
    let seconds = value.div_euclid(per_second);
    let nanos = value.rem_euclid(per_second) * nanos_per(unit);
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let zone = if zoned { "Z" } else { "" };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}{zone}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        fraction(nanos)
    )
}

fn format_time(unit: TimeUnit, value: i64) -> String {
    let total = i128::from(value) * i128::from(nanos_per(unit));
    let seconds = (total / 1_000_000_000) as i64;
    let nanos = (total % 1_000_000_000) as i64;
    format!(
        "{:02}:{:02}:{:02}{}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        fraction(nanos)
    )
}

/// An interval as DuckDB prints it: `1 year 2 months 3 days 04:05:06.5`.
fn format_interval(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, "year"), (months, "month"), (days, "day")] {
        if n != 0 {
            let s = if n.abs() == 1 { "" } else { "s" };
            parts.push(format!("{n} {unit}{s}"));
        }
    }
    if nanos != 0 || parts.is_empty() {
        let sign = if nanos < 0 { "-" } else { "" };
        let abs = nanos.unsigned_abs();
        let seconds = abs / 1_000_000_000;
        let frac = (abs % 1_000_000_000) as i64;
        parts.push(format!(
            "{sign}{:02}:{:02}:{:02}{}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60,
            fraction(frac)
        ));
    }
    parts.join(" ")
}

/// A blob as DuckDB prints it: printable ASCII as is, other bytes as `\xNN`.
fn escape_blob(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value as J, json};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A database file in its own temporary folder, removed on drop.
    struct TempDb {
        dir: PathBuf,
        adapter: DuckDbAdapter,
    }

    impl TempDb {
        fn new(name: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "sb-duckdb-{name}-{}-{nanos}-{}",
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let adapter =
                DuckDbAdapter::open(&dir.join("nested").join("dev.duckdb")).expect("open database");
            Self { dir, adapter }
        }

        fn conn(&self) -> DuckDbConnection {
            self.adapter.connect_duckdb().expect("connect")
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn rel(schema: &str, identifier: &str) -> RelationRef {
        RelationRef {
            database: None,
            schema: schema.to_owned(),
            identifier: identifier.to_owned(),
        }
    }

    fn request(
        relation: &RelationRef,
        sql: &str,
        materialization: Materialization,
    ) -> MaterializeRequest {
        MaterializeRequest {
            relation: relation.clone(),
            sql: sql.to_owned(),
            materialization,
            pre_hooks: Vec::new(),
            post_hooks: Vec::new(),
            config: serde_json::Map::new(),
        }
    }

    fn incremental(
        strategy: IncrementalStrategy,
        keys: &[&str],
        full_refresh: bool,
    ) -> Materialization {
        Materialization::Incremental {
            strategy,
            unique_key: keys.iter().map(|k| (*k).to_owned()).collect(),
            full_refresh,
        }
    }

    fn rows(conn: &mut DuckDbConnection, sql: &str) -> Vec<Vec<J>> {
        conn.query(sql, None).expect("query").rows
    }

    /// Every relation whose name marks it as a leftover temporary.
    fn leftovers(conn: &mut DuckDbConnection) -> Vec<Vec<J>> {
        rows(
            conn,
            "select table_name from duckdb_tables() where table_name like '%sb_tmp%' or table_name like 'sb_incr%' \
             union all select view_name from duckdb_views() where view_name like '%sb_tmp%'",
        )
    }

    #[test]
    fn open_creates_parent_folders_and_reports_duckdb_kind() {
        let db = TempDb::new("open");
        assert!(db.dir.join("nested").join("dev.duckdb").exists());
        assert_eq!(db.adapter.kind(), AdapterKind::Duckdb);
        let mut conn = db.adapter.connect().expect("connect");
        let result = conn.query("select 42 as answer", None).expect("query");
        assert_eq!(result.rows, vec![vec![json!(42)]]);
        assert_eq!(
            result.columns,
            vec![ColumnInfo {
                name: "answer".to_owned(),
                data_type: "INTEGER".to_owned()
            }]
        );
    }

    #[test]
    fn execute_reports_rows_changed_and_runs_several_statements() {
        let db = TempDb::new("execute");
        let mut conn = db.conn();
        assert_eq!(
            conn.execute("create table t (a int); insert into t values (1), (2), (3)")
                .expect("batch"),
            Some(3)
        );
        assert_eq!(
            conn.execute("update t set a = a + 1 where a > 1")
                .expect("update"),
            Some(2)
        );
        assert_eq!(conn.execute("delete from t").expect("delete"), Some(3));
        assert_eq!(
            conn.execute("create view v as select 1").expect("ddl"),
            None
        );
        assert_eq!(conn.execute("-- only a comment").expect("comment"), None);
        assert_eq!(conn.execute("   ").expect("blank"), None);
        assert_eq!(conn.execute("/* c */ ; -- x\n").expect("comments"), None);
    }

    #[test]
    fn query_limit_caps_rows() {
        let db = TempDb::new("limit");
        let mut conn = db.conn();
        let result = conn
            .query("select * from range(100)", Some(7))
            .expect("query");
        assert_eq!(result.rows.len(), 7);
        assert_eq!(result.columns[0].data_type, "BIGINT");
        let empty = conn
            .query("select 1 as a where false", None)
            .expect("query");
        assert!(empty.rows.is_empty());
        assert_eq!(empty.columns.len(), 1);
    }

    #[test]
    fn query_converts_nested_and_temporal_values() {
        let db = TempDb::new("values");
        let mut conn = db.conn();
        let result = conn
            .query(
                "select {'a': 1, 'b': [1.5, null], 'c': {'d': 'x'}} as s, \
                 [1, 2, 3] as l, [{'k': 'v'}] as ls, \
                 date '2026-01-02' as d, timestamp '2026-01-02 03:04:05.25' as ts, \
                 timestamptz '2026-01-02 03:04:05+00' as tz, \
                 123.45::decimal(10, 2) as dec, 12::decimal(38, 0) as dec0, \
                 170141183460469231731687303715884105727::hugeint as huge, \
                 true as b, null as n, 'hi' as t, 2.5::double as f, \
                 time '10:11:12' as tm, interval '1 year 2 days 3 hours' as iv, \
                 map {'x': 1, 'y': 2} as m, '\\x01ab'::blob as bl, \
                 'a1b2c3d4-0000-4000-8000-000000000000'::uuid as u, \
                 [1, 2]::integer[2] as arr",
                None,
            )
            .expect("query");
        let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        let row = &result.rows[0];
        let get = |name: &str| {
            let idx = names.iter().position(|n| *n == name).expect("column");
            (row[idx].clone(), result.columns[idx].data_type.clone())
        };
        assert_eq!(
            get("s"),
            (
                json!({"a": 1, "b": [1.5, null], "c": {"d": "x"}}),
                "STRUCT(a INTEGER, b DECIMAL(2,1)[], c STRUCT(d VARCHAR))".to_owned()
            )
        );
        assert_eq!(get("l"), (json!([1, 2, 3]), "INTEGER[]".to_owned()));
        assert_eq!(get("ls").0, json!([{"k": "v"}]));
        assert_eq!(get("d"), (json!("2026-01-02"), "DATE".to_owned()));
        assert_eq!(
            get("ts"),
            (json!("2026-01-02T03:04:05.25"), "TIMESTAMP".to_owned())
        );
        assert_eq!(get("tz").0, json!("2026-01-02T03:04:05Z"));
        assert_eq!(get("dec"), (json!(123.45), "DECIMAL(10,2)".to_owned()));
        assert_eq!(get("dec0").0, json!(12));
        assert_eq!(
            get("huge").0,
            json!("170141183460469231731687303715884105727")
        );
        assert_eq!(get("b").0, json!(true));
        assert_eq!(get("n").0, J::Null);
        assert_eq!(get("t").0, json!("hi"));
        assert_eq!(get("f").0, json!(2.5));
        assert_eq!(get("tm").0, json!("10:11:12"));
        assert_eq!(get("iv").0, json!("1 year 2 days 03:00:00"));
        assert_eq!(get("m").0, json!({"x": 1, "y": 2}));
        assert_eq!(get("bl").0, json!("\\x01ab"));
        assert_eq!(get("u").0, json!("a1b2c3d4-0000-4000-8000-000000000000"));
        assert_eq!(get("arr").0, json!([1, 2]));
    }

    #[test]
    fn query_reads_types_the_driver_cannot_decode_as_text() {
        let db = TempDb::new("undecodable");
        let mut conn = db.conn();
        let result = conn
            .query(
                "select 1 as a, '101'::bit as b, timetz '10:00:00+02' as c, 'x' as b",
                None,
            )
            .expect("query");
        assert_eq!(result.rows[0][3], json!("x"));
        let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "b"]);
        assert_eq!(result.rows[0][0], json!(1));
        assert_eq!(result.rows[0][1], json!("101"));
        assert!(
            result.rows[0][2]
                .as_str()
                .is_some_and(|s| s.starts_with("10:00:00"))
        );
    }

    #[test]
    fn errors_are_one_line_with_position() {
        let db = TempDb::new("errors");
        let mut conn = db.conn();
        let err = conn
            .query("select 1,\n  nope from range(3)", None)
            .expect_err("fails");
        assert!(!err.message.contains('\n'), "{}", err.message);
        assert!(err.message.contains("LINE 2:"), "{}", err.message);
        assert!(err.message.contains("(column 3)"), "{}", err.message);
        assert_eq!(
            err.statement.as_deref(),
            Some("select 1,\n  nope from range(3)")
        );
    }

    #[test]
    fn error_column_is_found_in_truncated_lines() {
        let statement = format!("select {}nope", "x, ".repeat(40));
        let message = format!(
            "Binder Error: nope\n\nLINE 1: ...x, x, x, nope\n{}^",
            " ".repeat("LINE 1: ...x, x, x, ".len())
        );
        let line = one_line(&message, Some(&statement));
        let expected = statement.find("nope").expect("nope") + 1;
        assert!(line.ends_with(&format!("(column {expected})")), "{line}");
    }

    #[test]
    fn view_and_table_switch_kinds() {
        let db = TempDb::new("switch");
        let mut conn = db.conn();
        let model = rel("analytics", "m");

        let out = conn
            .materialize(&request(&model, "select 1 as id", Materialization::View))
            .expect("view");
        assert_eq!(
            conn.relation_kind(&model).expect("kind"),
            Some(RelationKind::View)
        );
        assert!(
            out.statements
                .iter()
                .any(|s| s.starts_with("create or replace view"))
        );

        let out = conn
            .materialize(&request(
                &model,
                "select * from range(5) t(id);",
                Materialization::Table,
            ))
            .expect("table");
        assert_eq!(
            conn.relation_kind(&model).expect("kind"),
            Some(RelationKind::Table)
        );
        assert_eq!(out.rows_affected, Some(5));
        assert_eq!(out.message, "CREATE TABLE (5 rows)");
        assert!(
            out.statements
                .iter()
                .any(|s| s == "drop view \"analytics\".\"m\"")
        );

        conn.materialize(&request(&model, "select 2 as id", Materialization::View))
            .expect("view again");
        assert_eq!(
            conn.relation_kind(&model).expect("kind"),
            Some(RelationKind::View)
        );
        assert_eq!(
            rows(&mut conn, "select id from analytics.m"),
            vec![vec![json!(2)]]
        );
        assert!(leftovers(&mut conn).is_empty());
        assert_eq!(
            conn.columns(&model).expect("columns"),
            vec![ColumnInfo {
                name: "id".to_owned(),
                data_type: "INTEGER".to_owned()
            }]
        );
        // DuckDB's identifiers ignore case, quoted or not; lookups do too.
        assert_eq!(
            conn.relation_kind(&rel("Analytics", "M")).expect("kind"),
            Some(RelationKind::View)
        );
        assert_eq!(
            conn.relation_kind(&rel("analytics", "other"))
                .expect("kind"),
            None
        );
    }

    #[test]
    fn failed_table_build_keeps_previous_table_and_no_temporary() {
        let db = TempDb::new("failure");
        let mut conn = db.conn();
        let model = rel("analytics", "orders");
        conn.materialize(&request(
            &model,
            "select * from range(3) t(id)",
            Materialization::Table,
        ))
        .expect("first build");

        // A bind error, a runtime error in the middle of the scan, and a
        // failing view over the table.
        for sql in [
            "select * from missing_table",
            "select case when id = 2 then cast('x' as integer) else id end as id from range(3) t(id)",
        ] {
            let err = conn
                .materialize(&request(&model, sql, Materialization::Table))
                .expect_err("must fail");
            assert!(err.statement.as_deref().is_some_and(|s| s.contains(sql)));
            assert_eq!(err.statements.last(), err.statement.as_ref());
            assert_eq!(
                rows(&mut conn, "select count(*) from analytics.orders"),
                vec![vec![json!(3)]]
            );
            assert!(leftovers(&mut conn).is_empty());
        }
        let err = conn
            .materialize(&request(&model, "select nope", Materialization::View))
            .expect_err("view fails");
        assert!(err.message.contains("nope"), "{}", err.message);
        assert_eq!(
            conn.relation_kind(&model).expect("kind"),
            Some(RelationKind::Table)
        );
        assert_eq!(
            rows(&mut conn, "select count(*) from analytics.orders"),
            vec![vec![json!(3)]]
        );
        assert_eq!(rows(&mut conn, "select 1"), vec![vec![json!(1)]]);
    }

    #[test]
    fn known_relations_follow_builds_and_statements_run_behind_them() {
        let db = TempDb::new("known");
        let mut first = db.conn();
        let mut second = db.conn();
        let model = rel("s", "m");
        assert_eq!(first.relation_kind(&model).expect("kind"), None);
        // A build on one connection is seen by the other without a reload.
        second
            .materialize(&request(&model, "select 1 as id", Materialization::Table))
            .expect("build");
        assert_eq!(
            first.relation_kind(&model).expect("kind"),
            Some(RelationKind::Table)
        );
        // DDL sent through `execute` or a writing query drops what is known.
        first
            .execute("drop table s.m; create view s.m as select 1 as id")
            .expect("ddl");
        assert_eq!(
            second.relation_kind(&model).expect("kind"),
            Some(RelationKind::View)
        );
        first.query("drop view s.m", None).expect("drop");
        assert_eq!(second.relation_kind(&model).expect("kind"), None);
        // A table built where the view stood replaces it.
        second
            .materialize(&request(&model, "select 2 as id", Materialization::Table))
            .expect("rebuild");
        assert_eq!(rows(&mut first, "select id from s.m"), vec![vec![json!(2)]]);
    }

    #[test]
    fn batch_loads_replace_or_append_atomically() {
        use duckdb::arrow::array::{ArrayRef, Int64Array, StringArray, StructArray};
        use duckdb::arrow::datatypes::{DataType, Field, Fields, Schema};

        let fields = Fields::from(vec![Field::new("score", DataType::Int64, false)]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("detail", DataType::Struct(fields.clone()), false),
        ]));
        let batch = |ids: Vec<i64>| {
            let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
            let detail = StructArray::new(
                fields.clone(),
                vec![Arc::new(Int64Array::from(
                    ids.iter().map(|i| i * 10).collect::<Vec<_>>(),
                )) as ArrayRef],
                None,
            );
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(ids)) as ArrayRef,
                    Arc::new(StringArray::from(names)),
                    Arc::new(detail),
                ],
            )
            .expect("batch")
        };
        let wrong = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![99])) as ArrayRef],
        )
        .expect("batch");

        let db = TempDb::new("batches");
        let mut conn = db.conn();
        let load = BatchLoad {
            relation: rel("raw", "things"),
            schema: Arc::clone(&schema),
            append: false,
        };
        let out = conn
            .load_batches(
                &load,
                &mut vec![batch(vec![1, 2]), batch(vec![3])].into_iter(),
            )
            .expect("load");
        assert_eq!(out.message, "LOAD (3 rows)");
        assert_eq!(
            rows(
                &mut conn,
                "select id, name, detail.score from raw.things order by id"
            ),
            vec![
                vec![json!(1), json!("n1"), json!(10)],
                vec![json!(2), json!("n2"), json!(20)],
                vec![json!(3), json!("n3"), json!(30)]
            ]
        );

        // A failure part-way, replacing or appending, changes nothing.
        for append in [false, true] {
            let load = BatchLoad {
                append,
                ..load.clone()
            };
            conn.load_batches(&load, &mut vec![batch(vec![7]), wrong.clone()].into_iter())
                .expect_err("bad batch");
            assert_eq!(
                rows(&mut conn, "select count(*), max(id) from raw.things"),
                vec![vec![json!(3), json!(3)]]
            );
        }
        let out = conn
            .load_batches(
                &BatchLoad {
                    append: true,
                    ..load.clone()
                },
                &mut vec![batch(vec![4])].into_iter(),
            )
            .expect("append");
        assert_eq!(out.message, "APPEND (1 row)");
        assert_eq!(
            rows(&mut conn, "select count(*) from raw.things"),
            vec![vec![json!(4)]]
        );
        let missing = BatchLoad {
            relation: rel("raw", "nothing"),
            append: true,
            ..load
        };
        let err = conn
            .load_batches(&missing, &mut std::iter::empty())
            .expect_err("nothing to append to");
        assert!(err.message.contains("does not exist"), "{}", err.message);
    }

    #[test]
    fn hooks_run_in_order_around_the_build() {
        let db = TempDb::new("hooks");
        let mut conn = db.conn();
        conn.execute("create table log (step varchar, n integer)")
            .expect("setup");
        let model = rel("main", "hooked");
        let mut req = request(&model, "select 1 as id", Materialization::Table);
        req.pre_hooks = vec!["insert into log values ('pre', 1)".to_owned()];
        req.post_hooks = vec![
            "insert into log select 'post', count(*) from main.hooked".to_owned(),
            "insert into log values ('post2', 3)".to_owned(),
        ];
        let out = conn.materialize(&req).expect("build");
        assert_eq!(
            rows(&mut conn, "select step, n from log order by rowid"),
            vec![
                vec![json!("pre"), json!(1)],
                vec![json!("post"), json!(1)],
                vec![json!("post2"), json!(3)]
            ]
        );
        let pre = out
            .statements
            .iter()
            .position(|s| s.contains("'pre'"))
            .expect("pre");
        let create = out
            .statements
            .iter()
            .position(|s| s.starts_with("create table"))
            .expect("create");
        let post = out
            .statements
            .iter()
            .position(|s| s.contains("'post'"))
            .expect("post");
        assert!(pre < create && create < post);
        assert!(out.statements.last().is_some_and(|s| s.contains("post2")));

        // Post-hooks do not run when the build fails.
        conn.execute("delete from log").expect("clear");
        req.sql = "select nope".to_owned();
        conn.materialize(&req).expect_err("fails");
        assert_eq!(
            rows(&mut conn, "select step from log"),
            vec![vec![json!("pre")]]
        );
    }

    #[test]
    fn incremental_first_run_and_full_refresh_build_tables() {
        let db = TempDb::new("incr-first");
        let mut conn = db.conn();
        let model = rel("analytics", "events");
        let out = conn
            .materialize(&request(
                &model,
                "select * from range(4) t(id)",
                incremental(IncrementalStrategy::Append, &[], false),
            ))
            .expect("first");
        assert_eq!(out.rows_affected, Some(4));
        conn.materialize(&request(
            &model,
            "select * from range(4, 6) t(id)",
            incremental(IncrementalStrategy::Append, &[], false),
        ))
        .expect("append");
        assert_eq!(
            rows(&mut conn, "select count(*) from analytics.events"),
            vec![vec![json!(6)]]
        );
        conn.materialize(&request(
            &model,
            "select 100 as id",
            incremental(IncrementalStrategy::Append, &[], true),
        ))
        .expect("full refresh");
        assert_eq!(
            rows(&mut conn, "select id from analytics.events"),
            vec![vec![json!(100)]]
        );

        // A view in the way is replaced by a table.
        let other = rel("analytics", "was_view");
        conn.materialize(&request(&other, "select 1 as id", Materialization::View))
            .expect("view");
        conn.materialize(&request(
            &other,
            "select 7 as id",
            incremental(IncrementalStrategy::Merge, &["id"], false),
        ))
        .expect("incremental over view");
        assert_eq!(
            conn.relation_kind(&other).expect("kind"),
            Some(RelationKind::Table)
        );
        assert!(leftovers(&mut conn).is_empty());
    }

    #[test]
    fn incremental_append_inserts_by_name() {
        let db = TempDb::new("incr-append");
        let mut conn = db.conn();
        let model = rel("analytics", "t");
        let mat = incremental(IncrementalStrategy::Append, &[], false);
        conn.materialize(&request(&model, "select 1 as a, 'x' as b", mat.clone()))
            .expect("first");
        let out = conn
            .materialize(&request(&model, "select 'y' as b, 2 as a", mat))
            .expect("append");
        assert_eq!(out.rows_affected, Some(1));
        assert_eq!(
            rows(&mut conn, "select a, b from analytics.t order by a"),
            vec![vec![json!(1), json!("x")], vec![json!(2), json!("y")]]
        );
        assert!(leftovers(&mut conn).is_empty());
        assert!(
            out.statements
                .iter()
                .any(|s| s.starts_with("drop table if exists temp.main."))
        );
    }

    #[test]
    fn incremental_merge_updates_and_inserts_on_a_compound_key() {
        let db = TempDb::new("incr-merge");
        let mut conn = db.conn();
        let model = rel("analytics", "t");
        let mat = incremental(IncrementalStrategy::Merge, &["k1", "k2"], false);
        conn.materialize(&request(
            &model,
            "select * from (values (1, 'a', 'old'), (1, 'b', 'old'), (2, 'a', 'old')) v(k1, k2, val)",
            mat.clone(),
        ))
        .expect("first");
        let out = conn
            .materialize(&request(
                &model,
                "select * from (values (1, 'b', 'new'), (3, 'a', 'new')) v(k1, k2, val)",
                mat,
            ))
            .expect("merge");
        assert_eq!(out.rows_affected, Some(2));
        assert!(out.message.starts_with("MERGE"), "{}", out.message);
        assert_eq!(
            rows(
                &mut conn,
                "select k1, k2, val from analytics.t order by all"
            ),
            vec![
                vec![json!(1), json!("a"), json!("old")],
                vec![json!(1), json!("b"), json!("new")],
                vec![json!(2), json!("a"), json!("old")],
                vec![json!(3), json!("a"), json!("new")],
            ]
        );
        assert!(leftovers(&mut conn).is_empty());

        // Without a key a merge appends.
        conn.materialize(&request(
            &model,
            "select 1 as k1, 'a' as k2, 'dup' as val",
            incremental(IncrementalStrategy::Merge, &[], false),
        ))
        .expect("keyless merge");
        assert_eq!(
            rows(&mut conn, "select count(*) from analytics.t"),
            vec![vec![json!(5)]]
        );
    }

    #[test]
    fn incremental_merge_with_only_key_columns() {
        let db = TempDb::new("incr-merge-keys");
        let mut conn = db.conn();
        let model = rel("analytics", "keys");
        let mat = incremental(IncrementalStrategy::Merge, &["id"], false);
        conn.materialize(&request(&model, "select 1 as id", mat.clone()))
            .expect("first");
        conn.materialize(&request(&model, "select * from range(3) t(id)", mat))
            .expect("merge");
        assert_eq!(
            rows(&mut conn, "select id from analytics.keys order by id"),
            vec![vec![json!(0)], vec![json!(1)], vec![json!(2)]]
        );
    }

    #[test]
    fn incremental_delete_insert_replaces_matching_keys() {
        let db = TempDb::new("incr-delins");
        let mut conn = db.conn();
        let model = rel("analytics", "t");
        let mat = incremental(
            IncrementalStrategy::DeleteInsert,
            &["day", "user_id"],
            false,
        );
        conn.materialize(&request(
            &model,
            "select * from (values (1, 1, 10), (1, 2, 20), (2, 1, 30)) v(day, user_id, amount)",
            mat.clone(),
        ))
        .expect("first");
        let out = conn
            .materialize(&request(
                &model,
                "select * from (values (1, 2, 21), (1, 2, 22), (3, 1, 40)) v(day, user_id, amount)",
                mat,
            ))
            .expect("delete+insert");
        assert_eq!(out.rows_affected, Some(3));
        assert_eq!(
            rows(
                &mut conn,
                "select day, user_id, amount from analytics.t order by all"
            ),
            vec![
                vec![json!(1), json!(1), json!(10)],
                vec![json!(1), json!(2), json!(21)],
                vec![json!(1), json!(2), json!(22)],
                vec![json!(2), json!(1), json!(30)],
                vec![json!(3), json!(1), json!(40)],
            ]
        );
        assert!(leftovers(&mut conn).is_empty());
    }

    #[test]
    fn failed_incremental_keeps_rows_and_drops_its_temporary() {
        let db = TempDb::new("incr-fail");
        let mut conn = db.conn();
        let model = rel("analytics", "t");
        let mat = incremental(IncrementalStrategy::Merge, &["id"], false);
        conn.materialize(&request(&model, "select 1 as id, 'a' as v", mat.clone()))
            .expect("first");
        // The new rows have a column the table lacks: the merge fails.
        let err = conn
            .materialize(&request(
                &model,
                "select 2 as id, 'b' as v, 3 as extra",
                mat.clone(),
            ))
            .expect_err("fails");
        assert!(
            err.statement
                .as_deref()
                .is_some_and(|s| s.starts_with("merge into")),
            "{err:?}"
        );
        assert_eq!(rows(&mut conn, "select 1"), vec![vec![json!(1)]]);
        assert_eq!(
            rows(&mut conn, "select id, v from analytics.t"),
            vec![vec![json!(1), json!("a")]]
        );
        assert!(leftovers(&mut conn).is_empty());

        let err = conn
            .materialize(&request(
                &model,
                "select 1 as id",
                incremental(IncrementalStrategy::InsertOverwrite, &[], false),
            ))
            .expect_err("bigquery only");
        assert!(err.message.contains("BigQuery"));
    }

    #[test]
    fn csv_loads_with_inference_overrides_and_header_only() {
        let db = TempDb::new("csv");
        let mut conn = db.conn();
        let csv = db.dir.join("people.csv");
        std::fs::write(
            &csv,
            "id,name,score,born\n1,ann,1.5,2020-01-02\n2,bob,2.5,2021-03-04\n",
        )
        .expect("write csv");
        let relation = rel("raw", "people");
        let out = conn
            .load_csv(&CsvLoad {
                relation: relation.clone(),
                path: csv.clone(),
                column_types: Vec::new(),
            })
            .expect("load");
        assert_eq!(out.rows_affected, Some(2));
        let types: Vec<String> = conn
            .columns(&relation)
            .expect("columns")
            .into_iter()
            .map(|c| c.data_type)
            .collect();
        assert_eq!(types, ["BIGINT", "VARCHAR", "DOUBLE", "DATE"]);

        let out = conn
            .load_csv(&CsvLoad {
                relation: relation.clone(),
                path: csv,
                column_types: vec![
                    ("id".to_owned(), "VARCHAR".to_owned()),
                    ("score".to_owned(), "DECIMAL(10,2)".to_owned()),
                ],
            })
            .expect("reload");
        assert_eq!(out.rows_affected, Some(2));
        let types: Vec<String> = conn
            .columns(&relation)
            .expect("columns")
            .into_iter()
            .map(|c| c.data_type)
            .collect();
        assert_eq!(types, ["VARCHAR", "VARCHAR", "DECIMAL(10,2)", "DATE"]);
        assert_eq!(
            rows(&mut conn, "select id, score from raw.people order by id"),
            vec![vec![json!("1"), json!(1.5)], vec![json!("2"), json!(2.5)]]
        );

        let empty = db.dir.join("empty.csv");
        std::fs::write(&empty, "a,b\n").expect("write csv");
        let empty_rel = rel("raw", "empty");
        let out = conn
            .load_csv(&CsvLoad {
                relation: empty_rel.clone(),
                path: empty,
                column_types: Vec::new(),
            })
            .expect("header only");
        assert_eq!(out.rows_affected, Some(0));
        let columns = conn.columns(&empty_rel).expect("columns");
        assert_eq!(
            columns,
            vec![
                ColumnInfo {
                    name: "a".to_owned(),
                    data_type: "VARCHAR".to_owned()
                },
                ColumnInfo {
                    name: "b".to_owned(),
                    data_type: "VARCHAR".to_owned()
                }
            ]
        );

        let err = conn
            .load_csv(&CsvLoad {
                relation: relation.clone(),
                path: db.dir.join("missing.csv"),
                column_types: Vec::new(),
            })
            .expect_err("missing file");
        assert!(err.message.contains("missing.csv"), "{}", err.message);
        assert_eq!(
            rows(&mut conn, "select count(*) from raw.people"),
            vec![vec![json!(2)]]
        );
        assert!(leftovers(&mut conn).is_empty());
    }

    #[test]
    fn workers_build_tables_concurrently() {
        let db = TempDb::new("threads");
        let adapter = &db.adapter;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|worker| {
                    scope.spawn(move || {
                        let mut conn = adapter.connect().expect("connect");
                        for round in 0..3 {
                            for i in 0..5 {
                                let model = rel("fresh", &format!("w{worker}_m{i}"));
                                let materialization = match i % 3 {
                                    0 => Materialization::Table,
                                    1 => Materialization::View,
                                    _ => incremental(IncrementalStrategy::Merge, &["id"], false),
                                };
                                conn.materialize(&request(
                                    &model,
                                    &format!("select * from range({}) t(id)", 1000 * (round + 1)),
                                    materialization,
                                ))
                                .unwrap_or_else(|err| panic!("worker {worker} model {i}: {err:?}"));
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().expect("worker");
            }
        });
        let mut conn = db.conn();
        assert_eq!(
            rows(
                &mut conn,
                "select count(*) from duckdb_tables() where schema_name = 'fresh'"
            ),
            vec![vec![json!(12)]]
        );
        assert_eq!(
            rows(&mut conn, "select count(*) from fresh.w3_m2"),
            vec![vec![json!(3000)]]
        );
        assert!(leftovers(&mut conn).is_empty());
    }

    #[test]
    fn workers_racing_on_a_new_schema_do_not_conflict() {
        let db = TempDb::new("race");
        let adapter = &db.adapter;
        let workers = 8;
        let errors = Mutex::new(Vec::new());
        for schema in ["race_a", "race_b", "race_c"] {
            let barrier = std::sync::Barrier::new(workers);
            std::thread::scope(|scope| {
                for worker in 0..workers {
                    let (barrier, errors) = (&barrier, &errors);
                    scope.spawn(move || {
                        let mut conn = adapter.connect().expect("connect");
                        let model = rel(schema, &format!("m{worker}"));
                        // Every worker reaches every barrier, failed or not.
                        for (sql, materialization) in [
                            ("select 1 as id", Materialization::Table),
                            ("select 2 as id", Materialization::View),
                            ("select 3 as id", Materialization::Table),
                        ] {
                            barrier.wait();
                            if let Err(err) =
                                conn.materialize(&request(&model, sql, materialization))
                            {
                                errors
                                    .lock()
                                    .expect("errors")
                                    .push(format!("{schema} worker {worker}: {}", err.message));
                            }
                        }
                    });
                }
            });
        }
        assert_eq!(errors.into_inner().expect("errors"), Vec::<String>::new());
        let mut conn = db.conn();
        assert_eq!(
            rows(
                &mut conn,
                "select count(*) from duckdb_tables() where schema_name like 'race_%'"
            ),
            vec![vec![json!(24)]]
        );
    }

    #[test]
    fn formats_dates_times_and_intervals() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(19_723), "2024-01-01");
        assert_eq!(
            format_timestamp(TimeUnit::Microsecond, -1, false),
            "1969-12-31T23:59:59.999999"
        );
        assert_eq!(
            format_timestamp(TimeUnit::Nanosecond, 1_500_000_000, true),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(
            format_time(TimeUnit::Microsecond, 3_723_000_001),
            "01:02:03.000001"
        );
        assert_eq!(format_interval(14, 0, 0), "1 year 2 months");
        assert_eq!(format_interval(0, 0, 0), "00:00:00");
        assert_eq!(format_interval(0, -1, -1_000_000_000), "-1 day -00:00:01");
    }
}
