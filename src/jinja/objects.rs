//! Values that models and macros see in Jinja: relations (`ref`, `source`,
//! `this`), the `config` object, `adapter`, `exceptions` and query results.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use crate::adapter::{AdapterKind, QueryResult, RelationRef};
use crate::jinja::scope;

/// A warehouse relation: renders as its quoted name.
#[derive(Debug, Clone)]
pub struct Relation {
    pub kind: AdapterKind,
    pub relation: RelationRef,
    /// Ephemeral models render as the name of their CTE.
    pub cte_name: Option<String>,
}

impl Relation {
    pub fn rendered(&self) -> String {
        self.cte_name
            .clone()
            .unwrap_or_else(|| self.kind.render_relation(&self.relation))
    }
}

impl Object for Relation {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let r = &self.relation;
        Some(match key.as_str()? {
            "database" | "project" => Value::from(r.database.clone()),
            "schema" | "dataset" => Value::from(r.schema.clone()),
            "identifier" | "name" | "table" => Value::from(r.identifier.clone()),
            "is_table" | "is_view" => Value::from(false),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["database", "schema", "identifier"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(self.rendered())),
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

/// `adapter`: `dispatch`, `quote`, `type`.
#[derive(Debug)]
pub struct AdapterObject {
    pub kind: AdapterKind,
}

impl Object for AdapterObject {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => {
                let name = args.first().and_then(Value::as_str).ok_or_else(|| {
                    Error::new(
                        ErrorKind::MissingArgument,
                        "adapter.dispatch() needs a macro name",
                    )
                })?;
                let candidates = [
                    format!("{}__{name}", self.kind.as_str()),
                    format!("default__{name}"),
                ];
                for candidate in &candidates {
                    if let Some(found) = state.lookup(candidate).filter(|v| !v.is_undefined()) {
                        return Ok(found);
                    }
                }
                Err(Error::new(
                    ErrorKind::UnknownFunction,
                    format!(
                        "adapter.dispatch('{name}') found no macro `{}` or `{}`",
                        candidates[0], candidates[1]
                    ),
                ))
            }
            "quote" => {
                let ident = args.first().map(ToString::to_string).unwrap_or_default();
                Ok(Value::from(self.kind.quote(&ident)))
            }
            "type" => Ok(Value::from(self.kind.as_str())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter has no method `{method}`"),
            )),
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

/// The result of `run_query`: rows, columns and `columns[i].values()`.
#[derive(Debug)]
pub struct QueryTable {
    pub result: QueryResult,
}

impl QueryTable {
    fn row(&self, index: usize) -> Option<Value> {
        let row = self.result.rows.get(index)?;
        Some(row.iter().map(crate::jinja::to_value).collect::<Value>())
    }
}

impl Object for QueryTable {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(index) = key.as_usize() {
            return self.row(index);
        }
        match key.as_str()? {
            "rows" => Some(
                (0..self.result.rows.len())
                    .filter_map(|i| self.row(i))
                    .collect::<Value>(),
            ),
            "columns" => Some(
                (0..self.result.columns.len())
                    .map(|index| {
                        Value::from_object(QueryColumn {
                            table: Arc::clone(self),
                            index,
                        })
                    })
                    .collect::<Value>(),
            ),
            "column_names" => Some(
                self.result
                    .columns
                    .iter()
                    .map(|c| Value::from(c.name.clone()))
                    .collect::<Value>(),
            ),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.result.rows.len())
    }
}

/// One column of a [`QueryTable`].
#[derive(Debug)]
pub struct QueryColumn {
    table: Arc<QueryTable>,
    index: usize,
}

impl Object for QueryColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => self
                .table
                .result
                .columns
                .get(self.index)
                .map(|c| Value::from(c.name.clone())),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" => Ok(self
                .table
                .result
                .rows
                .iter()
                .map(|row| {
                    row.get(self.index)
                        .map(crate::jinja::to_value)
                        .unwrap_or_default()
                })
                .collect::<Value>()),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a column has no method `{method}`"),
            )),
        }
    }
}
