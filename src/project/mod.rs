//! A project on disk: `project.yml`, models, macros, seeds, sources and schema
//! YAML, read into [`Node`]s with their folder and YAML config merged. Jinja is
//! not rendered here; `compile` does that.

pub mod config;
pub mod data_tests;
pub mod definitions;
pub mod discover;
pub mod env;
pub mod render;
pub mod schema;
pub mod settings;
pub mod synthetic;
pub mod yaml;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::adapter::RelationRef;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::resource::ResourceType;
pub use config::NodeConfig;
pub use env::EnvVars;
pub use settings::{Settings, Target};

/// A text file of the project, kept for error reporting.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Project-relative path with forward slashes.
    pub path: PathBuf,
    pub text: String,
    /// The package the file belongs to (a dbt package under
    /// `dbt_packages/`); `None` for the root project's own files.
    pub package: Option<String>,
}

/// A documented column.
#[derive(Debug, Clone, Default)]
pub struct Column {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: Map<String, Value>,
    /// Test entries as written in YAML (a name or a one-key mapping).
    pub tests: Vec<Value>,
}

/// Where a source table lives.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub source_name: String,
    pub identifier: String,
    pub loader: String,
    pub source_description: String,
}

/// One model, seed, source table or test.
#[derive(Debug, Clone)]
pub struct Node {
    pub unique_id: String,
    pub name: String,
    pub resource_type: ResourceType,
    pub package_name: String,
    /// Project-relative path of the defining file, forward slashes.
    pub original_file_path: String,
    /// Path below the model/seed folder, as dbt's `path`.
    pub path: String,
    pub fqn: Vec<String>,
    /// The Jinja-SQL source (empty for seeds and sources).
    pub raw_code: String,
    pub description: String,
    pub columns: IndexMap<String, Column>,
    /// Config from `project.yml` folders, then YAML `config:`; in-file
    /// `config()` calls are merged on top by `compile`.
    pub config: NodeConfig,
    /// The schema YAML file that describes this node, if one does.
    pub yaml_path: Option<String>,
    pub source: Option<SourceInfo>,
    /// Test entries on the node itself (model-level `tests:`).
    pub tests: Vec<Value>,
    /// For a generic test node: which test, on what, with which arguments.
    pub generic_test: Option<Box<data_tests::GenericTest>>,
}

impl Node {
    pub fn file_path(&self) -> &Path {
        Path::new(&self.original_file_path)
    }

    /// The node's file below `target/compiled/<project>/` and `target/run/`:
    /// its own file, or for a generic test `<schema file>/<test name>.sql`.
    pub fn compiled_file(&self) -> String {
        if self.generic_test.is_some() {
            format!("{}/{}.sql", self.original_file_path, self.name)
        } else {
            self.original_file_path.clone()
        }
    }
}

/// Options that shape loading, from the command line.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub project_dir: PathBuf,
    pub target: Option<String>,
    pub vars: Map<String, Value>,
    /// What a BigQuery target takes from outside project.yml.
    pub bigquery: crate::adapter::bigquery::Overrides,
    /// The environment `env_var()` reads.
    pub env: EnvVars,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub settings: Settings,
    pub target: Target,
    pub nodes: Vec<Node>,
    pub macro_files: Vec<SourceFile>,
    pub schema_files: Vec<yaml::YamlFile>,
    /// `tests/**/*.sql` singular tests.
    pub singular_tests: Vec<SourceFile>,
    /// The environment `env_var()` reads in templates.
    pub env: EnvVars,
    /// Exposures, semantic models, metrics and saved queries: parsed, never run.
    pub definitions: Vec<definitions::Definition>,
}

