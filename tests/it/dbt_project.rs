//! dbt projects read unchanged: `dbt_project.yml` with its config nested
//! under the project name, vars in the project's own scope, `+` keys, and
//! hooks; targets from `profiles.yml`, found where dbt finds it and picked
//! by `-t`; errors in either file pointed at their line and column.

use crate::assert_stderr_snapshot;
use crate::it::harness::{Project, rows};

const MODEL_ONLY_PROJECT: &str = "name: shop\nconfig-version: 2\nprofile: shop\n";

fn profile(schema: &str) -> String {
    format!(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/dev.duckdb\n      schema: {schema}\n"
    )
}

#[test]
fn a_dbt_project_builds_from_dbt_project_yml_and_profiles_yml() {
    let project = Project::fixture("dbt_shop");

    project.sb(&["build"]).success();

    assert_eq!(
        project.relations(),
        [
            "analytics.orders",
            "analytics_raw.raw_orders",
            "analytics_staging.stg_orders",
            "main.hook_log",
        ]
    );
    assert_eq!(
        project
            .relation_type("analytics_staging", "stg_orders")
            .as_deref(),
        Some("VIEW"),
        "a key without `+` under a folder is config too"
    );
    assert_eq!(
        project.relation_type("analytics", "orders").as_deref(),
        Some("BASE TABLE")
    );
    // `currency` is global, `order_status` is in the project's own scope.
    assert_eq!(
        project.query("select id, amount, currency from analytics.orders order by id"),
        rows(&[["1", "12.5", "EUR"], ["3", "3.0", "EUR"]])
    );
    let manifest = project.read_json("target/manifest.json");
    assert!(manifest["nodes"]["model.shop.orders"].is_object());
}

#[test]
fn on_run_start_and_on_run_end_run_around_every_command_that_runs_nodes() {
    let project = Project::fixture("dbt_shop");

    project.sb(&["seed"]).success();
    project.sb(&["run", "-s", "stg_orders"]).success();

    assert_eq!(
        project.query("select event from main.hook_log"),
        rows(&[["start dev"], ["end"], ["start dev"], ["end"]])
    );
}

#[test]
fn profiles_are_found_by_flag_then_environment_then_project_then_home() {
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("models/m.sql", "select 1 as id")
        .file("profiles.yml", profile("from_project"))
        .file("flag/profiles.yml", profile("from_flag"))
        .file("env/profiles.yml", profile("from_env"));
    let env = project.path().join("env");
    let env = env.to_str().expect("a UTF-8 path");

    project.sb(&["run"]).success();
    project.sb(&["run", "--profiles-dir", "flag"]).success();
    project
        .sb_with_env(&["run"], &[("DBT_PROFILES_DIR", env)])
        .success();
    project
        .sb_with_env(
            &["run", "--profiles-dir", "flag"],
            &[("DBT_PROFILES_DIR", "/nowhere")],
        )
        .success();

    assert_eq!(
        project.relations(),
        ["from_env.m", "from_flag.m", "from_project.m"]
    );

    let home = tempfile::tempdir().expect("a home folder");
    std::fs::create_dir_all(home.path().join(".dbt")).expect("create ~/.dbt");
    std::fs::write(home.path().join(".dbt/profiles.yml"), profile("from_home"))
        .expect("write profiles");
    std::fs::remove_file(project.path().join("profiles.yml")).expect("remove profiles");
    let home = home.path().to_str().expect("a UTF-8 path");
    project.sb_with_env(&["run"], &[("HOME", home)]).success();
    assert!(project.relations().contains(&"from_home.m".to_string()));
}

#[test]
fn target_flag_picks_a_profile_output_rendered_with_env_var() {
    let project = Project::fixture("dbt_shop");

    project
        .sb_with_env(&["seed", "-t", "prod"], &[("SB_TEST_PROD_SCHEMA", "live")])
        .success();

    assert_eq!(
        project.query("select count(*) from live_raw.raw_orders"),
        [["3"]]
    );
}

#[test]
fn a_bad_profile_key_is_an_error_at_its_place_in_profiles_yml() {
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("models/m.sql", "select 1 as id")
        .file(
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      thread: 4\n",
        );

    let compiled = project.sb(&["compile"]);
    compiled.code(2);
    assert_stderr_snapshot!(compiled);
    project
        .sb(&["debug"])
        .code(2)
        .stderr_contains("profiles.yml:6:7");
}

#[test]
fn a_missing_profile_or_target_names_what_exists_and_where_sb_looked() {
    let project = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shopp\n")
        .file("profiles.yml", profile("analytics"));
    let missing_profile = project.sb(&["compile"]);
    missing_profile.code(2);
    assert_stderr_snapshot!("missing_profile", missing_profile);

    project.write("dbt_project.yml", MODEL_ONLY_PROJECT);
    let missing_target = project.sb(&["compile", "-t", "prd"]);
    missing_target.code(2);
    assert_stderr_snapshot!("missing_target", missing_target);

    std::fs::remove_file(project.path().join("profiles.yml")).expect("remove profiles");
    project
        .sb_with_env(&["compile"], &[("HOME", "/nonexistent-home")])
        .code(2)
        .stderr_contains("no profiles.yml found for profile `shop`")
        .stderr_contains("/nonexistent-home/.dbt/profiles.yml (~/.dbt)");
}

