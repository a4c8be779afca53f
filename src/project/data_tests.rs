//! Data tests as nodes. Generic tests declared in schema YAML (on models,
//! seeds and source tables; on a column or on the whole node; under `tests:`
//! or `data_tests:`) and singular tests (`tests/**/*.sql`) become [`Node`]s of
//! resource type `test`. A generic test's code is a call of its `{% test %}`
//! macro, so built-in and custom tests compile the same way. This module also
//! holds the checks that need the macros' signatures (unknown test, missing or
//! unknown argument) and the `warn_if`/`error_if` conditions.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::LazyLock;

use indexmap::IndexMap;
use rayon::prelude::*;
use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::graph::closest_names;
use crate::project::yaml::{YamlFile, name_entry};
use crate::project::{Node, NodeConfig, Project, SourceFile, config, slash};
use crate::resource::ResourceType;

/// Keys of a test entry that are config, not arguments (dbt's older spelling
/// put them next to the arguments).
const CONFIG_KEYS: &[&str] = &[
    "severity",
    "where",
    "warn_if",
    "error_if",
    "limit",
    "store_failures",
    "store_failures_as",
    "fail_calc",
    "enabled",
    "tags",
    "meta",
];

/// A generic test as declared in schema YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericTest {
    /// The test's name as written (`not_null`); its macro is `test_<name>`.
    pub test_name: String,
    /// The node it tests.
    pub attached: usize,
    pub column: Option<String>,
    /// Arguments other than `model` and `column_name`, in YAML order.
    pub args: Map<String, Value>,
    /// Where the test's name is written.
    pub location: Location,
    /// Where its column is declared, for column errors.
    pub column_location: Option<Location>,
}

/// A parameter of a `{% test %}` macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub required: bool,
}

/// The `{% test name(params) %}` blocks of the given files, by test name.
pub fn test_signatures<'a>(
    files: impl IntoIterator<Item = &'a SourceFile>,
) -> BTreeMap<String, Vec<Param>> {
    static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\{%-?\s*test\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)").expect("valid regex")
    });
    let mut out = BTreeMap::new();
    for file in files {
        for capture in BLOCK.captures_iter(&file.text) {
            out.insert(capture[1].to_string(), parse_params(&capture[2]));
        }
    }
    out
}

