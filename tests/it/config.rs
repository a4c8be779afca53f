//! Model config: where a model lands (custom schema, alias), whether it is
//! built at all (`enabled`), folder-scoped config in project.yml, and the
//! precedence in-file `config()` > schema YAML `config:` > project.yml.

use crate::it::harness::{Project, rows, sorted_lines};

#[test]
fn custom_schema_is_appended_to_the_target_schema() {
    let project = Project::new()
        .file("models/in_file.sql", "{{ config(schema='marts', materialized='table') }}\nselect 1 as id")
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\nmodels:\n  finance:\n    +schema: finance\n",
        )
        .file("models/finance/ledger.sql", "select 2 as id");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select id from main_marts.in_file"), [["1"]]);
    assert_eq!(project.query("select id from main_finance.ledger"), [["2"]]);
    assert_eq!(
        project.relations(),
        ["main_finance.ledger", "main_marts.in_file"]
    );
}

#[test]
fn ref_follows_a_model_into_its_custom_schema() {
    let project = Project::new()
        .file(
            "models/base.sql",
            "{{ config(schema='staging') }}\nselect 7 as id",
        )
        .file("models/top.sql", "select id from {{ ref('base') }}");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select id from main.top"), [["7"]]);
    project
        .sb(&["compile", "-s", "top"])
        .success()
        .stdout_contains("\"main_staging\".\"base\"");
}

#[test]
fn alias_names_the_relation() {
    let project = Project::new()
        .file(
            "models/orders_v2.sql",
            "{{ config(alias='orders', materialized='table') }}\nselect 1 as id",
        )
        .file(
            "models/report.sql",
            "select count(*) as n from {{ ref('orders_v2') }}",
        );

    project.sb(&["run"]).success();

    assert_eq!(project.query("select id from main.orders"), [["1"]]);
    assert_eq!(project.relation_type("main", "orders_v2"), None);
    assert_eq!(project.query("select n from report"), [["1"]]);
}

#[test]
fn disabled_models_are_not_built_or_listed() {
    let project = Project::new()
        .file("models/on.sql", "select 1 as id")
        .file("models/off_in_file.sql", "{{ config(enabled=false) }}\nselect 1 as id")
        .file("models/off_in_yaml.sql", "select 1 as id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: off_in_yaml\n    config:\n      enabled: false\n",
        )
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\nmodels:\n  legacy:\n    +enabled: false\n",
        )
        .file("models/legacy/old.sql", "select 1 as id");

    project.sb(&["run"]).success().stdout_contains("PASS=1");

    assert_eq!(project.relations(), ["main.on"]);
    let listed = project.sb(&["ls"]);
    assert_eq!(sorted_lines(&listed.success().stdout), ["on"]);
}

#[test]
fn ref_to_a_disabled_model_is_an_error() {
    let project = Project::new()
        .file(
            "models/off.sql",
            "{{ config(enabled=false) }}\nselect 1 as id",
        )
        .file("models/on.sql", "select * from {{ ref('off') }}");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("`off`")
        .stderr_contains("disabled")
        .stderr_contains("models/on.sql:1:");
}

#[test]
fn folder_config_sets_materialization_below_the_folder() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\nmodels:\n  +materialized: view\n  marts:\n    +materialized: table\n    core:\n      +materialized: view\n",
        )
        .file("models/staging/stg.sql", "select 1 as id")
        .file("models/marts/fct.sql", "select * from {{ ref('stg') }}")
        .file("models/marts/core/dim.sql", "select * from {{ ref('stg') }}");

    project.sb(&["run"]).success();

    assert_eq!(
        project.relation_type("main", "stg").as_deref(),
        Some("VIEW")
    );
    assert_eq!(
        project.relation_type("main", "fct").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(
        project.relation_type("main", "dim").as_deref(),
        Some("VIEW")
    );
}

#[test]
fn folder_config_may_be_nested_under_the_project_name_as_in_dbt() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\nmodels:\n  sb_test:\n    marts:\n      +materialized: table\n",
        )
        .file("models/marts/fct.sql", "select 1 as id");

    project.sb(&["run"]).success();

    assert_eq!(
        project.relation_type("main", "fct").as_deref(),
        Some("BASE TABLE")
    );
}

#[test]
fn in_file_config_beats_schema_yaml_which_beats_project_yml() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\nmodels:\n  marts:\n    +materialized: table\n    +alias: from_folder\n",
        )
        // Only the folder speaks: a table.
        .file("models/marts/by_folder.sql", "{{ config(alias='by_folder') }}\nselect 1 as id")
        // YAML says view, over the folder's table.
        .file("models/marts/by_yaml.sql", "{{ config(alias='by_yaml') }}\nselect 1 as id")
        // YAML says view, the file says table: the file wins.
        .file(
            "models/marts/by_file.sql",
            "{{ config(materialized='table', alias='by_file') }}\nselect 1 as id",
        )
        .file(
            "models/marts/schema.yml",
            "version: 2\nmodels:\n  - name: by_yaml\n    config:\n      materialized: view\n  - name: by_file\n    config:\n      materialized: view\n      alias: yaml_alias\n",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.relation_type("main", "by_folder").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(
        project.relation_type("main", "by_yaml").as_deref(),
        Some("VIEW")
    );
    assert_eq!(
        project.relation_type("main", "by_file").as_deref(),
        Some("BASE TABLE")
    );
    assert_eq!(project.relation_type("main", "from_folder"), None);
    assert_eq!(project.relation_type("main", "yaml_alias"), None);
}

