//! Exposures, semantic models, metrics and saved queries in schema YAML:
//! parsed, checked (an unknown ref, source, measure or metric is an error at
//! its file, line and column), listed in `manifest.json`, never run.

use crate::it::harness::Project;

const DEFINITIONS_YML: &str = "\
version: 2
sources:
  - name: shop
    tables:
      - name: payments
exposures:
  - name: weekly_revenue
    type: dashboard
    owner: {name: Finance, email: finance@example.com}
    depends_on:
      - ref('orders')
      - source('shop', 'payments')
semantic_models:
  - name: orders_semantic
    model: ref('orders')
    entities: [{name: order, type: primary, expr: id}]
    measures: [{name: order_total, agg: sum, expr: amount}]
metrics:
  - name: revenue
    label: Revenue
    type: simple
    type_params: {measure: order_total}
  - name: revenue_doubled
    label: Revenue twice
    type: derived
    type_params: {expr: revenue * 2, metrics: [{name: revenue}]}
saved_queries:
  - name: revenue_query
    query_params: {metrics: [revenue_doubled]}
";

fn project(yml: &str) -> Project {
    Project::new()
        .file("models/orders.sql", "select 1 as id, 10 as amount")
        .file("models/definitions.yml", yml)
}

#[test]
fn definitions_are_in_the_manifest_with_what_they_depend_on() {
    let project = project(DEFINITIONS_YML);

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    let exposure = &manifest["exposures"]["exposure.sb_test.weekly_revenue"];
    assert_eq!(exposure["resource_type"], "exposure");
    assert_eq!(
        exposure["depends_on"]["nodes"],
        serde_json::json!(["model.sb_test.orders", "source.sb_test.shop.payments"])
    );
    assert_eq!(
        exposure["sources"],
        serde_json::json!([["shop", "payments"]])
    );
    let semantic = &manifest["semantic_models"]["semantic_model.sb_test.orders_semantic"];
    assert_eq!(
        semantic["depends_on"]["nodes"],
        serde_json::json!(["model.sb_test.orders"])
    );
    assert_eq!(
        manifest["metrics"]["metric.sb_test.revenue"]["depends_on"]["nodes"],
        serde_json::json!(["semantic_model.sb_test.orders_semantic"])
    );
    assert_eq!(
        manifest["metrics"]["metric.sb_test.revenue_doubled"]["depends_on"]["nodes"],
        serde_json::json!(["metric.sb_test.revenue"])
    );
    assert_eq!(
        manifest["saved_queries"]["saved_query.sb_test.revenue_query"]["depends_on"]["nodes"],
        serde_json::json!(["metric.sb_test.revenue_doubled"])
    );
}

#[test]
fn definitions_are_never_run() {
    let project = project(DEFINITIONS_YML);
    project.execute("create schema shop; create table shop.payments as select 1 as id");

    let output = project.sb(&["build"]);

    output.success();
    assert!(!output.stdout.contains("weekly_revenue"), "{output}");
    assert!(!output.stdout.contains("revenue_query"), "{output}");
}

#[test]
fn an_exposure_on_an_unknown_model_names_the_closest_ones() {
    let project = project(&DEFINITIONS_YML.replace(
        "ref('orders')\n      - source",
        "ref('ordrs')\n      - source",
    ));

    let output = project.sb(&["compile"]);

    output
        .code(2)
        .stderr_contains("unknown ref `ordrs`")
        .stderr_contains("models/definitions.yml:11:14")
        .stderr_contains("did you mean `orders`?");
}

#[test]
fn unknown_measures_metrics_and_exposure_types_are_errors() {
    let yml = DEFINITIONS_YML
        .replace("{measure: order_total}", "{measure: order_totl}")
        .replace("metrics: [revenue_doubled]", "metrics: [revenue_tripled]")
        .replace("type: dashboard", "type: dashbord");

    let output = project(&yml).sb(&["compile"]);

    output
        .code(2)
        .stderr_contains("unknown measure `order_totl`")
        .stderr_contains("did you mean `order_total`?")
        .stderr_contains("exposure `weekly_revenue` has type `dashbord`")
        .stderr_contains("unknown metric `revenue_tripled`");
}
