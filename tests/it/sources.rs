//! Sources' `freshness` and `sb source freshness`: each source table with a
//! threshold and a `loaded_at_field` is checked against the warehouse, the
//! results land in `target/sources.json`, and a source stale past
//! `error_after` fails the command, as in dbt.

use crate::it::harness::{Project, rows};

const SOURCES_YML: &str = "\
version: 2
sources:
  - name: raw
    schema: raw
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 1, period: hour}
      error_after: {count: 1, period: day}
    tables:
      - name: fresh
      - name: late
      - name: stale
      - name: filtered
        freshness:
          filter: \"kind = 'new'\"
      - name: unchecked
        freshness: null
";

/// A project whose source tables were last loaded 5 minutes, 3 hours and 2
/// days ago (`filtered`: 2 days ago, but 5 minutes ago for its `new` rows).
fn project_with_sources(sources_yml: &str) -> Project {
    let project = Project::new().file("models/sources.yml", sources_yml);
    project.execute(
        "create schema raw;
         create table raw.fresh as select cast(now() as timestamp) - interval 5 minute as loaded_at;
         create table raw.late as select cast(now() as timestamp) - interval 3 hour as loaded_at;
         create table raw.stale as select cast(now() as timestamp) - interval 2 day as loaded_at;
         create table raw.filtered as
             select * from (values (cast(now() as timestamp) - interval 2 day, 'new'), (cast(now() as timestamp) - interval 5 minute, 'new'),
                                   (cast(now() as timestamp) - interval 1 minute, 'old'))
             as t(loaded_at, kind);
         create table raw.unchecked as select cast(now() as timestamp) - interval 30 day as loaded_at",
    );
    project
}

#[test]
fn source_freshness_passes_warns_and_fails_past_error_after() {
    let project = project_with_sources(SOURCES_YML);

    let output = project.sb(&["source", "freshness"]);

    output.code(1);
    let lines = output.stdout_lines();
    let line_of = |name: &str| {
        lines
            .iter()
            .find(|line| line.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}\n{output}"))
            .to_string()
    };
    assert!(line_of("raw.fresh").contains("PASS"), "{output}");
    assert!(line_of("raw.late").contains("WARN"), "{output}");
    assert!(line_of("raw.stale").contains("STALE"), "{output}");
    assert!(line_of("raw.filtered").contains("PASS"), "{output}");
    assert!(!output.stdout.contains("raw.unchecked"), "{output}");

    let sources = project.read_json("target/sources.json");
    assert_eq!(
        sources["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/sources/v3.json"
    );
    let statuses: Vec<(String, String)> = sources["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("source.sb_test.raw.fresh", "pass"),
            ("source.sb_test.raw.late", "warn"),
            ("source.sb_test.raw.stale", "error"),
            ("source.sb_test.raw.filtered", "pass"),
        ]
        .map(|(id, status)| (id.to_owned(), status.to_owned()))
    );
    let stale = &sources["results"][2];
    assert!(
        stale["max_loaded_at_time_ago_in_s"]
            .as_f64()
            .unwrap_or_default()
            > 86_400.0
    );
    assert_eq!(
        stale["criteria"]["error_after"],
        serde_json::json!({"count": 1, "period": "day"})
    );
}

#[test]
fn source_freshness_with_only_warnings_succeeds_and_selects_sources() {
    let project = project_with_sources(SOURCES_YML);

    let output = project.sb(&["source", "freshness", "-s", "source:raw.late"]);

    output.success().stdout_contains("WARN");
    assert!(!output.stdout.contains("raw.stale"), "{output}");
}

#[test]
fn source_freshness_query_failure_is_an_error_result() {
    let project = project_with_sources(&SOURCES_YML.replace(
        "loaded_at_field: loaded_at",
        "loaded_at_field: no_such_column",
    ));

    let output = project.sb(&["source", "freshness", "-s", "source:raw.fresh"]);

    output.code(1).stdout_contains("ERROR");
    let sources = project.read_json("target/sources.json");
    assert_eq!(sources["results"][0]["status"], "runtime error");
}

#[test]
fn invalid_freshness_period_names_the_file_and_the_periods() {
    let project = project_with_sources(&SOURCES_YML.replace("period: day", "period: week"));

    let output = project.sb(&["source", "freshness"]);

    output
        .code(2)
        .stderr_contains(
            "invalid `freshness`: `error_after.period` must be `minute`, `hour` or `day`",
        )
        .stderr_contains("models/sources.yml:6:");
}

/// dbt-duckdb's `external_location` is filled in and quoted at parse time
/// (into the source's config, where the manifest shows it).
#[test]
fn external_location_is_filled_in_from_the_source_fields() {
    let project = Project::new().file(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: lake\n    meta:\n      external_location: \"data/{name}.parquet\"\n    tables:\n      - name: events\n      - name: users\n        config:\n          external_location: \"read_csv('data/{identifier}.csv')\"\n        identifier: people\n",
    );

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    let location = |table: &str| {
        manifest["sources"][format!("source.sb_test.lake.{table}")]["config"]["external_location"]
            .clone()
    };
    assert_eq!(location("events"), "'data/events.parquet'");
    assert_eq!(location("users"), "read_csv('data/people.csv')");

    // `source()` reads the files.
    project.write("data/people.csv", "id,name\n1,ada\n2,grace\n");
    project.write(
        "models/people.sql",
        "{{ config(materialized='table') }} select id, name from {{ source('lake', 'users') }}",
    );
    project.sb(&["run", "-s", "people"]).success();
    assert_eq!(
        project.query("select name from main.people order by id"),
        rows(&[["ada"], ["grace"]])
    );
    assert!(
        project
            .read("target/compiled/sb_test/models/people.sql")
            .contains("from read_csv('data/people.csv')"),
        "source() renders as the external location"
    );
}
