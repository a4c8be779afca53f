//! `sb run --plan` / `sb build --plan`: what a run would do, with nothing
//! written. Each selected node, in graph order, with its action as the
//! relations in the target stand (create, replace, incremental merge, ...)
//! and, with `--state`, what changed since that run. On BigQuery each model
//! also gets a dry-run job (in parallel) for the bytes it would process and
//! their on-demand price at `--price-per-tib`, with the total.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use serde_json::Value;

use super::{Outcome, open_adapter, select};
use crate::adapter::{Adapter, AdapterKind, IncrementalStrategy, RelationKind};
use crate::artifacts;
use crate::compile::CompiledProject;
use crate::diag::Diagnostics;
use crate::execute::{self, ConnectionPool};
use crate::graph::state::ManifestState;
use crate::report::Reporter;
use crate::resource::{Materialized, NodeId, ResourceType};
use crate::session::Session;

const TIB: f64 = 1_099_511_627_776.0;

pub fn exec(
    compiled: &CompiledProject,
    kinds: &[ResourceType],
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let clock = Instant::now();
    let selected: BTreeSet<NodeId> = select(compiled, session, kinds, reporter)?
        .into_iter()
        .filter(|&i| compiled.nodes[i].config.materialized() != Materialized::Ephemeral)
        .collect();
    let state = match &session.flags.state {
        Some(dir) => Some(ManifestState::load(dir, &compiled.graph_nodes, || {
            artifacts::manifest_record(compiled)
        })?),
        None => None,
    };
    let target = &compiled.project.target;
    // A DuckDB file that is not there yet holds no relation: opening it
    // would make it, and a plan writes nothing.
    let missing_file = target.kind == AdapterKind::Duckdb
        && target.path.as_ref().is_none_or(|path| !path.exists());
    let adapter: Option<Box<dyn Adapter>> = if missing_file {
        None
    } else {
        Some(open_adapter(&compiled.project, session, reporter)?)
    };
    let order: Vec<NodeId> = compiled
        .dag
        .topological_order()
        .iter()
        .copied()
        .filter(|i| selected.contains(i))
        .collect();
    let existing = existing_relations(compiled, &order, adapter.as_deref());
    let bytes = match (target.kind, adapter.as_deref()) {
        (AdapterKind::Bigquery, Some(adapter)) => {
            estimate(compiled, adapter, &order, &existing, session)
        }
        _ => HashMap::new(),
    };
    reporter.info(&format!(
        "Plan for {} on target `{}` ({}): nothing is written",
        super::finish::count_of(order.len(), kinds),
        target.name,
        target.kind.as_str()
    ));
    let rate = session.flags.price_per_tib;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut total: u64 = 0;
    for &index in &order {
        let node = &compiled.project.nodes[index];
        let mut row = vec![
            node.resource_type.as_str().to_string(),
            node.display_name(),
            action(compiled, index, existing.get(&index).copied().flatten()),
        ];
        if let Some(state) = &state {
            row.push(match state.changes(index) {
                None => "new".to_string(),
                Some(changes) if changes.any() => {
                    format!("modified: {}", changes.names().join(", "))
                }
                Some(_) => "unchanged".to_string(),
            });
        }
        if target.kind == AdapterKind::Bigquery {
            match bytes.get(&index) {
                Some(Estimate::Bytes(processed)) => {
                    total += processed;
                    row.push(execute::human_bytes(*processed));
                    row.push(price(*processed, rate));
                }
                Some(Estimate::Unbuilt(parent)) => {
                    row.push(format!("bytes unknown until `{parent}` is built"));
                }
                Some(Estimate::Failed(message)) => row.push(format!("dry run failed: {message}")),
                None => {}
            }
            for (parent, field) in unfiltered_partitions(compiled, index) {
                row.push(format!(
                    "scans `{parent}` with no filter on its partition column `{field}`"
                ));
            }
        }
        rows.push(row);
    }
    let mut text = String::new();
    for line in crate::table::aligned_lines(&rows) {
        let _ = writeln!(text, "  {}", line.trim_end());
    }
    if target.kind == AdapterKind::Bigquery {
        let _ = write!(
            text,
            "Total: {} ({total} bytes), {} at ${rate}/TiB on demand",
            execute::human_bytes(total),
            price(total, rate)
        );
    }
    reporter.result(&text);
    let failed = bytes.values().any(|b| matches!(b, Estimate::Failed(_)));
    reporter.info(&format!("Planned in {:.2}s", clock.elapsed().as_secs_f64()));
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// Of each planned node and each of its parents, the kind of relation the
/// target holds for it (`None`: none, or no warehouse to ask).
fn existing_relations(
    compiled: &CompiledProject,
    order: &[NodeId],
    adapter: Option<&dyn Adapter>,
) -> HashMap<NodeId, Option<RelationKind>> {
    let mut connection = adapter.and_then(|a| a.connect().ok());
    let mut existing = HashMap::new();
    let nodes = order
        .iter()
        .flat_map(|&i| std::iter::once(i).chain(compiled.nodes[i].depends_on.iter().copied()));
    for index in nodes {
        if existing.contains_key(&index) {
            continue;
        }
        let kind = compiled.nodes[index]
            .relation
            .as_ref()
            .zip(connection.as_deref_mut())
            .and_then(|(relation, c)| c.relation_kind(relation).ok().flatten());
        existing.insert(index, kind);
    }
    existing
}

/// What running node `index` would do, its relation being `existing`.
fn action(compiled: &CompiledProject, index: NodeId, existing: Option<RelationKind>) -> String {
    let state = &compiled.nodes[index];
    let node = &compiled.project.nodes[index];
    let verb = |kind: &str| match existing {
        None => format!("create {kind}"),
        Some(RelationKind::View) if kind == "view" => "replace view".to_string(),
        Some(RelationKind::Table) if kind == "table" => "replace table".to_string(),
        Some(RelationKind::View) => format!("replace view with {kind}"),
        Some(RelationKind::Table) => format!("replace table with {kind}"),
    };
    match node.resource_type {
        ResourceType::Test => "test".to_string(),
        ResourceType::UnitTest => "unit test (embedded DuckDB)".to_string(),
        ResourceType::Seed => match existing {
            None => "load seed into a new table".to_string(),
            Some(_) => "load seed (replace its rows)".to_string(),
        },
        ResourceType::Snapshot => match existing {
            None => "create snapshot table".to_string(),
            Some(_) => "snapshot merge".to_string(),
        },
        _ => match state.config.materialized() {
            Materialized::View => verb("view"),
            Materialized::Incremental
                if existing == Some(RelationKind::Table)
                    && !state.config.full_refresh().unwrap_or(false) =>
            {
                let strategy = state
                    .config
                    .incremental_strategy()
                    .unwrap_or(IncrementalStrategy::Merge);
                format!("incremental {}", strategy.as_str())
            }
            _ => verb("table"),
        },
    }
}

/// The partitioned parents (by their `partition_by` config) model `index`
/// reads with no `where` naming their partition column: each a full scan.
/// A lexical check of the compiled SQL, so a filter sb cannot see (in a
/// macro's output it does see; on a join key) is a false alarm at worst.
fn unfiltered_partitions(compiled: &CompiledProject, index: NodeId) -> Vec<(String, String)> {
    if compiled.project.nodes[index].resource_type != ResourceType::Model {
        return Vec::new();
    }
    let sql = compiled.nodes[index]
        .compiled
        .as_deref()
        .unwrap_or_default();
    let lowered = sql.to_ascii_lowercase();
    let filters = lowered.find("where").map_or("", |at| &lowered[at..]);
    compiled.nodes[index]
        .depends_on
        .iter()
        .filter_map(|&parent| {
            let field = match compiled.nodes[parent].config.get("partition_by")? {
                Value::String(field) => field.clone(),
                other => other.get("field")?.as_str()?.to_string(),
            };
            let filtered =
                crate::scan::identifiers(filters).any(|w| w.eq_ignore_ascii_case(&field));
            (!filtered).then(|| (compiled.project.nodes[parent].display_name(), field))
        })
        .collect()
}

/// What a dry run says a model would process.
enum Estimate {
    Bytes(u64),
    /// A parent (named) is not in the warehouse yet: the run would build it
    /// first, so the model cannot be estimated before.
    Unbuilt(String),
    Failed(String),
}

/// Each model's dry-run bytes, in parallel jobs (the target's threads);
/// a model with an unbuilt parent is not asked about.
fn estimate(
    compiled: &CompiledProject,
    adapter: &dyn Adapter,
    order: &[NodeId],
    existing: &HashMap<NodeId, Option<RelationKind>>,
    session: &Session,
) -> HashMap<NodeId, Estimate> {
    let mut estimates = HashMap::new();
    let mut asked = Vec::new();
    for &index in order {
        if compiled.project.nodes[index].resource_type != ResourceType::Model
            || compiled.nodes[index].compiled.is_none()
        {
            continue;
        }
        let unbuilt = compiled.nodes[index].depends_on.iter().find(|p| {
            compiled.nodes[**p].config.materialized() != Materialized::Ephemeral
                && existing.get(p).copied().flatten().is_none()
        });
        match unbuilt {
            Some(&parent) => {
                let name = compiled.project.nodes[parent].display_name();
                estimates.insert(index, Estimate::Unbuilt(name));
            }
            None => asked.push(index),
        }
    }
    let pool = ConnectionPool::new(adapter);
    let threads = session.threads(compiled.project.target.threads).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let answers = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(asked.len()) {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&index) = asked.get(at) else { break };
                    let result = execute::dry_run_node(compiled, index, &pool);
                    let estimate = match result.extra.get("bytes_processed").and_then(Value::as_u64)
                    {
                        Some(bytes) => Estimate::Bytes(bytes),
                        None => Estimate::Failed(result.message.clone()),
                    };
                    if let Ok(mut answers) = answers.lock() {
                        answers.push((index, estimate));
                    }
                }
            });
        }
    });
    estimates.extend(answers.into_inner().unwrap_or_default());
    estimates
}

/// The on-demand price of `bytes` at `rate` dollars per TiB.
fn price(bytes: u64, rate: f64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let dollars = bytes as f64 / TIB * rate;
    format!("${dollars:.4}")
}
