//! What each command does, on top of the library stages: load and compile
//! the project, select nodes, run them, write artifacts, and say how it went.
//! Every command returns an [`Outcome`] or the diagnostics that stopped it;
//! `lib::main` turns those into the exit code.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::adapter::{Adapter, AdapterKind};
use crate::artifacts::{self, Invocation};
use crate::cli::{Command, CommonArgs, DocsArgs, LsArgs, LsOutput, ShowArgs};
use crate::compile::{self, CompiledProject};
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::execute::testing::{self, TestPlan};
use crate::execute::{self, ConnectionPool, NodeResult, RunOptions, Status};
use crate::graph::selector::{self, IndirectSelection};
use crate::graph::state::ManifestState;
use crate::project::{LoadOptions, Project};
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::synth;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything ran; warnings allowed.
    Success,
    /// A model, seed or error-severity test failed.
    Failed,
}

pub fn execute(command: &Command, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let common = command.common();
    match command {
        Command::Compile(_) => compile_command(common, reporter),
        Command::Ls(args) => ls(args, reporter),
        Command::Run(_) => run(common, reporter, &[ResourceType::Model], "run", None, true),
        Command::Seed(args) => run(
            common,
            reporter,
            &[ResourceType::Seed],
            "seed",
            Some(SynthRequest {
                overrides: synth::Overrides {
                    users: args.users,
                    content: args.content,
                    events: args.events,
                    seed: args.seed,
                    days: args.days,
                },
                append: args.append,
            }),
            true,
        ),
        Command::Test(args) => run(
            common,
            reporter,
            &[ResourceType::Test],
            "test",
            None,
            !args.no_batch,
        ),
        Command::Build(args) => run(
            common,
            reporter,
            &[ResourceType::Seed, ResourceType::Model, ResourceType::Test],
            "build",
            Some(SynthRequest::default()),
            !args.no_batch,
        ),
        Command::Show(args) => show(args, reporter),
        Command::Clean(_) => clean(common, reporter),
        Command::Debug(_) => debug(common, reporter),
        Command::Docs(args) => docs(args, reporter),
    }
}

fn load_options(common: &CommonArgs) -> Result<LoadOptions, Diagnostic> {
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
    })
}

/// Loads and compiles the project named by the common flags.
pub fn compile_project(common: &CommonArgs) -> Result<CompiledProject, Diagnostics> {
    let options = load_options(common)?;
    let project = Project::load(&options)?;
    compile::compile(project, &[])
}

/// The enabled nodes of `kinds` picked by `--select`/`--exclude`.
pub fn select(
    compiled: &CompiledProject,
    common: &CommonArgs,
    kinds: &[ResourceType],
    reporter: &Reporter,
) -> Result<BTreeSet<usize>, Diagnostics> {
    let eligible = |index: usize| {
        let node = &compiled.project.nodes[index];
        kinds.contains(&node.resource_type) && compiled.nodes[index].config.enabled()
    };
    if common.select.is_empty() && common.exclude.is_empty() {
        return Ok((0..compiled.project.nodes.len())
            .filter(|&i| eligible(i))
            .collect());
    }
    let kinds_for_selector = kinds;
    let parsed =
        selector::parse(&common.select, &common.exclude).map_err(|e| selector_diagnostic(&e))?;
    let state = match &common.state {
        Some(dir) => Some(ManifestState::load(dir, &compiled.graph_nodes, |i| {
            artifacts::checksum(&compiled.project.nodes[i].raw_code)
        })?),
        None => None,
    };
    let selection = parsed
        .select(
            &compiled.graph_nodes,
            &compiled.dag,
            state.as_ref().map(|s| s as &dyn selector::StateComparator),
            IndirectSelection::Eager,
            kinds_for_selector,
        )
        .map_err(|e| selector_diagnostic(&e))?;
    for term in &selection.unmatched_terms {
        reporter.warning(&format!("the selector `{term}` matched no nodes"));
    }
    Ok(selection
        .nodes
        .into_iter()
        .filter(|&i| eligible(i))
        .collect())
}

fn selector_diagnostic(error: &selector::SelectorError) -> Diagnostics {
    let mut diagnostic = Diagnostic::error(format!("invalid selector: {}", error.message));
    if let Some(help) = &error.help {
        diagnostic = diagnostic.help(help.clone());
    }
    Diagnostics::from(diagnostic)
}

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

