//! The safety policy: rules a plan must pass before anyone may apply it. Pure: a plan, the config
//! and what was read in, a list of refusals out.
//!
//! A refused plan is still shown, so reviewers see what it would have done; it is not saved.

use rustc_hash::FxHashSet as HashSet;

use crate::config::{default_guard, Config, Guard, DEFAULT_GUARD_FLOOR, DEFAULT_GUARD_PERCENT};
use crate::model::{DirectoryState, IntranetState};
use crate::plan::{Action, Plan};

/// One rule a plan breaks: which, the figures, and how to proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(roster::policy))]
pub struct Refusal {
    /// `empty_directory`, `max_vanished`, `max_blocks`, `max_clears`, `max_revokes`,
    /// `max_renames`, `min_sysadmins`, `licences`, `apply_as`.
    pub rule: &'static str,
    pub message: String,
    #[help]
    pub help: String,
    /// The one-run exception that would lift this rule (`--allow-blocks` and the count), when
    /// there is one.
    pub lift: Option<(&'static str, usize)>,
}

/// Every refusal, together.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the plan is refused by the safety policy ({} rule{})", .refusals.len(), if .refusals.len() == 1 { "" } else { "s" })]
#[diagnostic(
    code(roster::refused),
    help("nothing was changed and the plan was not saved")
)]
pub struct Refused {
    #[related]
    pub refusals: Vec<Refusal>,
}

