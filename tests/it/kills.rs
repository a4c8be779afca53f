//! Kills (issue 17): `sb build` of the example project, killed with SIGKILL
//! at random moments, never leaves a relation half built. Every build of
//! the example project gives the same rows, so after each kill every
//! relation must still equal the first build's (its old version or its new
//! one, which are the same rows), the DuckDB file must open, and a build
//! after the last kill must pass. `SB_KILL_RUNS` sets how many kills (6
//! here; `scripts/kill-test N` runs many more).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::harness::Project;

/// Every relation of the file with a checksum of its rows: the row count
/// and, per column, the sum of the values' hashes (order-free).
fn checksums(project: &Project) -> BTreeMap<String, String> {
    project
        .relations()
        .into_iter()
        .map(|relation| {
            let (schema, name) = relation.split_once('.').expect("schema.name");
            let sql =
                format!("select count(*), sum(hash(columns(*))) from \"{schema}\".\"{name}\"");
            let rows = project.query(&sql);
            (relation, rows.concat().join(" "))
        })
        .collect()
}

/// A small deterministic generator (splitmix64), so a failing run can be
/// repeated: the moments depend only on the run number.
fn moment(run: u64, span: Duration) -> Duration {
    let mut z = run.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let millis = u64::try_from(span.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(z % millis)
}

#[test]
fn builds_killed_at_random_moments_leave_every_relation_whole() {
    let runs: u64 = std::env::var("SB_KILL_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let project = Project::example();
    let clock = Instant::now();
    project.sb(&["build"]).success();
    let span = clock.elapsed() + clock.elapsed() / 10;
    let reference = checksums(&project);
    assert!(reference.len() > 10, "{reference:?}");
    for run in 0..runs {
        let at = moment(run, span);
        let mut child = project.spawn(&["build"]);
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let now = checksums(&project);
        assert_eq!(
            now,
            reference,
            "run {run}, killed after {} ms: a relation differs from both its versions",
            at.as_millis()
        );
    }
    project.sb(&["build"]).success();
    assert_eq!(checksums(&project), reference);
}
