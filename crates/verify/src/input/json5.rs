//! A JSON5 reader that keeps positions, for OpenClaw's `openclaw.json` (the gateway
//! reads it with the `json5` package: comments, trailing commas, unquoted keys,
//! single-quoted strings, hex and signed numbers). Values keep the 1-based line and
//! column where they start, so findings point into the file.

use crate::input::yaml::Pos;

/// A JSON5 value with the position of its first character.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number as written (verify compares none).
    Number(String),
    Str(String),
    Array(Vec<Node>),
    /// Members in file order: (key, position of the key, value).
    Object(Vec<(String, Pos, Node)>),
}

impl Node {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Object(m) => m.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The node at a dotted path of object keys (`gateway.auth.mode`).
    pub fn path(&self, dotted: &str) -> Option<&Node> {
        dotted.split('.').try_fold(self, |n, k| n.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn members(&self) -> &[(String, Pos, Node)] {
        match &self.value {
            Value::Object(m) => m,
            _ => &[],
        }
    }
}

/// A syntax error at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Nesting deeper than this is refused (a hostile file must not overflow the stack).
const MAX_DEPTH: usize = 128;

/// Parses one JSON5 document; `file` is the position's file index.
pub fn parse(text: &str, file: usize) -> Result<Node, Error> {
    let mut p = Parser {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        file,
    };
    p.skip_ws()?;
    let node = p.value(0)?;
    p.skip_ws()?;
    if p.peek().is_some() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(node)
}

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    file: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file,
            line: self.line,
            column: self.col,
        }
    }

    fn err(&self, message: &str) -> Error {
        Error {
            line: self.line,
            column: self.col,
            message: message.to_string(),
        }
    }

    /// Skips white space and `//` and `/* */` comments.
    fn skip_ws(&mut self) -> Result<(), Error> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('/') => match self.chars.get(self.i + 1) {
                    Some('/') => {
                        while self.peek().is_some_and(|c| c != '\n') {
                            self.bump();
                        }
                    }
                    Some('*') => {
                        let start = self.err("unterminated /* comment");
                        self.bump();
                        self.bump();
                        loop {
                            match self.bump() {
                                None => return Err(start),
                                Some('*') if self.peek() == Some('/') => {
                                    self.bump();
                                    break;
                                }
                                Some(_) => {}
                            }
                        }
                    }
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let pos = self.pos();
        let value = match self.peek() {
            None => return Err(self.err("unexpected end of file")),
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some(q @ ('"' | '\'')) => Value::Str(self.string(q)?),
            Some(c) if c == '-' || c == '+' || c == '.' || c.is_ascii_digit() => {
                Value::Number(self.word())
            }
            Some(c) if is_ident(c) => match self.word().as_str() {
                "null" => Value::Null,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                w @ ("Infinity" | "NaN") => Value::Number(w.to_string()),
                _ => {
                    return Err(Error {
                        line: pos.line,
                        column: pos.column,
                        message: "expected a value".into(),
                    })
                }
            },
            Some(_) => return Err(self.err("expected a value")),
        };
        Ok(Node { pos, value })
    }

    /// A run of identifier or number characters.
    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek() {
            if is_ident(c) || c.is_ascii_digit() || matches!(c, '-' | '+' | '.') {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        w
    }

    fn string(&mut self, quote: char) -> Result<String, Error> {
        let start = self.err("unterminated string");
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(start),
                Some(c) if c == quote => return Ok(s),
                Some('\\') => match self.bump() {
                    None => return Err(start),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('0') => s.push('\0'),
                    Some('\n') => {}
                    Some('u') => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            let d = self
                                .bump()
                                .and_then(|c| c.to_digit(16))
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            code = code * 16 + d;
                        }
                        s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    Some(c) => s.push(c),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Error> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(']') {
                self.bump();
                return Ok(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Error> {
        self.bump();
        let mut members = Vec::new();
        loop {
            self.skip_ws()?;
            let key_pos = self.pos();
            let key = match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(Value::Object(members));
                }
                Some(q @ ('"' | '\'')) => self.string(q)?,
                Some(c) if is_ident(c) => {
                    let mut k = String::new();
                    while let Some(c) = self.peek().filter(|&c| is_ident(c) || c.is_ascii_digit()) {
                        k.push(c);
                        self.bump();
                    }
                    k
                }
                _ => return Err(self.err("expected a key or `}`")),
            };
            self.skip_ws()?;
            if self.bump() != Some(':') {
                return Err(self.err("expected `:` after the key"));
            }
            self.skip_ws()?;
            let v = self.value(depth + 1)?;
            members.push((key, key_pos, v));
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json5_with_positions() {
        let text = "// c\n{\n  a: 1, /* x */ 'b': { \"c\": [true, null,], },\n  d: 'it\\'s',\n}\n";
        let n = parse(text, 0).expect("parses");
        assert_eq!(
            n.path("b.c").map(|n| (n.pos.line, n.pos.column)),
            Some((3, 29))
        );
        assert_eq!(n.get("d").and_then(Node::as_str), Some("it's"));
        let (_, key_pos, _) = &n.members()[1];
        assert_eq!((key_pos.line, key_pos.column), (3, 17));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("{\n  a: 1\n  b: 2\n}", 0).expect_err("missing comma");
        assert_eq!((e.line, e.column), (3, 3));
        assert!(parse("[", 0).is_err());
        assert!(parse("{a: 'x}", 0).is_err());
        assert!(parse(&"[".repeat(1000), 0).is_err());
    }
}
