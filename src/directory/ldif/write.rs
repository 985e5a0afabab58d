//! Writing the directory as read to LDIF (RFC 2849), the form `ldif::read` reads back:
//! `roster snapshot directory`. Values that are not safe strings go out as base64 (`::`), lines
//! fold at 76 columns, and the DN is base64 too when it needs to be.
//!
//! Only what the directory returned is written: users, then groups, attribute names lowercased as
//! the model holds them. The bind password is not part of the state and so never reaches the file.
//! The DNs the server matched with the `disabled: { filter }` rule are noted in a comment above
//! their entry, the read's warnings in comments at the end (comments are not data: a snapshot is
//! evaluated without them). A live read streams into the file ([`LdifWriter`] is an
//! [`EntrySink`]), so a large directory is never held in memory.

use std::collections::BTreeSet;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use base64::Engine;

use crate::directory::groups::normalized;
use crate::directory::{EntrySink, Kind};
use crate::model::{DirectoryState, Entry};

/// Longest line written; longer ones are folded (a continuation line starts with one space).
const WIDTH: usize = 76;

/// Write every user and group of `state` as an LDIF content file.
pub fn write_ldif(state: &DirectoryState, out: &mut impl Write) -> io::Result<()> {
    let mut w = LdifWriter::new(out);
    w.begin(state.disabled_by_filter.as_ref())?;
    for e in &state.users {
        w.entry(Kind::User, e)?;
    }
    for e in &state.groups {
        w.entry(Kind::Group, e)?;
    }
    w.finish(&state.warnings)
}

/// An LDIF snapshot written entry by entry.
pub struct LdifWriter<W: Write> {
    out: W,
    disabled: Option<BTreeSet<String>>,
    /// Users and groups written since the last `begin`.
    pub users: usize,
    pub groups: usize,
}

impl<W: Write> LdifWriter<W> {
    pub fn new(out: W) -> Self {
        LdifWriter {
            out,
            disabled: None,
            users: 0,
            groups: 0,
        }
    }

    /// The header; `disabled` are the normalised DNs matched by the server's disabled filter.
    pub fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> io::Result<()> {
        self.disabled = disabled.cloned();
        self.users = 0;
        self.groups = 0;
        writeln!(self.out, "version: 1")?;
        writeln!(self.out, "# roster snapshot directory")
    }

    pub fn entry(&mut self, kind: Kind, entry: &Entry) -> io::Result<()> {
        writeln!(self.out)?;
        if self
            .disabled
            .as_ref()
            .is_some_and(|set| set.contains(normalized(entry.dn()).as_ref()))
        {
            writeln!(
                self.out,
                "# disabled: matched by the server's disabled filter"
            )?;
        }
        match kind {
            Kind::User => self.users += 1,
            Kind::Group => self.groups += 1,
        }
        write_entry(entry, &mut self.out)
    }

