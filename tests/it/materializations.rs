//! Building models: views, tables and ephemeral CTEs, what a failure leaves
//! behind (the previous rows, no temporary relation), what it skips, and
//! how threads, `--fail-fast` and hooks change a run.

use crate::it::harness::{Project, rows};

#[test]
fn run_builds_views_and_tables_with_their_rows() {
    let project = Project::new()
        .file(
            "models/numbers.sql",
            "{{ config(materialized='table') }}\nselect * from range(1, 4) as t(n)",
        )
        .file(
            "models/doubled.sql",
            "select n, n * 2 as twice from {{ ref('numbers') }}",
        );

    let output = project.sb(&["run"]);

    output
        .success()
        .stdout_contains("PASS=2")
        .stdout_contains("ERROR=0");
    assert_eq!(
        project.relation_type("main", "numbers").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(
        project.relation_type("main", "doubled").as_deref(),
        Some("VIEW")
    );
    assert_eq!(
        project.query("select n, twice from doubled order by n"),
        rows(&[["1", "2"], ["2", "4"], ["3", "6"]])
    );
}

#[test]
fn run_prints_a_line_per_model_and_a_summary() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file(
            "models/b.sql",
            "{{ config(materialized='table') }}\nselect * from {{ ref('a') }}",
        )
        .file("models/c.sql", "select * from {{ ref('b') }}");

    let output = project.sb(&["run", "--threads", "1"]);

    output
        .success()
        .stdout_contains("Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3");
    let progress: Vec<&str> = output
        .stdout_lines()
        .into_iter()
        .filter(|l| l.contains(" of 3 "))
        .collect();
    assert_eq!(progress.len(), 3, "{output}");
    for (line, name) in progress.iter().zip(["model a", "model b", "model c"]) {
        assert!(
            line.contains("OK") && line.contains(name),
            "{line}\n{output}"
        );
    }
    insta::assert_snapshot!(output.normalized_stdout());
}

