//! The live directory over LDAP (ldap3, TLS through rustls): connect, bind, read users and groups
//! with paged searches, and hand back a [`DirectoryState`] holding exactly what was read — immutable
//! IDs as text, full member lists (AD ranges fetched), and the DNs the server reports as disabled.
//! [`read_into`] hands entries to an [`EntrySink`] as they arrive instead (the snapshot writer),
//! so a large directory need not be held in memory.
//!
//! A read is all or nothing: a server size or time limit that cuts a search short is an error,
//! never a smaller directory; a dropped connection is read again once, from the start, and the
//! plan says so.
//!
//! Refusals come before any traffic: a bad URL or filter, a missing password, or a password over
//! plain `ldap://` to a host that is not loopback (unless `insecure: true`). The password is held in
//! [`Password`], whose `Debug` is redacted, and is never put into an error, a warning or a state.

use std::collections::BTreeSet;
use std::fmt;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ldap3::adapters::{Adapter, PagedResults};
use ldap3::asn1::StructureTag;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, ResultEntry, Scope as LdapScope};
use miette::Diagnostic;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::config::load::is_password_attribute;
use crate::config::{DirectoryConfig, DisabledRule, LdapConfig, Scope, SearchConfig, Secret};
use crate::directory::groups::{normalize_dn, strip_uid_suffix};
use crate::model::{DirectoryState, Entry, EntryBuilder, EntryTooLarge, Value};

/// Users when `users.filter` is not set: OpenLDAP / 389-DS / FreeIPA people (`inetOrgPerson`) and
/// Active Directory people (`objectCategory=person` keeps AD computer accounts, which are also of
/// class `user`, out). On servers without `objectCategory` that half is simply undefined.
pub const DEFAULT_USER_FILTER: &str =
    "(|(objectClass=inetOrgPerson)(&(objectCategory=person)(objectClass=user)))";

/// Groups when `groups.filter` is not set: `groupOfNames` (member), `groupOfUniqueNames`
/// (uniqueMember) and Active Directory `group` (member).
pub const DEFAULT_GROUP_FILTER: &str =
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))";

/// Attributes fetched for every group entry: its classes and its members.
pub const GROUP_ATTRIBUTES: &[&str] = &["objectClass", "cn", "member", "uniqueMember"];

/// The bind password: never printed, never debugged.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

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
            "`ca_file` is a PEM file holding the certificate(s) of the CA that issued the server's"
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

/// Users or groups: which search an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// Where the entries of a read go, as they arrive (a snapshot file, or a [`DirectoryState`]).
pub trait EntrySink {
    /// An attempt begins: drop whatever an earlier, dropped attempt delivered. `disabled` holds
    /// the normalised DNs the server matched with the `disabled: { filter }` rule, if any.
    fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> std::io::Result<()>;
    /// One entry, complete (ranged member values already fetched).
    fn entry(&mut self, kind: Kind, entry: Entry) -> std::io::Result<()>;
}

/// Collects a read into a [`DirectoryState`].
#[derive(Default)]
struct Collect(DirectoryState);

impl EntrySink for Collect {
    fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> std::io::Result<()> {
        self.0 = DirectoryState {
            disabled_by_filter: disabled.cloned(),
            ..DirectoryState::default()
        };
        Ok(())
    }
    fn entry(&mut self, kind: Kind, entry: Entry) -> std::io::Result<()> {
        match kind {
            Kind::User => self.0.users.push(entry),
            Kind::Group => self.0.groups.push(entry),
        }
        Ok(())
    }
}

/// Read users and groups from the live directory.
///
/// `attributes` are the user attributes the config needs; the objectClass, the ID, the username
/// and the disabled marker are added here, and the group attributes ([`GROUP_ATTRIBUTES`]).
/// Relative `password: { file }` and `ca_file` paths are resolved against `base_dir`.
pub async fn read(
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    attributes: &[String],
    base_dir: &Path,
) -> Result<DirectoryState, LdapError> {
    let mut collect = Collect::default();
    let warnings = read_into(cfg, dir, attributes, base_dir, &mut collect).await?;
    let mut state = collect.0;
    state.warnings = warnings;
    Ok(state)
}

/// [`read`], handing each entry to `sink` as it arrives instead of holding the directory in
/// memory (`roster snapshot directory`). Returns the read's warnings.
pub async fn read_into(
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    attributes: &[String],
    base_dir: &Path,
    sink: &mut impl EntrySink,
) -> Result<Vec<String>, LdapError> {
    let target = Target::new(cfg, base_dir)?;
    let searches = Searches::new(cfg, dir, attributes)?;
    let mut progress = Progress::new(&target.url);
    let mut warnings = target.warnings.clone();
    let result = match read_once(&target, &searches, &mut progress, sink).await {
        Err(Failure::Dropped { during, problem }) => {
            warnings.push(format!(
                "the connection to {} dropped while {during} ({problem}); the directory was read again from the start",
                target.url
            ));
            progress.restart();
            read_once(&target, &searches, &mut progress, sink)
                .await
                .map_err(|f| f.into_error(&target))
        }
        other => other.map_err(|f| f.into_error(&target)),
    };
    progress.finish();
    result?;
    Ok(warnings)
}

/// Where and how to connect, all checked before any traffic.
struct Target {
    url: String,
    bind: Option<(String, Password)>,
    start_tls: bool,
    tls: Option<Arc<ClientConfig>>,
    connect_timeout: Duration,
    timeout: Duration,
    timeout_secs: u64,
    page_size: i32,
    warnings: Vec<String>,
}

