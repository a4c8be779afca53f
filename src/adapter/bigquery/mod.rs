//! The BigQuery adapter: materializations, loads and queries on a BigQuery
//! target, through gcp-bigquery-client (`client`) driven from a tokio
//! runtime the adapter owns, one connection per worker thread so up to
//! `threads` jobs run at once.
//!
//! Every statement is a query job in standard SQL, labelled with the
//! invocation id and node name and prefixed with a query comment. Builds are
//! single atomic statements (`create or replace`, `merge`, or a transaction
//! script), so a failed model leaves its previous table. Loads go through
//! load jobs of newline-delimited JSON (`upload`): one job when the rows fit
//! one chunk, otherwise every chunk into a self-expiring staging table
//! (`staging`) that one copy job then swaps in; staging tables an
//! interrupted load left behind are deleted by the next load of the table.

mod auth;
pub mod client;
pub mod convert;
pub mod sql;
mod staging;
pub mod upload;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use duckdb::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

use super::sql_text;
use super::{
    Adapter, AdapterError, AdapterKind, BatchLoad, BuildOutcome, ColumnInfo, Connection, CsvLoad,
    IncrementalStrategy, Materialization, MaterializeRequest, QueryResult, RelationKind,
    RelationRef,
};
use auth::Credentials;
use client::{Api, ApiError, Log, RetryPolicy};
use sql::TableOptions;
use upload::UploadPolicy;

const KIND: AdapterKind = AdapterKind::Bigquery;

/// The environment variable that points sb at another endpoint.
pub const API_URL_ENV: &str = "SB_BIGQUERY_API_URL";
const GOOGLE_ROOT: &str = "https://bigquery.googleapis.com";
/// Rows of newline-delimited JSON sent per upload.
const DEFAULT_CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// A BigQuery target's settings, read from `project.yml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project: String,
    pub dataset: String,
    pub location: Option<String>,
    pub keyfile: Option<PathBuf>,
    /// Service root of another endpoint (an emulator): no credentials then.
    pub api_url: Option<String>,
    pub priority: String,
    pub maximum_bytes_billed: Option<u64>,
    pub job_timeout: Option<Duration>,
    pub labels: Vec<(String, String)>,
    pub retries: u32,
    pub upload_chunk_bytes: usize,
    /// Uploads larger than this go up in a resumable session.
    pub resumable_threshold_bytes: usize,
    /// The part size of a resumable upload (a multiple of 256 KiB).
    pub resumable_chunk_bytes: usize,
}

impl Settings {
    /// Reads the target's fields; `api_url_env` is `SB_BIGQUERY_API_URL`.
    pub fn from_fields(
        fields: &Map<String, Value>,
        api_url_env: Option<String>,
    ) -> Result<Self, String> {
        let text = |key: &str| {
            fields
                .get(key)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s != "null")
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| format!("`{key}` must be a whole number")),
            }
        };
        let project = text("project")
            .or_else(|| text("database"))
            .ok_or("the BigQuery target has no `project`")?;
        let dataset = text("dataset")
            .or_else(|| text("schema"))
            .ok_or("the BigQuery target has no `dataset`")?;
        let priority = match text("priority").as_deref().map(str::to_ascii_lowercase) {
            None => "INTERACTIVE".to_owned(),
            Some(p) if p == "interactive" => "INTERACTIVE".to_owned(),
            Some(p) if p == "batch" => "BATCH".to_owned(),
            Some(other) => {
                return Err(format!(
                    "`priority` must be `interactive` or `batch`, not `{other}`"
                ));
            }
        };
        let labels = match fields.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        label_text(k),
                        label_text(&v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                    )
                })
                .collect(),
            Some(_) => return Err("`labels` must be a mapping of names to values".to_owned()),
        };
        Ok(Self {
            project,
            dataset,
            location: text("location"),
            keyfile: text("keyfile").map(PathBuf::from),
            api_url: api_url_env
                .filter(|u| !u.trim().is_empty())
                .or_else(|| text("api_url")),
            priority,
            maximum_bytes_billed: number("maximum_bytes_billed")?,
            // dbt-bigquery's spelling is accepted too.
            job_timeout: number("job_timeout")?
                .or(number("job_timeout_seconds")?)
                .or(number("job_execution_timeout_seconds")?)
                .map(Duration::from_secs),
            labels,
            retries: number("retries")?
                .or(number("job_retries")?)
                .map_or(5, |n| n.min(20) as u32),
            upload_chunk_bytes: number("upload_chunk_bytes")?
                .map_or(DEFAULT_CHUNK_BYTES, |n| n.max(1) as usize),
            resumable_threshold_bytes: number("resumable_threshold_bytes")?
                .map_or(upload::RESUMABLE_THRESHOLD_BYTES, |n| n as usize),
            resumable_chunk_bytes: number("resumable_chunk_bytes")?
                .map_or(upload::RESUMABLE_CHUNK_BYTES, |n| {
                    upload::chunk_bytes(n as usize)
                }),
        })
    }
}

