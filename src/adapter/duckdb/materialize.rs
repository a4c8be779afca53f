//! Building a model's relation in DuckDB: views, tables and incremental
//! models, with their hooks, so that a failed build leaves the previous
//! relation in place and no temporary table behind.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::session::Session;
use super::{DuckDbConnection, KIND, plural_rows};
use crate::adapter::sql_text::strip_trailing;
use crate::adapter::{
    AdapterError, BuildOutcome, IncrementalStrategy, Materialization, MaterializeRequest,
    RelationKind, RelationRef,
};

/// Temporary-table names must be unique within a connection; a process-wide
/// counter also keeps them apart between connections in logs.
pub(super) static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DuckDbConnection {
    /// The build a request's materialization calls for.
    pub(super) fn build_relation(
        &self,
        request: &MaterializeRequest,
    ) -> Result<BuildOutcome, AdapterError> {
        match &request.materialization {
            Materialization::View => self.build_view(request),
            Materialization::Table => match &request.columns_ddl {
                Some(columns) => self.build_constrained_table(request, columns),
                None => self.build_table(
                    &request.relation,
                    &request.sql,
                    &request.pre_hooks,
                    &request.post_hooks,
                    "CREATE TABLE",
                ),
            },
            Materialization::Incremental {
                strategy,
                unique_key,
                full_refresh,
            } => {
                if *strategy == IncrementalStrategy::InsertOverwrite {
                    return Err(AdapterError::new(
                        "incremental_strategy `insert_overwrite` is only supported on BigQuery; \
                         use `merge`, `append` or `delete+insert` on DuckDB",
                    ));
                }
                let existing = self.known_kind(&request.relation)?;
                if *full_refresh || existing != Some(RelationKind::Table) {
                    self.build_table(
                        &request.relation,
                        &request.sql,
                        &request.pre_hooks,
                        &request.post_hooks,
                        "CREATE TABLE",
                    )
                } else {
                    self.build_incremental(request, *strategy, unique_key)
                }
            }
            Materialization::Snapshot(spec) => self.build_snapshot(request, spec),
        }
    }

    fn build_view(&self, request: &MaterializeRequest) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, &request.relation)?;
        self.run_hooks(&mut session, &request.pre_hooks)?;
        let create = format!(
            "create or replace view {target} as\n{}",
            strip_trailing(&request.sql)
        );
        // One statement is atomic on its own; replacing a table takes a
        // transaction so that a failed view keeps the table.
        if self.known_kind(&request.relation)? == Some(RelationKind::Table) {
            session.in_transaction(|session| {
                session.run(format!("drop table {target}"))?;
                session.run(create)
            })?;
        } else {
            session.run(create)?;
        }
        self.remember(&request.relation, RelationKind::View);
        self.run_hooks(&mut session, &request.post_hooks)?;
        Ok(session.finish(None, "CREATE VIEW".to_owned()))
    }

    /// Builds `select_sql` (a full SELECT, or a `read_csv` scan) into the
    /// table. `create or replace table ... as` is one atomic statement: when
    /// the query fails, DuckDB rolls it back and the previous table stays. A
    /// view in the way is dropped in the same transaction as the create.
    pub(super) fn build_table(
        &self,
        relation: &RelationRef,
        select_sql: &str,
        pre_hooks: &[String],
        post_hooks: &[String],
        verb: &str,
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, relation)?;
        self.run_hooks(&mut session, pre_hooks)?;
        let existing = self.known_kind(relation)?;
        let create = format!(
            "create {}table {target} as\n{}",
            if existing.is_some() {
                "or replace "
            } else {
                ""
            },
            strip_trailing(select_sql)
        );
        let created = if existing == Some(RelationKind::View) {
            session.in_transaction(|session| {
                session.run(format!("drop view {target}"))?;
                session.run(create)
            })?
        } else {
            session.run(create)?
        };
        self.remember(relation, RelationKind::Table);
        let rows = match created {
            Some(rows) => rows,
            None => session.count_rows(&target)?,
        };
        self.run_hooks(&mut session, post_hooks)?;
        Ok(session.finish(Some(rows), format!("{verb} ({})", plural_rows(rows))))
    }

    /// A table with an enforced contract: created from its column
    /// definitions (so DuckDB enforces their constraints), then filled, in
    /// one transaction, so a row that breaks a constraint leaves the
    /// previous table as it was.
    fn build_constrained_table(
        &self,
        request: &MaterializeRequest,
        columns: &str,
    ) -> Result<BuildOutcome, AdapterError> {
        let relation = &request.relation;
        let target = KIND.render_relation(relation);
        let mut session = self.session();
        self.ensure_schema(&mut session, relation)?;
        self.run_hooks(&mut session, &request.pre_hooks)?;
        let existing = self.known_kind(relation)?;
        let inserted = session.in_transaction(|session| {
            match existing {
                Some(RelationKind::View) => session.run(format!("drop view {target}"))?,
                Some(RelationKind::Table) => session.run(format!("drop table {target}"))?,
                None => None,
            };
            session.run(format!("create table {target} (\n    {columns}\n)"))?;
            session.run(format!(
                "insert into {target} by name\nselect * from (\n{}\n) as sb_contract",
                strip_trailing(&request.sql)
            ))
        })?;
        self.remember(relation, RelationKind::Table);
        let rows = match inserted {
            Some(rows) => rows,
            None => session.count_rows(&target)?,
        };
        self.run_hooks(&mut session, &request.post_hooks)?;
        Ok(session.finish(Some(rows), format!("CREATE TABLE ({})", plural_rows(rows))))
    }

    /// Runs hooks; they may create or drop anything, so the known relations
    /// are read again afterwards.
    pub(super) fn run_hooks(
        &self,
        session: &mut Session<'_>,
        hooks: &[String],
    ) -> Result<(), AdapterError> {
        if hooks.iter().all(|h| h.trim().is_empty()) {
            return Ok(());
        }
        let ran = session.run_hooks(hooks);
        self.forget_known();
        ran
    }

    fn build_incremental(
        &self,
        request: &MaterializeRequest,
        strategy: IncrementalStrategy,
        unique_key: &[String],
    ) -> Result<BuildOutcome, AdapterError> {
        let target = KIND.render_relation(&request.relation);
        let tmp_name = format!(
            "sb_incr_{}_{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Temporary tables live in the connection's private `temp` catalog,
        // so the unqualified name cannot collide with another worker's.
        let tmp = format!("temp.main.{}", KIND.quote(&tmp_name));
        let mut session = self.session();
        self.ensure_schema(&mut session, &request.relation)?;
        self.run_hooks(&mut session, &request.pre_hooks)?;

        session.run(format!(
            "create temp table {} as\n{}",
            KIND.quote(&tmp_name),
            strip_trailing(&request.sql)
        ))?;

        let applied = session.temp_columns(&tmp_name).and_then(|columns| {
            let key = unique_key.iter().map(|k| KIND.quote(k)).collect::<Vec<_>>();
            session.in_transaction(|session| match strategy {
                IncrementalStrategy::Merge if !key.is_empty() => {
                    let rows = session.run(merge_sql(&target, &tmp, &columns, &key))?;
                    Ok((rows, "MERGE"))
                }
                IncrementalStrategy::DeleteInsert if !key.is_empty() => {
                    let matches = key
                        .iter()
                        .map(|k| format!("\"sb_src\".{k} = \"sb_dst\".{k}"))
                        .collect::<Vec<_>>()
                        .join(" and ");
                    session.run(format!(
                        "delete from {target} as \"sb_dst\" where exists (select 1 from {tmp} as \"sb_src\" where {matches})"
                    ))?;
                    let rows =
                        session.run(format!("insert into {target} by name select * from {tmp}"))?;
                    Ok((rows, "DELETE+INSERT"))
                }
                _ => {
                    // `append`, and a merge or delete+insert without a key
                    // (nothing can match, so every row is new).
                    let rows =
                        session.run(format!("insert into {target} by name select * from {tmp}"))?;
                    Ok((rows, "INSERT"))
                }
            })
        });

        let (rows, verb) = match applied {
            Ok(done) => done,
            Err(err) => {
                session.quiet(&format!("drop table if exists {tmp}"));
                return Err(err);
            }
        };
        session.run(format!("drop table if exists {tmp}"))?;
        self.run_hooks(&mut session, &request.post_hooks)?;
        let message = match rows {
            Some(n) => format!("{verb} ({})", plural_rows(n)),
            None => verb.to_owned(),
        };
        Ok(session.finish(rows, message))
    }
}

fn merge_sql(target: &str, tmp: &str, columns: &[String], key: &[String]) -> String {
    let on = key
        .iter()
        .map(|k| format!("\"sb_dst\".{k} = \"sb_src\".{k}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let updates = columns
        .iter()
        .filter(|c| !key.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .map(|c| format!("{c} = \"sb_src\".{c}"))
        .collect::<Vec<_>>();
    let mut sql =
        format!("merge into {target} as \"sb_dst\"\nusing {tmp} as \"sb_src\"\non ({on})");
    if !updates.is_empty() {
        let _ = write!(sql, "\nwhen matched then update set {}", updates.join(", "));
    }
    let values = columns
        .iter()
        .map(|c| format!("\"sb_src\".{c}"))
        .collect::<Vec<_>>();
    let _ = write!(
        sql,
        "\nwhen not matched then insert ({}) values ({})",
        columns.join(", "),
        values.join(", ")
    );
    sql
}
