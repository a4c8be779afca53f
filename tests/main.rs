//! sb's end-to-end tests: one test binary that runs the real `sb` executable
//! over small projects in temporary folders and checks what a user sees
//! (exit codes, stdout, stderr, files under `target/`) and what lands in the
//! DuckDB file. The builder in `it::harness` keeps each test a short story:
//!
//! ```ignore
//! let project = Project::new().file("models/a.sql", "select 1 as id");
//! project.sb(&["run"]).success();
//! assert_eq!(project.query("select id from a"), [["1"]]);
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::missing_panics_doc,
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    clippy::needless_raw_string_hashes
)]

mod it;
