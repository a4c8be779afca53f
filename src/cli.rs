//! The command line: clap definitions for every command and the flags they
//! share. Parsing only; `commands` does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sb",
    version,
    about = "Build, test and document SQL models in DuckDB and BigQuery"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load seeds: CSV files under seeds/ (and the synthesizer, when configured)
    Seed(SeedArgs),
    /// Build the selected models in graph order
    Run(CommonArgs),
    /// Record the history of the selected snapshots (type-2 dimensions)
    Snapshot(CommonArgs),
    /// Run the selected data tests
    Test(TestArgs),
    /// Seed, run and test in graph order: a model's tests right after it
    Build(TestArgs),
    /// Render models to target/compiled without running them
    Compile(CommonArgs),
    /// List the selected nodes
    Ls(LsArgs),
    /// Print a model's first rows as a table
    Show(ShowArgs),
    /// Remove the target folder
    Clean(CommonArgs),
    /// Show the configuration and check the connection
    Debug(CommonArgs),
    /// Install the dbt packages of packages.yml into dbt_packages/
    Deps(CommonArgs),
    /// Write the docs site (pages, lineage graph, dashboards) to target/docs
    Docs(DocsArgs),
    /// Commands on sources: `sb source freshness`
    Source(SourceArgs),
    /// Show what changed since an earlier run (--state DIR): a diff of each
    /// modified node's compiled SQL; exit code 1 when anything differs
    Diff(DiffArgs),
    /// Run again the nodes that failed or were skipped in the last run
    /// (target/run_results.json), and only those
    Retry(TestArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// One line per node: what changed and how many lines
    #[arg(long)]
    pub stat: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    #[command(subcommand)]
    pub command: SourceCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SourceCommand {
    /// Check how recently each source with a `freshness` was loaded
    Freshness(FreshnessArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FreshnessArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where to write the results (default: target/sources.json)
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

pub use crate::report::LogFormat;

/// `--threads N`: a whole number of at least 1 (nothing could run with 0).
fn thread_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("sb needs at least 1 thread: pass --threads 1 or more".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number of threads")),
    }
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args, Default)]
pub struct CommonArgs {
    /// Nodes to include (selection syntax: name, +name, tag:x, path:..., ...)
    #[arg(short = 's', long = "select", num_args = 1.., value_name = "SELECTOR")]
    pub select: Vec<String>,
    /// Nodes to leave out
    #[arg(long, num_args = 1.., value_name = "SELECTOR")]
    pub exclude: Vec<String>,
    /// Target from project.yml (default: `default_target`), or a dbt
    /// profile's output (default: the profile's `target:`)
    #[arg(short = 't', long)]
    pub target: Option<String>,
    /// Variables as YAML, e.g. '{start_date: 2026-02-01}'
    #[arg(long)]
    pub vars: Option<String>,
    /// Models built at once (default: the target's `threads`)
    #[arg(long, value_parser = thread_count)]
    pub threads: Option<usize>,
    /// Rebuild incremental models from scratch
    #[arg(long)]
    pub full_refresh: bool,
    /// Stop at the first failure
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
    /// Ask the warehouse (BigQuery) what each selected model would process,
    /// without running anything; refuse models over `maximum_bytes_billed`
    #[arg(long)]
    pub dry_run: bool,
    /// The project folder (default: the current folder)
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// The folder holding a dbt project's profiles.yml (default:
    /// DBT_PROFILES_DIR, else the project folder, else ~/.dbt)
    #[arg(long, value_name = "DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// An earlier target/ folder, for state: and result: selectors,
    /// `--defer` and `sb diff`
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Resolve ref() to a model that is neither selected nor built in this
    /// target to its relation in the --state manifest (e.g. production)
    #[arg(long, requires = "state")]
    pub defer: bool,
    /// With --defer: read every unselected parent from the --state
    /// manifest, even one this target has built
    #[arg(long, requires = "defer")]
    pub favor_state: bool,
    /// `sb run` / `sb build`: print what would be done to each selected
    /// node (and with --state, what changed), without writing anything
    #[arg(long)]
    pub plan: bool,
    /// `--plan` on BigQuery: the on-demand price in dollars per TiB processed
    #[arg(long, value_name = "DOLLARS", default_value_t = 6.25)]
    pub price_per_tib: f64,
    /// Output format of progress lines
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print only errors and the summary
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print more detail (SQL of failures, timings)
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Add later days of synthetic events to the loaded ones
    #[arg(long)]
    pub append: bool,
    /// Number of synthetic users (overrides project.yml)
    #[arg(long)]
    pub users: Option<u64>,
    /// Number of synthetic titles (overrides project.yml)
    #[arg(long)]
    pub content: Option<u64>,
    /// Number of synthetic viewing events (overrides project.yml)
    #[arg(long)]
    pub events: Option<u64>,
    /// Random seed of the synthesizer (overrides project.yml)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Days of events: with --append, how many days to add (default 7)
    #[arg(long)]
    pub days: Option<u32>,
}

/// Flags of the commands that run data tests.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Run every test in its own query instead of one query per model
    #[arg(long)]
    pub no_batch: bool,
    /// `sb test`: run only the unit tests (on the embedded DuckDB, no warehouse)
    #[arg(long)]
    pub unit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LsOutput {
    #[default]
    Name,
    Path,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to print for each node
    #[arg(long, value_enum, default_value_t = LsOutput::Name)]
    pub output: LsOutput,
    /// Only nodes of these kinds (model, seed, source, test)
    #[arg(long, num_args = 1..)]
    pub resource_type: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Rows to print
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DocsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Serve the site on 127.0.0.1 after writing it (until interrupted)
    #[arg(long)]
    pub serve: bool,
    /// Port for --serve (0 picks a free one)
    #[arg(long, default_value_t = 8080, requires = "serve")]
    pub port: u16,
}

impl Command {
    pub fn common(&self) -> &CommonArgs {
        match self {
            Self::Seed(args) => &args.common,
            Self::Ls(args) => &args.common,
            Self::Show(args) => &args.common,
            Self::Test(args) | Self::Build(args) | Self::Retry(args) => &args.common,
            Self::Docs(args) => &args.common,
            Self::Diff(args) => &args.common,
            Self::Source(args) => match &args.command {
                SourceCommand::Freshness(freshness) => &freshness.common,
            },
            Self::Run(common)
            | Self::Snapshot(common)
            | Self::Compile(common)
            | Self::Clean(common)
            | Self::Debug(common)
            | Self::Deps(common) => common,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Seed(_) => "seed",
            Self::Run(_) => "run",
            Self::Snapshot(_) => "snapshot",
            Self::Test(_) => "test",
            Self::Build(_) => "build",
            Self::Compile(_) => "compile",
            Self::Ls(_) => "ls",
            Self::Show(_) => "show",
            Self::Clean(_) => "clean",
            Self::Debug(_) => "debug",
            Self::Deps(_) => "deps",
            Self::Docs(_) => "docs",
            Self::Source(_) => "source freshness",
            Self::Diff(_) => "diff",
            Self::Retry(_) => "retry",
        }
    }
}
