//! dbt's unit tests (`unit_tests:` in schema YAML, dbt 1.8): each entry
//! becomes a `unit_test` node named `unit_test.<package>.<model>.<name>`,
//! and what it runs on is kept as a [`UnitTestSpec`]: the model, the given
//! rows of each input (`ref(...)`, `source(...)` or `this`) as dicts, csv or
//! sql, the expected rows, and the overrides. How one runs is
//! `execute::unit_test`.

use std::path::Path;

use serde_json::{Map, Value};

use super::config::NodeConfig;
use super::yaml::YamlFile;
use super::{Node, Project};
use crate::diag::{Diagnostic, Location};
use crate::resource::ResourceType;

/// One unit test, as its YAML entry says.
#[derive(Debug, Clone)]
pub struct UnitTestSpec {
    /// The model under test, by name.
    pub model: String,
    /// Of a versioned model, the version this node tests (dbt makes one
    /// unit test node per version).
    pub version: Option<String>,
    /// `versions: {include: [...], exclude: [...]}`: which versions of a
    /// versioned model the test runs on (all when absent).
    pub versions: VersionFilter,
    pub given: Vec<Fixture>,
    pub expect: Fixture,
    pub overrides: Overrides,
    /// Where the entry's `name:` is.
    pub location: Location,
}

/// A unit test's `overrides:`, as dbt reads them.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `macros: {is_incremental: true}`: the model renders as an
    /// incremental run (with `this` as an input).
    pub is_incremental: bool,
    /// `macros: {current_timestamp: "..."}`: any other macro, by name or
    /// `package.name`, returns the given value instead of running.
    pub macros: Map<String, Value>,
    /// `vars: {...}`: what `var()` returns.
    pub vars: Map<String, Value>,
    /// `env_vars: {...}`: what `env_var()` returns.
    pub env_vars: Map<String, Value>,
}

impl Overrides {
    fn read(entry: Option<&Value>) -> Self {
        let map = |key: &str| match entry.and_then(|o| o.get(key)) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let mut macros = map("macros");
        let is_incremental = macros
            .remove("is_incremental")
            .is_some_and(|value| value.as_bool().unwrap_or(false));
        Self {
            is_incremental,
            macros,
            vars: map("vars"),
            env_vars: map("env_vars"),
        }
    }

    /// As the manifest writes them (dbt's `UnitTestOverrides`), or null.
    pub fn manifest_value(&self) -> Value {
        if self.is_empty() {
            return Value::Null;
        }
        let mut macros = self.macros.clone();
        if self.is_incremental {
            macros.insert("is_incremental".into(), Value::Bool(true));
        }
        serde_json::json!({"macros": macros, "vars": self.vars, "env_vars": self.env_vars})
    }

    pub fn is_empty(&self) -> bool {
        !self.is_incremental
            && self.macros.is_empty()
            && self.vars.is_empty()
            && self.env_vars.is_empty()
    }
}

/// The rows of one input, or the expected rows.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// What the input stands for: `ref('x')`, `source('s', 't')` or `this`
    /// (empty for `expect`).
    pub input: Input,
    pub format: FixtureFormat,
    /// A list of dicts (`dict`), a CSV text (`csv`) or a SELECT (`sql`).
    pub rows: Value,
    pub location: Location,
}

/// An input of a unit test, parsed from its `input:` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Ref(String),
    Source(String, String),
    This,
    Expected,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ref(name) => write!(f, "ref('{name}')"),
            Self::Source(source, table) => write!(f, "source('{source}', '{table}')"),
            Self::This => f.write_str("this"),
            Self::Expected => f.write_str("expect"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureFormat {
    Dict,
    Csv,
    Sql,
}

impl FixtureFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dict => "dict",
            Self::Csv => "csv",
            Self::Sql => "sql",
        }
    }
}

impl Fixture {
    /// The fixture as dbt's manifest writes it.
    pub fn manifest_value(&self) -> Value {
        let mut out = Map::new();
        if self.input != Input::Expected {
            out.insert("input".into(), Value::from(self.input.to_string()));
        }
        out.insert("rows".into(), self.rows.clone());
        out.insert("format".into(), Value::from(self.format.as_str()));
        out.insert("fixture".into(), Value::Null);
        Value::Object(out)
    }
}