#[test]
fn tags_from_folder_yaml_and_file_accumulate() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\nmodels:\n  +tags: [everywhere]\n",
        )
        .file("models/m.sql", "{{ config(tags=['in_file']) }}\nselect 1 as id")
        .file("models/other.sql", "select 1 as id")
        .file("models/schema.yml", "version: 2\nmodels:\n  - name: m\n    config:\n      tags: [in_yaml]\n");

    for tag in ["everywhere", "in_yaml", "in_file"] {
        let output = project.sb(&["ls", "-s", &format!("tag:{tag}")]);
        let expected: &[&str] = if tag == "everywhere" {
            &["m", "other"]
        } else {
            &["m"]
        };
        assert_eq!(
            sorted_lines(&output.success().stdout),
            expected,
            "tag:{tag}"
        );
    }
}

#[test]
fn folder_with_its_own_project_yml_is_another_project() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file("models/vendored/project.yml", "name: vendored\n")
        .file(
            "models/vendored/broken.sql",
            "select {{ this is not valid jinja",
        )
        .file("models/vendored/a.sql", "select 2 as id");

    project.sb(&["run"]).success().stdout_contains("PASS=1");

    assert_eq!(project.query("select id from a"), [["1"]]);
    assert_eq!(sorted_lines(&project.sb(&["ls"]).success().stdout), ["a"]);
}

#[test]
fn dbt_spellings_of_project_keys_are_accepted() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\nversion: '1.0'\nprofile: sb_test\nconfig-version: 2\nsource-paths: [transform]\ndata-paths: [data]\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n",
        )
        .file("transform/m.sql", "select count(*) as n from {{ ref('things') }}")
        .file("data/things.csv", "id\n1\n2\n");

    project.sb(&["seed"]).success();
    project.sb(&["run"]).success();

    assert_eq!(project.query("select n from m"), [["2"]]);
}

#[test]
fn target_flag_picks_another_database() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ndefault_target: dev\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n  ci:\n    type: duckdb\n    path: target/ci_run.duckdb\n    schema: checks\n",
        )
        .file("models/m.sql", "select 1 as id");

    project.sb(&["run", "-t", "ci"]).success();

    assert_eq!(
        project.query_in("target/ci_run.duckdb", "select id from checks.m"),
        rows(&[["1"]])
    );
    assert!(!project.exists("target/dev.duckdb"), "dev is left alone");
}

#[test]
fn schema_named_like_the_database_file_is_refused_with_a_fix() {
    // DuckDB names the catalog after the file: `analytics.duckdb` holds the
    // catalog `analytics`, and DuckDB 2.0 cannot bind a view over
    // "analytics"."analytics"."m". sb says so before anything runs.
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/analytics.duckdb\n    schema: analytics\n",
        )
        .file("models/m.sql", "{{ config(materialized='table') }}\nselect 1 as id")
        .file("models/n.sql", "select id + 1 as id from {{ ref('m') }}");

    let output = project.sb(&["run"]);
    output.code(2);
    output.stderr_contains("project.yml:6:5");
    output.stderr_contains("rename the schema");
}

#[test]
fn insert_overwrite_on_duckdb_fails_at_compile_at_its_config() {
    let project = Project::new().file(
        "models/daily.sql",
        "{{ config(materialized='incremental', incremental_strategy='insert_overwrite') }}\nselect 1 as id",
    );

    let output = project.sb(&["compile"]);

    output
        .code(2)
        .no_panic()
        .stderr_contains(
            "incremental_strategy `insert_overwrite` of model `daily` is not supported on duckdb",
        )
        .stderr_contains("models/daily.sql:1:")
        .stderr_contains("use one of: merge, append, delete+insert");
}

#[test]
fn partition_by_on_duckdb_fails_at_compile_at_its_yaml_line() {
    let project = Project::new()
        .file("models/events.sql", "select 1 as id, current_date as day")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: events\n    config:\n      materialized: table\n      partition_by: {field: day, data_type: date}\n",
        );

    let output = project.sb(&["compile"]);

    output
        .code(2)
        .no_panic()
        .stderr_contains("`partition_by` of model `events` is not supported on duckdb")
        .stderr_contains("models/schema.yml:6:7");
    project.sb(&["run"]).code(2).no_panic();
    assert!(
        !project.path().join("target/dev.duckdb").exists(),
        "nothing may be built"
    );
}
