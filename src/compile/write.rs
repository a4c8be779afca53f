//! `target/compiled/`: where each node's compiled SQL is written, and the
//! index of the last write that lets a recompile leave unchanged files alone.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::CompiledProject;
use crate::diag::Diagnostic;
use crate::resource::NodeId;

/// Where a node's compiled SQL is written: `target/compiled/<project>/<path>`.
pub fn compiled_path(target_dir: &Path, project_name: &str, original_file_path: &str) -> PathBuf {
    target_dir
        .join("compiled")
        .join(project_name)
        .join(original_file_path)
}

/// Writes `target/compiled/**` for every selected node with SQL. Files whose
/// content, size and modification time match the last write are left alone,
/// so a recompile of a large project only touches what changed.
pub fn write_compiled(compiled: &CompiledProject, selected: &[NodeId]) -> Result<(), Diagnostic> {
    let target = compiled.project.target_dir();
    let root = target.join("compiled");
    let index_path = root.join(".sb-written");
    let previous = WrittenIndex::read(&index_path);
    let entries: Vec<(String, WrittenEntry)> = selected
        .par_iter()
        .filter_map(|&i| compiled.nodes[i].compiled.as_ref().map(|sql| (i, sql)))
        .map(|(i, sql)| {
            let node = &compiled.project.nodes[i];
            let path = compiled_path(
                &target,
                &compiled.project.settings.name,
                &node.compiled_file(),
            );
            let key = crate::project::slash(path.strip_prefix(&root).unwrap_or(&path));
            let hash = content_hash(sql);
            if let Some(old) = previous.entries.get(&key)
                && old.hash == hash
                && stat(&path).is_some_and(|s| s == (old.len, old.modified))
            {
                return Ok((key, old.clone()));
            }
            write_file(&path, sql)?;
            let (len, modified) = stat(&path).unwrap_or_default();
            Ok((
                key,
                WrittenEntry {
                    hash,
                    len,
                    modified,
                },
            ))
        })
        .collect::<Result<_, Diagnostic>>()?;
    let mut index = WrittenIndex::default();
    index.entries.extend(previous.entries);
    index.entries.extend(entries);
    index.write(&index_path)
}

/// A fast fingerprint of file content; a mismatch only means a rewrite.
fn content_hash(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn stat(path: &Path) -> Option<(u64, u128)> {
    let metadata = std::fs::metadata(path).ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((metadata.len(), modified))
}

#[derive(Debug, Clone, Default)]
struct WrittenEntry {
    hash: String,
    len: u64,
    modified: u128,
}

/// What `write_compiled` wrote last time: `hash len mtime path` per line.
#[derive(Debug, Default)]
struct WrittenIndex {
    entries: HashMap<String, WrittenEntry>,
}

impl WrittenIndex {
    fn read(path: &Path) -> Self {
        let mut index = Self::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return index;
        };
        for line in text.lines() {
            let mut parts = line.splitn(4, ' ');
            if let (Some(hash), Some(len), Some(modified), Some(key)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
                && let (Ok(len), Ok(modified)) = (len.parse(), modified.parse())
            {
                index.entries.insert(
                    key.to_string(),
                    WrittenEntry {
                        hash: hash.to_string(),
                        len,
                        modified,
                    },
                );
            }
        }
        index
    }

    fn write(&self, path: &Path) -> Result<(), Diagnostic> {
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        let mut text = String::with_capacity(keys.len() * 120);
        for key in keys {
            let entry = &self.entries[key];
            let _ = writeln!(
                text,
                "{} {} {} {key}",
                entry.hash, entry.len, entry.modified
            );
        }
        write_file(path, &text)
    }
}

/// Writes a file, creating its folder; errors name the path.
pub fn write_file(path: &Path, contents: &str) -> Result<(), Diagnostic> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Diagnostic::error(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, crate::secrets::redact(contents).as_bytes())
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", path.display())))
}
