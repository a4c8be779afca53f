//! SPEC "Schema YAML and tests", `sb test` and the tests inside `sb build`:
//! planted defects found with dbt's counts, exit codes, `run_results.json`
//! and `target/junit.xml`, one query per model, custom and singular tests,
//! `store_failures`, selection, and what a failed test skips in a build.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::it::harness::{Output, Project};

/// `name -> (status, failures)` for every test result in run_results.json.
fn test_results(project: &Project) -> BTreeMap<String, (String, u64)> {
    let results = project.read_json("target/run_results.json");
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["unique_id"].as_str().unwrap().starts_with("test."))
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap();
            let name = id.split('.').nth(2).unwrap().to_string();
            (
                name,
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["failures"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

fn result_of<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"].as_str().unwrap().split('.').nth(2) == Some(name))
        .unwrap_or_else(|| panic!("no result for {name}"))
}

/// The failing tests planted in `tests/fixtures/defects`, with their counts.
const PLANTED: &[(&str, u64)] = &[
    ("accepted_range_orders_amount__1000__0", 2),
    (
        "accepted_values_orders_status__placed__shipped__completed__returned",
        2,
    ),
    ("assert_no_future_orders", 1),
    ("distribution_customers_country__0_5__0_3__0_2__0_05", 4),
    ("not_null_customers_id", 1),
    ("relationships_orders_customer_id__id__ref_customers_", 2),
    ("unique_customers_id", 1),
];

const CLEAN: &[&str] = &[
    "expression_is_true_orders_amount___0",
    "not_null_orders_customer_id",
    "not_null_orders_id",
    "row_count_orders_100__1",
    "unique_combination_orders_id__customer_id",
    "unique_orders_id",
];

fn expected(failing_status: &str) -> BTreeMap<String, (String, u64)> {
    PLANTED
        .iter()
        .map(|(name, n)| ((*name).to_string(), (failing_status.to_string(), *n)))
        .chain(
            CLEAN
                .iter()
                .map(|name| ((*name).to_string(), ("pass".to_string(), 0))),
        )
        .collect()
}

fn built_defects() -> Project {
    let project = Project::fixture("defects");
    project.sb(&["seed"]).success();
    project.sb(&["run"]).success();
    project
}

#[test]
fn planted_defects_are_reported_with_dbt_counts_and_exit_1() {
    let project = built_defects();

    let output = project.sb(&["test"]);

    output.code(1).stdout_contains("PASS=6 WARN=0 ERROR=7");
    assert_eq!(test_results(&project), expected("fail"));
    // One line per test, and the failing values behind each failure.
    for (name, _) in PLANTED {
        assert!(
            output
                .stdout_lines()
                .iter()
                .any(|l| l.contains("FAIL") && l.contains(name)),
            "no FAIL line for {name}\n{output}"
        );
    }
    output
        .stderr_contains("{'unique_field': 3, 'n_records': 2}")
        .stderr_contains("{'value_field': lost, 'n_records': 2}")
        .stderr_contains("{'from_field': 98}")
        .stderr_contains("{'id': 9, 'ordered_at': 2099-01-01}")
        .stderr_contains("--> models/schema.yml:7:32");

    let junit = parse_xml(&project.read("target/junit.xml"));
    let suites = junit.child("testsuite");
    assert_eq!(junit.name, "testsuites");
    assert_eq!(suites.attr("tests"), "13");
    assert_eq!(suites.attr("failures"), "7");
    assert_eq!(suites.attr("errors"), "0");
    let cases = suites.children_named("testcase");
    assert_eq!(cases.len(), 13);
    let failed: BTreeMap<&str, &Element> = cases
        .iter()
        .filter_map(|c| {
            c.children_named("failure")
                .first()
                .map(|f| (c.attr("name"), *f))
        })
        .collect();
    assert_eq!(
        failed.keys().copied().collect::<Vec<_>>(),
        PLANTED.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    assert_eq!(
        failed["unique_customers_id"].attr("message"),
        "1 duplicated value"
    );
    assert!(
        failed["accepted_values_orders_status__placed__shipped__completed__returned"]
            .text
            .contains("{'value_field': unknown, 'n_records': 1}")
    );
}

#[test]
fn planted_defects_set_to_warn_exit_0() {
    let project = built_defects();
    let yml = project.read("project.yml");
    project.write("project.yml", format!("{yml}tests:\n  +severity: warn\n"));

    let output = project.sb(&["test"]);

    output.success().stdout_contains("PASS=6 WARN=7 ERROR=0");
    assert_eq!(test_results(&project), expected("warn"));
    output.stderr_contains("warning: test `unique_customers_id` warns: 1 duplicated value");
    let junit = parse_xml(&project.read("target/junit.xml"));
    assert_eq!(junit.child("testsuite").attr("failures"), "0");
}

#[test]
fn sb_build_runs_the_fixture_and_fails_on_its_tests() {
    let project = Project::fixture("defects");

    let output = project.sb(&["build"]);

    output.code(1);
    assert_eq!(test_results(&project), expected("fail"));
    // orders is built on raw_orders only; the failed tests on customers do
    // not skip it, and the singular test (on orders) still runs.
    assert_eq!(project.query("select count(*) from orders"), [["10"]]);
}

/// A model with ten column tests that pass, and one whose tests fail in
/// every way `where`, `severity`, `warn_if`, `error_if` and `limit` allow.
fn equivalence_project() -> Project {
    let project = Project::fixture("defects")
        .file(
            "models/wide.sql",
            "select i as id, i % 7 as bucket, 'c' || (i % 3) as code, i * 2 as doubled,
                    case when i % 2 = 0 then 'even' else 'odd' end as parity
             from range(1, 101) as t(i)",
        )
        .file("models/variants.sql", "select * from {{ ref('orders') }}")
        .file(
            "models/more.yml",
            r#"version: 2
models:
  - name: wide
    columns:
      - name: id
        data_tests:
          - not_null
          - unique
          - accepted_range: {min_value: 1, max_value: 100}
      - name: bucket
        data_tests:
          - not_null
          - accepted_values: {values: [0, 1, 2, 3, 4, 5, 6], quote: false}
          - accepted_range: {min_value: 0, max_value: 6}
      - name: code
        data_tests:
          - accepted_values: {values: [c0, c1, c2]}
          - distribution: {expected: {c0: 0.33, c1: 0.34, c2: 0.33}, tolerance: 0.02}
      - name: doubled
        data_tests:
          - expression_is_true: {expression: "= id * 2"}
      - name: parity
        data_tests: [not_null]
  - name: variants
    data_tests:
      - row_count:
          min: 1
          max: 2
          config: {where: "status = 'placed'"}
      - unique_combination:
          columns: [status, customer_id]
          config: {where: "id > 1"}
    columns:
      - name: status
        data_tests:
          - unique
          - unique:
              name: unique_cheap_statuses
              config: {where: "amount < 45"}
          - accepted_values:
              values: [placed, shipped]
              config: {error_if: ">3", warn_if: ">1"}
          - accepted_values:
              name: accepted_cheap_statuses
              values: [placed, shipped]
              config: {where: "amount < 45", error_if: ">3", warn_if: ">1"}
          - distribution:
              expected: {placed: 0.3, completed: 0.2, lost: 0.2, shipped: 0.1, returned: 0.1, unknown: 0.1}
              tolerance: 0.01
              config: {where: "id <= 8"}
      - name: customer_id
        data_tests:
          - not_null: {config: {severity: warn}}
          - relationships:
              to: ref('customers')
              field: id
              config: {where: "status = 'lost'"}
      - name: amount
        data_tests:
          - accepted_range:
              min_value: 0
              max_value: 100
              inclusive: false
              config: {limit: 1}
          - expression_is_true:
              expression: "> 0"
              config: {severity: warn, where: "status <> 'returned'"}
      - name: id
        data_tests:
          - not_null: {config: {where: "1 = 0"}}
"#,
        );
    project.sb(&["seed"]).success();
    project.sb(&["run"]).success();
    project
}

#[test]
fn batched_and_one_query_per_test_give_the_same_counts() {
    let project = equivalence_project();

    project.sb(&["test"]).code(1);
    let batched = test_results(&project);
    let batched_results = project.read_json("target/run_results.json");
    project.sb(&["test", "--no-batch"]).code(1);
    let single = test_results(&project);
    let single_results = project.read_json("target/run_results.json");

    assert_eq!(batched, single);
    assert_eq!(batched.len(), 13 + 10 + 12);
    // The variants really do cover every status and the thresholds.
    assert_eq!(batched["unique_variants_status"], ("fail".into(), 3));
    assert_eq!(batched["unique_cheap_statuses"], ("fail".into(), 1));
    assert_eq!(
        batched["accepted_cheap_statuses"],
        ("warn".into(), 2),
        "warn_if >1 and error_if >3 with 2 unexpected values"
    );
    assert_eq!(batched["not_null_variants_customer_id"], ("warn".into(), 1));
    assert_eq!(
        batched["accepted_range_variants_amount__False__100__0"],
        ("fail".into(), 1),
        "limit 1 caps the 2 failing rows"
    );
    assert_eq!(batched["not_null_variants_id"], ("pass".into(), 0));
    assert_eq!(
        batched["relationships_variants_customer_id__id__ref_customers_"],
        ("fail".into(), 1)
    );
    assert_eq!(batched["row_count_variants_2__1"], ("fail".into(), 1));

    // One query served all ten tests of `wide`: it found nothing, so no
    // second query fetched failing rows.
    let wide: Vec<&Value> = batched_results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["unique_id"].as_str().unwrap().contains("_wide_"))
        .collect();
    assert_eq!(wide.len(), 10);
    for result in &wide {
        let response = &result["adapter_response"];
        assert_eq!(response["query_id"], "batch:model.defects.wide");
        assert_eq!(response["queries"], 1, "{result}");
        assert_eq!(response["served_tests"].as_array().unwrap().len(), 10);
        assert_eq!(result["status"], "pass");
    }
    // Without batching each test had its own query.
    let single_ids: std::collections::BTreeSet<&str> = single_results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["unique_id"].as_str().unwrap().contains("_wide_"))
        .map(|r| r["adapter_response"]["query_id"].as_str().unwrap())
        .collect();
    assert_eq!(single_ids.len(), 10);
}

