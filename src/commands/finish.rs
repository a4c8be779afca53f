//! The end of every command that runs nodes: artifacts written, failures
//! printed, the summary line, and the outcome; plus the "3 models" wording
//! the progress lines share.

use std::collections::BTreeSet;
use std::time::Instant;

use super::Outcome;
use crate::artifacts::{self, Invocation};
use crate::compile::CompiledProject;
use crate::diag::Diagnostics;
use crate::execute::{NodeResult, Status};
use crate::report::{Counts, Reporter};
use crate::resource::{NodeId, ResourceType};

/// The kinds among `nodes`, for [`count_of`]; models when there are none.
pub fn kinds_of(compiled: &CompiledProject, nodes: &[NodeId]) -> Vec<ResourceType> {
    let kinds: BTreeSet<ResourceType> = nodes
        .iter()
        .map(|&i| compiled.project.nodes[i].resource_type)
        .collect();
    if kinds.is_empty() {
        vec![ResourceType::Model]
    } else {
        kinds.into_iter().collect()
    }
}

/// "1 model", "3 models", "6 nodes" (several kinds), "1 thread".
pub fn count_of(count: usize, kinds: &[ResourceType]) -> String {
    let noun = match kinds {
        [] => "thread",
        [ResourceType::UnitTest] => "unit test",
        [ResourceType::Test, ResourceType::UnitTest] => "test",
        [kind] => kind.as_str(),
        _ => "node",
    };
    let suffix = if count == 1 { "" } else { "s" };
    format!("{count} {noun}{suffix}")
}

/// Writes artifacts, prints failures and the summary, and decides the outcome.
pub fn finish(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    clock: Instant,
    reporter: &Reporter,
    what: &str,
) -> Result<Outcome, Diagnostics> {
    let elapsed = clock.elapsed().as_secs_f64();
    artifacts::write_manifest(compiled, invocation)?;
    artifacts::write_run_results(compiled, invocation, results, elapsed)?;
    for result in results {
        if let Some(diagnostic) = &result.diagnostic {
            reporter.diagnostic(diagnostic);
        }
    }
    let count = |status: Status| results.iter().filter(|r| r.status == status).count();
    let counts = Counts {
        pass: count(Status::Success) + count(Status::Pass),
        warn: count(Status::Warn),
        error: count(Status::Error) + count(Status::Fail),
        skip: count(Status::Skipped),
    };
    reporter.summary(counts, elapsed, what);
    Ok(if results.iter().any(|r| r.status.is_failure()) {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}
