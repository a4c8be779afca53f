//! `--defer --state DIR`: a parent of the selected nodes that is neither
//! selected nor built in this target is read where the state manifest says
//! it was built (production, say), as dbt defers; a pull request then
//! builds only what it changed, against production's data (with
//! `--favor-state`, also parents this target has built). The project is
//! compiled again with those relations, so every `ref()` to them (also
//! through ephemeral models) names them.

use std::collections::{BTreeSet, HashMap};

use super::open_adapter;
use crate::adapter::RelationRef;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::state::ManifestRecord;
use crate::report::Reporter;
use crate::resource::{Materialized, NodeId, ResourceType};
use crate::session::Session;

/// The project compiled again with its unbuilt, unselected parents
/// deferred to the state manifest's relations; as it was when there are
/// none.
pub fn apply(
    compiled: CompiledProject,
    selected: &BTreeSet<NodeId>,
    session: &Session,
    reporter: &Reporter,
) -> Result<CompiledProject, Diagnostics> {
    let Some(dir) = session.flags.state.as_ref().filter(|_| session.flags.defer) else {
        return Ok(compiled);
    };
    let old = ManifestRecord::read(dir)?;
    let adapter = open_adapter(&compiled.project, session, reporter)?;
    let mut connection = adapter.connect().map_err(|error| {
        Diagnostics::from(Diagnostic::error(format!(
            "cannot connect to the target to decide what to defer: {}",
            error.message
        )))
    })?;
    let mut deferred: HashMap<String, RelationRef> = HashMap::new();
    let mut pending: Vec<NodeId> = selected
        .iter()
        .flat_map(|&i| compiled.nodes[i].depends_on.iter().copied())
        .collect();
    let mut seen: BTreeSet<NodeId> = BTreeSet::new();
    while let Some(parent) = pending.pop() {
        if selected.contains(&parent) || !seen.insert(parent) {
            continue;
        }
        let node = &compiled.project.nodes[parent];
        if !matches!(
            node.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        ) {
            continue;
        }
        // An ephemeral parent is no relation: its own parents are read.
        if compiled.nodes[parent].config.materialized() == Materialized::Ephemeral {
            pending.extend(compiled.nodes[parent].depends_on.iter().copied());
            continue;
        }
        let Some(relation) = &compiled.nodes[parent].relation else {
            continue;
        };
        if !session.flags.favor_state && matches!(connection.relation_kind(relation), Ok(Some(_))) {
            continue;
        }
        let Some(record) = old.node(&node.unique_id) else {
            continue;
        };
        if let (Some(schema), Some(alias)) = (&record.schema, &record.alias) {
            deferred.insert(
                node.unique_id.clone(),
                RelationRef {
                    database: record.database.clone(),
                    schema: schema.clone(),
                    identifier: alias.clone(),
                },
            );
        }
    }
    drop(connection);
    drop(adapter);
    if deferred.is_empty() {
        return Ok(compiled);
    }
    let mut names: Vec<&str> = deferred.keys().map(String::as_str).collect();
    names.sort_unstable();
    reporter.info(&format!(
        "Deferring {} to the state in {}: {}",
        super::finish::count_of(deferred.len(), &[ResourceType::Model, ResourceType::Seed]),
        dir.display(),
        names.join(", ")
    ));
    let mut project = compiled.project;
    project.deferred = deferred;
    crate::compile::compile(project, &[])
}
