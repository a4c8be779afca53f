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
