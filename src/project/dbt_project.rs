//! `dbt_project.yml` (config-version 2), read as dbt reads it when a folder
//! has no `project.yml`: the name and profile, every `*-paths` key, vars
//! (global, and scoped to a package: `vars: {my_pkg: {x: 1}}`), the
//! resource config trees (`models:`, `seeds:`, ... nested under a project
//! or package name), `dispatch:`, `on-run-start`/`on-run-end`, and the keys
//! sb keeps as written (`quoting`, `flags`, `query-comment`). The same
//! reader serves installed packages, whose `dbt_project.yml` is a project too.

use std::path::Path;

use serde_json::{Map, Value};

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::env::EnvVars;
use crate::project::settings::{DBT_PROJECT_FILE, DispatchOrder, ProjectFormat, Settings, Target};
use crate::project::target::Renderer;
use crate::project::version::{DBT_VERSION, VersionRange};
use crate::project::yaml::YamlFile;
use crate::project::{LoadOptions, profiles};

type Vars = Map<String, Value>;

/// Every top-level key of `dbt_project.yml` that dbt accepts.
const KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "seed-paths",
    "data-paths",
    "test-paths",
    "analysis-paths",
    "macro-paths",
    "snapshot-paths",
    "docs-paths",
    "asset-paths",
    "function-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "modules-path",
    "clean-targets",
    "query-comment",
    "require-dbt-version",
    "quoting",
    "models",
    "seeds",
    "snapshots",
    "tests",
    "data_tests",
    "sources",
    "metrics",
    "semantic-models",
    "saved-queries",
    "exposures",
    "unit_tests",
    "functions",
    "analyses",
    "vars",
    "on-run-start",
    "on-run-end",
    "dispatch",
    "flags",
    "restrict-access",
    "dbt-cloud",
];

/// Reads the root project's `dbt_project.yml` and its target from
/// `profiles.yml`.
pub fn load(options: &LoadOptions) -> Result<(Settings, Target), Diagnostic> {
    let root = &options.project_dir;
    let mut settings = read(
        root,
        Path::new(DBT_PROJECT_FILE),
        &options.vars,
        &options.env,
    )?;
    if let Some(warning) = check_dbt_version(&settings.file)? {
        settings.warnings.push(warning);
    }
    let target = profiles::resolve(root, &settings, options)?;
    Ok((settings, target))
}

