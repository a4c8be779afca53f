//! The example project at the repository root builds from scratch, as the
//! README's main command promises.

use super::harness::{Project, rows};

#[test]
fn example_project_builds_and_answers_with_the_design_figures() {
    let project = Project::example();

    // Every model and every data test, the singular ones included, green.
    let output = project.sb(&["build"]);
    output
        .success()
        .stdout_contains("WARN=0 ERROR=0 SKIP=0")
        .stdout_contains("PASS  test no_viewing_before_signup")
        .stdout_contains("PASS  test daily_views_add_up")
        .stdout_contains("source_distribution_synthetic");

    // The marts answer the design's questions with its figures.
    let plan_gap = project.query(
        "select count(*), max(abs(share_pct - design_share_pct)) < 1.5 from analytics.plan_mix",
    );
    assert_eq!(plan_gap, rows(&[["5", "true"]]));
    // The design: Smart TV 22.07% of views at 36.1 Mbps, mobile 26.3 Mbps,
    // completion 61.8% on both (within sampling noise at 100,000 events).
    assert_eq!(
        project.query(
            "select device_type,
                    abs(share_pct - case device_type when 'Smart TV' then 22.07 else 21.48 end) < 0.8,
                    abs(avg_bandwidth_mbps - case device_type when 'Smart TV' then 36.1 else 26.3 end) < 0.4,
                    abs(avg_completion_rate - 0.618) < 0.01
             from analytics.device_quality where device_type in ('Smart TV', 'Mobile') order by 1"
        ),
        rows(&[["Mobile", "true", "true", "true"], ["Smart TV", "true", "true", "true"]])
    );
    assert_eq!(
        project.query("select titles from analytics.genre_performance where genre_name in ('Animation', 'Thriller') order by 1 desc"),
        rows(&[["23"], ["21"]])
    );
    assert_eq!(
        project.query("select count(*), count(favourite_genre) > 8000, bool_or(churn_risk) from analytics.user_engagement"),
        rows(&[["10000", "true", "true"]])
    );

    // New days of events reach the incremental mart by a merge of those days only.
    project.sb(&["seed", "--append", "--days", "2"]).success();
    project
        .sb(&["run", "-s", "daily_engagement"])
        .success()
        .stdout_contains("MERGE (3 rows)");
    assert_eq!(
        project.query("select count(*), sum(views) = (select count(*) from synthetic.viewing_events) from analytics.daily_engagement"),
        rows(&[["92", "true"]])
    );

    assert_eq!(
        project.query("select plan_name, design_share_pct from analytics.plan_catalog order by design_share_pct desc limit 2"),
        rows(&[["Standard", "38.88"], ["Basic", "26.07"]])
    );
    assert_eq!(
        project.query("select count(*), sum(design_title_count) from analytics.genre_library"),
        rows(&[["14", "200"]])
    );
}

#[test]
fn example_project_compiles_for_bigquery_without_a_connection() {
    let project = Project::example();

    let output = project.sb_with_env(
        &["compile", "-t", "prod", "-s", "plan_catalog"],
        &[("SB_BQ_PROJECT", "acme-analytics")],
    );

    output
        .success()
        .stdout_contains("safe_divide(monthly_price_usd, max_streams)");
    output.stdout_contains("`acme-analytics`.`analytics`.`stg_subscription_plans`");

    // Every model compiles for BigQuery with BigQuery's functions, none of
    // DuckDB's spellings left behind.
    project
        .sb_with_env(
            &["compile", "-t", "prod"],
            &[("SB_BQ_PROJECT", "acme-analytics")],
        )
        .success();
    let mut compiled = String::new();
    for folder in ["staging", "marts"] {
        let dir = project
            .path()
            .join("target/compiled/streaming_analytics/models")
            .join(folder);
        for entry in std::fs::read_dir(&dir).expect("compiled models") {
            let path = entry.expect("entry").path();
            // Compiled tests sit in folders named after their YAML file.
            if path.is_file() {
                compiled.push_str(&std::fs::read_to_string(path).expect("read"));
            }
        }
    }
    for bigquery in [
        "countif(",
        "approx_quantiles(",
        "date_diff(a.as_of_date, p.last_view_date, day)",
        "date(`timestamp`)",
        "`acme-analytics`.`synthetic`.`viewing_events`",
    ] {
        assert!(compiled.contains(bigquery), "missing {bigquery}");
    }
    for duckdb in [
        "filter (where",
        "quantile_cont",
        "\"timestamp\"",
        "struct_extract",
    ] {
        assert!(
            !compiled.contains(duckdb),
            "DuckDB-only `{duckdb}` in BigQuery SQL"
        );
    }
}

/// Every relation of the DuckDB file: its name, row count and a checksum of
/// all its rows (every column cast to text, floats with all their digits),
/// independent of the order rows come back in.
fn relation_checksums(project: &Project) -> Vec<Vec<String>> {
    let tables = project.query(
        "select table_schema, table_name from information_schema.tables \
         where table_catalog = current_database() order by 1, 2",
    );
    tables
        .iter()
        .map(|row| {
            let (schema, table) = (&row[0], &row[1]);
            let sum = project.query(&format!(
                "select count(*), md5(coalesce(string_agg(cast(x as varchar), chr(10) \
                 order by cast(x as varchar)), '')) from \"{schema}\".\"{table}\" as x"
            ));
            vec![
                format!("{schema}.{table}"),
                sum[0][0].clone(),
                sum[0][1].clone(),
            ]
        })
        .collect()
}

/// Same seed, same rows (issue 19): two builds and a single-threaded one
/// give identical relations, floats included, whatever order DuckDB's
/// parallel aggregation adds rows in.
#[test]
fn identical_builds_give_identical_relations() {
    let project = Project::example();
    project.sb(&["build"]).success();
    let first = relation_checksums(&project);
    assert!(first.len() >= 15, "{first:?}");
    project.sb(&["build"]).success();
    assert_eq!(
        relation_checksums(&project),
        first,
        "a second build differs"
    );
    project.sb(&["build", "--threads", "1"]).success();
    assert_eq!(
        relation_checksums(&project),
        first,
        "a single-threaded build differs"
    );
}

/// The tables the README prints after "(`sb show -s ...`)" are what that
/// command prints after a fresh build.
#[test]
fn readme_tables_are_what_a_fresh_build_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let project = Project::example();
    project.sb(&["build"]).success();
    let mut checked = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("(`sb show ") {
        let after = &rest[start + 2..];
        let command = &after[..after.find('`').expect("closing backtick")];
        let block = &after[after.find("```\n").expect("a table follows") + 4..];
        let table = &block[..block.find("```").expect("closing fence")];
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let output = project.sb(&args);
        output.success();
        assert_eq!(
            output.stdout.trim_end(),
            table.trim_end(),
            "README's table for `{command}` is not what a fresh build shows"
        );
        checked += 1;
        rest = &block[table.len()..];
    }
    assert!(checked >= 3, "only {checked} README tables found");
}
