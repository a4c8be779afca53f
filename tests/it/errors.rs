//! SPEC "Errors": every mistake a user can make names the file, the line and
//! column, and says what to do. One test and one stderr snapshot per error;
//! each also asserts the exit code (2: invalid project, nothing ran; 1: a
//! model failed in the warehouse) and the `file:line:col` it must point at.

use crate::assert_stderr_snapshot;
use crate::it::harness::Project;

/// Exit code 2 means nothing ran: no relation may exist afterwards.
fn assert_nothing_built(project: &Project) {
    if project.exists("target/dev.duckdb") {
        assert_eq!(
            project.relations(),
            Vec::<String>::new(),
            "an invalid project built something"
        );
    }
}

#[test]
fn jinja_syntax_error_points_at_file_line_and_column() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file("models/bad.sql", "select\n    {{ ref('orders' }} as x\n");

    let output = project.sb(&["run"]);

    output.code(2).stderr_contains("--> models/bad.sql:2:");
    assert!(output.stderr.contains("error: "), "{output}");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn jinja_syntax_error_in_a_macro_names_the_macro_file() {
    let project = Project::new()
        .file("macros/good.sql", "{% macro one() %}1{% endmacro %}\n")
        .file(
            "macros/money.sql",
            "{% macro cents(col) %}\n    ({{ col / 100 }\n{% endmacro %}\n",
        )
        .file("models/a.sql", "select {{ one() }} as id");

    let output = project.sb(&["run"]);

    output.code(2).stderr_contains("--> macros/money.sql:2:");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_ref_suggests_closest_name() {
    let project = Project::fixture("broken_ref");

    let output = project.sb(&["run"]);

    // Exactly the example in SPEC/STYLE.
    output.code(2).stderr_contains(
        "error: unknown ref `ordrs`\n \
         --> models/marts/revenue.sql:3:23\n  \
         |\n\
         3 | select * from {{ ref('ordrs') }}\n  \
         |                       ^^^^^\n  \
         = help: did you mean `orders`?\n",
    );
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_ref_with_no_close_name_says_how_to_create_it() {
    let project = Project::new().file(
        "models/a.sql",
        "select * from {{ ref('zzz_nothing_like_it') }}",
    );

    let output = project.sb(&["compile"]);

    output
        .code(2)
        .stderr_contains("unknown ref `zzz_nothing_like_it`")
        .stderr_contains("--> models/a.sql:1:23");
    assert!(
        output.stderr.contains("help:"),
        "the error must say what to do\n{output}"
    );
}

#[test]
fn cycle_error_shows_the_whole_path() {
    let project = Project::fixture("broken_cycle");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("dependency cycle: a -> b -> c -> a");
    // It points at one of the refs that close the circle, not at a comment.
    let pointed_line = output
        .stderr
        .lines()
        .find(|line| line.starts_with(|c: char| c.is_ascii_digit()) && line.contains(" | "))
        .unwrap_or_else(|| panic!("no source line shown\n{output}"));
    assert!(
        pointed_line.contains("ref('"),
        "the cycle error should point at a ref: {pointed_line}\n{output}"
    );
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn model_that_refs_itself_is_a_cycle() {
    let project = Project::new().file("models/loop.sql", "select * from {{ ref('loop') }}");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("loop -> loop")
        .stderr_contains("models/loop.sql:1:");
}

#[test]
fn yaml_syntax_error_in_schema_file_points_at_line() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    description: total: the order total\n",
        );

    let output = project.sb(&["run"]);

    output.code(2).stderr_contains("--> models/schema.yml:4:");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn yaml_syntax_error_in_project_yml_points_at_line() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ndefault_target: dev: prod\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n",
        )
        .file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run"]);

    output.code(2).stderr_contains("--> project.yml:2:");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn duplicate_model_names_name_both_files() {
    let project = Project::new()
        .file("models/staging/orders.sql", "select 1 as order_id")
        .file("models/marts/orders.sql", "select 2 as order_id");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("`orders`")
        .stderr_contains("models/staging/orders.sql")
        .stderr_contains("models/marts/orders.sql");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_config_key_in_config_call_suggests_closest() {
    let project = Project::new().file(
        "models/orders.sql",
        "-- orders\n{{ config(materialised='table') }}\nselect 1 as order_id\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("unknown config key `materialised`")
        .stderr_contains("--> models/orders.sql:2:11")
        .stderr_contains("did you mean `materialized`?");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_config_key_in_schema_yaml_suggests_closest() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    config:\n      materialised: table\n",
        );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("unknown config key `materialised`")
        .stderr_contains("--> models/schema.yml:5:7")
        .stderr_contains("did you mean `materialized`?");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_config_key_in_project_yml_suggests_closest() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\nmodels:\n  marts:\n    +materialised: table\n",
        )
        .file("models/marts/orders.sql", "select 1 as order_id");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("`+materialised`")
        .stderr_contains("--> project.yml:8:5")
        .stderr_contains("did you mean `materialized`?");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_materialization_suggests_closest() {
    let project = Project::new().file(
        "models/orders.sql",
        "{{ config(materialized='tabel') }}\nselect 1 as order_id\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("unknown materialization `tabel`")
        .stderr_contains("--> models/orders.sql:1:25")
        .stderr_contains("did you mean `table`?");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_generic_test_suggests_closest() {
    let project = Project::new().file("models/orders.sql", "select 1 as order_id").file(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests: [unique, not_nul]\n",
    );

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("not_nul")
        .stderr_contains("--> models/schema.yml:6:")
        .stderr_contains("`not_null`");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

/// A model `orders` (order_id, customer_id) with `tests` as the YAML of its
/// `order_id` column, and a model `customers` (id).
fn tested(tests: &str) -> Project {
    Project::new()
        .file("models/orders.sql", "select 1 as order_id, 7 as customer_id")
        .file("models/customers.sql", "select 7 as id")
        .file(
            "models/schema.yml",
            format!(
                "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests:\n{tests}"
            ),
        )
}

#[test]
fn generic_test_missing_a_required_argument_names_it() {
    let project = tested("          - accepted_values:\n              quote: false\n");

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("missing its required argument `values`")
        .stderr_contains("--> models/schema.yml:7:13");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn generic_test_with_an_unknown_argument_suggests_closest() {
    let project = tested("          - accepted_values:\n              valeus: [1]\n");

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("--> models/schema.yml:8:15")
        .stderr_contains("`values`");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn relationships_to_an_unknown_model_suggests_closest() {
    let project = tested(
        "          - relationships:\n              to: ref('custmers')\n              field: id\n",
    );

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("unknown ref `custmers`")
        .stderr_contains("--> models/schema.yml:8:24")
        .stderr_contains("`customers`");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_column_in_a_test_names_the_column_entry() {
    let project = tested("          - not_null\n");
    project.sb(&["run"]).success();
    let yml = project.read("models/schema.yml");
    project.write(
        "models/schema.yml",
        yml.replace("name: order_id", "name: ordr_id"),
    );

    let output = project.sb(&["test"]);

    output
        .code(2)
        .stderr_contains("column `ordr_id`")
        .stderr_contains("--> models/schema.yml:5:15")
        .stderr_contains("`order_id`");
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_seed_column_in_a_test_stops_a_build_before_it_starts() {
    let project = Project::new()
        .file("seeds/plans.csv", "plan_id,name\n1,basic\n")
        .file(
            "seeds/schema.yml",
            "version: 2\nseeds:\n  - name: plans\n    columns:\n      - name: plan\n        data_tests: [unique]\n",
        );

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("--> seeds/schema.yml:5:15")
        .stderr_contains("`plan_id`");
    assert_nothing_built(&project);
}

#[test]
fn invalid_test_severity_names_the_key() {
    let project =
        tested("          - not_null:\n              config:\n                severity: fatal\n");

    let output = project.sb(&["build"]);

    output
        .code(2)
        .stderr_contains("`severity` must be `error` or `warn`")
        .stderr_contains("--> models/schema.yml:9:17");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn tests_on_an_unknown_model_suggest_closest() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: ordres\n    columns:\n      - name: order_id\n        data_tests: [not_null]\n",
        );

    let output = project.sb(&["test"]);

    output
        .code(2)
        .stderr_contains("--> models/schema.yml:3:11")
        .stderr_contains("`orders`");
}

#[test]
fn sql_error_from_warehouse_is_mapped_to_the_model_file() {
    let project = Project::new().file("models/a.sql", "select 1 as id").file(
        "models/b.sql",
        "-- b reads a\nselect id, amount\nfrom {{ ref('a') }}\n",
    );

    let output = project.sb(&["run"]);

    // A failed model is a result (exit 1), not an invalid project.
    output
        .code(1)
        .stderr_contains("`b`")
        .stderr_contains("amount")
        .stderr_contains("--> models/b.sql:2:12")
        .stderr_contains("target/run/sb_test/models/b.sql");
    assert!(
        project.exists("target/run/sb_test/models/b.sql"),
        "the statements sent are kept for the user"
    );
    assert!(
        project
            .read("target/run/sb_test/models/b.sql")
            .contains("amount")
    );
    assert_stderr_snapshot!(output);
}

#[test]
fn missing_var_names_the_var_and_how_to_set_it() {
    let project = Project::new().file(
        "models/events.sql",
        "select *\nfrom range(10) as t(day)\nwhere day >= {{ var('start_day') }}\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("`start_day`")
        .stderr_contains("--> models/events.sql:3:")
        .stderr_contains("--vars");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_source_suggests_closest() {
    let project = Project::new()
        .file(
            "models/sources.yml",
            "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: orders\n      - name: customers\n",
        )
        .file(
            "models/stg_orders.sql",
            "select *\nfrom {{ source('shop', 'ordrs') }}\n",
        );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("unknown source `shop.ordrs`")
        .stderr_contains("--> models/stg_orders.sql:2:")
        .stderr_contains("`shop.orders`");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

const TWO_TARGETS: &str = "\
name: sb_test
default_target: dev
targets:
  dev:
    type: duckdb
    path: target/dev.duckdb
    schema: main
  prod:
    type: duckdb
    path: \"{{ env_var('SB_TEST_PROD_DB') }}\"
    schema: main
";

#[test]
fn env_var_only_prod_needs_does_not_break_dev() {
    let project = Project::new()
        .file("project.yml", TWO_TARGETS)
        .file("models/a.sql", "select 1 as id");

    project.sb(&["run"]).success();

    assert_eq!(project.query("select id from a"), [["1"]]);
}

#[test]
fn missing_env_var_of_selected_target_names_project_yml() {
    let project = Project::new()
        .file("project.yml", TWO_TARGETS)
        .file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run", "--target", "prod"]);

    output
        .code(2)
        .stderr_contains("SB_TEST_PROD_DB")
        .stderr_contains("--> project.yml:10:");
    assert_stderr_snapshot!(output);
}

#[test]
fn missing_env_var_in_a_model_names_the_variable() {
    let project = Project::new().file(
        "models/a.sql",
        "select '{{ env_var(\"SB_TEST_MISSING\") }}' as secret",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("SB_TEST_MISSING")
        .stderr_contains("--> models/a.sql:1:");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn raise_compiler_error_stops_with_the_file_and_message() {
    let project = Project::new().file(
        "models/guarded.sql",
        "{% if var('region', 'none') == 'none' %}\n  {{ exceptions.raise_compiler_error('set the region var first') }}\n{% endif %}\nselect 1 as id\n",
    );

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("set the region var first")
        .stderr_contains("--> models/guarded.sql:2:");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);

    project.sb(&["run", "--vars", "{region: eu}"]).success();
}

#[test]
fn unknown_selector_method_suggests_closest() {
    let project = Project::new().file("models/a.sql", "select 1 as id");

    let output = project.sb(&["ls", "-s", "tga:nightly"]);

    output
        .code(2)
        .stderr_contains("tga")
        .stderr_contains("`tag`");
    assert_stderr_snapshot!(output);
}

#[test]
fn unknown_target_lists_the_targets() {
    let project = Project::new().file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run", "-t", "dve"]);

    output
        .code(2)
        .stderr_contains("`dve`")
        .stderr_contains("`dev`");
    assert_nothing_built(&project);
    assert_stderr_snapshot!(output);
}

#[test]
fn missing_project_yml_says_where_sb_looked() {
    let project = Project::bare().file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run"]);

    output
        .code(2)
        .stderr_contains("project.yml")
        .stderr_contains("--project-dir");
}