fn compile_command(common: &CommonArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let clock = Instant::now();
    let mut stages = Stages::new(clock);
    let options = load_options(common)?;
    let project = Project::load(&options)?;
    stages.mark("load");
    let compiled = compile::compile(project, &[])?;
    stages.mark("render");
    let selected: Vec<usize> = select(
        &compiled,
        common,
        &[ResourceType::Model, ResourceType::Test],
        reporter,
    )?
    .into_iter()
    .collect();
    // The SQL files and the manifest are independent: write them side by side.
    let (sql, manifest) = rayon::join(
        || compile::write_compiled(&compiled, &selected),
        || artifacts::write_manifest(&compiled, &invocation("compile", common)),
    );
    sql?;
    manifest?;
    stages.mark("write SQL and manifest");
    if reporter.verbose() {
        reporter.info(&format!("timings: {stages}"));
    }
    for &index in &selected {
        for line in &compiled.nodes[index].logs {
            reporter.info(line);
        }
    }
    // `-s model` also picks the model's tests; the model's SQL is the answer.
    let models: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|&i| compiled.project.nodes[i].resource_type == ResourceType::Model)
        .collect();
    let single = match models.as_slice() {
        [one] => Some(*one),
        [] if selected.len() == 1 => Some(selected[0]),
        _ => None,
    };
    if !common.select.is_empty()
        && let Some(index) = single
        && let Some(sql) = &compiled.nodes[index].compiled
    {
        reporter.result(sql);
    }
    reporter.info(&format!(
        "Compiled {} to {}/compiled in {:.2}s.",
        count_of(selected.len(), &kinds_of(&compiled, &selected)),
        compiled.project.settings.target_path,
        clock.elapsed().as_secs_f64()
    ));
    // The process ends here: freeing every node, string and template one by
    // one took ~60 ms of a 10,000-model compile and gives nothing back.
    std::mem::forget(compiled);
    Ok(Outcome::Success)
}

fn ls(args: &LsArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(&args.common)?;
    let kinds: Vec<ResourceType> = if args.resource_type.is_empty() {
        ResourceType::ALL.to_vec()
    } else {
        let mut kinds = Vec::new();
        for text in &args.resource_type {
            let kind = ResourceType::parse(text).ok_or_else(|| {
                Diagnostic::error(format!("unknown resource type `{text}`"))
                    .help("use model, seed, source or test")
            })?;
            kinds.push(kind);
        }
        kinds
    };
    let selected = select(&compiled, &args.common, &kinds, reporter)?;
    let mut lines = Vec::new();
    for index in selected {
        let node = &compiled.project.nodes[index];
        let line = match args.output {
            LsOutput::Name => match &node.source {
                Some(source) => format!("source:{}.{}", source.source_name, node.name),
                None => node.name.clone(),
            },
            LsOutput::Path => node.original_file_path.clone(),
            LsOutput::Json => json!({
                "name": node.name,
                "resource_type": node.resource_type.as_str(),
                "package_name": node.package_name,
                "original_file_path": node.original_file_path,
                "unique_id": node.unique_id,
                "alias": compiled.nodes[index].relation.as_ref().map(|r| r.identifier.clone()),
                "config": Value::Object(compiled.nodes[index].config.0.clone()),
                "tags": compiled.nodes[index].config.tags(),
                "depends_on": {"nodes": compiled.nodes[index].depends_on.iter().map(|&p| compiled.project.nodes[p].unique_id.clone()).collect::<Vec<_>>()},
            })
            .to_string(),
        };
        lines.push(line);
    }
    if !lines.is_empty() {
        reporter.result(&lines.join("\n"));
    }
    Ok(Outcome::Success)
}