#[test]
fn custom_generic_tests_come_from_macros_and_tests_generic() {
    let project = Project::new()
        .file(
            "models/numbers.sql",
            "select * from (values (1, 'a'), (2, 'b'), (3, 'b')) as t(n, letter)",
        )
        .file(
            "macros/is_even.sql",
            "{% test is_even(model, column_name) %}\nselect * from {{ model }} where {{ column_name }} % 2 <> 0\n{% endtest %}\n",
        )
        .file(
            "tests/generic/at_most.sql",
            "{% test at_most(model, column_name, value) %}\nselect * from {{ model }} where {{ column_name }} > {{ value }}\n{% endtest %}\n",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: numbers\n    columns:\n      - name: n\n        tests:\n          - is_even\n          - at_most: {arguments: {value: 2}}\n          - at_most: {value: 5}\n",
        );

    let output = project.sb(&["build"]);

    output.code(1);
    let results = test_results(&project);
    assert_eq!(results["is_even_numbers_n"], ("fail".into(), 2));
    assert_eq!(results["at_most_numbers_n__2"], ("fail".into(), 1));
    assert_eq!(results["at_most_numbers_n__5"], ("pass".into(), 0));
}

#[test]
fn a_built_in_test_is_overridden_per_adapter_through_dispatch() {
    // This project's not_null also rejects empty strings on DuckDB.
    let project = Project::new()
        .file(
            "models/names.sql",
            "select * from (values ('Ada'), (''), (null)) as t(name)",
        )
        .file(
            "macros/not_null.sql",
            "{% macro duckdb__test_not_null(model, column_name) %}\nselect * from {{ model }} where {{ column_name }} is null or {{ column_name }} = ''\n{% endmacro %}\n",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: names\n    columns:\n      - name: name\n        data_tests: [not_null, unique]\n",
        );

    project.sb(&["build"]).code(1);

    let results = project.read_json("target/run_results.json");
    let not_null = result_of(&results, "not_null_names_name");
    assert_eq!(not_null["failures"], 2);
    assert_eq!(not_null["adapter_response"]["batched"], false);
    let unique = result_of(&results, "unique_names_name");
    assert_eq!(unique["status"], "pass");
    assert_eq!(unique["adapter_response"]["batched"], true);
}

