//! Signing in to Entra ID: the OAuth 2.0 client credentials grant against the identity
//! platform's token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`, `grant_type=
//! client_credentials`, `scope={graph}/.default`, learn.microsoft.com/entra/identity-platform/
//! v2-oauth2-client-creds-grant-flow). The token is kept for its lifetime (`expires_in`, less a
//! minute) and fetched again after. Neither the secret nor the token is ever printed: both live
//! in [`Credential`], whose `Debug` is redacted, and go out only in a form body or a sensitive
//! header.

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

/// Who Roster signs in as, and the token it holds.
pub struct Auth {
    token_url: Url,
    scope: String,
    client_id: String,
    tenant: String,
    secret: Credential,
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
        "http" if crate::intranet::scim::client::is_loopback(&parsed) => {}
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
        let Some(secret) = &cfg.client_secret else {
            // The config check asks for it; a certificate is refused there too.
            return Err(EntraError::Secret {
                source_name: "config".into(),
                problem: "directory.entra.client_secret is not set".into(),
            });
        };
        let secret = secret.read(base_dir, env).map_err(|e| EntraError::Secret {
            source_name: e.source_name,
            problem: e.problem,
        })?;
        Ok(Auth {
            token_url,
            scope: format!("{}/.default", graph.origin().ascii_serialization()),
            client_id: cfg.client_id.clone(),
            tenant: cfg.tenant_id.clone(),
            secret: Credential(Arc::from(secret)),
            cached: Mutex::new(None),
        })
    }

    /// The `Authorization` header: the cached token while it has more than a minute left,
    /// else a new one.
    pub async fn header(&self, http: &reqwest::Client) -> Result<HeaderValue, EntraError> {
        let mut cached = self.cached.lock().await;
        if let Some((h, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(h.clone());
            }
        }
        let (header, lifetime) = self.fetch(http).await?;
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((header.clone(), until));
        Ok(header)
    }

    /// Forget the token (Graph said it is no longer valid).
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(HeaderValue, Duration), EntraError> {
        let url = self.token_url.to_string();
        let form = [
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            ("client_secret", &self.secret.0),
            ("grant_type", "client_credentials"),
        ];
        let (status, text) =
            super::client::with_retries(&url, || http.post(self.token_url.clone()).form(&form))
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
            if error == "invalid_client" && (secret_code.is_some() || codes.is_empty()) {
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

/// A path segment, percent-encoded.
pub fn urlencoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

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