/// Opens the warehouse of the project's target.
pub fn open_adapter(
    project: &Project,
    invocation_id: &str,
) -> Result<Box<dyn Adapter>, Diagnostics> {
    match project.target.kind {
        AdapterKind::Duckdb => {
            let path = project
                .target
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(":memory:"));
            let adapter = crate::adapter::duckdb::DuckDbAdapter::open(&path).map_err(|error| {
                Diagnostic::error(format!(
                    "cannot open the DuckDB file {}: {}",
                    path.display(),
                    error.message
                ))
                .help("check the target's `path` in project.yml; another process may hold the file open")
            })?;
            Ok(Box::new(adapter))
        }
        AdapterKind::Bigquery => {
            let target = &project.target;
            let settings = crate::adapter::bigquery::Settings::from_fields(
                &target.fields,
                std::env::var(crate::adapter::bigquery::API_URL_ENV).ok(),
            )
            .map_err(|why| {
                Diagnostic::error(format!("target `{}`: {why}", target.name))
                    .help("see SPEC's `prod` target for the BigQuery settings")
            })?;
            let log: crate::adapter::bigquery::client::Log =
                std::sync::Arc::new(|message: &str| crate::report::adapter_note(message));
            let adapter =
                crate::adapter::bigquery::BigQueryAdapter::open(settings, invocation_id, log)
                    .map_err(|error| {
                        Diagnostic::error(format!(
                            "cannot connect to BigQuery (target `{}`): {}",
                            target.name, error.message
                        ))
                        .help("set `keyfile` to a service-account key, or sign in with application default credentials; `api_url` (or SB_BIGQUERY_API_URL) points sb at an emulator")
                    })?;
            Ok(Box::new(adapter))
        }
    }
}

/// The synthesizer's part of `sb seed` / `sb build`.
#[derive(Debug, Clone, Copy, Default)]
struct SynthRequest {
    overrides: synth::Overrides,
    append: bool,
}

fn run(
    common: &CommonArgs,
    reporter: &Reporter,
    kinds: &[ResourceType],
    command: &str,
    synth_request: Option<SynthRequest>,
    batching: bool,
) -> Result<Outcome, Diagnostics> {
    let clock = Instant::now();
    let invocation = invocation(command, common);
    let compiled = compile_project(common)?;
    if common.dry_run {
        return dry_run(&compiled, common, reporter, &invocation, clock);
    }
    let synthetic = match synth_request {
        Some(request) => synthetic_stage(&compiled, common, reporter, request)?,
        None => None,
    };
    let mut selected: BTreeSet<usize> = select(&compiled, common, kinds, reporter)?
        .into_iter()
        .filter(|&i| compiled.nodes[i].config.materialized() != "ephemeral")
        .collect();
    let models: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|&i| compiled.nodes[i].compiled.is_some())
        .collect();
    compile::write_compiled(&compiled, &models)?;
    let adapter = open_adapter(&compiled.project, &invocation.id)?;
    let pool = ConnectionPool::new(adapter.as_ref());
    let is_test = |i: &usize| compiled.project.nodes[*i].resource_type == ResourceType::Test;
    if selected.iter().any(is_test) {
        let mut rebuilt: BTreeSet<usize> =
            selected.iter().copied().filter(|i| !is_test(i)).collect();
        if let Some(stage) = &synthetic {
            rebuilt.extend(stage.nodes);
        }
        let invalid = testing::check_columns(&compiled, &selected, &rebuilt, &pool);
        if !invalid.is_empty() {
            return Err(Diagnostics(invalid));
        }
    }
    let options = RunOptions {
        threads: common.threads.unwrap_or(compiled.project.target.threads),
        fail_fast: common.fail_fast,
        full_refresh: common.full_refresh,
        tests_gate_children: command == "build",
    };
    let mut synth_results = Vec::new();
    if let Some(stage) = &synthetic {
        synth_results = run_synthesizer(&compiled, &pool, stage, options.threads, reporter)?;
        let failed: Vec<usize> = synth_results
            .iter()
            .filter(|r| r.status.is_failure())
            .map(|r| r.index)
            .collect();
        // What is built on a table that failed to load is skipped, as
        // downstream of a failed seed; with --fail-fast nothing else runs.
        for failed_index in failed {
            let cause = &compiled.project.nodes[failed_index].name;
            let downstream: Vec<usize> = if options.fail_fast {
                selected.iter().copied().collect()
            } else {
                compiled
                    .dag
                    .descendants(failed_index, None)
                    .into_iter()
                    .filter(|i| selected.contains(i))
                    .collect()
            };
            for index in downstream {
                selected.remove(&index);
                synth_results.push(NodeResult::new(
                    index,
                    Status::Skipped,
                    format!("skipped because `{cause}` failed"),
                ));
            }
        }
    }
    let buildable: BTreeSet<usize> = selected.iter().copied().filter(|i| !is_test(i)).collect();
    create_schemas(&compiled, &buildable, &pool)?;
    let plan = TestPlan::new(&compiled, &selected, batching);
    let mut results = if selected.is_empty() {
        if synthetic.is_none() {
            reporter.warning(&format!(
                "nothing to {command}: the selection matched no {}",
                count_of(0, kinds).trim_start_matches("0 ")
            ));
        }
        Vec::new()
    } else {
        reporter.info(&format!(
            "Running {} with {} on target `{}` ({})",
            count_of(selected.len(), kinds),
            count_of(options.threads, &[]),
            compiled.project.target.name,
            compiled.project.target.kind.as_str()
        ));
        let full_refresh = options.full_refresh;
        execute::run_selected(
            &compiled,
            &pool,
            &selected,
            options,
            reporter,
            &|index, pool| {
                if compiled.project.nodes[index].resource_type == ResourceType::Test {
                    plan.run(index, pool)
                } else {
                    execute::build_node(&compiled, index, pool, full_refresh)
                }
            },
        )
    };
    drop(pool);
    let mut what = count_of(results.len(), kinds);
    if !synth_results.is_empty() {
        let tables = synth_results
            .iter()
            .filter(|r| compiled.project.nodes[r.index].resource_type == ResourceType::Source)
            .count();
        what = format!(
            "{tables} synthetic table{} and {what}",
            if tables == 1 { "" } else { "s" }
        );
        synth_results.append(&mut results);
        results = synth_results;
    }
    let outcome = finish(&compiled, &invocation, &results, clock, reporter, &what)?;
    if kinds.contains(&ResourceType::Test) {
        artifacts::write_junit(
            &compiled,
            &invocation,
            &results,
            clock.elapsed().as_secs_f64(),
        )?;
    }
    Ok(outcome)
}

