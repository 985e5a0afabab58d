//! Reconcile: desired state + observed intranet + policy → changes. Pure: no IO, no clock, no
//! environment. The only stage that decides anything.
//!
//! Rules: only syncing users get accounts; mapped fields follow the directory; nothing is ever
//! deleted (there is no delete action); accounts are matched by the directory's immutable ID
//! (`externalId`), so a username change renames; protected accounts are never blocked, renamed
//! or revoked; unmanaged accounts are never changed except by `link`.

pub mod desired;
pub mod mapping;
pub mod resolve;

use std::borrow::Cow;
use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use smallvec::SmallVec;

use crate::config::Policy;
use crate::model::{Account, IntranetState};
use crate::plan::{Action, Change, FieldChange, RoleRef};
use crate::text::{nfc, shown, username_key};
pub use desired::{Desired, DesiredRole, DesiredUser};

/// Something that makes a plan impossible. All conflicts are reported together, each as a
/// diagnostic of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{subject}: {message}")]
#[diagnostic(code(roster::conflict))]
pub struct Conflict {
    /// What it is about: a username, a DN, a role.
    pub subject: String,
    pub message: String,
    #[help]
    pub help: String,
}

/// The changes and the warnings a reviewer must see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

/// Where an account stands after the plan.
#[derive(Debug, Clone)]
struct Final<'a> {
    /// In NFC, as the plan writes it.
    username: Cow<'a, str>,
    active: bool,
}

/// `s` in lowercase: borrowed when it already is, as most values are. (Usernames are compared
/// with [`username_key`], which also normalises them to NFC.)
pub fn lowercase(s: &str) -> std::borrow::Cow<'_, str> {
    let unchanged = s.chars().all(|c| {
        let mut l = c.to_lowercase();
        l.next() == Some(c) && l.next().is_none()
    });
    if unchanged {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.to_lowercase())
    }
}

