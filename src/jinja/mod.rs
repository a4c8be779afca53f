//! The one minijinja environment of a run: sb's functions (`ref`, `source`,
//! `config`, `var`, `env_var`, `adapter.dispatch`, ...), the project's macros
//! visible to every template without an import, strict undefined values and a
//! fuel bound, and the mapping of template errors to project files.
//!
//! This module owns [`Jinja`] (building it, rendering a node) and the
//! rewrite of `{% test %}` blocks; the base environments live in
//! `environment`, error mapping in `errors`, generic test calls in
//! `test_call`, and every lexical scan of Jinja source in [`scan`].

mod context;
mod environment;
mod errors;
mod extra_args;
mod graph;
mod modules;
mod mutable;
mod namespaces;
mod naming;
mod native_tests;
pub mod objects;
mod overrides;
mod pymodules;
mod returns;
pub mod scope;
mod test_call;
mod warehouse;

use std::path::Path;
use std::sync::Arc;

use minijinja::Environment;
use minijinja::value::Value;

use crate::adapter::AdapterKind;
use crate::diag::Diagnostic;
use crate::project::settings::DispatchOrder;
use crate::project::{EnvVars, SourceFile};
use crate::resource::NodeId;
use crate::scan;
use environment::base_environment;
use errors::syntax_diagnostic;
pub use graph::GraphInput;
pub use modules::MacroEntry;
use modules::{MACROS_TEMPLATE, MacroFile, MacroModules};
pub use naming::NamePart;
pub use scope::{Captured, Catalog, Failure, Mode, QueryFn};
pub use test_call::TestCall;
use test_call::{test_template_name, test_template_source};

/// Rewrites `{% test name(...) %}` blocks as `{% macro test_name(...) %}`
/// without moving any line, so positions in errors stay true.
pub fn rewrite_test_blocks(text: &str) -> String {
    let mut headers_rewritten = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    for header in scan::block_headers(text).filter(|h| h.kind == scan::BlockKind::Test) {
        headers_rewritten.push_str(&text[copied..header.keyword.start]);
        headers_rewritten.push_str("macro");
        headers_rewritten.push_str(&text[header.keyword.end..header.name.span.start]);
        headers_rewritten.push_str("test_");
        copied = header.name.span.start;
    }
    headers_rewritten.push_str(&text[copied..]);
    let text = headers_rewritten;
    let mut out = String::with_capacity(text.len() + 16);
    let mut copied = 0;
    for tag in scan::end_test_tags(&text) {
        out.push_str(&text[copied..tag.keyword.start]);
        out.push_str("endmacro");
        copied = tag.keyword.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// A template dict of `pairs` (a `Value` built from an iterator is a list).
pub fn map_value<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    let map: std::collections::BTreeMap<String, Value> =
        pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    Value::from(map)
}

/// Converts any serializable value for templates.
pub fn to_value<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// What the environment needs from the project: its name (a namespace of
/// its own macros, beside `dbt` and each package's), its `dispatch:` search
/// orders, and how undefined values behave.
#[derive(Debug, Clone, Copy, Default)]
pub struct Namespaces<'a> {
    pub project_name: &'a str,
    pub dispatch: &'a [DispatchOrder],
    /// An undefined value prints as nothing, as in dbt (dbt projects);
    /// otherwise any use of one is an error (sb's own projects).
    pub lenient_undefined: bool,
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
    /// How many of the macro files are sb's own (they come first).
    builtin_files: usize,
    /// `graph`, once the compiler knows it (empty while parsing).
    graph: Value,
}