/// The unit tests schema file `file` defines, with their specs; `owner` is
/// the package the file belongs to.
pub(super) fn nodes(
    project: &Project,
    file: &YamlFile,
    owner: Option<usize>,
) -> Result<Vec<(Node, UnitTestSpec)>, Diagnostic> {
    let Some(entries) = file.value.get("unit_tests") else {
        return Ok(Vec::new());
    };
    let Value::Array(entries) = entries else {
        return Err(Diagnostic::error("`unit_tests:` is not a list")
            .at(file.locate_key("unit_tests", 1))
            .help("write `unit_tests:` as a list of `- name: ...` entries"));
    };
    let package = owner
        .and_then(|i| project.packages.get(i))
        .map_or_else(|| project.settings.name.clone(), |p| p.name.clone());
    let path = super::slash(&file.path);
    // dbt reads `fixture:` files from `fixtures/` under the test paths of
    // the project the unit test belongs to.
    let (base, settings) = match owner.and_then(|i| project.packages.get(i)) {
        Some(package) => (project.root.join(&package.dir), &package.settings),
        None => (project.root.clone(), &project.settings),
    };
    let fixture_dirs = FixtureFolders {
        dirs: settings
            .test_paths
            .iter()
            .map(|folder| base.join(folder).join("fixtures"))
            .collect(),
        shown: format!(
            "{}/fixtures",
            settings.test_paths.first().map_or("tests", String::as_str)
        ),
    };
    let mut out = Vec::new();
    for entry in entries {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            return Err(Diagnostic::error("a unit test has no `name`")
                .at(file.locate_key("unit_tests", 1))
                .help("give every entry of `unit_tests:` a `name:`"));
        };
        let location = file.locate_named(name);
        let line = location.line;
        let Some(model) = entry.get("model").and_then(Value::as_str) else {
            return Err(
                Diagnostic::error(format!("unit test `{name}` has no `model`"))
                    .at(location)
                    .help("name the model it tests: `model: <model name>`"),
            );
        };
        let mut given = Vec::new();
        match entry.get("given") {
            None | Some(Value::Null) => {}
            Some(Value::Array(inputs)) => {
                for input in inputs {
                    given.push(fixture(file, name, input, line, false, &fixture_dirs)?);
                }
            }
            Some(_) => {
                return Err(Diagnostic::error(format!(
                    "unit test `{name}`: `given` is not a list"
                ))
                .at(file.locate_key("given", line))
                .help("write `given:` as a list of `- input: ref('...')` entries with `rows:`"));
            }
        }
        let Some(expect) = entry.get("expect") else {
            return Err(
                Diagnostic::error(format!("unit test `{name}` has no `expect`"))
                    .at(location)
                    .help("add `expect: {rows: [...]}` with the rows the model should give"),
            );
        };
        let expect = fixture(file, name, expect, line, true, &fixture_dirs)?;
        let overrides = Overrides::read(entry.get("overrides"));
        let mut config = NodeConfig::default();
        if let Some(Value::Object(map)) = entry.get("config") {
            config.0.extend(map.clone());
        }
        let folders: Vec<String> = Path::new(&path)
            .parent()
            .into_iter()
            .flat_map(|p| p.iter().skip(1))
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        let mut fqn = vec![package.clone()];
        fqn.extend(folders);
        fqn.push(model.to_string());
        fqn.push(name.to_string());
        let node = Node {
            unique_id: format!("unit_test.{package}.{model}.{name}"),
            name: name.to_string(),
            resource_type: ResourceType::UnitTest,
            package_name: package.clone(),
            original_file_path: path.clone(),
            path: format!("{name}.sql"),
            fqn,
            raw_code: String::new(),
            description: entry
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            columns: indexmap::IndexMap::new(),
            config,
            yaml_path: Some(path.clone()),
            source: None,
            tests: Vec::new(),
            version: None,
            constraints: Vec::new(),
            generic_test: None,
        };
        out.push((
            node,
            UnitTestSpec {
                model: model.to_string(),
                version: None,
                versions: VersionFilter::read(entry.get("versions")),
                given,
                expect,
                overrides,
                location,
            },
        ));
    }
    Ok(out)
}

