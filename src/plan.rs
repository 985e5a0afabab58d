//! The plan: plain data. Computed by `reconcile`, drawn by `render`, saved as JSON, carried out
//! by `apply`. Nothing here computes a plan or performs IO.
//!
//! As in Terraform, `reason` is for people: apply acts on `action` and the field values only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::text::shown;

/// Version of the JSON plan format (`--format json`, `-o plan.json`). Bumped on breaking changes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create an account for an enabled user of a syncing group.
    Create,
    /// Set `externalId` on an unmanaged account whose username matches a syncing user (adopt).
    Link,
    /// Rename a managed account whose directory user changed username (matched by immutable ID).
    Rename,
    /// Write mapped fields that differ from the directory.
    Update,
    /// Unblock a returning user.
    Reactivate,
    /// Block (`active: false`) — never delete.
    Block,
    /// Add an account to an admin role's intranet group.
    Grant,
    /// Remove an account from an admin role's intranet group.
    Revoke,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Link,
        Action::Rename,
        Action::Update,
        Action::Reactivate,
        Action::Block,
        Action::Grant,
        Action::Revoke,
    ];

    /// Terraform-like symbol for text output.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Link => "&",
            Action::Rename => "→",
            Action::Update => "~",
            Action::Reactivate => "↑",
            Action::Block => "⊘",
            Action::Grant => "+",
            Action::Revoke => "-",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Link => "link",
            Action::Rename => "rename",
            Action::Update => "update",
            Action::Reactivate => "reactivate",
            Action::Block => "block",
            Action::Grant => "grant",
            Action::Revoke => "revoke",
        }
    }

    /// The change done, in the past tense: `created`, `updated`.
    pub fn done(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Link => "linked",
            Action::Rename => "renamed",
            Action::Update => "updated",
            Action::Reactivate => "reactivated",
            Action::Block => "blocked",
            Action::Grant => "granted",
            Action::Revoke => "revoked",
        }
    }

    /// Role changes act on intranet groups; the others on user accounts.
    pub fn is_role(self) -> bool {
        matches!(self, Action::Grant | Action::Revoke)
    }
}

/// One field's change: `before` is the intranet's value, `after` the directory's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    /// Intranet field name (`email`, `display_name`, `scim:nickName`, or `username` for renames).
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// For updates: which side moved since Roster last applied this field (from the state file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl FieldChange {
    pub fn new(
        name: impl Into<String>,
        before: Option<String>,
        after: Option<String>,
    ) -> FieldChange {
        FieldChange {
            name: name.into(),
            before,
            after,
            origin: None,
        }
    }
}

/// Why a mapped field differs, told apart with the last-applied values of the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Changed in the directory since the last apply: an update.
    Directory,
    /// Edited in the intranet since the last apply: an override to revert.
    Intranet,
    /// Both sides changed since the last apply.
    Both,
    /// The config changed how the field is made (a new mapping, an edited template) since the
    /// last apply, and the intranet still holds the value applied then.
    Config,
    /// No last-applied value (first run, or a new field): the values just differ.
    Differs,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Directory => "changed in the directory",
            Origin::Intranet => "edited in the intranet",
            Origin::Both => "changed in both",
            Origin::Config => "config changed",
            Origin::Differs => "differs",
        }
    }
}

/// The admin role a grant or revoke is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRef {
    /// Role name from the config (`sysadmin`).
    pub role: String,
    /// The intranet group that carries it.
    pub group: String,
    /// SCIM id of that group.
    pub group_id: String,
    /// ETag of the group at plan time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub action: Action,
    /// The account's username after this change (for a rename, the new one).
    pub username: String,
    /// The directory's immutable ID of the user, when known.
    pub external_id: Option<String>,
    /// The intranet account's SCIM id; absent for accounts this plan creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intranet_id: Option<String>,
    /// ETag of the account at plan time (If-Match on apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Field changes. A rename carries `username`; a create carries every mapped field.
    pub fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleRef>,
    /// Why, for people. Apply never reads it.
    pub reason: String,
}

/// Digests of what the plan was built from, so a stale plan can be refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// `sha256:` of the config file bytes.
    pub config: String,
    /// `sha256:` of the directory as read (canonical form).
    pub directory: String,
    /// `sha256:` of the intranet as read (canonical form).
    pub intranet: String,
    /// The commit of the config, when it is in a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_revision: Option<Revision>,
    /// How a live intranet was read: in full, or only what changed since a verified cache.
    /// Absent for an intranet snapshot file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intranet_read: Option<IntranetRead>,
}

/// How the intranet's Users were read (Groups are always read in full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntranetRead {
    pub mode: ReadMode,
    /// For `delta`: the server time the changes were asked from (`meta.lastModified ge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Users the server returned: all of them (`full`), or the changed ones (`delta`).
    pub users_read: usize,
    /// Users the intranet holds, as read.
    pub users: usize,
    /// For `delta`: seconds since the cache was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_age_seconds: Option<u64>,
    /// For `full`: why the cache was not used (or not written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How `apply` writes to this service: Bulk or one request per change, with `If-Match` or
    /// without (what its `/ServiceProviderConfig` announces and the config allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<String>,
    /// What the service could not do that the read worked around (`attributes=` refused:
    /// full resources read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How many requests were in flight: the mode and ceiling (which `apply` writes with too),
    /// and where the read settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

