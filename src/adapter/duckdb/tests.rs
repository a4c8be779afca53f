//! The DuckDB adapter's unit tests, against real databases in temporary
//! folders: value conversion, error folding, builds, loads, the relation
//! cache and concurrent workers.

use super::errors::one_line;
use super::materialize::TEMP_COUNTER;
use super::*;
use crate::adapter::{IncrementalStrategy, Materialization};
use serde_json::{Value as J, json};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

/// A database file in its own temporary folder, removed on drop.
struct TempDb {
    dir: PathBuf,
    adapter: DuckDbAdapter,
}

impl TempDb {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sb-duckdb-{name}-{}-{nanos}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let adapter =
            DuckDbAdapter::open(&dir.join("nested").join("dev.duckdb")).expect("open database");
        Self { dir, adapter }
    }

    fn conn(&self) -> DuckDbConnection {
        self.adapter.connect_duckdb().expect("connect")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rel(schema: &str, identifier: &str) -> RelationRef {
    RelationRef {
        database: None,
        schema: schema.to_owned(),
        identifier: identifier.to_owned(),
    }
}

fn request(
    relation: &RelationRef,
    sql: &str,
    materialization: Materialization,
) -> MaterializeRequest {
    MaterializeRequest {
        relation: relation.clone(),
        sql: sql.to_owned(),
        materialization,
        pre_hooks: Vec::new(),
        post_hooks: Vec::new(),
        config: serde_json::Map::new(),
        columns_ddl: None,
    }
}

fn incremental(
    strategy: IncrementalStrategy,
    keys: &[&str],
    full_refresh: bool,
) -> Materialization {
    Materialization::Incremental {
        strategy,
        unique_key: keys.iter().map(|k| (*k).to_owned()).collect(),
        full_refresh,
    }
}

fn rows(conn: &mut DuckDbConnection, sql: &str) -> Vec<Vec<J>> {
    conn.query(sql, None).expect("query").rows
}

/// Every relation whose name marks it as a leftover temporary.
fn leftovers(conn: &mut DuckDbConnection) -> Vec<Vec<J>> {
    rows(
        conn,
        "select table_name from duckdb_tables() where table_name like '%sb_tmp%' or table_name like 'sb_incr%' \
         union all select view_name from duckdb_views() where view_name like '%sb_tmp%'",
    )
}

#[test]
fn open_creates_parent_folders_and_reports_duckdb_kind() {
    let db = TempDb::new("open");
    assert!(db.dir.join("nested").join("dev.duckdb").exists());
    assert_eq!(db.adapter.kind(), AdapterKind::Duckdb);
    let mut conn = db.adapter.connect().expect("connect");
    let result = conn.query("select 42 as answer", None).expect("query");
    assert_eq!(result.rows, vec![vec![json!(42)]]);
    assert_eq!(
        result.columns,
        vec![ColumnInfo {
            name: "answer".to_owned(),
            data_type: "INTEGER".to_owned()
        }]
    );
}

#[test]
fn execute_reports_rows_changed_and_runs_several_statements() {
    let db = TempDb::new("execute");
    let mut conn = db.conn();
    assert_eq!(
        conn.execute("create table t (a int); insert into t values (1), (2), (3)")
            .expect("batch"),
        Some(3)
    );
    assert_eq!(
        conn.execute("update t set a = a + 1 where a > 1")
            .expect("update"),
        Some(2)
    );
    assert_eq!(conn.execute("delete from t").expect("delete"), Some(3));
    assert_eq!(
        conn.execute("create view v as select 1").expect("ddl"),
        None
    );
    assert_eq!(conn.execute("-- only a comment").expect("comment"), None);
    assert_eq!(conn.execute("   ").expect("blank"), None);
    assert_eq!(conn.execute("/* c */ ; -- x\n").expect("comments"), None);
}

#[test]
fn query_limit_caps_rows() {
    let db = TempDb::new("limit");
    let mut conn = db.conn();
    let result = conn
        .query("select * from range(100)", Some(7))
        .expect("query");
    assert_eq!(result.rows.len(), 7);
    assert_eq!(result.columns[0].data_type, "BIGINT");
    let empty = conn
        .query("select 1 as a where false", None)
        .expect("query");
    assert!(empty.rows.is_empty());
    assert_eq!(empty.columns.len(), 1);
}

#[test]
fn query_converts_nested_and_temporal_values() {
    let db = TempDb::new("values");
    let mut conn = db.conn();
    let result = conn
        .query(
            "select {'a': 1, 'b': [1.5, null], 'c': {'d': 'x'}} as s, \
             [1, 2, 3] as l, [{'k': 'v'}] as ls, \
             date '2026-01-02' as d, timestamp '2026-01-02 03:04:05.25' as ts, \
             timestamptz '2026-01-02 03:04:05+00' as tz, \
             123.45::decimal(10, 2) as dec, 12::decimal(38, 0) as dec0, \
             170141183460469231731687303715884105727::hugeint as huge, \
             true as b, null as n, 'hi' as t, 2.5::double as f, \
             time '10:11:12' as tm, interval '1 year 2 days 3 hours' as iv, \
             map {'x': 1, 'y': 2} as m, '\\x01ab'::blob as bl, \
             'a1b2c3d4-0000-4000-8000-000000000000'::uuid as u, \
             [1, 2]::integer[2] as arr",
            None,
        )
        .expect("query");
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    let row = &result.rows[0];
    let get = |name: &str| {
        let idx = names.iter().position(|n| *n == name).expect("column");
        (row[idx].clone(), result.columns[idx].data_type.clone())
    };
    assert_eq!(
        get("s"),
        (
            json!({"a": 1, "b": [1.5, null], "c": {"d": "x"}}),
            "STRUCT(a INTEGER, b DECIMAL(2,1)[], c STRUCT(d VARCHAR))".to_owned()
        )
    );
    assert_eq!(get("l"), (json!([1, 2, 3]), "INTEGER[]".to_owned()));
    assert_eq!(get("ls").0, json!([{"k": "v"}]));
    assert_eq!(get("d"), (json!("2026-01-02"), "DATE".to_owned()));
    assert_eq!(
        get("ts"),
        (json!("2026-01-02T03:04:05.25"), "TIMESTAMP".to_owned())
    );
    assert_eq!(get("tz").0, json!("2026-01-02T03:04:05Z"));
    assert_eq!(get("dec"), (json!(123.45), "DECIMAL(10,2)".to_owned()));
    assert_eq!(get("dec0").0, json!(12));
    assert_eq!(
        get("huge").0,
        json!("170141183460469231731687303715884105727")
    );
    assert_eq!(get("b").0, json!(true));
    assert_eq!(get("n").0, J::Null);
    assert_eq!(get("t").0, json!("hi"));
    assert_eq!(get("f").0, json!(2.5));
    assert_eq!(get("tm").0, json!("10:11:12"));
    assert_eq!(get("iv").0, json!("1 year 2 days 03:00:00"));
    assert_eq!(get("m").0, json!({"x": 1, "y": 2}));
    assert_eq!(get("bl").0, json!("\\x01ab"));
    assert_eq!(get("u").0, json!("a1b2c3d4-0000-4000-8000-000000000000"));
    assert_eq!(get("arr").0, json!([1, 2]));
}

/// The ends of DuckDB's date and timestamp range lie beyond chrono's
/// (years -262143 to 262142), and chrono spells years past 9999 with a `+`:
/// the date arithmetic in `values` is sb's own for these.
#[test]
fn query_formats_dates_and_timestamps_at_the_ends_of_duckdb_range() {
    let db = TempDb::new("extremes");
    let mut conn = db.conn();
    let result = conn
        .query(
            "select date '5881580-07-10' as d_max, date '12345-06-07' as d_five_digits, \
             timestamp '294247-01-10 04:00:54.775806' as ts_max, \
             date '5877641-06-25 (BC)' as d_min, timestamp '290309-12-22 (BC) 00:00:00' as ts_min, \
             date 'infinity' as d_inf, timestamp '-infinity' as ts_neg_inf",
            None,
        )
        .expect("query");
    let row: Vec<&str> = result.rows[0]
        .iter()
        .map(|value| value.as_str().expect("text"))
        .collect();
    assert_eq!(
        row,
        [
            "5881580-07-10",
            "12345-06-07",
            "294247-01-10T04:00:54.775806",
            // Astronomical years: 1 BC is year 0.
            "-5877640-06-25",
            "-290308-12-22T00:00:00",
            "infinity",
            "-infinity"
        ]
    );
}

#[test]
fn query_reads_types_the_driver_cannot_decode_as_text() {
    let db = TempDb::new("undecodable");
    let mut conn = db.conn();
    let result = conn
        .query(
            "select 1 as a, '101'::bit as b, timetz '10:00:00+02' as c, 'x' as b",
            None,
        )
        .expect("query");
    assert_eq!(result.rows[0][3], json!("x"));
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "b"]);
    assert_eq!(result.rows[0][0], json!(1));
    assert_eq!(result.rows[0][1], json!("101"));
    assert!(
        result.rows[0][2]
            .as_str()
            .is_some_and(|s| s.starts_with("10:00:00"))
    );
}

