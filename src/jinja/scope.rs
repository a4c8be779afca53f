//! The per-render state behind `ref`, `source`, `config`, `is_incremental`
//! and `run_query`. Every render runs on one thread, so the node being
//! rendered and what its template asked for live in a thread-local scope.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};
use serde_json::Map;

use crate::adapter::{AdapterError, AdapterKind, QueryResult, RelationRef};
use crate::jinja::objects::Relation;
use crate::jinja::warehouse::QueryTable;
use crate::project::EnvVars;
use crate::project::versions::{ModelVersion, compare_identifiers};
use crate::resource::NodeId;

/// Why a render is happening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reading the project: refs and `config()` are recorded; `execute` is false.
    Parse,
    /// Producing compiled SQL without a warehouse.
    Compile,
    /// Just before the node runs: `is_incremental()` and `run_query` are live.
    Execute,
}

/// What the render-time functions know about the project.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub kind: AdapterKind,
    pub project_name: String,
    pub target: Value,
    /// The root project's name, then each package's that has nodes.
    pub packages: Vec<String>,
    /// The vars `var()` sees inside each of `packages`
    /// ([`crate::project::Project::vars_for`]).
    pub var_scopes: Vec<Map<String, serde_json::Value>>,
    /// The package of each node (a position in `packages`), by index.
    pub package_of: Vec<usize>,
    /// Models and seeds by name (enabled only); one name may be in
    /// several packages.
    pub refable: HashMap<String, Vec<NodeId>>,
    /// `(source, table)` -> node index.
    pub sources: HashMap<(String, String), NodeId>,
    /// Relation of every node, by index.
    pub relations: Vec<RelationRef>,
    /// Whether a node is an ephemeral model, by index.
    pub ephemeral: Vec<bool>,
    /// Sources read from files (dbt-duckdb's `external_location`): what
    /// `source()` renders as.
    pub external: HashMap<NodeId, String>,
    /// Names of disabled models, so `ref` can say why it fails.
    pub disabled: Vec<String>,
    /// The version of each versioned model node.
    pub versions: HashMap<NodeId, crate::project::versions::ModelVersion>,
}

impl Catalog {
    /// The package (a position in `packages`) of `node`; the root project
    /// for a project hook, which is no node.
    pub fn package_index_of(&self, node: NodeId) -> usize {
        self.package_of.get(node.index()).copied().unwrap_or(0)
    }

    /// The model or seed `ref(name)` or `ref(package, name)` means in a
    /// node of package `from`: as dbt resolves it, the node's own package
    /// first, then the root project, then any package. Of a versioned
    /// model, `version` picks one (`ref('m', v=2)`); none means the latest.
    pub fn resolve_ref(
        &self,
        package: Option<&str>,
        name: &str,
        version: Option<&str>,
        from: usize,
    ) -> Option<NodeId> {
        let candidates = self.refable.get(name)?;
        let wanted = |c: NodeId| match (self.versions.get(&c), version) {
            (None, None) => true,
            (Some(found), None) => found.is_latest(),
            (Some(found), Some(version)) => found.text() == version,
            (None, Some(_)) => false,
        };
        let in_package = |position: usize| {
            candidates
                .iter()
                .copied()
                .find(|&c| self.package_index_of(c) == position && wanted(c))
        };
        match package {
            Some(package) => in_package(self.packages.iter().position(|p| p == package)?),
            None => in_package(from)
                .or_else(|| in_package(0))
                .or_else(|| candidates.iter().copied().find(|&c| wanted(c))),
        }
    }

    /// Of versioned model `latest` (named `name`), the highest version of
    /// the same package beyond it, a prerelease not yet marked latest.
    pub fn prerelease_beyond(&self, name: &str, latest: NodeId) -> Option<String> {
        let current = self.versions.get(&latest)?.text();
        let package = self.package_index_of(latest);
        self.refable
            .get(name)?
            .iter()
            .filter(|&&c| self.package_index_of(c) == package)
            .filter_map(|c| self.versions.get(c).map(ModelVersion::text))
            .filter(|v| compare_identifiers(v, &current) == std::cmp::Ordering::Greater)
            .max_by(|a, b| compare_identifiers(a, b))
    }

