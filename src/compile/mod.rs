//! Node -> compiled SQL. Renders every model once in parse mode (recording
//! `ref`, `source` and `config()`), merges in-file config, resolves final
//! relations, builds the DAG, re-renders only the models whose references
//! changed, inlines ephemeral models as CTEs, and writes `target/compiled/`.
//!
//! This module owns [`CompiledProject`] and the order of those phases; the
//! renders live in `parse`, the catalog and config checks in `resolve`, the
//! CTE inlining in `ephemeral` and the files in `write`.

mod ephemeral;
mod parse;
mod resolve;
mod write;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::adapter::RelationRef;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::{Dag, GraphNode, VersionRank};
use crate::jinja::{Captured, Catalog, Jinja, Mode, RenderRequest};
use crate::project::config::{self, NodeConfig};
use crate::project::snapshots::snapshot_spec;
use crate::project::versions::ModelVersion;
use crate::project::{Project, SourceFile, data_tests};
use crate::resource::{NodeId, ResourceType};
pub use ephemeral::inline_ephemerals;
use parse::{RenderAs, render_model, test_diagnostic};
pub use resolve::locate_ref;
use resolve::{apply_naming, catalog_for, graph_error, validate_config};
pub use write::{compiled_path, write_compiled, write_file};

/// The result of compiling a project: every node with its final config,
/// relation, dependencies and SQL, and the graph over them.
pub struct CompiledProject {
    pub project: Project,
    pub jinja: Jinja,
    pub catalog: Arc<Catalog>,
    pub nodes: Vec<CompiledNode>,
    pub graph_nodes: Vec<GraphNode>,
    pub dag: Dag,
    /// What compiling found worth a warning (an unpinned ref to a model
    /// with a prerelease version).
    pub warnings: Vec<Diagnostic>,
}

/// Compile results for one node (parallel to `project.nodes`).
#[derive(Debug, Clone, Default)]
pub struct CompiledNode {
    pub config: NodeConfig,
    pub relation: Option<RelationRef>,
    /// Parents by node index (refs, then sources).
    pub depends_on: Vec<NodeId>,
    /// Rendered SQL before ephemeral CTEs are inlined.
    pub rendered: Option<String>,
    /// Final compiled SQL (models and tests).
    pub compiled: Option<String>,
    /// The template reads warehouse state (`is_incremental()`, `run_query`):
    /// render it again just before it runs.
    pub render_at_execution: bool,
    pub logs: Vec<String>,
}

impl CompiledProject {
    /// Facts about a node, exposed to templates as `model`.
    pub fn model_value(
        project: &Project,
        index: NodeId,
        config: &NodeConfig,
    ) -> minijinja::value::Value {
        let node = &project.nodes[index];
        minijinja::value::Value::from_object(crate::jinja::objects::ModelFacts {
            name: node.name.clone(),
            unique_id: node.unique_id.clone(),
            resource_type: node.resource_type.as_str(),
            package_name: node.package_name.clone(),
            original_file_path: node.original_file_path.clone(),
            path: node.path.clone(),
            fqn: node.fqn.clone(),
            description: node.description.clone(),
            config: config.clone(),
            version: node.version.clone(),
        })
    }

    /// Renders a node's SQL for execution: ephemeral parents inlined and,
    /// for templates that read warehouse state, `is_incremental()` and
    /// `run_query` answered live.
    pub fn render_for_execution(
        &self,
        index: NodeId,
        is_incremental: bool,
        query: Option<crate::jinja::QueryFn>,
    ) -> Result<(String, Vec<String>), Diagnostic> {
        let compiled = &self.nodes[index];
        if !compiled.render_at_execution {
            return Ok((compiled.compiled.clone().unwrap_or_default(), Vec::new()));
        }
        let (result, captured) = render_model(
            &self.jinja,
            &self.catalog,
            &self.project,
            index,
            &compiled.config,
            RenderAs::plain(Mode::Execute, is_incremental),
            query,
        );
        let sql = result?;
        Ok((
            inline_ephemerals(&sql, index, &self.nodes, &self.catalog),
            captured.logs,
        ))
    }

