//! Building a snapshot on BigQuery: the first build creates the table from
//! the snapshot query with its meta columns; a later one stages the changes
//! against the snapshot ([`crate::adapter::snapshot`]) inside one MERGE,
//! after adding any column the query has and the snapshot lacks. The MERGE
//! is a single atomic job, so a failure leaves the snapshot as it was, and
//! no staging table is left behind by a killed run.

use serde_json::Value;

use super::sql::{self, TableOptions};
use super::{BigQueryConnection, KIND, Sent, number, plural_rows};
use crate::adapter::snapshot::{
    SnapshotSpec, checked_columns, first_build_sql, merge_statement, snapshot_columns, staging_sql,
};
use crate::adapter::sql_text::strip_trailing;
use crate::adapter::{AdapterError, BuildOutcome, MaterializeRequest, RelationKind};

impl BigQueryConnection {
    pub(super) fn build_snapshot(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
        spec: &SnapshotSpec,
        options: &TableOptions,
    ) -> Result<BuildOutcome, AdapterError> {
        let dialect = KIND.dialect();
        let target = KIND.render_relation(&request.relation);
        let existing = self.table(&request.relation)?;
        let Some(existing) = existing else {
            let first = MaterializeRequest {
                sql: first_build_sql(spec, strip_trailing(&request.sql), dialect),
                ..request.clone()
            };
            let mut outcome = self.build_table(sent, &first, options)?;
            outcome.message = outcome.message.replacen("CREATE TABLE", "SNAPSHOT", 1);
            return Ok(outcome);
        };
        if super::kind_of_resource(&existing) == RelationKind::View {
            return Err(AdapterError::new(format!(
                "{target} is a view, but a snapshot builds a table; drop the view or give the snapshot another name"
            )));
        }
        let target_columns = fields(&existing);
        let query_columns = self.query_schema(sent, strip_trailing(&request.sql))?;
        let has = |column: &str| {
            target_columns
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(column))
        };
        let names: Vec<String> = query_columns.iter().map(|(name, _)| name.clone()).collect();
        let (check_columns, column_added) = checked_columns(spec, &names, has, dialect);
        for (name, data_type) in &query_columns {
            if !has(name) {
                self.run(
                    sent,
                    format!(
                        "alter table {target} add column {} {data_type}",
                        KIND.quote(name)
                    ),
                )?;
            }
        }
        let is_deleted = &spec.columns.is_deleted;
        let inserted = snapshot_columns(spec, &names);
        if inserted.contains(is_deleted) && !has(is_deleted) {
            self.run(
                sent,
                format!(
                    "alter table {target} add column {} STRING",
                    KIND.quote(is_deleted)
                ),
            )?;
        }
        let staged = staging_sql(
            spec,
            strip_trailing(&request.sql),
            &target,
            &names,
            &check_columns,
            column_added,
            dialect,
        );
        let quoted: Vec<String> = inserted.iter().map(|c| KIND.quote(c)).collect();
        let job = self.run(sent, merge_statement(spec, &target, &staged, &quoted))?;
        let rows = number(job.pointer("/statistics/query/dmlStats/insertedRowCount"))
            .map(|n| (n, "inserted"))
            .or_else(|| {
                number(job.pointer("/statistics/query/numDmlAffectedRows")).map(|n| (n, "changed"))
            });
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: rows.map(|(n, _)| n),
            message: match rows {
                Some((n, what)) => format!("SNAPSHOT ({} {what})", plural_rows(n)),
                None => "SNAPSHOT".to_owned(),
            },
        })
    }

    /// The columns (name, standard SQL type) `select` returns: from a dry
    /// run, which scans nothing, or where the endpoint's dry run reports no
    /// schema (the emulator), from the same query with `limit 0`.
    fn query_schema(
        &self,
        sent: &mut Sent,
        select: &str,
    ) -> Result<Vec<(String, String)>, AdapterError> {
        let configuration = self.query_configuration(select, true);
        let job = self.block(self.api().query_job("a dry run", &configuration));
        sent.0.push(format!("-- dry run\n{select}"));
        let job = job.map_err(|error| Self::statement_error(&error, sent))?;
        if let Some(schema) = job.pointer("/statistics/query/schema") {
            return Ok(fields(&serde_json::json!({ "schema": schema })));
        }
        let probe = format!("select * from (\n{select}\n) limit 0");
        let (columns, _) = self.run_and_read(sent, probe, Some(0))?;
        Ok(named_types(&columns))
    }
}

/// A table resource's top-level columns: name and standard SQL type.
fn fields(table: &Value) -> Vec<(String, String)> {
    table
        .pointer("/schema/fields")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |list| named_types(list))
}

/// Schema fields as (name, standard SQL type).
fn named_types(fields: &[Value]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|field| {
            let name = field
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (name.to_owned(), sql::standard_type(field))
        })
        .collect()
}