    /// The relation a literal `ref('x')` or `source('s', 't')` (a test's
    /// `to:` argument, a constraint's `to:`) names as seen from node
    /// `from`, rendered for SQL; `None` for other text, an unknown node or
    /// an ephemeral model, which is no relation.
    pub fn rendered_relation_of_call(&self, call: &str, from: NodeId) -> Option<String> {
        let index = match crate::scan::relation_call(call)? {
            crate::scan::RelationCall::Ref(model) => {
                self.resolve_ref(None, model, None, self.package_index_of(from))?
            }
            crate::scan::RelationCall::Source(source, table) => {
                *self.sources.get(&(source.to_string(), table.to_string()))?
            }
        };
        if self.ephemeral.get(index.index()).copied().unwrap_or(true) {
            return None;
        }
        let relation = self.relations.get(index.index())?;
        Some(self.kind.render_relation(relation))
    }
}

/// A failure raised by one of sb's functions, with what the user needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    UnknownRef {
        name: String,
        close: Vec<String>,
        disabled: bool,
    },
    /// `ref('m', v=9)` where `m` has no such version (or none at all).
    UnknownVersion {
        name: String,
        version: String,
        known: Vec<String>,
    },
    UnknownSource {
        source: String,
        table: String,
        close: Vec<String>,
    },
    MissingVar {
        name: String,
    },
    MissingEnvVar {
        name: String,
    },
    /// `env_var()` of a secret variable outside the profile.
    SecretEnvVar {
        name: String,
    },
    UnknownConfigKey {
        key: String,
    },
    Raised(String),
    Query(String),
}

/// What a template asked for while rendering.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub refs: Vec<NodeId>,
    pub sources: Vec<NodeId>,
    pub config: Vec<(String, serde_json::Value)>,
    pub used_is_incremental: bool,
    pub used_run_query: bool,
    /// The template read `graph`.
    pub used_graph: bool,
    pub logs: Vec<String>,
    pub failure: Option<Failure>,
    /// `ref()`s without a version that resolved to a versioned model's
    /// latest while a later (prerelease) version exists: (name, latest,
    /// the prerelease).
    pub unpinned: Vec<(String, String, String)>,
}

/// A query runner for `run_query` at execution time.
pub type QueryFn = Box<dyn FnMut(&str) -> Result<QueryResult, AdapterError>>;

struct Scope {
    catalog: Arc<Catalog>,
    node: NodeId,
    mode: Mode,
    is_incremental: bool,
    config: Map<String, serde_json::Value>,
    captured: Captured,
    query: Option<QueryFn>,
    /// `{% call statement('name') %}` results, for `load_result('name')`.
    results: HashMap<String, Value>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `f` with a scope for rendering `node`; returns what was captured.
pub fn with_scope<R>(
    catalog: &Arc<Catalog>,
    node: NodeId,
    mode: Mode,
    is_incremental: bool,
    config: Map<String, serde_json::Value>,
    query: Option<QueryFn>,
    f: impl FnOnce() -> R,
) -> (R, Captured) {
    let previous = SCOPE.with(|s| {
        s.borrow_mut().replace(Scope {
            catalog: Arc::clone(catalog),
            node,
            mode,
            is_incremental,
            config,
            captured: Captured::default(),
            query,
            results: HashMap::new(),
        })
    });
    let result = f();
    let scope = SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), previous));
    (result, scope.map(|s| s.captured).unwrap_or_default())
}

fn with<R>(f: impl FnOnce(&mut Scope) -> R) -> Option<R> {
    SCOPE.with(|s| s.borrow_mut().as_mut().map(f))
}

fn no_scope() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "this function is only available while rendering a node",
    )
}

pub fn set_failure(failure: Failure) {
    with(|s| s.captured.failure = Some(failure));
}

fn fail(failure: Failure, message: String) -> Error {
    set_failure(failure);
    Error::new(ErrorKind::InvalidOperation, message)
}

pub fn log(message: String) {
    with(|s| s.captured.logs.push(message));
}

pub fn record_config(entries: Vec<(String, Value)>) -> Result<(), Error> {
    for (key, value) in entries {
        let normalized = crate::project::config::normalize_key(&key);
        if !crate::project::config::is_known_key(&normalized) {
            return Err(fail(
                Failure::UnknownConfigKey { key: key.clone() },
                format!("unknown config key `{key}`"),
            ));
        }
        let json = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
        with(|s| {
            s.config.insert(normalized.clone(), json.clone());
            s.captured.config.push((normalized, json));
        });
    }
    Ok(())
}

