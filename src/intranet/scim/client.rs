//! The HTTP side of [`ScimClient`]: the token and configured headers, the URL check, one request
//! with bounded concurrency, retries with backoff and `Retry-After`, the response body cap, no
//! redirects, and the turning of a non-2xx answer into a [`ScimError`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::error::error_detail;
use super::limit::Gates;
use super::ScimError;
use crate::config::{is_auth_like_header, HeaderSetting, ScimConfig, Secret};
use crate::http::{backoff, describe, is_loopback, retry_after, urlencoded as urlencode};

const SCIM_JSON: &str = "application/scim+json";

/// A bearer token. Its `Debug` never shows the value, and it has no `Display`.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    pub fn new(value: impl Into<String>) -> Token {
        Token(Arc::from(value.into()))
    }
    fn header(&self) -> Result<HeaderValue, ScimError> {
        let mut h = HeaderValue::from_str(&format!("Bearer {}", self.0)).map_err(|_| {
            ScimError::Secret {
                source_name: "token".into(),
                problem: "it holds characters not allowed in an HTTP header".into(),
                fix: "the token is the intranet's API token as issued: check for a stray line break or quote inside it".into(),
            }
        })?;
        h.set_sensitive(true);
        Ok(h)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Read a secret from the environment (through `env`) or from a file relative to `base_dir`.
pub fn resolve_secret(
    secret: &Secret,
    base_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Token, ScimError> {
    let value = secret.read(base_dir, env).map_err(|e| ScimError::Secret {
        source_name: e.source_name,
        problem: e.problem,
        fix: e.fix,
    })?;
    let bad = |problem: &str, fix: &str| ScimError::Secret {
        source_name: secret.source_name(base_dir),
        problem: problem.into(),
        fix: fix.into(),
    };
    if value
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
    {
        return Err(bad(
            "it starts with `Bearer `",
            "keep only the token itself: Roster sends `Authorization: Bearer <token>`",
        ));
    }
    if HeaderValue::from_str(&value).is_err() {
        return Err(bad(
            "it holds characters not allowed in an HTTP header",
            "the token is the intranet's API token as issued: check for a stray line break or quote inside it",
        ));
    }
    Ok(Token::new(value))
}

/// Retry and concurrency settings. `from_config` takes them from `intranet.scim`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The most requests in flight (of each kind: list pages, single writes, Bulk requests).
    pub concurrency: usize,
    /// Learn the limit from the answers, up to `concurrency` (`intranet::scim::limit`); `false`: always
    /// `concurrency`.
    pub adaptive: bool,
    pub timeout: Duration,
    /// Attempts after the first on 429/502/503/504 and on connection failures.
    pub retries: u32,
    /// First backoff delay; doubled each attempt, with jitter, capped by `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Writes per SCIM Bulk request when the service announces Bulk (capped by its
    /// `maxOperations`); `None`: never Bulk, one request per write.
    pub bulk: Option<usize>,
    /// The largest response body read, in bytes (`intranet.scim.max_response_bytes`).
    pub max_response_bytes: u64,
    /// The most resources one list read accepts (`intranet.scim.max_resources`).
    pub max_resources: u64,
    /// How long one list read, all its pages and retries included, may take
    /// (`intranet.scim.read_timeout`).
    pub read_timeout: Duration,
    /// The PEM file of CAs to trust for HTTPS instead of the system roots
    /// (`intranet.scim.ca_file`, resolved against the config's folder).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: crate::config::DEFAULT_SCIM_CONCURRENCY,
            adaptive: true,
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            bulk: Some(crate::config::DEFAULT_BULK_BATCH),
            max_response_bytes: crate::config::DEFAULT_MAX_RESPONSE_BYTES,
            max_resources: crate::config::DEFAULT_MAX_RESOURCES,
            read_timeout: Duration::from_secs(3600),
            ca_file: None,
        }
    }
}

/// The resource collections Roster reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    pub(super) fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "Users",
            Endpoint::Groups => "Groups",
        }
    }

    pub(super) fn singular(self) -> &'static str {
        match self {
            Endpoint::Users => "User",
            Endpoint::Groups => "Group",
        }
    }

    /// `Users/<id>`, relative to the base URL.
    pub(super) fn resource(self, id: &str) -> String {
        format!("{}/{}", self.path(), urlencode(id))
    }
}

