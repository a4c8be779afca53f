//! Running a query and reading its result: column names and DuckDB's type
//! names, rows converted to JSON, and the columns whose types the driver
//! cannot decode read back as text instead.

use std::panic::{AssertUnwindSafe, catch_unwind};

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::types::Value;

use super::KIND;
use super::errors::duckdb_message;
use super::values::{Shape, to_json};
use crate::adapter::sql_text::strip_trailing;
use crate::adapter::{ColumnInfo, QueryResult};

/// Why a query's result could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum QueryError {
    /// DuckDB refused the query: its own message.
    #[error("{}", duckdb_message(.0))]
    DuckDb(#[from] duckdb::Error),
    /// The driver cannot decode these columns (`name type`, comma-separated).
    #[error(
        "cannot read the result of this query: a column has a type the DuckDB driver cannot decode ({0}); cast it to VARCHAR"
    )]
    Undecodable(String),
}

/// Runs a query and converts its rows; errors come back as DuckDB's message.
pub(super) fn read_query(
    conn: &duckdb::Connection,
    sql: &str,
    limit: Option<usize>,
) -> Result<QueryResult, QueryError> {
    let mut stmt = conn.prepare(sql)?;
    let plain: Vec<bool> = (0..stmt.column_count())
        .map(|idx| decodable(&stmt.column_logical_type(idx)))
        .collect();
    if plain.contains(&false) {
        // The driver cannot decode some types (it would panic): let DuckDB
        // render those columns as text instead.
        drop(stmt);
        let wrapped = cast_undecodable(conn, sql, &plain)?;
        stmt = conn.prepare(&wrapped)?;
    }
    let mut rows = stmt.query([])?;
    let (columns, shapes) = match rows.as_ref() {
        Some(executed) => {
            let count = executed.column_count();
            let mut columns = Vec::with_capacity(count);
            let mut shapes = Vec::with_capacity(count);
            for idx in 0..count {
                let logical = executed.column_logical_type(idx);
                columns.push(ColumnInfo {
                    name: executed.column_name(idx).cloned().unwrap_or_default(),
                    data_type: type_name(&logical),
                });
                shapes.push(Shape::of(&logical));
            }
            (columns, shapes)
        }
        None => (Vec::new(), Vec::new()),
    };
    let max = limit.unwrap_or(usize::MAX);
    let decoded = catch_unwind(AssertUnwindSafe(
        || -> Result<Vec<Vec<serde_json::Value>>, QueryError> {
            let mut out = Vec::new();
            while out.len() < max {
                let Some(row) = rows.next()? else {
                    break;
                };
                let mut values = Vec::with_capacity(shapes.len());
                for (idx, shape) in shapes.iter().enumerate() {
                    let value: Value = row.get(idx)?;
                    values.push(to_json(&value, Some(shape)));
                }
                out.push(values);
            }
            Ok(out)
        },
    ));
    let rows = match decoded {
        Ok(rows) => rows?,
        Err(_) => {
            return Err(QueryError::Undecodable(
                columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.data_type))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    };
    Ok(QueryResult { columns, rows })
}

/// Wraps a query so that the columns the driver cannot decode (`plain[i]`
/// false) come back as text. The subquery's columns are renamed by position,
/// so duplicate output names stay apart.
fn cast_undecodable(
    conn: &duckdb::Connection,
    sql: &str,
    plain: &[bool],
) -> Result<String, QueryError> {
    let body = strip_trailing(sql);
    let mut describe = conn.prepare(&format!("describe\n{body}"))?;
    let names: Vec<String> = describe
        .query_map([], |row| row.get(0))?
        .collect::<duckdb::Result<_>>()?;
    let positions = (1..=names.len())
        .map(|idx| format!("\"sb_c{idx}\""))
        .collect::<Vec<_>>();
    let select = names
        .iter()
        .zip(&positions)
        .enumerate()
        .map(|(idx, (name, position))| {
            let alias = KIND.quote(name);
            if plain.get(idx).copied().unwrap_or(false) {
                format!("{position} as {alias}")
            } else {
                format!("cast({position} as varchar) as {alias}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "select {select} from (\n{body}\n) as \"sb_q\"({})",
        positions.join(", ")
    ))
}

/// Whether the driver can turn values of this type into Rust values.
fn decodable(ty: &LogicalTypeHandle) -> bool {
    match ty.id() {
        LogicalTypeId::Boolean
        | LogicalTypeId::Tinyint
        | LogicalTypeId::Smallint
        | LogicalTypeId::Integer
        | LogicalTypeId::Bigint
        | LogicalTypeId::UTinyint
        | LogicalTypeId::USmallint
        | LogicalTypeId::UInteger
        | LogicalTypeId::UBigint
        | LogicalTypeId::Float
        | LogicalTypeId::Double
        | LogicalTypeId::Timestamp
        | LogicalTypeId::Date
        | LogicalTypeId::Time
        | LogicalTypeId::Interval
        | LogicalTypeId::Hugeint
        | LogicalTypeId::UHugeint
        | LogicalTypeId::Varchar
        | LogicalTypeId::Blob
        | LogicalTypeId::Decimal
        | LogicalTypeId::TimestampS
        | LogicalTypeId::TimestampMs
        | LogicalTypeId::TimestampNs
        | LogicalTypeId::TimestampTZ
        | LogicalTypeId::Enum
        | LogicalTypeId::Uuid => true,
        LogicalTypeId::List
        | LogicalTypeId::Array
        | LogicalTypeId::Struct
        | LogicalTypeId::Map
        | LogicalTypeId::Union => (0..ty.num_children()).all(|idx| decodable(&ty.child(idx))),
        _ => false,
    }
}

/// DuckDB's name for a type, as `typeof()` would print it.
fn type_name(ty: &LogicalTypeHandle) -> String {
    if let Some(alias) = ty.get_alias() {
        return alias;
    }
    let id = ty.id();
    let simple = match id {
        LogicalTypeId::Boolean => "BOOLEAN",
        LogicalTypeId::Tinyint => "TINYINT",
        LogicalTypeId::Smallint => "SMALLINT",
        LogicalTypeId::Integer => "INTEGER",
        LogicalTypeId::Bigint => "BIGINT",
        LogicalTypeId::UTinyint => "UTINYINT",
        LogicalTypeId::USmallint => "USMALLINT",
        LogicalTypeId::UInteger => "UINTEGER",
        LogicalTypeId::UBigint => "UBIGINT",
        LogicalTypeId::Float => "FLOAT",
        LogicalTypeId::Double => "DOUBLE",
        LogicalTypeId::Timestamp => "TIMESTAMP",
        LogicalTypeId::Date => "DATE",
        LogicalTypeId::Time => "TIME",
        LogicalTypeId::Interval => "INTERVAL",
        LogicalTypeId::Hugeint => "HUGEINT",
        LogicalTypeId::UHugeint => "UHUGEINT",
        LogicalTypeId::Varchar => "VARCHAR",
        LogicalTypeId::Blob => "BLOB",
        LogicalTypeId::TimestampS => "TIMESTAMP_S",
        LogicalTypeId::TimestampMs => "TIMESTAMP_MS",
        LogicalTypeId::TimestampNs => "TIMESTAMP_NS",
        LogicalTypeId::Enum => "ENUM",
        LogicalTypeId::Uuid => "UUID",
        LogicalTypeId::Bit => "BIT",
        LogicalTypeId::TimeTZ => "TIME WITH TIME ZONE",
        LogicalTypeId::TimestampTZ => "TIMESTAMP WITH TIME ZONE",
        LogicalTypeId::Bignum => "BIGNUM",
        LogicalTypeId::SqlNull => "NULL",
        LogicalTypeId::TimeNs => "TIME_NS",
        LogicalTypeId::Geometry => "GEOMETRY",
        LogicalTypeId::Variant => "VARIANT",
        LogicalTypeId::Decimal => {
            return format!("DECIMAL({},{})", ty.decimal_width(), ty.decimal_scale());
        }
        // The driver does not expose an ARRAY's size: it prints as a LIST.
        LogicalTypeId::List | LogicalTypeId::Array => {
            return format!("{}[]", type_name(&ty.child(0)));
        }
        LogicalTypeId::Map => {
            return format!(
                "MAP({}, {})",
                type_name(&ty.child(0)),
                type_name(&ty.child(1))
            );
        }
        LogicalTypeId::Struct | LogicalTypeId::Union => {
            let fields = (0..ty.num_children())
                .map(|idx| {
                    format!(
                        "{} {}",
                        field_name(&ty.child_name(idx)),
                        type_name(&ty.child(idx))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let keyword = if id == LogicalTypeId::Struct {
                "STRUCT"
            } else {
                "UNION"
            };
            return format!("{keyword}({fields})");
        }
        _ => "UNKNOWN",
    };
    simple.to_owned()
}

/// A struct field name as DuckDB prints it: bare when it is a plain
/// lower-case identifier, double-quoted otherwise.
fn field_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        KIND.quote(name)
    }
}
