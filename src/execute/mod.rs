//! Running nodes against the warehouse: the scheduler walks the graph in
//! parallel, each node is materialized (models), loaded (seeds) or tested
//! ([`testing`], batched by [`batch`]) through a worker's connection, the SQL
//! sent is written to `target/run/`, and every outcome becomes a
//! [`NodeResult`] for the reporter, `run_results.json` and `junit.xml`.

pub mod batch;
pub mod scheduler;
pub mod testing;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::adapter::{
    Adapter, AdapterError, Connection, CsvLoad, IncrementalStrategy, Materialization,
    MaterializeRequest, RelationKind,
};
use crate::compile::{CompiledProject, write_file};
use crate::diag::{Diagnostic, Location};
use crate::report::{NodeLine, Reporter, Tone};
use crate::resource::ResourceType;
use scheduler::{JobStatus, Outcome, SchedulerEvent};

/// The status of one node's run, spelled as in dbt's `run_results.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Skipped => "skipped",
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// Whether this status makes the command exit with code 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Error | Self::Fail)
    }
}

/// One node's result.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub index: usize,
    pub status: Status,
    pub message: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub seconds: f64,
    pub rows_affected: Option<u64>,
    pub failures: Option<u64>,
    /// SQL actually run (compiled SELECT).
    pub compiled_code: Option<String>,
    pub thread_id: String,
    /// The full diagnostic, for failures.
    pub diagnostic: Option<Diagnostic>,
    /// Extra fields for `adapter_response` / test bookkeeping.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Messages the node's templates logged with `log()`.
    pub logs: Vec<String>,
    /// For a test that found failures: its first failing rows, as text.
    pub samples: Vec<String>,
}

impl NodeResult {
    pub fn new(index: usize, status: Status, message: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            index,
            status,
            message: message.into(),
            started_at: now,
            completed_at: now,
            seconds: 0.0,
            rows_affected: None,
            failures: None,
            compiled_code: None,
            thread_id: thread_name(),
            diagnostic: None,
            extra: serde_json::Map::new(),
            logs: Vec::new(),
            samples: Vec::new(),
        }
    }
}

impl NodeResult {
    /// A node that could not run because no connection could be opened.
    pub fn cannot_connect(index: usize, error: &AdapterError) -> Self {
        let mut result = Self::new(
            index,
            Status::Error,
            format!("cannot connect: {}", error.message),
        );
        result.diagnostic = Some(Diagnostic::error(format!(
            "cannot connect to the warehouse: {}",
            error.message
        )));
        result
    }
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("Thread-1")
        .to_string()
}

/// Options for a run of models and seeds.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
    /// `sb build`: a failed error-severity test skips what is built on the
    /// data it tested.
    pub tests_gate_children: bool,
}

/// A worker's connection, shared with `run_query` while a node renders.
pub type SharedConnection = Arc<Mutex<Box<dyn Connection>>>;

/// Connections handed out to worker threads and returned after each node.
pub struct ConnectionPool<'a> {
    adapter: &'a dyn Adapter,
    idle: Mutex<Vec<SharedConnection>>,
}

impl<'a> ConnectionPool<'a> {
    pub fn new(adapter: &'a dyn Adapter) -> Self {
        Self {
            adapter,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn take(&self) -> Result<SharedConnection, AdapterError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None => Ok(Arc::new(Mutex::new(self.adapter.connect()?))),
        }
    }

    pub fn give_back(&self, connection: SharedConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
    }
}

/// A unit of work the scheduler can run for a node.
pub type NodeJob<'a> = dyn Fn(usize, &ConnectionPool<'_>) -> NodeResult + Sync + 'a;

