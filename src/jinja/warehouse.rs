//! What templates ask the warehouse, through the render scope's query
//! runner (live only when a node runs, as dbt's `execute`): `run_query`'s
//! table (`.rows`, `.columns`, `.column_names`, `print_table()`), the
//! `statement` call block with `load_result`, `adapter.get_relation` and
//! `adapter.get_columns_in_relation`, `load_relation`, and
//! `api.Relation.create`. While parsing these answer `none` or `[]`, and
//! the node is rendered again when it runs.

use std::fmt::{self, Write};
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};

use super::mutable::MutableList;
use super::objects::Relation;
use super::scope;
use crate::adapter::{AdapterKind, QueryResult, RelationRef};

/// The result of a query: a table of rows, iterable and indexable.
#[derive(Debug)]
pub struct QueryTable {
    pub result: QueryResult,
}

impl QueryTable {
    pub fn value(result: QueryResult) -> Value {
        Value::from_object(Self { result })
    }

    fn row(self: &Arc<Self>, index: usize) -> Option<Value> {
        (index < self.result.rows.len()).then(|| {
            Value::from_object(QueryRow {
                table: Arc::clone(self),
                index,
            })
        })
    }

    fn print(&self) -> String {
        let names: Vec<&str> = self
            .result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut out = format!("| {} |", names.join(" | "));
        for row in &self.result.rows {
            let cells: Vec<String> = row.iter().map(plain).collect();
            let _ = write!(out, "\n| {} |", cells.join(" | "));
        }
        out
    }
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
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
            "columns" => Some(Value::from_object(QueryColumns(Arc::clone(self)))),
            "column_names" => Some(
                self.result
                    .columns
                    .iter()
                    .map(|c| Value::from(c.name.clone()))
                    .collect::<Value>(),
            ),
            "column_types" => Some(
                self.result
                    .columns
                    .iter()
                    .map(|c| Value::from(c.data_type.clone()))
                    .collect::<Value>(),
            ),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let rows: Vec<Value> = (0..self.result.rows.len())
            .filter_map(|i| self.row(i))
            .collect();
        Enumerator::Values(rows)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.result.rows.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "print_table" => {
                scope::log(self.print());
                Ok(Value::from(""))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a query result has no method `{method}`"),
            )),
        }
    }
}

/// One row of a [`QueryTable`]: indexed by position or column name.
#[derive(Debug)]
pub struct QueryRow {
    table: Arc<QueryTable>,
    index: usize,
}

impl QueryRow {
    fn cells(&self) -> &[serde_json::Value] {
        &self.table.result.rows[self.index]
    }
}

impl Object for QueryRow {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let position = if let Some(name) = key.as_str() {
            self.table
                .result
                .columns
                .iter()
                .position(|c| c.name == name)?
        } else {
            let index = i64::try_from(key.clone()).ok()?;
            let len = self.cells().len() as i64;
            usize::try_from(if index < 0 { len + index } else { index }).ok()?
        };
        self.cells().get(position).map(super::to_value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.cells().len())
    }
}

/// A [`QueryTable`]'s `columns`, as agate has them: a sequence of columns
/// that is also looked up by name, with `keys()`, `values()` and `items()`.
#[derive(Debug)]
pub struct QueryColumns(Arc<QueryTable>);

impl QueryColumns {
    fn column(&self, index: usize) -> Value {
        Value::from_object(QueryColumn {
            table: Arc::clone(&self.0),
            index,
        })
    }

    fn all(&self) -> Vec<Value> {
        (0..self.0.result.columns.len())
            .map(|index| self.column(index))
            .collect()
    }

    fn names(&self) -> impl Iterator<Item = Value> + '_ {
        self.0
            .result
            .columns
            .iter()
            .map(|c| Value::from(c.name.clone()))
    }
}

impl Object for QueryColumns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let columns = &self.0.result.columns;
        let index = if let Some(index) = key.as_usize() {
            index
        } else {
            let name = key.as_str()?;
            columns.iter().position(|c| c.name == name)?
        };
        (index < columns.len()).then(|| self.column(index))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.all())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "keys" => Ok(self.names().collect()),
            "values" => Ok(Value::from(self.all())),
            "items" => Ok(self
                .names()
                .zip(self.all())
                .map(|(name, column)| Value::from(vec![name, column]))
                .collect()),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a query result's columns have no method `{method}`"),
            )),
        }
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
        let column = self.table.result.columns.get(self.index)?;
        match key.as_str()? {
            "name" => Some(Value::from(column.name.clone())),
            "data_type" => Some(Value::from(column.data_type.clone())),
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
                .map(|row| row.get(self.index).map(super::to_value).unwrap_or_default())
                .collect::<Value>()),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a column has no method `{method}`"),
            )),
        }
    }
}

