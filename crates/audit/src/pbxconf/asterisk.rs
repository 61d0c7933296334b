//! Asterisk's files: `sip.conf` (chan_sip), `pjsip.conf` (res_pjsip) and `extensions.conf`, FreePBX's generated
//! `*_custom`/`*_additional` files included. Reads accounts, endpoints and the dial plan into the model and
//! flags what a single file shows: guests allowed, `alwaysauthreject=no`, endpoints without ACL or call limit,
//! trunk secrets, DISA, call forwarding and transfers to the outside.

use super::dialplan::{Context, Exten, Pattern, Step};
use super::ini::{Ini, Section};
use super::model::{Caller, Endpoint, Loc, Model, Secret};
use crate::finding::{Finding, Severity};

fn loc(file: &str, line: usize) -> Loc {
    Loc {
        file: file.to_owned(),
        line,
    }
}

/// chan_sip's `sip.conf`.
pub fn read_sip_conf(file: &str, text: &str, m: &mut Model) {
    let ini = Ini::parse(text);
    let general = ini.named("general").next();
    let guest_context = general
        .and_then(|g| ini.get(g, "context"))
        .map_or("default".to_owned(), |e| e.value.clone());
    if let Some(g) = general {
        general_checks(file, &ini, g, &guest_context, m);
    }
    for s in ini
        .sections
        .iter()
        .filter(|s| !s.is_template && s.name != "general")
    {
        let Some(kind) = ini.get(s, "type").map(|e| e.value.to_ascii_lowercase()) else {
            continue;
        };
        if !matches!(kind.as_str(), "friend" | "peer" | "user") {
            continue;
        }
        sip_peer(file, &ini, s, &guest_context, m);
    }
}

fn general_checks(file: &str, ini: &Ini, g: &Section, guest_context: &str, m: &mut Model) {
    match ini.get(g, "allowguest") {
        Some(e) if is_no(&e.value) => {}
        other => {
            let line = other.map_or(g.line, |e| e.line);
            m.endpoints.push(Endpoint {
                name: "guest (chan_sip allowguest)".into(),
                context: guest_context.to_owned(),
                caller: Caller::Guest,
                loc: loc(file, line),
            });
            m.findings.push(Finding::new(
                "guest-endpoint",
                Severity::Warning,
                loc(file, line).to_string(),
                format!(
                    "unauthenticated calls are accepted into context {guest_context:?} (allowguest {})",
                    if other.is_some() { "= yes" } else { "defaults to yes" }
                ),
                "anyone on the internet can send calls into that context without a password",
                "allowguest=no in [general]",
            ));
        }
    }
    if let Some(e) = ini.get(g, "alwaysauthreject").filter(|e| is_no(&e.value)) {
        m.findings.push(Finding::new(
            "alwaysauthreject-off",
            Severity::Warning,
            loc(file, e.line).to_string(),
            "alwaysauthreject=no: the PBX tells unknown users from wrong passwords",
            "scanners (svwar) list your extensions, then guess only their passwords",
            "alwaysauthreject=yes",
        ));
    }
    for e in g.entries.iter().filter(|e| e.key == "register") {
        trunk_secret_from_register(file, e.line, &e.value, m);
    }
}

/// `register => user[@domain]:secret[:authuser]@host[:port][/extension]`.
fn trunk_secret_from_register(file: &str, line: usize, v: &str, m: &mut Model) {
    let creds = v.rsplit_once('@').map_or(v, |(c, _)| c);
    if let Some((user, rest)) = creds.split_once(':') {
        let password = rest.split(':').next().unwrap_or("");
        m.secrets.push(Secret {
            user: user.to_owned(),
            password: password.to_owned(),
            loc: loc(file, line),
            trunk: true,
        });
    }
}

fn sip_peer(file: &str, ini: &Ini, s: &Section, guest_context: &str, m: &mut Model) {
    let dynamic = ini
        .get(s, "host")
        .is_none_or(|h| h.value.eq_ignore_ascii_case("dynamic"));
    let context = ini
        .get(s, "context")
        .map_or(guest_context.to_owned(), |e| e.value.clone());
    let secret = ini.get(s, "secret").or(ini.get(s, "md5secret"));
    let insecure_invite = ini
        .get(s, "insecure")
        .is_some_and(|e| e.value.contains("invite"));
    if let Some(e) = ini.get(s, "secret").or(ini.get(s, "remotesecret")) {
        let user = ini
            .get(s, "defaultuser")
            .or(ini.get(s, "username"))
            .map_or(s.name.clone(), |u| u.value.clone());
        m.secrets.push(Secret {
            user,
            password: e.value.clone(),
            loc: loc(file, e.line),
            trunk: !dynamic,
        });
    }
    let caller = if !dynamic && (insecure_invite || secret.is_none()) {
        Caller::Inbound
    } else if dynamic && secret.is_none() {
        Caller::Guest
    } else {
        Caller::Phone
    };
    m.endpoints.push(Endpoint {
        name: s.name.clone(),
        context,
        caller,
        loc: loc(file, s.line),
    });
    if dynamic {
        acl_check(file, ini, s, &["permit", "deny", "acl"], m);
        if ini.get(s, "call-limit").is_some() {
            m.limits_calls = true;
        } else {
            m.findings.push(Finding::new(
                "no-call-limit",
                Severity::Info,
                loc(file, s.line).to_string(),
                format!("peer {} has no call-limit", s.name),
                "a hijacked account places dozens of calls at once: the 2015 bills came from parallel calls",
                "call-limit=2 (or what one phone needs)",
            ));
        }
    }
}

