//! Each scan against the regular expression it replaced (the oracle), on
//! hand-picked cases and on many generated texts.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

use super::*;

/// `\{%-?\s*(macro|test)\s+(name)`: macro and test names (jinja modules,
/// execute's overridden tests); the `test` part also rewrote test blocks.
const HEADER: &str = r"\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)";
/// The test-block rewrite of `jinja::rewrite_test_blocks`.
const TEST_BLOCK: &str = r"\{%(-?)(\s*)test(\s+)([A-Za-z_][A-Za-z0-9_]*)";
const END_TEST_BLOCK: &str = r"\{%(-?)(\s*)endtest(\s*)(-?)%\}";
/// `project::data_tests::test_signatures`.
const TEST_DEFINITION: &str = r"\{%-?\s*test\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)";
const DISPATCH: &str = r#"dispatch\s*\(\s*(?:macro_name\s*=\s*)?['"]([A-Za-z_][A-Za-z0-9_]*)['"]"#;
/// `project::data_tests::argument_call`, with `QUOTED` for the names.
const CALL_ARGUMENT: &str = r#"^\s*(ref|source)\s*\(\s*(['"][^'"]*['"]\s*,?\s*)+\)\s*$"#;
const QUOTED: &str = r#"['"]([^'"]*)['"]"#;
/// `execute::testing` `relation_named`.
const REF: &str = r#"^\s*ref\s*\(\s*['"]([^'"]+)['"]\s*\)\s*$"#;
const SOURCE: &str = r#"^\s*source\s*\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$"#;
/// `docs::dashboards` `resolve_sql`.
const EXPRESSION: &str = r#"\{\{\s*(ref|source)\(\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)")\s*)?\)\s*\}\}"#;

/// The oracle for `pattern`, compiled once.
fn re(pattern: &str) -> Regex {
    static COMPILED: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Mutex::default);
    let mut compiled = COMPILED.lock().expect("not poisoned");
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).expect("valid regex"))
        .clone()
}

/// `compile::locate_ref`'s pattern for `name`: the offset of the name.
fn located_by_regex(text: &str, name: &str) -> Option<usize> {
    let escaped = regex::escape(name);
    re(&format!(r#"(?:ref|source)\s*\([^)]*?['"]({escaped})['"]"#))
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.start())
}

fn rewritten_by_regex(text: &str) -> String {
    let text = re(TEST_BLOCK).replace_all(text, "{%${1}${2}macro${3}test_${4}");
    re(END_TEST_BLOCK)
        .replace_all(&text, "{%${1}${2}endmacro${3}${4}%}")
        .into_owned()
}

type Header = (String, String, Range<usize>, Range<usize>);

fn headers_by_regex(text: &str) -> Vec<Header> {
    re(HEADER)
        .captures_iter(text)
        .map(|c| {
            (
                c[1].to_string(),
                c[2].to_string(),
                c.get(0).expect("match").range(),
                c.get(2).expect("name").range(),
            )
        })
        .collect()
}

fn headers_by_scan(text: &str) -> Vec<Header> {
    block_headers(text)
        .map(|h| {
            let keyword = text[h.keyword.clone()].to_string();
            assert_eq!(
                keyword,
                if h.kind == BlockKind::Macro {
                    "macro"
                } else {
                    "test"
                }
            );
            (keyword, h.name.text.to_string(), h.span, h.name.span)
        })
        .collect()
}

fn definitions_by_regex(text: &str) -> Vec<(String, String)> {
    re(TEST_DEFINITION)
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

fn definitions_by_scan(text: &str) -> Vec<(String, String)> {
    test_definitions(text)
        .map(|h| {
            let params = h.params.expect("params");
            assert_eq!(&text[params.span.clone()], params.text);
            (h.name.text.to_string(), params.text.to_string())
        })
        .collect()
}

fn end_tags_by_regex(text: &str) -> Vec<Range<usize>> {
    re(END_TEST_BLOCK)
        .find_iter(text)
        .map(|m| m.range())
        .collect()
}

fn end_tags_by_scan(text: &str) -> Vec<Range<usize>> {
    end_test_tags(text)
        .map(|tag| {
            assert_eq!(&text[tag.keyword.clone()], "endtest");
            tag.span
        })
        .collect()
}

fn dispatch_by_regex(text: &str) -> Vec<(String, Range<usize>)> {
    re(DISPATCH)
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c.get(1).expect("name").range()))
        .collect()
}

