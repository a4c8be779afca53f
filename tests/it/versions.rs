//! Model versions end to end (issue 15), on the `model_versions` fixture:
//! a model in three versions (one in a file `defined_in` names, one a
//! prerelease), refs pinned with `v=` and `version=` and unpinned; each
//! version is named as dbt names it, selected by name, `name.v2`,
//! `name_v2` or `version:`, carried in the manifest, and a missing version
//! file or an unknown pinned version is an error at its line. The relations
//! themselves are compared with dbt's in `dbt_compat`.

use serde_json::Value;

use super::harness::{Project, copy_tree, fixture_dir, sorted_lines};

fn fixture() -> Project {
    let project = Project::bare();
    copy_tree(&fixture_dir("dbt/model_versions"), project.path());
    project
}

/// The models `sb ls` selects, sorted, one per line.
fn models(project: &Project, selector: &str) -> String {
    let output = project.sb(&["ls", "--resource-type", "model", "-s", selector]);
    output.success();
    let mut text = sorted_lines(&output.stdout).join("\n");
    text.push('\n');
    text
}

#[test]
fn versions_are_selected_by_name_version_and_rank() {
    let project = fixture();
    assert_eq!(
        models(&project, "dim_customers"),
        "dim_customers.v1\ndim_customers.v2\ndim_customers.v3\n"
    );
    assert_eq!(models(&project, "dim_customers.v2"), "dim_customers.v2\n");
    assert_eq!(models(&project, "dim_customers_v1"), "dim_customers.v1\n");
    assert_eq!(models(&project, "version:latest"), "dim_customers.v2\n");
    assert_eq!(models(&project, "version:prerelease"), "dim_customers.v3\n");
    assert_eq!(models(&project, "version:old"), "dim_customers.v1\n");
    // A pinned ref is an edge to that version only.
    assert_eq!(
        models(&project, "+legacy_countries"),
        "dim_customers.v1\nlegacy_countries\nstg_customers\n"
    );
    assert_eq!(
        models(&project, "dim_customers.v3+"),
        "dim_customers.v3\nsignup_years\n"
    );
    project
        .sb(&["ls", "-s", "version:newest"])
        .code(2)
        .stderr_contains("unknown version selector `newest`")
        .stderr_contains("latest, old, prerelease, none");
}

#[test]
fn the_manifest_carries_versions_and_the_build_names_them_as_dbt_does() {
    let project = fixture();
    project
        .sb(&["build"])
        .success()
        .stdout_contains("model dim_customers.v1")
        .stdout_contains("PASS  unit_test full_names_join_first_and_last_v1")
        .stdout_contains("PASS  test accepted_values_dim_customers_v1_country__GB__US__NL")
        .stdout_contains("Done. PASS=23 ");
    let manifest: Value =
        serde_json::from_str(&project.read("target/manifest.json")).expect("manifest");
    let node = |id: &str| &manifest["nodes"][id];
    let v3 = node("model.model_versions.dim_customers.v3");
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["latest_version"], 2);
    assert_eq!(v3["alias"], "dim_customers_preview");
    assert_eq!(
        v3["original_file_path"],
        "models/marts/dim_customers_next.sql"
    );
    assert_eq!(
        v3["fqn"],
        serde_json::json!(["model_versions", "marts", "dim_customers", "v3"])
    );
    assert_eq!(
        node("model.model_versions.dim_customers.v1")["alias"],
        "dim_customers_v1"
    );
    assert_eq!(
        node("model.model_versions.legacy_countries")["refs"],
        serde_json::json!([{"name": "dim_customers", "package": null, "version": 1}])
    );
    assert_eq!(
        node("model.model_versions.customer_orders")["depends_on"]["nodes"],
        serde_json::json!([
            "model.model_versions.dim_customers.v2",
            "model.model_versions.stg_orders"
        ])
    );
    // The columns of v1: the model's, without those it excludes.
    let columns: Vec<&String> = node("model.model_versions.dim_customers.v1")["columns"]
        .as_object()
        .expect("columns")
        .keys()
        .collect();
    assert_eq!(columns, ["customer_id", "full_name", "country"]);
    assert_eq!(
        node("model.model_versions.order_facts")["constraints"][0],
        serde_json::json!({"type": "primary_key", "columns": ["order_id"]})
    );
    project.sb(&["docs"]).success();
    super::artifacts::check_with_artifacts_parser(&project);
}

#[test]
fn version_mistakes_are_errors_at_their_line() {
    let project = fixture();
    let schema = project.path().join("models/marts/schema.yml");
    let yaml = std::fs::read_to_string(&schema).expect("schema.yml");
    std::fs::write(
        &schema,
        yaml.replace(
            "defined_in: dim_customers_next",
            "defined_in: dim_customers_nxt",
        ),
    )
    .expect("write");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("version 3 of model `dim_customers` has no SQL file: sb looked for `dim_customers_nxt.sql`")
        .stderr_contains("models/marts/schema.yml:45:");

    let project = fixture();
    let schema = project.path().join("models/marts/schema.yml");
    std::fs::write(
        &schema,
        yaml.replace("latest_version: 2", "latest_version: 4"),
    )
    .expect("write");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("`latest_version: 4` is not one of the model's versions (1, 2, 3)")
        .stderr_contains("models/marts/schema.yml:6:");

    let project = fixture();
    let model = project.path().join("models/marts/legacy_countries.sql");
    let sql = std::fs::read_to_string(&model).expect("model");
    std::fs::write(&model, sql.replace("v=1", "v=7")).expect("write");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("`dim_customers` has no version 7")
        .stderr_contains("models/marts/legacy_countries.sql:3:")
        .stderr_contains("has versions 1, 2, 3");

    let project = fixture();
    std::fs::write(
        project.path().join("models/marts/dim_customers.sql"),
        "select 1 as customer_id\n",
    )
    .expect("write");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("model `dim_customers` has versions, and also a file of its own name");
}

/// As dbt warns: an unpinned ref follows the latest version, and a
/// prerelease exists that it will follow once marked latest.
#[test]
fn an_unpinned_ref_to_a_model_with_a_prerelease_is_a_warning_at_its_line() {
    let project = fixture();
    project
        .sb(&["compile"])
        .success()
        .stderr_contains("`customer_orders` refs `dim_customers` without a version: it resolves to the latest, v2, but v3 is a prerelease")
        .stderr_contains("models/marts/customer_orders.sql:7:")
        .stderr_contains("{{ ref('dim_customers', v=2) }}");
    project.edit(
        "models/marts/customer_orders.sql",
        "ref('dim_customers')",
        "ref('dim_customers', v=2)",
    );
    let output = project.sb(&["compile"]);
    output.success();
    assert!(
        !output.stderr.contains("without a version"),
        "{}",
        output.stderr
    );
}
