//! The YAML tree both parsers build (the full parser in [`super`] and the fast path in
//! [`super::fast`]): values with their 1-based positions, and the error type. It sits
//! below both so that neither parser imports the other's types.

/// 1-based position of a node in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Index of the file in the caller's file list (0 for a single document).
    pub file: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Numbers keep their text (`8080`, `2.0`).
    Num(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// The scalar as written, when interpolation changed it (`${VAR}` references).
    pub raw: Option<String>,
}

/// A YAML parse error with position.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// A null value (position unknown).
    pub fn null() -> Node {
        Node {
            value: Value::Null,
            pos: Pos::default(),
            raw: None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` (position of the key itself).
    pub fn key(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) | Value::Num(s) => Some(s),
            _ => None,
        }
    }

    /// Scalar as text (booleans as `true`/`false`).
    pub fn scalar(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) | Value::Num(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    /// The scalar as written in the file (before interpolation).
    pub fn raw_str(&self) -> Option<&str> {
        self.raw.as_deref().or_else(|| self.as_str())
    }

    /// Visits every node (depth first), mutably.
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Node)) {
        f(self);
        match &mut self.value {
            Value::Seq(s) => s.iter_mut().for_each(|n| n.walk_mut(f)),
            Value::Map(m) => m.iter_mut().for_each(|(k, v)| {
                k.walk_mut(f);
                v.walk_mut(f);
            }),
            _ => {}
        }
    }

    pub fn is_true(&self) -> bool {
        match &self.value {
            Value::Bool(b) => *b,
            Value::Str(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }
}
