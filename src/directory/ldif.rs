//! The directory snapshot: LDIF (RFC 2849) as `ldapsearch -LLL` writes it — folded lines,
//! comments, base64 (`::`) values, multi-valued attributes, non-ASCII names.

use std::borrow::Cow;

use base64::Engine;

use crate::diag::{Source, SourceError};
use crate::model::{AttrValue, DirectoryState, Entry};

/// objectClass values that make an entry a group.
pub const GROUP_CLASSES: &[&str] = &["groupofnames", "groupofuniquenames", "group"];

/// Parse LDIF text into entries. All malformed lines are reported at once.
pub fn parse(src: &Source) -> Result<Vec<Entry>, SourceError> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut current: Option<Entry> = None;
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
            entries.extend(current.take());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            errors.push(err(format!("expected `attribute: value`, found `{}`", clip(&line)), "every line of an LDIF record is `name: value`, `name:: base64` or a continuation starting with one space"));
            continue;
        };
        let (value, base64) = match value.strip_prefix(':') {
            Some(v) => (v.trim_start(), true),
            None if value.starts_with('<') => {
                errors.push(err(
                    format!("`{name}:<` URL values are not supported in a snapshot"),
                    "inline the value, or use `::` with base64",
                ));
                continue;
            }
            None => (value.strip_prefix(' ').unwrap_or(value), false),
        };
        let value = if base64 {
            match base64::engine::general_purpose::STANDARD.decode(value.trim_end()) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => AttrValue::Text(s),
                    Err(e) => AttrValue::Binary(e.into_bytes()),
                },
                Err(e) => {
                    errors.push(err(
                        format!("invalid base64 value for `{name}`: {e}"),
                        "a `::` value is base64 (RFC 2849)",
                    ));
                    continue;
                }
            }
        } else {
            AttrValue::Text(value.to_owned())
        };
        if name.eq_ignore_ascii_case("version") && current.is_none() && entries.is_empty() {
            continue;
        }
        if name.eq_ignore_ascii_case("dn") {
            if let Some(done) = current.take() {
                entries.push(done);
            }
            match value {
                AttrValue::Text(dn) => current = Some(Entry::new(dn)),
                AttrValue::Binary(_) => errors.push(err(
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
        match current.as_mut() {
            Some(entry) => entry.add(name, value),
            None => errors.push(err(
                format!("`{name}` before any `dn:` line"),
                "each record starts with `dn: <distinguished name>`",
            )),
        }
    }
    entries.extend(current);
    match SourceError::many(errors) {
        Some(e) => Err(e),
        None => Ok(entries),
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Split entries into users and groups by objectClass.
pub fn classify(entries: Vec<Entry>) -> DirectoryState {
    let mut state = DirectoryState::default();
    for e in entries {
        let is_group = e
            .values("objectclass")
            .iter()
            .filter_map(AttrValue::as_text)
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
        assert_eq!(u.dn, "uid=jose,dc=x");
        assert_eq!(u.first_text("CN"), Some("José"));
        assert_eq!(u.values("mail").len(), 2);
        assert!(matches!(u.values("photo")[0], AttrValue::Binary(_)));
        assert_eq!(state.groups[0].first_text("member"), Some("uid=jose,dc=x"));
    }

    #[test]
    fn all_errors_at_once() {
        let e = parse(&src("dn: a\nnonsense\ncn:: !!!\n")).unwrap_err();
        assert_eq!(e.related.len(), 2);
    }
}
