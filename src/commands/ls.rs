//! `sb ls`: lists the selected nodes by name, path or as JSON lines.

use serde_json::{Value, json};

use super::{Outcome, compile_project, select};
use crate::cli::{LsArgs, LsOutput};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(args: &LsArgs, session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(session, reporter)?;
    let kinds: Vec<ResourceType> = if args.resource_type.is_empty() {
        ResourceType::ALL.to_vec()
    } else {
        let mut kinds = Vec::new();
        for text in &args.resource_type {
            let kind = ResourceType::parse(text).ok_or_else(|| {
                Diagnostic::error(format!("unknown resource type `{text}`"))
                    .help("use model, seed, source or test")
            })?;
            kinds.push(kind);
        }
        kinds
    };
    let selected = select(&compiled, session, &kinds, reporter)?;
    let mut lines = Vec::new();
    for index in selected {
        let node = &compiled.project.nodes[index];
        let line = match args.output {
            LsOutput::Name => match &node.source {
                Some(_) => format!("source:{}", node.display_name()),
                None => node.display_name(),
            },
            LsOutput::Path => node.original_file_path.clone(),
            LsOutput::Json => json!({
                "name": node.name,
                "version": node.version.as_ref().map(|v| v.v.clone()),
                "resource_type": node.resource_type.as_str(),
                "package_name": node.package_name,
                "original_file_path": node.original_file_path,
                "unique_id": node.unique_id,
                "alias": compiled.nodes[index].relation.as_ref().map(|r| r.identifier.clone()),
                "config": Value::Object(compiled.nodes[index].config.0.clone()),
                "tags": compiled.nodes[index].config.tags(),
                "depends_on": {"nodes": compiled.nodes[index].depends_on.iter().map(|&p| compiled.project.nodes[p].unique_id.clone()).collect::<Vec<_>>()},
            })
            .to_string(),
        };
        lines.push(line);
    }
    lines.extend(deleted_lines(&compiled, session, &kinds, args.output)?);
    if !lines.is_empty() {
        reporter.result(&lines.join("\n"));
    }
    Ok(Outcome::Success)
}

/// With `-s state:deleted`: the nodes of the `--state` manifest that the
/// project no longer has (of the listed kinds), which no selector of the
/// project's own nodes can name.
fn deleted_lines(
    compiled: &crate::compile::CompiledProject,
    session: &Session,
    kinds: &[ResourceType],
    output: LsOutput,
) -> Result<Vec<String>, Diagnostics> {
    let asked = session
        .flags
        .select
        .iter()
        .flat_map(|term| term.split_whitespace())
        .any(|term| term.split(',').any(|part| part == "state:deleted"));
    let Some(dir) = session.flags.state.as_ref().filter(|_| asked) else {
        return Ok(Vec::new());
    };
    let old = crate::graph::state::ManifestRecord::read(dir)?;
    let current: std::collections::HashSet<&str> = compiled
        .project
        .nodes
        .iter()
        .map(|n| n.unique_id.as_str())
        .collect();
    Ok(old
        .gone(&current)
        .into_iter()
        .filter(|(_, n)| ResourceType::parse(&n.resource_type).is_some_and(|k| kinds.contains(&k)))
        .map(|(id, n)| match output {
            LsOutput::Name => format!("{id} (deleted)"),
            LsOutput::Path => n.original_file_path.clone(),
            LsOutput::Json => json!({
                "unique_id": id,
                "name": n.name,
                "resource_type": n.resource_type,
                "original_file_path": n.original_file_path,
                "deleted": true,
            })
            .to_string(),
        })
        .collect())
}
