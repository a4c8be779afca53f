//! The test harness: a [`Project`] in a temporary folder, built file by file
//! or copied from `tests/fixtures/`, the `sb` binary run inside it with a
//! time limit, and a way to look into the project's DuckDB file.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;
use sb::adapter::Adapter;
use sb::adapter::duckdb::DuckDbAdapter;
use tempfile::TempDir;

/// project.yml of a fresh [`Project::new`].
pub const DEFAULT_PROJECT_YML: &str = "\
name: sb_test
default_target: dev
targets:
  dev:
    type: duckdb
    path: target/dev.duckdb
    schema: main
    threads: 4
";

/// A run of sb that takes longer than this is a hang, and a failed test.
const TIME_LIMIT: Duration = Duration::from_mins(1);

/// Environment variables the tests use; removed from every sb run so the
/// machine's environment cannot change an outcome.
const TEST_ENV_VARS: &[&str] = &[
    "SB_TEST_GREETING",
    "SB_TEST_PROD_DB",
    "SB_TEST_MISSING",
    "SB_BIGQUERY_API_URL",
    "SB_BIGQUERY_RETRY_INITIAL_MS",
    "SB_BQ_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "DBT_PROFILES_DIR",
    "SB_TEST_PROD_SCHEMA",
    "DBT_PACKAGE_HUB_URL",
];

/// A project in a temporary folder, deleted when dropped.
pub struct Project {
    dir: TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project with the default project.yml (DuckDB at
    /// `target/dev.duckdb`, schema `main`, 4 threads).
    pub fn new() -> Self {
        Self::bare().file("project.yml", DEFAULT_PROJECT_YML)
    }

    /// A folder with no files at all.
    pub fn bare() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sb-e2e-")
            .tempdir()
            .expect("create a temporary folder");
        Self { dir }
    }

    /// A copy of `tests/fixtures/<name>/` (its `target/`, if any, left out).
    pub fn fixture(name: &str) -> Self {
        let project = Self::bare();
        let from = fixture_dir(name);
        assert!(
            from.join("project.yml").is_file() || from.join("dbt_project.yml").is_file(),
            "fixture {} has no project.yml or dbt_project.yml",
            from.display()
        );
        copy_tree(&from, project.path());
        project
    }