    /// The trailer: counts and the read's warnings, as comments.
    pub fn finish(&mut self, warnings: &[String]) -> io::Result<()> {
        writeln!(self.out)?;
        writeln!(
            self.out,
            "# {} user{}, {} group{}",
            self.users,
            crate::render::plural(self.users),
            self.groups,
            crate::render::plural(self.groups)
        )?;
        for w in warnings {
            writeln!(self.out, "# warning: {}", w.replace(['\n', '\r'], " "))?;
        }
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Streaming a live read into a seekable output: a retried read starts the file over (the caller
/// truncates at the final position, see [`LdifWriter::into_inner`]).
impl<W: Write + Seek> EntrySink for LdifWriter<W> {
    fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> io::Result<()> {
        self.out.seek(SeekFrom::Start(0))?;
        LdifWriter::begin(self, disabled)
    }
    fn entry(&mut self, kind: Kind, entry: Entry) -> io::Result<()> {
        LdifWriter::entry(self, kind, &entry)
    }
}

/// A snapshot file a read streams into entry by entry (`roster snapshot directory` from a live
/// directory), so a large directory is never held in memory.
pub struct SnapshotFile {
    writer: LdifWriter<io::BufWriter<std::fs::File>>,
}

impl SnapshotFile {
    pub fn create(path: &Path) -> io::Result<SnapshotFile> {
        let file = std::fs::File::create(path)?;
        Ok(SnapshotFile {
            writer: LdifWriter::new(io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Where the read hands its entries.
    pub fn sink(&mut self) -> &mut impl EntrySink {
        &mut self.writer
    }

    /// The trailer with the read's `warnings`; returns the number of users and groups written.
    pub fn finish(mut self, warnings: &[String]) -> io::Result<(usize, usize)> {
        let w = &mut self.writer;
        w.finish(warnings)?;
        let counts = (w.users, w.groups);
        // A retried read may have written less than the dropped one: cut what is left of it.
        let mut out = self.writer.into_inner();
        let end = out.stream_position()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.set_len(end)?;
        Ok(counts)
    }
}

fn write_entry(entry: &Entry, out: &mut impl Write) -> io::Result<()> {
    write_line("dn", entry.dn().as_bytes(), out)?;
    // objectClass first, as people expect to read it; then the rest in name order.
    let classes = entry.attrs().filter(|(name, _)| *name == "objectclass");
    let rest = entry.attrs().filter(|(name, _)| *name != "objectclass");
    for (name, values) in classes.chain(rest) {
        for v in values.iter() {
            write_line(name, v.as_bytes(), out)?;
        }
    }
    Ok(())
}

/// `name: value` for a safe string, `name:: base64` otherwise, folded at [`WIDTH`].
fn write_line(name: &str, value: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut line = Vec::with_capacity(name.len() + 3 + value.len() * 4 / 3 + 4);
    line.extend_from_slice(name.as_bytes());
    if is_safe_string(value) {
        line.push(b':');
        if !value.is_empty() {
            line.push(b' ');
            line.extend_from_slice(value);
        }
    } else {
        line.extend_from_slice(b":: ");
        let start = line.len();
        line.resize(
            start + base64::encoded_len(value.len(), true).unwrap_or(0),
            0,
        );
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(value, &mut line[start..])
            .map_err(io::Error::other)?;
        line.truncate(start + written);
    }
    fold(&line, out)
}

/// RFC 2849 SAFE-STRING: ASCII without NUL, LF or CR; not starting with space, `:` or `<`. A value
/// ending in a space is base64 too (RFC 2849 note 8), so that no reader trims it.
pub fn is_safe_string(value: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (value.first(), value.last()) else {
        return true;
    };
    if matches!(first, b' ' | b':' | b'<') || last == b' ' {
        return false;
    }
    // Branch-free over the bytes, so that it vectorises: snapshots are mostly this check.
    let unsafe_bytes = value.iter().fold(false, |bad, &b| {
        bad | (b >= 0x80) | (b == 0) | (b == b'\n') | (b == b'\r')
    });
    !unsafe_bytes
}

/// Lines are ASCII here (safe strings and base64), so byte positions are character positions.
fn fold(line: &[u8], out: &mut impl Write) -> io::Result<()> {
    if line.len() <= WIDTH {
        out.write_all(line)?;
        return out.write_all(b"\n");
    }
    let (first, mut rest) = line.split_at(WIDTH);
    out.write_all(first)?;
    out.write_all(b"\n")?;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(WIDTH - 1));
        out.write_all(b" ")?;
        out.write_all(chunk)?;
        out.write_all(b"\n")?;
        rest = tail;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::directory::ldif;
    use crate::model::AttrValue;
    use proptest::prelude::*;
    use std::path::Path;

    fn read_back(state: &DirectoryState) -> DirectoryState {
        let mut out = Vec::new();
        write_ldif(state, &mut out).unwrap();
        let text = String::from_utf8(out).expect("LDIF is ASCII");
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
        let src = Source::new(Path::new("snapshot.ldif"), text);
        ldif::classify(ldif::parse(&src).unwrap())
    }

    fn entry(dn: &str, class: &str, attrs: &[(&str, AttrValue)]) -> Entry {
        let mut e = Entry::new(dn);
        e.add("objectClass", AttrValue::Text(class.into()));
        for (n, v) in attrs {
            e.add(n, v.clone());
        }
        e
    }

    #[test]
    fn unsafe_values_and_dns_go_base64_and_long_lines_fold() {
        let long = "x".repeat(200);
        let user = entry(
            "uid=josé,ou=people,dc=example,dc=org",
            "inetOrgPerson",
            &[
                ("cn", AttrValue::Text("José Núñez".into())),
                ("description", AttrValue::Text(long.clone())),
                ("title", AttrValue::Text(":colon".into())),
                ("l", AttrValue::Text(" leading".into())),
                ("st", AttrValue::Text("trailing ".into())),
                ("street", AttrValue::Text("<angle".into())),
                ("postalAddress", AttrValue::Text("line1\nline2".into())),
                ("jpegPhoto", AttrValue::Binary(vec![0xff, 0xd8, 0xff, 0x00])),
                ("mail", AttrValue::Text("a@example.org".into())),
                ("mail", AttrValue::Text("b@example.org".into())),
            ],
        );
        let state = DirectoryState {
            users: vec![user.clone()],
            ..Default::default()
        };
        let mut out = Vec::new();
        write_ldif(&state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\ndn:: "), "non-ASCII DN in base64: {text}");
        assert!(text.contains("\nmail: a@example.org\nmail: b@example.org\n"));
        assert!(text.contains("\ntitle:: "), "{text}");
        assert!(text.contains("\ndescription: xxx"), "{text}");
        assert!(text.contains("\n xxx"), "folded: {text}");
        let back = read_back(&state);
        assert_eq!(back.users, vec![user]);
        assert!(back.groups.is_empty());
    }

    #[test]
    fn groups_come_back_as_groups_and_disabled_dns_are_noted() {
        let user = entry(
            "uid=a,dc=x",
            "inetOrgPerson",
            &[("uid", AttrValue::Text("a".into()))],
        );
        let g1 = entry(
            "cn=g,dc=x",
            "groupOfNames",
            &[("member", AttrValue::Text("uid=a,dc=x".into()))],
        );
        let g2 = entry(
            "cn=u,dc=x",
            "groupOfUniqueNames",
            &[("uniqueMember", AttrValue::Text("cn=g,dc=x".into()))],
        );
        let g3 = entry(
            "CN=ad,DC=x",
            "group",
            &[("member", AttrValue::Text("CN=g,DC=x".into()))],
        );
        let state = DirectoryState {
            users: vec![user],
            groups: vec![g1, g2, g3],
            disabled_by_filter: Some(["uid=a,dc=x".to_owned()].into()),
            warnings: vec!["w1".into()],
            ..Default::default()
        };
        let back = read_back(&state);
        assert_eq!(back.users, state.users);
        assert_eq!(back.groups, state.groups);
        let mut out = Vec::new();
        write_ldif(&state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("# disabled: matched by the server's disabled filter\ndn: uid=a,dc=x\n"),
            "{text}"
        );
        assert!(text.contains("# warning: w1\n"));
    }

    fn value() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            any::<String>().prop_map(AttrValue::Text),
            "[ :<a-z]{0,3}[ -~]{0,120}".prop_map(AttrValue::Text),
            // Binary values are those that are not UTF-8 (the reader makes UTF-8 text).
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut b| {
                b.push(0xff);
                AttrValue::Binary(b)
            }),
        ]
    }

    fn user() -> impl Strategy<Value = Entry> {
        (
            "[a-zA-Zé ,=.:<-]{1,90}",
            proptest::collection::vec(("[a-z][a-zA-Z0-9-]{0,12}", value()), 0..6),
        )
            .prop_map(|(dn, attrs)| {
                let mut e = Entry::new(dn);
                e.add("objectClass", AttrValue::Text("inetOrgPerson".into()));
                for (n, v) in attrs {
                    e.add(&n, v);
                }
                e
            })
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back_the_same(users in proptest::collection::vec(user(), 0..5)) {
            // The reader takes `version` only as the first line; an attribute by that name is
            // not something a directory returns.
            let users: Vec<Entry> = users
                .into_iter()
                .map(|mut e| { e.remove("version"); e.remove("dn"); e.remove("changetype"); e })
                .collect();
            let state = DirectoryState { users, ..Default::default() };
            let back = read_back(&state);
            prop_assert_eq!(back.users, state.users);
        }
    }
}
