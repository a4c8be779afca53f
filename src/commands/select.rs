//! Which nodes a command works on: `--select`/`--exclude` through the
//! selector grammar, narrowed to the command's resource types and to
//! enabled nodes, with `state:` compared against `--state DIR`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::artifacts;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::selector::{self, IndirectSelection};
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

/// The enabled nodes of `kinds` picked by `--select`/`--exclude`.
pub fn select(
    compiled: &CompiledProject,
    session: &Session,
    kinds: &[ResourceType],
    reporter: &Reporter,
) -> Result<BTreeSet<usize>, Diagnostics> {
    let common = &session.flags;
    let eligible = |index: usize| {
        let node = &compiled.project.nodes[index];
        kinds.contains(&node.resource_type) && compiled.nodes[index].config.enabled()
    };
    if !session.has_selection() {
        return Ok((0..compiled.project.nodes.len())
            .filter(|&i| eligible(i))
            .collect());
    }
    let parsed =
        selector::parse(&common.select, &common.exclude).map_err(|e| selector_diagnostic(&e))?;
    let state = match &common.state {
        Some(dir) => Some(ManifestState::load(dir, compiled)?),
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

/// `state:` selection against the `manifest.json` of an earlier run: a node
/// is new when its id is absent there, modified when its code or config differ.
struct ManifestState {
    /// Per current node: `None` when new, else whether it changed.
    changed: Vec<Option<bool>>,
}

impl ManifestState {
    fn load(dir: &std::path::Path, compiled: &CompiledProject) -> Result<Self, Diagnostic> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostic::error(format!("cannot read {}: {e}", path.display()))
                .help("--state must name the target folder of an earlier sb or dbt run (it holds manifest.json)")
        })?;
        let old: Value = serde_json::from_str(&text).map_err(|e| {
            Diagnostic::error(format!("{} is not a valid manifest: {e}", path.display()))
                .help("point --state at a target folder written by sb or dbt")
        })?;
        let changed = compiled
            .project
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let previous = old
                    .get("nodes")
                    .and_then(|n| n.get(&node.unique_id))
                    .or_else(|| old.get("sources").and_then(|n| n.get(&node.unique_id)))?;
                let old_checksum = previous
                    .pointer("/checksum/checksum")
                    .and_then(Value::as_str);
                let same_code = old_checksum == Some(artifacts::checksum(&node.raw_code).as_str())
                    || node.resource_type == ResourceType::Source;
                let same_config = previous.get("config")
                    == Some(&Value::Object(compiled.nodes[index].config.0.clone()));
                Some(!(same_code && same_config))
            })
            .collect();
        Ok(Self { changed })
    }
}

impl selector::StateComparator for ManifestState {
    fn is_modified(&self, node: usize) -> bool {
        self.changed.get(node).copied().flatten().unwrap_or(true)
    }

    fn is_new(&self, node: usize) -> bool {
        self.changed.get(node).is_some_and(Option::is_none)
    }
}

fn selector_diagnostic(error: &selector::SelectorError) -> Diagnostics {
    let mut diagnostic = Diagnostic::error(format!("invalid selector: {}", error.message));
    if let Some(help) = &error.help {
        diagnostic = diagnostic.help(help.clone());
    }
    Diagnostics::from(diagnostic)
}
