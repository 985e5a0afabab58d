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
    let parsed = parse_fields(fields);
    let mut state = IntranetState {
        accounts: users.iter().filter_map(|u| account(u, &parsed)).collect(),
        groups: groups.iter().filter_map(group).collect(),
    };
    resolve_managers(&mut state);
    state
}

/// The fields to read, parsed once.
pub fn parse_fields(fields: &[String]) -> Vec<(String, Field)> {
    fields
        .iter()
        .filter_map(|n| Some((n.clone(), Field::parse(n)?)))
        .collect()
}

/// One SCIM User resource as an account; `None` without `id` or `userName`.
pub fn account(u: &Value, fields: &[(String, Field)]) -> Option<Account> {
    Some(Account {
        id: u.get("id")?.as_str()?.to_owned(),
        username: u.get("userName")?.as_str()?.to_owned(),
        external_id: u
            .get("externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        active: u.get("active").and_then(Value::as_bool).unwrap_or(true),
        fields: fields
            .iter()
            .filter_map(|(name, f)| Some((name.clone(), f.read(u)?)))
            .collect(),
        etag: etag(u),
    })
}

/// One SCIM Group resource; `None` without `id` or `displayName`.
pub fn group(g: &Value) -> Option<Group> {
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
}

/// `manager` holds the manager's SCIM id as read: make it their username.
pub fn resolve_managers(state: &mut IntranetState) {
    if !state
        .accounts
        .iter()
        .any(|a| a.fields.contains_key("manager"))
    {
        return;
    }
    let names: HashMap<String, String> = state
        .accounts
        .iter()
        .map(|a| (a.id.clone(), a.username.clone()))
        .collect();
    for a in &mut state.accounts {
        if let Some(id) = a.fields.get("manager") {
            let name = names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("<unknown account {id}>"));
            a.fields.insert("manager", name);
        }
    }
}

/// A resource's ETag: its `meta.version`.
pub(crate) fn etag(resource: &Value) -> Option<String> {
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
    let doc: BTreeMap<String, Value> =
        serde_json::from_str(&src.text).map_err(|e| malformed(src, &e))?;
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

/// The snapshot is not JSON (or not the JSON it should be) at `e`'s place.
fn malformed(src: &Source, e: &serde_json::Error) -> SourceError {
    SourceError::at("roster::snapshot::json", src, e.line(), e.column(), format!("malformed intranet snapshot: {}", crate::diag::json_message(e)))
        .label("here")
        .help("the snapshot is `{ \"users\": <SCIM ListResponse>, \"groups\": <SCIM ListResponse> }`, as `roster snapshot intranet` writes it")
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

/// Read a snapshot file straight into the model, one resource at a time: the file is streamed
/// and no resource outlives its conversion, so memory holds the model, not the JSON.
pub fn read_state(path: &Path, fields: &[String]) -> miette::Result<IntranetState> {
    crate::diag::check_regular(path)?;
    let file = std::fs::File::open(path).map_err(|source| crate::diag::ReadError {
        path: path.display().to_string(),
        source,
    })?;
    let parsed = parse_fields(fields);
    let mut state = IntranetState::default();
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let result = serde::de::DeserializeSeed::deserialize(
        stream::Doc {
            fields: &parsed,
            out: &mut state,
        },
        &mut de,
    )
    .and_then(|()| de.end());
    if let Err(e) = result {
        // Only now read the text, for a diagnostic that shows the place.
        let src = read_source(path)?;
        return Err(malformed(&src, &e).into());
    }
    resolve_managers(&mut state);
    Ok(state)
}

/// Serde visitors that walk the snapshot document and convert each resource as it is read.
mod stream {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    use crate::intranet::fields::Field;
    use crate::model::IntranetState;

    pub struct Doc<'a> {
        pub fields: &'a [(String, Field)],
        pub out: &'a mut IntranetState,
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Users,
        Groups,
    }

    impl<'de> DeserializeSeed<'de> for Doc<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Doc<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object with `users` and `groups`")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                let kind = match key.as_str() {
                    "users" => Kind::Users,
                    "groups" => Kind::Groups,
                    other => {
                        return Err(de::Error::custom(format!(
                        "`{other}` is not a snapshot key (the snapshot has `users` and `groups`)"
                    )))
                    }
                };
                map.next_value_seed(List {
                    kind,
                    fields: self.fields,
                    out: &mut *self.out,
                })?;
            }
            Ok(())
        }
    }

    /// A ListResponse, or a list of them (pages).
    struct List<'a> {
        kind: Kind,
        fields: &'a [(String, Field)],
        out: &'a mut IntranetState,
    }

    impl<'de> DeserializeSeed<'de> for List<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for List<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a SCIM ListResponse (an object with a `Resources` list)")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq
                .next_element_seed(List {
                    kind: self.kind,
                    fields: self.fields,
                    out: &mut *self.out,
                })?
                .is_some()
            {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "Resources" {
                    map.next_value_seed(Resources {
                        kind: self.kind,
                        fields: self.fields,
                        out: &mut *self.out,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    struct Resources<'a> {
        kind: Kind,
        fields: &'a [(String, Field)],
        out: &'a mut IntranetState,
    }

    impl<'de> DeserializeSeed<'de> for Resources<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Resources<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of SCIM resources")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(r) = seq.next_element::<Value>()? {
                match self.kind {
                    Kind::Users => self.out.accounts.extend(super::account(&r, self.fields)),
                    Kind::Groups => self.out.groups.extend(super::group(&r)),
                }
            }
            Ok(())
        }
    }
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
