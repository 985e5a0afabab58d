//! The state file: the value Roster last applied to every mapped field of every managed account,
//! and a digest of each field's mapping then. `apply` writes it beside the audit report; `plan`
//! reads it to tell a change in the directory (an update) from an edit in the intranet (an
//! override to revert) and from a change of the config (a new mapping, an edited template).
//! Pretty JSON with sorted keys, one field a line, so that its diff in the audit commit reads
//! well.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diag::{read_source, SourceError};
use crate::model::IntranetState;
use crate::plan::{Origin, Plan};

pub const FORMAT_VERSION: u32 = 1;

/// Default file name, beside the config.
pub const DEFAULT_PATH: &str = "roster.state.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Directory immutable ID → field → last-applied value. A field missing from a present
    /// account was applied as empty.
    pub accounts: BTreeMap<String, BTreeMap<String, String>>,
    /// Field → digest of its mapping when the values were applied
    /// ([`crate::reconcile::mapping::digest`]). Absent in state files written before it: the
    /// config's part is then unknown, and a difference is told as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mappings: BTreeMap<String, String>,
    /// Directory immutable ID → the fields Roster sent that the service answered without (it
    /// did not store them: see [`crate::report::NotStored`]). Their last-applied value is
    /// unknown, so the next plan says "differs" rather than blaming an edit in the intranet.
    /// Kept until a write of the field is stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_stored: BTreeMap<String, BTreeSet<String>>,
}

impl State {
    /// The last-applied value of a field: `None` when unknown (no entry for the account),
    /// `Some(None)` when it was applied as empty.
    pub fn last(&self, external_id: &str, field: &str) -> Option<Option<&str>> {
        // A field its apply did not map was never applied: unknown, not "applied as empty".
        if !self.mappings.is_empty() && !self.mappings.contains_key(field) {
            return None;
        }
        let key = self.key(external_id)?;
        if self.not_stored.get(key).is_some_and(|f| f.contains(field)) {
            return None;
        }
        self.accounts
            .get(key)
            .map(|f| f.get(field).map(String::as_str))
    }

    /// The key the state holds `external_id` under. A GUID compares without case: the state
    /// may hold it as another tool wrote it.
    fn key(&self, external_id: &str) -> Option<&str> {
        let found = |k: &str| self.accounts.get_key_value(k).map(|(k, _)| k.as_str());
        found(external_id).or_else(|| {
            crate::directory::ldap::is_guid(external_id)
                .then(|| {
                    [
                        external_id.to_ascii_lowercase(),
                        external_id.to_ascii_uppercase(),
                    ]
                    .into_iter()
                    .find_map(|k| found(&k))
                })
                .flatten()
        })
    }

    /// Whether the mapping of `field` changed since the values were applied: `false` when the
    /// state does not know it (an older state file, a new field).
    pub fn mapping_changed(&self, field: &str, now: Option<&str>) -> bool {
        self.mappings
            .get(field)
            .zip(now)
            .is_some_and(|(then, now)| then != now)
    }

    /// How the mapping of `field` stands against the one the values were applied with: new
    /// when the state records the mappings of its apply and this field was not among them.
    pub fn mapping(&self, field: &str, now: Option<&str>) -> Mapping {
        if !self.mappings.is_empty() && now.is_some() && !self.mappings.contains_key(field) {
            Mapping::New
        } else if self.mapping_changed(field, now) {
            Mapping::Changed
        } else {
            Mapping::Same
        }
    }
}

/// A field's mapping against the one its last-applied values were made with ([`State::mapping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// The same, or not known (an older state file).
    Same,
    /// Edited since (another attribute, another template).
    Changed,
    /// Not mapped when the values were applied: every value it makes is the config's doing.
    New,
}

impl From<bool> for Mapping {
    fn from(changed: bool) -> Mapping {
        if changed {
            Mapping::Changed
        } else {
            Mapping::Same
        }
    }
}

/// Which side moved since the last apply. When the field's mapping changed since and the
/// intranet still holds the value applied then, the new value is the config's doing; so is every
/// value of a field the config maps anew ([`Mapping::New`]), whatever the intranet held.
pub fn origin(
    last: Option<Option<&str>>,
    intranet: Option<&str>,
    directory: Option<&str>,
    mapping: impl Into<Mapping>,
) -> Origin {
    let mapping = mapping.into();
    let mapping_changed = mapping == Mapping::Changed;
    match last {
        _ if mapping == Mapping::New => Origin::Config,
        None => Origin::Differs,
        Some(l) => match (intranet != l, directory != l) {
            (true, true) => Origin::Both,
            (true, false) => Origin::Intranet,
            (false, true) if mapping_changed => Origin::Config,
            (false, true) => Origin::Directory,
            (false, false) => Origin::Differs,
        },
    }
}

