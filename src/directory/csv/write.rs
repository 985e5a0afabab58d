//! `roster snapshot directory` for a CSV source: the users as read, one row each, with only the
//! columns the config reads (ID, username, disabled, mapped) and a groups column, as UTF-8 CSV
//! with a BOM: a config that still declares `encoding: windows-1252` reads it right, since a BOM
//! wins over the declaration.
//! Pointed at with `groups: { column: <its name>, separator: <its separator> }`, it plans the
//! same as the file it was taken from.

use std::io::Write;

use rustc_hash::FxHashMap as HashMap;

use crate::config::{CsvConfig, CsvGroups, DirectoryConfig, DisabledRule};
use crate::model::DirectoryState;

/// The groups column's name and separator in a snapshot: the configured ones, or `Groups` and
/// `|` when membership came from a second file.
pub fn groups_column(file: &CsvConfig) -> (&str, &str) {
    match &file.groups {
        CsvGroups::Column { column, separator } if !separator.is_empty() => (column, separator),
        CsvGroups::Column { column, .. } => (column, "|"),
        CsvGroups::File { .. } => ("Groups", "|"),
    }
}

/// Write `state` as CSV to `w`: a header, then one row per user, in the order read.
pub fn write_csv(
    state: &DirectoryState,
    directory: &DirectoryConfig,
    file: &CsvConfig,
    attributes: &[String],
    w: &mut dyn Write,
) -> std::io::Result<()> {
    // The BOM: read as UTF-8 whatever encoding the config declares (spreadsheets want it too).
    w.write_all(b"\xEF\xBB\xBF")?;
    let (groups_name, separator) = groups_column(file);
    let mut columns: Vec<&str> = vec![directory.id_attribute(), directory.username_attribute()];
    match &directory.disabled {
        Some(DisabledRule::Attribute(a)) => columns.push(&a.name),
        Some(DisabledRule::ActiveDirectory) => columns.push("userAccountControl"),
        Some(DisabledRule::Filter(_)) | None => {}
    }
    columns.extend(attributes.iter().map(String::as_str));
    let mut seen = std::collections::HashSet::new();
    columns.retain(|c| !c.eq_ignore_ascii_case(groups_name) && seen.insert(c.to_ascii_lowercase()));

    // Each user's groups, by the user's DN (the ID) as groups name their members.
    let identity = state.identity;
    let mut groups_of: HashMap<String, Vec<&str>> = HashMap::default();
    for g in &state.groups {
        if g.dn().contains(separator) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the group name {} holds the separator `{separator}` of the groups column",
                    crate::text::quoted(g.dn())
                ),
            ));
        }
        for m in g.values("member").texts() {
            groups_of.entry(identity.key(m)).or_default().push(g.dn());
        }
    }

    let mut out = csv::WriterBuilder::new().from_writer(w);
    let mut header: Vec<&str> = columns.clone();
    header.push(groups_name);
    out.write_record(&header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for u in &state.users {
        row.clear();
        for c in &columns {
            let values: Vec<&str> = u.values(*c).texts().collect();
            row.push(values.join(" "));
        }
        let groups = groups_of
            .get(identity.normalize(u.dn()).as_ref())
            .map(|g| g.join(separator))
            .unwrap_or_default();
        row.push(groups);
        out.write_record(&row)?;
    }
    out.flush()?;
    Ok(())
}