/// Reconcile. Returns the ordered changes, or every conflict found.
pub fn reconcile<'a>(
    desired: &'a Desired,
    observed: &'a IntranetState,
    last: Option<&crate::state::State>,
    policy: &Policy,
) -> Result<Outcome, Vec<Conflict>> {
    let mut conflicts = desired.conflicts.clone();
    let mut warnings = desired.warnings.clone();
    let mut changes: Vec<Change> = Vec::new();
    let accounts = &observed.accounts;
    let protected: HashSet<String> = policy
        .protected
        .iter()
        .map(|p| username_key(p).into_owned())
        .collect();
    let is_protected = |name: &str| protected.contains(username_key(name).as_ref());
    unknown_policy_names(policy, accounts, &mut warnings);

    let mut by_ext: HashMap<&str, usize> = HashMap::default();
    let mut by_name: HashMap<Cow<str>, SmallVec<[usize; 1]>> = HashMap::default();
    for (i, a) in accounts.iter().enumerate() {
        if let Some(ext) = a.external_id.as_deref().filter(|_| a.is_managed()) {
            by_ext.entry(ext).or_insert(i);
        }
        // Only unmanaged accounts can be adopted by username.
        if !a.is_managed() {
            by_name
                .entry(username_key(&a.username))
                .or_default()
                .push(i);
        }
    }
    if let Some(c) = rebuilt_directory(desired, accounts, &by_ext) {
        conflicts.push(c);
        return Err(conflicts);
    }
    // Each account's state after the plan; accounts created by the plan come after.
    let mut finals: Vec<Final<'a>> = accounts
        .iter()
        .map(|a| Final {
            username: Cow::Borrowed(&a.username),
            active: a.active,
        })
        .collect();
    // Directory ID → index in `finals` for syncing users whose account `by_ext` does not give:
    // adopted and created ones.
    let mut account_of: HashMap<&str, usize> = HashMap::default();
    let mut renames: Vec<(usize, Change)> = Vec::new();
    let mut claimed = vec![false; accounts.len()];

    for user in desired.users.iter().filter(|u| u.syncing) {
        let managed = by_ext.get(user.id).copied();
        let adoptable = || {
            by_name
                .get(username_key(user.username).as_ref())?
                .iter()
                .copied()
                .find(|&i| !accounts[i].is_managed() && !claimed[i])
        };
        let (idx, linked) = match managed {
            Some(i) => (Some(i), false),
            None => match adoptable() {
                Some(i) if policy.adopt => (Some(i), true),
                Some(i) => {
                    conflicts.push(Conflict {
                        subject: shown(user.username).into_owned(),
                        message: format!("an unmanaged intranet account `{}` already holds this username", shown(&accounts[i].username)),
                        help: "set `policy.adopt: true` to link it to the directory user, or rename the local account".into(),
                    });
                    continue;
                }
                None => (None, false),
            },
        };
        let Some(i) = idx else {
            if user.enabled {
                let fields = desired
                    .fields_of(user)
                    .filter_map(|(k, v)| Some(FieldChange::new(k, None, Some(v?.to_owned()))))
                    .collect();
                account_of.insert(user.id, finals.len());
                finals.push(Final {
                    username: nfc(user.username),
                    active: true,
                });
                changes.push(change(
                    Action::Create,
                    user,
                    None,
                    fields,
                    "enabled member of a syncing group without an account",
                ));
            }
            continue;
        };
        claimed[i] = true;
        if linked {
            account_of.insert(user.id, i);
        }
        let acct = &accounts[i];
        let fields = field_diff(desired, user, acct, last);
        if linked {
            changes.push(change(
                Action::Link,
                user,
                Some(acct),
                fields,
                "unmanaged account with the username of a syncing user (policy.adopt)",
            ));
        } else if !fields.is_empty() {
            changes.push(change(
                Action::Update,
                user,
                Some(acct),
                fields,
                "mapped fields differ from the directory",
            ));
        }
        let username = nfc(user.username);
        if acct.username != username {
            if is_protected(&acct.username) {
                warnings.push(format!(
                    "{} is protected: not renamed to {}",
                    shown(&acct.username),
                    shown(&username)
                ));
            } else {
                finals[i].username = username.clone();
                let mut c = change(
                    Action::Rename,
                    user,
                    Some(acct),
                    vec![FieldChange::new(
                        "username",
                        Some(acct.username.clone()),
                        Some(username.clone().into_owned()),
                    )],
                    "the directory user's username changed (same immutable ID)",
                );
                c.username = username.into_owned();
                renames.push((i, c));
            }
        }
        match (user.enabled, acct.active) {
            (true, false) if policy.reactivate => {
                finals[i].active = true;
                changes.push(change(
                    Action::Reactivate,
                    user,
                    Some(acct),
                    vec![],
                    "returning user: enabled and in a syncing group again",
                ));
            }
            (true, false) => warnings.push(format!(
                "{} is enabled in the directory but stays blocked (policy.reactivate is off)",
                shown(user.username)
            )),
            (false, true) => block(
                &mut changes,
                &mut warnings,
                &mut finals[i],
                acct,
                Some(user),
                "disabled in the directory while still in a syncing group",
                &is_protected,
            ),
            _ => {}
        }
    }

    // Managed accounts no syncing user claims: the user left the syncing groups or the directory.
    for (i, acct) in accounts.iter().enumerate() {
        if !acct.is_managed() || claimed[i] || !acct.active {
            continue;
        }
        let ext = acct.external_id.as_deref().unwrap_or_default();
        let user = desired.user(ext);
        let reason = if user.is_some() {
            "left the syncing groups"
        } else {
            "gone from the directory"
        };
        block(
            &mut changes,
            &mut warnings,
            &mut finals[i],
            acct,
            user,
            reason,
            &is_protected,
        );
    }

    // No two accounts may end with one username.
    let mut holders: Vec<(Cow<str>, usize)> = finals
        .iter()
        .enumerate()
        .map(|(i, f)| (username_key(&f.username), i))
        .collect();
    holders.sort_unstable();
    // A username already in conflict in the directory is not reported twice (subjects are shown
    // escaped, and compared so).
    let reported: HashSet<String> = conflicts
        .iter()
        .map(|c| username_key(&c.subject).into_owned())
        .collect();
    for held in holders
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|h| h.len() > 1 && !reported.contains(username_key(&shown(&h[0].0)).as_ref()))
    {
        let who: Vec<String> = held
            .iter()
            .map(|&(_, i)| {
                if i < accounts.len() {
                    format!(
                        "account {} ({})",
                        shown(&accounts[i].username),
                        shown(&accounts[i].id)
                    )
                } else {
                    "a new account".to_owned()
                }
            })
            .collect();
        conflicts.push(Conflict {
            subject: shown(&held[0].0).into_owned(),
            message: format!("would be held by {} after this plan", who.join(" and ")),
            help: "a rename or create onto a username held by another account: rename or block the other account first, or fix the directory".into(),
        });
    }

    let renames = order_renames(renames, accounts, &mut conflicts);
    role_changes(
        desired,
        observed,
        &finals,
        &account_of,
        &by_ext,
        accounts,
        &is_protected,
        &mut changes,
        &mut warnings,
        &mut conflicts,
    );

    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    Ok(Outcome {
        changes: order(changes, renames),
        warnings,
    })
}

