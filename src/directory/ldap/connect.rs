//! Connecting: the URL, TLS (rustls: the system roots or `ca_file`, StartTLS), the password
//! (never shown) and the bind, all checked before any traffic.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::ClientConfig;

use crate::config::{LdapConfig, Secret};

use super::*;

/// The bind password: never printed, never debugged.
#[derive(Clone)]
pub struct Password(pub(super) String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where and how to connect, all checked before any traffic.
pub(super) struct Target {
    pub(super) url: String,
    pub(super) bind: Option<(String, Password)>,
    pub(super) start_tls: bool,
    pub(super) tls: Option<Arc<ClientConfig>>,
    /// What the TLS verifier refused, for a connect error to name the certificate's issuer.
    pub(super) tls_refusals: crate::tls::Refusals,
    /// The host as the URL names it, and the CA file that was trusted (resolved), if one was.
    pub(super) host: String,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) timeout_secs: u64,
    pub(super) page_size: i32,
    pub(super) warnings: Vec<String>,
}

impl Target {
    pub(super) fn new(cfg: &LdapConfig, base_dir: &Path) -> Result<Target, LdapError> {
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
                if !encrypted && host.is_loopback() {
                    warnings.push(format!(
                        "the password of {dn} goes to {url} in clear text (plain ldap://, no TLS); \
                         it stays on this machine (a loopback host), but any local process that \
                         sees loopback traffic can read it: use ldaps:// or `start_tls: true`"
                    ));
                } else if !encrypted {
                    if !cfg.insecure {
                        return Err(LdapError::Insecure {
                            url,
                            bind_dn: dn.clone(),
                        });
                    }
                    warnings.push(format!(
                        "`insecure: true`: the password of {dn} goes to {url} in clear text (no TLS), \
                         readable by anyone on the network path: use ldaps:// or `start_tls: true`"
                    ));
                }
                Some((dn.clone(), resolve_password(dn, secret, base_dir)?))
            }
        };
        let (tls, tls_refusals) = if encrypted {
            let (config, refusals) = tls_config(cfg.ca_file.as_deref(), base_dir)?;
            (Some(config), refusals)
        } else {
            (None, crate::tls::Refusals::default())
        };
        Ok(Target {
            url,
            bind,
            start_tls: cfg.start_tls,
            tls,
            tls_refusals,
            host: parsed.host_str().unwrap_or_default().to_owned(),
            ca_file: cfg.ca_file.as_deref().map(|f| base_dir.join(f)),
            connect_timeout: Duration::from_secs(cfg.connect_timeout.max(1)),
            timeout: Duration::from_secs(cfg.timeout.max(1)),
            timeout_secs: cfg.timeout.max(1),
            page_size: i32::try_from(cfg.page_size.clamp(1, 100_000)).unwrap_or(500),
            warnings,
        })
    }

    pub(super) fn bind_dn(&self) -> String {
        self.bind
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |(dn, _)| dn.clone())
    }
}

pub(super) enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    pub(super) fn is_loopback(&self) -> bool {
        match self {
            Host::Name(n) => n.eq_ignore_ascii_case("localhost"),
            Host::Ip(ip) => ip.is_loopback(),
        }
    }
}

pub(super) fn resolve_password(
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
        Err(e) => Err(fail(format!("{}: {}", e.source_name, e.problem), &e.fix)),
    }
}

pub(super) fn tls_config(
    ca_file: Option<&Path>,
    base_dir: &Path,
) -> Result<(Arc<ClientConfig>, crate::tls::Refusals), LdapError> {
    let fail = |e: crate::tls::RootsError| LdapError::CaFile {
        path: e.path,
        problem: e.problem,
    };
    let roots = crate::tls::roots(ca_file, base_dir).map_err(fail)?;
    let (config, refusals) = crate::tls::recording_config(roots).map_err(fail)?;
    Ok((Arc::new(config), refusals))
}

pub(super) async fn connect(t: &Target) -> Result<Ldap, Failure> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(t.connect_timeout)
        .set_starttls(t.start_tls);
    if let Some(tls) = &t.tls {
        settings = settings.set_config(tls.clone());
    }
    let started = std::time::Instant::now();
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &t.url)
        .await
        .map_err(|e| {
            tracing::debug!(url = %t.url, error = %e, ms = crate::log::ms(started), "ldap connect failed");
            Failure::Fatal(connect_error(t, e))
        })?;
    tracing::debug!(url = %t.url, start_tls = t.start_tls, ms = crate::log::ms(started), "ldap connect");
    tokio::spawn(async move {
        // The connection's end shows up as an error on the operation in flight.
        let _ = conn.drive().await;
    });
    let Some((dn, password)) = &t.bind else {
        return Ok(ldap);
    };
    let started = std::time::Instant::now();
    let res = ldap
        .with_timeout(t.timeout)
        .simple_bind(dn, &password.0)
        .await
        .map_err(|e| op_failure(t, "binding", e))?;
    // The DN only: the password never goes to a log.
    tracing::debug!(url = %t.url, bind_dn = %crate::text::shown(dn), rc = res.rc, ms = crate::log::ms(started), "ldap bind");
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
