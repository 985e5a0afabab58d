//! The safety policy: rules a plan must pass before anyone may apply it. Pure: a plan, the config
//! and what was read in, a list of refusals out.
//!
//! A refused plan is still shown, so reviewers see what it would have done; it is not saved.

use rustc_hash::FxHashSet as HashSet;

use crate::config::Config;
use crate::model::{DirectoryState, IntranetState};
use crate::plan::{Action, Plan};

/// One rule a plan breaks: which, the figures, and how to proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(roster::policy))]
pub struct Refusal {
    /// `empty_directory`, `max_vanished`, `max_blocks`, `min_sysadmins`, `licences`, `apply_as`.
    pub rule: &'static str,
    pub message: String,
    #[help]
    pub help: String,
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

/// Check a plan against the policy. `allow_blocks` is the one-run `--allow-blocks N`.
pub fn check(
    plan: &Plan,
    config: &Config,
    dir: &DirectoryState,
    intranet: &IntranetState,
) -> Result<(), Refused> {
    let policy = &config.policy;
    let mut refusals = Vec::new();
    let username = &config.directory.username_attribute;

    // The read guard: an empty or vanished directory must never look like a mass leaving.
    if !dir.users.iter().any(|u| u.key_text(username).is_some()) {
        refusals.push(Refusal {
            rule: "empty_directory",
            message: format!("the directory returned no users (no entry with `{username}`)"),
            help: "check the search base, filter and bind identity's rights; Roster refuses to plan on an empty read".into(),
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
            .filter_map(|u| u.key_text(&config.directory.id_attribute)),
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
            help: "a partial read looks like a mass leaving: check the directory's search base, filter and size limits; if the users really left, raise `policy.max_vanished` in a reviewed commit".into(),
        });
    }

    let blocks = plan.summary.block;
    if let Some(limit) = &policy.max_blocks {
        let max = limit.of(managed.len());
        let allowed = plan.allowances.allow_blocks.map_or(max, |a| a.max(max));
        if blocks > allowed {
            refusals.push(Refusal {
                rule: "max_blocks",
                message: format!("the plan blocks {blocks} accounts, over policy.max_blocks ({limit} of {} active managed accounts = {max})", managed.len()),
                help: format!("raise `policy.max_blocks` in a reviewed commit, or pass `--allow-blocks {blocks}` for this run (recorded in the plan and the audit)"),
            });
        }
    }

    if let (Some(min), Some(role)) = (policy.min_sysadmins, config.admin_roles.get("sysadmin")) {
        let holders = holders_after(plan, intranet, &role.intranet_group);
        if holders < min as usize {
            refusals.push(Refusal {
                rule: "min_sysadmins",
                message: format!("after the plan {holders} active account{} would hold sysadmin, under policy.min_sysadmins ({min})", if holders == 1 { "" } else { "s" }),
                help: "add holders to `admin_roles.sysadmin.members` (or keep their accounts active); the intranet must never be left without administrators".into(),
            });
        }
    }

    if let Some(limit) = policy.licences {
        if plan.licences.after as u64 > limit {
            refusals.push(Refusal {
                rule: "licences",
                message: format!("after the plan {} accounts would be active, over policy.licences ({limit}); {} are active now", plan.licences.after, plan.licences.before),
                help: "buy licences and raise `policy.licences` in a reviewed commit, or narrow the syncing groups".into(),
            });
        }
    }

    if let Some(me) = &policy.apply_as {
        let mine = |name: &str| name.eq_ignore_ascii_case(me);
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
