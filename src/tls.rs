//! TLS every client shares (LDAP, SCIM, Microsoft Graph): the trusted roots (a `ca_file`, or
//! the system's, where `SSL_CERT_FILE` and `SSL_CERT_DIR` name another bundle), and for HTTP a
//! verifier that remembers who issued a certificate it refused, so that the error can name the
//! issuer and say what to set.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// A CA file that cannot be used, or no roots at all.
#[derive(Debug)]
pub struct RootsError {
    /// The file, or empty for the system's roots.
    pub path: PathBuf,
    pub problem: String,
}

/// The roots to verify servers with: the certificates of `ca_file` (relative to `base_dir`),
/// else the system's (rustls-native-certs, which reads `SSL_CERT_FILE` / `SSL_CERT_DIR` when set).
pub fn roots(ca_file: Option<&Path>, base_dir: &Path) -> Result<RootCertStore, RootsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(p) => {
            let path = base_dir.join(p);
            let fail = |problem: String| RootsError {
                path: path.clone(),
                problem,
            };
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| fail(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| fail(e.to_string()))?;
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(fail("it holds no PEM certificate".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                // An unreadable SSL_CERT_FILE, a bad file in the system's store: `-v` shows it.
                tracing::debug!(error = %e, "system root certificates");
            }
            for cert in found.certs {
                // A system root rustls cannot parse is skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a server's certificate was refused, and what it said of itself.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: CertificateError,
    /// The issuer and subject of the server's own certificate (RFC 4514 text, escaped).
    pub issuer: String,
    pub subject: String,
}

/// The last certificate a [`http_config`] refused.
#[derive(Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<Refusal>>>);

impl fmt::Debug for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Refusals")
    }
}

impl Refusals {
    fn record(&self, r: Refusal) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some(r);
        }
    }

    /// The refusal behind a failed request, if a certificate was refused.
    pub fn of(&self, e: &reqwest::Error) -> Option<Refusal> {
        self.behind(e)
    }

    /// The refusal behind any failed TLS connection (an LDAP connect's io error), if a
    /// certificate was refused.
    pub fn behind(&self, e: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
        let error = certificate_error(e)?;
        let recorded = self.0.lock().ok().and_then(|last| last.clone());
        Some(match recorded {
            Some(r) if r.error == error => r,
            _ => Refusal {
                error,
                issuer: String::new(),
                subject: String::new(),
            },
        })
    }
}

/// The rustls certificate error in a request's chain of causes (io errors hold it inside, at
/// times an io error inside another).
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<CertificateError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let mut inner: &(dyn std::error::Error + 'static) = s;
        while let Some(next) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            inner = next;
        }
        if let Some(rustls::Error::InvalidCertificate(c)) = inner.downcast_ref::<rustls::Error>() {
            return Some(c.clone());
        }
        source = s.source();
    }
    None
}

/// Verifies as rustls' WebPKI verifier does; on a refusal, records the certificate's issuer.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    refusals: Refusals,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(rustls::Error::InvalidCertificate(error)) = &verified {
            let (issuer, subject) = names(end_entity);
            self.refusals.record(Refusal {
                error: error.clone(),
                issuer,
                subject,
            });
        }
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The issuer and subject of a certificate, as RFC 4514 text, escaped for showing.
fn names(cert: &CertificateDer<'_>) -> (String, String) {
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, c)) => (
            crate::text::shown(&c.issuer().to_string()).into_owned(),
            crate::text::shown(&c.subject().to_string()).into_owned(),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

/// A client config for HTTPS (HTTP/2 and HTTP/1.1 offered, as reqwest does), verifying against
/// `roots` and recording what it refuses in the returned [`Refusals`].
pub fn http_config(roots: RootCertStore) -> Result<(ClientConfig, Refusals), RootsError> {
    let (mut config, refusals) = recording_config(roots)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, refusals))
}

