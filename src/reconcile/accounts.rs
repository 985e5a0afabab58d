//! The account passes of a [`Reconciler`]: each syncing user's account found (managed, or
//! adopted by username), created, linked or updated, renamed, reactivated or blocked; then the
//! leavers blocked and the usernames after the plan checked for clashes.

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{lowercase, Conflict, DesiredUser, Final, Reconciler};
use crate::directory::ldap::id_key;
use crate::model::Account;
use crate::plan::{Action, Change, FieldChange};
use crate::text::{nfc, shown, username_key};

/// A directory rebuilt with new immutable IDs is reported once, not as a conflict per user:
/// at least this many syncing users…
pub const REBUILT_MIN_USERS: usize = 5;
/// …and at least this share (percent) of the syncing users have an ID the intranet does not
/// know while their username is held by a managed account linked to another ID.
pub const REBUILT_MIN_SHARE: usize = 50;

/// The account a syncing user has.
#[derive(Clone, Copy)]
struct Found {
    /// Its index in the accounts (and in `finals`).
    index: usize,
    /// Adopted by username (`policy.adopt`): the plan links it.
    adopted: bool,
}

impl<'a> Reconciler<'a> {
    /// A name in `policy.protected` or `policy.apply_as` that no intranet account has guards
    /// nobody (`derek.ston` for `derek.stone`): the plan says so, with the closest username.
    pub(super) fn unknown_policy_names(&mut self) {
        let accounts = self.accounts;
        let held: HashSet<Cow<str>> = accounts.iter().map(|a| username_key(&a.username)).collect();
        let named = self
            .policy
            .protected
            .iter()
            .map(|n| ("protected", n))
            .chain(self.policy.apply_as.iter().map(|n| ("apply_as", n)));
        let mut usernames: Option<Vec<String>> = None;
        for (key, name) in named {
            if held.contains(username_key(name).as_ref()) {
                continue;
            }
            let usernames = usernames
                .get_or_insert_with(|| accounts.iter().map(|a| a.username.clone()).collect());
            let hint = match crate::config::load::suggest(name, usernames) {
                Some(s) => format!(" (did you mean {}?)", shown(&s)),
                None => String::new(),
            };
            let effect = if key == "protected" {
                "it protects no one"
            } else {
                "Roster's own account is not guarded (check the SCIM token's username)"
            };
            self.warnings.push(format!(
                "policy.{key} names {}, which matches no intranet account: {effect}{hint}",
                shown(name)
            ));
        }
    }

