//! Ephemeral models inlined as CTEs: every ephemeral parent of a node
//! (directly or through other ephemerals) becomes a `__dbt__cte__<name>`
//! merged into the node's leading `with`.

use super::CompiledNode;
use crate::jinja::Catalog;
use crate::resource::NodeId;

/// Prepends the CTEs of every ephemeral model `index` depends on (directly or
/// through other ephemerals), parents first, merged into a leading `with`.
pub fn inline_ephemerals(
    sql: &str,
    index: NodeId,
    nodes: &[CompiledNode],
    catalog: &Catalog,
) -> String {
    let mut order = Vec::new();
    collect_ephemerals(index, nodes, catalog, &mut order, &mut Vec::new());
    if order.is_empty() {
        return sql.to_string();
    }
    let ctes: Vec<String> = order
        .iter()
        .map(|&e| {
            let name = format!("__dbt__cte__{}", catalog.relations[e].identifier);
            let body = nodes[e]
                .rendered
                .as_deref()
                .unwrap_or("select 1")
                .trim()
                .trim_end_matches(';');
            format!("{name} as (\n{body}\n)")
        })
        .collect();
    let ctes = ctes.join(", ");
    let start = skip_leading_comments(sql);
    let rest = &sql[start..];
    if rest.len() >= 4
        && rest[..4].eq_ignore_ascii_case("with")
        && rest[4..].starts_with(|c: char| c.is_whitespace())
    {
        let after = &rest[4..];
        let recursive = after
            .trim_start()
            .get(..9)
            .is_some_and(|w| w.eq_ignore_ascii_case("recursive"));
        if recursive {
            let skip = after.len() - after.trim_start().len() + 9;
            format!("{}with recursive {ctes},{}", &sql[..start], &after[skip..])
        } else {
            format!("{}with {ctes},{after}", &sql[..start])
        }
    } else {
        format!("{}with {ctes}\n{rest}", &sql[..start])
    }
}

fn collect_ephemerals(
    index: NodeId,
    nodes: &[CompiledNode],
    catalog: &Catalog,
    order: &mut Vec<NodeId>,
    visiting: &mut Vec<NodeId>,
) {
    if visiting.contains(&index) {
        return;
    }
    visiting.push(index);
    for &parent in &nodes[index].depends_on {
        if catalog
            .ephemeral
            .get(parent.index())
            .copied()
            .unwrap_or(false)
            && !order.contains(&parent)
        {
            collect_ephemerals(parent, nodes, catalog, order, visiting);
            if !order.contains(&parent) {
                order.push(parent);
            }
        }
    }
    visiting.pop();
}

/// Byte offset after leading whitespace and SQL comments.
fn skip_leading_comments(sql: &str) -> usize {
    let mut i = 0;
    let bytes = sql.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(sql.len(), |n| i + n + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(sql.len(), |n| i + n + 2);
        } else {
            return i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctes_merge_into_leading_with() {
        assert_eq!(skip_leading_comments("  -- c\n/* x */ with a"), 15);
    }
}
