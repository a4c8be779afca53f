//! The dashboard file's vocabulary and what reading it yields: the keys a
//! dashboard and a chart may set, the chart types and aggregates, and the
//! checked [`Dashboard`], [`Chart`] and [`ChartData`] the page embeds.

use std::path::PathBuf;

use crate::resource::NodeId;
use serde::Serialize;
use serde_json::Value;

/// The folder, below the project root, that holds dashboard files.
pub const DASHBOARD_DIR: &str = "dashboards";
/// Rows a chart embeds unless it sets `limit`.
pub const DEFAULT_LIMIT: usize = 5000;

/// The keys a dashboard file may set at its top.
pub(super) const DASHBOARD_KEYS: &[&str] = &["title", "description", "charts"];
/// The keys a chart may set.
pub(super) const CHART_KEYS: &[&str] = &[
    "title",
    "description",
    "type",
    "model",
    "sql",
    "x",
    "y",
    "color",
    "facet",
    "size",
    "z",
    "columns",
    "agg",
    "limit",
    "orientation",
    "stacked",
    "width",
    "height",
];
/// The values of a chart's `type`.
pub(super) const CHART_TYPES: &[&str] = &[
    "bar", "line", "area", "pie", "donut", "box", "scatter", "heatmap", "table",
];
/// The values of a chart's `agg`.
pub(super) const AGGREGATES: &[&str] = &["sum", "avg", "count", "min", "max"];

/// One dashboard file.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The file stem: `streaming` for `dashboards/streaming.yml`.
    pub name: String,
    pub title: String,
    pub description: String,
    /// Project-relative path of the file.
    pub path: String,
    pub charts: Vec<Chart>,
}

/// One chart as declared, checked against the project.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Unique in the site: `dashboard-3`.
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The model (or seed) charted, when the chart names one.
    pub model: Option<String>,
    /// The query's SQL with `ref()`/`source()` resolved, when it has one.
    #[serde(skip)]
    pub sql: Option<String>,
    pub x: Option<String>,
    pub y: Vec<String>,
    pub color: Option<String>,
    pub facet: Option<String>,
    pub size: Option<String>,
    pub z: Option<String>,
    pub columns: Vec<String>,
    pub agg: Option<String>,
    pub limit: usize,
    pub horizontal: bool,
    pub stacked: bool,
    /// `half` or `full` of the dashboard's width.
    pub width: String,
    pub height: u64,
    /// Where the chart sits, for errors found while fetching.
    #[serde(skip)]
    pub place: ChartPlace,
}

/// The file and first line of a chart, and its model's node index.
#[derive(Debug, Clone, Default)]
pub struct ChartPlace {
    pub file: PathBuf,
    pub source: String,
    pub line: usize,
    pub model_index: Option<NodeId>,
    /// Node indices the chart's SQL reads.
    pub reads: Vec<NodeId>,
}

/// A chart's rows, as embedded in the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChartData {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// More rows than `limit` matched; only the first `limit` are drawn.
    pub truncated: bool,
    /// Why there is no data (the model is not built yet), when there is none.
    pub missing: Option<String>,
}
