//! The role passes of a [`Reconciler`], after the account passes: for each admin role, the
//! holders the config names (as accounts after the plan), the grants to those whose account
//! will be active, and the revokes of every other member of the role's intranet group.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{Conflict, DesiredRole, Reconciler};
use crate::model::Account;
use crate::plan::{Action, Change, RoleRef};
use crate::text::{shown, username_key};

/// What the role passes look accounts up by, built once for every role.
struct RoleIndex<'a> {
    /// Accounts by SCIM id, for the members of the roles' groups only (few, against millions).
    by_id: HashMap<&'a str, usize>,
    /// A username the roles list → the account of the first syncing user with it (existing or
    /// created by this plan), compared without case.
    synced_by_name: HashMap<String, Option<usize>>,
    /// A username the roles list → the first account holding it after the plan.
    final_by_name: HashMap<String, usize>,
}

/// One role's intranet group as the plan found it.
struct RoleGroup<'a> {
    role: &'a DesiredRole,
    group: RoleRef,
    /// The ids of the group's members now.
    members: BTreeSet<&'a str>,
}

impl RoleGroup<'_> {
    /// Whether the account `i` (an index in `finals`) is a member now.
    fn has(&self, accounts: &[Account], i: usize) -> bool {
        i < accounts.len() && self.members.contains(accounts[i].id.as_str())
    }

    /// The warning for a holder the config names who gets no grant.
    fn left_out(&self, who: &str, why: &str) -> String {
        format!(
            "role {}: {who} {why}; that grant is left out",
            self.role.name
        )
    }
}

impl<'a> Reconciler<'a> {
    /// Every admin role: its holders, grants, then revokes.
    pub(super) fn roles(&mut self) {
        let index = self.role_index();
        let desired = self.desired;
        for role in &desired.roles {
            let Some(group) = self.role_group(role) else {
                continue;
            };
            let named = self.holders(&group, &index);
            self.grants(&group, &named);
            self.revokes(&group, &named, &index);
        }
    }

    fn role_index(&self) -> RoleIndex<'a> {
        let (desired, accounts) = (self.desired, self.accounts);
        let members: HashSet<&str> = self
            .observed
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
        let by_id = accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| members.contains(a.id.as_str()))
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        // Found in one pass each over the syncing users and the accounts (the first one wins,
        // in their order).
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
                        .or_insert_with(|| self.index_of(u.id));
                }
            }
            for (i, f) in self.finals.iter().enumerate() {
                let key = username_key(&f.username);
                if listed.contains(key.as_ref()) {
                    final_by_name.entry(key.into_owned()).or_insert(i);
                }
            }
        }
        RoleIndex {
            by_id,
            synced_by_name,
            final_by_name,
        }
    }

    /// The role's intranet group; a role whose group the intranet lacks is a conflict.
    fn role_group(&mut self, role: &'a DesiredRole) -> Option<RoleGroup<'a>> {
        let Some(group) = self.observed.role_group(&role.intranet_group) else {
            self.conflicts.push(Conflict {
                subject: format!("role {}", shown(&role.name)),
                message: format!("the intranet has no group named `{}`", shown(&role.intranet_group)),
                help: "create the group in the intranet (Roster never creates or deletes groups), or fix `intranet_group`".into(),
            });
            return None;
        };
        Some(RoleGroup {
            role,
            group: RoleRef {
                role: role.name.clone(),
                group: group.display_name.clone(),
                group_id: group.id.clone(),
                group_etag: group.etag.clone(),
            },
            members: group.members.iter().map(String::as_str).collect(),
        })
    }

    /// The holders the config names, as indices into `finals`. A named holder whose account
    /// will not be active gets no grant (a warning says so), but keeps a membership it has:
    /// there is nothing to revoke.
    fn holders(&mut self, g: &RoleGroup, index: &RoleIndex) -> BTreeSet<usize> {
        let (desired, accounts, role) = (self.desired, self.accounts, g.role);
        let mut named: BTreeSet<usize> = BTreeSet::new();
        let mut left_out = Vec::new();
        let inactive = |i: usize| !self.finals[i].active && !g.has(accounts, i);
        for id in &role.member_ids {
            let Some(user) = desired.user(id) else {
                continue;
            };
            let who = shown(user.username);
            match self.index_of(id) {
                Some(i) => {
                    named.insert(i);
                    if inactive(i) {
                        left_out.push(g.left_out(&who, "will not have an active account"));
                    }
                }
                None if !user.syncing => left_out.push(g.left_out(
                    &who,
                    "is not in a syncing group and will have no active account",
                )),
                None => left_out.push(g.left_out(&who, "will not have an active account")),
            }
        }
        for dn in &role.unknown_members {
            left_out.push(g.left_out(&shown(dn), "is not a directory user Roster reads"));
        }
        for name in &role.usernames {
            let key = username_key(name);
            let synced = index.synced_by_name.get(key.as_ref()).copied().flatten();
            match synced.or_else(|| index.final_by_name.get(key.as_ref()).copied()) {
                Some(i) => {
                    named.insert(i);
                    if inactive(i) {
                        left_out.push(g.left_out(&shown(name), "will not have an active account"));
                    }
                }
                None => left_out.push(g.left_out(&shown(name), "has no intranet account")),
            }
        }
        self.warnings.extend(left_out);
        named
    }

    /// A grant to each named holder whose account will be active and is not a member yet.
    fn grants(&mut self, g: &RoleGroup, named: &BTreeSet<usize>) {
        let accounts = self.accounts;
        let reason = format!("should hold {}", g.role.name);
        let mut grants: Vec<Change> = named
            .iter()
            .copied()
            .filter(|&i| self.finals[i].active && !g.has(accounts, i))
            .map(|i| {
                role_change(
                    Action::Grant,
                    &self.finals[i].username,
                    accounts.get(i),
                    &g.group,
                    &reason,
                )
            })
            .collect();
        grants.sort_by(|a, b| a.username.cmp(&b.username));
        self.changes.extend(grants);
    }

    /// A revoke for each member of the group the config does not name, unless protected; a
    /// member id that matches no account is revoked too.
    fn revokes(&mut self, g: &RoleGroup, named: &BTreeSet<usize>, index: &RoleIndex) {
        let (accounts, role) = (self.accounts, g.role);
        let mut revokes = Vec::new();
        for member in &g.members {
            match index.by_id.get(member) {
                Some(&i) if named.contains(&i) => {}
                Some(&i) if self.is_protected(&accounts[i].username) => {
                    self.warnings.push(format!(
                        "{} is protected: keeps {} although the config does not grant it",
                        shown(&accounts[i].username),
                        role.name
                    ));
                }
                Some(&i) => {
                    let why = if self.finals[i].active {
                        format!("not among the configured holders of {}", role.name)
                    } else {
                        format!(
                            "not among the configured holders of {} (and blocked)",
                            role.name
                        )
                    };
                    revokes.push(role_change(
                        Action::Revoke,
                        &self.finals[i].username,
                        Some(&accounts[i]),
                        &g.group,
                        &why,
                    ));
                }
                None => {
                    let mut c = role_change(
                        Action::Revoke,
                        member,
                        None,
                        &g.group,
                        "member id matches no intranet account",
                    );
                    c.intranet_id = Some((*member).to_owned());
                    revokes.push(c);
                }
            }
        }
        revokes.sort_by(|a, b| a.username.cmp(&b.username));
        self.changes.extend(revokes);
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
