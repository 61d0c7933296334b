//! API tokens (hashes only), roles and tenant scopes. Being written.

/// Tables of this module, created with the rest of the schema.
pub(crate) const SCHEMA: &str = "";
