//! The Entra ID snapshot: what `roster snapshot directory` writes for an `entra` source, and
//! what `entra_snapshot:` reads back into the same [`DirectoryState`] (so it plans to the same
//! plan) without any network.
//!
//! ```json
//! { "roster_entra_snapshot": 1,
//!   "users":  [ { "id": "…", "userPrincipalName": "…", "accountEnabled": "false", … } ],
//!   "groups": [ { "id": "…", "displayName": "Staff", "members": ["<user id>", …] },
//!               { "id": "…", "displayName": "Engineering", "members": null } ] }
//! ```
//!
//! `members` is a list for the groups whose members were read (the groups the config named when
//! the snapshot was taken), and `null` (or left out) for the others: those are listed only by
//! name, and a config naming one is refused rather than read as an empty group.
//!
//! Users keep the properties read, as text (a list where a property has several values). A
//! snapshot is input like any other: read strictly (a repeated key, a repeated ID, an ID that is
//! not one, a value that is not text are errors naming the user), never trusted.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};

use super::{checked_id, user_entry, EntraError};
use crate::model::{DirectoryState, Entry, EntryBuilder};

const FORMAT: &str = "roster_entra_snapshot";

/// The snapshot of `state` as JSON.
pub fn to_json(state: &DirectoryState) -> Value {
    let user = |e: &Entry| {
        let mut obj = Map::new();
        obj.insert("id".into(), Value::String(e.dn().into()));
        for (name, values) in e.attrs() {
            let texts: Vec<Value> = values.texts().map(|t| Value::String(t.into())).collect();
            let value = match <[Value; 1]>::try_from(texts) {
                Ok([one]) => one,
                Err(many) => Value::Array(many),
            };
            obj.insert(crate::model::attr_spelling(name).into(), value);
        }
        Value::Object(obj)
    };
    let group = |e: &Entry| {
        let name = e.values("displayName").texts().next().unwrap_or_default();
        let members = if state.unread_groups.contains(&state.identity.key(e.dn())) {
            Value::Null
        } else {
            e.values("member")
                .texts()
                .map(|m| Value::String(m.into()))
                .collect()
        };
        serde_json::json!({ "id": e.dn(), "displayName": name, "members": members })
    };
    serde_json::json!({
        FORMAT: 1,
        "users": state.users.iter().map(user).collect::<Vec<_>>(),
        "groups": state.groups.iter().map(group).collect::<Vec<_>>(),
    })
}

/// Write the snapshot of `state` to `out`.
pub fn write(state: &DirectoryState, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(state))?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Read a snapshot file.
pub fn read(path: &Path) -> miette::Result<DirectoryState> {
    let src = crate::diag::read_source(path)?;
    Ok(parse(&src.text).map_err(|what| EntraError::Snapshot {
        what: format!("{} is not an Entra ID snapshot: {what}", path.display()),
        help: Some("write it with `roster snapshot directory` from an `entra:` config; edit it only as JSON".into()),
    })?)
}

