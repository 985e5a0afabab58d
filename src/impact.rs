//! The impact of a config change (`roster plan --base <ref>`): the plans of the base and head
//! configs, made against one read of the systems, compared. What only the head plan does is
//! caused by the change; what both do is drift; what only the base plan did, the change avoids.
//! Pure: two plans and two configs in, an `Impact` out.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::plan::{Action, Plan, Revision};
use crate::policy::Refusal;

/// One comparable piece of a plan: an action on an account, per field for updates and links.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Unit {
    pub action: Action,
    pub username: String,
    /// For updates and links: the field; for renames: `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For grants and revokes: the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A counted effect: "blocks 42 accounts", "rewrites department for 312 accounts".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Effect {
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub accounts: usize,
    /// The effect in words.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Impact {
    pub format_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Revision>,
    /// What changed in the config, in words.
    pub config_changes: Vec<String>,
    /// What this change does (only in the head plan).
    pub effects: Vec<Effect>,
    /// What this change stops from happening (only in the base plan).
    pub avoided: Vec<Effect>,
    pub caused: Vec<Unit>,
    pub avoided_units: Vec<Unit>,
    /// In both plans: drift between the config and the systems, not caused by this change.
    pub drift: Vec<Unit>,
    /// The safety policy's rules that refuse the head plan but not the base plan: this change
    /// is what makes the plan refused (a tightened limit, a group that adds blocks), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refuses: Vec<String>,
    /// The rules that refused the base plan and no longer refuse the head plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifts: Vec<String>,
}

fn units(plan: &Plan) -> BTreeSet<Unit> {
    let mut out = BTreeSet::new();
    for c in &plan.changes {
        let role = c.role.as_ref().map(|r| r.role.clone());
        let base = Unit {
            action: c.action,
            username: c.username.clone(),
            field: None,
            role,
            before: None,
            after: None,
        };
        match c.action {
            Action::Update | Action::Link | Action::Rename if !c.fields.is_empty() => {
                for f in &c.fields {
                    out.insert(Unit {
                        field: Some(f.name.clone()),
                        before: f.before.clone(),
                        after: f.after.clone(),
                        ..base.clone()
                    });
                }
                if c.action == Action::Link {
                    out.insert(base);
                }
            }
            _ => {
                out.insert(base);
            }
        }
    }
    out
}

/// An effect's identity: the action, and the field or role it is about.
type EffectKey = (Action, Option<String>, Option<String>);

fn effects(units: &[Unit], avoided: bool) -> Vec<Effect> {
    let mut groups: BTreeMap<EffectKey, BTreeSet<&str>> = BTreeMap::new();
    for u in units {
        let field = if matches!(u.action, Action::Update | Action::Link) {
            u.field.clone()
        } else {
            None
        };
        if u.action == Action::Link && u.field.is_some() {
            continue;
        }
        groups
            .entry((u.action, field, u.role.clone()))
            .or_default()
            .insert(&u.username);
    }
    groups
        .into_iter()
        .map(|((action, field, role), who)| {
            let n = who.len();
            let accounts = format!("{n} account{}", crate::render::plural(n));
            let verb = match (action, &field, &role) {
                (Action::Update, Some(f), _) => format!("rewrites {f} for {accounts}"),
                (Action::Grant, _, Some(r)) => format!("grants {r} to {accounts}"),
                (Action::Revoke, _, Some(r)) => format!("revokes {r} from {accounts}"),
                (a, _, _) => format!("{}s {accounts}", a.name()),
            };
            let text = if avoided {
                format!("no longer {verb}")
            } else {
                verb
            };
            Effect {
                action,
                field,
                role,
                accounts: n,
                text,
            }
        })
        .collect()
}