fn dispatch_by_scan(text: &str) -> Vec<(String, Range<usize>)> {
    dispatch_names(text)
        .map(|name| (name.text.to_string(), name.span))
        .collect()
}

fn string_call_by_regex(text: &str) -> Option<(&'static str, Vec<String>)> {
    let function = re(CALL_ARGUMENT).captures(text)?.get(1)?.as_str();
    let function = if function == "ref" { "ref" } else { "source" };
    let names = re(QUOTED)
        .captures_iter(text)
        .map(|capture| capture[1].to_string())
        .collect();
    Some((function, names))
}

fn string_call_by_scan(text: &str) -> Option<(&'static str, Vec<String>)> {
    let call = string_call(text)?;
    Some((
        call.kind.as_str(),
        call.args.iter().map(ToString::to_string).collect(),
    ))
}

fn relation_by_regex(text: &str) -> Option<(String, Option<String>)> {
    if let Some(found) = re(REF).captures(text) {
        return Some((found[1].to_string(), None));
    }
    let found = re(SOURCE).captures(text)?;
    Some((found[1].to_string(), Some(found[2].to_string())))
}

fn relation_by_scan(text: &str) -> Option<(String, Option<String>)> {
    Some(match relation_call(text)? {
        RelationCall::Ref(model) => (model.to_string(), None),
        RelationCall::Source(source, table) => (source.to_string(), Some(table.to_string())),
    })
}

type Expression = (String, String, Option<String>, Range<usize>);

fn expressions_by_regex(text: &str) -> Vec<Expression> {
    re(EXPRESSION)
        .captures_iter(text)
        .map(|c| {
            (
                c[1].to_string(),
                c.get(2)
                    .or_else(|| c.get(3))
                    .map_or("", |m| m.as_str())
                    .to_string(),
                c.get(4)
                    .or_else(|| c.get(5))
                    .map(|m| m.as_str().to_string()),
                c.get(0).expect("match").range(),
            )
        })
        .collect()
}

fn expressions_by_scan(text: &str) -> Vec<Expression> {
    expression_calls(text)
        .map(|call| {
            assert_eq!(&text[call.first.span.clone()], call.first.text);
            (
                call.kind.as_str().to_string(),
                call.first.text.to_string(),
                call.second.map(|s| s.text.to_string()),
                call.span,
            )
        })
        .collect()
}

/// Every scan agrees with its oracle on `text`.
fn assert_same(text: &str) {
    assert_eq!(headers_by_scan(text), headers_by_regex(text), "{text:?}");
    assert_eq!(
        definitions_by_scan(text),
        definitions_by_regex(text),
        "{text:?}"
    );
    assert_eq!(end_tags_by_scan(text), end_tags_by_regex(text), "{text:?}");
    assert_eq!(dispatch_by_scan(text), dispatch_by_regex(text), "{text:?}");
    assert_eq!(
        crate::jinja::rewrite_test_blocks(text),
        rewritten_by_regex(text),
        "{text:?}"
    );
    assert_eq!(
        string_call_by_scan(text),
        string_call_by_regex(text),
        "{text:?}"
    );
    assert_eq!(relation_by_scan(text), relation_by_regex(text), "{text:?}");
    assert_eq!(
        expressions_by_scan(text),
        expressions_by_regex(text),
        "{text:?}"
    );
    for name in ["a", "b_1", "x", "", "a'", "é"] {
        assert_eq!(
            call_argument_offset(text, name),
            located_by_regex(text, name),
            "{text:?} {name:?}"
        );
    }
}

