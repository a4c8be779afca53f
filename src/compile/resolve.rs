//! What the compiler resolves once templates have run: the catalog that
//! `ref` and `source` answer from (relations, ephemeral and disabled
//! models, the `target`), the validation of each model's final config, and
//! the diagnostics for graph errors, pointed at the `ref` that causes them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use super::CompiledProject;
use crate::adapter::RelationRef;
use crate::diag::Diagnostics;
use crate::diag::{Diagnostic, Location};
use crate::graph::GraphError;
use crate::jinja::{Catalog, Jinja, NamePart};
use crate::project::Project;
use crate::project::config::NodeConfig;
use crate::resource::{Materialized, NodeId, ResourceType};

pub(super) fn catalog_for<'a>(
    project: &Project,
    relations: &[RelationRef],
    configs: impl IndexedParallelIterator<Item = &'a NodeConfig>,
) -> Catalog {
    let mut refable = HashMap::new();
    let mut sources = HashMap::new();
    let mut disabled = Vec::new();
    let mut external = HashMap::new();
    let mut versions = HashMap::new();
    // The root project, then each package that has nodes, with its vars.
    let mut packages = vec![project.settings.name.clone()];
    let mut var_scopes = vec![project.settings.vars.clone()];
    let mut package_of = Vec::with_capacity(project.nodes.len());
    for node in &project.nodes {
        let package = node.package_name.as_str();
        let position = packages
            .iter()
            .position(|name| name == package)
            .unwrap_or_else(|| {
                packages.push(package.to_string());
                var_scopes.push(project.vars_for(package));
                packages.len() - 1
            });
        package_of.push(position);
    }
    for (index, node) in NodeId::enumerate(&project.nodes) {
        match node.resource_type {
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot => {
                if let Some(version) = &node.version {
                    versions.insert(index, version.clone());
                }
                if node.config.enabled() {
                    refable
                        .entry(node.name.clone())
                        .or_insert_with(Vec::new)
                        .push(index);
                } else {
                    disabled.push(node.name.clone());
                }
            }
            ResourceType::Source => {
                if let Some(source) = &node.source {
                    sources.insert((source.source_name.clone(), node.name.clone()), index);
                }
                if let Some(location) = node.config.str("external_location") {
                    external.insert(index, location.to_string());
                }
            }
            ResourceType::Test | ResourceType::Analysis | ResourceType::UnitTest => {}
        }
    }
    let mut target = project.target.fields.clone();
    target.insert("type".into(), Value::from(project.target.kind.as_str()));
    // dbt-bigquery's `project` and everyone's `database` name the same thing.
    let database = project
        .target
        .database
        .clone()
        .map_or(Value::Null, Value::from);
    target.insert("project".into(), database.clone());
    target.insert("database".into(), database);
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
        packages,
        var_scopes,
        package_of,
        refable,
        sources,
        relations: relations.to_vec(),
        ephemeral: configs
            .map(|c| c.materialized() == Materialized::Ephemeral)
            .collect(),
        external,
        disabled,
        versions,
    }
}