#[test]
fn store_failures_keeps_the_failing_rows_in_the_audit_schema() {
    let project = Project::new()
        .file(
            "models/pets.sql",
            "select * from (values (1, 'cat'), (2, 'dog'), (3, 'eel')) as t(id, kind)",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: pets\n    columns:\n      - name: kind\n        data_tests:\n          - accepted_values:\n              values: [cat, dog]\n              config:\n                store_failures: true\n",
        );

    project.sb(&["build"]).code(1);

    assert_eq!(
        project.query(
            "select value_field, n_records from main_dbt_test__audit.accepted_values_pets_kind__cat__dog"
        ),
        [["eel", "1"]]
    );
    assert_eq!(
        test_results(&project)["accepted_values_pets_kind__cat__dog"],
        ("fail".into(), 1)
    );
}

#[test]
fn tests_are_selected_with_their_models_by_tag_and_by_type() {
    let project = Project::fixture("defects");
    let ls = |args: &[&str]| {
        let mut full = vec!["ls", "--resource-type", "test"];
        full.extend_from_slice(args);
        let output = project.sb(&full);
        output.success();
        crate::it::harness::sorted_lines(&output.stdout)
    };

    assert_eq!(
        ls(&["-s", "customers"]),
        [
            "distribution_customers_country__0_5__0_3__0_2__0_05",
            "not_null_customers_id",
            "relationships_orders_customer_id__id__ref_customers_",
            "unique_customers_id"
        ]
    );
    assert_eq!(ls(&["-s", "resource_type:test"]).len(), 13);
    project.write(
        "tests/assert_no_future_orders.sql",
        "{{ config(tags=['nightly']) }}\nselect * from {{ ref('orders') }} where ordered_at > date '2030-01-01'\n",
    );
    assert_eq!(ls(&["-s", "tag:nightly"]), ["assert_no_future_orders"]);
    project.sb(&["build"]).code(1);
    project.sb(&["build", "-s", "customers"]).code(1);
    let ran = test_results(&project);
    for name in [
        "distribution_customers_country__0_5__0_3__0_2__0_05",
        "not_null_customers_id",
        "unique_customers_id",
    ] {
        assert!(ran.contains_key(name), "{name} did not run: {ran:?}");
    }
    assert!(!ran.contains_key("unique_orders_id"), "{ran:?}");
}

