//! SPEC "Selection", through `sb ls` on the jaffle fixture:
//!
//! ```text
//! raw_customers ── stg_customers ─────────────────────────── customers
//! raw_orders ───── stg_orders ──┬─────────────────────────┬─ customers
//!                               └─ int_order_payments ─┬──┴─ orders ── revenue
//! shop.payments ── stg_payments ─┘   (ephemeral)       └──── customers
//! ```

use crate::it::harness::{Project, sorted_lines};

/// `sb ls ARGS` over the graph of models, seeds and sources: the jaffle
/// fixture's data tests are left out unless `--resource-type` is given
/// (tests/it/data_tests.rs covers how tests follow a selection).
fn ls(args: &[&str]) -> Vec<String> {
    let mut full = args.to_vec();
    if !args.contains(&"--resource-type") {
        full.extend(["--resource-type", "model", "seed", "source"]);
    }
    ls_all(&full)
}

fn ls_all(args: &[&str]) -> Vec<String> {
    let project = Project::fixture("jaffle");
    let mut full = vec!["ls"];
    full.extend_from_slice(args);
    let output = project.sb(&full);
    output.success();
    sorted_lines(&output.stdout)
}

#[test]
fn ls_without_selector_lists_every_node() {
    assert_eq!(
        ls_all(&[]),
        [
            "accepted_values_stg_orders_status__placed__shipped__completed__returned",
            "customers",
            "int_order_payments",
            "not_null_stg_customers_customer_id",
            "not_null_stg_orders_order_id",
            "orders",
            "raw_customers",
            "raw_orders",
            "revenue",
            "source:shop.payments",
            "stg_customers",
            "stg_orders",
            "stg_payments",
            "unique_stg_customers_customer_id",
            "unique_stg_orders_order_id"
        ]
    );
}

#[test]
fn resource_type_flag_keeps_one_kind() {
    assert_eq!(
        ls(&["--resource-type", "model"]),
        [
            "customers",
            "int_order_payments",
            "orders",
            "revenue",
            "stg_customers",
            "stg_orders",
            "stg_payments"
        ]
    );
    assert_eq!(ls(&["--resource-type", "source"]), ["source:shop.payments"]);
}

#[test]
fn plain_name_selects_one_node() {
    assert_eq!(ls(&["-s", "orders"]), ["orders"]);
}

#[test]
fn plus_before_name_adds_all_ancestors() {
    assert_eq!(
        ls(&["-s", "+orders"]),
        [
            "int_order_payments",
            "orders",
            "raw_orders",
            "source:shop.payments",
            "stg_orders",
            "stg_payments"
        ]
    );
}

#[test]
fn plus_after_name_adds_all_descendants() {
    assert_eq!(ls(&["-s", "orders+"]), ["orders", "revenue"]);
    assert_eq!(
        ls(&["-s", "stg_payments+"]),
        [
            "customers",
            "int_order_payments",
            "orders",
            "revenue",
            "stg_payments"
        ]
    );
}

#[test]
fn number_before_plus_limits_the_generations() {
    assert_eq!(
        ls(&["-s", "1+orders"]),
        ["int_order_payments", "orders", "stg_orders"]
    );
    assert_eq!(
        ls(&["-s", "2+orders"]),
        [
            "int_order_payments",
            "orders",
            "raw_orders",
            "stg_orders",
            "stg_payments"
        ]
    );
    assert_eq!(
        ls(&["-s", "stg_payments+1"]),
        ["int_order_payments", "stg_payments"]
    );
}

#[test]
fn at_adds_descendants_and_their_ancestors() {
    assert_eq!(
        ls(&["-s", "@stg_customers"]),
        [
            "customers",
            "int_order_payments",
            "raw_customers",
            "raw_orders",
            "source:shop.payments",
            "stg_customers",
            "stg_orders",
            "stg_payments"
        ]
    );
}

#[test]
fn tag_selects_by_tag_including_folder_tags() {
    assert_eq!(ls(&["-s", "tag:marts"]), ["customers", "orders", "revenue"]);
    assert_eq!(ls(&["-s", "tag:finance"]), ["revenue"]);
    assert_eq!(
        ls(&["-s", "tag:staging"]),
        ["stg_customers", "stg_orders", "stg_payments"]
    );
}

#[test]
fn path_selects_by_folder_or_file() {
    assert_eq!(
        ls(&["-s", "path:models/marts"]),
        ["customers", "orders", "revenue"]
    );
    assert_eq!(
        ls(&["-s", "path:models/marts/finance/revenue.sql"]),
        ["revenue"]
    );
}

