//! A YAML document as a tree of nodes that remember where they came from, so that every
//! config problem — schema or semantic — can point at its line and column.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diag::Source;

/// Byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        // Past i64: a number no config key takes, reported at its key by the checks.
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// The span of a located value in `src`.
pub fn span_of<T>(s: &Spanned<T>, src: &Source) -> Span {
    let loc = s.referenced;
    let sp = loc.span();
    match (sp.byte_offset(), sp.byte_len()) {
        (Some(o), Some(l)) => Span {
            offset: o as usize,
            len: l as usize,
        },
        _ => Span {
            offset: src.offset(loc.line() as usize, loc.column() as usize),
            len: sp.len() as usize,
        },
    }
}

impl Node {
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(|i| i.value.to_json()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Where a path points: the key (for map entries) and the value.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub key: Option<Span>,
    pub value: Span,
}

/// Keys the config also takes under an earlier name (`#[serde(alias)]`): a path names the key,
/// and the document may spell it either way.
const ALIASES: &[(&str, &str)] = &[("group", "dn")];

/// Follow `path` from the root; stops at the deepest node that exists.
pub fn find(root: &Spanned<Node>, path: &[Seg], src: &Source) -> Found {
    let mut cur = root;
    let mut found = Found {
        key: None,
        value: span_of(root, src),
    };
    for seg in path {
        let next = match (&cur.value, seg) {
            (Node::Map(entries), Seg::Key(k)) => {
                let earlier = ALIASES.iter().find(|(now, _)| now == k).map(|a| a.1);
                entries
                    .iter()
                    .find(|(key, _)| &key.value == k)
                    .or_else(|| {
                        entries
                            .iter()
                            .find(|(key, _)| Some(key.value.as_str()) == earlier)
                    })
                    .map(|(key, v)| (Some(span_of(key, src)), v))
            }
            (Node::Seq(items), Seg::Index(i)) => items.get(*i).map(|v| (None, v)),
            _ => None,
        };
        let Some((key, v)) = next else { break };
        cur = v;
        found = Found {
            key,
            value: span_of(v, src),
        };
    }
    found
}
