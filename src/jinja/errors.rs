//! Template errors as diagnostics: the failure a render recorded (an
//! unknown ref, a missing var, ...) or minijinja's own error, located in the
//! project file behind it, through the macro modules when it arose in a macro.

use std::path::Path;

use minijinja::{Error, ErrorKind};

use super::modules::MACROS_TEMPLATE;
use super::{Captured, Failure, Jinja, RenderRequest};
use crate::diag::{Diagnostic, Location, did_you_mean};

impl Jinja {
    pub(super) fn diagnostic(
        &self,
        error: &Error,
        request: &RenderRequest<'_>,
        captured: &Captured,
        (prelude_len, inserted): (usize, &[(usize, usize)]),
    ) -> Diagnostic {
        // Back from the rendered text (prelude, rewritten literals) to the file.
        let original = |offset: usize| {
            crate::scan::original_offset(offset.saturating_sub(prelude_len), inserted)
        };
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
            let range = error.range().map(|r| original(r.start)..original(r.end));
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
            Some(Failure::UnknownVersion { name, version, known }) => {
                let help = if known.is_empty() {
                    format!("`{name}` has no versions: remove `v={version}`, or add `versions:` to its YAML")
                } else {
                    format!("`{name}` has version{} {}: pin one of them, or leave out `v=` for the latest", if known.len() == 1 { "" } else { "s" }, known.join(", "))
                };
                Diagnostic::error(format!("`{name}` has no version {version}"))
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
            Some(Failure::SecretEnvVar { name }) => {
                Diagnostic::error(format!("`{name}` is a secret environment variable: a model, macro or hook cannot read it"))
                    .at(locate(Some(name)))
                    .help("as in dbt, secret variables (SB_SECRET_*, DBT_ENV_SECRET_*) are read only in profiles.yml and project.yml targets, where sb keeps their values out of every output; use a variable without the prefix here")
            }
            Some(Failure::UnknownConfigKey { key }) => {
                let close = crate::diag::suggest::closest_names(key, crate::project::config::KNOWN_KEYS.iter().copied(), 3);
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

fn leading_spaces(source: &str, line: usize) -> usize {
    source
        .lines()
        .nth(line.saturating_sub(1))
        .map_or(0, |l| l.len() - l.trim_start().len())
}

fn jinja_error_diagnostic(error: &Error, location: Location) -> Diagnostic {
    let detail = error.detail().unwrap_or("").to_string();
    let (message, help) = match error.kind() {
        _ if super::returns::is_return(error) => (
            "return() outside of a macro".to_string(),
            "call return() inside a `{% macro %}` in a macro file (sb, unlike dbt, does not wrap macros defined in a model's own file); print the value with {{ ... }} instead".to_string(),
        ),
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
            "macros nest deeper than templates may (a few dozen calls): a macro that calls itself without end, or a chain of macros calling macros too long; add a stopping condition or flatten the chain".to_string(),
        ),
        kind => (
            format!("template error: {}", if detail.is_empty() { kind.to_string() } else { detail }),
            "fix the Jinja expression at the marked place".to_string(),
        ),
    };
    Diagnostic::error(message).at(location).help(help)
}

/// Locates a syntax error in a file rendered without a prelude.
pub(super) fn syntax_diagnostic(
    error: &Error,
    path: &Path,
    source: &str,
    prelude_len: usize,
) -> Diagnostic {
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
