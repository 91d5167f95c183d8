//! Fast path of [`super::parse`]: a line-based reader for the block-style subset
//! compose files are written in (block mappings and sequences, plain and quoted one-line
//! scalars, one-line flow collections of scalars and of nested one-line flow collections,
//! anchors, aliases and `<<` merge keys).
//! It builds the same [`Node`] tree, positions included, as the full parser
//! (serde-saphyr) and answers `None` at the first thing outside that subset or anything
//! it is not sure of (block scalars, tags, multi-line scalars or flow collections,
//! duplicate keys, errors, numbers in unusual spellings...): the caller then parses the
//! text with the full parser, so results and error messages never depend on which path
//! ran. A differential test and a fuzz target hold the two paths equal.

use super::tree::{Node, Pos, Value};

/// Deepest nesting the fast path builds (deeper documents take the full parser).
const MAX_DEPTH: usize = 64;
/// Nodes copied through aliases before the fast path gives the document to the full
/// parser (which enforces its own alias limits and reports alias bombs).
const MAX_ALIAS_NODES: usize = 100_000;

/// One line with content: its number, indentation and the text after the indentation
/// (32 bytes: a 2000-service file has 76,000 of them). The line before `text` is
/// spaces (and, for a compact collection's item re-read at its column, `- `), all ASCII.
#[derive(Clone, Copy)]
struct Line<'a> {
    text: &'a str,
    indent: usize,
    no: u32,
    /// Whether the whole line is ASCII (columns are then byte offsets).
    ascii: bool,
    /// Whether spaces follow `text` on the line.
    trailing: bool,
}

#[derive(Clone)]
struct Anchor {
    name: String,
    node: Node,
    size: usize,
}

/// Reads `lines` from line `i` on. A compact collection (`- key: value`) is read by
/// rewriting its line in place (the item's body at its own column).
struct Reader<'r, 'a> {
    lines: &'r mut [Line<'a>],
    i: usize,
    anchors: Vec<Anchor>,
    alias_nodes: usize,
    /// Anchors defined before this reader started (a second half's, see
    /// [`Reader::split_entries`]), and whether an alias resolved to one of them.
    inherited: usize,
    used_inherited: bool,
    /// Lines rewritten for compact collections, with what they were (to put them back
    /// when a second half's reading is dropped and the lines are read again).
    rewritten: Vec<(usize, Line<'a>)>,
}

/// Entries of a block mapping from which its second half is read on a second thread
/// (the services of a large compose file): below it, starting a thread costs more than
/// it saves.
const SPLIT_FROM_ENTRIES: usize = crate::parallel::SPLIT_FROM;

/// Parses `text` when it is inside the fast subset; `None` otherwise (use the full parser).
pub fn parse(text: &str) -> Option<Node> {
    let mut lines = lines(text)?;
    if lines.is_empty() || lines[0].indent != 0 {
        return None;
    }
    let first = lines[0];
    if first.text.starts_with("- ") || first.text == "-" {
        return None;
    }
    let mut r = Reader::new(&mut lines, 0, Vec::new());
    let root = r.mapping(0, 0)?;
    (r.i == r.lines.len()).then_some(root)
}

fn lines(text: &str) -> Option<Vec<Line<'_>>> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(memchr::memchr_iter(b'\n', bytes).count() + 1);
    // Whether every line is printable ASCII (no tab or CR): one pass over the whole text
    // without a branch per byte; otherwise each line is looked at.
    let all_plain = bytes.iter().fold(true, |p, &c| {
        p & (c == b'\n' || c.wrapping_sub(0x20) < 0x5f)
    });
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut start = 0;
    let mut no: u32 = 0;
    for end in ends {
        no = no.checked_add(1)?;
        let plain = all_plain
            || bytes[start..end]
                .iter()
                .fold(true, |p, &c| p & (c.wrapping_sub(0x20) < 0x5f));
        let full = &text[start..end];
        let next = end + 1;
        // Tabs, control characters, Unicode line breaks and other characters YAML does
        // not print are left to the full parser.
        if !plain && !full.chars().all(printable) {
            return None;
        }
        let indent = full.bytes().take_while(|&b| b == b' ').count();
        let rest = &full[indent..];
        start = next;
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if (indent == 0 && (rest.starts_with("---") || rest.starts_with("...")))
            || rest.starts_with('%')
        {
            return None;
        }
        let trimmed = rest.trim_end_matches(' ');
        out.push(Line {
            text: trimmed,
            indent,
            no,
            ascii: plain,
            trailing: trimmed.len() < rest.len(),
        });
    }
    Some(out)
}

