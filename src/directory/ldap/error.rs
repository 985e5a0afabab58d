//! Why a read failed: [`LdapError`] (the URL, the bind identity, the server's result code and
//! message, and a hint), and how one attempt failed (a dropped connection is read again once).

use std::path::PathBuf;

use miette::Diagnostic;

use super::*;

/// Why the directory could not be read. Each variant names the URL and bind identity involved,
/// the server's result code and message when there is one, and a hint.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum LdapError {
    #[error("invalid LDAP URL `{url}`: {problem}")]
    #[diagnostic(
        code(roster::ldap::url),
        help("write `ldaps://host[:port]`, or `ldap://host[:port]` with `start_tls: true`")
    )]
    Url { url: String, problem: String },

    #[error("refusing to send the password of {bind_dn} in clear text to {url}")]
    #[diagnostic(
        code(roster::ldap::insecure),
        help(
            "use `ldaps://` or `start_tls: true`; plain `ldap://` with a password is allowed to \
             loopback only, or anywhere with `insecure: true`"
        )
    )]
    Insecure { url: String, bind_dn: String },

    #[error("cannot get the password of {bind_dn}: {problem}")]
    #[diagnostic(code(roster::ldap::password))]
    Password {
        bind_dn: String,
        problem: String,
        #[help]
        help: String,
    },

    #[error("invalid {which} filter `{filter}`")]
    #[diagnostic(
        code(roster::ldap::filter),
        help(
            "an LDAP filter (RFC 4515) is parenthesised: `(objectClass=person)`, \
             `(&(a=1)(b=2))`; escape `*`, `(`, `)` and `\\` in values as `\\2a`, `\\28`, `\\29`, `\\5c`"
        )
    )]
    Filter { which: &'static str, filter: String },

    #[error("cannot use the CA file {path}: {problem}")]
    #[diagnostic(
        code(roster::ldap::ca_file),
        help(
            "`ca_file` is a PEM file holding the certificate(s) of the CA that issued the server's \
             certificate (`-----BEGIN CERTIFICATE-----` blocks); a relative path is read from the \
             config file's folder"
        )
    )]
    CaFile { path: PathBuf, problem: String },

    #[error("cannot connect to {url} (to bind as {bind_dn}): {problem}")]
    #[diagnostic(code(roster::ldap::connect))]
    Connect {
        url: String,
        bind_dn: String,
        problem: String,
        #[help]
        help: String,
    },

    #[error("bind as {bind_dn} to {url} failed: {} (rc {rc}){}", rc_name(*rc), message_suffix(message))]
    #[diagnostic(code(roster::ldap::bind))]
    Bind {
        url: String,
        bind_dn: String,
        rc: u32,
        message: String,
        #[help]
        help: String,
    },

    #[error("search of {base} on {at} failed: {} (rc {rc}){}", rc_name(*rc), message_suffix(message))]
    #[diagnostic(code(roster::ldap::search))]
    Search {
        /// `URL as BIND_DN`
        at: String,
        base: String,
        rc: u32,
        message: String,
        #[help]
        help: String,
    },

    #[error(
        "the server cut the search of {base} on {at} short after {count} entries: {} (rc {rc}){}",
        rc_name(*rc),
        message_suffix(message)
    )]
    #[diagnostic(code(roster::ldap::truncated))]
    Truncated {
        /// `URL as BIND_DN`
        at: String,
        base: String,
        count: usize,
        rc: u32,
        message: String,
        #[help]
        help: String,
    },

    #[error("no answer from {url} (as {bind_dn}) within {seconds} s while {during}")]
    #[diagnostic(
        code(roster::ldap::timeout),
        help("the server is overloaded or the search is expensive: raise `timeout`, or narrow the base / filter")
    )]
    Timeout {
        url: String,
        bind_dn: String,
        seconds: u64,
        during: String,
    },

    #[error("the connection to {url} (as {bind_dn}) dropped twice while {during}: {problem}")]
    #[diagnostic(
        code(roster::ldap::dropped),
        help("a load balancer or firewall may cut long connections; check the server's idle and size settings")
    )]
    Dropped {
        url: String,
        bind_dn: String,
        during: String,
        problem: String,
    },

    #[error("{dn}: its {attribute} cannot be read as an immutable ID: {problem}")]
    #[diagnostic(
        code(roster::ldap::id),
        help("`id_attribute` is one of entryUUID, objectGUID, nsUniqueId, ipaUniqueID")
    )]
    BadId {
        dn: String,
        attribute: String,
        problem: String,
    },

    #[error("malformed answer from {url}: {problem}")]
    #[diagnostic(
        code(roster::ldap::protocol),
        help("this is a server or network problem; retry, and report it if it stays")
    )]
    Protocol { url: String, problem: String },

    #[error("cannot write what was read: {problem}")]
    #[diagnostic(
        code(roster::ldap::output),
        help("check the output path, its permissions and the free space")
    )]
    Output { problem: String },

    #[error("the directory read returned no users")]
    #[diagnostic(
        code(roster::ldap::no_users),
        help(
            "check `users.base`, `users.filter` and the bind identity's read rights; Roster does not \
             plan against an empty directory, which would block every account"
        )
    )]
    NoUsers,
}