/// Runs `selected` nodes along the graph, printing a line as each finishes.
/// `job` does one node; failed nodes skip their descendants.
pub fn run_selected(
    compiled: &CompiledProject,
    pool: &ConnectionPool<'_>,
    selected: &BTreeSet<usize>,
    options: RunOptions,
    reporter: &Reporter,
    job: &NodeJob<'_>,
) -> Vec<NodeResult> {
    let total = selected.len();
    let finished = AtomicUsize::new(0);
    let results: Mutex<HashMap<usize, NodeResult>> = Mutex::new(HashMap::new());
    let record = |result: NodeResult| {
        let position = finished.fetch_add(1, Ordering::SeqCst) + 1;
        print_line(compiled, reporter, &result, position, total);
        if let Ok(mut results) = results.lock() {
            results.insert(result.index, result);
        }
    };
    let outcomes = scheduler::run_with(
        &compiled.dag,
        selected,
        scheduler::SchedulerOptions {
            threads: options.threads.max(1),
            fail_fast: options.fail_fast,
            tests_gate_children: options.tests_gate_children,
        },
        &|index: usize| {
            let result = job(index, pool);
            let status = match result.status {
                Status::Error | Status::Fail => JobStatus::Failed,
                Status::Warn => JobStatus::Warned,
                _ => JobStatus::Success,
            };
            record(result);
            status
        },
        &|event: SchedulerEvent| {
            if let SchedulerEvent::Skipped(index, because) = event {
                let mut result =
                    NodeResult::new(index, Status::Skipped, skip_reason(compiled, because));
                result.thread_id = "main".into();
                record(result);
            }
        },
    );
    let mut results = results.into_inner().unwrap_or_default();
    let mut ordered = Vec::with_capacity(outcomes.len());
    for (index, outcome) in outcomes {
        if let Some(result) = results.remove(&index) {
            ordered.push(result);
        } else {
            let message = match outcome {
                Outcome::NotRun => {
                    "not run: an earlier failure stopped the run (--fail-fast)".to_string()
                }
                Outcome::Skipped { because } => skip_reason(compiled, because),
                Outcome::Finished(_) => "finished".to_string(),
            };
            let result = NodeResult::new(index, Status::Skipped, message);
            if matches!(outcome, Outcome::NotRun) {
                let position = finished.fetch_add(1, Ordering::SeqCst) + 1;
                print_line(compiled, reporter, &result, position, total);
            }
            ordered.push(result);
        }
    }
    ordered
}

/// Why a node was skipped: "skipped because `orders` failed", or "...
/// because test `unique_orders_id` failed".
fn skip_reason(compiled: &CompiledProject, because: usize) -> String {
    let cause = &compiled.project.nodes[because];
    match cause.resource_type {
        ResourceType::Model => format!("skipped because `{}` failed", cause.name),
        kind => format!("skipped because {kind} `{}` failed", cause.name),
    }
}

pub fn print_line(
    compiled: &CompiledProject,
    reporter: &Reporter,
    result: &NodeResult,
    position: usize,
    total: usize,
) {
    let node = &compiled.project.nodes[result.index];
    for line in &result.logs {
        reporter.info(line);
    }
    let (status, tone) = match result.status {
        Status::Success => ("OK", Tone::Good),
        Status::Pass => ("PASS", Tone::Good),
        Status::Warn => ("WARN", Tone::Warn),
        Status::Error => ("ERROR", Tone::Bad),
        Status::Fail => ("FAIL", Tone::Bad),
        Status::Skipped => ("SKIP", Tone::Warn),
    };
    let name = match &node.source {
        Some(source) => format!("{}.{}", source.source_name, node.name),
        None => node.name.clone(),
    };
    reporter.node(&NodeLine {
        index: position,
        total,
        status,
        result_status: result.status.as_str(),
        tone,
        resource_type: node.resource_type.as_str(),
        unique_id: &node.unique_id,
        name: &name,
        detail: &result.message,
        seconds: result.seconds,
        failures: result.failures,
    });
}

/// Builds one model or loads one seed.
pub fn build_node(
    compiled: &CompiledProject,
    index: usize,
    pool: &ConnectionPool<'_>,
    full_refresh: bool,
) -> NodeResult {
    on_connection(compiled, index, pool, |connection| {
        match compiled.project.nodes[index].resource_type {
            ResourceType::Seed => load_seed(compiled, index, connection),
            _ => build_model(compiled, index, connection, full_refresh),
        }
    })
}

/// Runs `work` for node `index` on a connection from the pool, marked with
/// the node, and times it; with no connection the node is an error.
fn on_connection(
    compiled: &CompiledProject,
    index: usize,
    pool: &ConnectionPool<'_>,
    work: impl FnOnce(&SharedConnection) -> NodeResult,
) -> NodeResult {
    let started_at = Utc::now();
    let clock = Instant::now();
    let mut result = match pool.take() {
        Ok(connection) => {
            lock(&connection).set_node(Some(&compiled.project.nodes[index].unique_id));
            let result = work(&connection);
            pool.give_back(connection);
            result
        }
        Err(error) => NodeResult::cannot_connect(index, &error),
    };
    result.started_at = started_at;
    result.completed_at = Utc::now();
    result.seconds = clock.elapsed().as_secs_f64();
    result
}

