//! Does the config resolve to anybody? A configured group (syncing group, role group) that the
//! directory read does not have, that is empty, or that reaches no user, and a mapped attribute
//! that no syncing user has, are mistakes that would otherwise plan a mass change (every account
//! blocked, a field wiped everywhere). Pure: the config and the directory as read in, every
//! problem out at once, each pointing at its place in the config.

use std::collections::BTreeSet;
use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceCode};
use rustc_hash::FxHashMap as HashMap;

use crate::config::load::{group_path, locate};
use crate::config::node::Seg;
use crate::config::{Config, GroupRef, Loaded, Mapping};
use crate::diag::SourceError;
use crate::directory::groups::Groups;
use crate::model::{AttrId, DirectoryState, Entry};
use crate::reconcile::desired::Desired;
use crate::reconcile::mapping::Template;
use crate::text::shown;

/// The code of a configured group whose members were not read (listed by name only).
const NOT_READ: &str = "roster::resolve::group_not_read";

/// One thing in the config that resolves to nobody, and where it is in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    /// The label at its place in the config.
    pub label: String,
    pub help: String,
    pub path: Vec<Seg>,
}

/// What the check found: the problems (errors), and what a reviewer should see about groups and
/// fields allowed to be empty (warnings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

/// Check every configured group and mapped attribute against the directory as read.
/// `desired` is [`crate::reconcile::desired::compute`] of the same config and directory.
/// `entry` is the attribute names on one syncing user's whole entry, when known (a live read
/// holds only the attributes the config names), for a better "did you mean".
pub fn check(
    config: &Config,
    dir: &DirectoryState,
    desired: &Desired,
    entry: Option<(&str, &[String])>,
) -> Findings {
    let mut out = Findings::default();
    let groups = Groups::new(dir);
    check_keys(config, dir, &groups, entry, &mut out);
    check_groups(config, dir, &groups, &mut out);
    check_attributes(config, desired, entry, &mut out);
    if let Some(unheld) = disabled_unheld(config, dir, entry) {
        out.warnings.push(unheld.warning());
    }
    out
}

/// `disabled: { attribute }` naming an attribute that no user read has: nobody is treated as
/// disabled. Often true (nobody is locked), so a warning; but an error when the plan would
/// reactivate accounts on the strength of it ([`reactivations_without_disabled`]).
struct Unheld<'c> {
    attribute: &'c crate::config::DisabledAttribute,
    /// "did you mean" the closest names seen on the users, in the directory's spelling.
    close: Vec<String>,
}

impl Unheld<'_> {
    fn nobody(&self) -> String {
        format!(
            "no user in the directory has `{}`, so nobody is treated as disabled",
            crate::text::shown(&self.attribute.name)
        )
    }

    fn did_you_mean(&self) -> Option<String> {
        let names: Vec<String> = self
            .close
            .iter()
            .map(|n| format!("`{}`", shown(n)))
            .collect();
        (!names.is_empty()).then(|| format!("did you mean {}?", names.join(" or ")))
    }

    fn warning(&self) -> String {
        let mut text = format!("`directory.disabled`: {}", self.nobody());
        if let Some(hint) = self.did_you_mean() {
            text.push_str(&format!("; {hint}"));
        }
        text
    }
}

fn disabled_unheld<'c>(
    config: &'c Config,
    dir: &DirectoryState,
    entry: Option<(&str, &[String])>,
) -> Option<Unheld<'c>> {
    let Some(crate::config::DisabledRule::Attribute(attribute)) = config.directory.disabled_rule()
    else {
        return None;
    };
    // An empty read is the read guard's.
    let id = AttrId::of(&attribute.name);
    if dir.users.is_empty() || dir.users.iter().any(|u| u.has(&id)) {
        return None;
    }
    let users: Vec<&Entry> = dir.users.iter().collect();
    let seen = seen_names(&users, entry);
    let close = closest_names(&attribute.name, &seen)
        .into_iter()
        .map(str::to_owned)
        .collect();
    Some(Unheld { attribute, close })
}

