//! The plain minijinja environments: the base every render starts from
//! (sb's functions `ref`, `source`, `var`, `env_var`, `log`, ..., strict
//! undefined values and a fuel bound), and the small one that renders
//! `project.yml` strings.

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use super::{objects, scope};

/// Instructions one render may execute before sb stops it.
const FUEL: u64 = 50_000_000;

pub(super) fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(200);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function("ref", |args: Rest<Value>| scope::ref_fn(&args));
    env.add_function("source", |source: String, table: String| {
        scope::source_fn(&source, &table)
    });
    env.add_function("var", |name: String, default: Option<Value>| {
        scope::var_fn(&name, default)
    });
    env.add_function("env_var", |name: String, default: Option<Value>| {
        scope::env_var_fn(&name, default)
    });
    env.add_function("is_incremental", scope::is_incremental_fn);
    env.add_function("run_query", |sql: String| scope::run_query_fn(&sql));
    env.add_function(
        "log",
        |message: Value, _info: Option<Value>, kwargs: Kwargs| -> Result<Value, Error> {
            let _info: Option<bool> = kwargs.get("info")?;
            kwargs.assert_all_used()?;
            scope::log(message.to_string());
            Ok(Value::from(""))
        },
    );
    env.add_function("return", |value: Value| value);
    env.add_global("config", Value::from_object(objects::ConfigObject));
    env.add_global("exceptions", Value::from_object(objects::Exceptions));
    env
}

/// The small environment that renders `project.yml` strings: only
/// `env_var` and `var` are in scope.
pub fn render_project_string(
    text: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.add_function("env_var", |name: String, default: Option<Value>| {
        match (std::env::var(&name), default) {
            (Ok(value), _) => Ok(Value::from(value)),
            (Err(_), Some(default)) => Ok(default),
            (Err(_), None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set"),
            )),
        }
    });
    let vars = vars.clone();
    env.add_function("var", move |name: String, default: Option<Value>| {
        match (vars.get(&name), default) {
            (Some(value), _) => Ok(crate::jinja::to_value(value)),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("var `{name}` is not set"),
            )),
        }
    });
    env.render_str(text, ())
        .map_err(|error| error.detail().unwrap_or("cannot render").to_string())
}
