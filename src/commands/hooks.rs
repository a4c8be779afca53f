//! `on-run-start` and `on-run-end` of a dbt project: Jinja SQL rendered in
//! the project's context (`target`, `var`, macros, `run_query`) and run on
//! the warehouse before the first node and after the last, as dbt runs them
//! around `run`, `build`, `seed` and `test`.

use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::execute::ConnectionPool;
use crate::jinja::{Mode, RenderRequest};
use crate::project::Settings;
use crate::report::Reporter;
use crate::resource::NodeId;

/// Which end of the run a hook belongs to.
#[derive(Debug, Clone, Copy)]
pub enum When {
    Start,
    End,
}

impl When {
    fn key(self) -> &'static str {
        match self {
            Self::Start => "on-run-start",
            Self::End => "on-run-end",
        }
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
                When::End => &settings.on_run_end,
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
