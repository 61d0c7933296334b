//! A reader for the `[notify]` part of tollguard's TOML config file, with the byte offset of every key and
//! value so that each error names its line and column. The `api` crate has no `toml` dependency (see
//! NOTIFY.md); this reader understands everything the `[notify]` section uses (tables, arrays of tables,
//! dotted keys, strings of the four kinds, integers, floats, booleans, arrays, inline tables) and skips
//! every other section without interpreting it, so their syntax (dates included) is not its business.
//! It also implements `serde::Deserializer`, so the config types are plain `#[derive(Deserialize)]`.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// A value and where it starts in the file (byte offset).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Table),
}

/// Entries in file order, each with its key's offset.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    pub entries: Vec<Entry>,
    /// Defined by a `[header]` or inline (cannot be defined twice), rather than implied by a dotted path.
    defined: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: usize,
    pub node: Node,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.node)
    }
    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.node)
    }
}

/// A syntax or type error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Error {
    pub pos: Option<usize>,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            pos: None,
            message: msg.to_string(),
        }
    }
}

impl Error {
    fn at(pos: usize, message: impl Into<String>) -> Error {
        Error {
            pos: Some(pos),
            message: message.into(),
        }
    }
    /// Keeps the innermost position: the first one set wins as the error travels outwards.
    fn or_at(mut self, pos: usize) -> Error {
        self.pos.get_or_insert(pos);
        self
    }
}

/// The table under `section` (e.g. "notify") of the whole file, or None when the file has no such section.
pub(crate) fn section(text: &str, section: &str) -> Result<Option<Node>, Error> {
    let mut p = Parser {
        s: text,
        i: 0,
        section,
    };
    let mut root = Table::default();
    p.document(&mut root)?;
    let found = root.entries.into_iter().find(|e| e.key == section);
    Ok(found.map(|e| e.node))
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
    section: &'a str,
}

