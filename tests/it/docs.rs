//! `sb docs`: the static site under target/docs/. The site is opened in
//! headless Chromium from the file system with the network cut off; the page
//! writes what it drew into `<pre id="sb-selfcheck">` (charts with their
//! traces and points, the lineage graph's nodes, every error it met, any URL
//! it fetched that is not a local file) and the tests read that back from
//! `--dump-dom`. Chromium comes from `scripts/ensure-chromium`, which
//! `scripts/test` runs first; without it these tests fail, they never skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::Project;
use crate::assert_stderr_snapshot;

/// One Chromium at a time: each starts several processes, and the machine
/// running the suite is small.
static CHROMIUM: Mutex<()> = Mutex::new(());

const CHROMIUM_TIME_LIMIT: Duration = Duration::from_secs(90);

fn chromium_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SB_CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is not installed, and the docs tests need it: run scripts/ensure-chromium \
         (apt-get install -y chromium), or set SB_CHROMIUM to a Chromium binary. scripts/test does this first."
    );
}

/// Runs headless Chromium on `url` with networking disabled: host names
/// resolve nowhere and any proxied request goes to a closed port.
fn chromium(url: &str, extra: &[&str]) -> (String, String) {
    let _one_at_a_time = CHROMIUM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let profile = tempfile::tempdir().expect("a Chromium profile folder");
    let mut command = Command::new(chromium_binary());
    command
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if started.elapsed() > CHROMIUM_TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIME_LIMIT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (
        out.join().expect("read stdout"),
        err.join().expect("read stderr"),
    )
}

/// Opens `target/docs/index.html` + `fragment` and returns the page's self-check.
fn open_site(project: &Project, fragment: &str) -> Value {
    let index = project.path().join("target/docs/index.html");
    let url = format!("file://{}{fragment}", index.display());
    let (dom, log) = chromium(&url, &["--dump-dom"]);
    let start = dom.find("<pre id=\"sb-selfcheck\"").unwrap_or_else(|| {
        panic!("no self-check element in the DOM of {url}\n--- chromium log:\n{log}")
    });
    let body = &dom[start..];
    let open = body.find('>').expect("element start") + 1;
    let close = body.find("</pre>").expect("element end");
    let text = body[open..close]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    assert!(
        !text.trim().is_empty(),
        "the page never finished drawing {url}\n--- chromium log:\n{log}"
    );
    let check: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("self-check is not JSON ({e}): {text}"));
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("ERROR:CONSOLE"))
        })
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors on {url}:\n{}",
        console_errors.join("\n")
    );
    assert_eq!(
        check["errors"],
        Value::Array(vec![]),
        "errors on {url}: {check:#}"
    );
    assert_eq!(
        check["external"],
        Value::Array(vec![]),
        "the page fetched from the network: {check:#}"
    );
    check
}

/// The JSON document `sb docs` embedded in index.html.
fn site_document(project: &Project) -> Value {
    let html = project.read("target/docs/index.html");
    let marker = "<script id=\"sb-data\" type=\"application/json\">";
    let start = html.find(marker).expect("data element") + marker.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end]).expect("embedded JSON")
}

fn node<'a>(document: &'a Value, id: &str) -> &'a Value {
    document["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no page for {id}"))
}

fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).expect("create the screenshot folder");
    dir.join(name)
}

