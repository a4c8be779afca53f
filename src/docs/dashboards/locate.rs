//! Source positions for errors in dashboard files: where a chart starts,
//! where a key's value or a quoted name is written on its line.

use std::path::Path;

use super::spec::ChartPlace;
use crate::diag::Location;
use crate::project::yaml::YamlFile;

/// Where `'name'` (or `"name"`) is written in a chart's SQL, without the quotes.
pub(super) fn inside_quotes(file: &YamlFile, name: &str, line: usize) -> Location {
    let single = format!("'{name}'");
    let quoted = if file.source.contains(&single) {
        single
    } else {
        format!("\"{name}\"")
    };
    let mut location = Location::find(&file.path, &file.source, &quoted, line);
    if location
        .source_line
        .as_deref()
        .is_some_and(|text| text.contains(&quoted))
    {
        location.column += 1;
        location.len = name.chars().count().max(1);
    }
    location
}

pub(super) fn locate_value_key(place: &ChartPlace, key: &str) -> Location {
    crate::project::yaml::locate_key(&place.file, &place.source, key, place.line)
}

pub(super) fn locate_column(place: &ChartPlace, key: &str, column: &str) -> Location {
    let at_key = locate_value_key(place, key);
    value_on_line(&place.file, &place.source, &at_key, column).unwrap_or(at_key)
}

/// Where `value` is written after `key:` in the chart starting at `line`.
pub(super) fn value_location(file: &YamlFile, key: &str, line: usize, value: &str) -> Location {
    let at_key = file.locate_key(key, line);
    value_on_line(&file.path, &file.source, &at_key, value).unwrap_or(at_key)
}

fn value_on_line(path: &Path, source: &str, at_key: &Location, value: &str) -> Option<Location> {
    let text = at_key.source_line.as_deref()?;
    let after_key = text
        .char_indices()
        .nth(at_key.column.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    // Search after the colon, so `x: x` finds the value, not the key.
    let after_colon = text
        .get(after_key..)?
        .find(':')
        .map_or(after_key, |i| after_key + i + 1);
    let found = text.get(after_colon..)?.find(value)? + after_colon;
    let column = text.get(..found)?.chars().count() + 1;
    Some(Location::from_line_col(
        path,
        source,
        at_key.line,
        column,
        value.chars().count(),
    ))
}

/// 1-based lines where the items of the list under `key:` start.
pub(super) fn item_lines(source: &str, key: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut key_indent = None;
    let mut item_indent = None;
    for (number, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        match key_indent {
            None => {
                if indent == 0 && trimmed.starts_with(&format!("{key}:")) {
                    key_indent = Some(indent);
                }
            }
            Some(base) => {
                let is_item = trimmed.starts_with("- ") || trimmed == "-";
                match item_indent {
                    None if is_item && indent >= base => {
                        item_indent = Some(indent);
                        lines.push(number + 1);
                    }
                    None => break,
                    Some(at) if indent < at || (indent == at && !is_item) => break,
                    Some(at) if indent == at => lines.push(number + 1),
                    Some(_) => {}
                }
            }
        }
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_after_its_key() {
        let source = "charts:\n  - x: x\n";
        let at_key = crate::project::yaml::locate_key(Path::new("d.yml"), source, "x", 2);
        let found = value_on_line(Path::new("d.yml"), source, &at_key, "x").unwrap();
        assert_eq!((found.line, found.column), (2, 8));
    }

    #[test]
    fn finds_the_first_line_of_every_chart() {
        let source = "title: x\ncharts:\n  - type: bar\n    x: a\n\n  # note\n  - type: pie\n    x: b\nother: 1\n";
        assert_eq!(item_lines(source, "charts"), [3, 7]);
        let flush = "charts:\n- type: bar\n  x: a\n- type: line\n";
        assert_eq!(item_lines(flush, "charts"), [2, 4]);
    }
}