/// `sb run --dry-run` / `sb build --dry-run`: each selected model's bytes
/// as the warehouse estimates them, and the total; nothing is built.
fn dry_run(
    compiled: &CompiledProject,
    common: &CommonArgs,
    reporter: &Reporter,
    invocation: &Invocation,
    clock: Instant,
) -> Result<Outcome, Diagnostics> {
    let selected: BTreeSet<usize> = select(compiled, common, &[ResourceType::Model], reporter)?
        .into_iter()
        .filter(|&i| {
            compiled.nodes[i].config.materialized() != "ephemeral"
                && compiled.nodes[i].compiled.is_some()
        })
        .collect();
    let adapter = open_adapter(&compiled.project, &invocation.id)?;
    let pool = ConnectionPool::new(adapter.as_ref());
    let options = RunOptions {
        threads: common.threads.unwrap_or(compiled.project.target.threads),
        fail_fast: common.fail_fast,
        full_refresh: common.full_refresh,
        tests_gate_children: false,
    };
    reporter.info(&format!(
        "Dry run of {} on target `{}` ({}): nothing is built",
        count_of(selected.len(), &[ResourceType::Model]),
        compiled.project.target.name,
        compiled.project.target.kind.as_str()
    ));
    let results = execute::run_selected(
        compiled,
        &pool,
        &selected,
        options,
        reporter,
        &|index, pool| execute::dry_run_node(compiled, index, pool),
    );
    drop(pool);
    let total: u64 = results
        .iter()
        .filter_map(|r| r.extra.get("bytes_processed").and_then(Value::as_u64))
        .sum();
    let estimated = results
        .iter()
        .filter(|r| r.extra.contains_key("bytes_processed"))
        .count();
    reporter.info(&format!(
        "Dry run total: {} ({total} bytes) for {}",
        execute::human_bytes(total),
        count_of(estimated, &[ResourceType::Model])
    ));
    finish(
        compiled,
        invocation,
        &results,
        clock,
        reporter,
        &count_of(results.len(), &[ResourceType::Model]),
    )
}

/// The synthesizer's settings and tables, when this command runs it.
struct SyntheticStage {
    settings: synth::StreamingSettings,
    /// Node indices of `users`, `content`, `viewing_events`.
    nodes: [usize; 3],
    append: bool,
    append_days: u32,
}

