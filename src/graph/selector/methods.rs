//! What each selector method matches on one node: the bare default (name,
//! fqn or `source.table`), `fqn:`, `tag:`, `path:`, `file:`, `config.KEY:`,
//! `source:`, `resource_type:`, `package:`, `state:` and `version:`, with shell-style
//! wildcards.

use std::collections::BTreeSet;

use super::{Method, Part, StateComparator, StateKind};
use crate::graph::GraphNode;
use crate::resource::{NodeId, ResourceType};

/// Whether `node` (index `i`) matches the part's method and value; `state`
/// answers `state:` parts.
pub(super) fn matches(
    part: &Part,
    node: &GraphNode,
    i: NodeId,
    state: Option<&dyn StateComparator>,
) -> bool {
    let value = part.value.as_str();
    match &part.method {
        Method::Default => {
            glob(value, &node.name)
                || fqn_matches(value, node)
                || source_path(node).is_some_and(|full| glob(value, &full))
        }
        Method::Fqn => glob(value, &node.name) || fqn_matches(value, node),
        Method::Tag => node_tags(node).any(|tag| glob(value, tag)),
        Method::Path => path_matches(value, &node.original_file_path),
        Method::File => {
            let file = node
                .original_file_path
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
            glob(value, file) || glob(value, stem)
        }
        Method::Config(keys) => config_matches(node, keys, value),
        Method::Source => source_matches(value, node),
        Method::ResourceType(kind) => node.resource_type == *kind,
        Method::Package => glob(value, &node.package_name),
        Method::Version(rank) => node.resource_type == ResourceType::Model && node.version == *rank,
        Method::State(kind) => state.is_some_and(|state| match kind {
            StateKind::Modified(facet) => state.is_modified(i, *facet),
            StateKind::New => state.is_new(i),
            // A deleted node is in the state only: no node of the project
            // is one (`sb ls` and `sb diff` list them from the state).
            StateKind::Deleted => false,
        }),
        Method::Result(status) => state.is_some_and(|state| state.had_result(i, status)),
    }
}

fn node_tags(node: &GraphNode) -> impl Iterator<Item = &str> {
    let from_config: Vec<&str> = match node.config.get("tags") {
        Some(serde_json::Value::String(tag)) => vec![tag.as_str()],
        Some(serde_json::Value::Array(tags)) => tags.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    };
    node.tags.iter().map(String::as_str).chain(from_config)
}

fn source_path(node: &GraphNode) -> Option<String> {
    match &node.source_name {
        Some(source) if node.resource_type == ResourceType::Source => {
            Some(format!("{source}.{}", node.name))
        }
        _ => None,
    }
}

/// `source:NAME`, `source:NAME.TABLE`, `source:PACKAGE.NAME.TABLE`, with wildcards.
fn source_matches(value: &str, node: &GraphNode) -> bool {
    let Some(source) = node
        .source_name
        .as_deref()
        .filter(|_| node.resource_type == ResourceType::Source)
    else {
        return false;
    };
    let parts: Vec<&str> = value.split('.').collect();
    match parts.as_slice() {
        [name] => glob(name, source),
        [name, table] => glob(name, source) && glob(table, &node.name),
        [package, name, table] => {
            glob(package, &node.package_name) && glob(name, source) && glob(table, &node.name)
        }
        _ => false,
    }
}

/// dbt's `is_selected_node`: the last fqn part matches, or the selector's
/// dot-separated parts are a prefix of the flattened fqn; from the first part
/// with a wildcard on, the rest is matched as one pattern.
fn fqn_matches(selector: &str, node: &GraphNode) -> bool {
    if node.fqn.last().is_some_and(|leaf| glob(selector, leaf)) {
        return true;
    }
    // A version is also `dim_customers.v2` or `dim_customers_v2`.
    if node.version.is_some()
        && let [.., name, version] = node.fqn.as_slice()
        && (glob(selector, &format!("{name}.{version}"))
            || glob(selector, &format!("{name}_{version}")))
    {
        return true;
    }
    let flat: Vec<&str> = node.fqn.iter().flat_map(|s| s.split('.')).collect();
    let wanted: Vec<&str> = selector.split('.').collect();
    if flat.is_empty() || flat.len() < wanted.len() {
        return false;
    }
    for (i, part) in wanted.iter().enumerate() {
        if part.contains(['*', '?']) {
            let pattern = wanted.get(i..).unwrap_or_default().join(".");
            let text = flat.get(i..).unwrap_or_default().join(".");
            return glob(&pattern, &text);
        }
        if flat.get(i) != Some(part) {
            return false;
        }
    }
    true
}

/// A folder selects everything under it, a file itself; components may hold
/// wildcards and `**` spans any number of folders.
fn path_matches(selector: &str, file: &str) -> bool {
    let normalized = selector.replace('\\', "/");
    let wanted: Vec<&str> = normalized
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let have: Vec<&str> = file
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    // Positions in `have` reachable after matching a prefix of `wanted`.
    let mut positions: BTreeSet<usize> = BTreeSet::from([0]);
    for part in wanted {
        positions = if part == "**" {
            match positions.first() {
                Some(&lowest) => (lowest..=have.len()).collect(),
                None => BTreeSet::new(),
            }
        } else {
            positions
                .into_iter()
                .filter(|&j| have.get(j).is_some_and(|c| glob(part, c)))
                .map(|j| j + 1)
                .collect()
        };
        if positions.is_empty() {
            return false;
        }
    }
    true
}

/// `config.KEY[.SUBKEY]:VALUE`: strings compare exactly (test severity
/// ignores case), booleans as `true`/`false`, numbers by their text, lists
/// match when any element does.
fn config_matches(node: &GraphNode, keys: &[String], wanted: &str) -> bool {
    let Some((first, rest)) = keys.split_first() else {
        return false;
    };
    let Some(mut value) = node.config.get(first) else {
        return false;
    };
    for key in rest {
        match value.as_object().and_then(|map| map.get(key)) {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    let ignore_case = keys == ["severity"];
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => {
            if ignore_case {
                s.eq_ignore_ascii_case(wanted)
            } else {
                s == wanted
            }
        }
        serde_json::Value::Bool(b) => {
            wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        serde_json::Value::Number(n) => n.to_string() == wanted,
        _ => false,
    };
    match value {
        serde_json::Value::Array(items) => items.iter().any(scalar),
        other => scalar(other),
    }
}

/// Shell-style wildcard match: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == '*')
}