/// Reads the `dbt_project.yml` at `path` (relative to `root`, which is
/// also where errors name it from). Paths in it stay relative to its folder.
pub fn read(
    root: &Path,
    path: &Path,
    cli_vars: &Map<String, Value>,
    env: &EnvVars,
) -> Result<Settings, Diagnostic> {
    let full = root.join(path);
    let source = std::fs::read_to_string(&full).map_err(|error| {
        Diagnostic::error(format!("cannot read {}: {error}", full.display()))
            .help("check the file's permissions and that it is UTF-8 text")
    })?;
    let file = YamlFile::parse(path, source)?;
    let Value::Object(top) = &file.value else {
        return Err(
            Diagnostic::error(format!("{} must be a mapping of settings", path.display()))
                .at(Location::from_line_col(path, &file.source, 1, 1, 1))
                .help("start with `name: my_project` and `profile: my_profile`"),
        );
    };
    for key in top.keys() {
        if !KEYS.contains(&key.as_str()) {
            let close = closest_names(key, KEYS.iter().copied(), 3);
            return Err(
                Diagnostic::error(format!("unknown key `{key}` in {}", path.display()))
                    .at(file.locate_key(key, 1))
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        "remove it; dbt's reference for dbt_project.yml lists the keys".into()
                    })),
            );
        }
    }
    let reader = Reader {
        file: &file,
        top,
        renderer: Renderer::new(&file, env),
    };
    if let Some(version) = top.get("config-version")
        && version.as_u64() != Some(2)
    {
        return Err(reader
            .error("config-version", "config-version must be 2")
            .help(
                "sb reads dbt_project.yml in dbt's config-version 2: write `config-version: 2`",
            ));
    }
    let name = reader.text("name", &Map::new())?.ok_or_else(|| {
        Diagnostic::error(format!("{} has no `name`", path.display()))
            .at(Location::from_line_col(path, &file.source, 1, 1, 1))
            .help("add `name: my_project` at the top")
    })?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(
            Diagnostic::error(format!("project name `{name}` is not a valid identifier"))
                .at(file.locate_key("name", 1))
                .help("use letters, digits and underscores only, e.g. `jaffle_shop`"),
        );
    }
    let (vars, scoped_vars) = reader.vars(&name, cli_vars)?;
    let mut settings = Settings::empty(ProjectFormat::Dbt, name, file.clone());
    settings.vars = vars;
    settings.scoped_vars = scoped_vars;
    settings.cli_vars.clone_from(cli_vars);
    let vars = &settings.vars;
    settings.profile = reader.text("profile", vars)?;
    settings.version = match top.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(reader.type_error("version", "a version string")),
    };
    let paths = |keys: &[&str], default: &[&str]| -> Result<Vec<String>, Diagnostic> {
        match keys.iter().find(|k| top.contains_key(**k)) {
            Some(key) => reader.list(key, vars),
            None => Ok(default.iter().map(|s| (*s).to_string()).collect()),
        }
    };
    settings.model_paths = paths(&["model-paths", "source-paths"], &["models"])?;
    settings.seed_paths = paths(&["seed-paths", "data-paths"], &["seeds"])?;
    settings.test_paths = paths(&["test-paths"], &["tests"])?;
    settings.macro_paths = paths(&["macro-paths"], &["macros"])?;
    settings.snapshot_paths = paths(&["snapshot-paths"], &["snapshots"])?;
    settings.analysis_paths = paths(&["analysis-paths"], &["analyses"])?;
    settings.docs_paths = paths(&["docs-paths"], &[])?;
    settings.asset_paths = paths(&["asset-paths"], &[])?;
    settings.target_path = reader
        .text("target-path", vars)?
        .unwrap_or_else(|| "target".into());
    settings.packages_install_path = match reader.text("packages-install-path", vars)? {
        Some(path) => path,
        None => reader
            .text("modules-path", vars)?
            .unwrap_or_else(|| "dbt_packages".into()),
    };
    settings.clean_targets = if top.contains_key("clean-targets") {
        reader.list("clean-targets", vars)?
    } else {
        vec![settings.target_path.clone()]
    };
    let tree = |key: &str| top.get(key).cloned().unwrap_or(Value::Null);
    settings.models = tree("models");
    settings.seeds = tree("seeds");
    settings.snapshots = tree("snapshots");
    settings.sources = tree("sources");
    settings.tests = merge_trees(tree("tests"), tree("data_tests"));
    settings.on_run_start = reader.hooks("on-run-start")?;
    settings.on_run_end = reader.hooks("on-run-end")?;
    settings.dispatch = reader.dispatch()?;
    settings.quoting = reader.mapping("quoting")?;
    settings.flags = reader.mapping("flags")?;
    settings.query_comment = tree("query-comment");
    Ok(settings)
}

/// The vars inside the package `package` of the root project `root`: the
/// package's own `vars:`, then the root's globals, then the root's scope
/// for that package (`vars: {pkg: {...}}`), then `--vars`.
pub fn package_vars(root: &Settings, package: &Settings) -> Vars {
    let mut vars = package.vars.clone();
    let own_scope = root.scoped_vars.get(&root.name);
    for (key, value) in &root.vars {
        let from_own_scope = own_scope.and_then(|s| s.get(key)) == Some(value);
        if !root.cli_vars.contains_key(key) && !from_own_scope {
            vars.insert(key.clone(), value.clone());
        }
    }
    if let Some(Value::Object(scope)) = root.scoped_vars.get(&package.name) {
        vars.extend(scope.clone());
    }
    vars.extend(root.cli_vars.clone());
    vars
}

/// Renders the Jinja in the config trees (`+enabled: "{{ var('x', true) }}"`)
/// with `vars`, as dbt does when it reads the project; hooks are left for
/// when they run. A rendered `true`, `false` or number becomes that value.
pub fn render_config_trees(
    settings: &mut Settings,
    vars: &Vars,
    env: &EnvVars,
) -> Result<(), Diagnostic> {
    let file = settings.file.clone();
    let renderer = Renderer::new(&file, env);
    for tree in [
        &mut settings.models,
        &mut settings.seeds,
        &mut settings.snapshots,
        &mut settings.tests,
        &mut settings.sources,
    ] {
        render_tree(tree, &renderer, vars, "")?;
    }
    Ok(())
}

fn render_tree(
    value: &mut Value,
    templates: &Renderer<'_>,
    vars: &Vars,
    key: &str,
) -> Result<(), Diagnostic> {
    let bare = key.trim_start_matches('+').replace('-', "_");
    if bare == "pre_hook" || bare == "post_hook" {
        return Ok(());
    }
    match value {
        Value::Object(map) => {
            for (inner, value) in map.iter_mut() {
                render_tree(value, templates, vars, inner)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                render_tree(item, templates, vars, key)?;
            }
        }
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            let rendered = templates.render_value(value, vars, key)?;
            *value = match rendered.as_str().map(str::trim) {
                Some("true" | "True") => Value::Bool(true),
                Some("false" | "False") => Value::Bool(false),
                Some(number) if number.parse::<i64>().is_ok() => {
                    Value::from(number.parse::<i64>().unwrap_or_default())
                }
                _ => rendered,
            };
        }
        _ => {}
    }
    Ok(())
}

