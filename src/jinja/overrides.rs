//! A unit test's `overrides:` as render context: each overridden macro,
//! named bare (`current_timestamp`) or in its namespace
//! (`dbt_utils.current_timestamp`, `dbt.current_timestamp`), becomes a
//! callable that returns the given value whatever it is passed, and
//! `env_var` reads the given variables before the environment. They hold
//! in the model's own SQL, as dbt applies them to the model's context;
//! macros that the overridden one's callers reach inside a package keep
//! their own definitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, State};

/// A namespace with some of its macros replaced by values.
#[derive(Debug)]
struct OverriddenNamespace {
    /// The namespace as the environment defines it (undefined when there is
    /// no such namespace: then only the overridden names exist).
    inner: Value,
    values: BTreeMap<String, Value>,
}

impl Object for OverriddenNamespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(value) = key.as_str().and_then(|name| self.values.get(name)) {
            return Some(Value::from_object(Returning(value.clone())));
        }
        self.inner.get_item(key).ok().filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match self.values.get(method) {
            Some(value) => Ok(value.clone()),
            None => self.inner.call_method(state, method, args),
        }
    }
}

/// A macro replaced by a value: called with any arguments, it gives it.
#[derive(Debug)]
struct Returning(Value);

impl Object for Returning {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, _args: &[Value]) -> Result<Value, Error> {
        Ok(self.0.clone())
    }
}

/// `env_var` with some variables given: those first, then the environment.
#[derive(Debug)]
struct GivenEnvVars {
    given: BTreeMap<String, Value>,
    environment: Value,
}

impl Object for GivenEnvVars {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let name = args.first().and_then(Value::as_str).unwrap_or_default();
        match self.given.get(name) {
            Some(value) => Ok(value.clone()),
            None => self.environment.call(state, args),
        }
    }
}

/// The context of a unit test's overrides: a map of names to values, or
/// undefined when there are none. `global` looks up the environment's
/// globals, for the namespaces and the `env_var` the overrides stand in
/// front of.
pub(super) fn context_value(
    macros: &serde_json::Map<String, serde_json::Value>,
    env_vars: &serde_json::Map<String, serde_json::Value>,
    global: impl Fn(&str) -> Option<Value>,
) -> Value {
    let mut context: BTreeMap<String, Value> = BTreeMap::new();
    let mut namespaced: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (name, value) in macros {
        let value = super::to_value(value);
        match name.split_once('.') {
            Some((namespace, name)) => {
                namespaced
                    .entry(namespace.to_string())
                    .or_default()
                    .insert(name.to_string(), value);
            }
            None => {
                context.insert(name.clone(), Value::from_object(Returning(value)));
            }
        }
    }
    for (namespace, values) in namespaced {
        let inner = global(&namespace).unwrap_or(Value::UNDEFINED);
        context.insert(
            namespace,
            Value::from_object(OverriddenNamespace { inner, values }),
        );
    }
    if !env_vars.is_empty() {
        let given = env_vars
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), Value::from(text))
            })
            .collect();
        let environment = global("env_var").unwrap_or(Value::UNDEFINED);
        context.insert(
            "env_var".to_string(),
            Value::from_object(GivenEnvVars { given, environment }),
        );
    }
    if context.is_empty() {
        Value::UNDEFINED
    } else {
        super::map_value(context)
    }
}
