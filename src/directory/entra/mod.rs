//! Microsoft Entra ID over Microsoft Graph, and its JSON snapshot.
//!
//! - `auth`: the client credentials grant, the token kept for its lifetime, never printed;
//! - `client`: GET with the token, retries on throttling, Graph's errors in the user's terms;
//! - `read`: users (`$select`, `$top=999`, `@odata.nextLink`, `$count` checked), group names,
//!   and the transitive members of the groups the config names;
//! - `delta`: warm reads through `/users/delta`, the delta link kept in `.roster/`;
//! - `snapshot`: the JSON file `roster snapshot directory` writes and `entra_snapshot:` reads;
//! - `error`: [`EntraError`].
//!
//! Each user becomes an [`Entry`] whose "DN" is its object `id` and whose attributes are the
//! selected Graph properties as text (`accountEnabled` → `"true"`/`"false"`, a list → one value
//! each); each group an entry whose DN is its object ID, with `displayName` and, for the groups
//! the config names, `member` values holding user object IDs.

mod auth;
mod client;
mod delta;
mod error;
mod read;
pub mod snapshot;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use error::EntraError;

use crate::config::{DirectoryConfig, DisabledRule, EntraConfig};
use crate::model::{DirectoryState, Entry, EntryBuilder};

/// Read Entra ID: the users with the properties `attributes` (the mapped ones) and the ones the
/// config keys on, and the groups `groups` names. With a `cache` folder, users are read through
/// the delta query when the cache there can be trusted and may be used (`(folder, use it)`;
/// `--refresh full` reads everything and rewrites it; see `delta`).
pub async fn read(
    cfg: &EntraConfig,
    directory: &DirectoryConfig,
    attributes: &[String],
    base_dir: &Path,
    groups: &[&str],
    cache: Option<(PathBuf, bool)>,
) -> Result<DirectoryState, EntraError> {
    let select = select(directory, attributes)?;
    let client = client::GraphClient::from_config(cfg, base_dir, |k| std::env::var(k).ok())?;
    let users = async {
        let Some((dir, use_cache)) = cache.filter(|_| cfg.cache) else {
            return read::users(&client, &select).await;
        };
        let key = delta::Key {
            graph_url: client.base.to_string(),
            tenant: cfg.tenant_id.clone(),
            client: cfg.client_id.clone(),
            select: select.clone(),
        };
        let (users, how) = delta::users(&client, &select, key, &dir, use_cache).await?;
        match how {
            delta::How::Delta { changes } => crate::say!(
                "Read {} Entra ID users through the delta query ({changes} changed since the cached read).",
                users.len()
            ),
            delta::How::Full { why } => crate::say!(
                "Read all {} Entra ID users ({why}); the next read asks only for changes.",
                users.len()
            ),
        }
        Ok(users)
    };
    let (users, (groups, unread_groups)) = tokio::try_join!(users, read::groups(&client, groups))?;
    if users.is_empty() {
        return Err(EntraError::NoUsers);
    }
    Ok(DirectoryState {
        users,
        groups,
        identity: crate::directory::GroupIdentity::ObjectId,
        disabled_by_filter: None,
        warnings: Vec::new(),
        unread_groups,
    })
}

/// The `$select` list: the object ID, the config's ID, username and disabled attributes, and
/// the mapped ones, each once (without case); `extensionAttribute1`..`15` are read through
/// `onPremisesExtensionAttributes`. A name Graph could not hold is refused before any traffic.
pub fn select(directory: &DirectoryConfig, attributes: &[String]) -> Result<String, EntraError> {
    let disabled = match directory.disabled_rule() {
        Some(DisabledRule::Attribute(a)) => Some(a.name.as_str()),
        _ => None,
    };
    let mut names: Vec<&str> = vec![
        "id",
        directory.id_attribute(),
        directory.username_attribute(),
    ];
    names.extend(disabled);
    names.extend(attributes.iter().map(String::as_str));
    let mut out: Vec<&str> = Vec::new();
    for name in names {
        let name = if on_premises_extension(name) {
            "onPremisesExtensionAttributes"
        } else {
            name
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EntraError::Property {
                property: crate::text::shown(name).into_owned(),
                message: "a Graph property name holds only letters, digits and `_`".into(),
            });
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            out.push(name);
        }
    }
    Ok(out.join(","))
}

/// `extensionAttribute1`..`extensionAttribute15`, which Graph keeps in
/// `onPremisesExtensionAttributes`.
fn on_premises_extension(name: &str) -> bool {
    name.len() > 18
        && name[..18].eq_ignore_ascii_case("extensionAttribute")
        && name[18..]
            .parse::<u8>()
            .is_ok_and(|n| (1..=15).contains(&n))
}