impl<'r, 'a> Reader<'r, 'a> {
    fn new(lines: &'r mut [Line<'a>], i: usize, anchors: Vec<Anchor>) -> Reader<'r, 'a> {
        Reader {
            lines,
            i,
            inherited: anchors.len(),
            anchors,
            alias_nodes: 0,
            used_inherited: false,
            rewritten: Vec::new(),
        }
    }

    /// 1-based column of byte offset `at` of the current line's text.
    fn col(&self, line: &Line, at: usize) -> usize {
        // `text` always starts at byte `indent` of the full line.
        let byte = line.indent + at;
        if line.ascii {
            byte + 1
        } else {
            // The line before `text` is ASCII; so is anything after it (trailing spaces).
            let within = at.min(line.text.len());
            let chars = line
                .text
                .get(..within)
                .map_or(within, |t| t.chars().count());
            line.indent + chars + (at - within) + 1
        }
    }

    fn pos(&self, line: &Line, at: usize) -> Pos {
        Pos {
            file: 0,
            line: line.no as usize,
            column: self.col(line, at),
        }
    }

    /// How many lines from the current one start an entry (`items`: a `- ` item) at
    /// `indent` before the block ends: the collection's size, to allocate it once.
    fn siblings(&self, indent: usize, items: bool) -> usize {
        let mut n = 0;
        for l in &self.lines[self.i..] {
            if l.indent < indent {
                break;
            }
            if l.indent == indent {
                match (is_item(l.text), items) {
                    (true, true) | (false, false) => n += 1,
                    // An item among a mapping's keys: the indentless sequence of the key
                    // before (`tmpfs:` then `- /tmp`); the mapping goes on after it.
                    (true, false) => {}
                    (false, true) => break,
                }
            }
        }
        n
    }

    /// A block mapping whose keys sit at `indent`.
    fn mapping(&mut self, indent: usize, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.lines[self.i];
        let pos = self.pos(&start, 0);
        let keys = self.siblings(indent, false);
        let mut m = Entries::with_capacity(keys);
        if depth == 1 && keys >= SPLIT_FROM_ENTRIES && crate::parallel::two_threads() {
            self.split_entries(indent, depth, keys, &mut m)?;
        }
        self.entries(indent, depth, &mut m)?;
        let Entries {
            mut entries,
            merges,
            ..
        } = m;
        // The merged mappings are this mapping's own copies (`alias` made them): their
        // entries move in, the first source's winning, and keys of its own winning over all.
        entries.reserve(merges.iter().map(|m| m.entries().len()).sum());
        for m in merges {
            let Value::Map(m) = m.value else {
                return None;
            };
            for (k, v) in m {
                let Value::Str(text) = &k.value else {
                    return None;
                };
                if entries.iter().any(|(e, _)| e.as_str() == Some(text)) {
                    continue;
                }
                entries.push((k, v));
            }
        }
        Some(Node {
            value: Value::Map(entries),
            pos,
            raw: None,
        })
    }

    /// The entries of a block mapping whose keys sit at `indent`, from the current line
    /// to the end of the mapping (or of this reader's lines), added to `m`.
    fn entries(&mut self, indent: usize, depth: usize, m: &mut Entries<'a>) -> Option<()> {
        while self.i < self.lines.len() {
            let line = self.lines[self.i];
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_item(line.text) {
                return None;
            }
            let (key, key_text, colon, rest) = self.key(&line)?;
            self.i += 1;
            if key_text == "<<" && matches!(key.value, Value::Str(_)) {
                if !m.merges.is_empty() {
                    return None;
                }
                m.merges = self.merge_sources(&line, rest)?;
                continue;
            }
            let name = key.as_str()?;
            if m.has(name) {
                return None;
            }
            m.note(key_text, name);
            let empty = self.pos(&line, colon);
            let value = self.value(&line, rest, indent, depth, empty, true)?;
            m.entries.push((key, value));
        }
        Some(())
    }

    /// Reads a large mapping's entries (`keys` of them, keys at `indent`) on two threads:
    /// the first half here, the second from its first key on on another thread, over
    /// the other half of the lines. The second half's reading is kept only when it is
    /// the one a single reader gives: it read to the mapping's end, used no anchor the
    /// first half may have redefined, merged nothing (`<<`) and repeated none of the
    /// first half's keys (a repeated key is the full parser's case: `None`). Otherwise
    /// its lines are put back and the caller reads them here ([`Reader::entries`]
    /// goes on from the current line).
    fn split_entries(
        &mut self,
        indent: usize,
        depth: usize,
        keys: usize,
        m: &mut Entries<'a>,
    ) -> Option<()> {
        // The line of the key that starts the second half.
        let mut seen_keys = 0;
        let split = (self.i..self.lines.len())
            .take_while(|&k| self.lines[k].indent >= indent)
            .find(|&k| {
                let l = &self.lines[k];
                if l.indent == indent && !is_item(l.text) {
                    seen_keys += 1;
                }
                seen_keys > keys / 2
            })?;
        let (head_lines, tail_lines) = self.lines.split_at_mut(split);
        let mut head = Reader::new(head_lines, self.i, std::mem::take(&mut self.anchors));
        head.alias_nodes = self.alias_nodes;
        head.inherited = self.inherited;
        head.used_inherited = self.used_inherited;
        let mut tail = Reader::new(tail_lines, 0, head.anchors.clone());
        let mut tail_m = Entries::with_capacity(keys - keys / 2);
        let (read, tail_read) = crate::parallel::join(
            || head.entries(indent, depth, m),
            || tail.entries(indent, depth, &mut tail_m),
        );
        let head_defined = head.anchors.len() > tail.inherited;
        self.anchors = head.anchors;
        self.alias_nodes = head.alias_nodes;
        self.used_inherited = head.used_inherited;
        self.i = split;
        read?;
        let whole = tail_read.is_some()
            && !(tail.used_inherited && head_defined)
            && tail_m.merges.is_empty()
            && !tail_m
                .entries
                .iter()
                .any(|(k, _)| k.as_str().is_some_and(|n| m.has(n)));
        if !whole {
            for (k, line) in tail.rewritten.into_iter().rev() {
                tail.lines[k] = line;
            }
            return Some(());
        }
        self.alias_nodes += tail.alias_nodes;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return None;
        }
        #[cfg(test)]
        tests::SPLITS_KEPT.with(|k| k.set(k.get() + 1));
        self.anchors.extend(tail.anchors.drain(tail.inherited..));
        self.i = split + tail.i;
        m.entries.append(&mut tail_m.entries);
        Some(())
    }

    /// A block sequence whose dashes sit at `indent`.
    /// `indentless`: the sequence is a mapping value at the mapping's own indentation.
    fn sequence(&mut self, indent: usize, depth: usize, indentless: bool) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first = self.lines[self.i];
        let dash = self.pos(&first, 0);
        let mut items: Vec<Node> = Vec::with_capacity(self.siblings(indent, true));
        while self.i < self.lines.len() {
            let line = self.lines[self.i];
            if line.indent < indent {
                break;
            }
            if line.indent > indent || !is_item(line.text) {
                break;
            }
            let after = &line.text[1..];
            let gap = after.bytes().take_while(|&b| b == b' ').count();
            let body = &after[gap..];
            if body.is_empty() || body.starts_with('#') {
                if gap > 0 || line.trailing {
                    return None;
                }
                self.i += 1;
                // An empty item is just after its dash.
                let empty = self.pos(&line, 1);
                let v = self.nested(indent, depth, empty, false)?;
                items.push(v);
                continue;
            }
            let inner = indent + 1 + gap;
            if is_item(body) || self.looks_like_key(body) {
                // A compact collection: continue with this line re-read at its column.
                self.rewritten.push((self.i, line));
                self.lines[self.i] = Line {
                    indent: inner,
                    text: body,
                    ..line
                };
                let v = if is_item(body) {
                    self.sequence(inner, depth + 1, false)?
                } else {
                    self.mapping(inner, depth + 1)?
                };
                items.push(v);
                continue;
            }
            self.i += 1;
            let item_line = Line {
                indent: inner,
                text: body,
                ..line
            };
            let v = self.inline(&item_line, 0)?;
            self.after_scalar(indent)?;
            items.push(v);
        }
        // A block sequence is where its first dash is; one at its key's indentation, where
        // its first item is.
        let pos = if indentless { items.first()?.pos } else { dash };
        Some(Node {
            value: Value::Seq(items),
            pos,
            raw: None,
        })
    }

    /// The value after `key:` (`rest`), the key's line already consumed.
    fn value(
        &mut self,
        line: &Line<'a>,
        rest: usize,
        indent: usize,
        depth: usize,
        empty: Pos,
        in_map: bool,
    ) -> Option<Node> {
        let text = &line.text[rest..];
        if text.is_empty() || text.starts_with('#') {
            // Where the full parser puts an empty value after trailing spaces is its own
            // business.
            if text.is_empty() && line.trailing {
                return None;
            }
            return self.nested(indent, depth, empty, in_map);
        }
        if text.starts_with('&') {
            let (name, after) = anchor_name(text)?;
            let after_at = rest + 1 + name.len() + after;
            let body = &line.text[after_at..];
            let node = if body.is_empty() || body.starts_with('#') {
                if after > 0 || line.trailing {
                    return None;
                }
                // An empty anchored value is where its anchor ends.
                let empty = self.pos(line, rest + 1 + name.len());
                self.nested(indent, depth, empty, in_map)?
            } else {
                let n = self.inline(line, after_at)?;
                self.after_scalar(indent)?;
                n
            };
            self.define(name, &node);
            return Some(node);
        }
        let n = self.inline(line, rest)?;
        self.after_scalar(indent)?;
        Some(n)
    }

    /// A value on the following lines (a nested block), or null at `empty` when there is none.
    fn nested(&mut self, indent: usize, depth: usize, empty: Pos, in_map: bool) -> Option<Node> {
        match self.lines.get(self.i) {
            Some(next) if next.indent > indent => {
                let next = *next;
                if is_item(next.text) {
                    self.sequence(next.indent, depth + 1, false)
                } else {
                    self.mapping(next.indent, depth + 1)
                }
            }
            Some(next) if in_map && next.indent == indent && is_item(next.text) => {
                self.sequence(indent, depth + 1, true)
            }
            _ => Some(Node {
                value: Value::Null,
                pos: empty,
                raw: None,
            }),
        }
    }

    /// After a one-line value: the next line must not continue it.
    fn after_scalar(&self, indent: usize) -> Option<()> {
        match self.lines.get(self.i) {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    fn define(&mut self, name: &str, node: &Node) {
        let size = count(node);
        self.anchors.push(Anchor {
            name: name.to_string(),
            node: node.clone(),
            size,
        });
    }

    fn alias(&mut self, name: &str) -> Option<Node> {
        let k = self.anchors.iter().rposition(|a| a.name == name)?;
        self.used_inherited |= k < self.inherited;
        let a = &self.anchors[k];
        self.alias_nodes += a.size;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return None;
        }
        Some(a.node.clone())
    }

    /// `<<: *a` or `<<: [*a, *b]`: the mappings merged, in order of precedence.
    fn merge_sources(&mut self, line: &Line<'a>, rest: usize) -> Option<Vec<Node>> {
        let text = strip_comment(&line.text[rest..])?;
        let names: Vec<&str> = if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            inner.split(',').map(str::trim).collect()
        } else {
            vec![text]
        };
        let mut out = Vec::new();
        for n in names {
            let name = n.strip_prefix('*')?;
            if name.is_empty() || !name.bytes().all(anchor_byte) {
                return None;
            }
            let node = self.alias(name)?;
            if !matches!(node.value, Value::Map(_)) {
                return None;
            }
            out.push(node);
        }
        if self
            .lines
            .get(self.i)
            .is_some_and(|l| l.indent > line.indent)
        {
            return None;
        }
        Some(out)
    }

    fn looks_like_key(&self, text: &str) -> bool {
        match text.as_bytes().first() {
            Some(b'"') | Some(b'\'') => {
                let q = text.as_bytes()[0];
                match text[1..].find(q as char) {
                    Some(end) => text[end + 2..].starts_with(':'),
                    None => false,
                }
            }
            Some(b'[') | Some(b'{') | Some(b'*') | Some(b'&') => false,
            _ => plain_key_end(text).is_some(),
        }
    }

    /// The key at the start of `line`: its node, text and the offset of the value text.
    fn key(&mut self, line: &Line<'a>) -> Option<(Node, &'a str, usize, usize)> {
        let text = line.text;
        let pos = self.pos(line, 0);
        let (node, key_text, after) = match text.as_bytes()[0] {
            b'"' | b'\'' => {
                let (s, end) = quoted(text)?;
                let k = key_slice(text, end)?;
                (
                    Node {
                        value: Value::Str(s),
                        pos,
                        raw: None,
                    },
                    k,
                    end,
                )
            }
            _ => {
                let end = plain_key_end(text)?;
                let k = &text[..end];
                if !plain_start_ok(k) || k.ends_with(' ') {
                    return None;
                }
                let value = match resolve(k)? {
                    Value::Str(s) => Value::Str(s),
                    Value::Num(n) if n == k => Value::Num(n),
                    _ => return None,
                };
                (
                    Node {
                        value,
                        pos,
                        raw: None,
                    },
                    k,
                    end,
                )
            }
        };
        let rest = &text[after..];
        let rest = rest.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let gap = rest.bytes().take_while(|&b| b == b' ').count();
        Some((node, key_text, after, after + 1 + gap))
    }

    /// A one-line value starting at byte `at` of `line.text`: scalar, alias or flow
    /// collection, with nothing but a comment after it.
    fn inline(&mut self, line: &Line<'a>, at: usize) -> Option<Node> {
        let text = &line.text[at..];
        let pos = self.pos(line, at);
        match text.as_bytes()[0] {
            b'"' | b'\'' => {
                let (s, end) = quoted(text)?;
                strip_comment(&text[end..]).filter(|r| r.is_empty())?;
                Some(Node {
                    value: Value::Str(s),
                    pos,
                    raw: None,
                })
            }
            b'*' => {
                let t = strip_comment(text)?;
                let name = &t[1..];
                if name.is_empty() || !name.bytes().all(anchor_byte) {
                    return None;
                }
                self.alias(name)
            }
            b'[' | b'{' => {
                let (node, end) = self.flow(line, at, 0)?;
                strip_comment(&line.text[end..]).filter(|r| r.is_empty())?;
                Some(node)
            }
            _ => {
                let t = strip_comment(text)?;
                if !plain_start_ok(t) || has_colon_space(t) || t.ends_with(':') {
                    return None;
                }
                Some(Node {
                    value: resolve(t)?,
                    pos,
                    raw: None,
                })
            }
        }
    }

    /// A one-line flow sequence or mapping at byte `at` (of scalars, aliases and nested
    /// one-line flow collections: `{test: [CMD, x], retries: 3}`), `depth` collections
    /// deep; returns the node and the offset after its closing bracket.
    fn flow(&mut self, line: &Line<'a>, at: usize, depth: usize) -> Option<(Node, usize)> {
        if depth > MAX_DEPTH {
            return None;
        }
        let t = line.text;
        let b = t.as_bytes();
        let map = b[at] == b'{';
        let close = if map { b'}' } else { b']' };
        let pos = self.pos(line, at);
        let mut i = at + 1;
        let mut items = Vec::new();
        let mut entries = Vec::new();
        let skip = |i: &mut usize| {
            while *i < b.len() && b[*i] == b' ' {
                *i += 1
            }
        };
        skip(&mut i);
        // The collection, ended by its closing bracket at byte `end`.
        // Trimmed to their length: a vector's first allocation holds four, and most flow
        // collections hold one or two (`[ALL]`), which would leave most of a large tree
        // of them empty.
        let closed =
            |map: bool, mut entries: Vec<(Node, Node)>, mut items: Vec<Node>, end: usize| {
                let value = if map {
                    entries.shrink_to_fit();
                    Value::Map(entries)
                } else {
                    items.shrink_to_fit();
                    Value::Seq(items)
                };
                let node = Node {
                    value,
                    pos,
                    raw: None,
                };
                Some((node, end + 1))
            };
        if i < b.len() && b[i] == close {
            return closed(map, entries, items, i);
        }
        loop {
            skip(&mut i);
            // A key is a scalar; an item or a value may be a nested collection.
            let (first, end) = if !map && matches!(b.get(i), Some(b'[' | b'{')) {
                self.flow(line, i, depth + 1)?
            } else {
                self.flow_scalar(line, i, map)?
            };
            i = end;
            skip(&mut i);
            if map {
                if i >= b.len() || b[i] != b':' {
                    return None;
                }
                i += 1;
                if i >= b.len() || b[i] != b' ' {
                    return None;
                }
                skip(&mut i);
                let (v, end) = if matches!(b.get(i), Some(b'[' | b'{')) {
                    self.flow(line, i, depth + 1)?
                } else {
                    self.flow_scalar(line, i, map)?
                };
                i = end;
                skip(&mut i);
                let key = first.as_str()?;
                if entries
                    .iter()
                    .any(|(k, _): &(Node, Node)| k.as_str() == Some(key))
                {
                    return None;
                }
                entries.push((first, v));
            } else {
                items.push(first);
            }
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    skip(&mut i);
                    if b.get(i) == Some(&close) {
                        return None;
                    }
                }
                Some(c) if *c == close => return closed(map, entries, items, i),
                _ => return None,
            }
        }
    }

    /// A scalar or alias inside a flow collection at byte `at`.
    fn flow_scalar(&mut self, line: &Line<'a>, at: usize, map: bool) -> Option<(Node, usize)> {
        let t = line.text;
        let pos = self.pos(line, at);
        let first = *t.as_bytes().get(at)?;
        if first == b'"' || first == b'\'' {
            let (s, end) = quoted(&t[at..])?;
            return Some((
                Node {
                    value: Value::Str(s),
                    pos,
                    raw: None,
                },
                at + end,
            ));
        }
        let tb = t.as_bytes();
        let mut end = at;
        loop {
            end = t[end..]
                .find([',', '[', ']', '{', '}', '#', ':'])
                .map_or(t.len(), |e| end + e);
            // A `:` followed by a plain character is part of the scalar (`a:true`).
            let inner_colon = tb.get(end) == Some(&b':')
                && tb.get(end + 1).is_some_and(|c| !b" ,[]{}#".contains(c));
            if !inner_colon {
                break;
            }
            end += 1;
        }
        let s = t[at..end].trim_end_matches(' ');
        if s.is_empty() {
            return None;
        }
        // A key inside a sequence (`[a: 1]`) is left to the full parser.
        if tb.get(end) == Some(&b':') && !map {
            return None;
        }
        if t.as_bytes().get(end) == Some(&b'#') {
            return None;
        }
        if let Some(name) = s.strip_prefix('*') {
            if name.is_empty() || !name.bytes().all(anchor_byte) {
                return None;
            }
            let n = self.alias(name)?;
            return Some((n, at + s.len()));
        }
        if !plain_start_ok(s) || s.contains(" #") {
            return None;
        }
        Some((
            Node {
                value: resolve(s)?,
                pos,
                raw: None,
            },
            at + s.len(),
        ))
    }
}