#[test]
fn block_headers_give_kind_name_and_params() {
    let text = "{% macro a(x, y=1) %}{%- test not_null(model, column_name) -%}\n{%test\tb%}";
    let headers: Vec<BlockHeader> = block_headers(text).collect();
    assert_eq!(headers.len(), 3);
    assert_eq!(headers[0].kind, BlockKind::Macro);
    assert_eq!(headers[0].name.text, "a");
    assert_eq!(headers[0].params.as_ref().map(|p| p.text), Some("x, y=1"));
    assert_eq!(headers[1].kind, BlockKind::Test);
    assert_eq!(headers[1].name.text, "not_null");
    assert_eq!(&text[headers[1].span.clone()], "{%- test not_null");
    assert_eq!(headers[2].name.text, "b");
    assert!(headers[2].params.is_none());
    let definitions: Vec<&str> = test_definitions(text).map(|h| h.name.text).collect();
    assert_eq!(definitions, ["not_null"]);
}

#[test]
fn a_header_inside_parameters_is_not_a_definition() {
    let text = "{% test a(x={% test b(y) %}) %}";
    let names: Vec<&str> = test_definitions(text).map(|h| h.name.text).collect();
    assert_eq!(names, ["a"]);
    assert_eq!(block_headers(text).count(), 2);
}

#[test]
fn end_tags_with_whitespace_control() {
    let text = "{% endtest %}{%-endtest-%}{%- endtest\n-%}{% endtest - %}";
    let tags: Vec<&str> = end_test_tags(text).map(|t| &text[t.span]).collect();
    assert_eq!(tags, ["{% endtest %}", "{%-endtest-%}", "{%- endtest\n-%}"]);
}