/// A client config verifying against `roots` only, recording what it refuses in the returned
/// [`Refusals`] (LDAP's, and under [`http_config`]).
pub fn recording_config(roots: RootCertStore) -> Result<(ClientConfig, Refusals), RootsError> {
    let fail = |problem: String| RootsError {
        path: PathBuf::new(),
        problem,
    };
    if roots.is_empty() {
        return Err(fail(
            "the system has no trusted root certificates (install the ca-certificates package, \
             or set SSL_CERT_FILE)"
                .into(),
        ));
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let refusals = Refusals::default();
    let verifier = Arc::new(Recording {
        inner,
        refusals: refusals.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, refusals))
}

/// A reqwest client builder verifying HTTPS against `ca_file` or the system roots, and the
/// record of what it refuses. Without `https` (plain http to loopback) and without a `ca_file`,
/// no roots are needed, so none are loaded.
pub fn http_client(
    https: bool,
    ca_file: Option<&Path>,
) -> Result<(reqwest::ClientBuilder, Refusals), RootsError> {
    let builder = reqwest::Client::builder();
    if !https && ca_file.is_none() {
        return Ok((builder, Refusals::default()));
    }
    let (config, refusals) = http_config(roots(ca_file, Path::new(""))?)?;
    Ok((builder.use_preconfigured_tls(config), refusals))
}

/// What a refused certificate means and what to do, for `host`. `ca_key` is the setting that
/// names a CA file (`intranet.scim.ca_file`), if the client has one, and `ca_file` the file it
/// names when it is set (then the help says that file does not hold the issuer).
pub fn explain(
    r: &Refusal,
    host: &str,
    ca_key: Option<&str>,
    ca_file: Option<&Path>,
) -> (String, String) {
    let trust = match (ca_key, ca_file) {
        (Some(key), Some(file)) => format!(
            "`{key}` ({}) holds no CA that issued it: point it at the PEM file of that CA",
            crate::text::shown(&file.display().to_string())
        ),
        (Some(key), None) => format!("set `{key}` to the PEM file of the CA that issued it"),
        (None, _) => "add the CA that issued it to the system's trusted roots, or point SSL_CERT_FILE at a PEM bundle holding it".to_owned(),
    };
    let issuer = format!("`{}`", r.issuer);
    // "(issued by `CN=…`)", or nothing when the certificate could not be parsed for its names.
    let by = if r.issuer.is_empty() {
        String::new()
    } else {
        format!(" (issued by {issuer})")
    };
    let roots = match ca_file {
        Some(_) => "",
        None => "; the system's roots (or SSL_CERT_FILE) are trusted otherwise",
    };
    match &r.error {
        CertificateError::UnknownIssuer => {
            let what = if r.issuer.is_empty() {
                format!("the certificate of {host} is issued by a CA that is not trusted")
            } else if r.issuer == r.subject {
                format!("the certificate of {host} is self-signed by {issuer}, which is not a trusted CA")
            } else {
                format!(
                    "the certificate of {host} is issued by {issuer}, which is not a trusted CA"
                )
            };
            (what, format!("{trust}{roots}"))
        }
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => (
            format!(
                "the certificate of {host}{by} is a CA certificate, which a server cannot use as its own (a self-signed certificate made as a CA, as `openssl req -x509` does by default)"
            ),
            format!(
                "issue the server a certificate from that CA (basicConstraints CA:FALSE, a subjectAltName for `{host}`), and {}",
                match ca_key {
                    Some(key) => format!("set `{key}` to the CA's PEM file"),
                    None => "trust the CA (the system's roots or SSL_CERT_FILE)".to_owned(),
                }
            ),
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let presented = match &r.error {
                CertificateError::NotValidForNameContext { presented, .. }
                    if !presented.is_empty() =>
                {
                    let names: Vec<&str> = presented.iter().map(|p| presented_name(p)).collect();
                    format!(" (it is for {})", crate::text::shown(&names.join(", ")))
                }
                _ => String::new(),
            };
            (
                format!("the certificate of {host} is not issued for the name `{host}`{presented}"),
                "use the host name (or IP address) the certificate holds in the URL, or have the certificate reissued with this name (an IP address needs an IP entry in its subjectAltName)".to_owned(),
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = match &r.error {
                CertificateError::ExpiredContext { not_after, .. } => jiff::Timestamp::from_second(
                    i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX),
                )
                .map(|t| format!(" on {t}"))
                .unwrap_or_default(),
                _ => String::new(),
            };
            (
                format!("the certificate of {host} expired{when}"),
                "the certificate must be renewed on the server; check this machine's clock too"
                    .to_owned(),
            )
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
            format!("the certificate of {host} is not valid yet"),
            "check this machine's clock and the server's certificate".to_owned(),
        ),
        other => {
            let why = match other {
                CertificateError::Other(o) => o.to_string(),
                other => format!("{other:?}"),
            };
            (
                format!("the certificate of {host}{by} was refused: {why}"),
                format!("check the server's certificate; if its CA is private, {trust}"),
            )
        }
    }
}

/// A name rustls lists as presented (`DnsName("intranet.example")`, `IpAddress(127.0.0.1)`)
/// as the bare name.
fn presented_name(p: &str) -> &str {
    let inner = p
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(p);
    inner.trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(error: CertificateError) -> Refusal {
        Refusal {
            error,
            issuer: "CN=Corp CA".into(),
            subject: "CN=intranet".into(),
        }
    }

    #[test]
    fn each_refusal_says_what_is_wrong_and_what_to_do() {
        let (what, help) = explain(
            &refused(CertificateError::UnknownIssuer),
            "h",
            Some("k"),
            None,
        );
        assert_eq!(
            what,
            "the certificate of h is issued by `CN=Corp CA`, which is not a trusted CA"
        );
        assert!(
            help.starts_with("set `k` to the PEM file of the CA"),
            "{help}"
        );
        let mut own = refused(CertificateError::UnknownIssuer);
        own.subject = own.issuer.clone();
        let (what, help) = explain(&own, "h", None, None);
        assert!(what.contains("is self-signed by `CN=Corp CA`"), "{what}");
        assert!(help.contains("SSL_CERT_FILE"), "{help}");
        let expired = CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        };
        let (what, help) = explain(&refused(expired), "h", Some("k"), None);
        assert_eq!(what, "the certificate of h expired on 2023-11-14T22:13:20Z");
        assert!(help.contains("renewed"), "{help}");
        let (what, _) = explain(
            &refused(CertificateError::NotValidForName),
            "h",
            Some("k"),
            None,
        );
        assert_eq!(what, "the certificate of h is not issued for the name `h`");
    }

    #[test]
    fn a_set_ca_file_without_the_issuer_a_ca_as_the_server_and_names_are_said_plainly() {
        let (_, help) = explain(
            &refused(CertificateError::UnknownIssuer),
            "h",
            Some("k"),
            Some(Path::new("corp.pem")),
        );
        assert!(
            help.starts_with("`k` (corp.pem) holds no CA that issued it"),
            "{help}"
        );
        assert!(!help.contains("SSL_CERT_FILE"), "{help}");

        #[derive(Debug)]
        struct CaUsedAsEndEntity;
        impl std::fmt::Display for CaUsedAsEndEntity {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("CaUsedAsEndEntity")
            }
        }
        impl std::error::Error for CaUsedAsEndEntity {}
        let ca = refused(CertificateError::Other(rustls::OtherError(Arc::new(
            CaUsedAsEndEntity,
        ))));
        let (what, help) = explain(&ca, "h", Some("k"), None);
        assert!(
            what.contains("is a CA certificate, which a server cannot use"),
            "{what}"
        );
        assert!(!what.contains("Other("), "{what}");
        assert!(help.contains("CA:FALSE"), "{help}");

        let mut unnamed = refused(CertificateError::UnknownIssuer);
        unnamed.issuer.clear();
        let (what, _) = explain(&unnamed, "h", Some("k"), None);
        assert_eq!(
            what,
            "the certificate of h is issued by a CA that is not trusted"
        );

        assert_eq!(
            presented_name("DnsName(\"wrong.example\")"),
            "wrong.example"
        );
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("plain"), "plain");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let e = roots(Some(Path::new("ca.pem")), dir.path()).unwrap_err();
        assert_eq!(e.problem, "it holds no PEM certificate");
        let e = roots(Some(Path::new("missing.pem")), dir.path()).unwrap_err();
        assert!(e.path.ends_with("missing.pem"), "{e:?}");
        assert!(http_config(RootCertStore::empty()).is_err());
    }
}
