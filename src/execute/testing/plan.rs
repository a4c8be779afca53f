//! Planning a test run: which selected tests are batchable built-ins, and
//! which of them share one query (the tests of one node that wait on the
//! same selected nodes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use super::batch::{self, BatchTest};
use super::{Batch, TestPlan};
use crate::adapter::macros::GenericTestKind;
use crate::compile::CompiledProject;
use crate::resource::{Materialized, NodeId, ResourceType};
use crate::scan::{self, BlockKind};

impl<'a> TestPlan<'a> {
    /// Plans `selected` (tests among them; other nodes are ignored). With
    /// `batching` off every test runs its own query.
    pub fn new(compiled: &'a CompiledProject, selected: &BTreeSet<NodeId>, batching: bool) -> Self {
        let mut plan = Self {
            compiled,
            batches: Vec::new(),
            batch_of: HashMap::new(),
        };
        if !batching {
            return plan;
        }
        let overridden = overridden_tests(compiled);
        let mut keys: BTreeMap<(NodeId, Vec<NodeId>), usize> = BTreeMap::new();
        for &index in selected {
            let Some((attached, test)) = plan.batch_test(index, &overridden) else {
                continue;
            };
            let waits: Vec<NodeId> = compiled.nodes[index]
                .depends_on
                .iter()
                .copied()
                .filter(|p| selected.contains(p))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let Some(relation) = compiled.nodes[attached].relation.clone() else {
                continue;
            };
            let batch = *keys.entry((attached, waits)).or_insert_with(|| {
                plan.batches.push(Batch {
                    id: String::new(),
                    attached,
                    relation,
                    tests: Vec::new(),
                    outcome: OnceLock::new(),
                });
                plan.batches.len() - 1
            });
            plan.batches[batch].tests.push(test);
            plan.batch_of.insert(index, batch);
        }
        let mut per_node: HashMap<NodeId, usize> = HashMap::new();
        for batch in &mut plan.batches {
            let n = per_node.entry(batch.attached).or_default();
            *n += 1;
            let id = &compiled.project.nodes[batch.attached].unique_id;
            batch.id = if *n == 1 {
                format!("batch:{id}")
            } else {
                format!("batch:{id}#{n}")
            };
        }
        plan
    }

    /// The batchable form of test `index`, with the node it tests.
    fn batch_test(
        &self,
        index: NodeId,
        overridden: &HashSet<String>,
    ) -> Option<(NodeId, BatchTest)> {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let test = node.generic_test.as_ref()?;
        let config = &compiled.nodes[index].config;
        if overridden.contains(&test.test_name)
            || GenericTestKind::named(&test.test_name).is_none()
            || stores_failures(config)
            || config.get("fail_calc").is_some()
            || compiled.nodes[index].render_at_execution
        {
            return None;
        }
        let attached = &compiled.project.nodes[test.attached];
        let real = match attached.resource_type {
            ResourceType::Seed | ResourceType::Source | ResourceType::Snapshot => true,
            ResourceType::Model => {
                compiled.nodes[test.attached].config.materialized() != Materialized::Ephemeral
            }
            ResourceType::Test | ResourceType::Analysis | ResourceType::UnitTest => false,
        };
        if !real {
            return None;
        }
        let check = batch::check_of(test, |to| self.relation_named(index, to))?;
        let where_clause = config
            .get("where")
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|w| !w.trim().is_empty());
        Some((
            test.attached,
            BatchTest {
                index,
                check,
                where_clause,
            },
        ))
    }

    /// The rendered relation of `ref('x')` or `source('s', 't')` in the
    /// arguments of test `test`.
    fn relation_named(&self, test: NodeId, call: &str) -> Option<String> {
        self.compiled.catalog.rendered_relation_of_call(call, test)
    }
}

/// Whether a test keeps its failing rows in a table.
pub(super) fn stores_failures(config: &crate::project::NodeConfig) -> bool {
    matches!(config.get("store_failures"), Some(Value::Bool(true)))
        || config
            .get("store_failures_as")
            .and_then(Value::as_str)
            .is_some_and(|s| s == "table")
}

/// The built-in tests a project redefines: its own `{% test name %}`, or a
/// `default__`/adapter-specific `test_name` macro. sb's batched SQL would
/// not match them, so they run their own queries.
fn overridden_tests(compiled: &CompiledProject) -> HashSet<String> {
    let kind = compiled.project.target.kind.as_str();
    let mut out = HashSet::new();
    for file in &compiled.project.macro_files {
        for header in scan::block_headers(&file.text) {
            let name = header.name.text;
            if header.kind == BlockKind::Test {
                out.insert(name.to_string());
                continue;
            }
            for prefix in [
                "test_".to_string(),
                "default__test_".to_string(),
                format!("{kind}__test_"),
            ] {
                if let Some(test) = name.strip_prefix(&prefix) {
                    out.insert(test.to_string());
                }
            }
        }
    }
    out
}
