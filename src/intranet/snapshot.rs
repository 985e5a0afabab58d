//! The intranet snapshot: SCIM 2.0 ListResponse JSON for Users and Groups in one file,
//! `{ "users": <ListResponse>, "groups": <ListResponse> }` (each may also be a list of pages),
//! and the conversion of SCIM resources into the observed model, shared with the live client.
//! A snapshot file is an [`IntranetTarget`] too ([`SnapshotTarget`]): read, never written.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::{read_source, Source, SourceError};
use crate::intranet::fields::Field;
use crate::intranet::{IntranetTarget, Reading, Sent, WriteOp};
use crate::model::{Account, Group, IntranetState};
use crate::report::Outcome;

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

/// A string attribute that holds something: `None` when absent, null, empty or not a string.
fn text<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r.get(key)?.as_str().filter(|s| !s.trim().is_empty())
}

/// A resource's `id`, when it can name the resource in a URL: writes go to `/Users/{id}`, and
/// `.`, `..` or a control character there would address another resource (or none).
fn id(r: &Value) -> Option<&str> {
    text(r, "id").filter(|s| *s != "." && *s != ".." && !s.chars().any(char::is_control))
}

/// `active`: true or false; absent or null counts as active (RFC 7643 gives it no default, and
/// a service that does not keep the attribute has no disabled accounts). `None` when it is
/// anything else.
fn active(u: &Value) -> Option<bool> {
    match u.get("active") {
        None | Some(Value::Null) => Some(true),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => None,
    }
}

/// One SCIM User resource as an account; `None` when it is not one Roster can plan from, as
/// [`user_problems`] says why.
pub fn account(u: &Value, fields: &[(String, Field)]) -> Option<Account> {
    Some(Account {
        id: id(u)?.to_owned(),
        username: text(u, "userName")?.to_owned(),
        external_id: u
            .get("externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        active: active(u)?,
        fields: fields
            .iter()
            .filter_map(|(name, f)| Some((name.clone(), f.read(u)?)))
            .collect(),
        etag: etag(u),
    })
}

/// What makes a SCIM User resource one Roster cannot plan from (empty: nothing): not an
/// object, no string `id` or `userName`, an `active` that is not a boolean. [`account`] is
/// `None` exactly when this is not empty.
pub fn user_problems(u: &Value) -> Vec<String> {
    resource_problems(u, "User", "userName", |p| {
        if active(u).is_none() {
            p.push(format!(
                "`active` is {}, not true or false",
                shown(u.get("active").unwrap_or(&Value::Null))
            ));
        }
    })
}

/// What makes a SCIM Group resource one Roster cannot plan from: not an object, no string
/// `id` or `displayName`. [`group`] is `None` exactly when this is not empty.
pub fn group_problems(g: &Value) -> Vec<String> {
    resource_problems(g, "Group", "displayName", |_| {})
}

fn resource_problems(
    r: &Value,
    what: &str,
    name: &str,
    more: impl FnOnce(&mut Vec<String>),
) -> Vec<String> {
    if !r.is_object() {
        return vec![format!("{} where a {what} resource is expected", shown(r))];
    }
    let mut p = Vec::new();
    for key in ["id", name] {
        match r.get(key) {
            None | Some(Value::Null) => p.push(format!("no `{key}`")),
            Some(Value::String(_)) if text(r, key).is_none() => p.push(format!("an empty `{key}`")),
            Some(Value::String(s)) if key == "id" && id(r).is_none() => p.push(format!(
                "an `id` that cannot name a resource in a URL (\"{}\")",
                short(s)
            )),
            Some(Value::String(_)) => {}
            Some(v) => p.push(format!("`{key}` is {}, not a string", shown(v))),
        }
    }
    more(&mut p);
    p
}

/// A JSON value as a diagnostic shows it: escaped, and short.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string \"{}\"", short(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// At most 60 characters of `s`, control characters escaped.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).flat_map(char::escape_debug).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// How a diagnostic names the resource at `index` (0-based) of a list: `#3 (id `abc`)`.
pub fn resource_name(r: &Value, index: usize) -> String {
    match r.get("id").and_then(Value::as_str) {
        Some(id) => format!("#{} (id `{}`)", index + 1, short(id)),
        None => format!("#{}", index + 1),
    }
}

/// One SCIM Group resource; `None` when [`group_problems`] finds any.
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
        id: id(g)?.to_owned(),
        display_name: text(g, "displayName")?.to_owned(),
        members,
        etag: etag(g),
    })
}

