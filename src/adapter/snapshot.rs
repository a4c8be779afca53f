//! The SQL of dbt's snapshots (type-2 slowly changing dimensions), written
//! once for every warehouse through its [`Dialect`]: the first build, which
//! adds the four meta columns to the snapshot query's rows, and the staging
//! query of a later build, which finds the rows to insert (new or changed),
//! the rows to close (changed) and the rows deleted from the source (closed,
//! or recorded as deleted), followed by the statements that apply it.
//!
//! The columns and their values are dbt's: `dbt_scd_id` is the md5 of the
//! unique key and the row's `updated_at` joined by `|`; `dbt_updated_at` and
//! `dbt_valid_from` are the row's `updated_at` (the snapshot's time for the
//! check strategy); `dbt_valid_to` is null (or `dbt_valid_to_current`) for the
//! current version of a row.

use std::fmt::Write as _;

use super::dialect::Dialect;

/// How a snapshot sees that a row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// A row changed when its `updated_at` is later than the snapshotted one.
    Timestamp { updated_at: String },
    /// A row changed when one of the checked columns differs; its time is
    /// `updated_at` when given, else the snapshot's time.
    Check {
        columns: CheckColumns,
        updated_at: Option<String>,
    },
}

/// `check_cols`: `all`, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckColumns {
    All,
    List(Vec<String>),
}

/// What a snapshot does with a row deleted from its source (`hard_deletes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardDeletes {
    /// The row stays current.
    Ignore,
    /// The row's current version is closed at the snapshot's time.
    Invalidate,
    /// The current version is closed and a version marked
    /// `dbt_is_deleted = 'True'` is added.
    NewRecord,
}

/// The names of the snapshot's meta columns (`snapshot_meta_column_names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaColumns {
    pub scd_id: String,
    pub updated_at: String,
    pub valid_from: String,
    pub valid_to: String,
    pub is_deleted: String,
}

impl Default for MetaColumns {
    fn default() -> Self {
        Self {
            scd_id: "dbt_scd_id".into(),
            updated_at: "dbt_updated_at".into(),
            valid_from: "dbt_valid_from".into(),
            valid_to: "dbt_valid_to".into(),
            is_deleted: "dbt_is_deleted".into(),
        }
    }
}

/// Everything about one snapshot that its SQL depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSpec {
    pub strategy: Strategy,
    /// The unique key: one expression, or several (a list in the config).
    pub unique_key: Vec<String>,
    pub hard_deletes: HardDeletes,
    /// `dbt_valid_to_current`: the `dbt_valid_to` of current rows instead
    /// of null (an SQL expression, e.g. `'9999-12-31'::timestamp`).
    pub valid_to_current: Option<String>,
    pub columns: MetaColumns,
}

/// The columns of the staging table that are not the snapshot's own.
pub fn staging_only_columns(spec: &SnapshotSpec) -> Vec<String> {
    let mut out = vec!["dbt_change_type".to_string()];
    out.extend(key_aliases(spec));
    out
}

fn key_aliases(spec: &SnapshotSpec) -> Vec<String> {
    if spec.unique_key.len() == 1 {
        vec!["dbt_unique_key".to_string()]
    } else {
        (1..=spec.unique_key.len())
            .map(|i| format!("dbt_unique_key_{i}"))
            .collect()
    }
}

