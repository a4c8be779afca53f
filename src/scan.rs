//! Every lexical scan sb makes of Jinja source without parsing it: the
//! headers of `{% macro %}` and `{% test %}` blocks (names, parameter text,
//! byte spans), `{% endtest %}` tags, the literal names handed to
//! `adapter.dispatch`, and `ref(...)`/`source(...)` calls with their string
//! arguments. Each scan matches exactly what the regular expression it
//! replaced matched (the tests keep those expressions as oracles), so the
//! positions sb reports do not move. Whitespace is Unicode whitespace, names
//! are ASCII identifiers, and a search resumes after each match, as a regex
//! search does. This module depends on nothing else in sb: the project,
//! compile, execute and docs stages all call it.

use std::ops::Range;

mod literals;
pub use literals::{mutable_literals, mutable_literals_mapped, original_offset};

/// A piece of the scanned text and where it sits (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<'a> {
    pub text: &'a str,
    pub span: Range<usize>,
}

impl<'a> Spanned<'a> {
    fn new(text: &'a str, span: Range<usize>) -> Self {
        Self {
            text: &text[span.clone()],
            span,
        }
    }
}

/// The kind of block a header opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Macro,
    Test,
}

/// `{% macro name` or `{% test name` (`{%-` too), with the parameter text
/// when parentheses follow the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader<'a> {
    pub kind: BlockKind,
    /// From `{%` to the end of the name.
    pub span: Range<usize>,
    /// The `macro` or `test` keyword.
    pub keyword: Range<usize>,
    pub name: Spanned<'a>,
    /// What stands between the `(` right after the name (whitespace
    /// allowed) and the first `)`: no nesting, as sb's parameter lists are
    /// read by splitting this text.
    pub params: Option<Spanned<'a>>,
}

/// `{% endtest %}` (either side may trim whitespace: `{%-`, `-%}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTag {
    /// The whole tag, `{%` through `%}`.
    pub span: Range<usize>,
    /// The `endtest` keyword.
    pub keyword: Range<usize>,
}

/// Which relation function a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Ref,
    Source,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ref => "ref",
            Self::Source => "source",
        }
    }
}

/// A text that is one `ref(...)`/`source(...)` call with only string
/// arguments (a test argument such as `to: ref('customers')`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringCall<'a> {
    pub kind: CallKind,
    /// The strings' contents, in order.
    pub args: Vec<&'a str>,
}

/// A strict `ref('model')` or `source('source', 'table')`: non-empty names,
/// single commas between them, none trailing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationCall<'a> {
    Ref(&'a str),
    Source(&'a str, &'a str),
}

/// `{{ ref('m') }}`, `{{ ref('package', 'm') }}` or `{{ source('s', 't') }}`
/// as a whole expression (no space between the name and `(`, matching quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionCall<'a> {
    pub kind: CallKind,
    /// From `{{` through `}}`.
    pub span: Range<usize>,
    pub first: Spanned<'a>,
    pub second: Option<Spanned<'a>>,
}

/// Every `{% macro name` and `{% test name` header, in order.
pub fn block_headers(text: &str) -> impl Iterator<Item = BlockHeader<'_>> {
    matches_from(text, "{%", move |start| {
        let header = block_header_at(text, start)?;
        let end = header.span.end;
        Some((header, end))
    })
}

/// A `{% macro %}` or `{% test %}` header with its whole parameter list
/// (past any `)` inside a default value) and its body: the text up to the
/// next header, where the block reads its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSignature<'a> {
    pub header: BlockHeader<'a>,
    pub params: Spanned<'a>,
    pub body: &'a str,
}

impl BlockSignature<'_> {
    /// Whether the body uses the variable `name` (`kwargs`, `varargs`).
    pub fn body_reads(&self, name: &str) -> bool {
        identifiers(self.body).any(|word| word == name)
    }
}

