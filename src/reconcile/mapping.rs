//! Field mappings: an attribute name (`mail`) or a template (`"{givenName} {sn}"`), with optional
//! lowercase / trim, evaluated against one directory entry. Multi-valued attributes give their
//! first value; binary values are never used as text; a value that is only white space is no
//! value (a field mapped from it is cleared, and counted as a clear by the policy).

use std::borrow::Cow;

use crate::config::{AttributeNames, Config, Mapping};
use crate::model::{AttrId, Entry};

/// A short digest of what a mapping makes of an entry: its source (attribute or template),
/// `lowercase` and `trim` (not `allow_empty`, which changes no value). `apply` records it per
/// field in the state file, so a plan can tell a value the config changed (a new mapping, an
/// edited template) from one the directory changed.
pub fn digest(m: &Mapping) -> String {
    let (lowercase, trim) = match m {
        Mapping::Simple(_) => (false, false),
        Mapping::Detailed(d) => (d.lowercase, d.trim),
    };
    let text = format!("{}\0{lowercase}\0{trim}", m.source());
    crate::digest::short(&crate::digest::bytes(text.as_bytes()), 16).to_owned()
}

/// Every mapped field's [`digest`], by field name.
pub fn digests(config: &Config) -> std::collections::BTreeMap<String, String> {
    config
        .field_mappings
        .iter()
        .map(|(f, m)| (f.clone(), digest(m)))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    /// An attribute as written, and its shared lowercase form for lookups.
    Attr(String, AttrId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// The literal text around the placeholders, split as [`Template::join`] uses it.
    layout: Layout,
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
    /// Parse a mapping source, taking any attribute name without control characters (the config
    /// check has held the names to the source's rule, [`Template::parse_for`]).
    pub fn parse(mapping: &Mapping) -> Result<Template, (String, usize)> {
        Template::parse_for(mapping, AttributeNames::Column)
    }

    /// Parse a mapping source whose attribute names follow `names`. Errors are a message and the
    /// byte offset in `source` they refer to.
    pub fn parse_for(
        mapping: &Mapping,
        names: AttributeNames,
    ) -> Result<Template, (String, usize)> {
        let (lowercase, trim) = match mapping {
            Mapping::Simple(_) => (false, false),
            Mapping::Detailed(d) => (d.lowercase, d.trim),
        };
        let source = mapping.source();
        let mut parts = Vec::new();
        if !source.contains(['{', '}']) {
            check_attr(source, 0, names)?;
            parts.push(attr(source.trim()));
            return Ok(Template {
                layout: layout(&parts),
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
                check_attr(name, at + 1, names)?;
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
            layout: layout(&parts),
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
            let v = if self.trim || v.trim().is_empty() {
                v.trim()
            } else {
                v
            };
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
        // Each placeholder's value; an attribute with no text value, or one that is empty or only
        // white space, is absent.
        let mut values: Vec<Option<&str>> = Vec::new();
        for p in &self.parts {
            if let Part::Attr(name, key) = p {
                let vs = entry.values(key);
                let v = vs.texts().next();
                if v.is_none() && !vs.is_empty() {
                    binary.push(name.clone());
                }
                values.push(v.filter(|v| !v.trim().is_empty()));
            }
        }
        let mut value = self.join(&values).map(|v| v.trim().to_owned());
        if self.lowercase {
            value = value.map(|v| v.to_lowercase());
        }
        Evaluated {
            value: value.filter(|v| !v.is_empty()).map(Cow::Owned),
            binary,
        }
    }

    /// A template's value from its placeholders' values (in order; `None` when absent), so that
    /// a missing attribute leaves no stray separator:
    ///
    /// - literal text between two placeholders is their *separator*, except brackets and quotes
    ///   hugging a placeholder (`(` `[` `{` `<` `"` `'` just before it, `)` `]` `}` `>` `"` `'`
    ///   just after it), which belong to that placeholder and go with it;
    /// - absent placeholders are left out with their brackets; between two present ones goes
    ///   the separator that stands before the second one in the template;
    /// - text before the first and after the last placeholder is kept when any value is present;
    /// - when every placeholder is absent, the field has no value.
    fn join(&self, values: &[Option<&str>]) -> Option<String> {
        if values.iter().all(Option::is_none) {
            return None;
        }
        let layout = &self.layout;
        let mut out = layout.lead.clone();
        let mut first = true;
        for (slot, value) in layout.slots.iter().zip(values) {
            let Some(v) = value else { continue };
            if !first {
                out.push_str(&slot.sep_before);
            }
            first = false;
            out.push_str(&slot.prefix);
            out.push_str(v);
            out.push_str(&slot.suffix);
        }
        out.push_str(&layout.trail);
        Some(out)
    }
}

/// The literal text of a template, split around its placeholders (see [`Template::join`]).
fn layout(parts: &[Part]) -> Layout {
    const OPENING: &[char] = &['(', '[', '{', '<', '"', '\''];
    const CLOSING: &[char] = &[')', ']', '}', '>', '"', '\''];
    // The literal before each placeholder, and the one after the last.
    let mut lits: Vec<&str> = vec![""];
    for p in parts {
        match p {
            Part::Lit(l) => *lits.last_mut().expect("never empty") = l,
            Part::Attr(..) => lits.push(""),
        }
    }
    let n = lits.len() - 1;
    let mut slots: Vec<Slot> = (0..n).map(|_| Slot::default()).collect();
    let mut lead = String::new();
    let mut trail = String::new();
    for (i, lit) in lits.iter().enumerate() {
        // Closing brackets right after the previous placeholder are its suffix.
        let rest = if i > 0 {
            let rest = lit.trim_start_matches(CLOSING);
            slots[i - 1].suffix = lit[..lit.len() - rest.len()].to_owned();
            rest
        } else {
            lit
        };
        // Opening brackets right before the next placeholder are its prefix.
        let rest = if i < n {
            let kept = rest.trim_end_matches(OPENING);
            slots[i].prefix = rest[kept.len()..].to_owned();
            kept
        } else {
            rest
        };
        if i == 0 {
            lead = rest.to_owned();
        } else if i == n {
            trail = rest.to_owned();
        } else {
            slots[i].sep_before = rest.to_owned();
        }
    }
    Layout { lead, slots, trail }
}

/// A template's literal text around its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    lead: String,
    slots: Vec<Slot>,
    trail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    /// Brackets or quotes hugging the placeholder.
    prefix: String,
    suffix: String,
    /// The separator between the previous placeholder and this one.
    sep_before: String,
}

fn attr(name: &str) -> Part {
    Part::Attr(name.to_owned(), AttrId::of(name))
}

fn check_attr(name: &str, at: usize, names: AttributeNames) -> Result<(), (String, usize)> {
    let name = name.trim();
    let (ok, kind) = match names {
        AttributeNames::Ldap => {
            let base = name.split(';').next().unwrap_or("");
            let ok = !base.is_empty()
                && (base.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    || base.chars().all(|c| c.is_ascii_digit() || c == '.'));
            (ok, "an LDAP attribute name")
        }
        AttributeNames::Graph => {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (ok, "a Microsoft Graph property name")
        }
        AttributeNames::Column => (
            !name.is_empty() && !name.chars().any(char::is_control),
            "a column name",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err((format!("`{}` is not {kind}", crate::text::shown(name)), at))
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
            allow_empty: false,
        }))
        .unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("ada@example.com"));
        let t = Template::parse(&Mapping::Simple("{{{sn}}}".into())).unwrap();
        assert_eq!(t.eval(&entry()).value.as_deref(), Some("{Lovelace}"));
    }

    #[test]
    fn a_value_of_only_white_space_is_no_value() {
        let mut e = entry();
        e.add("title", AttrValue::Text("   ".into()));
        e.add("ou", AttrValue::Text("\t\n".into()));
        for source in ["title", "ou", "{title}", "({title})", "{givenName} {title}"] {
            let t = Template::parse(&Mapping::Simple(source.into())).unwrap();
            let want = source.contains("givenName").then_some("Ada");
            assert_eq!(t.eval(&e).value.as_deref(), want, "{source}");
        }
        // White space around a value is kept unless `trim` says otherwise.
        let t = Template::parse(&Mapping::Simple("mail".into())).unwrap();
        assert_eq!(t.eval(&e).value.as_deref(), Some(" Ada@Example.COM "));
    }

    /// The template rule, case by case: `(template, attributes present, value)`.
    #[test]
    fn a_missing_attribute_leaves_no_stray_separator() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (
                "{givenName} {sn}",
                &[("givenName", "Ada"), ("sn", "Lovelace")],
                Some("Ada Lovelace"),
            ),
            ("{givenName} {sn}", &[("sn", "Lovelace")], Some("Lovelace")),
            ("{givenName} {sn}", &[("givenName", "Ada")], Some("Ada")),
            ("{givenName} {sn}", &[], None),
            (
                "{sn}, {givenName}",
                &[("givenName", "Ada"), ("sn", "Lovelace")],
                Some("Lovelace, Ada"),
            ),
            ("{sn}, {givenName}", &[("sn", "Lovelace")], Some("Lovelace")),
            ("{sn}, {givenName}", &[("givenName", "Ada")], Some("Ada")),
            ("{a} ({b})", &[("a", "A"), ("b", "B")], Some("A (B)")),
            ("{a} ({b})", &[("a", "A")], Some("A")),
            ("{a} ({b})", &[("b", "B")], Some("(B)")),
            ("{a} ({b})", &[], None),
            ("{{{sn}}}", &[("sn", "Lovelace")], Some("{Lovelace}")),
            ("{{{sn}}}", &[], None),
            ("{{{a}}} {b}", &[("b", "B")], Some("B")),
            ("{a}-{b}-{c}", &[("a", "A"), ("c", "C")], Some("A-C")),
            ("{a}-{b}-{c}", &[("b", "B"), ("c", "C")], Some("B-C")),
            (
                "Dr. {givenName} {sn}",
                &[("sn", "Lovelace")],
                Some("Dr. Lovelace"),
            ),
            (
                "{givenName} {sn} (staff)",
                &[("givenName", "Ada")],
                Some("Ada (staff)"),
            ),
            ("{givenName} {sn} (staff)", &[], None),
            (
                "\"{a}\" <{b}>",
                &[("a", "A"), ("b", "b@x")],
                Some("\"A\" <b@x>"),
            ),
            ("\"{a}\" <{b}>", &[("b", "b@x")], Some("<b@x>")),
            // An empty value is absent too.
            (
                "{sn}, {givenName}",
                &[("sn", "Lovelace"), ("givenName", "")],
                Some("Lovelace"),
            ),
        ];
        for (template, attrs, want) in cases {
            let mut e = Entry::new("uid=x");
            for (name, value) in *attrs {
                e.add(name, AttrValue::Text((*value).into()));
            }
            let t = Template::parse(&Mapping::Simple((*template).into())).unwrap();
            assert_eq!(
                t.eval(&e).value.as_deref(),
                *want,
                "{template} with {attrs:?}"
            );
        }
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
        let ldap = |m: &str| Template::parse_for(&Mapping::Simple(m.into()), AttributeNames::Ldap);
        assert!(ldap("{giv en}").is_err());
        assert!(ldap("{extension_1_cost}").is_err());
        assert!(Template::parse(&Mapping::Simple("a}".into())).is_err());
    }

    #[test]
    fn attribute_names_follow_the_source() {
        let parse = |m: &str, names| Template::parse_for(&Mapping::Simple(m.into()), names);
        let graph = parse(
            "{extension_0a1b_costCenter} {givenName}",
            AttributeNames::Graph,
        );
        let attrs: Vec<_> = graph.unwrap().attributes().map(str::to_owned).collect();
        assert_eq!(attrs, ["extension_0a1b_costCenter", "givenName"]);
        assert!(parse("{cost-center}", AttributeNames::Graph).is_err());
        let column = parse("{First Name} {Last Name}", AttributeNames::Column).unwrap();
        let attrs: Vec<_> = column.attributes().map(str::to_owned).collect();
        assert_eq!(attrs, ["First Name", "Last Name"]);
        assert!(parse("Email Address", AttributeNames::Column).is_ok());
        assert!(parse("{a\u{7}b}", AttributeNames::Column).is_err());
        assert!(parse("{ }", AttributeNames::Column).is_err());
    }
}