/// Whether the synthesizer runs: when `synthetic:` is configured and the
/// selection is empty or picks one of its tables (`-s source:synthetic`).
fn synthetic_stage(
    compiled: &CompiledProject,
    common: &CommonArgs,
    reporter: &Reporter,
    request: SynthRequest,
) -> Result<Option<SyntheticStage>, Diagnostics> {
    let Some(settings) = synth::settings(&compiled.project.settings, &request.overrides)? else {
        if request.append {
            return Err(Diagnostics::from(
                Diagnostic::error("`sb seed --append` needs the synthesizer, and project.yml has no `synthetic:` block")
                    .at(Location::file_only(std::path::Path::new(crate::project::settings::PROJECT_FILE)))
                    .help("add `synthetic: {streaming: {users: 10000, events: 100000}}` to project.yml, or drop --append"),
            ));
        }
        return Ok(None);
    };
    let find = |table: &str| {
        compiled.project.nodes.iter().position(|n| {
            n.source
                .as_ref()
                .is_some_and(|s| s.source_name == synth::SOURCE_NAME && n.name == table)
        })
    };
    let (Some(users), Some(content), Some(events)) = (
        find(synth::TABLES[0]),
        find(synth::TABLES[1]),
        find(synth::TABLES[2]),
    ) else {
        return Ok(None);
    };
    let nodes = [users, content, events];
    if !(common.select.is_empty() && common.exclude.is_empty()) {
        let chosen = select(compiled, common, &[ResourceType::Source], reporter)?;
        if !nodes.iter().any(|n| chosen.contains(n)) {
            return Ok(None);
        }
    }
    Ok(Some(SyntheticStage {
        append_days: request.overrides.days.unwrap_or(if request.append {
            synth::DEFAULT_APPEND_DAYS
        } else {
            settings.days
        }),
        settings: synth::StreamingSettings {
            days: if request.append {
                settings.days
            } else {
                request.overrides.days.unwrap_or(settings.days)
            },
            ..settings
        },
        nodes,
        append: request.append,
    }))
}

/// Generates and loads the synthetic tables, one result line per table.
fn run_synthesizer(
    compiled: &CompiledProject,
    pool: &ConnectionPool<'_>,
    stage: &SyntheticStage,
    threads: usize,
    reporter: &Reporter,
) -> Result<Vec<NodeResult>, Diagnostics> {
    let relation = |i: usize| compiled.project.relation_of(&compiled.project.nodes[i]);
    let targets = synth::Targets {
        kind: compiled.project.target.kind,
        users: relation(stage.nodes[0]),
        content: relation(stage.nodes[1]),
        events: relation(stage.nodes[2]),
    };
    create_schemas(compiled, &stage.nodes.iter().copied().collect(), pool)?;
    let mode = if stage.append {
        synth::Mode::Append {
            days: stage.append_days,
        }
    } else {
        synth::Mode::Fresh
    };
    let s = &stage.settings;
    reporter.info(&format!(
        "Synthesizing {} users, {} titles and {} viewing events ({} days from {}, seed {}){}",
        s.users,
        s.content,
        if stage.append {
            "more".to_owned()
        } else {
            s.events.to_string()
        },
        if stage.append {
            stage.append_days
        } else {
            s.days
        },
        s.start_date,
        s.seed,
        if stage.append { ", appended" } else { "" }
    ));
    let connection = pool
        .take()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    let progress = reporter.progress("viewing events");
    let loads = {
        let mut guard = connection
            .lock()
            .map_err(|_| Diagnostic::error("connection lock poisoned"))?;
        guard.set_node(Some("source.synthetic"));
        synth::load(
            guard.as_mut(),
            &targets,
            s,
            mode,
            threads.max(1),
            &|done, total| progress.update(done, total),
        )
    };
    progress.finish();
    pool.give_back(connection);
    let total = loads.len();
    let mut results = Vec::new();
    for (position, load) in loads.into_iter().enumerate() {
        let table_index = synth::TABLES
            .iter()
            .position(|t| *t == load.table)
            .unwrap_or(0);
        let index = stage.nodes[table_index];
        let mut result = execute::record_outcome(compiled, index, load.result);
        result.seconds = load.seconds;
        execute::print_line(compiled, reporter, &result, position + 1, total);
        results.push(result);
    }
    Ok(results)
}

