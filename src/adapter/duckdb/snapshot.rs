//! Building a snapshot in DuckDB: the first build creates the table from
//! the snapshot query with its meta columns; a later one reads the query
//! into a temporary table once, stages the changes against the snapshot
//! ([`crate::adapter::snapshot`]), adds any new column, and closes and
//! inserts versions in one transaction, so a failure leaves the snapshot as
//! it was.

use std::sync::atomic::Ordering;

use super::materialize::TEMP_COUNTER;
use super::{DuckDbConnection, KIND, catalog_filter, plural_rows};
use crate::adapter::snapshot::{
    SnapshotSpec, apply_statements, checked_columns, first_build_sql, staging_only_columns,
    staging_sql,
};
use crate::adapter::sql_text::strip_trailing;
use crate::adapter::{AdapterError, BuildOutcome, MaterializeRequest, RelationKind};

impl DuckDbConnection {
    pub(super) fn build_snapshot(
        &self,
        request: &MaterializeRequest,
        spec: &SnapshotSpec,
    ) -> Result<BuildOutcome, AdapterError> {
        let dialect = KIND.dialect();
        let existing = self.known_kind(&request.relation)?;
        if existing == Some(RelationKind::View) {
            return Err(AdapterError::new(format!(
                "{} is a view, but a snapshot builds a table; drop the view or give the snapshot another name",
                KIND.render_relation(&request.relation)
            )));
        }
        if existing.is_none() {
            let sql = first_build_sql(spec, strip_trailing(&request.sql), dialect);
            return self.build_table(
                &request.relation,
                &sql,
                &request.pre_hooks,
                &request.post_hooks,
                "SNAPSHOT",
            );
        }
        let target = KIND.render_relation(&request.relation);
        let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let source_name = format!("sb_snapshot_source_{}_{unique}", std::process::id());
        let staging_name = format!("sb_snapshot_staging_{}_{unique}", std::process::id());
        let source = format!("temp.main.{}", KIND.quote(&source_name));
        let staging = format!("temp.main.{}", KIND.quote(&staging_name));
        let mut session = self.session();
        self.run_hooks(&mut session, &request.pre_hooks)?;
        let built = (|| {
            session.run(format!(
                "create temp table {} as\n{}",
                KIND.quote(&source_name),
                strip_trailing(&request.sql)
            ))?;
            let temp = "database_name = 'temp' and schema_name = 'main'";
            let query_columns: Vec<String> = session
                .typed_columns(temp, &source_name)?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let target_columns: Vec<String> = session
                .typed_columns(
                    &catalog_filter(&request.relation),
                    &request.relation.identifier,
                )?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let has = |column: &str| {
                target_columns
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(column))
            };
            let (check_columns, column_added) = checked_columns(spec, &query_columns, has, dialect);
            let staged = staging_sql(
                spec,
                &format!("select * from {source}"),
                &target,
                &query_columns,
                &check_columns,
                column_added,
                dialect,
            );
            session.run(format!(
                "create temp table {} as\n{staged}",
                KIND.quote(&staging_name)
            ))?;
            let skip = staging_only_columns(spec);
            let staged_columns: Vec<(String, String)> = session
                .typed_columns(temp, &staging_name)?
                .into_iter()
                .filter(|(name, _)| !skip.iter().any(|s| s.eq_ignore_ascii_case(name)))
                .collect();
            let insert_columns: Vec<String> = staged_columns
                .iter()
                .map(|(name, _)| KIND.quote(name))
                .collect();
            let [close, insert] = apply_statements(spec, &target, &staging, &insert_columns);
            session.in_transaction(|session| {
                for (name, data_type) in &staged_columns {
                    if !has(name) {
                        session.run(format!(
                            "alter table {target} add column {} {data_type}",
                            KIND.quote(name)
                        ))?;
                    }
                }
                session.run(close)?;
                session.run(insert)
            })
        })();
        session.quiet(&format!("drop table if exists {staging}"));
        session.quiet(&format!("drop table if exists {source}"));
        let inserted = built?;
        self.forget_known();
        self.run_hooks(&mut session, &request.post_hooks)?;
        let message = match inserted {
            Some(n) => format!("SNAPSHOT ({} inserted)", plural_rows(n)),
            None => "SNAPSHOT".to_owned(),
        };
        Ok(session.finish(inserted, message))
    }
}
