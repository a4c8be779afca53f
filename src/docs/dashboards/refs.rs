//! A chart's SQL: `{{ ref() }}` and `{{ source() }}` replaced by the
//! relations they name, and the models and seeds a chart may read.

use super::locate::inside_quotes;
use crate::compile::CompiledProject;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, did_you_mean};
use crate::docs::catalog::relation;
use crate::project::yaml::YamlFile;
use crate::resource::{NodeId, ResourceType};
use crate::scan::{self, CallKind};

/// Models and seeds a chart may read, by name.
pub(super) fn find_relation(compiled: &CompiledProject, name: &str) -> Option<NodeId> {
    [ResourceType::Model, ResourceType::Seed]
        .into_iter()
        .find_map(|kind| compiled.find(kind, name))
}

pub(super) fn chartable_names(compiled: &CompiledProject) -> impl Iterator<Item = &str> {
    compiled
        .project
        .nodes
        .iter()
        .filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Seed))
        .map(|n| n.name.as_str())
}

/// Replaces `{{ ref('m') }}` and `{{ source('s', 't') }}` in a chart's SQL
/// with the relations they name; any other Jinja is an error.
pub(super) fn resolve_sql(
    compiled: &CompiledProject,
    file: &YamlFile,
    line: usize,
    sql: &str,
    label: &str,
) -> Result<(String, Vec<NodeId>), Diagnostic> {
    let kind = compiled.project.target.kind;
    let mut reads = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for call in scan::expression_calls(sql) {
        let whole = call.span;
        let first = call.first.text;
        let second = call.second.map(|s| s.text);
        let is_ref = call.kind == CallKind::Ref;
        let index = if is_ref {
            let name = second.unwrap_or(first);
            find_relation(compiled, name).ok_or_else(|| {
                let close = closest_names(name, chartable_names(compiled), 3);
                Diagnostic::error(format!("chart {label} refs unknown model `{name}`"))
                    .at(inside_quotes(file, name, line))
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        "name a model or seed of the project (see `sb ls`)".to_owned()
                    }))
            })?
        } else {
            let table = second.unwrap_or_default();
            compiled
                .project
                .nodes
                .iter()
                .position(|n| {
                    n.resource_type == ResourceType::Source
                        && n.name == table
                        && n.source.as_ref().is_some_and(|s| s.source_name == first)
                })
                .map(NodeId::new)
                .ok_or_else(|| {
                    let wanted = format!("{first}.{table}");
                    let names: Vec<String> = compiled
                        .project
                        .nodes
                        .iter()
                        .filter_map(|n| {
                            n.source
                                .as_ref()
                                .map(|s| format!("{}.{}", s.source_name, n.name))
                        })
                        .collect();
                    let close = closest_names(&wanted, names.iter().map(String::as_str), 3);
                    Diagnostic::error(format!("chart {label} reads unknown source `{wanted}`"))
                        .at(inside_quotes(file, table, line))
                        .help(did_you_mean(&close).unwrap_or_else(|| {
                            "declare the source in schema YAML (`sources:`)".to_owned()
                        }))
                })?
        };
        let relation = relation(compiled, index).ok_or_else(|| {
            Diagnostic::error(format!(
                "chart {label} reads `{}`, which has no relation in the warehouse (ephemeral)",
                compiled.project.nodes[index].name
            ))
            .at(file.locate_key("sql", line))
            .help("chart a model materialized as a view or table")
        })?;
        out.push_str(&sql[last..whole.start]);
        out.push_str(&kind.render_relation(&relation));
        last = whole.end;
        reads.push(index);
    }
    out.push_str(&sql[last..]);
    if out.contains("{{") || out.contains("{%") {
        return Err(Diagnostic::error(format!(
            "the SQL of chart {label} holds Jinja other than `ref()` and `source()`"
        ))
        .at(file.locate_key("sql", line))
        .help("chart SQL may use `{{ ref('model') }}` and `{{ source('name', 'table') }}` only; put other logic in a model"));
    }
    Ok((out, reads))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ref_pattern_reads_both_quotings_and_two_argument_sources() {
        let sql = "select * from {{ ref('a') }} join {{ source(\"s\", 't') }}";
        let found: Vec<(String, String)> = scan::expression_calls(sql)
            .map(|c| {
                let first = c.first.text.to_owned();
                let second = c.second.map_or(String::new(), |s| s.text.to_owned());
                (first, second)
            })
            .collect();
        assert_eq!(
            found,
            [("a".into(), String::new()), ("s".into(), "t".into())]
        );
    }
}
