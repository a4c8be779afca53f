//! sb: a declarative SQL-model build tool.
//!
//! # Overview: the pipeline and who owns what
//!
//! The modules form one-way layers (README "Architecture"; checked by
//! `tests/it/layers.rs`): a module uses its own layer and those below.
//!
//! **Commands**
//! - [`cli`]: clap definitions of every command and flag.
//! - [`session`]: one invocation: flags, the environment (read there and
//!   nowhere else), the invocation id, the interrupt handle.
//! - [`commands`]: one file per command (`commands/<cmd>.rs`, a short `exec`);
//!   selection, opening the warehouse and the closing summary are shared.
//!
//! **Stages**
//! - [`compile`]: parse render, final config, relations and
//!   config checks against the dialect (`resolve`), ephemeral CTEs, `target/compiled`.
//! - [`execute`]: the parallel [`execute::scheduler`] (skips downstream of a
//!   failure, for synthetic loads too), model builds, seed loads, dry runs,
//!   warehouse errors mapped to files, and data tests ([`execute::testing`],
//!   batched per model in [`execute::batch`]).
//! - [`docs`]: `sb docs`, the static site: pages, catalog, lineage graph, dashboards.
//! - [`artifacts`]: `manifest.json`, `run_results.json`, `junit.xml`.
//! - [`synth`]: the synthesizer's load and its streaming tables.
//! - [`table`]: `sb show`'s text table.
//!
//! **Project and templates**
//! - [`project`]: `project.yml` ([`project::settings`], rendered by
//!   [`project::render`]) or a dbt project's `dbt_project.yml`
//!   ([`project::dbt_project`]) and `profiles.yml` ([`project::profiles`]),
//!   one target reader for both ([`project::target`]), installed dbt
//!   packages ([`project::packages`]), file discovery, folder config, schema
//!   YAML -> nodes (tests included: [`project::data_tests`]), `synthetic:`
//!   ([`project::synthetic`]).
//! - [`jinja`]: the one minijinja environment; `ref`, `source`, `config`,
//!   macros as modules.
//! - [`graph`]: the DAG (order, cycles), the selector grammar and `state:`.
//!
//! **Warehouses and output**
//! - [`adapter`]: the warehouse traits and types, the dialect capability
//!   table ([`adapter::dialect`]), DuckDB, BigQuery, and the built-in generic
//!   tests ([`adapter::macros`]: one table of them, and their SQL macros).
//! - [`report`]: the only writer of user-facing output: events to a text or
//!   a JSON sink.
//! - [`profile`]: `-v` timings.
//!
//! **Bottom**
//! - [`diag`]: diagnostics with file, line, column and help; did-you-mean.
//! - [`resource`]: node kinds and materializations.
//! - [`interrupt`]: SIGINT and SIGTERM: one listener, the flag, the cancel hooks.
//! - [`secrets`]: the secret values every output masks.
//! - [`scan`]: every lexical scan of Jinja source (block headers, literal
//!   dispatch names, `ref`/`source` calls).
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
pub mod secrets;
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
    let code = match commands::execute(&cli.command, &session, &reporter) {
        Ok(commands::Outcome::Success) => EXIT_OK,
        Ok(commands::Outcome::Failed) => EXIT_FAILED,
        Err(diagnostics) => {
            for diagnostic in &diagnostics.0 {
                reporter.diagnostic(diagnostic);
            }
            EXIT_INVALID
        }
    };
    // An interrupted run finished what it could (results written, summary
    // printed); its exit code says it was interrupted.
    match interrupt::requested() {
        Some(signal) => {
            reporter.warning(&format!(
                "interrupted by {}: nodes that had not started were not run",
                interrupt::signal_name(signal)
            ));
            ExitCode::from(interrupt::exit_code(signal))
        }
        None => ExitCode::from(code),
    }
}
