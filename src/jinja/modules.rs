//! The project's macros cut into units (one `{% macro %}` block each, or a
//! whole file when it has top-level code such as `{% set %}`), what each unit
//! calls, and the small macro modules a render imports: only the units its
//! source reaches, so a template does not evaluate every macro of the
//! project on each render.
//!
//! Units belong to a namespace: the root project (with sb's built-in
//! macros) or a package. A bare name in a package's unit means the
//! package's own macro first, then the root project's, as in dbt; modules
//! rooted in a package are named `__sb_macros__@<package>[:<ids>]`. Each
//! module ends with one line that wraps its returning macros
//! ([`super::returns`]), and list and dict literals in units are rewritten
//! to change in place ([`super::mutable`]).

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use super::{extra_args, mutable, returns};
use crate::scan::{self, BlockKind};

/// The name of the module holding every unit; smaller modules add
/// `:<unit ids>` to it.
pub const MACROS_TEMPLATE: &str = "__sb_macros__";

/// One macro file, for mapping errors back to it.
#[derive(Debug)]
pub struct MacroFile {
    pub path: PathBuf,
    /// The file as written (before `{% test %}` blocks are rewritten).
    pub text: String,
    /// The package the file belongs to; `None` for the root project.
    pub package: Option<String>,
    /// Its macros join a whole-namespace module only when another unit
    /// calls them (sb's many `dbt` helpers), so templates that import
    /// every macro do not pay for them all.
    pub on_demand: bool,
}

/// One macro as the manifest's `macros` lists it.
#[derive(Debug, Clone)]
pub struct MacroEntry {
    pub unique_id: String,
    pub name: String,
    pub package: String,
    pub path: PathBuf,
    /// The text of the block (or file) defining it, as written.
    pub sql: String,
    /// Manifest ids of the macros it calls.
    pub calls: Vec<String>,
}

/// A piece of a macro file that is evaluated as a whole.
#[derive(Debug)]
struct Unit {
    file: usize,
    package: Option<String>,
    /// The macros it defines that may `return()`, to wrap.
    returning: Vec<String>,
    /// Line of the file where `text` starts (1-based).
    first_line: usize,
    text: String,
    /// Newlines in `text`.
    newlines: usize,
    /// Every unit this one may call, itself included, in id order.
    reach: Vec<usize>,
    /// The units its text calls directly.
    calls: Vec<usize>,
    /// The macros it defines.
    defines: Vec<String>,
    /// Looks macros up by a name known only at render time.
    dynamic: bool,
}

/// All macro units and the index from macro name to the unit defining it.
#[derive(Debug, Default)]
pub struct MacroModules {
    pub files: Vec<MacroFile>,
    units: Vec<Unit>,
    /// The last definition of each name wins, as in one combined template.
    by_name: HashMap<String, usize>,
    /// The same for each package's own macros.
    packages: HashMap<String, HashMap<String, usize>>,
    /// Every macro name of the root namespace, in definition order.
    pub names: Vec<String>,
    /// The units of the whole root module (`namespace_units(None)`).
    whole_root: Vec<usize>,
    /// The macro names that module defines, in definition order.
    pub whole_root_names: Vec<String>,
}

