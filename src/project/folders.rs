//! Folder-scoped config from a project file's `models:`/`seeds:`/...
//! trees: `+key` settings merged from the outermost level inwards along a
//! node's folders, nested under the project's name (dbt) or not (sb's
//! project.yml), and the root project's block for a package's nodes.

use serde_json::{Map, Value};

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::{config, yaml};

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

/// The root project's config for a package's node: its top-level `+keys`,
/// then the block nested under the package's name, along `folders`.
pub(super) fn package_overrides(
    tree: &Value,
    package: &str,
    folders: &[String],
    node_name: &str,
    file: &yaml::YamlFile,
) -> Result<Map<String, Value>, Diagnostic> {
    let mut merged = Map::new();
    apply_level(tree, &mut merged, file)?;
    let Some(mut level) = tree.get(package).filter(|v| v.is_object()) else {
        return Ok(merged);
    };
    apply_level(level, &mut merged, file)?;
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
