//! Members that resolve to nobody: a member value of a configured group (or of a group nested in
//! it, at any depth) that is neither a group read nor a user read. Such a member gives no one an
//! account, so it is never dropped silently: each one is a plan warning naming the member and
//! the configured group it was reached from (many of one kind under one group are one warning).
//! Sources that can look a member up (live LDAP) first resolve what they can — a group outside
//! `groups.base` is read by its DN — and say why the rest stayed unresolved.

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::directory::groups::{strip_uid_suffix, Groups, MEMBER_ATTRIBUTES};
use crate::model::DirectoryState;
use crate::text::shown;

/// Why a member resolves to nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// No such entry (in the snapshot file, or on the server).
    Missing,
    /// The entry exists but is not a group, and the users search did not return it (outside
    /// `users.base`, or not matched by `users.filter`): not a user Roster read.
    NotAUser,
}

/// How many members one warning names before "and N more".
const NAMED: usize = 5;

/// For each configured group in `roots` (as the config names it), the members it reaches through
/// nested groups at any depth that are neither a group of `groups` nor a user (`is_user`, given
/// a member in normal form), sorted. Roots the directory does not hold have none (a missing
/// configured group is `resolve`'s error).
pub fn strays(
    groups: &Groups<'_>,
    roots: &[&str],
    is_user: impl Fn(&str) -> bool,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for root in roots {
        let (leaves, _) = groups.leaves(root, usize::MAX);
        let mut unresolved: Vec<String> = leaves
            .into_iter()
            .filter(|m| !is_user(m))
            .map(str::to_owned)
            .collect();
        if !unresolved.is_empty() {
            unresolved.sort_unstable();
            unresolved.dedup();
            out.push(((*root).to_owned(), unresolved));
        }
    }
    out
}

/// The warnings for `strays` of the groups in `state`: one per configured group and kind of
/// problem, naming the members as the groups spell them. `why` tells a member's problem;
/// `missing` says where a missing entry was looked for ("the snapshot", "the directory"), `users`
/// which users search a member outside it missed.
pub fn warnings(
    state: &DirectoryState,
    strays: &[(String, Vec<String>)],
    why: impl Fn(&str) -> Why,
    missing: &str,
    users: &str,
) -> Vec<String> {
    let spelling = spellings(state, strays);
    let mut out = Vec::new();
    for (root, members) in strays {
        for kind in [Why::Missing, Why::NotAUser] {
            let these: Vec<&String> = members.iter().filter(|m| why(m) == kind).collect();
            if these.is_empty() {
                continue;
            }
            let mut named: Vec<String> = these
                .iter()
                .take(NAMED)
                .map(|m| {
                    format!(
                        "`{}`",
                        shown(spelling.get(m.as_str()).copied().unwrap_or(m))
                    )
                })
                .collect();
            if these.len() > NAMED {
                named.push(format!("and {} more", these.len() - NAMED));
            }
            let (subject, verb) = match these.len() {
                1 => (format!("member {}", named[0]), "is"),
                n => (format!("{n} members ({})", named.join(", ")), "are"),
            };
            let problem =
                match kind {
                    Why::Missing => format!(
                        "{verb} in no entry of {missing}: nobody gets an account through {}",
                        if these.len() == 1 { "it" } else { "them" }
                    ),
                    Why::NotAUser => format!(
                    "{verb} neither a group nor a user Roster read (outside {users}), so {} no \
                     account through this group; widen the users search if {} a person",
                    if these.len() == 1 { "it gets" } else { "they get" },
                    if these.len() == 1 { "it is" } else { "they are" },
                ),
                };
            out.push(format!("group `{}`: {subject} {problem}", shown(root)));
        }
    }
    out
}

/// The members in `strays` (in normal form) as a group of `state` first spells them.
fn spellings<'s>(
    state: &'s DirectoryState,
    strays: &[(String, Vec<String>)],
) -> HashMap<String, &'s str> {
    let wanted: HashSet<&str> = strays
        .iter()
        .flat_map(|(_, members)| members.iter().map(String::as_str))
        .collect();
    let mut out: HashMap<String, &str> = HashMap::default();
    if wanted.is_empty() {
        return out;
    }
    for g in &state.groups {
        for attr in MEMBER_ATTRIBUTES {
            for v in g.values(attr).texts() {
                let key = state.identity.member(v);
                if wanted.contains(key.as_ref()) && !out.contains_key(key.as_ref()) {
                    out.insert(key.into_owned(), strip_uid_suffix(v).trim());
                }
            }
        }
    }
    out
}

/// The warnings for an LDIF snapshot read: a member of a configured group that no entry of the
/// file holds (every entry that is not a group is a user there).
pub fn in_snapshot(state: &DirectoryState, roots: &[&str]) -> Vec<String> {
    if roots.is_empty() {
        return Vec::new();
    }
    let groups = Groups::new(state);
    let users: HashSet<Cow<str>> = state
        .users
        .iter()
        .map(|u| state.identity.normalize(u.dn()))
        .collect();
    let found = strays(&groups, roots, |m| users.contains(m));
    warnings(
        state,
        &found,
        |_| Why::Missing,
        "the snapshot",
        "the snapshot",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::directory::ldif;

    fn group(dn: &str, members: &[&str]) -> String {
        let lines: String = members.iter().map(|m| format!("member: {m}\n")).collect();
        format!("dn: {dn}\nobjectClass: groupOfNames\n{lines}\n")
    }

    #[test]
    fn members_that_are_neither_groups_nor_users_are_named_under_their_configured_group() {
        let text = group("cn=staff", &["uid=a", "cn=sub", "UID=Gone"])
            + &group("cn=sub", &["uid=b", "cn=staff", "uid=ext"])
            + &group(
                "cn=other",
                &[
                    "uid=x1", "uid=x2", "uid=x3", "uid=x4", "uid=x5", "uid=x6", "uid=x7",
                ],
            );
        let src = Source::new(std::path::Path::new("t.ldif"), text);
        let state = ldif::classify(ldif::parse(&src).unwrap());
        let g = Groups::new(&state);
        let users = ["uid=a", "uid=b"];
        let found = strays(&g, &["CN=Staff", "cn=other", "cn=nowhere"], |m| {
            users.contains(&m)
        });
        assert_eq!(
            found[0],
            (
                "CN=Staff".to_owned(),
                vec!["uid=ext".to_owned(), "uid=gone".to_owned()]
            )
        );
        assert_eq!(found[1].1.len(), 7);
        assert_eq!(found.len(), 2, "a group the directory lacks has no strays");
        let w = warnings(
            &state,
            &found,
            |m| {
                if m == "uid=ext" {
                    Why::NotAUser
                } else {
                    Why::Missing
                }
            },
            "the directory",
            "`users.base` ou=people",
        );
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].starts_with("group `CN=Staff`: member `UID=Gone` is in no entry of the directory"),
            "{}",
            w[0]
        );
        assert!(
            w[1].contains("member `uid=ext` is neither a group nor a user")
                && w[1].contains("outside `users.base` ou=people"),
            "{}",
            w[1]
        );
        assert!(
            w[2].contains("7 members (`uid=x1`")
                && w[2].contains("and 2 more")
                && w[2].contains("are in no entry"),
            "{}",
            w[2]
        );
    }
}
