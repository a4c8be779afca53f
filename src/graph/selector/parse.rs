//! The `--select` / `--exclude` grammar: whitespace-separated terms,
//! comma-joined parts, the `@`, `N+` and `+N` graph operators, and
//! `method:value` with its checks and "did you mean" help.

use super::{Depth, Facet, Method, Part, Selector, SelectorError, StateKind, Term};
use crate::diag::suggest::closest_names;
use crate::graph::VersionRank;
use crate::resource::ResourceType;

const METHODS: [&str; 11] = [
    "config",
    "file",
    "fqn",
    "package",
    "path",
    "resource_type",
    "result",
    "source",
    "state",
    "tag",
    "version",
];
const STATE_VALUES: [&str; 9] = [
    "modified",
    "new",
    "deleted",
    "modified.body",
    "modified.configs",
    "modified.macros",
    "modified.contract",
    "modified.persisted_descriptions",
    "modified.relation",
];
const RESULT_VALUES: [&str; 6] = ["error", "fail", "skipped", "success", "pass", "warn"];
const VERSION_VALUES: [&str; 4] = ["latest", "old", "prerelease", "none"];

/// Parses `--select` and `--exclude` values. No `--select` means everything.
pub fn parse(select: &[String], exclude: &[String]) -> Result<Selector, SelectorError> {
    Ok(Selector {
        select: parse_terms(select, "--select")?,
        exclude: parse_terms(exclude, "--exclude")?,
    })
}

fn parse_terms(values: &[String], flag: &str) -> Result<Vec<Term>, SelectorError> {
    let mut terms = Vec::new();
    for value in values {
        if value.trim().is_empty() {
            return Err(SelectorError::new(
                format!("`{flag}` was given an empty value"),
                format!("give `{flag}` a node name or a selector such as `tag:nightly`"),
            ));
        }
        for raw in value.split_whitespace() {
            let parts = raw
                .split(',')
                .map(|part| parse_part(part, raw))
                .collect::<Result<Vec<_>, _>>()?;
            terms.push(Term {
                raw: raw.to_owned(),
                parts,
            });
        }
    }
    Ok(terms)
}

