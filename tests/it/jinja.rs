//! The Jinja context of a model: macros without imports, `adapter.dispatch`,
//! `var`, `env_var`, `target`, `run_query`, `log`, and templates that would
//! never finish on their own.

use crate::assert_stderr_snapshot;
use crate::it::harness::{Project, rows};

#[test]
fn macros_are_visible_to_models_without_an_import() {
    let project = Project::new()
        .file(
            "macros/money.sql",
            "{% macro cents_to_dollars(column, scale=2) -%}\n    round({{ column }} / 100.0, {{ scale }})\n{%- endmacro %}\n",
        )
        .file("macros/nested/more.sql", "{% macro double(x) %}({{ x }} * 2){% endmacro %}\n")
        .file(
            "models/payments.sql",
            "select {{ cents_to_dollars('amount') }} as dollars, {{ double('amount') }} as twice\nfrom (values (1234)) as t(amount)\n",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select cast(dollars as varchar), twice from payments"),
        rows(&[["12.34", "2468"]])
    );
}

#[test]
fn macros_can_call_other_macros() {
    let project = Project::new()
        .file(
            "macros/a.sql",
            "{% macro outer_macro() %}{{ inner_macro() }} + 1{% endmacro %}\n",
        )
        .file(
            "macros/b.sql",
            "{% macro inner_macro() %}41{% endmacro %}\n",
        )
        .file("models/m.sql", "select {{ outer_macro() }} as answer");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select answer from m"), [["42"]]);
}

#[test]
fn adapter_dispatch_prefers_the_duckdb_implementation() {
    let project = Project::new()
        .file(
            "macros/dates.sql",
            "{% macro today_sql() %}{{ return(adapter.dispatch('today_sql')()) }}{% endmacro %}
{% macro default__today_sql() %}'default'{% endmacro %}
{% macro duckdb__today_sql() %}'duckdb'{% endmacro %}
{% macro default__only_default() %}'fallback'{% endmacro %}
",
        )
        .file(
            "models/m.sql",
            "select {{ adapter.dispatch('today_sql')() }} as direct,
       {{ today_sql() }} as wrapped,
       {{ adapter.dispatch('only_default')() }} as fallback
",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select direct, wrapped, fallback from m"),
        rows(&[["duckdb", "duckdb", "fallback"]])
    );
}

#[test]
fn macros_reach_the_macros_they_call_when_the_model_names_only_one() {
    let project = Project::new()
        .file(
            "macros/dates.sql",
            "{% macro today_sql() %}{{ return(adapter.dispatch('today_sql')()) }}{% endmacro %}
{% macro default__today_sql() %}'default'{% endmacro %}
{% macro duckdb__today_sql() %}{{ quoted('duckdb') }}{% endmacro %}
{% macro quoted(text) %}'{{ text }}'{% endmacro %}
",
        )
        .file("models/m.sql", "select {{ today_sql() }} as wrapped\n");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select wrapped from m"), [["duckdb"]]);
}

#[test]
fn var_reads_project_vars_and_cli_overrides() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\nvars:\n  min_id: 3\n  label: from_project\n",
        )
        .file(
            "models/m.sql",
            "select count(*) as n, '{{ var(\"label\") }}' as label, {{ var('missing_with_default', 7) }} as fallback
from range(10) as t(id)
where id >= {{ var('min_id') }}
",
        );

    project.sb(&["run"]).success();
    assert_eq!(
        project.query("select n, label, fallback from m"),
        rows(&[["7", "from_project", "7"]])
    );

    project
        .sb(&["run", "--vars", "{min_id: 8, label: from_cli}"])
        .success();
    assert_eq!(
        project.query("select n, label, fallback from m"),
        rows(&[["2", "from_cli", "7"]])
    );
}

#[test]
fn invalid_vars_flag_is_a_command_line_error() {
    let project = Project::new().file("models/m.sql", "select 1 as id");

    let output = project.sb(&["run", "--vars", "[not, a, mapping"]);

    output.code(2).no_panic().stderr_contains("--vars");
}

#[test]
fn env_var_reads_the_environment_with_a_default() {
    let project = Project::new().file(
        "models/m.sql",
        "select '{{ env_var(\"SB_TEST_GREETING\", \"hello\") }}' as greeting",
    );

    project.sb(&["run"]).success();
    assert_eq!(project.query("select greeting from m"), [["hello"]]);

    project
        .sb_with_env(&["run"], &[("SB_TEST_GREETING", "bonjour")])
        .success();
    assert_eq!(project.query("select greeting from m"), [["bonjour"]]);
}

#[test]
fn env_var_in_project_yml_fills_target_settings() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: \"{{ env_var('SB_TEST_PROD_DB', 'target/default.duckdb') }}\"\n",
        )
        .file("models/m.sql", "select 1 as id");

    project.sb(&["run"]).success();
    assert!(project.exists("target/default.duckdb"));

    project
        .sb_with_env(&["run"], &[("SB_TEST_PROD_DB", "target/from_env.duckdb")])
        .success();
    assert_eq!(
        project.query_in("target/from_env.duckdb", "select id from m"),
        rows(&[["1"]])
    );
}

