//! Drawing a plan for people and machines. Renderers read a `Plan` and never recompute it.

pub(crate) mod budget;
pub mod explain;
pub mod impact;
pub mod json;
pub mod markdown;
pub mod text;

use crate::plan::{Action, Change, Summary};
use crate::text::quoted;
pub use budget::Fitted;

/// "Plan: 2 to create, 1 to rename, 3 to block, 4 to update (6 fields differ), 1 role grant."
///
/// The field counts ([`Summary::fields`] and where they come from) are the plan's, across its
/// updates and links. With no link in the plan they are all the updates', and sit next to them;
/// with one, they follow as a clause of their own, never read as the updates' alone: "…, 1 to
/// link, 4 to update, …; fields: 4 overrides to revert, 3 changed in the directory."
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
            Action::Update if s.link == 0 => match field_origins(s) {
                Some(origins) => format!("{n} to update ({origins})"),
                None => format!("{n} to update ({})", differ(s.fields, "field")),
            },
            Action::Grant => format!("{n} role grant{}", plural(n)),
            Action::Revoke => format!("{n} role revoke{}", plural(n)),
            _ => format!("{n} to {}", a.name()),
        });
    }
    // With a link, the plan's field counts are not the updates' alone: a clause of their own.
    let fields = match field_origins(s) {
        _ if s.link == 0 || s.fields == 0 => String::new(),
        Some(origins) => format!("; fields: {origins}"),
        None => format!("; {}", differ(s.fields, "field")),
    };
    format!("Plan: {}{fields}.", parts.join(", "))
}

/// Where the plan's field changes come from: "4 overrides to revert, 2 changed in the
/// directory, 1 differs"; `None` when no state file tells them apart.
fn field_origins(s: &Summary) -> Option<String> {
    let known = s.overrides + s.directory_changes + s.config_changes;
    if known == 0 {
        return None;
    }
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
        parts.push(differ(s.fields - known, ""));
    }
    Some(parts.join(", "))
}

/// "1 field differs", "6 fields differ"; with no noun, "1 differs", "6 differ".
fn differ(n: usize, noun: &str) -> String {
    let verb = if n == 1 { "differs" } else { "differ" };
    if noun.is_empty() {
        format!("{n} {verb}")
    } else {
        format!("{n} {noun}{} {verb}", plural(n))
    }
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

/// The headline of a change, without colour: [`Change::headline`].
pub fn headline(c: &Change) -> String {
    c.headline()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FieldChange, Origin};

    fn change(action: Action, fields: &[Option<Origin>]) -> Change {
        Change {
            action,
            username: "u".into(),
            external_id: None,
            intranet_id: None,
            etag: None,
            fields: fields
                .iter()
                .map(|&origin| FieldChange {
                    origin,
                    ..FieldChange::new("f", Some("a".into()), Some("b".into()))
                })
                .collect(),
            role: None,
            reason: String::new(),
        }
    }

    fn line(changes: &[Change]) -> String {
        summary_line(&Summary::of(changes))
    }

    /// The field counts sit next to the updates only when they are all the updates' (no link
    /// in the plan); with a link, whose fields count too, they are a clause of their own.
    #[test]
    fn field_counts_next_to_the_updates_only_when_no_link_adds_to_them() {
        use Origin::{Directory, Intranet};
        let update = change(Action::Update, &[Some(Intranet), Some(Directory)]);
        assert_eq!(
            line(std::slice::from_ref(&update)),
            "Plan: 1 to update (1 override to revert, 1 changed in the directory)."
        );
        let link = change(Action::Link, &[Some(Origin::Differs)]);
        assert_eq!(
            line(&[link.clone(), update.clone()]),
            "Plan: 1 to link, 1 to update; fields: 1 override to revert, 1 changed in the directory, 1 differs."
        );
        // A link with no field: the counts are still the plan's, said as such.
        assert_eq!(
            line(&[change(Action::Link, &[]), update]),
            "Plan: 1 to link, 1 to update; fields: 1 override to revert, 1 changed in the directory."
        );
        // Links alone: their fields are counted too (before, they were not shown).
        assert_eq!(line(&[link]), "Plan: 1 to link; 1 field differs.");
        // No state file: no origins, only how many differ.
        let plain = change(Action::Update, &[None, None]);
        assert_eq!(
            line(std::slice::from_ref(&plain)),
            "Plan: 1 to update (2 fields differ)."
        );
        assert_eq!(
            line(&[change(Action::Link, &[None]), plain]),
            "Plan: 1 to link, 1 to update; 3 fields differ."
        );
        assert_eq!(line(&[change(Action::Link, &[])]), "Plan: 1 to link.");
    }
}
