//! Decoding what the server sends into the model: attribute names and values, immutable IDs as
//! text (objectGUID as its canonical GUID string), binary values kept apart.

use ldap3::asn1::StructureTag;
use ldap3::ResultEntry;

use crate::directory::groups::strip_uid_suffix;
use crate::model::{Entry, EntryBuilder, EntryTooLarge, Value};

use super::*;

pub(super) enum Decode {
    Malformed(String),
    BadId {
        dn: String,
        attribute: String,
        problem: String,
    },
}

impl Decode {
    pub(super) fn into_error(self, t: &Target) -> LdapError {
        match self {
            Decode::Malformed(problem) => LdapError::Protocol {
                url: t.url.clone(),
                problem,
            },
            Decode::BadId {
                dn,
                attribute,
                problem,
            } => LdapError::BadId {
                dn,
                attribute,
                problem,
            },
        }
    }
}

pub(super) type RawAttributes = Vec<(String, Vec<Vec<u8>>)>;

/// DN and attributes of a search result entry, without ldap3's panicking `SearchEntry::construct`.
pub(super) fn raw_entry(re: ResultEntry) -> Result<(String, RawAttributes), String> {
    let bad = |what: &str| format!("search result entry: {what}");
    let mut parts =
        re.0.match_id(4)
            .and_then(StructureTag::expect_constructed)
            .ok_or_else(|| bad("not an entry"))?
            .into_iter();
    let dn = parts
        .next()
        .and_then(StructureTag::expect_primitive)
        .ok_or_else(|| bad("no DN"))?;
    let dn = String::from_utf8(dn).map_err(|_| bad("the DN is not UTF-8"))?;
    let mut attrs = Vec::new();
    let list = parts
        .next()
        .and_then(StructureTag::expect_constructed)
        .unwrap_or_default();
    for pa in list {
        let mut pa = pa
            .expect_constructed()
            .ok_or_else(|| bad("attribute"))?
            .into_iter();
        let name = pa
            .next()
            .and_then(StructureTag::expect_primitive)
            .ok_or_else(|| bad("attribute name"))?;
        let name = String::from_utf8(name).map_err(|_| bad("attribute name not UTF-8"))?;
        let values = pa
            .next()
            .and_then(StructureTag::expect_constructed)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.expect_primitive().ok_or_else(|| bad("attribute value")))
            .collect::<Result<Vec<_>, _>>()?;
        attrs.push((name, values));
    }
    Ok((dn, attrs))
}

pub(super) fn raw_attributes(re: ResultEntry) -> Result<RawAttributes, String> {
    raw_entry(re).map(|(_, attrs)| attrs)
}

/// An entry as Roster holds it, and the ranged attributes still to fetch (name, next start).
/// `b` is reused from one entry to the next.
pub(super) fn decode_entry(
    re: ResultEntry,
    id_attribute: &str,
    b: &mut EntryBuilder,
) -> Result<(Entry, Vec<(String, u32)>), Decode> {
    let (dn, attrs) = raw_entry(re).map_err(Decode::Malformed)?;
    let too_large = |_| Decode::Malformed(format!("{dn}: {}", crate::model::EntryTooLarge));
    b.start(&dn).map_err(too_large)?;
    let mut pending = Vec::new();
    for (name, values) in attrs {
        let (raw_base, range_end) = match parse_range(&name) {
            Some((base, end)) => (base, Some(end)),
            None => (name.as_str(), None),
        };
        // Interned and lowercased once per distinct name, not once per entry.
        let base = crate::model::attr_name(raw_base);
        if let Some(Some(end)) = range_end {
            pending.push((base.to_string(), end + 1));
        }
        let is_id = base == id_attribute || base == "objectguid";
        for v in values {
            if is_id {
                let id = id_text(base, &v).map_err(|problem| Decode::BadId {
                    dn: dn.clone(),
                    attribute: base.to_string(),
                    problem,
                })?;
                b.text(base, &id)
            } else {
                add_value(b, base, &v)
            }
            .map_err(too_large)?;
        }
    }
    Ok((b.finish(), pending))
}

/// One value as read: text when it is UTF-8 (a `uniqueMember` without its `#uid` suffix),
/// binary otherwise.
pub(super) fn add_value(b: &mut EntryBuilder, name: &str, v: &[u8]) -> Result<(), EntryTooLarge> {
    match std::str::from_utf8(v) {
        Ok(t) if name.eq_ignore_ascii_case("uniquemember") => b.text(name, strip_uid_suffix(t)),
        Ok(t) => b.text(name, t),
        Err(_) => b.value(name, Value::Binary(v)),
    }
}

/// An immutable ID as text: objectGUID (16 bytes) as AD's canonical GUID string, others as the
/// UTF-8 text the server sends (entryUUID, nsUniqueId, ipaUniqueID).
pub fn id_text(attribute: &str, bytes: &[u8]) -> Result<String, String> {
    if attribute.eq_ignore_ascii_case("objectguid") {
        let b: &[u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("objectGUID is {} bytes, not 16", bytes.len()))?;
        return Ok(guid_string(b));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| "the value is binary, not text".to_owned())?;
    if s.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(s.to_owned())
}

/// AD's GUID string: the first three groups are little-endian, the last two are bytes in order.
/// `c98b9135 6d19 ea40 9779 889d79b753f0` (bytes) → `35918bc9-196d-40ea-9779-889d79b753f0`.
pub fn guid_string(b: &[u8; 16]) -> String {
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut s = String::with_capacity(36);
    for (i, &ix) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{:02x}", b[ix]));
    }
    s
}

/// Whether `id` is written as a GUID (`35918bc9-196d-40ea-9779-889d79b753f0`, any case).
pub fn is_guid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An immutable ID in the form two spellings of it share: a GUID (objectGUID, an Entra ID
/// object ID, an entryUUID) lowercased, as hexadecimal compares without case; any other ID as it
/// is (an ID's case may matter to its directory).
pub fn id_key(id: &str) -> std::borrow::Cow<'_, str> {
    if is_guid(id) && id.bytes().any(|c| c.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(id.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(id)
    }
}