/// A character the fast path reads as is: printable, not a tab, not a line break.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}' | '\u{10000}'..)
}

/// A block mapping's entries as they are read, with what the reading checks them by.
struct Entries<'a> {
    entries: Vec<(Node, Node)>,
    /// For a long mapping (the services), its keys by text: plain keys as written, quoted
    /// ones unescaped (a quoted key and a plain one of the same text count as the same:
    /// the full parser decides such cases). A short one's keys are its entries' keys.
    long: Option<(crate::hashing::Set<&'a str>, Vec<String>)>,
    /// The mappings a `<<` key merges.
    merges: Vec<Node>,
}

impl<'a> Entries<'a> {
    /// Keys from which a mapping's keys are also kept in a hash set.
    const LONG: usize = 24;

    fn with_capacity(keys: usize) -> Entries<'a> {
        Entries {
            entries: Vec::with_capacity(keys),
            long: (keys >= Self::LONG).then(|| {
                (
                    crate::hashing::Set::with_capacity_and_hasher(keys, Default::default()),
                    Vec::new(),
                )
            }),
            merges: Vec::new(),
        }
    }

    /// Whether a key of this text was read.
    fn has(&self, name: &str) -> bool {
        match &self.long {
            Some((plain, quoted)) => plain.contains(name) || quoted.iter().any(|q| q == name),
            None => self.entries.iter().any(|(k, _)| k.as_str() == Some(name)),
        }
    }

    /// Notes a key before its entry is added: `text` as written, `name` its value.
    fn note(&mut self, text: &'a str, name: &str) {
        if let Some((plain, quoted)) = &mut self.long {
            if text.starts_with(['"', '\'']) {
                quoted.push(name.to_string());
            } else {
                plain.insert(text);
            }
        }
    }
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

