//! A TOML file as read from disk: its text, its parsed document, and where
//! each key and value sits in the text, by JSON-pointer path.
//!
//! Owns: TOML parsing with spans and the TOML → JSON conversion that schema
//! validation runs on. Must not: know what a manifest means.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use toml_edit::{Document, Item, Table, TableLike};

/// Where a key and its value sit in the text.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    pub key: Option<Range<usize>>,
    pub value: Option<Range<usize>>,
}

/// A parsed TOML file.
#[derive(Debug, Clone)]
pub struct TomlSource {
    pub path: PathBuf,
    pub text: Arc<str>,
    /// The document as JSON, for the schema validator and serde.
    pub json: Value,
    /// Spans by JSON pointer (`/depends/2`); the root is `""`.
    pub spans: HashMap<String, Spans>,
}

/// Why a file is not TOML.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub message: String,
    pub span: Option<Range<usize>>,
}

impl TomlSource {
    /// Parses `text` (already known to be UTF-8).
    pub fn parse(path: &Path, text: Arc<str>) -> Result<TomlSource, ParseError> {
        let doc = Document::parse(text.to_string()).map_err(|e| ParseError {
            message: e.message().trim().to_owned(),
            span: e.span(),
        })?;
        let mut spans = HashMap::new();
        spans.insert(
            String::new(),
            Spans {
                key: None,
                value: Some(0..text.len()),
            },
        );
        let json = table_to_json(doc.as_table(), "", &mut spans);
        Ok(TomlSource {
            path: path.to_path_buf(),
            text,
            json,
            spans,
        })
    }

    /// Span of the value at `pointer`, else of its key.
    pub fn value_span(&self, pointer: &str) -> Option<Range<usize>> {
        let s = self.spans.get(pointer)?;
        s.value.clone().or_else(|| s.key.clone())
    }

    /// Span of the key at `pointer`, else of its value.
    pub fn key_span(&self, pointer: &str) -> Option<Range<usize>> {
        let s = self.spans.get(pointer)?;
        s.key.clone().or_else(|| s.value.clone())
    }

    /// Span of the whole `key = value` entry at `pointer`.
    pub fn entry_span(&self, pointer: &str) -> Option<Range<usize>> {
        let s = self.spans.get(pointer)?;
        match (&s.key, &s.value) {
            (Some(k), Some(v)) => Some(k.start.min(v.start)..k.end.max(v.end)),
            (k, v) => k.clone().or_else(|| v.clone()),
        }
    }

    /// A span to point at when something is missing: the first key of the
    /// file, else its start.
    pub fn top_span(&self) -> Range<usize> {
        self.json
            .as_object()
            .and_then(|o| o.keys().next())
            .and_then(|k| self.key_span(&pointer_child("", k)))
            .unwrap_or(0..0)
    }
}

/// Appends one segment to a JSON pointer, escaping `~` and `/`.
pub fn pointer_child(parent: &str, segment: &str) -> String {
    format!("{parent}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

fn table_to_json(
    table: &dyn TableLike,
    pointer: &str,
    spans: &mut HashMap<String, Spans>,
) -> Value {
    let mut map = Map::new();
    for (key, item) in table.iter() {
        let child = pointer_child(pointer, key);
        let key_span = table.key(key).and_then(|k| k.span());
        let value = item_to_json(item, &child, spans);
        spans.insert(
            child,
            Spans {
                key: key_span,
                value: item.span(),
            },
        );
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

fn item_to_json(item: &Item, pointer: &str, spans: &mut HashMap<String, Spans>) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(v) => value_to_json(v, pointer, spans),
        Item::Table(t) => table_to_json(t as &Table, pointer, spans),
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, t)| {
                    let child = format!("{pointer}/{i}");
                    let v = table_to_json(t, &child, spans);
                    spans.insert(
                        child,
                        Spans {
                            key: None,
                            value: t.span(),
                        },
                    );
                    v
                })
                .collect(),
        ),
    }
}

fn value_to_json(v: &toml_edit::Value, pointer: &str, spans: &mut HashMap<String, Spans>) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::Number(Number::from(*i.value())),
        V::Float(f) => Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        V::Boolean(b) => Value::Bool(*b.value()),
        // Dates have no JSON type: the schema sees their text, which is never
        // what a field wants, so they fail as "wrong type" in practice.
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, el)| {
                    let child = format!("{pointer}/{i}");
                    let j = value_to_json(el, &child, spans);
                    spans.insert(
                        child,
                        Spans {
                            key: None,
                            value: el.span(),
                        },
                    );
                    j
                })
                .collect(),
        ),
        V::InlineTable(t) => table_to_json(t, pointer, spans),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_array_elements() {
        let text: Arc<str> = Arc::from("name = \"a/b\"\ndepends = [\"x\", \"y\"]\n");
        let src = TomlSource::parse(Path::new("t.toml"), text.clone()).expect("parses");
        let k = src.key_span("/name").expect("key span");
        assert_eq!(&text[k], "name");
        let v = src.value_span("/depends/1").expect("element span");
        assert_eq!(&text[v], "\"y\"");
        assert_eq!(src.json["depends"][0], "x");
    }

    #[test]
    fn duplicate_keys_are_parse_errors_with_a_span() {
        let text: Arc<str> = Arc::from("rev = \"a\"\nrev = \"b\"\n");
        let err = TomlSource::parse(Path::new("t.toml"), text).expect_err("duplicate");
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert!(err.span.is_some());
    }
}