/// Every header with a parameter list, with its signature, in order.
pub fn block_signatures(text: &str) -> Vec<BlockSignature<'_>> {
    let headers: Vec<BlockHeader<'_>> = block_headers(text).collect();
    let mut out = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        let Some(params) = &header.params else {
            continue;
        };
        let close = closing_paren(text, params.span.start - 1).unwrap_or(params.span.end);
        let body_end = headers.get(index + 1).map_or(text.len(), |h| h.span.start);
        out.push(BlockSignature {
            header: header.clone(),
            params: Spanned::new(text, params.span.start..close),
            body: text.get(close..body_end).unwrap_or(""),
        });
    }
    out
}

/// Every `{% test name(params)` header whose parameter list is closed, in
/// order; a search resumes after the `)`, so a header written inside another's
/// parameters is not one.
pub fn test_definitions(text: &str) -> impl Iterator<Item = BlockHeader<'_>> {
    matches_from(text, "{%", move |start| {
        let header = block_header_at(text, start)?;
        let end = header.params.as_ref()?.span.end + 1;
        (header.kind == BlockKind::Test).then_some((header, end))
    })
}

/// A `{% keyword name %}` tag (`{%-`/`-%}` too), as `{% docs %}` and
/// `{% snapshot %}` blocks open and `{% enddocs %}` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedTag<'a> {
    /// Where `{%` is.
    pub start: usize,
    /// The word after the keyword, if any.
    pub name: Option<&'a str>,
    /// Just after `%}`.
    pub end: usize,
}

/// The first `{% keyword ... %}` tag at or after `from`.
pub fn next_named_tag<'a>(text: &'a str, from: usize, keyword: &str) -> Option<NamedTag<'a>> {
    let mut at = from;
    while let Some(found) = text.get(at..)?.find("{%") {
        let start = at + found;
        let end = start + text[start..].find("%}")? + 2;
        let inner = text[start + 2..end - 2].trim_matches('-');
        let mut words = inner.split_whitespace();
        if words.next() == Some(keyword) {
            return Some(NamedTag {
                start,
                name: words.next(),
                end,
            });
        }
        at = start + 2;
    }
    None
}

/// The offset of the `)` that closes the `(` at `open`, with brackets
/// nested and quoted strings skipped (a parameter list with defaults such
/// as `values=__sb_list([])`).
fn closing_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (offset, c) in text.get(open..)?.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (c == ')').then_some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every `{% endtest %}` tag, in order.
pub fn end_test_tags(text: &str) -> impl Iterator<Item = EndTag> + '_ {
    matches_from(text, "{%", move |start| {
        let mut at = skip_dash(text, start + 2);
        at = skip_whitespace(text, at);
        if !text[at..].starts_with("endtest") {
            return None;
        }
        let keyword = at..at + "endtest".len();
        at = skip_dash(text, skip_whitespace(text, keyword.end));
        if !text[at..].starts_with("%}") {
            return None;
        }
        let span = start..at + 2;
        let end = span.end;
        Some((EndTag { span, keyword }, end))
    })
}

/// The literal macro names of `dispatch('name')` and
/// `dispatch(macro_name='name')` calls, in order. A `dispatch` this does
/// not return takes its name from an expression.
pub fn dispatch_names(text: &str) -> impl Iterator<Item = Spanned<'_>> {
    matches_from(text, "dispatch", move |start| {
        let mut at = skip_whitespace(text, start + "dispatch".len());
        if !text[at..].starts_with('(') {
            return None;
        }
        at = skip_whitespace(text, at + 1);
        if text[at..].starts_with("macro_name") {
            let equals = skip_whitespace(text, at + "macro_name".len());
            if text[equals..].starts_with('=') {
                at = skip_whitespace(text, equals + 1);
            }
        }
        if !is_quote(text.as_bytes().get(at)) {
            return None;
        }
        let name_end = identifier_end(text, at + 1)?;
        if !is_quote(text.as_bytes().get(name_end)) {
            return None;
        }
        Some((Spanned::new(text, at + 1..name_end), name_end + 1))
    })
}

