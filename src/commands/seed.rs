//! `sb seed`: runs the synthesizer (when `synthetic:` is configured) and
//! loads the CSV seeds.

use super::Outcome;
use super::nodes::{self, Work};
use super::synthetic::SynthRequest;
use crate::cli::SeedArgs;
use crate::diag::Diagnostics;
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;
use crate::synth;

pub fn exec(
    args: &SeedArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let work = Work {
        kinds: &[ResourceType::Seed],
        synthesize: Some(SynthRequest {
            overrides: synth::Overrides {
                users: args.users,
                content: args.content,
                events: args.events,
                seed: args.seed,
                days: args.days,
            },
            append: args.append,
        }),
        batch_tests: true,
        tests_gate_children: false,
    };
    nodes::exec(&work, session, reporter)
}