    /// A copy of the example project at the repository root (project.yml,
    /// models, macros, seeds, dashboards), without the Rust crate around it.
    pub fn example() -> Self {
        let project = Self::bare();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(root.join("project.yml"), project.path().join("project.yml"))
            .expect("copy project.yml");
        for folder in ["models", "macros", "seeds", "dashboards"] {
            let destination = project.path().join(folder);
            std::fs::create_dir_all(&destination).expect("create folder");
            copy_tree(&root.join(folder), &destination);
        }
        // The project's singular tests sit beside the crate's own tests.
        std::fs::create_dir_all(project.path().join("tests")).expect("create tests");
        for entry in std::fs::read_dir(root.join("tests")).expect("read tests") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sql") {
                let name = path.file_name().expect("file name");
                std::fs::copy(&path, project.path().join("tests").join(name)).expect("copy test");
            }
        }
        if root.join("dashboards").is_dir() {
            copy_tree(&root.join("dashboards"), &project.path().join("dashboards"));
        }
        project
    }

    /// The jaffle fixture with `shop.payments`, the table its one source
    /// reads, already in the database (amounts in cents).
    pub fn jaffle() -> Self {
        let project = Self::fixture("jaffle");
        project.execute(
            "create schema if not exists shop;
             create or replace table shop.payments as
             select * from (values (1, 1, 1000), (2, 2, 2000), (3, 3, 500), (4, 4, 2500), (5, 4, 500))
                 as t(id, order_id, amount);",
        );
        project
    }

    /// Writes `contents` to `relative` (creating folders), replacing any file there.
    pub fn file(self, relative: &str, contents: impl AsRef<[u8]>) -> Self {
        self.write(relative, contents);
        self
    }

    /// Like [`Project::file`], for a project already in use.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(&path, contents).expect("write file");
    }

    /// Replaces the first `from` in file `relative` with `to`; panics when
    /// the file does not contain `from`, so a test cannot edit nothing.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path().join(relative);
        let text = std::fs::read_to_string(&path).expect("read file to edit");
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write edited file");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path().join(relative).exists()
    }

    /// The text of a project file.
    pub fn read(&self, relative: &str) -> String {
        let path = self.path().join(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// A project file parsed as JSON.
    pub fn read_json(&self, relative: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(relative))
            .unwrap_or_else(|e| panic!("{relative} is not JSON: {e}"))
    }

    /// Runs `sb ARGS` inside the project folder.
    pub fn sb(&self, args: &[&str]) -> Output {
        self.sb_with_env(args, &[])
    }

    /// Runs `sb ARGS` inside the project folder with extra environment variables.
    pub fn sb_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sb"));
        command.args(args).current_dir(self.path());
        self.run(command, args, env)
    }

    /// Runs `sb ARGS` from another folder, so only `--project-dir` can find the project.
    pub fn sb_from(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sb"));
        command.args(args).current_dir(cwd);
        self.run(command, args, &[])
    }

    /// Starts `sb ARGS` in the project folder and returns at once, for tests
    /// that signal or kill it ([`send_signal`], [`wait_within`]); the same
    /// environment as [`Project::sb`], its output piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sb"));
        command.args(args).current_dir(self.path());
        prepare(&mut command, &[]);
        command.spawn().expect("start the sb binary")
    }

    fn run(&self, mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Output {
        prepare(&mut command, env);
        let started = Instant::now();
        let mut child = command.spawn().expect("start the sb binary");
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let err_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sb") {
                break status;
            }
            if started.elapsed() > TIME_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`sb {}` did not finish within {TIME_LIMIT:?}: it hangs",
                    args.join(" ")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8_lossy(&out_reader.join().expect("read stdout")).into_owned();
        let stderr = String::from_utf8_lossy(&err_reader.join().expect("read stderr")).into_owned();
        Output {
            args: args.join(" "),
            code: status.code(),
            stdout,
            stderr,
            elapsed: started.elapsed(),
            project_dir: self.path().to_path_buf(),
        }
    }

    /// Runs a query against the project's DuckDB file (`target/dev.duckdb`)
    /// and returns every row as strings (`NULL` for null).
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.query_in("target/dev.duckdb", sql)
    }

    /// [`Project::query`] against another database file of the project.
    pub fn query_in(&self, database: &str, sql: &str) -> Vec<Vec<String>> {
        let path = self.path().join(database);
        assert!(
            path.is_file(),
            "no database at {}: did sb run?",
            path.display()
        );
        let adapter =
            DuckDbAdapter::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut connection = adapter.connect().unwrap_or_else(|e| panic!("connect: {e}"));
        let result = connection
            .query(sql, None)
            .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"));
        result
            .rows
            .iter()
            .map(|row| row.iter().map(cell).collect())
            .collect()
    }

    /// Runs `;`-separated statements against the project's DuckDB file
    /// (creating it): the world outside sb, such as the tables a source reads.
    pub fn execute(&self, sql: &str) {
        let path = self.path().join("target/dev.duckdb");
        let adapter =
            DuckDbAdapter::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut connection = adapter.connect().unwrap_or_else(|e| panic!("connect: {e}"));
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            connection
                .execute(statement)
                .unwrap_or_else(|e| panic!("statement failed: {e}\n{statement}"));
        }
    }

    /// `BASE TABLE`, `VIEW`, or `None` when `schema.name` does not exist.
    pub fn relation_type(&self, schema: &str, name: &str) -> Option<String> {
        let rows = self.query(&format!(
            "select table_type from information_schema.tables where table_schema = '{schema}' and table_name = '{name}'"
        ));
        rows.into_iter().next().map(|mut row| row.remove(0))
    }

    /// Every `schema.table` in the database, sorted.
    pub fn relations(&self) -> Vec<String> {
        self.query(
            "select table_schema || '.' || table_name from information_schema.tables \
             where table_catalog = current_database() order by 1",
        )
        .into_iter()
        .map(|mut row| row.remove(0))
        .collect()
    }
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "NULL".to_string(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What every sb the tests start gets: none of the machine's variables the
/// tests use, no colours, `env`, no stdin, its output piped.
fn prepare(command: &mut Command, env: &[(&str, &str)]) {
    for name in TEST_ENV_VARS {
        command.env_remove(name);
    }
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
}

/// Sends `signal` (`-INT`, `-TERM`, ...) to a started sb.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} failed");
}

