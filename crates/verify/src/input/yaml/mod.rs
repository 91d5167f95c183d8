//! A span-preserving YAML value tree built on serde-saphyr's `Spanned` (anchors,
//! aliases and merge keys are resolved by the parser). Spans are lost inside serde's
//! `flatten`/`untagged` buffering, so the compose model is built from this tree instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub mod fast;
mod tree;

pub use tree::{Node, Pos, Value, YamlError};

fn options() -> serde_saphyr::Options {
    // Compose files legitimately reuse one anchor (`x-hardening: &h`) in hundreds of
    // services, so the alias/anchor *ratio* heuristic is off; the absolute alias, node,
    // depth and replay limits still stop alias bombs.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! { enforce_alias_anchor_ratio: false },
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: 250_000 },
    }
}

fn error(e: serde_saphyr::Error) -> YamlError {
    let pos = e
        .location()
        .map(|l| Pos {
            file: 0,
            line: l.line() as usize,
            column: l.column() as usize,
        })
        .unwrap_or(Pos {
            file: 0,
            line: 1,
            column: 1,
        });
    let message = format!("{}", e.without_snippet());
    let message = message.lines().next().unwrap_or("invalid YAML").to_string();
    YamlError { pos, message }
}

/// Parses one YAML document: the fast path ([`fast`]) when the text is in
/// its subset, else the full parser; both give the same tree.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    match fast::parse(text) {
        Some(node) => Ok(node),
        None => parse_full(text),
    }
}

/// Parses one YAML document with the full parser (serde-saphyr).
pub fn parse_full(text: &str) -> Result<Node, YamlError> {
    serde_saphyr::from_str_with_options::<Node>(text, options()).map_err(error)
}

/// Parses every document of a multi-document stream (`---` separated, as Kubernetes
/// manifests are); empty documents are dropped.
pub fn parse_all(text: &str) -> Result<Vec<Node>, YamlError> {
    let docs = serde_saphyr::from_multiple_with_options::<Node>(text, options()).map_err(error)?;
    Ok(docs
        .into_iter()
        .filter(|d| d.value != Value::Null)
        .collect())
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Value>::deserialize(d)?;
        let loc = s.defined;
        Ok(Node {
            value: s.value,
            pos: Pos {
                file: 0,
                line: loc.line() as usize,
                column: loc.column() as usize,
            },
            raw: None,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Num(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Num(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Num(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Num(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Num(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_anchors_and_merge_keys() {
        let text = "x-base: &base\n  read_only: true\n  cpus: 2.0\nservices:\n  app:\n    <<: *base\n    image: foo:1\n    ports:\n      - \"127.0.0.1:80:80\"\n";
        let root = parse(text).unwrap();
        let app = root.get("services").unwrap().get("app").unwrap();
        assert!(app.get("read_only").unwrap().is_true());
        assert_eq!(app.get("read_only").unwrap().pos.line, 2);
        assert_eq!(app.get("cpus").unwrap().as_str(), Some("2"));
        let port = &app.get("ports").unwrap().as_seq()[0];
        assert_eq!((port.pos.line, port.pos.column), (9, 9));
        assert_eq!(app.key("image").unwrap().pos.line, 7);
    }

    #[test]
    fn many_aliases_of_one_anchor_are_fine_but_bombs_are_not() {
        let mut text = String::from("x: &h {a: 1}\nservices:\n");
        for i in 0..300 {
            text.push_str(&format!("  s{i}:\n    <<: *h\n"));
        }
        assert!(parse(&text).is_ok());
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        assert!(parse(bomb).is_err());
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("services:\n  app: [\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        assert!(parse("a: b: c\n").is_err());
    }
}