/// An object ID as Graph sends it: a non-empty string of printable characters without `/`.
pub(crate) fn checked_id(v: Option<&Value>) -> Result<String, String> {
    match v {
        Some(Value::String(id))
            if !id.trim().is_empty()
                && id.len() <= 256
                && !id.chars().any(|c| c.is_control() || c == '/' || c == '\\') =>
        {
            Ok(id.clone())
        }
        Some(Value::String(id)) => Err(format!(
            "object ID {} is not an ID (empty, too long, or holding `/` or control characters)",
            crate::text::shown(id)
        )),
        Some(_) => Err("an object's `id` is not a string".into()),
        None => Err("an object has no `id`".into()),
    }
}

/// A Graph user object as an [`Entry`]: DN = `id`, one attribute per property, text values
/// (booleans and numbers written out, a list one value each, `null` left out, the members of
/// `onPremisesExtensionAttributes` as attributes of their own; other objects are left out).
pub(crate) fn user_entry(user: &Value) -> Result<Entry, String> {
    let Some(obj) = user.as_object() else {
        return Err("a user is not a JSON object".into());
    };
    let id = checked_id(obj.get("id"))?;
    let mut b = EntryBuilder::default();
    let too_large = |_| format!("user {} is larger than 2 GiB", crate::text::shown(&id));
    b.start(&id).map_err(too_large)?;
    for (name, value) in obj {
        if name.starts_with('@') || name.contains('@') {
            continue;
        }
        match value {
            Value::Object(inner) if name.eq_ignore_ascii_case("onPremisesExtensionAttributes") => {
                for (n, v) in inner {
                    if let Some(text) = scalar(v) {
                        b.text(n, &text).map_err(too_large)?;
                    }
                }
            }
            Value::Array(items) => {
                for v in items {
                    if let Some(text) = scalar(v) {
                        b.text(name, &text).map_err(too_large)?;
                    }
                }
            }
            v => {
                if let Some(text) = scalar(v) {
                    b.text(name, &text).map_err(too_large)?;
                }
            }
        }
    }
    Ok(b.finish())
}

/// A JSON scalar as text; `None` for null, objects and lists.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(yaml: serde_json::Value) -> DirectoryConfig {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn select_names_only_what_the_config_needs() {
        let d = dir(serde_json::json!({ "entra_snapshot": "x.json" }));
        let s = select(
            &d,
            &["mail".into(), "Mail".into(), "extensionAttribute3".into()],
        )
        .unwrap();
        assert_eq!(
            s,
            "id,userPrincipalName,accountEnabled,mail,onPremisesExtensionAttributes"
        );
        let hybrid = dir(serde_json::json!({
            "entra_snapshot": "x.json", "id_attribute": "onPremisesImmutableId",
            "username_attribute": "onPremisesSamAccountName"
        }));
        assert_eq!(
            select(&hybrid, &[]).unwrap(),
            "id,onPremisesImmutableId,onPremisesSamAccountName,accountEnabled"
        );
        assert!(select(&d, &["mail&$filter=x".into()]).is_err());
    }

    #[test]
    fn a_user_becomes_an_entry_keyed_by_its_object_id() {
        let u = serde_json::json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "userPrincipalName": "AdeleV@contoso.com",
            "accountEnabled": false,
            "businessPhones": ["+1 425 555 0109", "+1 425 555 0110"],
            "mail": null,
            "onPremisesExtensionAttributes": { "extensionAttribute1": "A1", "extensionAttribute2": null },
            "employeeOrgData": { "division": "x" }
        });
        let e = user_entry(&u).unwrap();
        assert_eq!(e.dn(), "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
        assert_eq!(
            e.values("accountenabled").texts().collect::<Vec<_>>(),
            ["false"]
        );
        assert_eq!(e.values("businessPhones").texts().count(), 2);
        assert_eq!(
            e.values("extensionAttribute1").texts().collect::<Vec<_>>(),
            ["A1"]
        );
        assert_eq!(e.values("mail").texts().count(), 0);
        assert_eq!(e.values("division").texts().count(), 0);
        for bad in [
            serde_json::json!({ "id": "" }),
            serde_json::json!({ "id": "../x" }),
            serde_json::json!({ "id": 7 }),
            serde_json::json!({ "userPrincipalName": "x" }),
            serde_json::json!(["x"]),
        ] {
            assert!(user_entry(&bad).is_err(), "{bad}");
        }
    }
}
