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
    let site = crate::docs::generate(&compiled, &session.invocation, &open, reporter)?;
    // dbt's docs generate leaves the manifest beside the catalog.
    crate::artifacts::write_manifest(&compiled, &session.invocation)?;
    if args.serve {
        crate::docs::serve::serve(&site.dir, args.port, reporter)?;
    }
    Ok(Outcome::Success)
}
