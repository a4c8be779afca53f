//! The example project at the repository root builds from scratch, as the
//! README's main command promises.

use super::harness::{Project, rows};

#[test]
fn example_project_builds_and_answers_with_the_design_figures() {
    let project = Project::example();

    project.sb(&["build"]).success().stdout_contains("ERROR=0");

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
}
