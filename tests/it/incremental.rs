//! Incremental models: the first run builds the table, later runs add only
//! what `is_incremental()` lets through, by the configured strategy
//! (`merge` on a unique key, `append`, `delete+insert`), and
//! `--full-refresh` rebuilds from scratch.

use crate::it::harness::{Project, rows};

/// A project whose incremental model `inc` reads the `src` seed.
fn project_with(model: &str) -> Project {
    Project::new().file("models/inc.sql", model)
}

/// Replaces the `src` seed's rows and loads them.
fn load(project: &Project, csv: &str) {
    project.write("seeds/src.csv", csv);
    project.sb(&["seed"]).success();
}

fn contents(project: &Project) -> Vec<Vec<String>> {
    project.query("select * exclude (day), cast(day as varchar) from inc order by all")
}

#[test]
fn second_run_adds_only_rows_the_is_incremental_filter_lets_through() {
    let project = project_with(
        "{{ config(materialized='incremental') }}
select id, name, day from {{ ref('src') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n2,b,2024-01-02\n");
    project.sb(&["run"]).success();
    assert_eq!(
        contents(&project),
        rows(&[["1", "a", "2024-01-01"], ["2", "b", "2024-01-02"]])
    );

    // Row 1 changed upstream, row 3 is new: only row 3 passes the filter.
    load(
        &project,
        "id,name,day\n1,A,2024-01-01\n2,b,2024-01-02\n3,c,2024-01-03\n",
    );
    project.sb(&["run"]).success();
    assert_eq!(
        contents(&project),
        rows(&[
            ["1", "a", "2024-01-01"],
            ["2", "b", "2024-01-02"],
            ["3", "c", "2024-01-03"]
        ])
    );

    // Nothing new: nothing added.
    project.sb(&["run"]).success();
    assert_eq!(project.query("select count(*) from inc"), [["3"]]);
}

#[test]
fn full_refresh_rebuilds_the_incremental_table() {
    let project = project_with(
        "{{ config(materialized='incremental') }}
select id, name, day from {{ ref('src') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n");
    project.sb(&["run"]).success();
    load(&project, "id,name,day\n1,A,2024-01-01\n2,b,2024-01-02\n");
    project.sb(&["run"]).success();
    assert_eq!(
        contents(&project),
        rows(&[["1", "a", "2024-01-01"], ["2", "b", "2024-01-02"]])
    );

    project.sb(&["run", "--full-refresh"]).success();

    assert_eq!(
        contents(&project),
        rows(&[["1", "A", "2024-01-01"], ["2", "b", "2024-01-02"]])
    );
}

#[test]
fn merge_strategy_updates_rows_with_the_same_unique_key() {
    let project = project_with(
        "{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n2,b,2024-01-02\n");
    project.sb(&["run"]).success();

    load(&project, "id,name,day\n2,B,2024-01-02\n3,c,2024-01-03\n");
    project.sb(&["run"]).success();

    assert_eq!(
        contents(&project),
        rows(&[
            ["1", "a", "2024-01-01"],
            ["2", "B", "2024-01-02"],
            ["3", "c", "2024-01-03"]
        ])
    );
}

#[test]
fn merge_strategy_with_a_composite_unique_key() {
    let project = project_with(
        "{{ config(materialized='incremental', unique_key=['id', 'day'], incremental_strategy='merge') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,x,2024-01-01\n1,y,2024-01-02\n");
    project.sb(&["run"]).success();

    load(&project, "id,name,day\n1,Y,2024-01-02\n2,z,2024-01-01\n");
    project.sb(&["run"]).success();

    assert_eq!(
        contents(&project),
        rows(&[
            ["1", "Y", "2024-01-02"],
            ["1", "x", "2024-01-01"],
            ["2", "z", "2024-01-01"]
        ])
    );
}

#[test]
fn unique_key_alone_means_merge() {
    let project = project_with(
        "{{ config(materialized='incremental', unique_key='id') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n");
    project.sb(&["run"]).success();

    load(&project, "id,name,day\n1,A,2024-01-01\n");
    project.sb(&["run"]).success();

    assert_eq!(contents(&project), rows(&[["1", "A", "2024-01-01"]]));
}

#[test]
fn append_strategy_keeps_every_row() {
    let project = project_with(
        "{{ config(materialized='incremental', incremental_strategy='append') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n2,b,2024-01-02\n");
    project.sb(&["run"]).success();

    load(&project, "id,name,day\n2,B,2024-01-02\n3,c,2024-01-03\n");
    project.sb(&["run"]).success();

    assert_eq!(
        contents(&project),
        rows(&[
            ["1", "a", "2024-01-01"],
            ["2", "B", "2024-01-02"],
            ["2", "b", "2024-01-02"],
            ["3", "c", "2024-01-03"],
        ])
    );
}

#[test]
fn delete_insert_strategy_replaces_every_row_of_a_key() {
    let project = project_with(
        "{{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n2,b,2024-01-02\n");
    project.sb(&["run"]).success();

    // Two new rows for key 2: both replace the old one.
    load(
        &project,
        "id,name,day\n2,B1,2024-01-02\n2,B2,2024-01-03\n3,c,2024-01-03\n",
    );
    project.sb(&["run"]).success();

    assert_eq!(
        contents(&project),
        rows(&[
            ["1", "a", "2024-01-01"],
            ["2", "B1", "2024-01-02"],
            ["2", "B2", "2024-01-03"],
            ["3", "c", "2024-01-03"],
        ])
    );
}

#[test]
fn failed_incremental_run_keeps_the_existing_rows() {
    let project = project_with(
        "{{ config(materialized='incremental', unique_key='id') }}
select id, name, day from {{ ref('src') }}
",
    );
    load(&project, "id,name,day\n1,a,2024-01-01\n");
    project.sb(&["run"]).success();

    project.write(
        "models/inc.sql",
        "{{ config(materialized='incremental', unique_key='id') }}
select id, cast(name as integer) as name, day from {{ ref('src') }}
",
    );
    project.sb(&["run"]).code(1);

    assert_eq!(contents(&project), rows(&[["1", "a", "2024-01-01"]]));
    assert_eq!(project.relations(), ["main.inc", "main.src"]);
}

#[test]
fn unknown_incremental_strategy_is_an_invalid_project() {
    let project = project_with(
        "{{ config(materialized='incremental', incremental_strategy='upsert') }}\nselect 1 as id\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("`upsert`")
        .stderr_contains("--> models/inc.sql:1:");
}

#[test]
fn jaffle_orders_grow_incrementally() {
    let project = Project::fixture("jaffle");
    project.execute(
        "create schema if not exists shop;
         create or replace table shop.payments as
         select * from (values (1, 1, 1000)) as t(id, order_id, amount);",
    );
    project.sb(&["seed"]).success();
    project.sb(&["run", "-s", "+orders"]).success();
    assert_eq!(project.query("select count(*) from orders"), [["5"]]);

    let mut csv = project.read("seeds/raw_orders.csv");
    csv.push_str("6,2,2024-01-09,placed\n");
    project.write("seeds/raw_orders.csv", &csv);
    project.sb(&["seed"]).success();
    project.sb(&["run", "-s", "orders"]).success();

    assert_eq!(
        project.query("select order_id, status from orders where order_id >= 5 order by 1"),
        rows(&[["5", "placed"], ["6", "placed"]])
    );
    assert_eq!(project.query("select count(*) from orders"), [["6"]]);
}
