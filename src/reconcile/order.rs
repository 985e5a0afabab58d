//! The order of a plan's changes: renames in an order where each target is free, then every
//! change in the order apply runs them.

use rustc_hash::FxHashSet as HashSet;

use super::Conflict;
use crate::model::Account;
use crate::plan::{Action, Change};
use crate::text::{shown, username_key};

/// Renames in an order where each target is free when it runs: A→B waits for B→C. A cycle
/// (A↔B) has no such order and is a conflict.
pub(super) fn order_renames(
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

/// The order apply runs in, safe when interrupted: links and renames first (so creates never
/// collide), then creates, updates and reactivations, grants before revokes, blocks last.
pub(super) fn order(changes: Vec<Change>, renames: Vec<Change>) -> Vec<Change> {
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
