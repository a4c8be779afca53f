//! Values that models and macros see in Jinja: relations (`ref`, `source`,
//! `this`), the `config` object, `adapter` and `exceptions`; query results
//! and warehouse look-ups live in `warehouse`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use super::modules::MacroModules;
use super::namespaces::NamespacedMacro;
use crate::adapter::{AdapterKind, RelationRef};
use crate::jinja::scope;
use crate::project::settings::DispatchOrder;

/// A warehouse relation: renders as its quoted name. It is a mapping with
/// dbt's `metadata.type`, as packages check (`dbt_utils._is_relation`).
#[derive(Debug, Clone)]
pub struct Relation {
    pub kind: AdapterKind,
    pub relation: RelationRef,
    /// What the relation renders as instead of its quoted name: an
    /// ephemeral model's CTE, a source's `external_location`, or the name
    /// with some parts left out (`include`).
    pub rendered_as: Option<String>,
    /// `table` or `view` when known (a relation found in the warehouse).
    pub relation_type: Option<String>,
}

impl Relation {
    pub fn new(kind: AdapterKind, relation: RelationRef) -> Self {
        Self {
            kind,
            relation,
            rendered_as: None,
            relation_type: None,
        }
    }

    pub fn rendered(&self) -> String {
        self.rendered_as
            .clone()
            .unwrap_or_else(|| self.kind.render_relation(&self.relation))
    }

    fn type_name(&self) -> &'static str {
        match self.kind {
            AdapterKind::Duckdb => "DuckDBRelation",
            AdapterKind::Bigquery => "BigQueryRelation",
        }
    }

    /// `relation.include(database=false, ...)`: the name without some parts.
    fn include(&self, args: &[Value]) -> Result<Value, Error> {
        let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
        let keep = |key: &str| -> Result<bool, Error> {
            Ok(kwargs.get::<Option<bool>>(key)?.unwrap_or(true))
        };
        let r = &self.relation;
        let mut parts = Vec::new();
        if keep("database")?
            && let Some(database) = &r.database
        {
            parts.push(self.kind.quote(database));
        }
        if keep("schema")? {
            parts.push(self.kind.quote(&r.schema));
        }
        if keep("identifier")? {
            parts.push(self.kind.quote(&r.identifier));
        }
        kwargs.assert_all_used()?;
        Ok(Value::from_object(Self {
            rendered_as: Some(parts.join(".")),
            ..self.clone()
        }))
    }
}

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let r = &self.relation;
        let kind = self.relation_type.as_deref();
        Some(match key.as_str()? {
            "database" | "project" => Value::from(r.database.clone()),
            "schema" | "dataset" => Value::from(r.schema.clone()),
            "identifier" | "name" | "table" => Value::from(r.identifier.clone()),
            "is_table" => Value::from(kind == Some("table")),
            "is_view" => Value::from(kind == Some("view")),
            "type" => Value::from(kind.map(str::to_string)),
            "is_cte" => Value::from(
                self.rendered_as
                    .as_deref()
                    .is_some_and(|n| n.starts_with("__dbt__cte__")),
            ),
            "metadata" => crate::jinja::map_value([("type", Value::from(self.type_name()))]),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["database", "schema", "identifier", "type", "metadata"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(self.rendered())),
            "get" => {
                let key = args.first().cloned().unwrap_or_default();
                Ok(self
                    .get_value(&key)
                    .filter(|v| !v.is_none())
                    .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(()))))
            }
            "include" => self.include(args),
            "incorporate" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                let relation_type: Option<String> = kwargs.get("type")?;
                let _: Option<Value> = kwargs.get("path")?;
                kwargs.assert_all_used()?;
                Ok(Value::from_object(Self {
                    relation_type: relation_type.or_else(|| self.relation_type.clone()),
                    ..self.as_ref().clone()
                }))
            }
            "quote" => Ok(Value::from_object(self.as_ref().clone())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a relation has no method `{method}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered())
    }
}

/// `model`: facts about the node being rendered. Its config is converted
/// for templates only when a template reads it.
#[derive(Debug)]
pub struct ModelFacts {
    pub name: String,
    pub unique_id: String,
    pub resource_type: &'static str,
    pub package_name: String,
    pub original_file_path: String,
    pub path: String,
    pub fqn: Vec<String>,
    pub description: String,
    pub config: crate::project::config::NodeConfig,
    /// A versioned model's version and its model's latest version.
    pub version: Option<crate::project::versions::ModelVersion>,
}

impl Object for ModelFacts {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" => Value::from(self.name.as_str()),
            "unique_id" => Value::from(self.unique_id.as_str()),
            "resource_type" => Value::from(self.resource_type),
            "package_name" => Value::from(self.package_name.as_str()),
            "original_file_path" => Value::from(self.original_file_path.as_str()),
            "path" => Value::from(self.path.as_str()),
            "fqn" => Value::from(self.fqn.clone()),
            "description" => Value::from(self.description.as_str()),
            "tags" => Value::from(self.config.tags()),
            "config" => crate::jinja::to_value(&self.config.0),
            "version" => self
                .version
                .as_ref()
                .map_or(Value::from(()), |v| crate::jinja::to_value(&v.v)),
            "latest_version" => self
                .version
                .as_ref()
                .map_or(Value::from(()), |v| crate::jinja::to_value(&v.latest)),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&[
            "name",
            "unique_id",
            "resource_type",
            "package_name",
            "original_file_path",
            "path",
            "fqn",
            "description",
            "tags",
            "config",
            "version",
            "latest_version",
        ])
    }
}

/// `config`: callable to set config, with `get` and `require` to read it.
#[derive(Debug)]
pub struct ConfigObject;

impl Object for ConfigObject {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let kwargs = match args {
            [] => return Ok(Value::from("")),
            [single] => {
                <Kwargs as minijinja::value::ArgType>::from_value(Some(single)).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "config() takes keyword arguments, e.g. config(materialized='table')",
                    )
                })?
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "config() takes keyword arguments, e.g. config(materialized='table')",
                ));
            }
        };
        let mut entries = Vec::new();
        for key in kwargs.args() {
            let value: Value = kwargs.get(key)?;
            entries.push((key.to_string(), value));
        }
        scope::record_config(entries)?;
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let key = args.first().and_then(Value::as_str).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("config.{method}() needs the name of a config key"),
            )
        })?;
        let found = scope::config_value(key);
        match method {
            "get" => Ok(found.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(())))),
            "require" => found.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("config `{key}` is required but not set"),
                )
            }),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("config has no method `{method}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<config>")
    }
}

