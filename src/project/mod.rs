//! A project on disk: `project.yml` (or `dbt_project.yml` with its
//! `profiles.yml`), models, macros, seeds, sources and schema YAML, and the
//! dbt packages installed beside it, read into [`Node`]s with their folder
//! and YAML config merged. Jinja is not rendered here; `compile` does that.

pub mod config;
pub mod data_tests;
pub mod dbt_project;
pub mod definitions;
pub mod discover;
pub mod docs_blocks;
pub mod env;
mod folders;
pub mod packages;
pub mod profiles;
pub mod render;
pub mod schema;
pub mod settings;
pub mod snapshots;
pub mod synthetic;
pub mod target;
pub mod unit_tests;
pub mod version;
pub mod versions;
pub mod yaml;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::adapter::RelationRef;
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::resource::{NodeId, ResourceType};
pub use config::NodeConfig;
pub use env::EnvVars;
use folders::package_overrides;
pub use folders::{folder_config, unknown_config_key};
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
    /// `constraints:` as written (`{type: not_null}`, `{type: check, expression: ...}`).
    pub constraints: Vec<Value>,
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
    /// For one version of a versioned model (`versions:` in its YAML).
    pub version: Option<versions::ModelVersion>,
    /// Model-level `constraints:` as written (`{type: primary_key, columns: [...]}`).
    pub constraints: Vec<Value>,
}

impl Node {
    /// The name with the version's suffix (`dim_customers_v2`): a version's
    /// default relation name and what its tests' names say; else the name.
    pub fn versioned_name(&self) -> String {
        match &self.version {
            Some(version) => format!("{}_{}", self.name, version.suffix()),
            None => self.name.clone(),
        }
    }

    /// How a person names the node: `orders`, `synthetic.users` for a
    /// source table, `dim_customers.v2` for a version of a model.
    pub fn display_name(&self) -> String {
        match (&self.source, &self.version) {
            (Some(source), _) => format!("{}.{}", source.source_name, self.name),
            (None, Some(version)) if self.resource_type == ResourceType::UnitTest => {
                format!("{}_v{}", self.name, version.text())
            }
            (None, Some(version)) => format!("{}.v{}", self.name, version.text()),
            (None, None) => self.name.clone(),
        }
    }

    pub fn file_path(&self) -> &Path {
        Path::new(&self.original_file_path)
    }

