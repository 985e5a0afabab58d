//! The HTTP side of reading Microsoft Graph: one [`GraphClient`] (no redirects, a request
//! timeout, at most `concurrency` requests in flight), a GET with the token, retries on
//! throttling (429 with `Retry-After`, 503, 504, as learn.microsoft.com/graph/throttling asks)
//! and on connections that fail, and Graph's error body turned into an [`EntraError`] that says
//! what to do. The backoff, `Retry-After` and error wording are the SCIM client's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::auth::{check_url, Auth};
use super::error::graph_error;
use super::EntraError;
use crate::config::EntraConfig;
use crate::http::{backoff, describe, retry_after};

/// Attempts after the first on throttling and failed connections.
const RETRIES: u32 = 5;
/// The first backoff wait when Graph sends no `Retry-After`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The largest answer read: a page of 999 users is well under a MiB.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What a request reads, for the permission a refusal asks to grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Users,
    Groups,
    Members,
}

impl Need {
    fn what(self) -> &'static str {
        match self {
            Need::Users => "users",
            Need::Groups => "groups",
            Need::Members => "group members",
        }
    }

    /// The least privileged Graph application permission for the read
    /// (learn.microsoft.com/graph/api/user-list, group-list-transitivemembers).
    fn permission(self) -> &'static str {
        match self {
            Need::Users => "User.Read.All",
            Need::Groups | Need::Members => "GroupMember.Read.All",
        }
    }
}

/// A Microsoft Graph client. Cheap to clone; clones share the token and the concurrency limit.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    pub base: Url,
    auth: Arc<Auth>,
    limit: Arc<Semaphore>,
    /// The certificates the HTTPS verifier refused, for the error to name their issuer.
    tls: crate::tls::Refusals,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// The client `cfg` names; the secret is read now.
    pub fn from_config(
        cfg: &EntraConfig,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<GraphClient, EntraError> {
        let base = check_url("directory.entra.graph_url", &cfg.graph_url)?;
        let auth = Auth::from_config(cfg, &base, base_dir, env)?;
        let timeout = Duration::from_secs(cfg.timeout.max(1));
        // The SCIM client's TLS path: the system roots (SSL_CERT_FILE honoured).
        let https = base.scheme() == "https" || cfg.authority.starts_with("https:");
        let (builder, tls) =
            crate::tls::http_client(https, None).map_err(|e| EntraError::Unreachable {
                url: base.to_string(),
                what: e.problem,
            })?;
        let http = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            // The token would go along to wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EntraError::Unreachable {
                url: base.to_string(),
                what: describe(&e),
            })?;
        Ok(GraphClient {
            http,
            base,
            auth: Arc::new(auth),
            limit: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            tls,
        })
    }

    /// `path` (with its query) under the Graph base URL.
    pub fn url(&self, path: &str) -> Result<Url, EntraError> {
        self.base.join(path).map_err(|e| EntraError::Url {
            key: "directory.entra.graph_url",
            url: format!("{}{path}", self.base),
            problem: e.to_string(),
        })
    }

    /// A link Graph gave (`@odata.nextLink`, `@odata.deltaLink`): it must stay on Graph's
    /// origin, where the token may go.
    pub fn link(&self, link: &str) -> Result<Url, EntraError> {
        let url = Url::parse(link).map_err(|e| EntraError::BadResponse {
            url: self.base.to_string(),
            problem: format!("a paging link is not a URL ({e})"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(EntraError::BadResponse {
                url: self.base.to_string(),
                problem: format!(
                    "a paging link leads to another host ({}), where the token must not go",
                    crate::text::shown(&url.origin().ascii_serialization())
                ),
            });
        }
        Ok(url)
    }

    /// GET a Graph URL as JSON. `eventual` sends `ConsistencyLevel: eventual` (needed for
    /// `$count`). A 401 fetches a new token once; a 403 `Authorization_RequestDenied` names the
    /// permission `need` asks for.
    pub async fn get(&self, url: &Url, need: Need, eventual: bool) -> Result<Value, EntraError> {
        let mut fresh_token = false;
        loop {
            let auth = self.auth.header(&self.http, &self.tls).await?;
            let (status, text) = {
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .map_err(|_| EntraError::Unreachable {
                        url: url.to_string(),
                        what: "the client shut down".into(),
                    })?;
                with_retries(url.as_str(), &self.tls, || {
                    self.request(url, &auth, eventual)
                })
                .await?
            };
            if status == 401 && !fresh_token {
                self.auth.forget().await;
                fresh_token = true;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(refusal(url, status, &text, need));
            }
            if text.len() > MAX_BODY {
                return Err(EntraError::BadResponse {
                    url: url.to_string(),
                    problem: format!("the answer is larger than {MAX_BODY} bytes"),
                });
            }
            return crate::intranet::snapshot::strict_json(&text).map_err(|e| {
                EntraError::BadResponse {
                    url: url.to_string(),
                    problem: format!("the body is not valid JSON: {e}"),
                }
            });
        }
    }

    fn request(&self, url: &Url, auth: &HeaderValue, eventual: bool) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, auth.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if eventual {
            req = req.header("ConsistencyLevel", "eventual");
        }
        req
    }
}

