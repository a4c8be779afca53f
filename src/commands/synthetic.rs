//! The synthesizer's part of `sb seed` / `sb build`: whether it runs for
//! this selection, with which settings, and the load of its three tables
//! (one result line per table).

use std::collections::BTreeSet;

use super::select;
use super::warehouse::create_schemas;
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::execute::{self, ConnectionPool, NodeResult};
use crate::report::Reporter;
use crate::resource::{NodeId, ResourceType};
use crate::session::Session;
use crate::synth;

/// The synthesizer's part of `sb seed` / `sb build`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SynthRequest {
    pub overrides: synth::Overrides,
    pub append: bool,
}

/// The synthesizer's settings and tables, when this command runs it.
pub struct SyntheticStage {
    settings: synth::StreamingSettings,
    /// Node indices of `users`, `content`, `viewing_events`.
    pub nodes: [NodeId; 3],
    append: bool,
    append_days: u32,
}

/// Whether the synthesizer runs: when `synthetic:` is configured and the
/// selection is empty or picks one of its tables (`-s source:synthetic`).
pub fn stage(
    compiled: &CompiledProject,
    session: &Session,
    reporter: &Reporter,
    request: SynthRequest,
) -> Result<Option<SyntheticStage>, Diagnostics> {
    let Some(settings) = synth::settings(&compiled.project.settings, &request.overrides)? else {
        if request.append {
            return Err(Diagnostics::from(
                Diagnostic::error("`sb seed --append` needs the synthesizer, and project.yml has no `synthetic:` block")
                    .at(Location::file_only(std::path::Path::new(crate::project::settings::PROJECT_FILE)))
                    .help("add `synthetic: {streaming: {users: 10000, events: 100000}}` to project.yml, or drop --append"),
            ));
        }
        return Ok(None);
    };
    let find = |table: &str| {
        compiled
            .project
            .nodes
            .iter()
            .position(|n| {
                n.source
                    .as_ref()
                    .is_some_and(|s| s.source_name == synth::SOURCE_NAME && n.name == table)
            })
            .map(NodeId::new)
    };
    let (Some(users), Some(content), Some(events)) = (
        find(synth::TABLES[0]),
        find(synth::TABLES[1]),
        find(synth::TABLES[2]),
    ) else {
        return Ok(None);
    };
    let nodes = [users, content, events];
    if session.has_selection() {
        let chosen = select(compiled, session, &[ResourceType::Source], reporter)?;
        if !nodes.iter().any(|n| chosen.contains(n)) {
            return Ok(None);
        }
    }
    Ok(Some(SyntheticStage {
        append_days: request.overrides.days.unwrap_or(if request.append {
            synth::DEFAULT_APPEND_DAYS
        } else {
            settings.days
        }),
        settings: synth::StreamingSettings {
            days: if request.append {
                settings.days
            } else {
                request.overrides.days.unwrap_or(settings.days)
            },
            ..settings
        },
        nodes,
        append: request.append,
    }))
}

/// Generates and loads the synthetic tables, one result line per table.
pub fn load(
    compiled: &CompiledProject,
    pool: &ConnectionPool<'_>,
    stage: &SyntheticStage,
    threads: usize,
    reporter: &Reporter,
) -> Result<Vec<NodeResult>, Diagnostics> {
    let relation = |i: NodeId| compiled.project.relation_of(&compiled.project.nodes[i]);
    let targets = synth::Targets {
        kind: compiled.project.target.kind,
        users: relation(stage.nodes[0]),
        content: relation(stage.nodes[1]),
        events: relation(stage.nodes[2]),
    };
    create_schemas(
        compiled,
        &stage.nodes.iter().copied().collect::<BTreeSet<_>>(),
        pool,
    )?;
    let mode = if stage.append {
        synth::Mode::Append {
            days: stage.append_days,
        }
    } else {
        synth::Mode::Fresh
    };
    let s = &stage.settings;
    reporter.info(&format!(
        "Synthesizing {} users, {} titles and {} viewing events ({} days from {}, seed {}){}",
        s.users,
        s.content,
        if stage.append {
            "more".to_owned()
        } else {
            s.events.to_string()
        },
        if stage.append {
            stage.append_days
        } else {
            s.days
        },
        s.start_date,
        s.seed,
        if stage.append { ", appended" } else { "" }
    ));
    let connection = pool
        .take()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    let progress = reporter.progress("viewing events");
    let loads = {
        let mut guard = connection
            .lock()
            .map_err(|_| Diagnostic::error("connection lock poisoned"))?;
        guard.set_node(Some("source.synthetic"));
        synth::load(
            guard.as_mut(),
            &targets,
            s,
            mode,
            threads.max(1),
            &|done, total| progress.update(done, total),
        )
    };
    progress.finish();
    pool.give_back(connection);
    let total = loads.len();
    let mut results = Vec::new();
    for (position, load) in loads.into_iter().enumerate() {
        let table_index = synth::TABLES
            .iter()
            .position(|t| *t == load.table)
            .unwrap_or(0);
        let index = stage.nodes[table_index];
        let mut result = execute::record_outcome(compiled, index, load.result);
        result.seconds = load.seconds;
        execute::print_line(compiled, reporter, &result, position + 1, total);
        results.push(result);
    }
    Ok(results)
}
