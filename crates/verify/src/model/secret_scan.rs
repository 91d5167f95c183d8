//! Hand-written scanners for the secret patterns in [`crate::model::secrets`]: known key
//! formats and `NAME=value` assignments. They match exactly what the equivalent regular expressions (kept in the
//! tests below as the reference) match, without compiling any: building those regexes
//! at start-up was most of a `verify` run's time.

/// A known key format: a literal prefix, then a greedy run of body bytes.
pub struct Format {
    pub kind: &'static str,
    prefixes: &'static [&'static str],
    /// A word boundary is required before the prefix.
    boundary_before: bool,
    body: fn(u8) -> bool,
    /// Minimum body length.
    min: usize,
    /// Exact body length (the run is cut there), instead of the whole greedy run.
    exact: bool,
    /// A word boundary is required after the body.
    boundary_after: bool,
}

fn key_body(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn slack_body(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The formats, in reporting order (a later format's match inside an earlier one's is
/// dropped by the caller).
pub const FORMATS: &[Format] = &[
    Format {
        kind: "Anthropic API key",
        prefixes: &["sk-ant-"],
        boundary_before: false,
        body: key_body,
        min: 20,
        exact: false,
        boundary_after: false,
    },
    Format {
        kind: "OpenAI API key",
        // `sk-proj-` is covered: `proj-` is itself body.
        prefixes: &["sk-"],
        boundary_before: false,
        body: key_body,
        min: 20,
        exact: false,
        boundary_after: false,
    },
    Format {
        kind: "AWS access key id",
        prefixes: &["AKIA", "ASIA"],
        boundary_before: true,
        body: upper_digit,
        min: 16,
        exact: true,
        boundary_after: true,
    },
    Format {
        kind: "GitHub token",
        prefixes: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        boundary_before: true,
        body: alnum,
        min: 36,
        exact: false,
        boundary_after: true,
    },
    Format {
        kind: "GitHub token",
        prefixes: &["github_pat_"],
        boundary_before: true,
        body: word_byte,
        min: 22,
        exact: false,
        boundary_after: false,
    },
    Format {
        kind: "Slack token",
        prefixes: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
        boundary_before: true,
        body: slack_body,
        min: 10,
        exact: false,
        boundary_after: false,
    },
];

/// A word character as regex's Unicode `\w` sees it (close enough: alphanumerics and `_`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True when there is a word boundary at byte offset `i` of `text` (`i` on a char boundary).
fn boundary(text: &str, i: usize) -> bool {
    let before = text[..i].chars().next_back().is_some_and(is_word);
    let after = text[i..].chars().next().is_some_and(is_word);
    before != after
}

/// Start offsets of `needle` (not empty) in `text`, overlapping ones included (`AKIAKIA`).
/// A byte scan for the needle's first byte, then a comparison: the values scanned are
/// short and many (every scalar and evidence line), and `str::find` sets up a two-way
/// searcher for each call, which cost more than the scan (a fifth of a 2000-service run).
fn occurrences<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let (hay, pat) = (text.as_bytes(), needle.as_bytes());
    let mut from = 0;
    std::iter::from_fn(move || {
        let (&first, _) = pat.split_first()?;
        loop {
            // The first byte of a UTF-8 needle is never a continuation byte, so every
            // match starts on a character boundary, as `find`'s do.
            let at = from + hay.get(from..)?.iter().position(|&b| b == first)?;
            from = at + 1;
            if hay[at..].starts_with(pat) {
                return Some(at);
            }
        }
    })
}

/// Start offsets of every prefix in `text`, ascending.
fn candidates(text: &str, prefixes: &[&str]) -> Vec<usize> {
    let mut at: Vec<usize> = prefixes.iter().flat_map(|p| occurrences(text, p)).collect();
    at.sort_unstable();
    at
}

/// The match of `f` starting at `start` (where a prefix `p` sits), as an end offset.
fn match_at(text: &str, f: &Format, start: usize, p: &str) -> Option<usize> {
    if f.boundary_before && !boundary(text, start) {
        return None;
    }
    let body_start = start + p.len();
    let run = text.as_bytes()[body_start..]
        .iter()
        .take_while(|&&b| (f.body)(b))
        .count();
    if run < f.min {
        return None;
    }
    let end = body_start + if f.exact { f.min } else { run };
    if f.boundary_after && !boundary(text, end) {
        // A shorter greedy run ends before another body byte, which is a word byte in
        // every format with a trailing boundary: no boundary there either.
        return None;
    }
    Some(end)
}

/// Leftmost, non-overlapping matches of `f` in `text`, like a regex's `find_iter`.
pub fn find_iter<'t>(f: &Format, text: &'t str) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut next = 0;
    for start in candidates(text, f.prefixes) {
        if start < next {
            continue;
        }
        let Some(p) = f.prefixes.iter().find(|p| text[start..].starts_with(*p)) else {
            continue;
        };
        if let Some(end) = match_at(text, f, start, p) {
            out.push(&text[start..end]);
            next = end;
        }
    }
    out
}