pub fn config_value(key: &str) -> Option<Value> {
    with(|s| {
        s.config
            .get(&crate::project::config::normalize_key(key))
            .cloned()
    })
    .flatten()
    .filter(|v| !v.is_null())
    .map(|v| crate::jinja::to_value(&v))
}

/// How `ref()` or `source()` of node `index` prints in SQL: its relation,
/// an ephemeral model's CTE name, or a source's `external_location`.
pub fn reference_text(catalog: &Catalog, index: NodeId) -> String {
    relation_object(catalog, index).rendered()
}

fn relation_value(catalog: &Catalog, index: NodeId) -> Value {
    Value::from_object(relation_object(catalog, index))
}

fn relation_object(catalog: &Catalog, index: NodeId) -> Relation {
    let relation = catalog
        .relations
        .get(index.index())
        .cloned()
        .unwrap_or_else(|| RelationRef {
            database: None,
            schema: String::new(),
            identifier: String::new(),
        });
    let rendered_as = match catalog.external.get(&index) {
        Some(location) => Some(location.clone()),
        None => catalog
            .ephemeral
            .get(index.index())
            .copied()
            .unwrap_or(false)
            .then(|| format!("__dbt__cte__{}", relation.identifier)),
    };
    Relation {
        rendered_as,
        ..Relation::new(catalog.kind, relation)
    }
}

/// `ref('model')` or `ref('package', 'model')`, with `v=` (or `version=`)
/// for one version of a versioned model.
pub fn ref_fn(args: &[Value]) -> Result<Value, Error> {
    let (positional, version) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => {
            let kwargs = minijinja::value::Kwargs::try_from(last.clone())?;
            let v: Option<Value> = kwargs.get("v")?;
            let long: Option<Value> = kwargs.get("version")?;
            kwargs.assert_all_used()?;
            let text = v
                .or(long)
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            (rest, text)
        }
        _ => (args, None),
    };
    let names: Vec<&str> = positional.iter().filter_map(Value::as_str).collect();
    let (package, name) = match names.as_slice() {
        [name] => (None, (*name).to_string()),
        [package, name] => (Some(*package), (*name).to_string()),
        _ => {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "ref() takes the name of a model or seed, e.g. ref('orders')",
            ));
        }
    };
    with(|s| {
        let catalog = Arc::clone(&s.catalog);
        let from = catalog.package_index_of(s.node);
        if let Some(index) = catalog.resolve_ref(package, &name, version.as_deref(), from) {
            if !s.captured.refs.contains(&index) {
                s.captured.refs.push(index);
            }
            if version.is_none()
                && let Some(prerelease) = catalog.prerelease_beyond(&name, index)
            {
                let latest = catalog.versions[&index].text();
                let entry = (name.clone(), latest, prerelease);
                if !s.captured.unpinned.contains(&entry) {
                    s.captured.unpinned.push(entry);
                }
            }
            Ok(relation_value(&catalog, index))
        } else if let Some(version) = version.filter(|_| catalog.refable.contains_key(&name)) {
            let mut known: Vec<String> = catalog.refable[&name]
                .iter()
                .filter_map(|c| catalog.versions.get(c).map(ModelVersion::text))
                .collect();
            known.sort_by(|a, b| compare_identifiers(a, b));
            s.captured.failure = Some(Failure::UnknownVersion {
                name: name.clone(),
                version: version.clone(),
                known,
            });
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unknown version {version} of `{name}`"),
            ))
        } else {
            let disabled = catalog.disabled.contains(&name);
            let close = crate::diag::suggest::closest_names(
                &name,
                catalog.refable.keys().map(String::as_str),
                3,
            );
            s.captured.failure = Some(Failure::UnknownRef {
                name: name.clone(),
                close,
                disabled,
            });
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unknown ref `{name}`"),
            ))
        }
    })
    .unwrap_or_else(|| Err(no_scope()))
}