/// Check a plan against the policy, with the one-run exceptions the plan records in its
/// `allowances` (`--allow-blocks N`, `--allow-clears N`, `--allow-revokes N`,
/// `--allow-renames N`).
pub fn check(
    plan: &Plan,
    config: &Config,
    dir: &DirectoryState,
    intranet: &IntranetState,
) -> Result<(), Refused> {
    let policy = &config.policy;
    let mut refusals = Vec::new();
    let username = &config.directory.username_attribute();

    // The read guard: an empty or vanished directory must never look like a mass leaving.
    if !dir.users.iter().any(|u| u.key_text(username).is_some()) {
        refusals.push(Refusal {
            rule: "empty_directory",
            message: format!("the directory returned no users (no entry with `{username}`)"),
            help: "check where the source reads from (an LDAP search base, filter and bind rights; a CSV file; an Entra ID app's permissions); Roster refuses to plan on an empty read".into(),
            lift: None,
        });
    }
    let managed: Vec<_> = intranet
        .accounts
        .iter()
        .filter(|a| a.is_managed() && a.active)
        .collect();
    let mut ids: HashSet<&str> =
        HashSet::with_capacity_and_hasher(dir.users.len(), Default::default());
    ids.extend(
        dir.users
            .iter()
            .filter_map(|u| u.key_text(&config.directory.id_attribute())),
    );
    let vanished = managed
        .iter()
        .filter(|a| !ids.contains(a.external_id.as_deref().unwrap_or_default()))
        .count();
    let allowed = policy.max_vanished.of(managed.len());
    if vanished > allowed && vanished > 0 {
        refusals.push(Refusal {
            rule: "max_vanished",
            message: format!("{vanished} of {} active managed accounts have users missing from the directory read, over policy.max_vanished ({} = {allowed})", managed.len(), policy.max_vanished),
            help: "a partial read looks like a mass leaving: check the directory's read (an LDAP search base, filter and size limits; a CSV export cut short); if the users really left, raise `policy.max_vanished` in a reviewed commit".into(),
            lift: None,
        });
    }

    let holders: usize = config
        .admin_roles
        .values()
        .filter_map(|r| intranet.role_group(&r.intranet_group))
        .map(|g| g.members.len())
        .sum();
    let clears = clears(plan);
    let guards = [
        Guarded {
            rule: "max_blocks",
            setting: policy.max_blocks.as_ref(),
            count: plan.summary.block,
            doing: "blocks",
            noun: ("account", "accounts"),
            detail: String::new(),
            base: managed.len(),
            base_noun: "active managed accounts",
            allowance: plan.allowances.allow_blocks,
            flag: "--allow-blocks",
        },
        Guarded {
            rule: "max_clears",
            setting: policy.max_clears.as_ref(),
            count: clears.iter().map(|(_, n)| n).sum(),
            doing: "clears",
            noun: ("mapped field value", "mapped field values"),
            detail: clears
                .iter()
                .map(|(f, n)| format!("{f}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            base: managed.len(),
            base_noun: "active managed accounts",
            allowance: plan.allowances.allow_clears,
            flag: "--allow-clears",
        },
        Guarded {
            rule: "max_revokes",
            setting: policy.max_revokes.as_ref(),
            count: plan.summary.revoke,
            doing: "revokes",
            noun: ("admin role", "admin roles"),
            detail: String::new(),
            base: holders,
            base_noun: "admin role holders",
            allowance: plan.allowances.allow_revokes,
            flag: "--allow-revokes",
        },
        Guarded {
            rule: "max_renames",
            setting: policy.max_renames.as_ref(),
            count: plan.summary.rename,
            doing: "renames",
            noun: ("account", "accounts"),
            detail: String::new(),
            base: managed.len(),
            base_noun: "active managed accounts",
            allowance: plan.allowances.allow_renames,
            flag: "--allow-renames",
        },
    ];
    refusals.extend(guards.iter().filter_map(Guarded::check));

    if let (Some(min), Some(role)) = (policy.min_sysadmins, config.admin_roles.get("sysadmin")) {
        let holders = holders_after(plan, intranet, &role.intranet_group);
        if holders < min as usize {
            refusals.push(Refusal {
                rule: "min_sysadmins",
                message: format!("after the plan {holders} active account{} would hold sysadmin, under policy.min_sysadmins ({min})", if holders == 1 { "" } else { "s" }),
                help: "add holders to `admin_roles.sysadmin.members` (or keep their accounts active); the intranet must never be left without administrators".into(),
                lift: None,
            });
        }
    }

    if let Some(limit) = policy.licences {
        if plan.licences.after as u64 > limit {
            refusals.push(Refusal {
                rule: "licences",
                message: format!("after the plan {} accounts would be active, over policy.licences ({limit}); {} are active now", plan.licences.after, plan.licences.before),
                help: "buy licences and raise `policy.licences` in a reviewed commit, or narrow the syncing groups".into(),
                lift: None,
            });
        }
    }

    if let Some(me) = &policy.apply_as {
        let me_key = crate::text::username_key(me);
        let mine = |name: &str| crate::text::username_key(name) == me_key;
        let ids: HashSet<&str> = intranet
            .accounts
            .iter()
            .filter(|a| mine(&a.username))
            .map(|a| a.id.as_str())
            .collect();
        for c in &plan.changes {
            let hits_me =
                mine(&c.username) || c.intranet_id.as_deref().is_some_and(|i| ids.contains(i));
            if hits_me && matches!(c.action, Action::Block | Action::Rename | Action::Revoke) {
                refusals.push(Refusal {
                    rule: "apply_as",
                    message: format!("the plan would {} {me}, the account Roster applies as", c.action.name()),
                    help: "Roster must keep the account and roles it applies with: add it to `policy.protected` and to the roles it needs".into(),
                    lift: None,
                });
            }
        }
    }

    if refusals.is_empty() {
        Ok(())
    } else {
        Err(Refused { refusals })
    }
}

/// Active holders of an intranet group after the plan.
fn holders_after(plan: &Plan, intranet: &IntranetState, group: &str) -> usize {
    let Some(g) = intranet.role_group(group) else {
        return 0;
    };
    let blocked: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Block)
        .filter_map(|c| c.intranet_id.as_deref())
        .collect();
    let reactivated: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Reactivate)
        .filter_map(|c| c.intranet_id.as_deref())
        .collect();
    let active_now: HashSet<&str> = intranet
        .accounts
        .iter()
        .filter(|a| a.active)
        .map(|a| a.id.as_str())
        .collect();
    let active =
        |id: &str| !blocked.contains(id) && (reactivated.contains(id) || active_now.contains(id));
    let in_group = |c: &&crate::plan::Change| c.role.as_ref().is_some_and(|r| r.group_id == g.id);
    let revoked: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Revoke)
        .filter(in_group)
        .filter_map(|c| c.intranet_id.as_deref())
        .collect();
    let kept = g
        .members
        .iter()
        .filter(|m| !revoked.contains(m.as_str()) && active(m))
        .count();
    let granted = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Grant)
        .filter(in_group)
        .count();
    kept + granted
}