impl MacroModules {
    /// Cuts `files` (already rewritten, with their originals) into units.
    /// `adapter` is the prefix `adapter.dispatch` tries first.
    pub fn new(files: Vec<(MacroFile, String)>, adapter: &str) -> Self {
        let mut modules = Self::default();
        let mut pieces: Vec<(usize, usize, String)> = Vec::new();
        for (index, (file, rewritten)) in files.into_iter().enumerate() {
            match macro_blocks(&rewritten) {
                Some(blocks) => {
                    for block in blocks {
                        let first_line = 1 + rewritten[..block.start].matches('\n').count();
                        pieces.push((index, first_line, rewritten[block].to_string()));
                    }
                }
                None => pieces.push((index, 1, rewritten)),
            }
            modules.files.push(file);
        }
        for (file, first_line, text) in pieces {
            let id = modules.units.len();
            let package = modules.files[file].package.clone();
            let text =
                scan::mutable_literals(&text, mutable::LIST_FUNCTION, mutable::DICT_FUNCTION)
                    .unwrap_or(text);
            let (text, catching_all) = extra_args::add_catch_all_params(&text);
            let may_return = text.contains("return");
            let mut returning = Vec::new();
            let mut defines = Vec::new();
            let headers = scan::block_headers(&text).filter(|h| h.kind == BlockKind::Macro);
            for header in headers {
                let name = header.name.text.to_string();
                defines.push(name.clone());
                let wrapped = may_return || catching_all.contains(&name);
                if wrapped && !returning.contains(&name) {
                    returning.push(name.clone());
                }
                if let Some(package) = &package {
                    modules
                        .packages
                        .entry(package.clone())
                        .or_default()
                        .insert(name, id);
                } else {
                    if !modules.by_name.contains_key(&name) {
                        modules.names.push(name.clone());
                    }
                    modules.by_name.insert(name, id);
                }
            }
            let dynamic = text.matches("dispatch").count() != scan::dispatch_names(&text).count()
                || scan::identifiers(&text).any(|word| word == "context");
            modules.units.push(Unit {
                file,
                package,
                returning,
                first_line,
                newlines: text.matches('\n').count(),
                text,
                reach: Vec::new(),
                calls: Vec::new(),
                defines,
                dynamic,
            });
        }
        let calls: Vec<Vec<usize>> = modules
            .units
            .iter()
            .map(|unit| modules.direct_calls(&unit.text, unit.package.as_deref(), adapter))
            .collect();
        for (unit, called) in modules.units.iter_mut().zip(&calls) {
            unit.calls.clone_from(called);
        }
        for id in 0..modules.units.len() {
            let mut reach = vec![id];
            let mut next = 0;
            while next < reach.len() {
                for &called in &calls[reach[next]] {
                    if !reach.contains(&called) {
                        reach.push(called);
                    }
                }
                next += 1;
            }
            reach.sort_unstable();
            modules.units[id].reach = reach;
        }
        modules.whole_root = modules.namespace_units(None);
        modules.whole_root_names = modules
            .names
            .iter()
            .filter(|name| {
                modules
                    .by_name
                    .get(*name)
                    .is_some_and(|id| modules.whole_root.binary_search(id).is_ok())
            })
            .cloned()
            .collect();
        modules
    }

    /// The unit defining `name` as seen from `package`'s code: the
    /// package's own macro, else the root project's.
    fn resolve(&self, package: Option<&str>, name: &str) -> Option<usize> {
        package
            .and_then(|p| self.packages.get(p))
            .and_then(|names| names.get(name))
            .or_else(|| self.by_name.get(name))
            .copied()
    }

