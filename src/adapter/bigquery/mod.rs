//! The BigQuery adapter: materializations, loads and queries on a BigQuery
//! target, through gcp-bigquery-client (`rest`) driven from a tokio
//! runtime the adapter owns, one connection per worker thread so up to
//! `threads` jobs run at once.
//!
//! Every statement is a query job in standard SQL, labelled with the
//! invocation id and node name and prefixed with a query comment. Builds are
//! single atomic statements (`create or replace`, `merge`, or a transaction
//! script), so a failed model leaves its previous table. Loads go through
//! load jobs of newline-delimited JSON (`rest::upload`): one job when the
//! rows fit one chunk, otherwise every chunk into a self-expiring staging
//! table (`staging`) that one copy job then swaps in; staging tables an
//! interrupted load left behind are deleted by the next load of the table.
//!
//! This file opens the adapter (which cancels its running jobs when the
//! process is interrupted, through a hook on `crate::interrupt`) and answers
//! the `Connection` calls; the builds are in `materialize`, the loads in
//! `load`, the target's settings in `settings`, the statements' text in
//! `sql`.

mod auth;
pub mod convert;
mod load;
mod materialize;
pub mod rest;
pub mod settings;
mod snapshot;
pub mod sql;
mod staging;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use duckdb::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::sql_text;
use super::{
    Adapter, AdapterError, AdapterKind, BatchLoad, BuildOutcome, ColumnInfo, Connection, CsvLoad,
    Materialization, MaterializeRequest, QueryResult, RelationKind, RelationRef,
};
use crate::interrupt::Interrupt;
use auth::Credentials;
use rest::upload::UploadPolicy;
use rest::{Api, ApiError, Log, RetryPolicy};
pub use settings::{Overrides, TargetConfig, label_text};
use sql::TableOptions;

const KIND: AdapterKind = AdapterKind::Bigquery;

const GOOGLE_ROOT: &str = "https://bigquery.googleapis.com";

struct Shared {
    api: Api,
    runtime: tokio::runtime::Runtime,
    config: TargetConfig,
    invocation_id: String,
    datasets: Mutex<HashSet<(String, String)>>,
}

impl Shared {
    /// Cancels every job still running and says how many there were.
    fn cancel_running_jobs(&self, log: &Log) {
        let jobs = self.api.running_jobs();
        self.runtime.block_on(async {
            for job in &jobs {
                self.api.cancel(job).await;
            }
        });
        log(&format!(
            "interrupted: cancelled {} running BigQuery job{}",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        ));
    }
}

/// A BigQuery target, shared by every worker.
pub struct BigQueryAdapter {
    shared: Arc<Shared>,
}

impl BigQueryAdapter {
    /// Sets up the client. Credentials come from `keyfile`, or application
    /// default credentials; none with `api_url` (an emulator). `log`
    /// receives retry and cancellation notes. On `interrupt`, the jobs
    /// running in BigQuery are cancelled.
    pub fn open(
        config: TargetConfig,
        invocation_id: &str,
        log: Log,
        interrupt: &Interrupt,
    ) -> Result<Self, AdapterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sb-bigquery")
            .enable_all()
            .build()
            .map_err(|err| AdapterError::new(format!("cannot start the BigQuery client: {err}")))?;
        let root = config.api_url.as_deref().unwrap_or(GOOGLE_ROOT);
        let mut api = runtime.block_on(async {
            let credentials = if config.api_url.is_some() {
                Credentials::none()
            } else if let Some(keyfile) = &config.keyfile {
                Credentials::from_file(keyfile)
                    .await
                    .map_err(as_adapter_error)?
            } else if let Some(key) = &config.keyfile_json {
                Credentials::from_json(key)
                    .await
                    .map_err(as_adapter_error)?
            } else {
                Credentials::application_default(&config.credentials)
                    .await
                    .map_err(as_adapter_error)?
            };
            Api::new(
                root,
                config.project.clone(),
                config.location.clone(),
                &credentials,
                Arc::clone(&log),
            )
            .await
            .map_err(as_adapter_error)
        })?;
        api.upload = UploadPolicy {
            resumable_threshold: config.resumable_threshold_bytes,
            resumable_chunk: config.resumable_chunk_bytes,
        };
        api.retry = RetryPolicy {
            retries: config.retries,
            ..RetryPolicy::default()
        };
        if let Some(initial) = config.retry_initial {
            api.retry.initial = initial;
        }
        api.job_timeout = config.job_timeout;
        let shared = Arc::new(Shared {
            api,
            runtime,
            config,
            invocation_id: invocation_id.to_owned(),
            datasets: Mutex::new(HashSet::new()),
        });
        // Ctrl-C: cancel what is running in BigQuery before the process
        // ends. Weak: an adapter already dropped has nothing running.
        let watched = Arc::downgrade(&shared);
        interrupt.on_interrupt(move || {
            if let Some(shared) = watched.upgrade() {
                shared.cancel_running_jobs(&log);
            }
        });
        Ok(Self { shared })
    }

    pub fn connect_bigquery(&self) -> BigQueryConnection {
        BigQueryConnection {
            shared: Arc::clone(&self.shared),
            node: None,
        }
    }
}

