//! The list and dict literals of Jinja expressions, rewritten into calls
//! (`[1, 2]` -> `f([1, 2])`, `{'a': 1}` -> `g({'a': 1})`) so that a template
//! can make values that change in place. A `[` after a value (a name, a
//! closing bracket, a string, a number) is a subscript and stays as it is.
//! Lines never move: only text is inserted within a line.

/// What an open bracket of an expression was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    List,
    Subscript,
    Dict,
    Paren,
}

/// Words after which a `[` opens a list even though they are names.
const KEYWORDS: [&str; 16] = [
    "in", "and", "or", "not", "if", "else", "elif", "is", "do", "for", "set", "with", "import",
    "from", "as", "call",
];

/// `text` with every list literal wrapped in `list_fn(...)` and every dict
/// literal in `dict_fn(...)`, or `None` when it holds none (or a tag that
/// does not close, which the template parser will report on the original).
pub fn mutable_literals(text: &str, list_fn: &str, dict_fn: &str) -> Option<String> {
    mutable_literals_mapped(text, list_fn, dict_fn).map(|(out, _)| out)
}

/// [`mutable_literals`] with what it inserted: `(offset in the output,
/// length)` of each insertion, in order, to map positions back.
pub fn mutable_literals_mapped(
    text: &str,
    list_fn: &str,
    dict_fn: &str,
) -> Option<(String, Vec<(usize, usize)>)> {
    let bytes = text.as_bytes();
    let mut inserted: Vec<(usize, usize)> = Vec::new();
    let mut out = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    let mut at = 0;
    let mut changed = false;
    while let Some(found) = text[at..].find('{') {
        let open = at + found;
        match bytes.get(open + 1) {
            Some(b'#') => {
                at = open + 2 + text[open + 2..].find("#}")? + 2;
                continue;
            }
            Some(b'{' | b'%') => {}
            _ => {
                at = open + 1;
                continue;
            }
        }
        let statement = bytes[open + 1] == b'%';
        let mut i = open + 2;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if statement && text[i..].trim_start().starts_with("raw") {
            let end = text[i..].find("endraw")?;
            at = i + end;
            continue;
        }
        out.push_str(&text[copied..i]);
        let mut stack: Vec<Open> = Vec::new();
        // Whether the last token was a value (so `[` is a subscript).
        let mut after_value = false;
        loop {
            let &c = bytes.get(i)?;
            match c {
                b'\'' | b'"' => {
                    let start = i;
                    i += 1;
                    while *bytes.get(i)? != c {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                    out.push_str(&text[start..i]);
                    after_value = true;
                    continue;
                }
                b'}' if stack.is_empty() && !statement && bytes.get(i + 1) == Some(&b'}') => break,
                b'%' if stack.is_empty() && statement && bytes.get(i + 1) == Some(&b'}') => break,
                b'[' => {
                    if after_value {
                        stack.push(Open::Subscript);
                        out.push('[');
                    } else {
                        stack.push(Open::List);
                        inserted.push((out.len(), list_fn.len() + 1));
                        out.push_str(list_fn);
                        out.push_str("([");
                        changed = true;
                    }
                    after_value = false;
                }
                b'{' => {
                    stack.push(Open::Dict);
                    inserted.push((out.len(), dict_fn.len() + 1));
                    out.push_str(dict_fn);
                    out.push_str("({");
                    changed = true;
                    after_value = false;
                }
                b'(' => {
                    stack.push(Open::Paren);
                    out.push('(');
                    after_value = false;
                }
                b']' | b'}' | b')' => {
                    match (stack.pop()?, c) {
                        (Open::List, b']') => {
                            inserted.push((out.len() + 1, 1));
                            out.push_str("])");
                        }
                        (Open::Dict, b'}') => {
                            inserted.push((out.len() + 1, 1));
                            out.push_str("})");
                        }
                        (Open::Subscript, b']') | (Open::Paren, b')') => out.push(c as char),
                        _ => return None,
                    }
                    after_value = true;
                }
                c if c.is_ascii_alphanumeric() || c == b'_' => {
                    let start = i;
                    while bytes
                        .get(i)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    {
                        i += 1;
                    }
                    let word = &text[start..i];
                    out.push_str(word);
                    after_value = !KEYWORDS.contains(&word);
                    continue;
                }
                c if c.is_ascii_whitespace() => out.push(c as char),
                _ => {
                    let len = text[i..].chars().next().map_or(1, char::len_utf8);
                    out.push_str(&text[i..i + len]);
                    after_value = false;
                    i += len;
                    continue;
                }
            }
            i += 1;
        }
        copied = i;
        at = i;
    }
    out.push_str(&text[copied..]);
    changed.then_some((out, inserted))
}

/// The offset in the original text of `offset` in a rewritten one.
pub fn original_offset(offset: usize, inserted: &[(usize, usize)]) -> usize {
    let mut shift = 0;
    for &(at, len) in inserted {
        if at >= offset {
            break;
        }
        shift += len.min(offset - at);
    }
    offset - shift
}

#[cfg(test)]
mod tests {
    use super::mutable_literals;

    fn rewrite(text: &str) -> String {
        mutable_literals(text, "L", "D").unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn literals_are_wrapped_and_subscripts_kept() {
        assert_eq!(
            rewrite("{% set xs = [1, x[0], {'a': [2]}] %}{{ y['k'] }}"),
            "{% set xs = L([1, x[0], D({'a': L([2])})]) %}{{ y['k'] }}"
        );
        assert_eq!(
            rewrite("{%- for c in ['a'] -%}{{ f(c)[0] }}{{ 'ab'[1] }}{% endfor %}"),
            "{%- for c in L(['a']) -%}{{ f(c)[0] }}{{ 'ab'[1] }}{% endfor %}"
        );
        assert_eq!(rewrite("{{ {} }}"), "{{ D({}) }}");
        assert_eq!(
            rewrite("{% macro m(x=[]) %}[not code]{% endmacro %}"),
            "{% macro m(x=L([])) %}[not code]{% endmacro %}"
        );
    }

    #[test]
    fn offsets_map_back_to_the_original() {
        let text = "{% set xs = [1] %}{{ oops }}";
        let (out, inserted) = super::mutable_literals_mapped(text, "L", "D").expect("rewritten");
        let at = out.find("oops").expect("in output");
        assert_eq!(
            super::original_offset(at, &inserted),
            text.find("oops").expect("in text")
        );
        assert_eq!(super::original_offset(3, &inserted), 3);
    }

    #[test]
    fn comments_strings_and_raw_blocks_are_left_alone() {
        for text in [
            "{# [1] {x} #}{{ '[1]' ~ \"{2}\" }}",
            "{% raw %}{{ [1] }}{% endraw %}",
            "plain [text] {with braces}",
            "{{ [1, 2 }}",
        ] {
            assert_eq!(mutable_literals(text, "L", "D"), None, "{text}");
        }
    }
}
