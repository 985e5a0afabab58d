//! `roster export`: a starting config written from the live systems (or snapshots) — the current
//! holders of the intranet's groups as admin roles, the intranet fields that are populated with
//! a guess of their directory attribute, and the directory's groups to pick syncing groups from
//! (those whose members best match today's active accounts picked, the rest as comments). Planning the exported
//! config right away shows no role changes. Pure: what was read in, YAML text out.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use crate::config::{DirectoryConfig, IntranetConfig};
use crate::directory::groups::Groups;
use crate::directory::ldap::id_key;
use crate::intranet::fields::VOCABULARY;
use crate::model::{DirectoryState, IntranetState};
use crate::text::username_key;

/// Directory attributes to try for each intranet field, most likely first (OpenLDAP and AD).
pub const GUESSES: &[(&str, &[&str])] = &[
    ("first_name", &["givenName"]),
    ("surname", &["sn"]),
    ("display_name", &["displayName", "{givenName} {sn}"]),
    ("email", &["mail", "userPrincipalName"]),
    ("phone", &["telephoneNumber", "mobile"]),
    ("job_title", &["title"]),
    ("department", &["department", "departmentNumber", "ou"]),
    ("manager", &["manager"]),
    ("employee_number", &["employeeNumber", "employeeID"]),
];