fn anchor_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// `&name` at the start of `text`: the name and the spaces after it.
fn anchor_name(text: &str) -> Option<(&str, usize)> {
    let rest = &text[1..];
    let len = rest.bytes().take_while(|&b| anchor_byte(b)).count();
    if len == 0 {
        return None;
    }
    let after = &rest[len..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((
        &rest[..len],
        after.bytes().take_while(|&b| b == b' ').count(),
    ))
}

/// The text before a ` #` comment, trimmed; `None` when a `#` is not preceded by a space
/// but could still start a comment in a way worth checking (never, currently).
fn strip_comment(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'#') {
        let at = from + i;
        if at > 0 && b[at - 1] == b' ' {
            return Some(text[..at].trim_end_matches(' '));
        }
        from = at + 1;
    }
    Some(text)
}

/// Whether `text` has a `: ` (a mapping value indicator inside a plain scalar).
fn has_colon_space(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| w == b": ")
}

/// End of a plain key: the first `:` followed by a space or the end of the line, before
/// any comment.
fn plain_key_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if i + 1 == b.len() || b[i + 1] == b' ' => return (i > 0).then_some(i),
            b'#' if i > 0 && b[i - 1] == b' ' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The quoted key's text (with quotes) when a `:` follows it directly.
fn key_slice(text: &str, end: usize) -> Option<&str> {
    text[end..].starts_with(':').then_some(&text[..end])
}

