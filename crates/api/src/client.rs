//! A small client of the operator API for `tollguard ctl` and tests: JSON in and out, the token sent as a
//! bearer header (never printed), and the server's error sentence kept as the error.
//!
//! Over HTTPS it trusts the public roots, or — given a PEM file (`tollguard ctl --ca-cert`) — exactly the
//! certificates of that file, like `curl --cacert`: as CAs (a private CA signing the API's certificate,
//! checked with the address) and, so that the self-signed certificate an admin makes with `openssl req
//! -x509` works as is, as the server's own certificate when it is byte for byte the one presented
//! (webpki refuses such a certificate as a CA used as end entity).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

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
    /// The CA certificate file given to trust cannot be used.
    #[error("CA certificate {path}: {detail}")]
    CaCert { path: String, detail: String },
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
        Self::with_ca_cert(base, token, None)
    }

    /// Like [`Client::new`], but over HTTPS trusting only the certificates of a PEM file: a private CA, or
    /// the API's self-signed certificate (see the module's text).
    pub fn with_ca_cert(
        base: &str,
        token: Option<String>,
        ca_cert: Option<&Path>,
    ) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(path) = ca_cert {
            builder = builder.use_preconfigured_tls(trusting_file(path)?);
        }
        let http = builder.build().map_err(|e| ClientError::Unreachable {
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

/// A TLS client configuration that trusts exactly the certificates of a PEM file, each checked to be a
/// certificate, so that a wrong file is reported as such rather than as a failed connection.
fn trusting_file(path: &Path) -> Result<rustls::ClientConfig, ClientError> {
    let fail = |detail: String| ClientError::CaCert {
        path: path.display().to_string(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail(
            "holds no certificate (expected a PEM \"-----BEGIN CERTIFICATE-----\" block)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, der) in certs.iter().enumerate() {
        roots.add(der.clone()).map_err(|e| {
            fail(format!(
                "certificate {} is not a usable X.509 certificate: {e}",
                i + 1
            ))
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TrustFile { certs, webpki }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Trusts the server's certificate when it is one of `certs`, else when it chains to one of them (with the
/// address checked). The handshake's signatures are always checked: the server proves it holds the key.
#[derive(Debug)]
struct TrustFile {
    certs: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for TrustFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
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
    use super::{Client, ClientError};

    fn ca_error(content: Option<&[u8]>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        match Client::with_ca_cert("https://127.0.0.1:8443", None, Some(&path)) {
            Err(e @ ClientError::CaCert { .. }) => {
                let text = e.to_string();
                assert!(text.contains("ca.pem"), "names the file: {text}");
                assert!(!text.contains('\n'), "one line: {text}");
                text
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unusable_ca_certificate_file_is_one_clear_line() {
        assert!(ca_error(None).contains("cannot be read"));
        assert!(ca_error(Some(b"hello\n")).contains("holds no certificate"));
        assert!(
            ca_error(Some(
                b"-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n"
            ))
            .contains("not valid PEM")
        );
        // Well-formed PEM around bytes that are no certificate.
        assert!(
            ca_error(Some(
                b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
            ))
            .contains("certificate 1 is not a usable X.509 certificate")
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::segment("a1@10.0.0.1"), "a1%4010.0.0.1");
        assert_eq!(super::segment("2001:db8::1"), "2001%3Adb8%3A%3A1");
        assert_eq!(super::segment("x/y z"), "x%2Fy%20z");
    }
}