/// A `disabled` attribute no user has (and not `allow_empty`) while the plan reactivates accounts,
/// or while users hold a name close to it (a typo): every disabled user would look enabled, be
/// created, kept active or unblocked. One problem at `directory.disabled.attribute`.
pub fn reactivations_without_disabled(
    cfg: &Loaded,
    dir: &DirectoryState,
    reactivations: usize,
) -> Result<(), Unresolved> {
    let allowed = matches!(cfg.config.directory.disabled_rule(), Some(crate::config::DisabledRule::Attribute(a)) if a.allow_empty);
    if allowed {
        return Ok(());
    }
    let Some(unheld) = disabled_unheld(&cfg.config, dir, None) else {
        return Ok(());
    };
    // Nobody holding it is often true (nobody is locked). But users holding a name close to it
    // is a typo: every locked user would look enabled, be created and never be blocked.
    let why = if reactivations > 0 {
        format!(
            "yet the plan would reactivate {reactivations} blocked account{}",
            if reactivations == 1 { "" } else { "s" }
        )
    } else if !unheld.close.is_empty() {
        "yet users hold a name close to it: locked users would be created and kept active".into()
    } else {
        return Ok(());
    };
    let attr = crate::text::shown(&unheld.attribute.name);
    let problem = Problem {
        code: "roster::resolve::disabled_attribute_missing",
        message: format!("{}, {why}", unheld.nobody()),
        label: format!("no user has `{attr}`"),
        help: format!(
            "{}A mistyped `disabled` attribute makes every disabled user look enabled, and would unblock their accounts. If no user is meant to be disabled for now, write `disabled: {{ attribute: {attr}, allow_empty: true }}`",
            unheld.did_you_mean().map(|h| format!("{h} ")).unwrap_or_default()
        ),
        path: ["directory", "disabled", "attribute"]
            .iter()
            .map(|k| Seg::Key((*k).to_owned()))
            .collect(),
    };
    Err(Unresolved::new(cfg, vec![problem]))
}

/// The username and immutable ID attributes: when no member of the syncing groups has one, the
/// key is mistyped (or the read does not ask for it), and it is one problem at its config key
/// rather than one conflict per user.
fn check_keys(
    config: &Config,
    dir: &DirectoryState,
    groups: &Groups,
    entry: Option<(&str, &[String])>,
    out: &mut Findings,
) {
    let syncing = groups.transitive_members(&config.syncing_groups);
    let members: Vec<&Entry> = dir
        .users
        .iter()
        .filter(|u| syncing.contains(dir.identity.normalize(u.dn()).as_ref()))
        .collect();
    // No member read at all: the group checks and the read guard say why.
    if members.is_empty() {
        return;
    }
    let d = &config.directory;
    let mut seen: Option<Vec<String>> = None;
    for (key, attr, what) in [
        (
            "username_attribute",
            &d.username_attribute(),
            "every account is matched and named by it",
        ),
        (
            "id_attribute",
            &d.id_attribute(),
            "every account is linked to its user by it",
        ),
    ] {
        if members.iter().any(|u| u.key_text(attr).is_some()) {
            continue;
        }
        let seen = seen.get_or_insert_with(|| seen_names(&members, entry));
        out.problems.push(Problem {
            code: "roster::resolve::key_attribute_missing",
            message: format!(
                "no syncing user has `{}` ({key}): {what}, so none of them could be synced",
                shown(attr)
            ),
            label: format!(
                "none of the {} member{} of the syncing groups has `{}`",
                members.len(),
                crate::render::plural(members.len()),
                shown(attr)
            ),
            help: did_you_mean(config, attr, seen, entry, false),
            path: vec![Seg::Key("directory".into()), Seg::Key(key.into())],
        });
    }
}

/// How many of a group's users are looked for first: one is enough, and nearly every member
/// of a group is a user.
const SAMPLE: usize = 64;

