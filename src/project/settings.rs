//! The project's settings: its name, paths, variables, folder-scoped config
//! and target, read from `project.yml` (sb's own form, read here) or, when
//! there is none, from a dbt `dbt_project.yml` and `profiles.yml`
//! ([`super::dbt_project`], [`super::profiles`]). Only `vars` and the
//! selected target are rendered with Jinja (`env_var`, `var`), so a secret
//! that only `prod` needs never stops `dev`. A BigQuery target is read into
//! its adapter's typed settings here, once, so every command stops at a bad
//! one with the key's place in the file.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::adapter::AdapterKind;
use crate::adapter::bigquery;
use crate::adapter::duckdb::Setup;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::LoadOptions;
use crate::project::target::{Renderer, TargetFlavor, TargetSource, build_target};
use crate::project::yaml::YamlFile;

pub const PROJECT_FILE: &str = "project.yml";
/// dbt's project file, read when there is no `project.yml`.
pub const DBT_PROJECT_FILE: &str = "dbt_project.yml";

/// Which file a project's settings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectFormat {
    /// `project.yml`, with its `targets:`.
    Sb,
    /// `dbt_project.yml`, with its targets in `profiles.yml`.
    Dbt,
}

/// Top-level keys of `project.yml`, with the dbt spellings that mean the same.
const KEYS: &[(&str, &str)] = &[
    ("name", "name"),
    ("default_target", "default_target"),
    ("targets", "targets"),
    ("model-paths", "model-paths"),
    ("source-paths", "model-paths"),
    ("macro-paths", "macro-paths"),
    ("seed-paths", "seed-paths"),
    ("data-paths", "seed-paths"),
    ("test-paths", "test-paths"),
    ("target-path", "target-path"),
    ("vars", "vars"),
    ("models", "models"),
    ("seeds", "seeds"),
    ("sources", "sources"),
    ("tests", "tests"),
    ("data_tests", "tests"),
    ("synthetic", "synthetic"),
    ("dashboards", "dashboards"),
];

/// dbt_project.yml keys that sb reads past without effect.
const IGNORED_DBT_KEYS: &[&str] = &[
    "version",
    "config-version",
    "profile",
    "require-dbt-version",
    "clean-targets",
    "flags",
    "analysis-paths",
    "snapshot-paths",
    "docs-paths",
    "asset-paths",
    "packages-install-path",
    "quoting",
    "query-comment",
    "dispatch",
    "snapshots",
    "analyses",
    "on-run-start",
    "on-run-end",
];

/// The parsed `project.yml` or `dbt_project.yml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub format: ProjectFormat,
    pub name: String,
    /// dbt's `profile:`, the profiles.yml entry the targets come from.
    pub profile: Option<String>,
    pub default_target: Option<String>,
    pub model_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    pub docs_paths: Vec<String>,
    pub asset_paths: Vec<String>,
    pub target_path: String,
    /// Where `sb deps` installs packages, and where they are read from.
    pub packages_install_path: String,
    /// What `sb clean` removes (dbt's `clean-targets`; the target path by default).
    pub clean_targets: Vec<String>,
    /// Project vars, rendered, with `--vars` applied on top. In a dbt
    /// project this holds the global vars and the project's own scope
    /// (`vars: {my_project: {...}}`).
    pub vars: Map<String, Value>,
    /// Rendered `vars:` entries whose value is a mapping: in a dbt project
    /// each may be a package's scope (`vars: {dbt_utils: {...}}`), which
    /// [`super::Project::vars_for`] applies inside that package only.
    pub scoped_vars: Map<String, Value>,
    /// `--vars`, which win over every file.
    pub cli_vars: Map<String, Value>,
    /// Folder-scoped config trees (`models:`, `seeds:`, `tests:`, `sources:`).
    pub models: Value,
    pub seeds: Value,
    pub tests: Value,
    pub sources: Value,
    pub snapshots: Value,
    /// `on-run-start` / `on-run-end`: Jinja SQL run before and after
    /// `run`, `build`, `seed` and `test`.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// dbt's `quoting:`, `flags:`, `query-comment:`, `version:`, as written.
    pub quoting: Map<String, Value>,
    pub flags: Map<String, Value>,
    pub query_comment: Value,
    pub version: Option<String>,
    /// What loading found worth a warning (a `require-dbt-version` that
    /// excludes the dbt version sb is compatible with); printed by commands.
    pub warnings: Vec<Diagnostic>,
    /// The synthesizer's settings, rendered.
    pub synthetic: Value,
    /// `dispatch:` of dbt_project.yml: where `adapter.dispatch(name,
    /// macro_namespace)` looks, in order; empty when not given.
    pub dispatch: Vec<DispatchOrder>,
    pub file: YamlFile,
}

/// One `dispatch:` entry: the packages searched, in order, for the macros
/// of `macro_namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchOrder {
    pub macro_namespace: String,
    pub search_order: Vec<String>,
}