/// `source('source', 'table')`.
pub fn source_fn(source: &str, table: &str) -> Result<Value, Error> {
    with(|s| {
        let catalog = Arc::clone(&s.catalog);
        if let Some(&index) = catalog
            .sources
            .get(&(source.to_string(), table.to_string()))
        {
            if !s.captured.sources.contains(&index) {
                s.captured.sources.push(index);
            }
            return Ok(relation_value(&catalog, index));
        }
        let known: Vec<String> = catalog
            .sources
            .keys()
            .map(|(a, b)| format!("{a}.{b}"))
            .collect();
        let close = crate::diag::suggest::closest_names(
            &format!("{source}.{table}"),
            known.iter().map(String::as_str),
            3,
        );
        s.captured.failure = Some(Failure::UnknownSource {
            source: source.to_string(),
            table: table.to_string(),
            close,
        });
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("unknown source `{source}.{table}`"),
        ))
    })
    .unwrap_or_else(|| Err(no_scope()))
}

/// `var('name', default)`.
pub fn var_fn(name: &str, default: Option<Value>) -> Result<Value, Error> {
    let found = with(|s| {
        let package = s.catalog.package_index_of(s.node);
        s.catalog.var_scopes[package].get(name).cloned()
    })
    .ok_or_else(no_scope)?;
    match (found, default) {
        (Some(value), _) => Ok(crate::jinja::to_value(&value)),
        (None, Some(default)) => Ok(default),
        (None, None) => Err(fail(
            Failure::MissingVar {
                name: name.to_string(),
            },
            format!("required var `{name}` is not set"),
        )),
    }
}

/// `env_var('NAME', default)`.
pub fn env_var_fn(env: &EnvVars, name: &str, default: Option<Value>) -> Result<Value, Error> {
    if crate::secrets::is_secret_name(name) {
        return Err(fail(
            Failure::SecretEnvVar {
                name: name.to_string(),
            },
            format!("`{name}` is a secret environment variable"),
        ));
    }
    match (env.get(name), default) {
        (Some(value), _) => Ok(Value::from(value)),
        (None, Some(default)) => Ok(default),
        (None, None) => Err(fail(
            Failure::MissingEnvVar {
                name: name.to_string(),
            },
            format!("environment variable `{name}` is not set"),
        )),
    }
}

pub fn is_incremental_fn() -> bool {
    with(|s| {
        s.captured.used_is_incremental = true;
        s.mode == Mode::Execute && s.is_incremental
    })
    .unwrap_or(false)
}

pub fn execute_flag() -> bool {
    with(|s| s.mode == Mode::Execute).unwrap_or(false)
}

/// `graph` was read.
pub fn read_graph() {
    with(|s| s.captured.used_graph = true);
}

/// `execute` was read: what the template does may depend on the warehouse,
/// so the node is rendered again when it runs.
pub fn read_execute() -> bool {
    with(|s| {
        s.captured.used_run_query = true;
        s.mode == Mode::Execute
    })
    .unwrap_or(false)
}

/// `run_query(sql)`: `none` until execution time, as in dbt.
pub fn run_query_fn(sql: &str) -> Result<Value, Error> {
    Ok(match warehouse_query(sql)? {
        None => Value::from(()),
        Some(result) => QueryTable::value(result),
    })
}

/// Runs `sql` on the warehouse at execution time; `None` before (while
/// parsing or compiling without a connection). Marks the node to be
/// rendered again when it runs.
pub fn warehouse_query(sql: &str) -> Result<Option<QueryResult>, Error> {
    let outcome = with(|s| {
        s.captured.used_run_query = true;
        if s.mode != Mode::Execute {
            return None;
        }
        s.query.as_mut().map(|query| query(sql))
    })
    .flatten();
    match outcome {
        None => Ok(None),
        Some(Ok(result)) => Ok(Some(result)),
        Some(Err(error)) => Err(fail(
            Failure::Query(error.message.clone()),
            format!("run_query failed: {}", error.message),
        )),
    }
}

/// Keeps a statement's result for `load_result(name)`.
pub fn store_result(name: &str, result: Value) {
    with(|s| s.results.insert(name.to_string(), result));
}

/// `load_result(name)`: the stored result, or `none`.
pub fn load_result(name: &str) -> Value {
    with(|s| s.results.get(name).cloned())
        .flatten()
        .unwrap_or(Value::from(()))
}

/// The adapter kind of the render.
pub fn adapter_kind() -> Option<AdapterKind> {
    with(|s| s.catalog.kind)
}

/// `this`: the relation of the node being rendered.
pub fn this_value() -> Value {
    with(|s| {
        let catalog = Arc::clone(&s.catalog);
        relation_value(&catalog, s.node)
    })
    .unwrap_or_default()
}
