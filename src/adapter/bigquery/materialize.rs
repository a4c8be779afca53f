//! Builds on BigQuery: views, tables and incremental models, each a single
//! atomic statement, with a dry run first whenever something must be
//! dropped, so a failed model leaves its previous relation.

use serde_json::Value;

use super::sql::{self, TableOptions};
use super::{BigQueryConnection, KIND, Sent, number, plural_rows};
use crate::adapter::sql_text;
use crate::adapter::{
    AdapterError, BuildOutcome, IncrementalStrategy, MaterializeRequest, RelationKind, RelationRef,
};

impl BigQueryConnection {
    /// Drops a view or table by DDL (`drop view` / `drop table`), which
    /// says which kind it expects.
    pub(super) fn drop_relation(
        &self,
        relation: &RelationRef,
        kind: RelationKind,
        sent: &mut Sent,
    ) -> Result<(), AdapterError> {
        let what = match kind {
            RelationKind::View => "view",
            RelationKind::Table => "table",
        };
        self.run(
            sent,
            format!("drop {what} if exists {}", KIND.render_relation(relation)),
        )
        .map(|_| ())
    }

    /// Asks for a dry run of a SELECT: fails the same way the real query
    /// would, before anything is dropped.
    fn validate(&self, sent: &mut Sent, select: &str) -> Result<(), AdapterError> {
        let configuration = self.query_configuration(select, true);
        let job = self.block(self.api().query_job("a dry run", &configuration));
        sent.0.push(format!("-- dry run\n{select}"));
        job.map(|_| ())
            .map_err(|error| Self::statement_error(&error, sent))
    }

    pub(super) fn run_hooks(&self, sent: &mut Sent, hooks: &[String]) -> Result<(), AdapterError> {
        for hook in hooks.iter().filter(|h| !sql_text::only_comments(h)) {
            self.run(sent, hook.clone())?;
        }
        Ok(())
    }

