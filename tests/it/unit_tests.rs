//! dbt 1.8 unit tests end to end (issue 15), on the `unit_tests` fixture
//! project: given rows as dicts, csv and sql, `this` and an
//! `is_incremental` override; they run on sb's embedded DuckDB with no
//! parent built, a failure prints the rows only expected (`-`) and only
//! produced (`+`) and lands in junit.xml, and `sb build` runs a model's unit
//! tests before it and skips it when one fails.

use super::harness::{Project, copy_tree, fixture_dir};

fn fixture() -> Project {
    let project = Project::bare();
    copy_tree(&fixture_dir("dbt/unit_tests"), project.path());
    project
}

/// Makes the first unit test expect a spend the model does not give.
fn break_first_expectation(project: &Project) {
    project.edit(
        "models/schema.yml",
        "orders: 1, spend: 10,",
        "orders: 1, spend: 109,",
    );
}

#[test]
fn unit_tests_pass_with_no_parent_in_the_warehouse() {
    let project = fixture();
    project
        .sb(&["ls", "-s", "resource_type:unit_test"])
        .success()
        .stdout_contains("returns_are_left_out\ncsv_and_sql_inputs\nonly_new_orders_are_merged");
    let output = project.sb(&["test", "--unit"]);
    output
        .success()
        .stdout_contains("Running 4 unit tests")
        .stdout_contains("PASS  unit_test csv_and_sql_inputs")
        .stdout_contains("PASS  unit_test only_new_orders_are_merged")
        .stdout_contains("PASS  unit_test the_threshold_is_a_var")
        .stdout_contains("Done. PASS=4 ");
    // No warehouse was touched: the target's DuckDB file was not even made.
    assert!(!project.exists("unit.duckdb"));
    let results = project.read_json("target/run_results.json");
    let statuses: Vec<(&str, &str)> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(
            "unit_test.unit_tests_demo.customer_totals.returns_are_left_out",
            "pass"
        )),
        "{statuses:?}"
    );
    let manifest = project.read_json("target/manifest.json");
    let unit = &manifest["unit_tests"]["unit_test.unit_tests_demo.recent_orders.only_new_orders_are_merged"];
    assert_eq!(unit["model"], "recent_orders");
    assert_eq!(unit["overrides"]["macros"]["is_incremental"], true);
    assert_eq!(unit["given"][1]["input"], "this");
    assert!(
        manifest["nodes"]
            .as_object()
            .is_some_and(|nodes| nodes.keys().all(|k| !k.starts_with("unit_test.")))
    );
}

#[test]
fn a_failing_unit_test_shows_its_diff_and_skips_its_model_in_build() {
    let project = fixture();
    break_first_expectation(&project);
    let output = project.sb(&["build"]);
    output
        .code(1)
        .stdout_contains("FAIL  unit_test returns_are_left_out")
        .stdout_contains("1 expected row missing, 1 row not expected")
        .stdout_contains("SKIP  model customer_totals")
        .stdout_contains("skipped because unit_test `returns_are_left_out` failed")
        .stdout_contains("OK    model recent_orders")
        .stderr_contains("models/schema.yml:2:11")
        .stderr_contains("- 1           | 1      | 109   | 2024-02-01")
        .stderr_contains("+ 1           | 1      | 10    | 2024-02-01");
    // The other models were built; the one under test was not.
    let tables = project.query_in(
        "unit.duckdb",
        "select table_name from information_schema.tables where table_catalog = current_database() order by 1",
    );
    let names: Vec<&str> = tables.iter().map(|row| row[0].as_str()).collect();
    assert!(
        names.contains(&"recent_orders") && !names.contains(&"customer_totals"),
        "{names:?}"
    );
    let junit = project.read("target/junit.xml");
    assert!(
        junit.contains("<testcase name=\"returns_are_left_out\""),
        "{junit}"
    );
    assert!(junit.contains("| 109   |"), "{junit}");
    // Fixed, the model builds again.
    let fixed = fixture();
    fixed
        .sb(&["build"])
        .success()
        .stdout_contains("OK    model customer_totals");
}

#[test]
fn unit_test_mistakes_are_errors_at_their_yaml_line() {
    let project = fixture();
    project.edit(
        "models/schema.yml",
        "model: customer_totals",
        "model: customer_total",
    );
    project
        .sb(&["test", "--unit"])
        .code(2)
        .stderr_contains(
            "unit test `returns_are_left_out` tests `customer_total`, which is not a model",
        )
        .stderr_contains("models/schema.yml:2:11");

    let project = fixture();
    project.edit(
        "models/schema.yml",
        "      - input: ref('raw_customers')\n        rows:\n          - {id: 1, name: Ann}\n          - {id: 2, name: Bob}\n",
        "",
    );
    project
        .sb(&["test", "--unit", "-s", "customer_totals"])
        .code(1)
        .stderr_contains(
            "`customer_totals` reads ref('raw_customers'), which the test gives no rows for",
        );
}

/// dbt-artifacts-parser reads a manifest with unit tests and run results
/// with their outcomes.
#[test]
fn dbt_artifacts_parser_reads_unit_tests() {
    let project = fixture();
    project.sb(&["build"]).success();
    project.sb(&["docs"]).success();
    super::artifacts::check_with_artifacts_parser(&project);
}