/// An account phones register to, with no address restriction.
fn acl_check(file: &str, ini: &Ini, s: &Section, keys: &[&str], m: &mut Model) {
    let restricted = keys.iter().any(|k| {
        ini.all(s, k)
            .iter()
            // FreePBX writes deny=0.0.0.0/0.0.0.0 and permit=0.0.0.0/0.0.0.0: a permit of everything is no ACL.
            .any(|e| restricts(k, &e.value))
    });
    if restricted {
        return;
    }
    m.findings.push(Finding::new(
        "no-acl",
        Severity::Warning,
        loc(file, s.line).to_string(),
        format!("{} accepts registrations from any address (no permit/deny/acl)", s.name),
        "with a guessed or default password, a scanner anywhere on the internet registers as this phone",
        "deny=0.0.0.0/0.0.0.0 then permit=<your office network> (pjsip: acl=/contact_acl= with a type=acl section)",
    ));
}

/// Whether an ACL line narrows who may register: a deny alone (a block list) does not, nor does a permit of
/// every address.
fn restricts(key: &str, value: &str) -> bool {
    if key.contains("deny") {
        return false;
    }
    if key.contains("permit") {
        return !is_everywhere(value);
    }
    true
}

/// `0.0.0.0/0`, `0.0.0.0/0.0.0.0`, `::/0`: every address.
fn is_everywhere(v: &str) -> bool {
    v.split(',').any(|n| {
        let n = n.trim();
        matches!(n, "0.0.0.0/0" | "0.0.0.0/0.0.0.0" | "::/0" | "0.0.0.0")
    })
}

fn is_no(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "no" | "false" | "0" | "off"
    )
}

/// res_pjsip's `pjsip.conf`.
pub fn read_pjsip_conf(file: &str, text: &str, m: &mut Model) {
    let ini = Ini::parse(text);
    let ini = &ini;
    let of_type = |t: &'static str| {
        ini.sections
            .iter()
            .filter(move |s| !s.is_template && ini.get(s, "type").is_some_and(|e| e.value == t))
    };
    let global_acl = of_type("acl").next().is_some();
    let outbound_auths: Vec<String> = ini
        .sections
        .iter()
        .filter_map(|s| ini.get(s, "outbound_auth").map(|e| e.value.clone()))
        .collect();
    let identified: Vec<String> = of_type("identify")
        .filter_map(|s| ini.get(s, "endpoint").map(|e| e.value.clone()))
        .collect();
    for s in of_type("auth") {
        if let Some(p) = ini.get(s, "password") {
            let user = ini
                .get(s, "username")
                .map_or(s.name.clone(), |u| u.value.clone());
            m.secrets.push(Secret {
                user,
                password: p.value.clone(),
                loc: loc(file, p.line),
                trunk: outbound_auths
                    .iter()
                    .any(|o| o.split(',').any(|a| a.trim() == s.name)),
            });
        }
    }
    for s in of_type("endpoint") {
        let context = ini
            .get(s, "context")
            .map_or("default".to_owned(), |e| e.value.clone());
        let has_auth = ini.get(s, "auth").is_some();
        let caller = if s.name == "anonymous" {
            Caller::Guest
        } else if has_auth {
            Caller::Phone
        } else if identified.contains(&s.name) {
            Caller::Inbound
        } else {
            Caller::Guest
        };
        if caller == Caller::Guest {
            m.findings.push(Finding::new(
                "guest-endpoint",
                Severity::Warning,
                loc(file, s.line).to_string(),
                format!("endpoint {} takes calls without authentication into context {context:?}", s.name),
                "anyone on the internet can send calls into that context",
                "remove the anonymous endpoint, or give it a context that reaches only your own extensions",
            ));
        }
        m.endpoints.push(Endpoint {
            name: s.name.clone(),
            context,
            caller,
            loc: loc(file, s.line),
        });
        if has_auth && !global_acl {
            acl_check(
                file,
                ini,
                s,
                &[
                    "acl",
                    "contact_acl",
                    "permit",
                    "deny",
                    "contact_permit",
                    "contact_deny",
                ],
                m,
            );
        }
    }
}

/// `extensions.conf`.
pub fn read_extensions_conf(file: &str, text: &str, m: &mut Model) {
    m.has_dialplan = true;
    let ini = Ini::parse(text);
    for s in ini
        .sections
        .iter()
        .filter(|s| !matches!(s.name.as_str(), "general" | "globals"))
    {
        let mut c = Context::new(&s.name, loc(file, s.line), false);
        for e in &s.entries {
            match e.key.as_str() {
                "include" => c
                    .includes
                    .push(e.value.split(',').next().unwrap_or("").trim().to_owned()),
                "exten" => exten_line(file, e.line, &e.value, &mut c, m),
                "same" => same_line(file, e.line, &e.value, &mut c, m),
                _ => {}
            }
        }
        m.dialplan.add(c);
    }
}

