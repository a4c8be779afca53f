//! Model versions (`versions:` under a model in schema YAML, as in dbt 1.5+).
//! Each version is a model node of its own: defined by `<name>_v<v>.sql` or
//! the file its `defined_in` names, with the unique id
//! `model.<package>.<name>.v<v>` and the fqn ending in `v<v>`, built as
//! `<name>_v<v>` unless it has an alias. This module turns those file nodes
//! into versions, decides which version is the latest (`latest_version`, or
//! the greatest), and gives each version its own slice of the model's YAML:
//! the columns its `include`/`exclude` keep plus its own, and its config,
//! description, tests and constraints over the model's.

use std::cmp::Ordering;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::{Diagnostic, Location};
use crate::project::yaml::{YamlFile, locate_key};
use crate::project::{Column, Project};
use crate::resource::ResourceType;

/// Which version of its model a node is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    /// The identifier as YAML wrote it (`2`, `2.1`, `"beta"`).
    pub v: Value,
    /// The model's latest version, as written or decided.
    pub latest: Value,
}

impl ModelVersion {
    /// The identifier as text: what `ref(..., v=)` and selectors compare.
    pub fn text(&self) -> String {
        identifier_text(&self.v)
    }

    pub fn is_latest(&self) -> bool {
        self.text() == identifier_text(&self.latest)
    }

    /// A version newer than the latest: only a pinned `ref` reaches it.
    pub fn is_prerelease(&self) -> bool {
        compare_identifiers(&self.text(), &identifier_text(&self.latest)) == Ordering::Greater
    }

    /// What dbt appends to the model's name for the version's default
    /// relation name and test names: `v2`, `v2_1` for `2.1`.
    pub fn suffix(&self) -> String {
        format!("v{}", self.text().replace('.', "_"))
    }

    /// The suffix of the file dbt looks for, `<name>_v<v>`: the identifier as written.
    fn suffix_for_file(&self) -> String {
        format!("v{}", self.text())
    }
}