#[test]
fn dispatch_names_are_literal_only() {
    let text = "{{ adapter.dispatch('a')() }} {{ adapter.dispatch(macro_name = \"b\")() }} {{ adapter.dispatch(name)() }}";
    let names: Vec<&str> = dispatch_names(text).map(|n| n.text).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn call_arguments_are_found_in_either_quotes() {
    let text = "select * from {{ ref( \"orders\" ) }} join {{ source('raw', 'orders') }}";
    assert_eq!(call_argument_offset(text, "orders"), text.find("orders"));
    assert_eq!(call_argument_offset(text, "raw"), text.find("raw"));
    assert_eq!(call_argument_offset("ref() 'a'", "a"), None);
}

#[test]
fn whole_calls_and_strict_relations() {
    assert_eq!(
        string_call(" ref('a' \"b\",) "),
        Some(StringCall {
            kind: CallKind::Ref,
            args: vec!["a", "b"],
        })
    );
    assert_eq!(string_call("ref()"), None);
    assert_eq!(relation_call("ref('a')"), Some(RelationCall::Ref("a")));
    assert_eq!(relation_call("ref('a',)"), None);
    assert_eq!(
        relation_call("source( 's' , \"t\" )"),
        Some(RelationCall::Source("s", "t"))
    );
    assert_eq!(relation_call("source('s' 't')"), None);
}

#[test]
fn expression_calls_need_matching_quotes() {
    let text = "{{ ref('m') }} {{ source(\"s\", 't') }} {{ ref('a\") }} {{ ref ('m') }}";
    let calls: Vec<(CallKind, &str, Option<&str>)> = expression_calls(text)
        .map(|c| (c.kind, c.first.text, c.second.map(|s| s.text)))
        .collect();
    assert_eq!(
        calls,
        [
            (CallKind::Ref, "m", None),
            (CallKind::Source, "s", Some("t"))
        ]
    );
}

#[test]
fn scans_agree_with_their_patterns_on_chosen_texts() {
    for text in [
        "",
        "{% test a(x) %}{% endtest %}",
        "{%- test  a_1 ( model , column_name='x' ) -%}\nselect 1\n{%- endtest -%}",
        "{%{% test a(b) %}",
        "{%--test a()",
        "{% tests a() %}{% test_a() %}{% macro %}",
        "{% test a(x={% test b(y) %}) %}",
        "{{ adapter.dispatch('dispatch')() }}",
        "dispatch ( macro_name ='x' ) dispatch(macro_name)",
        "{{{ ref('x') }}",
        "{{ ref('{{ ref(\"b_1\") }}') }}",
        "{{ source('a', \"b_1\" ) }}{{ref('x','y')}}",
        "\u{a0}ref\u{2003}(\u{85}'a'\u{a0})\u{a0}",
        "source('a','b_1')",
        "ref(\"it's\", 'x') ref('a'",
        "pref('a') reference('x')",
        "{%\u{a0}test\u{3000}é(a) %}",
    ] {
        assert_same(text);
    }
}

/// A fixed-seed generator (xorshift) so the texts are the same on every run.
struct Texts(u64);

impl Texts {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound as u64).unwrap_or(0)
    }

    fn text(&mut self, pieces: &[&str], max_len: usize) -> String {
        let len = self.next(max_len + 1);
        (0..len).map(|_| pieces[self.next(pieces.len())]).collect()
    }

    /// A call of the shape the call scans look for, each piece kept, dropped
    /// or swapped for another at random.
    fn call_text(&mut self, pieces: &[&str]) -> String {
        const QUOTES: &[&str] = &["'", "\""];
        const SPACES: &[&str] = &["", " ", "\n", "\u{a0}"];
        const NAMES: &[&str] = &["a", "b_1", "", "x y"];
        let mut out = String::new();
        let expression = self.next(2) == 0;
        if expression {
            out.push_str("{{");
        }
        let skeleton: [&[&str]; 18] = [
            SPACES,
            &["ref", "source"],
            SPACES,
            &["("],
            SPACES,
            QUOTES,
            NAMES,
            QUOTES,
            SPACES,
            &[","],
            SPACES,
            QUOTES,
            NAMES,
            QUOTES,
            SPACES,
            &[",", ""],
            &[")"],
            SPACES,
        ];
        for choices in skeleton {
            match self.next(8) {
                0 => {}
                1 => out.push_str(pieces[self.next(pieces.len())]),
                _ => out.push_str(choices[self.next(choices.len())]),
            }
        }
        if expression && self.next(4) != 0 {
            out.push_str("}}");
        }
        out
    }
}

#[test]
fn scans_agree_with_their_patterns_on_generated_texts() {
    const TEMPLATE: &[&str] = &[
        "{%",
        "%}",
        "{{",
        "}}",
        "-",
        " ",
        "\n",
        "\u{a0}",
        "macro",
        "test",
        "endtest",
        "dispatch",
        "macro_name",
        "=",
        "ref",
        "source",
        "(",
        ")",
        "'",
        "\"",
        ",",
        "a",
        "b_1",
        "x",
        "é",
        "{",
        "}",
        "%",
        "9",
    ];
    const CALL: &[&str] = &[
        "ref", "source", "(", ")", "'", "\"", "a", "b_1", " ", ",", "{{", "}}", "x",
    ];
    let mut texts = Texts(0x9E37_79B9_7F4A_7C15);
    for _ in 0..10_000 {
        assert_same(&texts.text(TEMPLATE, 14));
    }
    let mut matched = [0usize; 3];
    for _ in 0..30_000 {
        let text = if texts.next(2) == 0 {
            texts.text(CALL, 11)
        } else {
            texts.call_text(CALL)
        };
        assert_same(&text);
        matched[0] += usize::from(string_call(&text).is_some());
        matched[1] += usize::from(relation_call(&text).is_some());
        matched[2] += expression_calls(&text).count();
    }
    // The generated texts reach the matching cases, not only the failures.
    assert!(matched.iter().all(|&n| n > 0), "{matched:?}");
}