/// The selected connection target, rendered.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kind: AdapterKind,
    /// DuckDB schema or BigQuery dataset.
    pub schema: String,
    /// BigQuery project; DuckDB has none.
    pub database: Option<String>,
    pub threads: usize,
    /// DuckDB file, absolute.
    pub path: Option<PathBuf>,
    /// Every rendered key of the target, for adapters and `target` in Jinja.
    pub fields: Map<String, Value>,
    /// A BigQuery target's settings, read from `fields`; `None` on DuckDB.
    pub bigquery: Option<bigquery::TargetConfig>,
    /// A DuckDB target's extensions, settings and attachments; `None` on BigQuery.
    pub duckdb: Option<Setup>,
    /// The `profiles.yml` a dbt project's target was read from.
    pub profiles_file: Option<PathBuf>,
    /// Keys of the target sb reads past, as warnings for commands to print.
    pub warnings: Vec<Diagnostic>,
}

impl Settings {
    /// Settings with every optional part empty, for the readers to fill.
    pub(super) fn empty(format: ProjectFormat, name: String, file: YamlFile) -> Self {
        Self {
            format,
            name,
            profile: None,
            default_target: None,
            model_paths: vec!["models".into()],
            macro_paths: vec!["macros".into()],
            seed_paths: vec!["seeds".into()],
            test_paths: vec!["tests".into()],
            snapshot_paths: vec!["snapshots".into()],
            analysis_paths: vec!["analyses".into()],
            docs_paths: Vec::new(),
            asset_paths: Vec::new(),
            target_path: "target".into(),
            packages_install_path: "dbt_packages".into(),
            clean_targets: Vec::new(),
            vars: Map::new(),
            scoped_vars: Map::new(),
            cli_vars: Map::new(),
            models: Value::Null,
            seeds: Value::Null,
            tests: Value::Null,
            sources: Value::Null,
            snapshots: Value::Null,
            on_run_start: Vec::new(),
            on_run_end: Vec::new(),
            quoting: Map::new(),
            flags: Map::new(),
            query_comment: Value::Null,
            version: None,
            warnings: Vec::new(),
            synthetic: Value::Null,
            dispatch: Vec::new(),
            file,
        }
    }
}

/// Reads the project under `options.project_dir`: `project.yml` when there
/// is one, else `dbt_project.yml` with its profile; and resolves the
/// target `options.target` asks for (or the default).
pub fn load(options: &LoadOptions) -> Result<(Settings, Target), Diagnostic> {
    let root = &options.project_dir;
    if !root.join(PROJECT_FILE).is_file() && root.join(DBT_PROJECT_FILE).is_file() {
        return super::dbt_project::load(options);
    }
    load_sb(
        root,
        options.target.as_deref(),
        &options.vars,
        &options.bigquery,
        &options.env,
    )
}

/// The project's settings without resolving a target, for commands that
/// need no warehouse (`clean`, `deps`): a dbt project's profile is not read.
pub fn load_without_target(options: &LoadOptions) -> Result<Settings, Diagnostic> {
    let root = &options.project_dir;
    if !root.join(PROJECT_FILE).is_file() && root.join(DBT_PROJECT_FILE).is_file() {
        return super::dbt_project::read(
            root,
            Path::new(DBT_PROJECT_FILE),
            &options.vars,
            &options.env,
        );
    }
    load(options).map(|(settings, _)| settings)
}