    /// Renders model `index` for one of its unit tests: ephemeral parents
    /// left as their CTE names (the test gives their rows), and the test's
    /// `overrides:` in force: `is_incremental()`, other macros' values,
    /// `vars` over the project's and `env_vars` over the environment.
    pub fn render_for_unit_test(
        &self,
        index: NodeId,
        overrides: &crate::project::unit_tests::Overrides,
    ) -> Result<String, Diagnostic> {
        let compiled = &self.nodes[index];
        if !compiled.render_at_execution && overrides.is_empty() {
            return Ok(compiled.rendered.clone().unwrap_or_default());
        }
        let vars = &overrides.vars;
        let catalog = if vars.is_empty() {
            Arc::clone(&self.catalog)
        } else {
            let mut catalog = (*self.catalog).clone();
            let package = catalog.package_index_of(index);
            if let Some(scope) = catalog.var_scopes.get_mut(package) {
                scope.extend(vars.clone());
            }
            Arc::new(catalog)
        };
        let (result, _) = render_model(
            &self.jinja,
            &catalog,
            &self.project,
            index,
            &compiled.config,
            RenderAs {
                mode: Mode::Execute,
                is_incremental: overrides.is_incremental,
                extra: self
                    .jinja
                    .overridden_macros(&overrides.macros, &overrides.env_vars),
            },
            None,
        );
        result
    }

    /// Renders a hook or other snippet in the context of node `index`, at
    /// run time: `is_incremental()` says what the model's run is, and with
    /// `query`, its `run_query` and `adapter` calls reach the warehouse.
    pub fn render_snippet(
        &self,
        index: NodeId,
        text: &str,
        (what, is_incremental): (&str, bool),
        query: Option<crate::jinja::QueryFn>,
    ) -> Result<String, Diagnostic> {
        let node = &self.project.nodes[index];
        let compiled = &self.nodes[index];
        let model = || Self::model_value(&self.project, index, &compiled.config);
        let name = format!("{} ({what})", node.original_file_path);
        let request = RenderRequest {
            node: index,
            name: &name,
            path: node.file_path(),
            source: text,
            mode: Mode::Execute,
            is_incremental,
            config: compiled.config.0.clone(),
            model: &model,
            test: None,
            extra: minijinja::Value::UNDEFINED,
        };
        self.jinja.render(&self.catalog, &request, query).0
    }

    pub fn find(&self, resource_type: ResourceType, name: &str) -> Option<NodeId> {
        self.project.find(resource_type, name)
    }
}