/// Waits for a started sb to end within `limit` (killing it and failing
/// the test otherwise, with `what` it was waiting for); its output.
pub fn wait_within(
    mut child: std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().expect("wait for sb").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("sb did not end within {}s {what}", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("sb's output")
}

/// Copies the folder `from` into `to` (which exists), leaving out any
/// `target/` folder.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture folder") {
        let entry = entry.expect("read fixture entry");
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let source = entry.path();
        let destination = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&destination).expect("create folder");
            copy_tree(&source, &destination);
        } else {
            std::fs::copy(&source, &destination).expect("copy fixture file");
        }
    }
}

/// What one run of sb did.
pub struct Output {
    pub args: String,
    /// `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    project_dir: PathBuf,
}

impl Output {
    /// Asserts exit code 0.
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts the exit code.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, Some(expected), "unexpected exit code\n{self}");
        self
    }

    /// Asserts sb did not panic or die from a signal.
    pub fn no_panic(&self) -> &Self {
        assert!(self.code.is_some(), "sb was killed by a signal\n{self}");
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "sb panicked\n{self}"
        );
        assert!(
            !self.stderr.contains("RUST_BACKTRACE"),
            "sb panicked\n{self}"
        );
        self
    }

    pub fn stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    pub fn stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    /// stdout and stderr together, for messages whose stream is not fixed.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The non-empty lines of stdout.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// stderr with the project folder and timings replaced, for snapshots.
    pub fn normalized_stderr(&self) -> String {
        normalize(&self.stderr, &self.project_dir)
    }

    /// stdout with the project folder and timings replaced, for snapshots.
    pub fn normalized_stdout(&self) -> String {
        normalize(&self.stdout, &self.project_dir)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "--- sb {} (exit {:?}, {:?})",
            self.args, self.code, self.elapsed
        )?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

static TIMING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+\.\d+s").expect("valid regex"));

/// Replaces the temporary project folder with `[PROJECT]` and timings such
/// as `0.01s` with `[TIME]`, so snapshots hold only what is stable.
pub fn normalize(text: &str, project_dir: &Path) -> String {
    let mut text = text.to_string();
    let mut dirs = vec![project_dir.to_path_buf()];
    if let Ok(real) = project_dir.canonicalize() {
        dirs.insert(0, real);
    }
    for dir in dirs {
        text = text.replace(&dir.to_string_lossy().into_owned(), "[PROJECT]");
    }
    TIMING.replace_all(&text, "[TIME]").into_owned()
}

/// Snapshots a run's normalized stderr under the test's name (`name` when given).
#[macro_export]
macro_rules! assert_stderr_snapshot {
    ($output:expr) => {
        insta::assert_snapshot!($output.normalized_stderr())
    };
    ($name:expr, $output:expr) => {
        insta::assert_snapshot!($name, $output.normalized_stderr())
    };
}

/// Sorted lines, for output whose order is not part of the contract.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Rows as `&str` slices for comparing with literals.
pub fn rows<const N: usize>(rows: &[[&str; N]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|c| (*c).to_string()).collect())
        .collect()
}
