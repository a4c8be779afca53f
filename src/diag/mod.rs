//! User-facing diagnostics: an error or warning that points at a file, line
//! and column, shows the source line with carets, and says what to do.
//! Every mistake a user can make becomes a [`Diagnostic`]; `report` prints it.

pub mod suggest;

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

pub use suggest::did_you_mean;

/// A place in a project file. Lines and columns are 1-based; `len` is the
/// number of characters to underline (at least one is drawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Project-relative path, as the user would type it.
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub len: usize,
    /// The text of the line, when known.
    pub source_line: Option<String>,
}

/// Where each line of a text starts, for turning byte offsets into lines
/// and columns without rescanning the text each time (a schema file with
/// thousands of tests is located thousands of times).
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// Byte offset where 1-based `line` starts (the end of the text past the last line).
    pub fn line_start(&self, line: usize, source: &str) -> usize {
        self.starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(source.len())
    }

    /// The same as [`Location::from_offset`], in logarithmic time.
    pub fn locate(&self, file: &Path, source: &str, offset: usize, len: usize) -> Location {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        Location::on_line(file, source, line, self.starts[line - 1], offset, len)
    }
}

impl Location {
    /// Locates the byte offset `offset` of `source` (which was read from `file`).
    pub fn from_offset(file: &Path, source: &str, offset: usize, len: usize) -> Self {
        let offset = offset.min(source.len());
        let before = source.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self::on_line(file, source, line, line_start, offset, len)
    }

    /// The location of byte `offset`, on line `line` which starts at byte
    /// `line_start`: the column counts characters, the line's text is kept.
    fn on_line(
        file: &Path,
        source: &str,
        line: usize,
        line_start: usize,
        offset: usize,
        len: usize,
    ) -> Self {
        let column = source
            .get(line_start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        let line_text = source
            .get(line_start..)
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        Self {
            file: file.to_path_buf(),
            line,
            column,
            len: len.max(1),
            source_line: Some(line_text.to_string()),
        }
    }

    /// Locates a 1-based line and column in `source`.
    pub fn from_line_col(
        file: &Path,
        source: &str,
        line: usize,
        column: usize,
        len: usize,
    ) -> Self {
        let line = line.max(1);
        let source_line = source.lines().nth(line - 1).map(str::to_string);
        Self {
            file: file.to_path_buf(),
            line,
            column: column.max(1),
            len: len.max(1),
            source_line,
        }
    }

    /// Points at a whole file, with no line known.
    pub fn file_only(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            len: 0,
            source_line: None,
        }
    }

    /// Finds the first occurrence of `needle` in `source` at or after line
    /// `from_line` and locates it; falls back to the start of that line.
    pub fn find(file: &Path, source: &str, needle: &str, from_line: usize) -> Self {
        let start = source
            .split_inclusive('\n')
            .take(from_line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        match source.get(start..).and_then(|rest| rest.find(needle)) {
            Some(found) if !needle.is_empty() => {
                Self::from_offset(file, source, start + found, needle.chars().count())
            }
            _ => Self::from_offset(file, source, start, 1),
        }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    /// Extra context lines (`= note: ...`).
    pub notes: Vec<String>,
    /// What to do (`= help: ...`).
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            location: None,
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    #[must_use]
    pub fn at_opt(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Renders the message as it is printed on a terminal, without colour.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", self.message);
        let mut gutter = 1;
        if let Some(location) = &self.location {
            let file = location.file.to_string_lossy().replace('\\', "/");
            if location.line == 0 {
                let _ = writeln!(out, " --> {file}");
            } else {
                let line_label = location.line.to_string();
                gutter = line_label.len();
                let pad = " ".repeat(gutter);
                let _ = writeln!(out, "{pad}--> {file}:{}:{}", location.line, location.column);
                if let Some(text) = &location.source_line {
                    let text = text.replace('\t', " ");
                    let visible = text.chars().count();
                    let start = location.column.saturating_sub(1).min(visible);
                    let carets = location.len.min(visible.saturating_sub(start)).max(1);
                    let _ = writeln!(out, "{pad} |");
                    let _ = writeln!(out, "{line_label} | {text}");
                    let _ = writeln!(out, "{pad} | {}{}", " ".repeat(start), "^".repeat(carets));
                }
            }
        }
        let pad = " ".repeat(gutter);
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }

    /// `file:line:col` of the diagnostic, when it has one.
    pub fn position(&self) -> Option<String> {
        self.location.as_ref().map(|l| {
            let file = l.file.to_string_lossy().replace('\\', "/");
            if l.line == 0 {
                file
            } else {
                format!("{file}:{}:{}", l.line, l.column)
            }
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl std::error::Error for Diagnostic {}

/// Errors from loading or compiling a project: one or more diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_source_line_with_carets() {
        let source = "select 1\nselect * from {{ ref('ordrs') }}\n";
        let offset = source.find("ordrs").unwrap();
        let diagnostic = Diagnostic::error("unknown ref `ordrs`")
            .at(Location::from_offset(
                Path::new("models/x.sql"),
                source,
                offset,
                5,
            ))
            .help("did you mean `orders`?");
        assert_eq!(
            diagnostic.render(),
            "error: unknown ref `ordrs`\n --> models/x.sql:2:23\n  |\n2 | select * from {{ ref('ordrs') }}\n  |                       ^^^^^\n  = help: did you mean `orders`?\n"
        );
    }

    #[test]
    fn offset_past_end_is_clamped() {
        let location = Location::from_offset(Path::new("a.sql"), "ab", 99, 1);
        assert_eq!((location.line, location.column), (1, 3));
    }
}