/// Compiles `project` (all enabled nodes).
pub fn compile(
    project: Project,
    builtin_macros: &[SourceFile],
) -> Result<CompiledProject, Diagnostics> {
    let mut builtins = builtin_macro_files();
    builtins.extend_from_slice(builtin_macros);
    let jinja = Jinja::new(
        project.target.kind,
        &builtins,
        &project.macro_files,
        &project.env,
        crate::jinja::Namespaces {
            project_name: &project.settings.name,
            dispatch: &project.settings.dispatch,
            lenient_undefined: project.settings.format
                == crate::project::settings::ProjectFormat::Dbt,
        },
    )
    .map_err(Diagnostics)?;
    let signatures = data_tests::test_signatures(builtins.iter().chain(&project.macro_files));
    let invalid_tests = data_tests::check(&project, &signatures);
    if !invalid_tests.is_empty() {
        return Err(Diagnostics(invalid_tests));
    }
    let count = project.nodes.len();

    // Relations as known before any template runs: folder + YAML config.
    let static_relations: Vec<RelationRef> = project
        .nodes
        .par_iter()
        .map(|n| project.relation_of(n))
        .collect();
    let static_relations = apply_naming(&jinja, &project, static_relations, |i| {
        &project.nodes[i].config
    })?;
    // `graph` while parsing: nodes with their YAML config, no dependencies.
    let mut jinja = jinja;
    let graph_mentioned = jinja.mentions_graph(project.nodes.iter().map(|n| n.raw_code.as_str()));
    if graph_mentioned {
        let input = crate::jinja::GraphInput {
            configs: &[],
            depends_on: &[],
            relations: &static_relations,
        };
        jinja.set_graph(&project, &input);
    }
    let static_catalog = Arc::new(catalog_for(
        &project,
        &static_relations,
        project.nodes.par_iter().map(|n| &n.config),
    ));

    // Parse: render every model and test once, recording refs and config().
    let models: Vec<NodeId> = NodeId::all(count)
        .filter(|&i| {
            matches!(
                project.nodes[i].resource_type,
                ResourceType::Model
                    | ResourceType::Test
                    | ResourceType::Analysis
                    | ResourceType::Snapshot
            ) && project.nodes[i].config.enabled()
        })
        .collect();
    let parsed: Vec<(NodeId, Result<String, Diagnostic>, Captured)> = models
        .par_iter()
        .map(|&index| {
            let config = &project.nodes[index].config;
            let (result, captured) = render_model(
                &jinja,
                &static_catalog,
                &project,
                index,
                config,
                RenderAs::plain(Mode::Parse, false),
                None,
            );
            (index, result, captured)
        })
        .collect();

    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut read_graph = vec![false; count];
    let mut nodes: Vec<CompiledNode> = project
        .nodes
        .par_iter()
        .map(|n| CompiledNode {
            config: n.config.clone(),
            ..CompiledNode::default()
        })
        .collect();
    for (index, result, captured) in parsed {
        match result {
            Ok(sql) => {
                read_graph[index] = captured.used_graph;
                let compiled = &mut nodes[index];
                let in_file: Map<String, Value> = captured.config.iter().cloned().collect();
                config::merge_into(&mut compiled.config.0, &in_file);
                compiled.rendered = Some(sql);
                compiled.render_at_execution =
                    captured.used_is_incremental || captured.used_run_query;
                compiled.depends_on = captured
                    .refs
                    .iter()
                    .chain(&captured.sources)
                    .copied()
                    .collect();
                compiled.logs = captured.logs;
                for (name, latest, prerelease) in &captured.unpinned {
                    warnings.push(unpinned_ref_warning(
                        &project, index, name, latest, prerelease,
                    ));
                }
            }
            Err(diagnostic) => errors.push(test_diagnostic(&project, index, diagnostic)),
        }
    }
    // A unit test hangs off the model it tests.
    for index in NodeId::all(count) {
        let node = &project.nodes[index];
        if node.resource_type != ResourceType::UnitTest {
            continue;
        }
        let Some(spec) = project.unit_tests.get(&node.unique_id) else {
            continue;
        };
        let tested = project.nodes.iter().position(|n| {
            n.resource_type == ResourceType::Model
                && n.name == spec.model
                && n.version.as_ref().map(ModelVersion::text) == spec.version
        });
        match tested.map(NodeId::new) {
            Some(model) => nodes[index].depends_on = vec![model],
            None => errors.push(
                Diagnostic::error(format!(
                    "unit test `{}` tests `{}`, which is not a model of the project",
                    node.name, spec.model
                ))
                .at(spec.location.clone())
                .help("set `model:` to the name of a model (a .sql file under the model paths)"),
            ),
        }
    }
    for &index in &models {
        match project.nodes[index].resource_type {
            ResourceType::Test => continue,
            ResourceType::Snapshot => {
                let config = &nodes[index].config;
                if let Err(diagnostic) = snapshot_spec(&project.nodes[index], config) {
                    errors.push(diagnostic);
                }
                continue;
            }
            _ => {}
        }
        if let Err(diagnostic) = validate_config(&project, index, &nodes[index].config) {
            errors.push(diagnostic);
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }

    // Final relations and catalog, now that in-file config is known.
    let final_configs: Vec<NodeConfig> = nodes.par_iter().map(|n| n.config.clone()).collect();
    let final_relations: Vec<RelationRef> = project
        .nodes
        .par_iter()
        .zip(&final_configs)
        .map(|(node, config)| project.relation_with(node, config))
        .collect();
    let mut final_relations =
        apply_naming(&jinja, &project, final_relations, |i| &final_configs[i])?;
    if !project.deferred.is_empty() {
        for (node, relation) in project.nodes.iter().zip(&mut final_relations) {
            if let Some(deferred) = project.deferred.get(&node.unique_id) {
                relation.clone_from(deferred);
            }
        }
    }
    let catalog = Arc::new(catalog_for(
        &project,
        &final_relations,
        final_configs.par_iter(),
    ));

    // A generic test of a disabled node is disabled with it.
    let mut final_configs = final_configs;
    for &index in &models {
        if project.nodes[index].generic_test.is_some()
            && nodes[index]
                .depends_on
                .iter()
                .any(|&p| !final_configs[p].enabled())
        {
            for config in [&mut final_configs[index], &mut nodes[index].config] {
                config.0.insert("enabled".into(), Value::Bool(false));
            }
        }
    }
    let models: Vec<NodeId> = models
        .into_iter()
        .filter(|&i| final_configs[i].enabled())
        .collect();
    // A ref to a model that turned out disabled is an error.
    for &index in &models {
        for &parent in &nodes[index].depends_on {
            if !final_configs[parent].enabled() {
                let node = &project.nodes[index];
                let name = &project.nodes[parent].name;
                errors.push(
                    Diagnostic::error(format!("`{}` refs `{name}`, which is disabled", node.name))
                        .at(locate_ref(node.file_path(), &node.raw_code, name))
                        .help(format!("enable `{name}` or remove the ref")),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }

    // The graph.
    let graph_nodes: Vec<GraphNode> = project
        .nodes
        .par_iter()
        .zip(&nodes)
        .map(|(node, compiled)| GraphNode {
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
            resource_type: node.resource_type,
            original_file_path: node.original_file_path.clone(),
            fqn: node.fqn.clone(),
            tags: compiled.config.tags(),
            config: compiled.config.0.clone(),
            depends_on: compiled
                .depends_on
                .iter()
                .map(|&p| project.nodes[p].unique_id.clone())
                .collect(),
            source_name: node.source.as_ref().map(|s| s.source_name.clone()),
            package_name: node.package_name.clone(),
            version: node.version.as_ref().map(|v| {
                if v.is_latest() {
                    VersionRank::Latest
                } else if v.is_prerelease() {
                    VersionRank::Prerelease
                } else {
                    VersionRank::Old
                }
            }),
        })
        .collect();
    let dag = Dag::build(&graph_nodes)
        .map_err(|error| Diagnostics::from(graph_error(&project, &error)))?;
    // `graph` for the renders that follow, when a template reads it.
    if graph_mentioned {
        let depends_on: Vec<Vec<NodeId>> = nodes.iter().map(|n| n.depends_on.clone()).collect();
        jinja.set_graph(
            &project,
            &crate::jinja::GraphInput {
                configs: &final_configs,
                depends_on: &depends_on,
                relations: &final_relations,
            },
        );
    }

    // Re-render models whose references resolve differently than at parse time.
    let changed: Vec<bool> = (0..count)
        .map(|i| {
            static_relations[i] != final_relations[i]
                || catalog.ephemeral[i] != static_catalog.ephemeral[i]
        })
        .collect();
    let rerender: Vec<NodeId> = models
        .iter()
        .copied()
        .filter(|&i| changed[i] || read_graph[i] || nodes[i].depends_on.iter().any(|&p| changed[p]))
        .collect();
    let rerendered: Vec<(NodeId, Result<String, Diagnostic>)> = rerender
        .par_iter()
        .map(|&index| {
            let config = &final_configs[index];
            let (result, _) = render_model(
                &jinja,
                &catalog,
                &project,
                index,
                config,
                RenderAs::plain(Mode::Compile, false),
                None,
            );
            (index, result)
        })
        .collect();
    for (index, result) in rerendered {
        match result {
            Ok(sql) => nodes[index].rendered = Some(sql),
            Err(diagnostic) => errors.push(test_diagnostic(&project, index, diagnostic)),
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }

    let compiled_sql: Vec<Option<String>> = (0..count)
        .into_par_iter()
        .map(NodeId::new)
        .map(|index| {
            nodes[index]
                .rendered
                .as_ref()
                .map(|sql| inline_ephemerals(sql, index, &nodes, &catalog))
        })
        .collect();
    for (node, sql) in nodes.iter_mut().zip(compiled_sql) {
        node.compiled = sql;
    }
    for (node, relation) in nodes.iter_mut().zip(final_relations) {
        node.relation = Some(relation);
    }
    Ok(CompiledProject {
        project,
        jinja,
        catalog,
        nodes,
        graph_nodes,
        dag,
        warnings,
    })
}

/// dbt's warning for a `ref()` that follows a versioned model's latest
/// version while a later one exists: when the later one is marked latest,
/// the ref moves to it. Located at the first `ref(` naming the model.
fn unpinned_ref_warning(
    project: &Project,
    index: NodeId,
    name: &str,
    latest: &str,
    prerelease: &str,
) -> Diagnostic {
    let node = &project.nodes[index];
    let source = &node.raw_code;
    let at = source.match_indices("ref(").find_map(|(offset, _)| {
        let call = &source[offset..];
        let call = &call[..call.find(')').unwrap_or(call.len())];
        ["'", "\""]
            .iter()
            .find_map(|quote| call.find(&format!("{quote}{name}{quote}")))
            .map(|found| offset + found + 1)
    });
    let location = match at {
        Some(offset) => {
            crate::diag::Location::from_offset(node.file_path(), source, offset, name.len())
        }
        None => crate::diag::Location::file_only(node.file_path()),
    };
    Diagnostic::warning(format!(
        "`{}` refs `{name}` without a version: it resolves to the latest, v{latest}, but v{prerelease} is a prerelease; once v{prerelease} is marked latest this ref will resolve to it",
        node.name
    ))
    .at(location)
    .help(format!(
        "pin it with {{{{ ref('{name}', v={latest}) }}}}, or try the prerelease with {{{{ ref('{name}', v={prerelease}) }}}}"
    ))
}

/// sb's own macros: the built-in generic tests and their helpers.
pub fn builtin_macro_files() -> Vec<SourceFile> {
    vec![SourceFile {
        path: PathBuf::from("<sb>/generic_tests.sql"),
        text: include_str!("../adapter/macros/generic_tests.sql").to_string(),
        package: None,
    }]
}
