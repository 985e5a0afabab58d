//! `roster explain USER`: every rule that decides one person's account, read from the same
//! inputs as `plan`. Pure: the config, both sides as observed, the state file and the plan
//! already made in, an [`Explanation`] out. The resulting action is the plan's, never decided
//! again here.

use std::borrow::Cow;
use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use crate::config::{Config, DisabledRule, Mapping};
use crate::directory::groups::Groups;
use crate::directory::ldap::id_key;
use crate::model::{Account, DirectoryState, IntranetState, Value};
use crate::plan::{Action, Change, Origin, Plan};
use crate::policy::Refusal;
use crate::reconcile::{Conflict, Desired, DesiredUser};
use crate::state::State;
use crate::text::{shown, username_key};

/// Everything that decides one person's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// What was asked for, as given.
    pub query: String,
    /// The directory user, when the directory has one.
    pub directory: Option<DirectoryUser>,
    /// The intranet account, when the intranet has one.
    pub account: Option<IntranetAccount>,
    /// The syncing groups that hold the user, each with one nesting path.
    pub syncing: Syncing,
    pub disabled: Disabled,
    pub fields: Vec<FieldRule>,
    pub roles: Vec<RoleRule>,
    pub protected: Protected,
    pub adopt: Adopt,
    /// The plan's changes for this person, in the plan's order.
    pub changes: Vec<Change>,
    /// The plan's warnings about this person.
    pub warnings: Vec<String>,
    /// When no plan can be made: the conflicts about this person.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// When the safety policy refuses the plan (as `plan` checks it): every rule that refuses
    /// it. Nothing of the plan would be applied, this person's changes included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedRule>,
    /// The resulting action (the plan's lines for the changes, `; `-separated), or why there is
    /// none.
    pub outcome: String,
}

/// One rule of the safety policy that refuses the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedRule {
    /// The policy's name for it: `max_blocks`, `licences`, `empty_directory`, ... (see
    /// [`crate::policy::Refusal::rule`]).
    pub rule: &'static str,
    /// The refusal's own message, as `plan` gives it.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryUser {
    pub dn: String,
    pub username_attribute: String,
    pub username: String,
    pub id_attribute: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntranetAccount {
    /// SCIM id.
    pub id: String,
    pub username: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// `managed` (its externalId is a directory user's), `orphaned` (its externalId is no
    /// directory user's) or `unmanaged` (no externalId).
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Syncing {
    pub member: bool,
    /// One entry per syncing group that holds the user, in the config's order; the first decides.
    pub groups: Vec<GroupPath>,
    /// Why no syncing group holds the user (or why the membership has no path to show).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPath {
    /// The group as the config names it.
    pub group: String,
    /// The groups from the configured one down to the one that lists the user, as the directory
    /// spells them; empty when the membership has no member path (see `note`).
    pub path: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disabled {
    /// The rule, as the config (or the source's default) sets it; `none` without one.
    pub rule: String,
    pub disabled: bool,
    /// The value that matched the rule, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldRule {
    pub field: String,
    /// The attribute or template it is made from.
    pub mapping: String,
    /// The value the directory gives (`None`: none).
    pub directory: Option<String>,
    /// The value the intranet holds.
    pub intranet: Option<String>,
    /// The value Roster last applied (state file): absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<Option<String>>,
    /// Which side moved, as the plan's JSON says it for the field (`directory`, `intranet`,
    /// `both`, `config`, `differs`): the plan's own value when the plan changes the field.
    /// Absent when the values agree, when one side has no such person, or (as in the plan)
    /// when there is no state file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The same for people: `in sync`, or which side moved (as the text plan tells it:
    /// `edited in the intranet`, ...).
    pub provenance: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRule {
    pub role: String,
    pub intranet_group: String,
    /// Whether the config says the person should hold it.
    pub should_hold: bool,
    /// Through the role's directory groups: one nesting path per group that holds the user, from
    /// the configured group down to the one that lists them.
    pub paths: Vec<Vec<String>>,
    /// Listed in the role's `members.users`.
    pub listed: bool,
    /// A member of the role's groups through no member path explain can show (an Active
    /// Directory primary group, for one).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub untraced: bool,
    /// Whether the account holds it in the intranet now.
    pub holds: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protected {
    pub protected: bool,
    /// What that means here.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adopt {
    /// `policy.adopt`.
    pub enabled: bool,
    pub rule: String,
}

/// The person could not be told: nobody, or more than one, has that name.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LookupError {
    #[error("no directory user or intranet account is {}", shown(.query))]
    #[diagnostic(code(roster::explain::not_found))]
    NotFound {
        query: String,
        #[help]
        help: String,
    },
    #[error("{} names more than one person: {}", shown(.query), .who.join("; "))]
    #[diagnostic(
        code(roster::explain::ambiguous),
        help("name the person by DN or by immutable ID instead")
    )]
    Ambiguous { query: String, who: Vec<String> },
}

/// One person: the directory user and the intranet account Roster pairs with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Person {
    user: Option<usize>,
    account: Option<usize>,
}