/// A namespace `adapter.dispatch` searches: `None` is the root project
/// (with sb's `dbt` macros), `Some` a package.
struct SearchedNamespace(Option<String>);

/// `adapter`: `dispatch`, `quote`, `type`, and the warehouse look-ups
/// (`warehouse`).
#[derive(Debug)]
pub struct AdapterObject {
    pub kind: AdapterKind,
    /// Every macro, for dispatch into a namespace; empty in unit tests.
    pub macros: Arc<MacroModules>,
    /// The project's `dispatch:` search orders.
    pub dispatch: Vec<DispatchOrder>,
    pub project_name: String,
}

impl AdapterObject {
    pub fn new(kind: AdapterKind) -> Self {
        Self {
            kind,
            macros: Arc::default(),
            dispatch: Vec::new(),
            project_name: String::new(),
        }
    }

    /// The namespace a `dispatch` search-order entry names, or `None`
    /// when it names none sb knows.
    fn namespace_key(&self, name: &str) -> Option<SearchedNamespace> {
        if name == self.project_name || name == "dbt" {
            return Some(SearchedNamespace(None));
        }
        self.macros
            .package_names()
            .any(|p| p == name)
            .then(|| SearchedNamespace(Some(name.to_string())))
    }

    /// `adapter.dispatch(name, macro_namespace)`: `<adapter>__name`, then
    /// `default__name`, in each namespace of the project's search order for
    /// `macro_namespace`, then in `macro_namespace` itself.
    fn dispatch(&self, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = minijinja::value::from_args::<(&[Value], Kwargs)>(args)?;
        let name: Option<String> = match positional.first() {
            Some(value) => value.as_str().map(str::to_string),
            None => kwargs.get("macro_name")?,
        };
        let namespace: Option<String> = match positional.get(1) {
            Some(value) => value.as_str().map(str::to_string),
            None => kwargs.get("macro_namespace")?,
        };
        // dbt's older spelling: the packages to search, in order.
        let packages: Option<Vec<String>> = kwargs.get("packages")?;
        kwargs.assert_all_used()?;
        let name = name.ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                "adapter.dispatch() needs a macro name",
            )
        })?;
        let candidates = [
            format!("{}__{name}", self.kind.as_str()),
            format!("default__{name}"),
        ];
        let mut search: Vec<Option<String>> = Vec::new();
        for package in packages.iter().flatten() {
            if let Some(SearchedNamespace(key)) = self.namespace_key(package)
                && !search.contains(&key)
            {
                search.push(key);
            }
        }
        match &namespace {
            // No namespace: what the calling code sees (its own package's
            // macros first), then the root project's.
            None => {
                for candidate in &candidates {
                    if let Some(found) = state.lookup(candidate).filter(|v| !v.is_undefined()) {
                        return Ok(found);
                    }
                }
                search.push(None);
            }
            Some(namespace) => {
                let orders = self
                    .dispatch
                    .iter()
                    .filter(|order| &order.macro_namespace == namespace);
                for entry in orders
                    .flat_map(|order| &order.search_order)
                    .chain([namespace])
                {
                    if let Some(SearchedNamespace(key)) = self.namespace_key(entry)
                        && !search.contains(&key)
                    {
                        search.push(key);
                    }
                }
            }
        }
        let here = MacroModules::namespace_of(state.name());
        for key in &search {
            for candidate in &candidates {
                if key.as_deref() == here
                    && let Some(found) = state.lookup(candidate).filter(|v| !v.is_undefined())
                {
                    return Ok(found);
                }
                if self.macros.defines_in(key.as_deref(), candidate) {
                    return Ok(Value::from_object(NamespacedMacro {
                        package: key.clone(),
                        name: candidate.clone(),
                        macros: Arc::clone(&self.macros),
                    }));
                }
            }
        }
        let within = namespace.map_or_else(String::new, |n| format!(" (namespace `{n}`)"));
        Err(Error::new(
            ErrorKind::UnknownFunction,
            format!(
                "adapter.dispatch('{name}'){within} found no macro `{}` or `{}`",
                candidates[0], candidates[1]
            ),
        ))
    }
}

