//! Package macro namespaces on the real dbt_utils macros
//! (the copy vendored with dbt-utils' integration-test project,
//! `tests/fixtures/dbt/dbt_utils_integration_tests/dbt_packages/dbt_utils/`:
//! dbt-utils 1.3.3, Apache-2.0, its LICENSE kept, files untouched): `dbt_utils.generate_surrogate_key`, `star`,
//! `date_spine`, `pivot` with `get_column_values`, `union_relations`, and
//! the `dbt_utils.expression_is_true` / `accepted_range` tests, compiled and
//! built on DuckDB. Finding packages under `dbt_packages/` is the project
//! loader's part, so these tests load the project through the library,
//! mark the package's files as the loader does (`SourceFile.package`),
//! compile, and build each node with its execution-time render.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sb::adapter::Adapter;
use sb::adapter::duckdb::DuckDbAdapter;
use sb::compile::{CompiledProject, compile};
use sb::project::settings::DispatchOrder;
use sb::project::{LoadOptions, Project as Loaded};
use sb::resource::ResourceType;

use crate::it::harness::{Project, fixture_dir, rows};

const PROJECT_YML: &str = "\
name: sb_test
default_target: dev
targets:
  dev:
    type: duckdb
    path: target/dev.duckdb
    schema: main
    threads: 1
macro-paths: [macros, dbt_packages/dbt_utils/macros]
";

/// A project with the vendored dbt_utils macros under
/// `dbt_packages/dbt_utils/macros/` and the tables `orders` and `refunds`.
fn project_with_dbt_utils() -> Project {
    let project = Project::bare().file("project.yml", PROJECT_YML);
    let from = fixture_dir("dbt/dbt_utils_integration_tests/dbt_packages/dbt_utils/macros");
    copy_sql(&from, &project.path().join("dbt_packages/dbt_utils/macros"));
    project.execute(
        "create table orders as select * from (values (1, 'open', 10), (2, 'shipped', 25), (3, 'open', 5)) as t(id, status, amount);
         create table refunds as select * from (values (9, 7.5, 'late')) as t(id, amount, reason)",
    );
    project
}

