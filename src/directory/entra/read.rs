//! A full read of Entra ID over Microsoft Graph: every user (`/users`, `$select` of only the
//! properties the config maps, `$top=999`, `@odata.nextLink` followed to the end, and
//! `$count=true` with `ConsistencyLevel: eventual` so that a read shorter than Graph's count is
//! refused), the tenant's group names (`/groups`, `id` and `displayName`), and the users in each
//! group the config names (`/groups/{id}/transitiveMembers/microsoft.graph.user`: Graph resolves
//! nested groups). The next page is fetched while the last one is turned into entries; group
//! members are read concurrently, at most `concurrency` requests at once.

use rustc_hash::FxHashSet as HashSet;
use serde_json::Value;

use super::auth::urlencoded;
use super::client::{url_without_query, GraphClient, Need};
use super::{user_entry, EntraError};
use crate::model::Entry;

/// Users per page: Graph's largest.
pub const PAGE: usize = 999;

/// Every user, with the `select`ed properties, checked against Graph's count.
pub async fn users(client: &GraphClient, select: &str) -> Result<Vec<Entry>, EntraError> {
    users_with(client, select, |_| {}).await
}

/// [`users`], handing each user's JSON to `raw` too (what the delta cache keeps).
pub async fn users_with(
    client: &GraphClient,
    select: &str,
    mut raw: impl FnMut(&Value),
) -> Result<Vec<Entry>, EntraError> {
    let first = client.url(&format!("users?$select={select}&$top={PAGE}&$count=true"))?;
    let mut users = Vec::new();
    let mut seen: HashSet<String> = HashSet::default();
    let count = pages(client, first, Need::Users, true, |page, url| {
        for user in items(page, url)? {
            let entry = user_entry(user).map_err(|problem| EntraError::BadResponse {
                url: url_without_query(url),
                problem,
            })?;
            if !seen.insert(entry.dn().to_ascii_lowercase()) {
                return Err(EntraError::BadResponse {
                    url: url_without_query(url),
                    problem: format!("user {} is listed twice", crate::text::shown(entry.dn())),
                });
            }
            raw(user);
            users.push(entry);
        }
        Ok(())
    })
    .await?;
    let read = users.len() as u64;
    match count {
        Some(count) if read < count => Err(EntraError::ShortRead { read, count }),
        Some(_) => Ok(users),
        None => Err(EntraError::BadResponse {
            url: url_without_query(&client.url("users")?),
            problem: "the first page has no @odata.count, so the read cannot be checked for completeness (is the ConsistencyLevel header dropped on the way?)".into(),
        }),
    }
}

/// Every group's object ID and display name.
pub async fn group_names(client: &GraphClient) -> Result<Vec<(String, String)>, EntraError> {
    let first = client.url(&format!("groups?$select=id,displayName&$top={PAGE}"))?;
    let mut out = Vec::new();
    pages(client, first, Need::Groups, false, |page, url| {
        for g in items(page, url)? {
            let id = object_id(g, url)?;
            let name = g
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            out.push((id, name));
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The object IDs of the users in group `id`, nested groups resolved by Graph.
pub async fn members(client: &GraphClient, id: &str) -> Result<Vec<String>, EntraError> {
    let first = client.url(&format!(
        "groups/{}/transitiveMembers/microsoft.graph.user?$select=id&$top={PAGE}",
        urlencoded(id)
    ))?;
    let mut out = Vec::new();
    pages(client, first, Need::Members, false, |page, url| {
        for m in items(page, url)? {
            out.push(object_id(m, url)?);
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The groups as entries: every group with its `displayName`, and the users of those the config
/// names (by object ID or display name, without case) as `member` values; and the keys of the
/// other groups, whose members were not read.
pub async fn groups(
    client: &GraphClient,
    named: &[&str],
) -> Result<(Vec<Entry>, std::collections::BTreeSet<String>), EntraError> {
    let names = group_names(client).await?;
    let wanted: HashSet<String> = named.iter().map(|n| n.to_lowercase()).collect();
    let read: Vec<&str> = names
        .iter()
        .filter(|(id, name)| {
            wanted.contains(&id.to_lowercase()) || wanted.contains(&name.to_lowercase())
        })
        .map(|(id, _)| id.as_str())
        .collect();
    let lists =
        futures_util::future::try_join_all(read.iter().map(|id| members(client, id))).await?;
    let members_of: rustc_hash::FxHashMap<&str, Vec<String>> =
        read.iter().copied().zip(lists).collect();
    let mut unread = std::collections::BTreeSet::new();
    let entries = names
        .iter()
        .map(|(id, name)| {
            let mut b = crate::model::EntryBuilder::default();
            let _ = b.start(id);
            let _ = b.text("displayName", name);
            match members_of.get(id.as_str()) {
                Some(members) => {
                    for m in members {
                        let _ = b.text("member", m);
                    }
                }
                None => {
                    unread.insert(crate::directory::GroupIdentity::ObjectId.key(id));
                }
            }
            b.finish()
        })
        .collect();
    Ok((entries, unread))
}

/// Follow `@odata.nextLink` from `first` to the end, handing each page to `each` while the next
/// one is fetched. Returns the first page's `@odata.count`.
async fn pages(
    client: &GraphClient,
    first: url::Url,
    need: Need,
    eventual: bool,
    mut each: impl FnMut(&Value, &url::Url) -> Result<(), EntraError>,
) -> Result<Option<u64>, EntraError> {
    let mut url = first;
    let mut page = client.get(&url, need, eventual).await?;
    let count = page.get("@odata.count").and_then(Value::as_u64);
    let mut seen_links: HashSet<String> = HashSet::default();
    loop {
        let next = match page.get("@odata.nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(link)) => {
                if !seen_links.insert(link.clone()) {
                    return Err(EntraError::BadResponse {
                        url: url_without_query(&url),
                        problem: "@odata.nextLink leads back to a page already read".into(),
                    });
                }
                Some(client.link(link)?)
            }
            Some(_) => {
                return Err(EntraError::BadResponse {
                    url: url_without_query(&url),
                    problem: "@odata.nextLink is not a string".into(),
                })
            }
        };
        let fetch = next.clone().map(|next| {
            let client = client.clone();
            tokio::spawn(async move { client.get(&next, need, eventual).await })
        });
        let done = each(&page, &url);
        let Some(fetch) = fetch else {
            done?;
            return Ok(count);
        };
        if let Err(e) = done {
            fetch.abort();
            return Err(e);
        }
        page = fetch.await.map_err(|e| EntraError::BadResponse {
            url: url_without_query(&url),
            problem: format!("the page read stopped: {e}"),
        })??;
        url = next.unwrap_or(url);
    }
}

/// A page's `value` array.
fn items<'v>(page: &'v Value, url: &url::Url) -> Result<&'v Vec<Value>, EntraError> {
    page.get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| EntraError::BadResponse {
            url: url_without_query(url),
            problem: "a page has no `value` list".into(),
        })
}

/// An object's `id`, checked.
fn object_id(v: &Value, url: &url::Url) -> Result<String, EntraError> {
    super::checked_id(v.get("id")).map_err(|problem| EntraError::BadResponse {
        url: url_without_query(url),
        problem,
    })
}
