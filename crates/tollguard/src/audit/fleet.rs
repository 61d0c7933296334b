//! One PBX or a fleet: `--target` alone, or `--targets FILE.csv` with one PBX per line
//! (`tenant,target[,transport[,extensions]]`, a header line optional). Every target is checked against the
//! user's permission before anything is sent to any of them.

use std::path::Path;

use anyhow::Context as _;
use audit::{Target, Transport};

use super::report::{Report, SiteReport};
use super::{Site, TargetArgs, permission};

/// Resolves every site, refuses the whole run if one is not the user's, then runs `check` on each.
pub fn run_sites(
    t: &TargetArgs,
    mut check: impl FnMut(&Site) -> anyhow::Result<SiteReport>,
) -> anyhow::Result<Report> {
    let transport = Transport::parse(&t.transport).context("--transport: use udp, tcp or tls")?;
    let sites = match (&t.target, &t.targets) {
        (Some(spec), _) => vec![Site {
            tenant: "default".into(),
            target: Target::resolve(spec, transport)?,
            extensions: None,
        }],
        (None, Some(file)) => read_fleet(file, transport)?,
        (None, None) => anyhow::bail!("give --target HOST[:PORT] or --targets FILE.csv"),
    };
    let perm = permission(t)?;
    for s in &sites {
        perm.check(&s.target)?;
    }
    let mut out = Vec::with_capacity(sites.len());
    for s in &sites {
        out.push(check(s)?);
    }
    Ok(Report::new(out))
}

fn read_fleet(path: &Path, default: Transport) -> anyhow::Result<Vec<Site>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the fleet file {}", path.display()))?;
    let mut sites = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let first = cols.first().copied().unwrap_or("");
        if first.is_empty()
            || first.starts_with('#')
            || (i == 0 && first.eq_ignore_ascii_case("tenant"))
        {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let target = cols
            .get(1)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{}: write tenant,target[,transport[,extensions]]", at()))?;
        let transport = match cols.get(2).filter(|t| !t.is_empty()) {
            Some(t) => Transport::parse(t)
                .with_context(|| format!("{}: transport {t:?}: use udp, tcp or tls", at()))?,
            None => default,
        };
        sites.push(Site {
            tenant: first.to_owned(),
            target: Target::resolve(target, transport).with_context(at)?,
            extensions: cols
                .get(3)
                .filter(|e| !e.is_empty())
                .map(|e| e.replace(';', ",")),
        });
    }
    anyhow::ensure!(!sites.is_empty(), "{}: no PBX listed", path.display());
    Ok(sites)
}