impl Adapter for BigQueryAdapter {
    fn kind(&self) -> AdapterKind {
        KIND
    }

    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError> {
        Ok(Box::new(self.connect_bigquery()))
    }
}

/// One worker's session: the node it works for (labels, query comment).
pub struct BigQueryConnection {
    shared: Arc<Shared>,
    node: Option<String>,
}

/// The statements of one build, recorded as they are sent.
#[derive(Default)]
struct Sent(Vec<String>);

impl BigQueryConnection {
    fn api(&self) -> &Api {
        &self.shared.api
    }

    fn block<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.shared.runtime.block_on(work)
    }

    fn project_of<'a>(&'a self, relation: &'a RelationRef) -> &'a str {
        relation
            .database
            .as_deref()
            .unwrap_or(&self.shared.config.project)
    }

    fn labels(&self) -> Value {
        let mut labels = Map::new();
        for (key, value) in &self.shared.config.labels {
            labels.insert(key.clone(), Value::from(value.as_str()));
        }
        labels.insert(
            "sb_invocation_id".into(),
            Value::from(label_text(&self.shared.invocation_id)),
        );
        if let Some(node) = &self.node {
            labels.insert("sb_node".into(), Value::from(label_text(node)));
        }
        Value::Object(labels)
    }

    /// The job configuration of one statement.
    fn query_configuration(&self, sql: &str, dry_run: bool) -> Value {
        sql::query_configuration(
            &sql::query_comment(&self.shared.invocation_id, self.node.as_deref()),
            sql,
            &self.shared.config.priority,
            self.shared.config.maximum_bytes_billed,
            &self.labels(),
            dry_run,
        )
    }

    /// Runs one statement as a query job, recording it.
    fn run(&self, sent: &mut Sent, sql: String) -> Result<Value, AdapterError> {
        let configuration = self.query_configuration(&sql, false);
        let job = self.block(self.api().query_job("a query", &configuration));
        sent.0.push(sql);
        job.map_err(|error| Self::statement_error(&error, sent))
    }

    /// Runs one query job and reads its answer: the result schema's fields
    /// and up to `limit` rows.
    fn run_and_read(
        &self,
        sent: &mut Sent,
        sql: String,
        limit: Option<usize>,
    ) -> Result<(Vec<Value>, Vec<Value>), AdapterError> {
        let job = self.run(sent, sql)?;
        let Some(job_id) = job.pointer("/jobReference/jobId").and_then(Value::as_str) else {
            return Err(AdapterError::new(
                "BigQuery answered a query without a job id",
            ));
        };
        self.block(self.api().results(job_id, limit))
            .map_err(|error| Self::statement_error(&error, sent))
    }

    fn statement_error(error: &ApiError, sent: &Sent) -> AdapterError {
        AdapterError {
            message: error.message.clone(),
            statement: sent.0.last().cloned(),
            statements: sent.0.clone(),
        }
    }

    fn api_error(error: &ApiError, sent: &Sent) -> AdapterError {
        AdapterError {
            message: error.message.clone(),
            statement: None,
            statements: sent.0.clone(),
        }
    }

    fn ensure_dataset(&self, relation: &RelationRef) -> Result<(), AdapterError> {
        let key = (
            self.project_of(relation).to_owned(),
            relation.schema.clone(),
        );
        if self
            .shared
            .datasets
            .lock()
            .is_ok_and(|known| known.contains(&key))
        {
            return Ok(());
        }
        self.block(self.api().ensure_dataset(&key.0, &key.1))
            .map_err(|error| {
                AdapterError::new(format!(
                    "cannot create the dataset `{}.{}`: {}",
                    key.0, key.1, error.message
                ))
            })?;
        if let Ok(mut known) = self.shared.datasets.lock() {
            known.insert(key);
        }
        Ok(())
    }

    fn table(&self, relation: &RelationRef) -> Result<Option<Value>, AdapterError> {
        self.block(self.api().get_table(
            self.project_of(relation),
            &relation.schema,
            &relation.identifier,
        ))
        .map_err(|error| AdapterError::new(error.message))
    }

    fn kind_of(&self, relation: &RelationRef) -> Result<Option<RelationKind>, AdapterError> {
        Ok(self.table(relation)?.as_ref().map(kind_of_resource))
    }
}

/// A table resource's kind: views (plain or materialized), else a table.
/// A client that could not be set up, or a table option BigQuery cannot
/// take, as the warehouse failure it is to the command.
fn as_adapter_error(error: impl std::error::Error) -> AdapterError {
    AdapterError::new(error.to_string())
}

fn kind_of_resource(table: &Value) -> RelationKind {
    match table.get("type").and_then(Value::as_str) {
        Some("VIEW" | "MATERIALIZED_VIEW") => RelationKind::View,
        _ => RelationKind::Table,
    }
}