/// The byte offset of `name` quoted inside the parentheses of the first
/// `ref(`/`source(` call that holds it before any `)` (the name of a word
/// that merely ends in `ref` counts too).
pub fn call_argument_offset(text: &str, name: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| {
        let rest = &bytes[start..];
        let after = if rest.starts_with(b"ref") {
            start + "ref".len()
        } else if rest.starts_with(b"source") {
            start + "source".len()
        } else {
            return None;
        };
        let open = skip_whitespace(text, after);
        if bytes.get(open) != Some(&b'(') {
            return None;
        }
        for at in open + 1..bytes.len() {
            match bytes[at] {
                b')' => return None,
                b'\'' | b'"'
                    if text[at + 1..].starts_with(name)
                        && is_quote(bytes.get(at + 1 + name.len())) =>
                {
                    return Some(at + 1);
                }
                _ => {}
            }
        }
        None
    })
}

/// `text` as one `ref(...)`/`source(...)` call whose arguments are all
/// strings (surrounding whitespace allowed), else `None`.
pub fn string_call(text: &str) -> Option<StringCall<'_>> {
    let (kind, args) = string_call_arguments(text)?;
    Some(StringCall {
        kind,
        args: args.into_iter().map(|(arg, _)| arg.text).collect(),
    })
}

/// `text` as a strict `ref('model')` or `source('source', 'table')`.
pub fn relation_call(text: &str) -> Option<RelationCall<'_>> {
    let (kind, args) = string_call_arguments(text)?;
    match (kind, args.as_slice()) {
        (CallKind::Ref, [(model, false)]) if !model.text.is_empty() => {
            Some(RelationCall::Ref(model.text))
        }
        (CallKind::Source, [(source, true), (table, false)])
            if !source.text.is_empty() && !table.text.is_empty() =>
        {
            Some(RelationCall::Source(source.text, table.text))
        }
        _ => None,
    }
}

/// Every `{{ ref(...) }}`/`{{ source(...) }}` expression with one or two
/// string arguments, in order.
pub fn expression_calls(text: &str) -> impl Iterator<Item = ExpressionCall<'_>> {
    matches_from(text, "{{", move |start| {
        let mut at = skip_whitespace(text, start + 2);
        let (kind, after) = call_name_at(text, at)?;
        if !text[after..].starts_with('(') {
            return None;
        }
        let first = matched_quotes_at(text, skip_whitespace(text, after + 1))?;
        at = skip_whitespace(text, first.span.end + 1);
        let mut second = None;
        if text[at..].starts_with(',') {
            let found = matched_quotes_at(text, skip_whitespace(text, at + 1))?;
            at = skip_whitespace(text, found.span.end + 1);
            second = Some(found);
        }
        if !text[at..].starts_with(')') {
            return None;
        }
        at = skip_whitespace(text, at + 1);
        if !text[at..].starts_with("}}") {
            return None;
        }
        let span = start..at + 2;
        let end = span.end;
        Some((
            ExpressionCall {
                kind,
                span,
                first,
                second,
            },
            end,
        ))
    })
}

/// The identifier-like words of `text`, in order.
pub fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
}

/// Tries `matcher` at each offset where `needle` starts, left to right; a
/// match gives an item and the offset to resume from, as a regex search
/// resumes after its match. `needle` starts with an ASCII byte, so the
/// offset after a failed start is still a character boundary.
fn matches_from<'a, T>(
    text: &'a str,
    needle: &'static str,
    matcher: impl Fn(usize) -> Option<(T, usize)> + 'a,
) -> impl Iterator<Item = T> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(found) = text.get(from..)?.find(needle) {
            let start = from + found;
            if let Some((item, end)) = matcher(start) {
                from = end;
                return Some(item);
            }
            from = start + 1;
        }
        None
    })
}

