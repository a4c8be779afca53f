//! The plain minijinja environment every render starts from: sb's
//! functions `ref`, `source`, `var`, `env_var`, `log`, `return`,
//! `statement`, ..., strict undefined values and a fuel bound.

use minijinja::value::{Kwargs, Rest, Value, ValueOrKwargs};
use minijinja::{Environment, Error, UndefinedBehavior};

use super::{context, mutable, objects, returns, scope, warehouse};
use crate::project::EnvVars;

/// Instructions one render may execute before sb stops it.
const FUEL: u64 = 50_000_000;

pub(super) fn base_environment(env_vars: &EnvVars) -> Environment<'static> {
    let env_vars = env_vars.clone();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(200);
    env.set_unknown_method_callback(mutable::unknown_method);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function("ref", |args: Rest<ValueOrKwargs>| {
        scope::ref_fn(&args.into_values())
    });
    env.add_function("source", |source: String, table: String| {
        scope::source_fn(&source, &table)
    });
    env.add_function("var", |name: String, default: Option<Value>| {
        scope::var_fn(&name, default)
    });
    env.add_function("env_var", move |name: String, default: Option<Value>| {
        scope::env_var_fn(&env_vars, &name, default)
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
    env.add_function("return", returns::return_fn);
    env.add_function(returns::WRAP_FUNCTION, returns::wrap_fn);
    env.add_function(mutable::LIST_FUNCTION, mutable::list_fn);
    env.add_function(mutable::DICT_FUNCTION, mutable::dict_fn);
    env.add_function("load_result", |name: String| scope::load_result(&name));
    env.add_function("load_relation", warehouse::load_relation_fn);
    env.add_global("statement", Value::from_object(warehouse::Statement));
    env.add_global("api", Value::from_object(warehouse::Api));
    context::add_to(&mut env);
    env.add_global("config", Value::from_object(objects::ConfigObject));
    env.add_global("exceptions", Value::from_object(objects::Exceptions));
    env
}
