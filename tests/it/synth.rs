//! The synthesizer (`sb seed` with `synthetic:` in project.yml): the design's
//! figures, determinism across thread counts, `--append`, the source it
//! provides to models, and its settings errors.

use crate::it::harness::{DEFAULT_PROJECT_YML, Project, rows};

/// A project with the synthesizer at the design's default sizes.
fn streaming_project(settings: &str) -> Project {
    Project::new().file(
        "project.yml",
        format!("{DEFAULT_PROJECT_YML}synthetic:\n  streaming:\n{settings}"),
    )
}

fn number(project: &Project, sql: &str) -> f64 {
    let result = project.query(sql);
    result[0][0]
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {result:?} from {sql}"))
}

fn assert_near(what: &str, actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn default_seed_reproduces_the_design_figures() {
    let project = streaming_project("    seed: 42\n");
    project
        .sb(&["seed"])
        .success()
        .stdout_contains("synthetic.users")
        .stdout_contains("LOAD (100000 rows)");

    let count = |table: &str| number(&project, &format!("select count(*) from synthetic.{table}"));
    assert_near("users", count("users"), 10_000.0, 0.0);
    assert_near("titles", count("content"), 200.0, 0.0);
    assert_near("events", count("viewing_events"), 100_000.0, 0.0);

    // Plan mix (share of users), within sampling noise (sd ≈ 0.5 points).
    for (plan, share) in [
        ("Standard", 38.88),
        ("Basic", 26.07),
        ("Premium", 18.32),
        ("Family", 8.88),
        ("Student", 7.85),
    ] {
        let actual = number(
            &project,
            &format!(
                "select 100.0 * count(*) filter (where plan = '{plan}') / count(*) from synthetic.users"
            ),
        );
        assert_near(&format!("share of {plan}"), actual, share, 1.5);
    }

    // 14 genres; Animation leads with 23, Thriller 21, the rest 13 each.
    assert_eq!(
        project.query(
            "select genre, count(*) from synthetic.content group by genre order by count(*) desc, genre limit 3"
        ),
        rows(&[["Animation", "23"], ["Thriller", "21"], ["Action", "13"]])
    );
    assert_near(
        "genres",
        number(
            &project,
            "select count(distinct genre) from synthetic.content",
        ),
        14.0,
        0.0,
    );
    assert_near(
        "genres with 13 titles",
        number(
            &project,
            "select count(*) from (select genre from synthetic.content group by genre having count(*) = 13)",
        ),
        12.0,
        0.0,
    );
    let length = number(
        &project,
        "select avg(duration_minutes) from synthetic.content",
    );
    assert!((70.0..=100.0).contains(&length), "average length {length}");

    // Device shares of events (sd ≈ 0.13 points at 100,000 events).
    let share = |devices: &str| {
        number(
            &project,
            &format!(
                "select 100.0 * count(*) filter (where device_type in ({devices})) / count(*) from synthetic.viewing_events"
            ),
        )
    };
    assert_near("Smart TV", share("'Smart TV'"), 22.07, 0.6);
    assert_near("Desktop", share("'Desktop'"), 19.42, 0.6);
    assert_near("Mobile + Tablet", share("'Mobile', 'Tablet'"), 33.9, 0.8);
    assert_near(
        "Gaming console + Streaming stick",
        share("'Gaming Console', 'Streaming Stick'"),
        24.6,
        0.8,
    );

    // Bandwidth and completion by device.
    let by_device = |expr: &str, device: &str| {
        number(
            &project,
            &format!(
                "select avg({expr}) from synthetic.viewing_events where device_type = '{device}'"
            ),
        )
    };
    assert_near(
        "Smart TV bandwidth",
        by_device("quality_metrics.bandwidth_mbps", "Smart TV"),
        36.1,
        0.3,
    );
    assert_near(
        "Mobile bandwidth",
        by_device("quality_metrics.bandwidth_mbps", "Mobile"),
        26.3,
        0.3,
    );
    assert_near(
        "Smart TV completion",
        by_device("engagement_signals.completion_rate", "Smart TV"),
        0.618,
        0.01,
    );
    assert_near(
        "Mobile completion",
        by_device("engagement_signals.completion_rate", "Mobile"),
        0.618,
        0.01,
    );
}

#[test]
fn events_are_consistent_and_realistic() {
    let project =
        streaming_project("    users: 3000\n    content: 150\n    events: 60000\n    days: 28\n");
    project.sb(&["seed"]).success();

    // Every event references an existing user and title, after the signup.
    assert_eq!(
        project.query(
            "select
               count(*) filter (where u.user_id is null),
               count(*) filter (where c.content_id is null),
               count(*) filter (where cast(e.timestamp as date) < u.signup_date)
             from synthetic.viewing_events e
             left join synthetic.users u using (user_id)
             left join synthetic.content c using (content_id)"
        ),
        rows(&[["0", "0", "0"]])
    );
    // Events fall in the window, ids are 1..N without gaps.
    assert_eq!(
        project.query(
            "select cast(min(timestamp) as date)::varchar, cast(max(timestamp) as date)::varchar,
                    min(event_id), max(event_id), count(distinct event_id)
             from synthetic.viewing_events"
        ),
        rows(&[["2026-01-01", "2026-01-28", "1", "60000", "60000"]])
    );
    // Long tails: the top tenth of titles and of users take far more than a tenth.
    let top_share = |key: &str, table_size: f64| {
        number(
            &project,
            &format!(
                "select sum(n) / (select count(*) from synthetic.viewing_events) from
                 (select count(*) n from synthetic.viewing_events group by {key} order by n desc limit {})",
                (table_size / 10.0).round()
            ),
        )
    };
    assert!(top_share("content_id", 150.0) > 0.3);
    assert!(top_share("user_id", 3000.0) > 0.3);
    // Evenings are busier than early mornings; weekends busier than weekdays.
    assert!(
        number(
            &project,
            "select count(*) filter (where hour(timestamp) between 19 and 22)
                  / count(*) filter (where hour(timestamp) between 3 and 6)
             from synthetic.viewing_events"
        ) > 3.0
    );
    assert!(
        number(
            &project,
            "select (count(*) filter (where dayofweek(timestamp) in (0, 6)) / 2.0)
                  / (count(*) filter (where dayofweek(timestamp) between 1 and 4) / 4.0)
             from synthetic.viewing_events"
        ) > 1.1
    );
    // Low bandwidth: more buffering, lower completion; ratings follow completion.
    let low_high = |expr: &str| {
        let values = project.query(&format!(
            "select avg({expr}) filter (where quality_metrics.bandwidth_mbps < 15),
                    avg({expr}) filter (where quality_metrics.bandwidth_mbps > 45)
             from synthetic.viewing_events"
        ));
        let parse = |s: &str| s.parse::<f64>().expect("number");
        (parse(&values[0][0]), parse(&values[0][1]))
    };
    let (slow, fast) = low_high("quality_metrics.buffering_events");
    assert!(slow > 2.0 * fast, "buffering {slow} vs {fast}");
    let (slow, fast) = low_high("engagement_signals.completion_rate");
    assert!(slow + 0.05 < fast, "completion {slow} vs {fast}");
    let by_rating = project.query(
        "select engagement_signals.rating, avg(engagement_signals.completion_rate)
         from synthetic.viewing_events where engagement_signals.rating in (1, 5) group by 1 order by 1",
    );
    let completion = |i: usize| by_rating[i][1].parse::<f64>().expect("number");
    assert!(completion(0) + 0.3 < completion(1), "{by_rating:?}");
    // Ranges a schema test would assert.
    assert_eq!(
        project.query(
            "select count(*) from synthetic.viewing_events
             where engagement_signals.completion_rate not between 0 and 1
                or engagement_signals.rating not between 1 and 5
                or quality_metrics.bandwidth_mbps <= 0
                or watch_minutes < 0"
        ),
        rows(&[["0"]])
    );
}

/// A digest of every row of the three tables, in a fixed order.
fn digest(project: &Project, database: &str) -> Vec<Vec<String>> {
    project.query_in(
        database,
        "select (select md5(string_agg(u::varchar, '|' order by user_id)) from synthetic.users u),
                (select md5(string_agg(c::varchar, '|' order by content_id)) from synthetic.content c),
                (select md5(string_agg(e::varchar, '|' order by event_id)) from synthetic.viewing_events e)",
    )
}

#[test]
fn same_seed_same_rows_whatever_the_thread_count() {
    let settings =
        "    users: 70000\n    content: 300\n    events: 150000\n    days: 10\n    seed: 7\n";
    let project = streaming_project(settings);
    project.sb(&["seed", "--threads", "1"]).success();
    let one_thread = digest(&project, "target/dev.duckdb");
    project.sb(&["seed", "--threads", "4"]).success();
    let four_threads = digest(&project, "target/dev.duckdb");
    assert_eq!(one_thread, four_threads);

    project.sb(&["seed", "--seed", "8"]).success();
    let other_seed = digest(&project, "target/dev.duckdb");
    for (same, other) in one_thread[0].iter().zip(&other_seed[0]) {
        assert_ne!(same, other, "another seed must give other rows");
    }
}

#[test]
fn append_adds_later_days_for_the_same_users_and_titles() {
    let project =
        streaming_project("    users: 500\n    content: 40\n    events: 7000\n    days: 14\n");
    project.sb(&["seed"]).success();
    let users_before = digest(&project, "target/dev.duckdb")[0][0].clone();

    project
        .sb(&["seed", "--append", "--days", "3"])
        .success()
        .stdout_contains("APPEND (1500 rows)");
    assert_eq!(
        project.query(
            "select count(*), count(distinct event_id), max(event_id), cast(max(timestamp) as date)::varchar,
                    count(*) filter (where timestamp >= date '2026-01-15')
             from synthetic.viewing_events"
        ),
        rows(&[["8500", "8500", "8500", "2026-01-17", "1500"]])
    );
    assert_eq!(digest(&project, "target/dev.duckdb")[0][0], users_before);

    // Again: the next three days.
    project.sb(&["seed", "--append", "--days", "3"]).success();
    assert_eq!(
        project.query(
            "select cast(max(timestamp) as date)::varchar, count(*) from synthetic.viewing_events"
        ),
        rows(&[["2026-01-20", "10000"]])
    );
}

#[test]
fn append_without_a_first_seed_says_what_to_do() {
    let project = streaming_project("    users: 10\n    events: 10\n");
    let output = project.sb(&["seed", "--append"]);
    output.code(1).no_panic();
    assert!(
        output
            .all_output()
            .contains("run `sb seed` without --append first"),
        "{}",
        output.all_output()
    );
}

#[test]
fn models_read_the_synthetic_source_and_build_runs_after_the_seed() {
    let project = streaming_project("    users: 200\n    content: 20\n    events: 2000\n    days: 5\n")
        .file(
            "models/device_mix.sql",
            "select device_type, count(*) as events from {{ source('synthetic', 'viewing_events') }} group by 1",
        );
    project.sb(&["build"]).success().stdout_contains("PASS=4");
    assert_eq!(
        project.query("select sum(events) from device_mix"),
        rows(&[["2000"]])
    );
    // Selecting only the model does not regenerate the data.
    project
        .sb(&["build", "-s", "device_mix"])
        .success()
        .stdout_contains("PASS=1");
    project
        .sb(&["seed", "-s", "source:synthetic", "--events", "1000"])
        .success();
    assert_eq!(
        project.query("select count(*) from synthetic.viewing_events"),
        rows(&[["1000"]])
    );
    let ls = project.sb(&["ls", "--resource-type", "source"]);
    ls.success()
        .stdout_contains("synthetic.users")
        .stdout_contains("synthetic.viewing_events");
}

#[test]
fn settings_errors_point_at_project_yml() {
    for (settings, message, help) in [
        (
            "    users: -5\n",
            "`users` in `synthetic.streaming` must be a whole number of at least 1",
            "project.yml:11:5",
        ),
        (
            "    evnts: 10\n",
            "unknown setting `evnts`",
            "did you mean `events`",
        ),
        (
            "    plans: {Basic: 0.5, Premium: 0.4}\n",
            "the shares in `plans` add up to 0.9000, not 1",
            "project.yml:11:5",
        ),
        (
            "    start_date: 2026-13-01\n",
            "`start_date` in `synthetic.streaming` must be a date",
            "project.yml:11:5",
        ),
    ] {
        let project = streaming_project(settings);
        let output = project.sb(&["seed"]);
        output.code(2).no_panic();
        let all = output.all_output();
        assert!(all.contains(message), "{settings}: {all}");
        assert!(all.contains(help), "{settings}: {all}");
    }
}
