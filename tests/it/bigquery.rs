//! The BigQuery target end to end, through the `sb` binary against a real
//! BigQuery emulator (bqemulator, started by the tests themselves): seeds by
//! load job (multipart and resumable uploads, staging tables and the removal
//! of stale ones), views, tables, incremental merges and appends, a failing
//! model that keeps its table, the root project matching DuckDB, retries
//! under injected faults (an upload's parts included), and dry runs.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::emulator::{
    Fault, FaultProxy, emulator, fake_dry_run_endpoint, fresh_project, http, query,
};
use super::harness::{Output, Project, send_signal, wait_within};

/// project.yml of a BigQuery project at `url`, in BigQuery project `project`.
fn project_yml(project: &str, url: &str, extra: &str) -> String {
    format!(
        "\
name: sb_bq
default_target: emu
targets:
  emu:
    type: bigquery
    project: {project}
    dataset: analytics
    location: US
    api_url: {url}
    threads: 4
{extra}
seeds:
  +schema: raw
synthetic:
  streaming:
    users: 60
    content: 12
    events: 900
    seed: 7
    start_date: \"2026-01-01\"
    days: 6
"
    )
}

const PLANS_CSV: &str = "plan_id,name,price\n1,basic,9.99\n2,standard,15.49\n3,premium,22.99\n";

/// Models of every materialization over a CSV seed and the synthetic events.
fn bigquery_project(project: &str, url: &str, extra: &str) -> Project {
    Project::bare()
        .file("project.yml", project_yml(project, url, extra))
        .file("seeds/plans.csv", PLANS_CSV)
        .file(
            "models/plans_view.sql",
            "select plan_id, upper(name) as name, price from {{ ref('plans') }}\n",
        )
        .file(
            "models/events_daily.sql",
            "{{ config(materialized='table', partition_by={'field': 'day', 'data_type': 'date'}, cluster_by=['device_type'], labels={'team': 'growth'}) }}\n\
             select date(e.timestamp) as day, e.device_type, count(*) as events,\n\
                    sum(e.quality_metrics.buffering_events) as buffering\n\
             from {{ source('synthetic', 'viewing_events') }} as e\n\
             group by 1, 2\n",
        )
        .file(
            "models/plans_merged.sql",
            "{{ config(materialized='incremental', unique_key='plan_id') }}\n\
             select plan_id, name, price from {{ ref('plans_view') }}\n",
        )
        .file(
            "models/plans_by_day.sql",
            "{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by={'field': 'day', 'data_type': 'date'}) }}\n\
             select date_add(date '2026-01-01', interval plan_id day) as day, plan_id, price from {{ ref('plans') }}\n\
             {% if is_incremental() %}where plan_id >= 2{% endif %}\n",
        )
        .file(
            "models/plans_replaced.sql",
            "{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='plan_id') }}\n\
             select plan_id, price from {{ ref('plans') }}\n",
        )
        .file(
            "models/plans_appended.sql",
            "{{ config(materialized='incremental', incremental_strategy='append') }}\n\
             select plan_id, price from {{ ref('plans') }}\n",
        )
}

fn rows(project: &str, sql: &str) -> Vec<Vec<String>> {
    query(project, &sql.replace('@', &format!("`{project}`.")))
}