impl Project {
    pub fn load(options: &LoadOptions) -> Result<Self, Diagnostics> {
        let root = options.project_dir.clone();
        let (settings, target) = settings::load(
            &root,
            options.target.as_deref(),
            &options.vars,
            &options.bigquery,
            &options.env,
        )?;
        let files = discover::discover(&root, &settings).map_err(Diagnostics::from)?;
        let mut project = Self {
            root,
            settings,
            target,
            nodes: Vec::new(),
            macro_files: files.macros,
            schema_files: Vec::new(),
            singular_tests: files.singular_tests,
            env: options.env.clone(),
            definitions: Vec::new(),
        };
        let mut errors = Vec::new();
        // Model files and schema YAML are independent: read both at once.
        let schema_texts = files.schema_files;
        let (model_nodes, parsed): (Vec<Result<Node, Diagnostic>>, Vec<_>) = rayon::join(
            || {
                files
                    .models
                    .par_iter()
                    .map(|model| project.model_node(model))
                    .collect()
            },
            || {
                schema_texts
                    .into_par_iter()
                    .map(|file| yaml::YamlFile::parse(&file.path, file.text))
                    .collect()
            },
        );
        project.nodes.reserve(model_nodes.len());
        for node in model_nodes {
            match node {
                Ok(node) => project.nodes.push(node),
                Err(error) => errors.push(error),
            }
        }
        for seed in files.seeds {
            match project.seed_node(&seed) {
                Ok(node) => project.nodes.push(node),
                Err(error) => errors.push(error),
            }
        }
        check_duplicates(&project.nodes, &mut errors);
        for file in parsed {
            match file {
                Ok(parsed) => project.schema_files.push(parsed),
                Err(error) => errors.push(error),
            }
        }
        if errors.is_empty() {
            let schema_files = std::mem::take(&mut project.schema_files);
            let by_name: schema::NameIndex = project
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| ((n.resource_type, n.name.clone()), i))
                .collect();
            for file in &schema_files {
                if let Err(mut more) = schema::apply(&mut project, file, &by_name) {
                    errors.append(&mut more);
                }
            }
            project.schema_files = schema_files;
        }
        if errors.is_empty()
            && let Err(mut more) = definitions::collect(&mut project)
        {
            errors.append(&mut more);
        }
        if errors.is_empty()
            && let Err(error) = project.add_synthetic_sources()
        {
            errors.push(error);
        }
        if errors.is_empty()
            && let Err(mut more) = data_tests::add_test_nodes(&mut project)
        {
            errors.append(&mut more);
        }
        if errors.is_empty() {
            Ok(project)
        } else {
            Err(Diagnostics(errors))
        }
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.settings.target_path)
    }

    pub fn find(&self, resource_type: ResourceType, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.resource_type == resource_type && n.name == name)
    }

    /// The warehouse relation a node builds or reads, from its merged config.
    pub fn relation_of(&self, node: &Node) -> RelationRef {
        self.relation_with(node, &node.config)
    }

    /// Where `node` lives when its config is `config` (the loaded config
    /// with in-file `config()` calls merged in).
    pub fn relation_with(&self, node: &Node, config: &NodeConfig) -> RelationRef {
        let database = config
            .str("database")
            .map(str::to_string)
            .or_else(|| self.target.database.clone());
        if let Some(source) = &node.source {
            return RelationRef {
                database,
                schema: config
                    .str("schema")
                    .map_or_else(|| self.target.schema.clone(), str::to_string),
                identifier: source.identifier.clone(),
            };
        }
        RelationRef {
            database,
            schema: generate_schema_name(config.str("schema"), &self.target.schema),
            identifier: config
                .str("alias")
                .map_or_else(|| node.name.clone(), str::to_string),
        }
    }

    fn model_node(&self, file: &discover::FoundFile) -> Result<Node, Diagnostic> {
        self.file_node(
            file,
            ResourceType::Model,
            &self.settings.models,
            file.text.clone(),
        )
    }

    fn seed_node(&self, file: &discover::FoundFile) -> Result<Node, Diagnostic> {
        let mut node = self.file_node(
            file,
            ResourceType::Seed,
            &self.settings.seeds,
            String::new(),
        )?;
        node.config
            .0
            .insert("materialized".into(), Value::from("seed"));
        // dbt renders a seed's folder config, so `+enabled: "{{ var('load', true) }}"`
        // turns a folder of seeds off from the command line.
        for (key, value) in &mut node.config.0 {
            if let Value::String(text) = value
                && (text.contains("{{") || text.contains("{%"))
            {
                let rendered =
                    render::render_project_string(text, &self.settings.vars, &self.env)
                        .map_err(|message| {
                            Diagnostic::error(format!(
                                "cannot render the seed config `{key}`: {message}"
                            ))
                            .at(self.settings.file.locate_key(&format!("+{key}"), 1))
                            .help("only `var('name', default)` and `env_var('NAME', default)` can be used here; set the variable or give a default")
                        })?;
                *text = rendered;
            }
        }
        Ok(node)
    }

    /// A node defined by a file under a model or seed folder, with the
    /// folder config of `tree` applied.
    fn file_node(
        &self,
        file: &discover::FoundFile,
        resource_type: ResourceType,
        tree: &Value,
        raw_code: String,
    ) -> Result<Node, Diagnostic> {
        let name = stem(&file.path);
        let folders = folders_below(&file.relative_to_root);
        let config = folder_config(
            tree,
            &self.settings.name,
            &folders,
            &name,
            &self.settings.file,
        )?;
        let mut fqn = vec![self.settings.name.clone()];
        fqn.extend(folders.iter().cloned());
        fqn.push(name.clone());
        Ok(Node {
            unique_id: format!("{resource_type}.{}.{name}", self.settings.name),
            name,
            resource_type,
            package_name: self.settings.name.clone(),
            original_file_path: slash(&file.path),
            path: slash(&file.relative_to_root),
            fqn,
            raw_code,
            description: String::new(),
            columns: IndexMap::new(),
            config: NodeConfig(config),
            yaml_path: None,
            source: None,
            tests: Vec::new(),
            generic_test: None,
        })
    }
}