/// A warning when `require-dbt-version` leaves out the dbt version sb
/// answers like; an error when the range cannot be read.
pub fn check_dbt_version(file: &YamlFile) -> Result<Option<Diagnostic>, Diagnostic> {
    let Some(value) = file.value.get("require-dbt-version") else {
        return Ok(None);
    };
    let location = file.locate_key("require-dbt-version", 1);
    let ranges: Vec<&str> = match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect()
        }
        _ => {
            return Err(Diagnostic::error("`require-dbt-version` must be a version range")
                .at(location)
                .help("write it as dbt does, e.g. `require-dbt-version: [\">=1.5.0\", \"<2.0.0\"]`"));
        }
    };
    let mut range = VersionRange::any();
    for text in ranges {
        let part = VersionRange::parse(text).map_err(|message| {
            Diagnostic::error(format!("cannot read `require-dbt-version`: {message}"))
                .at(location.clone())
                .help("write comparisons like `>=1.5.0` and `<2.0.0`")
        })?;
        range = range.and(part);
    }
    if range.contains(&DBT_VERSION) {
        return Ok(None);
    }
    Ok(Some(
        Diagnostic::warning(format!(
            "this project requires dbt {range}; sb reads projects as dbt {DBT_VERSION} does, so it may not build as expected"
        ))
        .at(location),
    ))
}

/// `tests:` and `data_tests:` mean the same; both may be given.
fn merge_trees(first: Value, second: Value) -> Value {
    match (first, second) {
        (Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Value::Object(a)
        }
        (Value::Null, other) => other,
        (one, _) => one,
    }
}

/// Typed reads of the top-level keys, with errors at the key.
struct Reader<'a> {
    file: &'a YamlFile,
    top: &'a Map<String, Value>,
    renderer: Renderer<'a>,
}

