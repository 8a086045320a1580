//! A fast path for reading manifests: a strict subset of block YAML (what manifests are written
//! in) parsed into [`Node`], a tree that borrows its strings from the text and keeps mappings as
//! vectors. It gives up (`None`) on anything outside the subset or anything it is unsure of:
//! anchors, aliases, tags, directives, folded or `|+` blocks, multi-line plain or quoted
//! scalars, escapes, nested flow collections, tabs, non-string keys, duplicate keys, odd
//! indentation. The caller then parses the whole file with serde_yaml_ng, so malformed input
//! always gets the library's error (file, line, column) and what this accepts reads exactly as
//! the library reads it (the tests compare the two on generated, mutated and real documents).
//!
//! Why: building `serde_yaml_ng::Value`s through libyaml's event stream was half of a render
//! in the sandbox, more than rendering is worth next to a plain tar of the same files.

use std::borrow::Cow;

use serde_yaml_ng::{Mapping, Number, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
    Seq(Vec<Node<'a>>),
}

impl<'a> Node<'a> {
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The same value as the library's.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Number(Number::from(*i)),
            Node::UInt(u) => Value::Number(Number::from(*u)),
            Node::Float(f) => Value::Number(Number::from(*f)),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Map(entries) => Value::Mapping(
                entries
                    .iter()
                    .map(|(k, v)| (Value::String(k.to_string()), v.to_value()))
                    .collect::<Mapping>(),
            ),
            Node::Seq(items) => Value::Sequence(items.iter().map(Node::to_value).collect()),
        }
    }

    /// A library value as a node; `None` for tags and non-string keys.
    pub fn from_value(value: &'a Value) -> Option<Node<'a>> {
        Some(match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Node::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Node::Int(i)
                } else {
                    Node::Float(n.as_f64()?)
                }
            }
            Value::String(s) => Node::Str(Cow::Borrowed(s)),
            Value::Sequence(items) => {
                Node::Seq(items.iter().map(Node::from_value).collect::<Option<_>>()?)
            }
            Value::Mapping(m) => Node::Map(
                m.iter()
                    .map(|(k, v)| Some((Cow::Borrowed(k.as_str()?), Node::from_value(v)?)))
                    .collect::<Option<_>>()?,
            ),
            Value::Tagged(_) => return None,
        })
    }
}

/// The documents of a YAML stream, empty ones left out (the library reads them as nulls, which
/// rendering skips); `None` if any of it is outside the subset.
pub fn parse_stream(text: &str) -> Option<Vec<Node<'_>>> {
    let mut docs = vec![];
    let mut lines = vec![];
    for raw in text.split('\n') {
        if raw.starts_with('%') || raw.starts_with("...") {
            return None;
        }
        if let Some(rest) = raw.strip_prefix("---") {
            if !rest.trim_end_matches(' ').is_empty() {
                return None;
            }
            docs.push(std::mem::take(&mut lines));
            continue;
        }
        lines.push(Line::new(raw)?);
    }
    docs.push(lines);
    let last = docs.len() - 1;
    let mut out = vec![];
    for (i, lines) in docs.into_iter().enumerate() {
        let mut p = Parser {
            lines,
            at: 0,
            unterminated: i == last && !text.ends_with('\n'),
        };
        p.skip_blank();
        if p.at == p.lines.len() {
            continue;
        }
        let first = &p.lines[p.at];
        if first.indent != 0 {
            return None;
        }
        let node = p.block(0)?;
        p.skip_blank();
        if p.at != p.lines.len() || !matches!(node, Node::Map(_) | Node::Seq(_)) {
            return None;
        }
        out.push(node);
    }
    Some(out)
}