/// A name in `policy.protected` or `policy.apply_as` that no intranet account has guards
/// nobody (`derek.ston` for `derek.stone`): the plan says so, with the closest username.
fn unknown_policy_names(policy: &Policy, accounts: &[Account], warnings: &mut Vec<String>) {
    let held: HashSet<Cow<str>> = accounts.iter().map(|a| username_key(&a.username)).collect();
    let named = policy
        .protected
        .iter()
        .map(|n| ("protected", n))
        .chain(policy.apply_as.iter().map(|n| ("apply_as", n)));
    let mut usernames: Option<Vec<String>> = None;
    for (key, name) in named {
        if held.contains(username_key(name).as_ref()) {
            continue;
        }
        let usernames =
            usernames.get_or_insert_with(|| accounts.iter().map(|a| a.username.clone()).collect());
        let hint = match crate::config::load::suggest(name, usernames) {
            Some(s) => format!(" (did you mean {}?)", shown(&s)),
            None => String::new(),
        };
        let effect = if key == "protected" {
            "it protects no one"
        } else {
            "Roster's own account is not guarded (check the SCIM token's username)"
        };
        warnings.push(format!(
            "policy.{key} names {}, which matches no intranet account: {effect}{hint}",
            shown(name)
        ));
    }
}

/// A directory rebuilt with new immutable IDs is reported once, not as a conflict per user:
/// at least this many syncing users…
pub const REBUILT_MIN_USERS: usize = 5;
/// …and at least this share (percent) of the syncing users have an ID the intranet does not
/// know while their username is held by a managed account linked to another ID.
pub const REBUILT_MIN_SHARE: usize = 50;

