//! State end to end (issue 16), on copies of jaffle_shop_duckdb: which
//! nodes `state:modified` (and its facets) selects after a change of SQL, a
//! macro, a YAML test, a config and a seed; `sb diff` of compiled SQL
//! (pinned by snapshots); `--plan`, which writes nothing; a deferred build
//! of only the modified model against "production"; and `sb retry` after a
//! failure, which `result:error+` selects the same as.

use super::harness::{Project, copy_tree, fixture_dir, sorted_lines};

fn jaffle() -> Project {
    let project = Project::bare();
    copy_tree(&fixture_dir("dbt/jaffle_shop_duckdb"), project.path());
    project
}

/// Keeps the project's `target/` as `name`, a state to compare with.
fn save_state(project: &Project, name: &str) {
    let to = project.path().join(name);
    std::fs::create_dir_all(&to).expect("create the state folder");
    copy_tree(&project.path().join("target"), &to);
}

/// The models and seeds `sb ls` selects against state `dir` (the tests of
/// selected models are selected with them, as in dbt), sorted, one per line.
fn listed(project: &Project, selector: &str, dir: &str) -> String {
    listed_of(
        project,
        selector,
        dir,
        &["--resource-type", "model", "seed"],
    )
}

/// [`listed`], with more `sb ls` flags.
fn listed_of(project: &Project, selector: &str, dir: &str, more: &[&str]) -> String {
    let mut args = vec!["ls", "-s", selector, "--state", dir];
    args.extend_from_slice(more);
    let output = project.sb(&args);
    output.success();
    let mut text = sorted_lines(&output.stdout).join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Compiles the project as it is now and keeps its target as `name`.
fn compile_as(project: &Project, name: &str) {
    project.sb(&["compile"]).success();
    save_state(project, name);
}

#[test]
fn state_modified_follows_sql_macros_yaml_tests_configs_and_seeds() {
    let project = jaffle();
    // A macro the payments model calls, so a macro change has a node to mark.
    project.write(
        "macros/cents.sql",
        "{% macro cents_to_dollars(column) %}{{ column }} / 100{% endmacro %}\n",
    );
    project.edit(
        "models/staging/stg_payments.sql",
        "amount / 100 as amount",
        "{{ cents_to_dollars('amount') }} as amount",
    );
    compile_as(&project, "base");
    assert_eq!(listed(&project, "state:modified", "base"), "");
    assert_eq!(listed(&project, "state:new", "base"), "");

    // SQL: the model, and with `+` what is built on it (tests included).
    project.edit(
        "models/staging/stg_orders.sql",
        "status",
        "lower(status) as status",
    );
    assert_eq!(listed(&project, "state:modified", "base"), "stg_orders\n");
    assert_eq!(
        listed(&project, "state:modified.body", "base"),
        "stg_orders\n"
    );
    assert_eq!(listed(&project, "state:modified.configs", "base"), "");
    let downstream = listed_of(&project, "state:modified+", "base", &[]);
    for name in [
        "stg_orders\n",
        "orders\n",
        "customers\n",
        "not_null_orders_order_id\n",
    ] {
        assert!(downstream.contains(name), "{name:?} not in {downstream}");
    }
    assert!(!downstream.contains("stg_payments\n"), "{downstream}");
    compile_as(&project, "after_sql");

    // A macro: the model that calls it, through `.macros`, not `.body`.
    project.edit(
        "macros/cents.sql",
        "{{ column }} / 100",
        "{{ column }} / 100.0",
    );
    assert_eq!(
        listed(&project, "state:modified", "after_sql"),
        "stg_payments\n"
    );
    assert_eq!(
        listed(&project, "state:modified.macros", "after_sql"),
        "stg_payments\n"
    );
    assert_eq!(listed(&project, "state:modified.body", "after_sql"), "");
    compile_as(&project, "after_macro");

    // A YAML test: the changed test is new, and nothing else changed.
    project.edit(
        "models/schema.yml",
        "values: ['placed', 'shipped', 'completed', 'return_pending', 'returned']",
        "values: ['placed', 'shipped', 'completed', 'return_pending', 'returned', 'lost']",
    );
    assert_eq!(listed(&project, "state:modified", "after_macro"), "");
    let changed = listed_of(&project, "state:modified", "after_macro", &[]);
    assert_eq!(changed.lines().count(), 1, "{changed}");
    assert!(
        changed.starts_with("accepted_values_orders_status"),
        "{changed}"
    );
    assert_eq!(
        listed_of(&project, "state:new", "after_macro", &[]),
        changed
    );
    compile_as(&project, "after_test");

    // A config from schema YAML: `.configs`, not `.body`.
    project.edit(
        "models/schema.yml",
        "  - name: orders\n",
        "  - name: orders\n    config:\n      tags: ['finance']\n",
    );
    assert_eq!(listed(&project, "state:modified", "after_test"), "orders\n");
    assert_eq!(
        listed(&project, "state:modified.configs", "after_test"),
        "orders\n"
    );
    compile_as(&project, "after_config");

    // A seed's data is its body.
    project.edit(
        "seeds/raw_orders.csv",
        "1,1,2018-01-01,returned",
        "1,1,2018-01-01,completed",
    );
    assert_eq!(
        listed(&project, "state:modified", "after_config"),
        "raw_orders\n"
    );
}

#[test]
fn sb_diff_shows_compiled_sql_changes_and_exits_1() {
    let project = jaffle();
    project.write(
        "models/old_report.sql",
        "select count(*) as customers from {{ ref('customers') }}\n",
    );
    compile_as(&project, "base");
    project
        .sb(&["diff", "--state", "base"])
        .success()
        .stdout_contains("No difference from the state in base");
    project.edit(
        "models/staging/stg_orders.sql",
        "status",
        "lower(status) as status",
    );
    project.write(
        "models/order_count.sql",
        "select count(*) as orders from {{ ref('orders') }}\n",
    );
    std::fs::remove_file(project.path().join("models/old_report.sql")).expect("rm");
    // `state:deleted` names what only the state has; `state:new` what only
    // the project has.
    assert_eq!(
        listed(&project, "state:deleted", "base"),
        "model.jaffle_shop.old_report (deleted)\n"
    );
    assert_eq!(listed(&project, "state:new", "base"), "order_count\n");
    let output = project.sb(&["diff", "--state", "base", "-s", "resource_type:model"]);
    output.code(1);
    insta::assert_snapshot!("diff_plain", output.stdout);
    let stat = project.sb(&[
        "diff",
        "--state",
        "base",
        "--stat",
        "-s",
        "resource_type:model",
    ]);
    stat.code(1);
    insta::assert_snapshot!("diff_stat", stat.stdout);
}

#[test]
fn plan_prints_actions_and_changes_and_writes_nothing() {
    let project = jaffle();
    project
        .sb(&["build", "--plan"])
        .success()
        .stdout_contains("create view");
    assert!(
        !project.exists("jaffle_shop.duckdb"),
        "a plan made the DuckDB file"
    );
    project.sb(&["build"]).success();
    save_state(&project, "built");
    project.edit(
        "models/staging/stg_orders.sql",
        "status",
        "lower(status) as status",
    );
    let before = std::fs::metadata(project.path().join("jaffle_shop.duckdb"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let output = project.sb(&["build", "--plan", "--state", "built"]);
    output.success();
    let line = |name: &str| {
        let cells = |l: &str| l.split('|').map(str::trim).collect::<Vec<_>>().join(" | ");
        output
            .stdout_lines()
            .into_iter()
            .map(cells)
            .find(|l| l.split(" | ").nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no plan line for {name}:\n{}", output.stdout))
    };
    assert_eq!(
        line("stg_orders"),
        "model | stg_orders | replace view | modified: body"
    );
    assert_eq!(
        line("customers"),
        "model | customers | replace table | unchanged"
    );
    assert_eq!(
        line("raw_orders"),
        "seed | raw_orders | load seed (replace its rows) | unchanged"
    );
    let after = std::fs::metadata(project.path().join("jaffle_shop.duckdb"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after, "a plan wrote to the DuckDB file");
}

/// The profile with a production and a development output on one file,
/// and a third file for a full build to compare with.
const PROFILES: &str = "jaffle_shop:
  target: prod
  outputs:
    prod:
      type: duckdb
      path: 'jaffle_shop.duckdb'
      schema: main
      threads: 4
    dev:
      type: duckdb
      path: 'jaffle_shop.duckdb'
      schema: dev
      threads: 4
    full:
      type: duckdb
      path: 'full.duckdb'
      schema: main
      threads: 4
";

#[test]
fn a_deferred_build_builds_only_the_modified_model_against_production() {
    let project = jaffle();
    project.write("profiles.yml", PROFILES);
    project.sb(&["build", "-t", "prod"]).success();
    save_state(&project, "prod_state");
    project.edit(
        "models/customers.sql",
        "customer_payments.total_amount as customer_lifetime_value",
        "customer_payments.total_amount * 2 as customer_lifetime_value",
    );
    let output = project.sb(&[
        "build",
        "-t",
        "dev",
        "-s",
        "state:modified",
        "--defer",
        "--state",
        "prod_state",
    ]);
    output
        .success()
        .stdout_contains("Deferring")
        .stdout_contains("model.jaffle_shop.stg_customers")
        .stdout_contains("OK    model customers");
    assert!(
        !output.stdout.contains("model stg_orders"),
        "{}",
        output.stdout
    );
    let dev_tables = project.query_in(
        "jaffle_shop.duckdb",
        "select table_name from information_schema.tables where table_schema = 'dev' order by 1",
    );
    assert_eq!(dev_tables, [["customers"]]);
    project.sb(&["build", "-t", "full"]).success();
    let rows = |file: &str, schema: &str| {
        project.query_in(
            file,
            &format!("select * from {schema}.customers order by customer_id"),
        )
    };
    assert_eq!(
        rows("jaffle_shop.duckdb", "dev"),
        rows("full.duckdb", "main")
    );
    assert_ne!(
        rows("jaffle_shop.duckdb", "dev"),
        rows("jaffle_shop.duckdb", "main")
    );
}

#[test]
fn sb_retry_builds_the_failed_model_and_what_it_skipped_only() {
    let project = jaffle();
    project.sb(&["seed"]).success();
    project.edit(
        "models/staging/stg_orders.sql",
        "status",
        "no_such_column as status",
    );
    project.sb(&["run"]).code(1);
    let again = listed_of(
        &project,
        "result:error+",
        "target",
        &["--resource-type", "model", "seed"],
    );
    assert_eq!(again, "customers\norders\nstg_orders\n");
    project.edit(
        "models/staging/stg_orders.sql",
        "no_such_column as status",
        "status",
    );
    let output = project.sb(&["retry"]);
    output
        .success()
        .stdout_contains("Retrying the 3 failed or skipped nodes of the last `sb run`")
        .stdout_contains("OK    model stg_orders")
        .stdout_contains("OK    model orders")
        .stdout_contains("OK    model customers");
    assert!(!output.stdout.contains("stg_payments"), "{}", output.stdout);
    project
        .sb(&["retry"])
        .success()
        .stdout_contains("Nothing to retry");
}

/// A state written by dbt itself (dbt-core 1.12 with dbt-duckdb, by
/// `scripts/dbt-reference`): sb reads its checksums as dbt takes them and
/// its configs with dbt's defaults spelled out, so an unchanged project is
/// unchanged against it, and an edit is the edit.
#[test]
fn a_state_dbt_wrote_compares_with_the_project_sb_reads() {
    let project = jaffle();
    let dbt_state = fixture_dir("reference/dbt_state/jaffle_shop_duckdb");
    let state = dbt_state.to_string_lossy().into_owned();
    assert_eq!(listed(&project, "state:modified", &state), "");
    assert_eq!(listed(&project, "state:new", &state), "");
    project.edit(
        "models/staging/stg_orders.sql",
        "        status\n",
        "        lower(status) as status\n",
    );
    assert_eq!(listed(&project, "state:modified", &state), "stg_orders\n");
    assert_eq!(
        listed(&project, "state:modified.body", &state),
        "stg_orders\n"
    );
    assert_eq!(listed(&project, "state:modified.configs", &state), "");
}
