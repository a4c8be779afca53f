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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use minijinja::Environment;

    use super::*;
    use crate::jinja::modules::MacroFile;
    use crate::jinja::objects::AdapterObject;
    use crate::jinja::returns;
    use crate::project::settings::DispatchOrder;

    fn env(dispatch: Vec<DispatchOrder>) -> Environment<'static> {
        let files = [
            (
                "{% macro greet(x) %}{{ return(adapter.dispatch('greet', 'pkg')(x)) }}{% endmacro %}\n{% macro default__greet(x) %}hello {{ pkg.shout(x) }}{% endmacro %}\n{% macro shout(x) %}{{ x | upper }}{% endmacro %}",
                Some("pkg"),
            ),
            (
                "{% macro default__greet(x) %}root {{ x }}{% endmacro %}",
                None,
            ),
        ];
        let macros = Arc::new(MacroModules::new(
            files
                .iter()
                .enumerate()
                .map(|(i, (text, package))| {
                    let file = MacroFile {
                        path: PathBuf::from(format!("m{i}.sql")),
                        text: (*text).to_string(),
                        package: package.map(str::to_string),
                        on_demand: false,
                    };
                    (file, (*text).to_string())
                })
                .collect(),
            "duckdb",
        ));
        let mut env = Environment::new();
        env.add_function("return", returns::return_fn);
        env.add_function(returns::WRAP_FUNCTION, returns::wrap_fn);
        env.add_global(
            "adapter",
            Value::from_object(AdapterObject {
                macros: Arc::clone(&macros),
                dispatch,
                project_name: "proj".into(),
                ..AdapterObject::new(crate::adapter::AdapterKind::Duckdb)
            }),
        );
        env.add_global(
            "pkg",
            Value::from_object(Namespace {
                name: "pkg".into(),
                package: Some("pkg".into()),
                macros: Arc::clone(&macros),
            }),
        );
        let loader_macros = Arc::clone(&macros);
        env.set_loader(move |name| Ok(loader_macros.source(name)));
        env
    }

    #[test]
    fn a_package_macro_is_called_through_its_namespace() {
        let rendered = env(Vec::new())
            .render_str("{{ pkg.greet('sb') }}", ())
            .expect("renders");
        assert_eq!(rendered, "hello SB");
    }

    #[test]
    fn the_dispatch_order_lets_the_project_override_a_package_macro() {
        let order = DispatchOrder {
            macro_namespace: "pkg".into(),
            search_order: vec!["proj".into(), "pkg".into()],
        };
        let rendered = env(vec![order])
            .render_str("{{ pkg.greet('sb') }}", ())
            .expect("renders");
        assert_eq!(rendered, "root sb");
    }

    #[test]
    fn an_unknown_package_macro_is_named_in_the_error() {
        let error = env(Vec::new())
            .render_str("{{ pkg.nothing() }}", ())
            .expect_err("fails");
        assert!(
            error
                .to_string()
                .contains("namespace `pkg` has no macro `nothing`"),
            "{error}"
        );
    }
}
