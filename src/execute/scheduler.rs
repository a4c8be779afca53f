//! The parallel scheduler: runs a job for each selected node of the graph on
//! up to N worker threads, each node as soon as the selected nodes it depends
//! on are done, skipping everything downstream of a failure and stopping
//! early under `--fail-fast`. It knows nothing about what a job does.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::graph::Dag;
use crate::resource::{NodeId, ResourceType};

/// What a job reports about its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Success,
    /// Failed: everything downstream is skipped.
    Failed,
    /// A soft failure (a warn-severity test); downstream still runs.
    Warned,
}

/// The final word on one selected node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The job ran (a panicking job counts as `Failed`).
    Finished(JobStatus),
    /// Not run because `because`, a node it depends on, failed.
    Skipped { because: NodeId },
    /// Not run because `--fail-fast` stopped the run.
    NotRun,
}

/// Reported as it happens, from worker threads, in causal order (a node's
/// `Started` never precedes its dependencies' `Finished`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedulerEvent {
    Started(NodeId),
    Finished(NodeId, JobStatus),
    /// `Skipped(node, because)`.
    Skipped(NodeId, NodeId),
    NotRun(NodeId),
}

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Jobs at once; 0 counts as 1.
    pub threads: usize,
    /// After the first failure start nothing new; the rest is `NotRun`.
    pub fail_fast: bool,
    /// `sb build`: a selected test also holds back every non-test node that
    /// depends on all of the test's parents (dbt's test edges), so a failed
    /// test skips what is built on the data it tested.
    pub tests_gate_children: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            fail_fast: false,
            tests_gate_children: false,
        }
    }
}

/// Who waits on whom, among the selected nodes only.
struct Plan {
    /// Per node: the selected nodes it waits for.
    waits_on: Vec<BTreeSet<NodeId>>,
    /// The reverse of `waits_on`.
    blocks: Vec<BTreeSet<NodeId>>,
    /// Smaller starts first: tests before other nodes, then topological rank.
    priority: Vec<(bool, usize)>,
}

impl Plan {
    fn new(dag: &Dag, selected: &BTreeSet<NodeId>, options: SchedulerOptions) -> Plan {
        let len = dag.len();
        let mut priority = vec![(true, usize::MAX); len];
        for (rank, &i) in dag.topological_order().iter().enumerate() {
            if let Some(slot) = priority.get_mut(i.index()) {
                *slot = (dag.resource_type(i) != Some(ResourceType::Test), rank);
            }
        }
        // The nearest selected ancestors of each node, looking through
        // unselected ones; parents come first in topological order.
        let mut nearest: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); len];
        for &i in dag.topological_order() {
            let mut mine = BTreeSet::new();
            for &p in dag.parents(i) {
                if selected.contains(&p) {
                    mine.insert(p);
                } else if let Some(theirs) = nearest.get(p.index()) {
                    mine.extend(theirs);
                }
            }
            if let Some(slot) = nearest.get_mut(i.index()) {
                *slot = mine;
            }
        }
        let mut waits_on: Vec<BTreeSet<NodeId>> = NodeId::all(len)
            .map(|i| {
                if selected.contains(&i) {
                    nearest.get(i.index()).cloned().unwrap_or_default()
                } else {
                    BTreeSet::new()
                }
            })
            .collect();
        // A unit test needs nothing built (its inputs are given rows); the
        // model it tests waits for it, so a failure skips the model.
        for &unit in selected {
            if dag.resource_type(unit) != Some(ResourceType::UnitTest) {
                continue;
            }
            if let Some(waits) = waits_on.get_mut(unit.index()) {
                waits.clear();
            }
            for &model in dag.parents(unit) {
                if selected.contains(&model)
                    && let Some(waits) = waits_on.get_mut(model.index())
                {
                    waits.insert(unit);
                }
            }
        }
        if options.tests_gate_children {
            for &test in selected {
                if dag.resource_type(test) != Some(ResourceType::Test) {
                    continue;
                }
                let mut common: Option<BTreeSet<NodeId>> = None;
                for &p in dag.parents(test) {
                    let below = dag.descendants(p, None);
                    common = Some(match common {
                        None => below,
                        Some(so_far) => &so_far & &below,
                    });
                }
                for n in common.unwrap_or_default() {
                    // A unit test hangs below its model in the graph but
                    // runs before it: a data test on the model cannot gate it.
                    if n != test
                        && selected.contains(&n)
                        && !matches!(
                            dag.resource_type(n),
                            Some(ResourceType::Test | ResourceType::UnitTest)
                        )
                        && let Some(waits) = waits_on.get_mut(n.index())
                    {
                        waits.insert(test);
                    }
                }
            }
        }
        let mut blocks: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); len];
        for (n, waits) in NodeId::enumerate(&waits_on) {
            for &w in waits {
                if let Some(list) = blocks.get_mut(w.index()) {
                    list.insert(n);
                }
            }
        }
        Plan {
            waits_on,
            blocks,
            priority,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not selected.
    Idle,
    /// Waiting for this many nodes.
    Waiting(usize),
    Ready,
    Running,
    Done,
}