/// Read the state file; `None` when there is none yet (first run).
pub fn read(path: &Path) -> miette::Result<Option<State>> {
    if !path.exists() {
        return Ok(None);
    }
    let src = read_source(path)?;
    let state: State = serde_json::from_str(&src.text).map_err(|e| {
        SourceError::at("roster::state", &src, e.line(), e.column(), format!("malformed state file: {}", crate::diag::json_message(&e)))
            .label("here")
            .help("the state file is written by `roster apply`; restore it from git (`git checkout -- <file>`) or delete it to start over (the next plan then says \"differs\")")
    })?;
    Ok(Some(state))
}

pub fn render(state: &State) -> String {
    let mut s = serde_json::to_string_pretty(state).expect("state is JSON");
    s.push('\n');
    s
}

/// The state after an apply: the mapped fields of every managed account of `after` (the
/// intranet as it was read, with the changes that were applied carried out: see
/// [`crate::apply::carried_out`]) recorded, with the `mappings` that made them. Accounts with a
/// change that was not applied keep their previous entry, so provenance is not lost for them;
/// unless a mapping changed since, as those values were made by the old one (the account's
/// provenance is then unknown until its next apply). `not_stored`: directory immutable ID → the
/// fields this apply sent that the service answered without; they are not recorded as applied
/// (see [`State::not_stored`]), nor are those an earlier apply found not stored and this one did
/// not write.
pub fn after_apply(
    prev: Option<&State>,
    after: &IntranetState,
    plan: &Plan,
    not_applied: &HashSet<usize>,
    fields: &[String],
    mappings: &BTreeMap<String, String>,
    not_stored: &BTreeMap<String, BTreeSet<String>>,
) -> State {
    // The fields each account's applied changes wrote.
    let mut wrote: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if let (false, Some(id)) = (not_applied.contains(&i), c.external_id.as_deref()) {
            wrote
                .entry(id)
                .or_default()
                .extend(c.fields.iter().map(|f| f.name.as_str()));
        }
    }
    let untouched: HashSet<&str> = not_applied
        .iter()
        .filter_map(|&i| plan.changes.get(i)?.external_id.as_deref())
        .collect();
    let mut state = State {
        format_version: FORMAT_VERSION,
        accounts: BTreeMap::new(),
        mappings: mappings.clone(),
        not_stored: BTreeMap::new(),
    };
    // A mapping edited or new since the last apply: an account left untouched keeps no
    // entry, as its recorded values were not made by the mappings recorded now.
    let remapped = prev.is_some_and(|p| {
        mappings
            .iter()
            .any(|(f, d)| p.mapping(f, Some(d)) != Mapping::Same)
    });
    for a in after.accounts.iter().filter(|a| a.is_managed()) {
        let id = a.external_id.clone().unwrap_or_default();
        if untouched.contains(id.as_str()) {
            if let Some(old) = prev.and_then(|p| p.accounts.get(&id)).filter(|_| !remapped) {
                state.accounts.insert(id.clone(), old.clone());
                if let Some(old) = prev.and_then(|p| p.not_stored.get(&id)) {
                    state.not_stored.insert(id, old.clone());
                }
            }
            continue;
        }
        let written = wrote.get(id.as_str());
        let mut unstored: BTreeSet<String> = prev
            .and_then(|p| p.not_stored.get(&id))
            .into_iter()
            .flatten()
            .filter(|f| !written.is_some_and(|w| w.contains(f.as_str())))
            .cloned()
            .collect();
        unstored.extend(not_stored.get(&id).into_iter().flatten().cloned());
        let values = fields
            .iter()
            .filter(|f| !unstored.contains(*f))
            .filter_map(|f| Some((f.clone(), a.fields.get(f)?.to_owned())))
            .collect();
        state.accounts.insert(id.clone(), values);
        if !unstored.is_empty() {
            state.not_stored.insert(id, unstored);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for remapped in [false, true] {
            assert_eq!(
                origin(None, Some("a"), Some("b"), remapped),
                Origin::Differs
            );
            assert_eq!(
                origin(Some(Some("a")), Some("x"), Some("a"), remapped),
                Origin::Intranet
            );
            assert_eq!(
                origin(Some(Some("a")), Some("x"), Some("b"), remapped),
                Origin::Both
            );
            assert_eq!(
                origin(Some(None), Some("x"), None, remapped),
                Origin::Intranet
            );
        }
        assert_eq!(
            origin(Some(Some("a")), Some("a"), Some("b"), false),
            Origin::Directory
        );
        assert_eq!(
            origin(Some(Some("a")), Some("a"), Some("b"), true),
            Origin::Config
        );
        // A field the config maps anew: the config's doing, whatever the intranet held and
        // whether or not the account has a state entry.
        for last in [None, Some(None)] {
            for intranet in [None, Some("by hand")] {
                assert_eq!(
                    origin(last, intranet, Some("ada"), Mapping::New),
                    Origin::Config
                );
            }
        }
    }

    #[test]
    fn an_account_an_apply_left_untouched_keeps_no_entry_when_a_mapping_is_new() {
        use crate::model::{Account, IntranetState};
        use crate::plan::{Action, Change, Plan};
        let prev: State = serde_json::from_str(
            r#"{ "format_version": 1, "accounts": { "u1": { "email": "a@x" }, "u2": { "email": "b@x" } },
                 "mappings": { "email": "e1" } }"#,
        )
        .unwrap();
        let account = |id: &str, ext: &str| Account {
            id: id.into(),
            username: id.into(),
            external_id: Some(ext.into()),
            active: true,
            fields: [("email", format!("{ext}@x"))].into_iter().collect(),
            etag: None,
        };
        let after = IntranetState {
            accounts: vec![account("a1", "u1"), account("a2", "u2")],
            groups: vec![],
        };
        let change = |ext: &str| Change {
            action: Action::Update,
            username: ext.into(),
            external_id: Some(ext.into()),
            intranet_id: None,
            etag: None,
            fields: vec![],
            role: None,
            reason: String::new(),
        };
        let plan = Plan::new(Default::default(), vec![], vec![change("u1"), change("u2")]);
        let fields = vec!["email".to_owned(), "employee_number".to_owned()];
        let mappings: BTreeMap<String, String> = [
            ("email".to_owned(), "e1".to_owned()),
            ("employee_number".to_owned(), "n1".to_owned()),
        ]
        .into();
        // u2's change failed: its old entry holds no employee_number, which would read as
        // "applied as empty" under mappings that now list it.
        let not_applied: HashSet<usize> = [1].into();
        let state = after_apply(
            Some(&prev),
            &after,
            &plan,
            &not_applied,
            &fields,
            &mappings,
            &BTreeMap::new(),
        );
        assert!(state.accounts.contains_key("u1"));
        assert!(!state.accounts.contains_key("u2"), "{:?}", state.accounts);
        assert_eq!(state.last("u2", "employee_number"), None);
    }

    #[test]
    fn a_field_the_applied_mappings_lack_is_new_when_the_state_records_mappings() {
        let state: State = serde_json::from_str(
            r#"{ "format_version": 1, "accounts": { "u1": { "email": "a@x" } }, "mappings": { "email": "abc" } }"#,
        )
        .unwrap();
        assert_eq!(state.mapping("employee_number", Some("d1")), Mapping::New);
        assert_eq!(state.last("u1", "employee_number"), None, "never applied");
        assert_eq!(state.last("u1", "email"), Some(Some("a@x")));
        assert_eq!(state.mapping("email", Some("abc")), Mapping::Same);
        assert_eq!(state.mapping("email", Some("def")), Mapping::Changed);
        // An older state file records no mappings: nothing is known to be new.
        let old: State =
            serde_json::from_str(r#"{ "format_version": 1, "accounts": {} }"#).unwrap();
        assert_eq!(old.mapping("employee_number", Some("d1")), Mapping::Same);
    }

    #[test]
    fn a_state_file_without_mappings_loads_and_knows_no_mapping() {
        let old = r#"{ "format_version": 1, "accounts": { "u1": { "email": "a@x" } } }"#;
        let state: State = serde_json::from_str(old).unwrap();
        assert!(state.mappings.is_empty());
        assert!(!state.mapping_changed("email", Some("abc")));
        assert!(!render(&state).contains("mappings"));
        let state = State {
            mappings: [("email".to_owned(), "abc".to_owned())].into(),
            ..state
        };
        assert!(state.mapping_changed("email", Some("def")));
        assert!(!state.mapping_changed("email", Some("abc")));
        assert!(!state.mapping_changed("phone", Some("abc")));
    }

    #[test]
    fn a_field_the_service_did_not_store_has_no_last_applied_value() {
        let text = r#"{ "format_version": 1, "accounts": { "u1": { "email": "a@x" } },
            "not_stored": { "u1": ["job_title"] } }"#;
        let state: State = serde_json::from_str(text).unwrap();
        assert_eq!(state.last("u1", "job_title"), None, "unknown");
        assert_eq!(state.last("u1", "email"), Some(Some("a@x")));
        assert_eq!(state.last("u1", "phone"), Some(None), "applied as empty");
        assert!(render(&state).contains("not_stored"));
        let old: State = serde_json::from_str(
            r#"{ "format_version": 1, "accounts": { "u1": { "email": "a@x" } } }"#,
        )
        .unwrap();
        assert!(old.not_stored.is_empty() && !render(&old).contains("not_stored"));
    }
}