fn lock(connection: &SharedConnection) -> std::sync::MutexGuard<'_, Box<dyn Connection>> {
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn build_model(
    compiled: &CompiledProject,
    index: usize,
    connection: &SharedConnection,
    full_refresh: bool,
) -> NodeResult {
    let state = &compiled.nodes[index];
    let Some(relation) = state.relation.clone() else {
        return NodeResult::new(index, Status::Error, "model has no relation");
    };
    let config = &state.config;
    let materialized = config.materialized();
    let full_refresh = match config.full_refresh() {
        Some(value) => value,
        None => full_refresh,
    };
    let mut is_incremental = false;
    if materialized == "incremental" && !full_refresh {
        match lock(connection).relation_kind(&relation) {
            Ok(Some(RelationKind::Table)) => is_incremental = true,
            Ok(_) => {}
            Err(error) => return adapter_failure(compiled, index, &error, None),
        }
    }
    let query_connection = Arc::clone(connection);
    let query: crate::jinja::QueryFn = Box::new(move |sql: &str| {
        lock(&query_connection)
            .query(sql, None)
            .map_err(|e| e.message)
    });
    let (sql, logs_seen) = match compiled.render_for_execution(index, is_incremental, Some(query)) {
        Ok((sql, logs)) => {
            let logs = if state.render_at_execution {
                logs
            } else {
                state.logs.clone()
            };
            (sql, logs)
        }
        Err(diagnostic) => {
            let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
            result.diagnostic = Some(diagnostic);
            return result;
        }
    };
    let mut hooks = [Vec::new(), Vec::new()];
    for (slot, (texts, what)) in hooks.iter_mut().zip([
        (config.pre_hooks(), "pre_hook"),
        (config.post_hooks(), "post_hook"),
    ]) {
        for text in texts {
            match compiled.render_snippet(index, &text, what) {
                Ok(rendered) => slot.push(rendered),
                Err(diagnostic) => {
                    let mut result =
                        NodeResult::new(index, Status::Error, diagnostic.message.clone());
                    result.diagnostic = Some(diagnostic);
                    return result;
                }
            }
        }
    }
    let [pre_hooks, post_hooks] = hooks;
    let materialization = match materialized {
        "view" => Materialization::View,
        "incremental" => Materialization::Incremental {
            strategy: config
                .incremental_strategy()
                .unwrap_or(if config.unique_key().is_empty() {
                    IncrementalStrategy::Append
                } else {
                    IncrementalStrategy::Merge
                }),
            unique_key: config.unique_key(),
            full_refresh: !is_incremental,
        },
        _ => Materialization::Table,
    };
    let request = MaterializeRequest {
        relation: relation.clone(),
        sql: sql.clone(),
        materialization,
        pre_hooks,
        post_hooks,
        config: config.0.clone(),
    };
    let outcome = lock(connection).materialize(&request);
    let mut result = record_outcome(compiled, index, outcome);
    result.compiled_code = Some(sql);
    if result.status == Status::Success {
        result.logs = logs_seen;
        result
            .extra
            .insert("materialized".into(), serde_json::Value::from(materialized));
    }
    result
}

/// Writes the statements sent to `target/run/` and turns the adapter's
/// answer into a result.
pub fn record_outcome(
    compiled: &CompiledProject,
    index: usize,
    outcome: Result<crate::adapter::BuildOutcome, AdapterError>,
) -> NodeResult {
    let run_path = run_sql_path(compiled, index);
    match outcome {
        Ok(outcome) => {
            let _ = write_file(&run_path, &join_statements(&outcome.statements));
            let mut result = NodeResult::new(index, Status::Success, outcome.message.clone());
            result.rows_affected = outcome.rows_affected;
            result
        }
        Err(error) => {
            let _ = write_file(&run_path, &join_statements(&error.statements));
            adapter_failure(compiled, index, &error, Some(&run_path))
        }
    }
}

