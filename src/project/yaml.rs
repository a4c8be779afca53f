//! Reading YAML files into JSON values with errors that point at the file,
//! line and column, and finding where a key sits so later checks can point
//! there too (the YAML parser keeps no positions in its values).

use std::path::Path;

use serde_json::Value;

use crate::diag::{Diagnostic, Location};

/// A parsed YAML file with its source kept for locating later errors.
#[derive(Debug, Clone)]
pub struct YamlFile {
    /// Project-relative path.
    pub path: std::path::PathBuf,
    pub source: String,
    pub value: Value,
    /// Line starts of `source`.
    pub lines: crate::diag::LineIndex,
}

impl YamlFile {
    /// Parses `source`, read from `path` (project-relative).
    pub fn parse(path: &Path, source: String) -> Result<Self, Diagnostic> {
        let value = if source.trim().is_empty() {
            Value::Null
        } else {
            yaml_serde::from_str::<Value>(&source)
                .map_err(|error| yaml_error(path, &source, &error))?
        };
        Ok(Self {
            path: path.to_path_buf(),
            lines: crate::diag::LineIndex::new(&source),
            source,
            value,
        })
    }

    /// Where `key:` first appears at or after line `from_line`.
    pub fn locate_key(&self, key: &str, from_line: usize) -> Location {
        locate_key(&self.path, &self.source, key, from_line)
    }

    /// Where the list item `- name: NAME` (or `name: NAME`) appears.
    pub fn locate_named(&self, name: &str) -> Location {
        locate_named(&self.path, &self.source, name)
    }
}

fn yaml_error(path: &Path, source: &str, error: &yaml_serde::Error) -> Diagnostic {
    let message = error.to_string();
    // The parser appends " at line L column C"; keep only the description.
    let short = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .trim()
        .to_string();
    let location = error
        .location()
        .map(|l| Location::from_line_col(path, source, l.line(), l.column(), 1));
    Diagnostic::error(format!("invalid YAML: {short}"))
        .at(location.unwrap_or_else(|| Location::file_only(path)))
        .help("fix the YAML syntax (indentation, quoting, `key: value` pairs) at the marked place")
}

/// Finds `key:` as a mapping key (not inside a longer word) at or after `from_line`.
pub fn locate_key(path: &Path, source: &str, key: &str, from_line: usize) -> Location {
    let mut offset = 0;
    for (index, line) in source.split_inclusive('\n').enumerate() {
        if index + 1 >= from_line {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
            let dash = trimmed.len() - body.len();
            for candidate in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
                if let Some(rest) = body.strip_prefix(&candidate)
                    && rest.trim_start().starts_with(':')
                {
                    return Location::from_offset(
                        path,
                        source,
                        offset + indent + dash,
                        candidate.chars().count(),
                    );
                }
            }
        }
        offset += line.len();
    }
    Location::find(path, source, key, from_line)
}

/// The value of a `name: NAME` (or `- name: NAME`) line, unquoted, if the
/// line is one and the name is not empty.
pub fn name_entry(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    let value = body
        .strip_prefix("name:")?
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty()).then_some(value)
}

/// Finds the line declaring `name: NAME` (a model, source, column...).
pub fn locate_named(path: &Path, source: &str, name: &str) -> Location {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        if name_entry(line) == Some(name) {
            let at = line.find(name).unwrap_or(0);
            return Location::from_offset(path, source, offset + at, name.chars().count());
        }
        offset += line.len();
    }
    Location::find(path, source, name, 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_line_and_column() {
        let error = YamlFile::parse(Path::new("p.yml"), "a: 1\nb: [1, 2\n".into()).unwrap_err();
        let location = error.location.unwrap();
        assert_eq!(location.file, Path::new("p.yml"));
        assert!(location.line >= 2, "{location:?}");
    }

    #[test]
    fn finds_keys_and_names() {
        let source = "models:\n  - name: orders\n    config:\n      materialised: table\n";
        let location = locate_key(Path::new("s.yml"), source, "materialised", 1);
        assert_eq!((location.line, location.column), (4, 7));
        let location = locate_named(Path::new("s.yml"), source, "orders");
        assert_eq!((location.line, location.column), (2, 11));
    }
}
