//! `roster export`: a starting config written from the live systems (or snapshots) — the current
//! holders of the intranet's groups as admin roles, the intranet fields that are populated with
//! a guess of their directory attribute, and the directory's groups to pick syncing groups from
//! (those covering today's active accounts picked, the rest as comments). Planning the exported
//! config right away shows no role changes. Pure: what was read in, YAML text out.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use crate::config::{DirectoryConfig, IntranetConfig};
use crate::directory::groups::Groups;
use crate::intranet::fields::VOCABULARY;
use crate::model::{DirectoryState, IntranetState};

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

    // Syncing groups: cover the users of today's active managed accounts, biggest groups first.
    let groups = Groups::new(dir);
    let id_attr = &directory.id_attribute();
    let dn_of_id: HashMap<&str, String> = dir
        .users
        .iter()
        .filter_map(|u| Some((u.first_text(id_attr)?, dir.identity.key(u.dn()))))
        .collect();
    let active: BTreeSet<String> = net
        .accounts
        .iter()
        .filter(|a| a.active && a.is_managed())
        .filter_map(|a| dn_of_id.get(a.external_id.as_deref()?).cloned())
        .collect();
    let mut members: Vec<(String, BTreeSet<String>)> = dir
        .groups
        .iter()
        .map(|g| {
            (
                g.dn().to_owned(),
                groups
                    .transitive_members(std::iter::once(g.dn()))
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect(),
            )
        })
        .collect();
    members.sort_by(|a, b| {
        b.1.intersection(&active)
            .count()
            .cmp(&a.1.intersection(&active).count())
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut picked = Vec::new();
    let mut rest = Vec::new();
    for (dn, m) in &members {
        let n = m.intersection(&active).count();
        let new = m
            .intersection(&active)
            .filter(|d| !covered.contains(*d))
            .count();
        let note = format!(
            "{} member{}, {n} with an active intranet account",
            m.len(),
            crate::render::plural(m.len())
        );
        if new > 0 {
            covered.extend(m.intersection(&active).cloned());
            picked.push((dn, note));
        } else {
            rest.push((dn, note));
        }
    }
    out.push_str("# Members of these groups (nested at any depth) get intranet accounts. Picked: the groups\n# that cover today's active accounts; the directory's other groups are listed as comments.\nsyncing_groups:\n");
    if picked.is_empty() {
        out.push_str("  [] # no group holds a user with an active account: pick one below\n");
    }
    for (dn, note) in &picked {
        let _ = writeln!(out, "  - {}  # {note}", q(dn));
    }
    for (dn, note) in &rest {
        let _ = writeln!(out, "  # - {}  # {note}", q(dn));
    }
    if active.len() > covered.len() {
        let _ = writeln!(
            out,
            "  # {} active accounts belong to users in none of these groups",
            active.len() - covered.len()
        );
    }
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
    for g in &net.groups {
        let mut key = slug(&g.display_name);
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
                    if !a.is_managed() {
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
    out.push_str("policy:\n  reactivate: true\n  adopt: true\n  # Local accounts that hold intranet groups (break-glass admins): never blocked, renamed or stripped.\n");
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
    let floor = crate::config::DEFAULT_GUARD_FLOOR;
    let pct = crate::config::DEFAULT_GUARD_PERCENT;
    let _ = write!(
        out,
        "  # Limits: a plan that goes over one is refused (exit 4). These are the defaults for today's\n  \
         # systems, the larger of {floor} and {pct}% of {managed} active managed accounts (blocks, cleared field\n  \
         # values, renames) and of {holders} admin role holders (revokes). Each takes a count, a share (\"10%\")\n  \
         # or `false`; without the line, the default follows the numbers as they grow.\n  \
         max_blocks: {}\n  max_clears: {}\n  max_revokes: {}\n  max_renames: {}\n  \
         # The read guard: refuse to plan when more active managed accounts than this lost their user.\n  \
         max_vanished: {}\n",
        crate::config::default_guard(managed),
        crate::config::default_guard(managed),
        crate::config::default_guard(holders),
        crate::config::default_guard(managed),
        crate::config::Policy::default().max_vanished,
    );
    out
}
