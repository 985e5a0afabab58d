//! Drawing a plan for people and machines. Renderers read a `Plan` and never recompute it.

pub(crate) mod budget;
pub mod explain;
pub mod impact;
pub mod json;
pub mod markdown;
pub mod text;

use crate::plan::{Action, Change, Summary};
use crate::text::{quoted, shown};
pub use budget::Fitted;

/// "Plan: 2 to create, 1 to rename, 3 to block, 4 to update (6 fields), 1 role grant."
pub fn summary_line(s: &Summary) -> String {
    if s.total() == 0 {
        return "No changes. The intranet matches the directory and the config.".into();
    }
    let mut parts = Vec::new();
    for a in Action::ALL {
        let n = s.count(a);
        if n == 0 {
            continue;
        }
        parts.push(match a {
            Action::Update => {
                let known = s.overrides + s.directory_changes + s.config_changes;
                if known == 0 {
                    format!(
                        "{n} to update ({} field{} differ{})",
                        s.fields,
                        plural(s.fields),
                        if s.fields == 1 { "s" } else { "" }
                    )
                } else {
                    let mut parts = Vec::new();
                    if s.overrides > 0 {
                        parts.push(format!(
                            "{} override{} to revert",
                            s.overrides,
                            plural(s.overrides)
                        ));
                    }
                    if s.directory_changes > 0 {
                        parts.push(format!("{} changed in the directory", s.directory_changes));
                    }
                    if s.config_changes > 0 {
                        parts.push(format!("{} from a config change", s.config_changes));
                    }
                    if s.fields > known {
                        parts.push(format!(
                            "{} differ{}",
                            s.fields - known,
                            if s.fields - known == 1 { "s" } else { "" }
                        ));
                    }
                    format!("{n} to update ({})", parts.join(", "))
                }
            }
            Action::Grant => format!("{n} role grant{}", plural(n)),
            Action::Revoke => format!("{n} role revoke{}", plural(n)),
            _ => format!("{n} to {}", a.name()),
        });
    }
    format!("Plan: {}.", parts.join(", "))
}

/// "Licences: 25 → 27 active accounts (limit 1000)."
pub fn licence_line(plan: &crate::plan::Plan) -> String {
    let l = &plan.licences;
    let limit = l.limit.map(|n| format!(" (limit {n})")).unwrap_or_default();
    format!(
        "Licences: {} → {} active accounts{limit}.",
        l.before, l.after
    )
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The headline of a change, without colour: `rename jdoe → john.doe`, `grant sysadmin to ada`.
/// Every value in it is [`shown`]: escaped, and quoted when it needs it.
pub fn headline(c: &Change) -> String {
    let user = shown(&c.username);
    match (c.action, &c.role) {
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
            let from = c
                .fields
                .iter()
                .find(|f| f.name == "username")
                .and_then(|f| f.before.clone())
                .unwrap_or_default();
            format!("rename {} → {user}", shown(&from))
        }
        (Action::Link, _) => format!(
            "link {user} to directory ID {}",
            shown(c.external_id.as_deref().unwrap_or("?"))
        ),
        (a, _) => format!("{} {user}", a.name()),
    }
}

/// Why a field differs, for display next to it: `edited in the intranet`, or `differs` when no
/// state file tells.
pub fn origin(f: &crate::plan::FieldChange) -> &'static str {
    f.origin.unwrap_or(crate::plan::Origin::Differs).describe()
}

/// A field value for display: quoted and escaped ([`quoted`]), or `(none)`.
pub fn show(v: Option<&str>) -> String {
    match v {
        Some(s) => quoted(s),
        None => "(none)".into(),
    }
}
