//! Where a test's parts are written in a schema file: the node's entry, a
//! column, the test's name or an argument's key.

use std::collections::HashMap;
use std::path::Path;

use crate::diag::Location;
use crate::project::yaml::{YamlFile, name_entry};

/// Every `name: X` entry of a schema file, by name: (line, byte offset of X)
/// in file order, so locating the thousands of models and columns of one
/// file reads it once.
pub(super) struct NameLines(HashMap<String, Vec<(usize, usize)>>);

impl NameLines {
    pub(super) fn new(file: &YamlFile) -> Self {
        let mut names: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut offset = 0;
        for (number, line) in file.source.split_inclusive('\n').enumerate() {
            if let Some(value) = name_entry(line) {
                let at = line.find(value).unwrap_or(0);
                names
                    .entry(value.to_owned())
                    .or_default()
                    .push((number + 1, offset + at));
            }
            offset += line.len();
        }
        Self(names)
    }

    /// The first `name: NAME` at or after `from_line` (as [`locate_named_from`]).
    pub(super) fn locate(&self, file: &YamlFile, name: &str, from_line: usize) -> Location {
        let found = self.0.get(name).and_then(|places| {
            let first = places.partition_point(|&(line, _)| line < from_line);
            places.get(first)
        });
        match found {
            Some(&(_, offset)) => {
                file.lines
                    .locate(&file.path, &file.source, offset, name.chars().count())
            }
            None => locate_named_from(file, name, from_line),
        }
    }
}

/// Where `name: NAME` appears at or after `from_line`.
fn locate_named_from(file: &YamlFile, name: &str, from_line: usize) -> Location {
    let mut offset = file.lines.line_start(from_line.max(1), &file.source);
    for line in file.source[offset..].split_inclusive('\n') {
        if name_entry(line) == Some(name) {
            let at = line.find(name).unwrap_or(0);
            return file
                .lines
                .locate(&file.path, &file.source, offset + at, name.chars().count());
        }
        offset += line.len();
    }
    file.locate_named(name)
}

/// [`locate_word`] in a schema file, with its line index.
pub(super) fn locate_word_in(file: &YamlFile, word: &str, from_line: usize) -> Location {
    let start = file.lines.line_start(from_line.max(1), &file.source);
    match word_offset(&file.source[start..], word) {
        Some(at) => file
            .lines
            .locate(&file.path, &file.source, start + at, word.chars().count()),
        None => file.lines.locate(&file.path, &file.source, start, 1),
    }
}

/// The offset of `word` in `text` where it is not part of a longer name.
fn word_offset(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while !word.is_empty()
        && let Some(found) = text.get(from..).and_then(|r| r.find(word))
    {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Where the word `word` (not part of a longer name) first appears at or
/// after `from_line`; the start of that line when it does not.
pub fn locate_word(path: &Path, source: &str, word: &str, from_line: usize) -> Location {
    let start: usize = source
        .split_inclusive('\n')
        .take(from_line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = source.get(start..).unwrap_or("");
    match word_offset(rest, word) {
        Some(at) => Location::from_offset(path, source, start + at, word.chars().count()),
        None => Location::from_offset(path, source, start, 1),
    }
}