#[test]
fn errors_are_one_line_with_position() {
    let db = TempDb::new("errors");
    let mut conn = db.conn();
    let err = conn
        .query("select 1,\n  nope from range(3)", None)
        .expect_err("fails");
    assert!(!err.message.contains('\n'), "{}", err.message);
    assert!(err.message.contains("LINE 2:"), "{}", err.message);
    assert!(err.message.contains("(column 3)"), "{}", err.message);
    assert_eq!(
        err.statement.as_deref(),
        Some("select 1,\n  nope from range(3)")
    );
}

#[test]
fn error_column_is_found_in_truncated_lines() {
    let statement = format!("select {}nope", "x, ".repeat(40));
    let message = format!(
        "Binder Error: nope\n\nLINE 1: ...x, x, x, nope\n{}^",
        " ".repeat("LINE 1: ...x, x, x, ".len())
    );
    let line = one_line(&message, Some(&statement));
    let expected = statement.find("nope").expect("nope") + 1;
    assert!(line.ends_with(&format!("(column {expected})")), "{line}");
}

#[test]
fn view_and_table_switch_kinds() {
    let db = TempDb::new("switch");
    let mut conn = db.conn();
    let model = rel("analytics", "m");

    let out = conn
        .materialize(&request(&model, "select 1 as id", Materialization::View))
        .expect("view");
    assert_eq!(
        conn.relation_kind(&model).expect("kind"),
        Some(RelationKind::View)
    );
    assert!(
        out.statements
            .iter()
            .any(|s| s.starts_with("create or replace view"))
    );

    let out = conn
        .materialize(&request(
            &model,
            "select * from range(5) t(id);",
            Materialization::Table,
        ))
        .expect("table");
    assert_eq!(
        conn.relation_kind(&model).expect("kind"),
        Some(RelationKind::Table)
    );
    assert_eq!(out.rows_affected, Some(5));
    assert_eq!(out.message, "CREATE TABLE (5 rows)");
    assert!(
        out.statements
            .iter()
            .any(|s| s == "drop view \"analytics\".\"m\"")
    );

    conn.materialize(&request(&model, "select 2 as id", Materialization::View))
        .expect("view again");
    assert_eq!(
        conn.relation_kind(&model).expect("kind"),
        Some(RelationKind::View)
    );
    assert_eq!(
        rows(&mut conn, "select id from analytics.m"),
        vec![vec![json!(2)]]
    );
    assert!(leftovers(&mut conn).is_empty());
    assert_eq!(
        conn.columns(&model).expect("columns"),
        vec![ColumnInfo {
            name: "id".to_owned(),
            data_type: "INTEGER".to_owned()
        }]
    );
    // DuckDB's identifiers ignore case, quoted or not; lookups do too.
    assert_eq!(
        conn.relation_kind(&rel("Analytics", "M")).expect("kind"),
        Some(RelationKind::View)
    );
    assert_eq!(
        conn.relation_kind(&rel("analytics", "other"))
            .expect("kind"),
        None
    );
}