/// Whether a plain scalar may start as `s` does (no indicator characters).
fn plain_start_ok(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        None => false,
        Some(b'-' | b'?' | b':') => b.get(1).is_some_and(|c| *c != b' '),
        Some(c) => !b",[]{}#&*!|>'\"%@`".contains(c),
    }
}

/// A one-line quoted scalar at the start of `text`: its value and the offset after the
/// closing quote.
fn quoted(text: &str) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    if b[0] == b'\'' {
        loop {
            let rel = text[i..].find('\'')?;
            out.push_str(&text[i..i + rel]);
            i += rel + 1;
            if b.get(i) == Some(&b'\'') {
                out.push('\'');
                i += 1;
            } else {
                return Some((out, i));
            }
        }
    }
    // Without escapes: one copy of the text between the quotes.
    let rel = text[1..].find(['"', '\\'])?;
    if b[1 + rel] == b'"' {
        return Some((text[1..1 + rel].to_string(), rel + 2));
    }
    loop {
        let rel = text[i..].find(['"', '\\'])?;
        out.push_str(&text[i..i + rel]);
        i += rel;
        if b[i] == b'"' {
            return Some((out, i + 1));
        }
        let c = match *b.get(i + 1)? {
            b'\\' => '\\',
            b'"' => '"',
            b'/' => '/',
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'0' => '\0',
            b' ' => ' ',
            _ => return None,
        };
        out.push(c);
        i += 2;
    }
}

