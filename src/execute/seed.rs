//! Loading one seed: its CSV file handed to the connection, with the column
//! types and the delimiter its config sets, between its pre- and post-hooks.

use super::outcome::record_outcome;
use super::pool::{SharedConnection, lock};
use super::sql_error::adapter_failure;
use super::{NodeResult, Status};
use crate::adapter::CsvLoad;
use crate::compile::CompiledProject;
use crate::resource::NodeId;

/// Loads seed `index` from its CSV file.
pub(super) fn load_seed(
    compiled: &CompiledProject,
    index: NodeId,
    connection: &SharedConnection,
) -> NodeResult {
    let node = &compiled.project.nodes[index];
    let Some(relation) = compiled.nodes[index].relation.clone() else {
        return NodeResult::new(index, Status::Error, "seed has no relation");
    };
    let column_types = compiled.nodes[index]
        .config
        .get("column_types")
        .and_then(serde_json::Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let delimiter = match compiled.nodes[index].config.get("delimiter") {
        None => b',',
        Some(value) => match value.as_str().map(str::as_bytes) {
            Some([byte]) => *byte,
            _ => {
                return NodeResult::new(
                    index,
                    Status::Error,
                    format!(
                        "the seed's `delimiter` must be one character, such as \",\" or \"|\" (it is {value})"
                    ),
                );
            }
        },
    };
    let load = CsvLoad {
        relation,
        path: compiled.project.root.join(&node.original_file_path),
        column_types,
        delimiter,
    };
    let config = &compiled.nodes[index].config;
    if let Err(result) = run_hooks(compiled, index, connection, &config.pre_hooks(), "pre_hook") {
        return *result;
    }
    let outcome = lock(connection).load_csv(&load);
    let result = record_outcome(compiled, index, outcome);
    if result.status != Status::Success {
        return result;
    }
    // After the load, as dbt runs a seed's post-hooks: rendered then, so a
    // hook's `adapter` calls see the loaded table.
    match run_hooks(
        compiled,
        index,
        connection,
        &config.post_hooks(),
        "post_hook",
    ) {
        Ok(()) => result,
        Err(failed) => *failed,
    }
}

/// Renders and runs a seed's hooks on its connection, each rendered with
/// a live `run_query`; the first that fails is the node's result.
fn run_hooks(
    compiled: &CompiledProject,
    index: NodeId,
    connection: &SharedConnection,
    hooks: &[String],
    what: &str,
) -> Result<(), Box<NodeResult>> {
    for text in hooks {
        let query_connection = std::sync::Arc::clone(connection);
        let query: crate::jinja::QueryFn =
            Box::new(move |sql: &str| lock(&query_connection).query(sql, None));
        let sql = compiled
            .render_snippet(index, text, (what, false), Some(query))
            .map_err(|diagnostic| {
                let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
                result.diagnostic = Some(diagnostic);
                Box::new(result)
            })?;
        if sql.trim().is_empty() {
            continue;
        }
        if let Err(error) = lock(connection).execute(&sql) {
            let mut result = adapter_failure(compiled, index, &error, None);
            result.compiled_code = Some(sql);
            return Err(Box::new(result));
        }
    }
    Ok(())
}
