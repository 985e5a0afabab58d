//! The intranet field vocabulary and its SCIM 2.0 form (RFC 7643).
//!
//! Each intranet field name maps to one SCIM attribute. Reading a field from a SCIM User
//! resource and writing it back (POST body, PATCH operations) both go through `Field`, so the
//! snapshot reader, the live client and apply agree by construction.

use serde_json::{json, Map, Value};

use crate::plan::FieldChange;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The fixed vocabulary, in display order, with a one-line description for `--help` and errors.
pub const VOCABULARY: &[(&str, &str)] = &[
    ("first_name", "name.givenName"),
    ("surname", "name.familyName"),
    ("display_name", "displayName"),
    ("email", "emails[type eq \"work\"].value"),
    ("phone", "phoneNumbers[type eq \"work\"].value"),
    ("job_title", "title"),
    ("department", "enterprise department"),
    (
        "manager",
        "enterprise manager.value (the manager's account)",
    ),
    ("employee_number", "enterprise employeeNumber"),
];

/// Where an intranet field lives in a SCIM User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A path of plain attributes under the core schema (`displayName`, `name.givenName`).
    Core(Vec<String>),
    /// A value in a multi-valued attribute: the entry of type `kind`, else the primary one, else
    /// the only one ([`select`]).
    Typed {
        attr: &'static str,
        kind: &'static str,
    },
    /// A path under the enterprise extension (`department`, `manager.value`).
    Enterprise(Vec<String>),
    /// `scim:<schema URN>:<attr>` — a path under another extension schema.
    Extension { schema: String, path: Vec<String> },
}

fn path(p: &str) -> Vec<String> {
    p.split('.').map(str::to_owned).collect()
}

