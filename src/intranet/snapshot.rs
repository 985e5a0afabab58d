//! The intranet snapshot: SCIM 2.0 ListResponse JSON for Users and Groups in one file,
//! `{ "users": <ListResponse>, "groups": <ListResponse> }` (each may also be a list of pages),
//! and the conversion of SCIM resources into the observed model, shared with the live client.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::diag::{read_source, Source, SourceError};
use crate::intranet::fields::Field;
use crate::model::{Account, Group, IntranetState};

/// Convert SCIM User and Group resources into the observed model, reading only `fields`.
/// `manager` is read as the manager's SCIM id and turned into their username here, so plans
/// speak of usernames only.
pub fn state_from_resources(users: &[Value], groups: &[Value], fields: &[String]) -> IntranetState {
    let parsed: Vec<(String, Field)> = fields
        .iter()
        .filter_map(|n| Some((n.clone(), Field::parse(n)?)))
        .collect();
    let mut accounts: Vec<Account> = users
        .iter()
        .filter_map(|u| {
            let id = u.get("id")?.as_str()?.to_owned();
            let username = u.get("userName")?.as_str()?.to_owned();
            let fields = parsed
                .iter()
                .filter_map(|(name, f)| Some((name.clone(), f.read(u)?)))
                .collect();
            Some(Account {
                id,
                username,
                external_id: u
                    .get("externalId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                active: u.get("active").and_then(Value::as_bool).unwrap_or(true),
                fields,
                etag: etag(u),
            })
        })
        .collect();
    if fields.iter().any(|f| f == "manager") {
        let names: HashMap<String, String> = accounts
            .iter()
            .map(|a| (a.id.clone(), a.username.clone()))
            .collect();
        for a in &mut accounts {
            if let Some(id) = a.fields.get("manager") {
                match names.get(id) {
                    Some(name) => {
                        a.fields.insert("manager".into(), name.clone());
                    }
                    None => {
                        a.fields
                            .insert("manager".into(), format!("<unknown account {id}>"));
                    }
                }
            }
        }
    }
    let groups = groups
        .iter()
        .filter_map(|g| {
            let members = g
                .get("members")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m.get("value")?.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Some(Group {
                id: g.get("id")?.as_str()?.to_owned(),
                display_name: g.get("displayName")?.as_str()?.to_owned(),
                members,
                etag: etag(g),
            })
        })
        .collect();
    IntranetState { accounts, groups }
}

fn etag(resource: &Value) -> Option<String> {
    resource
        .pointer("/meta/version")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The resources of one ListResponse, or of a list of pages.
fn resources(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(pages) => {
            let mut all = Vec::new();
            for p in pages {
                all.extend(resources(p)?);
            }
            Some(all)
        }
        Value::Object(o) => match o.get("Resources") {
            Some(Value::Array(r)) => Some(r.clone()),
            None => Some(Vec::new()),
            Some(_) => None,
        },
        _ => None,
    }
}

/// The snapshot's raw resources, as read from the file.
#[derive(Debug, Default)]
pub struct Resources {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
}

/// Read a snapshot file. Malformed JSON or a wrong shape is a diagnostic pointing at the line.
pub fn read_snapshot(path: &Path) -> miette::Result<(Source, Resources)> {
    let src = read_source(path)?;
    let res = parse_snapshot(&src)?;
    Ok((src, res))
}

pub fn parse_snapshot(src: &Source) -> Result<Resources, SourceError> {
    let doc: BTreeMap<String, Value> = serde_json::from_str(&src.text).map_err(|e| {
        SourceError::at("roster::snapshot::json", src, e.line(), e.column(), format!("malformed intranet snapshot: {e}"))
            .label("here")
            .help("the snapshot is `{ \"users\": <SCIM ListResponse>, \"groups\": <SCIM ListResponse> }`, as `roster snapshot intranet` writes it")
    })?;
    let mut out = Resources::default();
    for (key, v) in &doc {
        let list = resources(v).ok_or_else(|| {
            shape_error(
                src,
                key,
                "is not a SCIM ListResponse (an object with a `Resources` list)",
            )
        })?;
        match key.as_str() {
            "users" => out.users = list,
            "groups" => out.groups = list,
            _ => {
                return Err(shape_error(src, key, "is not a snapshot key")
                    .help("the snapshot has two keys: `users` and `groups`"))
            }
        }
    }
    Ok(out)
}

fn shape_error(src: &Source, key: &str, what: &str) -> SourceError {
    let needle = format!("\"{key}\"");
    let off = src.text.find(&needle).unwrap_or(0);
    SourceError::new(
        "roster::snapshot::shape",
        src,
        (off, needle.len()),
        format!("`{key}` {what}"),
    )
    .label("this key")
    .help("the snapshot is `{ \"users\": <SCIM ListResponse>, \"groups\": <SCIM ListResponse> }`")
}

/// Write resources in the snapshot form (one ListResponse each), as `roster snapshot intranet` does.
pub fn to_snapshot(res: &Resources) -> Value {
    let list = |r: &Vec<Value>| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": r.len(),
            "startIndex": 1,
            "itemsPerPage": r.len(),
            "Resources": r,
        })
    };
    serde_json::json!({ "users": list(&res.users), "groups": list(&res.groups) })
}
