//! dbt's snapshots as nodes. A `.sql` file of the snapshot paths holds
//! `{% snapshot name %}...{% endsnapshot %}` blocks (one or more); each is a
//! node named by its block, its SQL the block's body, its config the
//! `snapshots:` tree of `dbt_project.yml` (whose fqn, as in dbt, includes
//! the file name), YAML and the block's `config()`. A YAML `snapshots:`
//! entry with `relation:` (dbt 1.9) is a snapshot of that ref or source
//! with no SQL file. How a snapshot builds is read from its config by
//! [`snapshot_spec`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::NodeConfig;
use super::discover::FoundFile;
use super::docs_blocks::is_identifier;
use super::yaml::YamlFile;
use super::{Node, Project};
use crate::adapter::snapshot::{CheckColumns, HardDeletes, MetaColumns, SnapshotSpec, Strategy};
use crate::diag::{Diagnostic, Location};
use crate::resource::ResourceType;
use crate::scan;

/// The snapshot nodes of one file of the snapshot paths.
pub(super) fn block_nodes(
    project: &Project,
    file: &FoundFile,
    owner: Option<usize>,
) -> Result<Vec<Node>, Diagnostic> {
    let text = &file.text;
    let mut nodes = Vec::new();
    let mut at = 0;
    while let Some(tag) = scan::next_named_tag(text, at, "snapshot") {
        let located = || Location::from_offset(&file.path, text, tag.start, 2);
        let Some(name) = tag.name.filter(|n| is_identifier(n)) else {
            return Err(
                Diagnostic::error("a snapshot block needs a name: `{% snapshot name %}`")
                    .at(located())
                    .help("name the snapshot with letters, digits and underscores"),
            );
        };
        let Some(end) = scan::next_named_tag(text, tag.end, "endsnapshot") else {
            return Err(
                Diagnostic::error(format!("snapshot `{name}` is not closed"))
                    .at(located())
                    .help("end it with `{% endsnapshot %}`"),
            );
        };
        // The body keeps its place in the file (everything before it
        // blanked, newlines kept), so errors point at the file's lines.
        let mut raw_code: String = text[..tag.end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        raw_code.push_str(&text[tag.end..end.start]);
        let mut node = project.file_node(
            file,
            owner,
            ResourceType::Snapshot,
            |s| &s.snapshots,
            raw_code,
        )?;
        // dbt's snapshot fqn keeps the file name, then the block's name.
        node.fqn.push(name.to_string());
        node.name = name.to_string();
        node.unique_id = format!("snapshot.{}.{name}", node.package_name);
        node.config
            .0
            .insert("materialized".into(), Value::from("snapshot"));
        nodes.push(node);
        at = end.end;
    }
    Ok(nodes)
}

/// The snapshots schema file `file` defines with `relation:` (dbt 1.9):
/// each a node whose SQL selects everything from that `ref()` or
/// `source()`, its fqn the package, the file's folders below the snapshot
/// path and the snapshot's name. The entry's description, columns, tests
/// and config are applied later, as for a snapshot with a SQL file.
pub(super) fn yaml_nodes(
    project: &Project,
    file: &YamlFile,
    owner: Option<usize>,
) -> Result<Vec<Node>, Diagnostic> {
    let Some(Value::Array(entries)) = file.value.get("snapshots") else {
        return Ok(Vec::new());
    };
    let snapshot_paths = match owner.and_then(|i| project.packages.get(i)) {
        Some(package) => &package.settings.snapshot_paths,
        None => &project.settings.snapshot_paths,
    };
    let mut nodes = Vec::new();
    for entry in entries {
        let Some(relation) = entry.get("relation") else {
            continue;
        };
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            return Err(
                Diagnostic::error("a YAML snapshot with `relation:` has no `name`")
                    .at(file.locate_key("relation", 1))
                    .help("give the snapshot a `name:` (letters, digits and underscores)"),
            );
        };
        let relation = relation.as_str().map(str::trim).unwrap_or_default();
        let is_call = |function: &str| {
            relation
                .strip_prefix(function)
                .is_some_and(|rest| rest.trim_start().starts_with('(') && rest.ends_with(')'))
        };
        if !(is_call("ref") || is_call("source")) {
            let line = file.locate_named(name).line;
            return Err(Diagnostic::error(format!(
                "snapshot `{name}`: `relation: {relation}` is not a ref() or source()"
            ))
            .at(file.locate_key("relation", line))
            .help("write `relation: ref('model')` or `relation: source('source', 'table')`"));
        }
        let found = FoundFile {
            path: file.path.clone(),
            relative_to_root: below_snapshot_path(&file.path, snapshot_paths)
                .join(format!("{name}.sql")),
            text: String::new(),
        };
        let mut node = project.file_node(
            &found,
            owner,
            ResourceType::Snapshot,
            |s| &s.snapshots,
            format!("select * from {{{{ {relation} }}}}"),
        )?;
        node.path = format!("{name}.sql");
        node.name = name.to_string();
        node.unique_id = format!("snapshot.{}.{name}", node.package_name);
        if let Some(last) = node.fqn.last_mut() {
            *last = name.to_string();
        }
        node.config
            .0
            .insert("materialized".into(), Value::from("snapshot"));
        nodes.push(node);
    }
    Ok(nodes)
}