/// How one attempt failed: a dropped connection is tried once more, anything else is final.
pub(super) enum Failure {
    Dropped { during: String, problem: String },
    Fatal(LdapError),
}

impl Failure {
    pub(super) fn into_error(self, t: &Target) -> LdapError {
        match self {
            Failure::Dropped { during, problem } => LdapError::Dropped {
                url: t.url.clone(),
                bind_dn: t.bind_dn(),
                during,
                problem,
            },
            Failure::Fatal(e) => e,
        }
    }
}

impl From<LdapError> for Failure {
    fn from(e: LdapError) -> Failure {
        Failure::Fatal(e)
    }
}

/// Sort an ldap3 error from an operation in progress: connection-level errors are "dropped".
pub(super) fn op_failure(t: &Target, during: &str, e: ldap3::LdapError) -> Failure {
    use ldap3::LdapError as E;
    match e {
        E::Io { .. }
        | E::EndOfStream
        | E::ResultRecv { .. }
        | E::OpSend { .. }
        | E::IdScrubSend { .. } => Failure::Dropped {
            during: during.to_owned(),
            problem: e.to_string(),
        },
        E::Timeout { .. } => timed_out(t, during),
        other => Failure::Fatal(LdapError::Protocol {
            url: t.url.clone(),
            problem: other.to_string(),
        }),
    }
}

pub(super) fn timed_out(t: &Target, during: &str) -> Failure {
    Failure::Fatal(LdapError::Timeout {
        url: t.url.clone(),
        bind_dn: t.bind_dn(),
        seconds: t.timeout_secs,
        during: during.to_owned(),
    })
}

pub(super) fn connect_error(t: &Target, e: ldap3::LdapError) -> LdapError {
    let secs = t.connect_timeout.as_secs();
    let (problem, help) = match &e {
        ldap3::LdapError::Timeout { .. } => (
            format!("no connection within {secs} s"),
            "the host is unreachable or a firewall drops the packets; check the host, the port and \
             `connect_timeout`"
                .to_owned(),
        ),
        ldap3::LdapError::LdapResult { result } => (
            format!("StartTLS refused: {} (rc {}){}", rc_name(result.rc), result.rc, message_suffix(&result.text)),
            "the server does not offer StartTLS on this port: use `ldaps://` or enable TLS on the server".to_owned(),
        ),
        // A refused certificate: what it is, who issued it, and what to trust (as for SCIM).
        ldap3::LdapError::Io { source } => match t.tls_refusals.behind(source) {
            Some(r) => crate::tls::explain(
                &r,
                &t.host,
                Some("directory.ldap.ca_file"),
                t.ca_file.as_deref(),
            ),
            None => (error_chain(source), io_help(source)),
        },
        other => (other.to_string(), "check the URL, and that the server speaks LDAP on that port".to_owned()),
    };
    LdapError::Connect {
        url: t.url.clone(),
        bind_dn: t.bind_dn(),
        problem,
        help,
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

pub(super) fn io_help(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. }) => {
                "TLS name mismatch: the server's certificate is not issued for the host in the URL; \
                 use the name the certificate carries"
                    .to_owned()
            }
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                "the server's certificate is not signed by a trusted CA: set `directory.ldap.ca_file` to the PEM of the \
                 CA that issued it"
                    .to_owned()
            }
            rustls::Error::InvalidCertificate(_) => {
                "the server's certificate was rejected (expired, not yet valid, or unusable for a server)"
                    .to_owned()
            }
            _ => "the TLS handshake failed: is this port serving TLS (ldaps), or plain LDAP (use ldap:// \
                  with start_tls)?"
                .to_owned(),
        };
    }
    match e.kind() {
        K::ConnectionRefused => {
            "nothing listens on that host and port: check the URL's port (389 ldap, 636 ldaps) and that \
             the server runs"
                .to_owned()
        }
        K::TimedOut | K::HostUnreachable | K::NetworkUnreachable => {
            "the host is unreachable: check the host name, the network and firewalls".to_owned()
        }
        K::InvalidData | K::UnexpectedEof | K::ConnectionReset => {
            "the connection closed during the handshake: is this port serving TLS (ldaps), or plain LDAP \
             (use ldap:// with start_tls)?"
                .to_owned()
        }
        _ if e.to_string().contains("lookup") => "the host name does not resolve: check it".to_owned(),
        _ => "check the URL and that the server is reachable from here".to_owned(),
    }
}