    /// The units whose macros `text` (of `package`) names, directly or
    /// through `adapter.dispatch('name')`.
    fn direct_calls(&self, text: &str, package: Option<&str>, adapter: &str) -> Vec<usize> {
        let mut calls = Vec::new();
        let mut add = |name: &str| {
            if let Some(id) = self.resolve(package, name)
                && !calls.contains(&id)
            {
                calls.push(id);
            }
        };
        for word in scan::identifiers(text) {
            add(word);
        }
        for name in scan::dispatch_names(text) {
            add(&format!("{adapter}__{}", name.text));
            add(&format!("default__{}", name.text));
        }
        calls
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The project's and its packages' macros (not sb's own, which come
    /// with sb), for the manifest: each with its text as written and the
    /// macros it calls. `root` names the root project's namespace.
    pub fn manifest_macros(&self, root: &str) -> Vec<MacroEntry> {
        let mut out = Vec::new();
        for unit in &self.units {
            let file = &self.files[unit.file];
            if file.path.starts_with("<sb>") {
                continue;
            }
            let sql: String = file
                .text
                .split_inclusive('\n')
                .skip(unit.first_line - 1)
                .take(unit.newlines + 1)
                .collect();
            let calls: Vec<String> = unit
                .calls
                .iter()
                .flat_map(|&called| self.unit_macro_ids(called, root))
                .collect();
            let package = unit.package.as_deref().unwrap_or(root);
            for name in &unit.defines {
                let unique_id = format!("macro.{package}.{name}");
                out.push(MacroEntry {
                    calls: calls
                        .iter()
                        .filter(|id| **id != unique_id)
                        .cloned()
                        .collect(),
                    unique_id,
                    name: name.clone(),
                    package: package.to_string(),
                    path: file.path.clone(),
                    sql: sql.clone(),
                });
            }
        }
        out
    }

    /// The manifest ids of the macros `text` (a node's code, in `package`)
    /// calls directly: bare names as that package sees them, and names in a
    /// package's namespace (`dbt_utils.star`).
    pub fn called_macro_ids(&self, text: &str, package: Option<&str>, root: &str) -> Vec<String> {
        let mut units: Vec<usize> = Vec::new();
        let mut add = |id: Option<usize>| {
            if let Some(id) = id
                && !units.contains(&id)
            {
                units.push(id);
            }
        };
        let named: Vec<&str> = self
            .packages
            .keys()
            .map(String::as_str)
            .filter(|p| text.contains(&format!("{p}.")))
            .collect();
        for word in scan::identifiers(text) {
            add(self.resolve(package, word));
            for &namespace in &named {
                add(self.packages[namespace].get(word).copied());
            }
        }
        let mut ids: Vec<String> = units
            .into_iter()
            .flat_map(|unit| self.unit_macro_ids(unit, root))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The manifest ids of the macros unit `id` defines; none for sb's own.
    fn unit_macro_ids(&self, id: usize, root: &str) -> Vec<String> {
        let unit = &self.units[id];
        if self.files[unit.file].path.starts_with("<sb>") {
            return Vec::new();
        }
        let package = unit.package.as_deref().unwrap_or(root);
        unit.defines
            .iter()
            .map(|name| format!("macro.{package}.{name}"))
            .collect()
    }

    pub fn defines(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Whether namespace `package` (`None`: the root project) defines `name`.
    pub fn defines_in(&self, package: Option<&str>, name: &str) -> bool {
        match package {
            Some(package) => self
                .packages
                .get(package)
                .is_some_and(|names| names.contains_key(name)),
            None => self.defines(name),
        }
    }

    /// The packages that define macros.
    pub fn package_names(&self) -> impl Iterator<Item = &str> {
        self.packages.keys().map(String::as_str)
    }

    /// The namespace of module `name`: `Some(package)` for a module rooted
    /// in a package.
    pub fn namespace_of(name: &str) -> Option<&str> {
        let rest = name.strip_prefix(MACROS_TEMPLATE)?.strip_prefix('@')?;
        Some(rest.split_once(':').map_or(rest, |(package, _)| package))
    }

    /// The index (in the order given to `new`) of the file whose definition
    /// of `name` wins.
    pub fn defining_file(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).map(|&id| self.units[id].file)
    }

    /// The module to import `names` from: the units they reach, or every
    /// unit when one of them looks macros up by name.
    pub fn module_for(&self, names: &[&str]) -> String {
        self.module_in(None, names)
    }

    /// The module to import `names` of namespace `package` from (bare
    /// names, as that namespace's code sees them).
    pub fn module_in(&self, package: Option<&str>, names: &[&str]) -> String {
        let whole = match package {
            Some(package) => format!("{MACROS_TEMPLATE}@{package}"),
            None => MACROS_TEMPLATE.to_string(),
        };
        let mut ids: Vec<usize> = Vec::new();
        for name in names {
            let Some(id) = self.resolve(package, name) else {
                continue;
            };
            for &reached in &self.units[id].reach {
                if self.units[reached].dynamic {
                    return whole;
                }
                if !ids.contains(&reached) {
                    ids.push(reached);
                }
            }
        }
        ids.sort_unstable();
        if package.is_none() && ids == self.whole_root {
            return whole;
        }
        let list: Vec<String> = ids.iter().map(usize::to_string).collect();
        format!("{whole}:{}", list.join(","))
    }

    /// The units a whole-namespace module holds: the root project's, and
    /// for a package its own after them (so they win).
    fn namespace_units(&self, package: Option<&str>) -> Vec<usize> {
        let in_module = |id: &usize| {
            let unit = &self.units[*id];
            let mine =
                unit.package.is_none() || (package.is_some() && unit.package.as_deref() == package);
            mine && !self.files[unit.file].on_demand
        };
        let mut wanted = vec![false; self.units.len()];
        for id in (0..self.units.len()).filter(in_module) {
            for &reached in &self.units[id].reach {
                wanted[reached] = true;
            }
        }
        let picked = |root: bool| {
            (0..self.units.len())
                .filter(|&id| wanted[id] && self.units[id].package.is_none() == root)
                .collect::<Vec<_>>()
        };
        let mut ids = picked(true);
        ids.extend(picked(false));
        ids
    }

    /// The unit ids of module `name`, or `None` when it is not a macro module.
    fn unit_ids(&self, name: &str) -> Option<Vec<usize>> {
        let rest = name.strip_prefix(MACROS_TEMPLATE)?;
        let (package, list) = match rest.strip_prefix('@') {
            Some(rest) => match rest.split_once(':') {
                Some((package, list)) => (Some(package), Some(list)),
                None => (Some(rest), None),
            },
            None => (None, rest.strip_prefix(':')),
        };
        if rest.is_empty() {
            return Some(self.whole_root.clone());
        }
        match list {
            None => {
                let package = package?;
                self.packages
                    .contains_key(package)
                    .then(|| self.namespace_units(Some(package)))
            }
            Some(list) => list
                .split(',')
                .map(|id| id.parse().ok().filter(|&id| id < self.units.len()))
                .collect(),
        }
    }

    /// The text of module `name`: its units in order, one line apart, then
    /// one line wrapping the macros that may return.
    pub fn source(&self, name: &str) -> Option<String> {
        let ids = self.unit_ids(name)?;
        let mut text = String::new();
        for &id in &ids {
            text.push_str(&self.units[id].text);
            text.push('\n');
        }
        let returning = ids
            .iter()
            .flat_map(|&id| self.units[id].returning.iter().map(String::as_str));
        text.push_str(&returns::wrap_statements(returning));
        Some(text)
    }

    /// The file and line behind `line` of module `name`.
    pub fn locate(&self, name: &str, line: usize) -> Option<(&MacroFile, usize)> {
        let mut start = 1;
        for id in self.unit_ids(name)? {
            let unit = &self.units[id];
            let end = start + unit.newlines;
            if line <= end {
                let file = &self.files[unit.file];
                return Some((file, unit.first_line + line.saturating_sub(start)));
            }
            start = end + 1;
        }
        None
    }
}

/// The byte ranges of a macro file's top-level `{% macro %}...{% endmacro %}`
/// blocks, or `None` when anything but plain text and comments sits between
/// them (a `{% set %}` or `{% import %}` the macros may read), so the file
/// must be evaluated whole.
fn macro_blocks(text: &str) -> Option<Vec<Range<usize>>> {
    let mut blocks = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find('{') {
        let open = at + found;
        let rest = &text[open..];
        if rest.starts_with("{#") {
            at = open + rest.find("#}")? + 2;
            continue;
        }
        if rest.starts_with("{{") {
            if depth == 0 {
                return None;
            }
            at = open + rest.find("}}")? + 2;
            continue;
        }
        if !rest.starts_with("{%") {
            at = open + 1;
            continue;
        }
        let close = open + rest.find("%}")? + 2;
        let tag = text[open + 2..close - 2]
            .trim_start_matches('-')
            .split_whitespace()
            .next()
            .unwrap_or("");
        match tag {
            "macro" => {
                if depth == 0 {
                    start = open;
                }
                depth += 1;
            }
            "endmacro" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    blocks.push(start..close);
                }
            }
            "endraw" => {}
            "raw" => {
                let end = text[close..].find("endraw")?;
                at = close + end;
                continue;
            }
            _ if depth == 0 => return None,
            _ => {}
        }
        at = close;
    }
    (depth == 0).then_some(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(files: &[&str]) -> MacroModules {
        MacroModules::new(
            files
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    (
                        MacroFile {
                            path: PathBuf::from(format!("macros/m{i}.sql")),
                            text: (*text).to_string(),
                            package: None,
                            on_demand: false,
                        },
                        (*text).to_string(),
                    )
                })
                .collect(),
            "duckdb",
        )
    }