/// `relations` as the project's own naming macros (`generate_schema_name`,
/// ...) name its models and seeds, when it defines any; otherwise as given.
pub(super) fn apply_naming<'a>(
    jinja: &Jinja,
    project: &Project,
    mut relations: Vec<RelationRef>,
    config_of: impl Fn(usize) -> &'a NodeConfig + Sync,
) -> Result<Vec<RelationRef>, Diagnostics> {
    let overrides = jinja.naming_overrides();
    if overrides.is_empty() {
        return Ok(relations);
    }
    let catalog = Arc::new(catalog_for(
        project,
        &relations,
        (0..project.nodes.len()).into_par_iter().map(&config_of),
    ));
    let renamed: Vec<Result<(usize, RelationRef), Diagnostic>> = (0..project.nodes.len())
        .into_par_iter()
        .filter(|&i| {
            matches!(
                project.nodes[i].resource_type,
                ResourceType::Model | ResourceType::Seed
            )
        })
        .map(|index| {
            let config = config_of(index);
            let mut relation = relations[index].clone();
            for &part in &overrides {
                let model = CompiledProject::model_value(project, NodeId::new(index), config);
                let custom = match part {
                    NamePart::Database => config.str("database"),
                    NamePart::Schema => config.str("schema"),
                    NamePart::Alias => config.str("alias"),
                };
                let name =
                    jinja.generate_name(&catalog, part, NodeId::new(index), custom, model)?;
                match part {
                    NamePart::Database => {
                        relation.database = Some(name).filter(|n| !n.is_empty() && n != "None");
                    }
                    NamePart::Schema => relation.schema = name,
                    NamePart::Alias => relation.identifier = name,
                }
            }
            Ok((index, relation))
        })
        .collect();
    let mut errors = Vec::new();
    for result in renamed {
        match result {
            Ok((index, relation)) => relations[index] = relation,
            Err(diagnostic) => errors.push(diagnostic),
        }
    }
    if errors.is_empty() {
        Ok(relations)
    } else {
        errors.truncate(1);
        Err(Diagnostics(errors))
    }
}

pub(super) fn validate_config(
    project: &Project,
    index: NodeId,
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
    let materialized = config.materialized_name();
    let for_models = Materialized::FOR_MODELS.map(Materialized::as_str);
    if !for_models.contains(&materialized) {
        let close =
            crate::diag::suggest::closest_names(materialized, for_models.iter().copied(), 2);
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
    validate_for_dialect(project, index, config)
}

/// The model's config against what its target's warehouse can build (the
/// dialect table): an incremental strategy or table option it lacks is an
/// error now, at the config, instead of a failed build later.
fn validate_for_dialect(
    project: &Project,
    index: NodeId,
    config: &NodeConfig,
) -> Result<(), Diagnostic> {
    let node = &project.nodes[index];
    let kind = project.target.kind;
    let dialect = kind.dialect();
    let target = &project.target.name;
    if config.materialized() == Materialized::Incremental
        && let Some(strategy) = config.incremental_strategy()
        && !dialect.supports_strategy(strategy)
    {
        let name = config.str("incremental_strategy").unwrap_or_default();
        let supported: Vec<&str> = dialect
            .incremental_strategies()
            .iter()
            .map(|s| s.as_str())
            .collect();
        return Err(Diagnostic::error(format!(
            "incremental_strategy `{name}` of model `{}` is not supported on {} (target `{target}`)",
            node.name,
            kind.as_str()
        ))
        .at(locate_config(project, index, "incremental_strategy"))
        .help(format!("use one of: {}", supported.join(", "))));
    }
    // `cluster_by` is only a hint, which DuckDB ignores as dbt-duckdb does.
    for (key, supported) in [("partition_by", dialect.supports_partition_by())] {
        if !supported && config.get(key).is_some() {
            return Err(Diagnostic::error(format!(
                "`{key}` of model `{}` is not supported on {} (target `{target}`)",
                node.name,
                kind.as_str()
            ))
            .at(locate_config(project, index, key))
            .help(format!(
                "remove `{key}`, or give it only where the target supports it (`{{% if target.type == 'bigquery' %}}`)"
            )));
        }
    }
    Ok(())
}

/// Where a model's config `key` is written: in the model file (`config()`),
/// else in the schema YAML entry of the model, else in project.yml's folder
/// config, else the model file's first line.
fn locate_config(project: &Project, index: NodeId, key: &str) -> Location {
    let node = &project.nodes[index];
    if node.raw_code.contains(key) {
        return Location::find(node.file_path(), &node.raw_code, key, 1);
    }
    for file in &project.schema_files {
        if file.source.contains(&format!("name: {}", node.name)) && file.source.contains(key) {
            return file.locate_key(key, file.locate_named(&node.name).line);
        }
    }
    let settings = Path::new(crate::project::settings::PROJECT_FILE);
    if let Ok(source) = std::fs::read_to_string(project.root.join(settings))
        && source.contains(key)
    {
        return Location::find(settings, &source, key, 1);
    }
    Location::find(node.file_path(), &node.raw_code, "", 1)
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