/// The directory looks rebuilt (restored, migrated, or `id_attribute` changed): most syncing
/// users' IDs are unknown to the intranet while managed accounts with other IDs hold their
/// usernames. Planning on would create a second account for each person and block the first.
fn rebuilt_directory(
    desired: &Desired,
    accounts: &[Account],
    by_ext: &HashMap<&str, usize>,
) -> Option<Conflict> {
    let syncing = desired.users.iter().filter(|u| u.syncing).count();
    let unknown: Vec<&DesiredUser> = desired
        .users
        .iter()
        .filter(|u| u.syncing && !by_ext.contains_key(u.id))
        .collect();
    let enough = |n: usize| n >= REBUILT_MIN_USERS && n * 100 >= syncing * REBUILT_MIN_SHARE;
    // Cheap first: new hires are a handful, so most runs stop here.
    if !enough(unknown.len()) {
        return None;
    }
    let managed: HashMap<Cow<str>, &str> = accounts
        .iter()
        .filter(|a| a.is_managed())
        .map(|a| {
            (
                lowercase(&a.username),
                a.external_id.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    let mut taken: Vec<&str> = unknown
        .iter()
        .filter(|u| {
            managed
                .get(lowercase(u.username).as_ref())
                .is_some_and(|ext| *ext != u.id)
        })
        .map(|u| u.username)
        .collect();
    if !enough(taken.len()) {
        return None;
    }
    taken.sort_unstable();
    let n = taken.len();
    let examples = taken.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    Some(Conflict {
        subject: "the directory".into(),
        message: format!(
            "{n} of {syncing} syncing users have an immutable ID the intranet does not know, while managed accounts with their usernames are linked to other IDs ({examples}{}): the directory looks rebuilt, restored or migrated with new IDs, or `id_attribute` changed",
            if n > 5 { ", …" } else { "" }
        ),
        help: "nothing was planned: it would create a second account for each of these people and block the one they have. If `directory.id_attribute()` was changed, change it back. If the directory was rebuilt and these are the same people, re-link their accounts: in the intranet, clear `externalId` on them, and the next plan shows each as a `link` to its directory user by username (with `policy.adopt: true`) for review; or set each account's `externalId` to its user's new ID. If they are different people, rename or block the old accounts first.".into(),
    })
}

fn change(
    action: Action,
    user: &DesiredUser,
    acct: Option<&Account>,
    fields: Vec<FieldChange>,
    reason: &str,
) -> Change {
    Change {
        action,
        // Renames run first, so every change speaks of the account by its new username, in NFC.
        username: nfc(user.username).into_owned(),
        external_id: Some(user.id.to_owned()),
        intranet_id: acct.map(|a| a.id.clone()),
        etag: acct.and_then(|a| a.etag.clone()),
        fields,
        role: None,
        reason: reason.to_owned(),
    }
}

fn field_diff(
    desired: &Desired,
    user: &DesiredUser,
    acct: &Account,
    last: Option<&crate::state::State>,
) -> Vec<FieldChange> {
    desired
        .fields_of(user)
        .filter_map(|(name, after)| {
            let before = acct.fields.get(name);
            // A manager is an account: named as usernames compare (NFC, case-folded), so an
            // account the intranet spells `Ada` is the manager `ada` the directory names.
            let same = before == after
                || (name == "manager"
                    && before
                        .zip(after)
                        .is_some_and(|(b, a)| username_key(b) == username_key(a)));
            (!same).then(|| FieldChange {
                name: name.to_string(),
                before: before.map(str::to_owned),
                after: after.map(str::to_owned),
                origin: last.map(|s| {
                    let recorded = acct.external_id.as_deref().and_then(|id| s.last(id, name));
                    crate::state::origin(recorded, before, after)
                }),
            })
        })
        .collect()
}

fn block(
    changes: &mut Vec<Change>,
    warnings: &mut Vec<String>,
    fin: &mut Final,
    acct: &Account,
    user: Option<&DesiredUser>,
    reason: &str,
    is_protected: &dyn Fn(&str) -> bool,
) {
    if is_protected(&acct.username) {
        warnings.push(format!(
            "{} is protected: not blocked although {reason}",
            shown(&acct.username)
        ));
        return;
    }
    fin.active = false;
    changes.push(Change {
        action: Action::Block,
        username: acct.username.clone(),
        external_id: acct
            .external_id
            .clone()
            .or_else(|| user.map(|u| u.id.to_owned())),
        intranet_id: Some(acct.id.clone()),
        etag: acct.etag.clone(),
        fields: vec![],
        role: None,
        reason: reason.to_owned(),
    });
}

/// Renames in an order where each target is free when it runs: A→B waits for B→C. A cycle
/// (A↔B) has no such order and is a conflict.
fn order_renames(
    mut pending: Vec<(usize, Change)>,
    accounts: &[Account],
    conflicts: &mut Vec<Conflict>,
) -> Vec<Change> {
    pending.sort_by(|a, b| a.1.username.cmp(&b.1.username));
    let mut out = Vec::new();
    while !pending.is_empty() {
        let held: HashSet<String> = pending
            .iter()
            .map(|(i, _)| username_key(&accounts[*i].username).into_owned())
            .collect();
        let (ready, blocked): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(i, c)| {
            let target = username_key(&c.username);
            target == username_key(&accounts[*i].username) || !held.contains(target.as_ref())
        });
        if ready.is_empty() {
            for (i, c) in &blocked {
                conflicts.push(Conflict {
                    subject: shown(&accounts[*i].username).into_owned(),
                    message: format!(
                        "rename to {} is part of a cycle of renames",
                        shown(&c.username)
                    ),
                    help:
                        "rename one of these accounts by hand to a free username, then plan again"
                            .into(),
                });
            }
            return out;
        }
        out.extend(ready.into_iter().map(|(_, c)| c));
        pending = blocked;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn role_changes(
    desired: &Desired,
    observed: &IntranetState,
    finals: &[Final],
    account_of: &HashMap<&str, usize>,
    by_ext: &HashMap<&str, usize>,
    accounts: &[Account],
    is_protected: &dyn Fn(&str) -> bool,
    changes: &mut Vec<Change>,
    warnings: &mut Vec<String>,
    conflicts: &mut Vec<Conflict>,
) {
    // Accounts by SCIM id, for the members of the roles' groups only (few, against millions).
    let members: HashSet<&str> = observed
        .groups
        .iter()
        .filter(|g| {
            desired
                .roles
                .iter()
                .any(|r| g.display_name.eq_ignore_ascii_case(&r.intranet_group))
        })
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();
    let by_id: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| members.contains(a.id.as_str()))
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    // A directory user's account, existing or created by this plan.
    let index_of = |id: &str| account_of.get(id).or_else(|| by_ext.get(id)).copied();
    // Usernames the roles list, found in one pass each over the syncing users and the accounts
    // (the first one wins, in their order), compared without case.
    let listed: HashSet<String> = desired
        .roles
        .iter()
        .flat_map(|r| r.usernames.iter().map(|n| username_key(n).into_owned()))
        .collect();
    let mut synced_by_name: HashMap<String, Option<usize>> = HashMap::default();
    let mut final_by_name: HashMap<String, usize> = HashMap::default();
    if !listed.is_empty() {
        for u in desired.users.iter().filter(|u| u.syncing) {
            let key = username_key(u.username);
            if listed.contains(key.as_ref()) {
                synced_by_name
                    .entry(key.into_owned())
                    .or_insert_with(|| index_of(u.id));
            }
        }
        for (i, f) in finals.iter().enumerate() {
            let key = username_key(&f.username);
            if listed.contains(key.as_ref()) {
                final_by_name.entry(key.into_owned()).or_insert(i);
            }
        }
    }
    for role in &desired.roles {
        let Some(group) = observed.role_group(&role.intranet_group) else {
            conflicts.push(Conflict {
                subject: format!("role {}", shown(&role.name)),
                message: format!("the intranet has no group named `{}`", shown(&role.intranet_group)),
                help: "create the group in the intranet (Roster never creates or deletes groups), or fix `intranet_group`".into(),
            });
            continue;
        };
        let role_ref = RoleRef {
            role: role.name.clone(),
            group: group.display_name.clone(),
            group_id: group.id.clone(),
            group_etag: group.etag.clone(),
        };
        let current: BTreeSet<&str> = group.members.iter().map(String::as_str).collect();
        let is_member = |i: usize| i < accounts.len() && current.contains(accounts[i].id.as_str());
        // Holders the config names (as indices into `finals`), and of those the ones whose
        // accounts will be active: only they are granted. A named holder whose account is
        // blocked keeps a membership it has (nothing to revoke), but gets no new grant.
        let mut named: BTreeSet<usize> = BTreeSet::new();
        let mut left_out = |who: String, why: &str| {
            warnings.push(format!(
                "role {}: {who} {why}; that grant is left out",
                role.name
            ))
        };
        for id in &role.member_ids {
            let Some(user) = desired.user(id) else {
                continue;
            };
            match index_of(id) {
                Some(i) => {
                    named.insert(i);
                    if !finals[i].active && !is_member(i) {
                        left_out(
                            shown(user.username).into_owned(),
                            "will not have an active account",
                        );
                    }
                }
                None if !user.syncing => left_out(
                    shown(user.username).into_owned(),
                    "is not in a syncing group and will have no active account",
                ),
                None => left_out(
                    shown(user.username).into_owned(),
                    "will not have an active account",
                ),
            }
        }
        for dn in &role.unknown_members {
            left_out(
                shown(dn).into_owned(),
                "is not a directory user Roster reads",
            );
        }
        for name in &role.usernames {
            let key = username_key(name);
            let synced = synced_by_name.get(key.as_ref()).copied().flatten();
            match synced.or_else(|| final_by_name.get(key.as_ref()).copied()) {
                Some(i) => {
                    named.insert(i);
                    if !finals[i].active && !is_member(i) {
                        left_out(shown(name).into_owned(), "will not have an active account");
                    }
                }
                None => left_out(shown(name).into_owned(), "has no intranet account"),
            }
        }
        let want: BTreeSet<usize> = named
            .iter()
            .copied()
            .filter(|&i| finals[i].active)
            .collect();
        let mut grants: Vec<Change> = want
            .iter()
            .filter(|&&i| i >= accounts.len() || !current.contains(accounts[i].id.as_str()))
            .map(|&i| {
                role_change(
                    Action::Grant,
                    &finals[i].username,
                    accounts.get(i),
                    &role_ref,
                    &format!("should hold {}", role.name),
                )
            })
            .collect();
        grants.sort_by(|a, b| a.username.cmp(&b.username));
        changes.extend(grants);
        let mut revokes = Vec::new();
        for member in &current {
            match by_id.get(member) {
                Some(&i) if named.contains(&i) => {}
                Some(&i) if is_protected(&accounts[i].username) => {
                    warnings.push(format!(
                        "{} is protected: keeps {} although the config does not grant it",
                        shown(&accounts[i].username),
                        role.name
                    ));
                }
                Some(&i) => {
                    let why = if finals[i].active {
                        format!("not among the configured holders of {}", role.name)
                    } else {
                        format!(
                            "not among the configured holders of {} (and blocked)",
                            role.name
                        )
                    };
                    revokes.push(role_change(
                        Action::Revoke,
                        &finals[i].username,
                        Some(&accounts[i]),
                        &role_ref,
                        &why,
                    ));
                }
                None => {
                    let mut c = role_change(
                        Action::Revoke,
                        member,
                        None,
                        &role_ref,
                        "member id matches no intranet account",
                    );
                    c.intranet_id = Some((*member).to_owned());
                    revokes.push(c);
                }
            }
        }
        revokes.sort_by(|a, b| a.username.cmp(&b.username));
        changes.extend(revokes);
    }
}

fn role_change(
    action: Action,
    username: &str,
    acct: Option<&Account>,
    role: &RoleRef,
    reason: &str,
) -> Change {
    Change {
        action,
        username: username.to_owned(),
        external_id: acct.and_then(|a| a.external_id.clone()),
        intranet_id: acct.map(|a| a.id.clone()),
        etag: None,
        fields: vec![],
        role: Some(role.clone()),
        reason: reason.to_owned(),
    }
}

/// The order apply runs in, safe when interrupted: links and renames first (so creates never
/// collide), then creates, updates and reactivations, grants before revokes, blocks last.
fn order(changes: Vec<Change>, renames: Vec<Change>) -> Vec<Change> {
    let rank = |a: Action| match a {
        Action::Link => 0,
        Action::Rename => 1,
        Action::Create => 2,
        Action::Update => 3,
        Action::Reactivate => 4,
        Action::Grant => 5,
        Action::Revoke => 6,
        Action::Block => 7,
    };
    let mut rest: Vec<Change> = changes;
    rest.sort_by(|a, b| {
        rank(a.action)
            .cmp(&rank(b.action))
            .then_with(|| {
                a.role
                    .as_ref()
                    .map(|r| &r.role)
                    .cmp(&b.role.as_ref().map(|r| &r.role))
            })
            .then_with(|| a.username.cmp(&b.username))
    });
    let split = rest
        .iter()
        .position(|c| rank(c.action) > rank(Action::Rename))
        .unwrap_or(rest.len());
    let tail = rest.split_off(split);
    rest.extend(renames);
    rest.extend(tail);
    rest
}

/// The plan could not be made: every conflict, listed together.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot plan: {} conflict{} between the directory, the intranet and the config", .conflicts.len(), if .conflicts.len() == 1 { "" } else { "s" })]
#[diagnostic(
    code(roster::conflicts),
    help("nothing was changed; resolve these and plan again")
)]
pub struct Conflicts {
    #[related]
    pub conflicts: Vec<Conflict>,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// The config names groups or attributes that resolve to nobody.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Unresolved(#[from] resolve::Unresolved),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conflicts(#[from] Conflicts),
}

/// The whole pure step: config + both observed sides → a plan recording its inputs. A config
/// whose groups or mapped attributes resolve to nobody plans nothing.
pub fn plan(
    cfg: &crate::config::Loaded,
    observed: &crate::observe::Observed,
) -> Result<crate::plan::Plan, PlanError> {
    let config = &cfg.config;
    let desired = desired::compute(config, &observed.directory);
    let resolved = resolve::verify(cfg, &observed.directory, &desired, None)?;
    match reconcile(
        &desired,
        &observed.intranet,
        observed.state.as_ref(),
        &config.policy,
    ) {
        Ok(out) => {
            let reactivations = out
                .changes
                .iter()
                .filter(|c| c.action == crate::plan::Action::Reactivate)
                .count();
            resolve::reactivations_without_disabled(cfg, &observed.directory, reactivations)?;
            // What the reviewer must know about the read itself comes first.
            let mut warnings = observed.directory.warnings.clone();
            warnings.extend(resolved);
            warnings.extend(out.warnings);
            let mut plan = crate::plan::Plan::new(observed.inputs(cfg), warnings, out.changes);
            let before = observed
                .intranet
                .accounts
                .iter()
                .filter(|a| a.active)
                .count();
            plan.licences = crate::plan::Licences {
                before,
                after: crate::plan::Plan::licences_after(&plan.summary, before),
                limit: config.policy.licences,
            };
            Ok(plan)
        }
        Err(conflicts) => Err(Conflicts { conflicts }.into()),
    }
}