/// `manager` holds the manager's SCIM id as read: make it their username.
pub fn resolve_managers(state: &mut IntranetState) {
    managers_by_name(state, |id| format!("<unknown account {id}>"));
}

/// Turn every `manager` from an account id into that account's username; an id that names no
/// account becomes `unknown(id)`.
pub fn managers_by_name(state: &mut IntranetState, unknown: impl Fn(&str) -> String) {
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
            let name = names.get(id).cloned().unwrap_or_else(|| unknown(id));
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
    // The shape is right: now every resource, and no key twice.
    if let Some(e) = check(src) {
        return Err(e);
    }
    Ok(out)
}

/// The snapshot is not JSON (or not the JSON it should be) at `e`'s place.
fn malformed(src: &Source, e: &serde_json::Error) -> SourceError {
    malformed_in(src, e, None)
}

/// As [`malformed`], naming the resource the parser was in (`user #3 in `users``).
fn malformed_in(src: &Source, e: &serde_json::Error, inside: Option<String>) -> SourceError {
    // Without the place (the snippet shows it) and without the text it found (it may be a secret).
    let message = crate::diag::json_message(e);
    let message = match inside {
        Some(r) => format!("malformed intranet snapshot: {r}: {message}"),
        None => format!("malformed intranet snapshot: {message}"),
    };
    let (shown_src, at, place) = near(src, src.offset(e.line(), e.column()));
    let len = shown_src.text[at..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    SourceError::new("roster::snapshot::json", &shown_src, (at, len), message)
        .label(format!("here{place}"))
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
///
/// Every resource is checked ([`user_problems`], [`group_problems`], no id twice, no object
/// with a key twice). When one fails, the file is read again as text to report every problem
/// with its place: the cost of the places is paid only for a broken file.
pub fn read_state(path: &Path, fields: &[String]) -> miette::Result<IntranetState> {
    crate::diag::check_regular(path)?;
    let file = std::fs::File::open(path).map_err(|source| crate::diag::ReadError {
        path: path.display().to_string(),
        source,
    })?;
    let parsed = parse_fields(fields);
    let mut sink = stream::Model {
        fields: &parsed,
        out: IntranetState::default(),
        broken: false,
    };
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let result = serde::de::DeserializeSeed::deserialize(stream::Doc { sink: &mut sink }, &mut de)
        .and_then(|()| de.end());
    let mut state = sink.out;
    let broken = sink.broken || result.is_err() || has_duplicate_ids(&state);
    if broken {
        // Only now read the text, for diagnostics that show the places.
        let src = read_source(path)?;
        return Err(match check(&src) {
            Some(e) => e.into(),
            None => match result {
                Err(e) => malformed(&src, &e).into(),
                Ok(()) => miette::miette!("the intranet snapshot {} is invalid", path.display()),
            },
        });
    }
    resolve_managers(&mut state);
    Ok(state)
}

/// Why a snapshot file takes no write: the outcome of every change an apply would make to it.
pub const READ_ONLY: &str = "the intranet is a snapshot file; apply needs `intranet.scim`";

/// An intranet snapshot file as a target: read (streamed into the model, off the async
/// threads), never written: every write ends failed with [`READ_ONLY`], and none is sent.
#[derive(Debug, Clone)]
pub struct SnapshotTarget {
    path: PathBuf,
    fields: Vec<String>,
}

impl SnapshotTarget {
    /// The snapshot at `path`, read with the values of the intranet `fields`.
    pub fn new(path: PathBuf, fields: Vec<String>) -> SnapshotTarget {
        SnapshotTarget { path, fields }
    }

    /// Why `apply` cannot write here, as a diagnostic: before any write is tried.
    pub fn refusal(&self) -> ReadOnlyIntranet {
        ReadOnlyIntranet {
            path: crate::text::shown(&self.path.display().to_string()).into_owned(),
        }
    }
}

/// `roster apply` against a config whose intranet is a snapshot file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot apply to {path}: {}", READ_ONLY)]
#[diagnostic(
    code(roster::apply::read_only_intranet),
    help("nothing was written. A snapshot is for planning offline; to apply, name the live service instead of the file: `intranet: {{ scim: {{ url: ..., token: {{ env: ROSTER_SCIM_TOKEN }} }} }}`")
)]
pub struct ReadOnlyIntranet {
    /// The file, shown escaped.
    pub path: String,
}

