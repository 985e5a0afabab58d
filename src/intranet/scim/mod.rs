//! The live intranet over SCIM 2.0 (RFC 7643/7644): discovery, paged concurrent reads, and the
//! writes `apply` makes (POST and PATCH only: this module has no way to delete anything).
//!
//! The bearer token lives in [`Token`], whose `Debug` is redacted and which is only ever turned
//! into a sensitive `Authorization` header. Errors carry URLs, statuses and the server's SCIM
//! error detail, never a header.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use miette::Diagnostic;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use thiserror::Error;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::{is_auth_like_header, HeaderSetting, Loaded, ScimConfig, Secret};
use crate::intranet::fields::{Field, ENTERPRISE_USER, PATCH_OP};
use crate::intranet::snapshot::{state_from_resources, to_snapshot, Resources};
pub use crate::intranet::{Batch, Written};
use crate::model::IntranetState;

pub mod target;

const SCIM_JSON: &str = "application/scim+json";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// Page size asked for when the server announces no `maxResults`. The server may answer with
/// fewer per page; paging follows what it really returns.
const DEFAULT_PAGE: usize = 1000;

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
    secret
        .read(base_dir, env)
        .map(Token::new)
        .map_err(|e| ScimError::Secret {
            source_name: e.source_name,
            problem: e.problem,
        })
}

/// Everything that can go wrong talking to the SCIM service.
#[derive(Debug, Error, Diagnostic)]
pub enum ScimError {
    #[error("invalid SCIM URL `{url}`: {problem}")]
    #[diagnostic(
        code(roster::scim::bad_url),
        help("intranet.scim.url is the service's base, e.g. https://intranet.example.com/scim/v2")
    )]
    BadUrl { url: String, problem: String },

    #[error("refusing plain http:// to {host}: the bearer token would travel unencrypted")]
    #[diagnostic(
        code(roster::scim::insecure_url),
        help("use https://, or set `insecure: true` under intranet.scim if you accept the risk")
    )]
    InsecureUrl { host: String },

    #[error("could not read the SCIM token from the {source_name}: {problem}")]
    #[diagnostic(
        code(roster::scim::secret),
        help("intranet.scim.token takes `env: VAR` or `file: path`")
    )]
    Secret {
        source_name: String,
        problem: String,
    },

    #[error("invalid header `{name}` in intranet.scim.headers: {problem}")]
    #[diagnostic(
        code(roster::scim::bad_header),
        help("a header name is an HTTP token (letters, digits, `-`), a value is printable text without line breaks; a credential header takes `{{ env: NAME }}` or `{{ file: PATH }}`")
    )]
    BadHeader { name: String, problem: String },

    #[error("the SCIM service at {url} answered HTTP {status}, redirecting to {location}")]
    #[diagnostic(
        code(roster::scim::redirect),
        help("Roster does not follow redirects: the bearer token and the configured headers would go along to wherever it points. Set intranet.scim.url to the address the service really answers at")
    )]
    Redirected {
        url: String,
        status: u16,
        location: String,
    },

    #[error("the answer of {url} is larger than {cap} bytes")]
    #[diagnostic(
        code(roster::scim::too_large),
        help("raise intranet.scim.max_response_bytes if this service's answers really are this large (a smaller page size on the service helps too)")
    )]
    TooLarge { url: String, cap: u64 },

    #[error("{url} answered HTTP {status} and asked to retry after {wait} s, longer than the {left} s left of intranet.scim.timeout")]
    #[diagnostic(
        code(roster::scim::retry_after),
        help("the service is busy; run again later, or raise intranet.scim.timeout to wait that long")
    )]
    RetryTooLate {
        url: String,
        status: u16,
        wait: u64,
        left: u64,
    },

    #[error("reading {what} from {url} took longer than intranet.scim.read_timeout ({seconds} s)")]
    #[diagnostic(
        code(roster::scim::read_timeout),
        help("nothing was planned from this partial read; raise intranet.scim.read_timeout for a very large or slow intranet")
    )]
    ReadTimeout {
        url: String,
        what: String,
        seconds: u64,
    },

    #[error("the SCIM service at {url} claims {total} {what}, more than intranet.scim.max_resources ({cap})")]
    #[diagnostic(
        code(roster::scim::too_many),
        help("a service claiming this many is most likely broken; raise intranet.scim.max_resources if the intranet really is that large")
    )]
    TooMany {
        url: String,
        what: String,
        total: u64,
        cap: u64,
    },

    #[error("incomplete read of {url}: {problem}")]
    #[diagnostic(
        code(roster::scim::paging),
        help("the service's paging (startIndex, count, totalResults: RFC 7644 §3.4.2.4) does not add up, so the read is incomplete and nothing was planned from it. The read was tried twice where a change on the service during the read could explain it")
    )]
    Paging { url: String, problem: String },

    #[error("the SCIM service at {url} returned {count} invalid {what}: {}", .problems.join("; "))]
    #[diagnostic(
        code(roster::scim::invalid_resource),
        help("Roster plans only from complete, well-formed resources (RFC 7643): fix these on the intranet, or ask its vendor")
    )]
    InvalidResources {
        url: String,
        what: String,
        count: usize,
        problems: Vec<String>,
    },

    #[error("the SCIM service at {url} refused the token ({status})")]
    #[diagnostic(
        code(roster::scim::unauthorized),
        help("check the bearer token that intranet.scim.token points to: it is wrong, expired or lacks rights")
    )]
    Unauthorized { url: String, status: u16 },

    #[error("cannot reach the SCIM service at {url}: {what}")]
    #[diagnostic(
        code(roster::scim::unreachable),
        help("check intranet.scim.url, that the service is up, and that this machine can reach it (proxy, firewall, DNS)")
    )]
    Unreachable { url: String, what: String },

    #[error("the SCIM service does not support the {schema} schema, which the field mappings need for {fields}")]
    #[diagnostic(
        code(roster::scim::schema_missing),
        help("remove those fields from field_mappings, or enable the schema on the intranet (see its /ResourceTypes)")
    )]
    SchemaMissing { schema: String, fields: String },

    #[error("the SCIM service does not support {feature}")]
    #[diagnostic(
        code(roster::scim::unsupported),
        help("Roster needs {feature}; see the service's /ServiceProviderConfig")
    )]
    Unsupported { feature: String },

    #[error("{method} {url} failed with HTTP {status}{}: {detail}", scim_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    #[diagnostic(code(roster::scim::http), help("the server's answer is quoted above"))]
    Http {
        method: String,
        url: String,
        status: u16,
        scim_type: Option<String>,
        detail: String,
    },

    #[error("unexpected answer from {url}: {problem}")]
    #[diagnostic(
        code(roster::scim::bad_response),
        help("the service does not answer as SCIM 2.0 (RFC 7644) describes")
    )]
    BadResponse { url: String, problem: String },
}

