//! Finding keys and values again in a profile's text (serde_yaml_ng keeps no positions), so that
//! diagnostics point at them.

/// A scalar on one line: its text (unquoted), where it is (in chars) and whether a `:` makes it
/// a key; `depth` counts the flow mappings (`{ … }`) it sits in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tok {
    pub(super) start: usize,
    pub(super) width: usize,
    is_key: bool,
    depth: usize,
    /// Byte range of the unquoted text in the line.
    text: (usize, usize),
}

/// A token on a line (0-based line index).
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    pub(super) line: usize,
    pub(super) tok: Tok,
}

fn tokens(line: &str) -> Vec<Tok> {
    let cs: Vec<(usize, char)> = line.char_indices().collect();
    let byte = |i: usize| cs.get(i).map_or(line.len(), |(b, _)| *b);
    let is_ws = |i: usize| cs.get(i).is_none_or(|(_, c)| c.is_whitespace());
    let mut out = vec![];
    let (mut i, mut depth) = (0, 0usize);
    while i < cs.len() {
        let c = cs[i].1;
        let (end, text) = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '{' | '[' => {
                depth += 1;
                i += 1;
                continue;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            ',' if depth > 0 => {
                i += 1;
                continue;
            }
            '#' => break,
            '-' if is_ws(i + 1) => {
                i += 1;
                continue;
            }
            '"' | '\'' => {
                let mut j = i + 1;
                while j < cs.len() {
                    match cs[j].1 {
                        '\\' if c == '"' => j += 2,
                        '\'' if c == '\'' && cs.get(j + 1).is_some_and(|(_, n)| *n == '\'') => j += 2,
                        q if q == c => break,
                        _ => j += 1,
                    }
                }
                let end = (j + 1).min(cs.len());
                (end, (byte(i + 1), byte(j.min(cs.len()))))
            }
            _ => {
                let stop = |j: usize| {
                    let c = cs[j].1;
                    (c == ':'
                        && (is_ws(j + 1) || (depth > 0 && cs.get(j + 1).is_some_and(|(_, n)| ",}]".contains(*n)))))
                        || (c == '#' && j > 0 && cs[j - 1].1.is_whitespace())
                        || (depth > 0 && ",}]".contains(c))
                };
                let mut j = i;
                while j < cs.len() && !stop(j) {
                    j += 1;
                }
                let mut end = j;
                while end > i && cs[end - 1].1.is_whitespace() {
                    end -= 1;
                }
                (end, (byte(i), byte(end)))
            }
        };
        let mut k = end;
        while k < cs.len() && cs[k].1.is_whitespace() {
            k += 1;
        }
        let is_key = k < cs.len()
            && cs[k].1 == ':'
            && (is_ws(k + 1) || (depth > 0 && cs.get(k + 1).is_some_and(|(_, n)| ",}]".contains(*n))));
        out.push(Tok { start: i, width: end - i, is_key, depth, text });
        i = if is_key { k + 1 } else { end.max(i + 1) };
    }
    out
}

fn tok_text<'l>(line: &'l str, t: &Tok) -> &'l str {
    &line[t.text.0..t.text.1]
}

/// A top-level key: at column 1, outside any flow mapping.
pub(super) fn find_top_key(lines: &[&str], key: &str) -> Option<Place> {
    lines.iter().enumerate().find_map(|(n, l)| {
        let t = *tokens(l).first()?;
        (t.is_key && t.start == 0 && t.depth == 0 && tok_text(l, &t) == key).then_some(Place { line: n, tok: t })
    })
}

