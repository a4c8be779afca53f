//! The shared body of `sb seed`, `run`, `test` and `build`: compile, select,
//! load the synthesizer's tables when the command asks for them, check test
//! columns, then build and test the selected nodes in graph order and finish
//! with artifacts and the summary. Each command only says what it runs.

use std::collections::BTreeSet;
use std::time::Instant;

use super::hooks::{self, When};
use super::synthetic::{self, SynthRequest};
use super::warehouse::create_schemas;
use super::{Outcome, compile_project, dry_run, finish, open_adapter, select};
use super::{defer, plan};
use crate::adapter::Adapter;
use crate::adapter::duckdb::DuckDbAdapter;
use crate::diag::{Diagnostic, Diagnostics};
use crate::execute::testing::{self, TestPlan};
use crate::execute::{self, ConnectionPool, RunOptions};
use crate::report::Reporter;
use crate::resource::{Materialized, NodeId, ResourceType};
use crate::session::Session;

/// What a node-running command runs.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    /// The resource types it builds or tests.
    pub kinds: &'static [ResourceType],
    /// Whether (and how) the synthesizer loads its tables first.
    pub synthesize: Option<SynthRequest>,
    /// Tests of one model run in one query instead of one query each.
    pub batch_tests: bool,
    /// `sb build`: a failed error-severity test skips what is built on the
    /// data it tested.
    pub tests_gate_children: bool,
}

pub fn exec(work: &Work, session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let clock = Instant::now();
    let common = &session.flags;
    let kinds = work.kinds;
    let mut compiled = compile_project(session, reporter)?;
    if common.defer {
        let selected = select(&compiled, session, kinds, reporter)?;
        compiled = defer::apply(compiled, &selected, session, reporter)?;
    }
    if common.plan {
        return plan::exec(&compiled, kinds, session, reporter);
    }
    if common.dry_run {
        return dry_run::exec(&compiled, session, reporter, clock);
    }
    let synthetic = match work.synthesize {
        Some(request) => synthetic::stage(&compiled, session, reporter, request)?,
        None => None,
    };
    let selected: BTreeSet<NodeId> = select(&compiled, session, kinds, reporter)?
        .into_iter()
        .filter(|&i| compiled.nodes[i].config.materialized() != Materialized::Ephemeral)
        .collect();
    let models: Vec<NodeId> = selected
        .iter()
        .copied()
        .filter(|&i| compiled.nodes[i].compiled.is_some())
        .collect();
    crate::compile::write_compiled(&compiled, &models)?;
    // Unit tests alone need no warehouse: they run on an in-memory DuckDB,
    // whatever the target, and the project's run hooks stay out of it.
    let unit_only = kinds == [ResourceType::UnitTest];
    let adapter: Box<dyn Adapter> = if unit_only {
        let in_memory = DuckDbAdapter::open_in_memory()
            .map_err(|error| Diagnostics::from(Diagnostic::error(error.message)))?;
        Box::new(in_memory)
    } else {
        open_adapter(&compiled.project, session, reporter)?
    };
    let pool = ConnectionPool::new(adapter.as_ref());
    let is_test = |i: &NodeId| compiled.project.nodes[*i].resource_type == ResourceType::Test;
    if selected.iter().any(is_test) {
        let mut rebuilt: BTreeSet<NodeId> =
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
        threads: session.threads(compiled.project.target.threads),
        fail_fast: common.fail_fast,
        full_refresh: common.full_refresh,
        tests_gate_children: work.tests_gate_children,
    };
    let mut synth_results = match &synthetic {
        Some(stage) => synthetic::load(&compiled, &pool, stage, options.threads, reporter)?,
        None => Vec::new(),
    };
    let is_unit_test =
        |i: &NodeId| compiled.project.nodes[*i].resource_type == ResourceType::UnitTest;
    let buildable: BTreeSet<NodeId> = selected
        .iter()
        .copied()
        .filter(|i| !is_test(i) && !is_unit_test(i))
        .collect();
    create_schemas(&compiled, &buildable, &pool)?;
    if !unit_only {
        hooks::run(&compiled, &pool, When::Start, reporter)?;
    }
    let plan = TestPlan::new(&compiled, &selected, work.batch_tests);
    let mut results = if selected.is_empty() {
        if synthetic.is_none() {
            reporter.warning(&format!(
                "nothing to {}: the selection matched no {}",
                session.command,
                finish::count_of(0, kinds).trim_start_matches("0 ")
            ));
        }
        Vec::new()
    } else {
        reporter.info(&format!(
            "Running {} with {} on target `{}` ({})",
            finish::count_of(selected.len(), kinds),
            finish::count_of(options.threads, &[]),
            compiled.project.target.name,
            compiled.project.target.kind.as_str()
        ));
        let full_refresh = options.full_refresh;
        execute::run_selected(
            &compiled,
            &pool,
            &selected,
            &synth_results,
            options,
            reporter,
            &|index, pool| match compiled.project.nodes[index].resource_type {
                ResourceType::Test => plan.run(index, pool),
                ResourceType::UnitTest => execute::unit_test::run_unit_test(&compiled, index),
                _ => execute::build_node(&compiled, index, pool, full_refresh),
            },
        )
    };
    let end_hooks = if unit_only {
        Ok(())
    } else {
        hooks::run(&compiled, &pool, When::End(&results), reporter)
    };
    drop(pool);
    let mut what = finish::count_of(results.len(), kinds);
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
    let outcome = finish::finish(
        &compiled,
        &session.invocation,
        &results,
        clock,
        reporter,
        &what,
    )?;
    if kinds.contains(&ResourceType::Test) || kinds.contains(&ResourceType::UnitTest) {
        crate::artifacts::write_junit(
            &compiled,
            &session.invocation,
            &results,
            clock.elapsed().as_secs_f64(),
        )?;
    }
    // The nodes ran: a failed on-run-end is a failure of the run, not an
    // invalid project.
    if let Err(failed) = end_hooks {
        for diagnostic in &failed.0 {
            reporter.diagnostic(diagnostic);
        }
        return Ok(Outcome::Failed);
    }
    Ok(outcome)
}
