//! One connection target, read from its raw YAML mapping into a [`Target`]:
//! the `type`, schema, database, threads, DuckDB file and setup, and a
//! BigQuery target's typed settings. Shared by `project.yml`'s `targets:`
//! and a dbt `profiles.yml` output; only the selected target is rendered,
//! by the [`Renderer`] that also renders project vars.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::adapter::duckdb::{Attachment, Setup};
use crate::adapter::{AdapterKind, bigquery};
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, did_you_mean};
use crate::project::env::EnvVars;
use crate::project::settings::{Settings, Target};
use crate::project::yaml::YamlFile;

/// Which file a target comes from: it decides the defaults dbt's adapters
/// use and how strictly keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFlavor {
    /// `project.yml`: a DuckDB file under the target path, 4 threads.
    Sb,
    /// `profiles.yml`: dbt-duckdb's `:memory:`, dbt's 1 thread, and unknown
    /// keys are errors.
    Dbt,
}

/// Where a target's raw mapping was read from.
pub struct TargetSource<'a> {
    pub file: &'a YamlFile,
    pub name: &'a str,
    pub raw: &'a Map<String, Value>,
    /// The line of the target's own `name:` key; its keys are below.
    pub line: usize,
    pub flavor: TargetFlavor,
}

/// Keys of a dbt-duckdb output sb reads.
const DUCKDB_KEYS: &[&str] = &[
    "type",
    "path",
    "database",
    "schema",
    "threads",
    "extensions",
    "settings",
    "attach",
];

/// dbt-duckdb keys sb reads past, with a warning: they change how
/// dbt-duckdb works in ways sb does not follow.
const DUCKDB_IGNORED_KEYS: &[&str] = &[
    "filesystems",
    "plugins",
    "secrets",
    "external_root",
    "use_credential_provider",
    "module_paths",
    "disable_transactions",
    "keep_open",
    "retries",
    "config_options",
    "is_ducklake",
];

/// Keys of a dbt-bigquery output sb reads.
const BIGQUERY_KEYS: &[&str] = &[
    "type",
    "method",
    "project",
    "database",
    "dataset",
    "schema",
    "location",
    "keyfile",
    "keyfile_json",
    "priority",
    "maximum_bytes_billed",
    "job_execution_timeout_seconds",
    "job_timeout",
    "job_timeout_seconds",
    "job_retries",
    "retries",
    "impersonate_service_account",
    "threads",
    "labels",
    "api_url",
    "upload_chunk_bytes",
    "resumable_threshold_bytes",
    "resumable_chunk_bytes",
];

/// dbt-bigquery keys sb reads past, with a warning.
const BIGQUERY_IGNORED_KEYS: &[&str] = &[
    "execution_project",
    "job_creation_timeout_seconds",
    "job_retry_deadline_seconds",
    "timeout_seconds",
    "scopes",
    "gcs_bucket",
    "dataproc_region",
    "dataproc_cluster_name",
    "compute_region",
];

/// Reads the target `source` of the project `settings` (project at `root`).
pub fn build_target(
    root: &Path,
    settings: &Settings,
    source: &TargetSource<'_>,
    renderer: &Renderer<'_>,
    overrides: &bigquery::Overrides,
) -> Result<Target, Diagnostic> {
    let file = source.file;
    let name = source.name.to_string();
    let target_line = source.line;
    let mut fields = Map::new();
    for (key, value) in source.raw {
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
    let warnings = match source.flavor {
        TargetFlavor::Dbt => check_keys(source, kind)?,
        TargetFlavor::Sb => Vec::new(),
    };
    let get_str = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_string);
    let dialect = kind.dialect();
    let schema = dialect
        .schema_keys()
        .iter()
        .find_map(|key| get_str(key))
        .unwrap_or_else(|| dialect.default_schema().into());
    let default_threads = match source.flavor {
        TargetFlavor::Sb => 4,
        TargetFlavor::Dbt => 1,
    };
    let threads = match fields.get("threads") {
        None => default_threads,
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
            let relative = get_str("path").unwrap_or_else(|| match source.flavor {
                TargetFlavor::Sb => format!("{}/{}.duckdb", settings.target_path, settings.name),
                TargetFlavor::Dbt => ":memory:".to_string(),
            });
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
    let duckdb = match kind {
        AdapterKind::Duckdb => Some(duckdb_setup(root, &fields, file, target_line)?),
        AdapterKind::Bigquery => None,
    };
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
        duckdb,
        profiles_file: None,
        warnings,
    })
}