/// a -> b -> c -> d, and a -> e; b fails to build.
fn chain(b_sql: &str) -> Project {
    Project::new()
        .file("models/a.sql", "select 1 as id")
        .file("models/b.sql", b_sql)
        .file("models/c.sql", "select id from {{ ref('b') }}")
        .file("models/d.sql", "select id from {{ ref('c') }}")
        .file("models/e.sql", "select id from {{ ref('a') }}")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: a\n    columns: [{name: id, data_tests: [not_null]}]\n  - name: b\n    columns: [{name: id, data_tests: [unique]}]\n  - name: c\n    columns: [{name: id, data_tests: [not_null]}]\n  - name: d\n    columns: [{name: id, data_tests: [not_null]}]\n  - name: e\n    columns: [{name: id, data_tests: [not_null]}]\n",
        )
}

fn statuses(output: &Output, project: &Project) -> BTreeMap<String, String> {
    let results = project.read_json("target/run_results.json");
    let statuses: BTreeMap<String, String> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap();
            (
                id.split('.').nth(2).unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!statuses.is_empty(), "{output}");
    statuses
}

#[test]
fn build_skips_exactly_the_descendants_of_a_failed_middle_model() {
    let project = chain("select id, missing_column from {{ ref('a') }}");

    let output = project.sb(&["build"]);

    output.code(1);
    let expected: BTreeMap<String, String> = [
        ("a", "success"),
        ("not_null_a_id", "pass"),
        ("b", "error"),
        ("unique_b_id", "skipped"),
        ("c", "skipped"),
        ("not_null_c_id", "skipped"),
        ("d", "skipped"),
        ("not_null_d_id", "skipped"),
        ("e", "success"),
        ("not_null_e_id", "pass"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(statuses(&output, &project), expected);
    output.stdout_contains("skipped because `b` failed");
    assert_eq!(project.relation_type("main", "e"), Some("VIEW".into()));
    assert_eq!(project.relation_type("main", "c"), None);
}

#[test]
fn build_skips_what_is_built_on_a_failed_error_test_but_not_on_a_warning() {
    let project = chain("select id from {{ ref('a') }} union all select id from {{ ref('a') }}");

    let output = project.sb(&["build"]);

    output.code(1);
    let statuses = statuses(&output, &project);
    assert_eq!(statuses["b"], "success");
    assert_eq!(statuses["unique_b_id"], "fail");
    assert_eq!(statuses["c"], "skipped");
    assert_eq!(statuses["not_null_c_id"], "skipped");
    assert_eq!(statuses["d"], "skipped");
    assert_eq!(statuses["e"], "success");
    output.stdout_contains("skipped because test `unique_b_id` failed");

    // The same failure as a warning holds nothing back.
    let yml = project.read("models/schema.yml");
    project.write(
        "models/schema.yml",
        yml.replace(
            "data_tests: [unique]",
            "data_tests: [{unique: {config: {severity: warn}}}]",
        ),
    );
    let output = project.sb(&["build"]);
    output.success();
    let statuses = crate::it::data_tests::statuses(&output, &project);
    assert_eq!(statuses["unique_b_id"], "warn");
    assert_eq!(statuses["d"], "success");
}

#[test]
fn fail_fast_stops_the_build_at_the_first_failed_test() {
    let project = chain("select id from {{ ref('a') }} union all select id from {{ ref('a') }}");

    let output = project.sb(&["build", "--fail-fast", "--threads", "1"]);

    output.code(1);
    let statuses = statuses(&output, &project);
    assert_eq!(statuses["unique_b_id"], "fail");
    assert!(
        statuses.values().filter(|s| *s == "skipped").count() >= 4,
        "{statuses:?}"
    );
    output.stdout_contains("--fail-fast");
}

// A small XML reader: enough of XML 1.0 to check that junit.xml is well
// formed (every tag closed in order, attributes quoted, entities known)
// and to read it back as a tree, the way a CI system's JUnit parser does.

#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}", self.name))
    }

    fn child(&self, name: &str) -> &Element {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>", self.name))
    }

    fn children_named(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').expect("entity ends with ;") + at;
        out.push_str(match &rest[at + 1..end] {
            "amp" => "&",
            "lt" => "<",
            "gt" => ">",
            "quot" => "\"",
            "apos" => "'",
            other => panic!("unknown entity &{other};"),
        });
        rest = &rest[end + 1..];
    }
    assert!(!rest.contains('<'), "raw < in text");
    out.push_str(rest);
    out
}

