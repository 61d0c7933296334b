//! End-call adapters: how a kill switch ends calls the guard does not carry itself — calls the redirect
//! server or the HTTP decision API allowed, and calls seen on the HEP mirror (with `[hep] enforce`). The
//! decision layer returns them as `EndCall` effects like any other; the inline proxy ends its own calls with
//! BYE/CANCEL, and the rest go here:
//! - **Kamailio** (`[end_call] kamailio_jsonrpc`): the `dialog` module's JSON-RPC over `xhttp` — `dlg.dlg_list`
//!   with the Call-ID finds the dialog's `h_entry`/`h_id`, `dlg.end_dlg` ends it (BYE to both sides).
//! - **Any system** (`[end_call] webhook`): a POST of `{"call_id","tenant","why"}`, for a script that calls
//!   Asterisk ARI/AMI, FreeSWITCH `uuid_kill` or an SBC's API (docs/integrations/).
//!
//! Each end is its own task with a timeout, and at most `MAX_IN_FLIGHT` run at once, so a slow PBX never
//! holds the guard's loop; an end that cannot be started is logged, not queued without bound.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Ends in flight at once.
const MAX_IN_FLIGHT: usize = 64;
/// One HTTP request's limit.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `[end_call]`: where calls the guard does not carry are ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndCallConfig {
    /// Kamailio's JSON-RPC URL (`http://127.0.0.1:5071/RPC`: jsonrpcs over xhttp).
    pub kamailio_jsonrpc: Option<String>,
    /// A URL that takes a POST of `{"call_id","tenant","why"}`.
    pub webhook: Option<String>,
}

impl EndCallConfig {
    pub fn is_empty(&self) -> bool {
        self.kamailio_jsonrpc.is_none() && self.webhook.is_none()
    }
}

/// The adapters of a running guard.
#[derive(Clone)]
pub struct Adapters {
    cfg: Arc<EndCallConfig>,
    client: Option<reqwest::Client>,
    slots: Arc<Semaphore>,
}

impl Adapters {
    pub fn new(cfg: EndCallConfig) -> Adapters {
        let client = (!cfg.is_empty())
            .then(|| reqwest::Client::builder().timeout(TIMEOUT).build())
            .and_then(|r| {
                r.map_err(|e| tracing::error!(error = %e, "the end-call adapters' HTTP client could not be made"))
                    .ok()
            });
        Adapters {
            cfg: Arc::new(cfg),
            client,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Ends a call on the systems that carry it, in the background.
    pub fn end(&self, call_id: String, tenant: String, why: String) {
        let Some(client) = self.client.clone() else {
            tracing::warn!(
                call_id,
                "a call to end is carried by another system, and no [end_call] adapter is configured: it goes on"
            );
            return;
        };
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::error!(
                call_id,
                "too many calls being ended at once: this one was not"
            );
            return;
        };
        let cfg = self.cfg.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(url) = &cfg.kamailio_jsonrpc {
                match end_in_kamailio(&client, url, &call_id).await {
                    Ok(n) => {
                        tracing::warn!(call_id, dialogs = n, reason = %why, "call ended in Kamailio")
                    }
                    Err(e) => tracing::error!(call_id, error = %e, "Kamailio did not end the call"),
                }
            }
            if let Some(url) = &cfg.webhook {
                let body = json!({"call_id": call_id, "tenant": tenant, "why": why});
                match client.post(url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::warn!(call_id, "call end handed to the webhook")
                    }
                    Ok(r) => {
                        tracing::error!(call_id, status = %r.status(), "the end-call webhook refused")
                    }
                    Err(e) => {
                        tracing::error!(call_id, error = %e, "the end-call webhook did not answer")
                    }
                }
            }
        });
    }
}

/// Ends every dialog of the Call-ID in Kamailio; returns how many.
pub async fn end_in_kamailio(
    client: &reqwest::Client,
    url: &str,
    call_id: &str,
) -> Result<usize, String> {
    let listed = rpc(client, url, "dlg.dlg_list", json!([call_id])).await?;
    let mut ids = Vec::new();
    handles(&listed, &mut ids);
    if ids.is_empty() {
        return Err(format!("no dialog with Call-ID {call_id}"));
    }
    for (entry, id) in &ids {
        rpc(client, url, "dlg.end_dlg", json!([entry, id])).await?;
    }
    Ok(ids.len())
}

async fn rpc(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let r = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{method}: {e}"))?;
    let v: Value = r.json().await.map_err(|e| format!("{method}: {e}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("{method}: {err}"));
    }
    Ok(v.get("result").cloned().unwrap_or(Value::Null))
}

/// The (h_entry, h_id) pairs anywhere in a `dlg.dlg_list` result (its shape differs between versions).
fn handles(v: &Value, out: &mut Vec<(u64, u64)>) {
    match v {
        Value::Object(m) => {
            let num = |k: &str| {
                m.get(k)
                    .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()))
            };
            if let (Some(e), Some(i)) = (num("h_entry"), num("h_id")) {
                out.push((e, i));
            }
            m.values().for_each(|x| handles(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| handles(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dialog_handles_are_found_whatever_the_nesting() {
        let v = serde_json::json!([{"h_entry": 3, "h_id": 7, "call-id": "x"}, {"dialog": {"h_entry": "4", "h_id": "9"}}]);
        let mut out = Vec::new();
        super::handles(&v, &mut out);
        out.sort();
        assert_eq!(out, vec![(3, 7), (4, 9)]);
    }
}