fn exten_line(file: &str, line: usize, v: &str, c: &mut Context, m: &mut Model) {
    let mut parts = v.splitn(3, ',');
    let pattern = parts.next().unwrap_or("").trim();
    let pattern = pattern.split('/').next().unwrap_or(pattern);
    let _prio = parts.next();
    let app = parts.next().unwrap_or("");
    let at = loc(file, line);
    let step = app_step(app, &at, c, m);
    match c.extens.last_mut().filter(|e| e.pattern.text() == pattern) {
        Some(e) => e.steps.push((step, at)),
        None => c.extens.push(Exten {
            pattern: Pattern::Asterisk(pattern.to_owned()),
            loc: at.clone(),
            steps: vec![(step, at)],
        }),
    }
}

fn same_line(file: &str, line: usize, v: &str, c: &mut Context, m: &mut Model) {
    let app = v.split_once(',').map_or("", |(_, a)| a);
    let at = loc(file, line);
    let step = app_step(app, &at, c, m);
    if let Some(e) = c.extens.last_mut() {
        e.steps.push((step, at));
    }
}

/// What `App(args)` does, and the findings it raises on its own.
fn app_step(app: &str, at: &Loc, c: &mut Context, m: &mut Model) -> Step {
    let (name, args) = app.split_once('(').unwrap_or((app, ""));
    let args = args.rsplit_once(')').map_or(args, |(a, _)| a);
    let name = name.trim().to_ascii_lowercase();
    if args.contains("GROUP_COUNT") || name == "group" {
        m.limits_calls = true;
    }
    match name.as_str() {
        "dial" => dial_step(args, at, m),
        // FreePBX's outbound routes dial their trunks through this macro (or its Gosub form).
        "macro" | "gosub"
            if args.trim_start().starts_with("dialout-")
                || args.trim_start().starts_with("macro-dialout-") =>
        {
            Step::DialOut
        }
        "goto" => goto_step(args, &c.name),
        "hangup" | "congestion" | "busy" => Step::Block,
        "authenticate" | "vmauthenticate" => Step::Pin,
        "disa" => {
            m.findings.push(Finding::new(
                "disa",
                Severity::Critical,
                at.to_string(),
                format!("DISA in context {:?} gives callers an outside dial tone", c.name),
                "whoever reaches it (a guessed PIN, a forwarded call) dials abroad on your bill",
                "remove DISA; if a road warrior needs to call out, give them a SIP account with its own limits",
            ));
            Step::Disa
        }
        "background" | "waitexten" | "read" => {
            c.ivr.get_or_insert_with(|| at.clone());
            Step::Other
        }
        _ => Step::Other,
    }
}

fn dial_step(args: &str, at: &Loc, m: &mut Model) -> Step {
    let mut f = args.split(',');
    let target = f.next().unwrap_or("").trim();
    let options = f.nth(1).unwrap_or("");
    if target.contains("${DB(CF") || target.contains("${DB(CFIM") {
        m.findings.push(Finding::new(
            "call-forward-outside",
            Severity::Warning,
            at.to_string(),
            "calls are forwarded to a number read from the database, outside numbers included",
            "a hijacked phone sets call forwarding to abroad; every call to it then costs you",
            "dial forwarding targets through a context that reaches domestic numbers only",
        ));
    }
    if options.contains('t') || options.contains('T') {
        m.findings.push(Finding::new(
            "transfer-to-outside",
            Severity::Warning,
            at.to_string(),
            format!("Dial options {options:?} let a party transfer the call"),
            "a caller from outside can transfer to another outside number: trunk-to-trunk, on your bill",
            "drop the t/T options on calls that can reach the trunk, or transfer only into a restricted context",
        ));
    }
    let first = target.split('&').next().unwrap_or("");
    if let Some(local) = first.strip_prefix("Local/")
        && let Some((exten, ctx)) = local.split_once('@')
    {
        let exten = exten
            .contains("${EXTEN")
            .then_some(())
            .map_or(Some(exten.to_owned()), |_| None);
        return Step::Goto {
            context: ctx.split('/').next().unwrap_or(ctx).to_owned(),
            exten,
        };
    }
    let dials_digits = first.contains("${EXTEN") || first.contains("${ARG");
    let via_trunk =
        first.contains('@') || first.matches('/').count() >= 2 || first.starts_with("DAHDI/g");
    if dials_digits && via_trunk {
        Step::DialOut
    } else {
        Step::DialInternal
    }
}

fn goto_step(args: &str, here: &str) -> Step {
    let parts: Vec<&str> = args.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [ctx, exten, _] => Step::Goto {
            context: (*ctx).to_owned(),
            exten: (!exten.contains("${EXTEN")).then(|| (*exten).to_owned()),
        },
        [exten, _] => Step::Goto {
            context: here.to_owned(),
            exten: (!exten.contains("${EXTEN")).then(|| (*exten).to_owned()),
        },
        _ => Step::Other,
    }
}
