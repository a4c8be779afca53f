#![allow(clippy::unwrap_used)]

use super::*;
use crate::graph::GraphNode;
use crate::graph::tests::{id, model};
use std::collections::BTreeMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

fn dag_of(nodes: &[GraphNode]) -> Dag {
    Dag::build(nodes).unwrap()
}

fn all(nodes: &[GraphNode]) -> BTreeSet<NodeId> {
    NodeId::all(nodes.len()).collect()
}

fn ids(indices: &[usize]) -> BTreeSet<NodeId> {
    indices.iter().map(|&i| NodeId::new(i)).collect()
}

fn opts(threads: usize, fail_fast: bool) -> SchedulerOptions {
    SchedulerOptions {
        threads,
        fail_fast,
        tests_gate_children: false,
    }
}

fn outcomes(results: &[(NodeId, Outcome)]) -> BTreeMap<usize, Outcome> {
    results.iter().map(|&(i, o)| (i.index(), o)).collect()
}

/// a -> b, a -> c, b -> d, c -> d, plus an independent e.
fn diamond() -> Vec<GraphNode> {
    vec![
        model("a", &[]),
        model("b", &["a"]),
        model("c", &["a"]),
        model("d", &["b", "c"]),
        model("e", &[]),
    ]
}

#[test]
fn diamond_runs_every_node_after_its_parents() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let finished = Mutex::new(Vec::new());
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(4, false),
        &|i| {
            let done = finished.lock().unwrap().clone();
            for &p in dag.parents(i) {
                assert!(done.contains(&p), "{i} started before {p}");
            }
            finished.lock().unwrap().push(i);
            JobStatus::Success
        },
        &|_| {},
    );
    assert_eq!(results.len(), 5);
    assert!(
        results
            .iter()
            .all(|r| r.1 == Outcome::Finished(JobStatus::Success))
    );
}

#[test]
fn a_failed_earlier_stage_skips_what_depends_on_it() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let selected = ids(&[1, 2, 3, 4]);
    let ran = Mutex::new(Vec::new());
    let results = run_after(
        &dag,
        &selected,
        &[(id(0), JobStatus::Failed)],
        opts(2, false),
        &|i| {
            ran.lock().unwrap().push(i);
            JobStatus::Success
        },
        &|_| {},
    );
    let outcomes = outcomes(&results);
    assert_eq!(*ran.lock().unwrap(), vec![id(4)]);
    assert_eq!(outcomes[&1], Outcome::Skipped { because: id(0) });
    assert_eq!(outcomes[&3], Outcome::Skipped { because: id(0) });
    assert!(!outcomes.contains_key(&0), "settled nodes get no outcome");
}

#[test]
fn a_succeeded_earlier_stage_releases_its_children() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let selected = ids(&[1, 2, 3]);
    let results = run_after(
        &dag,
        &selected,
        &[(id(0), JobStatus::Success)],
        opts(2, false),
        &|_| JobStatus::Success,
        &|_| {},
    );
    assert_eq!(results.len(), 3);
    assert!(
        results
            .iter()
            .all(|(_, o)| *o == Outcome::Finished(JobStatus::Success))
    );
}

#[test]
fn a_failed_earlier_stage_under_fail_fast_runs_nothing() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let selected = ids(&[1, 4]);
    let results = run_after(
        &dag,
        &selected,
        &[(id(0), JobStatus::Failed)],
        opts(2, true),
        &|_| JobStatus::Success,
        &|_| {},
    );
    let outcomes = outcomes(&results);
    assert_eq!(outcomes[&1], Outcome::Skipped { because: id(0) });
    assert_eq!(outcomes[&4], Outcome::NotRun);
}

#[test]
fn failure_skips_descendants_only() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let events = Mutex::new(Vec::new());
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(2, false),
        &|i| {
            if i == id(1) {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|e| events.lock().unwrap().push(e),
    );
    let out = outcomes(&results);
    assert_eq!(out[&0], Outcome::Finished(JobStatus::Success));
    assert_eq!(out[&1], Outcome::Finished(JobStatus::Failed));
    assert_eq!(out[&2], Outcome::Finished(JobStatus::Success));
    assert_eq!(out[&3], Outcome::Skipped { because: id(1) });
    assert_eq!(out[&4], Outcome::Finished(JobStatus::Success));
    let events = events.into_inner().unwrap();
    assert!(events.contains(&SchedulerEvent::Skipped(id(3), id(1))));
    assert!(!events.contains(&SchedulerEvent::Started(id(3))));
}

#[test]
fn warned_does_not_skip() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(1, false),
        &|_| JobStatus::Warned,
        &|_| {},
    );
    assert!(
        results
            .iter()
            .all(|r| r.1 == Outcome::Finished(JobStatus::Warned))
    );
}

