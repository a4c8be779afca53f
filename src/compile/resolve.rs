//! What the compiler resolves once templates have run: the catalog that
//! `ref` and `source` answer from (relations, ephemeral and disabled
//! models, the `target`), the validation of each model's final config, and
//! the diagnostics for graph errors, pointed at the `ref` that causes them.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde_json::Value;

use crate::adapter::RelationRef;
use crate::diag::{Diagnostic, Location};
use crate::graph::GraphError;
use crate::jinja::Catalog;
use crate::project::Project;
use crate::project::config::{MATERIALIZATIONS, NodeConfig};
use crate::resource::ResourceType;

pub(super) fn catalog_for<'a>(
    project: &Project,
    relations: &[RelationRef],
    configs: impl IndexedParallelIterator<Item = &'a NodeConfig>,
) -> Catalog {
    let mut refable = HashMap::new();
    let mut sources = HashMap::new();
    let mut disabled = Vec::new();
    for (index, node) in project.nodes.iter().enumerate() {
        match node.resource_type {
            ResourceType::Model | ResourceType::Seed => {
                if node.config.enabled() {
                    refable.insert(node.name.clone(), index);
                } else {
                    disabled.push(node.name.clone());
                }
            }
            ResourceType::Source => {
                if let Some(source) = &node.source {
                    sources.insert((source.source_name.clone(), node.name.clone()), index);
                }
            }
            ResourceType::Test => {}
        }
    }
    let mut target = project.target.fields.clone();
    target.insert("type".into(), Value::from(project.target.kind.as_str()));
    target.insert(
        "project".into(),
        project
            .target
            .database
            .clone()
            .map_or(Value::Null, Value::from),
    );
    target.insert(
        "database".into(),
        project
            .target
            .database
            .clone()
            .map_or(Value::Null, Value::from),
    );
    target.insert(
        "profile_name".into(),
        Value::from(project.settings.name.clone()),
    );
    for secret in ["keyfile", "keyfile_json", "token", "password"] {
        target.remove(secret);
    }
    Catalog {
        kind: project.target.kind,
        project_name: project.settings.name.clone(),
        target: crate::jinja::to_value(&target),
        vars: project.settings.vars.clone(),
        refable,
        sources,
        relations: relations.to_vec(),
        ephemeral: configs.map(|c| c.materialized() == "ephemeral").collect(),
        disabled,
    }
}

pub(super) fn validate_config(
    project: &Project,
    index: usize,
    config: &NodeConfig,
) -> Result<(), Diagnostic> {
    let node = &project.nodes[index];
    let locate = |needle: &str| Location::find(node.file_path(), &node.raw_code, needle, 1);
    if let Some(value) = config.get("materialized")
        && !value.is_string()
    {
        return Err(Diagnostic::error(format!(
            "`materialized` of model `{}` must be a name, got `{value}`",
            node.name
        ))
        .at(locate("materialized"))
        .help("use one of: view, table, incremental, ephemeral"));
    }
    let materialized = config.materialized();
    if !MATERIALIZATIONS[..4].contains(&materialized) {
        let close =
            crate::graph::closest_names(materialized, MATERIALIZATIONS[..4].iter().copied(), 2);
        return Err(Diagnostic::error(format!(
            "unknown materialization `{materialized}` for model `{}`",
            node.name
        ))
        .at(locate(materialized))
        .help(
            crate::diag::did_you_mean(&close)
                .unwrap_or_else(|| "use view, table, incremental or ephemeral".into()),
        ));
    }
    if let Some(strategy) = config.str("incremental_strategy")
        && crate::adapter::IncrementalStrategy::parse(strategy).is_none()
    {
        return Err(Diagnostic::error(format!(
            "unknown incremental_strategy `{strategy}` for model `{}`",
            node.name
        ))
        .at(locate(strategy))
        .help(format!(
            "use one of: {}",
            crate::adapter::IncrementalStrategy::NAMES.join(", ")
        )));
    }
    Ok(())
}

pub(super) fn graph_error(project: &Project, error: &GraphError) -> Diagnostic {
    match error {
        GraphError::Cycle { path } => {
            let names: Vec<&str> = path
                .iter()
                .map(|&i| project.nodes[i].name.as_str())
                .collect();
            // The path follows the data (a feeds b): point at the first
            // node's ref to the node that feeds it, the one before it.
            let first = &project.nodes[path[0]];
            let feeder = path.len().checked_sub(2).and_then(|i| path.get(i));
            let next = feeder.map_or("", |&i| project.nodes[i].name.as_str());
            Diagnostic::error(format!("dependency cycle: {}", names.join(" -> ")))
                .at(locate_ref(first.file_path(), &first.raw_code, next))
                .help(
                    "models cannot depend on themselves, even indirectly: remove one of these refs",
                )
        }
        GraphError::UnknownDependency { node, missing } => {
            let node = &project.nodes[*node];
            Diagnostic::error(format!(
                "`{}` depends on `{missing}`, which does not exist",
                node.name
            ))
            .at(Location::from_line_col(
                node.file_path(),
                &node.raw_code,
                1,
                1,
                1,
            ))
        }
    }
}

/// Where `ref('name')` (or `source(..., 'name')`) appears in a template: the
/// quoted name inside the call, else the first quoted occurrence.
pub fn locate_ref(path: &Path, source: &str, name: &str) -> Location {
    if let Some(found) = crate::scan::call_argument_offset(source, name) {
        return Location::from_offset(path, source, found, name.chars().count());
    }
    for quote in ['\'', '"'] {
        if let Some(at) = source.find(&format!("{quote}{name}{quote}")) {
            return Location::from_offset(path, source, at + 1, name.chars().count());
        }
    }
    Location::find(path, source, name, 1)
}