#[test]
fn an_unknown_dbt_project_key_is_an_error_with_the_closest_key() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nmodel-path: [models]\n",
        )
        .file("profiles.yml", profile("analytics"));

    let output = project.sb(&["compile"]);
    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn a_required_dbt_version_that_excludes_sb_is_a_warning() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nrequire-dbt-version: \"<1.0.0\"\n",
        )
        .file("profiles.yml", profile("analytics"))
        .file("models/m.sql", "select 1 as id");

    project
        .sb(&["run"])
        .success()
        .stderr_contains("warning: this project requires dbt <1.0.0");
}

#[test]
fn clean_removes_the_clean_targets() {
    let project = Project::fixture("dbt_shop")
        .file("dbt_packages/old/README", "stale")
        .file("target/stale.txt", "stale");

    project.sb(&["clean"]).success();

    assert!(!project.exists("target"));
    assert!(!project.exists("dbt_packages"));
}

#[test]
fn duckdb_settings_and_attachments_apply_and_a_missing_extension_is_clear() {
    let outputs = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/dev.duckdb\n      keep_open: true\n      settings:\n        threads: 3\n      attach:\n        - path: target/side.duckdb\n          alias: side\n";
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("profiles.yml", outputs)
        .file(
            "models/facts.sql",
            "{{ config(materialized='table') }}\nselect current_setting('threads') as threads, (select count(*) from duckdb_databases() where database_name = 'side') as side",
        );

    project.sb(&["run"]).success();
    assert_eq!(
        project.query("select threads, side from main.facts"),
        [["3", "1"]]
    );

    project.write(
        "profiles.yml",
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/dev.duckdb\n      extensions: [sb_no_such_extension]\n",
    );
    project
        .sb(&["run"])
        .code(2)
        .stderr_contains("cannot load the DuckDB extension `sb_no_such_extension`");
}

#[test]
fn a_bigquery_profile_maps_dbt_bigquerys_keys_and_refuses_impersonation_at_the_key() {
    let output = |extra: &str| {
        format!(
            "shop:\n  target: prod\n  outputs:\n    prod:\n      type: bigquery\n      method: oauth\n      project: acme\n      dataset: analytics\n      location: EU\n      priority: batch\n      maximum_bytes_billed: 1000000\n      job_execution_timeout_seconds: 300\n      job_retries: 2\n      threads: 8\n{extra}"
        )
    };
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("profiles.yml", output(""))
        .file("models/m.sql", "select 1 as id");

    project
        .sb(&["compile", "-s", "m"])
        .success()
        .stdout_contains("select 1 as id");

    project.write(
        "profiles.yml",
        output("      impersonate_service_account: etl@acme.iam.gserviceaccount.com\n"),
    );
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("sb cannot impersonate a service account")
        .stderr_contains("profiles.yml:15:7");
}

#[test]
fn debug_names_the_profile_and_where_it_was_found() {
    let project = Project::fixture("dbt_shop");

    project
        .sb(&["debug"])
        .success()
        .stdout_contains("profile: shop (")
        .stdout_contains("profiles.yml)")
        .stdout_contains("target: dev (type duckdb)")
        .stdout_contains("connection: OK");
}

#[test]
fn var_in_a_package_model_sees_the_packages_scope_then_its_own_defaults() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nconfig-version: 2\nprofile: shop\nvars:\n  greeting: global\n  helpers:\n    greeting: scoped\n",
        )
        .file("profiles.yml", profile("main"))
        .file(
            "models/root_greeting.sql",
            "select '{{ var(\"greeting\") }}' as greeting",
        )
        .file(
            "dbt_packages/helpers/dbt_project.yml",
            "name: helpers\nconfig-version: 2\nvars:\n  greeting: package default\n  tone: calm\n",
        )
        .file(
            "dbt_packages/helpers/models/helper_greeting.sql",
            "select '{{ var(\"greeting\") }}' as greeting, '{{ var(\"tone\") }}' as tone",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select greeting from main.root_greeting"),
        rows(&[["global"]])
    );
    assert_eq!(
        project.query("select greeting, tone from main.helper_greeting"),
        rows(&[["scoped", "calm"]])
    );
}

