//! Model contracts (`contract: {enforced: true}`): before a model with an
//! enforced contract is built, the columns its SQL gives (asked of the
//! warehouse with `limit 0`, which reads no rows) are compared with the
//! columns and `data_type`s its YAML declares; any missing, extra or
//! differently typed column fails the model there, so its previous relation
//! stays, with the YAML line of the contract and a table of the differences.

use serde_json::Value;

use crate::adapter::{AdapterKind, Connection};
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Location};
use crate::project::slash;
use crate::project::yaml::locate_key;
use crate::resource::NodeId;

/// Whether model `index`'s merged config enforces a contract.
pub fn enforced(compiled: &CompiledProject, index: NodeId) -> bool {
    compiled.nodes[index]
        .config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Checks `sql` (the model's compiled SELECT) against model `index`'s
/// contract; `Err` says every difference.
pub fn check(
    compiled: &CompiledProject,
    index: NodeId,
    sql: &str,
    connection: &mut dyn Connection,
) -> Result<(), Diagnostic> {
    let node = &compiled.project.nodes[index];
    let location = contract_location(compiled, index);
    let kind = compiled.project.target.kind;
    let declared: Vec<(&str, Option<&str>)> = node
        .columns
        .values()
        .map(|c| (c.name.as_str(), c.data_type.as_deref()))
        .collect();
    let untyped: Vec<&str> = declared
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(n, _)| *n)
        .collect();
    if declared.is_empty() || !untyped.is_empty() {
        return Err(Diagnostic::error(format!(
            "model `{}` enforces a contract, but {}",
            node.name,
            if declared.is_empty() {
                "its YAML declares no columns".to_string()
            } else {
                format!("these columns have no `data_type`: {}", untyped.join(", "))
            }
        ))
        .at(location)
        .help("give every column of the model a `data_type` under `columns:`"));
    }
    let probe = format!(
        "select * from (\n{}\n) as sb_contract limit 0",
        crate::adapter::sql_text::strip_trailing(sql)
    );
    let actual = connection
        .query(&probe, None)
        .map_err(|error| {
            Diagnostic::error(format!(
                "model `{}`: cannot read the columns of its SQL: {}",
                node.name, error.message
            ))
            .at(location.clone())
        })?
        .columns;
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (name, data_type) in &declared {
        let contract_type = data_type.unwrap_or_default();
        match actual.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
            None => rows.push([
                (*name).to_string(),
                contract_type.to_string(),
                String::new(),
                "missing in the SQL".into(),
            ]),
            Some(column) if !same_type(kind, contract_type, &column.data_type) => rows.push([
                (*name).to_string(),
                contract_type.to_string(),
                column.data_type.clone(),
                "data type mismatch".into(),
            ]),
            Some(_) => {}
        }
    }
    for column in &actual {
        if !declared
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(&column.name))
        {
            rows.push([
                column.name.clone(),
                String::new(),
                column.data_type.clone(),
                "missing in the contract".into(),
            ]);
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let header = [
        "column".to_string(),
        "contract type".into(),
        "SQL type".into(),
        "difference".into(),
    ];
    let mut lines = vec![header];
    lines.extend(rows.iter().cloned());
    let table = crate::table::aligned_lines(&lines);
    Err(Diagnostic::error(format!(
        "model `{}` does not match its enforced contract ({} difference{}); its relation was left as it was",
        node.name,
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ))
    .at(location)
    .note(table.join("\n"))
    .help("make the model's SELECT give exactly the contract's columns and types, or change the contract"))
}

/// The column definitions of model `index`'s contract, with the column
/// `constraints` dbt writes into the DDL (`not_null`, `unique`,
/// `primary_key`, `check` with its `expression`, `foreign_key` to a
/// relation), then the model-level ones (`primary_key`, `unique`,
/// `foreign_key` over `columns`, `check`), each named when it has a `name`.
pub fn columns_ddl(compiled: &CompiledProject, index: NodeId) -> String {
    let kind = compiled.project.target.kind;
    let node = &compiled.project.nodes[index];
    let relation_of = |call: &str| compiled.catalog.rendered_relation_of_call(call, index);
    let mut lines: Vec<String> = node
        .columns
        .values()
        .map(|column| {
            let mut text = format!(
                "{} {}",
                kind.quote(&column.name),
                column.data_type.as_deref().unwrap_or(match kind {
                    AdapterKind::Bigquery => "string",
                    AdapterKind::Duckdb => "varchar",
                })
            );
            for constraint in &column.constraints {
                if let Some(clause) = constraint_clause(kind, &relation_of, constraint, None) {
                    text.push(' ');
                    text.push_str(&clause);
                }
            }
            text
        })
        .collect();
    for constraint in &node.constraints {
        let columns: Vec<String> = constraint
            .get("columns")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(|c| kind.quote(c))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(clause) = constraint_clause(kind, &relation_of, constraint, Some(&columns)) {
            lines.push(clause);
        }
    }
    lines.join(",\n    ")
}

/// One constraint as DDL: on a column (`columns` `None`: `not null`,
/// `primary key`, ...) or on the table (`primary key ("a", "b")`, ...);
/// `None` for a kind the table form has no clause for. On BigQuery, as
/// dbt-bigquery writes them: keys are `not enforced`, and `unique` and
/// `check`, which BigQuery has no DDL for, are left out. `relation_of`
/// renders a `to: ref('x')` of a foreign key.
fn constraint_clause(
    kind: AdapterKind,
    relation_of: &dyn Fn(&str) -> Option<String>,
    constraint: &Value,
    columns: Option<&[String]>,
) -> Option<String> {
    let listed = || {
        columns
            .map(|c| format!(" ({})", c.join(", ")))
            .unwrap_or_default()
    };
    let bigquery = kind == AdapterKind::Bigquery;
    let not_enforced = if bigquery { " not enforced" } else { "" };
    let expression = constraint.get("expression").and_then(Value::as_str);
    let clause = match constraint.get("type").and_then(Value::as_str)? {
        "not_null" if columns.is_none() => "not null".to_string(),
        "unique" | "check" if bigquery => return None,
        "unique" => format!("unique{}", listed()),
        "primary_key" => format!("primary key{}{not_enforced}", listed()),
        "check" => format!("check ({})", expression?),
        "foreign_key" => {
            let to = constraint.get("to").and_then(Value::as_str);
            let target = match to {
                Some(call) => {
                    let relation = relation_of(call)?;
                    let to_columns: Vec<&str> = constraint
                        .get("to_columns")
                        .and_then(Value::as_array)
                        .map(|list| list.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!("{relation} ({})", to_columns.join(", "))
                }
                None => expression?.to_string(),
            };
            match columns {
                Some(_) => format!("foreign key{} references {target}{not_enforced}", listed()),
                None => format!("references {target}{not_enforced}"),
            }
        }
        _ => return None,
    };
    Some(match constraint.get("name").and_then(Value::as_str) {
        Some(name) => format!("constraint {name} {clause}"),
        None => clause,
    })
}

/// Where the model's contract is written: its `contract:` key in the
/// schema YAML that describes it, else the YAML entry, else the model file.
fn contract_location(compiled: &CompiledProject, index: NodeId) -> Location {
    let node = &compiled.project.nodes[index];
    let yaml = node.yaml_path.as_ref().and_then(|path| {
        compiled
            .project
            .schema_files
            .iter()
            .find(|f| &slash(&f.path) == path)
    });
    match yaml {
        Some(file) => {
            let entry = file.locate_named(&node.name);
            let contract = locate_key(&file.path, &file.source, "contract", entry.line);
            if contract.line >= entry.line && contract.line > 0 {
                contract
            } else {
                entry
            }
        }
        None => Location::find(node.file_path(), &node.raw_code, "contract", 1),
    }
}

/// Whether a contract's `data_type` names the type the warehouse reports,
/// through the warehouse's aliases (`int` is INTEGER, `string` VARCHAR on
/// DuckDB; `int64` is INTEGER on BigQuery); parameters count only when the
/// contract gives them.
fn same_type(kind: AdapterKind, contract: &str, actual: &str) -> bool {
    let normal = |text: &str| -> String {
        let upper = text.trim().to_ascii_uppercase();
        let (base, parameters) = match upper.split_once('(') {
            Some((base, rest)) => (
                base.trim().to_string(),
                format!("({}", rest.replace(' ', "")),
            ),
            None => (upper.clone(), String::new()),
        };
        let base = match (kind, base.as_str()) {
            (AdapterKind::Duckdb, "INT" | "INT4" | "INTEGER" | "SIGNED") => "INTEGER",
            (AdapterKind::Duckdb, "INT8" | "BIGINT" | "LONG") => "BIGINT",
            (AdapterKind::Duckdb, "TEXT" | "STRING" | "VARCHAR" | "CHAR" | "BPCHAR") => "VARCHAR",
            (AdapterKind::Duckdb, "FLOAT8" | "DOUBLE") => "DOUBLE",
            (AdapterKind::Duckdb, "FLOAT4" | "REAL" | "FLOAT") => "FLOAT",
            (AdapterKind::Duckdb, "BOOL" | "BOOLEAN" | "LOGICAL") => "BOOLEAN",
            (AdapterKind::Duckdb, "NUMERIC" | "DECIMAL") => "DECIMAL",
            (AdapterKind::Duckdb, "DATETIME" | "TIMESTAMP") => "TIMESTAMP",
            (AdapterKind::Bigquery, "INT64" | "INTEGER" | "INT" | "BIGINT") => "INT64",
            (AdapterKind::Bigquery, "FLOAT64" | "FLOAT") => "FLOAT64",
            (AdapterKind::Bigquery, "BOOL" | "BOOLEAN") => "BOOL",
            (AdapterKind::Bigquery, "NUMERIC" | "DECIMAL") => "NUMERIC",
            (_, other) => return format!("{other}{parameters}"),
        };
        format!("{base}{parameters}")
    };
    let (contract, actual) = (normal(contract), normal(actual));
    if contract.contains('(') {
        contract == actual
    } else {
        contract == actual.split('(').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clauses of `constraints` (on a column, or over `columns`) for `kind`.
    fn clauses(kind: AdapterKind, constraints: &Value, columns: Option<&[String]>) -> Vec<String> {
        let relation_of =
            |call: &str| (call == "ref('customers')").then(|| "`p`.`d`.`customers`".to_string());
        constraints
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| constraint_clause(kind, &relation_of, c, columns))
            .collect()
    }

    #[test]
    fn constraints_are_written_as_each_warehouse_takes_them() {
        let column = serde_json::json!([
            {"type": "not_null"},
            {"type": "unique"},
            {"type": "primary_key"},
            {"type": "check", "expression": "id > 0"},
            {"type": "foreign_key", "to": "ref('customers')", "to_columns": ["id"]},
        ]);
        assert_eq!(
            clauses(AdapterKind::Duckdb, &column, None),
            [
                "not null",
                "unique",
                "primary key",
                "check (id > 0)",
                "references `p`.`d`.`customers` (id)"
            ]
        );
        // BigQuery: keys are not enforced; no `unique` or `check` DDL.
        assert_eq!(
            clauses(AdapterKind::Bigquery, &column, None),
            [
                "not null",
                "primary key not enforced",
                "references `p`.`d`.`customers` (id) not enforced"
            ]
        );
        let table = serde_json::json!([
            {"type": "primary_key", "name": "pk_orders"},
            {"type": "foreign_key", "to": "ref('customers')", "to_columns": ["id"]},
        ]);
        let keys = ["`order_id`".to_string()];
        assert_eq!(
            clauses(AdapterKind::Bigquery, &table, Some(&keys)),
            [
                "constraint pk_orders primary key (`order_id`) not enforced",
                "foreign key (`order_id`) references `p`.`d`.`customers` (id) not enforced"
            ]
        );
    }

    #[test]
    fn contract_types_match_through_the_warehouses_aliases() {
        let duckdb = AdapterKind::Duckdb;
        assert!(same_type(duckdb, "int", "INTEGER"));
        assert!(same_type(duckdb, "string", "VARCHAR"));
        assert!(same_type(duckdb, "decimal", "DECIMAL(18,2)"));
        assert!(same_type(duckdb, "decimal(18, 2)", "DECIMAL(18,2)"));
        assert!(!same_type(duckdb, "decimal(18,3)", "DECIMAL(18,2)"));
        assert!(!same_type(duckdb, "bigint", "INTEGER"));
        assert!(same_type(AdapterKind::Bigquery, "int64", "INTEGER"));
        assert!(!same_type(AdapterKind::Bigquery, "string", "INTEGER"));
    }
}