/// Creates, one at a time, every schema the selected nodes build into, so
/// parallel workers never race to create the same one.
fn create_schemas(
    compiled: &CompiledProject,
    selected: &BTreeSet<usize>,
    pool: &ConnectionPool<'_>,
) -> Result<(), Diagnostics> {
    let schemas: BTreeSet<(Option<String>, String)> = selected
        .iter()
        .filter_map(|&i| compiled.nodes[i].relation.as_ref())
        .map(|r| (r.database.clone(), r.schema.clone()))
        .collect();
    if schemas.is_empty() {
        return Ok(());
    }
    let connection = pool
        .take()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    for (database, schema) in &schemas {
        let created = connection
            .lock()
            .map_err(|_| Diagnostic::error("connection lock poisoned"))?
            .create_schema(database.as_deref(), schema);
        created.map_err(|e| {
            Diagnostic::error(format!("cannot create schema `{schema}`: {}", e.message))
                .help("check that the target's database is writable")
        })?;
    }
    pool.give_back(connection);
    Ok(())
}

/// The kinds among `nodes`, for [`count_of`]; models when there are none.
fn kinds_of(compiled: &CompiledProject, nodes: &[usize]) -> Vec<ResourceType> {
    let kinds: BTreeSet<ResourceType> = nodes
        .iter()
        .map(|&i| compiled.project.nodes[i].resource_type)
        .collect();
    if kinds.is_empty() {
        vec![ResourceType::Model]
    } else {
        kinds.into_iter().collect()
    }
}

/// "1 model", "3 models", "6 nodes" (several kinds), "1 thread".
fn count_of(count: usize, kinds: &[ResourceType]) -> String {
    let noun = match kinds {
        [] => "thread",
        [kind] => kind.as_str(),
        _ => "node",
    };
    let suffix = if count == 1 { "" } else { "s" };
    format!("{count} {noun}{suffix}")
}

