//! Signing in to Entra ID: the OAuth 2.0 client credentials grant against the identity
//! platform's token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`, `grant_type=
//! client_credentials`, `scope={graph}/.default`, learn.microsoft.com/entra/identity-platform/
//! v2-oauth2-client-creds-grant-flow). The app proves who it is with its client secret, or with
//! a certificate: a JWT client assertion signed RS256 with the certificate's private key, naming
//! the certificate by its SHA-256 and SHA-1 thumbprints (`x5t#S256`, `x5t`; learn.microsoft.com/
//! entra/identity-platform/certificate-credentials). The token is kept for its lifetime
//! (`expires_in`, less a minute) and fetched again after. Neither the secret, the key nor the
//! token is ever printed: they live in types whose `Debug` is redacted, and go out only in a form
//! body or a sensitive header.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::EntraError;
use crate::config::EntraConfig;

/// A secret or a token. `Debug` never shows it; it has no `Display`.
#[derive(Clone)]
pub struct Credential(Arc<str>);

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// How the app proves who it is.
enum Proof {
    Secret(Credential),
    Certificate(Box<Certificate>),
}

/// A certificate credential: the RSA key that signs assertions, and the certificate's
/// thumbprints (base64url) that name it to Entra ID.
struct Certificate {
    key: ring::signature::RsaKeyPair,
    sha256: String,
    sha1: String,
}

impl Certificate {
    /// Read a PEM file holding the private key (PKCS#8 or PKCS#1 RSA) and the certificate.
    fn load(path: &Path) -> Result<Certificate, EntraError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let fail = |problem: String| EntraError::Certificate {
            path: crate::text::shown(&path.display().to_string()).into_owned(),
            problem,
        };
        let cert = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("it holds no CERTIFICATE".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let key = match PrivateKeyDer::from_pem_file(path) {
            Ok(PrivateKeyDer::Pkcs8(k)) => {
                ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
            }
            Ok(PrivateKeyDer::Pkcs1(k)) => {
                ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der())
            }
            Ok(_) => return Err(fail("its private key is not an RSA key (Entra ID certificate credentials sign with RS256)".into())),
            Err(_) => return Err(fail("it holds no PRIVATE KEY (or RSA PRIVATE KEY)".into())),
        }
        .map_err(|e| fail(format!("its private key cannot sign: {e}")))?;
        let thumb = |alg| {
            base64::engine::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ring::digest::digest(alg, cert.as_ref()),
            )
        };
        Ok(Certificate {
            key,
            sha256: thumb(&ring::digest::SHA256),
            sha1: thumb(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        })
    }

    /// A client assertion for `audience` (the token endpoint), valid for ten minutes.
    fn assertion(&self, audience: &str, client_id: &str) -> Result<String, EntraError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::engine::Engine;
        let rng = ring::rand::SystemRandom::new();
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&rng, &mut jti).map_err(|_| EntraError::Certificate {
            path: String::new(),
            problem: "no random numbers for the assertion's ID".into(),
        })?;
        let now = jiff::Timestamp::now().as_second();
        let header = serde_json::json!({
            "alg": "RS256", "typ": "JWT", "x5t#S256": self.sha256, "x5t": self.sha1,
        });
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti), "nbf": now, "iat": now, "exp": now + 600,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| EntraError::Certificate {
                path: String::new(),
                problem: "the private key could not sign the assertion".into(),
            })?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Who Roster signs in as, and the token it holds.
