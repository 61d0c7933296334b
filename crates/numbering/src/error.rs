//! Typed errors of loading numbering configuration and tables.

/// What went wrong while loading a dial plan, a risk list or a rate table.
#[derive(Debug, thiserror::Error)]
pub enum NumberingError {
    #[error("{file}:{line}: {why}")]
    Table {
        file: String,
        line: u64,
        why: String,
    },
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("dial plan: {0}")]
    DialPlan(String),
}
