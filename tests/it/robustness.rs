//! SPEC: "No input, however malformed, makes sb panic, hang, or leave a
//! half-built table behind." Each case is a small broken project; sb must
//! answer with exit code 2 (invalid project, nothing ran) and a diagnostic,
//! never a panic.

use crate::it::harness::Project;
use std::fmt::Write as _;

/// A broken project: its files, and the file the diagnostic should name.
struct Case {
    what: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    names: &'static str,
}

const MODEL: (&str, &[u8]) = ("models/ok.sql", b"select 1 as id");
const PROJECT: (&str, &[u8]) = (
    "project.yml",
    b"name: sb_test\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n",
);

const CASES: &[Case] = &[
    Case {
        what: "binary garbage in a model file",
        files: &[
            PROJECT,
            MODEL,
            ("models/garbage.sql", b"\xff\xfe\x00\x9f\x92\x96 select \xc3\x28"),
        ],
        names: "models/garbage.sql",
    },
    Case {
        what: "an empty project.yml",
        files: &[("project.yml", b""), MODEL],
        names: "project.yml",
    },
    Case {
        what: "a project.yml that is a list",
        files: &[("project.yml", b"- name: sb_test\n- targets: {}\n"), MODEL],
        names: "project.yml",
    },
    Case {
        what: "a project.yml that is a plain string",
        files: &[("project.yml", b"just some words"), MODEL],
        names: "project.yml",
    },
    Case {
        what: "a target that is a number",
        files: &[("project.yml", b"name: sb_test\ntargets:\n  dev: 5\n"), MODEL],
        names: "project.yml",
    },
    Case {
        what: "vars that are a list",
        files: &[
            (
                "project.yml",
                b"name: sb_test\nvars: [1, 2]\ntargets:\n  dev:\n    type: duckdb\n    path: target/dev.duckdb\n",
            ),
            MODEL,
        ],
        names: "project.yml",
    },
    Case {
        what: "an unknown target type",
        files: &[
            ("project.yml", b"name: sb_test\ntargets:\n  dev:\n    type: oracle\n"),
            MODEL,
        ],
        names: "project.yml",
    },
    Case {
        what: "a model that is only `{{`",
        files: &[PROJECT, MODEL, ("models/open.sql", b"{{")],
        names: "models/open.sql",
    },
    Case {
        what: "a model with an unclosed block",
        files: &[PROJECT, MODEL, ("models/block.sql", b"{% if true %}select 1")],
        names: "models/block.sql",
    },
    Case {
        what: "ref() without arguments",
        files: &[PROJECT, MODEL, ("models/noref.sql", b"select * from {{ ref() }}")],
        names: "models/noref.sql",
    },
    Case {
        what: "config() with a positional argument",
        files: &[PROJECT, MODEL, ("models/cfg.sql", b"{{ config('table') }}\nselect 1")],
        names: "models/cfg.sql",
    },
    Case {
        what: "a materialization that is a number",
        files: &[
            PROJECT,
            MODEL,
            ("models/num.sql", b"{{ config(materialized=5) }}\nselect 1"),
        ],
        names: "models/num.sql",
    },
    Case {
        what: "schema YAML with `models: 5`",
        files: &[PROJECT, MODEL, ("models/schema.yml", b"version: 2\nmodels: 5\n")],
        names: "models/schema.yml",
    },
    Case {
        what: "schema YAML whose model entry is a string",
        files: &[PROJECT, MODEL, ("models/schema.yml", b"version: 2\nmodels:\n  - ok\n")],
        names: "models/schema.yml",
    },
    Case {
        what: "schema YAML that is a list",
        files: &[PROJECT, MODEL, ("models/schema.yml", b"- 1\n- 2\n")],
        names: "models/schema.yml",
    },
    Case {
        what: "schema YAML with tabs for indentation",
        files: &[
            PROJECT,
            MODEL,
            ("models/schema.yml", b"version: 2\nmodels:\n\t- name: ok\n"),
        ],
        names: "models/schema.yml",
    },
    Case {
        what: "a source without tables list",
        files: &[
            PROJECT,
            MODEL,
            (
                "models/src.yml",
                b"version: 2\nsources:\n  - name: shop\n    tables: orders\n",
            ),
        ],
        names: "models/src.yml",
    },
    Case {
        what: "a macro file with an unclosed macro",
        files: &[PROJECT, MODEL, ("macros/m.sql", b"{% macro m() %}select 1")],
        names: "macros/m.sql",
    },
];