impl Reader<'_> {
    fn error(&self, key: &str, message: &str) -> Diagnostic {
        Diagnostic::error(format!("{} in {}", message, self.file.path.display()))
            .at(self.file.locate_key(key, 1))
    }

    fn type_error(&self, key: &str, expected: &str) -> Diagnostic {
        self.error(key, &format!("`{key}` must be {expected}"))
            .help(format!("write `{key}` as {expected}"))
    }

    fn text(&self, key: &str, vars: &Map<String, Value>) -> Result<Option<String>, Diagnostic> {
        match self.top.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value @ Value::String(_)) => {
                match self.renderer.render_value(value, vars, key)? {
                    Value::String(s) => Ok(Some(s)),
                    other => Ok(Some(other.to_string())),
                }
            }
            Some(_) => Err(self.type_error(key, "a string")),
        }
    }

    fn list(&self, key: &str, vars: &Map<String, Value>) -> Result<Vec<String>, Diagnostic> {
        let value = self.top.get(key).cloned().unwrap_or(Value::Null);
        match self.renderer.render_value(&value, vars, key)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()),
            _ => Err(self.type_error(key, "a list of folder names")),
        }
    }

    fn mapping(&self, key: &str) -> Result<Map<String, Value>, Diagnostic> {
        match self.top.get(key) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(_) => Err(self.type_error(key, "a mapping")),
        }
    }

    /// `on-run-start` / `on-run-end`: one SQL string or a list of them,
    /// kept unrendered (they render when they run).
    fn hooks(&self, key: &str) -> Result<Vec<String>, Diagnostic> {
        match self.top.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(sql)) => Ok(vec![sql.clone()]),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()),
            Some(_) => Err(self.type_error(key, "a SQL statement or a list of them")),
        }
    }

    fn dispatch(&self) -> Result<Vec<DispatchOrder>, Diagnostic> {
        let bad = || {
            self.type_error(
                "dispatch",
                "a list of `{macro_namespace: name, search_order: [packages]}`",
            )
        };
        let items = match self.top.get("dispatch") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(bad()),
        };
        let mut orders = Vec::new();
        for item in items {
            let namespace = item.get("macro_namespace").and_then(Value::as_str);
            let order = item.get("search_order").and_then(Value::as_array);
            let (Some(namespace), Some(order)) = (namespace, order) else {
                return Err(bad());
            };
            let search_order: Option<Vec<String>> = order
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            let Some(search_order) = search_order else {
                return Err(bad());
            };
            orders.push(DispatchOrder {
                macro_namespace: namespace.to_string(),
                search_order,
            });
        }
        Ok(orders)
    }

    /// The rendered vars: globals with the project's own scope on top and
    /// `--vars` over both, and every mapping-valued entry as a possible
    /// package scope. `"pkg:name"` keys are scoped too.
    fn vars(
        &self,
        own_name: &str,
        cli_vars: &Map<String, Value>,
    ) -> Result<(Vars, Vars), Diagnostic> {
        let raw = match self.top.get("vars") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(self.type_error("vars", "a mapping of names to values")),
        };
        let mut globals = Map::new();
        let mut scoped = Map::new();
        for (key, value) in &raw {
            let rendered = self.renderer.render_value(value, &Map::new(), "vars")?;
            if let Some((package, name)) = key.split_once(':') {
                let scope = scoped
                    .entry(package.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(scope) = scope {
                    scope.insert(name.to_string(), rendered);
                }
            } else if rendered.is_object() {
                scoped.insert(key.clone(), rendered.clone());
                if key != own_name {
                    globals.insert(key.clone(), rendered);
                }
            } else {
                globals.insert(key.clone(), rendered);
            }
        }
        let mut vars = globals;
        if let Some(Value::Object(own)) = scoped.get(own_name) {
            vars.extend(own.clone());
        }
        vars.extend(cli_vars.clone());
        Ok((vars, scoped))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Settings, Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DBT_PROJECT_FILE), text).unwrap();
        read(
            dir.path(),
            Path::new(DBT_PROJECT_FILE),
            &Map::new(),
            &EnvVars::default(),
        )
    }

    #[test]
    fn reads_paths_vars_hooks_and_dispatch() {
        let settings = read_text(
            "name: shop\nconfig-version: 2\nprofile: shop\nmodel-paths: [\"transform\"]\n\
             packages-install-path: vendor\nclean-targets: [target, vendor]\n\
             vars:\n  start: 1\n  shop:\n    start: 2\n  dbt_utils:\n    x: 3\n  \"pkg:y\": 4\n\
             on-run-start: \"create schema if not exists audit\"\n\
             dispatch:\n  - macro_namespace: dbt_utils\n    search_order: [shop, dbt_utils]\n",
        )
        .unwrap();
        assert_eq!(settings.profile.as_deref(), Some("shop"));
        assert_eq!(settings.model_paths, ["transform"]);
        assert_eq!(settings.seed_paths, ["seeds"]);
        assert_eq!(settings.packages_install_path, "vendor");
        assert_eq!(settings.clean_targets, ["target", "vendor"]);
        assert_eq!(settings.vars["start"], 2);
        assert_eq!(settings.scoped_vars["dbt_utils"]["x"], 3);
        assert_eq!(settings.scoped_vars["pkg"]["y"], 4);
        assert_eq!(settings.on_run_start.len(), 1);
        assert_eq!(
            settings.dispatch,
            [DispatchOrder {
                macro_namespace: "dbt_utils".into(),
                search_order: vec!["shop".into(), "dbt_utils".into()],
            }]
        );
    }

    #[test]
    fn config_trees_render_vars_into_values_but_leave_hooks() {
        let mut settings = read_text(
            "name: shop\nvars:\n  on: false\nmodels:\n  shop:\n    +enabled: \"{{ var('on') }}\"\n    +post-hook: \"{{ var('later') }}\"\n",
        )
        .unwrap();
        let vars = settings.vars.clone();
        render_config_trees(&mut settings, &vars, &EnvVars::default()).unwrap();
        assert_eq!(settings.models["shop"]["+enabled"], false);
        assert_eq!(settings.models["shop"]["+post-hook"], "{{ var('later') }}");
    }

    #[test]
    fn unknown_key_is_located_with_a_suggestion() {
        let error = read_text("name: shop\nprofil: shop\n").unwrap_err();
        assert_eq!(error.message, "unknown key `profil` in dbt_project.yml");
        let location = error.location.unwrap();
        assert_eq!((location.line, location.column), (2, 1));
        assert!(error.help.unwrap().contains("profile"));
    }

    #[test]
    fn a_required_version_that_excludes_sb_is_a_warning() {
        let file = YamlFile::parse(
            Path::new(DBT_PROJECT_FILE),
            "name: a\nrequire-dbt-version: [\">=1.0.0\", \"<1.5.0\"]\n".into(),
        )
        .unwrap();
        let warning = check_dbt_version(&file).unwrap().unwrap();
        assert!(
            warning.message.contains(">=1.0.0, <1.5.0"),
            "{}",
            warning.message
        );
        let file = YamlFile::parse(
            Path::new(DBT_PROJECT_FILE),
            "name: a\nrequire-dbt-version: \">=1.3.0\"\n".into(),
        )
        .unwrap();
        assert!(check_dbt_version(&file).unwrap().is_none());
    }
}
