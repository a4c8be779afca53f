//! The warehouse boundary: an [`Adapter`] shared by every worker (kind, quoting,
//! connections) and a [`Connection`] per worker that runs SQL, reads the
//! catalog and builds relations. Only execution and seeding talk to adapters.

pub mod bigquery;
pub mod csv_types;
pub mod dialect;
pub mod duckdb;
pub mod macros;
pub mod snapshot;
pub mod sql_text;

use std::fmt;

use serde::Serialize;

/// Which warehouse a target points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    Duckdb,
    Bigquery,
}

impl AdapterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duckdb => "duckdb",
            Self::Bigquery => "bigquery",
        }
    }

    /// The kind a target's `type:` names.
    pub fn parse(type_name: &str) -> Option<Self> {
        [Self::Duckdb, Self::Bigquery]
            .into_iter()
            .find(|kind| kind.as_str() == type_name)
    }

    /// Quotes one identifier in this warehouse's SQL dialect.
    pub fn quote(self, ident: &str) -> String {
        self.dialect().quote(ident)
    }

    /// The fully qualified, quoted name of a relation.
    pub fn render_relation(self, relation: &RelationRef) -> String {
        let mut parts = Vec::with_capacity(3);
        if let Some(database) = &relation.database {
            parts.push(self.quote(database));
        }
        parts.push(self.quote(&relation.schema));
        parts.push(self.quote(&relation.identifier));
        parts.join(".")
    }
}

/// A relation's address in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RelationRef {
    /// DuckDB catalog or BigQuery project; `None` means the connection's default.
    pub database: Option<String>,
    /// DuckDB schema or BigQuery dataset.
    pub schema: String,
    pub identifier: String,
}

/// What kind of object a relation is in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelationKind {
    Table,
    View,
}

/// How an incremental model merges its new rows into the existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IncrementalStrategy {
    Merge,
    Append,
    DeleteInsert,
    InsertOverwrite,
}

impl IncrementalStrategy {
    pub const NAMES: [&'static str; 4] = ["merge", "append", "delete+insert", "insert_overwrite"];

    /// The name `incremental_strategy` spells it with.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Append => "append",
            Self::DeleteInsert => "delete+insert",
            Self::InsertOverwrite => "insert_overwrite",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "merge" => Some(Self::Merge),
            "append" => Some(Self::Append),
            "delete+insert" => Some(Self::DeleteInsert),
            "insert_overwrite" => Some(Self::InsertOverwrite),
            _ => None,
        }
    }
}

/// How a model's SELECT becomes a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Materialization {
    View,
    Table,
    /// `incremental`: when `full_refresh` is set or the relation does not exist
    /// (or is a view) the model is built as a table.
    Incremental {
        strategy: IncrementalStrategy,
        unique_key: Vec<String>,
        full_refresh: bool,
    },
    /// A dbt snapshot: the history of the query's rows.
    Snapshot(snapshot::SnapshotSpec),
}

/// Everything an adapter needs to build one model.
#[derive(Debug, Clone)]
pub struct MaterializeRequest {
    pub relation: RelationRef,
    /// The compiled SELECT (ephemeral CTEs already inlined).
    pub sql: String,
    pub materialization: Materialization,
    /// Statements run before the build, in the same connection.
    pub pre_hooks: Vec<String>,
    /// Statements run after the build succeeded.
    pub post_hooks: Vec<String>,
    /// The model's merged config (`partition_by`, `cluster_by`, `labels`...).
    pub config: serde_json::Map<String, serde_json::Value>,
    /// A table with an enforced contract: its column definitions with
    /// their constraints (`"id" INTEGER NOT NULL PRIMARY KEY, ...`), so the
    /// warehouse enforces them as the rows go in.
    pub columns_ddl: Option<String>,
}

/// Reads a string or a list of strings (anything else is stringified): how
/// list-valued config keys (`cluster_by`, `tags`, `unique_key`) are read,
/// here so that both the project and an adapter can read them.
pub fn as_string_list(value: Option<&serde_json::Value>) -> Vec<String> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().flat_map(|v| as_string_list(Some(v))).collect(),
        Some(other) => vec![other.to_string()],
    }
}

/// A CSV file to load as a table, replacing any previous version atomically.
#[derive(Debug, Clone)]
pub struct CsvLoad {
    pub relation: RelationRef,
    pub path: std::path::PathBuf,
    /// Column name -> warehouse type, overriding inference.
    pub column_types: Vec<(String, String)>,
    /// The byte between fields (`,` unless the seed's `delimiter` says otherwise).
    pub delimiter: u8,
}