fn check_groups(config: &Config, dir: &DirectoryState, groups: &Groups, out: &mut Findings) {
    // Every configured group: where it is in the config, what it is for, and the group.
    let mut configured: Vec<(Vec<Seg>, String, &GroupRef)> = Vec::new();
    let syncing = [Seg::Key("syncing_groups".into())];
    for (i, g) in config.syncing_groups.iter().enumerate() {
        configured.push((group_path(&syncing, i, g), "syncing group".into(), g));
    }
    for (name, role) in &config.admin_roles {
        let list: Vec<Seg> = ["admin_roles", name, "members", "groups"]
            .iter()
            .map(|k| Seg::Key((*k).to_owned()))
            .collect();
        for (i, g) in role.members.groups.iter().enumerate() {
            configured.push((
                group_path(&list, i, g),
                format!("role `{}`'s group", shown(name)),
                g,
            ));
        }
    }
    // A read with no users at all is the read guard's to refuse (`policy`, exit 4): every group
    // would be reported as holding no users, which says less.
    let username = &config.directory.username_attribute();
    let read_users = dir.users.iter().any(|u| u.key_text(username).is_some());

    // Which groups reach a user: a sample of each group's members first, looked up in one pass
    // over the users; all members only for a group whose sample holds none.
    let mut reach: Vec<Option<bool>> = vec![None; configured.len()];
    for limit in [SAMPLE, usize::MAX] {
        let mut leaves: Vec<Vec<&str>> = vec![Vec::new(); configured.len()];
        let mut complete = vec![true; configured.len()];
        let mut any = false;
        for (k, (_, _, g)) in configured.iter().enumerate() {
            if reach[k].is_none() && read_users && groups.members_of(g.name()).is_some() {
                (leaves[k], complete[k]) = groups.leaves(g.name(), limit);
                any = true;
            }
        }
        if !any {
            break;
        }
        let found = users_among(dir, &leaves);
        for (k, (hit, complete)) in found.into_iter().zip(complete).enumerate() {
            if hit || (complete && !leaves[k].is_empty()) {
                reach[k] = Some(hit);
            }
        }
    }

    for ((path, what, group), reaches) in configured.into_iter().zip(reach) {
        let dn = group.name();
        if let Some(keys) = groups.ambiguous(dn) {
            let ids: Vec<String> = keys.iter().map(|k| format!("`{}`", shown(k))).collect();
            out.problems.push(Problem {
                code: "roster::resolve::group_ambiguous",
                message: format!(
                    "{what} `{}` names {} groups of that name",
                    shown(dn),
                    keys.len()
                ),
                label: "more than one group has this name".into(),
                help: format!(
                    "name the group by its object ID instead: {}",
                    ids.join(" or ")
                ),
                path,
            });
            continue;
        }
        let Some(members) = groups.members_of(dn) else {
            let wanted = dir.identity.normalize(dn);
            if dir
                .users
                .iter()
                .any(|u| dir.identity.normalize(u.dn()) == wanted)
            {
                out.problems.push(Problem {
                    code: "roster::resolve::group_is_a_user",
                    message: format!("{what} `{}` is a user, not a group", shown(dn)),
                    label: format!("a user's {}", dir.identity.noun()),
                    help: format!(
                        "list the {} of a group instead (one this user belongs to); an admin \
                         role names single people by username in its `members.users`",
                        dir.identity.noun()
                    ),
                    path,
                });
                continue;
            }
            // A source that knows a group only through its members (a CSV file) cannot tell an
            // empty group from an absent one: `allow_empty` stands for both there.
            if group.allow_empty() && !dir.identity.holds_empty_groups() {
                // A typo here would pass as "empty": the warning says what it might have meant.
                let hint = match closest_group(dir, dn) {
                    Some((score, best)) if score >= TYPO => {
                        format!("; did you mean `{}`?", shown(best))
                    }
                    _ => String::new(),
                };
                out.warnings.push(format!(
                    "{what} {} has no members in the directory (allowed by `allow_empty`){hint}",
                    shown(dn)
                ));
                continue;
            }
            out.problems.push(Problem {
                code: "roster::resolve::group_missing",
                message: format!("{what} `{}` is not in the directory", shown(dn)),
                label: "no such group in the directory".into(),
                help: missing_group_help(config, dir, dn),
                path,
            });
            continue;
        };
        if dir.unread_groups.contains(groups.key_of(dn).as_ref()) {
            // Listed, but its members were never read: not an empty group, so `allow_empty`
            // is no answer (it would block or revoke real members).
            out.problems.push(Problem {
                code: NOT_READ,
                message: format!(
                    "{what} `{}`: the members of this group were not read into this snapshot",
                    shown(dn)
                ),
                label: "members not read".into(),
                help: "a snapshot holds the members of the groups its config named when it was taken; take the snapshot again with this group in the config (`roster snapshot directory` reads the members of the groups the config names)".into(),
                path,
            });
            continue;
        }
        if !read_users || reaches == Some(true) {
            continue;
        }
        let (code, why) = if members.is_empty() {
            ("roster::resolve::group_empty", "has no members".to_owned())
        } else {
            (
                "roster::resolve::group_without_users",
                format!(
                    "has {} member{}, but none of them (nested at any depth) is a user the directory read holds",
                    members.len(),
                    if members.len() == 1 { "" } else { "s" }
                ),
            )
        };
        if group.allow_empty() {
            out.warnings.push(format!(
                "{what} {} {why} (allowed by `allow_empty`)",
                shown(dn)
            ));
            continue;
        }
        let primary = if members.is_empty()
            && dir.groups.iter().any(|g| {
                groups.key_of(g.dn()) == groups.key_of(dn)
                    && crate::directory::groups::lacks_primary_group_rid(dir, g)
            }) {
            "; on Active Directory a primary group (Domain Users) lists its members only by their `primaryGroupID`, so the group's entry must carry its `primaryGroupToken` (ask for it by name) or `objectSid`"
        } else {
            ""
        };
        let consequence = if what == "syncing group" {
            "its members' accounts would all be blocked"
        } else {
            "every holder of the role it grants would be revoked"
        };
        out.problems.push(Problem {
            code,
            message: format!("{what} `{}` {why}: {consequence}", shown(dn)),
            label: "resolves to no users".into(),
            help: format!(
                "check the group in the directory{}{primary}; if it is meant to be empty for now, write it as `{{ group: {}, allow_empty: true }}`",
                if config.directory.source.ldap().is_some() {
                    " and the users search (`directory.ldap.users`: its base, filter and scope decide who is read)"
                } else {
                    ""
                },
                crate::text::quoted(dn)
            ),
            path,
        });
    }
}

