//! Desired state: what the directory and the config say the intranet should hold.
//! Pure: takes the config and the directory as read, returns values.

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::config::{Config, DisabledRule};
use crate::directory::groups::{normalized, Groups};
use crate::directory::ldap::id_key;
use crate::model::{AttrId, DirectoryState, Entry, Value};
use crate::reconcile::mapping::Template;
use crate::reconcile::Conflict;
use crate::text::{escape, mixed_scripts, quoted, shown, username_key};

/// A directory user as Roster sees it, borrowed from the directory as read and the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub enabled: bool,
    /// Member (at any depth) of a syncing group.
    pub syncing: bool,
    /// For a syncing user: the first syncing group (in the config's order) that holds them, an
    /// index in [`Desired::syncing_groups`].
    via: u16,
    /// The entry the user was read from.
    pub entry: &'a Entry,
    /// Mapped field values, one per name in [`Desired::fields`] (read them with
    /// [`Desired::fields_of`]): 8 bytes each, as a directory can hold millions of users.
    values: Box<[Span]>,
}

/// Where a desired value is: a slice of the user's entry (most values are an attribute taken as
/// it is), a value the mapping made (in [`Desired`]'s `made`), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NONE: Span = Span {
        start: 0,
        len: u32::MAX,
    };
    /// The top bit of `start` marks a made value.
    const MADE: u32 = 1 << 31;
}

/// Who should hold an admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRole {
    pub name: String,
    pub intranet_group: String,
    /// Directory users (by immutable ID) from the role's directory groups.
    pub member_ids: Vec<String>,
    /// DNs from the role's groups that are not users Roster knows (no ID or username).
    pub unknown_members: Vec<String>,
    /// Usernames listed directly.
    pub usernames: Vec<String>,
}

impl<'a> DesiredUser<'a> {
    pub fn dn(&self) -> &'a str {
        self.entry.dn()
    }
}