/// A label key or value as BigQuery accepts it: lower-case letters,
/// digits, `_` and `-`, at most 63 characters.
pub fn label_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

struct Shared {
    api: Arc<Api>,
    runtime: tokio::runtime::Runtime,
    settings: Settings,
    invocation_id: String,
    datasets: Mutex<HashSet<(String, String)>>,
}

/// A BigQuery target, shared by every worker.
pub struct BigQueryAdapter {
    shared: Arc<Shared>,
}

impl BigQueryAdapter {
    /// Sets up the client. Credentials come from `keyfile`, or application
    /// default credentials; none with `api_url` (an emulator). `log`
    /// receives retry and cancellation notes.
    pub fn open(settings: Settings, invocation_id: &str, log: Log) -> Result<Self, AdapterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sb-bigquery")
            .enable_all()
            .build()
            .map_err(|err| AdapterError::new(format!("cannot start the BigQuery client: {err}")))?;
        let root = settings.api_url.as_deref().unwrap_or(GOOGLE_ROOT);
        let mut api = runtime
            .block_on(async {
                let credentials = if settings.api_url.is_some() {
                    Credentials::none()
                } else if let Some(keyfile) = &settings.keyfile {
                    Credentials::from_file(keyfile).await?
                } else {
                    Credentials::application_default().await?
                };
                Api::new(
                    root,
                    settings.project.clone(),
                    settings.location.clone(),
                    &credentials,
                    Arc::clone(&log),
                )
                .await
            })
            .map_err(AdapterError::new)?;
        api.upload = UploadPolicy {
            resumable_threshold: settings.resumable_threshold_bytes,
            resumable_chunk: settings.resumable_chunk_bytes,
        };
        api.retry = RetryPolicy {
            retries: settings.retries,
            ..RetryPolicy::default()
        };
        if let Ok(ms) = std::env::var("SB_BIGQUERY_RETRY_INITIAL_MS")
            && let Ok(ms) = ms.parse::<u64>()
        {
            api.retry.initial = Duration::from_millis(ms);
        }
        api.job_timeout = settings.job_timeout;
        let api = Arc::new(api);
        // Ctrl-C: cancel what is running in BigQuery, then leave.
        let watcher = Arc::clone(&api);
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let jobs = watcher.running_jobs();
                for job in &jobs {
                    watcher.cancel(job).await;
                }
                log(&format!(
                    "interrupted: cancelled {} running BigQuery job{}",
                    jobs.len(),
                    if jobs.len() == 1 { "" } else { "s" }
                ));
                std::process::exit(130);
            }
        });
        Ok(Self {
            shared: Arc::new(Shared {
                api,
                runtime,
                settings,
                invocation_id: invocation_id.to_owned(),
                datasets: Mutex::new(HashSet::new()),
            }),
        })
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
            .unwrap_or(&self.shared.settings.project)
    }

    fn labels(&self) -> Value {
        let mut labels = Map::new();
        for (key, value) in &self.shared.settings.labels {
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
            &self.shared.settings.priority,
            self.shared.settings.maximum_bytes_billed,
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

    /// Drops a view or table by DDL (`drop view` / `drop table`), which
    /// says which kind it expects.
    fn drop_relation(
        &self,
        relation: &RelationRef,
        kind: RelationKind,
        sent: &mut Sent,
    ) -> Result<(), AdapterError> {
        let what = match kind {
            RelationKind::View => "view",
            RelationKind::Table => "table",
        };
        self.run(
            sent,
            format!("drop {what} if exists {}", KIND.render_relation(relation)),
        )
        .map(|_| ())
    }

    /// Asks for a dry run of a SELECT: fails the same way the real query
    /// would, before anything is dropped.
    fn validate(&self, sent: &mut Sent, select: &str) -> Result<(), AdapterError> {
        let configuration = self.query_configuration(select, true);
        let job = self.block(self.api().query_job("a dry run", &configuration));
        sent.0.push(format!("-- dry run\n{select}"));
        job.map(|_| ())
            .map_err(|error| Self::statement_error(&error, sent))
    }

    fn run_hooks(&self, sent: &mut Sent, hooks: &[String]) -> Result<(), AdapterError> {
        for hook in hooks.iter().filter(|h| !sql_text::only_comments(h)) {
            self.run(sent, hook.clone())?;
        }
        Ok(())
    }

    fn build_view(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        if self.kind_of(&request.relation)? == Some(RelationKind::Table) {
            // `create or replace view` cannot replace a table: drop it only
            // once the view's query is known to work.
            self.validate(sent, sql_text::strip_trailing(&request.sql))?;
            self.drop_relation(&request.relation, RelationKind::Table, sent)?;
        }
        self.run(sent, sql::create_view(&target, &request.sql))?;
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: None,
            message: "CREATE VIEW".to_owned(),
        })
    }

    fn build_table(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
        options: &TableOptions,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        if self.kind_of(&request.relation)? == Some(RelationKind::View) {
            self.validate(sent, sql_text::strip_trailing(&request.sql))?;
            self.drop_relation(&request.relation, RelationKind::View, sent)?;
        }
        let create = sql::create_table(&target, &request.sql, options);
        match self.run(sent, create.clone()) {
            Ok(_) => {}
            Err(error) if sql::must_drop_to_replace(&error.message) => {
                // BigQuery cannot change a table's partitioning or clustering
                // in place: the table is dropped once the new query is known
                // to work, then created again.
                self.validate(sent, sql_text::strip_trailing(&request.sql))?;
                self.drop_relation(&request.relation, RelationKind::Table, sent)?;
                self.run(sent, create)?;
            }
            Err(error) => return Err(error),
        }
        let rows = self
            .table(&request.relation)?
            .and_then(|t| number(t.get("numRows")));
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: rows,
            message: match rows {
                Some(n) => format!("CREATE TABLE ({})", plural_rows(n)),
                None => "CREATE TABLE".to_owned(),
            },
        })
    }

    fn build_incremental(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
        strategy: IncrementalStrategy,
        unique_key: &[String],
        options: &TableOptions,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let columns: Vec<String> = self
            .table(&request.relation)?
            .and_then(|t| {
                t.pointer("/schema/fields")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let (statement, verb) = match strategy {
            IncrementalStrategy::Merge if !unique_key.is_empty() => (
                sql::merge(&target, &request.sql, &columns, unique_key),
                "MERGE",
            ),
            IncrementalStrategy::DeleteInsert if !unique_key.is_empty() => (
                sql::delete_insert(&target, &request.sql, &columns, unique_key),
                "DELETE+INSERT",
            ),
            IncrementalStrategy::InsertOverwrite => {
                let Some(partition) = &options.partition_by else {
                    return Err(AdapterError::new(
                        "incremental_strategy `insert_overwrite` needs `partition_by`: it replaces the partitions the new rows fall in",
                    ));
                };
                (
                    sql::insert_overwrite(&target, &request.sql, &columns, partition),
                    "INSERT OVERWRITE",
                )
            }
            _ => (sql::append(&target, &request.sql, &columns), "INSERT"),
        };
        let job = self.run(sent, statement)?;
        let rows = number(job.pointer("/statistics/query/numDmlAffectedRows"));
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: rows,
            message: match rows {
                Some(n) => format!("{verb} ({})", plural_rows(n)),
                None => verb.to_owned(),
            },
        })
    }

    /// Sends one chunk of rows as a load job into `destination`.
    fn load_chunk(
        &self,
        sent: &mut Sent,
        destination: &RelationRef,
        schema: &Value,
        write_disposition: &str,
        data: &[u8],
        rows: u64,
    ) -> Result<(), AdapterError> {
        let configuration = json!({
            "load": {
                "destinationTable": self.table_reference(destination),
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "schema": schema,
                "writeDisposition": write_disposition,
                "createDisposition": "CREATE_IF_NEEDED",
                "ignoreUnknownValues": false,
                "maxBadRecords": 0,
            },
            "labels": self.labels(),
        });
        sent.0.push(format!(
            "-- load job: {rows} rows ({} bytes of newline-delimited JSON) into {} ({write_disposition})",
            data.len(),
            KIND.render_relation(destination)
        ));
        self.block(self.api().load_job("a load job", &configuration, data))
            .map(|_| ())
            .map_err(|error| Self::api_error(&error, sent))
    }

    fn copy_table(
        &self,
        sent: &mut Sent,
        from: &RelationRef,
        to: &RelationRef,
        write_disposition: &str,
    ) -> Result<(), AdapterError> {
        let configuration = json!({
            "copy": {
                "sourceTable": self.table_reference(from),
                "destinationTable": self.table_reference(to),
                "writeDisposition": write_disposition,
                "createDisposition": "CREATE_IF_NEEDED",
            },
            "labels": self.labels(),
        });
        sent.0.push(format!(
            "-- copy job: {} into {} ({write_disposition})",
            KIND.render_relation(from),
            KIND.render_relation(to)
        ));
        self.block(self.api().query_job("a copy job", &configuration))
            .map(|_| ())
            .map_err(|error| Self::api_error(&error, sent))
    }

    fn table_reference(&self, relation: &RelationRef) -> Value {
        json!({
            "projectId": self.project_of(relation),
            "datasetId": relation.schema,
            "tableId": relation.identifier,
        })
    }

    /// Deletes the staging tables of `relation` an earlier load left
    /// behind (it was interrupted before it could drop them). Any such
    /// table is stale: a load creates its own, under a new name. Failing to
    /// look is noted, not fatal: the tables expire by themselves.
    fn remove_stale_staging(&self, relation: &RelationRef, sent: &mut Sent) {
        let project = self.project_of(relation);
        let dataset = &relation.schema;
        let tables = match self.block(self.api().list_tables(project, dataset)) {
            Ok(tables) => tables,
            Err(error) => {
                self.api().note(&format!(
                    "cannot look for staging tables left in `{project}.{dataset}`: {}",
                    error.message
                ));
                return;
            }
        };
        for table in tables {
            let Some(name) = table
                .pointer("/tableReference/tableId")
                .and_then(Value::as_str)
            else {
                continue;
            };
            if !staging::is_staging_of(&relation.identifier, name) {
                continue;
            }
            let stale = RelationRef {
                database: relation.database.clone(),
                schema: relation.schema.clone(),
                identifier: name.to_owned(),
            };
            let shown = KIND.render_relation(&stale);
            match self.block(self.api().delete_table(project, dataset, name)) {
                Ok(()) => {
                    sent.0.push(format!(
                        "-- drop stale staging table {shown} (tables.delete)"
                    ));
                    self.api().note(&format!(
                        "dropped {shown}, a staging table an interrupted load left behind"
                    ));
                }
                Err(error) => self.api().note(&format!(
                    "cannot drop {shown}, a staging table an interrupted load left behind: {}",
                    error.message
                )),
            }
        }
    }

    /// Creates the staging table, expiring by itself a day later.
    fn create_staging(
        &self,
        sent: &mut Sent,
        staging: &RelationRef,
        target: &RelationRef,
        schema: &Value,
    ) -> Result<(), AdapterError> {
        let resource = staging::resource(
            &self.table_reference(staging),
            schema,
            &self.labels(),
            &KIND.render_relation(target),
            SystemTime::now(),
        );
        sent.0.push(format!(
            "-- create {} (tables.insert, expires by itself in {} h)",
            KIND.render_relation(staging),
            staging::STAGING_LIFETIME.as_secs() / 3600
        ));
        self.block(self.api().create_table(&resource))
            .map_err(|error| Self::api_error(&error, sent))
    }

    /// After the swap, the table keeps the expiration it had (none, as a
    /// rule), whatever the copy job did with the staging table's.
    fn keep_expiration(
        &self,
        sent: &mut Sent,
        relation: &RelationRef,
        before: Option<&str>,
    ) -> Result<(), AdapterError> {
        let after = self.table(relation)?.and_then(|t| {
            t.get("expirationTime")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if after.as_deref() == before {
            return Ok(());
        }
        sent.0.push(format!(
            "-- keep the expiration of {} ({}; tables.patch)",
            KIND.render_relation(relation),
            before.map_or_else(|| "none".to_owned(), |ms| format!("{ms} ms")),
        ));
        self.block(self.api().set_table_expiration(
            self.project_of(relation),
            &relation.schema,
            &relation.identifier,
            before,
        ))
        .map_err(|error| Self::api_error(&error, sent))
    }

    /// Loads Arrow batches: chunks of newline-delimited JSON, one load job
    /// each. One chunk goes straight to the table (a load job is atomic);
    /// more go to a staging table first, copied over the table in one job
    /// once all have landed, so a failure midway changes nothing.
    fn load_arrow(
        &self,
        relation: &RelationRef,
        schema: &Value,
        append: bool,
        batches: &mut dyn Iterator<Item = Result<RecordBatch, String>>,
    ) -> Result<BuildOutcome, AdapterError> {
        let mut sent = Sent::default();
        self.ensure_dataset(relation)?;
        self.remove_stale_staging(relation, &mut sent);
        let existing_table = self.table(relation)?;
        let existing = existing_table.as_ref().map(kind_of_resource);
        if append && existing != Some(RelationKind::Table) {
            return Err(AdapterError::new(format!(
                "cannot append to {}: it does not exist as a table yet",
                KIND.render_relation(relation)
            )));
        }
        let expiration_before = existing_table
            .as_ref()
            .filter(|_| existing == Some(RelationKind::Table))
            .and_then(|t| t.get("expirationTime").and_then(Value::as_str))
            .map(str::to_owned);
        let final_disposition = if append {
            "WRITE_APPEND"
        } else {
            "WRITE_TRUNCATE"
        };
        let chunk_bytes = self.shared.settings.upload_chunk_bytes;
        let staging = RelationRef {
            database: relation.database.clone(),
            schema: relation.schema.clone(),
            identifier: staging::staging_name(&relation.identifier, &self.api().new_job_id("t")),
        };
        let mut buffer: Vec<u8> = Vec::new();
        let mut buffered_rows = 0_u64;
        let mut total_rows = 0_u64;
        // Set once the staging table may exist: it is dropped at the end
        // whatever happened.
        let mut staged = false;
        let outcome = (|| -> Result<(), AdapterError> {
            for batch in batches {
                let batch = batch.map_err(AdapterError::new)?;
                convert::write_ndjson(&batch, &mut buffer).map_err(AdapterError::new)?;
                buffered_rows += batch.num_rows() as u64;
                total_rows += batch.num_rows() as u64;
                if buffer.len() >= chunk_bytes {
                    if !staged {
                        staged = true;
                        self.create_staging(&mut sent, &staging, relation, schema)?;
                    }
                    self.load_chunk(
                        &mut sent,
                        &staging,
                        schema,
                        "WRITE_APPEND",
                        &buffer,
                        buffered_rows,
                    )?;
                    buffer.clear();
                    buffered_rows = 0;
                }
            }
            if staged {
                if !buffer.is_empty() {
                    self.load_chunk(
                        &mut sent,
                        &staging,
                        schema,
                        "WRITE_APPEND",
                        &buffer,
                        buffered_rows,
                    )?;
                }
                if existing == Some(RelationKind::View) {
                    self.drop_relation(relation, RelationKind::View, &mut sent)?;
                }
                self.copy_table(&mut sent, &staging, relation, final_disposition)?;
                self.keep_expiration(&mut sent, relation, expiration_before.as_deref())
            } else {
                if existing == Some(RelationKind::View) {
                    self.drop_relation(relation, RelationKind::View, &mut sent)?;
                }
                self.load_chunk(
                    &mut sent,
                    relation,
                    schema,
                    final_disposition,
                    &buffer,
                    buffered_rows,
                )
            }
        })();
        if staged {
            let _ = self.block(self.api().delete_table(
                self.project_of(&staging),
                &staging.schema,
                &staging.identifier,
            ));
            sent.0.push(format!(
                "-- drop {} (tables.delete)",
                KIND.render_relation(&staging)
            ));
        }
        outcome?;
        let verb = if append { "APPEND" } else { "LOAD" };
        Ok(BuildOutcome {
            statements: sent.0,
            rows_affected: Some(total_rows),
            message: format!("{verb} ({})", plural_rows(total_rows)),
        })
    }
}

/// A table resource's kind: views (plain or materialized), else a table.
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
        let mut sent = Sent::default();
        let job = self.run(&mut sent, sql.to_owned())?;
        let Some(job_id) = job.pointer("/jobReference/jobId").and_then(Value::as_str) else {
            return Err(AdapterError::new(
                "BigQuery answered a query without a job id",
            ));
        };
        let (fields, rows) = self
            .block(self.api().results(job_id, limit))
            .map_err(|error| Self::statement_error(&error, &sent))?;
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
        let options = TableOptions::from_config(&request.config).map_err(AdapterError::new)?;
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
        let mut batches = batches.map(Ok);
        self.load_arrow(&load.relation, &schema, load.append, &mut batches)
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
        let (arrow_schema, read) = connection.read_csv_arrow(&load.path, &overrides)?;
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
        let mut batches = read.into_iter().map(Ok);
        let mut outcome = self.load_arrow(&load.relation, &schema, false, &mut batches)?;
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
        self.shared.settings.maximum_bytes_billed
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: &Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn settings_read_the_target_and_the_environment_wins_for_the_endpoint() {
        let target = fields(&json!({
            "type": "bigquery", "project": "acme", "dataset": "analytics", "location": "EU",
            "priority": "batch", "maximum_bytes_billed": "1000", "job_timeout": 60,
            "labels": {"Team": "Growth Analytics"}, "api_url": "http://127.0.0.1:9050",
            "resumable_threshold_bytes": 1000, "resumable_chunk_bytes": 300_000,
        }));
        let settings = Settings::from_fields(&target, None).expect("valid");
        assert_eq!(settings.resumable_threshold_bytes, 1000);
        assert_eq!(
            settings.resumable_chunk_bytes,
            2 * upload::RESUMABLE_GRANULE_BYTES
        );
        let defaults =
            Settings::from_fields(&fields(&json!({"project": "p", "dataset": "d"})), None)
                .expect("valid");
        assert_eq!(
            defaults.resumable_threshold_bytes,
            upload::RESUMABLE_THRESHOLD_BYTES
        );
        assert_eq!(
            defaults.resumable_chunk_bytes,
            upload::RESUMABLE_CHUNK_BYTES
        );
        assert_eq!(settings.project, "acme");
        assert_eq!(settings.location.as_deref(), Some("EU"));
        assert_eq!(settings.priority, "BATCH");
        assert_eq!(settings.maximum_bytes_billed, Some(1000));
        assert_eq!(settings.job_timeout, Some(Duration::from_mins(1)));
        assert_eq!(
            settings.labels,
            [("team".to_owned(), "growth_analytics".to_owned())]
        );
        assert_eq!(settings.api_url.as_deref(), Some("http://127.0.0.1:9050"));
        let from_env =
            Settings::from_fields(&target, Some("http://127.0.0.1:1234".into())).expect("valid");
        assert_eq!(from_env.api_url.as_deref(), Some("http://127.0.0.1:1234"));

        let no_project = fields(&json!({"type": "bigquery", "dataset": "d"}));
        assert!(
            Settings::from_fields(&no_project, None)
                .expect_err("no project")
                .contains("project")
        );
        let bad_priority = fields(&json!({"project": "p", "dataset": "d", "priority": "now"}));
        assert!(Settings::from_fields(&bad_priority, None).is_err());
    }

    #[test]
    fn a_table_whose_partitioning_changes_is_dropped_and_created_again() {
        let dropped = std::sync::atomic::AtomicBool::new(false);
        let (url, seen) = client::tests::fake_server(move |method, path, body| {
            let sql = body
                .pointer("/configuration/query/query")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut job =
                json!({"jobReference": body["jobReference"], "status": {"state": "DONE"}});
            match method {
                "GET" if path.contains("/tables/") => (
                    200,
                    json!({
                        "tableReference": {"projectId": "acme", "datasetId": "analytics", "tableId": "t"},
                        "schema": {"fields": [{"name": "day", "type": "DATE"}]},
                        "type": "TABLE",
                        "numRows": "3",
                    }),
                ),
                "GET" => (
                    200,
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "analytics"}}),
                ),
                _ if sql.contains("drop table") => {
                    dropped.store(true, std::sync::atomic::Ordering::SeqCst);
                    (200, job)
                }
                _ if sql.contains("create or replace table")
                    && !dropped.load(std::sync::atomic::Ordering::SeqCst) =>
                {
                    job["status"]["errorResult"] = json!({"reason": "invalidQuery", "message": "Cannot replace a table with a different partitioning spec. Instead, DROP the table, and then recreate it."});
                    (200, job)
                }
                _ => (200, job),
            }
        });
        let target = fields(&json!({"project": "acme", "dataset": "analytics"}));
        let settings = Settings::from_fields(&target, Some(url)).expect("settings");
        let adapter =
            BigQueryAdapter::open(settings, "inv", Arc::new(|_: &str| {})).expect("adapter");
        let mut connection = adapter.connect_bigquery();
        let mut config = Map::new();
        config.insert(
            "partition_by".into(),
            json!({"field": "day", "data_type": "date"}),
        );
        let outcome = connection
            .materialize(&MaterializeRequest {
                relation: RelationRef {
                    database: None,
                    schema: "analytics".into(),
                    identifier: "t".into(),
                },
                sql: "select current_date() as day".into(),
                materialization: Materialization::Table,
                pre_hooks: Vec::new(),
                post_hooks: Vec::new(),
                config,
            })
            .expect("rebuilt");
        let creates = outcome
            .statements
            .iter()
            .filter(|s| s.starts_with("create or replace table"))
            .count();
        assert_eq!(creates, 2, "{:?}", outcome.statements);
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s.starts_with("-- dry run"))
        );
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s == "drop table if exists `analytics`.`t`"),
            "{:?}",
            outcome.statements
        );
        assert_eq!(outcome.message, "CREATE TABLE (3 rows)");
        assert!(seen.lock().expect("log").len() >= 5);
    }

    /// Loads `batches` of `id`s into `raw.plans` through the stand-in at
    /// `url`, in upload parts of 10 bytes so every load is resumable.
    fn load_ids_into_raw_plans(url: String, batches: &[Vec<i64>]) -> BuildOutcome {
        use duckdb::arrow::array::Int64Array;
        use duckdb::arrow::datatypes::{DataType, Field, Schema};

        let target =
            fields(&json!({"project": "acme", "dataset": "analytics", "upload_chunk_bytes": 10}));
        let settings = Settings::from_fields(&target, Some(url)).expect("settings");
        let adapter =
            BigQueryAdapter::open(settings, "inv", Arc::new(|_: &str| {})).expect("adapter");
        let mut connection = adapter.connect_bigquery();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut batches = batches.iter().map(|ids| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(ids.clone()))],
            )
            .expect("a batch")
        });
        connection
            .load_batches(
                &BatchLoad {
                    relation: RelationRef {
                        database: None,
                        schema: "raw".into(),
                        identifier: "plans".into(),
                    },
                    schema: Arc::clone(&schema),
                    append: false,
                },
                &mut batches,
            )
            .expect("loaded")
    }

    #[test]
    fn a_large_load_stages_in_a_self_expiring_table_and_drops_stale_ones() {
        let (url, seen) = client::tests::fake_server_with(|request| {
            let path = request.path.split('?').next().unwrap_or_default();
            let done = json!({"jobReference": {"projectId": "acme", "jobId": "j1"}, "status": {"state": "DONE"}});
            let answer = match (request.method.as_str(), path) {
                ("GET", "/bigquery/v2/projects/acme/datasets/raw") => {
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "raw"}})
                }
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables") => json!({"tables": [
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans__sb_load_sb_t_1767225600000_0_ab12"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans__sb_load_by_hand"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans_daily__sb_load_sb_t_1767225600000_0_ab12"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans"}},
                ]}),
                ("GET", _) => {
                    return client::tests::Answer::from((
                        404,
                        json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}}),
                    ));
                }
                ("DELETE", _) => Value::Null,
                ("POST", "/bigquery/v2/projects/acme/datasets/raw/tables") => request.json(),
                _ => done,
            };
            client::tests::Answer::from((200, answer))
        });
        let started = SystemTime::now();
        let outcome = load_ids_into_raw_plans(url, &[vec![0, 1], vec![2, 3], vec![4, 5]]);
        assert_eq!(outcome.message, "LOAD (6 rows)");

        let requests = seen.lock().expect("log").clone();
        let deleted: Vec<&str> = requests
            .iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.path.rsplit('/').next().unwrap_or_default())
            .collect();
        assert_eq!(deleted.len(), 2, "{deleted:?}");
        assert_eq!(deleted[0], "plans__sb_load_sb_t_1767225600000_0_ab12");
        let staging = deleted[1];
        assert!(staging::is_staging_of("plans", staging), "{staging}");

        let created = requests
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/datasets/raw/tables"))
            .expect("the staging table was created")
            .json();
        assert_eq!(created["tableReference"]["tableId"], staging);
        assert_eq!(created["schema"]["fields"][0]["name"], "id");
        assert_eq!(created["labels"]["sb_invocation_id"], "inv");
        let expires: u128 = created["expirationTime"]
            .as_str()
            .and_then(|ms| ms.parse().ok())
            .expect("an expiration time");
        let day_later = (started + staging::STAGING_LIFETIME)
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis();
        assert!(
            expires >= day_later && expires < day_later + 60_000,
            "{expires} vs {day_later}"
        );

        // Three uploads into the staging table, then one copy over `plans`.
        let uploads: Vec<String> = requests
            .iter()
            .filter(|r| r.path.starts_with("/upload/"))
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        assert_eq!(uploads.len(), 3);
        assert!(uploads.iter().all(|u| u.contains(staging)));
        let copy = requests
            .iter()
            .map(client::tests::Seen::json)
            .find(|job| job.pointer("/configuration/copy").is_some())
            .expect("a copy job");
        assert_eq!(
            copy["configuration"]["copy"]["sourceTable"]["tableId"],
            staging
        );
        assert_eq!(
            copy["configuration"]["copy"]["destinationTable"]["tableId"],
            "plans"
        );
        assert!(
            outcome.statements.iter().any(|s| s.starts_with(
                "-- drop stale staging table `raw`.`plans__sb_load_sb_t_1767225600000_0_ab12`"
            )),
            "{:?}",
            outcome.statements
        );
    }

    /// Should a copy job carry the staging table's expiration over (the
    /// emulator keeps none, so this is shown against a stand-in), the table
    /// gets back the expiration it had: none.
    #[test]
    fn a_swapped_in_table_keeps_its_own_expiration() {
        let copied = Mutex::new(false);
        let (url, seen) = client::tests::fake_server_with(move |request| {
            let path = request.path.split('?').next().unwrap_or_default();
            let mut copied = copied.lock().expect("state");
            let not_found = json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}});
            let answer = match (request.method.as_str(), path) {
                ("GET", "/bigquery/v2/projects/acme/datasets/raw") => {
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "raw"}})
                }
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables") => json!({}),
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables/plans") if *copied => {
                    json!({
                        "tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans"},
                        "schema": {"fields": [{"name": "id", "type": "INTEGER"}]},
                        "expirationTime": "1767312000000",
                    })
                }
                ("GET", _) => return client::tests::Answer::from((404, not_found)),
                ("POST", "/bigquery/v2/projects/acme/datasets/raw/tables") | ("PATCH", _) => {
                    request.json()
                }
                ("DELETE", _) => Value::Null,
                _ => {
                    if request.json().pointer("/configuration/copy").is_some() {
                        *copied = true;
                    }
                    json!({"jobReference": {"projectId": "acme", "jobId": "j1"}, "status": {"state": "DONE"}})
                }
            };
            client::tests::Answer::from((200, answer))
        });
        let outcome = load_ids_into_raw_plans(url, &[vec![0], vec![1]]);
        let patched = seen
            .lock()
            .expect("log")
            .iter()
            .find(|r| r.method == "PATCH")
            .cloned()
            .expect("the table's expiration was set back");
        assert!(
            patched.path.ends_with("/datasets/raw/tables/plans"),
            "{}",
            patched.path
        );
        assert_eq!(patched.json(), json!({"expirationTime": null}));
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s == "-- keep the expiration of `raw`.`plans` (none; tables.patch)"),
            "{:?}",
            outcome.statements
        );
    }

    #[test]
    fn label_values_follow_bigquerys_rules() {
        assert_eq!(
            label_text("model.Streaming.plan_catalog"),
            "model_streaming_plan_catalog"
        );
        assert_eq!(label_text(&"x".repeat(80)).len(), 63);
    }
}
