//! The state file: the value Roster last applied to every mapped field of every managed account.
//! `apply` writes it beside the audit report; `plan` reads it to tell a change in the directory
//! (an update) from an edit in the intranet (an override to revert). Pretty JSON with sorted keys,
//! one field a line, so that its diff in the audit commit reads well.

use std::collections::{BTreeMap, HashSet};
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
}

impl State {
    /// The last-applied value of a field: `None` when unknown (no entry for the account),
    /// `Some(None)` when it was applied as empty.
    pub fn last(&self, external_id: &str, field: &str) -> Option<Option<&str>> {
        // A GUID compares without case: the state may hold it as another tool wrote it.
        let fields = self.accounts.get(external_id).or_else(|| {
            crate::directory::ldap::is_guid(external_id)
                .then(|| {
                    [
                        external_id.to_ascii_lowercase(),
                        external_id.to_ascii_uppercase(),
                    ]
                    .into_iter()
                    .find_map(|k| self.accounts.get(&k))
                })
                .flatten()
        });
        fields.map(|f| f.get(field).map(String::as_str))
    }
}

/// Which side moved since the last apply.
pub fn origin(
    last: Option<Option<&str>>,
    intranet: Option<&str>,
    directory: Option<&str>,
) -> Origin {
    match last {
        None => Origin::Differs,
        Some(l) => match (intranet != l, directory != l) {
            (true, true) => Origin::Both,
            (true, false) => Origin::Intranet,
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
/// [`crate::apply::carried_out`]) recorded. Accounts with a change that was not applied keep their
/// previous entry, so provenance is not lost for them.
pub fn after_apply(
    prev: Option<&State>,
    after: &IntranetState,
    plan: &Plan,
    not_applied: &HashSet<usize>,
    fields: &[String],
) -> State {
    let untouched: HashSet<&str> = not_applied
        .iter()
        .filter_map(|&i| plan.changes.get(i)?.external_id.as_deref())
        .collect();
    let mut state = State {
        format_version: FORMAT_VERSION,
        accounts: BTreeMap::new(),
    };
    for a in after.accounts.iter().filter(|a| a.is_managed()) {
        let id = a.external_id.clone().unwrap_or_default();
        if untouched.contains(id.as_str()) {
            if let Some(old) = prev.and_then(|p| p.accounts.get(&id)) {
                state.accounts.insert(id, old.clone());
            }
            continue;
        }
        let values = fields
            .iter()
            .filter_map(|f| Some((f.clone(), a.fields.get(f)?.to_owned())))
            .collect();
        state.accounts.insert(id, values);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin(None, Some("a"), Some("b")), Origin::Differs);
        assert_eq!(
            origin(Some(Some("a")), Some("a"), Some("b")),
            Origin::Directory
        );
        assert_eq!(
            origin(Some(Some("a")), Some("x"), Some("a")),
            Origin::Intranet
        );
        assert_eq!(origin(Some(Some("a")), Some("x"), Some("b")), Origin::Both);
        assert_eq!(origin(Some(None), Some("x"), None), Origin::Intranet);
    }
}
