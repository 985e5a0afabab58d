//! The safety policy: rules a plan must pass before anyone may apply it. Pure: a plan, the config
//! and what was read in, a list of refusals out.
//!
//! A refused plan is still shown, so reviewers see what it would have done; it is not saved.
//!
//! Also here: [`unattended`], whether a plan that passes the policy may be applied with no one
//! watching (`roster apply --unattended`, `policy.unattended`), or waits for a person.

use rustc_hash::FxHashSet as HashSet;

use crate::config::{
    default_guard, Config, Guard, Limit, Permit, Unattended, DEFAULT_GUARD_FLOOR,
    DEFAULT_GUARD_PERCENT,
};
use crate::model::{DirectoryState, IntranetState};
use crate::plan::{Action, Plan, Summary};

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
    let managed = active_managed(intranet);
    // IDs as the plan matches them: a GUID without case (another tool may have upper-cased an
    // externalId), so the guard never counts as vanished a user the plan found.
    let id_key = crate::directory::ldap::id_key;
    let mut ids: HashSet<std::borrow::Cow<'_, str>> =
        HashSet::with_capacity_and_hasher(dir.users.len(), Default::default());
    ids.extend(
        dir.users
            .iter()
            .filter_map(|u| u.key_text(&config.directory.id_attribute()))
            .map(id_key),
    );
    let vanished = managed
        .iter()
        .filter(|a| !ids.contains(&id_key(a.external_id.as_deref().unwrap_or_default())))
        .count();
    let allowed = policy.max_vanished.of(managed.len());
    if vanished > allowed && vanished > 0 {
        refusals.push(Refusal {
            rule: "max_vanished",
            message: format!(
                "{vanished} of {} active managed accounts {} users missing from the directory read, over policy.max_vanished ({} = {allowed})",
                managed.len(),
                if vanished == 1 { "has its user" } else { "have their users" },
                policy.max_vanished
            ),
            help: "a partial read looks like a mass leaving: check the directory's read (an LDAP search base, filter and size limits; a CSV export cut short); if the users really left, raise `policy.max_vanished` in a reviewed commit".into(),
            lift: None,
        });
    }

    let holders = role_holders(config, intranet);
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
                message: format!("after the plan {holders} active account{} would hold sysadmin, under policy.min_sysadmins ({min})", crate::render::plural(holders)),
                help: "add holders to `admin_roles.sysadmin.members` (or keep their accounts active); the intranet must never be left without administrators".into(),
                lift: None,
            });
        }
    }

    if let Some(limit) = policy.licences {
        if plan.licences.after as u64 > limit {
            refusals.push(Refusal {
                rule: "licences",
                message: format!("after the plan {} account{} would be active, over policy.licences ({limit}); {} {} active now", plan.licences.after, crate::render::plural(plan.licences.after), plan.licences.before, if plan.licences.before == 1 { "is" } else { "are" }),
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

/// The active managed accounts: what the account limits' shares are of.
fn active_managed(intranet: &IntranetState) -> Vec<&crate::model::Account> {
    intranet
        .accounts
        .iter()
        .filter(|a| a.is_managed() && a.active)
        .collect()
}

/// Today's admin role holders (the members of the roles' intranet groups, once per role): what
/// the role limits' shares are of.
fn role_holders(config: &Config, intranet: &IntranetState) -> usize {
    config
        .admin_roles
        .values()
        .filter_map(|r| intranet.role_group(&r.intranet_group))
        .map(|g| g.members.len())
        .sum()
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

/// What the shares of `policy.unattended` are of: the active managed accounts (account
/// changes) and today's admin role holders (grants and revokes), as for the limits above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bases {
    pub accounts: usize,
    pub role_holders: usize,
}

impl Bases {
    pub fn of(config: &Config, intranet: &IntranetState) -> Bases {
        Bases {
            accounts: active_managed(intranet).len(),
            role_holders: role_holders(config, intranet),
        }
    }
}

/// Whether `roster apply --unattended` may apply a plan on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every kind of change in the plan is within `policy.unattended`.
    Fits,
    /// A person must approve: one reason per kind of change over its setting, with the figures
    /// (`3 blocks; policy.unattended.block allows up to 2`).
    NeedsApproval(Vec<String>),
}

/// Decide whether a plan fits `policy.unattended`. Pure: the counts are derived from the
/// plan's changes (never its recorded summary), each kind of change checked on its own.
pub fn unattended(plan: &Plan, rules: &Unattended, bases: Bases) -> Decision {
    let summary = Summary::of(&plan.changes);
    let mut reasons = Vec::new();
    for action in Action::ALL {
        let base = if action.is_role() {
            (bases.role_holders, "admin role holders")
        } else {
            (bases.accounts, "active managed accounts")
        };
        let key = action.name();
        reasons.extend(over(
            summary.count(action),
            unattended_noun(action),
            key,
            rules.of(action),
            base,
        ));
    }
    let cleared: usize = clears(plan).iter().map(|(_, n)| n).sum();
    reasons.extend(over(
        cleared,
        ("cleared field value", "cleared field values"),
        "clear",
        &rules.clear,
        (bases.accounts, "active managed accounts"),
    ));
    if reasons.is_empty() {
        Decision::Fits
    } else {
        Decision::NeedsApproval(reasons)
    }
}

/// How a reason names `n` changes of a kind.
fn unattended_noun(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("account to create", "accounts to create"),
        Action::Link => ("link", "links"),
        Action::Rename => ("rename", "renames"),
        Action::Update => ("account to update", "accounts to update"),
        Action::Reactivate => ("reactivation", "reactivations"),
        Action::Block => ("block", "blocks"),
        Action::Grant => ("role grant", "role grants"),
        Action::Revoke => ("role revoke", "role revokes"),
    }
}

/// The reason `n` changes of one kind are over their `policy.unattended` setting, if they are.
fn over(
    n: usize,
    noun: (&str, &str),
    key: &str,
    permit: &Permit,
    (base, base_noun): (usize, &str),
) -> Option<String> {
    let what = format!("{n} {}", if n == 1 { noun.0 } else { noun.1 });
    match permit {
        _ if n == 0 => None,
        Permit::All(true) => None,
        Permit::All(false) => Some(format!(
            "{what}; policy.unattended.{key} is false: never applied unattended"
        )),
        Permit::UpTo(limit) => {
            let max = limit.of(base);
            if n <= max {
                return None;
            }
            Some(match limit {
                Limit::Count(_) => {
                    format!("{what}; policy.unattended.{key} allows up to {max}")
                }
                Limit::Share(share) => format!(
                    "{what}; policy.unattended.{key} allows up to {share} of {base} {base_noun} = {max}"
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, FieldChange, Inputs};

    fn change(action: Action, n: usize) -> Vec<Change> {
        (0..n)
            .map(|i| Change {
                action,
                username: format!("{}{i}", action.name()),
                external_id: Some(format!("id-{}-{i}", action.name())),
                intranet_id: None,
                etag: None,
                fields: Vec::new(),
                role: None,
                reason: String::new(),
            })
            .collect()
    }

    fn plan_of(kinds: &[(Action, usize)]) -> Plan {
        let changes = kinds.iter().flat_map(|&(a, n)| change(a, n)).collect();
        Plan::new(Inputs::default(), Vec::new(), changes)
    }

    const BASES: Bases = Bases {
        accounts: 200,
        role_holders: 10,
    };

    fn reasons(plan: &Plan, rules: &Unattended) -> Vec<String> {
        match unattended(plan, rules, BASES) {
            Decision::Fits => Vec::new(),
            Decision::NeedsApproval(r) => r,
        }
    }

    #[test]
    fn an_empty_plan_fits() {
        assert_eq!(
            unattended(&plan_of(&[]), &Unattended::default(), BASES),
            Decision::Fits
        );
    }

    #[test]
    fn by_default_joiners_edits_returns_and_a_few_leavers_fit() {
        let plan = plan_of(&[
            (Action::Create, 40),
            (Action::Update, 120),
            (Action::Reactivate, 3),
            (Action::Block, 5),
        ]);
        assert_eq!(
            unattended(&plan, &Unattended::default(), BASES),
            Decision::Fits
        );
    }

    #[test]
    fn by_default_more_blocks_than_five_need_approval() {
        let plan = plan_of(&[(Action::Block, 6)]);
        assert_eq!(
            reasons(&plan, &Unattended::default()),
            ["6 blocks; policy.unattended.block allows up to 5"]
        );
    }

    #[test]
    fn by_default_links_renames_and_role_changes_need_approval_each_with_a_reason() {
        let plan = plan_of(&[
            (Action::Create, 1),
            (Action::Link, 1),
            (Action::Rename, 2),
            (Action::Grant, 1),
            (Action::Revoke, 1),
        ]);
        assert_eq!(
            reasons(&plan, &Unattended::default()),
            [
                "1 link; policy.unattended.link is false: never applied unattended",
                "2 renames; policy.unattended.rename is false: never applied unattended",
                "1 role grant; policy.unattended.grant is false: never applied unattended",
                "1 role revoke; policy.unattended.revoke is false: never applied unattended",
            ]
        );
    }

    #[test]
    fn a_count_allows_up_to_it() {
        let rules = Unattended {
            block: Permit::UpTo(Limit::Count(2)),
            ..Unattended::default()
        };
        assert_eq!(reasons(&plan_of(&[(Action::Block, 2)]), &rules), [""; 0]);
        assert_eq!(
            reasons(&plan_of(&[(Action::Block, 3)]), &rules),
            ["3 blocks; policy.unattended.block allows up to 2"]
        );
    }

    #[test]
    fn a_share_is_of_the_active_managed_accounts_or_of_the_role_holders() {
        let rules = Unattended {
            create: Permit::UpTo(Limit::Share("5%".into())),
            revoke: Permit::UpTo(Limit::Share("20%".into())),
            ..Unattended::default()
        };
        // 5% of 200 accounts = 10; 20% of 10 role holders = 2.
        let fits = plan_of(&[(Action::Create, 10), (Action::Revoke, 2)]);
        assert_eq!(reasons(&fits, &rules), [""; 0]);
        let over = plan_of(&[(Action::Create, 11), (Action::Revoke, 3)]);
        assert_eq!(
            reasons(&over, &rules),
            [
                "11 accounts to create; policy.unattended.create allows up to 5% of 200 active managed accounts = 10",
                "3 role revokes; policy.unattended.revoke allows up to 20% of 10 admin role holders = 2",
            ]
        );
    }

    #[test]
    fn true_allows_any_number_and_false_none() {
        let rules = Unattended {
            rename: Permit::All(true),
            update: Permit::All(false),
            ..Unattended::default()
        };
        assert_eq!(reasons(&plan_of(&[(Action::Rename, 150)]), &rules), [""; 0]);
        assert_eq!(
            reasons(&plan_of(&[(Action::Update, 1)]), &rules),
            ["1 account to update; policy.unattended.update is false: never applied unattended"]
        );
    }

    #[test]
    fn cleared_values_are_counted_per_account_and_field() {
        let mut plan = plan_of(&[(Action::Update, 3)]);
        for c in &mut plan.changes {
            c.fields = vec![
                FieldChange::new("phone", Some("+1 555".into()), None),
                FieldChange::new("job_title", Some("CTO".into()), None),
                // White space is no value: clearing it clears nothing.
                FieldChange::new("department", Some("  ".into()), None),
            ];
        }
        let rules = Unattended::default();
        assert_eq!(
            reasons(&plan, &rules),
            ["6 cleared field values; policy.unattended.clear allows up to 5"]
        );
        let rules = Unattended {
            clear: Permit::UpTo(Limit::Count(6)),
            ..rules
        };
        assert_eq!(unattended(&plan, &rules, BASES), Decision::Fits);
    }

    #[test]
    fn the_counts_come_from_the_changes_not_the_recorded_summary() {
        let mut plan = plan_of(&[(Action::Revoke, 1)]);
        plan.summary.revoke = 0;
        assert_eq!(reasons(&plan, &Unattended::default()).len(), 1);
    }
}
