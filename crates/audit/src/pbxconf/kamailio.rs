//! A Kamailio `subscriber` table export (`kamctl db show subscriber`, a CSV or TSV of username, domain and
//! password, a header line optional): the accounts' plain-text passwords.

use super::model::{Loc, Model, Secret};

pub fn read_subscribers(file: &str, text: &str, m: &mut Model) {
    let tab = text.lines().next().is_some_and(|l| l.contains('\t'));
    let mut cols = (0usize, 2usize);
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = if tab {
            line.split('\t')
        } else {
            line.split(',')
        }
        .map(|c| c.trim().trim_matches('"'))
        .collect();
        if i == 0 && f.iter().any(|c| c.eq_ignore_ascii_case("username")) {
            let pos = |n: &str| f.iter().position(|c| c.eq_ignore_ascii_case(n));
            cols = (pos("username").unwrap_or(0), pos("password").unwrap_or(2));
            continue;
        }
        let (Some(user), Some(password)) = (f.get(cols.0), f.get(cols.1)) else {
            continue;
        };
        if user.is_empty() {
            continue;
        }
        m.secrets.push(Secret {
            user: (*user).to_owned(),
            password: (*password).to_owned(),
            loc: Loc {
                file: file.to_owned(),
                line: i + 1,
            },
            trunk: false,
        });
    }
}