    /// The node's file below `target/compiled/<project>/` and `target/run/`:
    /// its own file, or for a generic test or a snapshot (a file may hold
    /// several, or be YAML) `<defining file>/<name>.sql`, as dbt writes them.
    pub fn compiled_file(&self) -> String {
        if self.generic_test.is_some() {
            format!("{}/{}", self.original_file_path, self.path)
        } else if self.resource_type == ResourceType::Snapshot {
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
    /// Where a dbt project's `profiles.yml` may be.
    pub profiles: profiles::ProfileSearch,
}

/// An installed dbt package, read as the project it is.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Root-relative folder (`dbt_packages/<name>`).
    pub dir: PathBuf,
    /// Its own `dbt_project.yml`.
    pub settings: Settings,
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
    /// The installed dbt packages, sorted by folder name.
    pub packages: Vec<Package>,
    /// Exposures, semantic models, metrics and saved queries: parsed, never run.
    pub definitions: Vec<definitions::Definition>,
    /// The `{% docs %}` blocks of the project and its packages.
    pub docs: Vec<docs_blocks::DocBlock>,
    /// What each unit test node runs on, by unique id.
    pub unit_tests: std::collections::BTreeMap<String, unit_tests::UnitTestSpec>,
    /// `--defer`: nodes (by unique id) whose `ref()` resolves to the
    /// relation an earlier run's manifest records, not to this target's.
    pub deferred: std::collections::HashMap<String, crate::adapter::RelationRef>,
}

impl Project {
    pub fn load(options: &LoadOptions) -> Result<Self, Diagnostics> {
        let root = options.project_dir.clone();
        let (mut settings, target) = settings::load(options)?;
        let root_files = discover::discover(&root, &settings).map_err(Diagnostics::from)?;
        let mut packages = Vec::new();
        // Every file set with the package it belongs to (`None`: the root).
        let mut file_sets = vec![(None, root_files)];
        for installed in packages::installed(&root, &settings.packages_install_path)? {
            let file = installed.dir.join(settings::DBT_PROJECT_FILE);
            let mut package = dbt_project::read(&root, &file, &options.vars, &options.env)?;
            let vars = dbt_project::package_vars(&settings, &package);
            dbt_project::render_config_trees(&mut package, &vars, &options.env)?;
            // dbt checks every package's `require-dbt-version`, not only the root's.
            if let Some(warning) = dbt_project::check_dbt_version(&package.file)? {
                settings.warnings.push(warning);
            }
            let files = discover::discover_package(&root, &installed.dir, &package.name, &package)?;
            file_sets.push((Some(packages.len()), files));
            packages.push(Package {
                name: package.name.clone(),
                dir: installed.dir,
                settings: package,
            });
        }
        if settings.format == settings::ProjectFormat::Dbt {
            check_installed(&root, &settings, packages.len())?;
        }
        let mut project = Self {
            root,
            settings,
            target,
            nodes: Vec::new(),
            macro_files: Vec::new(),
            schema_files: Vec::new(),
            singular_tests: Vec::new(),
            env: options.env.clone(),
            packages,
            definitions: Vec::new(),
            docs: Vec::new(),
            unit_tests: std::collections::BTreeMap::new(),
            deferred: std::collections::HashMap::new(),
        };
        let mut models = Vec::new();
        let mut seeds = Vec::new();
        let mut analyses = Vec::new();
        let mut snapshot_files = Vec::new();
        let mut schema_texts = Vec::new();
        let mut errors = Vec::new();
        for (owner, files) in file_sets {
            let package = owner.map_or(project.settings.name.as_str(), |p| {
                project.packages[p].name.as_str()
            });
            for file in &files.docs {
                match docs_blocks::parse(file, package) {
                    Ok(blocks) => project.docs.extend(blocks),
                    Err(error) => errors.push(error),
                }
            }
            project.macro_files.extend(files.macros);
            project.singular_tests.extend(files.singular_tests);
            models.extend(files.models.into_iter().map(|f| (owner, f)));
            seeds.extend(files.seeds.into_iter().map(|f| (owner, f)));
            analyses.extend(files.analyses.into_iter().map(|f| (owner, f)));
            snapshot_files.extend(files.snapshots.into_iter().map(|f| (owner, f)));
            schema_texts.extend(files.schema_files);
        }
        let schema_owners: Vec<Option<String>> =
            schema_texts.iter().map(|f| f.package.clone()).collect();
        errors.extend(docs_blocks::check_unique(&project.docs));
        // Model files and schema YAML are independent: read both at once.
        let (model_nodes, parsed): (Vec<Result<Node, Diagnostic>>, Vec<_>) = rayon::join(
            || {
                models
                    .par_iter()
                    .map(|(owner, model)| project.model_node(model, *owner))
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
        for (owner, seed) in &seeds {
            match project.seed_node(seed, *owner) {
                Ok(node) => project.nodes.push(node),
                Err(error) => errors.push(error),
            }
        }
        for (owner, file) in &snapshot_files {
            match snapshots::block_nodes(&project, file, *owner) {
                Ok(nodes) => project.nodes.extend(nodes),
                Err(error) => errors.push(error),
            }
        }
        for (owner, analysis) in &analyses {
            match project.analysis_node(analysis, *owner) {
                Ok(node) => project.nodes.push(node),
                Err(error) => errors.push(error),
            }
        }
        for (file, package) in parsed.into_iter().zip(&schema_owners) {
            match file {
                Ok(parsed) => {
                    let owner = package
                        .as_ref()
                        .and_then(|name| project.packages.iter().position(|p| &p.name == name));
                    if let Err(mut more) = versions::name_versions(&mut project, &parsed, owner) {
                        errors.append(&mut more);
                    }
                    match snapshots::yaml_nodes(&project, &parsed, owner) {
                        Ok(nodes) => project.nodes.extend(nodes),
                        Err(error) => errors.push(error),
                    }
                    match unit_tests::nodes(&project, &parsed, owner) {
                        Ok(found) => {
                            for (node, spec) in found {
                                project.unit_tests.insert(node.unique_id.clone(), spec);
                                project.nodes.push(node);
                            }
                        }
                        Err(error) => errors.push(error),
                    }
                    project.schema_files.push(parsed);
                }
                Err(error) => errors.push(error),
            }
        }
        unit_tests::split_by_version(&mut project);
        check_duplicates(&project.nodes, &mut errors);
        if errors.is_empty() {
            let schema_files = std::mem::take(&mut project.schema_files);
            // A schema file describes the nodes of its own package only.
            let mut by_package: std::collections::HashMap<String, schema::NameIndex> =
                std::collections::HashMap::new();
            for (i, n) in project.nodes.iter().enumerate() {
                by_package
                    .entry(n.package_name.clone())
                    .or_default()
                    .entry((n.resource_type, n.name.clone()))
                    .or_default()
                    .push(i);
            }
            let empty = schema::NameIndex::new();
            for (file, owner) in schema_files.iter().zip(&schema_owners) {
                let package = owner.as_deref().unwrap_or(&project.settings.name);
                let by_name = by_package.get(package).unwrap_or(&empty);
                let before = project.nodes.len();
                if let Err(mut more) = schema::apply(&mut project, file, by_name) {
                    errors.append(&mut more);
                }
                if let Some(package) = owner {
                    project.claim_for_package(before, package);
                }
            }
            project.schema_files = schema_files;
        }
        if errors.is_empty()
            && let Err(mut more) = docs_blocks::render_descriptions(&mut project)
        {
            errors.append(&mut more);
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

    /// The vars inside `package` (a package's name, or the root project's):
    /// the package's own `vars:`, then the root project's globals, then the
    /// root's scope for that package (`vars: {pkg: {...}}`), then `--vars`.
    pub fn vars_for(&self, package: &str) -> Map<String, Value> {
        let root = &self.settings;
        match self.packages.iter().find(|p| p.name == package) {
            Some(found) if package != root.name => dbt_project::package_vars(root, &found.settings),
            _ => root.vars.clone(),
        }
    }

    /// Source nodes that a package's schema file added (from `first` on)
    /// belong to that package: its name in their id, package and fqn.
    fn claim_for_package(&mut self, first: usize, package: &str) {
        let root_name = self.settings.name.clone();
        for node in self.nodes.iter_mut().skip(first) {
            let prefix = format!("{}.{root_name}.", node.resource_type);
            if let Some(rest) = node.unique_id.strip_prefix(&prefix) {
                node.unique_id = format!("{}.{package}.{rest}", node.resource_type);
            }
            node.package_name = package.to_string();
            if let Some(head) = node.fqn.first_mut() {
                *head = package.to_string();
            }
        }
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.settings.target_path)
    }

    /// The node of that kind and name; of a versioned model, its latest version.
    pub fn find(&self, resource_type: ResourceType, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| {
                n.resource_type == resource_type
                    && n.name == name
                    && n.version
                        .as_ref()
                        .is_none_or(versions::ModelVersion::is_latest)
            })
            .map(NodeId::new)
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
        // A generic test's relation (`store_failures`) is named as its
        // file, which stays short for long test names.
        let identifier = match (config.str("alias"), &node.generic_test) {
            (Some(alias), _) => alias.to_string(),
            (None, Some(_)) => node.path.trim_end_matches(".sql").to_string(),
            (None, None) => node.versioned_name(),
        };
        // A snapshot's legacy `target_schema` is its schema as written.
        if node.resource_type == ResourceType::Snapshot
            && let Some(schema) = config.str("target_schema")
        {
            return RelationRef {
                database: config
                    .str("target_database")
                    .map(str::to_string)
                    .or(database),
                schema: schema.to_string(),
                identifier,
            };
        }
        RelationRef {
            database,
            schema: generate_schema_name(config.str("schema"), &self.target.schema),
            identifier,
        }
    }

    fn model_node(
        &self,
        file: &discover::FoundFile,
        owner: Option<usize>,
    ) -> Result<Node, Diagnostic> {
        self.file_node(
            file,
            owner,
            ResourceType::Model,
            |s| &s.models,
            file.text.clone(),
        )
    }

    /// An analysis: compiled like a model, never run; dbt puts `analysis`
    /// after the package in its fqn.
    fn analysis_node(
        &self,
        file: &discover::FoundFile,
        owner: Option<usize>,
    ) -> Result<Node, Diagnostic> {
        static NO_FOLDER_CONFIG: Value = Value::Null;
        let mut node = self.file_node(
            file,
            owner,
            ResourceType::Analysis,
            |_| &NO_FOLDER_CONFIG,
            file.text.clone(),
        )?;
        node.fqn.insert(1, "analysis".to_string());
        Ok(node)
    }

    fn seed_node(
        &self,
        file: &discover::FoundFile,
        owner: Option<usize>,
    ) -> Result<Node, Diagnostic> {
        let mut node =
            self.file_node(file, owner, ResourceType::Seed, |s| &s.seeds, String::new())?;
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

    /// A node defined by a file under a model or seed folder of the root
    /// project (`owner` `None`) or of a package, with the folder config of
    /// the tree `tree` picks applied: a package's own, then the root
    /// project's for that package on top.
    fn file_node(
        &self,
        file: &discover::FoundFile,
        owner: Option<usize>,
        resource_type: ResourceType,
        tree: fn(&Settings) -> &Value,
        raw_code: String,
    ) -> Result<Node, Diagnostic> {
        let name = stem(&file.path);
        let folders = folders_below(&file.relative_to_root);
        let (package, config) = match owner.and_then(|i| self.packages.get(i)) {
            None => (
                self.settings.name.clone(),
                folder_config(
                    tree(&self.settings),
                    &self.settings.name,
                    &folders,
                    &name,
                    &self.settings.file,
                )?,
            ),
            Some(package) => {
                let own = &package.settings;
                let mut config = folder_config(tree(own), &own.name, &folders, &name, &own.file)?;
                let overrides = package_overrides(
                    tree(&self.settings),
                    &own.name,
                    &folders,
                    &name,
                    &self.settings.file,
                )?;
                config::merge_into(&mut config, &overrides);
                (own.name.clone(), config)
            }
        };
        let mut fqn = vec![package.clone()];
        fqn.extend(folders.iter().cloned());
        fqn.push(name.clone());
        Ok(Node {
            unique_id: format!("{resource_type}.{package}.{name}"),
            name,
            resource_type,
            package_name: package,
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
            version: None,
            constraints: Vec::new(),
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

/// As dbt does, a dbt project that lists more packages than are installed
/// stops before anything runs: its models would miss their macros.
fn check_installed(root: &Path, settings: &Settings, installed: usize) -> Result<(), Diagnostic> {
    let Some(listed) = packages::read_specs(root, Path::new(""))? else {
        return Ok(());
    };
    if listed.len() <= installed {
        return Ok(());
    }
    let first = listed.first().map(|l| l.location.clone());
    Err(Diagnostic::error(format!(
        "{} package{} listed, but {installed} installed in {}/",
        listed.len(),
        if listed.len() == 1 { " is" } else { "s are" },
        settings.packages_install_path
    ))
    .at_opt(first)
    .help("run `sb deps` to install them"))
}

fn check_duplicates(nodes: &[Node], errors: &mut Vec<Diagnostic>) {
    let mut seen: std::collections::HashMap<(&str, &str, bool, Option<String>), &Node> =
        std::collections::HashMap::new();
    let mut versioned: std::collections::HashMap<(&str, &str), &Node> =
        std::collections::HashMap::new();
    for node in nodes.iter().filter(|n| n.version.is_some()) {
        versioned.insert((node.package_name.as_str(), node.name.as_str()), node);
    }
    for node in nodes {
        // Models and seeds share one namespace for `ref`; as in dbt, names
        // are unique within a package (ids carry the package's name), and
        // the versions of a model share its name.
        let refable = matches!(node.resource_type, ResourceType::Model | ResourceType::Seed);
        if refable
            && node.version.is_none()
            && let Some(version) = versioned.get(&(node.package_name.as_str(), node.name.as_str()))
        {
            errors.push(
                Diagnostic::error(format!(
                    "model `{}` has versions, and also a file of its own name",
                    node.name
                ))
                .at(Location::from_line_col(node.file_path(), &node.raw_code, 1, 1, 1))
                .note(format!("a version is defined in {}", version.original_file_path))
                .help(format!(
                    "`ref('{}')` would mean both: name this file in one version's `defined_in:`, or rename it",
                    node.name
                )),
            );
            continue;
        }
        let key = (
            node.package_name.as_str(),
            node.name.as_str(),
            refable,
            node.version.as_ref().map(versions::ModelVersion::text),
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
