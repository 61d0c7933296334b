//! Dial plans, Asterisk's (`extensions.conf`) and FreeSWITCH's (XML): contexts, their extensions and what an
//! extension does with a dialed string — dial out through a trunk, block, jump to another context, ask for a
//! PIN. `reach` answers the question the audit asks: from this context, where does this dial string go?

use std::collections::BTreeMap;

use regex::Regex;

use super::model::Loc;

/// How an extension is matched.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Asterisk: a literal, or `_` and X/Z/N/[set]/./! (the most specific match wins).
    Asterisk(String),
    /// FreeSWITCH: a regular expression on destination_number (the first match in order wins).
    Regex(Regex, String),
}

impl Pattern {
    pub fn text(&self) -> &str {
        match self {
            Pattern::Asterisk(s) | Pattern::Regex(_, s) => s,
        }
    }

    pub fn matches(&self, dial: &str) -> bool {
        match self {
            Pattern::Asterisk(p) => asterisk_match(p, dial),
            Pattern::Regex(r, _) => r.is_match(dial),
        }
    }
}

/// What a dial-plan step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Dials the dialed digits out through a trunk or gateway.
    DialOut,
    /// Dials something internal (a phone, a queue).
    DialInternal,
    /// Continues in another context with a dial string (`None`: the same digits).
    Goto {
        context: String,
        exten: Option<String>,
    },
    /// Refuses the call.
    Block,
    /// Asks for a PIN first (Authenticate, VMAuthenticate).
    Pin,
    /// Gives an outside dial tone to whoever reached it.
    Disa,
    /// Anything else.
    Other,
}

#[derive(Debug, Clone)]
pub struct Exten {
    pub pattern: Pattern,
    pub loc: Loc,
    pub steps: Vec<(Step, Loc)>,
}

#[derive(Debug, Clone)]
pub struct Context {
    pub name: String,
    pub loc: Loc,
    pub extens: Vec<Exten>,
    pub includes: Vec<String>,
    /// Plays a menu and waits for digits (an IVR).
    pub ivr: Option<Loc>,
    /// FreeSWITCH: first match in document order instead of the most specific.
    pub ordered: bool,
}

impl Context {
    pub fn new(name: &str, loc: Loc, ordered: bool) -> Context {
        Context {
            name: name.to_owned(),
            loc,
            extens: Vec::new(),
            includes: Vec::new(),
            ivr: None,
            ordered,
        }
    }

    /// The extension that takes `dial` in this context alone (includes not followed).
    fn best(&self, dial: &str) -> Option<&Exten> {
        let mut hits = self.extens.iter().filter(|e| e.pattern.matches(dial));
        if self.ordered {
            return hits.next();
        }
        hits.min_by_key(|e| specificity(e.pattern.text()))
    }
}

/// Where a dial string ends up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Out through a trunk, by the extension at `pattern_loc` (pattern text), dialing at `step_loc`.
    Out {
        pattern: String,
        pattern_loc: Loc,
        step_loc: Loc,
    },
    Blocked {
        pattern: String,
        pattern_loc: Loc,
    },
    /// Behind a PIN.
    Pin,
    /// Somewhere internal, or nowhere.
    Nowhere,
}

/// All contexts of a PBX.
#[derive(Debug, Default)]
pub struct Dialplan {
    pub contexts: BTreeMap<String, Context>,
}

impl Dialplan {
    /// Adds (or extends: Asterisk allows a context in several files) a context.
    pub fn add(&mut self, c: Context) {
        match self.contexts.get_mut(&c.name) {
            Some(have) => {
                have.extens.extend(c.extens);
                have.includes.extend(c.includes);
                have.ivr = have.ivr.take().or(c.ivr);
            }
            None => {
                self.contexts.insert(c.name.clone(), c);
            }
        }
    }

    /// Where `dial` goes from `context`.
    pub fn reach(&self, context: &str, dial: &str) -> Reach {
        self.reach_depth(context, dial, 0)
    }

    fn reach_depth(&self, context: &str, dial: &str, depth: usize) -> Reach {
        if depth > 12 {
            return Reach::Nowhere;
        }
        let Some(c) = self.contexts.get(context) else {
            return Reach::Nowhere;
        };
        let Some(e) = self.find(c, dial, depth) else {
            return Reach::Nowhere;
        };
        for (step, loc) in &e.steps {
            match step {
                Step::DialOut | Step::Disa => {
                    return Reach::Out {
                        pattern: e.pattern.text().to_owned(),
                        pattern_loc: e.loc.clone(),
                        step_loc: loc.clone(),
                    };
                }
                Step::Block => {
                    return Reach::Blocked {
                        pattern: e.pattern.text().to_owned(),
                        pattern_loc: e.loc.clone(),
                    };
                }
                Step::Pin => return Reach::Pin,
                Step::Goto { context, exten } => {
                    let next = exten.as_deref().unwrap_or(dial);
                    return self.reach_depth(context, next, depth + 1);
                }
                Step::DialInternal | Step::Other => {}
            }
        }
        Reach::Nowhere
    }