struct State {
    slots: Vec<Slot>,
    ready: BinaryHeap<Reverse<(bool, usize, NodeId)>>,
    running: usize,
    unfinished: usize,
    stopped: bool,
    results: Vec<(NodeId, Outcome)>,
}

struct Shared<'a, E: ?Sized> {
    dag: &'a Dag,
    plan: Plan,
    options: SchedulerOptions,
    state: Mutex<State>,
    wake: Condvar,
    on_event: &'a E,
}

impl<E: Fn(SchedulerEvent) + Sync + ?Sized> Shared<'_, E> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called with the state locked, so events keep causal order; a
    /// panicking callback is ignored rather than wedging the run.
    fn emit(&self, event: SchedulerEvent) {
        let _ = catch_unwind(AssertUnwindSafe(|| (self.on_event)(event)));
    }

    fn make_ready(&self, state: &mut State, i: NodeId) {
        if let Some(slot) = state.slots.get_mut(i.index()) {
            *slot = Slot::Ready;
        }
        let (later, rank) = self
            .plan
            .priority
            .get(i.index())
            .copied()
            .unwrap_or((true, usize::MAX));
        state.ready.push(Reverse((later, rank, i)));
    }

    fn finish(&self, state: &mut State, i: NodeId, status: JobStatus) {
        state.running = state.running.saturating_sub(1);
        state.unfinished = state.unfinished.saturating_sub(1);
        state.results.push((i, Outcome::Finished(status)));
        self.emit(SchedulerEvent::Finished(i, status));
        self.settle(state, i, status);
    }

    /// A node is done with `status`: release or skip what waits on it.
    fn settle(&self, state: &mut State, i: NodeId, status: JobStatus) {
        if let Some(slot) = state.slots.get_mut(i.index()) {
            *slot = Slot::Done;
        }
        if status == JobStatus::Failed {
            if self.options.fail_fast {
                state.stopped = true;
            }
            self.skip_below(state, i);
            return;
        }
        for &child in self.plan.blocks.get(i.index()).into_iter().flatten() {
            let mut now_ready = false;
            if let Some(Slot::Waiting(count)) = state.slots.get_mut(child.index()) {
                *count = count.saturating_sub(1);
                now_ready = *count == 0;
            }
            if now_ready {
                self.make_ready(state, child);
            }
        }
    }

    /// Marks every waiting node downstream of `failed` as skipped.
    fn skip_below(&self, state: &mut State, failed: NodeId) {
        let mut stack: Vec<NodeId> = self
            .plan
            .blocks
            .get(failed.index())
            .into_iter()
            .flatten()
            .rev()
            .copied()
            .collect();
        while let Some(n) = stack.pop() {
            let Some(slot) = state.slots.get_mut(n.index()) else {
                continue;
            };
            if !matches!(slot, Slot::Waiting(_) | Slot::Ready) {
                continue;
            }
            *slot = Slot::Done;
            state.unfinished = state.unfinished.saturating_sub(1);
            state
                .results
                .push((n, Outcome::Skipped { because: failed }));
            self.emit(SchedulerEvent::Skipped(n, failed));
            stack.extend(self.plan.blocks.get(n.index()).into_iter().flatten().rev());
        }
    }

    /// Nothing runs and nothing can start: report what is left as not run.
    fn give_up(&self, state: &mut State) {
        for &n in self.dag.topological_order() {
            if let Some(slot) = state.slots.get_mut(n.index())
                && matches!(slot, Slot::Waiting(_) | Slot::Ready)
            {
                *slot = Slot::Done;
                state.results.push((n, Outcome::NotRun));
                self.emit(SchedulerEvent::NotRun(n));
            }
        }
        state.ready.clear();
        state.unfinished = 0;
    }

    fn work<J: Fn(NodeId) -> JobStatus + Sync + ?Sized>(&self, job: &J) {
        let mut state = self.lock();
        loop {
            if state.unfinished == 0 {
                break;
            }
            // Nothing new starts after `--fail-fast` stopped the run or an
            // interrupt (SIGINT, SIGTERM) asked the process to stop.
            let next = if state.stopped || crate::interrupt::requested().is_some() {
                None
            } else {
                state.ready.pop()
            };
            if let Some(Reverse((_, _, i))) = next {
                if let Some(slot) = state.slots.get_mut(i.index()) {
                    *slot = Slot::Running;
                }
                state.running += 1;
                self.emit(SchedulerEvent::Started(i));
                drop(state);
                let status = catch_unwind(AssertUnwindSafe(|| job(i))).unwrap_or(JobStatus::Failed);
                state = self.lock();
                self.finish(&mut state, i, status);
                self.wake.notify_all();
                continue;
            }
            if state.running == 0 {
                self.give_up(&mut state);
                self.wake.notify_all();
                break;
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Runs `job` for every node of `selected` (indices into the graph; others
/// are treated as done) on up to `threads` threads and returns each selected
/// node's outcome in the order they were settled. Never panics, even when a
/// job does. See [`run_with`] for `sb build`'s test gating.
pub fn run<J, E>(
    dag: &Dag,
    selected: &BTreeSet<NodeId>,
    threads: usize,
    fail_fast: bool,
    job: &J,
    on_event: &E,
) -> Vec<(NodeId, Outcome)>
where
    J: Fn(NodeId) -> JobStatus + Sync + ?Sized,
    E: Fn(SchedulerEvent) + Sync + ?Sized,
{
    let options = SchedulerOptions {
        threads,
        fail_fast,
        tests_gate_children: false,
    };
    run_with(dag, selected, options, job, on_event)
}

/// [`run`] with every option spelled out.
pub fn run_with<J, E>(
    dag: &Dag,
    selected: &BTreeSet<NodeId>,
    options: SchedulerOptions,
    job: &J,
    on_event: &E,
) -> Vec<(NodeId, Outcome)>
where
    J: Fn(NodeId) -> JobStatus + Sync + ?Sized,
    E: Fn(SchedulerEvent) + Sync + ?Sized,
{
    run_after(dag, selected, &[], options, job, on_event)
}

/// [`run_with`] after `settled`: nodes that an earlier stage of the same
/// command already ran (the synthesizer's loads), with their status. A
/// failed one skips what depends on it, and under `--fail-fast` stops the
/// run, exactly as a failed job does; settled nodes get no outcome here.
pub fn run_after<J, E>(
    dag: &Dag,
    selected: &BTreeSet<NodeId>,
    settled: &[(NodeId, JobStatus)],
    options: SchedulerOptions,
    job: &J,
    on_event: &E,
) -> Vec<(NodeId, Outcome)>
where
    J: Fn(NodeId) -> JobStatus + Sync + ?Sized,
    E: Fn(SchedulerEvent) + Sync + ?Sized,
{
    let settled: Vec<(NodeId, JobStatus)> = settled
        .iter()
        .copied()
        .filter(|&(i, _)| i.index() < dag.len() && !selected.contains(&i))
        .collect();
    let selected: BTreeSet<NodeId> = selected
        .iter()
        .copied()
        .filter(|&i| i.index() < dag.len())
        .collect();
    if selected.is_empty() {
        return Vec::new();
    }
    // Settled nodes are planned like selected ones, so what depends on
    // them waits for them; they are then settled before any worker starts.
    let planned: BTreeSet<NodeId> = selected
        .iter()
        .copied()
        .chain(settled.iter().map(|&(i, _)| i))
        .collect();
    let plan = Plan::new(dag, &planned, options);
    let mut slots = vec![Slot::Idle; dag.len()];
    for &i in &selected {
        let count = plan.waits_on.get(i.index()).map_or(0, BTreeSet::len);
        if let Some(slot) = slots.get_mut(i.index()) {
            *slot = Slot::Waiting(count);
        }
    }
    let shared = Shared {
        dag,
        plan,
        options,
        state: Mutex::new(State {
            slots,
            ready: BinaryHeap::new(),
            running: 0,
            unfinished: selected.len(),
            stopped: false,
            results: Vec::with_capacity(selected.len()),
        }),
        wake: Condvar::new(),
        on_event,
    };
    {
        let mut state = shared.lock();
        for &(i, status) in &settled {
            shared.settle(&mut state, i, status);
        }
        for &i in &selected {
            if state.slots.get(i.index()) == Some(&Slot::Waiting(0)) {
                shared.make_ready(&mut state, i);
            }
        }
    }
    let workers = options.threads.max(1).min(selected.len());
    std::thread::scope(|scope| {
        for n in 1..workers {
            // Fewer threads if the OS refuses more; this one always works.
            let _ = std::thread::Builder::new()
                .name(format!("sb-worker-{n}"))
                .spawn_scoped(scope, || shared.work(job));
        }
        shared.work(job);
    });
    let state = shared
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    state.results
}

#[cfg(test)]
mod tests;
