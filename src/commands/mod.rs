//! Each command, composed from the library stages: one file per command
//! with a short `exec`, plus the steps several commands share (loading,
//! selection, opening the warehouse, the closing summary). Every command
//! returns an [`Outcome`] or the diagnostics that stopped it; `lib::main`
//! turns those into the exit code.

mod build;
mod clean;
mod compile;
mod debug;
mod defer;
mod deps;
mod diff;
mod docs;
mod dry_run;
mod finish;
mod hooks;
mod ls;
mod nodes;
mod plan;
mod retry;
mod run;
mod seed;
mod select;
mod show;
mod source_freshness;
mod synthetic;
mod test;
mod warehouse;

use serde_json::{Map, Value};

use crate::cli::Command;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::project::{LoadOptions, Project};
use crate::report::Reporter;
use crate::session::Session;

pub use select::select;
pub use warehouse::open_adapter;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything ran; warnings allowed.
    Success,
    /// A model, seed or error-severity test failed.
    Failed,
}

pub fn execute(
    command: &Command,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    match command {
        Command::Compile(_) => compile::exec(session, reporter),
        Command::Ls(args) => ls::exec(args, session, reporter),
        Command::Run(_) => run::exec(session, reporter),
        Command::Snapshot(_) => run::exec_snapshots(session, reporter),
        Command::Seed(args) => seed::exec(args, session, reporter),
        Command::Test(args) => test::exec(args, session, reporter),
        Command::Build(args) => build::exec(args, session, reporter),
        Command::Show(args) => show::exec(args, session, reporter),
        Command::Clean(_) => clean::exec(session, reporter),
        Command::Debug(_) => debug::exec(session, reporter),
        Command::Deps(_) => deps::exec(session, reporter),
        Command::Docs(args) => docs::exec(args, session, reporter),
        Command::Diff(args) => diff::exec(args, session, reporter),
        Command::Retry(args) => retry::exec(args, session, reporter),
        Command::Source(args) => match &args.command {
            crate::cli::SourceCommand::Freshness(freshness) => {
                source_freshness::exec(freshness, session, reporter)
            }
        },
    }
}

/// The project folder, target and `--vars` the flags ask for.
fn load_options(session: &Session) -> Result<LoadOptions, Diagnostic> {
    let common = &session.flags;
    let project_dir = match &common.project_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| Diagnostic::error(format!("cannot read the current folder: {e}")))?,
    };
    let vars = match &common.vars {
        None => Map::new(),
        Some(text) => match yaml_serde::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) | Err(_) => {
                return Err(Diagnostic::error(format!(
                    "--vars must be a YAML mapping, got `{text}`"
                ))
                .help("write it like --vars '{start_date: 2026-02-01, limit: 10}'"));
            }
        },
    };
    Ok(LoadOptions {
        project_dir,
        target: common.target.clone(),
        vars,
        bigquery: session.env.bigquery.clone(),
        env: session.env.vars.clone(),
        profiles: crate::project::profiles::ProfileSearch {
            flag_dir: common.profiles_dir.clone(),
            env_dir: session.env.dbt_profiles_dir.clone(),
            home: session.env.home.clone(),
        },
    })
}

/// Loads the project named by the session's flags, and prints what loading
/// found worth a warning.
fn load_project(session: &Session, reporter: &Reporter) -> Result<Project, Diagnostics> {
    let options = load_options(session)?;
    let project = Project::load(&options)?;
    for warning in project
        .settings
        .warnings
        .iter()
        .chain(&project.target.warnings)
    {
        reporter.diagnostic(warning);
    }
    Ok(project)
}

/// Loads and compiles the project named by the session's flags.
fn compile_project(session: &Session, reporter: &Reporter) -> Result<CompiledProject, Diagnostics> {
    let project = load_project(session, reporter)?;
    let compiled = crate::compile::compile(project, &[])?;
    for warning in &compiled.warnings {
        reporter.diagnostic(warning);
    }
    Ok(compiled)
}