#[test]
fn target_describes_the_selected_target() {
    let project = Project::new().file(
        "models/m.sql",
        "select '{{ target.name }}' as name, '{{ target.type }}' as type, '{{ target.schema }}' as schema, {{ this.schema == target.schema }} as same",
    );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select * from m"),
        rows(&[["dev", "duckdb", "main", "true"]])
    );
}

#[test]
fn run_query_reads_the_warehouse_at_execution_time() {
    let project = Project::new()
        .file(
            "models/sizes.sql",
            "{{ config(materialized='table') }}\nselect * from (values ('s'), ('m'), ('l')) as t(size)",
        )
        .file(
            "models/size_pivot.sql",
            "{% set result = run_query('select size from ' ~ ref('sizes') ~ ' order by size') %}
{% if execute %}
  {% set sizes = result.columns[0].values() %}
{% else %}
  {% set sizes = [] %}
{% endif %}
select
{% for size in sizes %}
    '{{ size }}' as size_{{ size }}{% if not loop.last %},{% endif %}
{% endfor %}
{% if not sizes %}1 as nothing{% endif %}
",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select size_l, size_m, size_s from size_pivot"),
        rows(&[["l", "m", "s"]])
    );
}

#[test]
fn log_messages_are_printed_during_compile_and_run() {
    let project = Project::new().file(
        "models/m.sql",
        "{{ log('building m for ' ~ var('who', 'dev'), info=True) }}\nselect 1 as id",
    );

    let compiled = project.sb(&["compile"]);
    compiled.success();
    assert!(
        compiled.all_output().contains("building m for dev"),
        "{compiled}"
    );

    let ran = project.sb(&["run"]);
    ran.success();
    assert!(ran.all_output().contains("building m for dev"), "{ran}");
}

#[test]
fn endless_template_loop_is_stopped_with_an_error() {
    let project = Project::new().file(
        "models/spin.sql",
        "select 1 as id\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .no_panic()
        .stderr_contains("--> models/spin.sql:2:");
    // A hang would exceed the harness's time limit and fail there.
    assert_stderr_snapshot!(output);
}

#[test]
fn macro_that_recurses_forever_is_an_error() {
    let project = Project::new()
        .file(
            "macros/forever.sql",
            "{% macro forever(n) %}{{ forever(n + 1) }}{% endmacro %}\n",
        )
        .file("models/m.sql", "select {{ forever(0) }} as n");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .no_panic()
        .stderr_contains("macros/forever.sql");
    assert!(
        output.stderr.contains("models/m.sql"),
        "say which model was being rendered\n{output}"
    );
}

#[test]
fn macro_files_with_top_level_code_keep_it_visible_to_their_macros() {
    let project = Project::new()
        .file(
            "macros/scaled.sql",
            "{% set factor = 3 %}\n{% macro scaled(x) %}({{ x }} * {{ factor }}){% endmacro %}\n",
        )
        .file(
            "macros/other.sql",
            "{# helpers #}\n{% macro unused_one() %}1{% endmacro %}\n{% macro plus_one(x) %}({{ x }} + 1){% endmacro %}\n",
        )
        .file("models/m.sql", "select {{ plus_one(scaled(2)) }} as v\n");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select v from m"), [["7"]]);
}

#[test]
fn error_in_a_macro_points_at_its_file_and_line() {
    let project = Project::new()
        .file(
            "macros/a_first.sql",
            "{% macro first() %}1{% endmacro %}\n",
        )
        .file(
            "macros/helpers.sql",
            "{% macro fine() %}\n  1\n{% endmacro %}\n\n{% macro broken() %}\n  {{ fine() }}\n  {{ no_such_value }}\n{% endmacro %}\n",
        )
        .file("models/m.sql", "select {{ broken() }} as v\n");

    let output = project.sb(&["compile"]);

    output
        .code(2)
        .stderr_contains("no_such_value")
        .stderr_contains("--> macros/helpers.sql:7:")
        .stderr_contains("while rendering models/m.sql");
}

#[test]
fn undefined_name_is_an_error_with_location() {
    let project = Project::new().file(
        "models/m.sql",
        "select 1 as id\nwhere {{ not_defined_anywhere }} = 1\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("not_defined_anywhere")
        .stderr_contains("--> models/m.sql:2:");
}

#[test]
fn this_and_model_describe_the_node_being_built() {
    let project = Project::new().file(
        "models/marts/orders.sql",
        "{{ config(materialized='table', schema='marts') }}\nselect '{{ this }}' as this_name, '{{ this.identifier }}' as identifier, '{{ model.name }}' as model_name",
    );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select this_name, identifier, model_name from main_marts.orders"),
        rows(&[[r#""dev"."main_marts"."orders""#, "orders", "orders"]])
    );
}
