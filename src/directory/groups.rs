//! Group membership, resolved by Roster: member / uniqueMember DNs, Active Directory primary
//! groups (`primaryGroupID`), nested groups at any depth, cycles tolerated, DNs compared in
//! normalised form. Never relies on memberOf.

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::directory::GroupIdentity;
use crate::model::DirectoryState;

/// A DN in comparable form: RDNs trimmed, spaces around `=` and `,` dropped, ASCII lowercased.
/// (Attribute values in DNs are compared case-insensitively, as directories do for names.)
pub fn normalize_dn(dn: &str) -> String {
    normalized(dn).into_owned()
}

/// [`normalize_dn`] without a copy when the DN is already in normal form (the common case:
/// directories write DNs the way Roster compares them).
pub fn normalized(dn: &str) -> Cow<'_, str> {
    let b = dn.as_bytes();
    let plain = !b.iter().enumerate().any(|(i, &c)| {
        c.is_ascii_uppercase()
            || c == b';'
            || c == b'\\'
            || !c.is_ascii()
            || (c == b' '
                && (i == 0
                    || i + 1 == b.len()
                    || matches!(b[i - 1], b',' | b'=')
                    || matches!(b[i + 1], b',' | b'=')))
    });
    if plain {
        return Cow::Borrowed(dn);
    }
    let mut out = String::with_capacity(dn.len());
    let mut rdn = String::new();
    let mut escaped = false;
    let flush = |rdn: &mut String, out: &mut String| {
        if !out.is_empty() {
            out.push(',');
        }
        match rdn.split_once('=') {
            Some((a, v)) => {
                out.push_str(&a.trim().to_lowercase());
                out.push('=');
                out.push_str(&v.trim().to_lowercase());
            }
            None => out.push_str(&rdn.trim().to_lowercase()),
        }
        rdn.clear();
    };
    for c in dn.chars() {
        if escaped {
            rdn.push(c);
            escaped = false;
        } else if c == '\\' {
            rdn.push(c);
            escaped = true;
        } else if c == ',' || c == ';' {
            flush(&mut rdn, &mut out);
        } else {
            rdn.push(c);
        }
    }
    if !rdn.trim().is_empty() || !out.is_empty() {
        flush(&mut rdn, &mut out);
    }
    Cow::Owned(out)
}

/// Membership attributes that hold DNs.
pub const MEMBER_ATTRIBUTES: &[&str] = &["member", "uniquemember"];

/// The group graph: normalised group DN → normalised member DNs, borrowed from the directory
/// as read wherever a DN is already in normal form (nearly always), so a million members cost
/// no copies.
pub struct Groups<'a> {
    members: HashMap<Cow<'a, str>, Vec<Cow<'a, str>>>,
    identity: GroupIdentity,
    /// The identity's alias (Entra ID's display name), lowercased → the keys of the groups that
    /// hold it.
    aliases: HashMap<String, Vec<Cow<'a, str>>>,
}

/// `uniqueMember` is `DN [ # 'bits'B ]` (RFC 4517 Name and Optional UID): keep the DN.
pub fn strip_uid_suffix(value: &str) -> &str {
    if let Some((dn, uid)) = value.rsplit_once('#') {
        let bits = uid.strip_prefix('\'').and_then(|u| u.strip_suffix("'B"));
        if bits.is_some_and(|b| b.chars().all(|c| c == '0' || c == '1')) {
            return dn;
        }
    }
    value
}