#[test]
fn malformed_inputs_are_reported_without_panicking() {
    let mut failures = Vec::new();
    for case in CASES {
        let mut project = Project::bare();
        for (path, contents) in case.files {
            project = project.file(path, contents);
        }
        for command in [&["run"][..], &["ls"][..]] {
            let output = project.sb(command);
            let panicked = output.code.is_none() || output.stderr.contains("panicked");
            if panicked || output.code != Some(2) || !output.stderr.contains(case.names) {
                failures.push(format!(
                    "{} (`sb {}`): expected exit 2 and a diagnostic naming {}\n{output}",
                    case.what,
                    command.join(" "),
                    case.names
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases misbehaved:\n\n{}",
        failures.len(),
        CASES.len() * 2,
        failures.join("\n\n")
    );
}

#[test]
fn empty_project_runs_nothing_and_says_so() {
    let project = Project::new();

    let output = project.sb(&["run"]);

    output
        .success()
        .no_panic()
        .stderr_contains("nothing to run: the selection matched no models");
    assert!(output.stdout.contains("TOTAL=0"), "{output}");
}

#[test]
fn deeply_nested_jinja_does_not_overflow_the_stack() {
    let depth = 5_000;
    let expression = format!(
        "select {{{{ {}1{} }}}} as n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let blocks = format!(
        "{}select 1 as n{}",
        "{% if true %}".repeat(depth),
        "{% endif %}".repeat(depth)
    );
    let project = Project::new()
        .file("models/expression.sql", expression)
        .file("models/blocks.sql", blocks);

    let output = project.sb(&["compile"]);

    output.no_panic();
    assert!(matches!(output.code, Some(0 | 2)), "{output}");
}

/// Hostile inputs (issue 17): each ends in a result or a clear error, never
/// a crash, a stack overflow or unbounded memory.
#[test]
fn macros_nested_500_deep_end_in_a_result_or_a_clear_error() {
    let depth = 500;
    let mut macros = String::new();
    for i in 0..depth {
        let _ = writeln!(
            macros,
            "{{% macro m{i}() %}}{{{{ m{}() }}}}{{% endmacro %}}",
            i + 1
        );
    }
    let _ = writeln!(macros, "{{% macro m{depth}() %}}1{{% endmacro %}}");
    let project = Project::new()
        .file("macros/chain.sql", macros)
        .file("models/deep.sql", "select {{ m0() }} as n\n");
    let output = project.sb(&["compile"]);
    output.no_panic();
    match output.code {
        Some(0) => {}
        Some(2) => assert!(
            output
                .stderr
                .contains("macros nest deeper than templates may"),
            "{output}"
        ),
        _ => panic!("{output}"),
    }
}

#[test]
fn a_cycle_of_10000_models_is_one_clear_error() {
    let count = 10_000;
    let mut project = Project::new();
    for i in 0..count {
        project = project.file(
            &format!("models/m{i}.sql"),
            format!("select * from {{{{ ref('m{}') }}}}\n", (i + 1) % count),
        );
    }
    let output = project.sb(&["compile"]);
    output.no_panic().code(2).stderr_contains("cycle");
    assert!(
        output.stderr.len() < 200_000,
        "the error is {} bytes",
        output.stderr.len()
    );
}

#[test]
fn a_yaml_bomb_is_refused_quickly() {
    let mut yaml = String::from(
        "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..12 {
        let previous = format!("*a{}", i - 1);
        let _ = writeln!(yaml, "a{i}: &a{i} [{}]", [previous.as_str(); 9].join(", "));
    }
    yaml.push_str("models:\n  - name: m\n    description: *a11\n");
    let project = Project::new()
        .file("models/m.sql", "select 1 as id\n")
        .file("models/bomb.yml", yaml);
    let output = project.sb(&["compile"]);
    output.no_panic();
    assert!(matches!(output.code, Some(0 | 2)), "{output}");
    assert!(
        output.elapsed < std::time::Duration::from_secs(20),
        "{output}"
    );
}

#[test]
fn a_10_mb_model_compiles() {
    let mut sql = String::with_capacity(10 << 20);
    sql.push_str("select 1 as id\n");
    let line = "-- a comment line that makes the model file large, as generated SQL can be\n";
    while sql.len() < 10 << 20 {
        sql.push_str(line);
    }
    let project = Project::new().file("models/huge.sql", &sql);
    project.sb(&["compile"]).success();
    project.sb(&["run"]).success();
    assert_eq!(project.query("select id from huge"), [["1"]]);
}
