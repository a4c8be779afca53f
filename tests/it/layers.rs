//! The layer rule of `src/` (README "Architecture"): every `crate::` path in
//! product code points to a module of the same layer or a lower one, the
//! modules of one layer never form a cycle, and only the stages that run
//! nodes see a warehouse `Connection`. Unit-test modules are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// The layers, top first. A module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["commands", "session", "cli"],
    &["compile", "execute", "docs", "artifacts", "synth", "table"],
    &["jinja", "graph", "project"],
    &["adapter", "report", "profile"],
    &["diag", "resource", "node", "interrupt", "scan", "secrets"],
];

/// Modules that may name `adapter::Connection`.
const SEE_CONNECTIONS: &[&str] = &["adapter", "execute", "synth", "commands", "docs"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The product code of a file: up to its `#[cfg(test)]` module; nothing for
/// a file that is itself a unit-test module (`tests.rs` declared under
/// `#[cfg(test)]` by its parent).
fn product_code(path: &Path, text: &str) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// One source file of `src/`: its path under `src/`, its top-level module
/// (`lib` and `main` for those two files) and its product code.
struct ProductFile {
    relative: PathBuf,
    module: String,
    code: String,
}

fn product_files() -> Vec<ProductFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(&src).expect("under src").to_owned();
            let module = relative
                .components()
                .next()
                .map(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .trim_end_matches(".rs")
                        .to_owned()
                })
                .unwrap_or_default();
            let text = std::fs::read_to_string(&file).expect("readable source");
            let code = product_code(&file, &text);
            ProductFile {
                relative,
                module,
                code,
            }
        })
        .collect()
}

/// Top-level module -> the top-level modules its product code names.
fn module_edges() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let path_pattern = Regex::new(r"crate::([a-z_]+)").expect("valid regex");
    let grouped_use = Regex::new(r"use crate::\{([^}]*)\}").expect("valid regex");
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for ProductFile {
        relative,
        module,
        code,
    } in product_files()
    {
        if module == "lib" || module == "main" {
            continue;
        }
        let mut named: Vec<String> = path_pattern
            .captures_iter(&code)
            .map(|c| c[1].to_owned())
            .collect();
        for group in grouped_use.captures_iter(&code) {
            for item in group[1].split(',') {
                let head = item.trim().split("::").next().unwrap_or("").trim();
                if !head.is_empty() {
                    named.push(head.to_owned());
                }
            }
        }
        for target in named {
            if target != module {
                edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .push(relative.display().to_string());
            }
        }
    }
    edges
}

#[test]
fn every_module_is_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src").flatten() {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if name != "lib" && name != "main" && layer_of(&name).is_none() {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "modules in no layer of tests/it/layers.rs: {missing:?}"
    );
}

#[test]
fn no_module_uses_a_higher_layer() {
    let mut upward = Vec::new();
    for (from, targets) in module_edges() {
        for (to, files) in targets {
            if let (Some(a), Some(b)) = (layer_of(&from), layer_of(&to))
                && b < a
            {
                upward.push(format!("{from} -> {to} (in {})", files.join(", ")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "upward module edges:\n{}",
        upward.join("\n")
    );
}

// Depth-first search; a back edge closes a cycle.
fn visit<'a>(
    node: &'a str,
    graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
    cycles: &mut Vec<String>,
) {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle: Vec<&str> = path[at..].to_vec();
        cycle.push(node);
        cycles.push(cycle.join(" -> "));
        return;
    }
    if !done.insert(node) {
        return;
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        visit(next, graph, path, done, cycles);
    }
    path.pop();
}

#[test]
fn modules_form_no_cycle() {
    let edges = module_edges();
    let graph: BTreeMap<&str, BTreeSet<&str>> = edges
        .iter()
        .map(|(from, targets)| (from.as_str(), targets.keys().map(String::as_str).collect()))
        .collect();
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn only_the_running_stages_see_connections() {
    let connection = Regex::new(r"\bConnection\b").expect("valid regex");
    let offenders: Vec<String> = product_files()
        .into_iter()
        .filter(|f| !["lib", "main"].contains(&f.module.as_str()))
        .filter(|f| !SEE_CONNECTIONS.contains(&f.module.as_str()))
        .filter(|f| connection.is_match(&f.code))
        .map(|f| f.relative.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files outside {SEE_CONNECTIONS:?} naming Connection: {offenders:?}"
    );
}

#[test]
fn only_the_session_reads_the_environment() {
    let reads = Regex::new(r"\benv::(var|var_os|vars|vars_os)\(").expect("valid regex");
    // main.rs tunes the allocator before anything else runs.
    let offenders: Vec<String> = product_files()
        .into_iter()
        .filter(|f| f.relative != Path::new("session.rs") && f.relative != Path::new("main.rs"))
        .filter(|f| reads.is_match(&f.code))
        .map(|f| f.relative.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files reading environment variables outside session.rs: {offenders:?}"
    );
}
