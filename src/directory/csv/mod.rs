//! A CSV directory (an HR export): one row per user, read as a stream into the source-neutral
//! model. Each row becomes a user entry whose DN is its ID and whose attributes are only the
//! columns the config needs (ID, username, disabled, mapped), so a million rows stay small;
//! group membership comes from a column (names split at a separator) or from a second file.
//! Bytes are UTF-8 (a BOM skipped) or a declared Windows-1252/Latin-1, decoded as they stream;
//! the delimiter is declared or detected from the header line. Every problem is collected and
//! reported at once, at file:line:column ([`error`]).

pub mod error;
pub mod write;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap as HashMap;

use crate::config::{CsvConfig, CsvEncoding, CsvGroups, DirectoryConfig, DisabledRule};
use crate::diag::ReadError;
use crate::model::{DirectoryState, EntryBuilder};
use crate::text::{escape, shown};

pub use error::{CsvError, Kind, Problems};

use super::GroupIdentity;

/// A read of a CSV directory, owned so it can run off the async threads.
pub struct Read {
    pub file: CsvConfig,
    pub directory: DirectoryConfig,
    /// The config's folder: relative paths resolve from it.
    pub base_dir: PathBuf,
    /// The columns the mappings read: one the header lacks is a problem.
    pub attributes: Vec<String>,
    /// Columns read when the header has them (`roster export`'s guesses, the base config's
    /// mappings in `plan --base`).
    pub optional: Vec<String>,
}

/// A column the read needs, and why (for the message when the header lacks it).
struct Wanted<'a> {
    name: &'a str,
    why: &'static str,
    required: bool,
}

/// The bytes of a file as UTF-8, decoded as they are read: a BOM (UTF-8 or UTF-16) decides, else
/// the declared encoding; UTF-8 is passed through unchanged, so invalid bytes are found (and
/// reported) rather than replaced.
fn decoded(path: &Path, encoding: CsvEncoding) -> Result<impl std::io::Read, ReadError> {
    crate::diag::check_regular(path)?;
    let read_error = |source| ReadError {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    // A UTF-8 BOM wins over a declared encoding. (The decoder would keep a declared encoding
    // when it passes UTF-8 through, so the BOM is looked at here.)
    let mut bom = [0u8; 3];
    let n = file.read(&mut bom).map_err(read_error)?;
    std::io::Seek::rewind(&mut file).map_err(read_error)?;
    let declared = match encoding {
        _ if bom[..n] == [0xEF, 0xBB, 0xBF] => None,
        CsvEncoding::Utf8 => None,
        CsvEncoding::Windows1252 | CsvEncoding::Latin1 => Some(encoding_rs::WINDOWS_1252),
    };
    Ok(encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(declared)
        .utf8_passthru(true)
        .strip_bom(true)
        .bom_override(true)
        .build(file))
}

/// The delimiter the header line uses most (`,` `;` or tab, outside quotes); `,` when it uses
/// none (a one-column file) or on a tie with it.
fn detect(path: &Path, encoding: CsvEncoding) -> Result<u8, ReadError> {
    let mut r = decoded(path, encoding)?;
    let mut counts = [0usize; 3];
    let mut quoted = false;
    let mut buf = [0u8; 8192];
    let mut seen = 0usize;
    'read: loop {
        let n = r.read(&mut buf).map_err(|source| ReadError {
            path: path.display().to_string(),
            source,
        })?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            match b {
                b'"' => quoted = !quoted,
                b'\n' | b'\r' if !quoted => break 'read,
                b',' if !quoted => counts[0] += 1,
                b';' if !quoted => counts[1] += 1,
                b'\t' if !quoted => counts[2] += 1,
                _ => {}
            }
        }
        seen += n;
        // A header line longer than this is not a header.
        if seen > 1 << 20 {
            break;
        }
    }
    let best = (0..3).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    Ok([b',', b';', b'\t'][best])
}

