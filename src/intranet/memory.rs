//! Carrying out a plan on an in-memory intranet. Used to check that a plan converges (apply it,
//! plan again: nothing left) and to preview the state a plan leads to. It mirrors what the SCIM
//! apply does to the server, action for action, and like it never removes an account.

use rustc_hash::FxHashMap as HashMap;

use crate::model::{Account, IntranetState};
use crate::plan::{Action, Plan};

fn key(username: &str) -> String {
    crate::text::username_key(username).into_owned()
}

/// Apply every change of `plan` to `state`. Accounts created get ids `new-<n>`.
pub fn apply(state: &mut IntranetState, plan: &Plan) {
    let mut created = 0;
    // Where each account is, by SCIM id and by username as compared (NFC, lowercase: kept up to
    // date below).
    let mut by_id: HashMap<String, usize> = state
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    let mut by_name: HashMap<String, usize> = state
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (key(&a.username), i))
        .collect();
    for c in &plan.changes {
        let found = match &c.intranet_id {
            Some(id) => by_id.get(id).copied(),
            None => by_name.get(&key(&c.username)).copied(),
        };
        let find = |_: &IntranetState| found;
        match c.action {
            Action::Create => {
                created += 1;
                by_id.insert(format!("new-{created}"), state.accounts.len());
                by_name.insert(key(&c.username), state.accounts.len());
                state.accounts.push(Account {
                    id: format!("new-{created}"),
                    username: c.username.clone(),
                    external_id: c.external_id.clone(),
                    active: true,
                    fields: c
                        .fields
                        .iter()
                        .filter_map(|f| Some((f.name.clone(), f.after.clone()?)))
                        .collect(),
                    etag: None,
                });
            }
            Action::Grant | Action::Revoke => {
                let Some(role) = &c.role else { continue };
                let member = match c.action {
                    Action::Grant => find(state).map(|i| state.accounts[i].id.clone()),
                    _ => c.intranet_id.clone(),
                };
                let (Some(member), Some(group)) = (
                    member,
                    state.groups.iter_mut().find(|g| g.id == role.group_id),
                ) else {
                    continue;
                };
                if c.action == Action::Grant {
                    if !group.members.contains(&member) {
                        group.members.push(member);
                    }
                } else {
                    group.members.retain(|m| m != &member);
                }
            }
            _ => {
                let Some(i) = find(state) else { continue };
                let a = &mut state.accounts[i];
                match c.action {
                    Action::Link => a.external_id = c.external_id.clone(),
                    Action::Rename => {
                        by_name.remove(&key(&a.username));
                        by_name.insert(key(&c.username), i);
                        a.username = c.username.clone();
                    }
                    Action::Reactivate => a.active = true,
                    Action::Block => a.active = false,
                    _ => {}
                }
                for f in &c.fields {
                    if f.name == "username" {
                        continue;
                    }
                    match &f.after {
                        Some(v) => a.fields.insert(&f.name, v.clone()),
                        None => a.fields.remove(&f.name),
                    };
                }
            }
        }
    }
}