/// Where the key/value lines that follow a header go.
enum Target {
    /// Outside the section: skipped.
    Skip,
    /// Inside it: the path from the root (array elements are the last one).
    Path(Vec<String>),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i..).and_then(|r| r.chars().next())
    }
    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        Some(c)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.i += 1;
        }
    }
    fn comment(&mut self) {
        if self.peek() == Some('#') {
            while let Some(c) = self.peek() {
                if c == '\n' {
                    break;
                }
                self.i += c.len_utf8();
            }
        }
    }
    /// Whitespace, comments and newlines (inside arrays).
    fn blank(&mut self) {
        loop {
            self.ws();
            self.comment();
            if self.eat('\n') || self.rest().starts_with("\r\n") && self.eat('\r') {
                continue;
            }
            break;
        }
    }
    fn end_of_line(&mut self) -> Result<(), Error> {
        self.ws();
        self.comment();
        if self.peek().is_none() || self.eat('\n') {
            return Ok(());
        }
        if self.rest().starts_with("\r\n") {
            self.i += 2;
            return Ok(());
        }
        Err(Error::at(
            self.i,
            "expected the end of the line (a comment starts with #)",
        ))
    }

    fn document(&mut self, root: &mut Table) -> Result<(), Error> {
        let mut target = Target::Path(Vec::new());
        loop {
            self.blank();
            match self.peek() {
                None => return Ok(()),
                Some('[') => {
                    let start = self.i;
                    let array = self.rest().starts_with("[[");
                    self.i += if array { 2 } else { 1 };
                    self.ws();
                    let path = self.key_path()?;
                    self.ws();
                    let close = if array { "]]" } else { "]" };
                    if !self.rest().starts_with(close) {
                        return Err(Error::at(self.i, format!("expected `{close}`")));
                    }
                    self.i += close.len();
                    self.end_of_line()?;
                    let names: Vec<String> = path.iter().map(|(k, _)| k.clone()).collect();
                    if names.first().map(String::as_str) == Some(self.section) {
                        open_header(root, &path, array, start)?;
                        target = Target::Path(names);
                    } else {
                        target = Target::Skip;
                    }
                }
                Some(_) => {
                    let path = self.key_path()?;
                    self.ws();
                    if !self.eat('=') {
                        return Err(Error::at(self.i, "expected `=` after the key"));
                    }
                    self.ws();
                    let in_section = match &target {
                        Target::Skip => false,
                        Target::Path(p) if p.is_empty() => {
                            path.first().map(|(k, _)| k.as_str()) == Some(self.section)
                        }
                        Target::Path(_) => true,
                    };
                    if in_section {
                        let node = self.value()?;
                        if let Target::Path(p) = &target {
                            let table = navigate(root, p)?;
                            insert_dotted(table, &path, node)?;
                        }
                    } else {
                        self.skip_value()?;
                    }
                    self.end_of_line()?;
                }
            }
        }
    }

    fn key_path(&mut self) -> Result<Vec<(String, usize)>, Error> {
        let mut path = Vec::new();
        loop {
            self.ws();
            let pos = self.i;
            let key = match self.peek() {
                Some('"') => self.basic_string()?,
                Some('\'') => self.literal_string()?,
                _ => {
                    let start = self.i;
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        self.i += 1;
                    }
                    if self.i == start {
                        return Err(Error::at(self.i, "expected a key"));
                    }
                    self.s.get(start..self.i).unwrap_or("").to_owned()
                }
            };
            path.push((key, pos));
            self.ws();
            if !self.eat('.') {
                return Ok(path);
            }
        }
    }

    fn value(&mut self) -> Result<Node, Error> {
        let pos = self.i;
        let value = match self.peek() {
            Some('"') if self.rest().starts_with("\"\"\"") => Value::Str(self.ml_basic_string()?),
            Some('"') => Value::Str(self.basic_string()?),
            Some('\'') if self.rest().starts_with("'''") => Value::Str(self.ml_literal_string()?),
            Some('\'') => Value::Str(self.literal_string()?),
            Some('[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.blank();
                    if self.eat(']') {
                        break;
                    }
                    items.push(self.value()?);
                    self.blank();
                    if self.eat(',') {
                        continue;
                    }
                    self.blank();
                    if self.eat(']') {
                        break;
                    }
                    return Err(Error::at(self.i, "expected `,` or `]` in the array"));
                }
                Value::Array(items)
            }
            Some('{') => {
                self.i += 1;
                let mut t = Table {
                    entries: Vec::new(),
                    defined: true,
                };
                self.ws();
                if !self.eat('}') {
                    loop {
                        let path = self.key_path()?;
                        self.ws();
                        if !self.eat('=') {
                            return Err(Error::at(self.i, "expected `=` after the key"));
                        }
                        self.ws();
                        let v = self.value()?;
                        insert_dotted(&mut t, &path, v)?;
                        self.ws();
                        if self.eat(',') {
                            self.ws();
                            continue;
                        }
                        if self.eat('}') {
                            break;
                        }
                        return Err(Error::at(
                            self.i,
                            "expected `,` or `}` in the inline table (it must fit on one line)",
                        ));
                    }
                }
                Value::Table(t)
            }
            Some('t') if self.rest().starts_with("true") => {
                self.i += 4;
                Value::Bool(true)
            }
            Some('f') if self.rest().starts_with("false") => {
                self.i += 5;
                Value::Bool(false)
            }
            Some(c) if c.is_ascii_digit() || c == '+' || c == '-' => self.number()?,
            _ => {
                return Err(Error::at(
                    self.i,
                    "expected a value (a \"string\", a number, true/false, [array] or {table})",
                ));
            }
        };
        Ok(Node { pos, value })
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | ':'))
        {
            self.i += 1;
        }
        let raw = self.s.get(start..self.i).unwrap_or("");
        let clean: String = raw.chars().filter(|c| *c != '_').collect();
        if let Some(hex) = clean.strip_prefix("0x") {
            return i64::from_str_radix(hex, 16)
                .map(Value::Int)
                .map_err(|_| Error::at(start, format!("`{raw}` is not a number")));
        }
        if let Ok(n) = clean.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        let looks_float = clean.contains(['.', 'e', 'E']) && !clean.contains(':');
        match clean.parse::<f64>() {
            Ok(f) if looks_float && f.is_finite() => Ok(Value::Float(f)),
            _ => Err(Error::at(
                start,
                format!("`{raw}` is not a number this section understands"),
            )),
        }
    }

    fn basic_string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(Error::at(start, "unterminated string (missing `\"`)"));
                }
                Some('"') => return Ok(out),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn ml_basic_string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 3;
        if self.rest().starts_with("\r\n") {
            self.i += 2;
        } else {
            self.eat('\n');
        }
        let mut out = String::new();
        loop {
            if self.rest().starts_with("\"\"\"") {
                self.i += 3;
                // Up to two quotes may sit right before the closing ones.
                while self.rest().starts_with('"') && !self.rest().starts_with("\"\"\"") {
                    out.push('"');
                    self.i += 1;
                }
                return Ok(out);
            }
            match self.bump() {
                None => return Err(Error::at(start, "unterminated string (missing `\"\"\"`)")),
                Some('\\') => {
                    let after = self.rest();
                    let trimmed = after.trim_start_matches([' ', '\t']);
                    if trimmed.starts_with('\n') || trimmed.starts_with("\r\n") {
                        // Line-ending backslash: drop the newline and the leading blanks that follow.
                        let skip = after.len() - after.trim_start().len();
                        self.i += skip;
                    } else {
                        self.escape(&mut out)?;
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn literal_string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 1;
        let from = self.i;
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(Error::at(start, "unterminated string (missing `'`)"));
                }
                Some('\'') => return Ok(self.s.get(from..self.i - 1).unwrap_or("").to_owned()),
                Some(_) => {}
            }
        }
    }

    fn ml_literal_string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 3;
        if self.rest().starts_with("\r\n") {
            self.i += 2;
        } else {
            self.eat('\n');
        }
        match self.rest().find("'''") {
            Some(n) => {
                let s = self.rest().get(..n).unwrap_or("").to_owned();
                self.i += n + 3;
                Ok(s)
            }
            None => Err(Error::at(start, "unterminated string (missing `'''`)")),
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let at = self.i - 1;
        let c = match self.bump() {
            Some('b') => '\u{8}',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('f') => '\u{c}',
            Some('r') => '\r',
            Some('e') => '\u{1b}',
            Some('"') => '"',
            Some('\\') => '\\',
            Some(u @ ('u' | 'U')) => {
                let len = if u == 'u' { 4 } else { 8 };
                let hex = self.rest().get(..len).unwrap_or("");
                let code = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                match code {
                    Some(c) if hex.len() == len => {
                        self.i += len;
                        c
                    }
                    _ => return Err(Error::at(at, "invalid unicode escape")),
                }
            }
            _ => return Err(Error::at(at, "invalid escape in a string")),
        };
        out.push(c);
        Ok(())
    }

    /// Steps over a value of another section without interpreting it: strings and brackets are tracked
    /// so that a `#` or a newline inside them does not end it.
    fn skip_value(&mut self) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            let start = self.i;
            match self.peek() {
                None => return Ok(()),
                Some('"') if self.rest().starts_with("\"\"\"") => {
                    self.ml_basic_string()?;
                }
                Some('"') => {
                    self.basic_string()?;
                }
                Some('\'') if self.rest().starts_with("'''") => {
                    self.ml_literal_string()?;
                }
                Some('\'') => {
                    self.literal_string()?;
                }
                Some('[' | '{') => {
                    depth += 1;
                    self.i += 1;
                }
                Some(']' | '}') => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                Some('#') if depth > 0 => self.comment(),
                Some('#' | '\n' | '\r') if depth == 0 => return Ok(()),
                Some(c) => self.i += c.len_utf8(),
            }
            debug_assert!(self.i > start || self.peek().is_none());
        }
    }
}