/// How close a username must be to read as a typo of it.
const TYPO: f64 = 0.75;

fn same_id(a: &str, b: &str) -> bool {
    id_key(a) == id_key(b)
}

/// Find the person `query` names (username without case, DN, immutable ID or SCIM id).
fn lookup(
    query: &str,
    desired: &Desired,
    dir: &DirectoryState,
    intranet: &IntranetState,
) -> Result<Person, LookupError> {
    let key = username_key(query);
    let ndn = dir.identity.normalize(query);
    let accounts = &intranet.accounts;
    let account_of_user = |u: &DesiredUser| {
        accounts
            .iter()
            .position(|a| a.external_id.as_deref().is_some_and(|e| same_id(e, u.id)))
            .or_else(|| {
                accounts.iter().position(|a| {
                    !a.is_managed() && username_key(&a.username) == username_key(u.username)
                })
            })
    };
    let mut found: Vec<Person> = Vec::new();
    let mut add = |p: Person| {
        if !found.contains(&p) {
            found.push(p);
        }
    };
    for (i, u) in desired.users.iter().enumerate() {
        if username_key(u.username) == key
            || dir.identity.normalize(u.dn()) == ndn
            || same_id(u.id, query)
        {
            add(Person {
                user: Some(i),
                account: account_of_user(u),
            });
        }
    }
    for (j, a) in accounts.iter().enumerate() {
        let ext = a.external_id.as_deref().filter(|e| !e.is_empty());
        if username_key(&a.username) == key
            || a.id == query
            || ext.is_some_and(|e| same_id(e, query))
        {
            let user = match ext {
                Some(e) => desired.by_id.get(id_key(e).as_ref()).copied(),
                None => desired
                    .users
                    .iter()
                    .position(|u| username_key(u.username) == username_key(&a.username))
                    .filter(|&i| account_of_user(&desired.users[i]) == Some(j)),
            };
            add(Person {
                user,
                account: Some(j),
            });
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            // A username the query begins (`ada` for `ada.lovelace`) reads as meant too. A
            // query that looks like a DN is compared with DNs.
            let dn_like = query.contains('=');
            let best = desired
                .users
                .iter()
                .map(|u| if dn_like { u.dn() } else { u.username })
                .chain(
                    accounts
                        .iter()
                        .filter(|_| !dn_like)
                        .map(|a| a.username.as_str()),
                )
                .map(|n| {
                    let (key, k) = if dn_like {
                        (&ndn, dir.identity.normalize(n))
                    } else {
                        (&key, username_key(n))
                    };
                    let prefix =
                        !key.is_empty() && k.len() > key.len() && k.starts_with(key.as_ref());
                    let score = strsim::normalized_levenshtein(key, &k);
                    (
                        if prefix {
                            score.max(TYPO) + score
                        } else {
                            score
                        },
                        n,
                    )
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let help = match best {
                Some((score, n)) if score >= TYPO && !query.trim().is_empty() => format!("did you mean `{}`?", shown(n)),
                _ => "give a username (any case), a DN or an immutable ID the directory or the intranet has".into(),
            };
            Err(LookupError::NotFound {
                query: query.to_owned(),
                help,
            })
        }
        many => Err(LookupError::Ambiguous {
            query: query.to_owned(),
            who: many
                .iter()
                .map(|p| match (p.user, p.account) {
                    (Some(i), _) => shown(desired.users[i].dn()).into_owned(),
                    (None, Some(j)) => format!(
                        "intranet account {} ({})",
                        shown(&accounts[j].username),
                        shown(&accounts[j].id)
                    ),
                    (None, None) => String::new(),
                })
                .collect(),
        }),
    }
}

/// Breadth-first from `root` to `target` (normal form): the groups on the shortest path, as the
/// directory spells them, or `None` when no member path leads there.
fn path_to(
    groups: &Groups,
    spelled: &HashMap<Cow<str>, &str>,
    root: &str,
    target: &str,
) -> Option<Vec<String>> {
    let start = groups.key_of(root).into_owned();
    groups.members_of(&start)?;
    let mut parent: HashMap<String, Option<String>> = HashMap::default();
    parent.insert(start.clone(), None);
    let mut queue = VecDeque::from([start]);
    while let Some(g) = queue.pop_front() {
        for m in groups.members_of(&g).unwrap_or_default() {
            if m.as_ref() == target {
                let mut path = vec![g.clone()];
                let mut at = g.clone();
                while let Some(Some(p)) = parent.get(&at) {
                    path.push(p.clone());
                    at = p.clone();
                }
                path.reverse();
                return Some(
                    path.into_iter()
                        .map(|k| spelled.get(k.as_str()).map_or(k, |s| (*s).to_owned()))
                        .collect(),
                );
            }
            if groups.members_of(m).is_some() && !parent.contains_key(m.as_ref()) {
                parent.insert(m.to_string(), Some(g.clone()));
                queue.push_back(m.to_string());
            }
        }
    }
    None
}

/// The attribute or template a field is made from, as the config writes it.
fn mapping_text(m: &Mapping) -> String {
    match m {
        Mapping::Simple(s) => s.clone(),
        Mapping::Detailed(d) => {
            let mut s = d.from.clone();
            if d.lowercase {
                s.push_str(" (lowercase)");
            }
            if d.trim {
                s.push_str(" (trimmed)");
            }
            s
        }
    }
}

fn disabled_rule(rule: Option<&DisabledRule>, user: Option<&DesiredUser>) -> Disabled {
    let Some(rule) = rule else {
        return Disabled {
            rule: "none: no `directory.disabled` rule, so no user is disabled".into(),
            disabled: user.is_some_and(|u| !u.enabled),
            matched: None,
        };
    };
    let entry = user.map(|u| u.entry);
    let (text, matched) = match rule {
        DisabledRule::ActiveDirectory => (
            "active_directory: userAccountControl has the ACCOUNTDISABLE bit (0x2)".to_owned(),
            entry
                .and_then(|e| e.first_text("useraccountcontrol"))
                .filter(|_| user.is_some_and(|u| !u.enabled))
                .map(|v| format!("userAccountControl: {}", v.trim())),
        ),
        DisabledRule::Attribute(a) => {
            let what = if a.values.is_empty() {
                "present and not FALSE".to_owned()
            } else {
                format!("one of {}", a.values.join(", "))
            };
            let matched = entry.and_then(|e| {
                e.values(&a.name).iter().find_map(|v| match v {
                    Value::Text(t) if a.disables(t) => Some(format!("{}: {t}", a.name)),
                    Value::Text(_) => None,
                    Value::Binary(_) => Some(format!("{}: (binary value)", a.name)),
                })
            });
            (format!("attribute `{}` {what}", a.name), matched)
        }
        DisabledRule::Filter(f) => (
            format!("filter {f}"),
            user.filter(|u| !u.enabled)
                .map(|_| "the server matched the filter".to_owned()),
        ),
    };
    Disabled {
        rule: text,
        disabled: user.is_some_and(|u| !u.enabled),
        matched,
    }
}

/// Explain what decides the account of the person `query` names. `plan` is the plan of these
/// very inputs (the changes, the fields' origins and the outcome are read from it) with the
/// safety policy's refusals of it, or the conflicts that keep it from being made: the rules are
/// then explained, with the conflicts about this person, and no action.
pub fn explain(
    query: &str,
    config: &Config,
    dir: &DirectoryState,
    intranet: &IntranetState,
    state: Option<&State>,
    plan: Result<(&Plan, &[Refusal]), &[Conflict]>,
) -> Result<Explanation, LookupError> {
    let desired = crate::reconcile::desired::compute(config, dir);
    let person = lookup(query, &desired, dir, intranet)?;
    let user = person.user.map(|i| &desired.users[i]);
    let account = person.account.map(|j| &intranet.accounts[j]);
    let groups = Groups::new(dir);
    let spelled: HashMap<Cow<str>, &str> = dir
        .groups
        .iter()
        .map(|g| (dir.identity.normalize(g.dn()), g.dn()))
        .collect();
    let d = &config.directory;
    let policy = &config.policy;

    let directory = user.map(|u| DirectoryUser {
        dn: u.dn().to_owned(),
        username_attribute: d.username_attribute().to_owned(),
        username: u.username.to_owned(),
        id_attribute: d.id_attribute().to_owned(),
        id: u.id.to_owned(),
    });
    let account_view = account.map(|a| IntranetAccount {
        id: a.id.clone(),
        username: a.username.clone(),
        external_id: a.external_id.clone().filter(|e| !e.is_empty()),
        active: a.active,
        kind: match (a.is_managed(), user.is_some()) {
            (false, _) => "unmanaged",
            (true, true) => "managed",
            (true, false) => "orphaned",
        },
    });

    let changes: Vec<Change> = match plan {
        Ok((plan, _)) => plan
            .changes
            .iter()
            .filter(|c| concerns(c, user, account))
            .cloned()
            .collect(),
        Err(_) => vec![],
    };
    let syncing = syncing(config, &desired, &groups, &spelled, user, account, dir);
    let disabled = disabled_rule(d.disabled_rule(), user);
    let fields = fields(config, &desired, (user, account), state, &changes);
    let roles = roles(
        config,
        &desired,
        (&groups, &spelled),
        (user, account),
        intranet,
        dir.identity,
    );

    let usernames: Vec<&str> = user
        .map(|u| u.username)
        .into_iter()
        .chain(account.map(|a| a.username.as_str()))
        .collect();
    let is_protected = usernames.iter().any(|n| {
        policy
            .protected
            .iter()
            .any(|p| username_key(p) == username_key(n))
    });
    let protected = Protected {
        protected: is_protected,
        rule: if is_protected {
            "listed in policy.protected: never blocked, renamed or stripped of roles".into()
        } else {
            "not listed in policy.protected".into()
        },
    };
    let adopt_rule = match (account, user) {
        (Some(a), Some(u)) if !a.is_managed() && u.syncing => {
            if policy.adopt {
                "policy.adopt is on: this unmanaged account has the username of a syncing user, so it is linked to the directory user".to_owned()
            } else {
                "policy.adopt is off: this unmanaged account has the username of a syncing user but is not linked".to_owned()
            }
        }
        (Some(a), _) if !a.is_managed() => {
            "unmanaged account no syncing user has the username of: Roster never changes it".into()
        }
        _ => format!(
            "policy.adopt is {}; it applies only to an unmanaged account with a syncing user's username",
            if policy.adopt { "on" } else { "off" }
        ),
    };
    let adopt = Adopt {
        enabled: policy.adopt,
        rule: adopt_rule,
    };

    let (warnings, conflicts, refused, outcome) = match plan {
        Ok((plan, refusals)) => {
            let warnings: Vec<String> = plan
                .warnings
                .iter()
                .filter(|w| usernames.iter().any(|n| names(w, n)))
                .cloned()
                .collect();
            let outcome = outcome(&changes, user, account, &syncing, &disabled, is_protected);
            let refused = refusals
                .iter()
                .map(|r| RefusedRule {
                    rule: r.rule,
                    message: r.message.clone(),
                })
                .collect();
            (warnings, vec![], refused, outcome)
        }
        Err(all) => {
            let dn = user.map(|u| shown(u.dn()).into_owned());
            let mine: Vec<String> = all
                .iter()
                .filter(|c| {
                    dn.as_deref() == Some(c.subject.as_str())
                        || usernames.iter().any(|n| {
                            names(&c.subject, n)
                                || dn.as_deref().is_some_and(|d| c.message.contains(d))
                        })
                })
                .map(|c| format!("{}: {}", c.subject, c.message))
                .collect();
            let outcome = format!(
                "none: the plan cannot be made ({} conflict{}{}); no action is decided until they are resolved",
                all.len(),
                if all.len() == 1 { "" } else { "s" },
                if mine.is_empty() {
                    ", none about this person".to_owned()
                } else {
                    format!(", {} about this person", mine.len())
                }
            );
            (vec![], mine, vec![], outcome)
        }
    };
    Ok(Explanation {
        query: query.to_owned(),
        directory,
        account: account_view,
        syncing,
        disabled,
        fields,
        roles,
        protected,
        adopt,
        changes,
        warnings,
        conflicts,
        refused,
        outcome,
    })
}

/// Whether the plan's change `c` is about this person's account.
fn concerns(c: &Change, user: Option<&DesiredUser>, account: Option<&Account>) -> bool {
    if let (Some(a), Some(id)) = (account, &c.intranet_id) {
        return *id == a.id;
    }
    if let (Some(u), Some(e)) = (user, &c.external_id) {
        return same_id(u.id, e);
    }
    // A role change for an account this plan creates names it by username only.
    c.intranet_id.is_none()
        && c.external_id.is_none()
        && account.is_none()
        && user.is_some_and(|u| username_key(&c.username) == username_key(u.username))
}

/// Whether the warning `w` names `username` as a word of its own (`ada` is not in `adam`, nor
/// in `ada.lovelace`; a full stop that ends the sentence does not join).
fn names(w: &str, username: &str) -> bool {
    let joins = |c: char| c.is_alphanumeric() || "_-@".contains(c);
    w.match_indices(username).any(|(i, _)| {
        let before = w[..i].chars().next_back();
        let rest = &w[i + username.len()..];
        let mut after = rest.chars();
        let next = after.next();
        let joined_after = match next {
            Some('.') => after.next().is_some_and(joins),
            Some(c) => joins(c),
            None => false,
        };
        !before.is_some_and(|c| joins(c) || c == '.') && !joined_after
    })
}

fn syncing(
    config: &Config,
    desired: &Desired,
    groups: &Groups,
    spelled: &HashMap<Cow<str>, &str>,
    user: Option<&DesiredUser>,
    account: Option<&Account>,
    dir: &DirectoryState,
) -> Syncing {
    let Some(u) = user else {
        let why = match account {
            Some(a) if a.is_managed() => "no directory user has this account's immutable ID: gone from the directory (or out of the directory read)".into(),
            _ => "no directory user has this account's username".into(),
        };
        return Syncing {
            member: false,
            groups: vec![],
            why: Some(why),
        };
    };
    let target = dir.identity.normalize(u.dn());
    let mut out = Vec::new();
    for g in &config.syncing_groups {
        let name = g.name();
        if let Some(path) = path_to(groups, spelled, name, &target) {
            out.push(GroupPath {
                group: name.to_owned(),
                path,
                note: None,
            });
        }
    }
    let why = if !u.syncing {
        Some(format!(
            "no syncing group ({}) holds {} through member or uniqueMember, at any depth",
            desired.syncing_groups.join(", "),
            shown(u.dn())
        ))
    } else if out.is_empty() {
        let group = desired.syncing_group(u).unwrap_or_default();
        out.push(GroupPath {
            group: group.to_owned(),
            path: vec![],
            note: Some(untraced(u)),
        });
        None
    } else {
        None
    };
    Syncing {
        member: u.syncing,
        groups: out,
        why,
    }
}

/// What explain can say of a membership with no member path: the user's primary group when the
/// entry names one (Active Directory lists no `member` value for it), else that it is untraced.
fn untraced(u: &DesiredUser) -> String {
    match u.entry.first_text("primarygroupid") {
        Some(id) => format!(
            "member through a way explain cannot trace: no member path; the entry's primaryGroupID is {} (an Active Directory primary group holds its members without listing them)",
            shown(id.trim())
        ),
        None => "member through a way explain cannot trace (no member path)".into(),
    }
}

fn fields(
    config: &Config,
    desired: &Desired,
    (user, account): (Option<&DesiredUser>, Option<&Account>),
    state: Option<&State>,
    changes: &[Change],
) -> Vec<FieldRule> {
    let values: HashMap<&str, Option<&str>> = user
        .map(|u| desired.fields_of(u).collect())
        .unwrap_or_default();
    let ext = account
        .and_then(|a| a.external_id.as_deref())
        .filter(|e| !e.is_empty())
        .or(user.map(|u| u.id));
    // The fields the plan writes to this account, with the plan's origin for each.
    let planned: HashMap<&str, Option<Origin>> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Update | Action::Link))
        .flat_map(|c| &c.fields)
        .map(|f| (f.name.as_str(), f.origin))
        .collect();
    config
        .field_mappings
        .iter()
        .map(|(field, m)| {
            let dir_value = values.get(field.as_str()).copied().flatten();
            let intranet = account.and_then(|a| a.fields.get(field));
            let last = state.zip(ext).and_then(|(s, e)| s.last(e, field));
            let (origin, provenance) = match (user, account, planned.get(field.as_str())) {
                (None, _, _) => (
                    None,
                    "no directory user: not managed from the directory".to_owned(),
                ),
                (Some(_), None, _) => (None, "no account yet".to_owned()),
                // The plan writes it: its origin, as the plan tells it.
                (Some(_), Some(_), Some(&origin)) => (origin, described(origin)),
                (Some(_), Some(_), None) if dir_value == intranet => (None, "in sync".to_owned()),
                // A difference the plan does not write (a blocked account's, say): told the
                // way the plan tells its own.
                (Some(_), Some(_), None) => {
                    let origin = state.map(|s| {
                        let mapping = s.mapping(
                            field,
                            desired.mapping_digests.get(field).map(String::as_str),
                        );
                        crate::state::origin(last, intranet, dir_value, mapping)
                    });
                    (origin, described(origin))
                }
            };
            FieldRule {
                field: field.clone(),
                mapping: mapping_text(m),
                directory: dir_value.map(str::to_owned),
                intranet: intranet.map(str::to_owned),
                last_applied: last.map(|l| l.map(str::to_owned)),
                origin,
                provenance,
            }
        })
        .collect()
}