/// Active Directory keeps a user's primary group (Domain Users, RID 513) out of the group's
/// `member`: the user's `primaryGroupID` holds the group's RID, which the group shows as its
/// constructed `primaryGroupToken` (asked for by name) or as the last sub-authority of its
/// `objectSid` (what an LDIF export may carry instead). Users whose `primaryGroupID` is a group's
/// RID, in the same domain (the `dc=` tail of both DNs), are members of that group.
fn add_primary_members<'a>(
    state: &'a DirectoryState,
    members: &mut HashMap<Cow<'a, str>, Vec<Cow<'a, str>>>,
) {
    if state.identity != GroupIdentity::Dn {
        return;
    }
    let mut by_rid: HashMap<(String, u32), Vec<Cow<'a, str>>> = HashMap::default();
    for g in &state.groups {
        if let Some(rid) = group_rid(g) {
            let key = state.identity.normalize(g.dn());
            by_rid.entry((domain_of(&key), rid)).or_default().push(key);
        }
    }
    if by_rid.is_empty() {
        return;
    }
    for u in &state.users {
        let Some(rid) = u
            .first_text("primaryGroupID")
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let user = state.identity.member(u.dn());
        if let Some(groups) = by_rid.get(&(domain_of(&user), rid)) {
            for g in groups {
                if let Some(list) = members.get_mut(g) {
                    list.push(user.clone());
                }
            }
        }
    }
}

/// A group's RID: its `primaryGroupToken`, else the last sub-authority of its `objectSid`
/// (binary, as AD sends it, or the `S-1-5-21-…-513` text form).
fn group_rid(group: &crate::model::Entry) -> Option<u32> {
    if let Some(token) = group.first_text("primaryGroupToken") {
        return token.trim().parse().ok();
    }
    let sid = group.values("objectSid").get(0)?;
    match sid.as_text() {
        Some(text) if text.starts_with(['S', 's']) => text.rsplit('-').next()?.parse().ok(),
        _ => sid_rid(sid.as_bytes()),
    }
}

/// Whether the users name their primary group by RID (`primaryGroupID`) while `group` shows no
/// RID to match it with: an Active Directory export taken without the group's
/// `primaryGroupToken` or `objectSid`, which leaves Domain Users looking empty.
pub fn lacks_primary_group_rid(state: &DirectoryState, group: &crate::model::Entry) -> bool {
    group_rid(group).is_none() && state.users.iter().any(|u| u.has("primaryGroupID"))
}

/// The last sub-authority of a binary SID: revision, count, 6-byte authority, then `count`
/// little-endian 32-bit sub-authorities.
pub fn sid_rid(sid: &[u8]) -> Option<u32> {
    let count = usize::from(*sid.get(1)?);
    if count == 0 || sid.len() != 8 + 4 * count {
        return None;
    }
    let last: [u8; 4] = sid[sid.len() - 4..].try_into().ok()?;
    Some(u32::from_le_bytes(last))
}

/// The domain part of a normalised DN: its trailing `dc=` RDNs (`dc=corp,dc=example,dc=com`).
fn domain_of(dn: &str) -> String {
    let rdns: Vec<&str> = dn.split(',').collect();
    let start = rdns
        .iter()
        .rposition(|r| !r.starts_with("dc="))
        .map_or(0, |i| i + 1);
    rdns[start..].join(",")
}

