//! Schema YAML (`version: 2`): descriptions, columns, config and tests for
//! models and seeds, and the `sources:` that become source nodes (with
//! their `freshness` and `loaded_at_field`, checked here).

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, did_you_mean};
use crate::project::settings::ProjectFormat;
use crate::project::yaml::YamlFile;
use crate::project::{
    Column, Node, NodeConfig, Project, SourceInfo, config, unknown_config_key, versions,
};
use crate::resource::ResourceType;

const TOP_LEVEL_KEYS: &[&str] = &[
    "version",
    "models",
    "sources",
    "seeds",
    "macros",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
    "groups",
    "snapshots",
    "analyses",
    "dashboards",
];

/// Models and seeds by kind and name (each version of a versioned model).
pub type NameIndex = HashMap<(ResourceType, String), Vec<usize>>;

/// Applies one schema file to the project's nodes, adding source nodes.
/// `by_name` finds models and seeds by kind and name.
pub fn apply(
    project: &mut Project,
    file: &YamlFile,
    by_name: &NameIndex,
) -> Result<(), Vec<Diagnostic>> {
    let top = match &file.value {
        Value::Object(map) => map,
        Value::Null => return Ok(()),
        _ => {
            return Err(vec![
                Diagnostic::error("a schema YAML file must be a mapping")
                    .at(crate::diag::Location::from_line_col(
                        &file.path,
                        &file.source,
                        1,
                        1,
                        1,
                    ))
                    .help("start the file with `version: 2` and a `models:` list"),
            ]);
        }
    };
    let mut errors = Vec::new();
    for key in top.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            let close = closest_names(key, TOP_LEVEL_KEYS.iter().copied(), 2);
            errors.push(
                Diagnostic::error(format!("unknown key `{key}` in schema YAML"))
                    .at(file.locate_key(key, 1))
                    .help(
                        did_you_mean(&close)
                            .unwrap_or_else(|| "use `models:`, `sources:` or `seeds:`".into()),
                    ),
            );
        }
    }
    for key in ["models", "seeds", "snapshots", "sources"] {
        if let Err(error) = checked_list(top.get(key), key, file) {
            errors.push(error);
        }
    }
    for entry in list(top.get("sources")) {
        if let Err(error) = checked_list(entry.get("tables"), "tables", file) {
            errors.push(error);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (key, kind) in [
        ("models", ResourceType::Model),
        ("seeds", ResourceType::Seed),
        ("analyses", ResourceType::Analysis),
        ("snapshots", ResourceType::Snapshot),
    ] {
        for entry in list(top.get(key)) {
            if let Err(error) = patch_node(project, file, entry, kind, by_name) {
                errors.push(error);
            }
        }
    }
    for entry in list(top.get("sources")) {
        match source_nodes(project, file, entry) {
            Ok(mut nodes) => project.nodes.append(&mut nodes),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A key that must hold a list (or nothing).
fn checked_list(value: Option<&Value>, key: &str, file: &YamlFile) -> Result<(), Diagnostic> {
    match value {
        None | Some(Value::Null | Value::Array(_)) => Ok(()),
        Some(other) => Err(Diagnostic::error(format!(
            "`{key}` in schema YAML must be a list, got `{}`",
            other.to_string().chars().take(40).collect::<String>()
        ))
        .at(file.locate_key(key, 1))
        .help(format!(
            "write `{key}:` followed by `- name: ...` entries, one per line"
        ))),
    }
}

fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    }
}

fn name_of<'a>(entry: &'a Value, file: &YamlFile, what: &str) -> Result<&'a str, Diagnostic> {
    entry.get("name").and_then(Value::as_str).ok_or_else(|| {
        let line = entry
            .as_object()
            .and_then(|m| m.keys().next())
            .map_or(1, |k| file.locate_key(k, 1).line);
        Diagnostic::error(format!("a {what} entry has no `name`"))
            .at(crate::diag::Location::from_line_col(
                &file.path,
                &file.source,
                line,
                1,
                1,
            ))
            .help(format!("give every {what} a `name:` matching its file"))
    })
}

/// Validates and normalizes a YAML `config:` mapping.
fn yaml_config(
    entry: &Value,
    file: &YamlFile,
    from_line: impl Fn() -> usize,
) -> Result<Map<String, Value>, Diagnostic> {
    let mut out = Map::new();
    if let Some(Value::Object(map)) = entry.get("config") {
        for (key, value) in map {
            let normalized = config::normalize_key(key);
            if !config::is_known_key(&normalized) {
                return Err(unknown_config_key(key, file.locate_key(key, from_line())));
            }
            out.insert(normalized, value.clone());
        }
    }
    Ok(out)
}