impl Field {
    /// The SCIM location of an intranet field name, or `None` if the name is not in the
    /// vocabulary (and not a `scim:` path).
    pub fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "first_name" => Field::Core(path("name.givenName")),
            "surname" => Field::Core(path("name.familyName")),
            "display_name" => Field::Core(path("displayName")),
            "email" => Field::Typed {
                attr: "emails",
                kind: "work",
            },
            "phone" => Field::Typed {
                attr: "phoneNumbers",
                kind: "work",
            },
            "job_title" => Field::Core(path("title")),
            "department" => Field::Enterprise(path("department")),
            "manager" => Field::Enterprise(path("manager.value")),
            "employee_number" => Field::Enterprise(path("employeeNumber")),
            _ => {
                let custom = name.strip_prefix("scim:")?;
                if custom.is_empty() {
                    return None;
                }
                if let Some(rest) = custom
                    .strip_prefix(ENTERPRISE_USER)
                    .and_then(|r| r.strip_prefix(':'))
                {
                    Field::Enterprise(path(rest))
                } else if custom.starts_with("urn:") {
                    let (schema, attr) = custom.rsplit_once(':')?;
                    if attr.is_empty() {
                        return None;
                    }
                    Field::Extension {
                        schema: schema.to_owned(),
                        path: path(attr),
                    }
                } else {
                    Field::Core(path(custom))
                }
            }
        })
    }

    /// The SCIM attribute path, as a PATCH `path` (RFC 7644 §3.5.2).
    pub fn patch_path(&self) -> String {
        match self {
            Field::Core(p) => p.join("."),
            Field::Typed { attr, kind } => format!("{attr}[type eq \"{kind}\"].value"),
            Field::Enterprise(p) => format!("{ENTERPRISE_USER}:{}", p.join(".")),
            Field::Extension { schema, path } => format!("{schema}:{}", path.join(".")),
        }
    }

    /// The top-level attribute to ask for with `attributes=`.
    pub fn request_attribute(&self) -> String {
        match self {
            Field::Core(p) => p[0].clone(),
            Field::Typed { attr, .. } => (*attr).to_owned(),
            Field::Enterprise(p) => format!("{ENTERPRISE_USER}:{}", p[0]),
            Field::Extension { schema, path } => format!("{schema}:{}", path[0]),
        }
    }

    /// The extension schema this field needs, if any.
    pub fn schema(&self) -> Option<&str> {
        match self {
            Field::Enterprise(_) => Some(ENTERPRISE_USER),
            Field::Extension { schema, .. } => Some(schema),
            _ => None,
        }
    }

    /// Read this field's value from a SCIM User resource. Empty strings read as absent.
    pub fn read(&self, user: &Value) -> Option<String> {
        let v = match self {
            Field::Core(p) => walk(user, p),
            Field::Typed { attr, kind } => {
                let items = user.get(*attr)?.as_array()?;
                items[select(items, kind)?].get("value")
            }
            Field::Enterprise(p) => walk(user.get(ENTERPRISE_USER)?, p),
            Field::Extension { schema, path } => walk(user.get(schema)?, path),
        }?;
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    }

    /// Set (or, with `None`, clear) this field in a resource being built for POST.
    pub fn write(&self, user: &mut Map<String, Value>, value: Option<&str>) {
        let Some(value) = value else { return };
        match self {
            Field::Core(p) => set_path(user, p, value),
            Field::Typed { attr, kind } => {
                let list = user.entry(*attr).or_insert_with(|| json!([]));
                if let Value::Array(items) = list {
                    items.retain(|i| i.get("type").and_then(Value::as_str) != Some(kind));
                    items.push(json!({ "value": value, "type": kind, "primary": true }));
                }
            }
            Field::Enterprise(p) => set_in_schema(user, ENTERPRISE_USER, p, value),
            Field::Extension { schema, path } => set_in_schema(user, schema, path, value),
        }
    }

    /// One PATCH operation that takes this field from `before` to `after` (RFC 7644 §3.5.2).
    /// A multi-valued field ([`Field::Typed`]) is written by [`Field::rewrite`] instead, from
    /// the resource as it is now: this form is its typed path, for a resource not at hand.
    pub fn patch_op(&self, before: Option<&str>, after: Option<&str>) -> Value {
        match (self, before, after) {
            (Field::Typed { attr, kind }, _, None) => {
                json!({ "op": "remove", "path": format!("{attr}[type eq \"{kind}\"]") })
            }
            (Field::Typed { attr, kind }, None, Some(v)) => {
                json!({ "op": "add", "path": attr, "value": [{ "value": v, "type": kind }] })
            }
            (_, _, None) => json!({ "op": "remove", "path": self.patch_path() }),
            (_, _, Some(v)) => json!({ "op": "replace", "path": self.patch_path(), "value": v }),
        }
    }

    /// The PATCH operation that takes a multi-valued field ([`Field::Typed`]) of `user` (the
    /// resource as the service holds it now) from `before` to `after`: the whole attribute
    /// replaced by its entries as they are, with the entry this field reads ([`select`]) given
    /// the new value in place (its `type`, `primary` and other sub-attributes kept), dropped for
    /// `None`, or, when there is none, a new entry of this field's type, primary only when no
    /// other entry is. Every other entry (a home email) stays as it is, and there is never a
    /// second primary. `Err` when the entry no longer holds `before` (edited since the plan).
    /// `None` for a field that is not multi-valued.
    pub fn rewrite(
        &self,
        user: &Value,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Option<Result<Value, String>> {
        let Field::Typed { attr, kind } = self else {
            return None;
        };
        if self.read(user).as_deref() != before {
            return Some(Err(format!(
                "{attr} changed since the plan: it was {}, it is {} now",
                shown(before),
                shown(self.read(user).as_deref())
            )));
        }
        let mut items = user
            .get(*attr)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match (select(&items, kind), after) {
            (Some(i), Some(v)) => items[i]["value"] = json!(v),
            (Some(i), None) => {
                items.remove(i);
            }
            (None, Some(v)) => {
                let primary = !items.iter().any(is_primary);
                let mut entry = json!({ "value": v, "type": kind });
                if primary {
                    entry["primary"] = json!(true);
                }
                items.push(entry);
            }
            (None, None) => {}
        }
        Some(Ok(json!({ "op": "replace", "path": attr, "value": items })))
    }

    /// A multi-valued field, whose write needs the resource as it is now ([`Field::rewrite`]).
    pub fn multi_valued(&self) -> bool {
        matches!(self, Field::Typed { .. })
    }
}

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "empty".into(), |v| format!("`{v}`"))
}