    pub(super) fn build_view(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        if self.kind_of(&request.relation)? == Some(RelationKind::Table) {
            // `create or replace view` cannot replace a table: drop it only
            // once the view's query is known to work.
            self.validate(sent, sql_text::strip_trailing(&request.sql))?;
            self.drop_relation(&request.relation, RelationKind::Table, sent)?;
        }
        self.run(sent, sql::create_view(&target, &request.sql))?;
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: None,
            message: "CREATE VIEW".to_owned(),
        })
    }

    pub(super) fn build_table(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
        options: &TableOptions,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        if self.kind_of(&request.relation)? == Some(RelationKind::View) {
            self.validate(sent, sql_text::strip_trailing(&request.sql))?;
            self.drop_relation(&request.relation, RelationKind::View, sent)?;
        }
        let options = TableOptions {
            columns: request.columns_ddl.clone(),
            ..options.clone()
        };
        let create = sql::create_table(&target, &request.sql, &options);
        match self.run(sent, create.clone()) {
            Ok(_) => {}
            Err(error) if sql::must_drop_to_replace(&error.message) => {
                // BigQuery cannot change a table's partitioning or clustering
                // in place: the table is dropped once the new query is known
                // to work, then created again.
                self.validate(sent, sql_text::strip_trailing(&request.sql))?;
                self.drop_relation(&request.relation, RelationKind::Table, sent)?;
                self.run(sent, create)?;
            }
            Err(error) => return Err(error),
        }
        let rows = self
            .table(&request.relation)?
            .and_then(|t| number(t.get("numRows")));
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: rows,
            message: match rows {
                Some(n) => format!("CREATE TABLE ({})", plural_rows(n)),
                None => "CREATE TABLE".to_owned(),
            },
        })
    }

    pub(super) fn build_incremental(
        &self,
        sent: &mut Sent,
        request: &MaterializeRequest,
        strategy: IncrementalStrategy,
        unique_key: &[String],
        options: &TableOptions,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let columns: Vec<String> = self
            .table(&request.relation)?
            .and_then(|t| {
                t.pointer("/schema/fields")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let (statement, verb) = match strategy {
            IncrementalStrategy::Merge if !unique_key.is_empty() => (
                sql::merge(&target, &request.sql, &columns, unique_key),
                "MERGE",
            ),
            IncrementalStrategy::DeleteInsert if !unique_key.is_empty() => (
                sql::delete_insert(&target, &request.sql, &columns, unique_key),
                "DELETE+INSERT",
            ),
            IncrementalStrategy::InsertOverwrite => {
                let Some(partition) = &options.partition_by else {
                    return Err(AdapterError::new(
                        "incremental_strategy `insert_overwrite` needs `partition_by`: it replaces the partitions the new rows fall in",
                    ));
                };
                (
                    sql::insert_overwrite(&target, &request.sql, &columns, partition),
                    "INSERT OVERWRITE",
                )
            }
            _ => (sql::append(&target, &request.sql, &columns), "INSERT"),
        };
        let job = self.run(sent, statement)?;
        let rows = number(job.pointer("/statistics/query/numDmlAffectedRows"));
        Ok(BuildOutcome {
            statements: std::mem::take(&mut sent.0),
            rows_affected: rows,
            message: match rows {
                Some(n) => format!("{verb} ({})", plural_rows(n)),
                None => verb.to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Map, json};

    use super::super::rest::stand_in::fake_server;
    use super::super::settings::tests::fields;
    use super::super::settings::{Overrides, TargetConfig};
    use super::super::{BigQueryAdapter, Connection};
    use super::*;
    use crate::adapter::Materialization;
    use crate::interrupt::Interrupt;

    #[test]
    fn a_table_whose_partitioning_changes_is_dropped_and_created_again() {
        let dropped = std::sync::atomic::AtomicBool::new(false);
        let (url, seen) = fake_server(move |method, path, body| {
            let sql = body
                .pointer("/configuration/query/query")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut job =
                json!({"jobReference": body["jobReference"], "status": {"state": "DONE"}});
            match method {
                "GET" if path.contains("/tables/") => (
                    200,
                    json!({
                        "tableReference": {"projectId": "acme", "datasetId": "analytics", "tableId": "t"},
                        "schema": {"fields": [{"name": "day", "type": "DATE"}]},
                        "type": "TABLE",
                        "numRows": "3",
                    }),
                ),
                "GET" => (
                    200,
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "analytics"}}),
                ),
                _ if sql.contains("drop table") => {
                    dropped.store(true, std::sync::atomic::Ordering::SeqCst);
                    (200, job)
                }
                _ if sql.contains("create or replace table")
                    && !dropped.load(std::sync::atomic::Ordering::SeqCst) =>
                {
                    job["status"]["errorResult"] = json!({"reason": "invalidQuery", "message": "Cannot replace a table with a different partitioning spec. Instead, DROP the table, and then recreate it."});
                    (200, job)
                }
                _ => (200, job),
            }
        });
        let target = fields(&json!({"project": "acme", "dataset": "analytics"}));
        let overrides = Overrides {
            api_url: Some(url),
            ..Overrides::default()
        };
        let config = TargetConfig::from_fields(&target, &overrides).expect("settings");
        let adapter =
            BigQueryAdapter::open(config, "inv", Arc::new(|_: &str| {}), &Interrupt::new())
                .expect("adapter");
        let mut connection = adapter.connect_bigquery();
        let mut config = Map::new();
        config.insert(
            "partition_by".into(),
            json!({"field": "day", "data_type": "date"}),
        );
        let outcome = connection
            .materialize(&MaterializeRequest {
                relation: RelationRef {
                    database: None,
                    schema: "analytics".into(),
                    identifier: "t".into(),
                },
                sql: "select current_date() as day".into(),
                materialization: Materialization::Table,
                pre_hooks: Vec::new(),
                post_hooks: Vec::new(),
                config,
                columns_ddl: None,
            })
            .expect("rebuilt");
        let creates = outcome
            .statements
            .iter()
            .filter(|s| s.starts_with("create or replace table"))
            .count();
        assert_eq!(creates, 2, "{:?}", outcome.statements);
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s.starts_with("-- dry run"))
        );
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s == "drop table if exists `analytics`.`t`"),
            "{:?}",
            outcome.statements
        );
        assert_eq!(outcome.message, "CREATE TABLE (3 rows)");
        assert!(seen.lock().expect("log").len() >= 5);
    }
}