#[test]
fn failed_table_build_keeps_previous_table_and_no_temporary() {
    let db = TempDb::new("failure");
    let mut conn = db.conn();
    let model = rel("analytics", "orders");
    conn.materialize(&request(
        &model,
        "select * from range(3) t(id)",
        Materialization::Table,
    ))
    .expect("first build");

    // A bind error, a runtime error in the middle of the scan, and a
    // failing view over the table.
    for sql in [
        "select * from missing_table",
        "select case when id = 2 then cast('x' as integer) else id end as id from range(3) t(id)",
    ] {
        let err = conn
            .materialize(&request(&model, sql, Materialization::Table))
            .expect_err("must fail");
        assert!(err.statement.as_deref().is_some_and(|s| s.contains(sql)));
        assert_eq!(err.statements.last(), err.statement.as_ref());
        assert_eq!(
            rows(&mut conn, "select count(*) from analytics.orders"),
            vec![vec![json!(3)]]
        );
        assert!(leftovers(&mut conn).is_empty());
    }
    let err = conn
        .materialize(&request(&model, "select nope", Materialization::View))
        .expect_err("view fails");
    assert!(err.message.contains("nope"), "{}", err.message);
    assert_eq!(
        conn.relation_kind(&model).expect("kind"),
        Some(RelationKind::Table)
    );
    assert_eq!(
        rows(&mut conn, "select count(*) from analytics.orders"),
        vec![vec![json!(3)]]
    );
    assert_eq!(rows(&mut conn, "select 1"), vec![vec![json!(1)]]);
}

