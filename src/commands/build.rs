//! `sb build`: seed, run and test in graph order; a model's unit tests run
//! before it and its data tests right after it, and a failed unit test or
//! error-severity test skips what is built on it.

use super::Outcome;
use super::nodes::{self, Work};
use super::synthetic::SynthRequest;
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
        kinds: &[
            ResourceType::Seed,
            ResourceType::Snapshot,
            ResourceType::Model,
            ResourceType::Test,
            ResourceType::UnitTest,
        ],
        synthesize: Some(SynthRequest::default()),
        batch_tests: !args.no_batch,
        tests_gate_children: true,
    };
    nodes::exec(&work, session, reporter)
}
