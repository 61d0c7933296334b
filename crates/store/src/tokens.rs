//! API tokens of the operator API: only a SHA-256 hash of each secret is kept (the secret is shown once, when
//! the token is created), with the token's role, tenant scope, who created it and whether it was revoked.
//! Also the single-alert lookup the API needs to answer "404" for another tenant's alert.

use engine::Millis;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{ALERT_COLUMNS, Result, Store, StoreError, StoredAlert, alert_row, sql, stored_alert};

/// Tables of this module, created with the rest of the schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenants TEXT,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT
);
";

/// One API token as stored: never its secret, only the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The public part of the token (`tg_<id>_<secret>`), used to find it.
    pub id: String,
    /// Lower-case hex SHA-256 of the secret part.
    pub hash: String,
    /// "viewer", "operator" or "admin".
    pub role: String,
    /// `None`: every tenant; `Some(list)`: only these tenants.
    pub tenants: Option<Vec<String>>,
    /// Who or what the token is for ("night shift phone", "installer Sato").
    pub label: String,
    pub created_at: Millis,
    /// Token id of the creator, or "tollguard" for the first admin token.
    pub created_by: String,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
}

fn decode_tenants(text: Option<String>) -> rusqlite::Result<Option<Vec<String>>> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        hash: r.get(1)?,
        role: r.get(2)?,
        tenants: decode_tenants(r.get(3)?)?,
        label: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        revoked_at: r.get(7)?,
        revoked_by: r.get(8)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, hash, role, tenants, label, created_at, created_by, revoked_at, revoked_by";

impl Store {
    /// Records a new token (its hash). Fails if the id exists. (Fields one by one: `tokens` is a private
    /// module of the store, so [`ApiToken`] cannot be named outside; values read back are used by inference.)
    pub fn insert_token(
        &self,
        id: &str,
        hash: &str,
        role: &str,
        tenants: Option<&[String]>,
        label: &str,
        created: (Millis, &str),
    ) -> Result<()> {
        let tenants = match tenants {
            None => None,
            Some(v) => Some(
                serde_json::to_string(v).map_err(|source| StoreError::Decode {
                    what: "token tenants",
                    source,
                })?,
            ),
        };
        self.conn
            .execute(
                "INSERT INTO api_tokens(id, hash, role, tenants, label, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, hash, role, tenants, label, created.0, created.1],
            )
            .map_err(sql("saving an API token"))?;
        Ok(())
    }

    /// Every token, revoked ones included, oldest first.
    pub fn tokens(&self) -> Result<Vec<ApiToken>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
            ))
            .map_err(sql("listing API tokens"))?;
        let rows = stmt
            .query_map([], token_row)
            .map_err(sql("listing API tokens"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(sql("reading an API token"))
    }

    /// One token by id.
    pub fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        self.conn
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"),
                params![id],
                token_row,
            )
            .optional()
            .map_err(sql("reading an API token"))
    }

    /// Revokes a token. Returns whether it was active.
    pub fn revoke_token(&self, id: &str, at: Millis, by: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at, by],
            )
            .map_err(sql("revoking an API token"))?;
        Ok(n > 0)
    }

    /// One alert by id (of any tenant: the caller checks the tenant).
    pub fn alert(&self, id: i64) -> Result<Option<StoredAlert>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                params![id],
                alert_row,
            )
            .optional()
            .map_err(sql("reading an alert"))?;
        row.map(stored_alert).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, tenants: Option<Vec<String>>) -> ApiToken {
        ApiToken {
            id: id.into(),
            hash: "ab".repeat(32),
            role: "viewer".into(),
            tenants,
            label: "test".into(),
            created_at: 5,
            created_by: "tollguard".into(),
            revoked_at: None,
            revoked_by: None,
        }
    }

    #[test]
    fn tokens_round_trip_and_revoke_once() {
        let s = Store::in_memory().unwrap();
        let a = token("a1", None);
        let b = token("b2", Some(vec!["acme".into(), "beta".into()]));
        let put = |t: &ApiToken| {
            s.insert_token(
                &t.id,
                &t.hash,
                &t.role,
                t.tenants.as_deref(),
                &t.label,
                (t.created_at, &t.created_by),
            )
        };
        put(&a).unwrap();
        put(&b).unwrap();
        assert!(put(&a).is_err(), "duplicate ids are refused");
        assert_eq!(s.tokens().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(s.token("b2").unwrap(), Some(b));
        assert_eq!(s.token("zz").unwrap(), None);
        assert!(s.revoke_token("a1", 9, "b2").unwrap());
        assert!(!s.revoke_token("a1", 10, "b2").unwrap());
        let a = s.token("a1").unwrap().unwrap();
        assert_eq!(
            (a.revoked_at, a.revoked_by.as_deref()),
            (Some(9), Some("b2"))
        );
    }
}
