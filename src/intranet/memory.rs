//! An intranet in memory, as an [`IntranetTarget`]: the real `apply` writes to it as it writes to
//! a SCIM service, with the same rules (ids assigned on create, a username held by another
//! account refused with 409, a stale `If-Match` refused with 412, members added and removed by
//! id, never a delete). The state file is derived through it, and the property tests check
//! convergence against it.

use std::sync::Mutex;

use rustc_hash::FxHashMap as HashMap;

use crate::intranet::{IntranetTarget, Reading, Sent, UserEdits, WriteOp, Written};
use crate::model::{Account, IntranetState};
use crate::report::Outcome;

fn key(username: &str) -> String {
    crate::text::username_key(username).into_owned()
}

/// An intranet in memory. Accounts created get ids `new-<n>` (unique: an id the intranet holds
/// is skipped); every write gives the resource a new ETag `W/"m<n>"`.
#[derive(Debug)]
pub struct MemoryTarget {
    inner: Mutex<Inner>,
    etags: bool,
}

#[derive(Debug)]
struct Inner {
    /// `manager` holds the manager's id here, as a SCIM service keeps it.
    state: IntranetState,
    created: usize,
    version: u64,
}

impl Inner {
    fn next_etag(&mut self) -> String {
        self.version += 1;
        format!("W/\"m{}\"", self.version)
    }

    fn taken(&self, username: &str, by_other_than: Option<&str>) -> bool {
        let k = key(username);
        self.state
            .accounts
            .iter()
            .any(|a| Some(a.id.as_str()) != by_other_than && key(&a.username) == k)
    }
}

fn conflict(username: &str) -> Outcome {
    Outcome::refused(
        409,
        format!("userName {username} is already taken (uniqueness)"),
    )
}

fn stale(what: &str) -> Outcome {
    Outcome::Stale {
        detail: format!("{what} changed since it was read (If-Match does not match)"),
    }
}

impl MemoryTarget {
    /// The intranet `state` (`manager` as the manager's username, as the model reads it).
    pub fn new(mut state: IntranetState) -> MemoryTarget {
        let ids: HashMap<String, String> = state
            .accounts
            .iter()
            .map(|a| (key(&a.username), a.id.clone()))
            .collect();
        for a in &mut state.accounts {
            let id = a.fields.get("manager").and_then(|m| ids.get(&key(m)));
            if let Some(id) = id.cloned() {
                a.fields.insert("manager", id);
            }
        }
        MemoryTarget {
            inner: Mutex::new(Inner {
                state,
                created: 0,
                version: 0,
            }),
            etags: true,
        }
    }

    /// Writes carry no `If-Match`, as to a service without ETags.
    pub fn without_etags(mut self) -> MemoryTarget {
        self.etags = false;
        self
    }

    /// The intranet now, as the model reads it (`manager` as the manager's username).
    pub fn state(&self) -> IntranetState {
        let mut state = match self.inner.lock() {
            Ok(inner) => inner.state.clone(),
            Err(poisoned) => poisoned.into_inner().state.clone(),
        };
        // A manager that was no account when the intranet was given stays as it was.
        crate::intranet::snapshot::managers_by_name(&mut state, str::to_owned);
        state
    }

    /// Carry out one write, at once.
    pub fn carry_out(&self, write: &WriteOp) -> Sent {
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        match write {
            WriteOp::Create {
                username,
                external_id,
                fields,
            } => {
                if inner.taken(username, None) {
                    return Err(conflict(username));
                }
                // Never an id the intranet already has (it may come from an earlier run).
                let id = loop {
                    inner.created += 1;
                    let id = format!("new-{}", inner.created);
                    if !inner.state.accounts.iter().any(|a| a.id == id) {
                        break id;
                    }
                };
                let etag = inner.next_etag();
                let mut account = Account {
                    id: id.clone(),
                    username: username.clone(),
                    external_id: external_id.clone(),
                    active: true,
                    fields: Default::default(),
                    etag: Some(etag.clone()),
                };
                for (name, value) in fields {
                    if let Some(v) = value {
                        account.fields.insert(name, v.clone());
                    }
                }
                inner.state.accounts.push(account);
                Ok(Written {
                    id: Some(id),
                    etag: Some(etag),
                    not_stored: Vec::new(),
                })
            }
            WriteOp::User {
                id,
                if_match,
                edits,
            } => self.edit_user(&mut inner, id, if_match.as_deref(), edits),
            WriteOp::Members {
                group_id,
                if_match,
                add,
                members,
            } => {
                let etag = inner.next_etag();
                let Some(group) = inner.state.groups.iter_mut().find(|g| &g.id == group_id) else {
                    return Err(Outcome::refused(404, format!("no Group {group_id}")));
                };
                if let (true, Some(wanted), Some(now)) = (self.etags, if_match, &group.etag) {
                    if wanted != now {
                        return Err(stale(&format!("Group {}", group.display_name)));
                    }
                }
                for m in members {
                    if *add {
                        if !group.members.contains(m) {
                            group.members.push(m.clone());
                        }
                    } else {
                        group.members.retain(|x| x != m);
                    }
                }
                group.etag = Some(etag.clone());
                Ok(Written {
                    id: Some(group_id.clone()),
                    etag: Some(etag),
                    not_stored: Vec::new(),
                })
            }
        }
    }

