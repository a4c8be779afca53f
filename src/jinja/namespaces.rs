//! Macro namespaces: `dbt_utils.star(...)`, `dbt.current_timestamp()`,
//! `my_project.helper()`, and the macros `adapter.dispatch` finds in another
//! namespace. Each is a global object; a call evaluates the module that holds
//! the macro (only the units it reaches) in a fresh template state that
//! shares the render's context (`this`, `model`, `target`, ...), so a
//! package's macros see their own package's names bare, whoever calls them.

use std::cell::Cell;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, ErrorKind, State};

use super::modules::MacroModules;

/// How deep namespace calls may nest before sb stops a runaway recursion
/// (each call is a new template state, beyond minijinja's own limit).
const MAX_DEPTH: usize = 60;

/// The names of a render's context a namespace call passes on.
const CONTEXT_NAMES: [&str; 5] = ["this", "target", "project_name", "execute", "model"];

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A namespace global: a package, `dbt` or the root project's own name.
#[derive(Debug)]
pub struct Namespace {
    /// The name templates write (`dbt_utils`, `dbt`, ...).
    pub name: String,
    /// The package whose macros it holds; `None`: the root project's
    /// (with sb's built-in macros).
    pub package: Option<String>,
    pub macros: Arc<MacroModules>,
}

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        self.macros
            .defines_in(self.package.as_deref(), name)
            .then(|| {
                Value::from_object(NamespacedMacro {
                    package: self.package.clone(),
                    name: name.to_string(),
                    macros: Arc::clone(&self.macros),
                })
            })
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
        if !self.macros.defines_in(self.package.as_deref(), method) {
            return Err(Error::new(
                ErrorKind::UnknownFunction,
                format!("namespace `{}` has no macro `{method}`", self.name),
            ));
        }
        call_in(state, &self.macros, self.package.as_deref(), method, args)
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<namespace {}>", self.name)
    }
}

/// One macro of a namespace, as a value (`adapter.dispatch` returns these
/// for macros of another namespace).
#[derive(Debug)]
pub struct NamespacedMacro {
    pub package: Option<String>,
    pub name: String,
    pub macros: Arc<MacroModules>,
}

impl Object for NamespacedMacro {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        call_in(
            state,
            &self.macros,
            self.package.as_deref(),
            &self.name,
            args,
        )
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "name").then(|| Value::from(self.name.as_str()))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<macro {}>", self.name)
    }
}

/// Calls macro `name` of namespace `package` with `args`, in a fresh state
/// of the module holding it and the caller's context.
fn call_in(
    state: &mut State<'_, '_>,
    macros: &MacroModules,
    package: Option<&str>,
    name: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("recursion limit exceeded calling macro `{name}`"),
        ));
    }
    let module = macros.module_in(package, &[name]);
    let template = state.env().get_template(&module)?;
    let context: Vec<(&str, Value)> = CONTEXT_NAMES
        .iter()
        .filter_map(|&key| state.lookup(key).map(|value| (key, value)))
        .collect();
    let context = crate::jinja::map_value(context);
    DEPTH.with(|d| d.set(depth + 1));
    let result = template.render_captured(context).and_then(|mut captured| {
        captured.with_state_mut(|inner| {
            let found = inner
                .lookup(name)
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::UnknownFunction,
                        format!("macro `{name}` is not defined"),
                    )
                })?;
            found.call(inner, args)
        })
    });
    DEPTH.with(|d| d.set(depth));
    result
}