fn parse_params(text: &str) -> Vec<Param> {
    let mut params = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(',')) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth <= 0 {
            let item = current.trim();
            if !item.is_empty() {
                let (name, required) = match item.split_once('=') {
                    Some((name, _)) => (name.trim(), false),
                    None => (item, true),
                };
                params.push(Param {
                    name: name.to_string(),
                    required,
                });
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    params
}

/// Adds a test node for every test in schema YAML and every singular test file.
pub fn add_test_nodes(project: &mut Project) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut tests = Vec::new();
    let files: HashMap<String, &YamlFile> = project
        .schema_files
        .iter()
        .map(|f| (slash(&f.path), f))
        .collect();
    let name_lines: HashMap<&str, NameLines> = files
        .par_iter()
        .map(|(path, file)| (path.as_str(), NameLines::new(file)))
        .collect();
    // Each node's tests are independent of every other node's: build them
    // on every core, then keep them in node order.
    let per_node: Vec<Vec<Result<Node, Diagnostic>>> = project
        .nodes
        .par_iter()
        .enumerate()
        .map(|(index, node)| {
            let Some((file, names)) = node
                .yaml_path
                .as_ref()
                .and_then(|p| Some((*files.get(p)?, name_lines.get(p.as_str())?)))
            else {
                return Vec::new();
            };
            let node_line = node_line(node, file, names);
            let mut entries: Vec<(Option<&str>, &Value, usize, Option<Location>)> = node
                .tests
                .iter()
                .map(|t| (None, t, node_line, None))
                .collect();
            for column in node.columns.values() {
                let at = names.locate(file, &column.name, node_line);
                for test in &column.tests {
                    entries.push((Some(column.name.as_str()), test, at.line, Some(at.clone())));
                }
            }
            entries
                .into_iter()
                .map(|(column, entry, line, column_location)| {
                    generic_test_node(project, index, file, entry, column, line, column_location)
                })
                .collect()
        })
        .collect();
    for test in per_node.into_iter().flatten() {
        match test {
            Ok(test) => tests.push(test),
            Err(error) => errors.push(error),
        }
    }
    for file in &project.singular_tests {
        match singular_test_node(project, file) {
            Ok(test) => tests.push(test),
            Err(error) => errors.push(error),
        }
    }
    let mut seen: HashMap<String, &Node> = HashMap::new();
    for test in &tests {
        if let Some(first) = seen.get(&test.name) {
            let location = test.generic_test.as_ref().map_or_else(
                || Location::file_only(test.file_path()),
                |g| g.location.clone(),
            );
            errors.push(
                Diagnostic::error(format!("two tests are named `{}`", test.name))
                    .at(location)
                    .note(format!("first declared in {}", first.original_file_path))
                    .help("give one of them its own name with `name:` in the test's entry"),
            );
        } else {
            seen.insert(test.name.clone(), test);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    project.nodes.append(&mut tests);
    Ok(())
}

/// The line where a node's YAML entry starts.
fn node_line(node: &Node, file: &YamlFile, names: &NameLines) -> usize {
    match &node.source {
        Some(source) => {
            let at = names.locate(file, &source.source_name, 1);
            names.locate(file, &node.name, at.line).line
        }
        None => names.locate(file, &node.name, 1).line,
    }
}

/// Every `name: X` entry of a schema file, by name: (line, byte offset of X)
/// in file order, so locating the thousands of models and columns of one
/// file reads it once.
struct NameLines(HashMap<String, Vec<(usize, usize)>>);

impl NameLines {
    fn new(file: &YamlFile) -> Self {
        let mut names: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut offset = 0;
        for (number, line) in file.source.split_inclusive('\n').enumerate() {
            if let Some(value) = name_entry(line) {
                let at = line.find(value).unwrap_or(0);
                names
                    .entry(value.to_owned())
                    .or_default()
                    .push((number + 1, offset + at));
            }
            offset += line.len();
        }
        Self(names)
    }

    /// The first `name: NAME` at or after `from_line` (as [`locate_named_from`]).
    fn locate(&self, file: &YamlFile, name: &str, from_line: usize) -> Location {
        let found = self.0.get(name).and_then(|places| {
            let first = places.partition_point(|&(line, _)| line < from_line);
            places.get(first)
        });
        match found {
            Some(&(_, offset)) => {
                file.lines
                    .locate(&file.path, &file.source, offset, name.chars().count())
            }
            None => locate_named_from(file, name, from_line),
        }
    }
}

/// Where `name: NAME` appears at or after `from_line`.
fn locate_named_from(file: &YamlFile, name: &str, from_line: usize) -> Location {
    let mut offset = file.lines.line_start(from_line.max(1), &file.source);
    for line in file.source[offset..].split_inclusive('\n') {
        if name_entry(line) == Some(name) {
            let at = line.find(name).unwrap_or(0);
            return file
                .lines
                .locate(&file.path, &file.source, offset + at, name.chars().count());
        }
        offset += line.len();
    }
    file.locate_named(name)
}

/// [`locate_word`] in a schema file, with its line index.
fn locate_word_in(file: &YamlFile, word: &str, from_line: usize) -> Location {
    let start = file.lines.line_start(from_line.max(1), &file.source);
    match word_offset(&file.source[start..], word) {
        Some(at) => file
            .lines
            .locate(&file.path, &file.source, start + at, word.chars().count()),
        None => file.lines.locate(&file.path, &file.source, start, 1),
    }
}

/// The offset of `word` in `text` where it is not part of a longer name.
fn word_offset(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while !word.is_empty()
        && let Some(found) = text.get(from..).and_then(|r| r.find(word))
    {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Where the word `word` (not part of a longer name) first appears at or
/// after `from_line`; the start of that line when it does not.
pub fn locate_word(path: &Path, source: &str, word: &str, from_line: usize) -> Location {
    let start: usize = source
        .split_inclusive('\n')
        .take(from_line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = source.get(start..).unwrap_or("");
    match word_offset(rest, word) {
        Some(at) => Location::from_offset(path, source, start + at, word.chars().count()),
        None => Location::from_offset(path, source, start, 1),
    }
}

/// One YAML test entry read into its parts.
struct Entry {
    test_name: String,
    custom_name: Option<String>,
    column: Option<String>,
    args: Map<String, Value>,
    config: Map<String, Value>,
}

fn read_entry(
    entry: &Value,
    column: Option<&str>,
    file: &YamlFile,
    line: usize,
) -> Result<Entry, Diagnostic> {
    let shape_error = |what: String| {
        Diagnostic::error(what)
            .at(Location::from_line_col(&file.path, &file.source, line, 1, 1))
            .help("write a test as its name (`- not_null`) or as a mapping of its name to its arguments (`- accepted_values: {values: [a, b]}`)")
    };
    let (test_name, body) = match entry {
        Value::String(name) => (name.clone(), Map::new()),
        Value::Object(map) if map.contains_key("test_name") => {
            let name = map
                .get("test_name")
                .and_then(Value::as_str)
                .ok_or_else(|| shape_error("`test_name` must be a test's name".into()))?;
            let mut body = map.clone();
            body.remove("test_name");
            (name.to_string(), body)
        }
        Value::Object(map) if map.len() == 1 => {
            let (name, body) = map
                .iter()
                .next()
                .ok_or_else(|| shape_error(String::new()))?;
            let body = match body {
                Value::Null => Map::new(),
                Value::Object(body) => body.clone(),
                other => {
                    return Err(shape_error(format!(
                        "the arguments of test `{name}` must be a mapping, got `{other}`"
                    )));
                }
            };
            (name.clone(), body)
        }
        other => {
            return Err(shape_error(format!(
                "cannot read the test entry `{}`",
                other.to_string().chars().take(60).collect::<String>()
            )));
        }
    };
    let mut out = Entry {
        test_name,
        custom_name: None,
        column: column.map(str::to_string),
        args: Map::new(),
        config: Map::new(),
    };
    for (key, value) in body {
        match key.as_str() {
            "config" => {
                let Value::Object(map) = value else {
                    return Err(shape_error(format!(
                        "`config` of test `{}` must be a mapping",
                        out.test_name
                    )));
                };
                for (key, value) in map {
                    let normalized = config::normalize_key(&key);
                    if !config::is_known_key(&normalized) {
                        return Err(crate::project::unknown_config_key(
                            &key,
                            file.locate_key(&key, line),
                        ));
                    }
                    out.config.insert(normalized, value);
                }
            }
            "arguments" => match value {
                Value::Object(map) => out.args.extend(map),
                Value::Null => {}
                other => {
                    return Err(shape_error(format!(
                        "`arguments` of test `{}` must be a mapping, got `{other}`",
                        out.test_name
                    )));
                }
            },
            "name" => out.custom_name = value.as_str().map(str::to_string),
            "column_name" => out.column = value.as_str().map(str::to_string),
            "description" => {}
            key if CONFIG_KEYS.contains(&key) => {
                out.config.insert(key.to_string(), value);
            }
            _ => {
                out.args.insert(key, value);
            }
        }
    }
    if let Some(column) = out.args.remove("column_name") {
        out.column = column.as_str().map(str::to_string);
    }
    Ok(out)
}

fn generic_test_node(
    project: &Project,
    attached: usize,
    file: &YamlFile,
    entry: &Value,
    column: Option<&str>,
    line: usize,
    column_location: Option<Location>,
) -> Result<Node, Diagnostic> {
    let parsed = read_entry(entry, column, file, line)?;
    let target = &project.nodes[attached];
    let location = locate_word_in(file, &parsed.test_name, line);
    let (prefix, target_label, model_expr) = match &target.source {
        Some(source) => (
            "source_",
            format!("{}_{}", source.source_name, target.name),
            format!(
                "source({}, {})",
                jinja_literal(&Value::from(source.source_name.clone())),
                jinja_literal(&Value::from(target.name.clone()))
            ),
        ),
        None => (
            "",
            target.name.clone(),
            format!("ref({})", jinja_literal(&Value::from(target.name.clone()))),
        ),
    };
    let name = parsed.custom_name.clone().unwrap_or_else(|| {
        generic_test_name(
            &format!("{prefix}{}", parsed.test_name),
            &target_label,
            parsed.column.as_deref(),
            &parsed.args,
        )
    });
    let yaml_path = slash(&file.path);
    let mut call = format!(
        "{{{{ test_{}(model=get_where_subquery({model_expr})",
        parsed.test_name
    );
    if let Some(column) = &parsed.column {
        call.push_str(", column_name=");
        call.push_str(&jinja_literal(&Value::from(column.clone())));
    }
    for (key, value) in &parsed.args {
        call.push_str(", ");
        call.push_str(key);
        call.push('=');
        call.push_str(&argument_code(key, value));
    }
    call.push_str(") }}");
    let (mut node_config, fqn) = test_config_and_fqn(project, Path::new(&yaml_path), &name)?;
    config::merge_into(&mut node_config, &parsed.config);
    let digest = Sha256::digest(format!("{name}\n{}\n{yaml_path}", target.unique_id));
    let hash = crate::artifacts::hex(&digest);
    Ok(Node {
        unique_id: format!("test.{}.{name}.{}", project.settings.name, &hash[..10]),
        name: name.clone(),
        resource_type: ResourceType::Test,
        package_name: project.settings.name.clone(),
        original_file_path: yaml_path,
        path: format!("{name}.sql"),
        fqn,
        raw_code: call,
        description: String::new(),
        columns: IndexMap::new(),
        config: NodeConfig(node_config),
        yaml_path: None,
        source: None,
        tests: Vec::new(),
        generic_test: Some(Box::new(GenericTest {
            test_name: parsed.test_name,
            attached,
            column: parsed.column,
            args: parsed.args,
            location,
            column_location,
        })),
    })
}

/// A test's config from `tests:` in project.yml (by the folders below the
/// top folder of the file declaring it) and its fqn.
fn test_config_and_fqn(
    project: &Project,
    declared_in: &Path,
    name: &str,
) -> Result<(Map<String, Value>, Vec<String>), Diagnostic> {
    let folders: Vec<String> = declared_in
        .parent()
        .map(|p| {
            p.components()
                .skip(1)
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut node_config = crate::project::folder_config(
        &project.settings.tests,
        &project.settings.name,
        &folders,
        name,
        &project.settings.file,
    )?;
    node_config.insert("materialized".into(), Value::from("test"));
    let mut fqn = vec![project.settings.name.clone()];
    fqn.extend(folders);
    fqn.push(name.to_owned());
    Ok((node_config, fqn))
}

fn singular_test_node(project: &Project, file: &SourceFile) -> Result<Node, Diagnostic> {
    let name = file
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = slash(&file.path);
    let (node_config, fqn) = test_config_and_fqn(project, &file.path, &name)?;
    let below = path.split_once('/').map_or(path.as_str(), |(_, rest)| rest);
    Ok(Node {
        unique_id: format!("test.{}.{name}", project.settings.name),
        name,
        resource_type: ResourceType::Test,
        package_name: project.settings.name.clone(),
        original_file_path: path.clone(),
        path: below.to_string(),
        fqn,
        raw_code: file.text.clone(),
        description: String::new(),
        columns: IndexMap::new(),
        config: NodeConfig(node_config),
        yaml_path: None,
        source: None,
        tests: Vec::new(),
        generic_test: None,
    })
}

/// dbt's name for a generic test: the test, the tested node, then every
/// argument's values (arguments sorted by name) joined by `__`, with
/// anything but letters, digits and `_` replaced; a hash keeps long names
/// under 64 characters.
pub fn generic_test_name(
    test: &str,
    target: &str,
    column: Option<&str>,
    args: &Map<String, Value>,
) -> String {
    static UNSAFE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("[^0-9a-zA-Z_]+").expect("valid regex"));
    let mut sorted: BTreeMap<&str, Value> =
        args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    if let Some(column) = column {
        sorted.insert("column_name", Value::from(column));
    }
    let mut flat = Vec::new();
    for value in sorted.values() {
        match value {
            Value::Object(map) => flat.extend(map.values().map(python_str)),
            Value::Array(items) => flat.extend(items.iter().map(python_str)),
            other => flat.push(python_str(other)),
        }
    }
    let clean: Vec<String> = flat
        .iter()
        .map(|part| UNSAFE.replace_all(part, "_").into_owned())
        .collect();
    let identifier = format!("{test}_{target}");
    let full = if clean.is_empty() {
        identifier.clone()
    } else {
        format!("{identifier}_{}", clean.join("__"))
    };
    if full.len() < 64 {
        return full;
    }
    let hash = crate::artifacts::hex(&Sha256::digest(full.as_bytes()));
    let short: String = identifier.chars().take(30).collect();
    format!("{short}_{}", &hash[..32])
}

fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

static CALL_ARGUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(ref|source)\s*\(\s*(['"][^'"]*['"]\s*,?\s*)+\)\s*$"#).expect("valid regex")
});

/// The Jinja code of an argument: `ref(...)`/`source(...)` strings are
/// calls (dbt's `to: ref('customers')`), everything else a literal.
fn argument_code(key: &str, value: &Value) -> String {
    match argument_call(key, value) {
        Some(_) => value.as_str().unwrap_or_default().trim().to_string(),
        None => jinja_literal(value),
    }
}

/// A `ref(...)`/`source(...)` argument as the function's name and its
/// string arguments, or `None` for a literal argument.
pub fn argument_call(key: &str, value: &Value) -> Option<(&'static str, Vec<String>)> {
    static QUOTED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"['"]([^'"]*)['"]"#).expect("valid regex"));
    let text = value.as_str().filter(|_| key == "to")?;
    let function = CALL_ARGUMENT.captures(text)?.get(1)?.as_str();
    let function = if function == "ref" { "ref" } else { "source" };
    let names = QUOTED
        .captures_iter(text)
        .map(|capture| capture[1].to_string())
        .collect();
    Some((function, names))
}

/// A JSON value written as a Jinja literal.
pub fn jinja_literal(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(jinja_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    jinja_literal(&Value::from(k.clone())),
                    jinja_literal(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `warn_if`/`error_if`: a comparison of the failure count with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    op: &'static str,
    value: u64,
}

impl Condition {
    pub const DEFAULT: Condition = Condition { op: "!=", value: 0 };

    /// Reads `">10"`, `"!= 0"`, `">= 5"`, `"=0"`, `"<3"`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        for op in ["!=", "<>", ">=", "<=", "==", ">", "<", "="] {
            if let Some(rest) = text.strip_prefix(op) {
                let value = rest.trim().parse::<u64>().ok()?;
                let op = match op {
                    "<>" => "!=",
                    "==" => "=",
                    other => other,
                };
                return Some(Self { op, value });
            }
        }
        None
    }

    pub fn holds(self, failures: u64) -> bool {
        match self.op {
            "!=" => failures != self.value,
            ">=" => failures >= self.value,
            "<=" => failures <= self.value,
            ">" => failures > self.value,
            "<" => failures < self.value,
            _ => failures == self.value,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.value)
    }
}

/// A test's severity, thresholds and limit, read from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestThresholds {
    pub warn_only: bool,
    pub warn_if: Condition,
    pub error_if: Condition,
    pub limit: Option<u64>,
}

impl TestThresholds {
    /// Reads the config; `Err` names the key that is invalid and why.
    pub fn from_config(config: &NodeConfig) -> Result<Self, (String, String)> {
        let warn_only = match config.get("severity") {
            None => false,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("error") => false,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("warn") => true,
            Some(other) => {
                return Err((
                    "severity".into(),
                    format!(
                        "`severity` must be `error` or `warn`, got `{}`",
                        plain(other)
                    ),
                ));
            }
        };
        let condition = |key: &str| -> Result<Condition, (String, String)> {
            match config.get(key) {
                None => Ok(Condition::DEFAULT),
                Some(value) => Condition::parse(&plain(value)).ok_or_else(|| {
                    (
                        key.to_string(),
                        format!(
                            "`{key}` must compare the failure count with a number, like \">10\" or \"!= 0\", got `{}`",
                            plain(value)
                        ),
                    )
                }),
            }
        };
        let limit = match config.get("limit") {
            None => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                (
                    "limit".to_string(),
                    format!("`limit` must be a whole number, got `{}`", plain(value)),
                )
            })?),
        };
        Ok(Self {
            warn_only,
            warn_if: condition("warn_if")?,
            error_if: condition("error_if")?,
            limit,
        })
    }
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// Checks every enabled generic test against the test macros' signatures:
/// the test exists, required arguments are given, no argument is unknown;
/// and every test's config (severity, thresholds, limit) is readable.
pub fn check(project: &Project, signatures: &BTreeMap<String, Vec<Param>>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for node in &project.nodes {
        if node.resource_type != ResourceType::Test || !node.config.enabled() {
            continue;
        }
        if let Err((key, message)) = TestThresholds::from_config(&node.config) {
            let location = match &node.generic_test {
                Some(test) => {
                    let file = project
                        .schema_files
                        .iter()
                        .find(|f| slash(&f.path) == node.original_file_path);
                    file.map_or_else(
                        || test.location.clone(),
                        |f| locate_word(&f.path, &f.source, &key, test.location.line),
                    )
                }
                None => locate_word(node.file_path(), &node.raw_code, &key, 1),
            };
            errors.push(
                Diagnostic::error(format!("invalid config of test `{}`: {message}", node.name))
                    .at(location)
                    .help("severity takes error or warn; warn_if and error_if take a comparison such as \">10\"; limit a number"),
            );
        }
        let Some(test) = &node.generic_test else {
            continue;
        };
        let Some(params) = signatures.get(&test.test_name) else {
            let close = closest_names(&test.test_name, signatures.keys().map(String::as_str), 3);
            errors.push(
                Diagnostic::error(format!("unknown test `{}`", test.test_name))
                    .at(test.location.clone())
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        format!(
                            "use a built-in test (not_null, unique, accepted_values, relationships, ...) or define `{{% test {}(model, column_name) %}}` in macros/ or tests/generic/",
                            test.test_name
                        )
                    })),
            );
            continue;
        };
        let before = errors.len();
        for param in params {
            let given = match param.name.as_str() {
                "model" => true,
                "column_name" => test.column.is_some(),
                name => test.args.contains_key(name),
            };
            if param.required && !given {
                let (message, help) = if param.name == "column_name" {
                    (
                        format!("test `{}` needs a column", test.test_name),
                        "declare it under a column's `tests:`, or give `column_name:`".to_string(),
                    )
                } else {
                    (
                        format!(
                            "test `{}` is missing its required argument `{}`",
                            test.test_name, param.name
                        ),
                        format!(
                            "add `{}: ...` under the test, e.g. `- {}: {{{}: ...}}`",
                            param.name, test.test_name, param.name
                        ),
                    )
                };
                errors.push(
                    Diagnostic::error(message)
                        .at(test.location.clone())
                        .help(help),
                );
            }
        }
        for key in test.args.keys() {
            if !params.iter().any(|p| &p.name == key) {
                let close = closest_names(
                    key,
                    params
                        .iter()
                        .map(|p| p.name.as_str())
                        .filter(|n| *n != "model" && *n != "column_name"),
                    2,
                );
                let file = project
                    .schema_files
                    .iter()
                    .find(|f| slash(&f.path) == node.original_file_path);
                let location = file.map_or_else(
                    || test.location.clone(),
                    |f| locate_word(&f.path, &f.source, key, test.location.line),
                );
                errors.push(
                    Diagnostic::error(format!("test `{}` has no argument `{key}`", test.test_name))
                        .at(location)
                        .help(did_you_mean(&close).unwrap_or_else(|| {
                            format!(
                                "its arguments are: {}",
                                params
                                    .iter()
                                    .map(|p| p.name.as_str())
                                    .filter(|n| *n != "model" && *n != "column_name")
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })),
                );
            }
        }
        if errors.len() > before {
            continue;
        }
        if let Err(message) = check_builtin_args(test) {
            errors.push(
                Diagnostic::error(format!(
                    "test `{}` on `{}`: {message}",
                    test.test_name, project.nodes[test.attached].name
                ))
                .at(test.location.clone())
                .help("see SPEC \"Schema YAML and tests\" for the arguments of each built-in test"),
            );
        }
    }
    errors
}