/// An async SCIM 2.0 client. Cheap to clone; clones share the connection pool and the
/// concurrency limit.
#[derive(Clone)]
pub struct ScimClient {
    http: reqwest::Client,
    pub(super) base: Url,
    auth: HeaderValue,
    limit: Arc<Semaphore>,
    gates: Arc<Gates>,
    pub(super) opts: ClientOptions,
    /// The service refused a read's `attributes=` (its detail): full resources from then on.
    pub(super) projection_refused: Arc<std::sync::OnceLock<String>>,
    /// The certificates the HTTPS verifier refused, for the error to name their issuer.
    tls: crate::tls::Refusals,
}

impl fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimClient")
            .field("base", &self.base.as_str())
            .field("opts", &self.opts)
            .finish()
    }
}

/// Check a SCIM base URL: https, or http to loopback, or http with `insecure`.
pub fn check_url(url: &str, insecure: bool) -> Result<Url, ScimError> {
    let bad = |problem: &str| ScimError::BadUrl {
        url: url.to_string(),
        problem: problem.to_string(),
    };
    let mut parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials belong in intranet.scim.token, not in the URL",
        ));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if insecure || is_loopback(&parsed) => {}
        "http" => {
            return Err(ScimError::InsecureUrl {
                host: parsed.host_str().unwrap_or_default().to_string(),
            })
        }
        other => return Err(bad(&format!("scheme `{other}` is not http or https"))),
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed)
}

/// `intranet.scim.ca_file`, or the system's roots, cannot be used.
fn roots_error(e: crate::tls::RootsError) -> ScimError {
    ScimError::CaFile {
        what: if e.path.as_os_str().is_empty() {
            "the system's root certificates".into()
        } else {
            let path = e.path.display().to_string();
            format!("intranet.scim.ca_file {}", crate::text::shown(&path))
        },
        problem: e.problem,
    }
}

/// The local address this machine uses to reach the SCIM service (for the audit's IP column).
/// Sends nothing: a UDP socket is connected, which only picks a route.
pub fn local_address_for(url: &Url) -> Option<IpAddr> {
    let addr = url.socket_addrs(|| None).ok()?.into_iter().next()?;
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = std::net::UdpSocket::bind(bind).ok()?;
    sock.connect(addr).ok()?;
    Some(sock.local_addr().ok()?.ip())
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) etag: Option<String>,
    pub(super) body: Option<Value>,
}