#[test]
fn known_relations_follow_builds_and_statements_run_behind_them() {
    let db = TempDb::new("known");
    let mut first = db.conn();
    let mut second = db.conn();
    let model = rel("s", "m");
    assert_eq!(first.relation_kind(&model).expect("kind"), None);
    // A build on one connection is seen by the other without a reload.
    second
        .materialize(&request(&model, "select 1 as id", Materialization::Table))
        .expect("build");
    assert_eq!(
        first.relation_kind(&model).expect("kind"),
        Some(RelationKind::Table)
    );
    // DDL sent through `execute` or a writing query drops what is known.
    first
        .execute("drop table s.m; create view s.m as select 1 as id")
        .expect("ddl");
    assert_eq!(
        second.relation_kind(&model).expect("kind"),
        Some(RelationKind::View)
    );
    first.query("drop view s.m", None).expect("drop");
    assert_eq!(second.relation_kind(&model).expect("kind"), None);
    // A table built where the view stood replaces it.
    second
        .materialize(&request(&model, "select 2 as id", Materialization::Table))
        .expect("rebuild");
    assert_eq!(rows(&mut first, "select id from s.m"), vec![vec![json!(2)]]);
}

#[test]
fn batch_loads_replace_or_append_atomically() {
    use duckdb::arrow::array::{ArrayRef, Int64Array, StringArray, StructArray};
    use duckdb::arrow::datatypes::{DataType, Field, Fields, Schema};

    let fields = Fields::from(vec![Field::new("score", DataType::Int64, false)]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("detail", DataType::Struct(fields.clone()), false),
    ]));
    let batch = |ids: Vec<i64>| {
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        let detail = StructArray::new(
            fields.clone(),
            vec![Arc::new(Int64Array::from(
                ids.iter().map(|i| i * 10).collect::<Vec<_>>(),
            )) as ArrayRef],
            None,
        );
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)) as ArrayRef,
                Arc::new(StringArray::from(names)),
                Arc::new(detail),
            ],
        )
        .expect("batch")
    };
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![99])) as ArrayRef],
    )
    .expect("batch");

    let db = TempDb::new("batches");
    let mut conn = db.conn();
    let load = BatchLoad {
        relation: rel("raw", "things"),
        schema: Arc::clone(&schema),
        append: false,
    };
    let out = conn
        .load_batches(
            &load,
            &mut vec![batch(vec![1, 2]), batch(vec![3])].into_iter(),
        )
        .expect("load");
    assert_eq!(out.message, "LOAD (3 rows)");
    assert_eq!(
        rows(
            &mut conn,
            "select id, name, detail.score from raw.things order by id"
        ),
        vec![
            vec![json!(1), json!("n1"), json!(10)],
            vec![json!(2), json!("n2"), json!(20)],
            vec![json!(3), json!("n3"), json!(30)]
        ]
    );

    // A failure part-way, replacing or appending, changes nothing.
    for append in [false, true] {
        let load = BatchLoad {
            append,
            ..load.clone()
        };
        conn.load_batches(&load, &mut vec![batch(vec![7]), wrong.clone()].into_iter())
            .expect_err("bad batch");
        assert_eq!(
            rows(&mut conn, "select count(*), max(id) from raw.things"),
            vec![vec![json!(3), json!(3)]]
        );
    }
    let out = conn
        .load_batches(
            &BatchLoad {
                append: true,
                ..load.clone()
            },
            &mut vec![batch(vec![4])].into_iter(),
        )
        .expect("append");
    assert_eq!(out.message, "APPEND (1 row)");
    assert_eq!(
        rows(&mut conn, "select count(*) from raw.things"),
        vec![vec![json!(4)]]
    );
    let missing = BatchLoad {
        relation: rel("raw", "nothing"),
        append: true,
        ..load
    };
    let err = conn
        .load_batches(&missing, &mut std::iter::empty())
        .expect_err("nothing to append to");
    assert!(err.message.contains("does not exist"), "{}", err.message);
}

