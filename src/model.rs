//! Observed state, source-neutral: what a directory and an intranet hold, as plain data.
//!
//! Every source (LDIF snapshot, live LDAP, SCIM JSON snapshot, live SCIM) produces these types;
//! reconcile reads only these. Attribute names are kept lowercase so lookups are case-insensitive,
//! as LDAP attribute names are.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One value of a directory attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Text(String),
    /// A value that is not valid UTF-8 (objectGUID, jpegPhoto, ...). Never mapped as text.
    Binary(Vec<u8>),
}

impl AttrValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s),
            AttrValue::Binary(_) => None,
        }
    }
}

/// A directory entry as read: DN and attributes (names lowercased, values in server order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    /// Attribute names, lowercase and interned (one allocation per distinct name, shared by
    /// every entry), to their values.
    pub attrs: BTreeMap<Arc<str>, Values>,
}

/// The values of one attribute. Most attributes hold one value: it is kept inline, without an
/// allocation of its own.
pub type Values = smallvec::SmallVec<[AttrValue; 1]>;

/// The lowercase, shared form of an attribute name. A directory has few distinct names and
/// millions of values: each entry holds a pointer, not a copy.
pub fn attr_name(name: &str) -> Arc<str> {
    thread_local! {
        static NAMES: RefCell<rustc_hash::FxHashMap<Box<str>, Arc<str>>> = RefCell::default();
    }
    NAMES.with(|names| {
        if let Some(n) = names.borrow().get(name) {
            return n.clone();
        }
        let lower: Arc<str> = Arc::from(name.to_ascii_lowercase());
        names.borrow_mut().insert(name.into(), lower.clone());
        lower
    })
}

impl Entry {
    pub fn new(dn: impl Into<String>) -> Self {
        Entry {
            dn: dn.into(),
            attrs: BTreeMap::new(),
        }
    }
    pub fn add(&mut self, name: &str, value: AttrValue) {
        self.attrs.entry(attr_name(name)).or_default().push(value);
    }
    pub fn values(&self, name: &str) -> &[AttrValue] {
        // Names are stored lowercase; most lookups pass a name that is (no allocation then).
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.attrs.get(name.to_ascii_lowercase().as_str())
        } else {
            self.attrs.get(name)
        };
        found.map(|v| v.as_slice()).unwrap_or(&[])
    }
    pub fn first_text(&self, name: &str) -> Option<&str> {
        self.values(name).iter().find_map(AttrValue::as_text)
    }
    pub fn has(&self, name: &str) -> bool {
        !self.values(name).is_empty()
    }
}

/// Everything read from the directory: the user entries and the group entries, unresolved.
/// Group membership (nested, cyclic) is resolved by `directory::groups`, never by the server.
#[derive(Debug, Clone, Default)]
pub struct DirectoryState {
    pub users: Vec<Entry>,
    pub groups: Vec<Entry>,
    /// DNs of users the server itself reported as disabled (the `{ filter: ... }` disabled form).
    pub disabled_by_filter: Option<std::collections::BTreeSet<String>>,
    /// Things a reviewer must see about the read itself (clear-text bind allowed by `insecure`,
    /// a connection that dropped and was read again). Carried into the plan's warnings.
    pub warnings: Vec<String>,
}

/// An intranet account as read from SCIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The SCIM resource id.
    pub id: String,
    pub username: String,
    /// The directory immutable ID, when the account is managed by Roster.
    pub external_id: Option<String>,
    pub active: bool,
    /// Mapped field values, by intranet field name (e.g. `email`, `scim:nickName`).
    pub fields: Fields,
    /// Weak ETag from `meta.version`, for If-Match on apply.
    pub etag: Option<String>,
}

impl Account {
    pub fn is_managed(&self) -> bool {
        self.external_id.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// Mapped field values of an account, by field name: a small sorted list (an account has a
/// handful), with names shared between accounts. Absent means the field holds no value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(Arc<str>, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// Set a field; returns the value it replaces.
    pub fn insert(&mut self, name: &str, value: String) -> Option<String> {
        match self.0.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (field_name(name), value));
                None
            }
        }
    }
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| &**k == name)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &String)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: AsRef<str>> FromIterator<(K, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, String)>>(iter: I) -> Fields {
        let mut f = Fields::default();
        for (k, v) in iter {
            f.insert(k.as_ref(), v);
        }
        f
    }
}

/// The shared form of an intranet field name.
fn field_name(name: &str) -> Arc<str> {
    thread_local! {
        static NAMES: RefCell<rustc_hash::FxHashMap<Box<str>, Arc<str>>> = RefCell::default();
    }
    NAMES.with(|names| {
        if let Some(n) = names.borrow().get(name) {
            return n.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        names.borrow_mut().insert(name.into(), shared.clone());
        shared
    })
}

/// An intranet group (used for admin roles), as read from SCIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    /// SCIM ids of the members (Groups have no referential integrity: ids may be dangling).
    pub members: Vec<String>,
    pub etag: Option<String>,
}

/// Everything read from the intranet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntranetState {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
}