impl Jinja {
    /// Builds the environment for `kind`, with the built-in macros first and
    /// the project's after them, so a project macro overrides a built-in one.
    pub fn new(
        kind: AdapterKind,
        builtin: &[SourceFile],
        macro_files: &[SourceFile],
        env_vars: &EnvVars,
        namespaces: Namespaces<'_>,
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut env = base_environment(env_vars);
        if namespaces.lenient_undefined {
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        }
        let dbt_macros = SourceFile {
            path: std::path::PathBuf::from("<sb>/dbt.sql"),
            text: include_str!("macros/dbt.sql").to_string(),
            package: None,
        };
        let builtin: Vec<&SourceFile> = std::iter::once(&dbt_macros).chain(builtin).collect();
        let mut errors = Vec::new();
        let mut files = Vec::new();
        for file in builtin.iter().copied().chain(macro_files) {
            let text = rewrite_test_blocks(&file.text);
            // Check each file alone first so a syntax error names its own file.
            if let Err(error) = env.template_from_named_str("macro file", &text) {
                errors.push(syntax_diagnostic(&error, &file.path, &file.text, 0));
                continue;
            }
            let original = MacroFile {
                path: file.path.clone(),
                text: file.text.clone(),
                package: file.package.clone(),
                on_demand: file.path == dbt_macros.path,
            };
            files.push((original, text));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let macros = Arc::new(MacroModules::new(files, kind.as_str()));
        env.add_global(
            "adapter",
            Value::from_object(objects::AdapterObject {
                macros: Arc::clone(&macros),
                dispatch: namespaces.dispatch.to_vec(),
                project_name: namespaces.project_name.to_string(),
                ..objects::AdapterObject::new(kind)
            }),
        );
        let mut namespace_names: Vec<(String, Option<String>)> = macros
            .package_names()
            .map(|p| (p.to_string(), Some(p.to_string())))
            .collect();
        namespace_names.push(("dbt".to_string(), None));
        if !namespaces.project_name.is_empty() {
            namespace_names.push((namespaces.project_name.to_string(), None));
        }
        for (name, package) in namespace_names {
            // A macro or a built-in of the same name keeps it.
            if macros.defines(&name) || env.globals().any(|(global, _)| global == name) {
                continue;
            }
            env.add_global(
                name.clone(),
                Value::from_object(namespaces::Namespace {
                    name,
                    package,
                    macros: Arc::clone(&macros),
                }),
            );
        }
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
            Ok(test_template_source(&loader_macros, name)
                .or_else(|| naming::name_template_source(&loader_macros, name))
                .or_else(|| loader_macros.source(name)))
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
            builtin_files: builtin.len(),
            graph: graph::empty_graph(),
        })
    }

    /// Whether any macro or `sources` mentions `graph`: only then is it built.
    pub fn mentions_graph<'a>(&self, sources: impl IntoIterator<Item = &'a str>) -> bool {
        let mentions = |text: &str| scan::identifiers(text).any(|word| word == "graph");
        self.macros.files.iter().any(|f| mentions(&f.text)) || sources.into_iter().any(mentions)
    }

    /// The project's and its packages' macros, for the manifest; `root`
    /// is the root project's name.
    pub fn manifest_macros(&self, root: &str) -> Vec<MacroEntry> {
        self.macros.manifest_macros(root)
    }

    /// The manifest ids of the macros `source` (code of package `package`,
    /// `None` for the root project) calls directly.
    pub fn called_macro_ids(&self, source: &str, package: Option<&str>, root: &str) -> Vec<String> {
        self.macros.called_macro_ids(source, package, root)
    }

    /// The render context of a unit test's `overrides:` (see `overrides`):
    /// undefined when it overrides no macro and no environment variable.
    pub fn overridden_macros(
        &self,
        macros: &serde_json::Map<String, serde_json::Value>,
        env_vars: &serde_json::Map<String, serde_json::Value>,
    ) -> Value {
        overrides::context_value(macros, env_vars, |name| {
            self.env
                .globals()
                .find(|(global, _)| *global == name)
                .map(|(_, value)| value)
        })
    }

    /// Sets `graph` for the renders that follow.
    pub fn set_graph(&mut self, project: &crate::project::Project, input: &GraphInput<'_>) {
        self.graph = graph::graph_value(project, input);
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
            None => self.prelude_for(request.source, &request.extra),
        };
        let insertions = std::cell::RefCell::new(Vec::new());
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
                        execute => Value::from_object(objects::ExecuteFlag),
                        model => (request.model)(),
                        graph => self.graph.clone(),
                    }
                };
                let Some(call) = &request.test else {
                    // Literals become changeable only where a model changes
                    // one, so other models keep their exact columns.
                    let changes = mutable::MUTATING_METHODS
                        .iter()
                        .any(|method| request.source.contains(method));
                    let rewritten = changes
                        .then(|| {
                            scan::mutable_literals_mapped(
                                request.source,
                                mutable::LIST_FUNCTION,
                                mutable::DICT_FUNCTION,
                            )
                        })
                        .flatten();
                    let source = match rewritten {
                        Some((text, inserted)) => {
                            *insertions.borrow_mut() = inserted;
                            std::borrow::Cow::Owned(text)
                        }
                        None => std::borrow::Cow::Borrowed(request.source),
                    };
                    let full = format!("{prelude}{source}");
                    let template = self.env.template_from_named_str(request.name, &full)?;
                    return if request.extra.is_undefined() {
                        template.render(ctx())
                    } else {
                        template.render(minijinja::context! { ..request.extra.clone(), ..ctx() })
                    };
                };
                let (model, args) = call.values(&self.env)?;
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
        returns::clear();
        let insertions = insertions.into_inner();
        let result = result.map_err(|error| {
            self.diagnostic(&error, request, &captured, (prelude.len(), &insertions))
        });
        (result, captured)
    }

    /// The import that puts the project's macros in scope for `source`:
    /// only the macros it names, because importing is per render and a
    /// project may have hundreds. A template that looks macros up by name
    /// (`adapter.dispatch`, `context`) gets all of them.
    /// A name `extra` gives (a unit test's overridden macro) is not
    /// imported, so the render sees the given value.
    fn prelude_for(&self, source: &str, extra: &Value) -> String {
        if self.macros.is_empty() {
            return String::new();
        }
        let given = |name: &str| {
            !extra.is_undefined()
                && extra
                    .get_item(&Value::from(name))
                    .is_ok_and(|value| !value.is_undefined())
        };
        let dynamic = source.contains("dispatch") || source.contains("context");
        let mut used: Vec<&str> = Vec::new();
        if dynamic {
            used.extend(
                self.macros
                    .whole_root_names
                    .iter()
                    .map(String::as_str)
                    .filter(|name| !given(name)),
            );
        } else {
            for word in scan::identifiers(source) {
                if self.macros.defines(word) && !used.contains(&word) && !given(word) {
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
}

/// The Jinja request for one node.
pub struct RenderRequest<'a> {
    pub node: NodeId,
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
    /// More variables for this render only (`results` and `schemas` in an
    /// `on-run-end` hook); a map, or undefined.
    pub extra: Value,
}