    #[test]
    fn blocks_are_cut_between_macros_only() {
        let text = "{# about #}\n{% macro a() %}x{% endmacro %}\n\n{%- macro b() -%}{{ a() }}{%- endmacro %}\n";
        let blocks = macro_blocks(text).expect("blocks");
        assert_eq!(blocks.len(), 2);
        assert!(text[blocks[1].clone()].starts_with("{%- macro b"));
        assert!(macro_blocks("{% set x = 1 %}{% macro a() %}{{ x }}{% endmacro %}").is_none());
        assert!(macro_blocks("{% macro a() %}").is_none());
    }

    #[test]
    fn a_module_holds_what_its_names_reach() {
        let m = modules(&[
            "{% macro a() %}{{ b() }}{% endmacro %}\n{% macro b() %}{{ adapter.dispatch('c')() }}{% endmacro %}\n{% macro default__c() %}c{% endmacro %}\n{% macro unused() %}u{% endmacro %}",
            "{% macro duckdb__c() %}dc{% endmacro %}",
        ]);
        assert_eq!(m.module_for(&["a"]), "__sb_macros__:0,1,2,4");
        assert_eq!(m.module_for(&["unused"]), "__sb_macros__:3");
        let source = m.source("__sb_macros__:3").expect("module");
        assert_eq!(source, "{% macro unused() %}u{% endmacro %}\n");
        let returning = modules(&["{% macro r() %}{{ return([1]) }}{% endmacro %}"]);
        assert_eq!(
            returning.source(MACROS_TEMPLATE).expect("module"),
            "{% macro r() %}{{ return(__sb_list([1])) }}{% endmacro %}\n{% set r = __sb_returning(r) %}"
        );
    }

