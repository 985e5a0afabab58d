//! Warm reads of Entra ID users through the delta query (`/users/delta`,
//! learn.microsoft.com/graph/delta-query-users), kept like the SCIM cache (`intranet::scim::cache`):
//! in `.roster/` next to the config (or `$ROSTER_DATA_DIR`), readable by its owner only.
//!
//! A full read first asks Graph for a delta link that starts now (`$deltatoken=latest`, "sync
//! from now"), then reads every user (`read::users`, checked against `@odata.count`), and keeps
//! the users as Graph sent them with that link. The next read follows the link: changed users'
//! properties are laid over the cached ones (Graph sends at least the changed ones), `@removed`
//! users are dropped, and the result is accepted only when it holds exactly as many users as
//! Graph counts now (`/users/$count`, `ConsistencyLevel: eventual`). Asking for the link before
//! the full read means a change made during the read is replayed next time, never lost.
//!
//! Any doubt is a full read, never an error: no cache, an unreadable one, another tenant, app,
//! Graph URL, `$select` or Roster version, a link Graph no longer knows (410 Gone,
//! `syncStateNotFound`), any failure of the delta pages, or a count that does not add up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::{GraphClient, Need};
use super::{read, user_entry, EntraError};
use crate::model::Entry;

/// Version of the cache file format.
const FORMAT: u32 = 1;

/// What makes a cache valid for a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub graph_url: String,
    pub tenant: String,
    pub client: String,
    pub select: String,
}

impl Key {
    /// The cache file for this key in `dir`.
    pub fn file(&self, dir: &Path) -> PathBuf {
        crate::store::keyed_file(dir, "entra-users", self)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format: u32,
    roster: String,
    key: Key,
    delta_link: String,
    /// The users as Graph sent them (the selected properties).
    users: Vec<Map<String, Value>>,
}

/// How the users were read, for the line the plan prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    Full { why: String },
    Delta { changes: usize },
}

/// The users, through the cache in `dir` when it may be used and can be trusted, and how they
/// were read.
pub async fn users(
    client: &GraphClient,
    select: &str,
    key: Key,
    dir: &Path,
    use_cache: bool,
) -> Result<(Vec<Entry>, How), EntraError> {
    let path = key.file(dir);
    let cache = if use_cache {
        load(&path, &key)
    } else {
        Err("--refresh full".to_string())
    };
    let why = match cache {
        Ok(cache) => match warm(client, cache).await {
            Ok((users, link, changes)) => {
                if let Ok(entries) = entries(&users) {
                    save(&path, key, link, users);
                    return Ok((entries, How::Delta { changes }));
                }
                "the merged users do not read back".to_string()
            }
            Err(why) => why,
        },
        Err(why) => why,
    };
    // The link first: changes made while the users are read are replayed next time.
    let latest = client.url(&format!("users/delta?$select={select}&$deltatoken=latest"))?;
    let link = follow(client, latest, |_| Ok(())).await;
    let users = read_full(client, select).await?;
    if let Ok(link) = link {
        let entries: Vec<Map<String, Value>> = users.1;
        save(&path, key, link, entries);
    }
    Ok((users.0, How::Full { why }))
}

/// A full read, keeping the users' JSON for the cache.
async fn read_full(
    client: &GraphClient,
    select: &str,
) -> Result<(Vec<Entry>, Vec<Map<String, Value>>), EntraError> {
    let mut raw = Vec::new();
    let entries = read::users_with(client, select, |u| {
        if let Some(obj) = u.as_object() {
            raw.push(obj.clone());
        }
    })
    .await?;
    Ok((entries, raw))
}

fn load(path: &Path, key: &Key) -> Result<CacheFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no cache yet".into()),
        Err(e) => return Err(format!("the cache could not be read: {e}")),
    };
    let file: CacheFile = serde_json::from_str(&text)
        .map_err(|_| "the cache is not a valid cache file".to_string())?;
    if file.format != FORMAT || file.roster != env!("CARGO_PKG_VERSION") {
        return Err("the cache was written by another Roster".into());
    }
    if file.key != *key {
        return Err("the cache is for another tenant, app or set of properties".into());
    }
    Ok(file)
}

fn save(path: &Path, key: Key, delta_link: String, users: Vec<Map<String, Value>>) {
    let file = CacheFile {
        format: FORMAT,
        roster: env!("CARGO_PKG_VERSION").into(),
        key,
        delta_link,
        users,
    };
    if let Err(e) = crate::store::write_private(path, &file) {
        let _ = std::fs::remove_file(path);
        crate::say!(
            "Warning: could not write the Entra ID cache {}: {} (the next plan reads everything)",
            crate::text::shown(&path.display().to_string()),
            crate::text::escape(&e.to_string())
        );
    }
}