fn read_only() -> Outcome {
    Outcome::failed(READ_ONLY)
}

impl IntranetTarget for SnapshotTarget {
    async fn read(&self) -> miette::Result<Reading> {
        let (path, fields) = (self.path.clone(), self.fields.clone());
        let state = crate::task::blocking(move || read_state(&path, &fields)).await?;
        Ok(Reading { state, read: None })
    }

    fn etags(&self) -> bool {
        false
    }

    fn unavailable(&self) -> Option<Outcome> {
        Some(read_only())
    }

    fn check(&self, _: &WriteOp) -> Result<(), Outcome> {
        Err(read_only())
    }

    async fn write(&self, _: &WriteOp) -> Sent {
        Err(read_only())
    }
}

fn has_duplicate_ids(state: &IntranetState) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(state.accounts.len());
    if !state.accounts.iter().all(|a| seen.insert(a.id.as_str())) {
        return true;
    }
    seen.clear();
    !state.groups.iter().all(|g| seen.insert(g.id.as_str()))
}

/// The text a diagnostic at `offset` shows: the file itself, or, when that line is too long to
/// show (a snapshot written on one line), a window of it around the place, with the real line
/// and column for the label. Returns the source, the offset in it, and the label's addition.
fn near(src: &Source, offset: usize) -> (Source, usize, String) {
    const WIDE: usize = 400;
    let text = src.text.as_str();
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    if line_end - line_start <= WIDE {
        return (src.clone(), offset, String::new());
    }
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let from = floor(offset.saturating_sub(WIDE / 3).max(line_start));
    let to = floor((offset + WIDE * 2 / 3).min(line_end));
    let line = text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    let column = text[line_start..offset].chars().count() + 1;
    let (before, after) = (
        if from > line_start { "…" } else { "" },
        if to < line_end { "…" } else { "" },
    );
    let window = Source {
        name: src.name.clone(),
        text: std::sync::Arc::new(format!("{before}{}{after}", &text[from..to])),
        secrets_masked: src.secrets_masked,
    };
    (
        window,
        before.len() + offset - from,
        format!(" (line {line}, column {column}; the line is shown in part)"),
    )
}

