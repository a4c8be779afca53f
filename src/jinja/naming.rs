//! A project's own `generate_schema_name`, `generate_alias_name` and
//! `generate_database_name` macros: which of them it overrides, and the
//! name one of them gives a node. Projects that override none keep sb's
//! naming in Rust (no render per node).

use std::sync::Arc;

use minijinja::value::Value;

use super::modules::MacroModules;
use super::{Catalog, Jinja, Mode, scope};
use crate::diag::{Diagnostic, Location};
use crate::resource::NodeId;

/// A part of a relation's name that a macro may decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamePart {
    Database,
    Schema,
    Alias,
}

impl NamePart {
    pub const ALL: [NamePart; 3] = [NamePart::Database, NamePart::Schema, NamePart::Alias];

    pub fn macro_name(self) -> &'static str {
        match self {
            NamePart::Database => "generate_database_name",
            NamePart::Schema => "generate_schema_name",
            NamePart::Alias => "generate_alias_name",
        }
    }
}

/// Templates named `__sb_name__|<macro>|<module>` call a naming macro.
const NAME_TEMPLATE: &str = "__sb_name__";

pub(super) fn name_template_source(macros: &MacroModules, name: &str) -> Option<String> {
    let mut parts = name
        .strip_prefix(NAME_TEMPLATE)?
        .strip_prefix('|')?
        .split('|');
    let (macro_name, module) = (parts.next()?, parts.next()?);
    (macros.defines(macro_name) && macros.source(module).is_some()).then(|| {
        format!(
            "{{% from '{module}' import {macro_name} %}}{{{{ {macro_name}(__sb_custom, __sb_node) }}}}"
        )
    })
}

impl Jinja {
    /// The naming macros the project (not sb) defines.
    pub fn naming_overrides(&self) -> Vec<NamePart> {
        NamePart::ALL
            .into_iter()
            .filter(|part| {
                self.macros
                    .defining_file(part.macro_name())
                    .is_some_and(|file| file >= self.builtin_files)
            })
            .collect()
    }

    /// What the project's macro for `part` names node `node` (its facts as
    /// `model`), given the config's `custom` value; trimmed, as dbt does.
    pub fn generate_name(
        &self,
        catalog: &Arc<Catalog>,
        part: NamePart,
        node: NodeId,
        custom: Option<&str>,
        model: Value,
    ) -> Result<String, Diagnostic> {
        let macro_name = part.macro_name();
        let module = self.macros.module_for(&[macro_name]);
        let template_name = format!("{NAME_TEMPLATE}|{macro_name}|{module}");
        let (result, captured) = scope::with_scope(
            catalog,
            node,
            Mode::Parse,
            false,
            serde_json::Map::new(),
            None,
            || {
                let template = self.env.get_template(&template_name)?;
                template.render(minijinja::context! {
                    __sb_custom => custom,
                    __sb_node => model.clone(),
                    model => model,
                    target => catalog.target.clone(),
                    project_name => catalog.project_name.clone(),
                    execute => false,
                })
            },
        );
        super::returns::clear();
        result.map(|name| name.trim().to_string()).map_err(|error| {
            let file = self
                .macros
                .defining_file(macro_name)
                .and_then(|index| self.macros.files.get(index));
            let location = file.map(|f| Location::find(&f.path, &f.text, macro_name, 1));
            let message = match captured.failure {
                Some(scope::Failure::Raised(message)) => message,
                _ => error
                    .detail()
                    .map_or_else(|| error.to_string(), str::to_string),
            };
            let diagnostic = Diagnostic::error(format!("`{macro_name}` failed: {message}"))
                .help(format!("fix the project's `{macro_name}` macro"));
            match location {
                Some(location) => diagnostic.at(location),
                None => diagnostic,
            }
        })
    }
}
