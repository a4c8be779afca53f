//! Dashboards: `dashboards/*.yml` at the project root, one dashboard per
//! file, each a list of charts over models. Reading checks every key, chart
//! type, model and `ref()` against the project; fetching queries the target
//! for each chart's rows and checks the columns a chart names against what
//! the query returns, so a typo fails `sb docs` with file:line:col and the
//! closest names instead of drawing an empty chart.

mod load;
mod locate;
mod query;
mod refs;
mod spec;

pub use load::load;
pub use query::fetch;
pub use spec::{Chart, ChartData, ChartPlace, DASHBOARD_DIR, DEFAULT_LIMIT, Dashboard};
