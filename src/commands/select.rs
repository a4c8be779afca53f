//! Which nodes a command works on: `--select`/`--exclude` through the
//! selector grammar, narrowed to the command's resource types and to
//! enabled nodes, with `state:` compared against `--state DIR`.

use std::collections::BTreeSet;

use crate::artifacts;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::selector::{self, IndirectSelection};
use crate::graph::state::ManifestState;
use crate::report::Reporter;
use crate::resource::{NodeId, ResourceType};
use crate::session::Session;

/// The enabled nodes of `kinds` picked by `--select`/`--exclude`.
pub fn select(
    compiled: &CompiledProject,
    session: &Session,
    kinds: &[ResourceType],
    reporter: &Reporter,
) -> Result<BTreeSet<NodeId>, Diagnostics> {
    let common = &session.flags;
    let eligible = |index: NodeId| {
        let node = &compiled.project.nodes[index];
        kinds.contains(&node.resource_type) && compiled.nodes[index].config.enabled()
    };
    if !session.has_selection() {
        return Ok(NodeId::all(compiled.project.nodes.len())
            .filter(|&i| eligible(i))
            .collect());
    }
    let parsed =
        selector::parse(&common.select, &common.exclude).map_err(|e| selector_diagnostic(&e))?;
    let state = match &common.state {
        Some(dir) => Some(ManifestState::load(dir, &compiled.graph_nodes, || {
            artifacts::manifest_record(compiled)
        })?),
        None => None,
    };
    let selection = parsed
        .select(
            &compiled.graph_nodes,
            &compiled.dag,
            state.as_ref().map(|s| s as &dyn selector::StateComparator),
            IndirectSelection::Eager,
            kinds,
        )
        .map_err(|e| selector_diagnostic(&e))?;
    for term in &selection.unmatched_terms {
        reporter.warning(&format!("the selector `{term}` matched no nodes"));
    }
    Ok(selection
        .nodes
        .into_iter()
        .filter(|&i| eligible(i))
        .collect())
}

fn selector_diagnostic(error: &selector::SelectorError) -> Diagnostics {
    let mut diagnostic = Diagnostic::error(format!("invalid selector: {}", error.message));
    if let Some(help) = &error.help {
        diagnostic = diagnostic.help(help.clone());
    }
    Diagnostics::from(diagnostic)
}