/// The versions of a model a unit test runs on.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    pub include: Option<Vec<String>>,
    pub exclude: Vec<String>,
}

impl VersionFilter {
    fn read(value: Option<&Value>) -> Self {
        let list = |key: &str| {
            value.and_then(|v| v.get(key)).map(|v| match v {
                Value::Array(items) => items.iter().map(super::versions::identifier_text).collect(),
                other => vec![super::versions::identifier_text(other)],
            })
        };
        Self {
            include: list("include"),
            exclude: list("exclude").unwrap_or_default(),
        }
    }

    pub fn keeps(&self, version: &str) -> bool {
        self.include
            .as_ref()
            .is_none_or(|list| list.iter().any(|v| v == version))
            && !self.exclude.iter().any(|v| v == version)
    }
}

/// A unit test of a versioned model becomes one node per version it runs
/// on, as dbt makes them: `unit_test.<pkg>.<model>.<name>_v<v>`, each
/// depending on its version.
pub fn split_by_version(project: &mut Project) {
    let mut versions_of: std::collections::HashMap<
        (String, String),
        Vec<super::versions::ModelVersion>,
    > = std::collections::HashMap::new();
    for node in &project.nodes {
        if let (ResourceType::Model, Some(version)) = (node.resource_type, &node.version) {
            versions_of
                .entry((node.package_name.clone(), node.name.clone()))
                .or_default()
                .push(version.clone());
        }
    }
    if versions_of.is_empty() {
        return;
    }
    let mut kept = Vec::with_capacity(project.nodes.len());
    for node in std::mem::take(&mut project.nodes) {
        let spec = (node.resource_type == ResourceType::UnitTest)
            .then(|| project.unit_tests.get(&node.unique_id))
            .flatten();
        let Some(versions) =
            spec.and_then(|s| versions_of.get(&(node.package_name.clone(), s.model.clone())))
        else {
            kept.push(node);
            continue;
        };
        let Some(spec) = project.unit_tests.remove(&node.unique_id) else {
            kept.push(node);
            continue;
        };
        let mut versions = versions.clone();
        versions.sort_by(|a, b| super::versions::compare_identifiers(&a.text(), &b.text()));
        for version in versions
            .into_iter()
            .filter(|v| spec.versions.keeps(&v.text()))
        {
            let mut one = node.clone();
            one.unique_id = format!("{}_v{}", node.unique_id, version.text());
            let mut one_spec = spec.clone();
            one_spec.version = Some(version.text());
            one.version = Some(version);
            project.unit_tests.insert(one.unique_id.clone(), one_spec);
            kept.push(one);
        }
    }
    project.nodes = kept;
}

fn fixture(
    file: &YamlFile,
    test: &str,
    entry: &Value,
    line: usize,
    expected: bool,
    fixture_dirs: &FixtureFolders,
) -> Result<Fixture, Diagnostic> {
    let key = if expected { "expect" } else { "input" };
    let location = file.locate_key(key, line);
    let input = if expected {
        Input::Expected
    } else {
        let written = entry
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        parse_input(written).ok_or_else(|| {
            Diagnostic::error(format!(
                "unit test `{test}`: `input: {written}` is not a ref(), a source() or `this`"
            ))
            .at(location.clone())
            .help(
                "write `input: ref('model')`, `input: source('source', 'table')` or `input: this`",
            )
        })?
    };
    let format = match entry.get("format").and_then(Value::as_str) {
        None | Some("dict") => FixtureFormat::Dict,
        Some("csv") => FixtureFormat::Csv,
        Some("sql") => FixtureFormat::Sql,
        Some(other) => {
            return Err(
                Diagnostic::error(format!("unit test `{test}`: unknown format `{other}`"))
                    .at(file.locate_key("format", location.line))
                    .help("use `format: dict` (the default), `csv` or `sql`"),
            );
        }
    };
    let rows = match entry.get("fixture") {
        Some(named) => {
            let at = file.locate_key("fixture", location.line);
            fixture_file(test, named, format, fixture_dirs).map_err(|(message, help)| {
                Diagnostic::error(format!("unit test `{test}`: {message}"))
                    .at(at)
                    .help(help)
            })?
        }
        None => entry
            .get("rows")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    };
    let well_formed = match format {
        FixtureFormat::Dict => {
            matches!(&rows, Value::Array(items) if items.iter().all(Value::is_object))
        }
        FixtureFormat::Csv | FixtureFormat::Sql => rows.is_string(),
    };
    if !well_formed {
        let want = match format {
            FixtureFormat::Dict => "a list of `{column: value}` rows",
            FixtureFormat::Csv => "a CSV text with a header line (`rows: |`)",
            FixtureFormat::Sql => "a SELECT (`rows: |`)",
        };
        return Err(Diagnostic::error(format!(
            "unit test `{test}`: the `rows` of `{}` are not {want}",
            if expected {
                "expect"
            } else {
                entry.get("input").and_then(Value::as_str).unwrap_or("?")
            }
        ))
        .at(file.locate_key("rows", location.line))
        .help(format!("write `rows:` as {want}")));
    }
    Ok(Fixture {
        input,
        format,
        rows,
        location,
    })
}

