//! Node selection as dbt does it: the `--select` / `--exclude` grammar
//! (whitespace-separated terms are a union, comma-joined parts an
//! intersection, `+`/`N+`/`+N`/`@` graph operators around `method:value`),
//! the selector methods, and the indirect selection of tests that follow the
//! models they test.

use std::collections::BTreeSet;
use std::fmt;

use super::{Dag, GraphNode, closest_names};
use crate::resource::ResourceType;

/// Answers `state:` selectors by comparing against an earlier manifest.
pub trait StateComparator {
    /// The node differs from (or is absent in) the earlier manifest.
    fn is_modified(&self, node: usize) -> bool;
    /// The node is absent in the earlier manifest.
    fn is_new(&self, node: usize) -> bool;
}

/// How tests are pulled in by the nodes they test (dbt's `--indirect-selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any of its parents is.
    #[default]
    Eager,
    /// A test is selected when all of its parents are.
    Cautious,
    /// A test is selected when each parent is selected or an ancestor of the
    /// selection (or a source), and at least one parent is selected.
    Buildable,
    /// Tests are selected only directly.
    Empty,
}

/// A selector the user wrote wrongly; `help` says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
    pub help: Option<String>,
}

impl SelectorError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SelectorError {}

/// The outcome of a selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Indices into the node slice.
    pub nodes: BTreeSet<usize>,
    /// Terms (as written, from `--select` or `--exclude`) that matched no
    /// enabled node; the caller warns about them.
    pub unmatched_terms: Vec<String>,
}

/// A parsed `--select` / `--exclude` pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// Empty: no `--select` given, so everything is selected.
    select: Vec<Term>,
    exclude: Vec<Term>,
}

/// Comma-joined parts, intersected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    method: Method,
    value: String,
    /// `@`: the node, its descendants and all their ancestors.
    at: bool,
    /// `None`: no `+` on that side.
    parents: Option<Depth>,
    children: Option<Depth>,
}

/// How far a `+` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// A bare `+`.
    All,
    /// `N+` or `+N`.
    Generations(usize),
}

