//! Model contracts (issue 15): a model whose SQL gives other columns or
//! types than its enforced contract fails before its relation is replaced,
//! pointing at the contract's YAML line, and keeps its previous rows.

use super::harness::Project;

const PROFILE: &str = "contracts:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: contracts.duckdb\n";

const SCHEMA: &str = "\
models:
  - name: customers
    config:
      materialized: table
      contract:
        enforced: true
    columns:
      - name: customer_id
        data_type: integer
      - name: name
        data_type: varchar
";

fn project(select: &str) -> Project {
    Project::bare()
        .file(
            "dbt_project.yml",
            "name: contracts\nversion: '1.0'\nconfig-version: 2\nprofile: contracts\n",
        )
        .file("profiles.yml", PROFILE)
        .file("models/schema.yml", SCHEMA)
        .file("models/customers.sql", select)
}

#[test]
fn a_model_that_breaks_its_contract_fails_and_keeps_its_table() {
    let project = project("select 1 as customer_id, 'Ann' as name\n");
    project
        .sb(&["run"])
        .success()
        .stdout_contains("OK    model customers");

    // A type changes and a column appears: the build stops before the table.
    std::fs::write(
        project.path().join("models/customers.sql"),
        "select 1.5 as customer_id, 'Ann' as name, true as vip\n",
    )
    .expect("write model");
    project
        .sb(&["run"])
        .code(1)
        .stdout_contains("ERROR model customers")
        .stderr_contains("model `customers` does not match its enforced contract (2 differences)")
        .stderr_contains("models/schema.yml:5:7")
        .stderr_contains("customer_id | integer")
        .stderr_contains("data type mismatch")
        .stderr_contains("vip")
        .stderr_contains("missing in the contract");
    assert_eq!(
        project.query_in(
            "contracts.duckdb",
            "select customer_id, name from main.customers"
        ),
        [["1", "Ann"]]
    );

    // Aliases count as the type they name.
    std::fs::write(
        project.path().join("models/customers.sql"),
        "select cast(2 as int) as customer_id, cast('Bob' as string) as name\n",
    )
    .expect("write model");
    project.sb(&["run"]).success();
}

#[test]
fn an_enforced_contract_needs_a_data_type_for_every_column() {
    let project = project("select 1 as customer_id, 'Ann' as name\n").file(
        "models/schema.yml",
        SCHEMA.replace("        data_type: varchar\n", ""),
    );
    project
        .sb(&["run"])
        .code(1)
        .stderr_contains("these columns have no `data_type`: name");
}

/// Column constraints of an enforced contract are in the table's DDL, so
/// DuckDB refuses a row that breaks one, and the previous table stays.
#[test]
fn contract_constraints_are_enforced_by_the_table() {
    let schema = SCHEMA
        .replace(
            "        data_type: integer\n",
            "        data_type: integer\n        constraints:\n          - type: not_null\n          - type: primary_key\n          - type: check\n            expression: \"customer_id > 0\"\n",
        )
        .replace(
            "        data_type: varchar\n",
            "        data_type: varchar\n        constraints:\n          - type: not_null\n",
        );
    let project = project("select 2 as customer_id, 'Bob' as name union all select 1, 'Ann'\n")
        .file("models/schema.yml", schema);
    project
        .sb(&["run"])
        .success()
        .stdout_contains("CREATE TABLE (2 rows)");
    let ddl = project.query_in(
        "contracts.duckdb",
        "select sql from duckdb_tables() where table_name = 'customers'",
    );
    let ddl = ddl[0][0].to_lowercase();
    assert!(
        ddl.contains("not null") && ddl.contains("primary key") && ddl.contains("check"),
        "{ddl}"
    );
    for (broken, says) in [
        (
            "select 1 as customer_id, null as name",
            "NOT NULL constraint failed",
        ),
        (
            "select 1 as customer_id, 'A' as name union all select 1, 'B'",
            "duplicate key",
        ),
        (
            "select -1 as customer_id, 'A' as name",
            "CHECK constraint failed",
        ),
    ] {
        std::fs::write(project.path().join("models/customers.sql"), broken).expect("write");
        project.sb(&["run"]).code(1).stderr_contains(says);
        assert_eq!(
            project.query_in("contracts.duckdb", "select count(*) from main.customers"),
            [["2"]],
            "after {broken}"
        );
    }
}