/// The header at `start` (a `{%`): `{%-? \s* (macro|test) \s+ name`.
fn block_header_at(text: &str, start: usize) -> Option<BlockHeader<'_>> {
    let at = skip_whitespace(text, skip_dash(text, start + 2));
    let (kind, keyword) = if text[at..].starts_with("macro") {
        (BlockKind::Macro, at..at + "macro".len())
    } else if text[at..].starts_with("test") {
        (BlockKind::Test, at..at + "test".len())
    } else {
        return None;
    };
    let name_start = skip_whitespace(text, keyword.end);
    if name_start == keyword.end {
        return None;
    }
    let name_end = identifier_end(text, name_start)?;
    let open = skip_whitespace(text, name_end);
    let params = text[open..]
        .starts_with('(')
        .then_some(open + 1)
        .and_then(|inner| {
            let close = inner + text[inner..].find(')')?;
            Some(Spanned::new(text, inner..close))
        });
    Some(BlockHeader {
        kind,
        span: start..name_end,
        keyword,
        name: Spanned::new(text, name_start..name_end),
        params,
    })
}

/// `\s* (ref|source) \s* ( \s* ('…' \s* ,? \s*)+ ) \s*` over all of `text`,
/// where each string holds no quote of either kind: the strings, each with
/// whether a comma follows it.
fn string_call_arguments(text: &str) -> Option<(CallKind, Vec<(Spanned<'_>, bool)>)> {
    let (kind, after) = call_name_at(text, skip_whitespace(text, 0))?;
    let mut at = skip_whitespace(text, after);
    if !text[at..].starts_with('(') {
        return None;
    }
    at = skip_whitespace(text, at + 1);
    let mut args = Vec::new();
    while is_quote(text.as_bytes().get(at)) {
        let inner = at + 1;
        let close = inner + text[inner..].find(['\'', '"'])?;
        at = skip_whitespace(text, close + 1);
        let comma = text[at..].starts_with(',');
        if comma {
            at = skip_whitespace(text, at + 1);
        }
        args.push((Spanned::new(text, inner..close), comma));
    }
    if args.is_empty() || !text[at..].starts_with(')') {
        return None;
    }
    (skip_whitespace(text, at + 1) == text.len()).then_some((kind, args))
}

/// `ref` or `source` at `at`, and the offset after it.
fn call_name_at(text: &str, at: usize) -> Option<(CallKind, usize)> {
    if text[at..].starts_with("ref") {
        Some((CallKind::Ref, at + "ref".len()))
    } else if text[at..].starts_with("source") {
        Some((CallKind::Source, at + "source".len()))
    } else {
        None
    }
}

/// A string at `at` closed by the quote that opened it: its contents.
fn matched_quotes_at(text: &str, at: usize) -> Option<Spanned<'_>> {
    let quote = match text.as_bytes().get(at) {
        Some(b'\'') => '\'',
        Some(b'"') => '"',
        _ => return None,
    };
    let inner = at + 1;
    let close = inner + text[inner..].find(quote)?;
    Some(Spanned::new(text, inner..close))
}

fn skip_whitespace(text: &str, at: usize) -> usize {
    text[at..]
        .find(|c: char| !c.is_whitespace())
        .map_or(text.len(), |n| at + n)
}

fn skip_dash(text: &str, at: usize) -> usize {
    if text[at..].starts_with('-') {
        at + 1
    } else {
        at
    }
}

/// The end of the ASCII identifier starting at `at`, if one does.
fn identifier_end(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if !bytes
        .get(at)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return None;
    }
    let mut end = at + 1;
    while bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        end += 1;
    }
    Some(end)
}

fn is_quote(byte: Option<&u8>) -> bool {
    matches!(byte, Some(b'\'' | b'"'))
}

#[cfg(test)]
mod tests;