pub(super) fn rc_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "error",
    }
}

pub(super) fn message_suffix(message: &str) -> String {
    if message.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", message.trim())
    }
}

pub(super) fn bind_help(rc: u32, message: &str) -> String {
    match rc {
        // Active Directory (and Samba) say why in the message: `..., data 52e, v1db1`.
        49 if message.contains("data 52e") => "invalid credentials: the password is wrong for \
            `bind_dn` (AD data 52e; AD also answers this for a bind DN it does not know): check \
            the password's env variable or file"
            .into(),
        49 if message.contains("data 525") => {
            "no such user: AD knows no account with this `bind_dn` (AD data 525)".into()
        }
        49 if message.contains("data 775") => "the account is locked out after too many failed \
            binds (AD data 775): wait for the lockout to end or have an administrator unlock it"
            .into(),
        49 if message.contains("data 533") => "the account is disabled (AD data 533): enable \
            the service account in Active Directory"
            .into(),
        49 if message.contains("data 701") => "the account has expired (AD data 701)".into(),
        49 if message.contains("data 530") || message.contains("data 531") => {
            "the account may not log on now or from here (AD data 530/531: logon hours or \
             workstations)"
                .into()
        }
        49 if message.contains("data 532") || message.contains("data 773") => {
            "the account's password expired or must be changed (AD data 532/773)".into()
        }
        49 => "wrong bind DN or password: check `bind_dn` and the password's env variable or file"
            .into(),
        13 | 8 => "the server requires TLS for binds: use ldaps:// or `start_tls: true`".into(),
        53 => "the server refuses this bind (anonymous binds off, or the account is locked)".into(),
        48 | 7 => "the server does not accept simple binds for this identity".into(),
        34 => "`bind_dn` is not a valid DN".into(),
        _ => "see the server's message and its logs".into(),
    }
}

pub(super) fn search_help(rc: u32) -> String {
    match rc {
        32 => "the search base does not exist on this server: check `base_dn` / `users.base` / `groups.base`".into(),
        50 => "the bind identity may not read this base: grant it read rights".into(),
        10 => "the base is held by another server (referral): point `url` at that server".into(),
        12 => "the server does not support paged results (RFC 2696) here".into(),
        13 | 8 => "the server requires TLS: use ldaps:// or `start_tls: true`".into(),
        _ => "see the server's message and its logs".into(),
    }
}

pub(super) fn truncated_help(rc: u32) -> String {
    let what = match rc {
        3 => "time limit",
        _ => "size limit",
    };
    format!(
        "the server's {what} for this identity stopped the read; Roster never plans on a partial \
         directory (it would block the missing users). Raise the limit for the bind identity (OpenLDAP \
         `limits ... size.prtotal=unlimited`, AD MaxPageSize / MaxQueryDuration), or lower `page_size`"
    )
}