/// The folders of `path` below the snapshot path it is in (none when it is
/// in none of them).
fn below_snapshot_path(path: &Path, snapshot_paths: &[String]) -> PathBuf {
    let folder = path.parent().unwrap_or(Path::new(""));
    for ancestor in folder.ancestors() {
        if snapshot_paths
            .iter()
            .any(|root| ancestor.ends_with(Path::new(root)))
            && let Ok(rest) = folder.strip_prefix(ancestor)
        {
            return rest.to_path_buf();
        }
    }
    PathBuf::new()
}

/// How snapshot `node` builds, from its merged config; an error names the
/// key that is missing or wrong and where the snapshot is.
pub fn snapshot_spec(node: &Node, config: &NodeConfig) -> Result<SnapshotSpec, Diagnostic> {
    let problem = |message: String, help: &str| {
        Diagnostic::error(format!("snapshot `{}`: {message}", node.name))
            .at(Location::find(
                node.file_path(),
                &node.raw_code,
                "snapshot",
                1,
            ))
            .help(help.to_string())
    };
    let text = |key: &str| config.str(key).map(str::to_string);
    // A snapshot's key may be an expression with commas: no splitting.
    let unique_key = crate::adapter::as_string_list(config.get("unique_key"));
    if unique_key.is_empty() {
        return Err(problem(
            "it has no `unique_key`".into(),
            "set `unique_key` (a column, an expression or a list) in the snapshot's config",
        ));
    }
    let strategy = match config.str("strategy") {
        Some("timestamp") => match text("updated_at") {
            Some(updated_at) => Strategy::Timestamp { updated_at },
            None => {
                return Err(problem(
                    "the timestamp strategy needs `updated_at`".into(),
                    "set `updated_at` to the column that says when a row last changed",
                ));
            }
        },
        Some("check") => {
            let columns = match config.get("check_cols") {
                Some(Value::String(all)) if all == "all" => CheckColumns::All,
                Some(Value::Array(items)) if !items.is_empty() => CheckColumns::List(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                ),
                _ => {
                    return Err(problem(
                        "the check strategy needs `check_cols`".into(),
                        "set `check_cols` to 'all' or a list of columns",
                    ));
                }
            };
            Strategy::Check {
                columns,
                updated_at: text("updated_at"),
            }
        }
        Some(other) => {
            return Err(problem(
                format!("unknown strategy `{other}`"),
                "use `strategy: timestamp` or `strategy: check`",
            ));
        }
        None => {
            return Err(problem(
                "it has no `strategy`".into(),
                "set `strategy: timestamp` (with `updated_at`) or `strategy: check` (with `check_cols`)",
            ));
        }
    };
    let invalidate = matches!(
        config.get("invalidate_hard_deletes"),
        Some(Value::Bool(true))
    );
    let hard_deletes = match config.str("hard_deletes") {
        Some("new_record") => HardDeletes::NewRecord,
        Some("invalidate") => HardDeletes::Invalidate,
        None if invalidate => HardDeletes::Invalidate,
        Some("ignore") | None => HardDeletes::Ignore,
        Some(other) => {
            return Err(problem(
                format!("unknown `hard_deletes: {other}`"),
                "use ignore, invalidate or new_record",
            ));
        }
    };
    let mut columns = MetaColumns::default();
    if let Some(Value::Object(names)) = config.get("snapshot_meta_column_names") {
        for (key, value) in names {
            let Some(name) = value.as_str() else { continue };
            let slot = match key.as_str() {
                "dbt_scd_id" => &mut columns.scd_id,
                "dbt_updated_at" => &mut columns.updated_at,
                "dbt_valid_from" => &mut columns.valid_from,
                "dbt_valid_to" => &mut columns.valid_to,
                "dbt_is_deleted" => &mut columns.is_deleted,
                other => {
                    return Err(problem(
                        format!("`snapshot_meta_column_names` has no column `{other}`"),
                        "rename dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to or dbt_is_deleted",
                    ));
                }
            };
            *slot = name.to_string();
        }
    }
    Ok(SnapshotSpec {
        strategy,
        unique_key,
        hard_deletes,
        valid_to_current: text("dbt_valid_to_current"),
        columns,
    })
}