/// Writes artifacts, prints failures and the summary, and decides the outcome.
fn finish(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    clock: Instant,
    reporter: &Reporter,
    what: &str,
) -> Result<Outcome, Diagnostics> {
    let elapsed = clock.elapsed().as_secs_f64();
    artifacts::write_manifest(compiled, invocation)?;
    artifacts::write_run_results(compiled, invocation, results, elapsed)?;
    for result in results {
        if let Some(diagnostic) = &result.diagnostic {
            reporter.diagnostic(diagnostic);
        }
    }
    let count = |status: Status| results.iter().filter(|r| r.status == status).count();
    let counts = [
        ("PASS", count(Status::Success) + count(Status::Pass)),
        ("WARN", count(Status::Warn)),
        ("ERROR", count(Status::Error) + count(Status::Fail)),
        ("SKIP", count(Status::Skipped)),
    ];
    reporter.summary(&counts, elapsed, what);
    Ok(if results.iter().any(|r| r.status.is_failure()) {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn show(args: &ShowArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(&args.common)?;
    let selected = select(
        &compiled,
        &args.common,
        &[ResourceType::Model, ResourceType::Seed],
        reporter,
    )?;
    let index = match selected.len() {
        1 => selected.into_iter().next().unwrap_or_default(),
        0 => {
            return Err(Diagnostics::from(
                Diagnostic::error("`sb show` needs one model: no node matched")
                    .help("pass -s MODEL"),
            ));
        }
        n => {
            return Err(Diagnostics::from(
                Diagnostic::error(format!(
                    "`sb show` prints one model, but the selection matched {n}"
                ))
                .help("pass -s MODEL"),
            ));
        }
    };
    let adapter = open_adapter(&compiled.project, &invocation("show", &args.common).id)?;
    let mut connection = adapter
        .connect()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    let sql = match compiled.project.nodes[index].resource_type {
        ResourceType::Seed => format!(
            "select * from {}",
            compiled.project.target.kind.render_relation(
                compiled.nodes[index]
                    .relation
                    .as_ref()
                    .ok_or_else(|| Diagnostic::error("seed has no relation"))?
            )
        ),
        _ => compiled
            .render_for_execution(index, false, None)
            .map(|(sql, _)| sql)?,
    };
    let wrapped = format!(
        "select * from (\n{}\n) as sb_show limit {}",
        sql.trim().trim_end_matches(';'),
        args.limit
    );
    match connection.query(&wrapped, Some(args.limit)) {
        Ok(result) => {
            reporter.result(&crate::table::render(&result));
            Ok(Outcome::Success)
        }
        Err(error) => {
            let failure = execute::adapter_failure(&compiled, index, &error, None);
            if let Some(diagnostic) = failure.diagnostic {
                reporter.diagnostic(&diagnostic);
            }
            Ok(Outcome::Failed)
        }
    }
}

/// `sb docs`: writes the site, then serves it when `--serve` asks.
fn docs(args: &DocsArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(&args.common)?;
    let site = crate::docs::generate(&compiled, reporter)?;
    if args.serve {
        crate::docs::serve::serve(&site.dir, args.port, reporter)?;
    }
    Ok(Outcome::Success)
}

fn clean(common: &CommonArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let options = load_options(common)?;
    let (settings, _) = crate::project::settings::load(
        &options.project_dir,
        options.target.as_deref(),
        &options.vars,
    )?;
    let target = options.project_dir.join(&settings.target_path);
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| Diagnostic::error(format!("cannot remove {}: {e}", target.display())))?;
        reporter.info(&format!("Removed {}/", settings.target_path));
    } else {
        reporter.info(&format!(
            "Nothing to clean: {}/ does not exist",
            settings.target_path
        ));
    }
    Ok(Outcome::Success)
}

fn debug(common: &CommonArgs, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let options = load_options(common)?;
    let project = Project::load(&options)?;
    reporter.result(&format!("sb {}", env!("CARGO_PKG_VERSION")));
    reporter.result(&format!(
        "project: {} ({})",
        project.settings.name,
        project.root.display()
    ));
    let count = |kind: ResourceType| {
        project
            .nodes
            .iter()
            .filter(|n| n.resource_type == kind)
            .count()
    };
    reporter.result(&format!(
        "found: {} models, {} seeds, {} sources, {} macro files",
        count(ResourceType::Model),
        count(ResourceType::Seed),
        count(ResourceType::Source),
        project.macro_files.len()
    ));
    reporter.result(&format!(
        "target: {} (type {})",
        project.target.name,
        project.target.kind.as_str()
    ));
    for (key, value) in &project.target.fields {
        let shown = if matches!(
            key.as_str(),
            "keyfile" | "keyfile_json" | "token" | "password" | "private_key"
        ) {
            "<redacted>".to_string()
        } else {
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string)
        };
        reporter.result(&format!("  {key}: {shown}"));
    }
    let adapter = open_adapter(&project, &invocation("debug", common).id)?;
    let check = adapter
        .connect()
        .and_then(|mut c| c.query("select 1 as ok", Some(1)));
    match check {
        Ok(_) => {
            reporter.result("connection: OK");
            Ok(Outcome::Success)
        }
        Err(error) => Err(Diagnostics::from(
            Diagnostic::error(format!("connection test failed: {}", error.message))
                .help("check the target settings in project.yml"),
        )),
    }
}

/// Wall time and peak memory after each step of a command, for `-v`.
struct Stages {
    clock: Instant,
    last: std::time::Duration,
    last_cpu: Option<f64>,
    /// Name, wall seconds, CPU seconds of all threads, peak KiB.
    marks: Vec<(&'static str, f64, Option<f64>, Option<u64>)>,
}

impl Stages {
    fn new(clock: Instant) -> Self {
        Self {
            clock,
            last: std::time::Duration::ZERO,
            last_cpu: cpu_seconds(),
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, name: &'static str) {
        let now = self.clock.elapsed();
        let seconds = now.saturating_sub(self.last).as_secs_f64();
        self.last = now;
        let cpu = cpu_seconds();
        let spent = cpu.zip(self.last_cpu).map(|(now, before)| now - before);
        self.last_cpu = cpu;
        self.marks.push((name, seconds, spent, peak_rss_kib()));
    }
}

/// CPU time of the whole process so far (user + system, every thread), in
/// seconds, where the OS says (`/proc/self/stat`, in ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |at: usize| fields.get(at)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

impl std::fmt::Display for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, seconds, cpu, peak)) in self.marks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} {seconds:.3}s")?;
            let mut details = Vec::new();
            if let Some(cpu) = cpu {
                details.push(format!("cpu {cpu:.2}s"));
            }
            if let Some(kib) = peak {
                details.push(format!("peak {} MB", kib / 1024));
            }
            if !details.is_empty() {
                write!(f, " ({})", details.join(", "))?;
            }
        }
        Ok(())
    }
}

/// The process's peak resident set so far (`VmHWM`), where the OS says.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
