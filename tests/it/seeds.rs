//! CSV seeds: loaded as tables with inferred types, `column_types` to
//! override them, reloaded whole, and `ref`-able from models.

use crate::it::harness::{Project, rows};

const CUSTOMERS: &str = "\
id,name,signup_date,balance,active
1,Ada,2024-01-15,12.50,true
2,Grace,2024-02-01,0.75,false
3,Linus,2024-03-10,100.00,true
";

fn column_types(project: &Project, schema: &str, table: &str) -> Vec<Vec<String>> {
    project.query(&format!(
        "select column_name, data_type from information_schema.columns
         where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
    ))
}

#[test]
fn seed_loads_csv_with_inferred_types() {
    let project = Project::new().file("seeds/customers.csv", CUSTOMERS);

    project.sb(&["seed"]).success().stdout_contains("PASS=1");

    assert_eq!(
        column_types(&project, "main", "customers"),
        rows(&[
            ["id", "INTEGER"],
            ["name", "VARCHAR"],
            ["signup_date", "DATE"],
            ["balance", "DOUBLE"],
            ["active", "BOOLEAN"],
        ])
    );
    assert_eq!(
        project.query("select id, name, cast(signup_date as varchar) from customers order by id"),
        rows(&[
            ["1", "Ada", "2024-01-15"],
            ["2", "Grace", "2024-02-01"],
            ["3", "Linus", "2024-03-10"]
        ])
    );
}

#[test]
fn column_types_in_seed_yaml_override_inference() {
    let project = Project::new().file("seeds/customers.csv", CUSTOMERS).file(
        "seeds/schema.yml",
        "version: 2\nseeds:\n  - name: customers\n    config:\n      column_types:\n        id: varchar\n        balance: decimal(10,2)\n",
    );

    project.sb(&["seed"]).success();

    assert_eq!(
        column_types(&project, "main", "customers"),
        rows(&[
            ["id", "VARCHAR"],
            ["name", "VARCHAR"],
            ["signup_date", "DATE"],
            ["balance", "DECIMAL(10,2)"],
            ["active", "BOOLEAN"],
        ])
    );
}

#[test]
fn models_ref_seeds() {
    let project = Project::new().file("seeds/customers.csv", CUSTOMERS).file(
        "models/active_customers.sql",
        "select name from {{ ref('customers') }} where active",
    );

    project.sb(&["seed"]).success();
    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select name from active_customers order by name"),
        rows(&[["Ada"], ["Linus"]])
    );
}

#[test]
fn seed_schema_from_project_yml() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\nseeds:\n  +schema: raw\n",
        )
        .file("seeds/customers.csv", CUSTOMERS)
        .file("models/n.sql", "select count(*) as n from {{ ref('customers') }}");

    project.sb(&["seed"]).success();
    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select count(*) from main_raw.customers"),
        [["3"]]
    );
    assert_eq!(project.query("select n from main.n"), [["3"]]);
}

#[test]
fn reseeding_replaces_the_rows() {
    let project = Project::new().file("seeds/colors.csv", "name\nred\ngreen\n");
    project.sb(&["seed"]).success();

    project.write("seeds/colors.csv", "name\nblue\n");
    project.sb(&["seed"]).success();

    assert_eq!(project.query("select name from colors"), [["blue"]]);
}

#[test]
fn broken_csv_fails_the_seed_and_keeps_the_old_table() {
    let project = Project::new().file("seeds/numbers.csv", "n\n1\n2\n");
    project.sb(&["seed"]).success();

    project.write(
        "seeds/schema.yml",
        "version: 2\nseeds:\n  - name: numbers\n    config:\n      column_types:\n        n: integer\n",
    );
    project.write("seeds/numbers.csv", "n\n1\nnot a number\n");
    let output = project.sb(&["seed"]);

    output
        .code(1)
        .no_panic()
        .stderr_contains("--> seeds/numbers.csv");
    assert_eq!(
        project.query("select n from numbers order by n"),
        rows(&[["1"], ["2"]])
    );
    assert_eq!(project.relations(), ["main.numbers"]);
}

#[test]
fn seed_and_model_with_the_same_name_conflict() {
    let project = Project::new()
        .file("seeds/orders.csv", "id\n1\n")
        .file("models/orders.sql", "select 1 as id");

    let output = project.sb(&["seed"]);

    output
        .code(2)
        .stderr_contains("`orders`")
        .stderr_contains("seeds/orders.csv")
        .stderr_contains("models/orders.sql");
}

/// dbt's seed config in project.yml: `+enabled` from a var, `delimiter`,
/// `quote_columns`, `schema` and `alias`, nested under the project name.
#[test]
fn seed_config_enabled_from_a_var_delimiter_schema_and_alias() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    schema: main\n\
             seeds:\n  sb_test:\n    +quote_columns: true\n    raw:\n      +schema: raw\n      \
             +enabled: \"{{ var('load_raw', true) }}\"\n      prices:\n        +delimiter: \";\"\n        +alias: price_list\n",
        )
        .file("seeds/raw/prices.csv", "sku;Unit Price;on sale\na1;1.50;true\nb2;2;false\n")
        .file("seeds/colors.csv", "name\nred\n");

    project.sb(&["seed"]).success().stdout_contains("PASS=2");
    assert_eq!(
        project.query(
            "select column_name, data_type from information_schema.columns \
             where table_schema = 'main_raw' and table_name = 'price_list' order by ordinal_position"
        ),
        rows(&[
            ["sku", "VARCHAR"],
            ["Unit Price", "DOUBLE"],
            ["on sale", "BOOLEAN"]
        ])
    );
    assert_eq!(
        project.query("select sku, \"Unit Price\" from main_raw.price_list order by sku"),
        rows(&[["a1", "1.5"], ["b2", "2.0"]])
    );

    let output = project.sb(&["seed", "--vars", "{load_raw: false}"]);
    output.success().stdout_contains("PASS=1");
}

#[test]
fn a_delimiter_of_more_than_one_character_fails_the_seed() {
    let project = Project::new().file("seeds/colors.csv", "name\nred\n").file(
        "seeds/schema.yml",
        "version: 2\nseeds:\n  - name: colors\n    config:\n      delimiter: \"||\"\n",
    );

    project
        .sb(&["seed"])
        .code(1)
        .no_panic()
        .all_output()
        .contains("must be one character")
        .then_some(())
        .expect("the delimiter error is shown");
}