impl Object for AdapterObject {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => self.dispatch(state, args),
            "quote" => {
                let ident = args.first().map(ToString::to_string).unwrap_or_default();
                Ok(Value::from(self.kind.quote(&ident)))
            }
            "type" => Ok(Value::from(self.kind.as_str())),
            _ => super::warehouse::adapter_method(self.kind, method, args),
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "type").then(|| Value::from(self.kind.as_str()))
    }
}

/// `exceptions.raise_compiler_error(msg)` and `exceptions.warn(msg)`.
#[derive(Debug)]
pub struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let message = args.first().map(ToString::to_string).unwrap_or_default();
        match method {
            "raise_compiler_error" => {
                scope::set_failure(scope::Failure::Raised(message.clone()));
                Err(Error::new(ErrorKind::InvalidOperation, message))
            }
            "warn" => {
                scope::log(format!("warning: {message}"));
                Ok(Value::from(""))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("exceptions has no method `{method}`"),
            )),
        }
    }
}

/// `execute`: true only while a node runs. Reading it marks the node to be
/// rendered again then (`scope::read_execute`), since what follows an
/// `{% if execute %}` usually asks the warehouse.
#[derive(Debug)]
pub struct ExecuteFlag;

impl Object for ExecuteFlag {
    fn is_true(self: &Arc<Self>) -> bool {
        scope::read_execute()
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if scope::read_execute() {
            "True"
        } else {
            "False"
        })
    }
}