/// How many requests Roster keeps in flight (`intranet.scim.concurrency`, `adaptive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    pub mode: ConcurrencyMode,
    /// The ceiling (adaptive), or the fixed number.
    pub max: usize,
    /// Where an adaptive limit settled: its average over the answers (absent before any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyMode {
    /// Learned from the answers' latency and overload signals, between 1 and `max`.
    Adaptive,
    /// Always `max`.
    Fixed,
}

impl Concurrency {
    /// `adaptive up to 32 (settled at 24)`, `fixed at 4`.
    pub fn describe(&self) -> String {
        match (self.mode, self.settled) {
            (ConcurrencyMode::Fixed, _) => format!("fixed at {}", self.max),
            (ConcurrencyMode::Adaptive, Some(s)) => {
                format!("adaptive up to {} (settled at {s})", self.max)
            }
            (ConcurrencyMode::Adaptive, None) => format!("adaptive up to {}", self.max),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Every User was read.
    Full,
    /// Only the Users changed since the cache were read, merged into the verified cache.
    Delta,
}

impl IntranetRead {
    /// One line for people: `delta since 2024-05-01T12:00:00Z (12 of 10000 users changed; cache
    /// 3m old)` or `full (10000 users; no cache yet)`, then `; concurrency adaptive up to 32
    /// (settled at 3)` when known.
    pub fn describe(&self) -> String {
        let users = format!("{} user{}", self.users, crate::render::plural(self.users));
        let read = match self.mode {
            ReadMode::Delta => format!(
                "delta since {} ({} of {} user{} changed; cache {} old)",
                self.since.as_deref().unwrap_or("?"),
                self.users_read,
                self.users,
                crate::render::plural(self.users),
                age(self.cache_age_seconds.unwrap_or(0))
            ),
            ReadMode::Full => match &self.note {
                Some(note) => format!("full ({users}; {note})"),
                None => format!("full ({users})"),
            },
        };
        match &self.concurrency {
            Some(c) => format!("{read}; concurrency {}", c.describe()),
            None => read,
        }
    }
}

/// `42s`, `5m`, `3h10m`, `2d4h`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Where a config came from in git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    /// The commit id.
    pub commit: String,
    /// The config file differed from that commit (uncommitted edits in the work tree).
    pub dirty: bool,
}

/// Number of changes per action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub create: usize,
    pub link: usize,
    pub rename: usize,
    pub update: usize,
    pub reactivate: usize,
    pub block: usize,
    pub grant: usize,
    pub revoke: usize,
    /// Field values to write, across all updates and links.
    pub fields: usize,
    /// Of those: edits in the intranet to revert (overrides), changes from the directory,
    /// changes from the config (a new mapping, an edited template), and differences with no
    /// last-applied value to tell them apart.
    #[serde(default)]
    pub overrides: usize,
    #[serde(default)]
    pub directory_changes: usize,
    #[serde(default)]
    pub config_changes: usize,
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            *s.count_mut(c.action) += 1;
            if matches!(c.action, Action::Update | Action::Link) {
                s.fields += c.fields.len();
                for f in &c.fields {
                    match f.origin {
                        Some(Origin::Intranet | Origin::Both) => s.overrides += 1,
                        Some(Origin::Directory) => s.directory_changes += 1,
                        Some(Origin::Config) => s.config_changes += 1,
                        _ => {}
                    }
                }
            }
        }
        s
    }
    pub fn count(&self, a: Action) -> usize {
        match a {
            Action::Create => self.create,
            Action::Link => self.link,
            Action::Rename => self.rename,
            Action::Update => self.update,
            Action::Reactivate => self.reactivate,
            Action::Block => self.block,
            Action::Grant => self.grant,
            Action::Revoke => self.revoke,
        }
    }
    fn count_mut(&mut self, a: Action) -> &mut usize {
        match a {
            Action::Create => &mut self.create,
            Action::Link => &mut self.link,
            Action::Rename => &mut self.rename,
            Action::Update => &mut self.update,
            Action::Reactivate => &mut self.reactivate,
            Action::Block => &mut self.block,
            Action::Grant => &mut self.grant,
            Action::Revoke => &mut self.revoke,
        }
    }
    pub fn total(&self) -> usize {
        Action::ALL.iter().map(|a| self.count(*a)).sum()
    }
}

/// Licence use: active accounts before and after the plan (blocked accounts use none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Licences {
    pub before: usize,
    pub after: usize,
    /// `policy.licences`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// One-run exceptions to the safety policy, given on the command line. Recorded in the plan and