fn parse_xml(text: &str) -> Element {
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("XML declaration");
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        stack.last_mut().unwrap().text.push_str(&unescape(text));
        let close = rest[open..].find('>').expect("tag ends with >") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let done = stack.pop().expect("open element");
            assert_eq!(done.name, name.trim(), "closing tag does not match");
            stack.last_mut().expect("parent").children.push(done);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let mut parts = tag.splitn(2, char::is_whitespace);
        let mut element = Element {
            name: parts.next().unwrap().to_string(),
            ..Element::default()
        };
        let mut attrs = parts.next().unwrap_or("").trim();
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").expect("attribute is name=\"value\"");
            let name = attrs[..eq].trim().to_string();
            let end = attrs[eq + 2..].find('"').expect("attribute value ends") + eq + 2;
            element.attrs.insert(name, unescape(&attrs[eq + 2..end]));
            attrs = attrs[end + 1..].trim();
        }
        if self_closing {
            stack.last_mut().unwrap().children.push(element);
        } else {
            stack.push(element);
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut root = stack.pop().unwrap();
    assert_eq!(root.children.len(), 1, "one root element");
    root.children.pop().unwrap()
}

#[test]
fn failed_test_shows_where_it_is_declared_and_its_first_failing_rows() {
    let project = built_defects();

    let output = project.sb(&["test", "-s", "customers", "--threads", "1"]);

    output.code(1);
    crate::assert_stderr_snapshot!(output);
}

