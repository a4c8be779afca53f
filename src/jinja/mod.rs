//! The one minijinja environment of a run: sb's functions (`ref`, `source`,
//! `config`, `var`, `env_var`, `adapter.dispatch`, ...), the project's macros
//! visible to every template without an import, strict undefined values and a
//! fuel bound, and the mapping of template errors to project files.

mod modules;
mod native_tests;
pub mod objects;
pub mod scope;

use std::path::Path;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use regex::Regex;

use crate::adapter::AdapterKind;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::SourceFile;
use modules::{MACROS_TEMPLATE, MacroFile, MacroModules};
pub use scope::{Captured, Catalog, Failure, Mode, QueryFn};

/// Instructions one render may execute before sb stops it.
const FUEL: u64 = 50_000_000;

static TEST_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%(-?)(\s*)test(\s+)([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex")
});
static END_TEST_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%(-?)(\s*)endtest(\s*)(-?)%\}").expect("valid regex"));

/// Rewrites `{% test name(...) %}` blocks as `{% macro test_name(...) %}`
/// without moving any line, so positions in errors stay true.
pub fn rewrite_test_blocks(text: &str) -> String {
    let text = TEST_BLOCK.replace_all(text, "{%${1}${2}macro${3}test_${4}");
    END_TEST_BLOCK
        .replace_all(&text, "{%${1}${2}endmacro${3}${4}%}")
        .into_owned()
}

/// Converts any serializable value for templates.
pub fn to_value<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// The environment plus what it needs to map errors back to files.
pub struct Jinja {
    env: Environment<'static>,
    macros: Arc<MacroModules>,
    /// The template name for each `test_<name>` macro (`test_template`).
    test_templates: std::collections::HashMap<String, String>,
    /// Test macros rendered in Rust: the project overrides none of their
    /// macros (`native_tests`).
    native_tests: std::collections::HashSet<&'static str>,
}