fn load_seed(
    compiled: &CompiledProject,
    index: usize,
    connection: &SharedConnection,
) -> NodeResult {
    let node = &compiled.project.nodes[index];
    let Some(relation) = compiled.nodes[index].relation.clone() else {
        return NodeResult::new(index, Status::Error, "seed has no relation");
    };
    let column_types = compiled.nodes[index]
        .config
        .get("column_types")
        .and_then(serde_json::Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let load = CsvLoad {
        relation,
        path: compiled.project.root.join(&node.original_file_path),
        column_types,
    };
    let outcome = lock(connection).load_csv(&load);
    record_outcome(compiled, index, outcome)
}

fn join_statements(statements: &[String]) -> String {
    let mut out = statements.join(";\n\n");
    out.push_str(";\n");
    out
}

/// `target/run/<project>/<path>`: the statements sent for a node.
/// Loaded sources (the synthesizer's tables) get `sources/<source>/<table>.sql`.
pub fn run_sql_path(compiled: &CompiledProject, index: usize) -> std::path::PathBuf {
    let project = &compiled.project;
    let node = &project.nodes[index];
    let base = project
        .target_dir()
        .join("run")
        .join(&project.settings.name);
    match &node.source {
        Some(source) => base
            .join("sources")
            .join(&source.source_name)
            .join(format!("{}.sql", node.name)),
        None => base.join(node.compiled_file()),
    }
}

/// Turns a warehouse error into a failed result whose diagnostic points at
/// the model file (the quoted name in the message, when the file has it).
pub fn adapter_failure(
    compiled: &CompiledProject,
    index: usize,
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
    diagnostic = diagnostic.help(if is_seed {
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
fn locate_csv_error(compiled: &CompiledProject, index: usize, message: &str) -> Location {
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
fn first_sql_line(raw: &str) -> usize {
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

/// `--dry-run`: asks the warehouse what one model would process, without
/// running it. A model over `maximum_bytes_billed` is refused.
pub fn dry_run_node(
    compiled: &CompiledProject,
    index: usize,
    pool: &ConnectionPool<'_>,
) -> NodeResult {
    let mut result = on_connection(compiled, index, pool, |connection| {
        estimate_model(compiled, index, connection)
    });
    if result.status == Status::Error && result.diagnostic.is_none() {
        let node = &compiled.project.nodes[index];
        result.diagnostic = Some(Diagnostic::error(format!(
            "{} `{}`: {}",
            node.resource_type, node.name, result.message
        )));
    }
    result
}

fn estimate_model(
    compiled: &CompiledProject,
    index: usize,
    connection: &SharedConnection,
) -> NodeResult {
    let state = &compiled.nodes[index];
    let node = &compiled.project.nodes[index];
    let Some(relation) = state.relation.clone() else {
        return NodeResult::new(index, Status::Error, "model has no relation");
    };
    let is_incremental = state.config.materialized() == "incremental"
        && !state.config.full_refresh().unwrap_or(false)
        && matches!(
            lock(connection).relation_kind(&relation),
            Ok(Some(RelationKind::Table))
        );
    let query_connection = Arc::clone(connection);
    let query: crate::jinja::QueryFn = Box::new(move |sql: &str| {
        lock(&query_connection)
            .query(sql, None)
            .map_err(|e| e.message)
    });
    let sql = match compiled.render_for_execution(index, is_incremental, Some(query)) {
        Ok((sql, _)) => sql,
        Err(diagnostic) => {
            let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
            result.diagnostic = Some(diagnostic);
            return result;
        }
    };
    let mut guard = lock(connection);
    let limit = guard.maximum_bytes_billed();
    let estimate = guard.dry_run(&sql);
    drop(guard);
    let mut result = match estimate {
        Ok(bytes) => match limit {
            Some(limit) if bytes > limit => {
                let mut result = NodeResult::new(
                    index,
                    Status::Error,
                    format!(
                        "refused: would process {}, over maximum_bytes_billed ({})",
                        human_bytes(bytes),
                        human_bytes(limit)
                    ),
                );
                result.diagnostic = Some(
                    Diagnostic::error(format!(
                        "model `{}` would process {bytes} bytes, more than the target's maximum_bytes_billed of {limit}",
                        node.name
                    ))
                    .at(Location::from_line_col(node.file_path(), &node.raw_code, 1, 1, 1))
                    .help("filter the query (a partition filter, fewer columns) or raise `maximum_bytes_billed` in project.yml"),
                );
                result
            }
            _ => NodeResult::new(
                index,
                Status::Success,
                format!("would process {}", human_bytes(bytes)),
            ),
        }
        .with_bytes(bytes),
        Err(error) => adapter_failure(compiled, index, &error, None),
    };
    result.compiled_code = Some(sql);
    result
}

impl NodeResult {
    fn with_bytes(mut self, bytes: u64) -> Self {
        self.extra
            .insert("bytes_processed".into(), serde_json::Value::from(bytes));
        self
    }
}

/// Bytes as BigQuery's console shows them (1 KB = 1024 bytes).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
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