#[derive(Clone, Debug)]
struct Line<'a> {
    indent: usize,
    /// The line after its indentation.
    text: &'a str,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Option<Line<'a>> {
        let text = raw.trim_start_matches(' ');
        // Tabs and other control characters: the library's rules there are subtle; leave
        // them to it.
        if raw.bytes().any(|b| b < 0x20) {
            return None;
        }
        Some(Line {
            indent: raw.len() - text.len(),
            text,
        })
    }

    /// Empty, spaces only, or a comment.
    fn blank(&self) -> bool {
        self.text.is_empty() || self.text.starts_with('#')
    }
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
    /// The last line has no line break (the end of a file without one), which a literal block
    /// reaching it would not end with.
    unterminated: bool,
}

/// `text` (which follows a space or starts a line) up to a comment, trailing spaces removed.
fn uncomment(text: &str) -> &str {
    if text.starts_with('#') {
        return "";
    }
    let end = text.find(" #").unwrap_or(text.len());
    text[..end].trim_end_matches(' ')
}

/// `key: rest` or `key:` -> (key, rest); `None` if the line is not a plain-keyed entry.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let body = uncomment(text);
    let colon = match body.find(": ") {
        Some(i) => i,
        None => body.strip_suffix(':').map(str::len)?,
    };
    let key = &body[..colon];
    let rest = body[colon + 1..].trim_start_matches(' ');
    Some((key, rest))
}

/// Whether a plain scalar may start with this text (no indicator, no quote, no flow).
fn plain_start(s: &str) -> bool {
    match s.as_bytes().first() {
        None => false,
        Some(
            b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' | b'?' | b':',
        ) => false,
        Some(b'-') => !(s.len() == 1 || s.as_bytes()[1] == b' '),
        Some(_) => true,
    }
}

/// A plain scalar as the library resolves it (`visit_untagged_scalar`).
fn resolve(s: &str) -> Option<Node<'_>> {
    use crate::emit::{digits_but_not_number, parse_f64_value};
    Some(match s {
        "" | "~" | "null" | "Null" | "NULL" => Node::Null,
        "true" | "True" | "TRUE" => Node::Bool(true),
        "false" | "False" | "FALSE" => Node::Bool(false),
        _ if s.as_bytes()[0].is_ascii_alphabetic() => Node::Str(Cow::Borrowed(s)),
        _ => {
            if let Some(u) = crate::emit::unsigned_int(s) {
                // Beyond u64 the library reads a u128, which its Value refuses.
                Node::UInt(u64::try_from(u).ok()?)
            } else if let Some(i) = crate::emit::negative_int(s) {
                Node::Int(i64::try_from(i).ok()?)
            } else if !digits_but_not_number(s)
                && let Some(f) = parse_f64_value(s)
            {
                // `.inf` and friends read as floats the emitter does not write; give up.
                if !f.is_finite() {
                    return None;
                }
                Node::Float(f)
            } else {
                Node::Str(Cow::Borrowed(s))
            }
        }
    })
}

/// A one-line scalar value (plain, quoted, or a one-level flow collection); `None` outside
/// the subset.
fn scalar(text: &str) -> Option<Node<'_>> {
    let bytes = text.as_bytes();
    match bytes.first()? {
        b'\'' => {
            // '' is a quote; the closing quote ends the scalar, a comment may follow.
            let mut out = String::new();
            let mut i = 1;
            loop {
                let j = i + text[i..].find('\'')?;
                out.push_str(&text[i..j]);
                if bytes.get(j + 1) == Some(&b'\'') {
                    out.push('\'');
                    i = j + 2;
                } else {
                    if !uncomment(&text[j + 1..]).is_empty() {
                        return None;
                    }
                    return Some(Node::Str(Cow::Owned(out)));
                }
            }
        }
        b'"' => {
            let j = 1 + text[1..].find('"')?;
            let inner = &text[1..j];
            if inner.contains('\\') || !uncomment(&text[j + 1..]).is_empty() {
                return None;
            }
            Some(Node::Str(Cow::Borrowed(inner)))
        }
        b'[' => {
            let body = uncomment(text).strip_suffix(']')?[1..].trim_matches(' ');
            if body.is_empty() {
                return Some(Node::Seq(vec![]));
            }
            body.split(',')
                .map(|item| flow_item(item.trim_matches(' ')))
                .collect::<Option<Vec<_>>>()
                .map(Node::Seq)
        }
        b'{' => {
            let body = uncomment(text).strip_suffix('}')?[1..].trim_matches(' ');
            if body.is_empty() {
                return Some(Node::Map(vec![]));
            }
            let mut entries: Vec<(Cow<str>, Node)> = vec![];
            for item in body.split(',') {
                let (k, v) = item.trim_matches(' ').split_once(": ")?;
                let v = v.trim_matches(' ');
                if !key_ok(k) || entries.iter().any(|(e, _)| e == k) {
                    return None;
                }
                entries.push((Cow::Borrowed(k), flow_item(v)?));
            }
            Some(Node::Map(entries))
        }
        _ => {
            let body = uncomment(text);
            if !plain_start(body) || body.contains(": ") || body.ends_with(':') {
                return None;
            }
            resolve(body)
        }
    }
}