impl<'a> Desired<'a> {
    /// The syncing group (as the config names it) that makes `user` a syncing user: the first
    /// that holds them.
    pub fn syncing_group(&self, user: &DesiredUser) -> Option<&'a str> {
        self.syncing_groups
            .get(usize::from(user.via))
            .copied()
            .filter(|_| user.syncing)
    }

    /// The directory user with this immutable ID.
    pub fn user(&self, id: &str) -> Option<&DesiredUser<'a>> {
        self.by_id.get(id_key(id).as_ref()).map(|&i| &self.users[i])
    }

    /// A user's mapped fields: name and desired value.
    pub fn fields_of<'s>(
        &'s self,
        user: &'s DesiredUser<'a>,
    ) -> impl Iterator<Item = (&'a str, Option<&'s str>)> + 's {
        self.fields
            .iter()
            .copied()
            .zip(user.values.iter().map(move |s| self.value(user, *s)))
    }

    fn value<'s>(&'s self, user: &'s DesiredUser<'a>, s: Span) -> Option<&'s str> {
        if s == Span::NONE {
            None
        } else if s.start & Span::MADE != 0 {
            let start = (s.start & !Span::MADE) as usize;
            self.made.get(start..start + s.len as usize)
        } else {
            Some(user.entry.text_at(s.start, s.len))
        }
    }

    /// Where `value` is kept: in the entry when it is a slice of it, else added to `made`.
    /// `None` when `made` is full (2 GiB of values the mappings made).
    fn place(&mut self, entry: &Entry, value: Option<&str>) -> Option<Span> {
        let Some(v) = value else {
            return Some(Span::NONE);
        };
        if let Some((start, len)) = entry.span_of(v) {
            return Some(Span { start, len });
        }
        let start = u32::try_from(self.made.len())
            .ok()
            .filter(|s| s & Span::MADE == 0)?;
        let len = u32::try_from(v.len()).ok().filter(|l| *l != u32::MAX)?;
        u32::try_from(self.made.len() + v.len())
            .ok()
            .filter(|e| e & Span::MADE == 0)?;
        self.made.push_str(v);
        Some(Span {
            start: start | Span::MADE,
            len,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired<'a> {
    /// Every directory user with an ID and a username, sorted by username.
    pub users: Vec<DesiredUser<'a>>,
    pub roles: Vec<DesiredRole>,
    /// The mapped field names, in name order: the names of every user's `values`.
    pub fields: Vec<&'a str>,
    /// The syncing groups, as the config names them.
    pub syncing_groups: Vec<&'a str>,
    /// Each mapped field's digest ([`crate::reconcile::mapping::digest`]): compared with the
    /// state file's to tell a value the config changed.
    pub mapping_digests: std::collections::BTreeMap<String, String>,
    pub conflicts: Vec<Conflict>,
    pub warnings: Vec<String>,
    /// Index of `users` by immutable ID, in [`id_key`] form (a GUID compares without case).
    pub by_id: HashMap<Cow<'a, str>, usize>,
    /// The values mappings made (templates, lowercase, a manager's username), back to back.
    made: String,
}

/// `userAccountControl` as a number (AD writes it as a signed 32-bit decimal).
fn uac(v: &str) -> Option<i64> {
    v.trim().parse::<i64>().ok()
}

fn is_disabled(
    rule: Option<&DisabledRule>,
    entry: &Entry,
    by_filter: Option<&std::collections::BTreeSet<String>>,
) -> bool {
    match rule {
        None => false,
        // A value that is no number is a conflict of its own (see `compute`): nothing is
        // planned on a guess, neither an enabled account nor a block.
        Some(DisabledRule::ActiveDirectory) => entry
            .first_text("useraccountcontrol")
            .and_then(uac)
            .is_some_and(|uac| uac & 0x2 != 0),
        Some(DisabledRule::Attribute(a)) => entry.values(&a.name).iter().any(|v| match v {
            Value::Text(t) => a.disables(t),
            Value::Binary(_) => true,
        }),
        Some(DisabledRule::Filter(_)) => {
            by_filter.is_some_and(|set| set.contains(normalized(entry.dn()).as_ref()))
        }
    }
}

/// Compute the desired state. Mappings were validated when the config was loaded; one that
/// still fails to parse here is skipped.
pub fn compute<'a>(config: &'a Config, dir: &'a DirectoryState) -> Desired<'a> {
    let d = &config.directory;
    let groups = Groups::new(dir);
    // Each syncing user, with the first syncing group that holds them (one read of the groups
    // when there is one syncing group, as there usually is).
    let syncing: HashMap<Cow<str>, u16> = match config.syncing_groups.as_slice() {
        [_] => groups
            .transitive_members(&config.syncing_groups)
            .into_iter()
            .map(|dn| (dn, 0))
            .collect(),
        many => {
            let mut via: HashMap<Cow<str>, u16> = HashMap::default();
            for (i, g) in many.iter().enumerate() {
                let i = u16::try_from(i).unwrap_or(u16::MAX);
                for dn in groups.transitive_members([g]) {
                    via.entry(dn).or_insert(i);
                }
            }
            via
        }
    };
    let mappings: Vec<(&str, Template)> = config
        .field_mappings
        .iter()
        .filter_map(|(f, m)| Some((f.as_str(), Template::parse(m).ok()?)))
        .collect();
    // Looked up once per user each: in the lowercase form entries keep their names in.
    let id_attribute = AttrId::of(d.id_attribute());
    let username_attribute = AttrId::of(d.username_attribute());
    let mut out = Desired {
        fields: mappings.iter().map(|(f, _)| *f).collect(),
        syncing_groups: config.syncing_groups.iter().map(|g| g.name()).collect(),
        mapping_digests: crate::reconcile::mapping::digests(config),
        ..Default::default()
    };

    // username by normalised DN, for `manager` (a DN in the directory, a username in the plan).
    let username_of: HashMap<Cow<str>, &str> = if config.field_mappings.contains_key("manager") {
        dir.users
            .iter()
            .filter_map(|u| {
                Some((
                    dir.identity.normalize(u.dn()),
                    u.key_text(&username_attribute)?,
                ))
            })
            .collect()
    } else {
        HashMap::default()
    };

    let mut by_name: HashMap<Cow<str>, usize> = HashMap::default();
    let mut by_id: HashMap<Cow<str>, usize> = HashMap::default();
    by_id.reserve(dir.users.len());
    out.users.reserve_exact(dir.users.len());
    // The members of each role's groups, and the IDs of those that are users: only they need a
    // DN → ID lookup, not the whole directory.
    let role_members: Vec<HashSet<Cow<str>>> = config
        .admin_roles
        .values()
        .map(|role| groups.transitive_members(&role.members.groups))
        .collect();
    let mut id_of_dn: HashMap<&str, &str> = HashMap::default();
    for entry in &dir.users {
        let ndn = dir.identity.normalize(entry.dn());
        let via = syncing.get(ndn.as_ref()).copied();
        let in_sync = via.is_some();
        let id = entry.key_text(&id_attribute);
        let username = entry.key_text(&username_attribute);
        let (Some(id), Some(username)) = (id, username) else {
            if in_sync {
                let missing = if id.is_none() {
                    &d.id_attribute()
                } else {
                    &d.username_attribute()
                };
                out.conflicts.push(Conflict {
                    subject: shown(entry.dn()).into_owned(),
                    message: format!("member of a syncing group but has no `{}`", shown(missing)),
                    help: format!("every synced user needs an immutable ID (`{}`) and a username (`{}`); ask for operational attributes by name", shown(d.id_attribute()), shown(d.username_attribute())),
                });
            }
            continue;
        };
        if let Some(dn) = role_members.iter().find_map(|m| m.get(ndn.as_ref())) {
            id_of_dn.insert(dn, id);
        }
        let mut values = Vec::with_capacity(mappings.len());
        for (field, t) in &mappings {
            let ev = t.eval(entry);
            for attr in &ev.binary {
                out.warnings.push(format!(
                    "{}: `{}` holds a binary value; `{field}` is left without it",
                    shown(username),
                    shown(attr)
                ));
            }
            let value = if *field == "manager" && t.is_plain_attribute() {
                ev.value.and_then(|dn| {
                    username_of
                        .get(dir.identity.normalize(&dn).as_ref())
                        .map(|s| Cow::Borrowed(*s))
                })
            } else {
                ev.value
            };
            match out.place(entry, value.as_deref()) {
                Some(span) => values.push(span),
                None => {
                    out.conflicts.push(Conflict {
                        subject: shown(entry.dn()).into_owned(),
                        message: "the mapped values made for all users exceed 2 GiB".into(),
                        help: "map fewer fields, or shorter templates".into(),
                    });
                    values.push(Span::NONE);
                }
            }
        }
        if in_sync && matches!(d.disabled_rule(), Some(DisabledRule::ActiveDirectory)) {
            if let Some(v) = entry
                .first_text("useraccountcontrol")
                .filter(|v| uac(v).is_none())
            {
                out.conflicts.push(Conflict {
                    subject: shown(entry.dn()).into_owned(),
                    message: format!(
                        "userAccountControl {} is not a number: whether {} is disabled is unknown",
                        quoted(v),
                        shown(username)
                    ),
                    help: "Active Directory writes it as a decimal number (512 enabled, 514 disabled); fix the entry, or check what rewrites it on the way (a proxy, an export tool)".into(),
                });
            }
        }
        let user = DesiredUser {
            entry,
            id,
            username,
            enabled: !is_disabled(d.disabled_rule(), entry, dir.disabled_by_filter.as_ref()),
            syncing: in_sync,
            via: via.unwrap_or(0),
            values: values.into_boxed_slice(),
        };
        if let Some(&other) = by_id.get(id_key(id).as_ref()) {
            let o: &DesiredUser = &out.users[other];
            if o.syncing || in_sync {
                out.conflicts.push(Conflict {
                    subject: shown(entry.dn()).into_owned(),
                    message: format!("has the same {} `{}` as {}", shown(d.id_attribute()), escape(id), shown(o.dn())),
                    help: "an immutable ID must be unique; fix the directory or choose another `id_attribute`".into(),
                });
            }
            continue;
        }
        if in_sync {
            let key = username_key(username);
            if let Some(&other) = by_name.get(&key) {
                out.conflicts.push(Conflict {
                    subject: shown(username).into_owned(),
                    message: format!("two directory users have this username: {} and {}", shown(out.users[other].dn()), shown(entry.dn())),
                    help: "usernames are the intranet's unique key (compared without case, in Unicode NFC); rename one in the directory or take it out of the syncing groups".into(),
                });
            } else {
                if let Some(scripts) = mixed_scripts(username) {
                    out.warnings.push(format!(
                        "username {} mixes scripts ({}): it can pass for another username; check it in the directory",
                        shown(username),
                        scripts.join(", ")
                    ));
                }
                by_name.insert(key, out.users.len());
            }
        }
        by_id.insert(id_key(id), out.users.len());
        out.users.push(user);
    }
    out.users
        .sort_unstable_by(|a, b| a.username.cmp(b.username).then_with(|| a.dn().cmp(b.dn())));
    // Indices after the sort.
    for (i, u) in out.users.iter().enumerate() {
        by_id.insert(id_key(u.id), i);
    }
    out.by_id = by_id;

    for ((name, role), members) in config.admin_roles.iter().zip(&role_members) {
        let mut r = DesiredRole {
            name: name.clone(),
            intranet_group: role.intranet_group.clone(),
            member_ids: vec![],
            unknown_members: vec![],
            usernames: role.members.users.clone(),
        };
        let mut dns: Vec<String> = members.iter().map(|dn| dn.to_string()).collect();
        dns.sort();
        for dn in dns {
            match id_of_dn.get(dn.as_str()) {
                Some(id) => r.member_ids.push((*id).to_owned()),
                None => r.unknown_members.push(dn),
            }
        }
        out.roles.push(r);
    }
    // A configured group that is missing, empty or holds no users is an error found by
    // `reconcile::resolve`, before any of this is planned.
    out
}
