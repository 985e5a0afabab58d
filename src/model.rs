//! Observed state, source-neutral: what a directory and an intranet hold, as plain data.
//!
//! Every source (LDIF snapshot, live LDAP, SCIM JSON snapshot, live SCIM) produces these types;
//! reconcile reads only these. Attribute names are kept lowercase so lookups are case-insensitive,
//! as LDAP attribute names are.

use std::cell::RefCell;
use std::sync::Arc;

/// One value of a directory attribute, owned: what a reader hands to [`Entry::add`].
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
    pub fn as_value(&self) -> Value<'_> {
        match self {
            AttrValue::Text(s) => Value::Text(s),
            AttrValue::Binary(b) => Value::Binary(b),
        }
    }
}

/// One value of a directory attribute, borrowed from the [`Entry`] that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Text(&'a str),
    /// Not valid UTF-8 (objectGUID, jpegPhoto, ...). Never mapped as text.
    Binary(&'a [u8]),
}

impl<'a> Value<'a> {
    pub fn as_text(self) -> Option<&'a str> {
        match self {
            Value::Text(s) => Some(s),
            Value::Binary(_) => None,
        }
    }
    pub fn as_bytes(self) -> &'a [u8] {
        match self {
            Value::Text(s) => s.as_bytes(),
            Value::Binary(b) => b,
        }
    }
}

/// A directory entry as read: DN and attributes (names lowercased, values in server order).
///
/// Compact, because a directory can hold millions: the DN and every value sit back to back in
/// one buffer, and each value is a slot (shared attribute name, offset, length) into it, sorted by
/// name. An entry is two allocations, whatever its number of attributes.
#[derive(Clone, Default)]
pub struct Entry {
    /// The DN, then every value.
    buf: Box<[u8]>,
    /// Sorted by name; the values of one attribute are adjacent, in the order they were added.
    slots: Box<[Slot]>,
    dn_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    name: &'static str,
    start: u32,
    /// Length in bytes; the top bit marks a binary (non-UTF-8) value.
    len: u32,
}

const BINARY: u32 = 1 << 31;

impl Slot {
    fn range(&self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + (self.len & !BINARY) as usize
    }
}

/// The most an entry can hold: its DN and values together, and any one value, under 2 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTooLarge;

impl std::fmt::Display for EntryTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the entry holds more than 2 GiB of values")
    }
}

/// Builds entries one after the other, reusing its buffers: a reader makes one and calls
/// [`EntryBuilder::finish`] per entry, which allocates the entry at its exact size.
#[derive(Debug, Default)]
pub struct EntryBuilder {
    buf: Vec<u8>,
    slots: Vec<Slot>,
    dn_len: u32,
}

impl EntryBuilder {
    /// Start a new entry (what was added since the last `finish` is dropped).
    pub fn start(&mut self, dn: &str) -> Result<(), EntryTooLarge> {
        self.buf.clear();
        self.slots.clear();
        self.dn_len = fits(dn.len())?;
        self.buf.extend_from_slice(dn.as_bytes());
        Ok(())
    }

    pub fn dn(&self) -> &str {
        // SAFETY: the first `dn_len` bytes were copied from a `&str` by `start`.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.dn_len as usize]) }
    }

    pub fn text(&mut self, name: &str, value: &str) -> Result<(), EntryTooLarge> {
        self.push(attr_name(name), value.as_bytes(), 0)
    }

    /// Add raw bytes: text when they are UTF-8, binary otherwise.
    pub fn bytes(&mut self, name: &str, value: &[u8]) -> Result<(), EntryTooLarge> {
        let flag = if std::str::from_utf8(value).is_ok() {
            0
        } else {
            BINARY
        };
        self.push(attr_name(name), value, flag)
    }

    pub fn value(&mut self, name: &str, value: Value<'_>) -> Result<(), EntryTooLarge> {
        match value {
            Value::Text(t) => self.text(name, t),
            Value::Binary(b) => self.push(attr_name(name), b, BINARY),
        }
    }

    fn push(&mut self, name: &'static str, value: &[u8], flag: u32) -> Result<(), EntryTooLarge> {
        let start = fits(self.buf.len())?;
        let len = fits(value.len())?;
        fits(self.buf.len() + value.len())?;
        self.buf.extend_from_slice(value);
        self.slots.push(Slot {
            name,
            start,
            len: len | flag,
        });
        Ok(())
    }

    /// The entry, at its exact size; the builder is ready for the next.
    pub fn finish(&mut self) -> Entry {
        // Stable: the values of one name keep the order they were added in.
        self.slots.sort_by(|a, b| a.name.cmp(b.name));
        Entry {
            buf: self.buf.as_slice().into(),
            slots: self.slots.as_slice().into(),
            dn_len: self.dn_len,
        }
    }
}

fn fits(n: usize) -> Result<u32, EntryTooLarge> {
    u32::try_from(n)
        .ok()
        .filter(|n| n & BINARY == 0)
        .ok_or(EntryTooLarge)
}

/// The values of one attribute of an entry.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    buf: &'a [u8],
    slots: &'a [Slot],
}

