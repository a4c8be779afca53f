//! Fuzzing on the stable toolchain (issue 17): proptest mutates the inputs
//! kept in `tests/fuzz/corpus/<target>/` (token insertions from a
//! dictionary of YAML, Jinja and selector syntax, deletions, duplications,
//! random bytes) and feeds them to what reads that kind of input in sb:
//! `project.yml`, `dbt_project.yml` and `profiles.yml` loading, schema YAML,
//! a model's Jinja through compile, the selector grammar, dashboard YAML and
//! CSV seed inference. Each input must end in a result or a diagnostic,
//! never a panic (templates are bounded by fuel and recursion, so none
//! hangs). `SB_FUZZ_CASES` sets the cases per target (48 here, for CI);
//! `scripts/fuzz` runs many more. Every corpus file is also run as it is,
//! first: an input that once crashed sb is added to the corpus, and so
//! becomes a regression test.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use sb::project::{EnvVars, LoadOptions, Project};

/// Pieces of the syntaxes the inputs are written in.
const DICTIONARY: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "    ",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "---\n",
    "...",
    "|",
    ">-",
    "#",
    "ref(",
    "source(",
    "var(",
    "env_var(",
    "config(",
    ")",
    "+",
    "@",
    "2+",
    "state:",
    "tag:",
    "path:",
    "'x'",
    "none",
    "true",
    "1e999",
    "-1",
    "\u{0}",
    "\u{feff}",
    "é",
    "\t",
    "\r\n",
    "{% macro m() %}",
    "{% endmacro %}",
    "{% if x %}",
    "{% endif %}",
    "{% for i in range(9) %}",
    "{% endfor %}",
    "{{ m() }}",
    "models:",
    "sources:",
    "tests:",
    "columns:",
    "- name: ",
    "version: 2\n",
    "unit_tests:",
];

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Byte(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), proptest::sample::select(DICTIONARY)).prop_map(|(at, s)| Edit::Insert(at, s)),
        2 => (any::<usize>(), 0usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => (any::<usize>(), 0usize..80).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Byte(at, b)),
    ]
}

/// `text` after `edits`, each at a position taken modulo its length.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Insert(at, piece) => {
                let at = at % len.min(bytes.len() + 1).max(1);
                let at = at.min(bytes.len());
                bytes.splice(at..at, piece.bytes());
            }
            Edit::Delete(at, n) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Edit::Duplicate(at, n) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                bytes.splice(end..end, piece);
            }
            Edit::Byte(at, byte) => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The corpus of `target`.
fn corpus(target: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut texts: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus at {}: {e}", dir.display()))
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect();
    texts.sort();
    assert!(!texts.is_empty(), "empty corpus {}", dir.display());
    texts
}

fn cases() -> u32 {
    std::env::var("SB_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

/// Runs `check` on mutations of `target`'s corpus.
fn fuzz(target: &str, check: impl Fn(&str)) {
    let inputs = corpus(target);
    for input in &inputs {
        check(input);
    }
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (
        proptest::sample::select(inputs),
        proptest::collection::vec(edit(), 0..12),
    )
        .prop_map(|(text, edits)| mutate(&text, &edits));
    let outcome = runner.run(&strategy, |input| {
        check(&input);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("fuzz target `{target}` failed: {failure}");
    }
}

/// A project folder holding `files`; loaded and compiled in this process.
fn load_and_compile(files: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        let path: PathBuf = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folders");
        }
        std::fs::write(&path, text).expect("write");
    }
    let options = LoadOptions {
        project_dir: dir.path().to_path_buf(),
        target: None,
        vars: serde_json::Map::new(),
        bigquery: sb::adapter::bigquery::Overrides::default(),
        env: EnvVars::new(Vec::new()),
        profiles: sb::project::profiles::ProfileSearch {
            flag_dir: None,
            env_dir: None,
            home: None,
        },
    };
    if let Ok(project) = Project::load(&options)
        && let Ok(compiled) = sb::compile::compile(project, &[])
    {
        let _ = sb::docs::dashboards::load(&compiled);
    }
}

const PROJECT_YML: &str =
    "name: fuzz\ndefault_target: dev\ntargets:\n  dev:\n    type: duckdb\n    path: dev.duckdb\n";
const DBT_PROJECT_YML: &str = "name: jaffle_shop\nconfig-version: 2\nprofile: jaffle_shop\n";
const PROFILES_YML: &str = "jaffle_shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dev.duckdb\n";
const MODEL: &str = "select 1 as id, 'a' as name\n";

#[test]
fn fuzz_project_yml() {
    fuzz("project_yml", |text| {
        load_and_compile(&[("project.yml", text), ("models/m.sql", MODEL)]);
    });
}

#[test]
fn fuzz_dbt_project_yml() {
    fuzz("dbt_project_yml", |text| {
        load_and_compile(&[
            ("dbt_project.yml", text),
            ("profiles.yml", PROFILES_YML),
            ("models/m.sql", MODEL),
        ]);
    });
}

#[test]
fn fuzz_profiles_yml() {
    fuzz("profiles_yml", |text| {
        load_and_compile(&[
            ("dbt_project.yml", DBT_PROJECT_YML),
            ("profiles.yml", text),
            ("models/m.sql", MODEL),
        ]);
    });
}

#[test]
fn fuzz_schema_yml() {
    fuzz("schema_yml", |text| {
        load_and_compile(&[
            ("project.yml", PROJECT_YML),
            ("models/schema.yml", text),
            ("models/orders.sql", MODEL),
            (
                "models/customers.sql",
                "select * from {{ ref('orders') }}\n",
            ),
        ]);
    });
}

#[test]
fn fuzz_model_jinja() {
    fuzz("model_sql", |text| {
        load_and_compile(&[
            ("project.yml", PROJECT_YML),
            ("models/fuzzed.sql", text),
            ("models/stg_orders.sql", MODEL),
            ("models/stg_payments.sql", MODEL),
            ("macros/m.sql", "{% macro m() %}1{% endmacro %}\n"),
        ]);
    });
}

#[test]
fn fuzz_dashboard_yml() {
    fuzz("dashboard_yml", |text| {
        load_and_compile(&[
            ("project.yml", PROJECT_YML),
            ("models/plan_mix.sql", MODEL),
            ("dashboards/fuzzed.yml", text),
        ]);
    });
}

#[test]
fn fuzz_selector() {
    fuzz("selector", |text| {
        let terms: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        let _ = sb::graph::selector::parse(&terms, &terms);
    });
}

#[test]
fn fuzz_csv_seed() {
    fuzz("csv", |text| {
        let _ = sb::adapter::csv_types::infer(text.as_bytes(), b',');
        let _ = sb::adapter::csv_types::infer(text.as_bytes(), b'|');
    });
}