#[test]
fn view_is_replaced_by_a_table_when_its_materialization_changes() {
    let project = Project::new().file("models/m.sql", "select 1 as id");
    project.sb(&["run"]).success();
    assert_eq!(project.relation_type("main", "m").as_deref(), Some("VIEW"));

    project.write(
        "models/m.sql",
        "{{ config(materialized='table') }}\nselect 2 as id",
    );
    project.sb(&["run"]).success();

    assert_eq!(
        project.relation_type("main", "m").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(project.query("select id from m"), [["2"]]);

    project.write("models/m.sql", "select 3 as id");
    project.sb(&["run"]).success();
    assert_eq!(project.relation_type("main", "m").as_deref(), Some("VIEW"));
    assert_eq!(project.query("select id from m"), [["3"]]);
}

#[test]
fn ephemeral_model_is_inlined_as_a_cte_and_not_built() {
    let project = Project::new()
        .file(
            "models/base.sql",
            "{{ config(materialized='ephemeral') }}\nselect * from range(3) as t(n)",
        )
        .file(
            "models/top.sql",
            "{{ config(materialized='table') }}\nselect max(n) as top from {{ ref('base') }}",
        );

    project.sb(&["run"]).success();

    assert_eq!(project.query("select top from top"), [["2"]]);
    assert_eq!(
        project.relation_type("main", "base"),
        None,
        "an ephemeral model is never a relation"
    );
    let compiled = project.sb(&["compile", "-s", "top"]);
    compiled.success().stdout_contains("__dbt__cte__base");
}

#[test]
fn ephemeral_chain_and_existing_with_clause_compile_to_one_query() {
    let project = Project::new()
        .file(
            "models/e1.sql",
            "{{ config(materialized='ephemeral') }}\nselect 1 as n",
        )
        .file(
            "models/e2.sql",
            "{{ config(materialized='ephemeral') }}\nselect n + 1 as n from {{ ref('e1') }}",
        )
        .file(
            "models/final.sql",
            "with x as (select n from {{ ref('e2') }})\nselect n * 10 as n from x",
        );

    project.sb(&["run"]).success();

    assert_eq!(project.query("select n from final"), [["20"]]);
    project.sb(&["compile"]).success();
    let compiled = project.read("target/compiled/sb_test/models/final.sql");
    let e1 = compiled.find("__dbt__cte__e1 as").expect("e1 is inlined");
    let e2 = compiled.find("__dbt__cte__e2 as").expect("e2 is inlined");
    assert!(e1 < e2, "parents come first:\n{compiled}");
}

#[test]
fn jaffle_shop_builds_end_to_end() {
    let project = Project::jaffle();

    project.sb(&["seed"]).success();
    project.sb(&["run"]).success().stdout_contains("ERROR=0");

    assert_eq!(
        project.query(
            "select customer_id, first_name, number_of_orders, printf('%.2f', lifetime_value)
             from customers order by customer_id"
        ),
        rows(&[
            ["1", "Michael", "2", "40.00"],
            ["2", "Shawn", "1", "0.00"],
            ["3", "Kathleen", "1", "20.00"],
            ["4", "Jimmy", "1", "5.00"],
        ])
    );
    assert_eq!(
        project.query(
            "select cast(order_date as varchar), printf('%.2f', revenue) from revenue order by 1"
        ),
        rows(&[
            ["2024-01-01", "10.00"],
            ["2024-01-02", "20.00"],
            ["2024-01-05", "30.00"],
            ["2024-01-07", "0.00"],
        ])
    );
    assert_eq!(
        project.relation_type("main_raw", "raw_orders").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(
        project.relation_type("main", "stg_orders").as_deref(),
        Some("VIEW")
    );
    assert_eq!(project.relation_type("main", "int_order_payments"), None);
}

#[test]
fn failing_model_keeps_previous_rows_and_leaves_no_temporary_relation() {
    let project = Project::new().file(
        "models/totals.sql",
        "{{ config(materialized='table') }}\nselect * from (values (1, 'a'), (2, 'b')) as t(id, name)",
    );
    project.sb(&["run"]).success();

    // Fails while the new table is being filled, not when it is planned.
    project.write(
        "models/totals.sql",
        "{{ config(materialized='table') }}\nselect id, cast(name as integer) as name\nfrom (values (1, 'x'), (2, 'y')) as t(id, name)",
    );
    project.sb(&["run"]).code(1);

    assert_eq!(
        project.query("select id, name from totals order by id"),
        rows(&[["1", "a"], ["2", "b"]])
    );
    assert_eq!(
        project.query("select table_name from information_schema.tables where contains(table_name, '__sb_tmp')"),
        Vec::<Vec<String>>::new()
    );
    assert_eq!(project.relations(), ["main.totals"]);
}

#[test]
fn failing_view_keeps_the_previous_view() {
    let project = Project::new().file("models/v.sql", "select 1 as id");
    project.sb(&["run"]).success();

    project.write("models/v.sql", "select nope from range(1)");
    project.sb(&["run"]).code(1);

    assert_eq!(project.query("select id from v"), [["1"]]);
}

#[test]
fn run_skips_children_of_failed_model() {
    let project = Project::new()
        .file("models/broken.sql", "select no_such_column from range(1)")
        .file("models/child.sql", "select * from {{ ref('broken') }}")
        .file("models/grandchild.sql", "select * from {{ ref('child') }}")
        .file(
            "models/independent.sql",
            "{{ config(materialized='table') }}\nselect 42 as answer",
        );

    let output = project.sb(&["run"]);

    output
        .code(1)
        .stdout_contains("PASS=1")
        .stdout_contains("ERROR=1")
        .stdout_contains("SKIP=2");
    assert_eq!(project.query("select answer from independent"), [["42"]]);
    assert_eq!(project.relation_type("main", "child"), None);
    assert_eq!(project.relation_type("main", "grandchild"), None);
    let results = project.read_json("target/run_results.json");
    let status_of = |name: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == format!("model.sb_test.{name}"))
            .unwrap_or_else(|| panic!("no result for {name}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status_of("broken"), "error");
    assert_eq!(status_of("child"), "skipped");
    assert_eq!(status_of("grandchild"), "skipped");
    assert_eq!(status_of("independent"), "success");
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let project = Project::new()
        .file("models/a_broken.sql", "select no_such_column from range(1)")
        .file(
            "models/z_later.sql",
            "{{ config(materialized='table') }}\nselect 1 as id",
        );

    let output = project.sb(&["run", "--fail-fast", "--threads", "1"]);

    output.code(1);
    assert_eq!(
        project.relation_type("main", "z_later"),
        None,
        "nothing starts after the failure\n{output}"
    );

    let short = project.sb(&["run", "-x", "--threads", "1"]);
    short.code(1);
    assert_eq!(project.relation_type("main", "z_later"), None);
}

#[test]
fn one_thread_and_four_threads_build_the_same_tables() {
    let build = |threads: &str| {
        let project = Project::jaffle();
        project.sb(&["seed", "--threads", threads]).success();
        project.sb(&["run", "--threads", threads]).success();
        let mut contents = Vec::new();
        for table in ["customers", "orders", "revenue", "stg_payments"] {
            contents.push(project.query(&format!("select * from {table} order by all")));
        }
        (project.relations(), contents)
    };

    assert_eq!(build("1"), build("4"));
}

#[test]
fn many_independent_models_build_in_parallel_without_conflicts() {
    let mut project = Project::new();
    for i in 0..24 {
        let schema = if i % 2 == 0 { "even" } else { "odd" };
        project = project.file(
            &format!("models/m{i:02}.sql"),
            format!("{{{{ config(materialized='table', schema='{schema}') }}}}\nselect {i} as id"),
        );
    }

    project
        .sb(&["run", "--threads", "8"])
        .success()
        .stdout_contains("PASS=24");

    assert_eq!(project.relations().len(), 24);
    assert_eq!(project.query("select id from main_odd.m23"), [["23"]]);
}

#[test]
fn pre_and_post_hooks_run_around_the_model() {
    let project = Project::new().file(
        "models/orders.sql",
        "{{ config(
    materialized='table',
    pre_hook=\"create table if not exists audit (event varchar, n bigint)\",
    post_hook=\"insert into audit select 'built {{ this.identifier }}', count(*) from {{ this }}\"
) }}
select * from range(5) as t(id)
",
    );

    project.sb(&["run"]).success();
    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select event, n from audit"),
        rows(&[["built orders", "5"], ["built orders", "5"]])
    );
}

