//! SPEC: "No input, however malformed, makes sb panic, hang, or leave a
//! half-built table behind." Each case is a small broken project; sb must
//! answer with exit code 2 (invalid project, nothing ran) and a diagnostic,
//! never a panic.

use crate::it::harness::Project;

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
