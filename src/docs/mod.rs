//! `sb docs`: a static site under `target/docs/` that documents the project
//! (a page per model, seed, source and test), draws the lineage graph and
//! renders the project's dashboards with Plotly, in a dark theme, working
//! from disk with no network.
//!
//! Everything the page shows is computed here and embedded in `index.html`
//! as one JSON document (`site.rs`): node facts, column types from the
//! warehouse ([`catalog`]), the graph's layout ([`layout`]) and each chart's
//! rows ([`dashboards`]). The page's own script (`site.js`) only draws it.
//! plotly.js ships inside the binary and is written next to the page. Every
//! SQL text docs sends to the warehouse is written in `sql.rs`.
//!
//! Docs never opens the warehouse on its own terms: `sb docs` hands
//! [`generate`] an opener ([`OpenAdapter`]), which is called only once the
//! dashboards read cleanly and the target has been built.

pub mod catalog;
pub mod dashboards;
pub mod layout;
pub mod serve;
mod site;
mod sql;

use std::path::PathBuf;
use std::time::Instant;

use crate::adapter::Adapter;
use crate::artifacts::Invocation;
use crate::compile::CompiledProject;
use crate::diag::Diagnostics;
use crate::report::Reporter;
use catalog::{Warehouse, catalog_artifact, read_catalog};
use site::{read_run_results, site_document, write_site};

/// The folder below the target path that holds the site.
pub const DOCS_DIR: &str = "docs";

/// What `sb docs` wrote.
#[derive(Debug, Clone)]
pub struct Site {
    /// The site's folder (`target/docs`).
    pub dir: PathBuf,
    pub pages: usize,
    pub dashboards: usize,
    pub charts: usize,
}

/// Opens the target's adapter, for docs to connect through. A failure is
/// reported as a warning and the docs are written without the warehouse.
pub type OpenAdapter<'a> = &'a dyn Fn() -> Result<Box<dyn Adapter>, Diagnostics>;

/// Writes the site for `compiled` and says where it is.
pub fn generate(
    compiled: &CompiledProject,
    invocation: &Invocation,
    open_adapter: OpenAdapter<'_>,
    reporter: &Reporter,
) -> Result<Site, Diagnostics> {
    let clock = Instant::now();
    let boards = dashboards::load(compiled)?;
    let mut warehouse = Warehouse::open(compiled, open_adapter, reporter);
    let catalog = warehouse
        .connection
        .as_mut()
        .map(|connection| read_catalog(compiled, connection.as_mut()));
    let data = dashboards::fetch(
        compiled,
        &boards,
        warehouse.connection.as_mut(),
        catalog.as_ref(),
    )?;
    drop(warehouse);
    for (chart, rows) in boards.iter().flat_map(|d| &d.charts).zip(&data) {
        if rows.truncated {
            reporter.warning(&format!(
                "chart `{}` ({}) matched more than {} rows; it shows the first {}, raise `limit` to see more",
                if chart.title.is_empty() { &chart.id } else { &chart.title },
                chart.place.file.display(),
                chart.limit,
                chart.limit
            ));
        }
    }
    let runs = read_run_results(&compiled.project.target_dir());
    let document = site_document(compiled, &boards, &data, catalog.as_ref(), &runs);
    let dir = compiled.project.target_dir().join(DOCS_DIR);
    write_site(&dir, &compiled.project.settings.name, &document)?;
    let artifact = catalog_artifact(
        compiled,
        catalog.as_ref(),
        &invocation.metadata(catalog::CATALOG_SCHEMA),
    );
    let catalog_path = compiled.project.target_dir().join("catalog.json");
    crate::artifacts::write_artifact(&catalog_path, |out| {
        serde_json::to_writer(out, &artifact).map_err(std::io::Error::from)
    })?;
    let pages = document["nodes"].as_array().map_or(0, Vec::len);
    let charts = data.len();
    let site = Site {
        dir,
        pages,
        dashboards: boards.len(),
        charts,
    };
    let missing = data.iter().filter(|d| d.missing.is_some()).count();
    if missing > 0 {
        reporter.warning(&format!(
            "{missing} of {charts} chart{} {} no data: the models they read are not built; run `sb build`, then `sb docs`",
            plural(charts),
            if missing == 1 { "has" } else { "have" }
        ));
    }
    reporter.info(&format!(
        "Wrote {}/{DOCS_DIR}/index.html: {} page{}, {} dashboard{} with {} chart{} in {:.2}s",
        compiled.project.settings.target_path,
        site.pages,
        plural(site.pages),
        site.dashboards,
        plural(site.dashboards),
        site.charts,
        plural(site.charts),
        clock.elapsed().as_secs_f64()
    ));
    Ok(site)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
