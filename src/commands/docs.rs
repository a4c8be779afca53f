//! `sb docs`: writes the static site, then serves it when `--serve` asks.

use super::{Outcome, compile_project, open_adapter};
use crate::cli::DocsArgs;
use crate::diag::Diagnostics;
use crate::report::Reporter;
use crate::session::Session;

pub fn exec(
    args: &DocsArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(session)?;
    let site = crate::docs::generate(&compiled, reporter, &|| {
        open_adapter(&compiled.project, session, reporter)
    })?;
    if args.serve {
        crate::docs::serve::serve(&site.dir, args.port, reporter)?;
    }
    Ok(Outcome::Success)
}
