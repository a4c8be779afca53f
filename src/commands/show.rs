//! `sb show -s MODEL`: the first rows of one model or seed, as a table.

use super::{Outcome, compile_project, open_adapter, select};
use crate::cli::ShowArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::execute;
use crate::report::Reporter;
use crate::resource::ResourceType;
use crate::session::Session;

pub fn exec(
    args: &ShowArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let compiled = compile_project(session, reporter)?;
    let selected = select(
        &compiled,
        session,
        &[ResourceType::Model, ResourceType::Seed],
        reporter,
    )?;
    let index = match selected.len() {
        1 => selected.into_iter().next().unwrap_or_default(),
        0 => {
            return Err(Diagnostics::from(
                Diagnostic::error("`sb show` needs one model: no node matched")
                    .help("pass -s MODEL"),
            ));
        }
        n => {
            return Err(Diagnostics::from(
                Diagnostic::error(format!(
                    "`sb show` prints one model, but the selection matched {n}"
                ))
                .help("pass -s MODEL"),
            ));
        }
    };
    let adapter = open_adapter(&compiled.project, session, reporter)?;
    let mut connection = adapter
        .connect()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    let sql = match compiled.project.nodes[index].resource_type {
        ResourceType::Seed => format!(
            "select * from {}",
            compiled.project.target.kind.render_relation(
                compiled.nodes[index]
                    .relation
                    .as_ref()
                    .ok_or_else(|| Diagnostic::error("seed has no relation"))?
            )
        ),
        _ => compiled
            .render_for_execution(index, false, None)
            .map(|(sql, _)| sql)?,
    };
    let wrapped = format!(
        "select * from (\n{}\n) as sb_show limit {}",
        sql.trim().trim_end_matches(';'),
        args.limit
    );
    match connection.query(&wrapped, Some(args.limit)) {
        Ok(result) => {
            reporter.result(&crate::table::render(&result));
            Ok(Outcome::Success)
        }
        Err(error) => {
            let failure = execute::adapter_failure(&compiled, index, &error, None);
            if let Some(diagnostic) = failure.diagnostic {
                reporter.diagnostic(&diagnostic);
            }
            Ok(Outcome::Failed)
        }
    }
}
