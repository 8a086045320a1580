//! Where keys are in a block-style YAML file: `components[1].kubernetes.uri` -> line 12 (1-based),
//! so errors about keys can name the line. Flow style (`{a: 1}`) is not tracked (no line then).

use std::collections::BTreeMap;

pub type KeyLines = BTreeMap<String, usize>;

/// Paths look like `a.b[2].c`.
pub fn key_lines(text: &str) -> KeyLines {
    let mut lines = KeyLines::new();
    // (indent of the key or `-`, path segment so far)
    let mut stack: Vec<(usize, String)> = Vec::new();
    // sequence item counters: indent of `-` -> (parent path, next index)
    let mut seq: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    let mut block_scalar: Option<usize> = None;
    for (number, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let mut indent = raw.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(level) = block_scalar {
            if indent > level {
                continue;
            }
            block_scalar = None;
        }
        if trimmed == "---" || trimmed.starts_with("--- ") {
            stack.clear();
            seq.clear();
            continue;
        }
        let mut body = trimmed;
        let mut item_path: Option<String> = None;
        while let Some(after) =
            body.strip_prefix("- ")
                .or(if body == "-" { Some("") } else { None })
        {
            // A sequence item at `indent`: pop deeper levels and earlier items, count the item.
            // (`key:` then `- item` at the same indent is a sequence under `key`.)
            while stack
                .last()
                .is_some_and(|(i, p)| *i > indent || (*i == indent && p.ends_with(']')))
            {
                stack.pop();
            }
            seq.retain(|i, _| *i <= indent);
            let parent = stack.last().map(|(_, p)| p.clone()).unwrap_or_default();
            let entry = seq.entry(indent).or_insert_with(|| (parent.clone(), 0));
            if entry.0 != parent {
                *entry = (parent.clone(), 0);
            }
            let path = format!("{parent}[{}]", entry.1);
            entry.1 += 1;
            stack.push((indent, path.clone()));
            item_path = Some(path);
            let skipped = body.len() - after.trim_start().len();
            indent += skipped;
            body = after.trim_start();
        }
        let _ = item_path;
        let Some(key) = mapping_key(body) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let parent = stack.last().map(|(_, p)| p.clone()).unwrap_or_default();
        let path = if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        };
        lines.entry(path.clone()).or_insert(number + 1);
        stack.push((indent, path));
        let value = body[body.find(':').map_or(body.len(), |i| i + 1)..].trim();
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar = Some(indent);
        }
    }
    lines
}

/// `key: ...` or `key:` -> `key` (quotes removed).
fn mapping_key(body: &str) -> Option<&str> {
    let (key, rest) = if let Some(q) = body.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], &q[end + 1..])
    } else if let Some(q) = body.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], &q[end + 1..])
    } else {
        let colon = body
            .find(": ")
            .or_else(|| body.strip_suffix(':').map(str::len))?;
        (&body[..colon], &body[colon..])
    };
    (rest.starts_with(": ") || rest == ":").then_some(key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let text = "schemaVersion: 2.2.0\ncomponents:\n  - name: a\n    kubernetes:\n      inlined: |\n        kind: X\n        bogus: 1\n      uri: x\n  - name: b\n    image:\n      imageName: i\ncommands:\n- id: c\n  apply: {component: a}\n";
        let lines = key_lines(text);
        assert_eq!(lines["schemaVersion"], 1);
        assert_eq!(lines["components[0].name"], 3);
        assert_eq!(lines["components[0].kubernetes.inlined"], 5);
        assert_eq!(lines["components[0].kubernetes.uri"], 8);
        assert!(!lines.contains_key("components[0].kubernetes.bogus"));
        assert_eq!(lines["components[1].image.imageName"], 11);
        assert_eq!(lines["commands[0].apply"], 14);
    }
}
