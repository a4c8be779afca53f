//! `sb clean`: removes the target folder, or a dbt project's
//! `clean-targets`, each only when it lies inside the project.

use std::path::{Component, Path};

use super::{Outcome, load_options};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::Reporter;
use crate::session::Session;

pub fn exec(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let options = load_options(session)?;
    let settings = crate::project::settings::load_without_target(&options)?;
    for folder in &settings.clean_targets {
        let relative = Path::new(folder);
        let inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !inside || folder.trim().is_empty() {
            return Err(Diagnostics::from(
                Diagnostic::error(format!(
                    "sb clean does not remove `{folder}`: it is not a folder inside the project"
                ))
                .at(settings.file.locate_key("clean-targets", 1))
                .help("list folders below the project folder in `clean-targets`, such as `target` and `dbt_packages`"),
            ));
        }
        let target = options.project_dir.join(relative);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|e| {
                Diagnostic::error(format!("cannot remove {}: {e}", target.display()))
            })?;
            reporter.info(&format!("Removed {folder}/"));
        } else {
            reporter.info(&format!("Nothing to clean: {folder}/ does not exist"));
        }
    }
    Ok(Outcome::Success)
}