/// An item of a one-line flow collection: a plain scalar or a simple quoted one.
fn flow_item(s: &str) -> Option<Node<'_>> {
    if s.is_empty() || s.contains(['[', ']', '{', '}', '#']) || s.contains(": ") {
        return None;
    }
    match s.as_bytes()[0] {
        b'\'' | b'"' => {
            let q = s.as_bytes()[0] as char;
            let inner = s.strip_prefix(q)?.strip_suffix(q)?;
            if inner.contains(q) || inner.contains('\\') {
                return None;
            }
            Some(Node::Str(Cow::Borrowed(inner)))
        }
        _ if plain_start(s) && !s.ends_with(':') => resolve(s),
        _ => None,
    }
}

/// A plain mapping key that reads back as a string.
fn key_ok(k: &str) -> bool {
    plain_start(k)
        && !k.ends_with(' ')
        && !k.contains(" #")
        && matches!(resolve(k), Some(Node::Str(_)))
}

impl<'a> Parser<'a> {
    fn skip_blank(&mut self) {
        while self.lines.get(self.at).is_some_and(Line::blank) {
            self.at += 1;
        }
    }

    /// The next non-blank line, if any.
    fn peek(&mut self) -> Option<Line<'a>> {
        self.skip_blank();
        self.lines.get(self.at).cloned()
    }

    /// A block node starting at the current line, whose indentation is `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if line.text == "-" || line.text.starts_with("- ") {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = vec![];
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let rest = if line.text == "-" {
                ""
            } else if let Some(rest) = line.text.strip_prefix("- ") {
                rest
            } else {
                // A key at this indentation ends an indentless sequence.
                break;
            };
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            let rest = rest.trim_start_matches(' ');
            if uncomment(rest).is_empty() {
                self.at += 1;
                items.push(self.nested(indent)?);
            } else if rest == "-" || rest.starts_with("- ") {
                return None;
            } else if split_key(rest).is_some() && !rest.starts_with(['\'', '"', '[', '{']) {
                // `- key: value`: a mapping whose keys line up after the dash.
                self.lines[self.at] = Line {
                    indent: indent + 2 + spaces,
                    text: rest,
                };
                items.push(self.mapping(indent + 2 + spaces)?);
            } else {
                self.at += 1;
                items.push(scalar(rest)?);
                self.no_deeper(indent)?;
            }
        }
        Some(Node::Seq(items))
    }

    fn mapping(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut entries: Vec<(Cow<'a, str>, Node<'a>)> = vec![];
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || line.text.starts_with("- ") || line.text == "-" {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            if !key_ok(key) || entries.iter().any(|(k, _)| k == key) {
                return None;
            }
            self.at += 1;
            let value = if rest.is_empty() {
                match self.peek() {
                    Some(next) if next.indent > indent => self.block(next.indent)?,
                    Some(next)
                        if next.indent == indent
                            && (next.text == "-" || next.text.starts_with("- ")) =>
                    {
                        self.sequence(indent)?
                    }
                    _ => Node::Null,
                }
            } else if rest.starts_with('|') || rest.starts_with('>') {
                self.literal(indent, rest)?
            } else {
                let v = scalar(rest)?;
                self.no_deeper(indent)?;
                v
            };
            entries.push((Cow::Borrowed(key), value));
        }
        Some(Node::Map(entries))
    }

    /// After a one-line value: a deeper line would continue it (or be an error).
    fn no_deeper(&mut self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    /// The value of an item or key with nothing after it on its line.
    fn nested(&mut self, indent: usize) -> Option<Node<'a>> {
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next.indent),
            _ => Some(Node::Null),
        }
    }

    /// `|` or `|-` under a key at `indent`; the lines are the raw ones after the header.
    fn literal(&mut self, indent: usize, header: &str) -> Option<Node<'a>> {
        let strip = match uncomment(header) {
            "|" => false,
            "|-" => true,
            _ => return None,
        };
        // The first line sets the content's indentation; it must not be blank.
        let first = self.lines.get(self.at)?;
        if first.text.is_empty() || first.indent <= indent {
            return None;
        }
        let content = first.indent;
        let mut body: Vec<Cow<str>> = vec![];
        while let Some(line) = self.lines.get(self.at) {
            if line.text.is_empty() {
                // Spaces past the indentation would be content; the library's rules on
                // them are subtle.
                if line.indent > 0 {
                    return None;
                }
                body.push(Cow::Borrowed(""));
            } else if line.indent == content {
                body.push(Cow::Borrowed(line.text));
            } else if line.indent > content {
                // More indented: the extra spaces are content.
                body.push(Cow::Owned(format!(
                    "{}{}",
                    " ".repeat(line.indent - content),
                    line.text
                )));
            } else {
                break;
            }
            self.at += 1;
        }
        if self.unterminated
            && self.at == self.lines.len()
            && body.last().is_some_and(|l| !l.is_empty())
        {
            return None;
        }
        // Trailing blank lines are not content; blank lines stay as read for whoever is next.
        while body.last().is_some_and(|l| l.is_empty()) {
            body.pop();
            self.at -= 1;
        }
        let mut s = body.join("\n");
        if !strip {
            s.push('\n');
        }
        Some(Node::Str(Cow::Owned(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document of `text` the fast path reads must read the same with the library.
    fn agrees(text: &str) -> bool {
        let Some(fast) = parse_stream(text) else {
            return false;
        };
        let lib: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
            .map(<Value as serde::Deserialize>::deserialize)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| {
                panic!("fast path accepted what the library refuses ({e}):\n{text}")
            })
            .into_iter()
            .filter(|v| !v.is_null())
            .collect();
        let fast: Vec<Value> = fast.iter().map(Node::to_value).collect();
        assert_eq!(fast, lib, "for:\n{text}");
        true
    }

    const MANIFEST: &str = r#"# leading comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop   # trailing comment
  namespace: "shop-prod"
  labels:
    app.kubernetes.io/name: shop
    tier: 'back''end'
  annotations: {a: b, c: 'd e'}
spec:
  replicas: 3
  paused: false
  minReadySeconds: 0x1F
  progressDeadlineSeconds: -5
  ratio: 0.5
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
        - name: app
          image: quay.io/team/shop:dev
          args: ["--port", 8080, true, null]
          ports:
          - containerPort: 8080
            protocol: TCP
          env:
            -   name: A
                value: "x: y"
            - name: EMPTY
              value:
            - name: B
              value: 007
          resources:
            requests: {cpu: 50m, memory: 64Mi}
      volumes: []
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  app.yaml: |
    server:
      port: 8080

    x: y
  script: |-
    #!/bin/sh
    echo hi
  cron: "*/30 * * * *"
---

---
apiVersion: v1
kind: List
items:
- a
- - nested
"#;

    #[test]
    fn reads_manifests_as_the_library_does() {
        // The nested sequence makes the last document fall outside the subset; the rest is in.
        assert!(!agrees(MANIFEST));
        let cut = &MANIFEST[..MANIFEST.find("---\napiVersion: v1\nkind: List").unwrap()];
        assert!(agrees(cut));
        assert_eq!(parse_stream(cut).unwrap().len(), 2);
    }

    #[test]
    fn gives_up_outside_the_subset() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !tag x\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: >\n  folded\n",
            "a: |+\n  keep\n\n",
            "a: |2\n   x\n",
            "a: plain\n  continued\n",
            "a: 'multi\n  line'\n",
            "a: \"esc\\n\"\n",
            "a: [[1]]\n",
            "a:\tb\n",
            "a: 1\na: 2\n",
            "1: a\n",
            "? a\n: b\n",
            "a: b: c\n",
            "a:\n  - x\n   - y\n",
            "a:\n  b: 1\n   c: 2\n",
            "- a\nb: c\n",
            "plain\n",
            "a: .inf\n",
            "a: 99999999999999999999999\n",
            "--- a: 1\n",
            "a: 1\n...\n",
        ] {
            assert!(parse_stream(text).is_none(), "accepted:\n{text}");
        }
    }

    /// Documents the library writes from generated values (the emitter's generator) read back
    /// the same, and so do mutations of them that the fast path accepts.
    #[test]
    fn generated_and_mutated_documents_read_as_the_library_does() {
        let mut rng = crate::emit::tests::Rng(0x2545_f491_4f6c_dd1d);
        let (mut read, mut mutated_read) = (0, 0);
        for _ in 0..3000 {
            let v = Value::Mapping(Mapping::from_iter([(
                Value::from("root"),
                crate::emit::tests::generate(&mut rng, 4),
            )]));
            let text = serde_yaml_ng::to_string(&v).unwrap();
            if agrees(&text) {
                read += 1;
            }
            // One random edit: a character inserted, removed or replaced.
            let mut bytes = text.into_bytes();
            let at = (rng.next() % bytes.len() as u64) as usize;
            let c = rng.pick(b" -:#'\"[]{},|>\n\tax0.");
            match rng.next() % 3 {
                0 => bytes.insert(at, c),
                1 => {
                    bytes.remove(at);
                }
                _ => bytes[at] = c,
            }
            if let Ok(mutated) = String::from_utf8(bytes) {
                let lib_ok = serde_yaml_ng::Deserializer::from_str(&mutated)
                    .map(<Value as serde::Deserialize>::deserialize)
                    .all(|r| r.is_ok());
                if parse_stream(&mutated).is_some() {
                    assert!(lib_ok, "fast path accepted invalid YAML:\n{mutated}");
                    assert!(agrees(&mutated));
                    mutated_read += 1;
                }
            }
        }
        assert!(read > 1500, "{read}");
        eprintln!("fast path read {read} generated and {mutated_read} mutated documents");
    }

    const GOOD: &[&str] = &[
        "a",
        "shop",
        "app.kubernetes.io/name",
        "quay.io/team/shop:dev",
        "http://x:80/y",
        "50m",
        "64Mi",
        "8080",
        "-1",
        "+1",
        "0x1F",
        "0o7",
        "007",
        "1.5",
        ".5",
        "1e3",
        "~",
        "null",
        "Null",
        "true",
        "False",
        "yes",
        "'q''s'",
        "'a: b'",
        "\"d q\"",
        "[a, 1]",
        "[]",
        "{a: b, c: 1}",
        "{}",
        "a b",
        "a #c",
        "a:b",
        "*/5 * * * *",
        "-0",
        "a,b",
    ];
    const ODD: &[&str] = &[
        "",
        "\"e\\n\"",
        "[[a]]",
        "{a: {b: c}}",
        "#c",
        "a: b",
        "&x a",
        "*x",
        "!t a",
        "- a",
        "? a",
        ": a",
        "|",
        "|-",
        ">",
        "%a",
        "@a",
        "`a",
        ",a",
        "[a",
        "'open",
        "\"open",
        "-",
        "--",
        "---",
        "...",
        ".inf",
        "1_0",
        "0b2",
        "é",
        "a\tb",
    ];

    fn word(rng: &mut crate::emit::tests::Rng) -> &'static str {
        let list = if rng.next().is_multiple_of(30) {
            ODD
        } else {
            GOOD
        };
        list[(rng.next() % list.len() as u64) as usize]
    }

    /// Text in the shapes people write manifests in, with random choices that are sometimes
    /// invalid: only agreement with the library is checked, never the generator's intent.
    fn styled(rng: &mut crate::emit::tests::Rng, out: &mut String, indent: usize, depth: usize) {
        let pad = |out: &mut String, n: usize| out.push_str(&" ".repeat(n));
        for _ in 0..1 + rng.next() % 3 {
            match rng.next() % 16 {
                0 => out.push('\n'),
                1 => {
                    pad(out, (rng.next() % 6) as usize);
                    out.push_str("# note\n");
                }
                _ => {}
            }
            pad(out, indent);
            let key = rng.pick(&[
                "name", "image", "k", "a.b/c", "x y", "1", "'q'", "k:", "- k",
            ]);
            out.push_str(key);
            // Mostly distinct keys: a repeated one is an error for both readers.
            if !rng.next().is_multiple_of(30) {
                out.push_str(&(rng.next() % 10_000).to_string());
            }
            out.push(':');
            let deeper = indent + rng.pick(&[1usize, 2, 2, 2, 2, 2, 4]);
            match if depth == 0 {
                rng.next() % 3
            } else {
                rng.next() % 7
            } {
                0 | 1 => {
                    out.push(' ');
                    out.push_str(word(rng));
                    if rng.next().is_multiple_of(5) {
                        out.push_str(rng.pick(&[" # c", "  ", "#c"]));
                    }
                    out.push('\n');
                }
                2 => {
                    out.push_str(rng.pick(&[
                        " |\n", " |-\n", " |\n", " |-\n", " |+\n", " >\n", " | # c\n",
                    ]));
                    for _ in 0..1 + rng.next() % 3 {
                        let extra = rng.pick(&[0usize, 0, 0, 0, 0, 2, 1]);
                        if rng.next().is_multiple_of(8) {
                            out.push('\n');
                        }
                        pad(out, deeper + extra);
                        out.push_str(word(rng));
                        out.push('\n');
                    }
                }
                3 | 4 => {
                    out.push('\n');
                    styled(rng, out, deeper, depth - 1);
                }
                _ => {
                    out.push('\n');
                    let at = rng.pick(&[indent, indent, deeper]);
                    for _ in 0..1 + rng.next() % 3 {
                        pad(out, at);
                        out.push_str(rng.pick(&["- ", "- ", "- ", "-   ", "-"]));
                        if rng.next().is_multiple_of(2) {
                            out.push_str(word(rng));
                            out.push('\n');
                        } else {
                            out.push_str("name: ");
                            out.push_str(word(rng));
                            out.push('\n');
                            let more = rng.pick(&[2usize, 2, 2, 2, 4, 3]);
                            styled(rng, out, at + more, depth - 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hand_styled_documents_read_as_the_library_does() {
        let mut rng = crate::emit::tests::Rng(0x0bad_5eed_1234_5678);
        let (mut read, mut lib_read) = (0, 0);
        let n = 5000;
        for _ in 0..n {
            let mut text = String::new();
            for d in 0..1 + rng.next() % 2 {
                if d > 0 {
                    text.push_str("---\n");
                }
                styled(&mut rng, &mut text, 0, 3);
            }
            let lib_ok = serde_yaml_ng::Deserializer::from_str(&text)
                .map(<Value as serde::Deserialize>::deserialize)
                .all(|r| r.is_ok());
            lib_read += usize::from(lib_ok);
            if parse_stream(&text).is_some() {
                assert!(lib_ok, "fast path accepted invalid YAML:\n{text}");
                assert!(agrees(&text));
                read += 1;
            }
        }
        assert!(read * 4 > lib_read, "{read} of {lib_read}");
        eprintln!(
            "fast path read {read} of the {lib_read} hand-styled documents the library reads ({n} generated)"
        );
    }
}
