//! Generic tests rendered through shared templates: a test's macro call with
//! the tested relation and its arguments as values, and the one template per
//! test macro and module that makes the call.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use super::modules::MacroModules;
use super::{Jinja, scope};

/// Templates named `__sb_test__|<macro>|<module>` call a generic test's
/// macro with the tested relation and the arguments as values, so every
/// test of one kind shares one compiled template.
const TEST_TEMPLATE: &str = "__sb_test__";
/// The macro that narrows a tested relation by the test's `where` config.
const WHERE_SUBQUERY: &str = "get_where_subquery";

/// The template that calls test macro `macro_name`: one per macro and
/// module, compiled once per run (`test_template_source`).
pub(super) fn test_template_name(macros: &MacroModules, macro_name: &str) -> String {
    let (package, macro_name) = split_namespace(macro_name);
    let module = macros.module_in(package, &[&macro_name, WHERE_SUBQUERY]);
    format!("{TEST_TEMPLATE}|{macro_name}|{module}")
}

/// A package's test is named `pkg.test` in YAML, so its macro arrives as
/// `test_pkg.name`: the package and `test_name`.
fn split_namespace(macro_name: &str) -> (Option<&str>, String) {
    match macro_name
        .strip_prefix("test_")
        .and_then(|rest| rest.split_once('.'))
    {
        Some((package, name)) => (Some(package), format!("test_{name}")),
        None => (None, macro_name.to_string()),
    }
}

pub(super) fn test_template_source(macros: &MacroModules, name: &str) -> Option<String> {
    let mut parts = name
        .strip_prefix(TEST_TEMPLATE)?
        .strip_prefix('|')?
        .split('|');
    let (macro_name, module) = (parts.next()?, parts.next()?);
    let package = MacroModules::namespace_of(module);
    let valid = macros.defines_in(package, macro_name) && macros.source(module).is_some();
    valid.then(|| {
        format!(
            "{{% from '{module}' import {macro_name}, {WHERE_SUBQUERY} %}}\
             {{{{ {macro_name}(model={WHERE_SUBQUERY}(__sb_test_model), **__sb_test_args) }}}}"
        )
    })
}

/// A generic test's call with its arguments as values. The node's source
/// still holds the same call as code, for the manifest and for errors.
pub struct TestCall<'a> {
    /// `test_<name>`: the macro that writes the test's query.
    pub macro_name: String,
    /// The tested relation: `("ref", [model])` or `("source", [source, table])`.
    pub model: (&'static str, Vec<String>),
    /// The version of a versioned model the test is on.
    pub version: Option<String>,
    pub column: Option<&'a str>,
    pub args: &'a serde_json::Map<String, serde_json::Value>,
}

impl TestCall<'_> {
    /// The relation and the keyword arguments, resolved in the current
    /// scope as dbt resolves them: a string argument that is a call of
    /// `ref`, `source`, `var`, `env_var` or `doc` is that call's value, a
    /// string with Jinja in it is rendered, anything else is as written
    /// (lists and dicts changeable in place).
    pub(super) fn values(&self, env: &Environment<'_>) -> Result<(Value, Value), Error> {
        let model = call_value(self.model.0, &self.model.1, self.version.as_deref())?;
        let mut args = std::collections::BTreeMap::new();
        if let Some(column) = self.column {
            args.insert("column_name".to_string(), Value::from(column));
        }
        for (key, value) in self.args {
            args.insert(key.clone(), argument_value(env, value)?);
        }
        Ok((model, Value::from(args)))
    }
}

/// One test argument from YAML, with its strings evaluated (see
/// [`TestCall::values`]).
fn argument_value(env: &Environment<'_>, value: &serde_json::Value) -> Result<Value, Error> {
    static LOOKS_LIKE_CALL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$").expect("valid regex")
    });
    Ok(match value {
        serde_json::Value::String(text) if LOOKS_LIKE_CALL.is_match(text) => {
            env.compile_expression(text)?.eval(())?
        }
        serde_json::Value::String(text) if text.contains("{{") || text.contains("{%") => {
            Value::from(env.render_str(text, ())?)
        }
        serde_json::Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| argument_value(env, item))
                .collect::<Result<Vec<_>, _>>()?;
            super::mutable::MutableList::value(items)
        }
        serde_json::Value::Object(map) => {
            let mut entries = indexmap::IndexMap::new();
            for (key, item) in map {
                entries.insert(Value::from(key.as_str()), argument_value(env, item)?);
            }
            super::mutable::MutableDict::value(entries)
        }
        other => super::to_value(other),
    })
}

/// `ref(names...)` or `source(source, table)`, as a template would call it.
fn call_value(function: &str, names: &[String], version: Option<&str>) -> Result<Value, Error> {
    match (function, names) {
        ("source", [source, table]) => scope::source_fn(source, table),
        ("source", _) => Err(Error::new(
            ErrorKind::MissingArgument,
            "source() takes a source name and a table name",
        )),
        _ => {
            let mut args: Vec<Value> = names.iter().map(|n| Value::from(n.as_str())).collect();
            if let Some(version) = version {
                args.push(Value::from(minijinja::value::Kwargs::from_iter([(
                    "version",
                    Value::from(version),
                )])));
            }
            scope::ref_fn(&args)
        }
    }
}

impl Jinja {
    /// The name of the template that calls `call`'s test macro.
    pub(super) fn test_template(&self, call: &TestCall<'_>) -> String {
        match self.test_templates.get(&call.macro_name) {
            Some(name) => name.clone(),
            None => test_template_name(&self.macros, &call.macro_name),
        }
    }
}