#[test]
fn config_selects_by_materialization() {
    assert_eq!(
        ls(&["-s", "config.materialized:table"]),
        ["customers", "revenue"]
    );
    assert_eq!(ls(&["-s", "config.materialized:incremental"]), ["orders"]);
    assert_eq!(
        ls(&["-s", "config.materialized:ephemeral"]),
        ["int_order_payments"]
    );
}

#[test]
fn source_selector_with_plus_selects_what_is_built_on_it() {
    assert_eq!(
        ls(&["-s", "source:shop+"]),
        [
            "customers",
            "int_order_payments",
            "orders",
            "revenue",
            "source:shop.payments",
            "stg_payments"
        ]
    );
    assert_eq!(
        ls(&["-s", "source:shop.payments"]),
        ["source:shop.payments"]
    );
}

#[test]
fn resource_type_selector_picks_seeds() {
    assert_eq!(
        ls(&["-s", "resource_type:seed"]),
        ["raw_customers", "raw_orders"]
    );
}

#[test]
fn exclude_removes_nodes_from_the_selection() {
    assert_eq!(
        ls(&["-s", "tag:marts", "--exclude", "revenue"]),
        ["customers", "orders"]
    );
    assert_eq!(
        ls(&[
            "--resource-type",
            "model",
            "--exclude",
            "tag:staging",
            "int_order_payments"
        ]),
        ["customers", "orders", "revenue"]
    );
}

#[test]
fn space_separated_terms_are_a_union() {
    assert_eq!(
        ls(&["-s", "stg_customers stg_orders"]),
        ["stg_customers", "stg_orders"]
    );
    assert_eq!(
        ls(&["-s", "stg_customers", "stg_orders"]),
        ["stg_customers", "stg_orders"]
    );
}

#[test]
fn comma_joined_terms_are_an_intersection() {
    assert_eq!(
        ls(&["-s", "tag:marts,path:models/marts/finance"]),
        ["revenue"]
    );
    assert_eq!(
        ls(&["-s", "tag:marts,config.materialized:incremental"]),
        ["orders"]
    );
    assert_eq!(
        ls(&["-s", "+revenue,tag:staging"]),
        ["stg_orders", "stg_payments"]
    );
}

#[test]
fn selector_that_matches_nothing_warns_and_lists_nothing() {
    let project = Project::fixture("jaffle");

    let output = project.sb(&["ls", "-s", "no_such_model"]);

    output.success().stderr_contains("no_such_model");
    assert_eq!(output.stdout.trim(), "");
}

#[test]
fn ls_output_path_prints_files() {
    assert_eq!(
        ls(&["-s", "tag:marts", "--output", "path"]),
        [
            "models/marts/customers.sql",
            "models/marts/finance/revenue.sql",
            "models/marts/orders.sql"
        ]
    );
}

#[test]
fn ls_output_json_prints_one_object_per_node() {
    let project = Project::fixture("jaffle");

    let output = project.sb(&[
        "ls",
        "-s",
        "+orders",
        "--output",
        "json",
        "--resource-type",
        "model",
        "seed",
        "source",
    ]);

    output.success();
    let nodes: Vec<serde_json::Value> = output
        .stdout_lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert_eq!(nodes.len(), 6);
    let orders = nodes
        .iter()
        .find(|n| n["name"] == "orders")
        .expect("orders is listed");
    assert_eq!(orders["unique_id"], "model.jaffle.orders");
    assert_eq!(orders["resource_type"], "model");
    assert_eq!(orders["original_file_path"], "models/marts/orders.sql");
    assert_eq!(orders["config"]["materialized"], "incremental");
    let mut parents: Vec<&str> = orders["depends_on"]["nodes"]
        .as_array()
        .expect("depends_on.nodes")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    parents.sort_unstable();
    assert_eq!(
        parents,
        ["model.jaffle.int_order_payments", "model.jaffle.stg_orders"]
    );
    let source = nodes
        .iter()
        .find(|n| n["resource_type"] == "source")
        .expect("the source is listed");
    assert_eq!(source["unique_id"], "source.jaffle.shop.payments");
    let seed = nodes
        .iter()
        .find(|n| n["resource_type"] == "seed")
        .expect("the seed is listed");
    assert_eq!(seed["unique_id"], "seed.jaffle.raw_orders");
}

#[test]
fn run_builds_only_the_selection() {
    let project = Project::fixture("jaffle");
    project.sb(&["seed"]).success();

    // shop.payments does not exist: stg_payments must stay out of the run.
    project
        .sb(&["run", "-s", "tag:staging", "--exclude", "stg_payments"])
        .success();

    assert_eq!(
        project.relations(),
        [
            "main.stg_customers",
            "main.stg_orders",
            "main_raw.raw_customers",
            "main_raw.raw_orders"
        ]
    );
}
