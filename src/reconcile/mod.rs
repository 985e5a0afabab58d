//! Reconcile: desired state + observed intranet + policy → changes. Pure: no IO, no clock, no
//! environment. The only stage that decides anything.
//!
//! Rules: only syncing users get accounts; mapped fields follow the directory; nothing is ever
//! deleted (there is no delete action); accounts are matched by the directory's immutable ID
//! (`externalId`), so a username change renames; protected accounts are never blocked, renamed
//! or revoked; unmanaged accounts are never changed except by `link`.

mod accounts;
pub mod desired;
pub mod mapping;
mod order;
pub mod resolve;
mod roles;

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use smallvec::SmallVec;

use crate::config::Policy;
use crate::directory::ldap::id_key;
use crate::model::{Account, IntranetState};
use crate::plan::Change;
use crate::text::username_key;
pub use accounts::{REBUILT_MIN_SHARE, REBUILT_MIN_USERS};
pub use desired::{Desired, DesiredRole, DesiredUser};

/// Something that makes a plan impossible. All conflicts are reported together, each as a
/// diagnostic of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{subject}: {message}")]
#[diagnostic(code(roster::conflict))]
pub struct Conflict {
    /// What it is about: a username, a DN, a role.
    pub subject: String,
    pub message: String,
    #[help]
    pub help: String,
}

/// The changes and the warnings a reviewer must see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

/// Where an account stands after the plan.
#[derive(Debug, Clone)]
struct Final<'a> {
    /// In NFC, as the plan writes it.
    username: Cow<'a, str>,
    active: bool,
}

/// `s` in lowercase: borrowed when it already is, as most values are. (Usernames are compared
/// with [`username_key`], which also normalises them to NFC.)
pub fn lowercase(s: &str) -> std::borrow::Cow<'_, str> {
    let unchanged = s.chars().all(|c| {
        let mut l = c.to_lowercase();
        l.next() == Some(c) && l.next().is_none()
    });
    if unchanged {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.to_lowercase())
    }
}

/// Reconcile. Returns the ordered changes, or every conflict found.
///
/// One `Reconciler` runs its passes in order, each reading what the ones before it decided:
/// the syncing users (link or adopt, create, update, rename, reactivate or block), the leavers,
/// the usernames after the plan, the order of the renames, then the admin roles (holders,
/// grants, revokes).
pub fn reconcile<'a>(
    desired: &'a Desired,
    observed: &'a IntranetState,
    last: Option<&'a crate::state::State>,
    policy: &'a Policy,
) -> Result<Outcome, Vec<Conflict>> {
    let mut r = Reconciler::new(desired, observed, last, policy);
    r.unknown_policy_names();
    if let Some(c) = r.rebuilt_directory() {
        r.conflicts.push(c);
        return Err(r.conflicts);
    }
    r.syncing_users();
    r.leavers();
    r.unique_usernames();
    let renames = r.ordered_renames();
    r.roles();
    if !r.conflicts.is_empty() {
        return Err(r.conflicts);
    }
    Ok(Outcome {
        changes: order::order(r.changes, renames),
        warnings: r.warnings,
    })
}

/// One reconcile: what it reads (the desired state, the intranet as observed, the last-applied
/// values, the policy, and indexes of the accounts), and the plan in progress, which each pass
/// adds to.
struct Reconciler<'a> {
    desired: &'a Desired<'a>,
    observed: &'a IntranetState,
    accounts: &'a [Account],
    last: Option<&'a crate::state::State>,
    policy: &'a Policy,
    /// `policy.protected`, as usernames compare.
    protected: HashSet<String>,
    /// Managed accounts by directory ID in [`id_key`] form (the first one wins).
    by_ext: HashMap<Cow<'a, str>, usize>,
    /// Unmanaged accounts by username: only they can be adopted by username.
    by_name: HashMap<Cow<'a, str>, SmallVec<[usize; 1]>>,

    /// Each account's state after the plan; accounts created by the plan come after.
    finals: Vec<Final<'a>>,
    /// Directory ID → index in `finals` for syncing users whose account `by_ext` does not give:
    /// adopted and created ones.
    account_of: HashMap<&'a str, usize>,
    /// Accounts a syncing user has (managed or adopted).
    claimed: Vec<bool>,
    /// Renames, with the index of the account renamed: ordered after the account passes.
    renames: Vec<(usize, Change)>,
    changes: Vec<Change>,
    warnings: Vec<String>,
    conflicts: Vec<Conflict>,
}

