//! Asterisk's configuration syntax (`sip.conf`, `pjsip.conf`, `extensions.conf`): `[section](template,!)`,
//! `key = value` and `key => value`, `;` comments (`\;` escaped), every entry with its line, and template
//! inheritance resolved on lookup.

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A `[section]` with its own entries and the templates it inherits from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub is_template: bool,
    pub templates: Vec<String>,
    pub entries: Vec<Entry>,
}

/// A parsed file.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    pub sections: Vec<Section>,
}

impl Ini {
    pub fn parse(text: &str) -> Ini {
        let mut sections: Vec<Section> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                sections.push(section_header(rest, i + 1));
                continue;
            }
            let Some((key, value)) = split_entry(line) else {
                continue;
            };
            if let Some(s) = sections.last_mut() {
                s.entries.push(Entry {
                    key: key.to_ascii_lowercase(),
                    value: value.to_owned(),
                    line: i + 1,
                });
            }
        }
        Ini { sections }
    }

    /// A section by name, the first one (pjsip allows the same name for an endpoint, its aor and its auth).
    pub fn named(&self, name: &str) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(move |s| s.name == name)
    }

    /// The value of `key` in `s` or, failing that, in its templates (depth-first, in order).
    pub fn get<'a>(&'a self, s: &'a Section, key: &str) -> Option<&'a Entry> {
        self.get_depth(s, key, 0)
    }

    fn get_depth<'a>(&'a self, s: &'a Section, key: &str, depth: usize) -> Option<&'a Entry> {
        if let Some(e) = s.entries.iter().rev().find(|e| e.key == key) {
            return Some(e);
        }
        if depth > 8 {
            return None;
        }
        s.templates
            .iter()
            .filter_map(|t| self.named(t).next())
            .find_map(|t| self.get_depth(t, key, depth + 1))
    }

    /// Every value of a repeatable key (`permit`, `deny`), own and inherited.
    pub fn all<'a>(&'a self, s: &'a Section, key: &str) -> Vec<&'a Entry> {
        let mut v: Vec<&Entry> = s.entries.iter().filter(|e| e.key == key).collect();
        for t in s.templates.iter().filter_map(|t| self.named(t).next()) {
            if t.name != s.name {
                v.extend(self.all(t, key));
            }
        }
        v
    }
}

fn strip_comment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                out.push(';');
                chars.next();
            }
            ';' => break,
            _ => out.push(c),
        }
    }
    out
}

fn section_header(rest: &str, line: usize) -> Section {
    let (name, tail) = rest.split_once(']').unwrap_or((rest, ""));
    let opts = tail
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or("");
    let mut is_template = false;
    let mut templates = Vec::new();
    for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "!" => is_template = true,
            "+" => {}
            t => templates.push(t.to_owned()),
        }
    }
    Section {
        name: name.trim().to_owned(),
        line,
        is_template,
        templates,
        entries: Vec::new(),
    }
}

fn split_entry(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    let v = v.strip_prefix('>').unwrap_or(v);
    Some((k.trim(), v.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_templates_comments_and_lines() {
        let ini = Ini::parse(
            "[general]\nallowguest=no ; comment\n\n[phone](!)\ntype=friend\ndeny=0.0.0.0/0.0.0.0\n[201](phone)\nsecret=a\\;b\nexten => _X.,1,Dial(x)\n",
        );
        let s = ini.named("201").next().unwrap();
        assert_eq!(ini.get(s, "secret").unwrap().value, "a;b");
        assert_eq!(ini.get(s, "type").unwrap().line, 5);
        assert_eq!(ini.all(s, "deny").len(), 1);
        assert!(ini.named("phone").next().unwrap().is_template);
        assert_eq!(ini.get(s, "exten").unwrap().value, "_X.,1,Dial(x)");
        let g = ini.named("general").next().unwrap();
        assert_eq!(ini.get(g, "allowguest").unwrap().value, "no");
    }
}