impl Target {
    fn new(cfg: &LdapConfig, base_dir: &Path) -> Result<Target, LdapError> {
        let url_err = |problem: &str| LdapError::Url {
            url: cfg.url.clone(),
            problem: problem.to_owned(),
        };
        let parsed = url::Url::parse(&cfg.url).map_err(|e| url_err(&e.to_string()))?;
        let tls_scheme = match parsed.scheme() {
            "ldaps" => true,
            "ldap" => false,
            other => {
                return Err(url_err(&format!(
                    "the scheme is `{other}`, not ldap or ldaps"
                )))
            }
        };
        let host = match parsed.host() {
            // ldap:// is not a "special" scheme to the url crate: an IPv4 host arrives as a name.
            Some(url::Host::Domain(d)) if !d.is_empty() => match d.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(d.to_owned()),
            },
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            _ => return Err(url_err("it names no host")),
        };
        if tls_scheme && cfg.start_tls {
            return Err(url_err(
                "`start_tls: true` goes with ldap://, not ldaps:// (already TLS)",
            ));
        }
        let url = format!(
            "{}://{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default()
        ) + &parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let encrypted = tls_scheme || cfg.start_tls;
        let mut warnings = Vec::new();

        let bind = match (&cfg.bind_dn, &cfg.password) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(LdapError::Password {
                    bind_dn: "(none)".into(),
                    problem: "a password is set but no `bind_dn`".into(),
                    help: "set `bind_dn`, or drop `password` for an anonymous bind".into(),
                })
            }
            (Some(dn), None) => return Err(LdapError::Password {
                bind_dn: dn.clone(),
                problem: "`bind_dn` is set but no `password`".into(),
                help:
                    "set `password: { env: NAME }` or `password: { file: PATH }`; a DN without a \
                           password would be an unauthenticated bind"
                        .into(),
            }),
            (Some(dn), Some(secret)) => {
                if !encrypted && !host.is_loopback() {
                    if !cfg.insecure {
                        return Err(LdapError::Insecure {
                            url,
                            bind_dn: dn.clone(),
                        });
                    }
                    warnings.push(format!(
                        "`insecure: true`: the password of {dn} goes to {url} in clear text (no TLS)"
                    ));
                }
                Some((dn.clone(), resolve_password(dn, secret, base_dir)?))
            }
        };
        let tls = if encrypted {
            Some(tls_config(cfg.ca_file.as_deref(), base_dir)?)
        } else {
            None
        };
        Ok(Target {
            url,
            bind,
            start_tls: cfg.start_tls,
            tls,
            connect_timeout: Duration::from_secs(cfg.connect_timeout.max(1)),
            timeout: Duration::from_secs(cfg.timeout.max(1)),
            timeout_secs: cfg.timeout.max(1),
            page_size: i32::try_from(cfg.page_size.clamp(1, 100_000)).unwrap_or(500),
            warnings,
        })
    }

    fn bind_dn(&self) -> String {
        self.bind
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |(dn, _)| dn.clone())
    }
}

enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    fn is_loopback(&self) -> bool {
        match self {
            Host::Name(n) => n.eq_ignore_ascii_case("localhost"),
            Host::Ip(ip) => ip.is_loopback(),
        }
    }
}

fn resolve_password(
    bind_dn: &str,
    secret: &Secret,
    base_dir: &Path,
) -> Result<Password, LdapError> {
    let fail = |problem: String, help: &str| LdapError::Password {
        bind_dn: bind_dn.to_owned(),
        problem,
        help: help.to_owned(),
    };
    match secret.read(base_dir, |k| std::env::var(k).ok()) {
        Ok(value) => Ok(Password(value)),
        Err(e) if e.problem == "it is empty" => Err(fail(
            format!("{} is empty", e.source_name),
            "an empty password would be an unauthenticated bind",
        )),
        Err(e) => Err(fail(
            format!("{}: {}", e.source_name, e.problem),
            "set it before running roster (a file path is relative to the config file)",
        )),
    }
}

