//! Applying a parsed selector to the graph: the union of terms, the
//! intersection of parts, the `+`/`@` graph operators, `--exclude`, and
//! dbt's indirect selection of tests (eager, cautious, buildable, empty).

use std::collections::BTreeSet;

use super::{
    IndirectSelection, Method, Part, Selection, Selector, SelectorError, StateComparator, Term,
    methods,
};
use crate::graph::{Dag, GraphNode};
use crate::resource::{NodeId, ResourceType};

/// Nodes selected directly, and tests waiting for all their parents
/// (cautious and buildable modes) to decide at the end.
#[derive(Debug, Default)]
struct Found {
    direct: BTreeSet<NodeId>,
    indirect: BTreeSet<NodeId>,
}

struct Context<'a> {
    nodes: &'a [GraphNode],
    dag: &'a Dag,
    state: Option<&'a dyn StateComparator>,
    indirect: IndirectSelection,
    /// Enabled nodes that are also in the graph.
    candidates: Vec<NodeId>,
}

impl Selector {
    /// True when no `--select` was given.
    pub fn selects_everything(&self) -> bool {
        self.select.is_empty()
    }

    fn uses_state(&self) -> bool {
        self.select
            .iter()
            .chain(&self.exclude)
            .flat_map(|term| &term.parts)
            .any(|part| matches!(part.method, Method::State(_) | Method::Result(_)))
    }

    /// Applies the selector. The result holds only enabled nodes whose type
    /// is in `resource_types`.
    pub fn select(
        &self,
        nodes: &[GraphNode],
        dag: &Dag,
        state: Option<&dyn StateComparator>,
        indirect: IndirectSelection,
        resource_types: &[ResourceType],
    ) -> Result<Selection, SelectorError> {
        if state.is_none() && self.uses_state() {
            return Err(SelectorError::new(
                "--state DIR is required for state: and result: selectors",
                "pass `--state` with the target folder of an earlier run, e.g. `--state prod-target/`",
            ));
        }
        let limit = nodes.len().min(dag.len());
        let cx = Context {
            nodes,
            dag,
            state,
            indirect,
            candidates: NodeId::all(limit)
                .filter(|&i| nodes.get(i.index()).is_some_and(GraphNode::is_enabled))
                .collect(),
        };
        let mut unmatched = Vec::new();
        let selected = if self.select.is_empty() {
            Found {
                direct: cx.candidates.iter().copied().collect(),
                indirect: BTreeSet::new(),
            }
        } else {
            cx.union(&self.select, &mut unmatched)
        };
        let excluded = cx.union(&self.exclude, &mut unmatched);
        let direct = &selected.direct - &excluded.direct;
        let all_selected = &selected.direct | &selected.indirect;
        let all_excluded = &excluded.direct | &excluded.indirect;
        let pending = &all_selected - &all_excluded;
        let chosen = cx.incorporate(direct, &pending);
        let mut seen = BTreeSet::new();
        unmatched.retain(|term| seen.insert(term.clone()));
        Ok(Selection {
            nodes: chosen
                .into_iter()
                .filter(|&i| {
                    nodes.get(i.index()).is_some_and(|n| {
                        n.is_enabled() && resource_types.contains(&n.resource_type)
                    })
                })
                .collect(),
            unmatched_terms: unmatched,
        })
    }
}