/// Creates (or, for `[[ ]]`, appends) the table a header names.
fn open_header(
    root: &mut Table,
    path: &[(String, usize)],
    array: bool,
    header_pos: usize,
) -> Result<(), Error> {
    let Some(((last, last_pos), parents)) = path.split_last() else {
        return Err(Error::at(header_pos, "empty table header"));
    };
    let mut t = root;
    for (k, pos) in parents {
        t = descend(t, k, *pos, true)?;
    }
    let new_table = || Node {
        pos: header_pos,
        value: Value::Table(Table {
            entries: Vec::new(),
            defined: true,
        }),
    };
    match t.get_mut(last) {
        None => {
            let node = if array {
                Node {
                    pos: header_pos,
                    value: Value::Array(vec![new_table()]),
                }
            } else {
                new_table()
            };
            t.entries.push(Entry {
                key: last.clone(),
                key_pos: *last_pos,
                node,
            });
            Ok(())
        }
        Some(Node {
            value: Value::Array(items),
            ..
        }) if array => {
            items.push(new_table());
            Ok(())
        }
        Some(Node {
            value: Value::Table(existing),
            ..
        }) if !array && !existing.defined => {
            existing.defined = true;
            Ok(())
        }
        Some(_) => Err(Error::at(*last_pos, format!("`{last}` is defined twice"))),
    }
}

