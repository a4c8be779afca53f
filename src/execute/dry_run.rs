//! `--dry-run`: each model rendered and handed to the warehouse's estimate
//! instead of run, refused when it would process more than
//! `maximum_bytes_billed`.

use std::sync::Arc;

use super::pool::{ConnectionPool, SharedConnection, lock, on_connection};
use super::sql_error::adapter_failure;
use super::{NodeResult, Status};
use crate::adapter::RelationKind;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Location};
use crate::resource::{Materialized, NodeId};

/// `--dry-run`: asks the warehouse what one model would process, without
/// running it. A model over `maximum_bytes_billed` is refused.
pub fn dry_run_node(
    compiled: &CompiledProject,
    index: NodeId,
    pool: &ConnectionPool<'_>,
) -> NodeResult {
    let mut result = on_connection(compiled, index, pool, |connection| {
        estimate_model(compiled, index, connection)
    });
    if result.status == Status::Error && result.diagnostic.is_none() {
        let node = &compiled.project.nodes[index];
        result.diagnostic = Some(Diagnostic::error(format!(
            "{} `{}`: {}",
            node.resource_type, node.name, result.message
        )));
    }
    result
}

fn estimate_model(
    compiled: &CompiledProject,
    index: NodeId,
    connection: &SharedConnection,
) -> NodeResult {
    let state = &compiled.nodes[index];
    let node = &compiled.project.nodes[index];
    let Some(relation) = state.relation.clone() else {
        return NodeResult::new(index, Status::Error, "model has no relation");
    };
    let is_incremental = state.config.materialized() == Materialized::Incremental
        && !state.config.full_refresh().unwrap_or(false)
        && matches!(
            lock(connection).relation_kind(&relation),
            Ok(Some(RelationKind::Table))
        );
    let query_connection = Arc::clone(connection);
    let query: crate::jinja::QueryFn =
        Box::new(move |sql: &str| lock(&query_connection).query(sql, None));
    let sql = match compiled.render_for_execution(index, is_incremental, Some(query)) {
        Ok((sql, _)) => sql,
        Err(diagnostic) => {
            let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
            result.diagnostic = Some(diagnostic);
            return result;
        }
    };
    let mut guard = lock(connection);
    let limit = guard.maximum_bytes_billed();
    let estimate = guard.dry_run(&sql);
    drop(guard);
    let mut result = match estimate {
        Ok(bytes) => match limit {
            Some(limit) if bytes > limit => {
                let mut result = NodeResult::new(
                    index,
                    Status::Error,
                    format!(
                        "refused: would process {}, over maximum_bytes_billed ({})",
                        human_bytes(bytes),
                        human_bytes(limit)
                    ),
                );
                result.diagnostic = Some(
                    Diagnostic::error(format!(
                        "model `{}` would process {bytes} bytes, more than the target's maximum_bytes_billed of {limit}",
                        node.name
                    ))
                    .at(Location::from_line_col(node.file_path(), &node.raw_code, 1, 1, 1))
                    .help("filter the query (a partition filter, fewer columns) or raise `maximum_bytes_billed` in project.yml"),
                );
                result
            }
            _ => NodeResult::new(
                index,
                Status::Success,
                format!("would process {}", human_bytes(bytes)),
            ),
        }
        .with_bytes(bytes),
        Err(error) => adapter_failure(compiled, index, &error, None),
    };
    result.compiled_code = Some(sql);
    result
}

impl NodeResult {
    fn with_bytes(mut self, bytes: u64) -> Self {
        self.extra
            .insert("bytes_processed".into(), serde_json::Value::from(bytes));
        self
    }
}

/// Bytes as BigQuery's console shows them (1 KB = 1024 bytes).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