/// The value of a plain scalar as the full parser resolves it (YAML 1.1 booleans, null,
/// decimal integers and floats); `None` for spellings left to the full parser.
fn resolve(s: &str) -> Option<Value> {
    match s {
        "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        _ => {}
    }
    if s.len() <= 5 {
        let is = |w: &str| s.eq_ignore_ascii_case(w);
        if is("true") || is("yes") || is("y") || is("on") {
            return Some(Value::Bool(true));
        }
        if is("false") || is("no") || is("n") || is("off") {
            return Some(Value::Bool(false));
        }
    }
    let b = s.as_bytes();
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let ub = unsigned.as_bytes();
    let numeric_start = ub.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.');
    if ub.first() == Some(&b'.') && !ub.get(1).is_some_and(u8::is_ascii_digit) {
        let l = unsigned.as_bytes();
        if l.len() >= 4
            && (l[..4].eq_ignore_ascii_case(b".inf") || l[..4].eq_ignore_ascii_case(b".nan"))
        {
            return None;
        }
        return Some(Value::Str(s.to_string()));
    }
    if !numeric_start {
        // Spellings a float parser might still accept are left to the full parser.
        if ["inf", "infinity", "nan"]
            .iter()
            .any(|w| unsigned.eq_ignore_ascii_case(w))
        {
            return None;
        }
        return Some(Value::Str(s.to_string()));
    }
    // Starts like a number: decide only the plain decimal forms.
    let decimal_chars = ub
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'e' | b'E' | b'+' | b'-'));
    if !decimal_chars {
        // A letter or other character no number spelling has (`5s`, `2G`, `1.2.3:80`),
        // and no radix prefix (`0x`) or non-finite spelling (`.inf`).
        let radix = ub.len() > 1 && ub[0] == b'0' && ub[1].is_ascii_alphabetic();
        return (!radix && ub[0] != b'.').then(|| Value::Str(s.to_string()));
    }
    if b[0] == b'+' || ub.is_empty() || ub[0] == b'.' {
        return None;
    }
    let leading_zero = ub.len() > 1 && ub[0] == b'0' && ub[1] != b'.';
    if leading_zero || s == "-0" {
        return None;
    }
    if ub.iter().all(u8::is_ascii_digit) {
        return (ub.len() <= 18).then(|| Value::Num(s.to_string()));
    }
    if ub.iter().filter(|c| **c == b'.').count() > 1 {
        // No number has two dots (`127.0.0.1`).
        return Some(Value::Str(s.to_string()));
    }
    let (int, frac) = unsigned.split_once('.')?;
    if int.is_empty()
        || frac.is_empty()
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
        || s.len() > 17
    {
        return None;
    }
    // `2.0`, `10.00`: an integral float prints as its integer part.
    if frac.bytes().all(|c| c == b'0') {
        return Some(Value::Num(s[..s.len() - frac.len() - 1].to_string()));
    }
    let v: f64 = s.parse().ok()?;
    Some(Value::Num(v.to_string()))
}