fn table_names(project: &str, dataset: &str) -> Vec<String> {
    let (status, body) = super::emulator::http(
        &emulator().url,
        "GET",
        &format!("/bigquery/v2/projects/{project}/datasets/{dataset}/tables"),
        &[],
    )
    .expect("the emulator answers");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let mut names: Vec<String> = list["tables"]
        .as_array()
        .map(|tables| {
            tables
                .iter()
                .filter_map(|t| t["tableReference"]["tableId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn bigquery_seeds_builds_and_merges_incrementally_on_the_emulator() {
    let bq = fresh_project("build");
    // Small uploads: the events go up in several load jobs, through a
    // staging table swapped in at the end.
    let project = bigquery_project(&bq, &emulator().url, "    upload_chunk_bytes: 40000");

    let output = project.sb(&["build"]);
    output.success().stdout_contains("ERROR=0");
    output.stdout_contains("LOAD (900 rows)");

    assert_eq!(
        rows(
            &bq,
            "select count(*), count(distinct event_id) from @synthetic.viewing_events"
        ),
        [["900", "900"]]
    );
    // The nested struct arrived as a RECORD.
    assert_eq!(
        rows(
            &bq,
            "select count(*) from @synthetic.viewing_events where quality_metrics.bandwidth_mbps > 0"
        ),
        [["900"]]
    );
    assert_eq!(
        table_names(&bq, "synthetic"),
        ["content", "users", "viewing_events"]
    );
    assert_eq!(
        rows(
            &bq,
            "select plan_id, name, price from @analytics.plans_view order by plan_id"
        ),
        [
            ["1", "BASIC", "9.99"],
            ["2", "STANDARD", "15.49"],
            ["3", "PREMIUM", "22.99"]
        ]
    );
    assert_eq!(
        rows(&bq, "select sum(events) from @analytics.events_daily"),
        [["900"]]
    );
    let sent = project.read("target/run/sb_bq/models/events_daily.sql");
    assert!(
        sent.contains(
            "partition by `day`\ncluster by `device_type`\noptions(labels=[('team', 'growth')])"
        ),
        "{sent}"
    );

    // Second build: a changed and a new plan merge in by key; the append
    // model adds every row again.
    project.write(
        "seeds/plans.csv",
        "plan_id,name,price\n1,basic,10.99\n2,standard,15.49\n3,premium,22.99\n4,family,29.99\n",
    );
    project.sb(&["build"]).success().stdout_contains("MERGE");
    assert_eq!(
        rows(
            &bq,
            "select plan_id, name, price from @analytics.plans_merged order by plan_id"
        ),
        [
            ["1", "BASIC", "10.99"],
            ["2", "STANDARD", "15.49"],
            ["3", "PREMIUM", "22.99"],
            ["4", "FAMILY", "29.99"]
        ]
    );
    assert_eq!(
        rows(
            &bq,
            "select count(*), count(distinct plan_id) from @analytics.plans_appended"
        ),
        [["7", "4"]]
    );
    // insert_overwrite replaced the partitions of days 2 to 4 only: day 1
    // keeps the old price of plan 1.
    assert_eq!(
        rows(
            &bq,
            "select cast(day as string), plan_id, price from @analytics.plans_by_day order by day"
        ),
        [
            ["2026-01-02", "1", "9.99"],
            ["2026-01-03", "2", "15.49"],
            ["2026-01-04", "3", "22.99"],
            ["2026-01-05", "4", "29.99"]
        ]
    );
    assert_eq!(
        rows(
            &bq,
            "select plan_id, price from @analytics.plans_replaced order by plan_id"
        ),
        [
            ["1", "10.99"],
            ["2", "15.49"],
            ["3", "22.99"],
            ["4", "29.99"]
        ]
    );

    // `sb seed --append` adds later days to the events.
    project
        .sb(&["seed", "--append", "--days", "2", "-s", "source:synthetic"])
        .success();
    let after = rows(
        &bq,
        "select count(*), count(distinct event_id) from @synthetic.viewing_events",
    );
    assert_eq!(after[0][0], after[0][1], "event ids stay unique");
    assert!(after[0][0].parse::<u64>().unwrap() > 900, "{after:?}");
}

#[test]
fn bigquery_failing_model_keeps_its_table_and_points_at_the_file() {
    let bq = fresh_project("fail");
    let project = Project::bare()
        .file("project.yml", project_yml(&bq, &emulator().url, ""))
        .file(
            "models/orders.sql",
            "{{ config(materialized='table') }}\nselect 1 as id, 'first' as label\n",
        );
    project.sb(&["run", "-s", "orders"]).success();

    project.write(
        "models/orders.sql",
        "{{ config(materialized='table') }}\nselect 1 as id,\n       no_such_column as label\n",
    );
    let output = project.sb(&["run", "-s", "orders"]);
    output.code(1);
    output
        .stderr_contains("model `orders` failed")
        .stderr_contains("models/orders.sql:3:8")
        .stderr_contains("no_such_column");
    assert_eq!(
        rows(&bq, "select id, label from @analytics.orders"),
        [["1", "first"]]
    );

    // A table becomes a view and back; a broken query is refused before the
    // view in its way is dropped.
    project.write(
        "models/orders.sql",
        "{{ config(materialized='view') }}\nselect 2 as id, 'second' as label\n",
    );
    project
        .sb(&["run", "-s", "orders"])
        .success()
        .stdout_contains("CREATE VIEW");
    project.write(
        "models/orders.sql",
        "{{ config(materialized='table') }}\nselect 3 as id, missing as label\n",
    );
    project.sb(&["run", "-s", "orders"]).code(1);
    assert_eq!(
        rows(&bq, "select id, label from @analytics.orders"),
        [["2", "second"]]
    );
    project.write(
        "models/orders.sql",
        "{{ config(materialized='table') }}\nselect 3 as id, 'third' as label\n",
    );
    project
        .sb(&["run", "-s", "orders"])
        .success()
        .stdout_contains("CREATE TABLE (1 row)");
    assert_eq!(
        rows(&bq, "select id, label from @analytics.orders"),
        [["3", "third"]]
    );
}

fn normalized(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.iter()
                .map(|v| super::emulator::text(&serde_json::Value::from(v.as_str())))
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Rows equal, numbers within one unit of their last decimal place: the
/// warehouses sum floating-point numbers in different orders, so a value
/// rounded to 2 or 4 places may land on either side of a half.
fn same_row(a: &[String], b: &[String]) -> bool {
    let decimals = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len());
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x == y
                || match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(p), Ok(q)) => {
                        let places = decimals(x).max(decimals(y));
                        let unit = 10_f64.powi(-i32::try_from(places).unwrap_or(6));
                        (p - q).abs() <= unit * 1.000_001
                    }
                    _ => false,
                }
        })
}