/// A field's origin as the text plan says it: no origin (no state file) `differs`.
fn described(origin: Option<Origin>) -> String {
    origin.unwrap_or(Origin::Differs).describe().to_owned()
}

fn roles(
    config: &Config,
    desired: &Desired,
    (groups, spelled): (&Groups, &HashMap<Cow<str>, &str>),
    (user, account): (Option<&DesiredUser>, Option<&Account>),
    intranet: &IntranetState,
    identity: crate::directory::GroupIdentity,
) -> Vec<RoleRule> {
    let target = user.map(|u| identity.normalize(u.dn()).into_owned());
    config
        .admin_roles
        .iter()
        .zip(&desired.roles)
        .map(|((name, role), wanted)| {
            let mut paths = Vec::new();
            if let Some(t) = &target {
                for g in &role.members.groups {
                    if let Some(path) = path_to(groups, spelled, g.name(), t) {
                        paths.push(path);
                    }
                }
            }
            let names: Vec<&str> = user
                .map(|u| u.username)
                .into_iter()
                .chain(account.map(|a| a.username.as_str()))
                .collect();
            let listed = wanted
                .usernames
                .iter()
                .any(|w| names.iter().any(|n| username_key(w) == username_key(n)));
            let in_ids = user.is_some_and(|u| wanted.member_ids.iter().any(|i| same_id(i, u.id)));
            let untraced = in_ids && paths.is_empty();
            RoleRule {
                role: name.clone(),
                intranet_group: role.intranet_group.clone(),
                should_hold: listed || in_ids || !paths.is_empty(),
                paths,
                listed,
                untraced,
                holds: account.is_some_and(|a| {
                    intranet
                        .role_group(&role.intranet_group)
                        .is_some_and(|g| g.members.contains(&a.id))
                }),
            }
        })
        .collect()
}

