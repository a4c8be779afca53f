//! Running data tests. Before the run, [`TestPlan`] sorts the selected tests
//! into batches: the built-in generic tests of one node that wait on the same
//! nodes share one aggregate query ([`batch`]); every other test
//! (custom, singular, overridden built-ins, `store_failures`) runs its own
//! query, which also returns its first failing rows. The scheduler still
//! sees one job per test: the first test of a batch to run evaluates the
//! batch, the others read its answer. A test's count becomes `pass`, `warn`
//! or `fail` through its severity, `warn_if`, `error_if` and `limit`.
//!
//! `plan` sorts the tests, [`batch`] writes the aggregate SQL, `run`
//! evaluates batches and single tests, `judge` turns counts into statuses,
//! and `columns` finds tests on columns a relation lacks.

pub mod batch;
mod columns;
mod judge;
mod plan;
mod run;

pub use columns::{check_columns, column_diagnostic};
pub use judge::test_location;
pub use run::audit_relation;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::adapter::RelationRef;
use crate::compile::CompiledProject;
use crate::diag::Diagnostic;
use crate::resource::NodeId;
use batch::BatchTest;

/// Failing rows shown for a failed test.
pub const SAMPLE_ROWS: usize = 5;

/// How the selected tests are grouped into queries.
pub struct TestPlan<'a> {
    compiled: &'a CompiledProject,
    batches: Vec<Batch>,
    batch_of: HashMap<NodeId, usize>,
}

struct Batch {
    id: String,
    attached: NodeId,
    relation: RelationRef,
    tests: Vec<BatchTest>,
    outcome: OnceLock<BatchOutcome>,
}

/// What evaluating one batch found.
struct BatchOutcome {
    started_at: DateTime<Utc>,
    completed_at: DateTime<Utc>,
    seconds: f64,
    /// Every statement sent, in order.
    statements: Vec<String>,
    /// The query that counted each test.
    served_by: HashMap<NodeId, String>,
    per_test: HashMap<NodeId, Counted>,
    /// Tests counted by their own query after the batch's failed.
    alone: HashSet<NodeId>,
}

/// One test's answer.
#[derive(Clone)]
enum Counted {
    Failures { failures: u64, samples: Vec<String> },
    Error(Diagnostic),
}

/// A message's first line, at most 160 characters.
fn short(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}
