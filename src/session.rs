//! One invocation of sb, gathered once before any work starts: the command's
//! flags, the environment variables sb reads, the invocation id, the thread
//! count asked for on the command line, and the interrupt flag. Environment
//! variables are read here and nowhere else; the stages below receive plain
//! values from the session.

use serde_json::{Map, Value, json};

use crate::artifacts::Invocation;
use crate::cli::{Command, CommonArgs};

/// The environment variable that points sb at another BigQuery endpoint.
pub const BIGQUERY_API_URL_ENV: &str = "SB_BIGQUERY_API_URL";

/// The environment variables sb reads, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `NO_COLOR` is set to something non-empty: no colours on a terminal.
    pub no_color: bool,
    /// `SB_BIGQUERY_API_URL`: the service root of another endpoint.
    pub bigquery_api_url: Option<String>,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        Self {
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            bigquery_api_url: std::env::var(BIGQUERY_API_URL_ENV).ok(),
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