impl ScimError {
    /// The HTTP status the server answered with, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Http { status, .. } | ScimError::Unauthorized { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Retry and concurrency settings. `from_config` takes them from `intranet.scim`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub concurrency: usize,
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
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: 4,
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            bulk: Some(crate::config::DEFAULT_BULK_BATCH),
            max_response_bytes: crate::config::DEFAULT_MAX_RESPONSE_BYTES,
            max_resources: crate::config::DEFAULT_MAX_RESOURCES,
            read_timeout: Duration::from_secs(3600),
        }
    }
}

/// What the service says it supports (`/ServiceProviderConfig`, `/ResourceTypes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub bulk: bool,
    pub filter: bool,
    pub etag: bool,
    /// `filter.maxResults`: the most resources one page may hold.
    pub max_results: Option<usize>,
    /// The User resource type lists the enterprise extension.
    pub enterprise: bool,
    /// `bulk.maxOperations`: the most operations one Bulk request may hold.
    pub bulk_max_operations: Option<usize>,
    /// `bulk.maxPayloadSize`: the largest Bulk request body, in bytes.
    pub bulk_max_payload: Option<usize>,
}

/// The resource collections Roster reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "Users",
            Endpoint::Groups => "Groups",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Endpoint::Users => "User",
            Endpoint::Groups => "Group",
        }
    }

    /// `Users/<id>`, relative to the base URL.
    fn resource(self, id: &str) -> String {
        format!("{}/{}", self.path(), urlencode(id))
    }
}

/// One write `apply` makes: sent as its own request, or as one operation of a Bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// POST a new User.
    Create {
        resource: Value,
    },
    Patch(Patch),
}

/// PATCH a resource with PatchOp operations; `if_match` is the ETag it must still have.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub endpoint: Endpoint,
    pub id: String,
    pub operations: Vec<Value>,
    pub if_match: Option<String>,
}

impl Write {
    /// The operation of a Bulk request (RFC 7644 §3.7) that does this write. `version` carries
    /// the ETag, and acts as `If-Match` does on a single request (a mismatch answers 412).
    fn bulk_operation(&self, bulk_id: &str) -> Value {
        match self {
            Write::Create { resource } => json!({
                "method": "POST",
                "bulkId": bulk_id,
                "path": format!("/{}", Endpoint::Users.path()),
                "data": resource,
            }),
            Write::Patch(p) => {
                let mut op = json!({
                    "method": "PATCH",
                    "bulkId": bulk_id,
                    "path": format!("/{}", p.endpoint.resource(&p.id)),
                    "data": patch_body(&p.operations),
                });
                if let Some(tag) = &p.if_match {
                    op["version"] = json!(tag);
                }
                op
            }
        }
    }

    fn method(&self) -> Method {
        match self {
            Write::Create { .. } => Method::POST,
            Write::Patch(_) => Method::PATCH,
        }
    }
}

/// The `bulkId` of the write at `index` of the list being sent: unique within any request.
fn bulk_id(index: usize) -> String {
    format!("w{index}")
}

/// A BulkRequest body around serialized operations. No `failOnErrors`: RFC 7644 §3.7.3 has the
/// service then go on past failed operations, as `apply` goes on past a failed change.
fn bulk_body(operations: &[String]) -> String {
    format!(
        "{{\"schemas\":[\"{BULK_REQUEST}\"],\"Operations\":[{}]}}",
        operations.join(",")
    )
}

fn patch_body(operations: &[Value]) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// An async SCIM 2.0 client. Cheap to clone; clones share the connection pool and the
/// concurrency limit.
#[derive(Clone)]
pub struct ScimClient {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    limit: Arc<Semaphore>,
    opts: ClientOptions,
}

impl fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimClient")
            .field("base", &self.base.as_str())
            .field("opts", &self.opts)
            .finish()
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
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

/// A random number for backoff jitter, without a dependency: `RandomState` is seeded randomly.
fn jitter(max: Duration) -> Duration {
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(r % ms)
}

fn describe(e: &reqwest::Error) -> String {
    let mut what = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "the connection failed".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        what.push_str(": ");
        what.push_str(&s.to_string());
        source = s.source();
    }
    what
}

/// Parse the SCIM error body (`detail`, `scimType`), falling back to the raw text.
fn error_detail(body: &str) -> (Option<String>, String) {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => error_parts(&v, body.trim()),
        Err(_) => (
            None,
            body.chars()
                .take(500)
                .collect::<String>()
                .trim()
                .to_string(),
        ),
    }
}