/// One kind of destructive change under a limit: `policy.max_blocks`, `max_clears`, `max_revokes`,
/// `max_renames`.
struct Guarded<'a> {
    rule: &'static str,
    /// The config's setting; `None` is the default.
    setting: Option<&'a Guard>,
    count: usize,
    /// `blocks`, `clears`, `revokes`, `renames`.
    doing: &'static str,
    noun: (&'static str, &'static str),
    /// Where the count comes from, when that helps (`phone: 12, department: 3`).
    detail: String,
    /// What a share is of.
    base: usize,
    base_noun: &'static str,
    allowance: Option<usize>,
    flag: &'static str,
}

impl Guarded<'_> {
    fn check(&self) -> Option<Refusal> {
        let (max, limit) = match self.setting {
            Some(Guard::Off(_)) => return None,
            Some(Guard::Limit(l @ crate::config::Limit::Count(_))) => {
                (l.of(self.base), format!("{l}"))
            }
            Some(Guard::Limit(l)) => {
                let max = l.of(self.base);
                (
                    max,
                    format!("{l} of {} {} = {max}", self.base, self.base_noun),
                )
            }
            None => {
                let max = default_guard(self.base);
                (max, format!("by default the larger of {DEFAULT_GUARD_FLOOR} and {DEFAULT_GUARD_PERCENT}% of {} {} = {max}", self.base, self.base_noun))
            }
        };
        let allowed = self.allowance.map_or(max, |a| a.max(max));
        if self.count <= allowed {
            return None;
        }
        let n = self.count;
        let noun = if n == 1 { self.noun.0 } else { self.noun.1 };
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.detail)
        };
        let rule = self.rule;
        Some(Refusal {
            rule,
            message: format!(
                "the plan {} {n} {noun}{detail}, over policy.{rule} ({limit})",
                self.doing
            ),
            help: lift_help(rule, self.flag, n, None),
            lift: Some((self.flag, n)),
        })
    }
}

/// How to proceed past a limit: raise it, or lift it for one run, on the command that makes the
/// plan (`saved`: the plan being applied was saved to this file, its allowances with it).
fn lift_help(rule: &str, flag: &str, n: usize, saved: Option<&std::path::Path>) -> String {
    let once = match saved {
        None => format!("pass `{flag} {n}` for this run (recorded in the plan and the audit)"),
        Some(file) => format!(
            "make the plan again with `roster plan {flag} {n} -o {}` (a saved plan carries its one-run allowances, reviewed with it) and apply that",
            crate::text::shown(&file.to_string_lossy())
        ),
    };
    format!("if this is intended, raise `policy.{rule}` in a reviewed commit (a count, a share such as \"20%\", or `false` for no limit), or {once}")
}

impl Refused {
    /// The refusals of a saved plan being applied: a one-run exception is given when the plan is
    /// made, so the help says to make it again with the flag, not to pass the flag to `apply`.
    pub fn for_saved_plan(mut self, file: &std::path::Path) -> Refused {
        for r in &mut self.refusals {
            if let Some((flag, n)) = r.lift {
                r.help = lift_help(r.rule, flag, n, Some(file));
            }
        }
        self
    }
}

/// Mapped field values the plan clears (from a value to none), per field, most first.
fn clears(plan: &Plan) -> Vec<(&str, usize)> {
    let mut per_field: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in &plan.changes {
        for f in &c.fields {
            // A value of only white space is no value: clearing it clears nothing.
            if f.after.is_none() && f.before.as_deref().is_some_and(|b| !b.trim().is_empty()) {
                *per_field.entry(f.name.as_str()).or_default() += 1;
            }
        }
    }
    let mut out: Vec<_> = per_field.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out
}
