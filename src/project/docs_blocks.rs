//! dbt's docs blocks: `{% docs name %}...{% enddocs %}` in the `.md` files
//! of the docs paths, and `{{ doc('name') }}` (or `doc('package', 'name')`)
//! in YAML descriptions, which loading replaces by the block's text. A
//! block's text is what stands between its tags, trimmed, as dbt keeps it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use super::data_tests::locate_word;
use super::discover::FoundFile;
use super::{Project, slash};
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::scan;

/// One `{% docs %}` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocBlock {
    pub name: String,
    pub package: String,
    /// Project-relative path of the `.md` file, forward slashes.
    pub original_file_path: String,
    /// Its path below the docs folder it was found in.
    pub path: String,
    pub contents: String,
}

impl DocBlock {
    pub fn unique_id(&self) -> String {
        format!("doc.{}.{}", self.package, self.name)
    }
}

/// The docs blocks of `file`, which belongs to `package`.
pub fn parse(file: &FoundFile, package: &str) -> Result<Vec<DocBlock>, Diagnostic> {
    let text = &file.text;
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(tag) = scan::next_named_tag(text, at, "docs") {
        let (open, name, body_start) = (tag.start, tag.name, tag.end);
        let Some(name) = name.filter(|n| is_identifier(n)) else {
            return Err(
                Diagnostic::error("a docs block needs a name: `{% docs name %}`")
                    .at(location(file, open))
                    .help("name the block with letters, digits and underscores"),
            );
        };
        let Some(end_tag) = scan::next_named_tag(text, body_start, "enddocs") else {
            return Err(
                Diagnostic::error(format!("docs block `{name}` is not closed"))
                    .at(location(file, open))
                    .help("end it with `{% enddocs %}`"),
            );
        };
        blocks.push(DocBlock {
            name: name.to_string(),
            package: package.to_string(),
            original_file_path: slash(&file.path),
            path: slash(&file.relative_to_root),
            contents: text[body_start..end_tag.start].trim().to_string(),
        });
        at = end_tag.end;
    }
    Ok(blocks)
}

pub(super) fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn location(file: &FoundFile, offset: usize) -> Location {
    Location::from_offset(&file.path, &file.text, offset, 2)
}

/// Checks that no package defines a docs name twice.
pub fn check_unique(blocks: &[DocBlock]) -> Vec<Diagnostic> {
    let mut seen: HashMap<(&str, &str), &DocBlock> = HashMap::new();
    let mut errors = Vec::new();
    for block in blocks {
        if let Some(first) = seen.insert((&block.package, &block.name), block) {
            errors.push(
                Diagnostic::error(format!("docs block `{}` is defined twice", block.name))
                    .at(Location::file_only(Path::new(&block.original_file_path)))
                    .help(format!(
                        "the other is in {}; rename or remove one",
                        first.original_file_path
                    )),
            );
        }
    }
    errors
}

/// Renders `{{ doc(...) }}` in every description of the project's nodes
/// and columns.
pub fn render_descriptions(project: &mut Project) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let root_name = project.settings.name.clone();
    let docs = Arc::new(std::mem::take(&mut project.docs));
    for index in 0..project.nodes.len() {
        let node = &project.nodes[index];
        let mut texts: Vec<String> = Vec::new();
        let needs = |text: &str| text.contains("{{") || text.contains("{%");
        if !needs(&node.description)
            && !node.columns.values().any(|c| needs(&c.description))
            && !node
                .source
                .as_ref()
                .is_some_and(|s| needs(&s.source_description))
        {
            continue;
        }
        let renderer = DescriptionRenderer {
            docs: Arc::clone(&docs),
            package: node.package_name.clone(),
            root: root_name.clone(),
        };
        let yaml = node
            .yaml_path
            .as_deref()
            .and_then(|path| project.schema_files.iter().find(|f| slash(&f.path) == path));
        let mut render = |text: &str| -> String {
            if !needs(text) {
                return text.to_string();
            }
            match renderer.render(text) {
                Ok(text) => text,
                Err(failure) => {
                    let location = yaml.map_or_else(
                        || Location::file_only(project.nodes[index].file_path()),
                        |f| locate_word(&f.path, &f.source, failure.word(), 1),
                    );
                    errors.push(failure.diagnostic().at(location));
                    text.to_string()
                }
            }
        };
        let description = render(&node.description);
        for column in node.columns.values() {
            texts.push(render(&column.description));
        }
        let source_description = node.source.as_ref().map(|s| render(&s.source_description));
        let node = &mut project.nodes[index];
        node.description = description;
        for (column, text) in node.columns.values_mut().zip(texts) {
            column.description = text;
        }
        if let (Some(source), Some(text)) = (&mut node.source, source_description) {
            source.source_description = text;
        }
    }
    project.docs = Arc::try_unwrap(docs).unwrap_or_else(|shared| shared.as_ref().clone());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Why a description does not render.
enum RenderFailure {
    UnknownDoc { name: String, close: Vec<String> },
    Other(String),
}

impl RenderFailure {
    /// The word to point at in the YAML file.
    fn word(&self) -> &str {
        match self {
            Self::UnknownDoc { name, .. } => name,
            Self::Other(_) => "description",
        }
    }