/// The resulting action, read from the plan in the plan's words (its lines, as the text plan
/// shows them: [`Change::line`]), or why there is none.
fn outcome(
    changes: &[Change],
    user: Option<&DesiredUser>,
    account: Option<&Account>,
    syncing: &Syncing,
    disabled: &Disabled,
    protected: bool,
) -> String {
    if !changes.is_empty() {
        return changes
            .iter()
            .map(Change::line)
            .collect::<Vec<_>>()
            .join("; ");
    }
    let why = match (user, account) {
        (_, Some(a)) if !a.is_managed() && !syncing.member => {
            "an unmanaged account no syncing user claims: Roster never changes it"
        }
        (_, Some(a)) if protected && a.active && !syncing.member => {
            "protected: kept active although no syncing user holds it"
        }
        (_, Some(a)) if !a.active && (!syncing.member || disabled.disabled) => {
            "already blocked, and not an enabled syncing user"
        }
        (Some(_), Some(_)) => "the account matches the directory and the config",
        (Some(_), None) if !syncing.member => "not in a syncing group: no account is made",
        (Some(_), None) if disabled.disabled => "disabled in the directory: no account is made",
        (Some(_), None) => "no change in the plan",
        (None, Some(_)) => "no change in the plan",
        (None, None) => "nobody to act on",
    };
    format!("none: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Group entries from LDIF.
    fn groups_from(ldif: &str) -> Vec<crate::model::Entry> {
        let src = crate::diag::Source::new(std::path::Path::new("t.ldif"), ldif.to_owned());
        crate::directory::ldif::read::parse(&src).unwrap()
    }

    #[test]
    fn warnings_name_a_username_as_a_word() {
        assert!(names("ada is protected: not blocked", "ada"));
        assert!(names("username ada.", "ada"));
        assert!(!names("adam is protected", "ada"));
        assert!(!names("ada.lovelace is protected", "ada"));
        assert!(!names("x.ada is protected", "ada"));
    }

    #[test]
    fn the_shortest_path_through_a_cycle_in_the_directory_s_spelling() {
        let dir = DirectoryState {
            groups: groups_from(
                "dn: CN=Staff,DC=x\nmember: cn=eng,dc=x\nmember: cn=loop,dc=x\n\n\
                 dn: cn=loop,dc=x\nmember: CN=Staff,DC=x\nmember: cn=eng,dc=x\n\n\
                 dn: cn=eng,dc=x\nmember: cn=platform,dc=x\n\n\
                 dn: cn=platform,dc=x\nmember: UID=Ken,DC=x\n",
            ),
            ..Default::default()
        };
        let groups = Groups::new(&dir);
        let spelled: HashMap<Cow<str>, &str> = dir
            .groups
            .iter()
            .map(|g| (dir.identity.normalize(g.dn()), g.dn()))
            .collect();
        assert_eq!(
            path_to(&groups, &spelled, "cn=staff,dc=x", "uid=ken,dc=x"),
            Some(vec![
                "CN=Staff,DC=x".to_owned(),
                "cn=eng,dc=x".to_owned(),
                "cn=platform,dc=x".to_owned()
            ])
        );
        assert_eq!(
            path_to(&groups, &spelled, "cn=staff,dc=x", "uid=nobody,dc=x"),
            None
        );
        assert_eq!(
            path_to(&groups, &spelled, "cn=missing,dc=x", "uid=ken,dc=x"),
            None
        );
    }
}