/// Every problem in a snapshot's text, each at its place; `None` when it has none.
pub fn check(src: &Source) -> Option<SourceError> {
    let pos = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = stream::Counting {
        bytes: src.text.as_bytes(),
        pos: pos.clone(),
    };
    let mut sink = stream::Check::new(pos);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = serde::de::DeserializeSeed::deserialize(stream::Doc { sink: &mut sink }, &mut de)
        .and_then(|()| de.end());
    if let Err(e) = result {
        return Some(malformed_in(src, &e, sink.inside()));
    }
    const SHOWN: usize = 50;
    let text = src.text.as_bytes();
    let mut errors = Vec::new();
    let mut total = 0;
    let mut first_of: HashMap<(stream::Kind, &str), usize> = HashMap::new();
    for r in &sink.records {
        let mut problems = r.problems.clone();
        if let Some(id) = &r.id {
            if let Some(first) = first_of.get(&(r.kind, id.as_str())) {
                problems.push(format!(
                    "its id is also the id of {} #{}",
                    r.kind.singular(),
                    first + 1
                ));
            } else {
                first_of.insert((r.kind, id.as_str()), r.index);
            }
        }
        if problems.is_empty() {
            continue;
        }
        total += 1;
        if errors.len() == SHOWN {
            continue;
        }
        // The resource starts after the separators that precede it.
        let start = (r.start..r.end)
            .find(|&i| !matches!(text[i], b' ' | b'\t' | b'\r' | b'\n' | b',' | b'['))
            .unwrap_or(r.start);
        let len = if text.get(start) == Some(&b'n') { 4 } else { 1 };
        let name = match &r.id {
            Some(id) => format!("#{} (id `{}`)", r.index + 1, short(id)),
            None => format!("#{}", r.index + 1),
        };
        let (code, help) = if problems.iter().any(|p| p.starts_with("its id is also")) {
            ("roster::snapshot::duplicate_id", "an id names one resource: the snapshot holds this one twice (a paging fault of the service it was taken from?)")
        } else if r.kind == stream::Kind::Users {
            ("roster::snapshot::invalid_resource", "a User needs a string `id` and `userName`, and `active`, when present, is true or false (RFC 7643 §4.1)")
        } else {
            (
                "roster::snapshot::invalid_resource",
                "a Group needs a string `id` and `displayName` (RFC 7643 §4.2)",
            )
        };
        let (shown_src, at, place) = near(src, start);
        errors.push(
            SourceError::new(
                code,
                &shown_src,
                (at, len),
                format!(
                    "{} {name} in `{}`: {}",
                    r.kind.singular(),
                    r.kind.key(),
                    problems.join(", ")
                ),
            )
            .label(format!("this {}{place}", r.kind.singular()))
            .help(help),
        );
    }
    if total > errors.len() {
        let more = total - errors.len();
        errors.push(
            SourceError::new(
                "roster::snapshot::invalid_resource",
                src,
                (0, 0),
                format!("and {more} more invalid resources"),
            )
            .help("fix the ones above, then run again to see the rest"),
        );
    }
    SourceError::many(errors)
}

/// Serde visitors that walk the snapshot document and hand each resource to a sink as it is
/// read: the model ([`Model`]) on the fast path, or the checks with places ([`Check`]).
mod stream {
    use std::cell::Cell;
    use std::fmt;
    use std::rc::Rc;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    use crate::intranet::fields::Field;
    use crate::model::IntranetState;

    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum Kind {
        Users,
        Groups,
    }

