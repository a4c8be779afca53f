//! Node -> compiled SQL. Renders every model once in parse mode (recording
//! `ref`, `source` and `config()`), merges in-file config, resolves final
//! relations, builds the DAG, re-renders only the models whose references
//! changed, inlines ephemeral models as CTEs, and writes `target/compiled/`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::adapter::RelationRef;
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::graph::{Dag, GraphError, GraphNode};
use crate::jinja::{Captured, Catalog, Jinja, Mode, RenderRequest, TestCall};
use crate::project::config::{self, MATERIALIZATIONS, NodeConfig};
use crate::project::{Project, SourceFile, data_tests};
use crate::resource::ResourceType;

/// The result of compiling a project: every node with its final config,
/// relation, dependencies and SQL, and the graph over them.
pub struct CompiledProject {
    pub project: Project,
    pub jinja: Jinja,
    pub catalog: Arc<Catalog>,
    pub nodes: Vec<CompiledNode>,
    pub graph_nodes: Vec<GraphNode>,
    pub dag: Dag,
}

/// Compile results for one node (parallel to `project.nodes`).
#[derive(Debug, Clone, Default)]
pub struct CompiledNode {
    pub config: NodeConfig,
    pub relation: Option<RelationRef>,
    /// Parents by node index (refs, then sources).
    pub depends_on: Vec<usize>,
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
        index: usize,
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
        })
    }

    /// Renders a node's SQL for execution: ephemeral parents inlined and,
    /// for templates that read warehouse state, `is_incremental()` and
    /// `run_query` answered live.
    pub fn render_for_execution(
        &self,
        index: usize,
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
            (Mode::Execute, is_incremental),
            query,
        );
        let sql = result?;
        Ok((
            inline_ephemerals(&sql, index, &self.nodes, &self.catalog),
            captured.logs,
        ))
    }

    /// Renders a hook or other snippet in the context of node `index`.
    pub fn render_snippet(
        &self,
        index: usize,
        text: &str,
        what: &str,
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
            is_incremental: false,
            config: compiled.config.0.clone(),
            model: &model,
            test: None,
        };
        self.jinja.render(&self.catalog, &request, None).0
    }

    pub fn find(&self, resource_type: ResourceType, name: &str) -> Option<usize> {
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
    let jinja =
        Jinja::new(project.target.kind, &builtins, &project.macro_files).map_err(Diagnostics)?;
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
    let static_catalog = Arc::new(catalog_for(
        &project,
        &static_relations,
        project.nodes.par_iter().map(|n| &n.config),
    ));

    // Parse: render every model and test once, recording refs and config().
    let models: Vec<usize> = (0..count)
        .filter(|&i| {
            matches!(
                project.nodes[i].resource_type,
                ResourceType::Model | ResourceType::Test
            ) && project.nodes[i].config.enabled()
        })
        .collect();
    let parsed: Vec<(usize, Result<String, Diagnostic>, Captured)> = models
        .par_iter()
        .map(|&index| {
            let config = &project.nodes[index].config;
            let (result, captured) = render_model(
                &jinja,
                &static_catalog,
                &project,
                index,
                config,
                (Mode::Parse, false),
                None,
            );
            (index, result, captured)
        })
        .collect();

    let mut errors = Vec::new();
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
            }
            Err(diagnostic) => errors.push(test_diagnostic(&project, index, diagnostic)),
        }
    }
    for &index in &models {
        if project.nodes[index].resource_type == ResourceType::Test {
            continue;
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
    let models: Vec<usize> = models
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
        })
        .collect();
    let dag = Dag::build(&graph_nodes)
        .map_err(|error| Diagnostics::from(graph_error(&project, &error)))?;

    // Re-render models whose references resolve differently than at parse time.
    let changed: Vec<bool> = (0..count)
        .map(|i| {
            static_relations[i] != final_relations[i]
                || catalog.ephemeral[i] != static_catalog.ephemeral[i]
        })
        .collect();
    let rerender: Vec<usize> = models
        .iter()
        .copied()
        .filter(|&i| changed[i] || nodes[i].depends_on.iter().any(|&p| changed[p]))
        .collect();
    let rerendered: Vec<(usize, Result<String, Diagnostic>)> = rerender
        .par_iter()
        .map(|&index| {
            let config = &final_configs[index];
            let (result, _) = render_model(
                &jinja,
                &catalog,
                &project,
                index,
                config,
                (Mode::Compile, false),
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
    })
}

/// sb's own macros: the built-in generic tests and their helpers.
pub fn builtin_macro_files() -> Vec<SourceFile> {
    vec![SourceFile {
        path: PathBuf::from("<sb>/generic_tests.sql"),
        text: include_str!("adapter/macros/generic_tests.sql").to_string(),
    }]
}

