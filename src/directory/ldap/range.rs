//! Active Directory range retrieval (`member;range=0-1499`): the rest of a large group's members,
//! fetched and merged into one attribute.

use ldap3::{Ldap, Scope as LdapScope};

use crate::model::{Entry, EntryTooLarge};

use super::*;

/// Fetch the rest of a ranged attribute (AD: `member;range=0-1499`, then `member;range=1500-*`).
pub(super) async fn fetch_ranges(
    ldap: &mut Ldap,
    t: &Target,
    entry: &mut Entry,
    attr: &str,
    mut next: u32,
) -> Result<(), Failure> {
    let during = format!("reading the {attr} values of {}", entry.dn());
    // Each round must move forward; a server that repeats itself would otherwise loop forever.
    for _ in 0..100_000 {
        let request = format!("{attr};range={next}-*");
        let s = Search {
            what: "members",
            base: entry.dn().to_owned(),
            scope: LdapScope::Base,
            filter: "(objectClass=*)".into(),
            attrs: vec![request],
        };
        let mut raw = Vec::new();
        let res = paged_search(ldap, t, &s, &during, |re| {
            raw.push(re);
            Ok(())
        })
        .await?;
        check_result(t, &s, raw.len(), res.rc, res.text)?;
        let mut more = None;
        for re in raw {
            let attrs = raw_attributes(re).map_err(|problem| {
                Failure::Fatal(LdapError::Protocol {
                    url: t.url.clone(),
                    problem,
                })
            })?;
            let merged = merge_range(entry, attr, attrs, next).map_err(|e| {
                Failure::Fatal(LdapError::Protocol {
                    url: t.url.clone(),
                    problem: format!("{}: {e}", entry.dn()),
                })
            })?;
            more = more.or(merged);
        }
        match more {
            Some(n) => next = n,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Add the values of one ranged answer (`member;range=1500-2999`) to `entry`. Returns where the
/// next range starts, or `None` when this was the last (`...-*`), when the answer holds no range
/// of `attr`, or when it does not move past `requested` (a server repeating itself).
pub(super) fn merge_range(
    entry: &mut Entry,
    attr: &str,
    attrs: RawAttributes,
    requested: u32,
) -> Result<Option<u32>, EntryTooLarge> {
    let mut next = None;
    let mut b = std::mem::take(entry).into_builder();
    let mut added = Ok(());
    for (name, values) in attrs {
        if let Some((base, end)) = parse_range(&name) {
            if base.eq_ignore_ascii_case(attr) {
                added =
                    added.and_then(|()| values.iter().try_for_each(|v| add_value(&mut b, attr, v)));
                next = end.map(|e| e + 1).filter(|n| *n > requested);
            }
        }
    }
    *entry = b.finish();
    added.map(|()| next)
}

/// `member;range=0-1499` → `("member", Some(1499))`; `member;range=1500-*` → `("member", None)`;
/// a name without a range option → `None`.
pub fn parse_range(name: &str) -> Option<(&str, Option<u32>)> {
    let mut parts = name.split(';');
    let base = parts.next()?;
    let range = parts.find_map(|o| {
        let (k, v) = o.split_once('=')?;
        k.eq_ignore_ascii_case("range").then_some(v)
    })?;
    let (_, end) = range.split_once('-')?;
    if end == "*" {
        return Some((base, None));
    }
    end.parse().ok().map(|e| (base, Some(e)))
}