/// `scimType` and `detail` of a SCIM Error object; `fallback` when it has no `detail`.
fn error_parts(error: &Value, fallback: &str) -> (Option<String>, String) {
    (
        error
            .get("scimType")
            .and_then(Value::as_str)
            .map(String::from),
        error
            .get("detail")
            .and_then(Value::as_str)
            .map_or_else(|| fallback.to_string(), String::from),
    )
}

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Option<Value>,
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
            timeout: Duration::from_secs(cfg.timeout.max(1)),
            bulk: cfg.bulk.enabled.then_some(cfg.bulk.batch.max(1)),
            max_response_bytes: cfg.max_response_bytes.max(1),
            max_resources: cfg.max_resources.max(1),
            read_timeout: Duration::from_secs(cfg.read_timeout.max(1)),
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
        let http = reqwest::Client::builder()
            .default_headers(default_headers)
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: the token and the configured headers would go along to
            // wherever it points. A 3xx is reported instead (`ScimError::Redirected`).
            .redirect(reqwest::redirect::Policy::none())
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
            opts,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn concurrency(&self) -> usize {
        self.opts.concurrency
    }

    fn url(&self, path: &str) -> Result<Url, ScimError> {
        self.base.join(path).map_err(|e| ScimError::BadUrl {
            url: format!("{}{path}", self.base),
            problem: e.to_string(),
        })
    }

    /// One request, with bounded concurrency and retries on 429/502/503/504 and on connection
    /// failures (honouring `Retry-After`). Other 4xx are never retried. Non-2xx become errors.
    /// A timeout after the request went out is retried only when it is `idempotent`: sending it
    /// twice must do no more than sending it once.
    async fn send(
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
        loop {
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
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .map_err(|_| ScimError::BadResponse {
                        url: url.to_string(),
                        problem: "client shut down".into(),
                    })?;
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let headers = resp.headers().clone();
                        match self.body(&url, resp).await? {
                            Ok(text) => Ok((status, headers, text)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            let left = self.opts.timeout.saturating_sub(waited);
            let delay = self.backoff(attempt).min(left);
            match result {
                Err(e) => {
                    // A request that never reached the server (connect) is safe to resend; a
                    // timeout after sending is not, unless the request is idempotent.
                    let safe = e.is_connect() || (idempotent && e.is_timeout());
                    if safe && attempt < self.opts.retries && !left.is_zero() {
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
        let exp = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.opts.max_backoff);
        exp / 2 + jitter(exp / 2 + Duration::from_millis(1))
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
    fn refusal(
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

    async fn get(&self, path: &str) -> Result<Value, ScimError> {
        let url = self.url(path)?;
        let ans = self
            .send(Method::GET, url.clone(), None, None, true)
            .await?;
        ans.body.ok_or_else(|| ScimError::BadResponse {
            url: url.to_string(),
            problem: "empty body".into(),
        })
    }

    /// Read `/ServiceProviderConfig` and the User resource type.
    pub async fn discover(&self) -> Result<Capabilities, ScimError> {
        let spc = self.get("ServiceProviderConfig").await?;
        let supported = |k: &str| {
            spc.get(k)
                .and_then(|f| f.get("supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let max_results = spc
            .get("filter")
            .and_then(|f| f.get("maxResults"))
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0);
        let bulk_limit = |k: &str| {
            spc.get("bulk")
                .and_then(|b| b.get(k))
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        let enterprise = match self.get("ResourceTypes").await {
            Ok(list) => resource_list(&list).iter().any(|rt| {
                rt.get("name").and_then(Value::as_str) == Some("User")
                    && rt
                        .get("schemaExtensions")
                        .and_then(Value::as_array)
                        .is_some_and(|exts| {
                            exts.iter().any(|e| {
                                e.get("schema").and_then(Value::as_str) == Some(ENTERPRISE_USER)
                            })
                        })
            }),
            // A service without /ResourceTypes says nothing: let writes tell.
            Err(ScimError::Http { status: 404, .. }) => true,
            Err(e) => return Err(e),
        };
        Ok(Capabilities {
            patch: supported("patch"),
            bulk: supported("bulk"),
            filter: supported("filter"),
            etag: supported("etag"),
            max_results,
            enterprise,
            bulk_max_operations: bulk_limit("maxOperations"),
            bulk_max_payload: bulk_limit("maxPayloadSize"),
        })
    }

    /// Every resource of an endpoint. The first page tells the total and the real page size;
    /// the remaining pages are then fetched concurrently, and any gap a short page leaves is
    /// filled sequentially. `attributes` limits what the server returns (empty: everything).
    pub async fn list_all(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
    ) -> Result<Vec<Value>, ScimError> {
        self.list_where(endpoint, attributes, page_size, None).await
    }

    /// The resources of an endpoint that match a SCIM `filter` (all of them without one), paged
    /// as [`ScimClient::list_all`] pages.
    ///
    /// Every page is checked: it must echo the `startIndex` asked for, hold no more than the
    /// `count` asked for, and repeat the first page's `totalResults`; at the end the distinct
    /// resources must be exactly `totalResults`, none read twice, and each resource well formed
    /// ([`crate::intranet::snapshot::user_problems`]). A `totalResults` above `max_resources` is
    /// refused before paging, and the whole read is bounded by `read_timeout`.
    ///
    /// A service that changes while it is read (a User created or deleted mid-read) shifts its
    /// pages, which looks like a repeated or missing resource: such a read is tried once more
    /// from the start, and an error if it does not add up again.
    pub async fn list_where(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, ScimError> {
        let read = async {
            match self
                .list_once(endpoint, attributes, page_size, filter)
                .await
            {
                Err(Listing::Skewed(_)) => self
                    .list_once(endpoint, attributes, page_size, filter)
                    .await
                    .map_err(Listing::into_error),
                other => other.map_err(Listing::into_error),
            }
        };
        match tokio::time::timeout(self.opts.read_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(ScimError::ReadTimeout {
                url: self.base.to_string(),
                what: endpoint.path().into(),
                seconds: self.opts.read_timeout.as_secs(),
            }),
        }
    }

    async fn list_once(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, Listing> {
        let count = page_size.unwrap_or(DEFAULT_PAGE).max(1);
        let list_url = self.url(endpoint.path()).map_err(Listing::Failed)?;
        let paging = |problem: String| ScimError::Paging {
            url: list_url.to_string(),
            problem,
        };
        let first = self
            .page(endpoint, attributes, filter, 1, count)
            .await
            .map_err(Listing::Failed)?;
        let total = first.total;
        if total > self.opts.max_resources {
            return Err(Listing::Failed(ScimError::TooMany {
                url: list_url.to_string(),
                what: endpoint.path().into(),
                total,
                cap: self.opts.max_resources,
            }));
        }
        let total = total as usize;
        let per_page = first.resources.len();
        if first.start_index.is_none() && per_page < total {
            return Err(Listing::Failed(paging(format!(
                "the service said {total} {}, sent {per_page} on the first page, and no `startIndex` (RFC 7644 §3.4.2.4 requires it when paging)",
                endpoint.path()
            ))));
        }
        let mut pages: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        pages.insert(1, first.resources);
        if per_page > 0 && per_page < total {
            let starts = (1..).map(|k| 1 + k * per_page).take_while(|s| *s <= total);
            let fetched: Vec<(usize, Vec<Value>)> = stream::iter(starts)
                .map(|start| async move {
                    let p = self
                        .page(endpoint, attributes, filter, start, per_page)
                        .await?;
                    Ok::<_, ScimError>((start, p))
                })
                .buffer_unordered(self.opts.concurrency.max(1))
                .map(|r| {
                    let (start, p) = r.map_err(Listing::Failed)?;
                    if p.total != total as u64 {
                        return Err(Listing::Skewed(paging(format!(
                            "the service said {total} {} on the first page and {} on the page at startIndex={start}",
                            endpoint.path(),
                            p.total
                        ))));
                    }
                    // Stop at once rather than page on through a total that is not there.
                    if p.resources.is_empty() {
                        return Err(Listing::Skewed(paging(format!(
                            "the page at startIndex={start} held no {}, though the service said {total}",
                            endpoint.path()
                        ))));
                    }
                    Ok((start, p.resources))
                })
                .try_collect()
                .await?;
            pages.extend(fetched);
        }
        // Walk the pages in order; fetch what a short page left out.
        // Room for what was read, not for what the service claims.
        let read: usize = pages.values().map(Vec::len).sum();
        let mut out = Vec::with_capacity(read.min(total));
        let mut seen = std::collections::HashSet::with_capacity(read.min(total));
        let mut repeated = 0usize;
        let mut example: Option<String> = None;
        let mut pos = 1;
        while pos <= total {
            let resources = match pages.remove(&pos) {
                Some(r) => r,
                None => {
                    let p = self
                        .page(endpoint, attributes, filter, pos, count)
                        .await
                        .map_err(Listing::Failed)?;
                    if p.total != total as u64 {
                        return Err(Listing::Skewed(paging(format!(
                            "the service said {total} {} on the first page and {} on the page at startIndex={pos}",
                            endpoint.path(),
                            p.total
                        ))));
                    }
                    p.resources
                }
            };
            if resources.is_empty() {
                break;
            }
            pos += resources.len();
            for r in resources {
                match r.get("id").and_then(Value::as_str) {
                    Some(id) if !seen.insert(id.to_owned()) => {
                        repeated += 1;
                        example.get_or_insert_with(|| id.to_owned());
                    }
                    _ => out.push(r),
                }
            }
        }
        if repeated > 0 || out.len() != total {
            let mut problem = format!(
                "the service said {total} {}, its pages held {} distinct ({repeated} repeated)",
                endpoint.path(),
                out.len()
            );
            if let Some(id) = example {
                problem.push_str(&format!(", e.g. id `{id}` more than once"));
            }
            return Err(Listing::Skewed(paging(problem)));
        }
        let problems: Vec<String> = out
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let p = match endpoint {
                    Endpoint::Users => crate::intranet::snapshot::user_problems(r),
                    Endpoint::Groups => crate::intranet::snapshot::group_problems(r),
                };
                (!p.is_empty()).then(|| {
                    format!(
                        "{} {}: {}",
                        endpoint.singular(),
                        crate::intranet::snapshot::resource_name(r, i),
                        p.join(", ")
                    )
                })
            })
            .collect();
        if !problems.is_empty() {
            let count = problems.len();
            let mut shown: Vec<String> = problems.into_iter().take(20).collect();
            if count > shown.len() {
                shown.push(format!("and {} more", count - shown.len()));
            }
            return Err(Listing::Failed(ScimError::InvalidResources {
                url: list_url.to_string(),
                what: endpoint.path().into(),
                count,
                problems: shown,
            }));
        }
        Ok(out)
    }

    /// How many resources an endpoint holds now (`count=0`: `totalResults` only, no resources).
    pub async fn total(&self, endpoint: Endpoint) -> Result<usize, ScimError> {
        let total = self.page(endpoint, &[], None, 1, 0).await?.total;
        if total > self.opts.max_resources {
            return Err(ScimError::TooMany {
                url: self.url(endpoint.path())?.to_string(),
                what: endpoint.path().into(),
                total,
                cap: self.opts.max_resources,
            });
        }
        Ok(total as usize)
    }

    /// One page, checked on its own: a ListResponse with a `totalResults`, a `Resources` list of
    /// at most `count`, and the `startIndex` asked for when it gives one.
    async fn page(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        filter: Option<&str>,
        start: usize,
        count: usize,
    ) -> Result<Page, ScimError> {
        let mut url = self.url(endpoint.path())?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("startIndex", &start.to_string())
                .append_pair("count", &count.to_string());
            if !attributes.is_empty() {
                q.append_pair("attributes", &attributes.join(","));
            }
            if let Some(f) = filter {
                q.append_pair("filter", f);
            }
        }
        let ans = self
            .send(Method::GET, url.clone(), None, None, true)
            .await?;
        let bad = |problem: &str| ScimError::BadResponse {
            url: url.to_string(),
            problem: problem.to_string(),
        };
        let body = ans.body.ok_or_else(|| bad("empty body"))?;
        let total = body
            .get("totalResults")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("ListResponse without a whole, non-negative totalResults"))?;
        let start_index = match body.get("startIndex") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad("startIndex is not a number"))?,
            ),
        };
        if let Some(echoed) = start_index.filter(|s| *s != start as u64) {
            return Err(ScimError::Paging {
                url: url.to_string(),
                problem: format!(
                    "asked for the page at startIndex={start}, the service answered the page at startIndex={echoed}"
                ),
            });
        }
        let resources = match body.get("Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(bad("Resources is not a list")),
        };
        // `count=0` asks for the total only; a service that sends resources anyway is harmless.
        if count > 0 && resources.len() > count {
            return Err(ScimError::Paging {
                url: url.to_string(),
                problem: format!(
                    "asked for at most {count} {}, the page held {}",
                    endpoint.path(),
                    resources.len()
                ),
            });
        }
        Ok(Page {
            total,
            start_index,
            resources,
        })
    }

    /// All Users (with the attributes the mapped `fields` need) and all Groups, concurrently.
    pub async fn read_resources(
        &self,
        fields: &[String],
        caps: &Capabilities,
    ) -> Result<(Vec<Value>, Vec<Value>), ScimError> {
        let users_attrs = user_attributes(fields);
        let group_attrs = group_attributes();
        tokio::try_join!(
            self.list_all(Endpoint::Users, &users_attrs, caps.max_results),
            self.list_all(Endpoint::Groups, &group_attrs, caps.max_results),
        )
    }

    /// The intranet as the model sees it, through the same conversion as a snapshot file.
    pub async fn read_state(
        &self,
        fields: &[String],
        caps: &Capabilities,
    ) -> Result<IntranetState, ScimError> {
        require_schemas(caps, fields)?;
        let (users, groups) = self.read_resources(fields, caps).await?;
        Ok(state_from_resources(&users, &groups, fields))
    }

    /// The snapshot file form `{ "users": <ListResponse>, "groups": <ListResponse> }`, with full
    /// resources, as `roster snapshot intranet -o FILE` writes it.
    pub async fn snapshot(&self, caps: &Capabilities) -> Result<Value, ScimError> {
        let (users, groups) = tokio::try_join!(
            self.list_all(Endpoint::Users, &[], caps.max_results),
            self.list_all(Endpoint::Groups, &[], caps.max_results),
        )?;
        Ok(to_snapshot(&Resources { users, groups }))
    }

    /// POST a new User. Returns its id and ETag.
    pub async fn create_user(&self, resource: &Value) -> Result<Written, ScimError> {
        let url = self.url(Endpoint::Users.path())?;
        let ans = self
            .send(
                Method::POST,
                url.clone(),
                Some(&resource.to_string()),
                None,
                false,
            )
            .await?;
        let id = ans
            .body
            .as_ref()
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .map(String::from);
        if id.is_none() {
            return Err(ScimError::BadResponse {
                url: url.to_string(),
                problem: "created User has no id".into(),
            });
        }
        Ok(Written { id, etag: ans.etag })
    }

    /// PATCH a resource with SCIM PatchOp operations, with `If-Match` when given. A `204 No
    /// Content` answer is success without a body.
    pub async fn patch(
        &self,
        endpoint: Endpoint,
        id: &str,
        operations: Vec<Value>,
        if_match: Option<&str>,
    ) -> Result<Written, ScimError> {
        let url = self.url(&endpoint.resource(id))?;
        let body = patch_body(&operations).to_string();
        let ans = self
            .send(Method::PATCH, url, Some(&body), if_match, true)
            .await?;
        debug_assert!(ans.status.is_success());
        Ok(Written {
            id: Some(id.to_string()),
            etag: ans.etag,
        })
    }

    /// One write as its own request.
    pub async fn write(&self, write: &Write) -> Result<Written, ScimError> {
        match write {
            Write::Create { resource } => self.create_user(resource).await,
            Write::Patch(p) => {
                self.patch(
                    p.endpoint,
                    &p.id,
                    p.operations.clone(),
                    p.if_match.as_deref(),
                )
                .await
            }
        }
    }

    /// How to send `writes`: as Bulk requests of at most the configured batch size, the
    /// service's `maxOperations`, and (the serialized body, measured) its `maxPayloadSize`,
    /// when this client uses Bulk and the service announces it; otherwise each on its own.
    /// A Bulk request of one write gains nothing, so a lone write (or one too large for any Bulk
    /// request) goes on its own.
    pub fn batches(&self, caps: &Capabilities, writes: &[Write]) -> Vec<Batch> {
        let Some(batch) = self.opts.bulk.filter(|_| caps.bulk) else {
            return (0..writes.len()).map(Batch::Single).collect();
        };
        let max_ops = caps
            .bulk_max_operations
            .map_or(batch, |m| m.min(batch))
            .max(1);
        let max_bytes = caps.bulk_max_payload.unwrap_or(usize::MAX);
        let envelope = bulk_body(&[]).len();
        let mut out = Vec::new();
        let close = |out: &mut Vec<Batch>, range: std::ops::Range<usize>| match range.len() {
            0 => {}
            1 => out.push(Batch::Single(range.start)),
            _ => out.push(Batch::Bulk(range)),
        };
        let (mut start, mut bytes) = (0, envelope);
        for (i, w) in writes.iter().enumerate() {
            let len = w.bulk_operation(&bulk_id(i)).to_string().len();
            if i > start && (i - start >= max_ops || bytes + 1 + len > max_bytes) {
                close(&mut out, start..i);
                (start, bytes) = (i, envelope);
            }
            bytes += usize::from(i > start) + len;
        }
        close(&mut out, start..writes.len());
        out
    }

    /// `writes` as one Bulk request (RFC 7644 §3.7): one result per write, in order; `first` is
    /// the index of the first in the list being sent (operation `bulkId`s are `w<index>`).
    /// `Err` when the request as a whole failed; then which of its operations ran is unknown,
    /// unless the status says the service refused it before running any ([`refused_whole`]).
    ///
    /// Resending it is as safe as resending its writes one by one: a PATCH operation carries its
    /// ETag as `version`, so one that had already run fails with 412 instead of writing twice
    /// (and without ETags, replace, add-member and remove-member give the same result twice);
    /// a POST is not idempotent, so a request with a create is not resent after a timeout, as a
    /// single POST is not.
    pub async fn bulk(
        &self,
        writes: &[Write],
        first: usize,
    ) -> Result<Vec<Result<Written, ScimError>>, ScimError> {
        let url = self.url("Bulk")?;
        let operations: Vec<String> = writes
            .iter()
            .enumerate()
            .map(|(k, w)| w.bulk_operation(&bulk_id(first + k)).to_string())
            .collect();
        let idempotent = writes.iter().all(|w| matches!(w, Write::Patch(_)));
        let ans = self
            .send(
                Method::POST,
                url.clone(),
                Some(&bulk_body(&operations)),
                None,
                idempotent,
            )
            .await?;
        let bad = |problem: String| ScimError::BadResponse {
            url: url.to_string(),
            problem,
        };
        let body = ans.body.ok_or_else(|| bad("empty body".into()))?;
        let results = body
            .get("Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("BulkResponse without Operations".into()))?;
        let by_id: std::collections::HashMap<&str, &Value> = results
            .iter()
            .filter_map(|r| Some((r.get("bulkId")?.as_str()?, r)))
            .collect();
        Ok(writes
            .iter()
            .enumerate()
            .map(|(k, write)| {
                let id = bulk_id(first + k);
                // By bulkId; a service that does not echo it answers in request order.
                let result = by_id
                    .get(id.as_str())
                    .copied()
                    .or_else(|| results.get(k).filter(|r| r.get("bulkId").is_none()));
                match result {
                    Some(r) => self.bulk_result(write, r),
                    None => Err(bad(format!(
                        "no result for operation {id}: it may or may not have been applied"
                    ))),
                }
            })
            .collect())
    }

    /// One operation's result of a BulkResponse, as the same write sent alone would end.
    fn bulk_result(&self, write: &Write, result: &Value) -> Result<Written, ScimError> {
        let location = result.get("location").and_then(Value::as_str);
        let url = match (location, write) {
            (Some(l), _) => Url::parse(l).or_else(|_| self.url(l.trim_start_matches('/'))),
            (None, Write::Create { .. }) => self.url(Endpoint::Users.path()),
            (None, Write::Patch(p)) => self.url(&p.endpoint.resource(&p.id)),
        }?;
        let status = match result.get("status") {
            Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
        .ok_or_else(|| ScimError::BadResponse {
            url: url.to_string(),
            problem: "Bulk operation result without a status".into(),
        })?;
        if !(200..300).contains(&status) {
            let response = result.get("response").cloned().unwrap_or(Value::Null);
            let parts = error_parts(&response, &response.to_string());
            return Err(self.refusal(&write.method(), &url, status, parts));
        }
        let etag = result
            .get("version")
            .and_then(Value::as_str)
            .map(String::from);
        let id = match write {
            Write::Patch(p) => Some(p.id.clone()),
            Write::Create { .. } => result
                .get("response")
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| {
                    location?;
                    let last = url.path_segments()?.rfind(|s| !s.is_empty())?;
                    Some(percent_decode(last))
                }),
        };
        if id.is_none() {
            return Err(ScimError::BadResponse {
                url: url.to_string(),
                problem: "created User has no id".into(),
            });
        }
        Ok(Written { id, etag })
    }

    /// Who the token acts as, when the service has `/Me` (RFC 7644 §3.11); otherwise `None`.
    pub async fn whoami(&self) -> Option<String> {
        let me = self.get("Me").await.ok()?;
        me.get("userName").and_then(Value::as_str).map(String::from)
    }
}

/// Whether a failed Bulk request was refused as a whole before any of its operations ran, so
/// that its writes can be sent again on their own: no Bulk endpoint (404, 405), Bulk not
/// implemented after all (501), or a request too large for the service (413: RFC 7644 §3.7.4 has
/// the service refuse the request, not run part of it).
pub fn refused_whole(e: &ScimError) -> bool {
    matches!(e.status(), Some(404 | 405 | 413 | 501))
}

/// A connected, discovered SCIM service: what `observe` and `apply` start from.
#[derive(Debug, Clone)]
pub struct Live {
    pub client: ScimClient,
    pub caps: Capabilities,
}

/// Build the client from `intranet.scim` (token from the environment or a file next to the
/// config), discover the service, and check it has what the mapped fields need.
pub async fn connect(cfg: &Loaded) -> Result<Live, ScimError> {
    let Some(scim) = &cfg.config.intranet.scim else {
        return Err(ScimError::Unsupported {
            feature: "a live intranet: the config has no `intranet.scim`".into(),
        });
    };
    let client = ScimClient::from_config(scim, &cfg.dir, |k| std::env::var(k).ok())?;
    let caps = client.discover().await?;
    require_schemas(&caps, &mapped_fields(cfg))?;
    Ok(Live { client, caps })
}

/// The intranet field names the config maps.
pub fn mapped_fields(cfg: &Loaded) -> Vec<String> {
    cfg.config.field_mappings.keys().cloned().collect()
}

struct Page {
    total: u64,
    start_index: Option<u64>,
    resources: Vec<Value>,
}

/// Why a list read failed: `Skewed` when a change on the service during the read could explain
/// it (then the read is tried again once), `Failed` otherwise.
enum Listing {
    Skewed(ScimError),
    Failed(ScimError),
}

impl Listing {
    fn into_error(self) -> ScimError {
        match self {
            Listing::Skewed(e) | Listing::Failed(e) => e,
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `%XX` escapes of a URL path segment decoded (a created resource's id from its location); a
/// `%` not followed by two hex digits stays as it is, bytes that are not UTF-8 become U+FFFD.
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP date (then the time from `now` to it).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date(v)?;
    let now = jiff::Timestamp::try_from(now).ok()?;
    Some(Duration::try_from(now.duration_until(at)).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7): RFC 2822 with `GMT`. A
/// weekday that does not match the date is let through, as servers get it wrong.
fn http_date(s: &str) -> Option<jiff::Timestamp> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser =
        jiff::fmt::rfc2822::DateTimeParser::new().relaxed_weekday(true);
    if !s.ends_with(" GMT") {
        return None;
    }
    PARSER.parse_timestamp(s).ok()
}

fn resource_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => other
            .get("Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Fail clearly when the service lacks PATCH, or a schema the mapped fields need.
pub fn require_schemas(caps: &Capabilities, fields: &[String]) -> Result<(), ScimError> {
    if !caps.patch {
        return Err(ScimError::Unsupported {
            feature: "PATCH (RFC 7644 §3.5.2)".into(),
        });
    }
    let needing: Vec<&str> = fields
        .iter()
        .filter(|f| Field::parse(f).is_some_and(|p| p.schema() == Some(ENTERPRISE_USER)))
        .map(String::as_str)
        .collect();
    if !caps.enterprise && !needing.is_empty() {
        return Err(ScimError::SchemaMissing {
            schema: ENTERPRISE_USER.into(),
            fields: needing.join(", "),
        });
    }
    Ok(())
}

/// The `attributes=` a read needs: identity, state, version, and the mapped fields' attributes.
pub fn user_attributes(fields: &[String]) -> Vec<String> {
    let mut attrs: Vec<String> = ["userName", "externalId", "active", "meta"]
        .map(String::from)
        .to_vec();
    for a in fields
        .iter()
        .filter_map(|f| Field::parse(f))
        .map(|f| f.request_attribute())
    {
        if !attrs.contains(&a) {
            attrs.push(a);
        }
    }
    attrs
}

/// The attributes a Groups read asks for.
pub fn group_attributes() -> Vec<String> {
    ["displayName", "members", "meta"]
        .map(String::from)
        .to_vec()
}

/// The instant of an RFC 3339 timestamp (`2024-05-01T12:00:00.123Z`, `...+02:00`; a `t` or
/// space separator, a lowercase `z`). RFC 3339 allows any number of fraction digits; past nine
/// (nanoseconds) they are dropped.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse() {
        return Some(t);
    }
    let dot = s.find('.')?;
    let digits = s[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits <= 9 {
        return None;
    }
    let nine = format!("{}{}", &s[..dot + 10], &s[dot + 1 + digits..]);
    nine.parse().ok()
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
    fn attributes_cover_mapped_fields() {
        let a = user_attributes(&[
            "email".into(),
            "first_name".into(),
            "surname".into(),
            "department".into(),
            "scim:nickName".into(),
        ]);
        assert_eq!(
            a,
            [
                "userName",
                "externalId",
                "active",
                "meta",
                "emails",
                "name",
                &format!("{ENTERPRISE_USER}:department"),
                "nickName"
            ]
        );
    }

    #[test]
    fn enterprise_fields_need_the_extension() {
        let caps = Capabilities {
            patch: true,
            bulk: false,
            filter: true,
            etag: true,
            max_results: None,
            enterprise: false,
            bulk_max_operations: None,
            bulk_max_payload: None,
        };
        let err = require_schemas(&caps, &["email".into(), "department".into()]).unwrap_err();
        assert!(err.to_string().contains("department"));
        assert!(require_schemas(&caps, &["email".into()]).is_ok());
    }

    fn bulk_caps(max_operations: Option<usize>, max_payload: Option<usize>) -> Capabilities {
        Capabilities {
            patch: true,
            bulk: true,
            filter: true,
            etag: true,
            max_results: None,
            enterprise: true,
            bulk_max_operations: max_operations,
            bulk_max_payload: max_payload,
        }
    }

    fn bulk_client(batch: Option<usize>) -> ScimClient {
        let opts = ClientOptions {
            bulk: batch,
            ..ClientOptions::default()
        };
        ScimClient::new(
            "http://127.0.0.1:1/",
            Token::new("t"),
            &BTreeMap::new(),
            false,
            opts,
        )
        .unwrap()
    }

    fn title_patch(i: usize, title: &str) -> Write {
        Write::Patch(Patch {
            endpoint: Endpoint::Users,
            id: format!("id-{i}"),
            operations: vec![json!({"op": "replace", "path": "title", "value": title})],
            if_match: Some(format!("W/\"{i}\"")),
        })
    }

    /// The body `bulk` sends for a batch, built the same way.
    fn body_of(writes: &[Write], range: std::ops::Range<usize>) -> String {
        let ops: Vec<String> = range
            .map(|i| writes[i].bulk_operation(&bulk_id(i)).to_string())
            .collect();
        bulk_body(&ops)
    }

    #[test]
    fn batches_keep_to_the_batch_size_and_max_operations() {
        let writes: Vec<Write> = (0..10).map(|i| title_patch(i, "x")).collect();
        let b = bulk_client(Some(3)).batches(&bulk_caps(None, None), &writes);
        assert_eq!(
            b,
            [
                Batch::Bulk(0..3),
                Batch::Bulk(3..6),
                Batch::Bulk(6..9),
                Batch::Single(9)
            ]
        );
        let b = bulk_client(Some(200)).batches(&bulk_caps(Some(4), None), &writes);
        assert_eq!(
            b,
            [Batch::Bulk(0..4), Batch::Bulk(4..8), Batch::Bulk(8..10)]
        );
        // Off in the client, or not announced: each on its own.
        let singles: Vec<Batch> = (0..10).map(Batch::Single).collect();
        assert_eq!(
            bulk_client(None).batches(&bulk_caps(None, None), &writes),
            singles
        );
        let mut caps = bulk_caps(None, None);
        caps.bulk = false;
        assert_eq!(bulk_client(Some(200)).batches(&caps, &writes), singles);
    }

    #[test]
    fn batches_keep_to_the_measured_payload_size() {
        // Values of different lengths, so that batches hold different numbers of writes.
        let writes: Vec<Write> = (0..40)
            .map(|i| title_patch(i, &"t".repeat(1 + (i * 37) % 300)))
            .collect();
        let limit = 1500;
        let b = bulk_client(Some(1000)).batches(&bulk_caps(None, Some(limit)), &writes);
        let mut next = 0;
        for batch in &b {
            let range = match batch {
                Batch::Single(i) => *i..*i + 1,
                Batch::Bulk(r) => r.clone(),
            };
            assert_eq!(range.start, next, "in order, none left out: {b:?}");
            next = range.end;
            let body = body_of(&writes, range.clone());
            if matches!(batch, Batch::Bulk(_)) {
                assert!(body.len() <= limit, "{} > {limit}", body.len());
                assert!(serde_json::from_str::<Value>(&body).is_ok());
            }
            // Full: one more write would not have fitted.
            if range.end < writes.len() {
                let more = body_of(&writes, range.start..range.end + 1);
                assert!(more.len() > limit, "{batch:?} could hold one more");
            }
        }
        assert_eq!(next, writes.len());
        assert!(b.iter().filter(|x| matches!(x, Batch::Bulk(_))).count() >= 3);
        // A write too large for any Bulk request goes on its own.
        let big = vec![
            title_patch(0, "x"),
            title_patch(1, &"y".repeat(2000)),
            title_patch(2, "z"),
        ];
        let b = bulk_client(Some(1000)).batches(&bulk_caps(None, Some(limit)), &big);
        assert_eq!(b, [Batch::Single(0), Batch::Single(1), Batch::Single(2)]);
    }

    #[test]
    fn bulk_results_read_as_single_answers() {
        let c = bulk_client(Some(200));
        let create = Write::Create {
            resource: json!({"userName": "ada"}),
        };
        let ok = json!({"method": "POST", "bulkId": "w0", "version": "W/\"7\"", "location": "http://127.0.0.1:1/Users/a%20b", "status": "201"});
        assert_eq!(
            c.bulk_result(&create, &ok).unwrap(),
            Written {
                id: Some("a b".into()),
                etag: Some("W/\"7\"".into())
            }
        );
        let stale = json!({"method": "PATCH", "status": "412", "response": {"status": "412", "detail": "version mismatch"}});
        let e = c.bulk_result(&title_patch(1, "x"), &stale).unwrap_err();
        assert!(
            matches!(e, ScimError::Http { status: 412, ref detail, .. } if detail == "version mismatch"),
            "{e:?}"
        );
        let denied = json!({"status": 403});
        assert!(matches!(
            c.bulk_result(&title_patch(1, "x"), &denied).unwrap_err(),
            ScimError::Unauthorized { status: 403, .. }
        ));
        let no_status = json!({"method": "PATCH"});
        assert!(matches!(
            c.bulk_result(&title_patch(1, "x"), &no_status).unwrap_err(),
            ScimError::BadResponse { .. }
        ));
        let no_location = json!({"status": "201"});
        assert!(c.bulk_result(&create, &no_location).is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let at = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            // 1994-11-06T08:49:00Z
            let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_740);
            retry_after(&h, now)
        };
        assert_eq!(at("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(at("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(at("soon"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 CET"), None);
        // The weekday is not checked against the date (the old reader ignored it too), a
        // one-digit day reads, a day that does not exist does not.
        assert_eq!(
            at("Mon, 06 Nov 1994 08:50:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            at("Sun, 6 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            at("Tue, 07 Nov 1995 08:49:00 GMT"),
            Some(Duration::from_secs(366 * 86_400))
        );
        assert_eq!(at("Thu, 31 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 +0000"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT trailing"), None);
    }

    #[test]
    fn a_location_segment_is_percent_decoded_and_bad_escapes_stay() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("%c3%a9"), "é");
        // A `%` without two hex digits after it is kept as it is.
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%%41"), "%A");
        // Bytes that are not UTF-8 are replaced, not an error.
        assert_eq!(percent_decode("x%FFy"), "x\u{FFFD}y");
        assert_eq!(percent_decode("plain-id"), "plain-id");
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