/// A generic test's code is generated from its YAML entry, so an error that
/// points into that code is moved to the entry: to the name the message
/// quotes (an unknown `ref`, say) when the entry holds it, else to the
/// test's name.
fn test_diagnostic(project: &Project, index: usize, mut diagnostic: Diagnostic) -> Diagnostic {
    let node = &project.nodes[index];
    let Some(test) = &node.generic_test else {
        return diagnostic;
    };
    let in_entry = diagnostic
        .location
        .as_ref()
        .is_none_or(|l| l.file == node.file_path());
    if !in_entry {
        return diagnostic;
    }
    let file = project
        .schema_files
        .iter()
        .find(|f| crate::project::slash(&f.path) == node.original_file_path);
    let quoted = diagnostic
        .message
        .split('`')
        .nth(1)
        .map(|q| q.rsplit('.').next().unwrap_or(q).to_string());
    let location = match (file, quoted) {
        (Some(file), Some(name)) => {
            let found =
                data_tests::locate_word(&file.path, &file.source, &name, test.location.line);
            if found.len > 1
                || found
                    .source_line
                    .as_deref()
                    .is_some_and(|l| l.contains(&name))
            {
                found
            } else {
                test.location.clone()
            }
        }
        _ => test.location.clone(),
    };
    diagnostic.location = Some(location);
    diagnostic.note(format!("in test `{}`", node.name))
}

/// Renders model `index`'s file with `config` as its config; `mode` says why
/// and whether `is_incremental()` is true.
fn render_model(
    jinja: &Jinja,
    catalog: &Arc<Catalog>,
    project: &Project,
    index: usize,
    config: &NodeConfig,
    (mode, is_incremental): (Mode, bool),
    query: Option<crate::jinja::QueryFn>,
) -> (Result<String, Diagnostic>, Captured) {
    let node = &project.nodes[index];
    let model = || CompiledProject::model_value(project, index, config);
    // The name picks minijinja's auto-escaping by its extension: a generic
    // test declared in a `.yml` file must still render as SQL.
    let name = node.compiled_file();
    let request = RenderRequest {
        node: index,
        name: &name,
        path: node.file_path(),
        source: &node.raw_code,
        mode,
        is_incremental,
        config: config.0.clone(),
        model: &model,
        test: node
            .generic_test
            .as_deref()
            .map(|test| test_call(project, test)),
    };
    jinja.render(catalog, &request, query)
}

/// A generic test's macro call with its arguments as values.
fn test_call<'a>(project: &Project, test: &'a data_tests::GenericTest) -> TestCall<'a> {
    let target = &project.nodes[test.attached];
    let model = match &target.source {
        Some(source) => (
            "source",
            vec![source.source_name.clone(), target.name.clone()],
        ),
        None => ("ref", vec![target.name.clone()]),
    };
    TestCall {
        macro_name: format!("test_{}", test.test_name),
        model,
        column: test.column.as_deref(),
        args: &test.args,
    }
}

fn catalog_for<'a>(
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

