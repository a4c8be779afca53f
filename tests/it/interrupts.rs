//! Interrupts end to end (issue 17): SIGINT or SIGTERM in the middle of a
//! DuckDB run stops the running statement and starts nothing new; the run
//! writes `run_results.json` with the interrupted and unstarted nodes
//! marked, prints its summary and exits 130 (143 for SIGTERM); the table
//! being rebuilt keeps its old rows.

use std::time::Duration;

use super::harness::{Project, send_signal, wait_within};

/// `slow` sums a range whose length is the var `n`; `after_slow` reads it;
/// `quick` reads nothing.
fn project() -> Project {
    Project::new()
        .file(
            "models/slow.sql",
            "{{ config(materialized='table') }}\n\
             select sum(i * i) as total, {{ var('n', 10) }} as n from range({{ var('n', 10) }}) as t(i)\n",
        )
        .file(
            "models/after_slow.sql",
            "{{ config(materialized='table') }}\nselect total from {{ ref('slow') }}\n",
        )
        .file("models/quick.sql", "select 1 as x\n")
}

/// Runs `sb run` with `n` so large that `slow` runs for minutes, sends
/// `signal` once `slow` has started, and returns the exit code, stdout and
/// stderr.
fn interrupted_run(project: &Project, signal: &str) -> (Option<i32>, String, String) {
    let child = project.spawn(&["run", "--vars", "{n: 100000000000}"]);
    // Compiling takes milliseconds; give the statement time to be running.
    std::thread::sleep(Duration::from_millis(1500));
    send_signal(&child, signal);
    let output = wait_within(child, Duration::from_secs(30), &format!("of {signal}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn status_of<'a>(results: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let result = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["unique_id"] == format!("model.sb_test.{name}"))
        .unwrap_or_else(|| panic!("no result for {name}: {results}"));
    (
        result["status"].as_str().unwrap_or_default(),
        result["message"].as_str().unwrap_or_default(),
    )
}

#[test]
fn sigint_mid_run_stops_writes_results_and_keeps_the_old_table() {
    let project = project();
    project.sb(&["run"]).success();
    let (code, stdout, stderr) = interrupted_run(&project, "-INT");
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(stdout.contains("Done."), "no summary:\n{stdout}");
    let results = project.read_json("target/run_results.json");
    let (slow, message) = status_of(&results, "slow");
    assert_eq!(slow, "error", "{message}");
    assert!(message.to_lowercase().contains("interrupt"), "{message}");
    assert_eq!(status_of(&results, "after_slow").0, "skipped");
    // The table being rebuilt kept its previous rows.
    assert_eq!(
        project.query_in("target/dev.duckdb", "select n from slow"),
        [["10"]]
    );
    // And the file opens for the next run, which builds everything again.
    project.sb(&["run"]).success();
}

#[test]
fn sigterm_mid_run_exits_143() {
    let project = project();
    let (code, stdout, stderr) = interrupted_run(&project, "-TERM");
    assert_eq!(code, Some(143), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    let results = project.read_json("target/run_results.json");
    assert_eq!(status_of(&results, "slow").0, "error");
    // Never built, and not half built either.
    let tables = project.query_in(
        "target/dev.duckdb",
        "select table_name from information_schema.tables where table_name in ('slow', 'after_slow')",
    );
    assert!(tables.is_empty(), "{tables:?}");
}

/// Two `sb run` at once on one DuckDB file: the second waits for the
/// first (saying whom it waits for) and then runs; with a short
/// `SB_DUCKDB_LOCK_TIMEOUT` it stops with a clear error instead. The file
/// stays intact either way.
#[test]
fn a_second_run_on_the_same_file_waits_or_fails_clearly() {
    let project = project();
    project.sb(&["run"]).success();
    let first = project.spawn(&["run", "--vars", "{n: 3000000000}"]);
    std::thread::sleep(Duration::from_millis(500));
    let refused = project.sb_with_env(&["run"], &[("SB_DUCKDB_LOCK_TIMEOUT", "1")]);
    refused.code(2);
    assert!(
        refused
            .stderr
            .contains("is in use by another process (process ")
            && refused.stderr.contains(&format!("process {}", first.id())),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("Could not set lock"),
        "{}",
        refused.stderr
    );
    let waited = project.sb(&["run"]);
    let first = first.wait_with_output().expect("the first sb ends");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    waited.success();
    assert!(
        waited.stderr.contains("waiting for process "),
        "{}",
        waited.stderr
    );
    assert_eq!(
        project.query_in("target/dev.duckdb", "select n from slow"),
        [["10"]]
    );
}

/// `sb seed` interrupted mid-load: exit 130, results written, and the
/// synthetic events table holds either its previous rows or the new load,
/// never part of it.
#[test]
fn sigint_mid_seed_keeps_whole_tables() {
    let project = Project::example();
    project.sb(&["seed"]).success();
    let before = project.query("select count(*) from synthetic.viewing_events");
    let child = project.spawn(&["seed", "--events", "4000000"]);
    std::thread::sleep(Duration::from_millis(800));
    send_signal(&child, "-INT");
    let output = wait_within(child, Duration::from_mins(1), "of SIGINT");
    let code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The load may have finished before the signal landed.
    assert!(matches!(code, Some(130 | 0)), "{code:?}\n{stderr}");
    let results = project.read_json("target/run_results.json");
    assert!(results["results"].is_array(), "{results}");
    let after = project.query("select count(*) from synthetic.viewing_events");
    assert!(
        after == before || after == [["4000000"]],
        "viewing_events holds {after:?}, neither {before:?} nor the whole new load"
    );
}