fn reader(
    path: &Path,
    encoding: CsvEncoding,
    delimiter: Option<u8>,
) -> Result<(csv::Reader<impl std::io::Read>, Lines), ReadError> {
    let delimiter = match delimiter {
        Some(d) => d,
        None => detect(path, encoding)?,
    };
    let lines = Lines::default();
    let counted = Counting {
        inner: decoded(path, encoding)?,
        lines: lines.clone(),
        seen: 0,
        after_cr: false,
    };
    let rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(counted);
    Ok((rdr, lines))
}

/// The line an editor shows for a byte of the decoded text. The csv crate's own line count
/// sees only `\n`, so a CRLF file (every Windows export) and every line after a blank one come
/// out wrong (BurntSushi/rust-csv#395); [`Counting`] records each line break as the reader
/// takes the bytes in, and a record's byte offset is turned into its line here. Queries go
/// forward only, so breaks already passed are dropped: the queue holds about one buffer's.
#[derive(Clone, Default)]
struct Lines(std::rc::Rc<std::cell::RefCell<LineQueue>>);

#[derive(Default)]
struct LineQueue {
    /// Line breaks not yet passed: offset and length (a CRLF is one break of 2 bytes).
    breaks: std::collections::VecDeque<(u64, u64)>,
    /// Line breaks before the last byte asked about.
    passed: u64,
}

impl Lines {
    /// The 1-based line of the record that starts at byte `at`. The csv crate places a record
    /// after blank lines at the first of them (or at the LF of a CRLF before it), so breaks
    /// that start or hold `at` are stepped over too.
    fn at(&self, mut at: u64) -> u64 {
        let mut q = self.0.borrow_mut();
        while let Some(&(b, len)) = q.breaks.front() {
            if b > at {
                break;
            }
            if at < b + len {
                at = b + len;
            }
            q.breaks.pop_front();
            q.passed += 1;
        }
        q.passed + 1
    }
}

/// A reader that notes where each line break is (`\n`, `\r\n`, or a lone `\r`).
struct Counting<R> {
    inner: R,
    lines: Lines,
    seen: u64,
    after_cr: bool,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut q = self.lines.0.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = self.seen + i as u64;
            match b {
                // The LF of a CRLF: the break (noted at its CR) is 2 bytes long.
                b'\n' if self.after_cr => {
                    if let Some(last) = q.breaks.back_mut() {
                        last.1 = 2;
                    }
                }
                b'\n' | b'\r' => q.breaks.push_back((at, 1)),
                _ => {}
            }
            self.after_cr = b == b'\r';
        }
        self.seen += n as u64;
        Ok(n)
    }
}

/// One file being read: its name as the config writes it, for places.
struct File<'a> {
    shown: String,
    lines: Lines,
    problems: &'a mut Problems,
}