/// For each list of DNs (normal form), does any of them name a user of the read? One pass over
/// the users.
fn users_among(dir: &DirectoryState, lists: &[Vec<&str>]) -> Vec<bool> {
    let mut lists_of: HashMap<&str, Vec<usize>> = HashMap::default();
    for (k, list) in lists.iter().enumerate() {
        for dn in list {
            lists_of.entry(dn).or_default().push(k);
        }
    }
    let mut found = vec![false; lists.len()];
    if lists_of.is_empty() {
        return found;
    }
    for u in &dir.users {
        if let Some(ks) = lists_of.get(dir.identity.normalize(u.dn()).as_ref()) {
            for &k in ks {
                found[k] = true;
            }
        }
    }
    found
}

/// "Did you mean" the directory's closest group DN, compared in normal form.
/// For a live directory, that the group may lie outside the group search.
fn missing_group_help_suffix(config: &Config) -> &'static str {
    if config.directory.source.ldap().is_some() {
        " (or widen `directory.ldap.groups` if the group lies outside its search)"
    } else {
        ""
    }
}

/// The group of the directory whose name (or display name) is closest to `dn`, with its
/// similarity (0 to 1).
fn closest_group<'d>(dir: &'d DirectoryState, dn: &str) -> Option<(f64, &'d str)> {
    let wanted = dir.identity.normalize(dn);
    let alias = dir.identity.alias_attribute();
    // Each group by its key, and by its alias (a display name) where the identity has one.
    dir.groups
        .iter()
        .flat_map(|g| {
            let names = alias.map(|a| g.values(a).texts().collect::<Vec<_>>());
            std::iter::once(g.dn()).chain(names.into_iter().flatten())
        })
        .map(|name| {
            let score = strsim::normalized_levenshtein(&wanted, &dir.identity.normalize(name));
            (score, name)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// How close a name must be to read as a typo of it.
const TYPO: f64 = 0.75;

fn missing_group_help(config: &Config, dir: &DirectoryState, dn: &str) -> String {
    let live = missing_group_help_suffix(config);
    match closest_group(dir, dn) {
        Some((score, best)) if score >= TYPO => {
            format!("did you mean `{}`?{live}", shown(best))
        }
        Some((_, best)) => {
            format!(
                "check the {}{live}; the closest group the directory has is `{}`",
                dir.identity.noun(),
                shown(best)
            )
        }
        None => format!("the directory read holds no groups at all{live}"),
    }
}

fn check_attributes(
    config: &Config,
    desired: &Desired,
    entry: Option<(&str, &[String])>,
    out: &mut Findings,
) {
    let syncing: Vec<&Entry> = desired
        .users
        .iter()
        .filter(|u| u.syncing)
        .map(|u| u.entry)
        .collect();
    // With no syncing user, every attribute is missing: the group problems say why.
    if syncing.is_empty() {
        return;
    }
    let mut seen: Option<Vec<String>> = None;
    for (field, mapping) in &config.field_mappings {
        if mapping.allow_empty() {
            continue;
        }
        let Ok(template) = Template::parse(mapping) else {
            continue;
        };
        let mut path = vec![Seg::Key("field_mappings".into()), Seg::Key(field.clone())];
        if let Mapping::Detailed(_) = mapping {
            path.push(Seg::Key("from".into()));
        }
        let mut asked: BTreeSet<String> = BTreeSet::new();
        for attr in template.attributes() {
            if !asked.insert(attr.to_ascii_lowercase()) {
                continue;
            }
            let id = AttrId::of(attr);
            if syncing.iter().any(|e| e.has(&id)) {
                continue;
            }
            let seen = seen.get_or_insert_with(|| seen_names(&syncing, entry));
            let hint = did_you_mean(config, attr, seen, entry, true);
            out.problems.push(Problem {
                code: "roster::resolve::attribute_missing",
                message: format!(
                    "no syncing user has the attribute `{attr}` that `{field}` is mapped from: `{field}` would be emptied on every account",
                    attr = shown(attr),
                    field = shown(field)
                ),
                label: format!(
                    "none of the {} syncing users has `{}`",
                    syncing.len(),
                    shown(attr)
                ),
                help: match mapping {
                    Mapping::Simple(source) => format!(
                        "{hint}. If `{field}` is meant to stay empty for now, write `{field}: {{ from: {source}, allow_empty: true }}`",
                        field = shown(field),
                        source = crate::text::quoted(source)
                    ),
                    Mapping::Detailed(_) => format!(
                        "{hint}. If `{field}` is meant to stay empty for now, add `allow_empty: true` to its mapping",
                        field = shown(field)
                    ),
                },
                path: path.clone(),
            });
        }
    }
}

/// "Did you mean" the closest of the names `seen` on the syncing users (and on `entry`), or the
/// names seen when none is close. `whole_entry`: `roster validate` would look at a whole entry
/// of a live directory for more names.
fn did_you_mean(
    config: &Config,
    attr: &str,
    seen: &[String],
    entry: Option<(&str, &[String])>,
    whole_entry: bool,
) -> String {
    let close = closest_names(attr, seen);
    let (seen_on, live) = match entry {
        Some((user, _)) => (format!(" and on `{}`'s whole entry", shown(user)), ""),
        None if whole_entry && config.directory.source.ldap().is_some() => (String::new(), "; a live read asks the directory only for the attributes the config names, so these are all Roster saw: `roster validate` looks at a whole entry"),
        None => (String::new(), ""),
    };
    if close.is_empty() {
        format!(
            "the syncing users{seen_on} have: {}{live}",
            seen.iter()
                .take(30)
                .map(|n| format!("`{}`", shown(n)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "did you mean {}? (names seen on the syncing users{seen_on}; LDAP names compare without case{live})",
            close
                .iter()
                .map(|n| format!("`{}`", shown(n)))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// The attribute names on the syncing users (and on `entry`, a whole entry's names as the
/// server gave them), each once, spelled as the directory writes them (`givenName`).
fn seen_names(syncing: &[&Entry], entry: Option<(&str, &[String])>) -> Vec<String> {
    let mut names: std::collections::BTreeMap<String, String> = Default::default();
    if let Some((_, more)) = entry {
        for n in more {
            names.insert(n.to_ascii_lowercase(), n.clone());
        }
    }
    // Names are interned: one cheap set of them first, however many users there are.
    let mut interned: rustc_hash::FxHashSet<&'static str> = Default::default();
    for e in syncing {
        interned.extend(e.attrs().map(|(name, _)| name));
    }
    for name in interned {
        if !names.contains_key(name) {
            names.insert(
                name.to_owned(),
                crate::model::attr_spelling(name).to_owned(),
            );
        }
    }
    names.retain(|k, _| !k.is_empty());
    names.into_values().collect()
}

/// Up to three names close to `word` (a typo's likely intent), best first; names compare
/// without case, and are given as spelled in `names`.
fn closest_names<'n>(word: &str, names: &'n [String]) -> Vec<&'n str> {
    let word = word.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .iter()
        .map(|n| {
            let score = strsim::jaro_winkler(&word, &n.to_ascii_lowercase());
            (score, n.as_str())
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// The config names groups or attributes that resolve to nobody: nothing was planned.
#[derive(Debug)]
pub struct Unresolved {
    pub problems: Vec<Problem>,
    related: Vec<Box<dyn Diagnostic + Send + Sync>>,
}

impl Unresolved {
    /// The problems as diagnostics, pointing into the config's text when it is known.
    pub fn new(cfg: &Loaded, problems: Vec<Problem>) -> Unresolved {
        // In the config's order when its text is known.
        let mut located: Vec<(usize, Box<dyn Diagnostic + Send + Sync>)> = problems
            .iter()
            .enumerate()
            .map(|(i, p)| -> (usize, Box<dyn Diagnostic + Send + Sync>) {
                let span = cfg
                    .source
                    .as_ref()
                    .and_then(|src| Some((src, locate(src, &p.path)?)));
                match span {
                    Some((src, span)) => (
                        span.offset,
                        Box::new(
                            SourceError::new(
                                p.code,
                                src,
                                (span.offset, span.len),
                                p.message.clone(),
                            )
                            .label(p.label.clone())
                            .help(p.help.clone()),
                        ),
                    ),
                    None => (i, Box::new(Plain(p.clone()))),
                }
            })
            .collect();
        located.sort_by_key(|(at, _)| *at);
        let related = located.into_iter().map(|(_, d)| d).collect();
        Unresolved { problems, related }
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} name{} in the config (a group, a mapped or key attribute) resolve{} to nobody in the directory",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
        )
    }
}

impl std::error::Error for Unresolved {}

impl Diagnostic for Unresolved {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("roster::unresolved"))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        // A group whose members were not read is not empty: `allow_empty` is no answer to it.
        if self.problems.iter().all(|p| p.code == NOT_READ) {
            return Some(Box::new(
                "nothing is planned while these stand: a group whose members were not read would look empty, and everyone in it would be blocked. Take the snapshot again with these groups in the config",
            ));
        }
        Some(Box::new(
            "nothing is planned while these stand: a mistyped or emptied group would block everyone in it, a mistyped attribute would empty a field everywhere. Fix these, or mark a group or field that is meant to be empty with `allow_empty: true`",
        ))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.related.iter().map(|d| d.as_ref() as &dyn Diagnostic),
        ))
    }
}

/// A problem shown without a snippet (a config that comes from no file).
#[derive(Debug)]
struct Plain(Problem);

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Plain {}

impl Diagnostic for Plain {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.0.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.0.help))
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        None
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        None
    }
}

