//! `project.yml`: the project's name, paths, variables, folder-scoped config
//! and targets. Only `vars` and the selected target are rendered with Jinja
//! (`env_var`, `var`), so a secret that only `prod` needs never stops `dev`.
//! A BigQuery target is read into its adapter's typed settings here, once,
//! so every command stops at a bad one with the key's place in project.yml.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::adapter::AdapterKind;
use crate::adapter::bigquery;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::env::EnvVars;
use crate::project::yaml::YamlFile;

pub const PROJECT_FILE: &str = "project.yml";

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

/// The parsed `project.yml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub default_target: Option<String>,
    pub model_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub target_path: String,
    /// Project vars, rendered, with `--vars` applied on top.
    pub vars: Map<String, Value>,
    /// Folder-scoped config trees (`models:`, `seeds:`, `tests:`, `sources:`).
    pub models: Value,
    pub seeds: Value,
    pub tests: Value,
    pub sources: Value,
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
}

/// Reads `project.yml` under `root` and resolves `target_name` (or the
/// default); `bigquery` is what a BigQuery target's settings take from
/// outside the file.
pub fn load(
    root: &Path,
    target_name: Option<&str>,
    cli_vars: &Map<String, Value>,
    bigquery: &bigquery::Overrides,
    env: &EnvVars,
) -> Result<(Settings, Target), Diagnostic> {
    let path = Path::new(PROJECT_FILE);
    let full = root.join(path);
    let source = std::fs::read_to_string(&full).map_err(|error| {
        Diagnostic::error(format!("cannot read {}: {error}", full.display())).help(
            "run sb inside a project folder (one holding project.yml), or pass --project-dir DIR",
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
    let settings = Settings {
        default_target: text("default_target")?,
        model_paths: paths("model-paths", "models")?,
        macro_paths: paths("macro-paths", "macros")?,
        seed_paths: paths("seed-paths", "seeds")?,
        test_paths: paths("test-paths", "tests")?,
        target_path: text("target-path")?.unwrap_or_else(|| "target".into()),
        models: canonical.get("models").cloned().unwrap_or(Value::Null),
        seeds: canonical.get("seeds").cloned().unwrap_or(Value::Null),
        tests: canonical.get("tests").cloned().unwrap_or(Value::Null),
        sources: canonical.get("sources").cloned().unwrap_or(Value::Null),
        synthetic,
        dispatch: Vec::new(),
        name,
        vars,
        file: file.clone(),
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
    let mut fields = Map::new();
    let target_line = file
        .locate_key(&name, file.locate_key("targets", 1).line)
        .line;
    for (key, value) in raw {
        let field = renderer
            .render_value(value, &settings.vars, key)
            .map_err(|d| d.at(file.locate_key(key, target_line)))?;
        fields.insert(key.clone(), field);
    }
    let type_name = fields.get("type").and_then(Value::as_str);
    let Some(kind) = type_name.and_then(AdapterKind::parse) else {
        let shown = type_name.unwrap_or("(missing)");
        return Err(
            Diagnostic::error(format!("target `{name}` has unsupported type `{shown}`"))
                .at(if type_name.is_some() {
                    file.locate_key("type", target_line)
                } else {
                    file.locate_key(&name, 1)
                })
                .help("set `type: duckdb` or `type: bigquery`"),
        );
    };
    let get_str = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_string);
    let dialect = kind.dialect();
    let schema = dialect
        .schema_keys()
        .iter()
        .find_map(|key| get_str(key))
        .unwrap_or_else(|| dialect.default_schema().into());
    let threads = match fields.get("threads") {
        None => 4,
        Some(value) => match value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        {
            Some(n) if n >= 1 => usize::try_from(n).unwrap_or(1),
            _ => {
                return Err(Diagnostic::error(format!(
                    "`threads` of target `{name}` must be a whole number of at least 1"
                ))
                .at(file.locate_key("threads", target_line))
                .help("write for example `threads: 4`"));
            }
        },
    };
    let path = match kind {
        AdapterKind::Duckdb => {
            let relative = get_str("path")
                .unwrap_or_else(|| format!("{}/{}.duckdb", settings.target_path, settings.name));
            Some(if relative == ":memory:" {
                PathBuf::from(relative)
            } else {
                root.join(relative)
            })
        }
        AdapterKind::Bigquery => None,
    };
    // With no database named, DuckDB names an attached file's catalog after
    // its stem; qualifying relations with it keeps `analytics.x`
    // unambiguous when a schema shares the file's name.
    let database = dialect
        .database_keys()
        .iter()
        .find_map(|key| get_str(key))
        .or_else(|| {
            path.as_ref()
                .filter(|p| p.as_os_str() != ":memory:")
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
        });
    if kind == AdapterKind::Duckdb
        && let Some(catalog) = &database
        && catalog.eq_ignore_ascii_case(&schema)
    {
        return Err(Diagnostic::error(format!(
            "the DuckDB file's catalog `{catalog}` and the target's schema `{schema}` have the same name"
        ))
        .at(file.locate_key("schema", target_line))
        .note("DuckDB names a file's catalog after the file, and cannot bind views that read `catalog.schema.table` when the two names are equal")
        .help(format!("rename the schema (e.g. `schema: {schema}_models`) or the file (e.g. `path: target/dev.duckdb`)")));
    }
    fields.insert("name".into(), Value::from(name.clone()));
    fields.insert("schema".into(), Value::from(schema.clone()));
    fields.insert("threads".into(), Value::from(threads));
    if kind == AdapterKind::Bigquery {
        fields.insert("dataset".into(), Value::from(schema.clone()));
    }
    let bigquery = match kind {
        AdapterKind::Duckdb => None,
        AdapterKind::Bigquery => Some(bigquery::TargetConfig::parse(
            &name,
            &fields,
            overrides,
            |key| file.locate_key(key.unwrap_or(&name), target_line),
        )?),
    };
    Ok(Target {
        name,
        kind,
        schema,
        database,
        threads,
        path,
        fields,
        bigquery,
    })
}

/// Renders `{{ env_var(...) }}` and `{{ var(...) }}` inside string values.
struct Renderer<'a> {
    file: &'a YamlFile,
    env: &'a EnvVars,
}

impl<'a> Renderer<'a> {
    fn new(file: &'a YamlFile, env: &'a EnvVars) -> Self {
        Self { file, env }
    }

    fn render_value(
        &self,
        value: &Value,
        vars: &Map<String, Value>,
        key: &str,
    ) -> Result<Value, Diagnostic> {
        Ok(match value {
            Value::String(text) if text.contains("{{") || text.contains("{%") => {
                let rendered = super::render::render_project_string(text, vars, self.env).map_err(|message| {
                    Diagnostic::error(format!("cannot render `{key}` in project.yml: {message}"))
                        .at(self.file.locate_key(key, 1))
                        .help("only `env_var('NAME', 'default')` and `var('name')` can be used in project.yml; set the variable or give a default")
                })?;
                Value::String(rendered)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_value(item, vars, key))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.render_value(v, vars, k)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}
