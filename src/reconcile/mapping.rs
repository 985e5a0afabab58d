//! Field mappings: an attribute name (`mail`) or a template (`"{givenName} {sn}"`), with optional
//! lowercase / trim, evaluated against one directory entry. Multi-valued attributes give their
//! first value; binary values are never used as text.

use std::borrow::Cow;

use crate::config::Mapping;
use crate::model::{AttrId, Entry};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    /// An attribute as written, and its shared lowercase form for lookups.
    Attr(String, AttrId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    lowercase: bool,
    trim: bool,
}

/// The outcome of evaluating a mapping on an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated<'e> {
    /// The value; `None` when empty or every attribute is missing. Borrowed from the entry when
    /// the mapping is one attribute that needs no change.
    pub value: Option<Cow<'e, str>>,
    /// Attributes that held only binary values (left out of the value).
    pub binary: Vec<String>,
}

impl Template {
    /// Parse a mapping source. Errors are a message and the byte offset in `source` they refer to.
    pub fn parse(mapping: &Mapping) -> Result<Template, (String, usize)> {
        let (lowercase, trim) = match mapping {
            Mapping::Simple(_) => (false, false),
            Mapping::Detailed(d) => (d.lowercase, d.trim),
        };
        let source = mapping.source();
        let mut parts = Vec::new();
        if !source.contains(['{', '}']) {
            check_attr(source, 0)?;
            parts.push(attr(source.trim()));
            return Ok(Template {
                parts,
                lowercase,
                trim,
            });
        }
        let mut lit = String::new();
        let mut rest = source;
        let mut at = 0;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("{{") || rest.starts_with("}}") {
                lit.push(c);
                rest = &rest[2..];
                at += 2;
            } else if c == '{' {
                let close = rest
                    .find('}')
                    .ok_or_else(|| ("unclosed `{` in template".to_owned(), at))?;
                let name = &rest[1..close];
                check_attr(name, at + 1)?;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(attr(name));
                rest = &rest[close + 1..];
                at += close + 1;
            } else if c == '}' {
                return Err((
                    "unmatched `}` in template (write `}}` for a literal brace)".to_owned(),
                    at,
                ));
            } else {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
                at += c.len_utf8();
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            parts,
            lowercase,
            trim,
        })
    }

    /// The attributes this mapping reads.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Attr(a, _) => Some(a.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Is this a single attribute with nothing around it?
    pub fn is_plain_attribute(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Attr(..)])
    }

    pub fn eval<'e>(&self, entry: &'e Entry) -> Evaluated<'e> {
        let mut binary = Vec::new();
        // One attribute: its first text value, borrowed unless it must change.
        if let [Part::Attr(name, key)] = self.parts.as_slice() {
            let values = entry.values(key);
            let Some(v) = values.texts().next() else {
                if !values.is_empty() {
                    binary.push(name.clone());
                }
                return Evaluated {
                    value: None,
                    binary,
                };
            };
            let v = if self.trim { v.trim() } else { v };
            let value = if self.lowercase {
                crate::reconcile::lowercase(v)
            } else {
                Cow::Borrowed(v)
            };
            return Evaluated {
                value: (!value.is_empty()).then_some(value),
                binary,
            };
        }
        let mut out = String::new();
        let mut any = false;
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Attr(name, key) => {
                    let values = entry.values(key);
                    match values.texts().next() {
                        Some(v) => {
                            any = true;
                            out.push_str(v);
                        }
                        None if !values.is_empty() => binary.push(name.clone()),
                        None => {}
                    }
                }
            }
        }
        if !any {
            return Evaluated {
                value: None,
                binary,
            };
        }
        // A template with a missing part must not leave stray separators: "{givenName} {sn}"
        // with no givenName gives "Lovelace", not " Lovelace".
        let mut value = out.trim().to_owned();
        if self.lowercase {
            value = value.to_lowercase();
        }
        Evaluated {
            value: (!value.is_empty()).then_some(Cow::Owned(value)),
            binary,
        }
    }
}

fn attr(name: &str) -> Part {
    Part::Attr(name.to_owned(), AttrId::of(name))
}

fn check_attr(name: &str, at: usize) -> Result<(), (String, usize)> {
    let name = name.trim();
    let base = name.split(';').next().unwrap_or("");
    let ok = !base.is_empty()
        && (base.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || base.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if ok {
        Ok(())
    } else {
        Err((format!("`{name}` is not an LDAP attribute name"), at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DetailedMapping;
    use crate::model::AttrValue;

    fn entry() -> Entry {
        let mut e = Entry::new("uid=a");
        e.add("givenName", AttrValue::Text("Ada".into()));
        e.add("sn", AttrValue::Text("Lovelace".into()));
        e.add("mail", AttrValue::Text(" Ada@Example.COM ".into()));
        e.add("mail", AttrValue::Text("second@x".into()));
        e.add("jpegPhoto", AttrValue::Binary(vec![0xff, 0xd8]));
        e
    }

    #[test]
    fn templates_and_plain() {
        let t = Template::parse(&Mapping::Simple("{givenName} {sn}".into())).unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("Ada Lovelace"));
        let t = Template::parse(&Mapping::Simple("{cn} {sn}".into())).unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("Lovelace"));
        let t = Template::parse(&Mapping::Simple("mail".into())).unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some(" Ada@Example.COM "));
        let t = Template::parse(&Mapping::Detailed(DetailedMapping {
            from: "mail".into(),
            lowercase: true,
            trim: true,
        }))
        .unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("ada@example.com"));
        let t = Template::parse(&Mapping::Simple("{{{sn}}}".into())).unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("{Lovelace}"));
    }

    #[test]
    fn binary_is_never_text() {
        let t = Template::parse(&Mapping::Simple("jpegPhoto".into())).unwrap();
        let entry = entry();
        let e = t.eval(&entry);
        assert_eq!(e.value, None);
        assert_eq!(e.binary, vec!["jpegPhoto".to_string()]);
    }

    #[test]
    fn bad_templates() {
        assert_eq!(
            Template::parse(&Mapping::Simple("{givenName".into()))
                .unwrap_err()
                .1,
            0
        );
        assert!(Template::parse(&Mapping::Simple("{giv en}".into())).is_err());
        assert!(Template::parse(&Mapping::Simple("a}".into())).is_err());
    }
}