/// Compare the plans of the base and head configs, made against one read of the systems.
/// The two plans and what the safety policy said of each (`[]` when it passed).
pub fn compare(
    (base_cfg, base, base_refusals): (&Config, &Plan, &[Refusal]),
    (head_cfg, head, head_refusals): (&Config, &Plan, &[Refusal]),
) -> Impact {
    let b = units(base);
    let h = units(head);
    let caused: Vec<Unit> = h.difference(&b).cloned().collect();
    let avoided_units: Vec<Unit> = b.difference(&h).cloned().collect();
    let drift: Vec<Unit> = h.intersection(&b).cloned().collect();
    Impact {
        format_version: crate::plan::FORMAT_VERSION,
        base: base.inputs.config_revision.clone(),
        head: head.inputs.config_revision.clone(),
        config_changes: config_changes(base_cfg, head_cfg),
        effects: effects(&caused, false),
        avoided: effects(&avoided_units, true),
        caused,
        avoided_units,
        drift,
        refuses: only_in(head_refusals, base_refusals),
        lifts: only_in(base_refusals, head_refusals),
    }
}

/// The messages of the rules in `a` that `b` does not have: compared by rule, so a rule that
/// refuses both plans (with other counts) is drift, not this change.
fn only_in(a: &[Refusal], b: &[Refusal]) -> Vec<String> {
    a.iter()
        .filter(|r| !b.iter().any(|o| o.rule == r.rule))
        .map(|r| r.message.clone())
        .collect()
}

/// The config diff in words.
pub fn config_changes(base: &Config, head: &Config) -> Vec<String> {
    let mut out = Vec::new();
    fn set<T: std::fmt::Display>(v: &[T]) -> BTreeSet<String> {
        v.iter().map(T::to_string).collect()
    }
    let (bs, hs) = (set(&base.syncing_groups), set(&head.syncing_groups));
    out.extend(
        bs.difference(&hs)
            .map(|g| format!("removes syncing group {g}")),
    );
    out.extend(
        hs.difference(&bs)
            .map(|g| format!("adds syncing group {g}")),
    );
    for (field, m) in &head.field_mappings {
        match base.field_mappings.get(field) {
            None => out.push(format!("maps {field} to `{}`", m.source())),
            Some(old) if old != m => out.push(format!(
                "maps {field} to `{}` (was `{}`)",
                m.source(),
                old.source()
            )),
            _ => {}
        }
    }
    out.extend(
        base.field_mappings
            .keys()
            .filter(|f| !head.field_mappings.contains_key(*f))
            .map(|f| format!("stops mapping {f}")),
    );
    for (name, role) in &head.admin_roles {
        let Some(old) = base.admin_roles.get(name) else {
            out.push(format!("adds role {name} ({})", role.intranet_group));
            continue;
        };
        let (bg, hg) = (set(&old.members.groups), set(&role.members.groups));
        out.extend(
            hg.difference(&bg)
                .map(|g| format!("gives {name} to members of {g}")),
        );
        out.extend(
            bg.difference(&hg)
                .map(|g| format!("takes {name} from members of {g}")),
        );
        let (bu, hu) = (set(&old.members.users), set(&role.members.users));
        out.extend(hu.difference(&bu).map(|u| format!("gives {name} to {u}")));
        out.extend(bu.difference(&hu).map(|u| format!("takes {name} from {u}")));
        if old.intranet_group != role.intranet_group {
            out.push(format!(
                "moves {name} to the intranet group {} (was {})",
                role.intranet_group, old.intranet_group
            ));
        }
    }
    out.extend(
        base.admin_roles
            .keys()
            .filter(|r| !head.admin_roles.contains_key(*r))
            .map(|r| format!("removes role {r}")),
    );
    for (what, b, h) in [
        ("directory", json(&base.directory), json(&head.directory)),
        ("intranet", json(&base.intranet), json(&head.intranet)),
        ("policy", json(&base.policy), json(&head.policy)),
    ] {
        if let (serde_json::Value::Object(b), serde_json::Value::Object(h)) = (&b, &h) {
            let keys: BTreeSet<&String> = b.keys().chain(h.keys()).collect();
            for k in keys {
                if b.get(k) != h.get(k) {
                    out.push(format!(
                        "changes {what}.{k}: {} → {}",
                        show(b.get(k)),
                        show(h.get(k))
                    ));
                }
            }
        }
    }
    out
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn show(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "(unset)".to_owned(), |v| v.to_string())
}
