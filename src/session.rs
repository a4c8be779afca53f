//! One invocation of sb, gathered once before any work starts: the command's
//! flags, the environment variables sb reads, the invocation id, the thread
//! count asked for on the command line, and the interrupt handle. Environment
//! variables are read here and nowhere else; the stages below receive plain
//! values from the session.

use serde_json::{Map, Value, json};

use crate::artifacts::Invocation;
use crate::cli::{Command, CommonArgs};
use crate::interrupt::Interrupt;
use crate::project::EnvVars;

use std::path::PathBuf;

use crate::adapter::bigquery::settings::{API_URL_ENV, CredentialPaths, RETRY_INITIAL_MS_ENV};

/// The environment variables sb reads, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `NO_COLOR` is set to something non-empty: no colours on a terminal.
    pub no_color: bool,
    /// `SB_BIGQUERY_API_URL` (another endpoint) and
    /// `SB_BIGQUERY_RETRY_INITIAL_MS` (the first retry's delay).
    pub bigquery: crate::adapter::bigquery::Overrides,
    /// Every variable, for `env_var()` in project.yml and templates.
    pub vars: EnvVars,
    /// `DBT_PROFILES_DIR`: where a dbt project's profiles.yml is, when
    /// `--profiles-dir` does not say.
    pub dbt_profiles_dir: Option<PathBuf>,
    /// `HOME`, for `~/.dbt/profiles.yml`.
    pub home: Option<PathBuf>,
    /// `SB_DUCKDB_LOCK_TIMEOUT`: how long to wait for another process to
    /// release a DuckDB file (60 s when unset).
    pub duckdb_lock_timeout: std::time::Duration,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        Self {
            vars: EnvVars::new(std::env::vars_os().filter_map(|(name, value)| {
                Some((name.into_string().ok()?, value.into_string().ok()?))
            })),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            dbt_profiles_dir: std::env::var_os("DBT_PROFILES_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            duckdb_lock_timeout: std::time::Duration::from_secs(
                std::env::var("SB_DUCKDB_LOCK_TIMEOUT")
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(60),
            ),
            bigquery: crate::adapter::bigquery::Overrides {
                api_url: std::env::var(API_URL_ENV).ok(),
                retry_initial: std::env::var(RETRY_INITIAL_MS_ENV)
                    .ok()
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(std::time::Duration::from_millis),
                credentials: CredentialPaths {
                    named_key: std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
                        .map(PathBuf::from),
                    gcloud_config: std::env::var_os("CLOUDSDK_CONFIG")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME")
                                .map(|home| PathBuf::from(home).join(".config/gcloud"))
                        }),
                },
            },
        }
    }
}

/// Everything one run of `sb <command>` knows before it loads the project.
#[derive(Debug)]
pub struct Session {
    /// The command's name as `run_results.json` spells it (`run`, `build`, ...).
    pub command: &'static str,
    /// The flags every command shares.
    pub flags: CommonArgs,
    pub env: Environment,
    /// The id and start time written into every artifact of this run.
    pub invocation: Invocation,
}

impl Session {
    pub fn new(command: &Command, env: Environment) -> Self {
        // Secret variables may be used (in profiles, `env_var()`), never shown.
        for (name, value) in env.vars.iter() {
            if crate::secrets::is_secret_name(name) {
                crate::secrets::register(value);
            }
        }
        let flags = command.common().clone();
        let name = command.name();
        Self {
            command: name,
            invocation: invocation(name, &flags),
            flags,
            env,
        }
    }

    /// Worker threads: `--threads` when given, else the target's `threads`.
    pub fn threads(&self, target_threads: usize) -> usize {
        self.flags.threads.unwrap_or(target_threads)
    }

    /// The process's interrupt handle. Its Ctrl-C listener starts on the
    /// first call, by the stage that can cancel work (the BigQuery adapter);
    /// until then Ctrl-C keeps its default effect.
    pub fn interrupt(&self) -> Interrupt {
        Interrupt::install()
    }

    /// Whether `--select` or `--exclude` narrows the run.
    pub fn has_selection(&self) -> bool {
        !(self.flags.select.is_empty() && self.flags.exclude.is_empty())
    }
}

/// The invocation record of `command`, with the flags dbt records in `args`.
fn invocation(command: &str, common: &CommonArgs) -> Invocation {
    let mut args = Map::new();
    args.insert("which".into(), Value::from(command));
    args.insert("select".into(), json!(common.select));
    args.insert("exclude".into(), json!(common.exclude));
    args.insert("target".into(), json!(common.target));
    args.insert("full_refresh".into(), json!(common.full_refresh));
    args.insert("threads".into(), json!(common.threads));
    Invocation::new(command, args)
}
