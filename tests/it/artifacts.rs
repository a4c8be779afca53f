//! SPEC "Outputs": `target/compiled/`, `target/run/`, `manifest.json` and
//! `run_results.json` in dbt's shape, and `--log-format json`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::it::harness::Project;

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

#[test]
fn manifest_has_dbt_top_level_keys_and_node_ids() {
    let project = Project::fixture("jaffle");

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    assert_eq!(
        keys(&manifest),
        set(&[
            "metadata",
            "nodes",
            "sources",
            "macros",
            "docs",
            "exposures",
            "metrics",
            "groups",
            "selectors",
            "disabled",
            "parent_map",
            "child_map",
            "group_map",
            "saved_queries",
            "semantic_models",
            "unit_tests",
        ])
    );
    let nodes = &manifest["nodes"];
    for id in [
        "model.jaffle.stg_customers",
        "model.jaffle.orders",
        "model.jaffle.int_order_payments",
        "model.jaffle.revenue",
        "seed.jaffle.raw_orders",
    ] {
        assert_eq!(nodes[id]["unique_id"], id, "manifest lacks {id}");
    }
    assert!(manifest["sources"]["source.jaffle.shop.payments"].is_object());
    let orders = &nodes["model.jaffle.orders"];
    assert_eq!(orders["resource_type"], "model");
    assert_eq!(orders["package_name"], "jaffle");
    assert_eq!(orders["original_file_path"], "models/marts/orders.sql");
    assert_eq!(orders["config"]["materialized"], "incremental");
    assert_eq!(
        orders["fqn"],
        serde_json::json!(["jaffle", "marts", "orders"])
    );
    assert_eq!(manifest["metadata"]["project_name"], "jaffle");
    assert_eq!(manifest["metadata"]["adapter_type"], "duckdb");
    let mut parents: Vec<String> = manifest["parent_map"]["model.jaffle.orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    parents.sort();
    assert_eq!(
        parents,
        ["model.jaffle.int_order_payments", "model.jaffle.stg_orders"]
    );
    assert!(
        manifest["child_map"]["source.jaffle.shop.payments"]
            .as_array()
            .unwrap()
            .contains(&Value::from("model.jaffle.stg_payments"))
    );
}

#[test]
fn disabled_models_are_under_disabled_in_the_manifest() {
    let project = Project::new().file("models/on.sql", "select 1 as id").file(
        "models/off.sql",
        "{{ config(enabled=false) }}\nselect 1 as id",
    );

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    assert!(manifest["nodes"]["model.sb_test.on"].is_object());
    assert!(manifest["nodes"].get("model.sb_test.off").is_none());
    assert!(manifest["disabled"]["model.sb_test.off"].is_array());
}

#[test]
fn run_results_have_dbt_fields_for_every_node() {
    let project = Project::new()
        .file("models/good.sql", "select 1 as id")
        .file("models/bad.sql", "select nope from range(1)")
        .file("models/after_bad.sql", "select * from {{ ref('bad') }}");

    project.sb(&["run"]).code(1);

    let run_results = project.read_json("target/run_results.json");
    for key in ["metadata", "results", "elapsed_time", "args"] {
        assert!(
            run_results.get(key).is_some(),
            "run_results.json lacks `{key}`"
        );
    }
    let results = run_results["results"]
        .as_array()
        .expect("results is a list");
    assert_eq!(results.len(), 3);
    for result in results {
        for key in [
            "status",
            "timing",
            "thread_id",
            "execution_time",
            "adapter_response",
            "message",
            "failures",
            "unique_id",
        ] {
            assert!(
                result.get(key).is_some(),
                "a result lacks `{key}`: {result}"
            );
        }
        assert!(result["timing"].is_array());
        assert!(result["execution_time"].is_number());
        assert!(result["adapter_response"].is_object());
    }
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["unique_id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    assert_eq!(by_id("model.sb_test.good")["status"], "success");
    assert_eq!(by_id("model.sb_test.bad")["status"], "error");
    assert!(
        by_id("model.sb_test.bad")["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
    assert_eq!(by_id("model.sb_test.after_bad")["status"], "skipped");
}

#[test]
fn compiled_and_run_sql_are_written_under_target() {
    let project = Project::jaffle();
    project.sb(&["seed"]).success();

    project.sb(&["run"]).success();

    let compiled = project.read("target/compiled/jaffle/models/marts/orders.sql");
    assert!(
        compiled.contains("__dbt__cte__int_order_payments"),
        "{compiled}"
    );
    assert!(compiled.contains("\"main\".\"stg_orders\""), "{compiled}");
    assert!(
        !compiled.contains("{{"),
        "compiled SQL holds no Jinja:\n{compiled}"
    );
    let stg = project.read("target/compiled/jaffle/models/staging/stg_payments.sql");
    assert!(stg.contains("\"shop\".\"payments\""), "{stg}");
    assert!(
        stg.contains("(amount / 100.0)"),
        "the macro is expanded:\n{stg}"
    );
    let sent = project.read("target/run/jaffle/models/marts/customers.sql");
    assert!(sent.to_lowercase().contains("create"), "{sent}");
}

#[test]
fn compile_with_one_model_prints_its_sql() {
    let project = Project::fixture("jaffle");

    let output = project.sb(&["compile", "-s", "stg_orders"]);

    output
        .success()
        .stdout_contains("from \"dev\".\"main_raw\".\"raw_orders\"")
        .stdout_contains("where order_date >= '2024-01-01'");
    assert!(project.exists("target/compiled/jaffle/models/staging/stg_orders.sql"));
    assert!(
        !project.exists("target/dev.duckdb"),
        "compile needs no warehouse"
    );
}

#[test]
fn log_format_json_prints_one_object_per_line() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file("models/b.sql", "select * from {{ ref('a') }}");

    let output = project.sb(&["run", "--log-format", "json"]);

    output.success();
    let events: Vec<Value> = output
        .stdout_lines()
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{output}"))
        })
        .collect();
    assert!(events.iter().all(Value::is_object));
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["unique_id"].is_string())
        .collect();
    assert_eq!(finished.len(), 2, "{output}");
    let b = finished
        .iter()
        .find(|e| e["unique_id"] == "model.sb_test.b")
        .expect("b finished");
    assert!(b["status"] == "success" || b["status"] == "ok", "{b}");
}