#[test]
fn example_dashboards_render_every_chart_offline_in_headless_chromium() {
    let project = Project::example();
    project.sb(&["build"]).success();
    project
        .sb(&["docs"])
        .success()
        .stdout_contains("Wrote target/docs/index.html");

    let declared = site_document(&project)["dashboards"]
        .as_array()
        .expect("dashboards")
        .clone();
    assert!(
        !declared.is_empty(),
        "the example project ships a dashboard"
    );
    for board in &declared {
        let name = board["name"].as_str().expect("name");
        let check = open_site(&project, &format!("#/dashboard/{name}"));
        let charts = check["charts"].as_array().expect("charts");
        assert_eq!(
            charts.len(),
            board["charts"].as_array().expect("charts").len(),
            "every declared chart is on the page: {check:#}"
        );
        for chart in charts {
            assert_eq!(chart["rendered"], true, "chart not drawn: {chart}");
            assert_eq!(chart["paper"], "#1c1c1c", "dark charts: {chart}");
            assert!(chart["traces"].as_u64() > Some(0), "{chart}");
            assert!(chart["points"].as_u64() > Some(0), "no data in {chart}");
        }
        assert!(check["plotly"].as_str().is_some_and(|v| v.starts_with('3')));
    }
    let types: Vec<&str> = declared
        .iter()
        .flat_map(|b| b["charts"].as_array().expect("charts"))
        .filter_map(|c| c["type"].as_str())
        .collect();
    for kind in [
        "bar", "line", "area", "pie", "donut", "box", "scatter", "heatmap", "table",
    ] {
        assert!(types.contains(&kind), "no {kind} chart in {types:?}");
    }

    let home = open_site(&project, "");
    assert_eq!(home["theme"]["background"], "rgb(20, 20, 20)", "#141414");
    assert_eq!(home["theme"]["accent"], "rgb(229, 9, 20)", "#E50914");
    let graph = &home["graph"];
    assert_eq!(graph["drawnNodes"], graph["nodes"], "{home:#}");
    assert!(graph["drawnNodes"].as_u64() >= Some(19), "{home:#}");
    assert!(graph["drawnEdges"].as_u64() >= Some(18), "{home:#}");

    let page = open_site(&project, "#/node/model.streaming_analytics.plan_mix");
    assert!(
        page["graph"]["lit"].as_u64() >= Some(3),
        "the model's upstream is highlighted: {page:#}"
    );

    let shot = screenshot_path("sb-docs-dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let index = project.path().join("target/docs/index.html");
    chromium(
        &format!("file://{}#/dashboard/streaming", index.display()),
        &[
            "--window-size=1400,2600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{}",
        shot.display()
    );
}

#[test]
fn pages_document_every_node_with_catalog_types_tests_sql_and_last_run() {
    let project = Project::new()
        .file("seeds/plans.csv", "plan,price\nbasic,8\npremium,23\n")
        .file(
            "models/staging/stg_plans.sql",
            "select plan as plan_name, price from {{ ref('plans') }}",
        )
        .file(
            "models/marts/revenue.sql",
            "{{ config(materialized='table') }}\nselect plan_name, price * 12 as yearly from {{ ref('stg_plans') }}",
        )
        .file(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: revenue\n    description: \"Yearly price per plan.\"\n    columns:\n      - name: plan_name\n        description: \"The plan.\"\n        tests: [not_null, unique]\n      - name: yearly\n        description: \"Twelve months.\"\n",
        );
    project.sb(&["build"]).success();
    project.sb(&["docs"]).success();

    let document = site_document(&project);
    let revenue = node(&document, "model.sb_test.revenue");
    assert_eq!(revenue["description"], "Yearly price per plan.");
    assert_eq!(revenue["materialized"], "table");
    assert_eq!(revenue["config"]["materialized"], "table");
    assert_eq!(revenue["columns"][0]["name"], "plan_name");
    assert_eq!(revenue["columns"][0]["type"], "VARCHAR");
    assert_eq!(revenue["columns"][0]["tests"][1], "unique");
    assert_eq!(revenue["columns"][1]["description"], "Twelve months.");
    assert!(revenue["columns"][1]["type"].as_str().is_some());
    assert_eq!(revenue["run"]["status"], "success");
    assert!(revenue["run"]["seconds"].as_f64().is_some());
    assert!(
        revenue["compiled"]
            .as_str()
            .is_some_and(|sql| sql.contains("\"stg_plans\"")),
        "{revenue}"
    );
    assert!(
        revenue["raw"]
            .as_str()
            .is_some_and(|sql| sql.contains("ref('stg_plans')"))
    );
    assert_eq!(node(&document, "seed.sb_test.plans")["type"], "seed");
    let nodes = document["nodes"].as_array().expect("nodes");
    let tests: Vec<&Value> = revenue["tests"]
        .as_array()
        .expect("the model's tests")
        .iter()
        .map(|i| &nodes[usize::try_from(i.as_u64().expect("index")).expect("index")])
        .collect();
    assert_eq!(tests.len(), 2, "{revenue}");
    for test in tests {
        assert_eq!(test["type"], "test");
        assert_eq!(test["run"]["status"], "pass", "{test}");
        assert!(
            test["compiled"]
                .as_str()
                .is_some_and(|sql| sql.contains("revenue"))
        );
    }

    // Left to right: each node's column is after its parents'.
    let graph = &document["graph"];
    let x_of = |index: u64| {
        graph["nodes"]
            .as_array()
            .expect("graph nodes")
            .iter()
            .find(|n| n[0].as_u64() == Some(index))
            .and_then(|n| n[1].as_f64())
            .expect("placed")
    };
    for edge in graph["edges"].as_array().expect("edges") {
        assert!(x_of(edge[0].as_u64().expect("parent")) < x_of(edge[1].as_u64().expect("child")));
    }
    assert_eq!(graph["edges"].as_array().map(Vec::len), Some(2));

    // Nothing in the page points at the network.
    let html = project.read("target/docs/index.html");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(project.exists("target/docs/assets/plotly.min.js"));
    assert!(project.exists("target/docs/assets/plotly.LICENSE.txt"));
}

#[test]
fn search_and_pages_work_in_the_browser() {
    let project = Project::new()
        .file(
            "models/orders.sql",
            "select 1 as order_id, 'open' as order_status",
        )
        .file(
            "models/customers.sql",
            "select order_id from {{ ref('orders') }}",
        );
    project.sb(&["run"]).success();
    project.sb(&["docs"]).success();

    let found = open_site(&project, "#/search/order_status");
    assert_eq!(found["route"], "search/order_status");
    assert_eq!(
        found["found"], 1,
        "only `orders` has that column: {found:#}"
    );
    assert_eq!(open_site(&project, "#/search/order")["found"], 2);
    let page = open_site(&project, "#/node/model.sb_test.customers");
    assert_eq!(page["graph"]["lit"], 1, "{page:#}");
}

#[test]
fn docs_without_a_build_write_the_site_and_say_the_charts_have_no_data() {
    let project = Project::new().file("models/a.sql", "select 1 as id").file(
        "dashboards/main.yml",
        "charts:\n  - title: Ids\n    type: bar\n    model: a\n    x: id\n    y: id\n",
    );

    let output = project.sb(&["docs"]);

    output
        .success()
        .stderr_contains("1 of 1 chart")
        .stderr_contains("run `sb build`");
    assert!(project.exists("target/docs/index.html"));
    assert!(
        !project.exists("target/dev.duckdb"),
        "docs never create the warehouse"
    );
    let document = site_document(&project);
    assert!(document["dashboards"][0]["charts"][0]["data"]["missing"].is_string());
}

#[test]
fn chart_naming_an_unknown_model_fails_with_the_closest_names() {
    let project = Project::new()
        .file("models/plan_mix.sql", "select 'basic' as plan_name, 3 as subscribers")
        .file(
            "dashboards/business.yml",
            "title: Business\ncharts:\n  - title: Plan mix\n    type: pie\n    model: plan_mixx\n    x: plan_name\n    y: subscribers\n",
        );

    let output = project.sb(&["docs"]);

    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn chart_naming_an_unknown_column_fails_with_the_closest_names() {
    let project = Project::new()
        .file("models/plan_mix.sql", "select 'basic' as plan_name, 3 as subscribers")
        .file(
            "dashboards/business.yml",
            "title: Business\ncharts:\n  - title: Plan mix\n    type: bar\n    model: plan_mix\n    x: plan_name\n    y: subscriber\n",
        );
    project.sb(&["run"]).success();

    let output = project.sb(&["docs"]);

    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn chart_sql_with_an_unknown_ref_or_column_fails_with_the_closest_names() {
    let project = Project::new()
        .file("models/daily_views.sql", "select 1 as day, 10 as views")
        .file(
            "dashboards/trend.yml",
            "charts:\n  - title: Trend\n    type: line\n    sql: |\n      select day, views\n      from {{ ref('daily_view') }}\n    x: day\n    y: views\n",
        );
    project.sb(&["run"]).success();

    let unknown_ref = project.sb(&["docs"]);
    unknown_ref.code(2);
    assert_stderr_snapshot!("chart_sql_unknown_ref", unknown_ref);

    project.write(
        "dashboards/trend.yml",
        "charts:\n  - title: Trend\n    type: line\n    sql: |\n      select day, views as view_count\n      from {{ ref('daily_views') }}\n    x: day\n    y: views\n",
    );
    let unknown_column = project.sb(&["docs"]);
    unknown_column.code(2);
    assert_stderr_snapshot!("chart_sql_unknown_column", unknown_column);
}

#[test]
fn chart_with_an_unknown_type_or_key_fails_with_the_closest_names() {
    let project = Project::new()
        .file("models/a.sql", "select 1 as id")
        .file(
            "dashboards/a.yml",
            "charts:\n  - type: scater\n    model: a\n    x: id\n    y: id\n  - type: bar\n    model: a\n    x: id\n    y: id\n    colour: id\n",
        );

    let output = project.sb(&["docs"]);

    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn docs_serve_answers_on_localhost_until_stopped() {
    let project = Project::new().file("models/a.sql", "select 1 as id");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sb"))
        .args(["docs", "--serve", "--port", "0"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sb docs --serve");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = sender.send(
                    rest.trim_end_matches(|c: char| c != '/')
                        .trim_end_matches('/')
                        .to_owned(),
                );
            }
        }
    });
    let address = receiver.recv_timeout(Duration::from_mins(1));
    let get = |path: &str| -> String {
        let Ok(address) = &address else {
            return String::new();
        };
        let mut stream = TcpStream::connect(address.as_str()).expect("connect to sb docs --serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    };
    let index = get("/");
    let script = get("/assets/site.js");
    let outside = get("/../project.yml");
    let _ = child.kill();
    let _ = child.wait();

    let address = address.expect("sb docs --serve printed its address");
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(index.starts_with("HTTP/1.1 200"), "{index:.200}");
    assert!(index.contains("sb-selfcheck"));
    assert!(script.starts_with("HTTP/1.1 200") && script.contains("text/javascript"));
    assert!(outside.starts_with("HTTP/1.1 404"), "{outside:.200}");
}

#[test]
fn lineage_of_three_hundred_models_draws_in_the_browser_and_a_thousand_are_all_laid_out() {
    let mut project = Project::new();
    for i in 0..1000 {
        let sql = if i < 10 {
            format!("select {i} as id")
        } else {
            format!(
                "select id from {{{{ ref('m{:04}') }}}} union all select id from {{{{ ref('m{:04}') }}}}",
                i / 3,
                i - 7
            )
        };
        project = project.file(&format!("models/m{i:04}.sql"), sql);
    }
    // How fast is measured by bench/docs.sh, not here.
    project.sb(&["docs"]).success();
    let document = site_document(&project);
    assert_eq!(
        document["graph"]["nodes"].as_array().map(Vec::len),
        Some(1000)
    );

    let small = Project::new();
    for i in 0..300 {
        let sql = if i < 5 {
            format!("select {i} as id")
        } else {
            format!("select id from {{{{ ref('m{:03}') }}}}", i / 2)
        };
        small.write(&format!("models/m{i:03}.sql"), sql);
    }
    small.sb(&["docs"]).success();
    let check = open_site(&small, "#/graph");
    assert_eq!(check["graph"]["drawnNodes"], 300, "{check:#}");
    assert_eq!(check["graph"]["drawnEdges"], 295, "{check:#}");
}

#[test]
fn facets_colours_and_aggregates_split_and_sum_the_rows() {
    let project = Project::new()
        .file(
            "models/views.sql",
            "select * from (values ('2026-01-01', 'Basic', 'TV', 3), ('2026-01-01', 'Basic', 'Mobile', 2), \
             ('2026-01-01', 'Basic', 'TV', 4), ('2026-01-02', 'Premium', 'TV', 5), ('2026-01-02', 'Basic', 'TV', 1)) \
             as t(day, plan_name, device, views)",
        )
        .file(
            "dashboards/usage.yml",
            "title: Usage\ncharts:\n  - title: Views per device by plan\n    type: bar\n    model: views\n    x: device\n    y: views\n    facet: plan_name\n    agg: sum\n  - title: Daily views\n    type: area\n    model: views\n    x: day\n    y: views\n    color: plan_name\n    agg: sum\n    stacked: true\n",
        );
    project.sb(&["run"]).success();
    project.sb(&["docs"]).success();

    let document = site_document(&project);
    let per_device = &document["dashboards"][0]["charts"][0]["data"];
    assert_eq!(
        per_device["rows"],
        serde_json::json!([
            ["Mobile", "Basic", 2],
            ["TV", "Basic", 8],
            ["TV", "Premium", 5]
        ]),
        "summed per device and plan: {per_device}"
    );

    let check = open_site(&project, "#/dashboard/usage");
    let charts = check["charts"].as_array().expect("charts");
    assert_eq!(charts[0]["traces"], 2, "one trace per facet: {check:#}");
    assert_eq!(charts[0]["points"], 3, "{check:#}");
    assert_eq!(charts[1]["traces"], 2, "one trace per colour: {check:#}");
    assert_eq!(charts[1]["points"], 3, "{check:#}");
    assert!(charts.iter().all(|c| c["rendered"] == true), "{check:#}");
}