#[test]
fn hooks_run_in_order_around_the_build() {
    let db = TempDb::new("hooks");
    let mut conn = db.conn();
    conn.execute("create table log (step varchar, n integer)")
        .expect("setup");
    let model = rel("main", "hooked");
    let mut req = request(&model, "select 1 as id", Materialization::Table);
    req.pre_hooks = vec!["insert into log values ('pre', 1)".to_owned()];
    req.post_hooks = vec![
        "insert into log select 'post', count(*) from main.hooked".to_owned(),
        "insert into log values ('post2', 3)".to_owned(),
    ];
    let out = conn.materialize(&req).expect("build");
    assert_eq!(
        rows(&mut conn, "select step, n from log order by rowid"),
        vec![
            vec![json!("pre"), json!(1)],
            vec![json!("post"), json!(1)],
            vec![json!("post2"), json!(3)]
        ]
    );
    let pre = out
        .statements
        .iter()
        .position(|s| s.contains("'pre'"))
        .expect("pre");
    let create = out
        .statements
        .iter()
        .position(|s| s.starts_with("create table"))
        .expect("create");
    let post = out
        .statements
        .iter()
        .position(|s| s.contains("'post'"))
        .expect("post");
    assert!(pre < create && create < post);
    assert!(out.statements.last().is_some_and(|s| s.contains("post2")));

    // Post-hooks do not run when the build fails.
    conn.execute("delete from log").expect("clear");
    req.sql = "select nope".to_owned();
    conn.materialize(&req).expect_err("fails");
    assert_eq!(
        rows(&mut conn, "select step from log"),
        vec![vec![json!("pre")]]
    );
}

#[test]
fn incremental_first_run_and_full_refresh_build_tables() {
    let db = TempDb::new("incr-first");
    let mut conn = db.conn();
    let model = rel("analytics", "events");
    let out = conn
        .materialize(&request(
            &model,
            "select * from range(4) t(id)",
            incremental(IncrementalStrategy::Append, &[], false),
        ))
        .expect("first");
    assert_eq!(out.rows_affected, Some(4));
    conn.materialize(&request(
        &model,
        "select * from range(4, 6) t(id)",
        incremental(IncrementalStrategy::Append, &[], false),
    ))
    .expect("append");
    assert_eq!(
        rows(&mut conn, "select count(*) from analytics.events"),
        vec![vec![json!(6)]]
    );
    conn.materialize(&request(
        &model,
        "select 100 as id",
        incremental(IncrementalStrategy::Append, &[], true),
    ))
    .expect("full refresh");
    assert_eq!(
        rows(&mut conn, "select id from analytics.events"),
        vec![vec![json!(100)]]
    );

    // A view in the way is replaced by a table.
    let other = rel("analytics", "was_view");
    conn.materialize(&request(&other, "select 1 as id", Materialization::View))
        .expect("view");
    conn.materialize(&request(
        &other,
        "select 7 as id",
        incremental(IncrementalStrategy::Merge, &["id"], false),
    ))
    .expect("incremental over view");
    assert_eq!(
        conn.relation_kind(&other).expect("kind"),
        Some(RelationKind::Table)
    );
    assert!(leftovers(&mut conn).is_empty());
}