/// Parse a snapshot's text.
pub fn parse(text: &str) -> Result<DirectoryState, String> {
    let doc = crate::intranet::snapshot::strict_json(text).map_err(|e| e.to_string())?;
    let Some(doc) = doc.as_object() else {
        return Err("it is not a JSON object".into());
    };
    match doc.get(FORMAT).and_then(Value::as_u64) {
        Some(1) => {}
        Some(n) => {
            return Err(format!(
                "it is format version {n}; this Roster reads version 1"
            ))
        }
        None => return Err(format!("it has no `{FORMAT}: 1`")),
    }
    let list = |key: &str| {
        doc.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("`{key}` is not a list"))
    };
    let mut seen = rustc_hash::FxHashSet::default();
    let mut users = Vec::new();
    for (i, u) in list("users")?.iter().enumerate() {
        if let Some(bad) = u.as_object().and_then(|o| {
            o.iter().find(|(_, v)| match v {
                Value::String(_) => false,
                Value::Array(items) => !items.iter().all(Value::is_string),
                _ => true,
            })
        }) {
            return Err(format!(
                "user #{} has `{}` that is neither text nor a list of text",
                i + 1,
                crate::text::shown(bad.0)
            ));
        }
        let entry = user_entry(u).map_err(|e| format!("user #{}: {e}", i + 1))?;
        if !seen.insert(entry.dn().to_ascii_lowercase()) {
            return Err(format!(
                "user {} is listed twice",
                crate::text::shown(entry.dn())
            ));
        }
        users.push(entry);
    }
    let user_ids = std::mem::take(&mut seen);
    let identity = crate::directory::GroupIdentity::ObjectId;
    let mut warnings = Vec::new();
    let mut groups = Vec::new();
    let mut unread_groups = std::collections::BTreeSet::new();
    for (i, g) in list("groups")?.iter().enumerate() {
        let at = |e: String| format!("group #{}: {e}", i + 1);
        let id = checked_id(g.get("id")).map_err(at)?;
        if !seen.insert(id.to_ascii_lowercase()) {
            return Err(format!("group {} is listed twice", crate::text::shown(&id)));
        }
        let mut b = EntryBuilder::default();
        let too_large = |_| at("larger than 2 GiB".into());
        b.start(&id).map_err(too_large)?;
        match g.get("displayName") {
            Some(Value::String(name)) => b.text("displayName", name).map_err(too_large)?,
            None | Some(Value::Null) => {}
            Some(_) => return Err(at("`displayName` is not text".into())),
        }
        let members = match g.get("members") {
            // Not read when the snapshot was taken.
            None | Some(Value::Null) => {
                unread_groups.insert(identity.key(&id));
                &Vec::new()
            }
            Some(Value::Array(m)) => m,
            Some(_) => return Err(at("`members` is neither a list nor null".into())),
        };
        let mut strangers = 0usize;
        for m in members {
            let m = checked_id(Some(m)).map_err(at)?;
            // Graph's transitiveMembers lists users only: a member no user of the snapshot has
            // is an edited or cut file, and its person would silently get no account.
            strangers += usize::from(!user_ids.contains(&m.to_ascii_lowercase()));
            b.text("member", &m).map_err(too_large)?;
        }
        if strangers > 0 {
            warnings.push(format!(
                "the Entra ID snapshot's group {} lists {strangers} member{} that {} no user in it (an edited or cut snapshot? take it again)",
                crate::text::shown(&id),
                if strangers == 1 { "" } else { "s" },
                if strangers == 1 { "is" } else { "are" },
            ));
        }
        groups.push(b.finish());
    }
    if users.is_empty() {
        return Err("it holds no users".into());
    }
    Ok(DirectoryState {
        users,
        groups,
        identity,
        unread_groups,
        warnings,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_to_the_same_directory() {
        let text = r#"{"roster_entra_snapshot":1,
          "users":[{"id":"u-1","userPrincipalName":"ada@x","accountEnabled":"false","businessPhones":["1","2"]}],
          "groups":[{"id":"g-1","displayName":"Staff","members":["u-1"]}]}"#;
        let state = parse(text).unwrap();
        let again = parse(&to_json(&state).to_string()).unwrap();
        assert_eq!(
            crate::digest::directory(&state),
            crate::digest::directory(&again)
        );
        assert_eq!(state.users[0].values("businessPhones").texts().count(), 2);
    }

    #[test]
    fn a_member_that_is_no_user_of_the_snapshot_is_a_warning() {
        let state = parse(
            r#"{"roster_entra_snapshot":1,"users":[{"id":"u-1"}],
              "groups":[{"id":"g-1","displayName":"Staff","members":["U-1","u-9","u-8"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            state.warnings,
            ["the Entra ID snapshot's group g-1 lists 2 members that are no user in it (an edited or cut snapshot? take it again)"]
        );
    }

    #[test]
    fn a_group_whose_members_were_not_read_stays_unread() {
        let text = r#"{"roster_entra_snapshot":1,
          "users":[{"id":"u-1"}],
          "groups":[{"id":"G-1","displayName":"Staff","members":[]},
                    {"id":"G-2","displayName":"Engineering","members":null},
                    {"id":"G-3","displayName":"Sales"}]}"#;
        let state = parse(text).unwrap();
        assert_eq!(
            state.unread_groups.iter().collect::<Vec<_>>(),
            ["g-2", "g-3"]
        );
        let json = to_json(&state);
        let members: Vec<&Value> = json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| &g["members"])
            .collect();
        assert_eq!(
            members,
            [&serde_json::json!([]), &Value::Null, &Value::Null]
        );
        assert_eq!(
            parse(&json.to_string()).unwrap().unread_groups,
            state.unread_groups
        );
    }

    #[test]
    fn hostile_snapshots_are_refused_with_the_place() {
        for (text, says) in [
            ("[]", "not a JSON object"),
            (r#"{"users":[],"groups":[]}"#, "roster_entra_snapshot"),
            (
                r#"{"roster_entra_snapshot":1,"users":[{"id":"a"},{"id":"A"}],"groups":[]}"#,
                "listed twice",
            ),
            (
                r#"{"roster_entra_snapshot":1,"users":[{"id":"a","x":{"y":1}}],"groups":[]}"#,
                "user #1",
            ),
            (
                r#"{"roster_entra_snapshot":1,"users":[{"id":"a"}],"groups":[{"id":"g","members":[1]}]}"#,
                "group #1",
            ),
            (
                r#"{"roster_entra_snapshot":1,"users":[{"id":"a","id":"b"}],"groups":[]}"#,
                "appears twice",
            ),
            (
                r#"{"roster_entra_snapshot":1,"users":[],"groups":[]}"#,
                "no users",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