/// Where a project's unit-test fixture files are, and how to name that
/// place to the user.
struct FixtureFolders {
    dirs: Vec<std::path::PathBuf>,
    shown: String,
}

/// The text of the `fixture:` file `named` (`tests/fixtures/<name>.csv`,
/// or `.sql` for `format: sql`, in any folder below `fixtures/`), as the
/// rows of that format; `Err` has the message and the help.
fn fixture_file(
    test: &str,
    named: &Value,
    format: FixtureFormat,
    folders: &FixtureFolders,
) -> Result<Value, (String, String)> {
    let Some(name) = named.as_str() else {
        return Err((
            "`fixture:` must be the name of a file".into(),
            "write `fixture: my_rows` for tests/fixtures/my_rows.csv".into(),
        ));
    };
    let extension = match format {
        FixtureFormat::Csv => "csv",
        FixtureFormat::Sql => "sql",
        FixtureFormat::Dict => {
            return Err((
                "a `fixture:` file needs `format: csv` or `format: sql`".into(),
                "add `format: csv` (or `sql`) beside `fixture:`, as dbt requires".into(),
            ));
        }
    };
    let wanted = format!("{name}.{extension}");
    // The shallowest file of that name; of several as deep, the first by name.
    let found = folders.dirs.iter().find_map(|dir| {
        walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.file_name().to_str() == Some(wanted.as_str()))
            .min_by_key(walkdir::DirEntry::depth)
            .map(walkdir::DirEntry::into_path)
    });
    let Some(path) = found else {
        let folder = &folders.shown;
        return Err((
            format!("the fixture file `{wanted}` of unit test `{test}` is not under {folder}/"),
            format!("create {folder}/{wanted}, or fix the name in `fixture:`"),
        ));
    };
    std::fs::read_to_string(&path)
        .map(Value::String)
        .map_err(|e| {
            (
                format!("cannot read {}: {e}", path.display()),
                "make the fixture file readable UTF-8 text".into(),
            )
        })
}

/// `ref('x')`, `ref("pkg", "x")`, `source('s', 't')` or `this`.
pub fn parse_input(text: &str) -> Option<Input> {
    let text = text.trim();
    if text == "this" {
        return Some(Input::This);
    }
    let (function, rest) = text.split_once('(')?;
    let arguments: Vec<String> = rest
        .trim()
        .strip_suffix(')')?
        .split(',')
        .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|a| !a.is_empty())
        .collect();
    match (function.trim(), arguments.as_slice()) {
        ("ref", [name] | [_, name]) => Some(Input::Ref(name.clone())),
        ("source", [source, table]) => Some(Input::Source(source.clone(), table.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_refs_sources_or_this() {
        assert_eq!(
            parse_input("ref('orders')"),
            Some(Input::Ref("orders".into()))
        );
        assert_eq!(
            parse_input("ref(\"pkg\", \"orders\")"),
            Some(Input::Ref("orders".into()))
        );
        assert_eq!(
            parse_input(" source('raw', 'events') "),
            Some(Input::Source("raw".into(), "events".into()))
        );
        assert_eq!(parse_input("this"), Some(Input::This));
        assert_eq!(parse_input("orders"), None);
        assert_eq!(parse_input("ref()"), None);
    }
}