/// A column of a relation, as `adapter.get_columns_in_relation` gives it.
#[derive(Debug)]
pub struct RelationColumn {
    pub name: String,
    pub data_type: String,
    pub kind: AdapterKind,
}

impl RelationColumn {
    fn is_string(&self) -> bool {
        let t = self.data_type.to_ascii_lowercase();
        t.contains("char") || t.contains("text") || t == "string"
    }

    fn is_number(&self) -> bool {
        let t = self.data_type.to_ascii_lowercase();
        [
            "int",
            "decimal",
            "numeric",
            "double",
            "float",
            "real",
            "bignumeric",
        ]
        .iter()
        .any(|n| t.contains(n))
    }
}

impl Object for RelationColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.clone()),
            "quoted" => Value::from(self.kind.quote(&self.name)),
            "data_type" | "dtype" => Value::from(self.data_type.clone()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "data_type"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        Ok(Value::from(match method {
            "is_string" => self.is_string(),
            "is_number" | "is_numeric" => self.is_number(),
            "is_integer" => self.data_type.to_ascii_lowercase().contains("int"),
            "string_size" => {
                // `varchar(n)` has a size; DuckDB's varchar has none.
                let size = self
                    .data_type
                    .split_once('(')
                    .and_then(|(_, rest)| rest.trim_end_matches(')').trim().parse::<i64>().ok());
                return Ok(Value::from(size.unwrap_or(256)));
            }
            "is_float" => {
                let t = self.data_type.to_ascii_lowercase();
                t.contains("double") || t.contains("float") || t.contains("real")
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("a column has no method `{method}`"),
                ));
            }
        }))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Column {} ({})>", self.name, self.data_type)
    }
}

/// The relation a template passed, as parts.
fn relation_parts(value: &Value) -> Option<RelationRef> {
    if let Some(relation) = value.downcast_object_ref::<Relation>() {
        return Some(relation.relation.clone());
    }
    let part = |key: &str| {
        value
            .get_attr(key)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    };
    Some(RelationRef {
        database: part("database"),
        schema: part("schema")?,
        identifier: part("identifier")?,
    })
}

/// `adapter.get_relation(database, schema, identifier)`: the relation when
/// the warehouse has it, else `none` (always `none` while parsing).
fn get_relation(kind: AdapterKind, relation: RelationRef) -> Result<Value, Error> {
    let text = |value: &str| crate::adapter::macros::string_literal(value, kind);
    let sql = match kind {
        AdapterKind::Duckdb => format!(
            "select table_type from information_schema.tables where lower(table_schema) = lower({}) and lower(table_name) = lower({}){}",
            text(&relation.schema),
            text(&relation.identifier),
            relation
                .database
                .as_ref()
                .map(|d| format!(" and lower(table_catalog) = lower({})", text(d)))
                .unwrap_or_default()
        ),
        AdapterKind::Bigquery => {
            let dataset = match &relation.database {
                Some(project) => {
                    format!("{}.{}", kind.quote(project), kind.quote(&relation.schema))
                }
                None => kind.quote(&relation.schema),
            };
            format!(
                "select table_type from {dataset}.INFORMATION_SCHEMA.TABLES where table_name = {}",
                text(&relation.identifier)
            )
        }
    };
    let Some(result) = scope::warehouse_query(&sql)? else {
        return Ok(Value::from(()));
    };
    let Some(row) = result.rows.first() else {
        return Ok(Value::from(()));
    };
    let table_type = row
        .first()
        .map(plain)
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(Value::from_object(Relation {
        relation_type: Some(
            if table_type.contains("view") {
                "view"
            } else {
                "table"
            }
            .into(),
        ),
        ..Relation::new(kind, relation)
    }))
}

/// `adapter.get_columns_in_relation(relation)`: the columns with their
/// types (`[]` while parsing).
fn get_columns(kind: AdapterKind, relation: &Value) -> Result<Value, Error> {
    let sql = format!("select * from {relation} where 1 = 0");
    let columns = match scope::warehouse_query(&sql)? {
        None => Vec::new(),
        Some(result) => result
            .columns
            .into_iter()
            .map(|c| {
                Value::from_object(RelationColumn {
                    name: c.name,
                    data_type: c.data_type,
                    kind,
                })
            })
            .collect(),
    };
    Ok(MutableList::value(columns))
}