impl<'a> Values<'a> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<Value<'a>> {
        self.slots.get(i).map(|s| value(self.buf, s))
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Value<'a>> + ExactSizeIterator + 'a {
        let buf = self.buf;
        self.slots.iter().map(move |s| value(buf, s))
    }
    /// The values that are text.
    pub fn texts(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter_map(Value::as_text)
    }
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn value<'a>(buf: &'a [u8], slot: &Slot) -> Value<'a> {
    let bytes = &buf[slot.range()];
    if slot.len & BINARY != 0 {
        Value::Binary(bytes)
    } else {
        // SAFETY: a slot without the binary bit was copied from a `&str` (`EntryBuilder::text`)
        // or checked to be UTF-8 (`EntryBuilder::bytes`).
        Value::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
    }
}

/// The lowercase, shared form of an attribute name. A directory has few distinct names (its
/// schema's) and millions of values: each value refers to its name, interned once per process.
pub fn attr_name(name: &str) -> &'static str {
    thread_local! {
        static CACHE: RefCell<rustc_hash::FxHashMap<Box<str>, &'static str>> = RefCell::default();
    }
    static NAMES: std::sync::Mutex<rustc_hash::FxHashSet<&'static str>> = std::sync::Mutex::new(
        rustc_hash::FxHashSet::with_hasher(rustc_hash::FxBuildHasher),
    );
    CACHE.with(|cache| {
        if let Some(n) = cache.borrow().get(name) {
            return *n;
        }
        let lower = name.to_ascii_lowercase();
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        let shared = match names.get(lower.as_str()) {
            Some(n) => *n,
            None => {
                // Leaked on purpose: bounded by the schema, and shared for the whole run.
                let n: &'static str = Box::leak(lower.into_boxed_str());
                names.insert(n);
                n
            }
        };
        cache.borrow_mut().insert(name.into(), shared);
        shared
    })
}

impl Entry {
    pub fn new(dn: impl AsRef<str>) -> Self {
        let mut b = EntryBuilder::default();
        // A DN over 2 GiB cannot come from a reader; such an entry is kept without its DN.
        let _ = b.start(dn.as_ref());
        b.finish()
    }

    pub fn dn(&self) -> &str {
        // SAFETY: the first `dn_len` bytes were copied from a `&str` by `EntryBuilder::start`.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.dn_len as usize]) }
    }

    /// A builder holding this entry, to add to it (a whole batch at once: each `finish` copies).
    pub fn into_builder(self) -> EntryBuilder {
        EntryBuilder {
            buf: self.buf.into_vec(),
            slots: self.slots.into_vec(),
            dn_len: self.dn_len,
        }
    }

    /// Add one value (for tests and small edits; readers use an [`EntryBuilder`]).
    pub fn add(&mut self, name: &str, value: AttrValue) {
        let mut b = std::mem::take(self).into_builder();
        let _ = b.value(name, value.as_value());
        *self = b.finish();
    }

    /// Keep only the values of `name` for which `keep` holds.
    pub fn retain(&mut self, name: &str, mut keep: impl FnMut(Value<'_>) -> bool) {
        let name = attr_name(name);
        let old = std::mem::take(self);
        let mut b = EntryBuilder::default();
        let _ = b.start(old.dn());
        for s in old.slots.iter() {
            let v = value(&old.buf, s);
            if s.name != name || keep(v) {
                let _ = b.value(s.name, v);
            }
        }
        *self = b.finish();
    }

    /// Remove every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.retain(name, |_| false);
    }

    pub fn values(&self, name: &str) -> Values<'_> {
        // Names are stored lowercase; most lookups pass a name that is (no allocation then).
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        let from = self.slots.partition_point(|s| s.name < name);
        let to = from + self.slots[from..].partition_point(|s| s.name == name);
        Values {
            buf: &self.buf,
            slots: &self.slots[from..to],
        }
    }
    pub fn first_text(&self, name: &str) -> Option<&str> {
        self.values(name).texts().next()
    }
    pub fn has(&self, name: &str) -> bool {
        !self.values(name).is_empty()
    }

    /// Every attribute, in name order, with its values.
    pub fn attrs(&self) -> impl Iterator<Item = (&'static str, Values<'_>)> + '_ {
        let mut rest = &self.slots[..];
        std::iter::from_fn(move || {
            let name = rest.first()?.name;
            let n = rest.partition_point(|s| s.name == name);
            let (these, more) = rest.split_at(n);
            rest = more;
            Some((
                name,
                Values {
                    buf: &self.buf,
                    slots: these,
                },
            ))
        })
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.dn() == other.dn()
            && self.slots.len() == other.slots.len()
            && self
                .slots
                .iter()
                .zip(other.slots.iter())
                .all(|(a, b)| a.name == b.name && value(&self.buf, a) == value(&other.buf, b))
    }
}

impl Eq for Entry {}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("dn", &self.dn())
            .field("attrs", &DebugAttrs(self))
            .finish()
    }
}

struct DebugAttrs<'a>(&'a Entry);

impl std::fmt::Debug for DebugAttrs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.attrs()).finish()
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
