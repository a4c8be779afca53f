//! The commands beyond `run`: `build`, `show`, `clean`, `debug`, and the
//! flags every command shares (`--project-dir`, `-q`).

use crate::it::harness::Project;

#[test]
fn build_loads_seeds_then_models_in_graph_order() {
    let project = Project::jaffle();

    let output = project.sb(&["build"]);

    output.success();
    let position = |needle: &str| {
        output
            .stdout_lines()
            .iter()
            .position(|line| line.contains(needle) && line.contains(" of "))
            .unwrap_or_else(|| panic!("no progress line for {needle}\n{output}"))
    };
    assert!(position("seed raw_orders") < position("model stg_orders"));
    assert!(position("seed raw_customers") < position("model stg_customers"));
    assert!(position("model stg_orders") < position("model orders"));
    assert!(position("model orders") < position("model revenue"));
    assert_eq!(project.query("select count(*) from customers"), [["4"]]);
    assert_eq!(
        project.query("select count(*) from main_raw.raw_orders"),
        [["5"]]
    );
}

#[test]
fn build_skips_models_downstream_of_a_failed_seed() {
    let project = Project::new()
        .file("seeds/numbers.csv", "n\n1\nnot a number\n")
        .file(
            "seeds/schema.yml",
            "version: 2\nseeds:\n  - name: numbers\n    config:\n      column_types:\n        n: integer\n",
        )
        .file("seeds/letters.csv", "l\na\n")
        .file("models/from_numbers.sql", "select * from {{ ref('numbers') }}")
        .file("models/from_letters.sql", "select * from {{ ref('letters') }}");

    let output = project.sb(&["build"]);

    output.code(1).stdout_contains("SKIP=1");
    assert_eq!(project.relation_type("main", "from_numbers"), None);
    assert_eq!(project.query("select l from from_letters"), [["a"]]);
}

#[test]
fn show_prints_the_first_rows_as_a_table() {
    let project = Project::new().file(
        "models/people.sql",
        "select * from (values (1, 'Ada'), (2, 'Grace'), (3, 'Linus')) as t(id, name) order by id",
    );

    let output = project.sb(&["show", "-s", "people", "--limit", "2"]);

    output.success();
    let lines = output.stdout_lines();
    let header = lines
        .iter()
        .position(|l| l.contains("id") && l.contains("name"))
        .expect("a header row");
    let body: Vec<&&str> = lines[header..]
        .iter()
        .filter(|l| l.contains("Ada") || l.contains("Grace") || l.contains("Linus"))
        .collect();
    assert_eq!(body.len(), 2, "--limit 2 prints two rows\n{output}");
    assert!(
        output.stdout.contains("Ada")
            && output.stdout.contains("Grace")
            && !output.stdout.contains("Linus")
    );
    insta::assert_snapshot!(output.normalized_stdout());
}

#[test]
fn show_without_a_model_says_what_to_pass() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file("models/b.sql", "select 2 as id");

    let output = project.sb(&["show"]);

    output.code(2).no_panic().stderr_contains("-s");
}

#[test]
fn clean_removes_the_target_folder() {
    let project = Project::new().file("models/a.sql", "select 1 as id");
    project.sb(&["run"]).success();
    assert!(project.exists("target/manifest.json"));

    project.sb(&["clean"]).success();

    assert!(!project.exists("target"));
    assert!(project.exists("models/a.sql"));
    project.sb(&["clean"]).success();
}

#[test]
fn debug_prints_the_target_and_checks_the_connection() {
    let project = Project::new().file("models/a.sql", "select 1 as id");

    let output = project.sb(&["debug"]);

    output
        .success()
        .stdout_contains("dev")
        .stdout_contains("duckdb")
        .stdout_contains("connection: OK");
}

#[test]
fn debug_does_not_print_secrets() {
    let project = Project::new().file(
        "project.yml",
        "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n    password: hunter2-secret\n",
    );

    let output = project.sb(&["debug"]);

    assert!(!output.all_output().contains("hunter2-secret"), "{output}");
}

#[test]
fn project_dir_flag_runs_a_project_from_elsewhere() {
    let project = Project::new().file("models/a.sql", "select 1 as id");
    let elsewhere = tempfile::tempdir().unwrap();

    let dir = project.path().to_string_lossy().into_owned();
    project
        .sb_from(elsewhere.path(), &["run", "--project-dir", &dir])
        .success();

    assert_eq!(project.query("select id from a"), [["1"]]);
    assert!(project.exists("target/manifest.json"));
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing is written to the current folder"
    );
}

#[test]
fn quiet_prints_only_errors_and_the_summary() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file("models/b.sql", "select nope from range(1)");

    let output = project.sb(&["run", "-q"]);

    output.code(1).stdout_contains("ERROR=1");
    assert!(
        !output
            .stdout
            .lines()
            .any(|l| l.contains(" OK ") && l.contains("model a")),
        "no progress line for a model that succeeded\n{output}"
    );
    output.stderr_contains("`b`");
}

#[test]
fn unknown_flag_is_a_command_line_error() {
    let project = Project::new().file("models/a.sql", "select 1 as id");

    project.sb(&["run", "--no-such-flag"]).code(2).no_panic();
    project.sb(&["frobnicate"]).code(2).no_panic();
    project.sb(&["run", "--threads", "many"]).code(2).no_panic();
}

#[test]
fn help_and_version_exit_zero() {
    let project = Project::new();

    project.sb(&["--help"]).success().stdout_contains("run");
    project.sb(&["--version"]).success().stdout_contains("sb");
}

#[test]
fn threads_zero_is_rejected_at_the_command_line() {
    let project = Project::new().file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run", "--threads", "0"]);

    output
        .code(2)
        .no_panic()
        .stderr_contains("--threads")
        .stderr_contains("at least 1");
    assert!(
        !project.path().join("target/dev.duckdb").exists(),
        "nothing may run: {output}"
    );
}

#[test]
fn database_that_cannot_be_opened_is_exit_2() {
    let project = Project::new()
        .file(
            "project.yml",
            "name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: models\n",
        )
        .file("models/a.sql", "select 1 as id");

    let output = project.sb(&["run"]);

    output.code(2).no_panic().stderr_contains("models");
    project.sb(&["debug"]).code(2).no_panic();
}
