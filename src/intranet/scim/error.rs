//! [`ScimError`], everything that can go wrong talking to the SCIM service, and the reading of a
//! SCIM Error object (`scimType`, `detail`) out of a refusal.

use miette::Diagnostic;
use serde_json::Value;
use thiserror::Error;

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
    #[diagnostic(code(roster::scim::secret))]
    Secret {
        source_name: String,
        problem: String,
        /// What to do: `export ROSTER_SCIM_TOKEN=...`, or fix the file.
        #[help]
        fix: String,
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

    #[error("cannot use {what}: {problem}")]
    #[diagnostic(
        code(roster::scim::ca_file),
        help("`ca_file` is a PEM file holding the certificate(s) of the CA that issued the service's certificate (a relative path is relative to the config file); without it the system's roots are used (SSL_CERT_FILE names another bundle)")
    )]
    CaFile { what: String, problem: String },

    #[error("the SCIM service at {url} is not trusted: {problem}")]
    #[diagnostic(code(roster::scim::certificate))]
    Certificate {
        url: String,
        problem: String,
        #[help]
        help: String,
    },

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

    #[error("{method} {url} failed with HTTP {status}{}{}", scim_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default(), if detail.trim().is_empty() { String::new() } else { format!(": {detail}") })]
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

/// Parse the SCIM error body (`detail`, `scimType`), falling back to the raw text.
pub(super) fn error_detail(body: &str) -> (Option<String>, String) {
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
pub(super) fn error_parts(error: &Value, fallback: &str) -> (Option<String>, String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_detail_leaves_no_dangling_colon() {
        let e = |detail: &str| ScimError::Http {
            method: "PATCH".into(),
            url: "http://127.0.0.1/scim/v2/Groups/1".into(),
            status: 501,
            scim_type: None,
            detail: detail.into(),
        };
        assert_eq!(
            e("").to_string(),
            "PATCH http://127.0.0.1/scim/v2/Groups/1 failed with HTTP 501"
        );
        assert_eq!(
            e("Not Implemented").to_string(),
            "PATCH http://127.0.0.1/scim/v2/Groups/1 failed with HTTP 501: Not Implemented"
        );
        // django-scim2's refusal body: `"detail": ""`.
        let (_, detail) = error_detail(r#"{"detail": "", "status": 501}"#);
        assert_eq!(detail, "");
    }
}