/// the audit so the exception is reviewed like everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Allowances {
    /// `--allow-blocks N`: up to N blocks in this run, whatever `policy.max_blocks` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_blocks: Option<usize>,
    /// `--allow-clears N`: up to N cleared field values in this run, whatever `policy.max_clears`
    /// says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_clears: Option<usize>,
    /// `--allow-revokes N`: up to N role revokes in this run, whatever `policy.max_revokes` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_revokes: Option<usize>,
    /// `--allow-renames N`: up to N renames in this run, whatever `policy.max_renames` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_renames: Option<usize>,
}

impl Allowances {
    /// Each exception given: its count, its flag and the rule it lifts.
    fn given(&self) -> impl Iterator<Item = (usize, &'static str, &'static str)> {
        [
            (self.allow_blocks, "--allow-blocks", "max_blocks"),
            (self.allow_clears, "--allow-clears", "max_clears"),
            (self.allow_revokes, "--allow-revokes", "max_revokes"),
            (self.allow_renames, "--allow-renames", "max_renames"),
        ]
        .into_iter()
        .filter_map(|(n, flag, rule)| Some((n?, flag, rule)))
    }

    /// Each exception given, for people: `` `--allow-blocks 6` lifted `policy.max_blocks` ``.
    pub fn describe(&self) -> Vec<String> {
        self.given()
            .map(|(n, flag, rule)| format!("`{flag} {n}` lifted `policy.{rule}` for this run"))
            .collect()
    }

    /// Each exception given, as the command line gives it: `--allow-blocks 6`.
    pub fn flags(&self) -> Vec<String> {
        self.given()
            .map(|(n, flag, _)| format!("{flag} {n}"))
            .collect()
    }
}

/// A plan: what a sync would do, and what it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format_version: u32,
    pub inputs: Inputs,
    pub summary: Summary,
    #[serde(default)]
    pub licences: Licences,
    #[serde(default)]
    pub allowances: Allowances,
    /// Things a reviewer must see: grants left out, protected accounts skipped, ...
    pub warnings: Vec<String>,
    /// In the order apply carries them out.
    pub changes: Vec<Change>,
}

impl Change {
    /// The headline, without colour: `rename jdoe → john.doe`, `grant sysadmin to ada`. Every
    /// value in it is [`shown`]: escaped, and quoted when it needs it.
    pub fn headline(&self) -> String {
        let user = shown(&self.username);
        match (self.action, &self.role) {
            (Action::Grant, Some(r)) => {
                format!("grant {} to {user} ({})", shown(&r.role), shown(&r.group))
            }
            (Action::Revoke, Some(r)) => {
                format!(
                    "revoke {} from {user} ({})",
                    shown(&r.role),
                    shown(&r.group)
                )
            }
            (Action::Rename, _) => {
                let from = self
                    .fields
                    .iter()
                    .find(|f| f.name == "username")
                    .and_then(|f| f.before.clone())
                    .unwrap_or_default();
                format!("rename {} → {user}", shown(&from))
            }
            (Action::Link, _) => format!(
                "link {user} to directory ID {}",
                shown(self.external_id.as_deref().unwrap_or("?"))
            ),
            (a, _) => format!("{} {user}", a.name()),
        }
    }

    /// The change's line as the plan says it, without colour: `~ update ada.lovelace  # mapped
    /// fields differ from the directory` (symbol, [`Change::headline`], escaped reason). The
    /// text plan colours it; `roster explain` shows it as it is.
    pub fn line(&self) -> String {
        format!(
            "{} {}  # {}",
            self.action.symbol(),
            self.headline(),
            crate::text::escape(&self.reason)
        )
    }
}

impl Plan {
    pub fn new(inputs: Inputs, warnings: Vec<String>, changes: Vec<Change>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            inputs,
            summary: Summary::of(&changes),
            licences: Licences::default(),
            allowances: Allowances::default(),
            warnings,
            changes,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Licence use after the plan, given the active accounts before it: blocked accounts use
    /// none, creates and reactivations one each.
    pub fn licences_after(summary: &Summary, before: usize) -> usize {
        (before + summary.create + summary.reactivate).saturating_sub(summary.block)
    }

    /// Where the recorded figures (`summary`, `licences`) disagree with what the changes give,
    /// one line each: a saved plan is data from a file, and its counts are derived from its
    /// changes, never trusted. Empty when they agree.
    pub fn figure_mismatches(&self) -> Vec<String> {
        let derived = Summary::of(&self.changes);
        let mut out = Vec::new();
        let (Ok(serde_json::Value::Object(recorded)), Ok(serde_json::Value::Object(derived_map))) = (
            serde_json::to_value(&self.summary),
            serde_json::to_value(&derived),
        ) else {
            return out;
        };
        for (key, value) in &derived_map {
            let said = recorded
                .get(key)
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            if &said != value {
                out.push(format!(
                    "summary.{key} says {said}, but the changes give {value}"
                ));
            }
        }
        let after = Plan::licences_after(&derived, self.licences.before);
        if self.licences.after != after {
            out.push(format!(
                "licences.after says {}, but {} active before with these changes give {after}",
                self.licences.after, self.licences.before
            ));
        }
        out
    }
}