/// A BigQuery target's unit tests run on the embedded DuckDB without a
/// connection (the endpoint here answers nothing); a model in BigQuery-only
/// SQL is said to be not portable.
#[test]
fn unit_tests_of_a_bigquery_target_need_no_connection() {
    let project = fixture()
        .file(
            "bigquery/profiles.yml",
            "unit_tests_demo:\n  target: prod\n  outputs:\n    prod:\n      type: bigquery\n      method: oauth\n      project: nowhere\n      dataset: analytics\n      location: US\n      api_url: http://127.0.0.1:9\n",
        )
        .file(
            "models/fingerprints.sql",
            "select order_id, farm_fingerprint(cast(order_id as string)) as fingerprint from {{ ref('stg_orders') }}\n",
        )
        .file(
            "models/fingerprints.yml",
            "unit_tests:\n  - name: fingerprints_are_kept\n    model: fingerprints\n    given:\n      - input: ref('stg_orders')\n        rows: [{order_id: 1}]\n    expect:\n      rows: [{order_id: 1}]\n",
        );
    project
        .sb(&[
            "test",
            "--unit",
            "--profiles-dir",
            "bigquery",
            "-s",
            "customer_totals",
        ])
        .success()
        .stdout_contains("on target `prod` (bigquery)")
        .stdout_contains("PASS  unit_test returns_are_left_out");
    project
        .sb(&[
            "test",
            "--unit",
            "--profiles-dir",
            "bigquery",
            "-s",
            "fingerprints",
        ])
        .code(1)
        .stderr_contains("`fingerprints` is written for bigquery and its SQL is not portable")
        .stderr_contains("models/fingerprints.yml:2:11");
}

/// `fixture:` names a file under tests/fixtures/ (any folder below it),
/// csv or sql by the input's `format`; a `.sql` fixture there is no singular
/// test; a missing one is an error at the `fixture:` line.
#[test]
fn unit_test_rows_can_come_from_fixture_files() {
    let project = fixture();
    project.edit(
        "models/schema.yml",
        "        rows: |\n          id,name\n          7,Cid\n",
        "        fixture: one_customer\n",
    );
    project.edit(
        "models/schema.yml",
        "        rows: |\n          select 1 as order_id, 7 as customer_id, 2.5 as amount, date '2024-03-01' as ordered_at, 'placed' as status\n",
        "        fixture: one_order\n",
    );
    project.write("tests/fixtures/one_customer.csv", "id,name\n7,Cid\n");
    project.write(
        "tests/fixtures/orders/one_order.sql",
        "select 1 as order_id, 7 as customer_id, 2.5 as amount, date '2024-03-01' as ordered_at, 'placed' as status\n",
    );
    project
        .sb(&["test", "--unit", "-s", "customer_totals"])
        .success()
        .stdout_contains("PASS  unit_test csv_and_sql_inputs");
    project
        .sb(&["ls", "-s", "resource_type:test"])
        .success()
        .stdout_lines()
        .iter()
        .for_each(|line| {
            assert!(
                !line.contains("one_order"),
                "a fixture became a test: {line}"
            );
        });

    std::fs::remove_file(project.path().join("tests/fixtures/one_customer.csv")).expect("rm");
    project
        .sb(&["test", "--unit"])
        .code(2)
        .stderr_contains("the fixture file `one_customer.csv` of unit test `csv_and_sql_inputs` is not under tests/fixtures/")
        .stderr_contains("models/schema.yml:24:");
}

/// `overrides:` replace a macro's value (bare, in a namespace, or sb's own
/// `dbt.current_timestamp`) and environment variables, in the model's SQL.
#[test]
fn unit_test_overrides_replace_macros_and_env_vars() {
    let project = fixture();
    project.write(
        "macros/stamp.sql",
        "{% macro stamp() %}'real'{% endmacro %}\n",
    );
    project.write(
        "models/stamped.sql",
        "select id, '{{ env_var(\"SB_UNIT_REGION\", \"eu\") }}' as region,\n\
         {{ dbt.current_timestamp() }} as loaded_at, {{ stamp() }} as stamp,\n\
         '{{ env_var(\"SB_UNIT_OTHER\", \"kept\") }}' as other\n\
         from {{ ref('raw_customers') }}\n",
    );
    project.write(
        "models/stamped.yml",
        r#"unit_tests:
  - name: stamped_with_given_values
    model: stamped
    overrides:
      macros:
        stamp: "'given'"
        dbt.current_timestamp: "timestamp '2024-01-01 00:00:00'"
      env_vars:
        SB_UNIT_REGION: us
    given:
      - input: ref('raw_customers')
        rows:
          - {id: 1}
    expect:
      rows:
        - {id: 1, region: us, loaded_at: "2024-01-01 00:00:00", stamp: given, other: kept}
"#,
    );
    project
        .sb(&["test", "--unit", "-s", "stamped"])
        .success()
        .stdout_contains("PASS  unit_test stamped_with_given_values");
    let manifest = project.read_json("target/manifest.json");
    let overrides = &manifest["unit_tests"]["unit_test.unit_tests_demo.stamped.stamped_with_given_values"]
        ["overrides"];
    assert_eq!(overrides["macros"]["stamp"], "'given'");
    assert_eq!(overrides["env_vars"]["SB_UNIT_REGION"], "us");

    // Without the overrides the model gives its real values, and the test fails.
    project.edit("models/stamped.yml", "        stamp: \"'given'\"\n", "");
    project
        .sb(&["test", "--unit", "-s", "stamped"])
        .code(1)
        .stderr_contains("+ 1  | us     | 2024-01-01 00:00:00 | real");
}