    fn diagnostic(&self) -> Diagnostic {
        match self {
            Self::UnknownDoc { name, close } => {
                Diagnostic::error(format!("unknown doc `{name}`")).help(
                    did_you_mean(close).unwrap_or_else(|| {
                        format!("define it in a .md file of the docs paths: {{% docs {name} %}}...{{% enddocs %}}")
                    }),
                )
            }
            Self::Other(message) => Diagnostic::error(format!("cannot render a description: {message}"))
                .help("descriptions may use doc('name'); other Jinja in them must render without a model"),
        }
    }
}

#[derive(Clone)]
struct DescriptionRenderer {
    docs: Arc<Vec<DocBlock>>,
    /// The package of the described node, whose docs come first.
    package: String,
    root: String,
}

impl DescriptionRenderer {
    fn render(&self, text: &str) -> Result<String, RenderFailure> {
        let missing: Arc<Mutex<Option<String>>> = Arc::default();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(1_000_000));
        let (finder, slot) = (self.clone(), Arc::clone(&missing));
        env.add_function(
            "doc",
            move |first: String, second: Option<String>| -> Result<Value, Error> {
                let (package, name) = match &second {
                    Some(name) => (Some(first.as_str()), name.as_str()),
                    None => (None, first.as_str()),
                };
                if let Some(block) = finder.find(package, name) {
                    return Ok(Value::from(block.contents.as_str()));
                }
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(name.to_string());
                }
                Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unknown doc `{name}`"),
                ))
            },
        );
        let result = env.render_str(text, ());
        let missing = missing.lock().ok().and_then(|mut m| m.take());
        result.map_err(|error| match missing {
            Some(name) => {
                let names: std::collections::BTreeSet<&str> =
                    self.docs.iter().map(|d| d.name.as_str()).collect();
                RenderFailure::UnknownDoc {
                    close: closest_names(&name, names, 3),
                    name,
                }
            }
            None => RenderFailure::Other(error.detail().unwrap_or("cannot render").to_string()),
        })
    }

    /// `doc(name)`: the node's package first, then the root project, then
    /// any package; `doc(package, name)`: that package's only.
    fn find(&self, package: Option<&str>, name: &str) -> Option<&DocBlock> {
        let named = |p: &str| self.docs.iter().find(|d| d.package == p && d.name == name);
        match package {
            Some(package) => named(package),
            None => named(&self.package)
                .or_else(|| named(&self.root))
                .or_else(|| self.docs.iter().find(|d| d.name == name)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(text: &str) -> FoundFile {
        FoundFile {
            path: "models/docs.md".into(),
            relative_to_root: "docs.md".into(),
            text: text.into(),
        }
    }

    #[test]
    fn blocks_are_named_and_trimmed() {
        let blocks = parse(
            &file("# Notes\n{% docs orders %}\nOne row per **order**.\n{% enddocs %}\n\n{%- docs status -%}Order status{%- enddocs -%}"),
            "shop",
        )
        .unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].name, "orders");
        assert_eq!(blocks[0].contents, "One row per **order**.");
        assert_eq!(blocks[0].unique_id(), "doc.shop.orders");
        assert_eq!(blocks[1].contents, "Order status");
    }

    #[test]
    fn an_unclosed_or_unnamed_block_is_an_error_at_its_tag() {
        let error = parse(&file("text\n  {% docs orders %}\nno end"), "shop").unwrap_err();
        assert_eq!(error.message, "docs block `orders` is not closed");
        let location = error.location.unwrap();
        assert_eq!((location.line, location.column), (2, 3));
        let error = parse(&file("{% docs %}x{% enddocs %}"), "shop").unwrap_err();
        assert!(error.message.contains("needs a name"));
    }

    #[test]
    fn doc_finds_the_nodes_package_first_and_names_the_closest_when_unknown() {
        let docs = [
            DocBlock {
                name: "status".into(),
                package: "shop".into(),
                original_file_path: "models/docs.md".into(),
                path: "docs.md".into(),
                contents: "root status".into(),
            },
            DocBlock {
                name: "status".into(),
                package: "pkg".into(),
                original_file_path: "dbt_packages/pkg/models/docs.md".into(),
                path: "docs.md".into(),
                contents: "package status".into(),
            },
        ];
        let docs = Arc::new(docs.to_vec());
        let renderer = |package: &str| DescriptionRenderer {
            docs: Arc::clone(&docs),
            package: package.to_string(),
            root: "shop".to_string(),
        };
        assert_eq!(
            renderer("shop")
                .render("{{ doc('status') }}.")
                .ok()
                .unwrap(),
            "root status."
        );
        assert_eq!(
            renderer("pkg").render("{{ doc('status') }}").ok().unwrap(),
            "package status"
        );
        assert_eq!(
            renderer("shop")
                .render("{{ doc('pkg', 'status') }}")
                .ok()
                .unwrap(),
            "package status"
        );
        match renderer("shop").render("{{ doc('statuss') }}") {
            Err(RenderFailure::UnknownDoc { name, close }) => {
                assert_eq!(name, "statuss");
                assert_eq!(close, ["status"]);
            }
            _ => panic!("expected an unknown doc"),
        }
    }
}