#[test]
fn incremental_append_inserts_by_name() {
    let db = TempDb::new("incr-append");
    let mut conn = db.conn();
    let model = rel("analytics", "t");
    let mat = incremental(IncrementalStrategy::Append, &[], false);
    conn.materialize(&request(&model, "select 1 as a, 'x' as b", mat.clone()))
        .expect("first");
    let out = conn
        .materialize(&request(&model, "select 'y' as b, 2 as a", mat))
        .expect("append");
    assert_eq!(out.rows_affected, Some(1));
    assert_eq!(
        rows(&mut conn, "select a, b from analytics.t order by a"),
        vec![vec![json!(1), json!("x")], vec![json!(2), json!("y")]]
    );
    assert!(leftovers(&mut conn).is_empty());
    assert!(
        out.statements
            .iter()
            .any(|s| s.starts_with("drop table if exists temp.main."))
    );
}

#[test]
fn incremental_merge_updates_and_inserts_on_a_compound_key() {
    let db = TempDb::new("incr-merge");
    let mut conn = db.conn();
    let model = rel("analytics", "t");
    let mat = incremental(IncrementalStrategy::Merge, &["k1", "k2"], false);
    conn.materialize(&request(
        &model,
        "select * from (values (1, 'a', 'old'), (1, 'b', 'old'), (2, 'a', 'old')) v(k1, k2, val)",
        mat.clone(),
    ))
    .expect("first");
    let out = conn
        .materialize(&request(
            &model,
            "select * from (values (1, 'b', 'new'), (3, 'a', 'new')) v(k1, k2, val)",
            mat,
        ))
        .expect("merge");
    assert_eq!(out.rows_affected, Some(2));
    assert!(out.message.starts_with("MERGE"), "{}", out.message);
    assert_eq!(
        rows(
            &mut conn,
            "select k1, k2, val from analytics.t order by all"
        ),
        vec![
            vec![json!(1), json!("a"), json!("old")],
            vec![json!(1), json!("b"), json!("new")],
            vec![json!(2), json!("a"), json!("old")],
            vec![json!(3), json!("a"), json!("new")],
        ]
    );
    assert!(leftovers(&mut conn).is_empty());

    // Without a key a merge appends.
    conn.materialize(&request(
        &model,
        "select 1 as k1, 'a' as k2, 'dup' as val",
        incremental(IncrementalStrategy::Merge, &[], false),
    ))
    .expect("keyless merge");
    assert_eq!(
        rows(&mut conn, "select count(*) from analytics.t"),
        vec![vec![json!(5)]]
    );
}

#[test]
fn incremental_merge_with_only_key_columns() {
    let db = TempDb::new("incr-merge-keys");
    let mut conn = db.conn();
    let model = rel("analytics", "keys");
    let mat = incremental(IncrementalStrategy::Merge, &["id"], false);
    conn.materialize(&request(&model, "select 1 as id", mat.clone()))
        .expect("first");
    conn.materialize(&request(&model, "select * from range(3) t(id)", mat))
        .expect("merge");
    assert_eq!(
        rows(&mut conn, "select id from analytics.keys order by id"),
        vec![vec![json!(0)], vec![json!(1)], vec![json!(2)]]
    );
}

