//! The directory snapshot: LDIF (RFC 2849) as `ldapsearch -LLL` writes it — folded lines,
//! comments, base64 (`::`) values, multi-valued attributes, non-ASCII names.

use std::borrow::Cow;

use base64::Engine;

use crate::config::load::is_password_attribute;
use crate::diag::{excerpt, name_excerpt, Source, SourceError};
use crate::model::{DirectoryState, Entry, EntryBuilder, Value};

/// objectClass values that make an entry a group.
pub const GROUP_CLASSES: &[&str] = &["groupofnames", "groupofuniquenames", "group"];

/// Parse LDIF text into entries. All malformed lines are reported at once.
pub fn parse(src: &Source) -> Result<Vec<Entry>, SourceError> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    // The entry being read, if any.
    let mut current = EntryBuilder::default();
    let mut open = false;
    let mut lines = src.text.split('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line_no = i + 1;
        // A physical line beginning with one space continues the previous one (RFC 2849
        // folding); most lines are not folded and are used in place.
        let mut line: Cow<str> = Cow::Borrowed(raw.strip_suffix('\r').unwrap_or(raw));
        if !line.is_empty() {
            while let Some(rest) = lines.peek().and_then(|(_, next)| next.strip_prefix(' ')) {
                line.to_mut()
                    .push_str(rest.strip_suffix('\r').unwrap_or(rest));
                lines.next();
            }
        }
        let err = |msg: String, help: &str| {
            SourceError::at("roster::ldif", src, line_no, 1, msg)
                .label("this line")
                .help(help.to_owned())
        };
        if line.is_empty() {
            if std::mem::take(&mut open) {
                entries.push(current.finish());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            errors.push(err(format!("expected `attribute: value`, found `{}`", excerpt(&line)), "every line of an LDIF record is `name: value`, `name:: base64` or a continuation starting with one space"));
            continue;
        };
        let (value, base64) = match value.strip_prefix(':') {
            Some(v) => (v.trim_start(), true),
            None if value.starts_with('<') => {
                errors.push(err(
                    format!(
                        "`{}:<` URL values are not supported in a snapshot",
                        name_excerpt(name)
                    ),
                    "inline the value, or use `::` with base64",
                ));
                continue;
            }
            None => (value.strip_prefix(' ').unwrap_or(value), false),
        };
        let decoded;
        let guid;
        let value = if base64 {
            match base64::engine::general_purpose::STANDARD.decode(value.trim_end()) {
                // `ldapsearch -LLL` writes AD's binary objectGUID as base64: it is read as the
                // GUID string a live read makes of the same bytes.
                Ok(bytes) if name.eq_ignore_ascii_case("objectguid") => match object_guid(&bytes) {
                    Ok(text) => {
                        guid = text;
                        Value::Text(&guid)
                    }
                    Err(problem) => {
                        errors.push(err(
                            problem,
                            "objectGUID is 16 bytes (`ldapsearch -LLL` writes them as 24 \
                                 characters of base64), or its GUID string as plain text \
                                 (`objectGUID: 35918bc9-196d-40ea-9779-889d79b753f0`)",
                        ));
                        continue;
                    }
                },
                Ok(bytes) => {
                    decoded = bytes;
                    match std::str::from_utf8(&decoded) {
                        Ok(s) => Value::Text(s),
                        Err(_) => Value::Binary(&decoded),
                    }
                }
                Err(e) => {
                    errors.push(err(
                        format!("invalid base64 value for `{}`: {e}", name_excerpt(name)),
                        "a `::` value is base64 (RFC 2849)",
                    ));
                    continue;
                }
            }
        } else {
            Value::Text(value)
        };
        if name.eq_ignore_ascii_case("version") && !open && entries.is_empty() {
            continue;
        }
        let too_large = |e: crate::model::EntryTooLarge| {
            err(
                e.to_string(),
                "split the value, or leave the attribute out of the snapshot",
            )
        };
        if name.eq_ignore_ascii_case("dn") {
            if std::mem::take(&mut open) {
                entries.push(current.finish());
            }
            match value {
                Value::Text(dn) => match current.start(dn) {
                    Ok(()) => open = true,
                    Err(e) => errors.push(too_large(e)),
                },
                Value::Binary(_) => errors.push(err(
                    "the DN is not valid UTF-8".into(),
                    "DNs are UTF-8 strings (RFC 4514)",
                )),
            }
            continue;
        }
        if name.eq_ignore_ascii_case("changetype") {
            errors.push(err(
                "change records (`changetype:`) are not a snapshot".into(),
                "write the snapshot with `ldapsearch -LLL` or `roster snapshot directory`",
            ));
            continue;
        }
        // A snapshot someone exported with its password hashes: they are dropped as read, never
        // held, hashed into the plan's digest or written back.
        match open {
            true if is_password_attribute(name) => {}
            true => {
                if let Err(e) = current.value(name, value) {
                    errors.push(too_large(e));
                }
            }
            false => errors.push(err(
                format!("`{}` before any `dn:` line", name_excerpt(name)),
                "each record starts with `dn: <distinguished name>`",
            )),
        }
    }
    if open {
        entries.push(current.finish());
    }
    match SourceError::many(errors) {
        Some(e) => Err(e),
        None => Ok(entries),
    }
}

