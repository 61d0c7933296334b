//! The site's settings for the commands that replay CDRs (`analyze`, `backtest`, `learn`): the guard's
//! configuration read by the loader `serve` uses, or the defaults a new site gets, so that a replay decides
//! as the running guard would.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use engine::Policy;
use numbering::Numbering;
use replay::Site;

/// The site's settings: the configuration's numbering, policy (replaced by `policy` when given), tenants and
/// facts; without a configuration the built-in Japanese defaults.
pub fn load_site(config: Option<&Path>, policy: Option<&Path>) -> anyhow::Result<Site> {
    let Some(path) = config else {
        return Ok(Site::new(
            Arc::new(Numbering::japan_defaults()),
            load_policy(policy)?,
        ));
    };
    let settings = guard::Settings::load(path).map_err(|errors| {
        anyhow::anyhow!(
            "{errors}\n{} has {} error(s) (`tollguard check-config {}` explains them); nothing was replayed",
            path.display(),
            errors.0.len(),
            path.display()
        )
    })?;
    let numbering = Numbering::from_config(&settings.numbering)
        .map_err(|e| anyhow::anyhow!("{}: [numbering]: {e}", path.display()))?;
    let policy = match policy {
        Some(_) => load_policy(policy)?,
        None => settings.policy.clone(),
    };
    Ok(Site::new(Arc::new(numbering), policy)
        .with_tenants(tenants(&settings))
        .with_facts(settings.decide_config().site()))
}

/// The configuration's tenants; none for the guard's implicit tenant (then each record's own tenant stands).
fn tenants(settings: &guard::Settings) -> Vec<replay::Tenant> {
    let implicit =
        |t: &decide::Tenant| t.name.is_empty() && t.accounts.is_empty() && t.pbx_sources.is_empty();
    if settings.tenants.iter().all(implicit) {
        return Vec::new();
    }
    settings
        .tenants
        .iter()
        .map(|t| replay::Tenant {
            name: t.name.clone(),
            pbx_sources: t.pbx_sources.clone(),
            accounts: t.accounts.clone(),
        })
        .collect()
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        None => Ok(Policy::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the policy file {}", p.display()))?;
            Policy::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
    }
}