impl Jinja {
    /// Builds the environment for `kind`, with the built-in macros first and
    /// the project's after them, so a project macro overrides a built-in one.
    pub fn new(
        kind: AdapterKind,
        builtin: &[SourceFile],
        macro_files: &[SourceFile],
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut env = base_environment();
        env.add_global(
            "adapter",
            Value::from_object(objects::AdapterObject { kind }),
        );
        let mut errors = Vec::new();
        let mut files = Vec::new();
        for file in builtin.iter().chain(macro_files) {
            let text = rewrite_test_blocks(&file.text);
            // Check each file alone first so a syntax error names its own file.
            if let Err(error) = env.template_from_named_str("macro file", &text) {
                errors.push(syntax_diagnostic(&error, &file.path, &file.text, 0));
                continue;
            }
            let original = MacroFile {
                path: file.path.clone(),
                text: file.text.clone(),
            };
            files.push((original, text));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let macros = Arc::new(MacroModules::new(files, kind.as_str()));
        let from_sb = |name: &str| {
            macros
                .defining_file(name)
                .is_some_and(|f| f < builtin.len())
        };
        let native_tests = native_tests::NATIVE_TESTS
            .iter()
            .copied()
            .filter(|test| {
                let default = format!("default__{test}");
                let adapter_specific = format!("{}__{test}", kind.as_str());
                from_sb(test)
                    && from_sb(&default)
                    && !macros.defines(&adapter_specific)
                    && native_tests::HELPERS.iter().all(|helper| from_sb(helper))
            })
            .collect();
        // Macro modules are made on first use: each set of units a render
        // reaches becomes one template, compiled once per run.
        let loader_macros = Arc::clone(&macros);
        env.set_loader(move |name| {
            Ok(test_template_source(&loader_macros, name).or_else(|| loader_macros.source(name)))
        });
        if let Err(error) = env.get_template(MACROS_TEMPLATE) {
            return Err(vec![Diagnostic::error(format!(
                "cannot load macros: {error}"
            ))]);
        }
        let test_templates = macros
            .names
            .iter()
            .filter(|name| name.starts_with("test_"))
            .map(|name| (name.clone(), test_template_name(&macros, name)))
            .collect();
        Ok(Self {
            env,
            macros,
            test_templates,
            native_tests,
        })
    }

    /// Renders a node's template (its project-relative `path` and `source`).
    pub fn render(
        &self,
        catalog: &Arc<Catalog>,
        request: &RenderRequest<'_>,
        query: Option<QueryFn>,
    ) -> (Result<String, Diagnostic>, Captured) {
        let prelude = match request.test {
            Some(_) => String::new(),
            None => self.prelude_for(request.source),
        };
        let (result, captured) = scope::with_scope(
            catalog,
            request.node,
            request.mode,
            request.is_incremental,
            request.config.clone(),
            query,
            || {
                let ctx = || {
                    minijinja::context! {
                        this => scope::this_value(),
                        target => catalog.target.clone(),
                        project_name => catalog.project_name.clone(),
                        execute => request.mode == Mode::Execute,
                        model => (request.model)(),
                    }
                };
                let Some(call) = &request.test else {
                    let full = format!("{prelude}{}", request.source);
                    return self
                        .env
                        .template_from_named_str(request.name, &full)?
                        .render(ctx());
                };
                let (model, args) = call.values()?;
                if self.native_tests.contains(call.macro_name.as_str())
                    && let Some(sql) = native_tests::render(
                        &call.macro_name,
                        &model,
                        &args,
                        scope::config_value("where").as_ref(),
                        catalog.kind,
                    )
                {
                    return Ok(sql);
                }
                let template = self.env.get_template(&self.test_template(call))?;
                template.render(minijinja::context! {
                    __sb_test_model => model,
                    __sb_test_args => args,
                    ..ctx()
                })
            },
        );
        let result =
            result.map_err(|error| self.diagnostic(&error, request, &captured, prelude.len()));
        (result, captured)
    }

    /// The name of the template that calls `call`'s test macro.
    fn test_template(&self, call: &TestCall<'_>) -> String {
        match self.test_templates.get(&call.macro_name) {
            Some(name) => name.clone(),
            None => test_template_name(&self.macros, &call.macro_name),
        }
    }

    /// The import that puts the project's macros in scope for `source`:
    /// only the macros it names, because importing is per render and a
    /// project may have hundreds. A template that looks macros up by name
    /// (`adapter.dispatch`, `context`) gets all of them.
    fn prelude_for(&self, source: &str) -> String {
        if self.macros.is_empty() {
            return String::new();
        }
        let dynamic = source.contains("dispatch") || source.contains("context");
        let mut used: Vec<&str> = Vec::new();
        if dynamic {
            used.extend(self.macros.names.iter().map(String::as_str));
        } else {
            for word in identifiers(source) {
                if self.macros.defines(word) && !used.contains(&word) {
                    used.push(word);
                }
            }
        }
        if used.is_empty() {
            return String::new();
        }
        let module = if dynamic {
            MACROS_TEMPLATE.to_string()
        } else {
            self.macros.module_for(&used)
        };
        format!("{{% from '{module}' import {} %}}", used.join(", "))
    }

    fn diagnostic(
        &self,
        error: &Error,
        request: &RenderRequest<'_>,
        captured: &Captured,
        prelude_len: usize,
    ) -> Diagnostic {
        // Errors inside a macro point into the macros template: map them back.
        let in_module = error
            .name()
            .and_then(|name| self.macros.locate(name, error.line().unwrap_or(1)));
        let in_macros = error
            .name()
            .is_some_and(|name| name.starts_with(MACROS_TEMPLATE));
        let (path, source, line, range) = if in_macros {
            match in_module {
                Some((file, line)) => (file.path.as_path(), file.text.as_str(), line, None),
                None => (request.path, request.source, 1, None),
            }
        } else {
            let range = error
                .range()
                .map(|r| r.start.saturating_sub(prelude_len)..r.end.saturating_sub(prelude_len));
            (
                request.path,
                request.source,
                error.line().unwrap_or(1),
                range,
            )
        };
        let locate = |needle: Option<&str>| -> Location {
            if let Some(needle) = needle {
                let found = Location::find(path, source, needle, line);
                if found.line == line {
                    return found;
                }
            }
            match &range {
                Some(r) if r.start < source.len() => Location::from_offset(
                    path,
                    source,
                    r.start,
                    r.end.saturating_sub(r.start).max(1),
                ),
                _ => {
                    Location::from_line_col(path, source, line, 1 + leading_spaces(source, line), 1)
                }
            }
        };
        let macro_note = in_macros.then(|| format!("while rendering {}", request.path.display()));
        let diagnostic = match &captured.failure {
            Some(Failure::UnknownRef { name, close, disabled }) => {
                let help = if *disabled {
                    format!("model `{name}` is disabled (`enabled: false`); enable it or remove this ref")
                } else {
                    did_you_mean(close).unwrap_or_else(|| format!("create models/{name}.sql or a seed seeds/{name}.csv"))
                };
                Diagnostic::error(format!("unknown ref `{name}`"))
                    .at(locate(Some(name)))
                    .help(help)
            }
            Some(Failure::UnknownSource { source: s, table, close }) => {
                Diagnostic::error(format!("unknown source `{s}.{table}`"))
                    .at(locate(Some(table)))
                    .help(did_you_mean(close).unwrap_or_else(|| {
                        format!("declare it in a schema YAML file: sources: [{{name: {s}, tables: [{{name: {table}}}]}}]")
                    }))
            }
            Some(Failure::MissingVar { name }) => Diagnostic::error(format!("required var `{name}` is not set"))
                .at(locate(Some(name)))
                .help(format!("set `{name}` under `vars:` in project.yml, pass --vars '{{{name}: ...}}', or give var() a default")),
            Some(Failure::MissingEnvVar { name }) => {
                Diagnostic::error(format!("environment variable `{name}` is not set"))
                    .at(locate(Some(name)))
                    .help(format!("export {name}=..., or give env_var() a default: env_var('{name}', '')"))
            }
            Some(Failure::UnknownConfigKey { key }) => {
                let close = crate::graph::closest_names(key, crate::project::config::KNOWN_KEYS.iter().copied(), 3);
                Diagnostic::error(format!("unknown config key `{key}`"))
                    .at(locate(Some(key)))
                    .help(did_you_mean(&close).unwrap_or_else(|| "remove it from config()".into()))
            }
            Some(Failure::Raised(message)) => Diagnostic::error(format!("compilation error: {message}"))
                .at(locate(Some("raise_compiler_error")))
                .help("the template raised this error on purpose (exceptions.raise_compiler_error); fix what it describes"),
            Some(Failure::Query(message)) => Diagnostic::error(format!("run_query failed: {message}"))
                .at(locate(Some("run_query")))
                .help("fix the SQL passed to run_query()"),
            None => jinja_error_diagnostic(error, locate(None)),
        };
        match macro_note {
            Some(note) => diagnostic.note(note),
            None => diagnostic,
        }
    }
}

/// Templates named `__sb_test__|<macro>|<module>` call a generic test's
/// macro with the tested relation and the arguments as values, so every
/// test of one kind shares one compiled template.
const TEST_TEMPLATE: &str = "__sb_test__";
/// The macro that narrows a tested relation by the test's `where` config.
const WHERE_SUBQUERY: &str = "get_where_subquery";

/// The template that calls test macro `macro_name`: one per macro and
/// module, compiled once per run (`test_template_source`).
fn test_template_name(macros: &MacroModules, macro_name: &str) -> String {
    let module = macros.module_for(&[macro_name, WHERE_SUBQUERY]);
    format!("{TEST_TEMPLATE}|{macro_name}|{module}")
}

fn test_template_source(macros: &MacroModules, name: &str) -> Option<String> {
    let mut parts = name
        .strip_prefix(TEST_TEMPLATE)?
        .strip_prefix('|')?
        .split('|');
    let (macro_name, module) = (parts.next()?, parts.next()?);
    let valid = macros.defines(macro_name) && macros.source(module).is_some();
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
    pub column: Option<&'a str>,
    pub args: &'a serde_json::Map<String, serde_json::Value>,
}

impl TestCall<'_> {
    /// The relation and the keyword arguments, resolved in the current scope.
    fn values(&self) -> Result<(Value, Value), Error> {
        let model = call_value(self.model.0, &self.model.1)?;
        let mut args = std::collections::BTreeMap::new();
        if let Some(column) = self.column {
            args.insert("column_name".to_string(), Value::from(column));
        }
        for (key, value) in self.args {
            let value = match crate::project::data_tests::argument_call(key, value) {
                Some((function, names)) => call_value(function, &names)?,
                None => to_value(value),
            };
            args.insert(key.clone(), value);
        }
        Ok((model, Value::from(args)))
    }
}