    /// The directory looks rebuilt (restored, migrated, or `id_attribute` changed): most syncing
    /// users' IDs are unknown to the intranet while managed accounts with other IDs hold their
    /// usernames. Planning on would create a second account for each person and block the first.
    pub(super) fn rebuilt_directory(&self) -> Option<Conflict> {
        let desired = self.desired;
        let syncing = desired.users.iter().filter(|u| u.syncing).count();
        let unknown: Vec<&DesiredUser> = desired
            .users
            .iter()
            .filter(|u| u.syncing && !self.by_ext.contains_key(id_key(u.id).as_ref()))
            .collect();
        let enough = |n: usize| n >= REBUILT_MIN_USERS && n * 100 >= syncing * REBUILT_MIN_SHARE;
        // Cheap first: new hires are a handful, so most runs stop here.
        if !enough(unknown.len()) {
            return None;
        }
        let managed: HashMap<Cow<str>, &str> = self
            .accounts
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

    /// Every syncing user, in the directory's order: its account found, then created, or
    /// linked or updated, renamed, reactivated or blocked.
    pub(super) fn syncing_users(&mut self) {
        let desired = self.desired;
        for user in desired.users.iter().filter(|u| u.syncing) {
            match self.find(user) {
                Err(conflict) => self.conflicts.push(conflict),
                Ok(None) if user.enabled => self.create(user),
                Ok(None) => {}
                Ok(Some(found)) => {
                    self.claim(user, found);
                    self.rename(user, found.index);
                    self.reactivate_or_block(user, found.index);
                }
            }
        }
    }

    /// The user's account: the managed one with its ID, else an unmanaged one with its
    /// username that no other user took, which `policy.adopt` links (without it, a conflict).
    fn find(&self, user: &DesiredUser) -> Result<Option<Found>, Conflict> {
        if let Some(&index) = self.by_ext.get(id_key(user.id).as_ref()) {
            return Ok(Some(Found {
                index,
                adopted: false,
            }));
        }
        let adoptable = self
            .by_name
            .get(username_key(user.username).as_ref())
            .and_then(|at| {
                at.iter()
                    .copied()
                    .find(|&i| !self.accounts[i].is_managed() && !self.claimed[i])
            });
        match adoptable {
            Some(index) if self.policy.adopt => Ok(Some(Found {
                index,
                adopted: true,
            })),
            Some(i) => Err(Conflict {
                subject: shown(user.username).into_owned(),
                message: format!(
                    "an unmanaged intranet account `{}` already holds this username",
                    shown(&self.accounts[i].username)
                ),
                help: "set `policy.adopt: true` to link it to the directory user, or rename the local account".into(),
            }),
            None => Ok(None),
        }
    }

    /// An account for an enabled syncing user who has none.
    fn create(&mut self, user: &'a DesiredUser<'a>) {
        let fields = self
            .desired
            .fields_of(user)
            .filter_map(|(k, v)| Some(FieldChange::new(k, None, Some(v?.to_owned()))))
            .collect();
        self.account_of.insert(user.id, self.finals.len());
        self.finals.push(Final {
            username: nfc(user.username),
            active: true,
        });
        let reason = match self.desired.syncing_group(user) {
            Some(g) => format!(
                "enabled member of syncing group {} without an account",
                shown(g)
            ),
            None => "enabled member of a syncing group without an account".to_owned(),
        };
        self.changes
            .push(change(Action::Create, user, None, fields, &reason));
    }

    /// The user's account is theirs: linked when adopted, its mapped fields updated.
    fn claim(&mut self, user: &'a DesiredUser<'a>, found: Found) {
        let i = found.index;
        self.claimed[i] = true;
        if found.adopted {
            self.account_of.insert(user.id, i);
        }
        let acct = &self.accounts[i];
        let fields = field_diff(self.desired, user, acct, self.last);
        if found.adopted {
            self.changes.push(change(
                Action::Link,
                user,
                Some(acct),
                fields,
                "unmanaged account with the username of a syncing user (policy.adopt)",
            ));
        } else if !fields.is_empty() {
            self.changes.push(change(
                Action::Update,
                user,
                Some(acct),
                fields,
                "mapped fields differ from the directory",
            ));
        }
    }

    /// The account `i` takes the user's username (in NFC) when it has another, unless
    /// protected. Renames are ordered once all are known ([`Reconciler::ordered_renames`]).
    fn rename(&mut self, user: &'a DesiredUser<'a>, i: usize) {
        let acct = &self.accounts[i];
        let username = nfc(user.username);
        if acct.username == username {
            return;
        }
        if self.is_protected(&acct.username) {
            self.warnings.push(format!(
                "{} is protected: not renamed to {}",
                shown(&acct.username),
                shown(&username)
            ));
            return;
        }
        self.finals[i].username = username.clone();
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
        self.renames.push((i, c));
    }

    /// A returning user's blocked account is reactivated (`policy.reactivate`); a disabled
    /// user's active one is blocked.
    fn reactivate_or_block(&mut self, user: &DesiredUser, i: usize) {
        match (user.enabled, self.accounts[i].active) {
            (true, false) if self.policy.reactivate => {
                self.finals[i].active = true;
                self.changes.push(change(
                    Action::Reactivate,
                    user,
                    Some(&self.accounts[i]),
                    vec![],
                    "returning user: enabled and in a syncing group again",
                ));
            }
            (true, false) => self.warnings.push(format!(
                "{} is enabled in the directory but stays blocked (policy.reactivate is off)",
                shown(user.username)
            )),
            (false, true) => self.block(
                i,
                Some(user),
                "disabled in the directory while still in a syncing group",
            ),
            _ => {}
        }
    }

    /// Managed accounts no syncing user claims: the user left the syncing groups or the
    /// directory.
    pub(super) fn leavers(&mut self) {
        let desired = self.desired;
        for (i, acct) in self.accounts.iter().enumerate() {
            if !acct.is_managed() || self.claimed[i] || !acct.active {
                continue;
            }
            let ext = acct.external_id.as_deref().unwrap_or_default();
            let user = desired.user(ext);
            let reason = if user.is_some() {
                "left the syncing groups"
            } else {
                "gone from the directory"
            };
            self.block(i, user, reason);
        }
    }

    /// Block the account `i` (`user`'s, if it has one), unless protected.
    fn block(&mut self, i: usize, user: Option<&DesiredUser>, reason: &str) {
        let acct = &self.accounts[i];
        if self.is_protected(&acct.username) {
            self.warnings.push(format!(
                "{} is protected: not blocked although {reason}",
                shown(&acct.username)
            ));
            return;
        }
        self.finals[i].active = false;
        self.changes.push(Change {
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

    /// No two accounts may end with one username.
    pub(super) fn unique_usernames(&mut self) {
        let accounts = self.accounts;
        let mut holders: Vec<(Cow<str>, usize)> = self
            .finals
            .iter()
            .enumerate()
            .map(|(i, f)| (username_key(&f.username), i))
            .collect();
        holders.sort_unstable();
        // A username already in conflict in the directory is not reported twice (subjects are
        // shown escaped, and compared so).
        let reported: HashSet<String> = self
            .conflicts
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
            self.conflicts.push(Conflict {
                subject: shown(&held[0].0).into_owned(),
                message: format!("would be held by {} after this plan", who.join(" and ")),
                help: "a rename or create onto a username held by another account: rename or block the other account first, or fix the directory".into(),
            });
        }
    }

    /// The renames, in an order where each target is free when it runs (a cycle is a
    /// conflict).
    pub(super) fn ordered_renames(&mut self) -> Vec<Change> {
        let renames = std::mem::take(&mut self.renames);
        super::order::order_renames(renames, self.accounts, &mut self.conflicts)
    }
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
    desired: &super::Desired,
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
                    let mapping =
                        s.mapping(name, desired.mapping_digests.get(name).map(String::as_str));
                    crate::state::origin(recorded, before, after, mapping)
                }),
            })
        })
        .collect()
}