/// Every attribute a guess may read, for the directory read of `export`.
pub fn attributes() -> Vec<String> {
    let mut out: Vec<String> = GUESSES
        .iter()
        .flat_map(|(_, c)| c.iter())
        .filter(|a| !a.contains('{'))
        .map(|a| (*a).to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every intranet field of the vocabulary, to read all of them.
pub fn fields() -> Vec<String> {
    VOCABULARY.iter().map(|(f, _)| (*f).to_owned()).collect()
}

/// The `syncing_groups:` section: the groups whose members best match the users of today's
/// active managed accounts, picked one by one while the match improves (the F1 score of the
/// picked groups' users against those users: a group of 1,730 over 28 accounts matches far
/// worse than the group of 28), each with why; the directory's other groups as comments.
fn syncing_groups(
    directory: &DirectoryConfig,
    dir: &DirectoryState,
    net: &IntranetState,
) -> String {
    let groups = Groups::new(dir);
    let id_attr = &directory.id_attribute();
    let dn_of_id: HashMap<Cow<str>, String> = dir
        .users
        .iter()
        .filter_map(|u| Some((id_key(u.first_text(id_attr)?), dir.identity.key(u.dn()))))
        .collect();
    let users: BTreeSet<String> = dn_of_id.values().cloned().collect();
    let dn_of_name = dn_of_username(directory, dir);
    // The users of today's active accounts: a managed account's by its directory ID, an
    // unmanaged one's by username (the first plan links it, `policy.adopt`); those by username
    // also kept apart, to say how many accounts a group would link.
    let mut active: BTreeSet<String> = BTreeSet::new();
    let mut to_link: BTreeSet<String> = BTreeSet::new();
    for a in net.accounts.iter().filter(|a| a.active) {
        if a.is_managed() {
            let ext = a.external_id.as_deref().unwrap_or_default();
            if let Some(dn) = dn_of_id.get(id_key(ext).as_ref()) {
                active.insert(dn.clone());
            }
        } else if let Some(dn) = dn_of_name.get(username_key(&a.username).as_ref()) {
            if active.insert(dn.clone()) {
                to_link.insert(dn.clone());
            }
        }
    }
    // Each group's users, at any depth (members that are no user get no account).
    let mut candidates: Vec<(String, BTreeSet<String>)> = dir
        .groups
        .iter()
        .map(|g| {
            let members = groups
                .transitive_members(std::iter::once(g.dn()))
                .into_iter()
                .filter(|m| users.contains(m.as_ref()))
                .map(Cow::into_owned)
                .collect();
            (g.dn().to_owned(), members)
        })
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    // F1 of a set of users against the active accounts' users: 2|S∩A| / (|S| + |A|).
    let f1 = |hits: usize, size: usize| {
        if size + active.len() == 0 {
            0.0
        } else {
            2.0 * hits as f64 / (size + active.len()) as f64
        }
    };
    let mut union: BTreeSet<&String> = BTreeSet::new();
    let mut hits = 0;
    let mut picked: Vec<usize> = Vec::new();
    loop {
        let score = f1(hits, union.len());
        let best = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| !picked.contains(i))
            .filter_map(|(i, (_, m))| {
                let new: Vec<&String> = m.iter().filter(|d| !union.contains(d)).collect();
                let new_hits = new.iter().filter(|d| active.contains(**d)).count();
                (new_hits > 0).then(|| (i, f1(hits + new_hits, union.len() + new.len()), new_hits))
            })
            // The best score; on a tie, the smaller group (then the first by name).
            .max_by(|a, b| {
                a.1.total_cmp(&b.1)
                    .then_with(|| candidates[b.0].1.len().cmp(&candidates[a.0].1.len()))
                    .then_with(|| b.0.cmp(&a.0))
            });
        match best {
            Some((i, s, new_hits)) if s > score => {
                union.extend(candidates[i].1.iter());
                hits += new_hits;
                picked.push(i);
            }
            _ => break,
        }
    }
    let n_active = active.len();
    let mut out = String::from(
        "# Members of these groups (nested at any depth) get intranet accounts. Picked: the groups whose\n\
         # users best match the users of today's active accounts (a group much larger than\n\
         # them would create an account for each member without one); the directory's other groups\n\
         # are listed as comments. An unmanaged account with a member's username is linked to that\n\
         # member by the first plan (`policy.adopt`).\n",
    );
    // With nothing picked, a flow list: each commented group stays valid YAML once uncommented.
    if picked.is_empty() {
        out.push_str("syncing_groups: [ # no group holds a user with an active account: uncomment the ones to sync\n");
    } else {
        out.push_str("syncing_groups:\n");
    }
    let (item, close) = if picked.is_empty() {
        ("  # {},", "]\n")
    } else {
        ("  # - {}", "")
    };
    let counts = |m: &BTreeSet<String>| {
        let with = m.intersection(&active).count();
        (with, m.len() - with)
    };
    // How many of the accounts it covers the first plan links (unmanaged ones, by username).
    let linking = |m: &BTreeSet<String>| match m.intersection(&to_link).count() {
        0 => String::new(),
        n => format!(" ({n} unmanaged, which the first plan links by username)"),
    };
    for &i in &picked {
        let (dn, m) = &candidates[i];
        let (with, without) = counts(m);
        let _ = writeln!(
            out,
            "  - {}  # covers {with} of the {n_active} active account{}{}, {without} member{} without an account",
            q(dn),
            crate::render::plural(n_active),
            linking(m),
            crate::render::plural(without)
        );
    }
    for (i, (dn, m)) in candidates.iter().enumerate() {
        if picked.contains(&i) {
            continue;
        }
        let (with, _) = counts(m);
        let new: Vec<&String> = m.iter().filter(|d| !union.contains(d)).collect();
        let new_hits = new.iter().filter(|d| active.contains(**d)).count();
        let why = match (with, new_hits) {
            (0, _) => String::new(),
            (_, 0) => ", all in the picked groups".to_owned(),
            (_, n) => format!(
                ": not picked, it would cover {n} more account{} and give {} member{} without one an account",
                crate::render::plural(n),
                new.len() - n,
                crate::render::plural(new.len() - n)
            ),
        };
        let _ = writeln!(
            out,
            "{}  # {} member{}, {with} with an active intranet account{}{why}",
            item.replace("{}", &q(dn)),
            m.len(),
            crate::render::plural(m.len()),
            linking(m)
        );
    }
    out.push_str(close);
    if n_active > hits {
        let _ = writeln!(
            out,
            "  # {} active account{} to users in none of the picked groups",
            n_active - hits,
            if n_active - hits == 1 {
                " belongs"
            } else {
                "s belong"
            }
        );
    }
    out
}

/// Directory users by username as usernames compare, as `policy.adopt` matches them.
fn dn_of_username<'a>(
    directory: &DirectoryConfig,
    dir: &'a DirectoryState,
) -> HashMap<Cow<'a, str>, String> {
    let attr = directory.username_attribute();
    dir.users
        .iter()
        .filter_map(|u| Some((username_key(u.first_text(attr)?), dir.identity.key(u.dn()))))
        .collect()
}

