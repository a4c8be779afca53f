//! Loading one seed: its CSV file handed to the connection, with the column
//! types and the delimiter its config sets.

use super::outcome::record_outcome;
use super::pool::{SharedConnection, lock};
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
    let outcome = lock(connection).load_csv(&load);
    record_outcome(compiled, index, outcome)
}