#[test]
fn incremental_delete_insert_replaces_matching_keys() {
    let db = TempDb::new("incr-delins");
    let mut conn = db.conn();
    let model = rel("analytics", "t");
    let mat = incremental(
        IncrementalStrategy::DeleteInsert,
        &["day", "user_id"],
        false,
    );
    conn.materialize(&request(
        &model,
        "select * from (values (1, 1, 10), (1, 2, 20), (2, 1, 30)) v(day, user_id, amount)",
        mat.clone(),
    ))
    .expect("first");
    let out = conn
        .materialize(&request(
            &model,
            "select * from (values (1, 2, 21), (1, 2, 22), (3, 1, 40)) v(day, user_id, amount)",
            mat,
        ))
        .expect("delete+insert");
    assert_eq!(out.rows_affected, Some(3));
    assert_eq!(
        rows(
            &mut conn,
            "select day, user_id, amount from analytics.t order by all"
        ),
        vec![
            vec![json!(1), json!(1), json!(10)],
            vec![json!(1), json!(2), json!(21)],
            vec![json!(1), json!(2), json!(22)],
            vec![json!(2), json!(1), json!(30)],
            vec![json!(3), json!(1), json!(40)],
        ]
    );
    assert!(leftovers(&mut conn).is_empty());
}

#[test]
fn failed_incremental_keeps_rows_and_drops_its_temporary() {
    let db = TempDb::new("incr-fail");
    let mut conn = db.conn();
    let model = rel("analytics", "t");
    let mat = incremental(IncrementalStrategy::Merge, &["id"], false);
    conn.materialize(&request(&model, "select 1 as id, 'a' as v", mat.clone()))
        .expect("first");
    // The new rows have a column the table lacks: the merge fails.
    let err = conn
        .materialize(&request(
            &model,
            "select 2 as id, 'b' as v, 3 as extra",
            mat.clone(),
        ))
        .expect_err("fails");
    assert!(
        err.statement
            .as_deref()
            .is_some_and(|s| s.starts_with("merge into")),
        "{err:?}"
    );
    assert_eq!(rows(&mut conn, "select 1"), vec![vec![json!(1)]]);
    assert_eq!(
        rows(&mut conn, "select id, v from analytics.t"),
        vec![vec![json!(1), json!("a")]]
    );
    assert!(leftovers(&mut conn).is_empty());

    let err = conn
        .materialize(&request(
            &model,
            "select 1 as id",
            incremental(IncrementalStrategy::InsertOverwrite, &[], false),
        ))
        .expect_err("bigquery only");
    assert!(err.message.contains("BigQuery"));
}

#[test]
fn csv_loads_with_inference_overrides_and_header_only() {
    let db = TempDb::new("csv");
    let mut conn = db.conn();
    let csv = db.dir.join("people.csv");
    std::fs::write(
        &csv,
        "id,name,score,born\n1,ann,1.5,2020-01-02\n2,bob,2.5,2021-03-04\n",
    )
    .expect("write csv");
    let relation = rel("raw", "people");
    let out = conn
        .load_csv(&CsvLoad {
            relation: relation.clone(),
            path: csv.clone(),
            column_types: Vec::new(),
            delimiter: b',',
        })
        .expect("load");
    assert_eq!(out.rows_affected, Some(2));
    let types: Vec<String> = conn
        .columns(&relation)
        .expect("columns")
        .into_iter()
        .map(|c| c.data_type)
        .collect();
    // dbt-duckdb's types for these columns (issue 14): INTEGER, not BIGINT.
    assert_eq!(types, ["INTEGER", "VARCHAR", "DOUBLE", "DATE"]);

    let out = conn
        .load_csv(&CsvLoad {
            relation: relation.clone(),
            path: csv,
            delimiter: b',',
            column_types: vec![
                ("id".to_owned(), "VARCHAR".to_owned()),
                ("score".to_owned(), "DECIMAL(10,2)".to_owned()),
            ],
        })
        .expect("reload");
    assert_eq!(out.rows_affected, Some(2));
    let types: Vec<String> = conn
        .columns(&relation)
        .expect("columns")
        .into_iter()
        .map(|c| c.data_type)
        .collect();
    assert_eq!(types, ["VARCHAR", "VARCHAR", "DECIMAL(10,2)", "DATE"]);
    assert_eq!(
        rows(&mut conn, "select id, score from raw.people order by id"),
        vec![vec![json!("1"), json!(1.5)], vec![json!("2"), json!(2.5)]]
    );

    let empty = db.dir.join("empty.csv");
    std::fs::write(&empty, "a,b\n").expect("write csv");
    let empty_rel = rel("raw", "empty");
    let out = conn
        .load_csv(&CsvLoad {
            relation: empty_rel.clone(),
            path: empty,
            column_types: Vec::new(),
            delimiter: b',',
        })
        .expect("header only");
    assert_eq!(out.rows_affected, Some(0));
    let columns = conn.columns(&empty_rel).expect("columns");
    assert_eq!(
        columns,
        vec![
            // A column without values is INTEGER under dbt's inference.
            ColumnInfo {
                name: "a".to_owned(),
                data_type: "INTEGER".to_owned()
            },
            ColumnInfo {
                name: "b".to_owned(),
                data_type: "INTEGER".to_owned()
            }
        ]
    );

    let err = conn
        .load_csv(&CsvLoad {
            relation: relation.clone(),
            path: db.dir.join("missing.csv"),
            column_types: Vec::new(),
            delimiter: b',',
        })
        .expect_err("missing file");
    assert!(err.message.contains("missing.csv"), "{}", err.message);
    assert_eq!(
        rows(&mut conn, "select count(*) from raw.people"),
        vec![vec![json!(2)]]
    );
    assert!(leftovers(&mut conn).is_empty());
}

