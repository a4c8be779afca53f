//! `sb diff --state DIR`: what changed since the run whose `target/` is
//! DIR. Each selected node that is modified gets a line naming what changed
//! (`body`, `configs`, `macros`, ...) and a unified diff of its compiled SQL
//! against the state manifest's; `--stat` keeps one line per node. New and
//! deleted nodes are listed. Exit code 0 when nothing differs, 1 when
//! something does, so CI can gate on it.

use std::fmt::Write as _;

use super::{Outcome, compile_project, select};
use crate::artifacts;
use crate::cli::DiffArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::state::{ManifestRecord, ManifestState};
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(
    args: &DiffArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let Some(dir) = &session.flags.state else {
        return Err(Diagnostics::from(
            Diagnostic::error("sb diff compares with an earlier run: it needs --state DIR")
                .help("pass the target folder of the run to compare with, e.g. `sb diff --state prod-target/`"),
        ));
    };
    let compiled = compile_project(session, reporter)?;
    let old = ManifestRecord::read(dir)?;
    let current = artifacts::manifest_record(&compiled)?;
    let state = ManifestState::compare(&old, &current, &compiled.graph_nodes);
    let selected = select(&compiled, session, &ResourceType::ALL, reporter)?;
    let mut entries: Vec<Entry> = Vec::new();
    for index in selected {
        let node = &compiled.project.nodes[index];
        let id = node.unique_id.as_str();
        match state.changes(index) {
            None => entries.push(Entry {
                id: id.to_string(),
                kind: EntryKind::New,
                before: String::new(),
                after: current_code(&current, id),
            }),
            Some(changes) if changes.any() => entries.push(Entry {
                id: id.to_string(),
                kind: EntryKind::Modified(changes.names().join(", ")),
                before: old
                    .node(id)
                    .and_then(|n| n.compiled_code.clone())
                    .unwrap_or_default(),
                after: current_code(&current, id),
            }),
            Some(_) => {}
        }
    }
    for id in &state.deleted {
        entries.push(Entry {
            id: id.clone(),
            kind: EntryKind::Deleted,
            before: old
                .node(id)
                .and_then(|n| n.compiled_code.clone())
                .unwrap_or_default(),
            after: String::new(),
        });
    }
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    if entries.is_empty() {
        reporter.info(&format!(
            "No difference from the state in {}",
            dir.display()
        ));
        return Ok(Outcome::Success);
    }
    let paint = Paint(reporter.color());
    let mut text = String::new();
    for entry in &entries {
        if args.stat {
            text.push_str(&entry.stat_line(paint));
        } else {
            text.push_str(&entry.full(paint));
        }
        text.push('\n');
    }
    let count = |wanted: fn(&EntryKind) -> bool| entries.iter().filter(|e| wanted(&e.kind)).count();
    let _ = write!(
        text,
        "{} modified, {} new, {} deleted",
        count(|k| matches!(k, EntryKind::Modified(_))),
        count(|k| matches!(k, EntryKind::New)),
        count(|k| matches!(k, EntryKind::Deleted)),
    );
    reporter.result(&text);
    Ok(Outcome::Failed)
}

fn current_code(current: &ManifestRecord, id: &str) -> String {
    current
        .node(id)
        .and_then(|n| n.compiled_code.clone())
        .unwrap_or_default()
}

enum EntryKind {
    New,
    Deleted,
    /// The facets that changed, by their selector names.
    Modified(String),
}

/// One node that differs, with its compiled SQL on both sides.
struct Entry {
    id: String,
    kind: EntryKind,
    before: String,
    after: String,
}

impl Entry {
    fn heading(&self, paint: Paint) -> String {
        match &self.kind {
            EntryKind::New => paint.green(&format!("+ {} (new)", self.id)),
            EntryKind::Deleted => paint.red(&format!("- {} (deleted)", self.id)),
            EntryKind::Modified(facets) => paint.bold(&format!("~ {} ({facets})", self.id)),
        }
    }

    fn stat_line(&self, paint: Paint) -> String {
        let (added, removed) = line_counts(&self.before, &self.after);
        format!("{}  +{added} -{removed}", self.heading(paint))
    }

    /// The heading, then (for a modified node whose SQL changed) the diff.
    fn full(&self, paint: Paint) -> String {
        let mut text = self.heading(paint);
        if matches!(self.kind, EntryKind::Modified(_)) && self.before != self.after {
            let diff = similar::TextDiff::from_lines(&self.before, &self.after);
            let unified = diff
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("state/{}", self.id),
                    &format!("current/{}", self.id),
                )
                .to_string();
            for line in unified.lines() {
                text.push('\n');
                text.push_str(&paint.diff_line(line));
            }
        }
        text
    }
}

/// Lines only in `after` and only in `before`.
fn line_counts(before: &str, after: &str) -> (usize, usize) {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut counts = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => counts.0 += 1,
            similar::ChangeTag::Delete => counts.1 += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    counts
}

/// ANSI colours, or none (not a terminal, `NO_COLOR`).
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }

    fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }

    fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn diff_line(self, line: &str) -> String {
        if line.starts_with("+++") || line.starts_with("---") {
            self.bold(line)
        } else if line.starts_with('+') {
            self.green(line)
        } else if line.starts_with('-') {
            self.red(line)
        } else if line.starts_with("@@") {
            self.wrap("36", line)
        } else {
            line.to_string()
        }
    }
}