impl File<'_> {
    /// The line `rec` starts on, as an editor shows it.
    fn line(&self, rec: &csv::ByteRecord) -> u64 {
        rec.position().map_or(0, |p| self.lines.at(p.byte()))
    }

    fn at(&mut self, kind: Kind, line: u64, column: Option<usize>, message: String) {
        let place = match column {
            Some(c) => format!("{}:{line}:{}", self.shown, c + 1),
            None => format!("{}:{line}", self.shown),
        };
        self.problems.push(kind, place, message);
    }

    /// The next record into `rec`: `false` at the end, or after a problem that stops the read.
    fn next(
        &mut self,
        rdr: &mut csv::Reader<impl std::io::Read>,
        rec: &mut csv::ByteRecord,
    ) -> bool {
        match rdr.read_byte_record(rec) {
            Ok(more) => more,
            Err(e) => {
                let line = e.position().map_or(0, |p| self.lines.at(p.byte()));
                let why = match e.kind() {
                    csv::ErrorKind::Io(io) => escape(&io.to_string()).into_owned(),
                    _ => "the CSV cannot be read".to_owned(),
                };
                self.at(Kind::Malformed, line, None, why);
                false
            }
        }
    }

    /// The header: each name (lowercase) → its positions. `None` for an empty file.
    fn header(&mut self, rdr: &mut csv::Reader<impl std::io::Read>) -> Option<Header> {
        let mut rec = csv::ByteRecord::new();
        if !self.next(rdr, &mut rec) {
            self.at(
                Kind::EmptyFile,
                1,
                None,
                "the file is empty: no header line names the columns".into(),
            );
            return None;
        }
        let line = self.line(&rec);
        let names: Vec<String> = rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect();
        self.not_utf8(&rec, &names);
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::default();
        for (i, n) in names.iter().enumerate() {
            by_name.entry(n.to_lowercase()).or_default().push(i);
        }
        Some(Header {
            line,
            names,
            by_name,
        })
    }

    /// The position of each wanted column (`None` where the header lacks it, a problem when it
    /// is required).
    fn columns(
        &mut self,
        line: u64,
        names: &[String],
        by_name: &HashMap<String, Vec<usize>>,
        wanted: &[Wanted],
    ) -> Vec<Option<usize>> {
        // One column whose name holds another delimiter: the declared delimiter is not the
        // file's. One problem says so, instead of one missing column per name.
        if let [only] = names {
            if let Some(d) = [',', ';', '\t'].into_iter().find(|d| only.contains(*d)) {
                let d = if d == '\t' {
                    "\\t".to_owned()
                } else {
                    d.to_string()
                };
                self.at(
                    Kind::WrongDelimiter,
                    line,
                    None,
                    format!(
                        "the header line is one column, `{}`, holding `{d}`: the file looks delimited by `{d}`",
                        shown(only)
                    ),
                );
                return vec![None; wanted.len()];
            }
        }
        wanted
            .iter()
            .map(|w| match by_name.get(&w.name.trim().to_lowercase()).map(Vec::as_slice) {
                Some([i]) => Some(*i),
                Some(all) => {
                    let at: Vec<String> = all.iter().map(|i| (i + 1).to_string()).collect();
                    self.at(
                        Kind::AmbiguousColumn,
                        line,
                        Some(all[0]),
                        format!(
                            "the header has the column `{}` {} times (columns {}), so {} is ambiguous",
                            shown(w.name),
                            all.len(),
                            at.join(", "),
                            w.why
                        ),
                    );
                    None
                }
                None => {
                    if w.required {
                        let hint = match crate::config::load::suggest(w.name, names) {
                            Some(s) => format!("did you mean `{}`?", shown(&s)),
                            None => format!(
                                "the header has: {}",
                                names
                                    .iter()
                                    .take(30)
                                    .map(|n| format!("`{}`", shown(n)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        self.at(
                            Kind::MissingColumn,
                            line,
                            None,
                            format!(
                                "the header has no column `{}` ({}); {hint}",
                                shown(w.name),
                                w.why
                            ),
                        );
                    }
                    None
                }
            })
            .collect()
    }

    /// A record with as many fields as the header: else a problem, and `false`.
    fn even(&mut self, rec: &csv::ByteRecord, width: usize) -> bool {
        if rec.len() == width {
            return true;
        }
        let line = self.line(rec);
        self.at(
            Kind::Ragged,
            line,
            Some(rec.len().min(width)),
            format!(
                "the row has {} field{} where the header has {width}",
                rec.len(),
                if rec.len() == 1 { "" } else { "s" }
            ),
        );
        false
    }

    /// A record whose bytes are not all UTF-8 is a problem at its first bad field: `true`.
    fn not_utf8(&mut self, rec: &csv::ByteRecord, names: &[String]) -> bool {
        if std::str::from_utf8(rec.as_slice()).is_ok() {
            return false;
        }
        for (i, field) in rec.iter().enumerate() {
            if let Err(e) = std::str::from_utf8(field) {
                let at = e.valid_up_to();
                let bad = e.error_len().unwrap_or(field.len() - at);
                let hex: Vec<String> = field[at..at + bad]
                    .iter()
                    .map(|b| format!("0x{b:02X}"))
                    .collect();
                let column = match names.get(i) {
                    Some(n) => format!(" (column `{}`)", shown(n)),
                    None => String::new(),
                };
                self.at(
                    Kind::NotUtf8,
                    self.line(rec),
                    Some(i),
                    format!(
                        "byte{} {} in field {}{column} {} not UTF-8",
                        if bad == 1 { "" } else { "s" },
                        hex.join(" "),
                        i + 1,
                        if bad == 1 { "is" } else { "are" }
                    ),
                );
                break;
            }
        }
        true
    }
}

/// A file's header line: where it is, its column names as written, and each name (lowercase)
/// → its positions.
struct Header {
    line: u64,
    names: Vec<String>,
    by_name: HashMap<String, Vec<usize>>,
}

/// A field as text (the caller checked the record is UTF-8).
fn text(rec: &csv::ByteRecord, i: usize) -> &str {
    rec.get(i)
        .and_then(|f| std::str::from_utf8(f).ok())
        .unwrap_or_default()
}

/// The groups read: each name in first-seen spelling, with its members as positions in the
/// users read (4 bytes each, not a copy of the ID).
#[derive(Default)]
struct GroupTable {
    index: HashMap<String, usize>,
    groups: Vec<(String, Vec<u32>)>,
}

impl GroupTable {
    fn add(&mut self, group: &str, member: u32) {
        let i = match self
            .index
            .get(GroupIdentity::Name.normalize(group).as_ref())
        {
            Some(&i) => i,
            None => {
                self.groups.push((group.to_owned(), Vec::new()));
                self.index
                    .insert(GroupIdentity::Name.key(group), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.groups[i].1.push(member);
    }
}

/// Where a user is: the line of its row and its position in the users read.
#[derive(Clone, Copy)]
struct Row {
    line: u64,
    index: u32,
}

/// Reserve room for the rows a file of `len` bytes likely holds, judged from the first `rows`
/// rows, which took `bytes`: the tables then never grow by rehashing a million keys.
fn expected_rows(len: u64, rows: usize, bytes: u64) -> usize {
    let per_row = (bytes / rows.max(1) as u64).max(1);
    usize::try_from(len / per_row).unwrap_or(0).min(50_000_000)
}

impl Read {
    pub fn run(self) -> Result<DirectoryState, CsvError> {
        let d = &self.directory;
        let mut problems = Problems::default();
        let shown_path = |p: &Path| escape(&p.display().to_string()).into_owned();
        let mut files = shown_path(&self.file.file);
        let delimiter = self.file.delimiter.map(|d| d.byte());
        let path = self.base_dir.join(&self.file.file);
        let (mut rdr, lines) = reader(&path, self.file.encoding, delimiter)?;
        let mut f = File {
            shown: shown_path(&self.file.file),
            lines,
            problems: &mut problems,
        };

        // The columns: ID, username, disabled marker, groups, then the mapped ones.
        let mut wanted = vec![
            Wanted {
                name: d.id_attribute(),
                why: "`id_attribute`",
                required: true,
            },
            Wanted {
                name: d.username_attribute(),
                why: "`username_attribute`",
                required: true,
            },
        ];
        let disabled = match &d.disabled {
            Some(DisabledRule::Attribute(a)) => Some(a.name.as_str()),
            Some(DisabledRule::ActiveDirectory) => Some("userAccountControl"),
            Some(DisabledRule::Filter(_)) | None => None,
        };
        if let Some(name) = disabled {
            wanted.push(Wanted {
                name,
                why: "`disabled.attribute`",
                required: true,
            });
        }
        let separator = match &self.file.groups {
            CsvGroups::Column { column, separator } => {
                wanted.push(Wanted {
                    name: column,
                    why: "`groups.column`",
                    required: true,
                });
                Some(separator.as_str())
            }
            CsvGroups::File { .. } => None,
        };
        let fixed = wanted.len();
        for (list, required) in [(&self.attributes, true), (&self.optional, false)] {
            wanted.extend(list.iter().map(|a| Wanted {
                name: a,
                why: "a field mapping reads it",
                required,
            }));
        }
        let Some(Header {
            line: header_line,
            names,
            by_name,
        }) = f.header(&mut rdr)
        else {
            return Err(invalid(files, problems));
        };
        let at = f.columns(header_line, &names, &by_name, &wanted);
        let (id_col, user_col) = (at[0], at[1]);
        let groups_col = separator.and(at[fixed - 1]);
        // What each user entry keeps: a column once, spelled as the header spells it.
        let mut kept: Vec<usize> = at[..fixed]
            .iter()
            .enumerate()
            .filter(|(k, _)| separator.is_none() || *k != fixed - 1)
            .filter_map(|(_, c)| *c)
            .chain(at[fixed..].iter().filter_map(|c| *c))
            .collect();
        kept.sort_unstable();
        kept.dedup();

        let mut users = Vec::new();
        let mut ids: HashMap<String, Row> = HashMap::default();
        let mut usernames: HashMap<String, u64> = HashMap::default();
        let file_len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let mut rows = 0usize;
        let mut table = GroupTable::default();
        let mut rec = csv::ByteRecord::new();
        let mut b = EntryBuilder::default();
        while f.next(&mut rdr, &mut rec) {
            let line = f.line(&rec);
            rows += 1;
            if rows == 1024 {
                let more = expected_rows(file_len, rows, rec.position().map_or(0, |p| p.byte()))
                    .saturating_sub(rows);
                users.reserve(more);
                ids.reserve(more);
                usernames.reserve(more);
            }
            if !f.even(&rec, names.len()) || f.not_utf8(&rec, &names) {
                continue;
            }
            let (Some(id_col), Some(user_col)) = (id_col, user_col) else {
                continue;
            };
            let id = text(&rec, id_col).trim();
            let username = text(&rec, user_col).trim();
            if id.is_empty() {
                f.at(
                    Kind::EmptyId,
                    line,
                    Some(id_col),
                    format!("the ID (column `{}`) is empty", shown(&names[id_col])),
                );
            } else {
                match ids.entry(GroupIdentity::Name.key(id)) {
                    std::collections::hash_map::Entry::Occupied(first) => f.at(
                        Kind::DuplicateId,
                        line,
                        Some(id_col),
                        format!(
                            "the ID `{}` (column `{}`) is also on line {}",
                            shown(id),
                            shown(&names[id_col]),
                            first.get().line
                        ),
                    ),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        // Its position once pushed, which only counts while there is no problem.
                        let index = u32::try_from(users.len()).unwrap_or(u32::MAX);
                        v.insert(Row { line, index });
                    }
                }
            }
            if username.is_empty() {
                f.at(
                    Kind::EmptyUsername,
                    line,
                    Some(user_col),
                    format!(
                        "the username (column `{}`) is empty",
                        shown(&names[user_col])
                    ),
                );
            } else {
                let key = crate::text::username_key(username);
                if let Some(first) = usernames.get(key.as_ref()) {
                    f.at(
                        Kind::DuplicateUsername,
                        line,
                        Some(user_col),
                        format!(
                            "the username `{}` (column `{}`) is also on line {first}",
                            shown(username),
                            shown(&names[user_col])
                        ),
                    );
                } else {
                    usernames.insert(key.into_owned(), line);
                }
            }
            // Once the read has a problem, it only looks for more.
            if !f.problems.is_empty() {
                continue;
            }
            if b.start(id).is_err() {
                continue;
            }
            for &c in &kept {
                let value = text(&rec, c);
                let value = if c == id_col || c == user_col {
                    value.trim()
                } else {
                    value
                };
                if !value.trim().is_empty() {
                    let _ = b.text(&names[c], value);
                }
            }
            let index = u32::try_from(users.len()).unwrap_or(u32::MAX);
            users.push(b.finish());
            if let (Some(c), Some(sep)) = (groups_col, separator) {
                let cell = text(&rec, c);
                let parts: Box<dyn Iterator<Item = &str>> = if sep.is_empty() {
                    Box::new(std::iter::once(cell))
                } else {
                    Box::new(cell.split(sep))
                };
                for g in parts.map(str::trim).filter(|g| !g.is_empty()) {
                    table.add(g, index);
                }
            }
        }
        drop(usernames);

        let mut warnings = Vec::new();
        if let CsvGroups::File {
            file,
            group_column,
            member_column,
        } = &self.file.groups
        {
            files = format!("{files} and {}", shown_path(file));
            let path = self.base_dir.join(file);
            let (mut rdr, lines) = reader(&path, self.file.encoding, delimiter)?;
            let mut f = File {
                shown: shown_path(file),
                lines,
                problems: &mut problems,
            };
            if let Some(Header {
                line,
                names,
                by_name,
            }) = f.header(&mut rdr)
            {
                let want = [
                    Wanted {
                        name: group_column,
                        why: "`groups.group_column`",
                        required: true,
                    },
                    Wanted {
                        name: member_column,
                        why: "`groups.member_column`",
                        required: true,
                    },
                ];
                if let [Some(gc), Some(mc)] = f.columns(line, &names, &by_name, &want)[..] {
                    let mut unknown: Option<(String, u64)> = None;
                    let mut n_unknown = 0usize;
                    while f.next(&mut rdr, &mut rec) {
                        let line = f.line(&rec);
                        if !f.even(&rec, names.len()) || f.not_utf8(&rec, &names) {
                            continue;
                        }
                        let (group, member) = (text(&rec, gc).trim(), text(&rec, mc).trim());
                        if group.is_empty() {
                            f.at(
                                Kind::EmptyGroup,
                                line,
                                Some(gc),
                                format!("the group (column `{}`) is empty", shown(&names[gc])),
                            );
                        }
                        if member.is_empty() {
                            f.at(
                                Kind::EmptyMember,
                                line,
                                Some(mc),
                                format!("the member (column `{}`) is empty", shown(&names[mc])),
                            );
                        }
                        if group.is_empty() || member.is_empty() {
                            continue;
                        }
                        match ids.get(GroupIdentity::Name.normalize(member).as_ref()) {
                            Some(row) if f.problems.is_empty() => table.add(group, row.index),
                            Some(_) => {}
                            None => {
                                n_unknown += 1;
                                unknown.get_or_insert_with(|| (member.to_owned(), line));
                            }
                        }
                    }
                    if let Some((first, line)) = unknown {
                        warnings.push(format!(
                            "{}: {n_unknown} membership row{} name{} a member ID no user of {} has (the first: `{}` on line {line}); they are left out",
                            shown_path(file),
                            if n_unknown == 1 { "" } else { "s" },
                            if n_unknown == 1 { "s" } else { "" },
                            shown_path(&self.file.file),
                            shown(&first),
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(invalid(files, problems));
        }
        let mut groups = Vec::with_capacity(table.groups.len());
        for (name, members) in table.groups {
            if b.start(&name).is_err() {
                continue;
            }
            for &m in &members {
                if let Some(user) = users.get(m as usize) {
                    let _ = b.text("member", user.dn());
                }
            }
            groups.push(b.finish());
        }
        Ok(DirectoryState {
            users,
            groups,
            warnings,
            ..Default::default()
        })
    }
}

fn invalid(files: String, problems: Problems) -> CsvError {
    CsvError::Invalid { files, problems }
}