#[test]
fn workers_build_tables_concurrently() {
    let db = TempDb::new("threads");
    let adapter = &db.adapter;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|worker| {
                scope.spawn(move || {
                    let mut conn = adapter.connect().expect("connect");
                    for round in 0..3 {
                        for i in 0..5 {
                            let model = rel("fresh", &format!("w{worker}_m{i}"));
                            let materialization = match i % 3 {
                                0 => Materialization::Table,
                                1 => Materialization::View,
                                _ => incremental(IncrementalStrategy::Merge, &["id"], false),
                            };
                            conn.materialize(&request(
                                &model,
                                &format!("select * from range({}) t(id)", 1000 * (round + 1)),
                                materialization,
                            ))
                            .unwrap_or_else(|err| panic!("worker {worker} model {i}: {err:?}"));
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("worker");
        }
    });
    let mut conn = db.conn();
    assert_eq!(
        rows(
            &mut conn,
            "select count(*) from duckdb_tables() where schema_name = 'fresh'"
        ),
        vec![vec![json!(12)]]
    );
    assert_eq!(
        rows(&mut conn, "select count(*) from fresh.w3_m2"),
        vec![vec![json!(3000)]]
    );
    assert!(leftovers(&mut conn).is_empty());
}

#[test]
fn workers_racing_on_a_new_schema_do_not_conflict() {
    let db = TempDb::new("race");
    let adapter = &db.adapter;
    let workers = 8;
    let errors = Mutex::new(Vec::new());
    for schema in ["race_a", "race_b", "race_c"] {
        let barrier = std::sync::Barrier::new(workers);
        std::thread::scope(|scope| {
            for worker in 0..workers {
                let (barrier, errors) = (&barrier, &errors);
                scope.spawn(move || {
                    let mut conn = adapter.connect().expect("connect");
                    let model = rel(schema, &format!("m{worker}"));
                    // Every worker reaches every barrier, failed or not.
                    for (sql, materialization) in [
                        ("select 1 as id", Materialization::Table),
                        ("select 2 as id", Materialization::View),
                        ("select 3 as id", Materialization::Table),
                    ] {
                        barrier.wait();
                        if let Err(err) = conn.materialize(&request(&model, sql, materialization)) {
                            errors
                                .lock()
                                .expect("errors")
                                .push(format!("{schema} worker {worker}: {}", err.message));
                        }
                    }
                });
            }
        });
    }
    assert_eq!(errors.into_inner().expect("errors"), Vec::<String>::new());
    let mut conn = db.conn();
    assert_eq!(
        rows(
            &mut conn,
            "select count(*) from duckdb_tables() where schema_name like 'race_%'"
        ),
        vec![vec![json!(24)]]
    );
}
