//! Loading rows that did not come from a model's SELECT: Arrow record batches
//! produced in sb (through DuckDB's appender) and CSV seed files (through
//! `read_csv`, with the column types dbt would give them: see
//! [`crate::adapter::csv_types`]), each into a table that a failed load
//! leaves as it was. Also reading a CSV file into Arrow batches the way a
//! seed load would, for other warehouses.

use std::fmt::Write as _;
use std::path::Path;

use duckdb::arrow::record_batch::RecordBatch;

use super::errors::{duckdb_message, statement_error};
use super::session::Session;
use super::{DuckDbConnection, KIND, literal, plural_rows};
use crate::adapter::csv_types::infer_file;
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
        let scan = csv_scan(&load.path, &load.column_types, load.delimiter)?;
        self.build_table(&load.relation, &scan, &[], &[], "LOAD CSV")
    }
}

impl DuckDbConnection {
    /// Reads a CSV file the way `load_csv` does (dbt's type inference;
    /// `types` forces some columns) into Arrow batches, for other
    /// warehouses' loads.
    pub fn read_csv_arrow(
        &self,
        path: &Path,
        types: &[(String, String)],
        delimiter: u8,
    ) -> Result<(duckdb::arrow::datatypes::SchemaRef, Vec<RecordBatch>), AdapterError> {
        let scan = csv_scan(path, types, delimiter)?;
        let failed = |err: &duckdb::Error| statement_error(err, &scan, vec![scan.clone()]);
        let mut stmt = self.conn.prepare(&scan).map_err(|e| failed(&e))?;
        let arrow = stmt.query_arrow([]).map_err(|e| failed(&e))?;
        let schema = arrow.get_schema();
        Ok((schema, arrow.collect()))
    }
}

/// The SELECT that reads a seed file: every column typed as dbt infers it,
/// unless `overrides` (matched without regard to case) names its type. The
/// values are DuckDB's to parse, with the quoting it detects, as in the
/// `COPY ... (FORMAT CSV, HEADER TRUE, DELIMITER ...)` dbt-duckdb runs into
/// its declared table (a file quoting with `'` reads `''` as null there
/// too). An override naming no column is ignored, as dbt ignores it.
fn csv_scan(
    path: &Path,
    overrides: &[(String, String)],
    delimiter: u8,
) -> Result<String, AdapterError> {
    let inferred = infer_file(path, delimiter).map_err(AdapterError::new)?;
    let types = inferred
        .columns
        .iter()
        .map(|(name, inferred_type)| {
            let data_type = overrides
                .iter()
                .find(|(column, _)| column.eq_ignore_ascii_case(name))
                .map_or(inferred_type.duckdb(), |(_, data_type)| data_type.as_str());
            format!("{}: {}", literal(name), literal(data_type))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut scan = format!(
        "select * from read_csv({}, header = true, auto_detect = true, ",
        literal(&path.to_string_lossy())
    );
    let _ = write!(
        scan,
        "delim = {}, types = {{{types}}})",
        literal(&char::from(delimiter).to_string())
    );
    Ok(scan)
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