#[test]
fn skip_passes_through_unselected_nodes() {
    let nodes = vec![model("x", &[]), model("y", &["x"]), model("z", &["y"])];
    let dag = dag_of(&nodes);
    let selected = ids(&[0, 2]);
    let results = run_with(
        &dag,
        &selected,
        opts(2, false),
        &|_| JobStatus::Failed,
        &|_| {},
    );
    assert_eq!(
        results,
        [
            (id(0), Outcome::Finished(JobStatus::Failed)),
            (id(2), Outcome::Skipped { because: id(0) })
        ]
    );
    // And on success z still waits for x.
    let order = Mutex::new(Vec::new());
    run_with(
        &dag,
        &selected,
        opts(2, false),
        &|i| {
            order.lock().unwrap().push(i);
            JobStatus::Success
        },
        &|_| {},
    );
    assert_eq!(order.into_inner().unwrap(), [id(0), id(2)]);
}

#[test]
fn skipped_grandchildren_name_the_failed_ancestor() {
    let nodes = vec![model("a", &[]), model("b", &["a"]), model("c", &["b"])];
    let dag = dag_of(&nodes);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(1, false),
        &|i| {
            if i == id(0) {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|_| {},
    );
    let out = outcomes(&results);
    assert_eq!(out[&1], Outcome::Skipped { because: id(0) });
    assert_eq!(out[&2], Outcome::Skipped { because: id(0) });
}

#[test]
fn fail_fast_stops_starting_new_nodes() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let started = AtomicUsize::new(0);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(1, true),
        &|i| {
            started.fetch_add(1, Ordering::SeqCst);
            if i == id(0) {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|_| {},
    );
    assert_eq!(started.load(Ordering::SeqCst), 1);
    let out = outcomes(&results);
    assert_eq!(out.len(), 5);
    assert_eq!(out[&0], Outcome::Finished(JobStatus::Failed));
    assert_eq!(out[&1], Outcome::Skipped { because: id(0) });
    assert_eq!(out[&3], Outcome::Skipped { because: id(0) });
    assert_eq!(out[&4], Outcome::NotRun);
}

#[test]
fn one_thread_runs_in_topological_order() {
    let nodes = vec![
        model("d", &["b", "c"]),
        model("c", &["a"]),
        model("b", &["a"]),
        model("a", &[]),
    ];
    let dag = dag_of(&nodes);
    let order = Mutex::new(Vec::new());
    run_with(
        &dag,
        &all(&nodes),
        opts(1, false),
        &|i| {
            order.lock().unwrap().push(nodes[i].name.clone());
            JobStatus::Success
        },
        &|_| {},
    );
    assert_eq!(order.into_inner().unwrap(), ["a", "b", "c", "d"]);
}

#[test]
fn independent_jobs_run_in_parallel() {
    let nodes = vec![model("a", &[]), model("b", &[])];
    let dag = dag_of(&nodes);
    let barrier = Barrier::new(2);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(2, false),
        &|_| {
            barrier.wait();
            JobStatus::Success
        },
        &|_| {},
    );
    assert_eq!(results.len(), 2);
}

#[test]
fn at_most_n_jobs_run_at_once() {
    let nodes: Vec<GraphNode> = (0..12).map(|i| model(&format!("m{i:02}"), &[])).collect();
    let dag = dag_of(&nodes);
    let now = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    run_with(
        &dag,
        &all(&nodes),
        opts(3, false),
        &|_| {
            let mine = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(mine, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            now.fetch_sub(1, Ordering::SeqCst);
            JobStatus::Success
        },
        &|_| {},
    );
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert!(peak.load(Ordering::SeqCst) >= 2);
}

#[test]
fn panicking_job_counts_as_failed() {
    let nodes = vec![model("a", &[]), model("b", &["a"]), model("c", &[])];
    let dag = dag_of(&nodes);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(2, false),
        &|i| {
            assert!(i != id(0), "boom");
            JobStatus::Success
        },
        &|_| panic!("reporter broke"),
    );
    let out = outcomes(&results);
    assert_eq!(out[&0], Outcome::Finished(JobStatus::Failed));
    assert_eq!(out[&1], Outcome::Skipped { because: id(0) });
    assert_eq!(out[&2], Outcome::Finished(JobStatus::Success));
}

#[test]
fn events_arrive_in_causal_order() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let events = Mutex::new(Vec::new());
    run_with(
        &dag,
        &all(&nodes),
        opts(4, false),
        &|_| JobStatus::Success,
        &|e| {
            events.lock().unwrap().push(e);
        },
    );
    let events = events.into_inner().unwrap();
    let at = |e: SchedulerEvent| events.iter().position(|&x| x == e).unwrap();
    for (child, parent) in [(1, 0), (2, 0), (3, 1), (3, 2)] {
        assert!(
            at(SchedulerEvent::Finished(id(parent), JobStatus::Success))
                < at(SchedulerEvent::Started(id(child)))
        );
    }
}

