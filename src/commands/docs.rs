//! `sb docs`: writes the static site, then serves it when `--serve` asks.
//! The warehouse is opened here, and only if the site asks for it.

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
    let compiled = compile_project(session, reporter)?;
    let open = || open_adapter(&compiled.project, session, reporter);
    let site = crate::docs::generate(&compiled, &open, reporter)?;
    if args.serve {
        crate::docs::serve::serve(&site.dir, args.port, reporter)?;
    }
    Ok(Outcome::Success)
}