fn key_fields(spec: &SnapshotSpec) -> String {
    spec.unique_key
        .iter()
        .zip(key_aliases(spec))
        .map(|(key, alias)| format!("{key} as {alias}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_join(spec: &SnapshotSpec, left: &str, right: &str) -> String {
    key_aliases(spec)
        .iter()
        .map(|alias| format!("{left}.{alias} = {right}.{alias}"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn first_key(spec: &SnapshotSpec) -> String {
    key_aliases(spec).remove(0)
}

/// The expression a row's versions are timed by.
fn updated_at(spec: &SnapshotSpec, dialect: &dyn Dialect) -> String {
    match &spec.strategy {
        Strategy::Timestamp { updated_at } => updated_at.clone(),
        Strategy::Check { updated_at, .. } => updated_at
            .clone()
            .unwrap_or_else(|| dialect.snapshot_time()),
    }
}

fn scd_id(spec: &SnapshotSpec, dialect: &dyn Dialect) -> String {
    let mut parts: Vec<String> = spec.unique_key.clone();
    parts.push(updated_at(spec, dialect));
    dialect.hash_parts(&parts)
}

/// `dbt_valid_to` of a current row: null of the timestamp's type, or
/// `dbt_valid_to_current`.
fn current_valid_to(spec: &SnapshotSpec, dialect: &dyn Dialect) -> String {
    let time = updated_at(spec, dialect);
    let current = spec.valid_to_current.as_deref().unwrap_or("null");
    format!(
        "coalesce(nullif({time}, {time}), {current}) as {}",
        spec.columns.valid_to
    )
}

/// The first build: the snapshot query's rows with the meta columns.
pub fn first_build_sql(spec: &SnapshotSpec, sql: &str, dialect: &dyn Dialect) -> String {
    let c = &spec.columns;
    let time = updated_at(spec, dialect);
    let mut out = format!(
        "select *,\n    {} as {},\n    {time} as {},\n    {time} as {},\n    {}",
        scd_id(spec, dialect),
        c.scd_id,
        c.updated_at,
        c.valid_from,
        current_valid_to(spec, dialect)
    );
    if spec.hard_deletes == HardDeletes::NewRecord {
        let _ = write!(out, ",\n    'False' as {}", c.is_deleted);
    }
    let _ = write!(out, "\nfrom (\n{sql}\n) as sbq");
    out
}

/// Whether a source row differs from its current version: the timestamp
/// moved on, or a checked column changed (`check_cols`, already resolved to
/// column names; `column_added` when the query has a column the snapshot
/// lacks, which counts as a change of every row).
fn row_changed(spec: &SnapshotSpec, check_columns: &[String], column_added: bool) -> String {
    let c = &spec.columns;
    let changed = match &spec.strategy {
        Strategy::Timestamp { updated_at } => {
            format!(
                "(snapshotted_data.{} < source_data.{updated_at})",
                c.valid_from
            )
        }
        Strategy::Check { .. } if column_added => "(true)".to_string(),
        Strategy::Check { .. } => {
            let tests: Vec<String> = check_columns
                .iter()
                .map(|col| {
                    format!(
                        "snapshotted_data.{col} != source_data.{col} or \
                         (snapshotted_data.{col} is null) != (source_data.{col} is null)"
                    )
                })
                .collect();
            if tests.is_empty() {
                "(false)".to_string()
            } else {
                format!("({})", tests.join(" or "))
            }
        }
    };
    if spec.hard_deletes == HardDeletes::NewRecord {
        format!("({changed} or snapshotted_data.{} = 'True')", c.is_deleted)
    } else {
        changed
    }
}

/// The current versions in the snapshot table.
fn current_condition(spec: &SnapshotSpec, alias: &str) -> String {
    let valid_to = format!("{alias}.{}", spec.columns.valid_to);
    match &spec.valid_to_current {
        Some(current) => format!("({valid_to} = {current} or {valid_to} is null)"),
        None => format!("{valid_to} is null"),
    }
}

/// The checked columns of a later build, as [`staging_sql`] takes them: for
/// the check strategy the `check_cols` (every query column for `all`) the
/// snapshot table already has (`has`), quoted, and whether one of them is
/// new to it, which counts as a change of every row; none for the
/// timestamp strategy.
pub fn checked_columns(
    spec: &SnapshotSpec,
    query_columns: &[String],
    has: impl Fn(&str) -> bool,
    dialect: &dyn Dialect,
) -> (Vec<String>, bool) {
    let Strategy::Check { columns, .. } = &spec.strategy else {
        return (Vec::new(), false);
    };
    let checked = match columns {
        CheckColumns::All => query_columns,
        CheckColumns::List(listed) => listed.as_slice(),
    };
    let added = checked.iter().any(|c| !has(c));
    let present = checked
        .iter()
        .filter(|c| has(c))
        .map(|c| dialect.quote(c))
        .collect();
    (present, added)
}

/// The staging query of a later build: every row to insert, every current
/// version to close, as `dbt_change_type` `insert`, `update` or `delete`.
/// `source_columns` are the snapshot query's columns (for `new_record`
/// deletions), `check_columns` the checked ones.
pub fn staging_sql(
    spec: &SnapshotSpec,
    sql: &str,
    target: &str,
    source_columns: &[String],
    check_columns: &[String],
    column_added: bool,
    dialect: &dyn Dialect,
) -> String {
    let c = &spec.columns;
    let time = updated_at(spec, dialect);
    let now = dialect.snapshot_time();
    let keys = key_fields(spec);
    let join = key_join(spec, "snapshotted_data", "source_data");
    let first = first_key(spec);
    let changed = row_changed(spec, check_columns, column_added);
    let tracks_deletes = spec.hard_deletes != HardDeletes::Ignore;
    let new_record = spec.hard_deletes == HardDeletes::NewRecord;
    let is_deleted = |alias: &str| {
        if new_record {
            format!(", {alias}.{}", c.is_deleted)
        } else {
            String::new()
        }
    };
    let mut out = format!(
        "with snapshot_query as (\n{sql}\n),\n\
         snapshotted_data as (\n    select *, {keys}\n    from {target}\n    where {current}\n),\n\
         insertions_source_data as (\n    select *, {keys},\n        {time} as {updated},\n        {time} as {from},\n        {valid_to},\n        {scd} as {scd_name}\n    from snapshot_query\n),\n\
         updates_source_data as (\n    select *, {keys},\n        {time} as {updated},\n        {time} as {from},\n        {time} as {to}\n    from snapshot_query\n),\n",
        current = current_condition(spec, target),
        updated = c.updated_at,
        from = c.valid_from,
        to = c.valid_to,
        valid_to = current_valid_to(spec, dialect),
        scd = scd_id(spec, dialect),
        scd_name = c.scd_id,
    );
    if tracks_deletes {
        let _ = write!(
            out,
            "deletes_source_data as (\n    select *, {keys}\n    from snapshot_query\n),\n"
        );
    }
    let _ = write!(
        out,
        "insertions as (\n    select 'insert' as dbt_change_type, source_data.*{flag}\n    from insertions_source_data as source_data\n    left outer join snapshotted_data on {join}\n    where snapshotted_data.{first} is null\n       or (snapshotted_data.{first} is not null and {changed})\n),\n\
         updates as (\n    select 'update' as dbt_change_type, source_data.*, snapshotted_data.{scd_name}{deleted}\n    from updates_source_data as source_data\n    join snapshotted_data on {join}\n    where {changed}\n)",
        flag = if new_record {
            format!(", 'False' as {}", c.is_deleted)
        } else {
            String::new()
        },
        scd_name = c.scd_id,
        deleted = is_deleted("snapshotted_data"),
    );
    // A deleted row that is already recorded as deleted stays as it is.
    let not_already_deleted = if new_record {
        format!(
            "\n      and not (snapshotted_data.{} = 'True' and {})",
            c.is_deleted,
            current_condition(spec, "snapshotted_data")
        )
    } else {
        String::new()
    };
    if tracks_deletes {
        let _ = write!(
            out,
            ",\ndeletes as (\n    select 'delete' as dbt_change_type, source_data.*,\n        {now} as {from},\n        {now} as {updated},\n        {now} as {to},\n        snapshotted_data.{scd_name}{deleted}\n    from snapshotted_data\n    left join deletes_source_data as source_data on {join}\n    where source_data.{first} is null{not_already_deleted}\n)",
            from = c.valid_from,
            updated = c.updated_at,
            to = c.valid_to,
            scd_name = c.scd_id,
            deleted = is_deleted("snapshotted_data"),
        );
    }
    if new_record {
        let copied: Vec<String> = source_columns
            .iter()
            .map(|col| format!("snapshotted_data.{}", dialect.quote(col)))
            .collect();
        let keys_copied: Vec<String> = key_aliases(spec)
            .iter()
            .map(|alias| format!("snapshotted_data.{alias} as {alias}"))
            .collect();
        let _ = write!(
            out,
            ",\ndeletion_records as (\n    select 'insert' as dbt_change_type, {copied}, {keys_copied},\n        {now} as {from},\n        {now} as {updated},\n        snapshotted_data.{to} as {to},\n        {new_id} as {scd_name},\n        'True' as {is_deleted}\n    from snapshotted_data\n    left join deletes_source_data as source_data on {join}\n    where source_data.{first} is null{not_already_deleted}\n)",
            copied = copied.join(", "),
            keys_copied = keys_copied.join(", "),
            from = c.valid_from,
            updated = c.updated_at,
            to = c.valid_to,
            new_id = dialect.hash_parts(&[format!("snapshotted_data.{}", c.scd_id), now.clone()]),
            scd_name = c.scd_id,
            is_deleted = c.is_deleted,
        );
    }
    out.push_str("\nselect * from insertions\nunion all\nselect * from updates");
    if tracks_deletes {
        out.push_str("\nunion all\nselect * from deletes");
    }
    if new_record {
        out.push_str("\nunion all\nselect * from deletion_records");
    }
    out
}

/// The statements that apply a staging table to the snapshot: close the
/// versions staged as `update` or `delete`, then insert the `insert` rows
/// (`insert_columns`, quoted).
pub fn apply_statements(
    spec: &SnapshotSpec,
    target: &str,
    staging: &str,
    insert_columns: &[String],
) -> [String; 2] {
    let c = &spec.columns;
    let close = format!(
        "update {target} as sb_target\nset {to} = sb_staging.{to}\nfrom {staging} as sb_staging\n\
         where sb_staging.{scd} = sb_target.{scd}\n  and sb_staging.dbt_change_type in ('update', 'delete')\n  and {current}",
        to = c.valid_to,
        scd = c.scd_id,
        current = current_condition(spec, "sb_target"),
    );
    let columns = insert_columns.join(", ");
    let values: Vec<String> = insert_columns
        .iter()
        .map(|col| format!("sb_staging.{col}"))
        .collect();
    let insert = format!(
        "insert into {target} ({columns})\nselect {}\nfrom {staging} as sb_staging\nwhere sb_staging.dbt_change_type = 'insert'",
        values.join(", ")
    );
    [close, insert]
}

/// The snapshot's columns a later build inserts: the snapshot query's, then
/// the meta columns (unquoted names; the staging query's order).
pub fn snapshot_columns(spec: &SnapshotSpec, query_columns: &[String]) -> Vec<String> {
    let c = &spec.columns;
    let mut out = query_columns.to_vec();
    out.extend([
        c.updated_at.clone(),
        c.valid_from.clone(),
        c.valid_to.clone(),
        c.scd_id.clone(),
    ]);
    if spec.hard_deletes == HardDeletes::NewRecord {
        out.push(c.is_deleted.clone());
    }
    out
}

/// The staging query applied in one statement, for a warehouse that has
/// MERGE but no multi-statement transactions (BigQuery): a version staged
/// as `update` or `delete` is closed, one staged as `insert` is added
/// (`insert_columns`, quoted). Only closing rows join on `dbt_scd_id`: a
/// new version can have the id of the one it replaces (check strategy,
/// `updated_at` unchanged), and is added all the same, as dbt-duckdb does.
pub fn merge_statement(
    spec: &SnapshotSpec,
    target: &str,
    staged: &str,
    insert_columns: &[String],
) -> String {
    let c = &spec.columns;
    let columns = insert_columns.join(", ");
    let values: Vec<String> = insert_columns
        .iter()
        .map(|col| format!("sb_staging.{col}"))
        .collect();
    format!(
        "merge into {target} as sb_target\nusing (\n{staged}\n) as sb_staging\n\
         on sb_staging.{scd} = sb_target.{scd}\n  and sb_staging.dbt_change_type in ('update', 'delete')\n\
         when matched and {current}\n  then update set {to} = sb_staging.{to}\n\
         when not matched and sb_staging.dbt_change_type = 'insert'\n  \
         then insert ({columns})\n  values ({values})",
        scd = c.scd_id,
        to = c.valid_to,
        current = current_condition(spec, "sb_target"),
        values = values.join(", "),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adapter::AdapterKind;

    fn spec(strategy: Strategy, hard_deletes: HardDeletes) -> SnapshotSpec {
        SnapshotSpec {
            strategy,
            unique_key: vec!["id".into()],
            hard_deletes,
            valid_to_current: None,
            columns: MetaColumns::default(),
        }
    }

    #[test]
    fn the_first_build_adds_the_meta_columns_with_dbts_values() {
        let sql = first_build_sql(
            &spec(
                Strategy::Timestamp {
                    updated_at: "updated_at".into(),
                },
                HardDeletes::Ignore,
            ),
            "select * from orders",
            AdapterKind::Duckdb.dialect(),
        );
        assert!(sql.contains(
            "md5(coalesce(cast(id as varchar), '') || '|' || coalesce(cast(updated_at as varchar), '')) as dbt_scd_id"
        ));
        assert!(sql.contains("updated_at as dbt_valid_from"));
        assert!(sql.contains("coalesce(nullif(updated_at, updated_at), null) as dbt_valid_to"));
        assert!(!sql.contains("dbt_is_deleted"));
    }

    #[test]
    fn the_check_strategy_times_versions_by_the_snapshot_and_compares_columns() {
        let check = spec(
            Strategy::Check {
                columns: CheckColumns::List(vec!["status".into()]),
                updated_at: None,
            },
            HardDeletes::Invalidate,
        );
        let dialect = AdapterKind::Duckdb.dialect();
        let sql = staging_sql(
            &check,
            "select 1",
            "snap",
            &[],
            &["\"status\"".into()],
            false,
            dialect,
        );
        assert!(sql.contains("now()::timestamp as dbt_valid_from"));
        assert!(sql.contains("snapshotted_data.\"status\" != source_data.\"status\""));
        assert!(sql.contains("select * from deletes"));
        let added = staging_sql(&check, "select 1", "snap", &[], &[], true, dialect);
        assert!(added.contains("(true)"));
    }

    #[test]
    fn the_merge_closes_by_id_and_adds_every_new_version() {
        let timestamp = spec(
            Strategy::Timestamp {
                updated_at: "u".into(),
            },
            HardDeletes::NewRecord,
        );
        let columns = snapshot_columns(&timestamp, &["id".into(), "u".into()]);
        assert_eq!(
            columns,
            [
                "id",
                "u",
                "dbt_updated_at",
                "dbt_valid_from",
                "dbt_valid_to",
                "dbt_scd_id",
                "dbt_is_deleted"
            ]
        );
        let merge = merge_statement(&timestamp, "`p`.`d`.`snap`", "select 1", &columns);
        assert!(merge.contains(
            "on sb_staging.dbt_scd_id = sb_target.dbt_scd_id\n  and sb_staging.dbt_change_type in ('update', 'delete')"
        ));
        assert!(merge.contains("when matched and sb_target.dbt_valid_to is null"));
        assert!(merge.contains("when not matched and sb_staging.dbt_change_type = 'insert'"));
        assert!(merge.contains("values (sb_staging.id, sb_staging.u, sb_staging.dbt_updated_at"));
    }

    #[test]
    fn a_list_unique_key_joins_on_every_part() {
        let mut listed = spec(
            Strategy::Timestamp {
                updated_at: "u".into(),
            },
            HardDeletes::NewRecord,
        );
        listed.unique_key = vec!["a".into(), "b".into()];
        let sql = staging_sql(
            &listed,
            "select 1",
            "snap",
            &["a".into(), "b".into(), "u".into()],
            &[],
            false,
            AdapterKind::Duckdb.dialect(),
        );
        assert!(sql.contains("a as dbt_unique_key_1, b as dbt_unique_key_2"));
        assert!(sql.contains(
            "snapshotted_data.dbt_unique_key_1 = source_data.dbt_unique_key_1 and snapshotted_data.dbt_unique_key_2 = source_data.dbt_unique_key_2"
        ));
        assert!(sql.contains("'True' as dbt_is_deleted"));
        assert_eq!(
            staging_only_columns(&listed),
            ["dbt_change_type", "dbt_unique_key_1", "dbt_unique_key_2"]
        );
    }
}
