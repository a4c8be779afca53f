//! `sb run`: builds the selected models in graph order; `sb snapshot`
//! does the same for the selected snapshots.

use super::Outcome;
use super::nodes::{self, Work};
use crate::diag::Diagnostics;
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let work = Work {
        kinds: &[ResourceType::Model],
        synthesize: None,
        batch_tests: true,
        tests_gate_children: false,
    };
    nodes::exec(&work, session, reporter)
}

pub fn exec_snapshots(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let work = Work {
        kinds: &[ResourceType::Snapshot],
        synthesize: None,
        batch_tests: true,
        tests_gate_children: false,
    };
    nodes::exec(&work, session, reporter)
}
