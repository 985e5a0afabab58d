//! [`EntraError`]: everything that can go wrong reading Entra ID, in the user's terms: which
//! secret is wrong, which Graph permission to grant, why a read is refused. Never a secret, a
//! token or a header; text the server sent is escaped before it is shown.

use miette::Diagnostic;
use serde_json::Value;

/// Why Entra ID could not be read.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum EntraError {
    #[error("invalid {key} `{url}`: {problem}")]
    #[diagnostic(
        code(roster::entra::url),
        help("write the full https:// URL (plain http:// is allowed to loopback only), e.g. https://login.microsoftonline.com or https://graph.microsoft.com/v1.0")
    )]
    Url {
        key: &'static str,
        url: String,
        problem: String,
    },

    #[error("could not read the Entra ID client secret from the {source_name}: {problem}")]
    #[diagnostic(code(roster::entra::secret))]
    Secret {
        source_name: String,
        problem: String,
        /// What to do (`export ROSTER_ENTRA_SECRET=...`), and what the value is.
        #[help]
        fix: String,
    },

    #[error("cannot use the certificate {path}: {problem}")]
    #[diagnostic(
        code(roster::entra::certificate),
        help("directory.entra.certificate is one PEM file holding the app's RSA private key (PRIVATE KEY or RSA PRIVATE KEY) and its certificate (CERTIFICATE), the one uploaded to the app registration (Certificates & secrets)")
    )]
    Certificate { path: String, problem: String },

    #[error("Entra ID refused to sign in as application {client_id} in tenant {tenant}: the client secret is wrong or expired ({code})")]
    #[diagnostic(
        code(roster::entra::bad_secret),
        help("create a new client secret in the app registration (Certificates & secrets → New client secret) and put its Value where directory.entra.client_secret points")
    )]
    BadSecret {
        client_id: String,
        tenant: String,
        code: String,
    },

    #[error("Entra ID refused to sign in as application {client_id} in tenant {tenant}: {error}: {description}")]
    #[diagnostic(
        code(roster::entra::sign_in),
        help("check directory.entra.tenant_id and client_id against the app registration's Overview page, and that the app has a client secret")
    )]
    SignIn {
        client_id: String,
        tenant: String,
        error: String,
        description: String,
    },

    #[error("Microsoft Graph refused to let the app read {what} ({code}: {message})")]
    #[diagnostic(
        code(roster::entra::permission),
        help("grant the app registration the Microsoft Graph application permission {permission} (API permissions → Add a permission → Microsoft Graph → Application permissions), then Grant admin consent; Roster needs User.Read.All and GroupMember.Read.All")
    )]
    Permission {
        what: String,
        permission: &'static str,
        code: String,
        message: String,
    },

    #[error("Microsoft Graph does not know the user property `{property}` ({message})")]
    #[diagnostic(
        code(roster::entra::property),
        help("mapped attributes name Graph user properties (mail, givenName, department, onPremisesSamAccountName, extension_<appid>_costCenter); check the spelling, and for a directory extension the app ID in its name")
    )]
    Property { property: String, message: String },

    #[error("{method} {url} answered HTTP {status}: {code}: {message}")]
    #[diagnostic(code(roster::entra::http))]
    Http {
        method: &'static str,
        url: String,
        status: u16,
        code: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("{url} is not trusted: {problem}")]
    #[diagnostic(code(roster::entra::untrusted))]
    Untrusted {
        url: String,
        problem: String,
        #[help]
        help: String,
    },

    #[error("cannot reach {url}: {what}")]
    #[diagnostic(
        code(roster::entra::unreachable),
        help("check directory.entra.authority and graph_url, the network and any proxy")
    )]
    Unreachable { url: String, what: String },

    #[error("{url} is still throttling (HTTP {status}) after {attempts} attempts")]
    #[diagnostic(
        code(roster::entra::throttled),
        help("Microsoft Graph is limiting this app's requests; nothing was planned from a partial read. Run again later, or lower directory.entra.concurrency")
    )]
    Throttled {
        url: String,
        status: u16,
        attempts: u32,
    },

    #[error("the answer of {url} is not what Microsoft Graph sends: {problem}")]
    #[diagnostic(
        code(roster::entra::bad_response),
        help("is directory.entra.graph_url (or authority) the Microsoft Graph endpoint, and nothing in between rewriting answers?")
    )]
    BadResponse { url: String, problem: String },

    #[error("the read of users is short: Graph counted {count} users but listed {read}")]
    #[diagnostic(
        code(roster::entra::short_read),
        help("nothing was planned from this partial read: a missing user must never look like someone who left. Run again; if it persists, the paging (@odata.nextLink) is being cut off on the way")
    )]
    ShortRead { read: u64, count: u64 },

    #[error("Entra ID holds no users the app can read")]
    #[diagnostic(
        code(roster::entra::no_users),
        help("an empty directory is never planned from: check the tenant and the app's User.Read.All permission")
    )]
    NoUsers,

    #[error("{what}")]
    #[diagnostic(code(roster::entra::snapshot))]
    Snapshot {
        what: String,
        #[help]
        help: Option<String>,
    },
}

/// A Graph error body (`{"error": {"code", "message"}}`, as learn.microsoft.com/graph/errors
/// shows it): the code and message, escaped for showing; the raw text's start otherwise.
pub fn graph_error(text: &str) -> (String, String) {
    let v: Option<Value> = serde_json::from_str(text).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let field = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(|s| crate::text::shown(s).into_owned())
    };
    match (field("code"), field("message")) {
        (Some(code), message) => (code, message.unwrap_or_default()),
        (None, _) => {
            let start: String = text.chars().take(200).collect();
            (
                "no Graph error code".into(),
                crate::text::shown(&start).into_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_graph_error_bodies_and_escapes_them() {
        let body = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2024-01-01T00:00:00","request-id":"x"}}}"#;
        assert_eq!(
            graph_error(body),
            (
                "Authorization_RequestDenied".into(),
                "Insufficient privileges to complete the operation.".into()
            )
        );
        let (code, message) = graph_error("<html>\x1b[31m</html>");
        assert_eq!(code, "no Graph error code");
        assert!(!message.contains('\x1b'), "{message}");
    }
}
