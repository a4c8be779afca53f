//! Tests on columns their node does not have: found before the run from
//! the relation's (or seed header's) columns, and after a failed batch, so
//! the test errors with the column's name and the nearest ones instead of
//! the warehouse's message.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, did_you_mean};
use crate::execute::pool::{ConnectionPool, lock};
use crate::project::data_tests::GenericTest;
use crate::resource::{NodeId, ResourceType};

/// The columns a test names that `columns` (the relation's) lacks.
fn missing_of(test: &GenericTest, columns: &[String]) -> Vec<String> {
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
    let lower: HashSet<String> = columns.iter().map(|c| c.to_lowercase()).collect();
    let mut named: Vec<String> = test.column.iter().cloned().collect();
    if test.test_name == "unique_combination"
        && let Some(Value::Array(items)) = test.args.get("columns")
    {
        named.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
    }
    named
        .into_iter()
        .filter(|c| IDENT.is_match(c) && !lower.contains(&c.to_lowercase()))
        .collect()
}

/// The error for a test on a column its node does not have, when it is one.
pub fn column_diagnostic(
    compiled: &CompiledProject,
    index: NodeId,
    columns: &[String],
) -> Option<Diagnostic> {
    let node = &compiled.project.nodes[index];
    let test = node.generic_test.as_ref()?;
    if columns.is_empty() {
        return None;
    }
    let missing = missing_of(test, columns);
    let column = missing.first()?;
    let attached = &compiled.project.nodes[test.attached];
    let close = crate::diag::suggest::closest_names(column, columns.iter().map(String::as_str), 3);
    let location = match (
        &test.column_location,
        test.column.as_deref() == Some(column.as_str()),
    ) {
        (Some(location), true) => location.clone(),
        _ => test.location.clone(),
    };
    Some(
        Diagnostic::error(format!(
            "test `{}` is on column `{column}`, which {} `{}` does not have",
            node.name,
            attached.resource_type,
            attached.source.as_ref().map_or_else(
                || attached.name.clone(),
                |s| format!("{}.{}", s.source_name, attached.name)
            )
        ))
        .at(location)
        .help(
            did_you_mean(&close)
                .unwrap_or_else(|| format!("its columns are: {}", columns.join(", "))),
        ),
    )
}

/// Before anything runs: the selected generic tests whose columns are
/// missing from a relation that already exists (seeds, sources, and models
/// that this run does not rebuild). `rebuilt` are the nodes this run builds.
pub fn check_columns(
    compiled: &CompiledProject,
    selected: &BTreeSet<NodeId>,
    rebuilt: &BTreeSet<NodeId>,
    pool: &ConnectionPool<'_>,
) -> Vec<Diagnostic> {
    let mut by_node: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for &index in selected {
        if let Some(test) = &compiled.project.nodes[index].generic_test
            && (test.column.is_some() || test.test_name == "unique_combination")
        {
            by_node.entry(test.attached).or_default().push(index);
        }
    }
    let mut errors = Vec::new();
    let Ok(connection) = pool.take() else {
        return errors;
    };
    for (attached, tests) in by_node {
        let node = &compiled.project.nodes[attached];
        let columns: Vec<String> = if node.resource_type == ResourceType::Seed {
            csv_header(compiled, attached)
        } else if rebuilt.contains(&attached) {
            continue;
        } else {
            let Some(relation) = &compiled.nodes[attached].relation else {
                continue;
            };
            lock(&connection)
                .columns(relation)
                .map(|c| c.into_iter().map(|c| c.name).collect())
                .unwrap_or_default()
        };
        for index in tests {
            if let Some(diagnostic) = column_diagnostic(compiled, index, &columns) {
                errors.push(diagnostic);
            }
        }
    }
    pool.give_back(connection);
    errors
}

/// The column names in a seed's header line.
fn csv_header(compiled: &CompiledProject, index: NodeId) -> Vec<String> {
    let path = compiled
        .project
        .root
        .join(&compiled.project.nodes[index].original_file_path);
    let delimiter = compiled.nodes[index]
        .config
        .str("delimiter")
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .ok()
        .and_then(|mut reader| reader.headers().ok().cloned())
        .map(|headers| headers.iter().map(|h| h.trim().to_string()).collect())
        .unwrap_or_default()
}