fn tls_config(ca_file: Option<&Path>, base_dir: &Path) -> Result<Arc<ClientConfig>, LdapError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(p) => {
            let path = base_dir.join(p);
            let fail = |problem: String| LdapError::CaFile {
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
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot parse is skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::CaFile {
            path: PathBuf::new(),
            problem: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One search: where, what and which attributes.
#[derive(Debug, Clone)]
struct Search {
    what: &'static str,
    base: String,
    scope: LdapScope,
    filter: String,
    attrs: Vec<String>,
}

/// The searches of one read, built and checked before connecting.
struct Searches {
    users: Search,
    groups: Search,
    disabled: Option<Search>,
    id_attribute: String,
}

impl Searches {
    fn new(
        cfg: &LdapConfig,
        dir: &DirectoryConfig,
        attributes: &[String],
    ) -> Result<Searches, LdapError> {
        let mut user_attrs: Vec<String> = Vec::new();
        let mut want = |a: &str| {
            if !a.is_empty() && !user_attrs.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                user_attrs.push(a.to_owned());
            }
        };
        want("objectClass");
        want(&dir.id_attribute);
        want(&dir.username_attribute);
        match &dir.disabled {
            Some(DisabledRule::ActiveDirectory) => want("userAccountControl"),
            Some(DisabledRule::Attribute(a)) => want(a),
            Some(DisabledRule::Filter(_)) | None => {}
        }
        // Password attributes are never read, whatever asks for them.
        attributes
            .iter()
            .filter(|a| !is_password_attribute(a))
            .for_each(|a| want(a));

        let users = search(
            "users",
            cfg,
            cfg.users.as_ref(),
            DEFAULT_USER_FILTER,
            user_attrs,
        )?;
        let mut group_attrs: Vec<String> =
            GROUP_ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect();
        if !group_attrs
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&dir.id_attribute))
        {
            group_attrs.push(dir.id_attribute.clone());
        }
        let groups = search(
            "groups",
            cfg,
            cfg.groups.as_ref(),
            DEFAULT_GROUP_FILTER,
            group_attrs,
        )?;
        let disabled = match &dir.disabled {
            Some(DisabledRule::Filter(f)) => {
                let f = parenthesise(f);
                check_filter("disabled", &f)?;
                Some(Search {
                    what: "disabled users",
                    filter: format!("(&{}{f})", users.filter),
                    attrs: vec!["1.1".to_owned()],
                    ..users.clone()
                })
            }
            _ => None,
        };
        Ok(Searches {
            users,
            groups,
            disabled,
            id_attribute: dir.id_attribute.to_ascii_lowercase(),
        })
    }
}

fn search(
    what: &'static str,
    cfg: &LdapConfig,
    sc: Option<&SearchConfig>,
    default_filter: &str,
    attrs: Vec<String>,
) -> Result<Search, LdapError> {
    let filter = parenthesise(
        sc.and_then(|s| s.filter.as_deref())
            .unwrap_or(default_filter),
    );
    check_filter(what, &filter)?;
    Ok(Search {
        what,
        base: sc
            .and_then(|s| s.base.clone())
            .unwrap_or_else(|| cfg.base_dn.clone()),
        scope: match sc.and_then(|s| s.scope).unwrap_or(Scope::Sub) {
            Scope::Base => LdapScope::Base,
            Scope::One => LdapScope::OneLevel,
            Scope::Sub => LdapScope::Subtree,
        },
        filter,
        attrs,
    })
}

fn parenthesise(filter: &str) -> String {
    let f = filter.trim();
    if f.starts_with('(') {
        f.to_owned()
    } else {
        format!("({f})")
    }
}

fn check_filter(which: &'static str, filter: &str) -> Result<(), LdapError> {
    ldap3::parse_filter(filter)
        .map(|_| ())
        .map_err(|_| LdapError::Filter {
            which,
            filter: filter.to_owned(),
        })
}

/// Escape a value for use inside an LDAP filter (RFC 4515): `*`, `(`, `)`, `\` and NUL become
/// `\2a`, `\28`, `\29`, `\5c`, `\00`. Other characters, non-ASCII UTF-8 included, stand as they are
/// (RFC 4515 allows UTF-8 in values).
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// An equality filter `(attribute=value)` with the value escaped.
pub fn equality_filter(attribute: &str, value: &str) -> String {
    format!("({attribute}={})", escape_filter_value(value))
}

/// The names of the attributes the entry of the user `username` holds, asked with `typesOnly`:
/// the server sends names and never a value (a password hash included). A live read asks only
/// for the attributes the config names, so this is how `roster validate` finds the name a
/// mistyped attribute was meant to be. `None` when it cannot be told; password attributes are
/// left out.
pub async fn attribute_names(
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    username: &str,
    base_dir: &Path,
) -> Option<Vec<String>> {
    let target = Target::new(cfg, base_dir).ok()?;
    let users = Searches::new(cfg, dir, &[]).ok()?.users;
    let mut ldap = connect(&target).await.ok()?;
    let filter = format!(
        "(&{}{})",
        users.filter,
        equality_filter(&dir.username_attribute, username)
    );
    let found = ldap
        .with_timeout(target.timeout)
        .with_search_options(ldap3::SearchOptions::new().typesonly(true).sizelimit(1))
        .search(&users.base, users.scope, &filter, vec!["*"])
        .await;
    let _ = ldap.unbind().await;
    let entry = found.ok()?.0.into_iter().next()?;
    let names = raw_attributes(entry)
        .ok()?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !is_password_attribute(name))
        .collect();
    Some(names)
}

/// How one attempt failed: a dropped connection is tried once more, anything else is final.
enum Failure {
    Dropped { during: String, problem: String },
    Fatal(LdapError),
}

