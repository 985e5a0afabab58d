//! Members the users and groups searches did not return, read by their DN: a group elsewhere in
//! the tree (outside `groups.base`, or not matched by `groups.filter`) joins the groups read and
//! its members are followed in turn (cycles end: a DN is read once); any other member of a
//! configured group is a warning (see [`strays`](crate::directory::strays)). Only the members the
//! configured groups reach are read this way, never the whole directory's.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use ldap3::{Ldap, Scope as LdapScope};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::directory::groups::{normalized, Groups, MEMBER_ATTRIBUTES};
use crate::directory::ldif::read::GROUP_CLASSES;
use crate::directory::strays::{strays, warnings, Why};
use crate::model::{AttrValue, EntryBuilder};

use super::*;

/// The most members read one by one in one read: past it, the rest are named as not looked up.
const MAX_LOOKUPS: usize = 10_000;

/// A sink that also remembers what it needs to find the configured groups' unresolved members:
/// the users read (as 64-bit hashes of their normalised DNs, so a large directory costs little)
/// and each group's member values.
pub(super) struct Track<'s, S: EntrySink> {
    inner: &'s mut S,
    roots: &'s [&'s str],
    users: HashSet<u64>,
    groups: DirectoryState,
}

impl<'s, S: EntrySink> Track<'s, S> {
    pub(super) fn new(inner: &'s mut S, roots: &'s [&'s str]) -> Self {
        Track {
            inner,
            roots,
            users: HashSet::default(),
            groups: DirectoryState::default(),
        }
    }

    fn is_user(&self, member: &str) -> bool {
        self.users.contains(&key(member))
    }
}

/// A normalised DN's hash (deterministic: SipHash with fixed keys).
fn key(dn: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    normalized(dn).hash(&mut h);
    h.finish()
}

impl<S: EntrySink> EntrySink for Track<'_, S> {
    fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> std::io::Result<()> {
        self.users.clear();
        self.groups = DirectoryState::default();
        self.inner.begin(disabled)
    }

    fn entry(&mut self, kind: Kind, entry: Entry) -> std::io::Result<()> {
        if !self.roots.is_empty() {
            match kind {
                Kind::User => {
                    self.users.insert(key(entry.dn()));
                }
                Kind::Group => {
                    let mut slim = Entry::new(entry.dn());
                    for attr in MEMBER_ATTRIBUTES {
                        for v in entry.values(attr).texts() {
                            slim.add(attr, AttrValue::Text(v.to_owned()));
                        }
                    }
                    self.groups.groups.push(slim);
                }
            }
        }
        self.inner.entry(kind, entry)
    }
}

/// Read the configured groups' members that neither search returned, until every one is a
/// group read, a user read, or known to be neither; returns a warning for each group with
/// members of the last kind.
pub(super) async fn resolve_members<S: EntrySink>(
    ldap: &mut Ldap,
    t: &Target,
    s: &Searches,
    track: &mut Track<'_, S>,
) -> Result<Vec<String>, Failure> {
    if track.roots.is_empty() {
        return Ok(Vec::new());
    }
    // A member read by DN that is not a group, and why.
    let mut looked: HashMap<String, Option<Why>> = HashMap::default();
    let mut skipped = 0;
    loop {
        let todo: BTreeSet<String> = {
            let groups = Groups::new(&track.groups);
            strays(&groups, track.roots, |m| track.is_user(m))
                .into_iter()
                .flat_map(|(_, members)| members)
                .filter(|m| !looked.contains_key(m))
                .collect()
        };
        if todo.is_empty() {
            break;
        }
        let room = MAX_LOOKUPS.saturating_sub(looked.len());
        if room == 0 {
            skipped = todo.len();
            break;
        }
        for dn in todo.into_iter().take(room) {
            let why = match read_by_dn(ldap, t, s, &dn).await? {
                Some(entry) if is_group(&entry) => {
                    track.entry(Kind::Group, entry).map_err(|e| {
                        Failure::Fatal(LdapError::Output {
                            problem: e.to_string(),
                        })
                    })?;
                    None
                }
                Some(_) => Some(Why::NotAUser),
                None => Some(Why::Missing),
            };
            looked.insert(dn, why);
        }
    }
    let groups = Groups::new(&track.groups);
    let found = strays(&groups, track.roots, |m| track.is_user(m));
    let users = format!(
        "the users search: base `{}`, filter `{}`",
        s.users.base, s.users.filter
    );
    let mut out = warnings(
        &track.groups,
        &found,
        |m| looked.get(m).copied().flatten().unwrap_or(Why::Missing),
        "the directory",
        &users,
    );
    if skipped > 0 {
        out.push(format!(
            "{skipped} more members of the configured groups were not looked up (at most \
             {MAX_LOOKUPS} members outside the users and groups searches are read one by one); \
             set `users.base` and `groups.base` to hold them"
        ));
    }
    Ok(out)
}

fn is_group(entry: &Entry) -> bool {
    entry
        .values("objectclass")
        .texts()
        .any(|c| GROUP_CLASSES.contains(&c.to_ascii_lowercase().as_str()))
}

/// The entry at `dn` with the group attributes (its members complete, AD ranges fetched), or
/// `None` when the server holds no such entry (or refers elsewhere, or the DN is not one).
async fn read_by_dn(
    ldap: &mut Ldap,
    t: &Target,
    s: &Searches,
    dn: &str,
) -> Result<Option<Entry>, Failure> {
    let search = Search {
        what: "a group member",
        base: dn.to_owned(),
        scope: LdapScope::Base,
        filter: "(objectClass=*)".into(),
        attrs: s.groups.attrs.clone(),
    };
    let during = format!("reading the group member {dn}");
    let mut builder = EntryBuilder::default();
    let mut found = None;
    let res = paged_search(ldap, t, &search, &during, |re| {
        let decoded =
            decode_entry(re, &s.id_attribute, &mut builder).map_err(|d| d.into_error(t))?;
        found = Some(decoded);
        Ok(())
    })
    .await?;
    // noSuchObject, a referral to another server, a value that is no DN.
    if matches!(res.rc, 32 | 10 | 34) {
        return Ok(None);
    }
    check_result(t, &search, usize::from(found.is_some()), res.rc, res.text)?;
    let Some((mut entry, ranges)) = found else {
        return Ok(None);
    };
    for (attr, next) in ranges {
        fetch_ranges(ldap, t, &mut entry, &attr, next).await?;
    }
    Ok(Some(entry))
}
