//! Test nodes: every test entry of schema YAML (on a node or a column) and
//! every singular test file becomes a [`Node`] of resource type `test`, with
//! its config from `tests:` in project.yml and the entry's own config.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::GenericTest;
use super::call::{jinja_literal, test_call};
use super::locate::{NameLines, locate_word_in};
use super::naming::{generic_test_name, test_id_hash};
use crate::diag::{Diagnostic, Location};
use crate::project::yaml::YamlFile;
use crate::project::{Node, NodeConfig, Project, SourceFile, config, slash};
use crate::resource::{NodeId, ResourceType};

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
        .map(|(index, node)| (NodeId::new(index), node))
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

/// How a generic test's `model` names the node it tests, as dbt writes it
/// into the test's kwargs (and so its id hash): `source('s', 't')`,
/// `ref('m')`, or `ref('m', version='2')` (the version as a string).
pub fn relation_call(target: &Node) -> String {
    let literal = |text: &str| jinja_literal(&Value::from(text));
    match (&target.source, &target.version) {
        (Some(source), _) => format!(
            "source({}, {})",
            literal(&source.source_name),
            literal(&target.name)
        ),
        (None, Some(version)) => format!(
            "ref({}, version={})",
            literal(&target.name),
            literal(&version.text())
        ),
        (None, None) => format!("ref({})", literal(&target.name)),
    }
}

fn generic_test_node(
    project: &Project,
    attached: NodeId,
    file: &YamlFile,
    entry: &Value,
    column: Option<&str>,
    line: usize,
    column_location: Option<Location>,
) -> Result<Node, Diagnostic> {
    let parsed = read_entry(entry, column, file, line)?;
    let target = &project.nodes[attached];
    let location = locate_word_in(file, &parsed.test_name, line);
    let model_expr = relation_call(target);
    let (prefix, target_label) = match &target.source {
        Some(source) => ("source_", format!("{}_{}", source.source_name, target.name)),
        None => ("", target.versioned_name()),
    };
    let (name, file_name) = match parsed.custom_name.clone() {
        Some(custom) => (custom.clone(), custom),
        None => generic_test_name(
            // dbt names `pkg.test` tests `pkg_test_...`.
            &format!("{prefix}{}", parsed.test_name.replace('.', "_")),
            &target_label,
            parsed.column.as_deref(),
            &parsed.args,
        ),
    };
    let yaml_path = slash(&file.path);
    let call = test_call(
        &parsed.test_name,
        &model_expr,
        parsed.column.as_deref(),
        &parsed.args,
    );
    let (mut node_config, fqn) = test_config_and_fqn(project, Path::new(&yaml_path), &name)?;
    config::merge_into(&mut node_config, &parsed.config);
    let mut kwargs = parsed.args.clone();
    if let Some(column) = &parsed.column {
        kwargs.insert("column_name".into(), Value::from(column.clone()));
    }
    kwargs.insert(
        "model".into(),
        Value::from(format!("{{{{ get_where_subquery({model_expr}) }}}}")),
    );
    let hash = test_id_hash(&name, &parsed.test_name, &kwargs);
    Ok(Node {
        unique_id: format!("test.{}.{name}.{hash}", project.settings.name),
        name: name.clone(),
        resource_type: ResourceType::Test,
        package_name: project.settings.name.clone(),
        original_file_path: yaml_path,
        path: format!("{file_name}.sql"),
        fqn,
        raw_code: call,
        description: String::new(),
        columns: IndexMap::new(),
        config: NodeConfig(node_config),
        yaml_path: None,
        source: None,
        tests: Vec::new(),
        version: None,
        constraints: Vec::new(),
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
        version: None,
        constraints: Vec::new(),
        generic_test: None,
    })
}
