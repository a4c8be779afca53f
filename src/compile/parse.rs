//! Renders nodes for the compiler: the parse render of every model and test
//! (recording `ref`, `source` and `config()`), the re-render once relations
//! are final, and the mapping of a generic test's errors back to its YAML
//! entry.

use std::sync::Arc;

use super::CompiledProject;
use crate::diag::Diagnostic;
use crate::jinja::{Captured, Catalog, Jinja, Mode, RenderRequest, TestCall};
use crate::project::config::NodeConfig;
use crate::project::versions::ModelVersion;
use crate::project::{Project, data_tests};
use crate::resource::NodeId;

/// A generic test's code is generated from its YAML entry, so an error that
/// points into that code is moved to the entry: to the name the message
/// quotes (an unknown `ref`, say) when the entry holds it, else to the
/// test's name.
pub(super) fn test_diagnostic(
    project: &Project,
    index: NodeId,
    mut diagnostic: Diagnostic,
) -> Diagnostic {
    let node = &project.nodes[index];
    let Some(test) = &node.generic_test else {
        return diagnostic;
    };
    let in_entry = diagnostic
        .location
        .as_ref()
        .is_none_or(|l| l.file == node.file_path());
    if !in_entry {
        return diagnostic;
    }
    let file = project
        .schema_files
        .iter()
        .find(|f| crate::project::slash(&f.path) == node.original_file_path);
    let quoted = diagnostic
        .message
        .split('`')
        .nth(1)
        .map(|q| q.rsplit('.').next().unwrap_or(q).to_string());
    let location = match (file, quoted) {
        (Some(file), Some(name)) => {
            let found =
                data_tests::locate_word(&file.path, &file.source, &name, test.location.line);
            if found.len > 1
                || found
                    .source_line
                    .as_deref()
                    .is_some_and(|l| l.contains(&name))
            {
                found
            } else {
                test.location.clone()
            }
        }
        _ => test.location.clone(),
    };
    diagnostic.location = Some(location);
    diagnostic.note(format!("in test `{}`", node.name))
}

/// Renders model `index`'s file with `config` as its config; `mode` says why
/// and whether `is_incremental()` is true.
/// How a model renders: at which stage, as an incremental run or not, and
/// with which extra context (a unit test's overrides; undefined for none).
pub(super) struct RenderAs {
    pub mode: Mode,
    pub is_incremental: bool,
    pub extra: minijinja::Value,
}

impl RenderAs {
    pub fn plain(mode: Mode, is_incremental: bool) -> Self {
        Self {
            mode,
            is_incremental,
            extra: minijinja::Value::UNDEFINED,
        }
    }
}

pub(super) fn render_model(
    jinja: &Jinja,
    catalog: &Arc<Catalog>,
    project: &Project,
    index: NodeId,
    config: &NodeConfig,
    how: RenderAs,
    query: Option<crate::jinja::QueryFn>,
) -> (Result<String, Diagnostic>, Captured) {
    let node = &project.nodes[index];
    let model = || CompiledProject::model_value(project, index, config);
    // The name picks minijinja's auto-escaping by its extension: a generic
    // test declared in a `.yml` file must still render as SQL.
    let name = node.compiled_file();
    let request = RenderRequest {
        node: index,
        name: &name,
        path: node.file_path(),
        source: &node.raw_code,
        mode: how.mode,
        is_incremental: how.is_incremental,
        config: config.0.clone(),
        model: &model,
        test: node
            .generic_test
            .as_deref()
            .map(|test| test_call(project, test)),
        extra: how.extra,
    };
    jinja.render(catalog, &request, query)
}

/// A generic test's macro call with its arguments as values.
fn test_call<'a>(project: &Project, test: &'a data_tests::GenericTest) -> TestCall<'a> {
    let target = &project.nodes[test.attached];
    let model = match &target.source {
        Some(source) => (
            "source",
            vec![source.source_name.clone(), target.name.clone()],
        ),
        None => ("ref", vec![target.name.clone()]),
    };
    TestCall {
        macro_name: format!("test_{}", test.test_name),
        model,
        version: target.version.as_ref().map(ModelVersion::text),
        column: test.column.as_deref(),
        args: &test.args,
    }
}