    #[test]
    fn a_later_definition_wins_and_dynamic_lookups_take_all() {
        let m = modules(&[
            "{% macro a() %}1{% endmacro %}\n{% macro b() %}{{ context['a']() }}{% endmacro %}\n{% macro c() %}c{% endmacro %}",
            "{% macro a() %}2{% endmacro %}",
        ]);
        assert_eq!(m.module_for(&["a"]), "__sb_macros__:3");
        assert_eq!(m.module_for(&["b"]), MACROS_TEMPLATE);
    }

    #[test]
    fn a_package_sees_its_own_macros_first_then_the_root_projects() {
        let files = [
            (
                "{% macro helper() %}root{% endmacro %}\n{% macro only_root() %}r{% endmacro %}",
                None,
            ),
            (
                "{% macro helper() %}pkg{% endmacro %}\n{% macro entry() %}{{ helper() }}{{ only_root() }}{% endmacro %}",
                Some("p"),
            ),
        ];
        let m = MacroModules::new(
            files
                .iter()
                .enumerate()
                .map(|(i, (text, package))| {
                    let file = MacroFile {
                        path: PathBuf::from(format!("macros/m{i}.sql")),
                        text: (*text).to_string(),
                        package: package.map(str::to_string),
                        on_demand: false,
                    };
                    (file, (*text).to_string())
                })
                .collect(),
            "duckdb",
        );
        assert!(m.defines_in(Some("p"), "entry") && !m.defines("entry"));
        assert_eq!(m.module_in(Some("p"), &["entry"]), "__sb_macros__@p:1,2,3");
        assert_eq!(m.module_for(&["helper"]), "__sb_macros__:0");
        assert_eq!(
            MacroModules::namespace_of("__sb_macros__@p:1,2,3"),
            Some("p")
        );
        assert_eq!(MacroModules::namespace_of("__sb_macros__:0"), None);
        let whole = m.source("__sb_macros__@p").expect("package module");
        assert!(whole.find("root").expect("root") < whole.find("pkg").expect("pkg"));
        assert_eq!(
            m.source(MACROS_TEMPLATE)
                .expect("root module")
                .matches("macro helper")
                .count(),
            1
        );
    }

    #[test]
    fn lines_map_back_to_files() {
        let m = modules(&[
            "{% macro a() %}\n1\n{% endmacro %}\n\n{% macro b() %}\nbad\n{% endmacro %}",
        ]);
        let (file, line) = m.locate("__sb_macros__:1", 2).expect("located");
        assert_eq!(
            (file.path.to_str().expect("utf-8"), line),
            ("macros/m0.sql", 6)
        );
        let (_, line) = m.locate(MACROS_TEMPLATE, 5).expect("located");
        assert_eq!(line, 6);
    }
}