#[test]
fn doc_blocks_fill_descriptions_and_the_manifest_and_an_unknown_doc_is_located() {
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("profiles.yml", profile("main"))
        .file("models/orders.sql", "select 1 as id")
        .file(
            "models/docs.md",
            "{% docs orders %}\nOne row per **order**.\n{% enddocs %}\n\n{% docs order_id %}The order's key.{% enddocs %}\n",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    description: '{{ doc(\"orders\") }}'\n    columns:\n      - name: id\n        description: \"Key: {{ doc('order_id') }}\"\n",
        );

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    let orders = &manifest["nodes"]["model.shop.orders"];
    assert_eq!(orders["description"], "One row per **order**.");
    assert_eq!(
        orders["columns"]["id"]["description"],
        "Key: The order's key."
    );
    let doc = &manifest["docs"]["doc.shop.orders"];
    assert_eq!(doc["block_contents"], "One row per **order**.");
    assert_eq!(doc["original_file_path"], "models/docs.md");
    assert_eq!(doc["path"], "docs.md");

    project.write(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: orders\n    description: '{{ doc(\"order\") }}'\n",
    );
    let output = project.sb(&["compile"]);
    output
        .code(2)
        .stderr_contains("unknown doc `order`")
        .stderr_contains("models/schema.yml:4:")
        .stderr_contains("`orders`");
}

#[test]
fn analyses_compile_into_target_and_the_manifest_but_never_run() {
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("profiles.yml", profile("main"))
        .file("models/orders.sql", "select 1 as id")
        .file(
            "analyses/order_count.sql",
            "select count(*) as orders from {{ ref('orders') }}",
        )
        .file(
            "analyses/schema.yml",
            "version: 2\nanalyses:\n  - name: order_count\n    description: How many orders\n",
        );

    project.sb(&["run"]).success();
    assert_eq!(project.relations(), ["main.orders"]);
    assert!(!project.exists("target/compiled/shop/analyses/order_count.sql"));

    project.sb(&["compile"]).success();
    assert_eq!(
        project.read("target/compiled/shop/analyses/order_count.sql"),
        "select count(*) as orders from \"dev\".\"main\".\"orders\""
    );
    let manifest = project.read_json("target/manifest.json");
    let analysis = &manifest["nodes"]["analysis.shop.order_count"];
    assert_eq!(analysis["resource_type"], "analysis");
    assert_eq!(
        analysis["fqn"],
        serde_json::json!(["shop", "analysis", "order_count"])
    );
    assert_eq!(analysis["description"], "How many orders");
    assert_eq!(
        analysis["depends_on"]["nodes"],
        serde_json::json!(["model.shop.orders"])
    );
    assert_eq!(
        project
            .sb(&["ls", "--resource-type", "analysis"])
            .stdout_lines(),
        ["order_count"]
    );
}

#[test]
fn ref_finds_the_callers_own_package_first_and_a_package_when_named() {
    let project = Project::bare()
        .file("dbt_project.yml", MODEL_ONLY_PROJECT)
        .file("profiles.yml", profile("main"))
        .file("models/base.sql", "select 'root' as origin")
        .file(
            "models/root_user.sql",
            "select (select origin from {{ ref('base') }}) as own, (select origin from {{ ref('helpers', 'base') }}) as named",
        )
        .file("dbt_packages/helpers/dbt_project.yml", "name: helpers\nconfig-version: 2\n")
        .file(
            "dbt_packages/helpers/models/base.sql",
            "{{ config(alias='helpers_base') }} select 'package' as origin",
        )
        .file(
            "dbt_packages/helpers/models/helper_user.sql",
            "select origin from {{ ref('base') }}",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select own, named from main.root_user"),
        rows(&[["root", "package"]])
    );
    assert_eq!(
        project.query("select origin from main.helper_user"),
        rows(&[["package"]])
    );
}

#[test]
fn on_run_end_sees_the_results_and_the_schemas_of_the_run() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nconfig-version: 2\nprofile: shop\non-run-end:\n  - \"create table main.run_log as select {% for r in results %}'{{ r.node.name }}:{{ r.status }}:{{ r.node.schema }}' as r{{ loop.index }}, {% endfor %}'{{ schemas | join(',') }}' as built\"\n",
        )
        .file("profiles.yml", profile("main"))
        .file("models/orders.sql", "select 1 as id");

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select r1, built from main.run_log"),
        rows(&[["orders:success:main", "main"]])
    );
}

#[test]
fn seed_hooks_run_around_the_load_and_may_call_the_adapter() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nconfig-version: 2\nprofile: shop\nseeds:\n  shop:\n    counted:\n      +post-hook: \"create table main.seed_count as select count(*) as n from {{ this }}\"\n    dropped:\n      +post-hook: \"{% do adapter.drop_relation(this.incorporate(type='table')) %}\"\n",
        )
        .file("profiles.yml", profile("main"))
        .file("seeds/counted.csv", "id\n1\n2\n3\n")
        .file("seeds/dropped.csv", "id\n1\n");

    project.sb(&["seed"]).success();

    assert_eq!(
        project.query("select n from main.seed_count"),
        rows(&[["3"]])
    );
    assert_eq!(project.relation_type("main", "dropped"), None);
    assert_eq!(
        project.relation_type("main", "counted").as_deref(),
        Some("BASE TABLE")
    );
}