fn is_primary(item: &Value) -> bool {
    item.get("primary").and_then(Value::as_bool) == Some(true)
}

/// Which entry of a multi-valued attribute (`emails`, `phoneNumbers`) a field reads and writes:
/// the one of type `kind`, else the primary one, else the only one. RFC 7643 §2.4 makes `type`
/// optional, and services that never send it (django-scim2) hold one untyped primary address.
pub fn select(items: &[Value], kind: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| i.get("type").and_then(Value::as_str) == Some(kind))
        .or_else(|| items.iter().position(is_primary))
        .or_else(|| (items.len() == 1).then_some(0))
}

fn walk<'a>(mut v: &'a Value, path: &[String]) -> Option<&'a Value> {
    for key in path {
        v = v.get(key)?;
    }
    Some(v)
}

fn set_path(obj: &mut Map<String, Value>, path: &[String], value: &str) {
    let (last, parents) = path.split_last().expect("field paths are never empty");
    let mut cur = obj;
    for key in parents {
        let next = cur.entry(key.clone()).or_insert_with(|| json!({}));
        if !next.is_object() {
            *next = json!({});
        }
        cur = next.as_object_mut().expect("just made an object");
    }
    cur.insert(last.clone(), Value::String(value.to_owned()));
}

fn set_in_schema(user: &mut Map<String, Value>, schema: &str, path: &[String], value: &str) {
    let ext = user.entry(schema.to_owned()).or_insert_with(|| json!({}));
    if let Value::Object(ext) = ext {
        set_path(ext, path, value);
    }
    let schemas = user.entry("schemas").or_insert_with(|| json!([CORE_USER]));
    if let Value::Array(list) = schemas {
        if !list.iter().any(|s| s == schema) {
            list.push(Value::String(schema.to_owned()));
        }
    }
}

/// The POST body for a new account.
pub fn user_resource(
    username: &str,
    external_id: Option<&str>,
    active: bool,
    fields: &[(Field, Option<&str>)],
) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), json!([CORE_USER]));
    m.insert("userName".into(), json!(username));
    if let Some(id) = external_id {
        m.insert("externalId".into(), json!(id));
    }
    m.insert("active".into(), json!(active));
    for (field, value) in fields {
        field.write(&mut m, *value);
    }
    Value::Object(m)
}

/// PATCH operations for a list of field changes. `username` becomes `userName`; fields whose
/// name is not in the vocabulary are skipped (the plan was validated when it was made). With
/// `now`, the resource as the service holds it, a multi-valued field is rewritten in place
/// ([`Field::rewrite`]); `Err` when such a field changed since the plan.
pub fn patch_ops(changes: &[FieldChange], now: Option<&Value>) -> Result<Vec<Value>, String> {
    let mut ops = Vec::with_capacity(changes.len());
    for c in changes {
        if c.name == "username" {
            ops.push(json!({ "op": "replace", "path": "userName", "value": c.after }));
            continue;
        }
        let Some(field) = Field::parse(&c.name) else {
            continue;
        };
        let (before, after) = (c.before.as_deref(), c.after.as_deref());
        match now.and_then(|user| field.rewrite(user, before, after)) {
            Some(op) => ops.push(op?),
            None => ops.push(field.patch_op(before, after)),
        }
    }
    Ok(ops)
}