/// Where a default limit comes from, for `base` of `what` (`active managed accounts`): the
/// larger of the floor and the share of them, or the floor alone while there are none (a fresh
/// intranet), never "10% of 0".
fn guard_basis(base: usize, what: &str) -> String {
    let floor = crate::config::DEFAULT_GUARD_FLOOR;
    let pct = crate::config::DEFAULT_GUARD_PERCENT;
    if base == 0 {
        format!("{floor}, the floor, as there are no {what} yet")
    } else {
        format!("the larger of {floor} and {pct}% of {base} {what}")
    }
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn section(name: &str, value: &impl serde::Serialize) -> String {
    let yaml = serde_saphyr::to_string(value).unwrap_or_default();
    let mut out = format!("{name}:\n");
    for line in yaml.lines().filter(|l| !l.trim().is_empty() && *l != "---") {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if s.is_empty() {
        "role".into()
    } else {
        s
    }
}

pub fn export(
    directory: &DirectoryConfig,
    intranet: &IntranetConfig,
    dir: &DirectoryState,
    net: &IntranetState,
) -> String {
    let mut out = String::from("# yaml-language-server: $schema=https://raw.githubusercontent.com/roster-sync/roster/main/schemas/roster.schema.json\n");
    out.push_str("# Written by `roster export` from the live systems: a starting point. Review every section,\n# then `roster plan` before the first `roster apply`.\nversion: 1\n\n");
    out.push_str(&section("directory", directory));
    out.push('\n');
    out.push_str(&section("intranet", intranet));
    out.push('\n');

    out.push_str(&syncing_groups(directory, dir, net));
    out.push('\n');

    // Field mappings: the populated intranet fields, with the directory attribute found first.
    out.push_str(
        "# Intranet field: directory attribute. Each line is a guess: check it.\nfield_mappings:\n",
    );
    let populated = |f: &str| {
        net.accounts
            .iter()
            .filter(|a| a.fields.contains_key(f))
            .count()
    };
    let has_attr = |a: &str| dir.users.iter().any(|u| u.has(a));
    // A template is a guess only when the directory has each attribute it reads.
    let found_in_directory = |c: &str| {
        if c.contains('{') {
            c.split(['{', '}']).skip(1).step_by(2).all(has_attr)
        } else {
            has_attr(c)
        }
    };
    let (mut any, mut mapped) = (false, false);
    for (field, candidates) in GUESSES {
        let n = populated(field);
        if n == 0 {
            continue;
        }
        any = true;
        match candidates.iter().find(|c| found_in_directory(c)) {
            Some(a) => {
                mapped = true;
                let _ = writeln!(
                    out,
                    "  {field}: {}  # populated on {n} of {} accounts",
                    q(a),
                    net.accounts.len()
                );
            }
            // Written out, the guess would stop every plan (a mapped attribute no user has):
            // a comment to fill in instead (a CSV directory's columns have their own names).
            None => {
                let _ = writeln!(
                    out,
                    "  # {field}: {}  # populated on {n} accounts; no candidate attribute found in the directory: name the one that holds it",
                    q(candidates[0])
                );
            }
        }
    }
    if !any {
        out.push_str("  {} # no intranet field is populated yet\n");
    } else if !mapped {
        out.push_str("  {} # no guessed attribute is in the directory: fill in the lines above\n");
    }
    out.push('\n');

    // Admin roles: every intranet group, with its current holders.
    let by_id: HashMap<&str, &crate::model::Account> =
        net.accounts.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut local_holders = BTreeSet::new();
    out.push_str("# The intranet's groups and who holds them today. Replace `users:` with directory\n# `groups:` where a group says it better; drop the groups that are not admin roles.\nadmin_roles:\n");
    if net.groups.iter().all(|g| g.members.is_empty()) {
        out.push_str("  {}\n");
    }
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    // The intranet's administrators' group is the `sysadmin` role, the one `min_sysadmins` counts.
    let sysadmins = net
        .groups
        .iter()
        .position(|g| SYSADMIN_NAMES.contains(&slug(&g.display_name).as_str()));
    let dn_of_name = dn_of_username(directory, dir);
    for (at, g) in net.groups.iter().enumerate() {
        let mut key = if Some(at) == sysadmins {
            SYSADMIN.to_owned()
        } else {
            slug(&g.display_name)
        };
        let n = keys.entry(key.clone()).or_default();
        *n += 1;
        if *n > 1 {
            key = format!("{key}_{n}");
        }
        let mut users: Vec<&str> = Vec::new();
        let mut dangling = 0;
        for m in &g.members {
            match by_id.get(m.as_str()) {
                Some(a) => {
                    users.push(&a.username);
                    // Break-glass: a local account no directory user would ever link.
                    if !a.is_managed()
                        && !dn_of_name.contains_key(username_key(&a.username).as_ref())
                    {
                        local_holders.insert(a.username.clone());
                    }
                }
                None => dangling += 1,
            }
        }
        users.sort_unstable();
        if users.is_empty() {
            let _ = writeln!(out, "  # {key}: {{ intranet_group: {}, members: {{ groups: [], users: [] }} }}  # nobody holds it", q(&g.display_name));
            continue;
        }
        let _ = writeln!(
            out,
            "  {key}:\n    intranet_group: {}\n    members:",
            q(&g.display_name)
        );
        let _ = writeln!(
            out,
            "      users: [{}]",
            users.iter().map(|u| q(u)).collect::<Vec<_>>().join(", ")
        );
        if dangling > 0 {
            let _ = writeln!(
                out,
                "      # {dangling} member id{} match no account; the first plan removes them",
                crate::render::plural(dangling)
            );
        }
    }
    out.push('\n');
    out.push_str("policy:\n  reactivate: true\n  adopt: true\n  # Local accounts that hold intranet groups and match no directory user (break-glass admins):\n  # never blocked, renamed or stripped.\n");
    let _ = writeln!(
        out,
        "  protected: [{}]",
        local_holders
            .iter()
            .map(|u| q(u))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The limits on destructive changes, written out: what the default gives for these systems.
    let managed = net
        .accounts
        .iter()
        .filter(|a| a.active && a.is_managed())
        .count();
    let holders: usize = net.groups.iter().map(|g| g.members.len()).sum();
    let _ = write!(
        out,
        "  # Limits: a plan that goes over one is refused (exit 4). These are the defaults for today's\n  \
         # systems:\n  \
         #   blocks, cleared field values, renames: {}\n  \
         #   revokes: {}\n  \
         # Each takes a count, a share (\"10%\") or `false`; without the line, the default follows the\n  \
         # numbers as they grow.\n  \
         max_blocks: {}\n  max_clears: {}\n  max_revokes: {}\n  max_renames: {}\n  \
         # The read guard: refuse to plan when more active managed accounts than this lost their user.\n  \
         max_vanished: {}\n",
        guard_basis(managed, "active managed accounts"),
        guard_basis(holders, "admin role holders"),
        crate::config::default_guard(managed),
        crate::config::default_guard(managed),
        crate::config::default_guard(holders),
        crate::config::default_guard(managed),
        crate::config::Policy::default().max_vanished,
    );
    let held = |i: usize| !net.groups[i].members.is_empty();
    match sysadmins {
        Some(i) if held(i) => out.push_str(
            "  # Refuse a plan that would leave the intranet without an active sysadmin.\n  min_sysadmins: 1\n",
        ),
        _ => out.push_str(
            "  # With an `admin_roles.sysadmin` role: refuse a plan that leaves fewer holders.\n  # min_sysadmins: 1\n",
        ),
    }
    out.push_str(
        "  # What `roster apply --unattended` (a scheduled run) applies on its own, per kind of change:\n  \
         # true, false (a person approves) or up to a count or share. These are the defaults.\n",
    );
    let unattended = section("unattended", &crate::config::Policy::default().unattended);
    for line in unattended.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The role key `min_sysadmins` counts the holders of.
const SYSADMIN: &str = "sysadmin";

/// Intranet group names (as [`slug`]s) taken for the administrators' group.
const SYSADMIN_NAMES: &[&str] = &[
    "sysadmin",
    "sysadmins",
    "system_administrator",
    "system_administrators",
    "administrator",
    "administrators",
    "admin",
    "admins",
    "intranet_admins",
    "intranet_administrators",
];