fn count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(s) => s.iter().map(count).sum(),
        Value::Map(m) => m.iter().map(|(k, v)| count(k) + count(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::yaml::parse_full;

    thread_local! {
        /// Large mappings whose second half, read on a second thread, was kept.
        pub(super) static SPLITS_KEPT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Whether the last parse on this thread kept a second half read on another thread.
    fn split_kept(text: &str) -> bool {
        SPLITS_KEPT.with(|k| k.set(0));
        let _ = parse(text);
        SPLITS_KEPT.with(|k| k.get()) > 0
    }

    /// `n` services, each `svc-N:` with the text `body(i)` (lines at four spaces).
    fn services(head: &str, n: usize, body: impl Fn(usize) -> String, tail: &str) -> String {
        let mut y = format!("{head}services:\n");
        for i in 0..n {
            y.push_str(&format!("  svc-{i:04}:\n{}", body(i)));
        }
        y + tail
    }

    /// Every fast-path answer equals the full parser's; returns whether the fast path took it.
    fn same(text: &str) -> bool {
        let full = parse_full(text);
        match parse(text) {
            Some(fast) => {
                let full = full.unwrap_or_else(|e| {
                    panic!("full parser refused what the fast path took: {e:?}\n{text}")
                });
                if fast != full {
                    panic!(
                        "fast and full parsers differ on:\n{text}\n{}",
                        diff(&fast, &full)
                    );
                }
                true
            }
            None => false,
        }
    }

    fn shallow(n: &Node) -> String {
        let v = match &n.value {
            Value::Seq(s) => format!("Seq({})", s.len()),
            Value::Map(m) => format!("Map({})", m.len()),
            v => format!("{v:?}"),
        };
        format!("{v} at {}:{} raw {:?}", n.pos.line, n.pos.column, n.raw)
    }

    /// The first place two trees differ (fast, full).
    fn diff(a: &Node, b: &Node) -> String {
        match (&a.value, &b.value) {
            (Value::Seq(x), Value::Seq(y)) if x.len() == y.len() => {
                if let Some(d) = x
                    .iter()
                    .zip(y)
                    .find(|(p, q)| p != q)
                    .map(|(p, q)| diff(p, q))
                {
                    if a.pos == b.pos {
                        return d;
                    }
                }
            }
            (Value::Map(x), Value::Map(y)) if x.len() == y.len() => {
                for ((k1, v1), (k2, v2)) in x.iter().zip(y) {
                    if k1 != k2 {
                        return diff(k1, k2);
                    }
                    if v1 != v2 && a.pos == b.pos {
                        return diff(v1, v2);
                    }
                }
            }
            _ => {}
        }
        format!("fast {}\nfull {}", shallow(a), shallow(b))
    }

    fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p);
            }
        }
    }

    #[test]
    fn fast_path_equals_the_full_parser_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("docker-compose.yml")];
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        yaml_files(&fixtures, &mut files);
        let mut fast = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            if same(&text) {
                fast += 1;
            }
        }
        eprintln!("fast path took {fast} of {} files", files.len());
        assert!(same(
            &std::fs::read_to_string(root.join("docker-compose.yml")).unwrap()
        ));
    }

    #[test]
    fn fast_path_equals_the_full_parser_on_edge_cases() {
        let cases = [
            "a: 1\nb: 2.0\nc: -3\nd: 1.50\ne: 0\nf: 5s\ng: 2G\nh: 127.0.0.1:80:80\ni: 1000:1000\n",
            "a: 10.00\nb: -2.0\nc: 0.0\nd: 0.25\ne: 123456789012.0\nf: 3.10\n",
            "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: ~\ng: null\nh: True\n",
            "a: 0x10\nb: 1e3\nc: 010\nd: +5\ne: .inf\nf: 1_000\ng: -0\nh: .5\ni: 12345678901234567890\n",
            "a: \"x\\ty\\\"z\"\nb: 'it''s'\nc: \"\"\nd: ''\n",
            "a: [1, \"b\", c]\nb: []\nc: {x: 1, y: \"z\"}\nd: {}\ne: [a, b,]\n",
            "x-base: &base\n  read_only: true\n  cpus: 2.0\nservices:\n  app:\n    <<: *base\n    image: foo:1\n    read_only: false\n",
            "x-a: &a\n  k: 1\n  j: 2\nx-b: &b\n  k: 3\n  m: 4\ns:\n  <<: [*a, *b]\n  z: 0\n",
            "x-a: &a\n  k: 1\ns:\n  z: 0\n  <<: *a\n  y: 2\n",
            "x-a: &a\n  k: 1\nx-b: &b\n  <<: *a\n  m: 2\ns:\n  <<: *b\n",
            "a: &v 5\nb: *v\nc: &l [1, 2]\nd: *l\n",
            "s:\n  - a\n  - b: 1\n    c: 2\n  - - x\n    - y\n  -\n    k: v\n",
            "s:\n- a\n- b\nt: 1\n",
            "a: b # comment\n# full line\n\nc: \"d # e\"  # f\n",
            "a:\n  b:\n    c: 1\n  d: 2\n",
            "\"quoted key\": 1\n'single': 2\n",
            "a: x\n  continued\n",
            "a: |\n  block\n",
            "a: !!str 5\n",
            "a: 1\na: 2\n",
            "a: 1\n\"a\": 2\n",
            "a: [1,\n  2]\n",
            "é: ü\nb: \"ñ\"\nc: [é, ü]\n",
            "a: b: c\n",
            "a:\n  - x\n   - y\n",
            "1: a\n2.0: b\n",
            "services:\n  app:\n    command: [\"sh\", \"-c\", \"echo hi\"]\n    environment:\n      - A=1\n      - B=${X:-y}\n",
            "a: -\nb: - x\n",
            "a: *nope\n",
            "a: &x 1\nb: &x 2\nc: *x\n",
            "---\na: 1\n",
            "a: 'x\n  y'\n",
            "a: @x\n",
            "a: \"\\u00e9\"\n",
            "k: v\n  # indented comment\nl: w\n",
            "s:\n  v:   # c\n\n  w: 1\n  x: \n  y: &a # c\n  z:\n    - \n    -  # c\n    -\n",
            "a: [no-new-privileges:true, x:1, \"q\"]\nb: {k: a:b}\nc: [a: 1]\nd: 127.0.0.1\ne: info\nf: inf\ng: [.5]\n",
            "a: ${X:?set it}\nb: ${Y:-1}\nc: {x: ${Z}}\nd: \"${W}\"\n",
        ];
        for c in cases {
            same(c);
        }
        assert!(same("a: 1\nb: [x, y]\nc:\n  - d\n"));
        // Nested one-line flow collections (the flow style of compose files) stay on the
        // fast path, positions included.
        let nested = [
            "h: {test: [CMD, /app/hc, --port, \"8080\"], interval: 10s, retries: 3}\n",
            "l: {driver: json-file, options: {max-size: 10m, max-file: \"3\"}}\n",
            "s: [[a, b], {c: d}, [], {}, [[x]], e]\n",
            "m: {a: {b: {c: [1, 2.0, true, null]}}}\n",
            "é: {ü: [ñ, {a: é}]}\n",
        ];
        for c in nested {
            assert!(same(c), "the fast path refused {c:?}");
        }
        for c in [
            "a: [[1, 2]\n",
            "a: [{b: 1}: 2]\n",
            "a: {b: [1]x}\n",
            "a: [[1],]\n",
            "a: {[1]: 2}\n",
            "a: {b: {c: 1}\n",
            "a: [1, [2, [3]]] # c\nb: [1, [2] # c\n",
            "x: &v [1, 2]\ny: {k: *v, j: [*v]}\n",
        ] {
            same(c);
        }
    }

    /// A large mapping read on two threads gives the single reader's tree, positions
    /// included, and falls back to one reader wherever the halves depend on each other.
    #[test]
    fn a_large_mapping_read_on_two_threads_equals_the_full_parser() {
        if !crate::parallel::two_threads() {
            eprintln!("SKIPPED: one CPU, no second thread");
            return;
        }
        let n = SPLIT_FROM_ENTRIES * 2 + 3;
        let plain = |i: usize| {
            format!(
                "    image: example/app:1.{i}\n    ports:\n      - \"127.0.0.1:{}:80\"\n    cap_drop: [ALL]\n    volumes:\n      - type: bind\n        source: ./d{i}\n        target: /d\n",
                20000 + i
            )
        };
        // (what, text before the services, text every service starts with, lines added
        // to service i before (or, `true`, after) its own, text after, split kept).
        type Case<'c> = (
            &'c str,
            &'c str,
            &'c str,
            Vec<(usize, &'c str, bool)>,
            &'c str,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "independent halves",
                "",
                "",
                vec![],
                "networks:\n  net: {}\n",
                true,
            ),
            (
                "an anchor before the services, used in both halves",
                "x-base: &base\n  read_only: true\n  user: \"1000:1000\"\n",
                "    <<: *base\n",
                vec![],
                "",
                true,
            ),
            (
                "an anchor defined in the second half, used after the services",
                "",
                "",
                vec![(n - 1, "    environment: &env\n      A: \"1\"\n", false)],
                "x-after:\n  env: *env\n",
                true,
            ),
            (
                "the second half aliases an anchor the first half defines",
                "",
                "",
                vec![
                    (0, "    labels: &l\n      a: b\n", false),
                    (n - 1, "    labels: *l\n", false),
                ],
                "",
                false,
            ),
            (
                "the first half redefines an anchor the second half uses",
                "x-l: &l\n  a: before\n",
                "",
                vec![
                    (1, "    labels: &l\n      a: redefined\n", false),
                    (n - 2, "    labels: *l\n", false),
                ],
                "",
                false,
            ),
            (
                // The compact items (`- type: bind`) of the second half are rewritten
                // before it fails: the lines are put back and read again as written.
                "compact items read in the second half before it fails",
                "",
                "",
                vec![
                    (0, "    labels: &l\n      a: b\n", false),
                    (n - 1, "    labels: *l\n", true),
                ],
                "",
                false,
            ),
        ];
        let mut texts = Vec::new();
        for (what, head, every, added, tail, kept) in &cases {
            let body = |i: usize| {
                let (mut before, mut after) = (String::new(), String::new());
                for (k, text, later) in added {
                    if *k == i {
                        if *later { &mut after } else { &mut before }.push_str(text);
                    }
                }
                format!("{every}{before}{}{after}", plain(i))
            };
            let text = services(head, n, body, tail);
            assert!(same(&text), "{what}");
            assert_eq!(split_kept(&text), *kept, "{what}");
            texts.push(text);
        }
        // The second half saw the redefinition, not the anchor before the services.
        let tree = parse(&texts[4]).expect("fast path");
        let last = &tree.get("services").expect("services").entries()[n - 2].1;
        assert_eq!(
            last.get("labels")
                .and_then(|l| l.get("a"))
                .and_then(Node::as_str),
            Some("redefined")
        );
        // A `<<` among the services in the second half: one reader.
        let text = services("x-m: &m\n  extra:\n    image: x:1\n", n, plain, "");
        let text = text.replacen(
            &format!("  svc-{:04}:\n", n - 1),
            &format!("  <<: *m\n  svc-{:04}:\n", n - 1),
            1,
        );
        assert!(same(&text));
        assert!(!split_kept(&text));
        // A key of the first half repeated in the second: the full parser's case.
        let text = services("", n, plain, "") + "  svc-0000:\n    image: x:1\n";
        assert!(parse(&text).is_none());
        assert!(same(&text) || parse_full(&text).is_err());
        // Aliases under the limit in each half, over it together: the full parser's case.
        let mut big = String::from("x-big: &big\n");
        for k in 0..250 {
            big.push_str(&format!("  k{k}: v\n"));
        }
        let text = services(
            &big,
            SPLIT_FROM_ENTRIES * 2,
            |_| "    <<: *big\n".into(),
            "",
        );
        // Each merge copies the anchor's 501 nodes (the mapping, 250 keys and values).
        let half = SPLIT_FROM_ENTRIES * 501;
        assert!(half < MAX_ALIAS_NODES && 2 * half > MAX_ALIAS_NODES);
        assert!(parse(&text).is_none());
    }
}