impl Depth {
    fn limit(self) -> Option<usize> {
        match self {
            Self::All => None,
            Self::Generations(n) => Some(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    /// A bare value: name, fqn, or `source.table`.
    Default,
    Fqn,
    Tag,
    Path,
    File,
    Config(Vec<String>),
    Source,
    ResourceType(ResourceType),
    Package,
    State(StateKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateKind {
    Modified,
    New,
}

const METHODS: [&str; 9] = [
    "config",
    "file",
    "fqn",
    "package",
    "path",
    "resource_type",
    "source",
    "state",
    "tag",
];
const STATE_VALUES: [&str; 2] = ["modified", "new"];

/// Parses `--select` and `--exclude` values. No `--select` means everything.
pub fn parse(select: &[String], exclude: &[String]) -> Result<Selector, SelectorError> {
    Ok(Selector {
        select: parse_terms(select, "--select")?,
        exclude: parse_terms(exclude, "--exclude")?,
    })
}

fn parse_terms(values: &[String], flag: &str) -> Result<Vec<Term>, SelectorError> {
    let mut terms = Vec::new();
    for value in values {
        if value.trim().is_empty() {
            return Err(SelectorError::new(
                format!("`{flag}` was given an empty value"),
                format!("give `{flag}` a node name or a selector such as `tag:nightly`"),
            ));
        }
        for raw in value.split_whitespace() {
            let parts = raw
                .split(',')
                .map(|part| parse_part(part, raw))
                .collect::<Result<Vec<_>, _>>()?;
            terms.push(Term {
                raw: raw.to_owned(),
                parts,
            });
        }
    }
    Ok(terms)
}

fn parse_part(raw: &str, term: &str) -> Result<Part, SelectorError> {
    if raw.is_empty() {
        return Err(SelectorError::new(
            format!("selector `{term}` has an empty part between commas"),
            "remove the extra comma; comma-joined parts are intersected",
        ));
    }
    let mut rest = raw;
    let at = match rest.strip_prefix('@') {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut parents = None;
    if let (Some(count), Some(after)) = (rest.get(..digits), rest.get(digits..))
        && let Some(after) = after.strip_prefix('+')
    {
        parents = Some(parse_depth(count, raw)?);
        rest = after;
    }
    let mut children = None;
    if let Some(plus) = rest.rfind('+')
        && let (Some(before), Some(count)) = (rest.get(..plus), rest.get(plus + 1..))
        && count.bytes().all(|b| b.is_ascii_digit())
    {
        children = Some(parse_depth(count, raw)?);
        rest = before;
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(SelectorError::new(
            format!("selector `{raw}` combines `@` with `+`"),
            "use `@name` alone, or `+name+` for ancestors and descendants",
        ));
    }
    let (method, value) = match rest.split_once(':') {
        Some((name, value))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.') =>
        {
            (parse_method(name, value, raw)?, value)
        }
        _ => (default_method(rest), rest),
    };
    if value.is_empty() {
        return Err(if method == Method::Default {
            SelectorError::new(
                format!("selector `{raw}` names no node"),
                "write a node name next to the graph operator, e.g. `+orders` or `2+orders`",
            )
        } else {
            SelectorError::new(
                format!("selector `{raw}` has no value after the `:`"),
                "write a value after the method, e.g. `tag:nightly` or `path:models/marts`",
            )
        });
    }
    Ok(Part {
        method,
        value: value.to_owned(),
        at,
        parents,
        children,
    })
}

fn parse_depth(digits: &str, raw: &str) -> Result<Depth, SelectorError> {
    if digits.is_empty() {
        return Ok(Depth::All);
    }
    digits.parse().map(Depth::Generations).map_err(|_| {
        SelectorError::new(
            format!("graph depth `{digits}` in `{raw}` is too large"),
            "use a smaller number, or a bare `+` for every generation",
        )
    })
}

fn parse_method(name: &str, value: &str, raw: &str) -> Result<Method, SelectorError> {
    if let Some(keys) = name.strip_prefix("config.") {
        let keys: Vec<String> = keys.split('.').map(str::to_owned).collect();
        if keys.iter().any(String::is_empty) {
            return Err(SelectorError::new(
                format!("selector `{raw}` has an empty config key"),
                "write `config.KEY:VALUE`, e.g. `config.materialized:table`",
            ));
        }
        return Ok(Method::Config(keys));
    }
    Ok(match name {
        "fqn" => Method::Fqn,
        "tag" => Method::Tag,
        "path" => Method::Path,
        "file" => Method::File,
        "source" if value.split('.').count() > 3 => {
            return Err(SelectorError::new(
                format!("source selector `{raw}` has too many parts"),
                "write `source:NAME`, `source:NAME.TABLE` or `source:PACKAGE.NAME.TABLE`",
            ));
        }
        "source" => Method::Source,
        "package" => Method::Package,
        "resource_type" if value.is_empty() => Method::ResourceType(ResourceType::Model),
        "resource_type" => {
            let Some(kind) = ResourceType::parse(value) else {
                let names = ResourceType::ALL.map(ResourceType::as_str);
                return Err(unknown(
                    &format!("unknown resource type `{value}` in `{raw}`"),
                    value,
                    &names,
                ));
            };
            Method::ResourceType(kind)
        }
        "state" => match value {
            "modified" | "" => Method::State(StateKind::Modified),
            "new" => Method::State(StateKind::New),
            _ => {
                return Err(unknown(
                    &format!("unknown state selector `{value}` in `{raw}`"),
                    value,
                    &STATE_VALUES,
                ));
            }
        },
        "config" => {
            return Err(SelectorError::new(
                format!("selector `{raw}` needs a config key"),
                format!("write `config.KEY:VALUE`, e.g. `config.materialized:{value}`"),
            ));
        }
        _ => {
            return Err(unknown(
                &format!("unknown selector method `{name}` in `{raw}`"),
                name,
                &METHODS,
            ));
        }
    })
}

fn unknown(message: &str, wanted: &str, valid: &[&str]) -> SelectorError {
    let close = closest_names(wanted, valid.iter().copied(), 3);
    let list = valid.join(", ");
    let help = match close.as_slice() {
        [] => format!("valid choices: {list}"),
        [one] => format!("did you mean `{one}`? valid choices: {list}"),
        many => format!(
            "did you mean one of `{}`? valid choices: {list}",
            many.join("`, `")
        ),
    };
    SelectorError::new(message, help)
}

/// dbt's default method: a path if it looks like one, a file name if it ends
/// like one, else a name or fully qualified name.
fn default_method(value: &str) -> Method {
    let lower = value.to_ascii_lowercase();
    if value.contains('/') || value.contains('\\') {
        Method::Path
    } else if [".sql", ".csv", ".py", ".yml", ".yaml"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        Method::File
    } else {
        Method::Default
    }
}

/// Nodes selected directly, and tests waiting for all their parents
/// (cautious and buildable modes) to decide at the end.
#[derive(Debug, Default)]
struct Found {
    direct: BTreeSet<usize>,
    indirect: BTreeSet<usize>,
}

struct Context<'a> {
    nodes: &'a [GraphNode],
    dag: &'a Dag,
    state: Option<&'a dyn StateComparator>,
    indirect: IndirectSelection,
    /// Enabled nodes that are also in the graph.
    candidates: Vec<usize>,
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
            .any(|part| matches!(part.method, Method::State(_)))
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
                "--state DIR is required for state: selectors",
                "pass `--state` with the target folder of an earlier run, e.g. `--state prod-target/`",
            ));
        }
        let limit = nodes.len().min(dag.len());
        let cx = Context {
            nodes,
            dag,
            state,
            indirect,
            candidates: (0..limit)
                .filter(|&i| nodes.get(i).is_some_and(GraphNode::is_enabled))
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
                    nodes.get(i).is_some_and(|n| {
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
        let mut direct: Option<BTreeSet<usize>> = None;
        let mut indirect: Option<BTreeSet<usize>> = None;
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
        let matched: BTreeSet<usize> = self
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
    fn expand(&self, selected: BTreeSet<usize>) -> Found {
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
        let tests: BTreeSet<usize> = found
            .direct
            .iter()
            .flat_map(|&i| self.dag.children(i).iter().copied())
            .filter(|&c| !found.direct.contains(&c) && self.is_test(c))
            .collect();
        for test in tests {
            let parents = self.dag.parents(test);
            let all_in = |set: &BTreeSet<usize>| parents.iter().all(|p| set.contains(p));
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
        mut direct: BTreeSet<usize>,
        pending: &BTreeSet<usize>,
    ) -> BTreeSet<usize> {
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

    fn buildable_base(&self, selected: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut base = selected | &reach(self.dag, selected, None, Direction::Up);
        base.extend(
            self.candidates
                .iter()
                .copied()
                .filter(|&i| self.kind(i) == Some(ResourceType::Source)),
        );
        base
    }

    fn kind(&self, i: usize) -> Option<ResourceType> {
        self.nodes.get(i).map(|n| n.resource_type)
    }

    fn is_test(&self, i: usize) -> bool {
        self.kind(i) == Some(ResourceType::Test)
    }

    fn is_enabled(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(GraphNode::is_enabled)
    }

    fn matches(&self, part: &Part, i: usize) -> bool {
        let Some(node) = self.nodes.get(i) else {
            return false;
        };
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
            Method::State(kind) => self.state.is_some_and(|state| match kind {
                StateKind::Modified => state.is_modified(i),
                StateKind::New => state.is_new(i),
            }),
        }
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
    seeds: &BTreeSet<usize>,
    depth: Option<usize>,
    direction: Direction,
) -> BTreeSet<usize> {
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let mut visited: BTreeSet<usize> = seeds.clone();
    let mut frontier: Vec<usize> = seeds.iter().copied().collect();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::tests::model;
    use serde_json::json;

    const ALL: [ResourceType; 4] = ResourceType::ALL;

    /// A small project:
    ///
    /// ```text
    /// source synthetic.users -> stg_users -> dim_users -> report
    /// seed raw_orders       -> stg_orders -> orders ----^
    ///                                   \-> orders_daily (tag nightly_x)
    /// tests: not_null_orders_id (orders), rel_orders_users (orders, dim_users)
    /// disabled: old_model (under stg_orders)
    /// ```
    struct Fixture {
        nodes: Vec<GraphNode>,
        dag: Dag,
    }

    fn fixture() -> Fixture {
        let mut users = model("users", &[]);
        users.unique_id = "source.proj.synthetic.users".into();
        users.resource_type = ResourceType::Source;
        users.source_name = Some("synthetic".into());
        users.original_file_path = "models/staging/sources.yml".into();
        users.fqn = vec![
            "proj".into(),
            "staging".into(),
            "synthetic".into(),
            "users".into(),
        ];

        let mut raw_orders = model("raw_orders", &[]);
        raw_orders.unique_id = "seed.proj.raw_orders".into();
        raw_orders.resource_type = ResourceType::Seed;
        raw_orders.original_file_path = "seeds/raw_orders.csv".into();

        let mut stg_users = model("stg_users", &[]);
        stg_users.depends_on = vec!["source.proj.synthetic.users".into()];
        stg_users.original_file_path = "models/staging/stg_users.sql".into();
        stg_users.fqn = vec!["proj".into(), "staging".into(), "stg_users".into()];
        stg_users
            .config
            .insert("materialized".into(), json!("view"));

        let mut stg_orders = model("stg_orders", &[]);
        stg_orders.depends_on = vec!["seed.proj.raw_orders".into()];
        stg_orders.original_file_path = "models/staging/stg_orders.sql".into();
        stg_orders.fqn = vec!["proj".into(), "staging".into(), "stg_orders".into()];
        stg_orders
            .config
            .insert("materialized".into(), json!("view"));

        let mut dim_users = model("dim_users", &["stg_users"]);
        dim_users.original_file_path = "models/marts/dim_users.sql".into();
        dim_users.fqn = vec!["proj".into(), "marts".into(), "dim_users".into()];
        dim_users.tags = vec!["marts".into()];
        dim_users
            .config
            .insert("materialized".into(), json!("table"));

        let mut orders = model("orders", &["stg_orders"]);
        orders.original_file_path = "models/marts/orders.sql".into();
        orders.fqn = vec!["proj".into(), "marts".into(), "orders".into()];
        orders.tags = vec!["marts".into(), "daily".into()];
        orders.config.insert("materialized".into(), json!("table"));
        orders
            .config
            .insert("tags".into(), json!(["marts", "daily"]));
        orders
            .config
            .insert("meta".into(), json!({"owner": "ana", "pii": false}));

        let mut orders_daily = model("orders_daily", &["stg_orders"]);
        orders_daily.original_file_path = "models/marts/orders_daily.sql".into();
        orders_daily.fqn = vec!["proj".into(), "marts".into(), "orders_daily".into()];
        orders_daily.tags = vec!["nightly_x".into()];
        orders_daily
            .config
            .insert("materialized".into(), json!("incremental"));
        orders_daily.config.insert("enabled".into(), json!(true));

        let mut report = model("report", &["dim_users", "orders"]);
        report.original_file_path = "models/marts/reporting/report.sql".into();
        report.fqn = vec![
            "proj".into(),
            "marts".into(),
            "reporting".into(),
            "report".into(),
        ];

        let mut not_null = model("not_null_orders_id", &["orders"]);
        not_null.unique_id = "test.proj.not_null_orders_id.ab12cd".into();
        not_null.resource_type = ResourceType::Test;
        not_null.original_file_path = "models/marts/schema.yml".into();
        not_null.config.insert("severity".into(), json!("ERROR"));

        let mut rel = model("rel_orders_users", &["orders", "dim_users"]);
        rel.unique_id = "test.proj.rel_orders_users.ef34ab".into();
        rel.resource_type = ResourceType::Test;
        rel.original_file_path = "models/marts/schema.yml".into();
        rel.config.insert("severity".into(), json!("warn"));

        let mut old = model("old_model", &["stg_orders"]);
        old.config.insert("enabled".into(), json!(false));

        let nodes = vec![
            users,
            raw_orders,
            stg_users,
            stg_orders,
            dim_users,
            orders,
            orders_daily,
            report,
            not_null,
            rel,
            old,
        ];
        let dag = Dag::build(&nodes).unwrap();
        Fixture { nodes, dag }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|&s| s.to_owned()).collect()
    }

    impl Fixture {
        fn try_run(
            &self,
            select: &[&str],
            exclude: &[&str],
            indirect: IndirectSelection,
            types: &[ResourceType],
        ) -> Result<Selection, SelectorError> {
            parse(&strings(select), &strings(exclude))?.select(
                &self.nodes,
                &self.dag,
                None,
                indirect,
                types,
            )
        }

        fn names(&self, selection: &Selection) -> Vec<&str> {
            let mut names: Vec<&str> = selection
                .nodes
                .iter()
                .map(|&i| self.nodes[i].name.as_str())
                .collect();
            names.sort_unstable();
            names
        }

        /// Models, seeds and sources only (no tests), eager.
        fn sel(&self, select: &[&str]) -> Vec<&str> {
            let types = [
                ResourceType::Model,
                ResourceType::Seed,
                ResourceType::Source,
            ];
            let selection = self
                .try_run(select, &[], IndirectSelection::Eager, &types)
                .unwrap();
            self.names(&selection)
        }

        fn with_tests(
            &self,
            select: &[&str],
            exclude: &[&str],
            mode: IndirectSelection,
        ) -> Vec<&str> {
            let selection = self.try_run(select, exclude, mode, &ALL).unwrap();
            self.names(&selection)
        }

        fn err(&self, select: &str) -> SelectorError {
            self.try_run(&[select], &[], IndirectSelection::Eager, &ALL)
                .unwrap_err()
        }
    }

    #[test]
    fn no_select_means_every_enabled_node_of_the_types() {
        let f = fixture();
        assert_eq!(
            f.sel(&[]),
            [
                "dim_users",
                "orders",
                "orders_daily",
                "raw_orders",
                "report",
                "stg_orders",
                "stg_users",
                "users"
            ]
        );
        let selection = f
            .try_run(&[], &[], IndirectSelection::Eager, &[ResourceType::Test])
            .unwrap();
        assert_eq!(
            f.names(&selection),
            ["not_null_orders_id", "rel_orders_users"]
        );
    }

    #[test]
    fn bare_name_selects_the_node() {
        let f = fixture();
        assert_eq!(f.sel(&["orders"]), ["orders"]);
        assert_eq!(f.sel(&["old_model"]), Vec::<&str>::new());
    }

    #[test]
    fn bare_source_name_and_table() {
        let f = fixture();
        assert_eq!(f.sel(&["synthetic.users"]), ["users"]);
        assert_eq!(f.sel(&["users"]), ["users"]);
    }

    #[test]
    fn bare_fqn_prefix_selects_a_folder() {
        let f = fixture();
        assert_eq!(f.sel(&["proj.marts.reporting"]), ["report"]);
        assert_eq!(
            f.sel(&["fqn:proj.staging.*"]),
            ["stg_orders", "stg_users", "users"]
        );
        assert_eq!(f.sel(&["fqn:orders"]), ["orders"]);
    }

    #[test]
    fn plus_prefix_selects_all_ancestors() {
        let f = fixture();
        assert_eq!(f.sel(&["+orders"]), ["orders", "raw_orders", "stg_orders"]);
    }

    #[test]
    fn plus_suffix_selects_all_descendants() {
        let f = fixture();
        assert_eq!(
            f.sel(&["stg_orders+"]),
            ["orders", "orders_daily", "report", "stg_orders"]
        );
    }

    #[test]
    fn depth_limits_generations() {
        let f = fixture();
        assert_eq!(f.sel(&["1+orders"]), ["orders", "stg_orders"]);
        assert_eq!(f.sel(&["2+orders"]), ["orders", "raw_orders", "stg_orders"]);
        assert_eq!(f.sel(&["raw_orders+1"]), ["raw_orders", "stg_orders"]);
        assert_eq!(
            f.sel(&["1+stg_orders+1"]),
            ["orders", "orders_daily", "raw_orders", "stg_orders"]
        );
    }

    #[test]
    fn at_selects_descendants_and_their_ancestors() {
        let f = fixture();
        assert_eq!(
            f.sel(&["@stg_users"]),
            [
                "dim_users",
                "orders",
                "raw_orders",
                "report",
                "stg_orders",
                "stg_users",
                "users"
            ]
        );
    }

    #[test]
    fn whitespace_terms_are_a_union() {
        let f = fixture();
        assert_eq!(f.sel(&["orders dim_users"]), ["dim_users", "orders"]);
        assert_eq!(f.sel(&["orders", "dim_users"]), ["dim_users", "orders"]);
    }

    #[test]
    fn comma_parts_are_an_intersection() {
        let f = fixture();
        assert_eq!(f.sel(&["+report,tag:marts"]), ["dim_users", "orders"]);
        assert_eq!(
            f.sel(&["path:models/marts,config.materialized:table"]),
            ["dim_users", "orders"]
        );
    }

    #[test]
    fn exclude_removes_nodes() {
        let f = fixture();
        let types = [ResourceType::Model];
        let selection = f
            .try_run(
                &["+report"],
                &["stg_users dim_users"],
                IndirectSelection::Eager,
                &types,
            )
            .unwrap();
        assert_eq!(f.names(&selection), ["orders", "report", "stg_orders"]);
    }

    #[test]
    fn exclude_also_excludes_the_excluded_models_tests() {
        let f = fixture();
        assert!(
            !f.with_tests(&[], &["orders"], IndirectSelection::Eager)
                .contains(&"not_null_orders_id")
        );
        let cautious = f.with_tests(&[], &["dim_users"], IndirectSelection::Cautious);
        assert!(cautious.contains(&"rel_orders_users"));
        let eager = f.with_tests(&[], &["dim_users"], IndirectSelection::Eager);
        assert!(!eager.contains(&"rel_orders_users"));
    }

    #[test]
    fn tag_method_with_wildcards() {
        let f = fixture();
        assert_eq!(f.sel(&["tag:marts"]), ["dim_users", "orders"]);
        assert_eq!(f.sel(&["tag:nightly*"]), ["orders_daily"]);
        assert_eq!(f.sel(&["tag:dail?"]), ["orders"]);
    }

    #[test]
    fn name_wildcards() {
        let f = fixture();
        assert_eq!(f.sel(&["stg_*"]), ["stg_orders", "stg_users"]);
        assert_eq!(f.sel(&["orders*"]), ["orders", "orders_daily"]);
        assert_eq!(f.sel(&["*"]).len(), 8);
    }

    #[test]
    fn path_method_matches_folders_files_and_globs() {
        let f = fixture();
        assert_eq!(
            f.sel(&["path:models/marts"]),
            ["dim_users", "orders", "orders_daily", "report"]
        );
        assert_eq!(f.sel(&["path:models/marts/"]).len(), 4);
        assert_eq!(f.sel(&["path:./models/marts/orders.sql"]), ["orders"]);
        assert_eq!(f.sel(&["models/marts/orders.sql"]), ["orders"]);
        assert_eq!(
            f.sel(&["models/staging"]),
            ["stg_orders", "stg_users", "users"]
        );
        assert_eq!(f.sel(&["path:models/*/stg_u*"]), ["stg_users"]);
        assert_eq!(f.sel(&["path:**/report.sql"]), ["report"]);
        assert_eq!(f.sel(&["path:models/mart"]), Vec::<&str>::new());
        assert_eq!(f.sel(&["path:seeds"]), ["raw_orders"]);
    }

    #[test]
    fn file_method_matches_file_name_or_stem() {
        let f = fixture();
        assert_eq!(f.sel(&["orders.sql"]), ["orders"]);
        assert_eq!(f.sel(&["file:raw_orders.csv"]), ["raw_orders"]);
        assert_eq!(f.sel(&["file:report"]), ["report"]);
    }

    #[test]
    fn config_method_compares_strings_lists_booleans_and_nested_keys() {
        let f = fixture();
        assert_eq!(
            f.sel(&["config.materialized:view"]),
            ["stg_orders", "stg_users"]
        );
        assert_eq!(f.sel(&["config.tags:daily"]), ["orders"]);
        assert_eq!(f.sel(&["config.enabled:true"]), ["orders_daily"]);
        assert_eq!(f.sel(&["config.meta.owner:ana"]), ["orders"]);
        assert_eq!(f.sel(&["config.meta.pii:False"]), ["orders"]);
        assert_eq!(f.sel(&["config.nope:x"]), Vec::<&str>::new());
        let tests = f.with_tests(&["config.severity:error"], &[], IndirectSelection::Empty);
        assert_eq!(tests, ["not_null_orders_id"]);
    }

    #[test]
    fn source_method() {
        let f = fixture();
        assert_eq!(f.sel(&["source:synthetic"]), ["users"]);
        assert_eq!(f.sel(&["source:synthetic.users"]), ["users"]);
        assert_eq!(f.sel(&["source:proj.synthetic.*"]), ["users"]);
        assert_eq!(f.sel(&["source:synthetic.nope"]), Vec::<&str>::new());
        assert_eq!(
            f.sel(&["source:synthetic+"]),
            ["dim_users", "report", "stg_users", "users"]
        );
        assert_eq!(f.sel(&["source:stg_users"]), Vec::<&str>::new());
    }

    #[test]
    fn resource_type_and_package_methods() {
        let f = fixture();
        assert_eq!(f.sel(&["resource_type:seed"]), ["raw_orders"]);
        assert_eq!(
            f.with_tests(&["resource_type:test"], &[], IndirectSelection::Eager),
            ["not_null_orders_id", "rel_orders_users"]
        );
        assert_eq!(f.sel(&["package:proj"]).len(), 8);
        assert_eq!(f.sel(&["package:other"]), Vec::<&str>::new());
    }

    struct Changed;
    impl StateComparator for Changed {
        fn is_modified(&self, node: usize) -> bool {
            node == 3 || node == 4
        }
        fn is_new(&self, node: usize) -> bool {
            node == 4
        }
    }

    #[test]
    fn state_method_uses_the_comparator() {
        let f = fixture();
        let types = [ResourceType::Model];
        let run = |select: &str| {
            let selection = parse(&strings(&[select]), &[])
                .unwrap()
                .select(
                    &f.nodes,
                    &f.dag,
                    Some(&Changed),
                    IndirectSelection::Eager,
                    &types,
                )
                .unwrap();
            f.names(&selection)
        };
        assert_eq!(run("state:modified"), ["dim_users", "stg_orders"]);
        assert_eq!(run("state:new"), ["dim_users"]);
        assert_eq!(
            run("state:modified+"),
            [
                "dim_users",
                "orders",
                "orders_daily",
                "report",
                "stg_orders"
            ]
        );
    }

    #[test]
    fn state_method_without_state_is_an_error() {
        let f = fixture();
        let err = f.err("state:modified");
        assert_eq!(err.message, "--state DIR is required for state: selectors");
        let err = f
            .try_run(&["orders"], &["state:new"], IndirectSelection::Eager, &ALL)
            .unwrap_err();
        assert!(err.message.contains("--state"));
        assert!(f.err("state:modifed").help.unwrap().contains("`modified`"));
    }

    #[test]
    fn eager_tests_follow_any_selected_parent() {
        let f = fixture();
        assert_eq!(
            f.with_tests(&["orders"], &[], IndirectSelection::Eager),
            ["not_null_orders_id", "orders", "rel_orders_users"]
        );
    }

    #[test]
    fn cautious_tests_need_all_parents() {
        let f = fixture();
        assert_eq!(
            f.with_tests(&["orders"], &[], IndirectSelection::Cautious),
            ["not_null_orders_id", "orders"]
        );
        // Parents selected by different terms still count.
        assert_eq!(
            f.with_tests(&["orders dim_users"], &[], IndirectSelection::Cautious),
            [
                "dim_users",
                "not_null_orders_id",
                "orders",
                "rel_orders_users"
            ]
        );
    }

    #[test]
    fn buildable_tests_allow_ancestor_parents() {
        let f = fixture();
        assert_eq!(
            f.with_tests(&["report"], &[], IndirectSelection::Buildable),
            ["report"]
        );
        assert_eq!(
            f.with_tests(&["orders"], &[], IndirectSelection::Buildable),
            ["not_null_orders_id", "orders"]
        );
    }

    #[test]
    fn empty_indirect_selection_adds_no_tests() {
        let f = fixture();
        assert_eq!(
            f.with_tests(&["orders"], &[], IndirectSelection::Empty),
            ["orders"]
        );
    }

    #[test]
    fn model_with_test_intersection_selects_its_tests() {
        let f = fixture();
        assert_eq!(
            f.with_tests(
                &["orders,resource_type:test"],
                &[],
                IndirectSelection::Eager
            ),
            ["not_null_orders_id", "rel_orders_users"]
        );
        assert_eq!(
            f.with_tests(
                &["orders,resource_type:test"],
                &[],
                IndirectSelection::Cautious
            ),
            ["not_null_orders_id"]
        );
    }

    #[test]
    fn descendant_operator_includes_tests() {
        let f = fixture();
        assert_eq!(
            f.with_tests(&["dim_users+"], &[], IndirectSelection::Cautious),
            ["dim_users", "rel_orders_users", "report"]
        );
    }

    #[test]
    fn unmatched_terms_are_reported_not_errors() {
        let f = fixture();
        let selection = f
            .try_run(
                &["orders nope tag:zzz", "tag:marts,stg_users"],
                &["ghost"],
                IndirectSelection::Eager,
                &ALL,
            )
            .unwrap();
        assert_eq!(
            selection.unmatched_terms,
            ["nope", "tag:zzz", "tag:marts,stg_users", "ghost"]
        );
        assert_eq!(
            f.names(&selection),
            ["not_null_orders_id", "orders", "rel_orders_users"]
        );
        let only_disabled = f
            .try_run(&["old_model"], &[], IndirectSelection::Eager, &ALL)
            .unwrap();
        assert_eq!(only_disabled.unmatched_terms, ["old_model"]);
    }

    #[test]
    fn unknown_method_suggests_the_closest() {
        let f = fixture();
        let err = f.err("tga:nightly");
        assert_eq!(
            err.message,
            "unknown selector method `tga` in `tga:nightly`"
        );
        assert!(err.help.unwrap().starts_with("did you mean `tag`?"));
        let err = f.err("resource_typ:model");
        assert!(err.help.unwrap().contains("`resource_type`"));
        let err = f.err("resource_type:modle");
        assert!(err.help.unwrap().contains("`model`"));
        let err = f.err("config:table");
        assert!(err.help.unwrap().contains("config.materialized:table"));
    }

    #[test]
    fn malformed_selectors_are_errors() {
        let f = fixture();
        for bad in [
            "+",
            "3+",
            "@",
            "tag:",
            "fqn:+",
            "a,,b",
            ",",
            "orders,",
            "@+orders",
            "@orders+",
            "config.:x",
            "source:a.b.c.d",
            "99999999999999999999999+orders",
        ] {
            let err = f.err(bad);
            assert!(err.help.is_some(), "{bad}: {err:?}");
        }
        assert!(f.err("").message.contains("empty"));
        assert!(f.err("   ").message.contains("empty"));
        let err = f
            .try_run(&["orders"], &[""], IndirectSelection::Eager, &ALL)
            .unwrap_err();
        assert!(err.message.contains("--exclude"));
    }

    #[test]
    fn parse_reads_operators() {
        let selector = parse(&strings(&["2+tag:a+3"]), &[]).unwrap();
        let part = &selector.select[0].parts[0];
        assert_eq!(part.method, Method::Tag);
        assert_eq!(part.value, "a");
        assert_eq!(part.parents, Some(Depth::Generations(2)));
        assert_eq!(part.children, Some(Depth::Generations(3)));
        assert!(!part.at);
        assert!(parse(&[], &[]).unwrap().selects_everything());
    }

    #[test]
    fn glob_handles_stars_and_question_marks() {
        assert!(glob("stg_*", "stg_orders"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("o?ders", "orders"));
        assert!(!glob("orders", "orders2"));
        assert!(glob("**x", "abx"));
        assert!(glob("é?", "éa"));
    }

    #[test]
    fn mismatched_slices_do_not_panic() {
        let f = fixture();
        let selection = parse(&strings(&["+report+"]), &[])
            .unwrap()
            .select(&f.nodes[..3], &f.dag, None, IndirectSelection::Eager, &ALL)
            .unwrap();
        assert!(selection.nodes.iter().all(|&i| i < 3));
    }
}
