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
    if !lines.is_empty() {
        reporter.result(&lines.join("\n"));
    }
    Ok(Outcome::Success)
}
