//! `sb test`: runs the selected data tests, batched per model unless
//! `--no-batch`, and unit tests (only those with `--unit`).

use super::Outcome;
use super::nodes::{self, Work};
use crate::cli::TestArgs;
use crate::diag::Diagnostics;
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(
    args: &TestArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let work = Work {
        kinds: if args.unit {
            &[ResourceType::UnitTest]
        } else {
            &[ResourceType::Test, ResourceType::UnitTest]
        },
        synthesize: None,
        batch_tests: !args.no_batch,
        tests_gate_children: false,
    };
    nodes::exec(&work, session, reporter)
}
