//! Loading rows that did not come from a model's SELECT: Arrow record batches
//! produced in sb (through DuckDB's appender) and CSV seed files (through
//! `read_csv`), each into a table that a failed load leaves as it was. Also
//! reading a CSV file into Arrow batches the way a seed load would, for other
//! warehouses.

use std::fmt::Write as _;
use std::path::Path;

use duckdb::arrow::record_batch::RecordBatch;

use super::errors::{duckdb_message, statement_error};
use super::session::Session;
use super::{DuckDbConnection, KIND, literal, plural_rows};
use crate::adapter::{AdapterError, BatchLoad, BuildOutcome, CsvLoad, RelationKind};

impl DuckDbConnection {
    /// A load of rows produced in sb: the table is created (or replaced,
    /// a view in the way dropped) unless appending, and `fill` adds the rows,
    /// all in one transaction so that a failure keeps the previous table.
    /// `fill` gets the rendered target and returns the rows it wrote.
    pub(super) fn load_rows(
        &self,
        load: &BatchLoad,
        fill: impl FnOnce(&mut Session<'_>, &str) -> Result<u64, AdapterError>,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&load.relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, &load.relation)?;
        let existing = self.known_kind(&load.relation)?;
        if load.append && existing != Some(RelationKind::Table) {
            return Err(AdapterError::new(format!(
                "cannot append to {target}: it does not exist as a table yet"
            )));
        }
        let rows = session.in_transaction(|session| {
            if !load.append {
                if existing == Some(RelationKind::View) {
                    session.run(format!("drop view {target}"))?;
                }
                session.run(format!(
                    "create or replace table {target} ({})",
                    column_definitions(&load.schema)
                ))?;
            }
            fill(session, &target)
        })?;
        self.remember(&load.relation, RelationKind::Table);
        let verb = if load.append { "APPEND" } else { "LOAD" };
        Ok(session.finish(Some(rows), format!("{verb} ({})", plural_rows(rows))))
    }

    pub(super) fn append_batches(
        &self,
        load: &BatchLoad,
        batches: &mut dyn Iterator<Item = RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError> {
        self.load_rows(load, |session, target| {
            let mut appender = match load.relation.database.as_deref() {
                Some(catalog) => session.conn.appender_to_catalog_and_db(
                    &load.relation.identifier,
                    catalog,
                    &load.relation.schema,
                ),
                None => session
                    .conn
                    .appender_to_db(&load.relation.identifier, &load.relation.schema),
            }
            .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            let mut rows = 0_u64;
            for batch in batches {
                rows += batch.num_rows() as u64;
                appender
                    .append_record_batch(batch)
                    .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            }
            appender
                .flush()
                .map_err(|err| AdapterError::new(duckdb_message(&err)))?;
            session.sent.push(format!(
                "-- appended {rows} rows to {target} (Arrow record batches)"
            ));
            Ok(rows)
        })
    }

    pub(super) fn load_csv_file(&self, load: &CsvLoad) -> Result<BuildOutcome, AdapterError> {
        let scan = format!(
            "select * from read_csv({}, {})",
            literal(&load.path.to_string_lossy()),
            csv_options(&load.column_types)
        );
        self.build_table(&load.relation, &scan, &[], &[], "LOAD CSV")
    }
}

impl DuckDbConnection {
    /// Reads a CSV file the way `load_csv` does (DuckDB's type inference;
    /// `types` forces some columns) into Arrow batches, for other
    /// warehouses' loads.
    pub fn read_csv_arrow(
        &self,
        path: &Path,
        types: &[(String, String)],
    ) -> Result<(duckdb::arrow::datatypes::SchemaRef, Vec<RecordBatch>), AdapterError> {
        let scan = format!(
            "select * from read_csv({}, {})",
            literal(&path.to_string_lossy()),
            csv_options(types)
        );
        let failed = |err: &duckdb::Error| statement_error(err, &scan, vec![scan.clone()]);
        let mut stmt = self.conn.prepare(&scan).map_err(|e| failed(&e))?;
        let arrow = stmt.query_arrow([]).map_err(|e| failed(&e))?;
        let schema = arrow.get_schema();
        Ok((schema, arrow.collect()))
    }
}

/// `read_csv`'s options for a seed: header, inference, forced types.
fn csv_options(types: &[(String, String)]) -> String {
    let mut options = String::from("header = true, auto_detect = true");
    if !types.is_empty() {
        let types = types
            .iter()
            .map(|(column, data_type)| format!("{}: {}", literal(column), literal(data_type)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(options, ", types = {{{types}}}");
    }
    options
}

/// `name TYPE, ...` for a table with an Arrow schema's columns.
fn column_definitions(schema: &duckdb::arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|field| {
            format!(
                "{} {}",
                KIND.quote(field.name()),
                arrow_type_sql(field.data_type())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// DuckDB's spelling of the Arrow types the synthesizer produces.
fn arrow_type_sql(data_type: &duckdb::arrow::datatypes::DataType) -> String {
    use duckdb::arrow::datatypes::DataType;
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|f| format!("{} {}", KIND.quote(f.name()), arrow_type_sql(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("{}[]", arrow_type_sql(item.data_type()))
        }
        _ => "VARCHAR".into(),
    }
}