/// The table under `key`, creating an implicit one; an array of tables gives its last element.
fn descend<'t>(
    t: &'t mut Table,
    key: &str,
    pos: usize,
    create: bool,
) -> Result<&'t mut Table, Error> {
    if t.get(key).is_none() && create {
        t.entries.push(Entry {
            key: key.to_owned(),
            key_pos: pos,
            node: Node {
                pos,
                value: Value::Table(Table::default()),
            },
        });
    }
    match t.get_mut(key).map(|n| &mut n.value) {
        Some(Value::Table(inner)) => Ok(inner),
        Some(Value::Array(items)) => match items.last_mut().map(|n| &mut n.value) {
            Some(Value::Table(inner)) => Ok(inner),
            _ => Err(Error::at(pos, format!("`{key}` is not a table"))),
        },
        Some(_) => Err(Error::at(pos, format!("`{key}` is a value, not a table"))),
        None => Err(Error::at(pos, format!("no table `{key}`"))),
    }
}

fn navigate<'t>(root: &'t mut Table, path: &[String]) -> Result<&'t mut Table, Error> {
    let mut t = root;
    for k in path {
        t = descend(t, k, 0, false)?;
    }
    Ok(t)
}

fn insert_dotted(t: &mut Table, path: &[(String, usize)], node: Node) -> Result<(), Error> {
    let Some(((last, last_pos), parents)) = path.split_last() else {
        return Err(Error::at(node.pos, "expected a key"));
    };
    let mut t = t;
    for (k, pos) in parents {
        t = descend(t, k, *pos, true)?;
    }
    if t.get(last).is_some() {
        return Err(Error::at(*last_pos, format!("`{last}` is defined twice")));
    }
    t.entries.push(Entry {
        key: last.clone(),
        key_pos: *last_pos,
        node,
    });
    Ok(())
}

