//! Running nodes against the warehouse: the scheduler walks the graph in
//! parallel, each node is materialized ([`model`]), loaded ([`seed`]),
//! estimated ([`dry_run`]) or tested ([`testing`], batched by [`batch`])
//! through a worker's connection ([`pool`]), the SQL sent is written to
//! `target/run/` ([`outcome`]), and every outcome becomes a [`NodeResult`]
//! for the reporter, `run_results.json` and `junit.xml`. This module owns
//! the result types and the walk over the selected nodes.

pub mod contract;
pub mod dry_run;
pub mod model;
pub mod outcome;
pub mod pool;
pub mod scheduler;
pub mod seed;
pub mod sql_error;
pub mod testing;
pub mod unit_test;

// The paths other modules (and the module map in lib.rs) use.
pub use dry_run::{dry_run_node, human_bytes};
pub use model::build_node;
pub use outcome::{record_outcome, run_sql_path};
pub use pool::{ConnectionPool, SharedConnection};
pub use sql_error::{adapter_failure, locate_sql_error};
pub use testing::batch;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use crate::adapter::AdapterError;
use crate::compile::CompiledProject;
use crate::diag::Diagnostic;
use crate::report::{NodeLine, Reporter, Tone};
use crate::resource::{NodeId, ResourceType};
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
    pub index: NodeId,
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
    pub fn new(index: NodeId, status: Status, message: impl Into<String>) -> Self {
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
    pub fn cannot_connect(index: NodeId, error: &AdapterError) -> Self {
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

/// A unit of work the scheduler can run for a node.
pub type NodeJob<'a> = dyn Fn(NodeId, &ConnectionPool<'_>) -> NodeResult + Sync + 'a;

/// What the scheduler makes of a node's status: failures skip downstream.
fn job_status(status: Status) -> JobStatus {
    match status {
        Status::Error | Status::Fail => JobStatus::Failed,
        Status::Warn => JobStatus::Warned,
        _ => JobStatus::Success,
    }
}

/// Runs `selected` nodes along the graph, printing a line as each finishes.
/// `job` does one node; failed nodes skip their descendants, and so do the
/// failed ones of `settled` (an earlier stage of the same command, the
/// synthesizer's loads).
pub fn run_selected(
    compiled: &CompiledProject,
    pool: &ConnectionPool<'_>,
    selected: &BTreeSet<NodeId>,
    settled: &[NodeResult],
    options: RunOptions,
    reporter: &Reporter,
    job: &NodeJob<'_>,
) -> Vec<NodeResult> {
    let total = selected.len();
    let finished = AtomicUsize::new(0);
    let results: Mutex<HashMap<NodeId, NodeResult>> = Mutex::new(HashMap::new());
    let record = |result: NodeResult| {
        let position = finished.fetch_add(1, Ordering::SeqCst) + 1;
        print_line(compiled, reporter, &result, position, total);
        if let Ok(mut results) = results.lock() {
            results.insert(result.index, result);
        }
    };
    let settled: Vec<(NodeId, JobStatus)> = settled
        .iter()
        .map(|result| (result.index, job_status(result.status)))
        .collect();
    let outcomes = scheduler::run_after(
        &compiled.dag,
        selected,
        &settled,
        scheduler::SchedulerOptions {
            threads: options.threads.max(1),
            fail_fast: options.fail_fast,
            tests_gate_children: options.tests_gate_children,
        },
        &|index: NodeId| {
            let result = job(index, pool);
            let status = job_status(result.status);
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
                Outcome::NotRun => match crate::interrupt::requested() {
                    Some(signal) => format!(
                        "not run: the run was interrupted ({})",
                        crate::interrupt::signal_name(signal)
                    ),
                    None => "not run: an earlier failure stopped the run (--fail-fast)".to_string(),
                },
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
fn skip_reason(compiled: &CompiledProject, because: NodeId) -> String {
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
    let name = node.display_name();
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