/// Send what `make` builds, again on throttling (429, 503, 504: after `Retry-After` when given,
/// else with growing backoff) and on connections that could not be made. Returns the status and
/// the body text of the last answer.
pub async fn with_retries(
    url: &str,
    tls: &crate::tls::Refusals,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(u16, String), EntraError> {
    let mut attempt = 0u32;
    loop {
        let (http, request) = make().build_split();
        let request = request.map_err(|e| EntraError::Unreachable {
            url: url.into(),
            what: describe(&e),
        })?;
        let method = request.method().clone();
        if let Some(body) = request.body().and_then(reqwest::Body::as_bytes) {
            let text = String::from_utf8_lossy(body);
            let body = crate::log::Body {
                text: &text,
                scrub: None,
            };
            tracing::trace!(%method, url, %body, "graph request body");
        }
        let started = std::time::Instant::now();
        let sent = http.execute(request).await;
        let ms = crate::log::ms(started);
        let (wait, reason) = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                tracing::debug!(%method, url, status, ms, attempt, "graph exchange");
                if (300..400).contains(&status) {
                    return Err(EntraError::BadResponse {
                        url: url.into(),
                        problem: format!("it answered HTTP {status}, a redirect, which Roster does not follow (the token would go along)"),
                    });
                }
                let throttled = matches!(status, 429 | 503 | 504);
                let wait = retry_after(resp.headers(), std::time::SystemTime::now());
                let text = resp.text().await.map_err(|e| EntraError::Unreachable {
                    url: url.into(),
                    what: describe(&e),
                })?;
                let body = crate::log::Body {
                    text: &text,
                    scrub: None,
                };
                tracing::trace!(%method, url, status, %body, "graph response body");
                if !throttled {
                    return Ok((status, text));
                }
                if attempt >= RETRIES {
                    return Err(EntraError::Throttled {
                        url: url.into(),
                        status,
                        attempts: attempt + 1,
                    });
                }
                (
                    wait.map(|w| w.min(MAX_BACKOFF * 4)),
                    format!("HTTP {status}"),
                )
            }
            Err(e) if e.is_connect() && attempt < RETRIES && tls.of(&e).is_none() => {
                let reason = describe(&e);
                tracing::debug!(%method, url, error = %reason, ms, attempt, "graph exchange failed");
                (None, reason)
            }
            Err(e) => {
                tracing::debug!(%method, url, error = %describe(&e), ms, attempt, "graph exchange failed");
                if let Some(refused) = tls.of(&e) {
                    let host = Url::parse(url)
                        .ok()
                        .and_then(|u| u.host_str().map(String::from));
                    let (problem, help) =
                        crate::tls::explain(&refused, &host.unwrap_or_default(), None, None);
                    return Err(EntraError::Untrusted {
                        url: url.into(),
                        problem,
                        help,
                    });
                }
                return Err(EntraError::Unreachable {
                    url: url.into(),
                    what: describe(&e),
                });
            }
        };
        let delay = wait.unwrap_or_else(|| backoff(FIRST_BACKOFF, MAX_BACKOFF, attempt));
        let wait_ms = delay.as_millis() as u64;
        tracing::debug!(%method, url, attempt = attempt + 1, %reason, wait_ms, "graph retry");
        attempt += 1;
        tokio::time::sleep(delay).await;
    }
}

/// The error for a Graph answer that is not 2xx.
fn refusal(url: &Url, status: u16, text: &str, need: Need) -> EntraError {
    let (code, message) = graph_error(text);
    let shown_url = url_without_query(url);
    if status == 403 || code == "Authorization_RequestDenied" {
        return EntraError::Permission {
            what: need.what().into(),
            permission: need.permission(),
            code,
            message,
        };
    }
    if status == 400 {
        if let Some(property) = unknown_property(&message) {
            return EntraError::Property { property, message };
        }
    }
    let help = match status {
        401 => Some("Graph did not accept the token: check directory.entra.graph_url belongs to the same cloud as the authority".to_owned()),
        404 => Some("check directory.entra.graph_url (it ends with the API version, /v1.0)".to_owned()),
        _ => None,
    };
    EntraError::Http {
        method: "GET",
        url: shown_url,
        status,
        code,
        message,
        help,
    }
}

/// "Could not find a property named 'x' on type 'microsoft.graph.user'." → `x`.
fn unknown_property(message: &str) -> Option<String> {
    let rest = message.split("property named '").nth(1)?;
    Some(rest.split('\'').next()?.to_owned())
}

/// A URL to show: without its query (skip and delta tokens are long and say nothing).
pub fn url_without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    crate::text::shown(u.as_str()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_permission_or_the_property() {
        let url = Url::parse("https://graph.microsoft.com/v1.0/users?$top=999").unwrap();
        let denied = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        let e = refusal(&url, 403, denied, Need::Users);
        assert!(
            matches!(
                e,
                EntraError::Permission {
                    permission: "User.Read.All",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = refusal(&url, 403, denied, Need::Members);
        assert!(matches!(
            e,
            EntraError::Permission {
                permission: "GroupMember.Read.All",
                ..
            }
        ));
        let unknown = r#"{"error":{"code":"Request_BadRequest","message":"Could not find a property named 'costCentre' on type 'microsoft.graph.user'."}}"#;
        let e = refusal(&url, 400, unknown, Need::Users);
        assert!(
            matches!(&e, EntraError::Property { property, .. } if property == "costCentre"),
            "{e:?}"
        );
        let e = refusal(&url, 500, "oops", Need::Users);
        assert!(
            e.to_string()
                .contains("https://graph.microsoft.com/v1.0/users answered HTTP 500"),
            "{e}"
        );
    }
}
