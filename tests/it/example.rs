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