pub struct Auth {
    token_url: Url,
    scope: String,
    client_id: String,
    tenant: String,
    proof: Proof,
    cached: Mutex<Option<(HeaderValue, Instant)>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Check an authority or Graph URL: https, or http to loopback (the tests' local server).
pub fn check_url(key: &'static str, url: &str) -> Result<Url, EntraError> {
    let bad = |problem: &str| EntraError::Url {
        key,
        url: crate::text::shown(url).into_owned(),
        problem: problem.into(),
    };
    let mut parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("it holds credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it holds a query or a fragment"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if crate::http::is_loopback(&parsed) => {}
        "http" => {
            return Err(bad(
                "plain http:// would send the secret and the token unencrypted",
            ))
        }
        other => return Err(bad(&format!("scheme `{other}` is not https"))),
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed)
}

impl Auth {
    /// The credential the config names, read now (a missing secret is an error before any
    /// traffic). `graph` is the checked Graph URL, whose origin the token is asked for.
    pub fn from_config(
        cfg: &EntraConfig,
        graph: &Url,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, EntraError> {
        let authority = check_url("directory.entra.authority", &cfg.authority)?;
        let token_url = authority
            .join(&format!("{}/oauth2/v2.0/token", urlencoded(&cfg.tenant_id)))
            .map_err(|e| EntraError::Url {
                key: "directory.entra.tenant_id",
                url: crate::text::shown(&cfg.tenant_id).into_owned(),
                problem: e.to_string(),
            })?;
        let proof = match (&cfg.client_secret, &cfg.certificate) {
            (Some(secret), _) => {
                let secret = secret.read(base_dir, env).map_err(|e| EntraError::Secret {
                    source_name: e.source_name,
                    problem: e.problem,
                    fix: format!("{}; the value is the secret's Value from the app registration (Certificates & secrets), not its ID", e.fix),
                })?;
                Proof::Secret(Credential(Arc::from(secret)))
            }
            (None, Some(cert)) => {
                Proof::Certificate(Box::new(Certificate::load(&base_dir.join(&cert.file))?))
            }
            // The config check asks for one.
            (None, None) => {
                return Err(EntraError::Secret {
                    source_name: "config".into(),
                    problem: "directory.entra has neither client_secret nor certificate".into(),
                    fix: "give `client_secret: { env: VAR }` or `certificate: { file: path }`"
                        .into(),
                })
            }
        };
        Ok(Auth {
            token_url,
            scope: format!("{}/.default", graph.origin().ascii_serialization()),
            client_id: cfg.client_id.clone(),
            tenant: cfg.tenant_id.clone(),
            proof,
            cached: Mutex::new(None),
        })
    }

    /// The `Authorization` header: the cached token while it has more than a minute left,
    /// else a new one.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        tls: &crate::tls::Refusals,
    ) -> Result<HeaderValue, EntraError> {
        let mut cached = self.cached.lock().await;
        if let Some((h, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(h.clone());
            }
        }
        let (header, lifetime) = self.fetch(http, tls).await?;
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((header.clone(), until));
        Ok(header)
    }

    /// Forget the token (Graph said it is no longer valid).
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        tls: &crate::tls::Refusals,
    ) -> Result<(HeaderValue, Duration), EntraError> {
        let url = self.token_url.to_string();
        let assertion;
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        match &self.proof {
            Proof::Secret(secret) => form.push(("client_secret", &secret.0)),
            Proof::Certificate(cert) => {
                assertion = cert.assertion(self.token_url.as_str(), &self.client_id)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", &assertion));
            }
        }
        let (status, text) = super::client::with_retries(&url, tls, || {
            http.post(self.token_url.clone()).form(&form)
        })
        .await?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        // The first line of a field (an error description goes on with trace and correlation
        // IDs), escaped.
        let field = |k: &str| {
            body.as_ref()
                .and_then(|b| b.get(k))
                .and_then(Value::as_str)
                .map(|s| {
                    let line = s.lines().next().unwrap_or("");
                    crate::text::shown(line.trim()).into_owned()
                })
        };
        if !(200..300).contains(&status) {
            let error = field("error").unwrap_or_else(|| format!("HTTP {status}"));
            let description = field("error_description").unwrap_or_default();
            // AADSTS7000215: invalid client secret; AADSTS7000222: expired client secret.
            let codes: Vec<i64> = body
                .as_ref()
                .and_then(|b| b.get("error_codes"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let secret_code = codes
                .iter()
                .find(|c| matches!(c, 7000215 | 7000222))
                .map(|c| format!("AADSTS{c}"));
            let by_secret = matches!(self.proof, Proof::Secret(_));
            if by_secret && error == "invalid_client" && (secret_code.is_some() || codes.is_empty())
            {
                return Err(EntraError::BadSecret {
                    client_id: crate::text::shown(&self.client_id).into_owned(),
                    tenant: crate::text::shown(&self.tenant).into_owned(),
                    code: secret_code.unwrap_or(error),
                });
            }
            return Err(EntraError::SignIn {
                client_id: crate::text::shown(&self.client_id).into_owned(),
                tenant: crate::text::shown(&self.tenant).into_owned(),
                error,
                description,
            });
        }
        let bad = |problem: &str| EntraError::BadResponse {
            url: url.clone(),
            problem: problem.into(),
        };
        let body = body.ok_or_else(|| bad("the token answer is not JSON"))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("the token answer has no access_token"))?;
        let lifetime = body
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(300);
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| bad("the access token holds characters not allowed in a header"))?;
        header.set_sensitive(true);
        Ok((header, Duration::from_secs(lifetime)))
    }
}

pub use crate::http::urlencoded;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("k", "https://login.microsoftonline.us").is_ok());
        assert!(check_url("k", "http://127.0.0.1:1234/v1.0").is_ok());
        assert!(check_url("k", "http://graph.example/v1.0").is_err());
        assert!(check_url("k", "https://u:p@graph.example/").is_err());
        assert_eq!(
            check_url("k", "https://graph.microsoft.com/v1.0")
                .unwrap()
                .as_str(),
            "https://graph.microsoft.com/v1.0/"
        );
    }

    #[test]
    fn the_secret_is_never_in_debug() {
        let cfg: EntraConfig = serde_json::from_value(serde_json::json!({
            "tenant_id": "t", "client_id": "c", "client_secret": { "env": "S" }
        }))
        .unwrap();
        let graph = check_url("g", "https://graph.microsoft.com/v1.0").unwrap();
        let auth =
            Auth::from_config(&cfg, &graph, Path::new("."), |_| Some("hunter2".into())).unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert_eq!(auth.scope, "https://graph.microsoft.com/.default");
        assert_eq!(
            auth.token_url.as_str(),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
        let missing = Auth::from_config(&cfg, &graph, Path::new("."), |_| None).unwrap_err();
        assert!(
            missing.to_string().contains("environment variable S"),
            "{missing}"
        );
    }
}
