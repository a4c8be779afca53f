//! `on-run-start` and `on-run-end` of a dbt project: Jinja SQL rendered in
//! the project's context (`target`, `var`, macros, `run_query`) and run on
//! the warehouse before the first node and after the last, as dbt runs them
//! around `run`, `build`, `seed` and `test`.

use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::execute::ConnectionPool;
use crate::execute::NodeResult;
use crate::jinja::{Mode, RenderRequest};
use crate::project::Settings;
use crate::report::Reporter;
use crate::resource::{NodeId, ResourceType};
use minijinja::Value;

/// Which end of the run a hook belongs to.
#[derive(Debug, Clone, Copy)]
pub enum When<'a> {
    Start,
    /// With the results of the nodes that ran.
    End(&'a [NodeResult]),
}

impl When<'_> {
    fn key(self) -> &'static str {
        match self {
            Self::Start => "on-run-start",
            Self::End(_) => "on-run-end",
        }
    }
}

/// `results`, `schemas` and `database_schemas` for an `on-run-end` hook.
fn end_context(compiled: &CompiledProject, results: &[NodeResult]) -> Value {
    let project = &compiled.project;
    let mut schemas: Vec<String> = Vec::new();
    let mut database_schemas: Vec<(Option<String>, String)> = Vec::new();
    let entries: Vec<serde_json::Value> = results
        .iter()
        .map(|result| {
            let node = &project.nodes[result.index];
            let state = &compiled.nodes[result.index];
            let relation = state
                .relation
                .clone()
                .unwrap_or_else(|| project.relation_of(node));
            let builds = !matches!(
                node.resource_type,
                ResourceType::Test | ResourceType::Source | ResourceType::Analysis
            );
            if builds && result.status.as_str() == "success" {
                if !schemas.contains(&relation.schema) {
                    schemas.push(relation.schema.clone());
                }
                let pair = (relation.database.clone(), relation.schema.clone());
                if !database_schemas.contains(&pair) {
                    database_schemas.push(pair);
                }
            }
            serde_json::json!({
                "status": result.status.as_str(),
                "message": result.message,
                "execution_time": result.seconds,
                "failures": result.failures,
                "thread_id": result.thread_id,
                "adapter_response": crate::artifacts::adapter_response(result),
                "node": {
                    "unique_id": node.unique_id,
                    "name": node.name,
                    "resource_type": node.resource_type.as_str(),
                    "package_name": node.package_name,
                    "original_file_path": node.original_file_path,
                    "database": relation.database,
                    "schema": relation.schema,
                    "alias": relation.identifier,
                    "fqn": node.fqn,
                    "config": state.config.0,
                    "compiled_code": state.compiled,
                },
            })
        })
        .collect();
    minijinja::context! {
        results => crate::jinja::to_value(&entries),
        schemas => schemas,
        database_schemas => crate::jinja::to_value(&database_schemas),
    }
}

/// Renders and runs the hooks for `when` of every installed package and
/// of the root project, in dbt's order: packages by name, the root project
/// last; each project's hooks in the order written. The first that fails
/// stops the rest and is the error.
pub fn run(
    compiled: &CompiledProject,
    pool: &ConnectionPool<'_>,
    when: When,
    reporter: &Reporter,
) -> Result<(), Diagnostics> {
    let project = &compiled.project;
    let mut owners: Vec<&Settings> = project.packages.iter().map(|p| &p.settings).collect();
    owners.sort_by(|a, b| a.name.cmp(&b.name));
    owners.push(&project.settings);
    let key = when.key();
    let hooks: Vec<(&Settings, usize, &String)> = owners
        .into_iter()
        .flat_map(|settings| {
            let hooks = match when {
                When::Start => &settings.on_run_start,
                When::End(_) => &settings.on_run_end,
            };
            hooks
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.trim().is_empty())
                .map(move |(index, hook)| (settings, index, hook))
        })
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let extra = match when {
        When::Start => Value::UNDEFINED,
        When::End(results) => end_context(compiled, results),
    };
    let connection = pool
        .take()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    for (settings, index, hook) in hooks {
        let file = &settings.file;
        let location = file.locate_key(key, 1);
        let name = format!("{} ({key} {})", file.path.display(), index + 1);
        let model = minijinja::Value::default;
        let request = RenderRequest {
            // No node: `this` is empty in a project hook, as in dbt.
            node: NodeId::NONE,
            name: &name,
            path: &file.path,
            source: hook,
            mode: Mode::Execute,
            is_incremental: false,
            config: serde_json::Map::new(),
            model: &model,
            test: None,
            extra: extra.clone(),
        };
        let sql = compiled.jinja.render(&compiled.catalog, &request, None).0?;
        if sql.trim().is_empty() {
            continue;
        }
        let ran = connection
            .lock()
            .map_err(|_| Diagnostic::error("connection lock poisoned"))?
            .execute(&sql);
        match ran {
            Ok(_) => reporter.info(&format!(
                "{key} hook {} of {} ran",
                index + 1,
                settings.name
            )),
            Err(error) => {
                return Err(Diagnostics::from(
                    Diagnostic::error(format!(
                        "{key} hook {} failed: {}",
                        index + 1,
                        error.message
                    ))
                    .at(location.clone())
                    .note(format!("the statement sent: {}", sql.trim()))
                    .help(format!(
                        "fix the SQL of the hook under `{key}` in {}",
                        file.path.display()
                    )),
                ));
            }
        }
    }
    pool.give_back(connection);
    Ok(())
}