impl<'a> Groups<'a> {
    pub fn new(state: &'a DirectoryState) -> Groups<'a> {
        let identity = state.identity;
        let mut members: HashMap<Cow<'a, str>, Vec<Cow<'a, str>>> = HashMap::default();
        let mut aliases: HashMap<String, Vec<Cow<'a, str>>> = HashMap::default();
        for g in &state.groups {
            let key = identity.normalize(g.dn());
            if let Some(attr) = identity.alias_attribute() {
                for alias in g.values(attr).texts() {
                    aliases
                        .entry(alias.to_lowercase())
                        .or_default()
                        .push(key.clone());
                }
            }
            let list = members.entry(key).or_default();
            for attr in MEMBER_ATTRIBUTES {
                for v in g.values(attr).texts() {
                    list.push(identity.member(v));
                }
            }
        }
        add_primary_members(state, &mut members);
        Groups {
            members,
            identity,
            aliases,
        }
    }

    /// The key of the group a config names: by its key (DN, object ID), or, where the identity
    /// allows it, by an alias only one group holds (a display name).
    pub fn key_of<'n>(&self, name: &'n str) -> Cow<'n, str> {
        let key = self.identity.normalize(name);
        if self.aliases.is_empty() || self.members.contains_key(key.as_ref()) {
            return key;
        }
        match self.aliases.get(&name.to_lowercase()).map(Vec::as_slice) {
            Some([one]) => Cow::Owned(one.to_string()),
            _ => key,
        }
    }

    /// The keys of the groups that share the alias `name` names, when more than one does (the
    /// config must then name the group by its key).
    pub fn ambiguous(&self, name: &str) -> Option<&[Cow<'a, str>]> {
        if self.aliases.is_empty()
            || self
                .members
                .contains_key(self.identity.normalize(name).as_ref())
        {
            return None;
        }
        self.aliases
            .get(&name.to_lowercase())
            .map(Vec::as_slice)
            .filter(|keys| keys.len() > 1)
    }

    pub fn contains_group(&self, dn: &str) -> bool {
        self.members.contains_key(self.key_of(dn).as_ref())
    }

    /// The direct members of a group (normal form), or `None` when the directory has no such
    /// group.
    pub fn members_of(&self, dn: &str) -> Option<&[Cow<'a, str>]> {
        self.members
            .get(self.key_of(dn).as_ref())
            .map(Vec::as_slice)
    }

    /// Up to `limit` non-group DNs this group reaches, through nested groups at any depth, and
    /// whether that is all of them.
    pub fn leaves(&self, dn: &str, limit: usize) -> (Vec<&str>, bool) {
        let mut seen: HashSet<&str> = HashSet::default();
        let mut out: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = self
            .members_of(dn)
            .unwrap_or_default()
            .iter()
            .map(AsRef::as_ref)
            .collect();
        while let Some(dn) = stack.pop() {
            if !seen.insert(dn) {
                continue;
            }
            match self.members.get(dn) {
                Some(ms) => stack.extend(ms.iter().map(AsRef::as_ref)),
                None if out.len() == limit => return (out, false),
                None => out.push(dn),
            }
        }
        (out, true)
    }

    /// Every non-group DN reachable from these groups, through nested groups at any depth, in
    /// normal form.
    pub fn transitive_members<'r>(
        &self,
        roots: impl IntoIterator<Item = &'r (impl AsRef<str> + 'r + ?Sized)>,
    ) -> HashSet<Cow<'a, str>> {
        let mut seen: HashSet<Cow<'a, str>> = HashSet::default();
        let mut users: HashSet<Cow<'a, str>> = HashSet::default();
        let mut stack: Vec<Cow<'a, str>> = roots
            .into_iter()
            .map(|r| Cow::Owned(self.key_of(r.as_ref()).into_owned()))
            .collect();
        while let Some(dn) = stack.pop() {
            if !seen.insert(dn.clone()) {
                continue;
            }
            match self.members.get(dn.as_ref()) {
                Some(ms) => stack.extend(ms.iter().filter(|m| !seen.contains(m.as_ref())).cloned()),
                None => {
                    users.insert(dn);
                }
            }
        }
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, Entry};

    fn group(dn: &str, members: &[&str]) -> Entry {
        let mut e = Entry::new(dn);
        for m in members {
            e.add("member", AttrValue::Text((*m).into()));
        }
        e
    }

    #[test]
    fn normalises() {
        assert_eq!(
            normalize_dn("CN=Ada Lovelace , OU=People,DC=Example, DC=com"),
            "cn=ada lovelace,ou=people,dc=example,dc=com"
        );
        assert_eq!(normalize_dn("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
    }

    #[test]
    fn nested_with_cycle() {
        let state = DirectoryState {
            groups: vec![
                group("cn=a", &["cn=b", "uid=1"]),
                group("cn=b", &["cn=c", "uid=2"]),
                group("cn=c", &["CN=A", "uid=3"]),
            ],
            ..Default::default()
        };
        let g = Groups::new(&state);
        let m = g.transitive_members(&["cn=b".to_string()]);
        assert_eq!(m.len(), 3);
        assert!(m.contains("uid=1"));
        let (mut all, complete) = g.leaves("CN=C", 10);
        all.sort_unstable();
        assert_eq!((all, complete), (vec!["uid=1", "uid=2", "uid=3"], true));
        let (some, complete) = g.leaves("cn=c", 2);
        assert_eq!((some.len(), complete), (2, false));
        assert_eq!(g.members_of("cn=A").map(<[_]>::len), Some(2));
        assert!(g.members_of("cn=d").is_none());
    }

    #[test]
    fn primary_group_members_come_from_the_users_primary_group_id() {
        let mut domain_users = group("CN=Domain Users,CN=Users,DC=corp,DC=test", &[]);
        domain_users.add("primaryGroupToken", AttrValue::Text("513".into()));
        // Only the objectSid (S-1-5-21-1-2-3-1105), binary, as an LDIF export may carry it.
        let mut sid = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1, 2, 3, 1105] {
            sid.extend(sub.to_le_bytes());
        }
        let mut staff = group("CN=Staff,OU=G,DC=corp,DC=test", &["cn=x,dc=corp,dc=test"]);
        staff.add("objectSid", AttrValue::Binary(sid.clone()));
        // The same RID in another domain of the forest is another group.
        let mut other = group("CN=Domain Users,CN=Users,DC=eu,DC=corp,DC=test", &[]);
        other.add("primaryGroupToken", AttrValue::Text("513".into()));
        let user = |dn: &str, rid: &str| {
            let mut u = Entry::new(dn);
            u.add("primaryGroupID", AttrValue::Text(rid.into()));
            u
        };
        let state = DirectoryState {
            users: vec![
                user("CN=Ada,OU=P,DC=corp,DC=test", "513"),
                user("CN=Bob,OU=P,DC=corp,DC=test", "1105"),
                user("CN=Eve,OU=P,DC=eu,DC=corp,DC=test", "513"),
            ],
            groups: vec![domain_users, staff, other],
            ..Default::default()
        };
        let g = Groups::new(&state);
        let all = |dn: &str| {
            let mut v: Vec<String> = g
                .transitive_members([dn])
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(
            all("CN=Domain Users,CN=Users,DC=corp,DC=test"),
            ["cn=ada,ou=p,dc=corp,dc=test"]
        );
        assert_eq!(
            all("CN=Staff,OU=G,DC=corp,DC=test"),
            ["cn=bob,ou=p,dc=corp,dc=test", "cn=x,dc=corp,dc=test"]
        );
        assert_eq!(
            all("cn=domain users,cn=users,dc=eu,dc=corp,dc=test"),
            ["cn=eve,ou=p,dc=eu,dc=corp,dc=test"]
        );
        assert_eq!(sid_rid(&sid), Some(1105));
        assert_eq!(sid_rid(&sid[..sid.len() - 1]), None);
    }

    #[test]
    fn object_ids_and_display_names_name_entra_groups() {
        let mut staff = group("AAAA-1", &["U-1"]);
        staff.add("displayName", AttrValue::Text("Staff".into()));
        let mut twin_a = group("bbbb-2", &["u-2"]);
        twin_a.add("displayName", AttrValue::Text("Twins".into()));
        let mut twin_b = group("cccc-3", &["u-3"]);
        twin_b.add("displayName", AttrValue::Text("twins".into()));
        let state = DirectoryState {
            groups: vec![staff, twin_a, twin_b],
            identity: GroupIdentity::ObjectId,
            ..Default::default()
        };
        let g = Groups::new(&state);
        // By object ID, any case, and by a display name only one group holds.
        assert_eq!(g.members_of("aaaa-1").map(<[_]>::len), Some(1));
        assert!(g.transitive_members(["STAFF"]).contains("u-1"));
        // A display name two groups share resolves to neither, and says which they are.
        assert!(g.members_of("Twins").is_none());
        let mut both: Vec<&str> = g
            .ambiguous("TWINS")
            .unwrap()
            .iter()
            .map(AsRef::as_ref)
            .collect();
        both.sort_unstable();
        assert_eq!(both, ["bbbb-2", "cccc-3"]);
        assert!(g.ambiguous("bbbb-2").is_none());
        assert!(g.members_of("BBBB-2").is_some());
    }
}
