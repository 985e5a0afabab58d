//! Observed state, source-neutral: what a directory and an intranet hold, as plain data.
//!
//! Every source (LDIF snapshot, live LDAP, SCIM JSON snapshot, live SCIM) produces these types;
//! reconcile reads only these. Attribute names are kept lowercase so lookups are case-insensitive,
//! as LDAP attribute names are.

use std::cell::RefCell;
use std::sync::{Mutex, RwLock};

use rustc_hash::FxHashMap;

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
    /// The attribute name's id (see [`Interner`]).
    name: u32,
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
        self.push(read_attr_id(name), value.as_bytes(), 0)
    }

    /// Add raw bytes: text when they are UTF-8, binary otherwise.
    pub fn bytes(&mut self, name: &str, value: &[u8]) -> Result<(), EntryTooLarge> {
        let flag = if std::str::from_utf8(value).is_ok() {
            0
        } else {
            BINARY
        };
        self.push(read_attr_id(name), value, flag)
    }

    pub fn value(&mut self, name: &str, value: Value<'_>) -> Result<(), EntryTooLarge> {
        match value {
            Value::Text(t) => self.text(name, t),
            Value::Binary(b) => self.push(read_attr_id(name), b, BINARY),
        }
    }

    fn push(&mut self, name: u32, value: &[u8], flag: u32) -> Result<(), EntryTooLarge> {
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
        // Stable, by name: the values of one name stay adjacent and in the order added.
        self.slots
            .sort_by(|a, b| attr_str(a.name).cmp(attr_str(b.name)));
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

/// Names shared by millions of records (attribute names, field names): each distinct name is
/// kept once for the whole run, and records hold its 4-byte id. A directory's schema has a few
/// hundred names at most, so they are never freed.
pub struct Interner {
    ids: Mutex<FxHashMap<&'static str, u32>>,
    names: RwLock<Vec<&'static str>>,
}

impl Interner {
    const fn new() -> Interner {
        Interner {
            ids: Mutex::new(FxHashMap::with_hasher(rustc_hash::FxBuildHasher)),
            names: RwLock::new(Vec::new()),
        }
    }

    fn intern(&self, name: &str) -> u32 {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        let id = names.len() as u32;
        let name: &'static str = Box::leak(name.into());
        names.push(name);
        ids.insert(name, id);
        id
    }

    fn find(&self, name: &str) -> Option<u32> {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(name).copied()
    }

    fn all(&self) -> Vec<&'static str> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

static ATTRIBUTES: Interner = Interner::new();
/// How each attribute name was first spelled in data read, by id (with capitals when any
/// reader kept them).
static SPELLINGS: Mutex<FxHashMap<u32, &'static str>> =
    Mutex::new(FxHashMap::with_hasher(rustc_hash::FxBuildHasher));
static FIELDS: Interner = Interner::new();

thread_local! {
    /// Per thread, in front of the shared tables: name as given → id, and id → name.
    static ATTRIBUTE_IDS: RefCell<FxHashMap<Box<str>, u32>> = RefCell::default();
    /// The same for names met in data read, whose spelling is noted once per thread.
    static READ_ATTRIBUTE_IDS: RefCell<FxHashMap<Box<str>, u32>> = RefCell::default();
    static ATTRIBUTE_NAMES: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    static FIELD_IDS: RefCell<FxHashMap<Box<str>, u32>> = RefCell::default();
    static FIELD_NAMES: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// The id of an attribute name (any case).
fn attr_id(name: &str) -> u32 {
    cached_id(&ATTRIBUTE_IDS, name, || {
        Some(ATTRIBUTES.intern(&name.to_ascii_lowercase()))
    })
    .unwrap_or_default()
}

/// The id of an attribute name in data read (an entry being built), noting how it was spelled.
fn read_attr_id(name: &str) -> u32 {
    cached_id(&READ_ATTRIBUTE_IDS, name, || {
        let id = attr_id(name);
        let mut spellings = SPELLINGS.lock().unwrap_or_else(|e| e.into_inner());
        let known = spellings.get(&id).copied();
        // The first spelling with capitals wins: a reader that lowercased the name (as a live
        // read does) says nothing about how the directory writes it.
        if known.is_none_or(|k: &str| k != name && !k.bytes().any(|b| b.is_ascii_uppercase())) {
            spellings.insert(id, Box::leak(name.into()));
        }
        Some(id)
    })
    .unwrap_or_default()
}

/// An attribute name as the data read spelled it (`givenName`), for people: the lowercase name
/// when no entry read had it.
pub fn attr_spelling(name: &str) -> &'static str {
    let id = attr_id(name);
    let spelled = SPELLINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .copied();
    spelled.unwrap_or_else(|| attr_str(id))
}

/// A name's id from this thread's cache, else from `miss` (cached when it gives one).
fn cached_id(
    cache: &'static std::thread::LocalKey<RefCell<FxHashMap<Box<str>, u32>>>,
    name: &str,
    miss: impl FnOnce() -> Option<u32>,
) -> Option<u32> {
    cache.with(|cache| {
        if let Some(&id) = cache.borrow().get(name) {
            return Some(id);
        }
        let id = miss()?;
        cache.borrow_mut().insert(name.into(), id);
        Some(id)
    })
}

fn attr_str(id: u32) -> &'static str {
    name_of(&ATTRIBUTE_NAMES, &ATTRIBUTES, id)
}

fn name_of(
    cache: &'static std::thread::LocalKey<RefCell<Vec<&'static str>>>,
    table: &Interner,
    id: u32,
) -> &'static str {
    cache.with(|names| {
        if let Some(n) = names.borrow().get(id as usize) {
            return *n;
        }
        let all = table.all();
        let n = all.get(id as usize).copied().unwrap_or("");
        *names.borrow_mut() = all;
        n
    })
}