/// Deserializes a node; errors carry the position of the innermost key or value at fault.
pub(crate) struct NodeDe<'a>(pub &'a Node);

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let pos = self.0.pos;
        let r = match &self.0.value {
            Value::Str(s) => v.visit_str(s),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) => v.visit_f64(*f),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Array(items) => v.visit_seq(Seq {
                items: items.iter(),
            }),
            Value::Table(t) => v.visit_map(Map {
                entries: t.entries.iter(),
                value: None,
            }),
        };
        r.map_err(|e| e.or_at(pos))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let pos = self.0.pos;
        match &self.0.value {
            Value::Str(s) => {
                let d: de::value::StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                v.visit_enum(d).map_err(|e| e.or_at(pos))
            }
            _ => Err(Error::at(
                pos,
                "expected a string naming one of the choices",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(n) => seed.deserialize(NodeDe(n)).map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, Entry>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some(e) => {
                self.value = Some(&e.node);
                let d: de::value::StrDeserializer<'_, Error> = e.key.as_str().into_deserializer();
                seed.deserialize(d)
                    .map(Some)
                    .map_err(|err| err.or_at(e.key_pos))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(n) => seed.deserialize(NodeDe(n)),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(text: &str) -> Result<Option<Node>, Error> {
        section(text, "notify")
    }

    fn table(n: &Node) -> &Table {
        match &n.value {
            Value::Table(t) => t,
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn reads_headers_arrays_of_tables_and_skips_other_sections() {
        let text = r#"
# guard settings with things this reader never interprets
[guard]
since = 2024-01-01T00:00:00Z
notes = """
[notify]
not a header"""
rates = [ ["+232", 1.5], # comment
  ["+44", 0.1] ]

[notify]
collapse_secs = 0.5
queue = 1_000

[[notify.webhook]]
url = "http://127.0.0.1:9/a"
headers = { Authorization = 'Bearer x', "X-Tag" = "t\u00e9" }
tenants = [
  "acme",   # the first
  "globex",
]

[[notify.webhook]]
url = "http://127.0.0.1:9/b"
headers.X-One = "1"

[notify.syslog]
address = "127.0.0.1:514"
"#;
        let n = notify(text).unwrap().unwrap();
        let t = table(&n);
        assert_eq!(t.get("collapse_secs").unwrap().value, Value::Float(0.5));
        assert_eq!(t.get("queue").unwrap().value, Value::Int(1000));
        let Value::Array(hooks) = &t.get("webhook").unwrap().value else {
            panic!()
        };
        assert_eq!(hooks.len(), 2);
        let h0 = table(&hooks[0]);
        let headers = table(h0.get("headers").unwrap());
        assert_eq!(headers.get("X-Tag").unwrap().value, Value::Str("té".into()));
        let h1 = table(&hooks[1]);
        assert_eq!(
            table(h1.get("headers").unwrap())
                .get("X-One")
                .unwrap()
                .value,
            Value::Str("1".into())
        );
        assert!(table(t.get("syslog").unwrap()).get("address").is_some());
    }

    /// Bad input gives an error, never a panic or a hang: every prefix of a full section, and seeded
    /// random text made of TOML's own characters.
    #[test]
    fn never_panics_on_truncated_or_random_input() {
        let full = r#"[guard]
x = ["a", { b = 'c' }]
[notify]
q = 1_0
f = -0.5e1
[[notify.webhook]]
url = "h\u00e9\""
h = { A = """x""" }
m = """
line \
  more"""
l = '''
raw'''
[notify.s]
t = [1,
# c
2,]
"#;
        for cut in (0..=full.len()).filter(|i| full.is_char_boundary(*i)) {
            let _ = section(&full[..cut], "notify");
        }
        let n = section(full, "notify").unwrap().unwrap();
        let hooks = table(&n).get("webhook").unwrap();
        let Value::Array(items) = &hooks.value else {
            panic!()
        };
        let h = table(&items[0]);
        assert_eq!(h.get("url").unwrap().value, Value::Str("hé\"".into()));
        assert_eq!(h.get("m").unwrap().value, Value::Str("line more".into()));
        assert_eq!(h.get("l").unwrap().value, Value::Str("raw".into()));
        let alphabet: Vec<char> = "[]{}=.,\"'#\\\n\r ntfu0123456789+-_eE:xé".chars().collect();
        let mut seed: u64 = 0x2015_0502;
        for _ in 0..3000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % 60;
            let mut text = String::from("[notify]\n");
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let _ = section(&text, "notify");
        }
    }

    #[test]
    fn no_section_is_none() {
        assert_eq!(notify("[guard]\nx = 1\n").unwrap(), None);
        assert_eq!(notify("").unwrap(), None);
    }

    #[test]
    fn errors_have_positions() {
        let text = "[notify]\nqueue = \"unterminated\n";
        let e = notify(text).unwrap_err();
        assert_eq!(e.pos, Some(17));
        let e = notify("[notify]\nqueue = 1\nqueue = 2\n").unwrap_err();
        assert_eq!(e.pos, Some(19));
        assert!(e.message.contains("twice"));
        let e = notify("[notify]\nqueue = 1 2\n").unwrap_err();
        assert_eq!(e.pos, Some(19));
    }
}