/// Reads `project.yml` under `root` and resolves `target_name` (or the
/// default); `bigquery` is what a BigQuery target's settings take from
/// outside the file.
fn load_sb(
    root: &Path,
    target_name: Option<&str>,
    cli_vars: &Map<String, Value>,
    bigquery: &bigquery::Overrides,
    env: &crate::project::EnvVars,
) -> Result<(Settings, Target), Diagnostic> {
    let path = Path::new(PROJECT_FILE);
    let full = root.join(path);
    let source = std::fs::read_to_string(&full).map_err(|error| {
        Diagnostic::error(format!("cannot read {}: {error}", full.display())).help(
            "run sb inside a project folder (one holding project.yml or dbt_project.yml), or pass --project-dir DIR",
        )
    })?;
    let file = YamlFile::parse(path, source)?;
    let Value::Object(top) = &file.value else {
        return Err(
            Diagnostic::error("project.yml must be a mapping of settings")
                .at(Location::from_line_col(path, &file.source, 1, 1, 1))
                .help("start with `name: my_project` and a `targets:` mapping"),
        );
    };
    let mut canonical = Map::new();
    for (key, value) in top {
        if let Some((_, name)) = KEYS.iter().find(|(spelling, _)| spelling == key) {
            canonical.insert((*name).to_string(), value.clone());
        } else if !IGNORED_DBT_KEYS.contains(&key.as_str()) {
            let known = KEYS
                .iter()
                .map(|(k, _)| *k)
                .chain(IGNORED_DBT_KEYS.iter().copied());
            let close = closest_names(key, known, 3);
            return Err(
                Diagnostic::error(format!("unknown key `{key}` in project.yml"))
                    .at(file.locate_key(key, 1))
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        "remove it; see SPEC's project.yml for the keys sb reads".into()
                    })),
            );
        }
    }

    let renderer = Renderer::new(&file, env);
    let mut vars = match canonical.get("vars") {
        Some(Value::Object(map)) => map.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(type_error(&file, "vars", "a mapping of names to values")),
    };
    let mut rendered_vars = Map::new();
    for (key, value) in &vars {
        rendered_vars.insert(
            key.clone(),
            renderer.render_value(value, &Map::new(), "vars")?,
        );
    }
    vars = rendered_vars;
    for (key, value) in cli_vars {
        vars.insert(key.clone(), value.clone());
    }

    let text = |key: &str| -> Result<Option<String>, Diagnostic> {
        match canonical.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value @ Value::String(_)) => match renderer.render_value(value, &vars, key)? {
                Value::String(s) => Ok(Some(s)),
                other => Ok(Some(other.to_string())),
            },
            Some(_) => Err(type_error(&file, key, "a string")),
        }
    };
    let paths = |key: &str, default: &str| -> Result<Vec<String>, Diagnostic> {
        match canonical.get(key) {
            None | Some(Value::Null) => Ok(vec![default.to_string()]),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()),
            Some(_) => Err(type_error(&file, key, "a list of folder names")),
        }
    };
    let name = text("name")?.ok_or_else(|| {
        Diagnostic::error("project.yml has no `name`")
            .at(Location::from_line_col(path, &file.source, 1, 1, 1))
            .help("add `name: my_project` at the top of project.yml")
    })?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(
            Diagnostic::error(format!("project name `{name}` is not a valid identifier"))
                .at(file.locate_key("name", 1))
                .help("use letters, digits and underscores only, e.g. `streaming_analytics`"),
        );
    }
    let synthetic = match canonical.get("synthetic") {
        Some(value) => renderer.render_value(value, &vars, "synthetic")?,
        None => Value::Null,
    };
    let target_path = text("target-path")?.unwrap_or_else(|| "target".into());
    let settings = Settings {
        default_target: text("default_target")?,
        model_paths: paths("model-paths", "models")?,
        macro_paths: paths("macro-paths", "macros")?,
        seed_paths: paths("seed-paths", "seeds")?,
        test_paths: paths("test-paths", "tests")?,
        clean_targets: vec![target_path.clone()],
        target_path,
        models: canonical.get("models").cloned().unwrap_or(Value::Null),
        seeds: canonical.get("seeds").cloned().unwrap_or(Value::Null),
        tests: canonical.get("tests").cloned().unwrap_or(Value::Null),
        sources: canonical.get("sources").cloned().unwrap_or(Value::Null),
        synthetic,
        vars,
        cli_vars: cli_vars.clone(),
        ..Settings::empty(ProjectFormat::Sb, name, file.clone())
    };
    let target = resolve_target(
        root,
        &settings,
        &canonical,
        &renderer,
        target_name,
        bigquery,
    )?;
    Ok((settings, target))
}

fn type_error(file: &YamlFile, key: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(format!("`{key}` in project.yml must be {expected}"))
        .at(file.locate_key(key, 1))
        .help(format!("write `{key}` as {expected}"))
}

fn resolve_target(
    root: &Path,
    settings: &Settings,
    canonical: &Map<String, Value>,
    renderer: &Renderer<'_>,
    requested: Option<&str>,
    overrides: &bigquery::Overrides,
) -> Result<Target, Diagnostic> {
    let file = &settings.file;
    let targets = match canonical.get("targets") {
        Some(Value::Object(map)) if !map.is_empty() => map.clone(),
        None | Some(Value::Null) => {
            // No targets: a DuckDB file under the target path, as a new user expects.
            let mut map = Map::new();
            map.insert(
                "dev".into(),
                serde_json::json!({"type": "duckdb", "path": format!("{}/{}.duckdb", settings.target_path, settings.name)}),
            );
            map
        }
        Some(_) => {
            return Err(type_error(
                file,
                "targets",
                "a mapping of target names to connection settings",
            ));
        }
    };
    let name = requested
        .map(str::to_string)
        .or_else(|| settings.default_target.clone())
        .or_else(|| targets.keys().next().cloned())
        .unwrap_or_else(|| "dev".into());
    let Some(Value::Object(raw)) = targets.get(&name) else {
        let close = closest_names(&name, targets.keys().map(String::as_str), 3);
        let mut diagnostic = Diagnostic::error(format!("no target named `{name}` in project.yml"));
        diagnostic = if requested.is_some() {
            diagnostic.help(did_you_mean(&close).unwrap_or_else(|| {
                format!(
                    "choose one of: {}",
                    targets.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }))
        } else {
            diagnostic
                .at(file.locate_key("default_target", 1))
                .help(format!(
                    "set `default_target` to one of: {}",
                    targets.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
        };
        return Err(diagnostic);
    };
    let target_line = file
        .locate_key(&name, file.locate_key("targets", 1).line)
        .line;
    let source = TargetSource {
        file,
        name: &name,
        raw,
        line: target_line,
        flavor: TargetFlavor::Sb,
    };
    build_target(root, settings, &source, renderer, overrides)
}