/// Follow the cached delta link; the merged users, the next link and the number of changes, or
/// why a full read is needed.
async fn warm(
    client: &GraphClient,
    cache: CacheFile,
) -> Result<(Vec<Map<String, Value>>, String, usize), String> {
    let start = client
        .link(&cache.delta_link)
        .map_err(|_| "the cached delta link is not Graph's".to_string())?;
    let mut changes: Vec<Value> = Vec::new();
    let link = follow(client, start, |page| {
        changes.extend(page.iter().cloned());
        Ok(())
    })
    .await
    .map_err(|e| match e {
        EntraError::Http { status: 410, .. } => "Graph no longer knows the delta link".to_string(),
        e => format!("the delta read failed ({e})"),
    })?;
    let n = changes.len();
    let users = merge(cache.users, changes)?;
    let count = client
        .get(
            &client.url("users/$count").map_err(|e| e.to_string())?,
            Need::Users,
            true,
        )
        .await
        .map_err(|e| format!("the count failed ({e})"))?
        .as_u64()
        .ok_or("the count is not a number")?;
    if users.len() as u64 != count {
        return Err(format!(
            "the cache and its changes hold {} users, Graph counts {count}",
            users.len()
        ));
    }
    Ok((users, link, n))
}

/// Lay the changes over the cached users, by object ID.
fn merge(
    cached: Vec<Map<String, Value>>,
    changes: Vec<Value>,
) -> Result<Vec<Map<String, Value>>, String> {
    let key =
        |u: &Map<String, Value>| super::checked_id(u.get("id")).map(|id| id.to_ascii_lowercase());
    let mut index: rustc_hash::FxHashMap<String, usize> = rustc_hash::FxHashMap::default();
    let mut users: Vec<Option<Map<String, Value>>> = Vec::with_capacity(cached.len());
    for u in cached {
        if index.insert(key(&u)?, users.len()).is_some() {
            return Err("the cache holds a user twice".into());
        }
        users.push(Some(u));
    }
    for change in changes {
        let Value::Object(change) = change else {
            return Err("a change is not an object".into());
        };
        let id = key(&change)?;
        if change.contains_key("@removed") {
            if let Some(i) = index.remove(&id) {
                users[i] = None;
            }
            continue;
        }
        match index.get(&id) {
            Some(&i) => {
                let user = users[i].get_or_insert_with(Map::new);
                for (k, v) in change {
                    if !k.starts_with('@') {
                        user.insert(k, v);
                    }
                }
            }
            None => {
                index.insert(id, users.len());
                users.push(Some(
                    change
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with('@'))
                        .collect(),
                ));
            }
        }
    }
    Ok(users.into_iter().flatten().collect())
}

fn entries(users: &[Map<String, Value>]) -> Result<Vec<Entry>, String> {
    users
        .iter()
        .map(|u| user_entry(&Value::Object(u.clone())))
        .collect()
}

/// Follow `@odata.nextLink` from `first` until a page carries `@odata.deltaLink`, handing each
/// page's `value` to `each`. Returns the delta link.
async fn follow(
    client: &GraphClient,
    first: url::Url,
    mut each: impl FnMut(&[Value]) -> Result<(), EntraError>,
) -> Result<String, EntraError> {
    let mut url = first;
    for _ in 0..1_000_000 {
        let page = client.get(&url, Need::Users, false).await?;
        if let Some(items) = page.get("value").and_then(Value::as_array) {
            each(items)?;
        }
        if let Some(link) = page.get("@odata.deltaLink").and_then(Value::as_str) {
            client.link(link)?;
            return Ok(link.to_owned());
        }
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = client.link(next)?,
            None => break,
        }
    }
    Err(EntraError::BadResponse {
        url: super::client::url_without_query(&url),
        problem: "the delta pages end without an @odata.deltaLink".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn changes_lay_over_the_cache_and_removals_drop_users() {
        let cached = vec![
            obj(serde_json::json!({ "id": "A", "userPrincipalName": "a@x", "mail": "a@x" })),
            obj(serde_json::json!({ "id": "b", "userPrincipalName": "b@x" })),
        ];
        let merged = merge(
            cached,
            vec![
                serde_json::json!({ "id": "a", "userPrincipalName": "ada@x" }),
                serde_json::json!({ "id": "b", "@removed": { "reason": "changed" } }),
                serde_json::json!({ "id": "c", "userPrincipalName": "c@x", "@odata.type": "#microsoft.graph.user" }),
            ],
        )
        .unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["userPrincipalName"], "ada@x");
        assert_eq!(merged[0]["mail"], "a@x", "properties not sent are kept");
        assert_eq!(merged[1]["id"], "c");
        assert!(!merged[1].contains_key("@odata.type"));
        assert!(merge(
            vec![
                obj(serde_json::json!({ "id": "x" })),
                obj(serde_json::json!({ "id": "X" }))
            ],
            vec![]
        )
        .is_err());
    }
}