    impl Kind {
        pub fn singular(self) -> &'static str {
            match self {
                Kind::Users => "User",
                Kind::Groups => "Group",
            }
        }
        pub fn key(self) -> &'static str {
            match self {
                Kind::Users => "users",
                Kind::Groups => "groups",
            }
        }
    }

    /// Where the resources go.
    pub trait Sink {
        /// A `Resources` list of `kind` begins.
        fn begin(&mut self, kind: Kind);
        fn resource(&mut self, kind: Kind, r: Value);
        /// The `Resources` list ended.
        fn end(&mut self) {}
    }

    /// The fast path: resources into the model; `broken` when one is not valid.
    pub struct Model<'a> {
        pub fields: &'a [(String, Field)],
        pub out: IntranetState,
        pub broken: bool,
    }

    impl Sink for Model<'_> {
        fn begin(&mut self, _: Kind) {}
        fn resource(&mut self, kind: Kind, r: Value) {
            match kind {
                Kind::Users => match super::account(&r, self.fields) {
                    Some(a) => self.out.accounts.push(a),
                    None => self.broken = true,
                },
                Kind::Groups => match super::group(&r) {
                    Some(g) => self.out.groups.push(g),
                    None => self.broken = true,
                },
            }
        }
    }

    /// Text handed to serde_json one read at a time, counting what it consumed: the place of
    /// each resource for [`Check`].
    pub struct Counting<'a> {
        pub bytes: &'a [u8],
        pub pos: Rc<Cell<usize>>,
    }

    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let at = self.pos.get();
            let n = buf.len().min(self.bytes.len() - at);
            buf[..n].copy_from_slice(&self.bytes[at..at + n]);
            self.pos.set(at + n);
            Ok(n)
        }
    }

    /// One resource as checked: where it is (`start..end` holds it, after separators), its id
    /// and its problems.
    pub struct Record {
        pub kind: Kind,
        pub index: usize,
        pub start: usize,
        pub end: usize,
        pub id: Option<String>,
        pub problems: Vec<String>,
    }

    /// The slow path: every resource's problems, with its place.
    pub struct Check {
        pos: Rc<Cell<usize>>,
        last: usize,
        counts: [usize; 2],
        current: Option<Kind>,
        pub records: Vec<Record>,
    }

    impl Check {
        pub fn new(pos: Rc<Cell<usize>>) -> Check {
            Check {
                pos,
                last: 0,
                counts: [0, 0],
                current: None,
                records: Vec::new(),
            }
        }

        /// The 1-based index of the resource being read when parsing stopped.
        pub fn inside_index(&self) -> Option<usize> {
            let kind = self.current?;
            Some(self.counts[kind as usize] + 1)
        }

        /// The resource being read when parsing stopped, as a diagnostic names it.
        pub fn inside(&self) -> Option<String> {
            let kind = self.current?;
            Some(format!(
                "{} #{} in `{}`",
                kind.singular(),
                self.counts[kind as usize] + 1,
                kind.key()
            ))
        }
    }

    impl Sink for Check {
        fn begin(&mut self, kind: Kind) {
            self.current = Some(kind);
            self.last = self.pos.get();
        }
        fn resource(&mut self, kind: Kind, r: Value) {
            let end = self.pos.get();
            let index = self.counts[kind as usize];
            self.counts[kind as usize] += 1;
            let problems = match kind {
                Kind::Users => super::user_problems(&r),
                Kind::Groups => super::group_problems(&r),
            };
            self.records.push(Record {
                kind,
                index,
                start: self.last,
                end,
                id: super::text(&r, "id").map(str::to_owned),
                problems,
            });
            self.last = end;
        }
        fn end(&mut self) {
            self.current = None;
        }
    }

    /// A JSON value as `serde_json::Value` reads it, except that an object repeating a key is an
    /// error: serde_json would keep the last one silently, and which of two `userName`s or `id`s
    /// counts must not be a guess.
    pub struct Strict;

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(Strict)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(v) = seq.next_element_seed(Strict)? {
                items.push(v);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Strict)?;
                match out.entry(key) {
                    serde_json::map::Entry::Vacant(e) => {
                        e.insert(value);
                    }
                    serde_json::map::Entry::Occupied(e) => {
                        return Err(de::Error::custom(format!(
                            "the key `{}` appears twice in one object",
                            super::short(e.key())
                        )))
                    }
                }
            }
            Ok(Value::Object(out))
        }
    }

    /// Parse JSON text as [`Strict`] does.
    pub fn strict_from_str(text: &str) -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = Strict.deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    pub struct Doc<'a> {
        pub sink: &'a mut dyn Sink,
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
            let mut seen = [false, false];
            while let Some(key) = map.next_key::<String>()? {
                let kind = match key.as_str() {
                    "users" => Kind::Users,
                    "groups" => Kind::Groups,
                    other => {
                        return Err(de::Error::custom(format!(
                            "`{}` is not a snapshot key (the snapshot has `users` and `groups`)",
                            super::short(other)
                        )))
                    }
                };
                if std::mem::replace(&mut seen[kind as usize], true) {
                    return Err(de::Error::custom(format!(
                        "the key `{}` appears twice",
                        kind.key()
                    )));
                }
                map.next_value_seed(List {
                    kind,
                    sink: &mut *self.sink,
                })?;
            }
            Ok(())
        }
    }

    /// One ListResponse of Users, into `sink`.
    pub fn page<'de, D: de::Deserializer<'de>>(sink: &mut dyn Sink, d: D) -> Result<(), D::Error> {
        List {
            kind: Kind::Users,
            sink,
        }
        .deserialize(d)
    }

    /// A ListResponse, or a list of them (pages).
    struct List<'a> {
        kind: Kind,
        sink: &'a mut dyn Sink,
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
                    sink: &mut *self.sink,
                })?
                .is_some()
            {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut resources = false;
            while let Some(key) = map.next_key::<String>()? {
                if key == "Resources" {
                    if std::mem::replace(&mut resources, true) {
                        return Err(de::Error::custom("the key `Resources` appears twice"));
                    }
                    map.next_value_seed(Resources {
                        kind: self.kind,
                        sink: &mut *self.sink,
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
        sink: &'a mut dyn Sink,
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
            self.sink.begin(self.kind);
            while let Some(r) = seq.next_element_seed(Strict)? {
                self.sink.resource(self.kind, r);
            }
            self.sink.end();
            Ok(())
        }
    }
}

/// Parse JSON text as strictly as a snapshot is read: an object repeating a key is an error.
pub fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    stream::strict_from_str(text)
}

/// In a ListResponse body that [`strict_json`] refused, the resource (1-based, in its
/// `Resources`) the fault is in, when it is in one.
pub fn faulty_resource(text: &str) -> Option<usize> {
    let pos = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = stream::Counting {
        bytes: text.as_bytes(),
        pos: pos.clone(),
    };
    let mut sink = stream::Check::new(pos);
    let mut de = serde_json::Deserializer::from_reader(reader);
    match stream::page(&mut sink, &mut de) {
        Ok(()) => None,
        Err(_) => sink.inside_index(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The real apply against a snapshot file: read through the target (no way of reading
    /// recorded), and every change refused before anything is sent, with the reason.
    #[tokio::test]
    async fn a_snapshot_target_reads_and_refuses_every_write() {
        use crate::plan::{Action, Change, FieldChange, Inputs, Plan};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intranet.json");
        let text = json!({
            "users": { "Resources": [
                { "id": "1", "userName": "ann", "externalId": "e1", "title": "Cook" } ] },
            "groups": { "Resources": [] }
        });
        std::fs::write(&path, text.to_string()).unwrap();
        let target = SnapshotTarget::new(path.clone(), vec!["job_title".into()]);
        let reading = target.read().await.unwrap();
        assert_eq!(reading.read, None);
        assert_eq!(reading.state.accounts.len(), 1);
        assert_eq!(
            reading.state.accounts[0].fields.get("job_title"),
            Some("Cook")
        );

        let change = |action, username: &str, intranet_id: Option<&str>| Change {
            action,
            username: username.into(),
            external_id: Some(format!("e-{username}")),
            intranet_id: intranet_id.map(str::to_owned),
            etag: None,
            fields: vec![FieldChange::new("job_title", None, Some("Chef".into()))],
            role: None,
            reason: "test".into(),
        };
        let plan = Plan::new(
            Inputs::default(),
            vec![],
            vec![
                change(Action::Create, "bob", None),
                change(Action::Update, "ann", Some("1")),
            ],
        );
        let report = crate::apply::apply(&target, &plan, &reading.state).await;
        assert_eq!(report.outcomes.len(), 2);
        for o in &report.outcomes {
            assert_eq!(o.outcome, Outcome::failed(READ_ONLY), "{o:?}");
        }
        // Nothing was written to the file.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text.to_string());
        let shown = miette::Report::new(target.refusal()).to_string();
        assert!(
            shown.contains("apply needs `intranet.scim`") && shown.contains("intranet.json"),
            "{shown}"
        );
    }

    #[test]
    fn account_is_none_exactly_when_user_problems_says_why() {
        let fields = parse_fields(&[]);
        let cases = [
            (json!({"id": "1", "userName": "ann"}), vec![]),
            (
                json!({"id": "1", "userName": "ann", "active": false}),
                vec![],
            ),
            (
                json!({"id": "1", "userName": "ann", "active": null}),
                vec![],
            ),
            (json!({"id": "1"}), vec!["no `userName`"]),
            (
                json!({"id": "1", "userName": ""}),
                vec!["an empty `userName`"],
            ),
            (
                json!({"id": 7, "userName": ["a"]}),
                vec![
                    "`id` is 7, not a string",
                    "`userName` is a list, not a string",
                ],
            ),
            (
                json!({"id": "1", "userName": "ann", "active": "yes"}),
                vec!["`active` is the string \"yes\", not true or false"],
            ),
            (
                json!({"id": "1", "userName": "ann", "active": 1}),
                vec!["`active` is 1, not true or false"],
            ),
            (Value::Null, vec!["null where a User resource is expected"]),
            (
                json!("ann"),
                vec!["the string \"ann\" where a User resource is expected"],
            ),
        ];
        for (r, want) in cases {
            assert_eq!(user_problems(&r), want, "{r}");
            assert_eq!(account(&r, &fields).is_none(), !want.is_empty(), "{r}");
        }
        // Absent `active` is active.
        assert!(
            account(&json!({"id": "1", "userName": "ann"}), &fields)
                .unwrap()
                .active
        );
        let g = json!({"id": "g", "members": []});
        assert_eq!(group_problems(&g), ["no `displayName`"]);
        assert!(group(&g).is_none());
    }

    #[test]
    fn strict_json_refuses_a_repeated_key_at_any_depth() {
        assert!(strict_json(r#"{"a": 1, "b": {"c": [1, 2.5, null, true, "x"]}}"#).is_ok());
        let e = strict_json(r#"{"a": 1, "b": {"c": 1, "c": 2}}"#).unwrap_err();
        assert!(e.to_string().contains("the key `c` appears twice"), "{e}");
        assert!(e.line() == 1 && e.column() > 0, "{e}");
    }

    fn problems(text: &str) -> Vec<String> {
        let src = Source::new(Path::new("intranet.json"), text.to_string());
        match check(&src) {
            None => vec![],
            Some(e) if e.related.is_empty() => vec![e.message],
            Some(e) => e.related.into_iter().map(|r| r.message).collect(),
        }
    }

    #[test]
    fn problems_are_placed_and_counted_across_pages() {
        let doc = r#"{"users": [
            {"Resources": [{"id": "a", "userName": "ann"}, {"id": "b", "userName": "bo"}]},
            {"Resources": [{"id": "c"}, {"id": "a", "userName": "al"}]}
          ], "groups": {"Resources": [null]}}"#;
        assert_eq!(
            problems(doc),
            [
                "User #3 (id `c`) in `users`: no `userName`",
                "User #4 (id `a`) in `users`: its id is also the id of User #1",
                "Group #1 in `groups`: null where a Group resource is expected",
            ]
        );
        let src = Source::new(Path::new("intranet.json"), doc.to_string());
        let e = check(&src).unwrap();
        let offsets: Vec<usize> = e.related.iter().map(|r| r.span.offset()).collect();
        assert_eq!(&doc[offsets[0]..offsets[0] + 11], "{\"id\": \"c\"}");
        assert_eq!(&doc[offsets[2]..offsets[2] + 4], "null");
        // A fault after a list names no resource; one inside a resource names it.
        let after = problems(r#"{"users": {"Resources": [], "x": }}"#);
        assert!(!after[0].contains("User #"), "{after:?}");
        assert_eq!(
            faulty_resource(
                r#"{"totalResults": 2, "Resources": [{"id": "a"}, {"id": "b", "id": "c"}]}"#
            ),
            Some(2)
        );
        assert_eq!(
            faulty_resource(r#"{"totalResults": 2, "x": 1, "x": 2}"#),
            None
        );
        let inside = problems(r#"{"users": {"Resources": [{"id": "a", "id": "b"}]}}"#);
        assert!(
            inside[0].contains("User #1 in `users`: the key `id` appears twice"),
            "{inside:?}"
        );
        assert!(problems(r#"{"users": {"Resources": [{"id": "a", "userName": "x"}]}}"#).is_empty());
    }

    #[test]
    fn a_place_on_a_very_long_line_is_shown_in_part() {
        let users: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"id": "u{i}", "userName": "n{i}"}}"#))
            .collect();
        let doc = format!(
            r#"{{"users": {{"Resources": [{}, {{"id": "bad"}}]}}}}"#,
            users.join(", ")
        );
        let src = Source::new(Path::new("intranet.json"), doc.clone());
        let e = check(&src).unwrap();
        let column = doc.find(r#"{"id": "bad"}"#).unwrap() + 1;
        assert!(
            e.label.ends_with(&format!(
                "(line 1, column {column}; the line is shown in part)"
            )),
            "{}",
            e.label
        );
        let shown = miette::Diagnostic::source_code(&e).unwrap();
        let span = miette::SourceSpan::from((0, 1));
        let text = shown.read_span(&span, 0, usize::MAX).unwrap();
        assert!(text.data().len() < 1000, "{}", text.data().len());
    }

    #[test]
    fn shown_values_are_escaped_and_short() {
        assert_eq!(
            shown(&json!("a\u{1b}[31mb")),
            "the string \"a\\u{1b}[31mb\""
        );
        assert!(shown(&json!("x".repeat(500))).ends_with("…\""));
    }
}