/// An attribute name, interned: looking it up in an entry compares ids, with no hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrId(u32);

impl AttrId {
    /// The id of an attribute name (any case).
    pub fn of(name: &str) -> AttrId {
        AttrId(attr_id(name))
    }
}

/// What names an attribute in a lookup: its name (any case), or its interned id.
pub trait AttrKey {
    fn attr_id(&self) -> u32;
}

impl AttrKey for str {
    fn attr_id(&self) -> u32 {
        attr_id(self)
    }
}

impl AttrKey for String {
    fn attr_id(&self) -> u32 {
        attr_id(self)
    }
}

impl<T: AttrKey + ?Sized> AttrKey for &T {
    fn attr_id(&self) -> u32 {
        (**self).attr_id()
    }
}

impl AttrKey for AttrId {
    fn attr_id(&self) -> u32 {
        self.0
    }
}

/// The lowercase, shared form of an attribute name. A directory has few distinct names (its
/// schema's) and millions of values: each value refers to its name, interned once per process.
pub fn attr_name(name: &str) -> &'static str {
    attr_str(attr_id(name))
}

/// The id of a field name, interning it.
fn field_id(name: &str) -> u32 {
    cached_id(&FIELD_IDS, name, || Some(FIELDS.intern(name))).unwrap_or_default()
}

/// The id of a field name, if any record holds that field.
fn find_field(name: &str) -> Option<u32> {
    cached_id(&FIELD_IDS, name, || FIELDS.find(name))
}