fn validate_config(project: &Project, index: usize, config: &NodeConfig) -> Result<(), Diagnostic> {
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

fn graph_error(project: &Project, error: &GraphError) -> Diagnostic {
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
    let escaped = regex::escape(name);
    let call = regex::Regex::new(&format!(r#"(?:ref|source)\s*\([^)]*?['"]({escaped})['"]"#));
    if let Some(found) = call
        .ok()
        .and_then(|re| re.captures(source))
        .and_then(|c| c.get(1))
    {
        return Location::from_offset(path, source, found.start(), name.chars().count());
    }
    for quote in ['\'', '"'] {
        if let Some(at) = source.find(&format!("{quote}{name}{quote}")) {
            return Location::from_offset(path, source, at + 1, name.chars().count());
        }
    }
    Location::find(path, source, name, 1)
}

/// Prepends the CTEs of every ephemeral model `index` depends on (directly or
/// through other ephemerals), parents first, merged into a leading `with`.
pub fn inline_ephemerals(
    sql: &str,
    index: usize,
    nodes: &[CompiledNode],
    catalog: &Catalog,
) -> String {
    let mut order = Vec::new();
    collect_ephemerals(index, nodes, catalog, &mut order, &mut Vec::new());
    if order.is_empty() {
        return sql.to_string();
    }
    let ctes: Vec<String> = order
        .iter()
        .map(|&e| {
            let name = format!("__dbt__cte__{}", catalog.relations[e].identifier);
            let body = nodes[e]
                .rendered
                .as_deref()
                .unwrap_or("select 1")
                .trim()
                .trim_end_matches(';');
            format!("{name} as (\n{body}\n)")
        })
        .collect();
    let ctes = ctes.join(", ");
    let start = skip_leading_comments(sql);
    let rest = &sql[start..];
    if rest.len() >= 4
        && rest[..4].eq_ignore_ascii_case("with")
        && rest[4..].starts_with(|c: char| c.is_whitespace())
    {
        let after = &rest[4..];
        let recursive = after
            .trim_start()
            .get(..9)
            .is_some_and(|w| w.eq_ignore_ascii_case("recursive"));
        if recursive {
            let skip = after.len() - after.trim_start().len() + 9;
            format!("{}with recursive {ctes},{}", &sql[..start], &after[skip..])
        } else {
            format!("{}with {ctes},{after}", &sql[..start])
        }
    } else {
        format!("{}with {ctes}\n{rest}", &sql[..start])
    }
}

fn collect_ephemerals(
    index: usize,
    nodes: &[CompiledNode],
    catalog: &Catalog,
    order: &mut Vec<usize>,
    visiting: &mut Vec<usize>,
) {
    if visiting.contains(&index) {
        return;
    }
    visiting.push(index);
    for &parent in &nodes[index].depends_on {
        if catalog.ephemeral.get(parent).copied().unwrap_or(false) && !order.contains(&parent) {
            collect_ephemerals(parent, nodes, catalog, order, visiting);
            if !order.contains(&parent) {
                order.push(parent);
            }
        }
    }
    visiting.pop();
}

/// Byte offset after leading whitespace and SQL comments.
fn skip_leading_comments(sql: &str) -> usize {
    let mut i = 0;
    let bytes = sql.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(sql.len(), |n| i + n + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(sql.len(), |n| i + n + 2);
        } else {
            return i;
        }
    }
}

/// Where a node's compiled SQL is written: `target/compiled/<project>/<path>`.
pub fn compiled_path(target_dir: &Path, project_name: &str, original_file_path: &str) -> PathBuf {
    target_dir
        .join("compiled")
        .join(project_name)
        .join(original_file_path)
}

/// Writes `target/compiled/**` for every selected node with SQL. Files whose
/// content, size and modification time match the last write are left alone,
/// so a recompile of a large project only touches what changed.
pub fn write_compiled(compiled: &CompiledProject, selected: &[usize]) -> Result<(), Diagnostic> {
    let target = compiled.project.target_dir();
    let root = target.join("compiled");
    let index_path = root.join(".sb-written");
    let previous = WrittenIndex::read(&index_path);
    let entries: Vec<(String, WrittenEntry)> = selected
        .par_iter()
        .filter_map(|&i| compiled.nodes[i].compiled.as_ref().map(|sql| (i, sql)))
        .map(|(i, sql)| {
            let node = &compiled.project.nodes[i];
            let path = compiled_path(
                &target,
                &compiled.project.settings.name,
                &node.compiled_file(),
            );
            let key = crate::project::slash(path.strip_prefix(&root).unwrap_or(&path));
            let hash = content_hash(sql);
            if let Some(old) = previous.entries.get(&key)
                && old.hash == hash
                && stat(&path).is_some_and(|s| s == (old.len, old.modified))
            {
                return Ok((key, old.clone()));
            }
            write_file(&path, sql)?;
            let (len, modified) = stat(&path).unwrap_or_default();
            Ok((
                key,
                WrittenEntry {
                    hash,
                    len,
                    modified,
                },
            ))
        })
        .collect::<Result<_, Diagnostic>>()?;
    let mut index = WrittenIndex::default();
    index.entries.extend(previous.entries);
    index.entries.extend(entries);
    index.write(&index_path)
}

/// A fast fingerprint of file content; a mismatch only means a rewrite.
fn content_hash(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn stat(path: &Path) -> Option<(u64, u128)> {
    let metadata = std::fs::metadata(path).ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((metadata.len(), modified))
}

#[derive(Debug, Clone, Default)]
struct WrittenEntry {
    hash: String,
    len: u64,
    modified: u128,
}

/// What `write_compiled` wrote last time: `hash len mtime path` per line.
#[derive(Debug, Default)]
struct WrittenIndex {
    entries: HashMap<String, WrittenEntry>,
}

impl WrittenIndex {
    fn read(path: &Path) -> Self {
        let mut index = Self::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return index;
        };
        for line in text.lines() {
            let mut parts = line.splitn(4, ' ');
            if let (Some(hash), Some(len), Some(modified), Some(key)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
                && let (Ok(len), Ok(modified)) = (len.parse(), modified.parse())
            {
                index.entries.insert(
                    key.to_string(),
                    WrittenEntry {
                        hash: hash.to_string(),
                        len,
                        modified,
                    },
                );
            }
        }
        index
    }

    fn write(&self, path: &Path) -> Result<(), Diagnostic> {
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        let mut text = String::with_capacity(keys.len() * 120);
        for key in keys {
            let entry = &self.entries[key];
            let _ = writeln!(
                text,
                "{} {} {} {key}",
                entry.hash, entry.len, entry.modified
            );
        }
        write_file(path, &text)
    }
}

/// Writes a file, creating its folder; errors name the path.
pub fn write_file(path: &Path, contents: &str) -> Result<(), Diagnostic> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Diagnostic::error(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, contents)
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctes_merge_into_leading_with() {
        assert_eq!(skip_leading_comments("  -- c\n/* x */ with a"), 15);
    }
}
