//! The warehouse as docs sees it: the connection, opened only when the
//! target has been built, and the column names and types of every relation
//! the project reads or builds.

use std::collections::HashMap;

use serde_json::Value;

use super::OpenAdapter;
use crate::adapter::{Adapter, AdapterKind, ColumnInfo, Connection, RelationRef};
use crate::compile::CompiledProject;
use crate::report::Reporter;
use crate::resource::{Materialized, NodeId};

/// A connection to the target when it has been built; docs are still
/// written without one (no column types, charts without data).
pub(super) struct Warehouse {
    pub(super) connection: Option<Box<dyn Connection>>,
    /// Kept alive for as long as the connection.
    _adapter: Option<Box<dyn Adapter>>,
}

impl Warehouse {
    /// Opens the target through `open_adapter` unless it was never built.
    pub(super) fn open(
        compiled: &CompiledProject,
        open_adapter: OpenAdapter<'_>,
        reporter: &Reporter,
    ) -> Self {
        let none = Self {
            connection: None,
            _adapter: None,
        };
        let project = &compiled.project;
        if project.target.kind == AdapterKind::Duckdb {
            // A target that was never built has no file; opening one would create it.
            match &project.target.path {
                Some(path) if path.is_file() => {}
                _ => return none,
            }
        }
        let adapter = match open_adapter() {
            Ok(adapter) => adapter,
            Err(diagnostics) => {
                for diagnostic in &diagnostics.0 {
                    reporter.warning(&format!(
                        "the docs are written without the warehouse: {}",
                        diagnostic.message
                    ));
                }
                return none;
            }
        };
        match adapter.connect() {
            Ok(connection) => Self {
                connection: Some(connection),
                _adapter: Some(adapter),
            },
            Err(error) => {
                reporter.warning(&format!(
                    "the docs are written without the warehouse: cannot connect: {}",
                    error.message
                ));
                none
            }
        }
    }
}

/// Column names and types of every relation the project reads or builds:
/// one catalog query where the adapter has one (DuckDB), one lookup per
/// relation elsewhere.
pub(super) fn read_catalog(
    compiled: &CompiledProject,
    connection: &mut dyn Connection,
) -> ColumnCatalog {
    let mut catalog = ColumnCatalog::new();
    if let Some(sql) = compiled.project.target.kind.dialect().catalog_columns_sql() {
        if let Ok(result) = connection.query(sql, None) {
            for row in result.rows {
                if let [
                    Value::String(schema),
                    Value::String(table),
                    Value::String(name),
                    Value::String(data_type),
                ] = row.as_slice()
                {
                    catalog
                        .entry((schema.to_lowercase(), table.to_lowercase()))
                        .or_default()
                        .push(ColumnInfo {
                            name: name.clone(),
                            data_type: data_type.clone(),
                        });
                }
            }
        }
        return catalog;
    }
    for index in NodeId::all(compiled.project.nodes.len()) {
        if let Some(relation) = relation(compiled, index)
            && let Ok(columns) = connection.columns(&relation)
            && !columns.is_empty()
        {
            catalog.insert(catalog_key(&relation), columns);
        }
    }
    catalog
}

/// The relation a model, seed or source reads from; `None` for ephemerals.
pub fn relation(compiled: &CompiledProject, index: NodeId) -> Option<RelationRef> {
    let compiled_node = compiled.nodes.get(index.index())?;
    if compiled_node.config.materialized() == Materialized::Ephemeral {
        return None;
    }
    compiled_node.relation.clone()
}

/// Columns of every relation in the warehouse, by lower-cased
/// `(schema, identifier)`.
pub type ColumnCatalog = HashMap<(String, String), Vec<crate::adapter::ColumnInfo>>;

pub fn catalog_key(relation: &RelationRef) -> (String, String) {
    (
        relation.schema.to_lowercase(),
        relation.identifier.to_lowercase(),
    )
}

/// dbt's catalog artifact schema, the version dbt docs tooling reads.
pub const CATALOG_SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

/// `target/catalog.json` in dbt's shape: every model, seed and source
/// found in the warehouse with its table type and columns (warehouse
/// order, 1-based `index`), under `nodes` and `sources`; `metadata` is the
/// invocation's block for [`CATALOG_SCHEMA`].
pub fn catalog_artifact(
    compiled: &CompiledProject,
    catalog: Option<&ColumnCatalog>,
    metadata: &Value,
) -> Value {
    let mut nodes = serde_json::Map::new();
    let mut sources = serde_json::Map::new();
    let project = &compiled.project;
    for (index, node) in NodeId::enumerate(&project.nodes) {
        let Some(relation) = relation(compiled, index) else {
            continue;
        };
        let Some(columns) = catalog.and_then(|c| c.get(&catalog_key(&relation))) else {
            continue;
        };
        let table_type = match compiled.nodes[index].config.materialized() {
            Materialized::View => "VIEW",
            _ => "BASE TABLE",
        };
        let columns: serde_json::Map<String, Value> = columns
            .iter()
            .enumerate()
            .map(|(position, column)| {
                (
                    column.name.clone(),
                    serde_json::json!({
                        "type": column.data_type,
                        "index": position + 1,
                        "name": column.name,
                        "comment": null,
                    }),
                )
            })
            .collect();
        let entry = serde_json::json!({
            "metadata": {
                "type": table_type,
                "schema": relation.schema,
                "name": relation.identifier,
                "database": relation.database.as_ref().or(project.target.database.as_ref()),
                "comment": null,
                "owner": null,
            },
            "columns": columns,
            "stats": {
                "has_stats": {
                    "id": "has_stats",
                    "label": "Has Stats?",
                    "value": false,
                    "include": false,
                    "description": "Indicates whether there are statistics for this table",
                },
            },
            "unique_id": node.unique_id,
        });
        let into = if node.source.is_some() {
            &mut sources
        } else {
            &mut nodes
        };
        into.insert(node.unique_id.clone(), entry);
    }
    serde_json::json!({
        "metadata": metadata,
        "nodes": nodes,
        "sources": sources,
        "errors": null,
    })
}