/// A base64 objectGUID's bytes as the GUID string (the live read's [`id_text`]); a value that
/// already is a GUID string, base64-encoded, is taken as it is.
///
/// [`id_text`]: crate::directory::ldap::id_text
fn object_guid(bytes: &[u8]) -> Result<String, String> {
    if let Some(text) = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| crate::directory::ldap::is_guid(t))
    {
        return Ok(text.to_owned());
    }
    crate::directory::ldap::id_text("objectGUID", bytes)
        .map_err(|problem| format!("this base64 {problem}"))
}

/// Split entries into users and groups by objectClass.
pub fn classify(entries: Vec<Entry>) -> DirectoryState {
    let mut state = DirectoryState::default();
    for e in entries {
        let is_group = e
            .values("objectclass")
            .texts()
            .any(|c| GROUP_CLASSES.contains(&c.to_ascii_lowercase().as_str()));
        if is_group {
            state.groups.push(e);
        } else {
            state.users.push(e);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn src(t: &str) -> Source {
        Source::new(Path::new("t.ldif"), t.to_owned())
    }

    #[test]
    fn folded_base64_comments_multivalue() {
        let text = "version: 1\n\n# a comment\n#  folded\ndn: uid=j\n ose,dc=x\nobjectClass: inetOrgPerson\ncn:: Sm9zw6k=\nmail: a@x\nmail: b@x\nphoto:: /9j/\n\ndn: cn=g,dc=x\nobjectClass: groupOfNames\nmember: uid=jose,dc=x\n";
        let state = classify(parse(&src(text)).unwrap());
        assert_eq!(state.users.len(), 1);
        let u = &state.users[0];
        assert_eq!(u.dn(), "uid=jose,dc=x");
        assert_eq!(u.first_text("CN"), Some("José"));
        assert_eq!(u.values("mail").len(), 2);
        assert!(matches!(
            u.values("photo").get(0),
            Some(crate::model::Value::Binary(_))
        ));
        assert_eq!(state.groups[0].first_text("member"), Some("uid=jose,dc=x"));
    }

    #[test]
    fn password_attributes_are_dropped_as_read() {
        let text = "dn: uid=a,dc=x\nuid: a\nuserPassword: {SSHA}abc\nuserPassword;binary:: AAE=\nunicodePwd:: AAE=\n";
        let entries = parse(&src(text)).unwrap();
        assert_eq!(entries[0].first_text("uid"), Some("a"));
        let names: Vec<_> = entries[0].attrs().map(|(n, _)| n).collect();
        assert_eq!(names, ["uid"]);
    }

    #[test]
    fn a_base64_object_guid_is_read_as_the_live_reads_guid_string() {
        let text = "dn: cn=a,dc=x\nobjectGUID:: yYuRNW0Z6kCXeYidebdT8A==\n\ndn: cn=b,dc=x\nobjectguid:: MzU5MThiYzktMTk2ZC00MGVhLTk3NzktODg5ZDc5Yjc1M2Yw\n";
        let entries = parse(&src(text)).unwrap();
        for e in &entries {
            assert_eq!(
                e.first_text("objectguid"),
                Some("35918bc9-196d-40ea-9779-889d79b753f0"),
                "{}",
                e.dn()
            );
        }
        // Not 16 bytes: the line, and what an objectGUID is.
        let bad = "dn: cn=a,dc=x\ncn: a\nobjectGUID:: AQIDBAUGBwgJCgsMDQ4P\n";
        let e = parse(&src(bad)).unwrap_err();
        assert!(e.message.contains("15 bytes, not 16"), "{}", e.message);
        assert!(
            e.help.as_deref().unwrap().contains("16 bytes"),
            "{:?}",
            e.help
        );
        assert!(bad[e.span.offset()..].starts_with("objectGUID:: AQID"));
    }

    #[test]
    fn all_errors_at_once() {
        let e = parse(&src("dn: a\nnonsense\ncn:: !!!\n")).unwrap_err();
        assert_eq!(e.related.len(), 2);
    }
}