    /// The extension taking `dial`: the context's own first, then its includes in order, depth first. Each
    /// context is looked at once per lookup: a context included several times, or including itself, would
    /// otherwise cost (includes)^depth lookups — a 567-byte extensions.conf took minutes.
    fn find<'a>(&'a self, c: &'a Context, dial: &str, depth: usize) -> Option<&'a Exten> {
        let mut seen = Vec::new();
        self.find_unseen(c, dial, depth, &mut seen)
    }

    fn find_unseen<'a>(
        &'a self,
        c: &'a Context,
        dial: &str,
        depth: usize,
        seen: &mut Vec<&'a str>,
    ) -> Option<&'a Exten> {
        if seen.contains(&c.name.as_str()) {
            return None;
        }
        seen.push(&c.name);
        if let Some(e) = c.best(dial) {
            return Some(e);
        }
        if depth > 12 {
            return None;
        }
        for i in &c.includes {
            if let Some(e) = self
                .contexts
                .get(i)
                .and_then(|ic| self.find_unseen(ic, dial, depth + 1, seen))
            {
                return Some(e);
            }
        }
        None
    }
}

/// Asterisk extension matching: a literal (case-sensitive) or `_pattern`.
pub fn asterisk_match(pattern: &str, dial: &str) -> bool {
    match pattern.strip_prefix('_') {
        Some(p) => match_from(&tokens(p), 0, dial.as_bytes()),
        None => pattern == dial,
    }
}

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Set(Vec<u8>),
    /// `.`: one or more of anything.
    OneOrMore,
    /// `!`: zero or more.
    ZeroOrMore,
}

fn tokens(p: &str) -> Vec<Tok> {
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let t = match b[i].to_ascii_uppercase() {
            b'X' => Tok::Set((b'0'..=b'9').collect()),
            b'Z' => Tok::Set((b'1'..=b'9').collect()),
            b'N' => Tok::Set((b'2'..=b'9').collect()),
            b'.' => Tok::OneOrMore,
            b'!' => Tok::ZeroOrMore,
            b'[' => {
                let end = b[i..]
                    .iter()
                    .position(|c| *c == b']')
                    .map_or(b.len(), |e| i + e);
                let set = expand_set(&b[i + 1..end.min(b.len())]);
                i = end;
                Tok::Set(set)
            }
            _ => Tok::Set(vec![b[i]]),
        };
        out.push(t);
        i += 1;
    }
    out
}

fn expand_set(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if i + 2 < s.len() && s[i + 1] == b'-' {
            out.extend(s[i]..=s[i + 2]);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn match_from(toks: &[Tok], i: usize, s: &[u8]) -> bool {
    match toks.get(i) {
        None => s.is_empty(),
        Some(Tok::OneOrMore) => !s.is_empty(),
        Some(Tok::ZeroOrMore) => true,
        Some(Tok::Set(set)) => {
            s.first().is_some_and(|c| set.contains(c)) && match_from(toks, i + 1, &s[1..])
        }
    }
}

/// Asterisk's order between matching extensions: a literal first, then patterns compared element by element,
/// fewer possibilities first, `.`/`!` last.
fn specificity(pattern: &str) -> (u8, Vec<usize>) {
    match pattern.strip_prefix('_') {
        None => (0, Vec::new()),
        Some(p) => (
            1,
            tokens(p)
                .iter()
                .map(|t| match t {
                    Tok::Set(s) => s.len(),
                    Tok::OneOrMore => 1_000,
                    Tok::ZeroOrMore => 1_001,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asterisk_patterns() {
        assert!(asterisk_match("_X.", "01023276123456"));
        assert!(!asterisk_match("_X.", "#01023276123456"));
        assert!(asterisk_match("_010.", "01023276123456"));
        assert!(!asterisk_match("_010.", "010"));
        assert!(asterisk_match("_0[1-9]XXXXXXXX", "0312345678"));
        assert!(asterisk_match("_[*#]X.", "*0102"));
        assert!(asterisk_match("_NXX", "201"));
        assert!(!asterisk_match("_NXX", "101"));
        assert!(asterisk_match("_.", "#0102"));
        assert!(asterisk_match("o", "o"));
        assert!(specificity("_010.") < specificity("_0X."));
        assert!(specificity("_0X.") < specificity("_X."));
        assert!(specificity("201") < specificity("_2XX"));
    }

    #[test]
    fn a_context_included_many_times_and_by_itself_is_searched_once() {
        let mut d = Dialplan::default();
        let loc = Loc {
            file: "extensions.conf".into(),
            line: 1,
        };
        // 30 includes of itself: (30)^12 lookups if each include were searched again.
        let mut looping = Context::new("outbound", loc.clone(), true);
        looping.includes = vec!["outbound".to_owned(); 30];
        d.add(looping);
        let mut from = Context::new("ivr", loc, true);
        from.includes = vec!["outbound".to_owned(); 30];
        d.add(from);
        assert!(matches!(d.reach("ivr", "0102327612345"), Reach::Nowhere));
    }
}
