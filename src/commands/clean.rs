//! `sb clean`: removes the target folder.

use super::{Outcome, load_options};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::Reporter;
use crate::session::Session;

pub fn exec(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let options = load_options(session)?;
    let (settings, _) = crate::project::settings::load(
        &options.project_dir,
        options.target.as_deref(),
        &options.vars,
        &options.bigquery,
        &options.env,
    )?;
    let target = options.project_dir.join(&settings.target_path);
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| Diagnostic::error(format!("cannot remove {}: {e}", target.display())))?;
        reporter.info(&format!("Removed {}/", settings.target_path));
    } else {
        reporter.info(&format!(
            "Nothing to clean: {}/ does not exist",
            settings.target_path
        ));
    }
    Ok(Outcome::Success)
}