impl Context<'_> {
    fn union(&self, terms: &[Term], unmatched: &mut Vec<String>) -> Found {
        let mut found = Found::default();
        for term in terms {
            let one = self.term(term);
            if !one.direct.iter().any(|&i| self.is_enabled(i)) {
                unmatched.push(term.raw.clone());
            }
            found.indirect.extend(&one.direct);
            found.indirect.extend(one.indirect);
            found.direct.extend(one.direct);
        }
        found.direct = self.incorporate(found.direct, &found.indirect);
        found
    }

    fn term(&self, term: &Term) -> Found {
        let mut direct: Option<BTreeSet<NodeId>> = None;
        let mut indirect: Option<BTreeSet<NodeId>> = None;
        for part in &term.parts {
            let one = self.part(part);
            let both = &one.direct | &one.indirect;
            direct = Some(match direct {
                None => one.direct,
                Some(so_far) => &so_far & &one.direct,
            });
            indirect = Some(match indirect {
                None => both,
                Some(so_far) => &so_far & &both,
            });
        }
        let direct = direct.unwrap_or_default();
        let indirect = indirect.unwrap_or_default();
        Found {
            direct: self.incorporate(direct, &indirect),
            indirect,
        }
    }

    fn part(&self, part: &Part) -> Found {
        let matched: BTreeSet<NodeId> = self
            .candidates
            .iter()
            .copied()
            .filter(|&i| self.matches(part, i))
            .collect();
        let mut selected = matched.clone();
        if part.at {
            let below = reach(self.dag, &matched, None, Direction::Down);
            let mut family = &matched | &below;
            family.extend(reach(self.dag, &family, None, Direction::Up));
            selected = family;
        }
        if let Some(depth) = part.parents {
            selected.extend(reach(self.dag, &matched, depth.limit(), Direction::Up));
        }
        if let Some(depth) = part.children {
            selected.extend(reach(self.dag, &matched, depth.limit(), Direction::Down));
        }
        self.expand(selected)
    }

    /// dbt's `expand_selection`: tests that are children of the selection
    /// join it, directly or pending on their other parents.
    fn expand(&self, selected: BTreeSet<NodeId>) -> Found {
        let mut found = Found {
            direct: selected,
            indirect: BTreeSet::new(),
        };
        if self.indirect == IndirectSelection::Empty {
            return found;
        }
        let buildable = if self.indirect == IndirectSelection::Buildable {
            self.buildable_base(&found.direct)
        } else {
            BTreeSet::new()
        };
        let tests: BTreeSet<NodeId> = found
            .direct
            .iter()
            .flat_map(|&i| self.dag.children(i).iter().copied())
            .filter(|&c| !found.direct.contains(&c) && self.is_test(c))
            .collect();
        for test in tests {
            let parents = self.dag.parents(test);
            let all_in = |set: &BTreeSet<NodeId>| parents.iter().all(|p| set.contains(p));
            let take = match self.indirect {
                IndirectSelection::Eager => true,
                IndirectSelection::Cautious => all_in(&found.direct),
                IndirectSelection::Buildable => all_in(&buildable),
                IndirectSelection::Empty => false,
            };
            if take {
                found.direct.insert(test);
            } else {
                found.indirect.insert(test);
            }
        }
        found
    }

    /// dbt's `incorporate_indirect_nodes`: pending tests whose parents all
    /// made it into the selection join it.
    fn incorporate(
        &self,
        mut direct: BTreeSet<NodeId>,
        pending: &BTreeSet<NodeId>,
    ) -> BTreeSet<NodeId> {
        let base = match self.indirect {
            IndirectSelection::Cautious => direct.clone(),
            IndirectSelection::Buildable => self.buildable_base(&direct),
            IndirectSelection::Eager | IndirectSelection::Empty => return direct,
        };
        for &test in pending {
            if !direct.contains(&test)
                && self.is_test(test)
                && self.dag.parents(test).iter().all(|p| base.contains(p))
            {
                direct.insert(test);
            }
        }
        direct
    }

    fn buildable_base(&self, selected: &BTreeSet<NodeId>) -> BTreeSet<NodeId> {
        let mut base = selected | &reach(self.dag, selected, None, Direction::Up);
        base.extend(
            self.candidates
                .iter()
                .copied()
                .filter(|&i| self.kind(i) == Some(ResourceType::Source)),
        );
        base
    }

    fn kind(&self, i: NodeId) -> Option<ResourceType> {
        self.nodes.get(i.index()).map(|n| n.resource_type)
    }

    /// A data test or a unit test: both join a selection through the nodes
    /// they test.
    fn is_test(&self, i: NodeId) -> bool {
        matches!(
            self.kind(i),
            Some(ResourceType::Test | ResourceType::UnitTest)
        )
    }

    fn is_enabled(&self, i: NodeId) -> bool {
        self.nodes.get(i.index()).is_some_and(GraphNode::is_enabled)
    }

    fn matches(&self, part: &Part, i: NodeId) -> bool {
        let Some(node) = self.nodes.get(i.index()) else {
            return false;
        };
        methods::matches(part, node, i, self.state)
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Everything within `depth` generations of `seeds` (all when `None`),
/// seeds themselves left out unless reached from another seed.
fn reach(
    dag: &Dag,
    seeds: &BTreeSet<NodeId>,
    depth: Option<usize>,
    direction: Direction,
) -> BTreeSet<NodeId> {
    let mut seen: BTreeSet<NodeId> = BTreeSet::new();
    let mut visited: BTreeSet<NodeId> = seeds.clone();
    let mut frontier: Vec<NodeId> = seeds.iter().copied().collect();
    let mut generation = 0usize;
    while !frontier.is_empty() && depth.is_none_or(|d| generation < d) {
        generation += 1;
        let mut next = Vec::new();
        for at in frontier {
            let edges = match direction {
                Direction::Up => dag.parents(at),
                Direction::Down => dag.children(at),
            };
            for &j in edges {
                seen.insert(j);
                if visited.insert(j) {
                    next.push(j);
                }
            }
        }
        frontier = next;
    }
    seen
}
