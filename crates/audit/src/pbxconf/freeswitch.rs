//! FreeSWITCH's XML: `vars.xml` (the shipped `default_password=1234`), the directory (users, their
//! passwords and `user_context`, gateways and their credentials) and the dialplan (contexts, extensions whose
//! destination_number condition is a regular expression, bridge/transfer/respond actions). Read line by line:
//! FreeSWITCH's own files keep one element per line, and the audit needs line numbers.

use regex::Regex;

use super::dialplan::{Context, Exten, Pattern, Step};
use super::model::{Caller, Endpoint, Loc, Model, Secret};
use crate::finding::{Finding, Severity};

/// What FreeSWITCH's vanilla configuration ships as every user's password.
const SHIPPED_DEFAULT: &str = "1234";

/// The value of attribute `name` in an XML line.
fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("{name}=\"");
    let start = line.find(&pat)? + pat.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

#[derive(Default)]
struct State {
    default_password: Option<String>,
    user: Option<(String, Loc, String)>,
    gateway: Option<String>,
    context: Option<Context>,
    exten: Option<Exten>,
}

/// Any FreeSWITCH XML file.
pub fn read_xml(file: &str, text: &str, m: &mut Model) {
    let mut st = State::default();
    for (i, line) in text.lines().enumerate() {
        let at = Loc {
            file: file.to_owned(),
            line: i + 1,
        };
        let l = line.trim();
        if l.starts_with("<!--") {
            continue;
        }
        vars(l, &at, &mut st, m);
        directory(l, &at, &mut st, m);
        dialplan(l, &at, &mut st, m);
    }
    if let Some(c) = st.context.take() {
        m.dialplan.add(c);
    }
}

fn vars(l: &str, at: &Loc, st: &mut State, m: &mut Model) {
    let Some(v) = attr(l, "data").filter(|_| l.contains("X-PRE-PROCESS")) else {
        return;
    };
    let Some(pw) = v.strip_prefix("default_password=") else {
        return;
    };
    st.default_password = Some(pw.to_owned());
    if pw == SHIPPED_DEFAULT {
        m.findings.push(Finding::new(
            "default-secret",
            Severity::Critical,
            at.to_string(),
            "default_password is still FreeSWITCH's shipped 1234",
            "every user whose password is $${default_password} logs in with 1234: the first password scanners try",
            "set default_password to a long random value, and give each user its own password",
        ));
    }
}

fn directory(l: &str, at: &Loc, st: &mut State, m: &mut Model) {
    if l.starts_with("<user ") {
        if let Some(id) = attr(l, "id") {
            st.user = Some((id.to_owned(), at.clone(), "default".to_owned()));
        }
    } else if l.starts_with("</user>") {
        if let Some((name, loc, context)) = st.user.take() {
            m.endpoints.push(Endpoint {
                name,
                context,
                caller: Caller::Phone,
                loc,
            });
        }
    } else if l.starts_with("<gateway ") {
        st.gateway = attr(l, "name").map(str::to_owned);
    } else if l.starts_with("</gateway>") {
        st.gateway = None;
    } else if l.starts_with("<variable ") && attr(l, "name") == Some("user_context") {
        if let (Some(u), Some(v)) = (st.user.as_mut(), attr(l, "value")) {
            u.2 = v.to_owned();
        }
    } else if l.starts_with("<param ") && attr(l, "name") == Some("password") {
        let Some(v) = attr(l, "value") else { return };
        let password = if v.contains("${default_password}") {
            st.default_password
                .clone()
                .unwrap_or_else(|| SHIPPED_DEFAULT.to_owned())
        } else {
            v.to_owned()
        };
        let (user, trunk) = match (&st.user, &st.gateway) {
            (Some(u), _) => (u.0.clone(), false),
            (None, Some(g)) => (g.clone(), true),
            (None, None) => return,
        };
        m.secrets.push(Secret {
            user,
            password,
            loc: at.clone(),
            trunk,
        });
    }
}

fn dialplan(l: &str, at: &Loc, st: &mut State, m: &mut Model) {
    if l.starts_with("<context ") {
        if let Some(c) = st.context.take() {
            m.dialplan.add(c);
        }
        let name = attr(l, "name").unwrap_or("default");
        m.has_dialplan = true;
        if name == "public" {
            m.endpoints.push(Endpoint {
                name: "public (calls without authentication)".into(),
                context: name.to_owned(),
                caller: Caller::Guest,
                loc: at.clone(),
            });
        }
        st.context = Some(Context::new(name, at.clone(), true));
    } else if l.starts_with("<extension ") {
        st.exten = None;
    } else if l.starts_with("<condition ") && attr(l, "field") == Some("destination_number") {
        let Some(expr) = attr(l, "expression") else {
            return;
        };
        let Ok(re) = Regex::new(expr) else { return };
        st.exten = Some(Exten {
            pattern: Pattern::Regex(re, expr.to_owned()),
            loc: at.clone(),
            steps: Vec::new(),
        });
    } else if l.starts_with("<action ") {
        let app = attr(l, "application").unwrap_or("");
        let data = attr(l, "data").unwrap_or("");
        if app == "limit" {
            m.limits_calls = true;
        }
        let step = action_step(app, data);
        if let Some(e) = st.exten.as_mut() {
            e.steps.push((step, at.clone()));
        }
    } else if l.starts_with("</extension>")
        && let (Some(e), Some(c)) = (st.exten.take(), st.context.as_mut())
    {
        c.extens.push(e);
    }
}

fn action_step(app: &str, data: &str) -> Step {
    match app {
        "bridge" if data.contains("sofia/gateway/") || data.contains("sofia/external/") => {
            Step::DialOut
        }
        "bridge" => Step::DialInternal,
        "transfer" => {
            let mut p = data.split_whitespace();
            let exten = p.next().unwrap_or("");
            let ctx = p.nth(1).unwrap_or("default");
            Step::Goto {
                context: ctx.to_owned(),
                exten: (!exten.contains('$')).then(|| exten.to_owned()),
            }
        }
        "respond" | "hangup" => Step::Block,
        _ => Step::Other,
    }
}
