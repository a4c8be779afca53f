//! sb: a declarative SQL-model build tool.
//!
//! # Overview: the pipeline and who owns what
//!
//! - [`cli`]: clap definitions of every command and flag.
//! - [`project`]: `project.yml`, file discovery, folder config, schema YAML -> nodes
//!   (tests included: [`project::data_tests`]).
//! - [`jinja`]: the one minijinja environment; `ref`, `source`, `config`, macros.
//! - [`compile`]: parse render, final config and relations, the DAG, compiled SQL.
//! - [`graph`]: the DAG (order, cycles) and the selector grammar.
//! - [`execute`]: the parallel scheduler, node builds through an adapter, and
//!   data tests (batched per model in [`execute::batch`], run in [`execute::testing`]).
//! - [`adapter`]: the warehouse traits, the DuckDB implementation, and the
//!   built-in generic tests as dispatchable SQL macros (`adapter/macros/`).
//! - [`artifacts`]: `manifest.json`, `run_results.json`, `junit.xml`.
//! - [`report`]: the only writer of user-facing output.
//! - [`docs`]: `sb docs`, the static site: pages, lineage graph, dashboards.
//! - [`diag`]: diagnostics with file, line, column and help.
//! - [`interrupt`]: Ctrl-C: one listener, the flag, the cancel hooks.
//! - [`scan`]: the lexical scans of Jinja source (block headers, `ref`/`source` calls).
//! - [`commands`]: each command, composed from the stages above.
//!
//! Exit codes are decided here, in [`main`], and nowhere else.

pub mod adapter;
pub mod artifacts;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod diag;
pub mod docs;
pub mod execute;
pub mod graph;
pub mod interrupt;
pub mod jinja;
pub mod profile;
pub mod project;
pub mod report;
pub mod resource;
pub mod scan;
pub mod session;
pub mod synth;
pub mod table;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Exit code: everything ran (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// Exit code: a model, seed or error-severity test failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the project, the command line or the connection is invalid.
pub const EXIT_INVALID: u8 = 2;

/// Runs sb with `args` (including the program name) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            });
        }
    };
    let session = session::Session::new(&cli.command, session::Environment::from_process());
    let common = &session.flags;
    let reporter = report::Reporter::new(
        common.log_format,
        common.quiet,
        common.verbose,
        !session.env.no_color,
    );
    // Deep template recursion needs more stack than rayon's default.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(16 * 1024 * 1024)
        .build_global();
    match commands::execute(&cli.command, &session, &reporter) {
        Ok(commands::Outcome::Success) => ExitCode::from(EXIT_OK),
        Ok(commands::Outcome::Failed) => ExitCode::from(EXIT_FAILED),
        Err(diagnostics) => {
            for diagnostic in &diagnostics.0 {
                reporter.diagnostic(diagnostic);
            }
            ExitCode::from(EXIT_INVALID)
        }
    }
}