impl Failure {
    fn into_error(self, t: &Target) -> LdapError {
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
fn op_failure(t: &Target, during: &str, e: ldap3::LdapError) -> Failure {
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

fn timed_out(t: &Target, during: &str) -> Failure {
    Failure::Fatal(LdapError::Timeout {
        url: t.url.clone(),
        bind_dn: t.bind_dn(),
        seconds: t.timeout_secs,
        during: during.to_owned(),
    })
}

async fn read_once(
    t: &Target,
    s: &Searches,
    progress: &mut Progress,
    sink: &mut impl EntrySink,
) -> Result<(), Failure> {
    let mut ldap = connect(t).await?;
    // The disabled DNs first (DNs only, cheap), so that the sink knows them before the users.
    let disabled = match &s.disabled {
        Some(d) => {
            let mut found = BTreeSet::new();
            run_search(&mut ldap, t, d, &s.id_attribute, progress, |e| {
                // Held normalised, as `reconcile` looks them up.
                found.insert(normalize_dn(e.dn()));
                Ok(())
            })
            .await?;
            Some(found)
        }
        None => None,
    };
    let output = |e: std::io::Error| {
        Failure::Fatal(LdapError::Output {
            problem: e.to_string(),
        })
    };
    sink.begin(disabled.as_ref()).map_err(output)?;
    for (search, kind) in [(&s.users, Kind::User), (&s.groups, Kind::Group)] {
        run_search(&mut ldap, t, search, &s.id_attribute, progress, |e| {
            sink.entry(kind, e).map_err(|e| LdapError::Output {
                problem: e.to_string(),
            })
        })
        .await?;
    }
    let _ = ldap.unbind().await;
    Ok(())
}

async fn connect(t: &Target) -> Result<Ldap, Failure> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(t.connect_timeout)
        .set_starttls(t.start_tls);
    if let Some(tls) = &t.tls {
        settings = settings.set_config(tls.clone());
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &t.url)
        .await
        .map_err(|e| Failure::Fatal(connect_error(t, e)))?;
    tokio::spawn(async move {
        // The connection's end shows up as an error on the operation in flight.
        let _ = conn.drive().await;
    });
    let Some((dn, password)) = &t.bind else {
        return Ok(ldap);
    };
    let res = ldap
        .with_timeout(t.timeout)
        .simple_bind(dn, &password.0)
        .await
        .map_err(|e| op_failure(t, "binding", e))?;
    if res.rc != 0 {
        return Err(Failure::Fatal(LdapError::Bind {
            url: t.url.clone(),
            bind_dn: dn.clone(),
            rc: res.rc,
            help: bind_help(res.rc, &res.text),
            message: res.text,
        }));
    }
    Ok(ldap)
}

fn connect_error(t: &Target, e: ldap3::LdapError) -> LdapError {
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
        ldap3::LdapError::Io { source } => (error_chain(source), io_help(source)),
        other => (other.to_string(), "check the URL, and that the server speaks LDAP on that port".to_owned()),
    };
    LdapError::Connect {
        url: t.url.clone(),
        bind_dn: t.bind_dn(),
        problem,
        help,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
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

fn io_help(e: &std::io::Error) -> String {
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
                "the server's certificate is not signed by a trusted CA: set `ca_file` to the PEM of the \
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

fn rc_name(rc: u32) -> &'static str {
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

fn message_suffix(message: &str) -> String {
    if message.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", message.trim())
    }
}

fn bind_help(rc: u32, message: &str) -> String {
    match rc {
        49 if message.contains("data 775") => "the account is locked out (AD data 775)".into(),
        49 if message.contains("data 533") => "the account is disabled (AD data 533)".into(),
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

fn search_help(rc: u32) -> String {
    match rc {
        32 => "the search base does not exist on this server: check `base_dn` / `users.base` / `groups.base`".into(),
        50 => "the bind identity may not read this base: grant it read rights".into(),
        10 => "the base is held by another server (referral): point `url` at that server".into(),
        12 => "the server does not support paged results (RFC 2696) here".into(),
        13 | 8 => "the server requires TLS: use ldaps:// or `start_tls: true`".into(),
        _ => "see the server's message and its logs".into(),
    }
}

fn truncated_help(rc: u32) -> String {
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

/// Run one search, paged, to the end, handing each entry to `deliver` as it is decoded. Entries
/// with AD ranged member values are held until the search ends, then completed and delivered.
async fn run_search(
    ldap: &mut Ldap,
    t: &Target,
    s: &Search,
    id_attribute: &str,
    progress: &mut Progress,
    mut deliver: impl FnMut(Entry) -> Result<(), LdapError>,
) -> Result<(), Failure> {
    let during = format!("reading {} under {}", s.what, s.base);
    progress.phase(s.what);
    let mut count = 0;
    let mut ranged = Vec::new();
    let mut builder = EntryBuilder::default();
    let res = paged_search(ldap, t, s, &during, |re| {
        let (entry, ranges) =
            decode_entry(re, id_attribute, &mut builder).map_err(|d| d.into_error(t))?;
        count += 1;
        progress.inc();
        if ranges.is_empty() {
            deliver(entry)
        } else {
            ranged.push((entry, ranges));
            Ok(())
        }
    })
    .await?;
    check_result(t, s, count, res.rc, res.text)?;
    for (mut entry, ranges) in ranged {
        for (attr, next) in ranges {
            fetch_ranges(ldap, t, &mut entry, &attr, next).await?;
        }
        deliver(entry)?;
    }
    Ok(())
}

async fn paged_search(
    ldap: &mut Ldap,
    t: &Target,
    s: &Search,
    during: &str,
    mut each: impl FnMut(ResultEntry) -> Result<(), LdapError>,
) -> Result<ldap3::LdapResult, Failure> {
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
        vec![Box::new(PagedResults::new(t.page_size))];
    let started = tokio::time::timeout(
        t.timeout,
        ldap.streaming_search_with(adapters, &s.base, s.scope, &s.filter, s.attrs.clone()),
    )
    .await;
    let mut stream = match started {
        Err(_) => return Err(timed_out(t, during)),
        Ok(r) => r.map_err(|e| op_failure(t, during, e))?,
    };
    loop {
        let next = tokio::time::timeout(t.timeout, stream.next()).await;
        match next {
            Err(_) => return Err(timed_out(t, during)),
            Ok(Err(e)) => return Err(op_failure(t, during, e)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(re))) => {
                // Continuation references (AD's DomainDnsZones, ...) and intermediates are not entries.
                if !re.is_ref() && !re.is_intermediate() {
                    each(re)?;
                }
            }
        }
    }
    // A server that ignores the paging control stops at its size limit: `check_result` catches it.
    Ok(stream.finish().await)
}

fn check_result(
    t: &Target,
    s: &Search,
    count: usize,
    rc: u32,
    message: String,
) -> Result<(), LdapError> {
    let at = format!("{} as {}", t.url, t.bind_dn());
    match rc {
        0 => Ok(()),
        3 | 4 | 11 => Err(LdapError::Truncated {
            at,
            base: s.base.clone(),
            count,
            rc,
            message,
            help: truncated_help(rc),
        }),
        _ => Err(LdapError::Search {
            at,
            base: s.base.clone(),
            rc,
            message,
            help: format!("{} (filter: {})", search_help(rc), s.filter),
        }),
    }
}

/// Fetch the rest of a ranged attribute (AD: `member;range=0-1499`, then `member;range=1500-*`).
async fn fetch_ranges(
    ldap: &mut Ldap,
    t: &Target,
    entry: &mut Entry,
    attr: &str,
    mut next: u32,
) -> Result<(), Failure> {
    let during = format!("reading the {attr} values of {}", entry.dn());
    // Each round must move forward; a server that repeats itself would otherwise loop forever.
    for _ in 0..100_000 {
        let request = format!("{attr};range={next}-*");
        let s = Search {
            what: "members",
            base: entry.dn().to_owned(),
            scope: LdapScope::Base,
            filter: "(objectClass=*)".into(),
            attrs: vec![request],
        };
        let mut raw = Vec::new();
        let res = paged_search(ldap, t, &s, &during, |re| {
            raw.push(re);
            Ok(())
        })
        .await?;
        check_result(t, &s, raw.len(), res.rc, res.text)?;
        let mut more = None;
        for re in raw {
            let attrs = raw_attributes(re).map_err(|problem| {
                Failure::Fatal(LdapError::Protocol {
                    url: t.url.clone(),
                    problem,
                })
            })?;
            let merged = merge_range(entry, attr, attrs, next).map_err(|e| {
                Failure::Fatal(LdapError::Protocol {
                    url: t.url.clone(),
                    problem: format!("{}: {e}", entry.dn()),
                })
            })?;
            more = more.or(merged);
        }
        match more {
            Some(n) => next = n,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Add the values of one ranged answer (`member;range=1500-2999`) to `entry`. Returns where the
/// next range starts, or `None` when this was the last (`...-*`), when the answer holds no range
/// of `attr`, or when it does not move past `requested` (a server repeating itself).
fn merge_range(
    entry: &mut Entry,
    attr: &str,
    attrs: RawAttributes,
    requested: u32,
) -> Result<Option<u32>, EntryTooLarge> {
    let mut next = None;
    let mut b = std::mem::take(entry).into_builder();
    let mut added = Ok(());
    for (name, values) in attrs {
        if let Some((base, end)) = parse_range(&name) {
            if base.eq_ignore_ascii_case(attr) {
                added =
                    added.and_then(|()| values.iter().try_for_each(|v| add_value(&mut b, attr, v)));
                next = end.map(|e| e + 1).filter(|n| *n > requested);
            }
        }
    }
    *entry = b.finish();
    added.map(|()| next)
}

/// `member;range=0-1499` → `("member", Some(1499))`; `member;range=1500-*` → `("member", None)`;
/// a name without a range option → `None`.
pub fn parse_range(name: &str) -> Option<(&str, Option<u32>)> {
    let mut parts = name.split(';');
    let base = parts.next()?;
    let range = parts.find_map(|o| {
        let (k, v) = o.split_once('=')?;
        k.eq_ignore_ascii_case("range").then_some(v)
    })?;
    let (_, end) = range.split_once('-')?;
    if end == "*" {
        return Some((base, None));
    }
    end.parse().ok().map(|e| (base, Some(e)))
}

enum Decode {
    Malformed(String),
    BadId {
        dn: String,
        attribute: String,
        problem: String,
    },
}

impl Decode {
    fn into_error(self, t: &Target) -> LdapError {
        match self {
            Decode::Malformed(problem) => LdapError::Protocol {
                url: t.url.clone(),
                problem,
            },
            Decode::BadId {
                dn,
                attribute,
                problem,
            } => LdapError::BadId {
                dn,
                attribute,
                problem,
            },
        }
    }
}

type RawAttributes = Vec<(String, Vec<Vec<u8>>)>;

/// DN and attributes of a search result entry, without ldap3's panicking `SearchEntry::construct`.
fn raw_entry(re: ResultEntry) -> Result<(String, RawAttributes), String> {
    let bad = |what: &str| format!("search result entry: {what}");
    let mut parts =
        re.0.match_id(4)
            .and_then(StructureTag::expect_constructed)
            .ok_or_else(|| bad("not an entry"))?
            .into_iter();
    let dn = parts
        .next()
        .and_then(StructureTag::expect_primitive)
        .ok_or_else(|| bad("no DN"))?;
    let dn = String::from_utf8(dn).map_err(|_| bad("the DN is not UTF-8"))?;
    let mut attrs = Vec::new();
    let list = parts
        .next()
        .and_then(StructureTag::expect_constructed)
        .unwrap_or_default();
    for pa in list {
        let mut pa = pa
            .expect_constructed()
            .ok_or_else(|| bad("attribute"))?
            .into_iter();
        let name = pa
            .next()
            .and_then(StructureTag::expect_primitive)
            .ok_or_else(|| bad("attribute name"))?;
        let name = String::from_utf8(name).map_err(|_| bad("attribute name not UTF-8"))?;
        let values = pa
            .next()
            .and_then(StructureTag::expect_constructed)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.expect_primitive().ok_or_else(|| bad("attribute value")))
            .collect::<Result<Vec<_>, _>>()?;
        attrs.push((name, values));
    }
    Ok((dn, attrs))
}

fn raw_attributes(re: ResultEntry) -> Result<RawAttributes, String> {
    raw_entry(re).map(|(_, attrs)| attrs)
}

/// An entry as Roster holds it, and the ranged attributes still to fetch (name, next start).
/// `b` is reused from one entry to the next.
fn decode_entry(
    re: ResultEntry,
    id_attribute: &str,
    b: &mut EntryBuilder,
) -> Result<(Entry, Vec<(String, u32)>), Decode> {
    let (dn, attrs) = raw_entry(re).map_err(Decode::Malformed)?;
    let too_large = |_| Decode::Malformed(format!("{dn}: {}", crate::model::EntryTooLarge));
    b.start(&dn).map_err(too_large)?;
    let mut pending = Vec::new();
    for (name, values) in attrs {
        let (raw_base, range_end) = match parse_range(&name) {
            Some((base, end)) => (base, Some(end)),
            None => (name.as_str(), None),
        };
        // Interned and lowercased once per distinct name, not once per entry.
        let base = crate::model::attr_name(raw_base);
        if let Some(Some(end)) = range_end {
            pending.push((base.to_string(), end + 1));
        }
        let is_id = base == id_attribute || base == "objectguid";
        for v in values {
            if is_id {
                let id = id_text(base, &v).map_err(|problem| Decode::BadId {
                    dn: dn.clone(),
                    attribute: base.to_string(),
                    problem,
                })?;
                b.text(base, &id)
            } else {
                add_value(b, base, &v)
            }
            .map_err(too_large)?;
        }
    }
    Ok((b.finish(), pending))
}

/// One value as read: text when it is UTF-8 (a `uniqueMember` without its `#uid` suffix),
/// binary otherwise.
fn add_value(b: &mut EntryBuilder, name: &str, v: &[u8]) -> Result<(), EntryTooLarge> {
    match std::str::from_utf8(v) {
        Ok(t) if name.eq_ignore_ascii_case("uniquemember") => b.text(name, strip_uid_suffix(t)),
        Ok(t) => b.text(name, t),
        Err(_) => b.value(name, Value::Binary(v)),
    }
}

/// An immutable ID as text: objectGUID (16 bytes) as AD's canonical GUID string, others as the
/// UTF-8 text the server sends (entryUUID, nsUniqueId, ipaUniqueID).
pub fn id_text(attribute: &str, bytes: &[u8]) -> Result<String, String> {
    if attribute.eq_ignore_ascii_case("objectguid") {
        let b: &[u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("objectGUID is {} bytes, not 16", bytes.len()))?;
        return Ok(guid_string(b));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| "the value is binary, not text".to_owned())?;
    if s.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(s.to_owned())
}

/// AD's GUID string: the first three groups are little-endian, the last two are bytes in order.
/// `c98b9135 6d19 ea40 9779 889d79b753f0` (bytes) → `35918bc9-196d-40ea-9779-889d79b753f0`.
pub fn guid_string(b: &[u8; 16]) -> String {
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut s = String::with_capacity(36);
    for (i, &ix) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{:02x}", b[ix]));
    }
    s
}

/// Entries-read counter on stderr: shown only after a second, and only on a terminal.
struct Progress {
    bar: ProgressBar,
    url: String,
    started: Instant,
    shown: bool,
    tty: bool,
}

impl Progress {
    fn new(url: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg}: {pos} entries ({per_sec})")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            url: url.to_owned(),
            started: Instant::now(),
            shown: false,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn phase(&self, what: &str) {
        self.bar
            .set_message(format!("reading {what} from {}", self.url));
    }

    fn inc(&mut self) {
        self.bar.inc(1);
        if !self.shown && self.tty && self.started.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    fn restart(&mut self) {
        self.bar.set_position(0);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_filter_value_escapes_specials_nul_and_keeps_utf8() {
        assert_eq!(escape_filter_value(r"a*(b)\c"), r"a\2a\28b\29\5cc");
        assert_eq!(escape_filter_value("x\0y"), r"x\00y");
        assert_eq!(escape_filter_value("José Ωmega"), "José Ωmega");
        assert_eq!(equality_filter("cn", "*"), r"(cn=\2a)");
        assert!(ldap3::parse_filter(equality_filter("cn", "a*(b)\\c\0é")).is_ok());
    }

    #[test]
    fn object_guid_in_ad_byte_order() {
        // Recorded: bytes as AD returns them, and the GUID string AD tools show for them.
        let bytes = [
            0xc9, 0x8b, 0x91, 0x35, 0x6d, 0x19, 0xea, 0x40, 0x97, 0x79, 0x88, 0x9d, 0x79, 0xb7,
            0x53, 0xf0,
        ];
        assert_eq!(
            id_text("objectGUID", &bytes).unwrap(),
            "35918bc9-196d-40ea-9779-889d79b753f0"
        );
        assert!(id_text("objectGUID", &bytes[..15])
            .unwrap_err()
            .contains("15 bytes"));
    }

    #[test]
    fn text_ids_pass_through() {
        let uuid = b"a514cc60-7d82-1041-9106-45c49d17789e";
        assert_eq!(
            id_text("entryUUID", uuid).unwrap(),
            "a514cc60-7d82-1041-9106-45c49d17789e"
        );
        assert_eq!(
            id_text("nsUniqueId", b"6d0c1a01-1dd211b2-8a7cc7b5-9e4f0000")
                .unwrap()
                .len(),
            35
        );
        assert_eq!(
            id_text("ipaUniqueID", b"f4e3a1c2-4f4b-11ee-9b1c-525400c0ffee")
                .unwrap()
                .len(),
            36
        );
        assert!(id_text("entryUUID", &[0xff, 0xfe]).is_err());
        assert!(id_text("entryUUID", b" ").is_err());
    }

    #[test]
    fn ranges_from_recorded_ad_attribute_names() {
        assert_eq!(
            parse_range("member;range=0-1499"),
            Some(("member", Some(1499)))
        );
        assert_eq!(
            parse_range("member;range=1500-2999"),
            Some(("member", Some(2999)))
        );
        assert_eq!(parse_range("member;range=3000-*"), Some(("member", None)));
        assert_eq!(parse_range("member;Range=0-*"), Some(("member", None)));
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;binary"), None);
        assert_eq!(parse_range("member;range=x"), None);
    }

    /// A search result entry as ldap3 hands it over (BER already parsed into tags).
    fn result_entry(dn: &str, attrs: &[(&str, &[&[u8]])]) -> ResultEntry {
        use ldap3::asn1::{TagClass, PL};
        let prim = |id: u64, b: &[u8]| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(b.to_vec()),
        };
        let cons = |class: TagClass, id: u64, inner: Vec<StructureTag>| StructureTag {
            class,
            id,
            payload: PL::C(inner),
        };
        let attributes = attrs
            .iter()
            .map(|(name, values)| {
                let set = values.iter().map(|v| prim(4, v)).collect();
                cons(
                    TagClass::Universal,
                    16,
                    vec![prim(4, name.as_bytes()), cons(TagClass::Universal, 17, set)],
                )
            })
            .collect();
        let entry = cons(
            TagClass::Application,
            4,
            vec![
                prim(4, dn.as_bytes()),
                cons(TagClass::Universal, 16, attributes),
            ],
        );
        ResultEntry::new(entry)
    }

    #[test]
    fn decoded_entries_carry_text_ids_and_pending_ranges() {
        // Recorded from AD: a group with more members than MaxValRange, and its objectGUID.
        let guid: &[u8] = &[
            0xc9, 0x8b, 0x91, 0x35, 0x6d, 0x19, 0xea, 0x40, 0x97, 0x79, 0x88, 0x9d, 0x79, 0xb7,
            0x53, 0xf0,
        ];
        let re = result_entry(
            "CN=All Staff,OU=Groups,DC=corp,DC=example",
            &[
                ("objectClass", &[b"top", b"group"]),
                (
                    "member;range=0-1499",
                    &[b"CN=A,DC=corp,DC=example", b"CN=B,DC=corp,DC=example"],
                ),
                ("objectGUID", &[guid]),
                ("thumbnailPhoto", &[&[0xff, 0xd8, 0xff]]),
            ],
        );
        let (entry, pending) = decode_entry(re, "objectguid", &mut EntryBuilder::default())
            .map_err(|_| "decode")
            .unwrap();
        assert_eq!(pending, [("member".to_owned(), 1500)]);
        assert_eq!(entry.values("member").len(), 2);
        assert!(!entry.attrs().any(|(k, _)| k.contains(';')), "{entry:?}");
        assert_eq!(
            entry.first_text("objectGUID"),
            Some("35918bc9-196d-40ea-9779-889d79b753f0")
        );
        assert_eq!(
            entry.values("thumbnailphoto").iter().collect::<Vec<_>>(),
            [Value::Binary(&[0xff, 0xd8, 0xff])]
        );

        let short_guid = result_entry("CN=x", &[("objectGUID", &[&guid[..8]])]);
        assert!(matches!(
            decode_entry(short_guid, "objectguid", &mut EntryBuilder::default()),
            Err(Decode::BadId { .. })
        ));
        let not_an_entry = ResultEntry::new(StructureTag {
            class: ldap3::asn1::TagClass::Application,
            id: 5,
            payload: ldap3::asn1::PL::C(vec![]),
        });
        assert!(matches!(
            decode_entry(not_an_entry, "entryuuid", &mut EntryBuilder::default()),
            Err(Decode::Malformed(_))
        ));
    }

    #[test]
    fn ranged_answers_are_merged_until_the_last_range() {
        // Recorded AD answers to `member;range=1500-*` and `member;range=3000-*`.
        let mut e = Entry::new("CN=All Staff,DC=corp");
        e.add(
            "member",
            crate::model::AttrValue::Text("CN=A,DC=corp".into()),
        );
        let answer = |name: &str, values: &[&str]| -> RawAttributes {
            vec![(
                name.to_owned(),
                values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            )]
        };
        let next = merge_range(
            &mut e,
            "member",
            answer("member;range=1500-2999", &["CN=B,DC=corp"]),
            1500,
        );
        assert_eq!(next, Ok(Some(3000)));
        let next = merge_range(
            &mut e,
            "member",
            answer("member;range=3000-*", &["CN=C,DC=corp"]),
            3000,
        );
        assert_eq!(next, Ok(None));
        let members: Vec<_> = e.values("member").texts().collect();
        assert_eq!(members, ["CN=A,DC=corp", "CN=B,DC=corp", "CN=C,DC=corp"]);

        // A server that repeats a range, or answers without one, ends the loop.
        assert_eq!(
            merge_range(&mut e, "member", answer("member;range=0-1499", &[]), 3000),
            Ok(None)
        );
        assert_eq!(
            merge_range(&mut e, "member", answer("cn", &["x"]), 3000),
            Ok(None)
        );
        let mut g = Entry::new("cn=u");
        let _ = merge_range(
            &mut g,
            "uniqueMember",
            answer("uniqueMember;range=0-*", &["uid=a,dc=x#'01'B"]),
            0,
        );
        assert_eq!(g.first_text("uniquemember"), Some("uid=a,dc=x"));
    }

    #[test]
    fn password_attributes_are_never_asked_for() {
        let d: DirectoryConfig =
            serde_json::from_value(serde_json::json!({ "ldif": "d.ldif" })).unwrap();
        let asked = [
            "mail".to_owned(),
            "userPassword".to_owned(),
            "unicodePwd".to_owned(),
            "userPassword;binary".to_owned(),
        ];
        let s = Searches::new(&cfg("ldaps://x"), &d, &asked).unwrap();
        assert!(s.users.attrs.iter().any(|a| a == "mail"));
        for a in &s.users.attrs {
            assert!(!is_password_attribute(a), "{a}");
        }
    }

    #[test]
    fn unique_member_uid_suffix_is_stripped() {
        assert_eq!(
            strip_uid_suffix("uid=a,ou=people,dc=x#'0101'B"),
            "uid=a,ou=people,dc=x"
        );
        assert_eq!(
            strip_uid_suffix("uid=a,ou=people,dc=x"),
            "uid=a,ou=people,dc=x"
        );
        assert_eq!(strip_uid_suffix(r"cn=a\#b,dc=x"), r"cn=a\#b,dc=x");
        assert_eq!(strip_uid_suffix("cn=x#'0102'B"), "cn=x#'0102'B");
    }

    fn cfg(url: &str) -> LdapConfig {
        serde_json::from_value(serde_json::json!({
            "url": url,
            "base_dn": "dc=example,dc=org",
            "bind_dn": "cn=reader,dc=example,dc=org",
            "password": { "env": "ROSTER_UNIT_TEST_UNSET_VARIABLE" },
        }))
        .expect("an LDAP config")
    }

    #[test]
    fn insecure_allows_a_remote_clear_text_bind_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "  s3cret-pw \n").unwrap();
        let mut c = cfg("ldap://192.0.2.1");
        c.password = Some(Secret::File("pw".into()));
        c.insecure = true;
        let t = Target::new(&c, dir.path()).unwrap();
        assert_eq!(
            t.bind.as_ref().map(|(_, p)| p.0.as_str()),
            Some("s3cret-pw"),
            "trimmed"
        );
        assert_eq!(t.warnings.len(), 1);
        assert!(t.warnings[0].contains("clear text") && !t.warnings[0].contains("s3cret-pw"));
        assert!(t.tls.is_none());
    }

    #[test]
    fn plain_ldap_with_password_refused_for_remote_hosts_only() {
        let dir = Path::new(".");
        let e = Target::new(&cfg("ldap://192.0.2.1"), dir).err().unwrap();
        assert!(matches!(e, LdapError::Insecure { .. }), "{e:?}");
        let e = Target::new(&cfg("ldap://ldap.example.org:389"), dir)
            .err()
            .unwrap();
        assert!(matches!(e, LdapError::Insecure { .. }), "{e:?}");
        // Loopback passes the guard (and fails on the unset password instead).
        for url in [
            "ldap://127.0.0.1:3389",
            "ldap://localhost",
            "ldap://[::1]:389",
        ] {
            let e = Target::new(&cfg(url), dir).err().unwrap();
            assert!(matches!(e, LdapError::Password { .. }), "{url}: {e:?}");
        }
    }

    #[test]
    fn bad_urls_and_filters_are_diagnostics() {
        let dir = Path::new(".");
        for url in ["http://x", "ldap://", "not a url"] {
            assert!(
                matches!(Target::new(&cfg(url), dir), Err(LdapError::Url { .. })),
                "{url}"
            );
        }
        let mut c = cfg("ldaps://x");
        c.start_tls = true;
        assert!(matches!(Target::new(&c, dir), Err(LdapError::Url { .. })));
        c.start_tls = false;
        c.users = Some(SearchConfig {
            base: None,
            filter: Some("(uid=a".into()),
            scope: None,
        });
        let d: DirectoryConfig =
            serde_json::from_value(serde_json::json!({ "ldif": "d.ldif" })).unwrap();
        assert!(matches!(
            Searches::new(&c, &d, &[]),
            Err(LdapError::Filter { which: "users", .. })
        ));
    }

    #[test]
    fn password_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Password("hunter2".into())),
            "Password(<redacted>)"
        );
    }
}
