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
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::load::is_password_attribute;
use crate::config::{DirectoryConfig, LdapConfig};
use crate::directory::groups::normalize_dn;
use crate::directory::{EntrySink, Kind};
use crate::model::{DirectoryState, Entry};

mod chase;
mod connect;
mod decode;
mod error;
mod range;
mod search;
#[cfg(test)]
mod tests;

pub use connect::Password;
pub use decode::{guid_string, id_key, id_text, is_guid};
pub use error::LdapError;
pub use range::parse_range;
pub use search::{
    equality_filter, escape_filter_value, DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER,
    GROUP_ATTRIBUTES,
};

use chase::*;
use connect::*;
use decode::*;
use error::*;
use range::*;
use search::*;

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
    read_resolving(cfg, dir, attributes, base_dir, &[]).await
}

/// [`read`], resolving the members of the configured `groups` (syncing and role groups, as the
/// config names them) that neither search returned: a member read by its DN that is a group
/// (outside `groups.base`, or not matched by `groups.filter`) is added to the groups read, and
/// its members followed in turn; every other one is a warning (see [`strays`](crate::directory::strays)).
pub async fn read_resolving(
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    attributes: &[String],
    base_dir: &Path,
    groups: &[&str],
) -> Result<DirectoryState, LdapError> {
    let mut collect = Collect::default();
    let warnings = read_into(cfg, dir, attributes, base_dir, groups, &mut collect).await?;
    let mut state = collect.0;
    state.warnings = warnings;
    Ok(state)
}

/// [`read_resolving`], handing each entry to `sink` as it arrives instead of holding the
/// directory in memory (`roster snapshot directory`). Returns the read's warnings.
pub async fn read_into(
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    attributes: &[String],
    base_dir: &Path,
    groups: &[&str],
    sink: &mut impl EntrySink,
) -> Result<Vec<String>, LdapError> {
    let target = Target::new(cfg, base_dir)?;
    let searches = Searches::new(cfg, dir, attributes)?;
    let mut progress = Progress::new(&target.url);
    let mut warnings = target.warnings.clone();
    let mut sink = Track::new(sink, groups);
    let sink = &mut sink;
    let result = match read_once(&target, &searches, &mut progress, sink).await {
        Err(Failure::Dropped { during, problem }) => {
            tracing::debug!(url = %target.url, %during, %problem, "ldap retry: the connection dropped, reading again from the start");
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
    warnings.extend(result?);
    Ok(warnings)
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
        equality_filter(dir.username_attribute(), username)
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

/// One attempt at the whole read; returns the warnings about the configured groups' members.
async fn read_once<S: EntrySink>(
    t: &Target,
    s: &Searches,
    progress: &mut Progress,
    sink: &mut Track<'_, S>,
) -> Result<Vec<String>, Failure> {
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
    let warnings = resolve_members(&mut ldap, t, s, sink).await?;
    let _ = ldap.unbind().await;
    Ok(warnings)
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
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} entries ({rate}/s)")
        {
            // A whole number per second, as every progress line shows it.
            bar.set_style(style.with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(
                        w,
                        "{}",
                        crate::progress::per_second(s.pos() as usize, s.elapsed())
                    );
                },
            ));
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
        // Not while logging: a redrawn bar and log lines would garble each other.
        let quiet = crate::log::enabled();
        if !self.shown && self.tty && !quiet && self.started.elapsed() > Duration::from_secs(1) {
            // A line of its own beside the intranet's reads.
            crate::progress::Lines::stderr().add(&self.bar);
            self.shown = true;
        }
    }

    fn restart(&mut self) {
        self.bar.set_position(0);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        crate::progress::Lines::stderr().remove(&self.bar);
    }
}