/// The warehouse methods of `adapter`.
pub fn adapter_method(kind: AdapterKind, method: &str, args: &[Value]) -> Result<Value, Error> {
    match method {
        "get_relation" | "load_relation" | "already_exists" => {
            let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
            let pick = |index: usize, key: &str| -> Result<Option<String>, Error> {
                Ok(match positional.get(index) {
                    Some(v) if v.is_none() => None,
                    Some(v) => Some(v.to_string()),
                    None => kwargs.get::<Option<String>>(key)?,
                })
            };
            let relation = if method == "load_relation" {
                positional.first().and_then(relation_parts)
            } else if method == "already_exists" {
                Some(RelationRef {
                    database: None,
                    schema: pick(0, "schema")?.unwrap_or_default(),
                    identifier: pick(1, "identifier")?.unwrap_or_default(),
                })
            } else {
                Some(RelationRef {
                    database: pick(0, "database")?,
                    schema: pick(1, "schema")?.unwrap_or_default(),
                    identifier: pick(2, "identifier")?.unwrap_or_default(),
                })
            };
            let Some(relation) = relation else {
                return Ok(Value::from(()));
            };
            let found = get_relation(kind, relation)?;
            Ok(if method == "already_exists" {
                Value::from(!found.is_none())
            } else {
                found
            })
        }
        "get_columns_in_relation" => {
            let relation = args.first().ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingArgument,
                    "adapter.get_columns_in_relation() needs a relation",
                )
            })?;
            get_columns(kind, relation)
        }
        "drop_relation" => {
            let relation = args.first().ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingArgument,
                    "adapter.drop_relation() needs a relation",
                )
            })?;
            let kind = match relation
                .get_attr("type")
                .ok()
                .and_then(|t| t.as_str().map(str::to_string))
            {
                Some(kind) if kind == "view" => "view",
                _ => "table",
            };
            scope::warehouse_query(&format!("drop {kind} if exists {relation}"))?;
            Ok(Value::from(()))
        }
        _ => Err(Error::new(
            ErrorKind::UnknownMethod,
            format!("adapter has no method `{method}` in sb"),
        )),
    }
}

/// `load_relation(relation)`.
pub fn load_relation_fn(relation: &Value) -> Result<Value, Error> {
    let kind = scope::adapter_kind().unwrap_or(AdapterKind::Duckdb);
    match relation_parts(relation) {
        Some(parts) => get_relation(kind, parts),
        None => Ok(Value::from(())),
    }
}

/// `statement`: the `{% call statement('name', fetch_result=True) %}`
/// block runs its SQL when the node runs and keeps the result for
/// `load_result('name')`.
#[derive(Debug)]
pub struct Statement;

impl Object for Statement {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (name, kwargs): (Option<String>, Kwargs) = from_args(args)?;
        let caller: Option<Value> = kwargs.get("caller")?;
        let fetch: Option<bool> = kwargs.get("fetch_result")?;
        let _: Option<Value> = kwargs.get("auto_begin")?;
        let _: Option<String> = kwargs.get("language")?;
        kwargs.assert_all_used()?;
        let Some(caller) = caller else {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "statement() is a call block: {% call statement('name') %}select ...{% endcall %}",
            ));
        };
        let sql = caller.call(state, &[])?.to_string();
        let Some(result) = scope::warehouse_query(&sql)? else {
            return Ok(Value::from(""));
        };
        let name = name.unwrap_or_else(|| "main".to_string());
        let rows: Vec<Value> = result
            .rows
            .iter()
            .map(|row| row.iter().map(super::to_value).collect::<Value>())
            .collect();
        let response = crate::jinja::map_value([
            ("code", Value::from("OK")),
            ("rows_affected", Value::from(rows.len())),
        ]);
        let stored = crate::jinja::map_value([
            ("response", response),
            (
                "data",
                if fetch.unwrap_or(false) {
                    Value::from(rows)
                } else {
                    Value::from(Vec::<Value>::new())
                },
            ),
            ("table", QueryTable::value(result)),
        ]);
        scope::store_result(&name, stored);
        Ok(Value::from(""))
    }
}

/// `api`: `api.Relation.create(database=, schema=, identifier=)` and
/// `api.Column`.
#[derive(Debug)]
pub struct Api;

impl Object for Api {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "Relation").then(|| Value::from_object(RelationFactory))
    }
}

/// `api.Relation`.
#[derive(Debug)]
pub struct RelationFactory;

impl Object for RelationFactory {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method != "create" {
            return Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("api.Relation has no method `{method}` in sb"),
            ));
        }
        let (kwargs,): (Kwargs,) = from_args(args)?;
        let part = |key: &str| -> Result<Option<String>, Error> { kwargs.get(key) };
        let relation = RelationRef {
            database: part("database")?,
            schema: part("schema")?.unwrap_or_default(),
            identifier: part("identifier")?.unwrap_or_default(),
        };
        let relation_type = part("type")?;
        let kind = scope::adapter_kind().unwrap_or(AdapterKind::Duckdb);
        Ok(Value::from_object(Relation {
            relation_type,
            ..Relation::new(kind, relation)
        }))
    }
}