fn parse_part(raw: &str, term: &str) -> Result<Part, SelectorError> {
    if raw.is_empty() {
        return Err(SelectorError::new(
            format!("selector `{term}` has an empty part between commas"),
            "remove the extra comma; comma-joined parts are intersected",
        ));
    }
    let mut rest = raw;
    let at = match rest.strip_prefix('@') {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut parents = None;
    if let (Some(count), Some(after)) = (rest.get(..digits), rest.get(digits..))
        && let Some(after) = after.strip_prefix('+')
    {
        parents = Some(parse_depth(count, raw)?);
        rest = after;
    }
    let mut children = None;
    if let Some(plus) = rest.rfind('+')
        && let (Some(before), Some(count)) = (rest.get(..plus), rest.get(plus + 1..))
        && count.bytes().all(|b| b.is_ascii_digit())
    {
        children = Some(parse_depth(count, raw)?);
        rest = before;
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(SelectorError::new(
            format!("selector `{raw}` combines `@` with `+`"),
            "use `@name` alone, or `+name+` for ancestors and descendants",
        ));
    }
    let (method, value) = match rest.split_once(':') {
        Some((name, value))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.') =>
        {
            (parse_method(name, value, raw)?, value)
        }
        _ => (default_method(rest), rest),
    };
    if value.is_empty() {
        return Err(if method == Method::Default {
            SelectorError::new(
                format!("selector `{raw}` names no node"),
                "write a node name next to the graph operator, e.g. `+orders` or `2+orders`",
            )
        } else {
            SelectorError::new(
                format!("selector `{raw}` has no value after the `:`"),
                "write a value after the method, e.g. `tag:nightly` or `path:models/marts`",
            )
        });
    }
    Ok(Part {
        method,
        value: value.to_owned(),
        at,
        parents,
        children,
    })
}

fn parse_depth(digits: &str, raw: &str) -> Result<Depth, SelectorError> {
    if digits.is_empty() {
        return Ok(Depth::All);
    }
    digits.parse().map(Depth::Generations).map_err(|_| {
        SelectorError::new(
            format!("graph depth `{digits}` in `{raw}` is too large"),
            "use a smaller number, or a bare `+` for every generation",
        )
    })
}

fn parse_method(name: &str, value: &str, raw: &str) -> Result<Method, SelectorError> {
    if let Some(keys) = name.strip_prefix("config.") {
        let keys: Vec<String> = keys.split('.').map(str::to_owned).collect();
        if keys.iter().any(String::is_empty) {
            return Err(SelectorError::new(
                format!("selector `{raw}` has an empty config key"),
                "write `config.KEY:VALUE`, e.g. `config.materialized:table`",
            ));
        }
        return Ok(Method::Config(keys));
    }
    Ok(match name {
        "fqn" => Method::Fqn,
        "tag" => Method::Tag,
        "path" => Method::Path,
        "file" => Method::File,
        "source" if value.split('.').count() > 3 => {
            return Err(SelectorError::new(
                format!("source selector `{raw}` has too many parts"),
                "write `source:NAME`, `source:NAME.TABLE` or `source:PACKAGE.NAME.TABLE`",
            ));
        }
        "source" => Method::Source,
        "package" => Method::Package,
        "resource_type" if value.is_empty() => Method::ResourceType(ResourceType::Model),
        "resource_type" => {
            let Some(kind) = ResourceType::parse(value) else {
                let names = ResourceType::ALL.map(ResourceType::as_str);
                return Err(unknown(
                    &format!("unknown resource type `{value}` in `{raw}`"),
                    value,
                    &names,
                ));
            };
            Method::ResourceType(kind)
        }
        "state" => {
            let facet = value.strip_prefix("modified.").map(Facet::parse);
            match (value, facet) {
                ("modified" | "", _) => Method::State(StateKind::Modified(None)),
                ("new", _) => Method::State(StateKind::New),
                ("deleted", _) => Method::State(StateKind::Deleted),
                (_, Some(Some(facet))) => Method::State(StateKind::Modified(Some(facet))),
                _ => {
                    return Err(unknown(
                        &format!("unknown state selector `{value}` in `{raw}`"),
                        value,
                        &STATE_VALUES,
                    ));
                }
            }
        }
        "result" => {
            if !RESULT_VALUES.contains(&value) {
                return Err(unknown(
                    &format!("unknown result selector `{value}` in `{raw}`"),
                    value,
                    &RESULT_VALUES,
                ));
            }
            Method::Result(value.to_string())
        }
        "version" => Method::Version(match value {
            "latest" => Some(VersionRank::Latest),
            "old" => Some(VersionRank::Old),
            "prerelease" => Some(VersionRank::Prerelease),
            "none" => None,
            _ => {
                return Err(unknown(
                    &format!("unknown version selector `{value}` in `{raw}`"),
                    value,
                    &VERSION_VALUES,
                ));
            }
        }),
        "config" => {
            return Err(SelectorError::new(
                format!("selector `{raw}` needs a config key"),
                format!("write `config.KEY:VALUE`, e.g. `config.materialized:{value}`"),
            ));
        }
        _ => {
            return Err(unknown(
                &format!("unknown selector method `{name}` in `{raw}`"),
                name,
                &METHODS,
            ));
        }
    })
}

fn unknown(message: &str, wanted: &str, valid: &[&str]) -> SelectorError {
    let close = closest_names(wanted, valid.iter().copied(), 3);
    let list = valid.join(", ");
    let help = match close.as_slice() {
        [] => format!("valid choices: {list}"),
        [one] => format!("did you mean `{one}`? valid choices: {list}"),
        many => format!(
            "did you mean one of `{}`? valid choices: {list}",
            many.join("`, `")
        ),
    };
    SelectorError::new(message, help)
}

/// dbt's default method: a path if it looks like one, a file name if it ends
/// like one, else a name or fully qualified name.
fn default_method(value: &str) -> Method {
    let lower = value.to_ascii_lowercase();
    if value.contains('/') || value.contains('\\') {
        Method::Path
    } else if [".sql", ".csv", ".py", ".yml", ".yaml"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        Method::File
    } else {
        Method::Default
    }
}