/// `ref(names...)` or `source(source, table)`, as a template would call it.
fn call_value(function: &str, names: &[String]) -> Result<Value, Error> {
    match (function, names) {
        ("source", [source, table]) => scope::source_fn(source, table),
        ("source", _) => Err(Error::new(
            ErrorKind::MissingArgument,
            "source() takes a source name and a table name",
        )),
        _ => {
            let names: Vec<Value> = names.iter().map(|n| Value::from(n.as_str())).collect();
            scope::ref_fn(&names)
        }
    }
}

/// The identifier-like words of `text`, in order.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
}

fn leading_spaces(source: &str, line: usize) -> usize {
    source
        .lines()
        .nth(line.saturating_sub(1))
        .map_or(0, |l| l.len() - l.trim_start().len())
}

/// The Jinja request for one node.
pub struct RenderRequest<'a> {
    pub node: usize,
    /// Template name shown by minijinja (the file path).
    pub name: &'a str,
    pub path: &'a Path,
    pub source: &'a str,
    pub mode: Mode,
    pub is_incremental: bool,
    /// The node's config before in-file `config()` calls, for `config.get`.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Makes the node facts exposed as `model` (name, unique_id, config,
    /// ...), only for renders that go through a template.
    pub model: &'a dyn Fn() -> Value,
    /// For a generic test: its call, rendered through a shared template
    /// instead of `source`.
    pub test: Option<TestCall<'a>>,
}