#[test]
fn log_format_json_reports_errors_as_json_too() {
    let project = Project::new().file("models/a.sql", "select * from {{ ref('nope') }}");

    let output = project.sb(&["run", "--log-format", "json"]);

    output.code(2);
    let lines: Vec<&str> = output
        .stdout
        .lines()
        .chain(output.stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let events: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{output}"))
        })
        .collect();
    let errors: Vec<&Value> = events.iter().filter(|e| e["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "{output}");
    assert!(
        errors[0].to_string().contains("models/a.sql:1:23"),
        "{}",
        errors[0]
    );
}

/// The python of dbt-artifacts-parser's venv (`scripts/artifacts-parser`,
/// which `scripts/test` runs first).
fn artifacts_parser() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("scripts/artifacts-parser"))
        .output()
        .expect("scripts/artifacts-parser runs");
    assert!(
        out.status.success(),
        "cannot install dbt-artifacts-parser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// dbt's own tooling reads what sb writes: dbt-artifacts-parser's strict
/// models of manifest v12, run-results v6 and catalog v1 accept sb's files
/// after a build (models, seeds, a source, tests, an ephemeral, an
/// incremental) and `sb docs`.
#[test]
fn dbt_artifacts_parser_reads_the_manifest_run_results_and_catalog() {
    let project = Project::jaffle();
    project.sb(&["build"]).success();
    project.sb(&["docs"]).success();
    assert!(project.exists("target/catalog.json"));
    let catalog = project.read_json("target/catalog.json");
    let orders = &catalog["nodes"]["model.jaffle.orders"];
    assert_eq!(orders["metadata"]["type"], "BASE TABLE");
    assert_eq!(orders["columns"]["order_id"]["index"], 1);
    assert!(
        catalog["sources"]["source.jaffle.shop.payments"]["columns"]
            .as_object()
            .is_some_and(|c| !c.is_empty())
    );
    check_with_artifacts_parser(&project);
}

/// Runs `scripts/check-artifacts.py` on the project's `target/`: the
/// manifest, run results and catalog must each pass dbt-artifacts-parser.
pub(super) fn check_with_artifacts_parser(project: &Project) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-artifacts.py");
    let out = std::process::Command::new(artifacts_parser())
        .arg(script)
        .arg(project.path().join("target"))
        .output()
        .expect("the checker runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dbt-artifacts-parser refused sb's artifacts:\n{said}"
    );
    assert_eq!(said, "manifest ok\nrun_results ok\ncatalog ok\n");
}
