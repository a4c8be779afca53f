//! Lays out the lineage graph left to right: each node's column is its
//! longest path from a root (so every edge points right), and the order within
//! a column comes from a few barycentric sweeps that pull nodes towards the
//! average position of their neighbours, which keeps edge crossings few. The
//! page draws the result; it does no layout work of its own.

use serde::Serialize;

/// Horizontal distance between columns, in SVG units.
pub const COLUMN_GAP: f64 = 260.0;
/// Vertical distance between neighbours in a column.
pub const ROW_GAP: f64 = 34.0;
/// Down-and-up sweep pairs of the barycentric ordering.
const SWEEPS: usize = 6;

/// A node's place in the drawing: its column, and the centre of its box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Placed {
    pub layer: usize,
    pub x: f64,
    pub y: f64,
}

/// The laid-out graph: one [`Placed`] per input node and the overall size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub positions: Vec<Placed>,
    pub width: f64,
    pub height: f64,
}

/// Lays out `count` nodes with directed `edges` (parent, child). `order` is a
/// topological order of the nodes (parents first); ties start in that order,
/// so equal inputs give equal drawings.
pub fn layout(count: usize, edges: &[(usize, usize)], order: &[usize]) -> Layout {
    let mut parents = vec![Vec::new(); count];
    let mut children = vec![Vec::new(); count];
    for &(parent, child) in edges {
        if parent < count && child < count && parent != child {
            parents[child].push(parent);
            children[parent].push(child);
        }
    }
    let mut layer = vec![0usize; count];
    for &node in order {
        if node < count {
            layer[node] = parents[node]
                .iter()
                .map(|&p| layer[p] + 1)
                .max()
                .unwrap_or(0);
        }
    }
    // Roots that feed only later columns sit just before their first child,
    // so a source read by a mart does not stretch an edge across the page.
    for &node in order.iter().rev() {
        if node < count
            && parents[node].is_empty()
            && let Some(first) = children[node].iter().map(|&c| layer[c]).min()
        {
            layer[node] = first.saturating_sub(1);
        }
    }
    let columns = layer.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for &node in order {
        if node < count {
            rows[layer[node]].push(node);
        }
    }
    let mut position = vec![0.0f64; count];
    let place = |rows: &[Vec<usize>], position: &mut [f64]| {
        for row in rows {
            let size = row.len().max(1) as f64;
            for (i, &node) in row.iter().enumerate() {
                position[node] = (i as f64 + 0.5) / size;
            }
        }
    };
    place(&rows, &mut position);
    for _ in 0..SWEEPS {
        for column in 1..columns {
            sort_by_barycentre(&mut rows[column], &parents, &position);
            place(&rows[column..=column], &mut position);
        }
        for column in (0..columns.saturating_sub(1)).rev() {
            sort_by_barycentre(&mut rows[column], &children, &position);
            place(&rows[column..=column], &mut position);
        }
    }
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0);
    let height = (tallest.max(1) as f64) * ROW_GAP;
    let mut positions = vec![
        Placed {
            layer: 0,
            x: 0.0,
            y: 0.0
        };
        count
    ];
    for (column, row) in rows.iter().enumerate() {
        let offset = (height - row.len() as f64 * ROW_GAP) / 2.0;
        for (i, &node) in row.iter().enumerate() {
            positions[node] = Placed {
                layer: column,
                x: column as f64 * COLUMN_GAP,
                y: offset + (i as f64 + 0.5) * ROW_GAP,
            };
        }
    }
    Layout {
        positions,
        width: (columns.max(1) as f64) * COLUMN_GAP,
        height,
    }
}

/// Orders `row` by the mean position of each node's `neighbours`; a node
/// without neighbours keeps its current position as its key. The sort is
/// stable, so ties keep their order.
fn sort_by_barycentre(row: &mut [usize], neighbours: &[Vec<usize>], position: &[f64]) {
    let mut keyed: Vec<(f64, usize)> = row
        .iter()
        .map(|&node| {
            let around = &neighbours[node];
            let key = if around.is_empty() {
                position[node]
            } else {
                around.iter().map(|&n| position[n]).sum::<f64>() / around.len() as f64
            };
            (key, node)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, node)) in row.iter_mut().zip(keyed) {
        *slot = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edge_points_right() {
        let edges = [(0, 1), (1, 2), (0, 2), (3, 2)];
        let layout = layout(4, &edges, &[0, 3, 1, 2]);
        for (parent, child) in edges {
            assert!(layout.positions[parent].x < layout.positions[child].x);
        }
        assert_eq!(layout.positions[2].layer, 2);
        assert_eq!(
            layout.positions[3].layer, 1,
            "a root sits next to its child"
        );
    }

    #[test]
    fn barycentric_sweeps_remove_a_crossing() {
        // a -> d and b -> c, with c before d in the input order: the sweep
        // swaps c and d so the two edges do not cross.
        let (first, second, third, fourth) = (0, 1, 2, 3);
        let placed = layout(
            4,
            &[(first, fourth), (second, third)],
            &[first, second, third, fourth],
        );
        let height = |n: usize| placed.positions[n].y;
        assert_eq!(
            height(first) < height(second),
            height(fourth) < height(third)
        );
    }

    #[test]
    fn a_thousand_node_chain_of_fans_is_quick_and_tidy() {
        let count = 1000;
        let edges: Vec<(usize, usize)> = (1..count).map(|i| ((i - 1) / 4, i)).collect();
        let order: Vec<usize> = (0..count).collect();
        let layout = layout(count, &edges, &order);
        let mut seen = std::collections::HashSet::new();
        for placed in &layout.positions {
            assert!(
                seen.insert((placed.layer, (placed.y * 10.0) as i64)),
                "two nodes overlap"
            );
        }
    }
}
