//! `sb run --dry-run` / `sb build --dry-run`: each selected model's bytes
//! as the warehouse estimates them, and the total; nothing is built.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use super::{Outcome, finish, open_adapter, select};
use crate::compile::CompiledProject;
use crate::diag::Diagnostics;
use crate::execute::{self, ConnectionPool, RunOptions};
use crate::report::Reporter;
use crate::resource::{Materialized, NodeId, ResourceType};
use crate::session::Session;

pub fn exec(
    compiled: &CompiledProject,
    session: &Session,
    reporter: &Reporter,
    clock: Instant,
) -> Result<Outcome, Diagnostics> {
    let common = &session.flags;
    let selected: BTreeSet<NodeId> = select(compiled, session, &[ResourceType::Model], reporter)?
        .into_iter()
        .filter(|&i| {
            compiled.nodes[i].config.materialized() != Materialized::Ephemeral
                && compiled.nodes[i].compiled.is_some()
        })
        .collect();
    let adapter = open_adapter(&compiled.project, session, reporter)?;
    let pool = ConnectionPool::new(adapter.as_ref());
    let options = RunOptions {
        threads: session.threads(compiled.project.target.threads),
        fail_fast: common.fail_fast,
        full_refresh: common.full_refresh,
        tests_gate_children: false,
    };
    reporter.info(&format!(
        "Dry run of {} on target `{}` ({}): nothing is built",
        finish::count_of(selected.len(), &[ResourceType::Model]),
        compiled.project.target.name,
        compiled.project.target.kind.as_str()
    ));
    let results = execute::run_selected(
        compiled,
        &pool,
        &selected,
        &[],
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
        finish::count_of(estimated, &[ResourceType::Model])
    ));
    finish::finish(
        compiled,
        &session.invocation,
        &results,
        clock,
        reporter,
        &finish::count_of(results.len(), &[ResourceType::Model]),
    )
}