fn columns(entry: &Value) -> IndexMap<String, Column> {
    let mut out = IndexMap::new();
    for column in list(entry.get("columns")) {
        let Some(name) = column.get("name").and_then(Value::as_str) else {
            continue;
        };
        let mut tests: Vec<Value> = list(column.get("tests")).into_iter().cloned().collect();
        tests.extend(list(column.get("data_tests")).into_iter().cloned());
        out.insert(
            name.to_string(),
            Column {
                name: name.to_string(),
                description: text(column, "description"),
                data_type: column
                    .get("data_type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                meta: column
                    .get("meta")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                tests,
                constraints: list(column.get("constraints"))
                    .into_iter()
                    .cloned()
                    .collect(),
            },
        );
    }
    out
}

fn node_tests(entry: &Value) -> Vec<Value> {
    let mut tests: Vec<Value> = list(entry.get("tests")).into_iter().cloned().collect();
    tests.extend(list(entry.get("data_tests")).into_iter().cloned());
    tests
}

fn text(entry: &Value, key: &str) -> String {
    entry
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn patch_node(
    project: &mut Project,
    file: &YamlFile,
    entry: &Value,
    kind: ResourceType,
    by_name: &NameIndex,
) -> Result<(), Diagnostic> {
    let name = name_of(entry, file, kind.as_str())?;
    let Some(indexes) = by_name.get(&(kind, name.to_string())) else {
        let location = file.locate_named(name);
        let close = closest_names(
            name,
            project
                .nodes
                .iter()
                .filter(|n| n.resource_type == kind)
                .map(|n| n.name.as_str()),
            3,
        );
        let folder = match kind {
            ResourceType::Seed => "seeds/",
            ResourceType::Analysis => "analyses/",
            ResourceType::Snapshot => "snapshots/",
            _ => "models/",
        };
        let help = did_you_mean(&close).unwrap_or_else(|| {
            format!(
                "create {folder}{name}.{} or fix the name",
                if kind == ResourceType::Seed {
                    "csv"
                } else {
                    "sql"
                }
            )
        });
        let message = format!("schema YAML describes {kind} `{name}`, but there is no such {kind}");
        // dbt only warns about a patch that finds no node (dbt projects often
        // keep entries for models they removed); sb's own projects are held
        // to the stricter rule.
        if project.settings.format == ProjectFormat::Dbt {
            let warning = Diagnostic::warning(message).at(location).help(help);
            project.settings.warnings.push(warning);
            return Ok(());
        }
        return Err(Diagnostic::error(message).at(location).help(help));
    };
    let config = yaml_config(entry, file, || file.locate_named(name).line)?;
    let model_columns = columns(entry);
    for &index in indexes {
        let node = &mut project.nodes[index];
        config::merge_into(&mut node.config.0, &config);
        if kind == ResourceType::Seed {
            node.config
                .0
                .insert("materialized".into(), Value::from("seed"));
        }
        node.description = text(entry, "description");
        node.tests = node_tests(entry);
        node.constraints = list(entry.get("constraints"))
            .into_iter()
            .cloned()
            .collect();
        node.yaml_path = Some(crate::project::slash(&file.path));
        let version = node
            .version
            .as_ref()
            .and_then(|v| versions::version_entry(entry, v));
        let Some(version) = version else {
            node.columns.clone_from(&model_columns);
            continue;
        };
        // A version's own YAML goes over the model's.
        let own = yaml_config(version, file, || file.locate_named(name).line)?;
        config::merge_into(&mut node.config.0, &own);
        node.columns = versions::version_columns(&model_columns, version, columns(version));
        if let Some(description) = version.get("description").and_then(Value::as_str) {
            node.description = description.to_string();
        }
        if version.get("tests").is_some() || version.get("data_tests").is_some() {
            node.tests = node_tests(version);
        }
        if let Some(constraints) = version.get("constraints") {
            node.constraints = list(Some(constraints)).into_iter().cloned().collect();
        }
    }
    Ok(())
}

fn source_nodes(
    project: &Project,
    file: &YamlFile,
    entry: &Value,
) -> Result<Vec<Node>, Diagnostic> {
    let source_name = name_of(entry, file, "source")?;
    // `sources:` in project.yml configures sources by name, like folders.
    let mut source_config = crate::project::folder_config(
        &project.settings.sources,
        &project.settings.name,
        &[],
        source_name,
        &project.settings.file,
    )?;
    config::merge_into(
        &mut source_config,
        &yaml_config(entry, file, || file.locate_named(source_name).line)?,
    );
    let schema = entry
        .get("schema")
        .or_else(|| entry.get("dataset"))
        .and_then(Value::as_str)
        .map_or_else(|| source_name.to_string(), str::to_string);
    let database = entry
        .get("database")
        .or_else(|| entry.get("project"))
        .and_then(Value::as_str);
    let source_line = || file.locate_named(source_name).line;
    freshness_keys(entry, &mut source_config, file, source_line)?;
    let mut nodes = Vec::new();
    for table in list(entry.get("tables")) {
        let table_name = name_of(table, file, "source table")?;
        let mut table_config = source_config.clone();
        config::merge_into(
            &mut table_config,
            &yaml_config(table, file, || {
                crate::project::yaml::locate_named(&file.path, &file.source, table_name).line
            })?,
        );
        freshness_keys(table, &mut table_config, file, || {
            crate::project::yaml::locate_named(&file.path, &file.source, table_name).line
        })?;
        table_config.insert("schema".into(), Value::from(schema.clone()));
        if let Some(database) = database {
            table_config.insert("database".into(), Value::from(database));
        }
        let identifier = table
            .get("identifier")
            .and_then(Value::as_str)
            .unwrap_or(table_name)
            .to_string();
        external_location(
            &mut table_config,
            [entry.get("meta"), table.get("meta")],
            &[
                ("name", table_name),
                ("identifier", &identifier),
                ("schema", &schema),
                ("database", database.unwrap_or_default()),
            ],
        )
        .map_err(|problem| {
            Diagnostic::error(format!(
                "cannot read the `external_location` of source `{source_name}.{table_name}`: {problem}"
            ))
            .at(file.locate_key("external_location", 1))
            .help("write a path or a DuckDB table function, with `{name}`, `{identifier}`, `{schema}` or a `meta` key in braces, e.g. `external_location: \"read_csv('data/{name}.csv')\"`")
        })?;
        nodes.push(Node {
            unique_id: format!(
                "source.{}.{source_name}.{table_name}",
                project.settings.name
            ),
            name: table_name.to_string(),
            resource_type: ResourceType::Source,
            package_name: project.settings.name.clone(),
            original_file_path: file.path.to_string_lossy().replace('\\', "/"),
            path: file.path.to_string_lossy().replace('\\', "/"),
            fqn: vec![
                project.settings.name.clone(),
                source_name.to_string(),
                table_name.to_string(),
            ],
            raw_code: String::new(),
            description: text(table, "description"),
            columns: columns(table),
            config: NodeConfig(table_config),
            yaml_path: Some(crate::project::slash(&file.path)),
            source: Some(SourceInfo {
                source_name: source_name.to_string(),
                identifier,
                loader: text(entry, "loader"),
                source_description: text(entry, "description"),
            }),
            tests: node_tests(table),
            version: None,
            constraints: Vec::new(),
            generic_test: None,
        });
    }
    Ok(nodes)
}

/// dbt writes `freshness` and `loaded_at_field` beside a source's or a
/// table's `name` as well as under `config:`; either way they land in the
/// node's config. A table's `freshness` replaces the source's key by key
/// (`warn_after`, `error_after`, `filter`); `freshness: null` turns the check
/// off for that table.
fn freshness_keys(
    entry: &Value,
    config: &mut Map<String, Value>,
    file: &YamlFile,
    from_line: impl Fn() -> usize,
) -> Result<(), Diagnostic> {
    if let Some(field) = entry.get("loaded_at_field") {
        config.insert("loaded_at_field".into(), field.clone());
    }
    if config
        .get("loaded_at_field")
        .is_some_and(|field| !field.is_string() && !field.is_null())
    {
        return Err(Diagnostic::error(
            "`loaded_at_field` must be a column name or a SQL expression",
        )
        .at(file.locate_key("loaded_at_field", from_line()))
        .help("write `loaded_at_field: _loaded_at`, or quote an expression"));
    }
    let Some(freshness) = entry.get("freshness") else {
        return Ok(());
    };
    let merged = match (config.get("freshness"), freshness) {
        (_, Value::Null) => Value::Null,
        (Some(Value::Object(base)), Value::Object(update)) => {
            let mut merged = base.clone();
            for (key, value) in update {
                merged.insert(key.clone(), value.clone());
            }
            Value::Object(merged)
        }
        (_, other) => other.clone(),
    };
    check_freshness(&merged).map_err(|problem| {
        Diagnostic::error(format!("invalid `freshness`: {problem}"))
            .at(file.locate_key("freshness", from_line()))
            .help("write `freshness: {warn_after: {count: 12, period: hour}, error_after: {count: 1, period: day}}` (periods: minute, hour, day), or `freshness: null`")
    })?;
    config.insert("freshness".into(), merged);
    Ok(())
}

/// What is wrong with a `freshness` value, if anything.
fn check_freshness(value: &Value) -> Result<(), String> {
    let map = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => return Err(format!("expected a mapping, got `{other}`")),
    };
    for (key, value) in map {
        match key.as_str() {
            "warn_after" | "error_after" => {
                if value.is_null() {
                    continue;
                }
                let count = value.get("count");
                let period = value.get("period").and_then(Value::as_str);
                let count_ok = match count {
                    None | Some(Value::Null) => period.is_none(),
                    Some(count) => count.as_u64().is_some_and(|n| n > 0),
                };
                if !count_ok {
                    return Err(format!("`{key}.count` must be a whole number above 0"));
                }
                if count.is_some_and(|c| !c.is_null())
                    && !matches!(period, Some("minute" | "hour" | "day"))
                {
                    return Err(format!("`{key}.period` must be `minute`, `hour` or `day`"));
                }
            }
            "filter" => {
                if !(value.is_string() || value.is_null()) {
                    return Err("`filter` must be a SQL condition".into());
                }
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` (use warn_after, error_after, filter)"
                ));
            }
        }
    }
    Ok(())
}

/// dbt-duckdb's `external_location`: a source table read from files. The
/// template comes from the table's config (the source's config below it),
/// else the table's `meta`, else the source's; `{key}` is filled from the
/// table's `name`, `identifier`, `schema`, `database`, then `meta` and config
/// keys (`{{`/`}}` are literal braces). The result replaces the template in
/// the config: a path is quoted (`'data/orders.csv'`), a function call or an
/// already quoted text is kept, as dbt-duckdb renders it in place of the
/// relation's name.
fn external_location(
    config: &mut Map<String, Value>,
    metas: [Option<&Value>; 2],
    names: &[(&str, &str)],
) -> Result<(), String> {
    let mut fields: Map<String, Value> = names
        .iter()
        .map(|(key, value)| ((*key).to_owned(), Value::from(*value)))
        .collect();
    for meta in metas.into_iter().flatten().filter_map(Value::as_object) {
        for (key, value) in meta {
            fields.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in config.iter() {
        fields.insert(key.clone(), value.clone());
    }
    let Some(template) = fields.get("external_location").cloned() else {
        return Ok(());
    };
    let Some(template) = template.as_str() else {
        return Err("it must be a string".into());
    };
    match fields.get("formatter").and_then(Value::as_str) {
        None | Some("newstyle") => {}
        Some(other) => {
            return Err(format!(
                "sb fills `{{name}}`-style templates only (formatter `newstyle`), not `{other}`"
            ));
        }
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let (brace, after) = (&rest[at..=at], &rest[at + 1..]);
        if after.starts_with(brace) {
            out.push_str(brace);
            rest = &after[1..];
        } else if brace == "{" {
            let end = after.find('}').ok_or("a `{` is never closed")?;
            let key = &after[..end];
            let value = fields
                .get(key)
                .ok_or_else(|| format!("`{{{key}}}` names no field of the source"))?;
            match value {
                Value::String(text) => out.push_str(text),
                Value::Null => out.push_str("None"),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 1..];
        } else {
            return Err("a `}` closes nothing (write `}}` for a brace)".into());
        }
    }
    out.push_str(rest);
    if !out.contains('(') && !out.starts_with('\'') {
        out = format!("'{out}'");
    }
    config.insert("external_location".into(), Value::from(out));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[allow(clippy::needless_pass_by_value)]
    fn location(config: Value, source_meta: Value, table_meta: Value) -> Result<Value, String> {
        let mut config = config.as_object().unwrap().clone();
        external_location(
            &mut config,
            [Some(&source_meta), Some(&table_meta)],
            &[
                ("name", "orders"),
                ("identifier", "orders_v2"),
                ("schema", "raw"),
                ("database", ""),
            ],
        )?;
        Ok(config
            .get("external_location")
            .cloned()
            .unwrap_or(Value::Null))
    }

    #[test]
    fn external_locations_are_filled_and_quoted_as_dbt_duckdb_does() {
        assert_eq!(
            location(
                json!({}),
                json!({"external_location": "s3://bucket/{name}.parquet"}),
                json!({})
            ),
            Ok(json!("'s3://bucket/orders.parquet'"))
        );
        assert_eq!(
            location(
                json!({"external_location": "read_csv('{root}/{identifier}.csv', header = true)"}),
                json!({"external_location": "ignored"}),
                json!({"root": "data"})
            ),
            Ok(json!("read_csv('data/orders_v2.csv', header = true)"))
        );
        assert_eq!(
            location(
                json!({}),
                json!({}),
                json!({"external_location": "'x/{{literal}}.csv'"})
            ),
            Ok(json!("'x/{literal}.csv'"))
        );
        assert_eq!(location(json!({}), json!({}), json!({})), Ok(Value::Null));
        assert!(
            location(
                json!({}),
                json!({"external_location": "{nope}.csv"}),
                json!({})
            )
            .unwrap_err()
            .contains("`{nope}`")
        );
        assert!(
            location(
                json!({"formatter": "oldstyle"}),
                json!({"external_location": "%(name)s.csv"}),
                json!({})
            )
            .is_err()
        );
    }
}