fn copy_sql(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_sql(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Loads and compiles the project, with files under `dbt_packages/<pkg>/`
/// belonging to package `<pkg>`.
fn compiled(project: &Project, dispatch: Vec<DispatchOrder>) -> CompiledProject {
    let options = LoadOptions {
        project_dir: project.path().to_path_buf(),
        ..LoadOptions::default()
    };
    let mut loaded = Loaded::load(&options).unwrap_or_else(|e| panic!("load: {e:?}"));
    for file in &mut loaded.macro_files {
        if let Ok(rest) = file.path.strip_prefix("dbt_packages") {
            let package = rest.components().next().expect("package folder");
            file.package = Some(package.as_os_str().to_string_lossy().into_owned());
        }
    }
    loaded.settings.dispatch = dispatch;
    match compile(loaded, &[]) {
        Ok(compiled) => compiled,
        Err(errors) => panic!("compile: {:#?}", errors.0),
    }
}

/// Builds every model as a table in graph order, rendering each with live
/// queries as a run does; returns each test's failing-row count by name.
fn build(project: &Project, compiled: &CompiledProject) -> Vec<(String, usize)> {
    let path: PathBuf = project.path().join("target/dev.duckdb");
    let adapter = Arc::new(DuckDbAdapter::open(&path).expect("open"));
    let mut connection = adapter.connect().expect("connect");
    let mut tests = Vec::new();
    for &index in compiled.dag.topological_order() {
        let node = &compiled.project.nodes[index];
        if !matches!(node.resource_type, ResourceType::Model | ResourceType::Test) {
            continue;
        }
        let live = Arc::clone(&adapter);
        let query: sb::jinja::QueryFn = Box::new(move |sql: &str| {
            let mut connection = live.connect()?;
            connection.query(sql, None)
        });
        let (sql, _) = compiled
            .render_for_execution(index, false, Some(query))
            .unwrap_or_else(|e| panic!("render {}: {e:?}", node.name));
        if node.resource_type == ResourceType::Test {
            let failing = connection
                .query(&format!("select count(*) from ({sql}) as t"), None)
                .unwrap_or_else(|e| panic!("test {} failed to run: {e}\n{sql}", node.name));
            let count = failing.rows[0][0].as_u64().expect("count") as usize;
            tests.push((node.name.clone(), count));
            continue;
        }
        connection
            .execute(&format!(
                "create or replace table main.{} as {sql}",
                node.name
            ))
            .unwrap_or_else(|e| panic!("model {} failed: {e}\n{sql}", node.name));
    }
    tests.sort();
    tests
}

#[test]
fn dbt_utils_macros_build_what_their_sql_means() {
    let project = project_with_dbt_utils()
        .file(
            "models/keyed.sql",
            "select id, {{ dbt_utils.generate_surrogate_key(['id', 'status']) }} as order_key from orders",
        )
        .file(
            "models/narrow.sql",
            "select {{ dbt_utils.star(from=ref('keyed'), except=['order_key']) }} from {{ ref('keyed') }}",
        )
        .file(
            "models/days.sql",
            "{{ dbt_utils.date_spine(datepart='day', start_date=\"cast('2026-01-01' as date)\", end_date=\"cast('2026-01-05' as date)\") }}",
        )
        .file(
            "models/by_status.sql",
            "select {{ dbt_utils.pivot('status', dbt_utils.get_column_values(table=source_orders(), column='status', order_by='status')) }} from orders",
        )
        .file(
            "macros/source_orders.sql",
            "{% macro source_orders() %}{{ return(api.Relation.create(database='dev', schema='main', identifier='orders')) }}{% endmacro %}",
        )
        .file(
            "models/all_rows.sql",
            "{{ dbt_utils.union_relations(relations=[source_orders(), api.Relation.create(database='dev', schema='main', identifier='refunds')]) }}",
        );
    let compiled = compiled(&project, Vec::new());

    build(&project, &compiled);

    assert_eq!(
        project.query(
            "select count(*) from keyed join orders using (id) \
             where order_key = md5(coalesce(cast(orders.id as varchar), '_dbt_utils_surrogate_key_null_') || '-' || coalesce(cast(status as varchar), '_dbt_utils_surrogate_key_null_'))"
        ),
        rows(&[["3"]])
    );
    assert_eq!(
        project.query("select column_name from information_schema.columns where table_name = 'narrow' order by ordinal_position"),
        rows(&[["id"]])
    );
    assert_eq!(
        project.query("select count(*), cast(min(date_day) as varchar), cast(max(date_day) as varchar) from days"),
        rows(&[["4", "2026-01-01 00:00:00", "2026-01-04 00:00:00"]])
    );
    assert_eq!(
        project.query("select open, shipped from by_status"),
        rows(&[["2", "1"]])
    );
    assert_eq!(
        project.query("select _dbt_source_relation, id, status, reason from all_rows order by id"),
        rows(&[
            ["\"dev\".\"main\".\"orders\"", "1", "open", "NULL"],
            ["\"dev\".\"main\".\"orders\"", "2", "shipped", "NULL"],
            ["\"dev\".\"main\".\"orders\"", "3", "open", "NULL"],
            ["\"dev\".\"main\".\"refunds\"", "9", "NULL", "late"],
        ])
    );
}

#[test]
fn package_generic_tests_are_named_with_their_package() {
    let project = project_with_dbt_utils()
        .file("models/clean.sql", "select * from orders")
        .file(
            "models/schema.yml",
            "version: 2
models:
  - name: clean
    data_tests:
      - dbt_utils.expression_is_true:
          arguments:
            expression: \"amount > 0\"
      - dbt_utils.expression_is_true:
          arguments:
            expression: \"amount > 7\"
    columns:
      - name: amount
        data_tests:
          - dbt_utils.accepted_range:
              arguments:
                min_value: 0
                max_value: 20
",
        );
    let compiled = compiled(&project, Vec::new());

    let tests = build(&project, &compiled);

    assert_eq!(
        tests,
        vec![
            (
                "dbt_utils_accepted_range_clean_amount__20__0".to_string(),
                1
            ),
            ("dbt_utils_expression_is_true_clean_amount_0".to_string(), 0),
            ("dbt_utils_expression_is_true_clean_amount_7".to_string(), 1),
        ]
    );
}

#[test]
fn a_project_overrides_a_package_macro_through_its_dispatch_order() {
    let project = project_with_dbt_utils()
        .file(
            "macros/keys.sql",
            "{% macro default__generate_surrogate_key(field_list) %}'mine:{{ field_list | join(',') }}'{% endmacro %}",
        )
        .file(
            "models/keyed.sql",
            "select {{ dbt_utils.generate_surrogate_key(['a', 'b']) }} as k",
        );
    let order = DispatchOrder {
        macro_namespace: "dbt_utils".to_string(),
        search_order: vec!["sb_test".to_string(), "dbt_utils".to_string()],
    };
    let overridden = compiled(&project, vec![order]);
    let plain = compiled(&project, Vec::new());

    let sql_of = |c: &CompiledProject| {
        let index = c.find(ResourceType::Model, "keyed").expect("model");
        c.nodes[index].compiled.clone().expect("compiled")
    };
    assert_eq!(sql_of(&overridden), "select 'mine:a,b' as k");
    assert!(sql_of(&plain).contains("md5("), "{}", sql_of(&plain));
}
