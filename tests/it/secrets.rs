//! Secrets (issue 17): the value of a `DBT_ENV_SECRET_*` / `SB_SECRET_*`
//! variable, used in a profile, never reaches stdout, stderr or any file
//! under `target/`, also when the run fails with a SQL error and when the
//! profile is invalid; reading one from a model is an error at its line.
//! On DuckDB the secret names the database file (so it is in every
//! relation name sb writes); on the emulator it is the BigQuery project.

use std::path::Path;

use super::emulator::{emulator, fresh_project};
use super::harness::{Output, Project, copy_tree, fixture_dir};

/// Every file under `dir`, with its contents.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// `secret` is in none of the outputs and no file under `target/`.
fn assert_hidden(project: &Project, outputs: &[&Output], secret: &str) {
    for output in outputs {
        assert!(
            !output.stdout.contains(secret) && !output.stderr.contains(secret),
            "`sb {}` showed the secret:\n{}\n{}",
            output.args,
            output.stdout,
            output.stderr
        );
    }
    let files = files_under(&project.path().join("target"));
    assert!(!files.is_empty());
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            path.display()
        );
    }
}

const SECRET_DB: &str = "sbvault7731";

#[test]
fn a_secret_in_the_profile_never_reaches_an_output_on_duckdb() {
    let project = Project::bare();
    copy_tree(&fixture_dir("dbt/jaffle_shop_duckdb"), project.path());
    project.write(
        "profiles.yml",
        "jaffle_shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('DBT_ENV_SECRET_DB') }}.duckdb\"\n      threads: 4\n",
    );
    let env = [("DBT_ENV_SECRET_DB", SECRET_DB)];
    let built = project.sb_with_env(&["build"], &env);
    built.success();
    let debug = project.sb_with_env(&["debug"], &env);
    let docs = project.sb_with_env(&["docs"], &env);
    docs.success();
    let manifest = project.read("target/manifest.json");
    assert!(
        manifest.contains("\"database\":\"*****\""),
        "the secret is masked, not dropped"
    );
    // A SQL error names the failing relation, in the secret database.
    project.edit(
        "models/staging/stg_orders.sql",
        "        status\n",
        "        no_such_column as status\n",
    );
    let failed = project.sb_with_env(&["run", "-v"], &env);
    failed.code(1);
    assert_hidden(&project, &[&built, &debug, &docs, &failed], SECRET_DB);

    // An invalid profile: the secret is the bad value.
    project.write(
        "profiles.yml",
        "jaffle_shop:\n  target: dev\n  outputs:\n    dev:\n      type: \"{{ env_var('DBT_ENV_SECRET_TYPE') }}\"\n      path: jaffle.duckdb\n",
    );
    let invalid = project.sb_with_env(&["run"], &[("DBT_ENV_SECRET_TYPE", "fourty-two-secret")]);
    invalid.code(2);
    assert!(invalid.stderr.contains("*****"), "{}", invalid.stderr);
    assert_hidden(&project, &[&invalid], "fourty-two-secret");

    // A model cannot read a secret variable.
    project.write(
        "profiles.yml",
        "jaffle_shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: jaffle.duckdb\n",
    );
    project.write(
        "models/leak.sql",
        "select '{{ env_var('DBT_ENV_SECRET_DB') }}' as leaked\n",
    );
    let leak = project.sb_with_env(&["compile"], &env);
    leak.code(2)
        .stderr_contains("`DBT_ENV_SECRET_DB` is a secret environment variable")
        .stderr_contains("models/leak.sql:1:");
    assert_hidden(&project, &[&leak], SECRET_DB);
}

#[test]
fn a_secret_in_the_target_never_reaches_an_output_on_the_emulator() {
    let secret = fresh_project("vault");
    let project = Project::bare()
        .file(
            "project.yml",
            format!(
                "name: sb_bq\ndefault_target: emu\ntargets:\n  emu:\n    type: bigquery\n    project: \"{{{{ env_var('SB_SECRET_PROJECT') }}}}\"\n    dataset: analytics\n    location: US\n    api_url: {}\n    threads: 2\n",
                emulator().url
            ),
        )
        .file("seeds/plans.csv", "plan_id,name\n1,basic\n2,premium\n")
        .file(
            "models/plan_names.sql",
            "select plan_id, upper(name) as name from {{ ref('plans') }}\n",
        );
    let env = [("SB_SECRET_PROJECT", secret.as_str())];
    let built = project.sb_with_env(&["build"], &env);
    built.success();
    project.write(
        "models/broken.sql",
        "select no_such_column from {{ ref('plans') }}\n",
    );
    let failed = project.sb_with_env(&["run", "-v"], &env);
    failed.code(1);
    assert_hidden(&project, &[&built, &failed], &secret);
}
