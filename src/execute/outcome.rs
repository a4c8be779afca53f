//! What a node sent and what came back: the statements written to
//! `target/run/`, and the adapter's answer turned into a [`NodeResult`].

use super::sql_error::adapter_failure;
use super::{NodeResult, Status};
use crate::adapter::AdapterError;
use crate::compile::{CompiledProject, write_file};
use crate::resource::NodeId;

/// Writes the statements sent to `target/run/` and turns the adapter's
/// answer into a result.
pub fn record_outcome(
    compiled: &CompiledProject,
    index: NodeId,
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

fn join_statements(statements: &[String]) -> String {
    let mut out = statements.join(";\n\n");
    out.push_str(";\n");
    out
}

/// `target/run/<project>/<path>`: the statements sent for a node.
/// Loaded sources (the synthesizer's tables) get `sources/<source>/<table>.sql`.
pub fn run_sql_path(compiled: &CompiledProject, index: NodeId) -> std::path::PathBuf {
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