fn jinja_error_diagnostic(error: &Error, location: Location) -> Diagnostic {
    let detail = error.detail().unwrap_or("").to_string();
    let (message, help) = match error.kind() {
        ErrorKind::SyntaxError => (
            format!("Jinja syntax error: {detail}"),
            "check that every `{{`, `{%` and `{#` is closed and each block has its end tag".to_string(),
        ),
        ErrorKind::UndefinedError => (
            format!("undefined value: {}", if detail.is_empty() { "a name is not defined".into() } else { detail }),
            "define it with {% set %}, pass it as a var (var('name', default)), or check the spelling; macros live in macros/*.sql".to_string(),
        ),
        ErrorKind::UnknownFunction => (
            format!("unknown function: {detail}"),
            "define the macro in macros/*.sql, or check the spelling".to_string(),
        ),
        ErrorKind::OutOfFuel => (
            "the template ran too long and was stopped".to_string(),
            "look for a loop that never ends or a very large range()".to_string(),
        ),
        _ if detail.contains("recursion") => (
            format!("template error: {detail}"),
            "a macro calls itself without end; add a stopping condition".to_string(),
        ),
        kind => (
            format!("template error: {}", if detail.is_empty() { kind.to_string() } else { detail }),
            "fix the Jinja expression at the marked place".to_string(),
        ),
    };
    Diagnostic::error(message).at(location).help(help)
}

/// Locates a syntax error in a file rendered without a prelude.
fn syntax_diagnostic(error: &Error, path: &Path, source: &str, prelude_len: usize) -> Diagnostic {
    let location = match error.range() {
        Some(r) if r.start >= prelude_len => Location::from_offset(
            path,
            source,
            r.start - prelude_len,
            (r.end - r.start).max(1),
        ),
        _ => Location::from_line_col(path, source, error.line().unwrap_or(1), 1, 1),
    };
    jinja_error_diagnostic(error, location)
}

fn base_environment() -> Environment<'static> {
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