/// A version identifier as text: a YAML number as written (`1`, `1.5`).
pub fn identifier_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// dbt's order of version identifiers: numerically when both are numbers,
/// else as text.
pub fn compare_identifiers(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// Turns the file nodes that define versions of the models in `file` (a
/// schema file of the root project, `owner` `None`, or of a package) into
/// versioned nodes. A version whose file is missing, an unknown
/// `latest_version` and a repeated identifier are errors at their YAML line.
pub fn name_versions(
    project: &mut Project,
    file: &YamlFile,
    owner: Option<usize>,
) -> Result<(), Vec<Diagnostic>> {
    let Some(Value::Array(models)) = file.value.get("models") else {
        return Ok(());
    };
    let package = owner.map_or_else(
        || project.settings.name.clone(),
        |p| project.packages[p].name.clone(),
    );
    let mut errors = Vec::new();
    for entry in models {
        let (Some(name), Some(versions)) = (
            entry.get("name").and_then(Value::as_str),
            entry.get("versions"),
        ) else {
            continue;
        };
        let entry_line = file.locate_named(name).line;
        let versions_at = file.locate_key("versions", entry_line);
        let identifiers = match identifiers(versions, file, versions_at.line) {
            Ok(found) => found,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let latest = match latest_version(entry, &identifiers, file, entry_line) {
            Ok(latest) => latest,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for (version, location) in &identifiers {
            let defined_in = version.get("defined_in").and_then(Value::as_str);
            let v = version.get("v").cloned().unwrap_or(Value::Null);
            let model_version = ModelVersion {
                v,
                latest: latest.clone(),
            };
            let file_name = defined_in.map_or_else(
                || format!("{name}_{}", model_version.suffix_for_file()),
                |defined| {
                    defined
                        .trim_end_matches(".sql")
                        .trim_end_matches(".py")
                        .to_string()
                },
            );
            let found = project.nodes.iter().position(|n| {
                n.resource_type == ResourceType::Model
                    && n.package_name == package
                    && n.version.is_none()
                    && n.name == file_name
            });
            let Some(index) = found else {
                let help = match defined_in {
                    Some(_) => format!(
                        "create {file_name}.sql in a model folder, or point `defined_in:` at the file (its name without `.sql`) that defines version {}",
                        model_version.text()
                    ),
                    None => format!(
                        "create {file_name}.sql in a model folder, or add `defined_in: <file name>` to the version if its SQL is in another file"
                    ),
                };
                errors.push(
                    Diagnostic::error(format!(
                        "version {} of model `{name}` has no SQL file: sb looked for `{file_name}.sql`",
                        model_version.text()
                    ))
                    .at(location.clone())
                    .help(help),
                );
                continue;
            };
            let node = &mut project.nodes[index];
            node.unique_id = format!("model.{package}.{name}.v{}", model_version.text());
            node.name = name.to_string();
            if let Some(last) = node.fqn.last_mut() {
                *last = name.to_string();
            }
            node.fqn.push(format!("v{}", model_version.text()));
            node.version = Some(model_version);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The entries of `versions:` with where each `v:` is written; each must be
/// a mapping with a number or a string `v`, and no two alike.
fn identifiers<'a>(
    versions: &'a Value,
    file: &YamlFile,
    versions_line: usize,
) -> Result<Vec<(&'a Value, Location)>, Diagnostic> {
    let Value::Array(items) = versions else {
        return Err(
            Diagnostic::error("`versions` must be a list of `- v: <version>` entries")
                .at(file.locate_key("versions", versions_line))
                .help("write `versions:` followed by `- v: 1`, `- v: 2`, one entry per version"),
        );
    };
    let mut out: Vec<(&Value, Location)> = Vec::new();
    let mut line = versions_line;
    for item in items {
        let at = locate_key(&file.path, &file.source, "v", line + 1);
        if at.line > line {
            line = at.line;
        }
        let valid = matches!(item.get("v"), Some(Value::Number(_) | Value::String(_)));
        if !valid {
            return Err(
                Diagnostic::error("a model version has no `v:` identifier")
                    .at(at)
                    .help("give every entry of `versions:` an identifier, e.g. `- v: 2` (a number or a string)"),
            );
        }
        let text = item.get("v").map(identifier_text).unwrap_or_default();
        if out
            .iter()
            .any(|(seen, _)| seen.get("v").map(identifier_text).as_deref() == Some(&text))
        {
            return Err(Diagnostic::error(format!("version {text} is listed twice"))
                .at(at)
                .help("give each version its own identifier"));
        }
        out.push((item, at));
    }
    Ok(out)
}

/// `latest_version` as written, which must name one of the versions; else
/// the greatest identifier.
fn latest_version(
    entry: &Value,
    identifiers: &[(&Value, Location)],
    file: &YamlFile,
    entry_line: usize,
) -> Result<Value, Diagnostic> {
    let all: Vec<&Value> = identifiers
        .iter()
        .filter_map(|(version, _)| version.get("v"))
        .collect();
    if let Some(latest) = entry.get("latest_version").filter(|v| !v.is_null()) {
        let text = identifier_text(latest);
        if all.iter().any(|v| identifier_text(v) == text) {
            return Ok(latest.clone());
        }
        let listed: Vec<String> = all.iter().map(|v| identifier_text(v)).collect();
        return Err(Diagnostic::error(format!(
            "`latest_version: {text}` is not one of the model's versions ({})",
            listed.join(", ")
        ))
        .at(file.locate_key("latest_version", entry_line))
        .help("set `latest_version` to a listed `v`, or add that version"));
    }
    Ok(all
        .into_iter()
        .max_by(|a, b| compare_identifiers(&identifier_text(a), &identifier_text(b)))
        .cloned()
        .unwrap_or(Value::Null))
}

/// The YAML entry of `version` among the model entry's `versions:`.
pub fn version_entry<'a>(model: &'a Value, version: &ModelVersion) -> Option<&'a Value> {
    let text = version.text();
    model
        .get("versions")?
        .as_array()?
        .iter()
        .find(|item| item.get("v").map(identifier_text).as_deref() == Some(&text))
}

/// One version's columns: the model's that the version's `include` and
/// `exclude` keep (all of them when it names neither), each replaced by
/// the version's own entry of the same name, then the version's other
/// columns.
pub fn version_columns(
    model_columns: &IndexMap<String, Column>,
    version: &Value,
    own: IndexMap<String, Column>,
) -> IndexMap<String, Column> {
    let rule = version
        .get("columns")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|item| item.get("include").is_some()));
    let names = |value: Option<&Value>| -> Option<Vec<String>> {
        match value? {
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            Value::String(text) if text == "all" || text == "*" => None,
            Value::String(text) => Some(vec![text.clone()]),
            _ => None,
        }
    };
    let included = rule.and_then(|r| names(r.get("include")));
    let excluded = rule
        .and_then(|r| names(r.get("exclude")))
        .unwrap_or_default();
    let mut own = own;
    let mut out = IndexMap::new();
    for (name, column) in model_columns {
        let kept =
            included.as_ref().is_none_or(|list| list.contains(name)) && !excluded.contains(name);
        if let Some(replacement) = own.shift_remove(name) {
            out.insert(name.clone(), replacement);
        } else if kept {
            out.insert(name.clone(), column.clone());
        }
    }
    out.extend(own);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn column(name: &str) -> (String, Column) {
        (
            name.to_string(),
            Column {
                name: name.to_string(),
                ..Column::default()
            },
        )
    }

    #[test]
    fn identifiers_order_as_numbers_when_both_are_numbers() {
        assert_eq!(compare_identifiers("10", "9"), Ordering::Greater);
        assert_eq!(compare_identifiers("1.5", "1"), Ordering::Greater);
        assert_eq!(compare_identifiers("beta", "alpha"), Ordering::Greater);
        let version = ModelVersion {
            v: json!(3),
            latest: json!(2),
        };
        assert!(version.is_prerelease() && !version.is_latest());
        assert_eq!(
            ModelVersion {
                v: json!(2.1),
                latest: json!(2.1)
            }
            .suffix(),
            "v2_1"
        );
    }

    #[test]
    fn a_version_keeps_the_included_columns_then_adds_its_own() {
        let model: IndexMap<String, Column> = ["id", "name", "country"].map(column).into();
        let own: IndexMap<String, Column> = [column("year")].into();
        let version = json!({"v": 2, "columns": [{"include": "all", "exclude": ["country"]}, {"name": "year"}]});
        let names: Vec<String> = version_columns(&model, &version, own).into_keys().collect();
        assert_eq!(names, ["id", "name", "year"]);
        let version = json!({"v": 1, "columns": [{"include": ["name"]}]});
        let names: Vec<String> = version_columns(&model, &version, IndexMap::new())
            .into_keys()
            .collect();
        assert_eq!(names, ["name"]);
        let names: Vec<String> = version_columns(&model, &json!({"v": 3}), IndexMap::new())
            .into_keys()
            .collect();
        assert_eq!(names, ["id", "name", "country"]);
    }
}