/// A dbt profile's keys are checked against the adapter's: a typo is an
/// error at the key, with the closest names; a key sb knows but does not
/// apply is a warning.
fn check_keys(source: &TargetSource<'_>, kind: AdapterKind) -> Result<Vec<Diagnostic>, Diagnostic> {
    let (known, ignored) = match kind {
        AdapterKind::Duckdb => (DUCKDB_KEYS, DUCKDB_IGNORED_KEYS),
        AdapterKind::Bigquery => (BIGQUERY_KEYS, BIGQUERY_IGNORED_KEYS),
    };
    let mut warnings = Vec::new();
    for key in source.raw.keys() {
        let location = source.file.locate_key(key, source.line);
        if ignored.contains(&key.as_str()) {
            warnings.push(
                Diagnostic::warning(format!(
                    "sb does not apply `{key}` of the {} output `{}`: it is read past",
                    kind.as_str(),
                    source.name
                ))
                .at(location),
            );
        } else if !known.contains(&key.as_str()) {
            let all = known.iter().chain(ignored).copied();
            let close = closest_names(key, all, 3);
            return Err(Diagnostic::error(format!(
                "unknown key `{key}` in the {} output `{}`",
                kind.as_str(),
                source.name
            ))
            .at(location)
            .help(did_you_mean(&close).unwrap_or_else(|| {
                format!(
                    "remove it; a {} output takes: {}",
                    kind.as_str(),
                    known.join(", ")
                )
            })));
        }
    }
    Ok(warnings)
}

/// dbt-duckdb's `extensions`, `settings` and `attach`.
fn duckdb_setup(
    root: &Path,
    fields: &Map<String, Value>,
    file: &YamlFile,
    line: usize,
) -> Result<Setup, Diagnostic> {
    let bad = |key: &str, expected: &str| {
        Diagnostic::error(format!("`{key}` of a DuckDB target must be {expected}"))
            .at(file.locate_key(key, line))
            .help(format!("write `{key}` as {expected}"))
    };
    let mut setup = Setup::default();
    match fields.get("extensions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                // dbt-duckdb also takes `{name: x, repo: y}`; sb loads by name.
                let name = item
                    .as_str()
                    .or_else(|| item.get("name").and_then(Value::as_str));
                match name {
                    Some(name) if is_identifier(name) => setup.extensions.push(name.to_string()),
                    _ => return Err(bad("extensions", "a list of extension names")),
                }
            }
        }
        Some(_) => return Err(bad("extensions", "a list of extension names")),
    }
    match fields.get("settings") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                if !is_identifier(key) {
                    return Err(bad(
                        "settings",
                        "a mapping of DuckDB setting names to values",
                    ));
                }
                let literal = match value {
                    Value::String(text) => format!("'{}'", text.replace('\'', "''")),
                    Value::Bool(_) | Value::Number(_) => value.to_string(),
                    _ => {
                        return Err(bad(
                            "settings",
                            "a mapping of setting names to plain values",
                        ));
                    }
                };
                setup.settings.push((key.clone(), literal));
            }
        }
        Some(_) => {
            return Err(bad(
                "settings",
                "a mapping of DuckDB setting names to values",
            ));
        }
    }
    match fields.get("attach") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Some(path) = item.get("path").and_then(Value::as_str) else {
                    return Err(bad("attach", "a list of mappings with a `path`"));
                };
                let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
                let kind = text("type");
                if kind.as_deref().is_some_and(|k| !is_identifier(k)) {
                    return Err(bad("attach", "a list of mappings whose `type` is a name"));
                }
                // URL-like locations (`s3://`, `md:`) and `:memory:` are passed through.
                let path = if path.contains(':') {
                    PathBuf::from(path)
                } else {
                    root.join(path)
                };
                setup.attach.push(Attachment {
                    path,
                    alias: text("alias"),
                    kind,
                    read_only: item
                        .get("read_only")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
        }
        Some(_) => return Err(bad("attach", "a list of mappings with a `path`")),
    }
    Ok(setup)
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Renders `{{ env_var(...) }}` and `{{ var(...) }}` inside string values.
pub struct Renderer<'a> {
    file: &'a YamlFile,
    env: &'a EnvVars,
}

impl<'a> Renderer<'a> {
    pub fn new(file: &'a YamlFile, env: &'a EnvVars) -> Self {
        Self { file, env }
    }

    pub fn render_value(
        &self,
        value: &Value,
        vars: &Map<String, Value>,
        key: &str,
    ) -> Result<Value, Diagnostic> {
        Ok(match value {
            Value::String(text) if text.contains("{{") || text.contains("{%") => {
                let rendered = super::render::render_project_string(text, vars, self.env).map_err(|message| {
                    let file = self.file.path.file_name().map_or_else(|| self.file.path.display().to_string(), |n| n.to_string_lossy().into_owned());
                    Diagnostic::error(format!("cannot render `{key}` in {file}: {message}"))
                        .at(self.file.locate_key(key, 1))
                        .help(format!("only `env_var('NAME', 'default')` and `var('name')` can be used in {file}; set the variable or give a default"))
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