/// Whether these changes write a multi-valued field, whose write needs the resource as it is now.
pub fn any_multi_valued(changes: &[FieldChange]) -> bool {
    changes
        .iter()
        .any(|c| Field::parse(&c.name).is_some_and(|f| f.multi_valued()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_round_trips_through_a_resource() {
        for (name, _) in VOCABULARY {
            let f = Field::parse(name).unwrap();
            let user = user_resource("ada", Some("id-1"), true, &[(f.clone(), Some("value"))]);
            assert_eq!(f.read(&user).as_deref(), Some("value"), "{name}");
        }
    }

    #[test]
    fn custom_paths() {
        assert_eq!(
            Field::parse("scim:nickName"),
            Some(Field::Core(vec!["nickName".into()]))
        );
        let f =
            Field::parse("scim:urn:example:params:scim:schemas:Acme:2.0:User:costCenter").unwrap();
        assert_eq!(
            f.patch_path(),
            "urn:example:params:scim:schemas:Acme:2.0:User:costCenter"
        );
        let u = user_resource("a", None, true, &[(f.clone(), Some("42"))]);
        assert_eq!(f.read(&u).as_deref(), Some("42"));
        assert!(u["schemas"].as_array().unwrap().len() == 2);
        assert_eq!(Field::parse("scim:"), None);
        assert_eq!(Field::parse("password"), None);
    }

    #[test]
    fn a_multi_valued_field_reads_the_typed_entry_else_the_primary_else_the_only_one() {
        let email = Field::parse("email").unwrap();
        let read = |emails: Value| email.read(&json!({ "emails": emails }));
        // django-scim2: one untyped primary address.
        assert_eq!(
            read(json!([{"value": "a@x", "primary": true}])).as_deref(),
            Some("a@x")
        );
        assert_eq!(read(json!([{"value": "a@x"}])).as_deref(), Some("a@x"));
        assert_eq!(
            read(json!([{"value": "h@x", "type": "home"}, {"value": "p@x", "primary": true}]))
                .as_deref(),
            Some("p@x")
        );
        assert_eq!(
            read(json!([{"value": "p@x", "primary": true}, {"value": "w@x", "type": "work"}]))
                .as_deref(),
            Some("w@x")
        );
        assert_eq!(read(json!([{"value": "a@x"}, {"value": "b@x"}])), None);
        assert_eq!(read(json!([])), None);
    }

    #[test]
    fn a_multi_valued_field_is_rewritten_in_place_and_never_gets_a_second_primary() {
        let email = Field::parse("email").unwrap();
        let user = json!({"emails": [
            {"value": "h@x", "type": "home"},
            {"value": "a@x", "primary": true, "display": "Ada"}
        ]});
        let op = email
            .rewrite(&user, Some("a@x"), Some("b@x"))
            .unwrap()
            .unwrap();
        assert_eq!(
            op,
            json!({"op": "replace", "path": "emails", "value": [
                {"value": "h@x", "type": "home"},
                {"value": "b@x", "primary": true, "display": "Ada"}
            ]})
        );
        // Cleared: that entry goes, the home one stays.
        let op = email.rewrite(&user, Some("a@x"), None).unwrap().unwrap();
        assert_eq!(op["value"], json!([{"value": "h@x", "type": "home"}]));
        // None to select: a new work entry, primary only when no other entry is.
        let two = json!({"emails": [{"value": "h@x", "type": "home"}, {"value": "o@x"}]});
        let op = email.rewrite(&two, None, Some("w@x")).unwrap().unwrap();
        assert_eq!(
            op["value"][2],
            json!({"value": "w@x", "type": "work", "primary": true})
        );
        let with_primary = json!({"emails": [
            {"value": "h@x", "type": "home", "primary": true}, {"value": "o@x"}
        ]});
        assert_eq!(
            email
                .rewrite(&with_primary, Some("h@x"), Some("w@x"))
                .unwrap()
                .unwrap()["value"],
            json!([{"value": "w@x", "type": "home", "primary": true}, {"value": "o@x"}])
        );
        // Edited since the plan: not written over.
        let err = email
            .rewrite(&user, Some("old@x"), Some("b@x"))
            .unwrap()
            .unwrap_err();
        assert!(err.contains("changed since the plan"), "{err}");
        assert!(Field::parse("job_title")
            .unwrap()
            .rewrite(&user, None, Some("x"))
            .is_none());
    }

    #[test]
    fn typed_values_pick_work() {
        let user = json!({"emails": [{"value": "home@x", "type": "home"}, {"value": "work@x", "type": "work"}]});
        assert_eq!(
            Field::parse("email").unwrap().read(&user).as_deref(),
            Some("work@x")
        );
    }
}
