//! A fast path for writing a resource as YAML, byte for byte what `serde_yaml_ng::to_string`
//! writes, for the shapes Kubernetes manifests are made of: block mappings and sequences, string
//! keys, integers, booleans, nulls, one-line ASCII strings and `|`/`|-` literal blocks. Anything
//! else (floats, tags, non-string keys, non-ASCII or control characters, unusual literal blocks,
//! keys over 128 bytes) returns `None` and the caller uses the library for the whole document.
//!
//! Why: libyaml's emitter (through serde) was a third of the render time in the sandbox. The
//! style decisions below copy libyaml's scalar analysis (`yaml_emitter_analyze_scalar`, block
//! context) and serde_yaml_ng's "would this read back as something else" quoting; the tests
//! compare against the library on generated and real documents.

use serde_yaml_ng::Value;

use crate::fast::Node;

/// `serde_yaml_ng::to_string(value)`, or `None` when the value has a shape this does not cover.
pub fn to_string(value: &Value) -> Option<String> {
    node_to_string(&Node::from_value(value)?)
}

/// What `serde_yaml_ng::to_string` writes for the node's value, or `None`.
pub fn node_to_string(node: &Node) -> Option<String> {
    let mut out = String::with_capacity(1024);
    match node {
        Node::Map(m) if !m.is_empty() => mapping(&mut out, m, 0)?,
        Node::Seq(s) if !s.is_empty() => sequence(&mut out, s, 0)?,
        _ => return None,
    }
    Some(out)
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A block mapping whose first key is written at the current position, the rest at `at`.
fn mapping(out: &mut String, m: &[(std::borrow::Cow<str>, Node)], at: usize) -> Option<()> {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            indent(out, at);
        }
        // libyaml writes a key over 128 bytes as a complex key (`? `).
        if k.len() > 128 || k.contains('\n') {
            return None;
        }
        string(out, k)?;
        out.push(':');
        match v {
            Node::Map(m) if !m.is_empty() => {
                out.push('\n');
                indent(out, at + 2);
                mapping(out, m, at + 2)?;
            }
            // Sequences under a key are not indented (libyaml's "indentless" sequence).
            Node::Seq(s) if !s.is_empty() => {
                out.push('\n');
                indent(out, at);
                sequence(out, s, at)?;
            }
            Node::Str(s) if s.contains('\n') => literal(out, s, at + 2)?,
            v => {
                out.push(' ');
                scalar(out, v)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

/// A block sequence whose first `-` is written at the current position, the rest at `at`.
fn sequence(out: &mut String, s: &[Node], at: usize) -> Option<()> {
    for (i, v) in s.iter().enumerate() {
        if i > 0 {
            indent(out, at);
        }
        out.push_str("- ");
        match v {
            Node::Map(m) if !m.is_empty() => mapping(out, m, at + 2)?,
            Node::Seq(s) if !s.is_empty() => sequence(out, s, at + 2)?,
            Node::Str(s) if s.contains('\n') => return None,
            v => {
                scalar(out, v)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

fn scalar(out: &mut String, v: &Node) -> Option<()> {
    match v {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::UInt(u) => out.push_str(&u.to_string()),
        // Floats: the library's own formatting (ryu, `.inf`), one scalar at a time; rare.
        Node::Float(f) => out.push_str(serde_yaml_ng::to_string(f).ok()?.trim_end()),
        Node::Str(s) => string(out, s)?,
        Node::Map(m) if m.is_empty() => out.push_str("{}"),
        Node::Seq(s) if s.is_empty() => out.push_str("[]"),
        _ => return None,
    }
    Some(())
}

/// A one-line string: plain when libyaml would write it plain and serde_yaml_ng would not quote
/// it (it quotes what would read back as a null, bool or number), else single-quoted.
fn string(out: &mut String, s: &str) -> Option<()> {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    if !reads_back_as_other(s) && plain_allowed(s.as_bytes()) {
        out.push_str(s);
    } else {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    }
    Some(())
}

/// libyaml's `block_plain_allowed` for a non-empty one-line printable ASCII string.
fn plain_allowed(s: &[u8]) -> bool {
    if s.is_empty() || s.starts_with(b"---") || s.starts_with(b"...") {
        return false;
    }
    if s[0] == b' ' || s[s.len() - 1] == b' ' {
        return false;
    }
    let followed_by_space = |i: usize| s.get(i + 1).is_none_or(|&b| b == b' ');
    match s[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => return false,
        b'?' | b':' | b'-' if followed_by_space(0) => return false,
        _ => {}
    }
    for i in 1..s.len() {
        match s[i] {
            b':' if followed_by_space(i) => return false,
            b'#' if s[i - 1] == b' ' => return false,
            _ => {}
        }
    }
    true
}

/// serde_yaml_ng's `InferScalarStyle`: strings that would deserialize as something other than
/// a string (or are leading-zero digits) are single-quoted.
fn reads_back_as_other(s: &str) -> bool {
    match s.as_bytes().first() {
        None => return true,
        // Most strings start with a letter: only these words read back as something else.
        Some(b) if b.is_ascii_alphabetic() => {
            return matches!(
                s,
                "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            );
        }
        _ => {}
    }
    s == "~"
        || digits_but_not_number(s)
        || unsigned_int(s).is_some()
        || negative_int(s).is_some()
        || parse_f64_value(s).is_some()
}

// The next four follow serde_yaml_ng 0.10's `de.rs` (`parse_unsigned_int`,
// `parse_negative_int`, `parse_f64`, `digits_but_not_number`), at u128/i128 width, which
// covers its u64/i64 attempts.

pub fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

pub fn unsigned_int(s: &str) -> Option<u128> {
    let unpositive = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = u128::from_str_radix(rest, radix) {
                return Some(n);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(s) {
        return None;
    }
    unpositive.parse::<u128>().ok()
}

pub fn negative_int(s: &str) -> Option<i128> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = s.strip_prefix(prefix)
            && let Ok(n) = i128::from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(s) {
        return None;
    }
    s.parse::<i128>().ok()
}

/// The library's `parse_f64` (finite values, `.inf`, `.nan`); callers check
/// `digits_but_not_number` first, as the library does.
pub fn parse_f64_value(s: &str) -> Option<f64> {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => s,
    };
    if matches!(unpositive, ".inf" | ".Inf" | ".INF") {
        return Some(f64::INFINITY);
    }
    if matches!(s, "-.inf" | "-.Inf" | "-.INF") {
        return Some(f64::NEG_INFINITY);
    }
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `|` or `|-` block at content indent `at`, for the mapping value being written; `None` for
/// what libyaml would write otherwise (double-quoted, `|+`, an indentation indicator).
fn literal(out: &mut String, s: &str, at: usize) -> Option<()> {
    let b = s.as_bytes();
    let printable = b.iter().all(|&c| c == b'\n' || (0x20..0x7f).contains(&c));
    let space_break = s.contains(" \n");
    let trailing_space = b.last() == Some(&b' ');
    let leading = matches!(b.first(), Some(b' ' | b'\n'));
    let keep = s.ends_with("\n\n") || s == "\n";
    if !printable || space_break || trailing_space || leading || keep {
        return None;
    }
    let body = match s.strip_suffix('\n') {
        Some(body) => {
            out.push_str(" |\n");
            body
        }
        None => {
            out.push_str(" |-\n");
            s
        }
    };
    for line in body.split('\n') {
        if !line.is_empty() {
            indent(out, at);
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_yaml_ng::Mapping;

    fn same(v: &Value) -> bool {
        match to_string(v) {
            None => false,
            Some(fast) => {
                let lib = serde_yaml_ng::to_string(v).unwrap();
                assert_eq!(fast, lib, "for {v:?}");
                true
            }
        }
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        "a",
        "a b",
        " a",
        "a ",
        "-",
        "-a",
        "- a",
        "--",
        "---",
        "---a",
        "...",
        "..a",
        "?",
        "?a",
        "? a",
        ":",
        ":a",
        ": a",
        "a:",
        "a:b",
        "a: b",
        "a :b",
        "#",
        "#a",
        "a#b",
        "a #b",
        "a# b",
        "@a",
        "a@b",
        "`a",
        "a`",
        "'a",
        "a'b",
        "\"a",
        "a\"b",
        "%a",
        "!a",
        "&a",
        "*a",
        "|a",
        ">a",
        "a|b",
        "a>b",
        "[a",
        "a[b]",
        "{a",
        "a{b}",
        ",a",
        "a,b",
        "~",
        "~a",
        "null",
        "Null",
        "NULL",
        "nUll",
        "true",
        "True",
        "TRUE",
        "tRue",
        "false",
        "FALSE",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "0",
        "1",
        "-1",
        "+1",
        "007",
        "-007",
        "+007",
        "0x1F",
        "0x",
        "0xg",
        "-0x1F",
        "0o17",
        "-0o17",
        "0b101",
        "-0b1",
        "0b2",
        "1.5",
        "-1.5",
        "+1.5",
        ".5",
        "5.",
        "1e3",
        "1E3",
        "1e",
        "1_000",
        ".inf",
        "-.inf",
        "+.inf",
        ".Inf",
        ".nan",
        ".NaN",
        "inf",
        "nan",
        "infinity",
        "1.2.3",
        "v1.2.3",
        "50m",
        "64Mi",
        "8080",
        "8080/TCP",
        "*/30 * * * *",
        "0 */2 * * *",
        "quay.io/a/b@sha256:00",
        "http://x",
        "a b c",
        "a  b",
        "99999999999999999999999999999999999999999999",
        "-99999999999999999999999999999999999999999",
        "+-1",
        "++1",
        "0x+1",
    ];

    #[test]
    fn one_line_strings_match_the_library_as_values_keys_and_items() {
        for s in TRICKY {
            let as_value: Value =
                Value::Mapping(Mapping::from_iter([(Value::from("k"), Value::from(*s))]));
            assert!(same(&as_value), "{s:?} not covered");
            let as_key: Value =
                Value::Mapping(Mapping::from_iter([(Value::from(*s), Value::from(1))]));
            assert!(same(&as_key), "{s:?} as a key not covered");
            let as_item = Value::Sequence(vec![Value::from(*s), Value::from(*s)]);
            assert!(same(&as_item), "{s:?} as an item not covered");
        }
    }

    #[test]
    fn literal_blocks_match_or_fall_back() {
        let mut covered = 0;
        for s in [
            "a\nb\n",
            "a\nb",
            "a\n\nb\n",
            "a\n  b\n",
            "server:\n  port: 8080\n",
            "#!/bin/sh\necho 'hi' # there\n",
            "a \nb\n",
            "a\nb \n",
            " a\nb\n",
            "\na\n",
            "a\n\n",
            "\n",
            "a\tb\nc\n",
            "é\nb\n",
        ] {
            let v = Value::Mapping(Mapping::from_iter([(
                Value::from("data"),
                Value::Mapping(Mapping::from_iter([(Value::from("f"), Value::from(s))])),
            )]));
            if same(&v) {
                covered += 1;
            }
        }
        assert_eq!(covered, 6);
    }

    #[test]
    fn floats_are_written_by_the_library() {
        for f in [0.5, 1.0, 1e20, -2.5e-8, 1000.0] {
            let v = Value::Mapping(Mapping::from_iter([(Value::from("f"), Value::from(f))]));
            assert!(same(&v), "{f}");
        }
    }

    #[test]
    fn other_shapes_fall_back() {
        for yaml in [
            "a: !tag x\n",
            "1: a\n",
            "a: é\n",
            "a:\n- |\n  x\n  y\n",
            "a: \"x\\ty\"\n",
        ] {
            let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
            assert!(to_string(&v).is_none(), "{yaml}");
        }
        let long_key = Value::Mapping(Mapping::from_iter([(
            Value::from("k".repeat(129)),
            Value::from(1),
        )]));
        assert!(to_string(&long_key).is_none());
        let exactly = Value::Mapping(Mapping::from_iter([(
            Value::from("k".repeat(128)),
            Value::from(1),
        )]));
        assert!(same(&exactly));
    }

    /// xorshift: the same generated documents on every run.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    pub(crate) fn generate(rng: &mut Rng, depth: usize) -> Value {
        let leaf = |rng: &mut Rng| match rng.next() % 6 {
            0 => Value::from(rng.next() as i64 >> (rng.next() % 64)),
            1 => Value::Bool(rng.next().is_multiple_of(2)),
            2 => Value::Null,
            3 => Value::from(rng.pick(TRICKY).to_string()),
            4 => Value::from(
                rng.pick(&["a\nb\n", "x\n  y", "l1\n\nl3\n", "k: v\n"])
                    .to_string(),
            ),
            _ => {
                let alphabet: Vec<char> = "ab -:#'\"?,[]{}*&!|>%@`~.01+x\n\n\té".chars().collect();
                let n = (rng.next() % 7) as usize;
                let s: String = (0..n).map(|_| rng.pick(&alphabet)).collect();
                Value::from(s)
            }
        };
        if depth == 0 {
            return leaf(rng);
        }
        match rng.next() % 4 {
            0 => Value::Sequence(
                (0..rng.next() % 4)
                    .map(|_| generate(rng, depth - 1))
                    .collect(),
            ),
            1 | 2 => Value::Mapping(
                (0..rng.next() % 4)
                    .map(|_| {
                        let k = match leaf(rng) {
                            Value::String(s) if !s.contains('\n') => s,
                            _ => format!("k{}", rng.next() % 100),
                        };
                        (Value::from(k), generate(rng, depth - 1))
                    })
                    .collect(),
            ),
            _ => leaf(rng),
        }
    }

    #[test]
    fn generated_documents_match_the_library() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut covered, mut total) = (0, 0);
        for _ in 0..5000 {
            let v = Value::Mapping(Mapping::from_iter([(
                Value::from("root"),
                generate(&mut rng, 4),
            )]));
            total += 1;
            if same(&v) {
                covered += 1;
            }
        }
        // Most generated documents take the fast path; the rest fell back, which is safe.
        assert!(covered * 2 > total, "{covered} of {total}");
        eprintln!("fast path for {covered} of {total} generated documents");
    }
}