impl Connection for BigQueryConnection {
    fn set_node(&mut self, node: Option<&str>) {
        self.node = node.map(str::to_owned);
    }

    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        if sql_text::only_comments(sql) {
            return Ok(None);
        }
        let mut sent = Sent::default();
        let job = self.run(&mut sent, sql.to_owned())?;
        Ok(number(job.pointer("/statistics/query/numDmlAffectedRows")))
    }

    fn query(&mut self, sql: &str, limit: Option<usize>) -> Result<QueryResult, AdapterError> {
        let (fields, rows) = self.run_and_read(&mut Sent::default(), sql.to_owned(), limit)?;
        Ok(QueryResult {
            columns: fields
                .iter()
                .map(|f| ColumnInfo {
                    name: f
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    data_type: f
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("STRING")
                        .to_owned(),
                })
                .collect(),
            rows: convert::rows_to_json(&fields, &rows),
        })
    }

    fn relation_kind(
        &mut self,
        relation: &RelationRef,
    ) -> Result<Option<RelationKind>, AdapterError> {
        self.kind_of(relation)
    }

    fn columns(&mut self, relation: &RelationRef) -> Result<Vec<ColumnInfo>, AdapterError> {
        Ok(self
            .table(relation)?
            .and_then(|t| {
                t.pointer("/schema/fields")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .map(|f| ColumnInfo {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                data_type: sql::standard_type(f),
            })
            .collect())
    }

    fn create_schema(&mut self, database: Option<&str>, schema: &str) -> Result<(), AdapterError> {
        self.ensure_dataset(&RelationRef {
            database: database.map(str::to_owned),
            schema: schema.to_owned(),
            identifier: String::new(),
        })
    }

    fn materialize(&mut self, request: &MaterializeRequest) -> Result<BuildOutcome, AdapterError> {
        let options = TableOptions::from_config(&request.config).map_err(as_adapter_error)?;
        let mut sent = Sent::default();
        self.ensure_dataset(&request.relation)?;
        self.run_hooks(&mut sent, &request.pre_hooks)?;
        let mut outcome = match &request.materialization {
            Materialization::View => self.build_view(&mut sent, request)?,
            Materialization::Table => self.build_table(&mut sent, request, &options)?,
            Materialization::Incremental {
                strategy,
                unique_key,
                full_refresh,
            } => {
                if *full_refresh || self.kind_of(&request.relation)? != Some(RelationKind::Table) {
                    self.build_table(&mut sent, request, &options)?
                } else {
                    self.build_incremental(&mut sent, request, *strategy, unique_key, &options)?
                }
            }
            Materialization::Snapshot(spec) => {
                self.build_snapshot(&mut sent, request, spec, &options)?
            }
        };
        sent.0 = std::mem::take(&mut outcome.statements);
        self.run_hooks(&mut sent, &request.post_hooks)?;
        outcome.statements = sent.0;
        Ok(outcome)
    }

    fn load_batches(
        &mut self,
        load: &BatchLoad,
        batches: &mut dyn Iterator<Item = RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError> {
        let schema = convert::table_schema(&load.schema);
        self.load_arrow(&load.relation, &schema, load.append, batches)
    }

    fn load_csv(&mut self, load: &CsvLoad) -> Result<BuildOutcome, AdapterError> {
        // DuckDB reads the file (the same type inference as on a DuckDB
        // target, so both warehouses get the same columns); BigQuery gets
        // the rows by load job. `column_types` are BigQuery types here:
        // those columns are read as text and BigQuery parses them.
        let reader = crate::adapter::duckdb::DuckDbAdapter::open_in_memory()?;
        let connection = reader.connect_duckdb()?;
        let overrides: Vec<(String, String)> = load
            .column_types
            .iter()
            .map(|(column, _)| (column.clone(), "VARCHAR".to_owned()))
            .collect();
        let (arrow_schema, read) =
            connection.read_csv_arrow(&load.path, &overrides, load.delimiter)?;
        let mut schema = convert::table_schema(&arrow_schema);
        if let Some(fields) = schema.get_mut("fields").and_then(Value::as_array_mut) {
            for field in fields {
                let name = field
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some((_, data_type)) = load
                    .column_types
                    .iter()
                    .find(|(column, _)| column.eq_ignore_ascii_case(name))
                {
                    field["type"] = Value::from(sql::legacy_type(data_type));
                }
            }
        }
        let mut outcome = self.load_arrow(&load.relation, &schema, false, &mut read.into_iter())?;
        outcome.message = outcome.message.replacen("LOAD", "LOAD CSV", 1);
        Ok(outcome)
    }

    fn dry_run(&mut self, sql: &str) -> Result<u64, AdapterError> {
        let mut sent = Sent::default();
        let configuration = self.query_configuration(sql, true);
        let job = self.block(self.api().query_job("a dry run", &configuration));
        sent.0.push(sql.to_owned());
        let job = job.map_err(|error| Self::statement_error(&error, &sent))?;
        Ok(number(job.pointer("/statistics/query/totalBytesProcessed"))
            .or_else(|| number(job.pointer("/statistics/totalBytesProcessed")))
            .unwrap_or(0))
    }

    fn maximum_bytes_billed(&self) -> Option<u64> {
        self.shared.config.maximum_bytes_billed
    }
}

/// A count BigQuery sends as a string (or a number).
fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

fn plural_rows(n: u64) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}