#[test]
fn bigquery_root_project_builds_and_its_marts_match_duckdb() {
    let bq = fresh_project("root");
    let project = Project::example();
    project.sb(&["build"]).success().stdout_contains("ERROR=0");
    let output = project.sb_with_env(
        &["build", "-t", "prod"],
        &[
            ("SB_BQ_PROJECT", bq.as_str()),
            ("SB_BIGQUERY_API_URL", emulator().url.as_str()),
        ],
    );
    // Every data test of the project ran, in BigQuery SQL, and passed.
    output.success().stdout_contains("ERROR=0");
    let tests = output
        .stdout_lines()
        .iter()
        .filter(|l| l.contains(" test "))
        .count();
    let passed = output
        .stdout_lines()
        .iter()
        .filter(|l| l.contains("PASS  test "))
        .count();
    assert!(tests >= 50 && passed == tests, "{}", output.stdout);

    let marts = std::fs::read_dir(project.path().join("models/marts"))
        .expect("marts")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sql").map(str::to_owned)
        })
        .collect::<Vec<_>>();
    assert!(marts.len() >= 5, "{marts:?}");
    for mart in marts {
        // Percentiles are exact and interpolated on DuckDB (quantile_cont)
        // and approximate on BigQuery (approx_quantiles, the example's
        // `percentile` macro): those columns are compared by neither.
        let columns = project
            .query(&format!(
                "select column_name from information_schema.columns where table_schema = 'analytics' and table_name = '{mart}' order by ordinal_position"
            ))
            .into_iter()
            .map(|row| row[0].clone())
            .filter(|c| !c.starts_with("p10_") && !c.starts_with("median_") && !c.starts_with("p90_"))
            .collect::<Vec<_>>()
            .join(", ");
        let on_duckdb =
            normalized(project.query(&format!("select {columns} from analytics.{mart}")));
        let on_bigquery = normalized(rows(
            &bq,
            &format!("select {columns} from @analytics.{mart}"),
        ));
        assert!(!on_duckdb.is_empty(), "{mart} is empty on DuckDB");
        let differences: Vec<_> = on_duckdb
            .iter()
            .zip(&on_bigquery)
            .filter(|(a, b)| !same_row(a, b))
            .take(3)
            .collect();
        assert!(
            differences.is_empty() && on_duckdb.len() == on_bigquery.len(),
            "{mart} differs between the warehouses ({} rows on DuckDB, {} on BigQuery); first differences (DuckDB, BigQuery): {differences:?}",
            on_duckdb.len(),
            on_bigquery.len()
        );
    }
}

