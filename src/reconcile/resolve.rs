//! Does the config resolve to anybody? A configured group (syncing group, role group) that the
//! directory read does not have, that is empty, or that reaches no user, and a mapped attribute
//! that no syncing user has, are mistakes that would otherwise plan a mass change (every account
//! blocked, a field wiped everywhere). Pure: the config and the directory as read in, every
//! problem out at once, each pointing at its place in the config.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceCode};
use rustc_hash::FxHashSet as HashSet;

use crate::config::load::{group_path, locate};
use crate::config::node::Seg;
use crate::config::{Config, GroupRef, Loaded, Mapping};
use crate::diag::SourceError;
use crate::directory::groups::{normalized, Groups};
use crate::model::{AttrId, DirectoryState, Entry};
use crate::reconcile::desired::Desired;
use crate::reconcile::mapping::Template;

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
pub fn check(config: &Config, dir: &DirectoryState, desired: &Desired) -> Findings {
    let mut out = Findings::default();
    check_groups(config, dir, &mut out);
    check_attributes(config, desired, &mut out);
    out
}

fn check_groups(config: &Config, dir: &DirectoryState, out: &mut Findings) {
    let groups = Groups::new(dir);
    let mut lists: Vec<(Vec<Seg>, String, &[GroupRef])> = vec![(
        vec![Seg::Key("syncing_groups".into())],
        "syncing group".to_owned(),
        &config.syncing_groups,
    )];
    for (name, role) in &config.admin_roles {
        lists.push((
            ["admin_roles", name, "members", "groups"]
                .iter()
                .map(|k| Seg::Key((*k).to_owned()))
                .collect(),
            format!("role `{name}`'s group"),
            &role.members.groups,
        ));
    }
    // A read with no users at all is the read guard's to refuse (`policy`, exit 4): every group
    // would be reported as holding no users, which says less.
    let username = &config.directory.username_attribute;
    let read_users = dir.users.iter().any(|u| u.key_text(username).is_some());
    // The users of the read, by DN: only built when a group has members to look them up in.
    let mut users: Option<HashSet<Cow<str>>> = None;
    for (list_path, what, list) in lists {
        for (i, group) in list.iter().enumerate() {
            let dn = group.dn();
            let path = group_path(&list_path, i, group);
            let members = groups.members_of(dn);
            if members.is_some() && !read_users {
                continue;
            }
            let Some(members) = members else {
                out.problems.push(Problem {
                    code: "roster::resolve::group_missing",
                    message: format!("{what} `{dn}` is not in the directory"),
                    label: "no such group in the directory".into(),
                    help: missing_group_help(config, dir, dn),
                    path,
                });
                continue;
            };
            let (code, why) = if members.is_empty() {
                ("roster::resolve::group_empty", "has no members".to_owned())
            } else {
                let users = users
                    .get_or_insert_with(|| dir.users.iter().map(|u| normalized(u.dn())).collect());
                if groups.reaches(dn, |m| users.contains(m)) {
                    continue;
                }
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
                out.warnings
                    .push(format!("{what} {dn} {why} (allowed by `allow_empty`)"));
                continue;
            }
            let consequence = if what == "syncing group" {
                "its members' accounts would all be blocked"
            } else {
                "every holder of the role it grants would be revoked"
            };
            out.problems.push(Problem {
                code,
                message: format!("{what} `{dn}` {why}: {consequence}"),
                label: "resolves to no users".into(),
                help: format!(
                    "check the group in the directory{}; if it is meant to be empty for now, write it as `{{ dn: \"{dn}\", allow_empty: true }}`",
                    if config.directory.ldap.is_some() {
                        " and the users search (`directory.ldap.users`: its base, filter and scope decide who is read)"
                    } else {
                        ""
                    }
                ),
                path,
            });
        }
    }
}

/// "Did you mean" the directory's closest group DN, compared in normal form.
fn missing_group_help(config: &Config, dir: &DirectoryState, dn: &str) -> String {
    let wanted = normalized(dn);
    let closest = dir
        .groups
        .iter()
        .map(|g| {
            let score = strsim::normalized_levenshtein(&wanted, &normalized(g.dn()));
            (score, g.dn())
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let live = if config.directory.ldap.is_some() {
        " (or widen `directory.ldap.groups` if the group lies outside its search)"
    } else {
        ""
    };
    match closest {
        Some((score, best)) if score >= 0.75 => {
            format!("did you mean `{best}`?{live}")
        }
        Some((_, best)) => {
            format!("check the DN{live}; the closest group the directory has is `{best}`")
        }
        None => format!("the directory read holds no groups at all{live}"),
    }
}

fn check_attributes(config: &Config, desired: &Desired, out: &mut Findings) {
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
    let mut seen: Option<Vec<&'static str>> = None;
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
            let seen = seen.get_or_insert_with(|| {
                let mut names: Vec<&'static str> = syncing
                    .iter()
                    .flat_map(|e| e.attrs().map(|(name, _)| name))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                names.retain(|n| !n.is_empty());
                names
            });
            let close = closest_names(attr, seen);
            let live = if config.directory.ldap.is_some() {
                "; a live read asks the directory only for the attributes the config names, so these are all Roster saw"
            } else {
                ""
            };
            let hint = if close.is_empty() {
                format!(
                    "the syncing users have: {}{live}",
                    seen.iter()
                        .take(30)
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "did you mean {}? (names seen on the syncing users; LDAP names compare without case{live})",
                    close
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            };
            out.problems.push(Problem {
                code: "roster::resolve::attribute_missing",
                message: format!(
                    "no syncing user has the attribute `{attr}` that `{field}` is mapped from: `{field}` would be emptied on every account"
                ),
                label: format!("none of {} syncing users has `{attr}`", syncing.len()),
                help: format!(
                    "{hint}. If `{field}` is meant to stay empty for now, write `{field}: {{ from: \"{}\", allow_empty: true }}`",
                    mapping.source()
                ),
                path: path.clone(),
            });
        }
    }
}

/// Up to three names close to `word` (a typo's likely intent), best first.
fn closest_names(word: &str, names: &[&'static str]) -> Vec<&'static str> {
    let word = word.to_ascii_lowercase();
    let mut scored: Vec<(f64, &'static str)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(&word, n), *n))
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
            "cannot plan: {n} group{} or mapped attribute{} in the config resolve{} to nobody in the directory",
            if n == 1 { "" } else { "s" },
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
        Some(Box::new(
            "nothing was planned: a mistyped or emptied group would block everyone in it, a mistyped attribute would empty a field everywhere. Fix these, or mark a group or field that is meant to be empty with `allow_empty: true`",
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
) -> Result<Vec<String>, Unresolved> {
    let findings = check(&cfg.config, dir, desired);
    if findings.problems.is_empty() {
        Ok(findings.warnings)
    } else {
        Err(Unresolved::new(cfg, findings.problems))
    }
}