    fn edit_user(
        &self,
        inner: &mut Inner,
        id: &str,
        if_match: Option<&str>,
        edits: &UserEdits,
    ) -> Sent {
        let Some(i) = inner.state.accounts.iter().position(|a| a.id == id) else {
            return Err(Outcome::refused(404, format!("no User {id}")));
        };
        let a = &inner.state.accounts[i];
        if let (true, Some(wanted), Some(now)) = (self.etags, if_match, &a.etag) {
            if wanted != now {
                return Err(stale(&format!("User {}", a.username)));
            }
        }
        let rename = edits.fields.iter().find(|f| f.name == "username");
        if let Some(name) = rename.and_then(|f| f.after.as_deref()) {
            if inner.taken(name, Some(id)) {
                return Err(conflict(name));
            }
        }
        let etag = inner.next_etag();
        let a = &mut inner.state.accounts[i];
        if let Some(ext) = &edits.external_id {
            a.external_id = Some(ext.clone());
        }
        if let Some(active) = edits.active {
            a.active = active;
        }
        for f in &edits.fields {
            match (f.name.as_str(), &f.after) {
                ("username", Some(v)) => a.username = v.clone(),
                ("username", None) => {}
                (name, Some(v)) => {
                    a.fields.insert(name, v.clone());
                }
                (name, None) => {
                    a.fields.remove(name);
                }
            }
        }
        a.etag = Some(etag.clone());
        Ok(Written {
            id: Some(id.to_string()),
            etag: Some(etag),
            not_stored: Vec::new(),
        })
    }
}

impl IntranetTarget for MemoryTarget {
    async fn read(&self) -> miette::Result<Reading> {
        Ok(Reading {
            state: self.state(),
            read: None,
        })
    }

    fn etags(&self) -> bool {
        self.etags
    }

    async fn write(&self, write: &WriteOp) -> Sent {
        self.carry_out(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Group;
    use crate::plan::FieldChange;

    fn account(id: &str, username: &str) -> Account {
        Account {
            id: id.into(),
            username: username.into(),
            external_id: None,
            active: true,
            fields: Default::default(),
            etag: Some("W/\"1\"".into()),
        }
    }

    fn intranet() -> MemoryTarget {
        MemoryTarget::new(IntranetState {
            accounts: vec![account("a", "ada"), account("b", "bob")],
            groups: vec![Group {
                id: "g".into(),
                display_name: "Staff".into(),
                members: vec![],
                etag: None,
            }],
        })
    }

    fn rename(id: &str, from: &str, to: &str, if_match: Option<&str>) -> WriteOp {
        WriteOp::User {
            id: id.into(),
            if_match: if_match.map(String::from),
            edits: UserEdits {
                fields: vec![FieldChange::new(
                    "username",
                    Some(from.into()),
                    Some(to.into()),
                )],
                ..UserEdits::default()
            },
        }
    }

    #[test]
    fn a_username_another_account_holds_is_refused_as_a_service_would() {
        let m = intranet();
        let create = WriteOp::Create {
            username: "ADA".into(),
            external_id: None,
            fields: vec![],
        };
        let e = m.carry_out(&create).unwrap_err();
        assert!(
            matches!(
                e,
                Outcome::Failed {
                    http_status: Some(409),
                    ..
                }
            ),
            "{e:?}"
        );
        let e = m.carry_out(&rename("b", "bob", "Ada", None)).unwrap_err();
        assert!(
            matches!(
                e,
                Outcome::Failed {
                    http_status: Some(409),
                    ..
                }
            ),
            "{e:?}"
        );
        // Its own name in another case is no collision.
        m.carry_out(&rename("a", "ada", "Ada", None)).unwrap();
    }

    #[test]
    fn a_stale_if_match_is_refused_and_each_write_moves_the_etag() {
        let m = intranet();
        let w = m
            .carry_out(&rename("a", "ada", "ann", Some("W/\"1\"")))
            .unwrap();
        assert_ne!(w.etag.as_deref(), Some("W/\"1\""));
        let e = m
            .carry_out(&rename("a", "ann", "amy", Some("W/\"1\"")))
            .unwrap_err();
        assert!(matches!(e, Outcome::Stale { .. }), "{e:?}");
        // Without ETags, If-Match is not checked.
        let m = intranet().without_etags();
        m.carry_out(&rename("a", "ada", "ann", Some("W/\"0\"")))
            .unwrap();
    }

    #[test]
    fn creates_get_ids_members_change_by_id_and_managers_follow_renames() {
        let m = intranet();
        let w = m
            .carry_out(&WriteOp::Create {
                username: "cy".into(),
                external_id: Some("id-c".into()),
                fields: vec![("manager".into(), Some("a".into()))],
            })
            .unwrap();
        assert_eq!(w.id.as_deref(), Some("new-1"));
        // An intranet that already holds `new-1` (from an earlier run) gets `new-2`.
        let again = MemoryTarget::new(m.state());
        let create = WriteOp::Create {
            username: "di".into(),
            external_id: None,
            fields: vec![],
        };
        assert_eq!(
            again.carry_out(&create).unwrap().id.as_deref(),
            Some("new-2")
        );
        let members = |add, members: &[&str]| WriteOp::Members {
            group_id: "g".into(),
            if_match: None,
            add,
            members: members.iter().map(|s| s.to_string()).collect(),
        };
        m.carry_out(&members(true, &["new-1", "b", "b"])).unwrap();
        m.carry_out(&members(false, &["b"])).unwrap();
        m.carry_out(&rename("a", "ada", "ann", None)).unwrap();
        let state = m.state();
        assert_eq!(state.groups[0].members, ["new-1"]);
        let cy = state.accounts.iter().find(|a| a.username == "cy").unwrap();
        assert_eq!(cy.fields.get("manager"), Some("ann"));
        assert_eq!(state.accounts.len(), 3);
    }
}