/// Same seed, same rows on BigQuery too (issue 19): the root project built
/// twice, into two BigQuery projects, gives identical rows in every
/// relation, each row compared whole as BigQuery's JSON of it.
#[test]
fn bigquery_identical_builds_give_identical_relations() {
    let project = Project::example();
    let mut builds = Vec::new();
    for _ in 0..2 {
        let bq = fresh_project("twice");
        project
            .sb_with_env(
                &["build", "-t", "prod"],
                &[
                    ("SB_BQ_PROJECT", bq.as_str()),
                    ("SB_BIGQUERY_API_URL", emulator().url.as_str()),
                ],
            )
            .success();
        builds.push(relation_rows(&bq, &["analytics", "synthetic"]));
    }
    assert!(
        builds[0].len() >= 15,
        "{:?}",
        builds[0].iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    for ((name, first), (_, second)) in builds[0].iter().zip(&builds[1]) {
        let differing: Vec<_> = first
            .iter()
            .zip(second)
            .filter(|(a, b)| a != b)
            .take(2)
            .collect();
        assert!(
            first.len() == second.len() && differing.is_empty(),
            "{name} differs between two identical builds: {differing:?}"
        );
    }
    assert_eq!(builds[0].len(), builds[1].len());
}

/// Every table of `datasets` in BigQuery project `bq`, with its rows as
/// JSON, sorted.
fn relation_rows(bq: &str, datasets: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut relations = Vec::new();
    for dataset in datasets {
        for table in table_names(bq, dataset) {
            let mut rows: Vec<String> = rows(
                bq,
                &format!("select to_json_string(t) from @{dataset}.{table} as t"),
            )
            .into_iter()
            .map(|row| row.join(""))
            .collect();
            rows.sort();
            relations.push((format!("{dataset}.{table}"), rows));
        }
    }
    relations
}

/// Kills (issue 17) on BigQuery: `sb build` killed with SIGKILL at a few
/// moments, then built again, ends with the same relations and rows as a
/// build that was never killed, and leaves no staging table that would
/// not expire by itself.
#[test]
fn bigquery_builds_killed_midway_converge_and_leave_no_permanent_staging_table() {
    let reference = fresh_project("unkilled");
    bigquery_project(&reference, &emulator().url, "")
        .sb(&["build"])
        .success();
    let bq = fresh_project("killed");
    let project = bigquery_project(&bq, &emulator().url, "");
    for millis in [150, 400, 900, 1600] {
        let mut child = project.spawn(&["build"]);
        std::thread::sleep(std::time::Duration::from_millis(millis));
        let _ = child.kill();
        let _ = child.wait();
    }
    project.sb(&["build"]).success();
    let datasets = ["analytics", "analytics_raw", "synthetic"];
    // An append-only incremental model gains rows with every build that
    // reached it, by design; every other relation converges.
    let converging = |bq: &str| {
        let mut relations = relation_rows(bq, &datasets);
        relations.retain(|(name, _)| name != "analytics.plans_appended");
        relations
    };
    assert_eq!(converging(&bq), converging(&reference));
    for dataset in datasets {
        for table in table_names(&bq, dataset)
            .iter()
            .filter(|t| t.contains("__sb_load_"))
        {
            let (_, body) = http(
                &emulator().url,
                "GET",
                &format!("/bigquery/v2/projects/{bq}/datasets/{dataset}/tables/{table}"),
                &[],
            )
            .expect("the emulator answers");
            let resource: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert!(
                resource.get("expirationTime").is_some(),
                "{dataset}.{table} would stay forever: {resource}"
            );
        }
    }
}

/// Every other request fails: 429s, 503s, connections reset before the
/// request arrives, and answers lost after BigQuery did the work.
fn every_other_request(number: usize, what: &str) -> Fault {
    match number % 16 {
        1 | 5 | 9 | 13 => Fault::TooManyRequests,
        3 | 11 => Fault::Unavailable,
        // The emulator ignores the job id of an upload (it assigns its
        // own), so only a query job's lost answer can be attached to there.
        7 | 15 if what.starts_with("POST") && !what.contains("/upload/") => Fault::DropAfter,
        7 | 15 => Fault::DropBefore,
        _ => Fault::Pass,
    }
}

#[test]
fn bigquery_retries_injected_faults_without_losing_or_duplicating_rows() {
    let bq = fresh_project("faults");
    let proxy = FaultProxy::start(&emulator().url, every_other_request);
    // One thread, so the schedule decides which call each fault hits.
    let project = bigquery_project(&bq, &proxy.url, "    upload_chunk_bytes: 40000").file(
        "project.yml",
        project_yml(&bq, &proxy.url, "    upload_chunk_bytes: 40000")
            .replace("threads: 4", "threads: 1"),
    );
    let env = [("SB_BIGQUERY_RETRY_INITIAL_MS", "5")];
    let first = project.sb_with_env(&["build"], &env);
    first.success().stdout_contains("ERROR=0");
    project.write(
        "seeds/plans.csv",
        "plan_id,name,price\n1,basic,10.99\n2,standard,15.49\n3,premium,22.99\n4,family,29.99\n",
    );
    let second = project.sb_with_env(&["build"], &env);
    second.success().stdout_contains("ERROR=0");

    let injected = proxy.injected.lock().unwrap().clone();
    let kinds = |fault: Fault| injected.iter().filter(|(_, f, _)| *f == fault).count();
    assert!(kinds(Fault::TooManyRequests) > 0 && kinds(Fault::Unavailable) > 0);
    assert!(
        kinds(Fault::DropBefore) > 0 && kinds(Fault::DropAfter) > 0,
        "{injected:?}"
    );
    // Each fault was retried once, and the log says so.
    let retries = [&first, &second]
        .iter()
        .map(|o: &&Output| o.stderr.matches("note: retrying").count())
        .sum::<usize>();
    assert_eq!(
        retries,
        injected.len(),
        "{injected:?}\n{}{}",
        first.stderr,
        second.stderr
    );
    // A job insert whose answer was lost: the retry met a 409 and sb waited
    // for the job BigQuery had accepted, once per such fault.
    let lost_job_answers = injected
        .iter()
        .filter(|(_, fault, what)| *fault == Fault::DropAfter && what.contains("/jobs"))
        .count();
    let attached = [&first, &second]
        .iter()
        .map(|o| {
            o.stderr
                .matches("was already accepted; waiting for it")
                .count()
        })
        .sum::<usize>();
    assert!(lost_job_answers > 0, "{injected:?}");
    assert_eq!(attached, lost_job_answers, "{injected:?}");
    assert!(
        first.stderr.contains("(HTTP 429 rateLimitExceeded;"),
        "{}",
        first.stderr
    );

    // Every job sb submitted (queries, loads, copies) carried the
    // invocation id and its node as labels; every query says who sent it.
    let invocation = project.read_json("target/run_results.json")["metadata"]["invocation_id"]
        .as_str()
        .expect("an invocation id")
        .to_owned();
    let jobs = proxy.job_inserts();
    assert!(jobs.len() >= 10, "{jobs:?}");
    for job in &jobs {
        let labels = &job["configuration"]["labels"];
        assert!(
            labels["sb_invocation_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{job}"
        );
        if let Some(sql) = job
            .pointer("/configuration/query/query")
            .and_then(serde_json::Value::as_str)
        {
            assert!(sql.starts_with("/* {\"app\":\"sb\""), "{sql}");
            assert_eq!(
                job.pointer("/configuration/query/useLegacySql"),
                Some(&serde_json::json!(false))
            );
        }
    }
    let labelled = |node: &str| {
        jobs.iter().any(|job| {
            job["configuration"]["labels"]["sb_node"] == node
                && job["configuration"]["labels"]["sb_invocation_id"] == invocation.as_str()
        })
    };
    assert!(labelled("model_sb_bq_events_daily"), "{jobs:?}");
    assert!(labelled("seed_sb_bq_plans"), "{jobs:?}");
    assert!(
        jobs.iter()
            .any(|job| job.pointer("/configuration/load").is_some()
                && job["configuration"]["labels"]["sb_node"] == "source_synthetic")
    );

    // Nothing lost, nothing twice.
    assert_eq!(
        rows(
            &bq,
            "select count(*), count(distinct event_id) from @synthetic.viewing_events"
        ),
        [["900", "900"]]
    );
    assert_eq!(
        rows(
            &bq,
            "select count(*), count(distinct plan_id) from @analytics.plans_appended"
        ),
        [["7", "4"]]
    );
    assert_eq!(
        rows(&bq, "select count(*) from @analytics.plans_merged"),
        [["4"]]
    );
    assert_eq!(
        rows(&bq, "select sum(events) from @analytics.events_daily"),
        [["900"]]
    );
}

#[test]
fn bigquery_dry_run_prints_bytes_and_refuses_models_over_the_limit() {
    // On the emulator: estimates per model and a total (it reports 0 bytes).
    let bq = fresh_project("dry");
    let project = bigquery_project(&bq, &emulator().url, "");
    project.sb(&["build"]).success();
    let output = project.sb(&["run", "--dry-run"]);
    output
        .success()
        .stdout_contains("would process 0 B")
        .stdout_contains("Dry run total: 0 B (0 bytes) for 6 models");
    // `sb build --dry-run` estimates the same models and loads nothing.
    project
        .sb(&["build", "--dry-run"])
        .success()
        .stdout_contains("Dry run total: 0 B (0 bytes) for 6 models");
    assert!(!project.sb(&["build", "--dry-run"]).stdout.contains("LOAD"));

    // The emulator always reports 0 bytes, so the limit is checked against
    // a stand-in endpoint that reports sizes.
    let fake = fake_dry_run_endpoint(|sql| {
        if sql.contains("plans_view") {
            5_000_000
        } else {
            10
        }
    });
    let project = Project::bare()
        .file(
            "project.yml",
            project_yml("acme", &fake, "    maximum_bytes_billed: 1000000"),
        )
        .file("models/small.sql", "select 1 as x\n")
        .file("models/plans_view.sql", "select 2 as y\n");
    let output = project.sb(&["run", "--dry-run"]);
    output
        .code(1)
        .stdout_contains("would process 10 B")
        .stdout_contains("refused: would process 4.8 MB, over maximum_bytes_billed (976.6 KB)")
        .stdout_contains("Dry run total: 4.8 MB (5000010 bytes) for 2 models")
        .stderr_contains("models/plans_view.sql");
}

/// A bad BigQuery setting stops `sb compile` already (no connection is
/// made), pointing at its key in project.yml.
#[test]
fn bigquery_compile_stops_at_a_bad_target_setting() {
    let project = Project::bare()
        .file(
            "project.yml",
            project_yml("acme", "http://127.0.0.1:9", "    priority: sometimes"),
        )
        .file("models/small.sql", "select 1 as x\n");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains(
            "target `emu`: `priority` must be `interactive` or `batch`, not `sometimes`",
        )
        .stderr_contains("--> project.yml:11:5");
}

#[test]
fn bigquery_ctrl_c_cancels_the_running_jobs_and_exits() {
    let (url, seen) = super::emulator::stuck_jobs_endpoint();
    let project = Project::bare()
        .file("project.yml", project_yml("acme", &url, ""))
        .file(
            "models/slow.sql",
            "{{ config(materialized='table') }}\nselect 1 as x\n",
        );
    let child = project.spawn(&["run"]);
    let started = std::time::Instant::now();
    while !seen
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.starts_with("GET") && r.contains("/jobs/"))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no job was polled"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    send_signal(&child, "-INT");
    let output = child.wait_with_output().expect("sb exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: cancelled 1 running BigQuery job"),
        "{stderr}"
    );
    // The run ended as a run does: its results are written, the model
    // that was running marked as failed by the interrupt.
    let results = project.read_json("target/run_results.json");
    let slow = &results["results"][0];
    assert_eq!(slow["unique_id"], "model.sb_bq.slow", "{results}");
    assert_eq!(slow["status"], "error", "{results}");
    assert!(
        slow["message"]
            .as_str()
            .is_some_and(|m| m.contains("the run was interrupted")),
        "{results}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("POST") && r.contains("/cancel")),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn bigquery_data_tests_pass_and_fail_in_bigquery_sql() {
    let bq = fresh_project("tests");
    let project = Project::bare()
        .file("project.yml", project_yml(&bq, &emulator().url, ""))
        .file("seeds/plans.csv", PLANS_CSV)
        .file(
            "models/schema.yml",
            "version: 2\n\
             seeds:\n  - name: plans\n    columns:\n\
             \x20     - name: plan_id\n        tests: [not_null, unique]\n\
             \x20     - name: name\n        tests:\n          - accepted_values:\n              values: ['basic', 'standard']\n",
        );
    let output = project.sb(&["build", "-s", "plans+"]);
    output.code(1);
    output
        .stdout_contains("PASS  test not_null_plans_plan_id")
        .stdout_contains("PASS  test unique_plans_plan_id")
        .stdout_contains("FAIL  test accepted_values_plans_name")
        .stdout_contains("PASS=3 WARN=0 ERROR=1");
}

/// `project_yml` with `events` synthetic viewing events instead of 900.
fn with_events(yml: &str, events: usize) -> String {
    yml.replace("events: 900", &format!("events: {events}"))
}

/// Events enough for their newline-delimited JSON to pass 1 MiB: four
/// 256 KiB parts and more.
const MANY_EVENTS: usize = 4000;

/// What the events' rows add up to: the same rows give the same line.
/// (Floats are summed as whole thousandths, so the order of the sum does
/// not matter.)
const EVENTS_SUMMARY: &str = "select count(*), count(distinct event_id), sum(user_id), \
     sum(content_id), sum(quality_metrics.buffering_events), \
     sum(cast(round(watch_minutes * 1000) as int64)), \
     sum(cast(round(quality_metrics.bandwidth_mbps * 1000) as int64)), \
     count(engagement_signals.rating), min(timestamp), max(timestamp), \
     count(distinct device_type) from @synthetic.viewing_events";

/// The parts of resumable uploads a proxy saw: (start, end, total).
fn upload_parts(proxy: &FaultProxy) -> Vec<(usize, usize, usize)> {
    proxy
        .requests()
        .iter()
        .filter_map(|(what, _)| {
            let range = what.strip_prefix("PUT ")?.split_once(" bytes ")?.1;
            let (span, total) = range.split_once('/')?;
            let (start, end) = span.split_once('-')?;
            Some((start.parse().ok()?, end.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

#[test]
fn bigquery_large_seed_goes_up_in_resumable_parts_through_a_self_expiring_staging_table() {
    let bq = fresh_project("resumable");
    let proxy = FaultProxy::start(&emulator().url, |_, _| Fault::Pass);
    // Uploads over 64 KiB are resumable, in 256 KiB parts; the events go up
    // as several load jobs into a staging table swapped in at the end.
    let settings = "    resumable_threshold_bytes: 65536\n    resumable_chunk_bytes: 262144\n    upload_chunk_bytes: 600000";
    let project = Project::bare().file(
        "project.yml",
        with_events(&project_yml(&bq, &proxy.url, settings), MANY_EVENTS),
    );
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    project.sb(&["seed"]).success();

    // The same seed by multipart uploads of one load job each, elsewhere:
    // the rows are the same.
    let baseline = fresh_project("multipart");
    Project::bare()
        .file(
            "project.yml",
            with_events(&project_yml(&baseline, &emulator().url, ""), MANY_EVENTS),
        )
        .sb(&["seed"])
        .success();
    let resumable = rows(&bq, EVENTS_SUMMARY);
    assert_eq!(resumable, rows(&baseline, EVENTS_SUMMARY));
    assert_eq!(
        resumable[0][..2],
        [MANY_EVENTS.to_string(), MANY_EVENTS.to_string()]
    );

    // Several sessions, each in parts of whole 256 KiB but the last, every
    // byte sent once.
    let parts = upload_parts(&proxy);
    let sessions = parts.iter().filter(|(start, _, _)| *start == 0).count();
    assert!(sessions >= 2 && parts.len() > sessions, "{parts:?}");
    for (start, end, total) in &parts {
        assert_eq!(start % 262_144, 0, "{parts:?}");
        assert!(
            end + 1 == *total || (end + 1 - start) % 262_144 == 0,
            "{parts:?}"
        );
    }
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|(what, _)| what.contains("uploadType=multipart")),
        "the small tables went up in one request each"
    );
    // The staging table was made to expire a day later, and is gone.
    let (_, staging) = requests
        .iter()
        .find(|(what, _)| what.starts_with("POST ") && what.ends_with("/datasets/synthetic/tables"))
        .expect("a staging table was created");
    assert!(
        staging["tableReference"]["tableId"]
            .as_str()
            .is_some_and(|t| t.starts_with("viewing_events__sb_load_sb_t_")),
        "{staging}"
    );
    let expires: u128 = staging["expirationTime"]
        .as_str()
        .and_then(|ms| ms.parse().ok())
        .expect("an expiration time");
    let day = 24 * 3600 * 1000;
    assert!(
        expires >= started + day && expires < started + day + 10 * 60 * 1000,
        "{expires} vs {started}"
    );
    assert_eq!(
        table_names(&bq, "synthetic"),
        ["content", "users", "viewing_events"]
    );
    // The swapped-in table does not expire.
    let (status, table) = http(
        &emulator().url,
        "GET",
        &format!("/bigquery/v2/projects/{bq}/datasets/synthetic/tables/viewing_events"),
        &[],
    )
    .expect("the emulator answers");
    assert_eq!(status, 200);
    let table: serde_json::Value = serde_json::from_slice(&table).expect("JSON");
    assert!(
        table
            .get("expirationTime")
            .is_none_or(serde_json::Value::is_null),
        "{table}"
    );
}

/// Parts of resumable uploads sent so far, for `faults_in_upload_parts`.
static PARTS_SENT: AtomicUsize = AtomicUsize::new(0);

/// Faults on the parts of resumable uploads only: the first part answered
/// 503, the third reset before it arrives, the fifth lost after it arrived
/// (when it is not the last, whose loss the emulator cannot survive: it
/// forgets a finished session, where BigQuery would answer with the job).
fn faults_in_upload_parts(_: usize, what: &str) -> Fault {
    let Some(range) = what
        .strip_prefix("PUT ")
        .and_then(|w| w.split_once(" bytes "))
        .map(|(_, range)| range)
    else {
        return Fault::Pass;
    };
    if range.starts_with("*/") {
        return Fault::Pass;
    }
    let last = range
        .split_once('/')
        .and_then(|(span, total)| {
            let end: usize = span.split_once('-')?.1.parse().ok()?;
            Some(end + 1 == total.parse::<usize>().ok()?)
        })
        .unwrap_or(true);
    match PARTS_SENT.fetch_add(1, Ordering::SeqCst) {
        0 => Fault::Unavailable,
        2 => Fault::DropBefore,
        4 if !last => Fault::DropAfter,
        _ => Fault::Pass,
    }
}

#[test]
fn bigquery_resumable_upload_goes_on_after_faults_without_losing_or_duplicating_rows() {
    let bq = fresh_project("resume");
    let proxy = FaultProxy::start(&emulator().url, faults_in_upload_parts);
    let settings = "    resumable_threshold_bytes: 65536\n    resumable_chunk_bytes: 262144";
    let project = Project::bare().file(
        "project.yml",
        with_events(&project_yml(&bq, &proxy.url, settings), MANY_EVENTS),
    );
    let output = project.sb_with_env(&["seed"], &[("SB_BIGQUERY_RETRY_INITIAL_MS", "5")]);
    output.success();

    let injected = proxy.injected.lock().unwrap().clone();
    let faults: Vec<Fault> = injected.iter().map(|(_, fault, _)| *fault).collect();
    assert_eq!(
        faults,
        [Fault::Unavailable, Fault::DropBefore, Fault::DropAfter],
        "{injected:?}"
    );
    // Each fault is one retry in the log; after each, sb asked the session
    // how much had arrived and went on from there.
    assert_eq!(
        output.stderr.matches("note: retrying").count(),
        3,
        "{}",
        output.stderr
    );
    output.stderr_contains("(uploading bytes 0-262143 of ");
    let probes = proxy
        .requests()
        .iter()
        .filter(|(what, _)| what.contains(" bytes */"))
        .count();
    assert_eq!(probes, 3);
    assert_eq!(
        rows(
            &bq,
            "select count(*), count(distinct event_id) from @synthetic.viewing_events"
        ),
        [[MANY_EVENTS.to_string(), MANY_EVENTS.to_string()]]
    );
}

/// Creates a table in the emulator, as an interrupted load would have left.
fn plant_table(project: &str, dataset: &str, table: &str) {
    let body = serde_json::json!({
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": [{"name": "plan_id", "type": "INTEGER", "mode": "NULLABLE"}]},
    });
    let (status, answer) = http(
        &emulator().url,
        "POST",
        &format!("/bigquery/v2/projects/{project}/datasets/{dataset}/tables"),
        body.to_string().as_bytes(),
    )
    .expect("the emulator answers");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn bigquery_seed_drops_the_staging_tables_an_interrupted_load_left() {
    let bq = fresh_project("stale");
    let project = Project::bare()
        .file("project.yml", project_yml(&bq, &emulator().url, ""))
        .file("seeds/plans.csv", PLANS_CSV);
    project.sb(&["seed"]).success();
    // A crash between the uploads and the swap leaves a staging table; a
    // table named by hand and another table's staging table are not sb's
    // to drop.
    let stale = "plans__sb_load_sb_t_1767225600000_0_ab12";
    let kept = [
        "plans__sb_load_by_hand",
        "plans_old__sb_load_sb_t_1767225600000_1_cd34",
    ];
    for table in std::iter::once(stale).chain(kept) {
        plant_table(&bq, "analytics_raw", table);
    }

    let output = project.sb(&["seed"]);
    output.success().stderr_contains(&format!(
        "{stale}`, a staging table an interrupted load left behind"
    ));
    let mut expected = vec!["plans".to_owned()];
    expected.extend(kept.iter().map(|t| (*t).to_owned()));
    assert_eq!(table_names(&bq, "analytics_raw"), expected);
    assert_eq!(
        rows(&bq, "select count(*) from @analytics_raw.plans"),
        [["3"]]
    );
}

/// `--plan` on the emulator: every model with its bytes and price, a
/// total, and nothing written (no dataset is made). The emulator reports 0
/// bytes, so the sizes and prices are checked on a stand-in endpoint too.
#[test]
fn bigquery_plan_prints_bytes_and_price_per_model_and_writes_nothing() {
    let bq = fresh_project("plan");
    let project = bigquery_project(&bq, &emulator().url, "");
    // Nothing built yet: the models wait for their parents.
    project
        .sb(&["build", "--plan"])
        .success()
        .stdout_contains("Plan for ")
        .stdout_contains("bytes unknown until `plans` is built")
        .stdout_contains("Total: 0 B (0 bytes), $0.0000 at $6.25/TiB on demand");
    let (status, _) = super::emulator::http(
        &emulator().url,
        "GET",
        &format!("/bigquery/v2/projects/{bq}/datasets/analytics"),
        &[],
    )
    .expect("the emulator answers");
    assert_eq!(status, 404, "a plan made the dataset");
    // Built: every model is estimated (the emulator says 0 bytes), and the
    // plan changes no table.
    project.sb(&["build"]).success();
    let before = table_names(&bq, "analytics");
    let modified = |table: &str| {
        let (_, body) = super::emulator::http(
            &emulator().url,
            "GET",
            &format!("/bigquery/v2/projects/{bq}/datasets/analytics/tables/{table}"),
            &[],
        )
        .expect("the emulator answers");
        let table: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        table["lastModifiedTime"].clone()
    };
    let stamps: Vec<serde_json::Value> = before.iter().map(|t| modified(t)).collect();
    let output = project.sb(&["build", "--plan"]);
    output.success();
    let estimated = output
        .stdout_lines()
        .iter()
        .filter(|l| l.contains("| 0 B "))
        .count();
    assert_eq!(estimated, 6, "{}", output.stdout);
    assert_eq!(table_names(&bq, "analytics"), before);
    let after: Vec<serde_json::Value> = before.iter().map(|t| modified(t)).collect();
    assert_eq!(stamps, after, "a plan changed a table");

    let fake = fake_dry_run_endpoint(|sql| {
        if sql.contains("2 as y") {
            3 * 1024 * 1024 * 1024
        } else {
            1024
        }
    });
    let project = Project::bare()
        .file("project.yml", project_yml("acme", &fake, ""))
        .file("models/small.sql", "select 1 as x\n")
        .file("models/big.sql", "select 2 as y\n")
        .file(
            "models/days.sql",
            "{{ config(materialized='table', partition_by={'field': 'day', 'data_type': 'date'}) }}\n\
             select current_date() as day\n",
        )
        .file("models/all_days.sql", "select * from {{ ref('days') }}\n")
        .file(
            "models/recent_days.sql",
            "select * from {{ ref('days') }} where day >= '2026-01-01'\n",
        );
    let output = project.sb(&["run", "--plan", "--price-per-tib", "5"]);
    output.success();
    let lines: Vec<String> = output
        .stdout_lines()
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        lines.contains(&"model | big | create view | 3.0 GB | $0.0146".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"model | small | create view | 1.0 KB | $0.0000".to_string()),
        "{lines:?}"
    );
    output
        .stdout_contains("Total: 3.0 GB (3221227520 bytes), $0.0146 at $5/TiB on demand")
        .stdout_contains("scans `days` with no filter on its partition column `day`");
    let flagged: Vec<&String> = lines.iter().filter(|l| l.contains("no filter")).collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("model | all_days |"), "{flagged:?}");
}

/// A second Ctrl-C ends sb at once, even while the first one's cancel
/// request hangs.
#[test]
fn bigquery_a_second_ctrl_c_exits_at_once() {
    let (url, seen) = super::emulator::stuck_jobs_endpoint_with(true);
    let project = Project::bare()
        .file("project.yml", project_yml("acme", &url, ""))
        .file(
            "models/slow.sql",
            "{{ config(materialized='table') }}\nselect 1 as x\n",
        );
    let mut child = project.spawn(&["run"]);
    let started = std::time::Instant::now();
    let polled = |seen: &std::sync::Mutex<Vec<String>>, what: &str| {
        seen.lock().unwrap().iter().any(|r| r.contains(what))
    };
    while !polled(&seen, "/jobs/") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no job was polled"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    send_signal(&child, "-INT");
    while !polled(&seen, "/cancel") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no cancel was sent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "sb ended before the second Ctrl-C"
    );
    send_signal(&child, "-INT");
    let status = wait_within(
        child,
        std::time::Duration::from_secs(5),
        "of the second Ctrl-C",
    )
    .status;
    assert_eq!(status.code(), Some(130));
}
