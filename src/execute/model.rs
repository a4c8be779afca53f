//! Building one model: its SQL rendered for execution (with `is_incremental()`
//! answered from the warehouse), its hooks rendered, and the materialization
//! its config names handed to the connection.

use std::sync::Arc;

use super::outcome::record_outcome;
use super::pool::{ConnectionPool, SharedConnection, lock, on_connection};
use super::seed::load_seed;
use super::sql_error::adapter_failure;
use super::{NodeResult, Status};
use crate::adapter::{IncrementalStrategy, Materialization, MaterializeRequest, RelationKind};
use crate::compile::CompiledProject;
use crate::resource::{Materialized, NodeId, ResourceType};

/// Builds one model or loads one seed.
pub fn build_node(
    compiled: &CompiledProject,
    index: NodeId,
    pool: &ConnectionPool<'_>,
    full_refresh: bool,
) -> NodeResult {
    on_connection(compiled, index, pool, |connection| {
        match compiled.project.nodes[index].resource_type {
            ResourceType::Seed => load_seed(compiled, index, connection),
            ResourceType::Snapshot => build_model(compiled, index, connection, false),
            _ => build_model(compiled, index, connection, full_refresh),
        }
    })
}

fn build_model(
    compiled: &CompiledProject,
    index: NodeId,
    connection: &SharedConnection,
    full_refresh: bool,
) -> NodeResult {
    let state = &compiled.nodes[index];
    let Some(relation) = state.relation.clone() else {
        return NodeResult::new(index, Status::Error, "model has no relation");
    };
    let config = &state.config;
    let materialized = config.materialized();
    let full_refresh = match config.full_refresh() {
        Some(value) => value,
        None => full_refresh,
    };
    let mut is_incremental = false;
    if materialized == Materialized::Incremental && !full_refresh {
        match lock(connection).relation_kind(&relation) {
            Ok(Some(RelationKind::Table)) => is_incremental = true,
            Ok(_) => {}
            Err(error) => return adapter_failure(compiled, index, &error, None),
        }
    }
    let query_connection = Arc::clone(connection);
    let query: crate::jinja::QueryFn =
        Box::new(move |sql: &str| lock(&query_connection).query(sql, None));
    let (sql, logs_seen) = match compiled.render_for_execution(index, is_incremental, Some(query)) {
        Ok((sql, logs)) => {
            let logs = if state.render_at_execution {
                logs
            } else {
                state.logs.clone()
            };
            (sql, logs)
        }
        Err(diagnostic) => {
            let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
            result.diagnostic = Some(diagnostic);
            return result;
        }
    };
    let mut hooks = [Vec::new(), Vec::new()];
    for (slot, (texts, what)) in hooks.iter_mut().zip([
        (config.pre_hooks(), "pre_hook"),
        (config.post_hooks(), "post_hook"),
    ]) {
        for text in texts {
            let hook_connection = Arc::clone(connection);
            let query: crate::jinja::QueryFn =
                Box::new(move |sql: &str| lock(&hook_connection).query(sql, None));
            match compiled.render_snippet(index, &text, (what, is_incremental), Some(query)) {
                Ok(rendered) => slot.push(rendered),
                Err(diagnostic) => {
                    let mut result =
                        NodeResult::new(index, Status::Error, diagnostic.message.clone());
                    result.diagnostic = Some(diagnostic);
                    return result;
                }
            }
        }
    }
    let [pre_hooks, post_hooks] = hooks;
    let materialization = match materialized {
        Materialized::Snapshot => {
            match crate::project::snapshots::snapshot_spec(&compiled.project.nodes[index], config) {
                Ok(spec) => Materialization::Snapshot(spec),
                Err(diagnostic) => {
                    let mut result =
                        NodeResult::new(index, Status::Error, diagnostic.message.clone());
                    result.diagnostic = Some(diagnostic);
                    return result;
                }
            }
        }
        Materialized::View => Materialization::View,
        Materialized::Incremental => Materialization::Incremental {
            strategy: config
                .incremental_strategy()
                .unwrap_or(if config.unique_key().is_empty() {
                    IncrementalStrategy::Append
                } else {
                    IncrementalStrategy::Merge
                }),
            unique_key: config.unique_key(),
            full_refresh: !is_incremental,
        },
        _ => Materialization::Table,
    };
    let contract_enforced = super::contract::enforced(compiled, index);
    if contract_enforced {
        let checked = super::contract::check(compiled, index, &sql, &mut **lock(connection));
        if let Err(diagnostic) = checked {
            let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
            result.diagnostic = Some(diagnostic);
            result.compiled_code = Some(sql);
            return result;
        }
    }
    let request = MaterializeRequest {
        relation: relation.clone(),
        sql: sql.clone(),
        materialization,
        pre_hooks,
        post_hooks,
        config: config.0.clone(),
        columns_ddl: (materialized == Materialized::Table && contract_enforced)
            .then(|| super::contract::columns_ddl(compiled, index)),
    };
    let outcome = lock(connection).materialize(&request);
    let mut result = record_outcome(compiled, index, outcome);
    result.compiled_code = Some(sql);
    if result.status == Status::Success {
        result.logs = logs_seen;
        result.extra.insert(
            "materialized".into(),
            serde_json::Value::from(materialized.as_str()),
        );
    }
    result
}