/// Hooks render when the model runs, as dbt's do: `is_incremental()` is
/// the run's, and `run_query` reads the warehouse.
#[test]
fn hooks_render_at_run_time_with_is_incremental_and_run_query() {
    let project = Project::new().file(
        "models/events.sql",
        "{{ config(
    materialized='incremental',
    unique_key='id',
    pre_hook=\"create table if not exists hook_log (kind varchar, rows_before bigint)\",
    post_hook=\"insert into hook_log values ('{{ 'incremental' if is_incremental() else 'full' }}', {{ run_query('select count(*) from ' ~ this).rows[0][0] if is_incremental() else 0 }})\"
) }}
select * from range(3) as t(id)
",
    );
    project.sb(&["run"]).success();
    project.sb(&["run"]).success();
    assert_eq!(
        project.query("select kind, rows_before from hook_log order by kind"),
        rows(&[["full", "0"], ["incremental", "3"]])
    );
}

#[test]
fn hooks_from_project_yml_and_config_both_run() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\nmodels:\n  +pre-hook: \"create table if not exists hook_log (msg varchar)\"\n  +post-hook: \"insert into hook_log values ('folder')\"\n",
        )
        .file(
            "models/m.sql",
            "{{ config(materialized='table', post_hook=\"insert into hook_log values ('model')\") }}\nselect 1 as id",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select msg from hook_log order by msg"),
        rows(&[["folder"], ["model"]])
    );
}

#[test]
fn failing_post_hook_fails_the_model() {
    let project = Project::new().file(
        "models/m.sql",
        "{{ config(materialized='table', post_hook='insert into missing_table values (1)') }}\nselect 1 as id",
    );

    let output = project.sb(&["run"]);

    output.code(1).stderr_contains("missing_table");
}