impl ScimClient {
    /// Build a client from the config section. `base_dir` resolves a `file:` token; `env` reads
    /// environment variables (passed in so callers and tests control it).
    pub fn from_config(
        cfg: &ScimConfig,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ScimClient, ScimError> {
        let token = resolve_secret(&cfg.token, base_dir, &env)?;
        let mut headers = BTreeMap::new();
        for (name, setting) in &cfg.headers {
            let value = match setting {
                HeaderSetting::Text(_) if is_auth_like_header(name) => {
                    return Err(ScimError::BadHeader {
                        name: name.clone(),
                        problem: "a credential header's value is written in the config".into(),
                    })
                }
                HeaderSetting::Text(v) => v.clone(),
                HeaderSetting::Secret(secret) => {
                    secret
                        .read(base_dir, &env)
                        .map_err(|e| ScimError::BadHeader {
                            name: name.clone(),
                            problem: format!(
                                "cannot read it from the {}: {}",
                                e.source_name, e.problem
                            ),
                        })?
                }
            };
            headers.insert(name.clone(), value);
        }
        let opts = ClientOptions {
            concurrency: cfg.concurrency.max(1),
            adaptive: cfg.adaptive,
            timeout: Duration::from_secs(cfg.timeout.max(1)),
            bulk: cfg.bulk.enabled.then_some(cfg.bulk.batch.max(1)),
            max_response_bytes: cfg.max_response_bytes.max(1),
            max_resources: cfg.max_resources.max(1),
            read_timeout: Duration::from_secs(cfg.read_timeout.max(1)),
            ca_file: cfg.ca_file.as_ref().map(|f| base_dir.join(f)),
            ..ClientOptions::default()
        };
        ScimClient::new(&cfg.url, token, &headers, cfg.insecure, opts)
    }

    pub fn new(
        url: &str,
        token: Token,
        headers: &BTreeMap<String, String>,
        insecure: bool,
        opts: ClientOptions,
    ) -> Result<ScimClient, ScimError> {
        let base = check_url(url, insecure)?;
        let mut default_headers = HeaderMap::new();
        for (name, value) in headers {
            let bad = |problem: &str| ScimError::BadHeader {
                name: name.clone(),
                problem: problem.into(),
            };
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad("the name is not an HTTP header name"))?;
            if n == AUTHORIZATION || n == reqwest::header::HOST {
                return Err(bad(
                    "Roster sets this header itself (the token goes in intranet.scim.token)",
                ));
            }
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| bad("the value holds a line break or a control character"))?;
            v.set_sensitive(true);
            default_headers.insert(n, v);
        }
        default_headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(SCIM_JSON));
        let https = base.scheme() == "https";
        let (builder, tls) =
            crate::tls::http_client(https, opts.ca_file.as_deref()).map_err(roots_error)?;
        let http = builder
            .default_headers(default_headers)
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: the token and the configured headers would go along to
            // wherever it points. A 3xx is reported instead (`ScimError::Redirected`).
            .redirect(reqwest::redirect::Policy::none())
            // Keep-alive is on: a connection the service keeps open is reused (one round trip a
            // request over a slow link instead of two), up to one idle per request in flight.
            // HTTP/2 is negotiated over TLS (ALPN) where the service offers it; plain http stays
            // HTTP/1.1 (prior knowledge would break a service without HTTP/2).
            .pool_max_idle_per_host(opts.concurrency.max(1))
            .build()
            .map_err(|e| ScimError::BadUrl {
                url: url.to_string(),
                problem: describe(&e),
            })?;
        Ok(ScimClient {
            http,
            base,
            auth: token.header()?,
            limit: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            gates: Arc::new(Gates::new(opts.adaptive, opts.concurrency)),
            opts,
            projection_refused: Arc::default(),
            tls,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn concurrency(&self) -> usize {
        self.opts.concurrency
    }

    /// The list reads' concurrency so far: mode, ceiling, where it settled.
    pub fn reads_concurrency(&self) -> crate::plan::Concurrency {
        self.gates.reads()
    }

    /// The writes sent so far (single and Bulk requests) and their concurrency.
    pub fn writes_summary(&self) -> crate::report::WriteSummary {
        self.gates.writes()
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, ScimError> {
        self.base.join(path).map_err(|e| ScimError::BadUrl {
            url: format!("{}{path}", self.base),
            problem: e.to_string(),
        })
    }

    /// One request, with bounded concurrency and retries on 429/502/503/504 and on connection
    /// failures (honouring `Retry-After`). Other 4xx are never retried. Non-2xx become errors.
    /// A timeout after the request went out is retried only when it is `idempotent`: sending it
    /// twice must do no more than sending it once.
    pub(super) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        if_match: Option<&str>,
        idempotent: bool,
    ) -> Result<Answer, ScimError> {
        let mut attempt = 0u32;
        // Time spent waiting between attempts: never more than `timeout` in all.
        let mut waited = Duration::ZERO;
        if let Some(b) = body {
            tracing::trace!(%method, %url, body = %self.logged(b), "scim request body");
        }
        loop {
            let started = std::time::Instant::now();
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, self.auth.clone());
            if let Some(b) = body {
                req = req.header(CONTENT_TYPE, SCIM_JSON).body(b.to_owned());
            }
            if let Some(tag) = if_match {
                req = req.header(IF_MATCH, tag);
            }
            let result = {
                // A place under the adaptive limit of this kind of request, then one under the
                // ceiling for all of them.
                let place = self.gates.gate(&method, &url).acquire().await;
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .map_err(|_| ScimError::BadResponse {
                        url: url.to_string(),
                        problem: "client shut down".into(),
                    })?;
                let result = match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let headers = resp.headers().clone();
                        match self.body(&url, resp).await? {
                            Ok(text) => Ok((status, headers, text)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                };
                place.done(match &result {
                    Ok((status, ..)) => matches!(status.as_u16(), 429 | 503),
                    Err(e) => e.is_timeout(),
                });
                result
            };
            let left = self.opts.timeout.saturating_sub(waited);
            let delay = self.backoff(attempt).min(left);
            self.log_exchange(&method, &url, &result, started, attempt);
            match result {
                Err(e) => {
                    // A refused certificate is refused again: say why now, without retrying.
                    if let Some(refused) = self.tls.of(&e) {
                        let host = url.host_str().unwrap_or_default();
                        let (problem, help) = crate::tls::explain(
                            &refused,
                            host,
                            Some("intranet.scim.ca_file"),
                            self.opts.ca_file.as_deref(),
                        );
                        return Err(ScimError::Certificate {
                            url: self.base.to_string(),
                            problem,
                            help,
                        });
                    }
                    // A request that never reached the server (connect) is safe to resend; a
                    // timeout after sending is not, unless the request is idempotent.
                    let safe = e.is_connect() || (idempotent && e.is_timeout());
                    if safe && attempt < self.opts.retries && !left.is_zero() {
                        tracing::debug!(%method, %url, attempt = attempt + 1, reason = %describe(&e), wait_ms = delay.as_millis() as u64, "scim retry");
                        attempt += 1;
                        waited += delay;
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ScimError::Unreachable {
                        url: url.to_string(),
                        what: describe(&e),
                    });
                }
                Ok((status, headers, text)) => {
                    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                    if retryable && attempt < self.opts.retries {
                        let wait = match retry_after(&headers, std::time::SystemTime::now()) {
                            // Asked to wait longer than the budget has left: give up now
                            // rather than retry before the service is ready.
                            Some(asked) if asked > left => {
                                return Err(ScimError::RetryTooLate {
                                    url: url.to_string(),
                                    status: status.as_u16(),
                                    wait: asked.as_secs_f64().ceil() as u64,
                                    left: left.as_secs(),
                                })
                            }
                            Some(asked) => asked,
                            None => delay,
                        };
                        if !left.is_zero() {
                            tracing::debug!(%method, %url, attempt = attempt + 1, reason = %format!("HTTP {status}"), wait_ms = wait.as_millis() as u64, "scim retry");
                            attempt += 1;
                            waited += wait;
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return self.answer(&method, &url, status, &headers, &text);
                }
            }
        }
    }

    /// A body as the log shows it: secrets blanked, the token too wherever it appears.
    fn logged<'a>(&'a self, text: &'a str) -> crate::log::Body<'a> {
        let token = self
            .auth
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "));
        crate::log::Body { text, scrub: token }
    }

    /// Log one attempt's exchange (`-v`), and its answer's body (`-vv`). Headers never are.
    fn log_exchange(
        &self,
        method: &Method,
        url: &Url,
        result: &Result<(StatusCode, HeaderMap, String), reqwest::Error>,
        started: std::time::Instant,
        attempt: u32,
    ) {
        let ms = crate::log::ms(started);
        match result {
            Ok((status, _, text)) => {
                tracing::debug!(%method, %url, status = status.as_u16(), ms, attempt, "scim exchange");
                tracing::trace!(%method, %url, status = status.as_u16(), body = %self.logged(text), "scim response body");
            }
            Err(e) => {
                tracing::debug!(%method, %url, error = %describe(e), ms, attempt, "scim exchange failed");
            }
        }
    }

    /// Read a response body, at most `max_response_bytes` of it. The outer `Err` is a body over
    /// the cap; the inner one a failure while reading it.
    async fn body(
        &self,
        url: &Url,
        mut resp: reqwest::Response,
    ) -> Result<Result<String, reqwest::Error>, ScimError> {
        let cap = self.opts.max_response_bytes;
        let too_large = || ScimError::TooLarge {
            url: url.to_string(),
            cap,
        };
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > cap {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        backoff(self.opts.backoff, self.opts.max_backoff, attempt)
    }

    fn answer(
        &self,
        method: &Method,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
        text: &str,
    ) -> Result<Answer, ScimError> {
        if status.is_redirection() {
            return Err(ScimError::Redirected {
                url: url.to_string(),
                status: status.as_u16(),
                location: headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map_or_else(|| "no Location".into(), |l| format!("`{l}`")),
            });
        }
        if !status.is_success() {
            return Err(self.refusal(method, url, status.as_u16(), error_detail(text)));
        }
        let body = if text.trim().is_empty() {
            None
        } else {
            Some(crate::intranet::snapshot::strict_json(text).map_err(|e| {
                let place = crate::intranet::snapshot::faulty_resource(text)
                    .map(|i| format!(" (in resource #{i} of the page)"))
                    .unwrap_or_default();
                ScimError::BadResponse {
                    url: url.to_string(),
                    problem: format!("body is not valid JSON{place}: {e}"),
                }
            })?)
        };
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .or_else(|| body.as_ref().and_then(crate::intranet::snapshot::etag));
        Ok(Answer { status, etag, body })
    }

    /// The error for a non-2xx status, of a whole request or of one Bulk operation.
    pub(super) fn refusal(
        &self,
        method: &Method,
        url: &Url,
        status: u16,
        (scim_type, detail): (Option<String>, String),
    ) -> ScimError {
        if status == 401 || status == 403 {
            return ScimError::Unauthorized {
                url: self.base.to_string(),
                status,
            };
        }
        ScimError::Http {
            method: method.to_string(),
            url: url.to_string(),
            status,
            scim_type,
            detail,
        }
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, ScimError> {
        let url = self.url(path)?;
        let ans = self
            .send(Method::GET, url.clone(), None, None, true)
            .await?;
        ans.body.ok_or_else(|| ScimError::BadResponse {
            url: url.to_string(),
            problem: "empty body".into(),
        })
    }

    /// Who the token acts as, when the service has `/Me` (RFC 7644 §3.11); otherwise `None`.
    pub async fn whoami(&self) -> Option<String> {
        let me = self.get("Me").await.ok()?;
        me.get("userName").and_then(Value::as_str).map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::new("s3cret-value");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let c = ScimClient::new(
            "http://127.0.0.1:1/",
            t,
            &BTreeMap::new(),
            false,
            ClientOptions::default(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn http_only_on_loopback_or_insecure() {
        assert!(check_url("http://127.0.0.1:8080/scim", false).is_ok());
        assert!(check_url("http://localhost/scim", false).is_ok());
        assert!(check_url("http://[::1]/scim", false).is_ok());
        assert!(matches!(
            check_url("http://intranet.example/scim", false),
            Err(ScimError::InsecureUrl { .. })
        ));
        assert!(check_url("http://intranet.example/scim", true).is_ok());
        assert!(check_url("https://intranet.example/scim", false).is_ok());
        assert!(matches!(
            check_url("ftp://x/", false),
            Err(ScimError::BadUrl { .. })
        ));
        assert!(matches!(
            check_url("https://u:p@x/", false),
            Err(ScimError::BadUrl { .. })
        ));
        assert_eq!(
            check_url("https://x/scim/v2", false).unwrap().as_str(),
            "https://x/scim/v2/"
        );
    }

    #[test]
    fn secret_from_env_and_file() {
        let dir = std::env::temp_dir();
        let env = |k: &str| (k == "TOK").then(|| " abc \n".to_string());
        assert!(resolve_secret(&Secret::Env("TOK".into()), &dir, env).is_ok());
        let missing = resolve_secret(&Secret::Env("NOPE".into()), &dir, env).unwrap_err();
        assert!(missing.to_string().contains("NOPE"));
        let err = resolve_secret(&Secret::File("/nonexistent/tok".into()), &dir, env).unwrap_err();
        assert!(matches!(err, ScimError::Secret { .. }));
    }

    #[test]
    fn a_token_with_a_line_break_or_the_bearer_prefix_names_where_it_came_from() {
        let dir = std::env::temp_dir();
        let env = |k: &str| match k {
            "BROKEN" => Some("tok\nX-Evil: 1".to_string()),
            "PREFIXED" => Some("Bearer tok".to_string()),
            _ => None,
        };
        let broken = resolve_secret(&Secret::Env("BROKEN".into()), &dir, env).unwrap_err();
        assert_eq!(
            broken.to_string(),
            "could not read the SCIM token from the environment variable BROKEN: it holds characters not allowed in an HTTP header"
        );
        let prefixed = resolve_secret(&Secret::Env("PREFIXED".into()), &dir, env).unwrap_err();
        assert!(
            prefixed.to_string().contains("starts with `Bearer `"),
            "{prefixed}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let opts = ClientOptions {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..Default::default()
        };
        let c = ScimClient::new(
            "http://127.0.0.1:1/",
            Token::new("t"),
            &BTreeMap::new(),
            false,
            opts,
        )
        .unwrap();
        for attempt in 0..20 {
            let d = c.backoff(attempt);
            assert!(d <= Duration::from_millis(1001), "{attempt}: {d:?}");
        }
        assert!(c.backoff(0) >= Duration::from_millis(50));
        assert!(c.backoff(5) >= Duration::from_millis(500));
    }
}