#[test]
fn positional_run_takes_threads_and_fail_fast() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    let job = |i: NodeId| {
        if i == id(0) {
            JobStatus::Failed
        } else {
            JobStatus::Success
        }
    };
    let on_event = |_: SchedulerEvent| {};
    let results = run(&dag, &all(&nodes), 1, true, &job, &on_event);
    assert_eq!(outcomes(&results)[&4], Outcome::NotRun);
}

#[test]
fn empty_and_out_of_range_selections() {
    let nodes = diamond();
    let dag = dag_of(&nodes);
    assert!(
        run_with(
            &dag,
            &BTreeSet::new(),
            opts(4, false),
            &|_| JobStatus::Success,
            &|_| {}
        )
        .is_empty()
    );
    let results = run_with(
        &dag,
        &ids(&[4, 99]),
        opts(0, false),
        &|_| JobStatus::Success,
        &|_| {},
    );
    assert_eq!(results, [(id(4), Outcome::Finished(JobStatus::Success))]);
}

fn test_node(name: &str, deps: &[&str]) -> GraphNode {
    let mut node = model(name, deps);
    node.unique_id = format!("test.proj.{name}.abc123");
    node.resource_type = ResourceType::Test;
    node
}

#[test]
fn build_tests_gate_downstream_models() {
    // b is built on a, which t_a tests; t_ac also needs the unrelated c,
    // so it must not hold back b.
    let nodes = vec![
        model("a", &[]),
        model("b", &["a"]),
        test_node("t_a", &["a"]),
        model("c", &[]),
        test_node("t_ac", &["a", "c"]),
    ];
    let dag = dag_of(&nodes);
    let gated = SchedulerOptions {
        threads: 1,
        fail_fast: false,
        tests_gate_children: true,
    };
    let order = Mutex::new(Vec::new());
    run_with(
        &dag,
        &all(&nodes),
        gated,
        &|i| {
            order.lock().unwrap().push(nodes[i].name.clone());
            JobStatus::Success
        },
        &|_| {},
    );
    let order = order.into_inner().unwrap();
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("t_a") < pos("b"));
    assert!(pos("a") < pos("t_a"));

    let results = run_with(
        &dag,
        &all(&nodes),
        gated,
        &|i| {
            if i == id(2) {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|_| {},
    );
    let out = outcomes(&results);
    assert_eq!(out[&1], Outcome::Skipped { because: id(2) });
    assert_eq!(out[&3], Outcome::Finished(JobStatus::Success));
    assert_eq!(out[&4], Outcome::Finished(JobStatus::Success));

    // Without gating the test failure touches nothing else.
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(1, false),
        &|i| {
            if i == id(2) {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|_| {},
    );
    assert_eq!(
        outcomes(&results)[&1],
        Outcome::Finished(JobStatus::Success)
    );
}

#[test]
fn many_nodes_many_threads_finish() {
    let nodes: Vec<GraphNode> = (0..200)
        .map(|i: usize| {
            let deps: Vec<String> = [i / 2, i / 3]
                .into_iter()
                .filter(|&d| d < i)
                .map(|d| format!("m{d:03}"))
                .collect();
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            model(&format!("m{i:03}"), &deps)
        })
        .collect();
    let dag = dag_of(&nodes);
    let results = run_with(
        &dag,
        &all(&nodes),
        opts(8, false),
        &|i| {
            if i.index() % 17 == 5 {
                JobStatus::Failed
            } else {
                JobStatus::Success
            }
        },
        &|_| {},
    );
    assert_eq!(results.len(), 200);
    let settled: BTreeSet<NodeId> = results.iter().map(|r| r.0).collect();
    assert_eq!(settled.len(), 200);
}

#[test]
fn a_data_test_on_a_model_does_not_gate_the_models_unit_test() {
    // u unit-tests a and runs before it; t tests a after it is built. Were
    // u gated by t (u hangs below a in the graph), nothing could start.
    let mut unit = model("u", &["a"]);
    unit.unique_id = "unit_test.proj.a.u".to_owned();
    unit.resource_type = ResourceType::UnitTest;
    let nodes = vec![model("a", &[]), unit, test_node("t", &["a"])];
    let dag = dag_of(&nodes);
    let gated = SchedulerOptions {
        threads: 1,
        fail_fast: false,
        tests_gate_children: true,
    };
    let order = Mutex::new(Vec::new());
    let results = run_with(
        &dag,
        &all(&nodes),
        gated,
        &|i| {
            order.lock().unwrap().push(nodes[i].name.clone());
            JobStatus::Success
        },
        &|_| {},
    );
    assert!(
        outcomes(&results)
            .values()
            .all(|o| *o == Outcome::Finished(JobStatus::Success))
    );
    assert_eq!(order.into_inner().unwrap(), ["u", "a", "t"]);
}
