//! A small client of the operator API for `tollguard ctl` and tests: JSON in and out, the token sent as a
//! bearer header (never printed), and the server's error sentence kept as the error.

use std::time::Duration;

/// What went wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the tollguard API at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The API answered with an error: its sentence and status.
    #[error("{error} (HTTP {status})")]
    Api { status: u16, error: String },
    #[error("unexpected answer from the tollguard API: {0}")]
    Decode(String),
    #[error("bad API address {0:?}: write e.g. http://127.0.0.1:8080")]
    BadUrl(String),
}

/// A client of one API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// `base` like "http://127.0.0.1:8080" or "https://guard.example:8443".
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.clone(),
                detail: e.to_string(),
            })?;
        Ok(Client { base, token, http })
    }

    /// Sends a request with an optional JSON body; returns the JSON answer (Null for an empty one).
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let mut rb = self.request(method, path)?;
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.finish(rb).await
    }

    /// Sends a text body (a policy file) with its content type.
    pub async fn text(
        &self,
        method: &str,
        path: &str,
        body: String,
        content_type: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let rb = self
            .request(method, path)?
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.finish(rb).await
    }

    fn request(&self, method: &str, path: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ClientError::BadUrl(method.to_owned()))?;
        let mut rb = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        Ok(rb)
    }

    async fn finish(&self, rb: reqwest::RequestBuilder) -> Result<serde_json::Value, ClientError> {
        let resp = rb.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            detail: root_cause(&e),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let value: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| {
                ClientError::Decode(format!(
                    "{e}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            })?
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let error = value
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("the API refused the request")
                .to_owned();
            Err(ClientError::Api { status, error })
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// Percent-encodes one path segment (call ids hold '@', addresses ':').
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::segment("a1@10.0.0.1"), "a1%4010.0.0.1");
        assert_eq!(super::segment("2001:db8::1"), "2001%3Adb8%3A%3A1");
        assert_eq!(super::segment("x/y z"), "x%2Fy%20z");
    }
}