fn field_str(id: u32) -> &'static str {
    name_of(&FIELD_NAMES, &FIELDS, id)
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
        let name = attr_id(name);
        let old = std::mem::take(self);
        let mut b = EntryBuilder::default();
        let _ = b.start(old.dn());
        for s in old.slots.iter() {
            let v = value(&old.buf, s);
            if s.name != name || keep(v) {
                let flag = s.len & BINARY;
                let _ = b.push(s.name, v.as_bytes(), flag);
            }
        }
        *self = b.finish();
    }

    /// Remove every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.retain(name, |_| false);
    }

    pub fn values<K: AttrKey + ?Sized>(&self, name: &K) -> Values<'_> {
        // Slots are sorted by name, so one attribute's values are adjacent; an entry has a
        // handful of attributes, and comparing ids is cheap.
        let name = name.attr_id();
        let from = self
            .slots
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(self.slots.len());
        let to = from + self.slots[from..].partition_point(|s| s.name == name);
        Values {
            buf: &self.buf,
            slots: &self.slots[from..to],
        }
    }
    pub fn first_text<K: AttrKey + ?Sized>(&self, name: &K) -> Option<&str> {
        self.values(name).texts().next()
    }
    pub fn has<K: AttrKey + ?Sized>(&self, name: &K) -> bool {
        !self.values(name).is_empty()
    }
    /// A key attribute (immutable ID, username): its first text value, trimmed; `None` when
    /// missing or blank. Every reader of a key goes through here, so all agree on it.
    pub fn key_text<K: AttrKey + ?Sized>(&self, name: &K) -> Option<&str> {
        self.first_text(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Where `text` sits in this entry, when it is a slice of one of its values (as a mapped
    /// value taken as it is): `(offset, length)`, for [`Entry::text_at`].
    pub fn span_of(&self, text: &str) -> Option<(u32, u32)> {
        let base = self.buf.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        let inside = at >= base && at + text.len() <= base + self.buf.len();
        // Under 2 GiB, as every entry is.
        inside.then(|| ((at - base) as u32, text.len() as u32))
    }

    /// The text at a span that [`Entry::span_of`] gave.
    pub fn text_at(&self, start: u32, len: u32) -> &str {
        let range = start as usize..start as usize + len as usize;
        self.buf
            .get(range)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
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
                attr_str(name),
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
    /// How the source names groups and members, and so how names are compared.
    pub identity: crate::directory::GroupIdentity,
    /// DNs of users the server itself reported as disabled (the `{ filter: ... }` disabled form).
    pub disabled_by_filter: Option<std::collections::BTreeSet<String>>,
    /// Things a reviewer must see about the read itself (clear-text bind allowed by `insecure`,
    /// a connection that dropped and was read again). Carried into the plan's warnings.
    pub warnings: Vec<String>,
    /// The keys ([`GroupIdentity::key`](crate::directory::GroupIdentity::key)) of the groups
    /// listed whose members were not read (an Entra ID read expands only the groups the config
    /// names; the others are listed for a "did you mean"). Such a group holds no `member`
    /// values, which does not mean it is empty.
    pub unread_groups: std::collections::BTreeSet<String>,
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

/// Mapped field values of an account, by field name. Absent means the field holds no value.
///
/// Compact, because an intranet can hold millions of accounts: the values sit back to back in
/// one string, indexed by (field name id, end offset), in name order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    text: Box<str>,
    index: Box<[(u32, u32)]>,
}

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        let id = find_field(name)?;
        let i = self.index.iter().position(|(n, _)| *n == id)?;
        Some(self.value(i))
    }
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// Set a field; returns the value it replaces.
    pub fn insert(&mut self, name: &str, value: String) -> Option<String> {
        let old = self.remove(name);
        let mut all: Vec<(&str, &str)> = self.iter().collect();
        all.push((name, &value));
        *self = Fields::build(all);
        old
    }
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let old = self.get(name)?.to_owned();
        let rest: Vec<(&str, &str)> = self.iter().filter(|(n, _)| *n != name).collect();
        *self = Fields::build(rest);
        Some(old)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        (0..self.index.len()).map(|i| (field_str(self.index[i].0), self.value(i)))
    }
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.index[i - 1].1 };
        &self.text[start as usize..self.index[i].1 as usize]
    }

    /// From (name, value) pairs; a later pair for one name replaces an earlier one.
    fn build<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Fields {
        let mut pairs: Vec<(u32, &'static str, V)> = pairs
            .into_iter()
            .map(|(k, v)| {
                let id = field_id(k.as_ref());
                (id, field_str(id), v)
            })
            .collect();
        pairs.sort_by(|a, b| a.1.cmp(b.1));
        // Keep the last value given for a name.
        pairs.reverse();
        pairs.dedup_by_key(|p| p.0);
        pairs.reverse();
        let mut text = String::with_capacity(pairs.iter().map(|p| p.2.as_ref().len()).sum());
        let mut index = Vec::with_capacity(pairs.len());
        for (id, _, v) in &pairs {
            text.push_str(v.as_ref());
            // Field values are short; one over 4 GiB would not have come through SCIM.
            index.push((*id, u32::try_from(text.len()).unwrap_or(u32::MAX)));
        }
        Fields {
            text: text.into_boxed_str(),
            index: index.into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>> FromIterator<(K, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, String)>>(iter: I) -> Fields {
        Fields::build(iter)
    }
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

impl IntranetState {
    /// The intranet group a role names: by exact name, else ignoring case.
    pub fn role_group(&self, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.display_name == name)
            .or_else(|| {
                self.groups
                    .iter()
                    .find(|g| g.display_name.eq_ignore_ascii_case(name))
            })
    }
}

/// Everything read from the intranet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntranetState {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_values_keep_order_by_name() {
        let mut b = EntryBuilder::default();
        b.start("uid=a,dc=x").unwrap();
        b.text("mail", "b@x").unwrap();
        b.text("CN", "A").unwrap();
        b.bytes("jpegPhoto", &[0xff, 0xd8]).unwrap();
        b.text("mail", "a@x").unwrap();
        let e = b.finish();
        assert_eq!(e.dn(), "uid=a,dc=x");
        assert_eq!(e.values("MAIL").texts().collect::<Vec<_>>(), ["b@x", "a@x"]);
        assert_eq!(e.first_text("cn"), Some("A"));
        assert_eq!(
            e.values("jpegphoto").get(0),
            Some(Value::Binary(&[0xff, 0xd8]))
        );
        assert!(e.values("never-seen-attribute").is_empty());
        let names: Vec<_> = e.attrs().map(|(n, v)| (n, v.len())).collect();
        assert_eq!(names, [("cn", 1), ("jpegphoto", 1), ("mail", 2)]);
        let mut kept = e.clone();
        kept.retain("mail", |v| v.as_text() == Some("a@x"));
        assert_eq!(kept.values("mail").texts().collect::<Vec<_>>(), ["a@x"]);
        assert_eq!(kept.values("jpegphoto").len(), 1);
        assert_ne!(kept, e);
    }

    #[test]
    fn fields_are_sorted_and_a_later_value_wins() {
        let mut f: Fields = [("title", "Eng".to_owned()), ("email", "a@x".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("email", "a@x"), ("title", "Eng")]
        );
        assert_eq!(f.insert("title", "Boss".into()), Some("Eng".into()));
        assert_eq!(f.insert("department", "R&D".into()), None);
        assert_eq!(f.get("title"), Some("Boss"));
        assert_eq!(f.get("no-such-field"), None);
        assert_eq!(f.remove("email"), Some("a@x".into()));
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("department", "R&D"), ("title", "Boss")]
        );
        let dup: Fields = [("x", "1".to_owned()), ("x", "2".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(dup.get("x"), Some("2"));
        assert_eq!(dup.len(), 1);
    }
}