/// A key directly under `parent`: in a flow mapping on the parent's line, or on the following
/// lines indented one level deeper than the parent key.
pub(super) fn find_child_key(lines: &[&str], parent: Place, key: &str) -> Option<Place> {
    let pl = lines[parent.line];
    if let Some(t) = tokens(pl)
        .into_iter()
        .find(|t| t.start > parent.tok.start && t.is_key && t.depth == parent.tok.depth + 1 && tok_text(pl, t) == key)
    {
        return Some(Place { line: parent.line, tok: t });
    }
    if parent.tok.depth > 0 {
        return None;
    }
    let mut child_indent = None;
    for (n, l) in lines.iter().enumerate().skip(parent.line + 1) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.chars().count() - trimmed.chars().count();
        if indent <= parent.tok.start {
            break;
        }
        if *child_indent.get_or_insert(indent) != indent {
            continue;
        }
        if let Some(t) = tokens(l).first().filter(|t| t.is_key && t.depth == 0 && tok_text(l, t) == key) {
            return Some(Place { line: n, tok: *t });
        }
    }
    None
}

/// An item of the sequence under `key`: in a flow sequence on the key's line (`[A, B]`), or on
/// the lines that follow, indented deeper or written `- A` at the key's own indentation.
pub(super) fn find_item(lines: &[&str], key: Place, item: &str) -> Option<Place> {
    let matches = |l: &str, t: &Tok| !t.is_key && tok_text(l, t) == item;
    let kl = lines[key.line];
    if let Some(t) =
        tokens(kl).into_iter().find(|t| t.start > key.tok.start && t.depth > key.tok.depth && matches(kl, t))
    {
        return Some(Place { line: key.line, tok: t });
    }
    if key.tok.depth > 0 {
        return None;
    }
    for (n, l) in lines.iter().enumerate().skip(key.line + 1) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.chars().count() - trimmed.chars().count();
        if indent < key.tok.start || (indent == key.tok.start && !trimmed.starts_with("- ")) {
            break;
        }
        if let Some(t) = tokens(l).into_iter().find(|t| matches(l, t)) {
            return Some(Place { line: n, tok: t });
        }
    }
    None
}

/// The scalar written after a key on its line.
pub(super) fn value_after(lines: &[&str], key: Place) -> Option<Place> {
    let toks = tokens(lines[key.line]);
    let i = toks.iter().position(|t| t.start == key.tok.start)?;
    toks.get(i + 1).filter(|t| !t.is_key && t.depth == key.tok.depth).map(|t| Place { line: key.line, tok: *t })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_find_keys_values_and_skip_comments_and_quotes() {
        let l = r#"  gc: { run: "a \"b: c\" # d", timeout_s: 120 }   # gc: no"#;
        let toks = tokens(l);
        let texts: Vec<(&str, bool, usize)> = toks.iter().map(|t| (tok_text(l, t), t.is_key, t.depth)).collect();
        assert_eq!(
            texts,
            [
                ("gc", true, 0),
                ("run", true, 1),
                (r#"a \"b: c\" # d"#, false, 1),
                ("timeout_s", true, 1),
                ("120", false, 1)
            ]
        );
        let lines = ["  gc: { run: x, needs_env: [A, \"B\"] }", "  lock_tag:", "    needs_env:", "    - C", "      # D", "    - D"];
        let key = |line: usize, name: &str| {
            let t = tokens(lines[line]).into_iter().find(|t| t.is_key && tok_text(lines[line], t) == name).unwrap();
            Place { line, tok: t }
        };
        let at = |p: Option<Place>| p.map(|p| (p.line, p.tok.start));
        assert_eq!(at(find_item(&lines, key(0, "needs_env"), "B")), Some((0, 31)));
        assert_eq!(at(find_item(&lines, key(0, "needs_env"), "C")), None, "a flow mapping's list ends on its line");
        assert_eq!(at(find_item(&lines, key(2, "needs_env"), "C")), Some((3, 6)));
        assert_eq!(at(find_item(&lines, key(2, "needs_env"), "D")), Some((5, 6)));
        let l = "  locked_push_status: 412:PRECONDITION  # x";
        let toks = tokens(l);
        assert_eq!(tok_text(l, &toks[1]), "412:PRECONDITION");
        assert_eq!((toks[1].start, toks[1].width), (22, 16));
    }
}