/// Counts every call that reaches the warehouse.
struct Counting {
    inner: sb::adapter::duckdb::DuckDbAdapter,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct CountingConnection {
    inner: Box<dyn sb::adapter::Connection>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl sb::adapter::Adapter for Counting {
    fn kind(&self) -> sb::adapter::AdapterKind {
        self.inner.kind()
    }

    fn connect(&self) -> Result<Box<dyn sb::adapter::Connection>, sb::adapter::AdapterError> {
        Ok(Box::new(CountingConnection {
            inner: self.inner.connect()?,
            calls: std::sync::Arc::clone(&self.calls),
        }))
    }
}

impl CountingConnection {
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl sb::adapter::Connection for CountingConnection {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, sb::adapter::AdapterError> {
        self.count();
        self.inner.execute(sql)
    }

    fn query(
        &mut self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<sb::adapter::QueryResult, sb::adapter::AdapterError> {
        self.count();
        self.inner.query(sql, limit)
    }

    fn relation_kind(
        &mut self,
        relation: &sb::adapter::RelationRef,
    ) -> Result<Option<sb::adapter::RelationKind>, sb::adapter::AdapterError> {
        self.count();
        self.inner.relation_kind(relation)
    }

    fn columns(
        &mut self,
        relation: &sb::adapter::RelationRef,
    ) -> Result<Vec<sb::adapter::ColumnInfo>, sb::adapter::AdapterError> {
        self.count();
        self.inner.columns(relation)
    }

    fn create_schema(
        &mut self,
        database: Option<&str>,
        schema: &str,
    ) -> Result<(), sb::adapter::AdapterError> {
        self.count();
        self.inner.create_schema(database, schema)
    }

    fn materialize(
        &mut self,
        request: &sb::adapter::MaterializeRequest,
    ) -> Result<sb::adapter::BuildOutcome, sb::adapter::AdapterError> {
        self.count();
        self.inner.materialize(request)
    }

    fn load_batches(
        &mut self,
        load: &sb::adapter::BatchLoad,
        batches: &mut dyn Iterator<Item = duckdb::arrow::record_batch::RecordBatch>,
    ) -> Result<sb::adapter::BuildOutcome, sb::adapter::AdapterError> {
        self.count();
        self.inner.load_batches(load, batches)
    }

    fn load_csv(
        &mut self,
        load: &sb::adapter::CsvLoad,
    ) -> Result<sb::adapter::BuildOutcome, sb::adapter::AdapterError> {
        self.count();
        self.inner.load_csv(load)
    }
}

/// Runs the tests of model `model` in-process through a warehouse that
/// counts every call; returns the calls and each test's status.
/// With `with_model`, the model is selected too, as in `sb build`, where its
/// tests wait for it.
fn warehouse_calls(
    project: &Project,
    model: &str,
    batching: bool,
    with_model: bool,
) -> (usize, Vec<String>) {
    use sb::execute::testing::TestPlan;
    let options = sb::project::LoadOptions {
        project_dir: project.path().to_path_buf(),
        target: None,
        vars: serde_json::Map::new(),
        ..sb::project::LoadOptions::default()
    };
    let loaded = sb::project::Project::load(&options).unwrap();
    let compiled = sb::compile::compile(loaded, &[]).unwrap();
    let tests: std::collections::BTreeSet<sb::resource::NodeId> =
        sb::resource::NodeId::enumerate(&compiled.project.nodes)
            .filter(|(_, n)| {
                n.generic_test
                    .as_ref()
                    .is_some_and(|t| compiled.project.nodes[t.attached].name == model)
            })
            .map(|(i, _)| i)
            .collect();
    let counting = Counting {
        inner: sb::adapter::duckdb::DuckDbAdapter::open(&project.path().join("target/dev.duckdb"))
            .unwrap(),
        calls: std::sync::Arc::default(),
    };
    let pool = sb::execute::ConnectionPool::new(&counting);
    let mut selected = tests.clone();
    if with_model {
        selected.extend(compiled.find(sb::resource::ResourceType::Model, model));
    }
    let plan = TestPlan::new(&compiled, &selected, batching);
    let statuses = tests
        .iter()
        .map(|&i| plan.run(i, &pool).status.as_str().to_string())
        .collect();
    (
        counting.calls.load(std::sync::atomic::Ordering::SeqCst),
        statuses,
    )
}

#[test]
fn ten_column_tests_on_one_model_cost_one_query() {
    let project = equivalence_project();

    let (batched, statuses) = warehouse_calls(&project, "wide", true, false);
    assert_eq!(statuses, vec!["pass"; 10]);
    assert_eq!(batched, 1, "one warehouse call for ten tests");

    let (built, statuses) = warehouse_calls(&project, "wide", true, true);
    assert_eq!(statuses, vec!["pass"; 10]);
    assert_eq!(built, 1, "one call in a build too");

    let (single, statuses) = warehouse_calls(&project, "wide", false, false);
    assert_eq!(statuses, vec!["pass"; 10]);
    assert_eq!(single, 10, "one call per test without batching");
}

#[test]
fn source_and_seed_tests_run_like_model_tests() {
    let project = Project::new()
        .file("seeds/plans.csv", "plan_id,name\n1,basic\n2,premium\n2,duplicate\n")
        .file(
            "models/sources.yml",
            "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: payments\n        data_tests:\n          - row_count: {min: 1}\n        columns:\n          - name: amount\n            data_tests:\n              - accepted_range: {min_value: 0}\n",
        )
        .file(
            "seeds/schema.yml",
            "version: 2\nseeds:\n  - name: plans\n    columns:\n      - name: plan_id\n        data_tests: [unique, not_null]\n",
        );
    project.execute(
        "create schema if not exists shop;
         create or replace table shop.payments as select * from (values (1, 10), (2, -3)) as t(id, amount);",
    );

    project.sb(&["build"]).code(1);

    let results = test_results(&project);
    assert_eq!(
        results,
        [
            ("not_null_plans_plan_id", ("pass", 0)),
            ("source_accepted_range_shop_payments_amount__0", ("fail", 1)),
            ("source_row_count_shop_payments_1", ("pass", 0)),
            ("unique_plans_plan_id", ("fail", 1)),
        ]
        .into_iter()
        .map(|(k, (s, n))| (k.to_string(), (s.to_string(), n)))
        .collect::<BTreeMap<_, _>>()
    );
}

#[test]
fn a_column_the_model_being_built_lacks_fails_only_its_own_test() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests: [unique]\n      - name: ordr_id\n        data_tests: [not_null]\n",
        );

    let output = project.sb(&["build"]);

    output
        .code(1)
        .stderr_contains("column `ordr_id`")
        .stderr_contains("--> models/schema.yml:7:15");
    let results = test_results(&project);
    assert_eq!(results["unique_orders_order_id"], ("pass".into(), 0));
    assert_eq!(results["not_null_orders_ordr_id"].0, "error");
}

#[test]
fn tests_of_a_model_that_was_never_built_error_without_hanging() {
    let project = Project::new()
        .file("models/orders.sql", "select 1 as order_id")
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests: [unique, not_null]\n",
        )
        .file("tests/no_orders.sql", "select * from {{ ref('orders') }} where false");

    let output = project.sb(&["test", "--threads", "1"]);

    output.code(1).stdout_contains("ERROR=3");
    output
        .stderr_contains("could not run")
        .stderr_contains("--> tests/no_orders.sql:1:23");
}

#[test]
fn a_broken_where_errors_only_its_own_test_in_a_batch() {
    let project = Project::new()
        .file(
            "models/pets.sql",
            "select * from (values (1, 'cat'), (2, 'dog'), (2, 'eel')) as t(id, kind)",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: pets\n    columns:\n      - name: id\n        data_tests:\n          - unique\n          - not_null: {config: {where: \"knd = 'cat'\"}}\n      - name: kind\n        data_tests: [not_null]\n",
        );

    let output = project.sb(&["build"]);

    output.code(1);
    let results = test_results(&project);
    assert_eq!(results["unique_pets_id"], ("fail".into(), 1));
    assert_eq!(results["not_null_pets_kind"], ("pass".into(), 0));
    assert_eq!(results["not_null_pets_id"].0, "error");
    output.stderr_contains("knd");
    let run = project.read_json("target/run_results.json");
    assert_eq!(
        result_of(&run, "unique_pets_id")["adapter_response"]["query_id"],
        format!(
            "test:{}",
            result_of(&run, "unique_pets_id")["unique_id"]
                .as_str()
                .unwrap()
        )
    );
    // The batch, a catalog read to rule out a missing column, one query
    // per test, and one more catalog read for the test that failed again.
    assert_eq!(
        result_of(&run, "unique_pets_id")["adapter_response"]["queries"],
        6
    );
}