/// The check as a diagnostic: the warnings to show in the plan, or every problem at once.
pub fn verify(
    cfg: &Loaded,
    dir: &DirectoryState,
    desired: &Desired,
    entry: Option<(&str, &[String])>,
) -> Result<Vec<String>, Unresolved> {
    let findings = check(&cfg.config, dir, desired, entry);
    if findings.problems.is_empty() {
        Ok(findings.warnings)
    } else {
        Err(Unresolved::new(cfg, findings.problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttrValue;

    fn config(groups: &str) -> Config {
        let text = format!(
            "version: 1\ndirectory: {{ ldif: d.ldif }}\nintranet: {{ snapshot: i.json }}\nsyncing_groups:\n{groups}field_mappings:\n  email: mail\n"
        );
        let src = crate::diag::Source::new(std::path::Path::new("roster.yaml"), text);
        crate::config::load::parse(&src).expect("a valid config")
    }

    fn user(uid: &str) -> Entry {
        let mut e = Entry::new(format!("uid={uid},dc=x"));
        e.add("uid", AttrValue::Text(uid.into()));
        e.add("entryUUID", AttrValue::Text(format!("id-{uid}")));
        e.add("mail", AttrValue::Text(format!("{uid}@x")));
        e
    }

    fn group(dn: &str, members: &[String]) -> Entry {
        let mut e = Entry::new(dn);
        for m in members {
            e.add("member", AttrValue::Text(m.clone()));
        }
        e
    }

    fn findings(config: &Config, dir: &DirectoryState) -> Findings {
        let desired = crate::reconcile::desired::compute(config, dir);
        check(config, dir, &desired, None)
    }

    #[test]
    fn a_user_behind_many_non_users_is_still_found() {
        // Popped last: the first sample of the group's members holds only DNs that are no user.
        let mut members = vec!["uid=ada,dc=x".to_owned()];
        members.extend((0..200).map(|i| format!("cn=printer{i},dc=x")));
        let dir = DirectoryState {
            users: vec![user("ada")],
            groups: vec![group("cn=staff,dc=x", &members)],
            ..Default::default()
        };
        let f = findings(&config("  - cn=staff,dc=x\n"), &dir);
        assert_eq!(f, Findings::default());
        // Without ada, the same group reaches nobody.
        let dir = DirectoryState {
            users: vec![user("bob")],
            groups: vec![group("cn=staff,dc=x", &members[1..])],
            ..Default::default()
        };
        let f = findings(&config("  - cn=staff,dc=x\n  - cn=other,dc=x\n"), &dir);
        let codes: Vec<&str> = f.problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "roster::resolve::group_without_users",
                "roster::resolve::group_missing"
            ]
        );
        assert!(f.problems[0].message.contains("has 200 members"));
    }

    #[test]
    fn a_group_whose_members_were_not_read_is_refused_even_when_allowed_empty() {
        let dir = DirectoryState {
            users: vec![user("ada")],
            groups: vec![
                group("cn=staff,dc=x", &["uid=ada,dc=x".to_owned()]),
                group("cn=eng,dc=x", &[]),
            ],
            unread_groups: ["cn=eng,dc=x".to_owned()].into(),
            ..Default::default()
        };
        let f = findings(
            &config(
                "  - cn=staff,dc=x\nadmin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups: [{ dn: \"CN=Eng, dc=x\", allow_empty: true }]\n",
            ),
            &dir,
        );
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        let [p] = f.problems.as_slice() else {
            panic!("{:?}", f.problems)
        };
        assert_eq!(p.code, NOT_READ);
        assert_eq!(
            p.message,
            "role `sysadmin`'s group `CN=Eng, dc=x`: the members of this group were not read into this snapshot"
        );
        assert!(!p.help.contains("allow_empty"), "{}", p.help);
        let unresolved = Unresolved {
            problems: f.problems,
            related: Vec::new(),
        };
        let help = unresolved.help().unwrap().to_string();
        assert!(!help.contains("allow_empty"), "{help}");
    }

    #[test]
    fn allowed_groups_warn_and_an_empty_read_is_left_to_the_read_guard() {
        let dir = DirectoryState {
            users: vec![user("ada")],
            groups: vec![
                group("cn=staff,dc=x", &["uid=ada,dc=x".to_owned()]),
                group("cn=empty,dc=x", &[]),
            ],
            ..Default::default()
        };
        let f = findings(
            &config("  - cn=staff,dc=x\n  - { dn: \"CN=Empty, dc=x\", allow_empty: true }\n"),
            &dir,
        );
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(
            f.warnings,
            ["syncing group CN=Empty, dc=x has no members (allowed by `allow_empty`)"]
        );
        // No users at all: the groups are not blamed (the read guard refuses such a read), but
        // a group the directory does not have is still a typo.
        let dir = DirectoryState {
            users: vec![],
            ..dir
        };
        let f = findings(&config("  - cn=staff,dc=x\n  - cn=staf,dc=x\n"), &dir);
        let codes: Vec<&str> = f.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["roster::resolve::group_missing"]);
        assert_eq!(f.problems[0].help, "did you mean `cn=staff,dc=x`?");
    }

    #[test]
    fn a_users_dn_listed_as_a_group_is_named_a_user() {
        let dir = DirectoryState {
            users: vec![user("ada")],
            groups: vec![group("cn=staff,dc=x", &["uid=ada,dc=x".to_owned()])],
            ..Default::default()
        };
        // Compared as DNs: case and spaces do not hide the user.
        let f = findings(&config("  - cn=staff,dc=x\n  - \"UID=ada, dc=x\"\n"), &dir);
        let codes: Vec<&str> = f.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["roster::resolve::group_is_a_user"]);
        assert_eq!(
            f.problems[0].message,
            "syncing group `UID=ada, dc=x` is a user, not a group"
        );
        assert!(!f.problems[0].help.contains("did you mean"));
    }
}