/// `-----BEGIN [A-Z ]*PRIVATE KEY-----` blocks.
pub fn private_keys(text: &str) -> Vec<&str> {
    const HEAD: &str = "-----BEGIN ";
    const TAIL: &str = "PRIVATE KEY";
    let mut out = Vec::new();
    let mut next = 0;
    for start in occurrences(text, HEAD) {
        if start < next {
            continue;
        }
        let label_start = start + HEAD.len();
        let run = text.as_bytes()[label_start..]
            .iter()
            .take_while(|&&b| b.is_ascii_uppercase() || b == b' ')
            .count();
        let label_end = label_start + run;
        // `-` is not label, so the closing dashes must follow the whole run.
        if text[label_start..label_end].ends_with(TAIL) && text[label_end..].starts_with("-----") {
            let end = label_end + 5;
            out.push(&text[start..end]);
            next = end;
        }
    }
    out
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// `\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]+)`: (name, value) pairs.
pub fn assignments(text: &str) -> Vec<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !ident_start(bytes[i]) || !text.is_char_boundary(i) || !boundary(text, i) {
            i += 1;
            continue;
        }
        let name_end = i + bytes[i..].iter().take_while(|&&b| word_byte(b)).count();
        if bytes.get(name_end) != Some(&b'=') {
            i = name_end.max(i + 1);
            continue;
        }
        let v = name_end + 1;
        match value_end(text, v) {
            Some(end) => {
                out.push((&text[i..name_end], &text[v..end]));
                i = end;
            }
            None => i = v,
        }
    }
    out
}

/// End of the value starting at byte `v`: a closed quote, else a run without
/// whitespace or `;&|` (None when that run is empty).
fn value_end(text: &str, v: usize) -> Option<usize> {
    let rest = &text[v..];
    for q in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(q) {
            if let Some(close) = inner.find(q) {
                return Some(v + 1 + close + 1);
            }
        }
    }
    let len: usize = rest
        .chars()
        .take_while(|&c| !c.is_whitespace() && !matches!(c, ';' | '&' | '|'))
        .map(char::len_utf8)
        .sum();
    (len > 0).then_some(v + len)
}

#[cfg(test)]
mod tests {
    //! Differential tests against the regular expressions these scanners replace.
    use super::*;
    use crate::test_support::Rng;
    use regex::Regex;

    const REFERENCE: &[&str] = &[
        r"sk-ant-[A-Za-z0-9_\-]{20,}",
        r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}",
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b",
        r"\bgithub_pat_[A-Za-z0-9_]{22,}",
        r"\bxox[baprs]-[A-Za-z0-9\-]{10,}",
    ];

    /// Texts built from fragments that sit near every edge of the patterns.
    fn texts(seed: u64, n: usize) -> Vec<String> {
        const PARTS: &[&str] = &[
            "sk-",
            "sk-ant-",
            "proj-",
            "AKIA",
            "ASIA",
            "ghp_",
            "gho_",
            "github_pat_",
            "xoxb-",
            "xoxz-",
            "ABCDEFGHIJ",
            "0123456789",
            "abcdefghij",
            "KLMNOP",
            "AKIAKIA",
            "KIA",
            "_",
            "-",
            " ",
            "=",
            "\"",
            "'",
            ";",
            "&",
            "|",
            "$",
            "${",
            "}",
            "\t",
            "\n",
            "é",
            "ß",
            "Ω",
            "x",
            "Z9",
            "-----BEGIN ",
            "RSA ",
            "PRIVATE KEY",
            "-----",
            "OPENSSH ",
            "a=",
            "FOO_TOKEN=",
            "DB_PASSWORD=",
            "$HOME",
            "${A:-b}",
            "1X=",
            "9",
        ];
        let mut rng = Rng(seed);
        (0..n)
            .map(|_| {
                let k = 1 + (rng.next() % 14) as usize;
                (0..k).map(|_| rng.pick(PARTS)).collect()
            })
            .collect()
    }

    #[test]
    fn occurrences_are_find_s_overlapping_included() {
        for (text, needle) in [
            ("AKIAKIAKIA", "AKIA"),
            ("ééAKIAé-----BEGIN ", "AKIA"),
            ("é-----BEGIN é-----BEGIN ", "-----BEGIN "),
            ("xx", "xxx"),
            ("", "a"),
            ("aaaa", "aa"),
            ("sk-sk-ant-", "sk-"),
        ] {
            let mut want = Vec::new();
            let mut from = 0;
            while let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                want.push(from + i);
                from += i + 1;
                while !text.is_char_boundary(from) {
                    from += 1;
                }
            }
            let got: Vec<usize> = occurrences(text, needle).collect();
            assert_eq!(got, want, "{needle:?} in {text:?}");
        }
    }

    #[test]
    fn formats_match_the_reference_regexes() {
        let refs: Vec<Regex> = REFERENCE.iter().map(|r| Regex::new(r).unwrap()).collect();
        let pk = Regex::new(r"-----BEGIN [A-Z ]*PRIVATE KEY-----").unwrap();
        assert_eq!(refs.len(), FORMATS.len());
        let mut matched = 0;
        for t in texts(0x9e37_79b9_7f4a_7c15, 60_000) {
            for (f, re) in FORMATS.iter().zip(&refs) {
                let want: Vec<&str> = re.find_iter(&t).map(|m| m.as_str()).collect();
                matched += want.len();
                assert_eq!(find_iter(f, &t), want, "{} on {t:?}", f.kind);
            }
            let want: Vec<&str> = pk.find_iter(&t).map(|m| m.as_str()).collect();
            matched += want.len();
            assert_eq!(private_keys(&t), want, "private key on {t:?}");
        }
        assert!(
            matched > 1000,
            "the generator must reach the patterns: {matched}"
        );
    }

    #[test]
    fn assignments_match_the_reference_regex() {
        let assign =
            Regex::new(r#"\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]+)"#).unwrap();
        for t in texts(0x2545_f491_4f6c_dd1d, 60_000) {
            let want: Vec<(&str, &str)> = assign
                .captures_iter(&t)
                .map(|c| (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str()))
                .collect();
            assert_eq!(assignments(&t), want, "assignments in {t:?}");
        }
    }
}
