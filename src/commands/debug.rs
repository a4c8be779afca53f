//! `sb debug`: shows the project and target settings (secrets redacted) and
//! checks the connection with `select 1`.

use super::{Outcome, load_project, open_adapter};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let project = load_project(session, reporter)?;
    reporter.result(&format!("sb {}", env!("CARGO_PKG_VERSION")));
    reporter.result(&format!(
        "project: {} ({})",
        project.settings.name,
        project.root.display()
    ));
    let count = |kind: ResourceType| {
        project
            .nodes
            .iter()
            .filter(|n| n.resource_type == kind)
            .count()
    };
    reporter.result(&format!(
        "found: {} models, {} seeds, {} sources, {} macro files",
        count(ResourceType::Model),
        count(ResourceType::Seed),
        count(ResourceType::Source),
        project.macro_files.len()
    ));
    if let Some(profiles) = &project.target.profiles_file {
        reporter.result(&format!(
            "profile: {} ({})",
            project.settings.profile.as_deref().unwrap_or_default(),
            profiles.display()
        ));
    }
    if !project.packages.is_empty() {
        let names: Vec<&str> = project.packages.iter().map(|p| p.name.as_str()).collect();
        reporter.result(&format!("packages: {}", names.join(", ")));
    }
    reporter.result(&format!(
        "target: {} (type {})",
        project.target.name,
        project.target.kind.as_str()
    ));
    for (key, value) in &project.target.fields {
        let shown = if matches!(
            key.as_str(),
            "keyfile" | "keyfile_json" | "token" | "password" | "private_key"
        ) {
            "<redacted>".to_string()
        } else {
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string)
        };
        reporter.result(&format!("  {key}: {shown}"));
    }
    let adapter = open_adapter(&project, session, reporter)?;
    let check = adapter
        .connect()
        .and_then(|mut c| c.query("select 1 as ok", Some(1)));
    match check {
        Ok(_) => {
            reporter.result("connection: OK");
            Ok(Outcome::Success)
        }
        Err(error) => Err(Diagnostics::from(
            Diagnostic::error(format!("connection test failed: {}", error.message)).help(
                if project.target.profiles_file.is_some() {
                    "check the target's output in profiles.yml"
                } else {
                    "check the target settings in project.yml"
                },
            ),
        )),
    }
}