/// Rows produced in sb (the synthesizer's batches) to load as a table:
/// replacing it atomically, or appended to it in one transaction.
#[derive(Debug, Clone)]
pub struct BatchLoad {
    pub relation: RelationRef,
    /// The batches' schema; nested Arrow structs become STRUCT / RECORD columns.
    pub schema: ::duckdb::arrow::datatypes::SchemaRef,
    /// Add to the existing table instead of replacing it.
    pub append: bool,
}

/// Most rows in one slice of a [`SliceSource`]: DuckDB's vector size, so a
/// slice fills exactly one chunk of a table scan.
pub const MAX_SLICE_ROWS: usize = 2048;

/// Rows produced in independent slices that can be made in any order, on any
/// thread (the synthesizer's events): a warehouse can pull them in parallel.
pub trait SliceSource: Send + Sync {
    fn schema(&self) -> ::duckdb::arrow::datatypes::SchemaRef;
    fn slice_count(&self) -> usize;
    /// Slice `index` (< `slice_count`), at most [`MAX_SLICE_ROWS`] rows.
    fn slice(&self, index: usize) -> ::duckdb::arrow::record_batch::RecordBatch;
}

/// What a successful build or load did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildOutcome {
    /// Every statement sent, in order (written to `target/run/`).
    pub statements: Vec<String>,
    /// Rows written by the main statement, when the warehouse reports it.
    pub rows_affected: Option<u64>,
    /// A short status such as `CREATE TABLE (1200 rows)`.
    pub message: String,
}

/// A column as the warehouse catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
}

/// Rows returned by a query, with values converted to JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryResult {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A failure reported by the warehouse.
#[derive(Debug, Clone)]
pub struct AdapterError {
    /// The warehouse's own message.
    pub message: String,
    /// The statement that failed, when one did.
    pub statement: Option<String>,
    /// Statements sent before and including the failing one.
    pub statements: Vec<String>,
}

impl AdapterError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            statement: None,
            statements: Vec::new(),
        }
    }
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AdapterError {}

/// A warehouse target, shared by all workers.
pub trait Adapter: Send + Sync {
    fn kind(&self) -> AdapterKind;
    /// Opens a connection for one worker thread.
    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError>;
}

/// One worker's session with the warehouse.
pub trait Connection: Send {
    /// Runs one or more statements; returns rows changed when known.
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError>;
    /// Runs a query and returns at most `limit` rows (all when `None`).
    fn query(&mut self, sql: &str, limit: Option<usize>) -> Result<QueryResult, AdapterError>;
    fn relation_kind(
        &mut self,
        relation: &RelationRef,
    ) -> Result<Option<RelationKind>, AdapterError>;
    fn columns(&mut self, relation: &RelationRef) -> Result<Vec<ColumnInfo>, AdapterError>;
    fn create_schema(&mut self, database: Option<&str>, schema: &str) -> Result<(), AdapterError>;
    /// Builds a model. On failure the previous version of the relation is intact
    /// and no temporary relation is left behind.
    fn materialize(&mut self, request: &MaterializeRequest) -> Result<BuildOutcome, AdapterError>;
    /// Loads batches produced by sb. Either every batch lands or none does:
    /// a failure (or an iterator that stops early with an error) leaves the
    /// previous table as it was.
    fn load_batches(
        &mut self,
        load: &BatchLoad,
        batches: &mut dyn Iterator<Item = ::duckdb::arrow::record_batch::RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError>;
    /// Loads every slice of `source`, atomically as [`Connection::load_batches`].
    /// The default pulls the slices in order through `load_batches`.
    fn load_slices(
        &mut self,
        load: &BatchLoad,
        source: std::sync::Arc<dyn SliceSource>,
    ) -> Result<BuildOutcome, AdapterError> {
        let mut slices = (0..source.slice_count()).map(|i| source.slice(i));
        self.load_batches(load, &mut slices)
    }
    /// Loads a CSV seed, atomically replacing the previous table.
    fn load_csv(&mut self, load: &CsvLoad) -> Result<BuildOutcome, AdapterError>;
    /// The node the next statements work for (job labels, query comments).
    fn set_node(&mut self, _node: Option<&str>) {}
    /// The bytes a query would process, asked of the warehouse without
    /// running it.
    fn dry_run(&mut self, _sql: &str) -> Result<u64, AdapterError> {
        Err(AdapterError::new(
            "dry runs need a BigQuery target: this warehouse cannot estimate a query's bytes",
        ))
    }
    /// The most bytes one query may bill (`maximum_bytes_billed`).
    fn maximum_bytes_billed(&self) -> Option<u64> {
        None
    }
}