/// dbt's default `generate_schema_name`: a custom schema is appended to the
/// target's schema, so two developers never overwrite each other.
pub fn generate_schema_name(custom: Option<&str>, target_schema: &str) -> String {
    match custom.map(str::trim).filter(|s| !s.is_empty()) {
        Some(custom) => format!("{target_schema}_{custom}"),
        None => target_schema.to_string(),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Forward-slash form of a relative path.
pub fn slash(path: &Path) -> String {
    // Most paths are already plain `a/b/c`: no component rewriting needed.
    if let Some(text) = path.to_str()
        && std::path::MAIN_SEPARATOR == '/'
        && !text.is_empty()
        && !text.starts_with("./")
        && !text.starts_with('/')
        && !text.ends_with('/')
        && !text.ends_with("/.")
        && !text.contains("//")
        && !text.contains("/./")
        && text != "."
    {
        return text.to_string();
    }
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn folders_below(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.pop();
    parts
}

/// Walks a `models:`/`seeds:` config tree along `folders`, merging `+key`
/// settings from the outermost level inwards.
pub fn folder_config(
    tree: &Value,
    project_name: &str,
    folders: &[String],
    node_name: &str,
    file: &yaml::YamlFile,
) -> Result<Map<String, Value>, Diagnostic> {
    let mut merged = Map::new();
    let mut level = tree;
    apply_level(level, &mut merged, file)?;
    // dbt nests the tree under the project name; accept both spellings.
    if let Some(inner) = level.get(project_name).filter(|v| v.is_object()) {
        level = inner;
        apply_level(level, &mut merged, file)?;
    }
    for folder in folders
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(node_name))
    {
        match level.get(folder) {
            Some(inner) if inner.is_object() => {
                level = inner;
                apply_level(level, &mut merged, file)?;
            }
            _ => break,
        }
    }
    Ok(merged)
}

fn apply_level(
    level: &Value,
    merged: &mut Map<String, Value>,
    file: &yaml::YamlFile,
) -> Result<(), Diagnostic> {
    let Value::Object(map) = level else {
        return Ok(());
    };
    let mut settings = Map::new();
    for (key, value) in map {
        let is_plus = key.starts_with('+');
        let normalized = config::normalize_key(key);
        if is_plus || (!value.is_object() && config::is_known_key(&normalized)) {
            if !config::is_known_key(&normalized) {
                return Err(unknown_config_key(key, file.locate_key(key, 1)));
            }
            settings.insert(normalized, value.clone());
        } else if !value.is_object() {
            return Err(unknown_config_key(key, file.locate_key(key, 1)));
        }
    }
    config::merge_into(merged, &settings);
    Ok(())
}

/// The error for a config key sb does not know, with the closest names.
pub fn unknown_config_key(key: &str, location: Location) -> Diagnostic {
    let normalized = config::normalize_key(key);
    let close = closest_names(&normalized, config::KNOWN_KEYS.iter().copied(), 3);
    Diagnostic::error(format!("unknown config key `{key}`"))
        .at(location)
        .help(did_you_mean(&close).unwrap_or_else(|| {
            "remove it, or use one of the config keys listed in SPEC (materialized, schema, alias, tags, ...)".into()
        }))
}

fn check_duplicates(nodes: &[Node], errors: &mut Vec<Diagnostic>) {
    let mut seen: std::collections::HashMap<(&str, bool), &Node> = std::collections::HashMap::new();
    for node in nodes {
        // Models and seeds share one namespace for `ref`.
        let key = (
            node.name.as_str(),
            matches!(node.resource_type, ResourceType::Model | ResourceType::Seed),
        );
        if let Some(first) = seen.get(&key) {
            errors.push(
                Diagnostic::error(format!("two {}s are named `{}`", node.resource_type, node.name))
                    .at(Location::from_line_col(node.file_path(), &node.raw_code, 1, 1, 1))
                    .note(format!("first defined in {}", first.original_file_path))
                    .note(format!("again in {}", node.original_file_path))
                    .help("names must be unique across the project because `ref()` finds nodes by name: rename one of the files"),
            );
        } else {
            seen.insert(key, node);
        }
    }
}