impl<'a> Reconciler<'a> {
    fn new(
        desired: &'a Desired<'a>,
        observed: &'a IntranetState,
        last: Option<&'a crate::state::State>,
        policy: &'a Policy,
    ) -> Reconciler<'a> {
        let accounts = &observed.accounts[..];
        let protected = policy
            .protected
            .iter()
            .map(|p| username_key(p).into_owned())
            .collect();
        let mut by_ext: HashMap<Cow<str>, usize> = HashMap::default();
        let mut by_name: HashMap<Cow<str>, SmallVec<[usize; 1]>> = HashMap::default();
        for (i, a) in accounts.iter().enumerate() {
            if let Some(ext) = a.external_id.as_deref().filter(|_| a.is_managed()) {
                by_ext.entry(id_key(ext)).or_insert(i);
            }
            if !a.is_managed() {
                by_name
                    .entry(username_key(&a.username))
                    .or_default()
                    .push(i);
            }
        }
        let finals = accounts
            .iter()
            .map(|a| Final {
                username: Cow::Borrowed(&a.username),
                active: a.active,
            })
            .collect();
        Reconciler {
            desired,
            observed,
            accounts,
            last,
            policy,
            protected,
            by_ext,
            by_name,
            finals,
            account_of: HashMap::default(),
            claimed: vec![false; accounts.len()],
            renames: Vec::new(),
            changes: Vec::new(),
            warnings: desired.warnings.clone(),
            conflicts: desired.conflicts.clone(),
        }
    }

    fn is_protected(&self, username: &str) -> bool {
        self.protected.contains(username_key(username).as_ref())
    }

    /// A directory user's account, existing or created by this plan (an index in `finals`).
    fn index_of(&self, id: &str) -> Option<usize> {
        self.account_of
            .get(id)
            .or_else(|| self.by_ext.get(id_key(id).as_ref()))
            .copied()
    }
}

/// The plan could not be made: every conflict, listed together.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot plan: {} conflict{} between the directory, the intranet and the config", .conflicts.len(), if .conflicts.len() == 1 { "" } else { "s" })]
#[diagnostic(
    code(roster::conflicts),
    help("nothing was changed; resolve these and plan again")
)]
pub struct Conflicts {
    #[related]
    pub conflicts: Vec<Conflict>,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// The config names groups or attributes that resolve to nobody.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Unresolved(#[from] resolve::Unresolved),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conflicts(#[from] Conflicts),
}

/// The whole pure step: config + both observed sides → a plan recording its inputs. A config
/// whose groups or mapped attributes resolve to nobody plans nothing.
pub fn plan(
    cfg: &crate::config::Loaded,
    observed: &crate::observe::Observed,
) -> Result<crate::plan::Plan, PlanError> {
    let config = &cfg.config;
    let desired = desired::compute(config, &observed.directory);
    let resolved = resolve::verify(cfg, &observed.directory, &desired, None)?;
    match reconcile(
        &desired,
        &observed.intranet,
        observed.state.as_ref(),
        &config.policy,
    ) {
        Ok(out) => {
            let reactivations = out
                .changes
                .iter()
                .filter(|c| c.action == crate::plan::Action::Reactivate)
                .count();
            resolve::reactivations_without_disabled(cfg, &observed.directory, reactivations)?;
            // What the reviewer must know about the read itself comes first.
            let mut warnings = observed.directory.warnings.clone();
            warnings.extend(resolved);
            warnings.extend(out.warnings);
            let mut plan = crate::plan::Plan::new(observed.inputs(cfg), warnings, out.changes);
            let before = observed
                .intranet
                .accounts
                .iter()
                .filter(|a| a.active)
                .count();
            plan.licences = crate::plan::Licences {
                before,
                after: crate::plan::Plan::licences_after(&plan.summary, before),
                limit: config.policy.licences,
            };
            Ok(plan)
        }
        Err(conflicts) => Err(Conflicts { conflicts }.into()),
    }
}