/// Checks that the built-in tests' arguments have the right shape.
fn check_builtin_args(test: &GenericTest) -> Result<(), String> {
    let arg = |name: &str| test.args.get(name).filter(|v| !v.is_null());
    match test.test_name.as_str() {
        "accepted_values" => match arg("values") {
            Some(Value::Array(items)) if !items.is_empty() => Ok(()),
            _ => Err("`values` must be a non-empty list".into()),
        },
        "accepted_range" if arg("min_value").is_none() && arg("max_value").is_none() => {
            Err("give `min_value`, `max_value` or both".into())
        }
        "row_count" => {
            if arg("min").is_none() && arg("max").is_none() {
                return Err("give `min`, `max` or both".into());
            }
            for key in ["min", "max"] {
                if let Some(value) = arg(key)
                    && !value.is_number()
                {
                    return Err(format!("`{key}` must be a number, got `{}`", plain(value)));
                }
            }
            Ok(())
        }
        "distribution" => {
            let Some(Value::Object(expected)) = arg("expected") else {
                return Err(
                    "`expected` must map each value to its expected share, e.g. {US: 0.5, DE: 0.5}"
                        .into(),
                );
            };
            if expected.is_empty() {
                return Err("`expected` lists no values".into());
            }
            for (value, share) in expected {
                if !share.as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)) {
                    return Err(format!(
                        "the share of `{value}` must be a number between 0 and 1, got `{}`",
                        plain(share)
                    ));
                }
            }
            if let Some(tolerance) = arg("tolerance")
                && !tolerance.as_f64().is_some_and(|t| t >= 0.0)
            {
                return Err(format!(
                    "`tolerance` must be a number of at least 0, got `{}`",
                    plain(tolerance)
                ));
            }
            Ok(())
        }
        "unique_combination" => match arg("columns") {
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_string) =>
            {
                Ok(())
            }
            _ => Err("`columns` must be a non-empty list of column names".into()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_dbt() {
        let none = Map::new();
        assert_eq!(
            generic_test_name("not_null", "orders", Some("order_id"), &none),
            "not_null_orders_order_id"
        );
        let args = json!({"values": ["placed", "shipped"]});
        assert_eq!(
            generic_test_name(
                "accepted_values",
                "orders",
                Some("status"),
                args.as_object().unwrap()
            ),
            "accepted_values_orders_status__placed__shipped"
        );
        let args = json!({"to": "ref('customers')", "field": "id"});
        assert_eq!(
            generic_test_name(
                "relationships",
                "orders",
                Some("customer_id"),
                args.as_object().unwrap()
            ),
            "relationships_orders_customer_id__id__ref_customers_"
        );
        let long =
            json!({"values": ["a_very_long_value_number_one", "and_another_long_value_two"]});
        let name = generic_test_name(
            "accepted_values",
            "orders",
            Some("status"),
            long.as_object().unwrap(),
        );
        assert!(
            name.len() < 64 && name.starts_with("accepted_values_orders_"),
            "{name}"
        );
    }

    #[test]
    fn conditions_read_dbt_spellings() {
        assert!(Condition::parse(">10").unwrap().holds(11));
        assert!(!Condition::parse("> 10").unwrap().holds(10));
        assert!(Condition::parse("!= 0").unwrap().holds(1));
        assert!(Condition::parse("=0").unwrap().holds(0));
        assert!(Condition::parse(">=5").unwrap().holds(5));
        assert!(Condition::parse("ten").is_none());
    }

    #[test]
    fn signatures_mark_required_params() {
        let file = SourceFile {
            path: "macros/t.sql".into(),
            text: "{% test in_set(model, column_name, values, quote=true, pairs={'a': [1, 2]}) %}x{% endtest %}".into(),
        };
        let found = test_signatures([&file]);
        let params = &found["in_set"];
        let required: Vec<(&str, bool)> = params
            .iter()
            .map(|p| (p.name.as_str(), p.required))
            .collect();
        assert_eq!(
            required,
            [
                ("model", true),
                ("column_name", true),
                ("values", true),
                ("quote", false),
                ("pairs", false)
            ]
        );
    }

    #[test]
    fn literals_are_jinja() {
        assert_eq!(
            jinja_literal(&json!({"a": [1, "it's", null, true]})),
            "{'a': [1, 'it\\'s', none, true]}"
        );
    }
}
